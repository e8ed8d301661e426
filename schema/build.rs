//! Rebuilds the crate when a migration is added or changed, so the embedded
//! migrations (`embed_migrations!`) never go stale.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
