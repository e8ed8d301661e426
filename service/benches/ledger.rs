//! Benchmark (not a test): the ledger as walletd runs it, on a SQLite file
//! (or a fresh PostgreSQL database) and a SoftHSM2 token. Queues and
//! integrates N entries (default 1,000,000) in sequencer batches, then times
//! inclusion and consistency proofs served from the stored subtree hashes,
//! next to the raw SoftHSM signing rate measured in the same run.
//!
//!     cargo bench -p service --bench ledger [-- LEAVES BATCH] [--postgres]
//!
//! With `--postgres` the database is created on the server named by
//! `WALLET_TEST_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/test`)
//! and dropped at the end.
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "benchmark tool output"
)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ledger::entry::Entry;
use service::domain::ledger::{Ledger, SequencerConfig, enqueue};
use service::domain::{ceremony, unix};
use wallet_testkit::{SoftHsmToken, USER_PIN};

fn percentile(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// A small deterministic generator, so runs are comparable.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let leaves: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let batch: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let postgres = std::env::args().any(|a| a == "--postgres");

    let _token = SoftHsmToken::new("ledger-bench");
    let hsm = Arc::new(
        pkcs11_bridge::Hsm::open(pkcs11_bridge::HsmConfig {
            module: _token.module(),
            token_label: "ledger-bench".into(),
            pin: pkcs11_bridge::Pin::new(USER_PIN),
        })
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("ledger.db");
    let pg = postgres.then(wallet_testkit::PgTestDb::new);
    let (backend, url) = match &pg {
        Some(pg) => ("PostgreSQL", pg.url().to_owned()),
        None => ("SQLite", format!("sqlite://{}", db_path.display())),
    };
    let db = schema::Database::connect(&url, 4).unwrap();
    ceremony::run(&hsm, &db, SystemTime::now(), &mut || {
        Ok(service::random::bytes::<16>()?)
    })
    .unwrap();
    let ledger = Ledger::new(
        Arc::clone(&hsm),
        db.clone(),
        "onevisit.local/ledger",
        SequencerConfig {
            batch_max: batch,
            batch_delay: Duration::ZERO,
        },
    );
    while ledger.integrate(SystemTime::now()).unwrap().is_some() {}

    // The physical limit of the HSM, same token, same run.
    let digest = [9u8; 32];
    let t = Instant::now();
    let mut signs = 0u32;
    while t.elapsed() < Duration::from_secs(2) {
        hsm.sign_prehashed("onevisit/ledger/1", &digest).unwrap();
        signs += 1;
    }
    let raw_sign = f64::from(signs) / t.elapsed().as_secs_f64();

    println!("filling {leaves} entries, sequencer batches of {batch} ...");
    let now = SystemTime::now();
    let (mut queue_time, mut integrate_time) = (Duration::ZERO, Duration::ZERO);
    let mut done = 0u64;
    while done < leaves {
        let n = (leaves - done).min(batch as u64);
        let t = Instant::now();
        let mut conn = db.conn().unwrap();
        schema::write_transaction(&mut conn, |c| -> Result<(), service::domain::DomainError> {
            for i in done..done + n {
                let entry = Entry::Issuance {
                    at: unix(now),
                    cert_sha256: format!("{:064x}", i),
                    issuer_key_id: "ab".repeat(20),
                    kind: "identity".into(),
                    serial: format!("{:032x}", i + 1),
                };
                enqueue(c, &entry, now)?;
            }
            Ok(())
        })
        .unwrap();
        drop(conn);
        queue_time += t.elapsed();
        let t = Instant::now();
        while ledger.integrate(SystemTime::now()).unwrap().is_some() {}
        integrate_time += t.elapsed();
        done += n;
        if done % (leaves / 10).max(1) < n {
            println!("  {done} entries");
        }
    }
    let size = ledger.tree_head().unwrap().unwrap().tree_size;
    println!(
        "integrated {size} leaves: queueing {:.0} entries/s, sequencing {:.0} entries/s ({} checkpoint signatures)",
        leaves as f64 / queue_time.as_secs_f64(),
        leaves as f64 / integrate_time.as_secs_f64(),
        leaves.div_ceil(batch as u64)
    );

    let mut rng = Lcg(42);
    let samples = 2000;
    let mut inclusion = Vec::with_capacity(samples);
    for _ in 0..samples {
        let index = rng.next(size);
        let t = Instant::now();
        let (_, _, proof) = ledger.inclusion(Some(index), None, None).unwrap();
        inclusion.push(t.elapsed());
        assert!(proof.len() <= 64);
    }
    let mut consistency = Vec::with_capacity(samples);
    for _ in 0..samples {
        let first = 1 + rng.next(size - 1);
        let t = Instant::now();
        ledger.consistency(first, size).unwrap();
        consistency.push(t.elapsed());
    }
    let db_mb = match &pg {
        Some(pg) => pg.size_bytes(),
        None => std::fs::metadata(&db_path).map_or(0, |m| m.len()),
    } as f64
        / 1e6;
    println!("raw SoftHSM ECDSA P-256 sign (1 thread): {raw_sign:.0}/s");
    println!(
        "inclusion proof at {size} leaves ({backend}, stored subtrees): median {:.0} us, p99 {:.0} us",
        percentile(inclusion.clone(), 0.5),
        percentile(inclusion, 0.99)
    );
    println!(
        "consistency proof to {size} leaves: median {:.0} us, p99 {:.0} us",
        percentile(consistency.clone(), 0.5),
        percentile(consistency, 0.99)
    );
    println!("database ({backend}): {db_mb:.0} MB");
}
