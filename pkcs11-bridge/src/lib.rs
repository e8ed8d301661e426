//! The only crate that talks PKCS#11: it loads the module, finds the token by
//! label, keeps a pool of logged-in sessions, generates keys inside the token,
//! signs (ECDSA P-256) and MACs (HMAC-SHA256) with them, and recovers by itself
//! when the token's sessions are invalidated.
//!
//! Everything here blocks; callers on an async runtime run it on a blocking
//! pool. Nothing above this crate sees a `cryptoki` type: [`HsmSigner`]
//! implements the `signature` traits so X.509 code signs without knowing what
//! an HSM is.
#![forbid(unsafe_code)]

mod error;
mod hsm;
mod keys;
mod pin;
mod signer;

pub use error::HsmError;
pub use hsm::{Hsm, HsmConfig};
pub use keys::{KeyAttributes, KeyInfo, KeyKind, KeyLabel, ec_point_key_id, ec_point_to_spki};
pub use pin::Pin;
pub use signer::HsmSigner;
