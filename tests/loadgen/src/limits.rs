//! The physical limits every figure is compared with, measured in the same
//! run: raw ECDSA P-256 signing through PKCS#11 on the service's own token
//! (a throw-away key, destroyed afterwards), and raw ECDSA P-256 verification
//! with `ring` (what the service verifies with) and RustCrypto `p256`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use pkcs11_bridge::{Hsm, HsmConfig, KeyLabel, Pin};

use crate::driver;

/// Raw rates, per second.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// SoftHSM signing, one thread / `threads` threads.
    pub sign_1: Option<f64>,
    /// SoftHSM signing on every thread.
    pub sign_n: Option<f64>,
    /// `ring` verification, one thread.
    pub verify_ring_1: f64,
    /// `ring` verification on every thread.
    pub verify_ring_n: f64,
    /// RustCrypto `p256` verification, one thread.
    pub verify_p256_1: f64,
}

/// Where the token is, to measure its raw signing rate.
#[derive(Debug, Clone)]
pub struct TokenArgs {
    /// PKCS#11 module.
    pub module: PathBuf,
    /// Token label.
    pub label: String,
    /// User PIN.
    pub pin: String,
}

/// Measures raw signing (when a token is given) and raw verification, each
/// for `seconds` on one thread and on `threads` threads.
pub fn measure(
    token: Option<&TokenArgs>,
    threads: usize,
    seconds: Duration,
) -> anyhow::Result<Limits> {
    let mut limits = Limits::default();
    if let Some(t) = token {
        let (one, many) = raw_sign(t, threads, seconds)?;
        limits.sign_1 = Some(one);
        limits.sign_n = Some(many);
    }
    let key = SigningKey::from_slice(&[7u8; 32]).context("test key")?;
    let msg = b"onevisit raw verify rate";
    let sig: DerSignature = key.sign(msg);
    let point = key.verifying_key().to_sec1_point(false);
    let ring_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        point.as_bytes().to_vec(),
    );
    let ring_verify = |_| {
        let _ = std::hint::black_box(ring_key.verify(msg, sig.as_bytes()));
    };
    limits.verify_ring_1 = driver::rate(1, seconds, ring_verify);
    limits.verify_ring_n = driver::rate(threads, seconds, ring_verify);
    let vk = *key.verifying_key();
    limits.verify_p256_1 = driver::rate(1, seconds, |_| {
        let _ = std::hint::black_box(p256::ecdsa::signature::Verifier::verify(&vk, msg, &sig));
    });
    Ok(limits)
}

fn raw_sign(t: &TokenArgs, threads: usize, seconds: Duration) -> anyhow::Result<(f64, f64)> {
    let hsm = Arc::new(
        Hsm::open(HsmConfig {
            module: t.module.clone(),
            token_label: t.label.clone(),
            pin: Pin::new(&t.pin),
        })
        .context("open the token for the raw signing rate")?,
    );
    let suffix = hex::encode(rand_bytes::<4>()?);
    let label = KeyLabel::new(&format!("loadgen-raw-{suffix}"), 1);
    hsm.generate_ec_key(&label)
        .context("generate a throw-away key")?;
    let name = label.to_string();
    let digest = [0x5au8; 32];
    // Warm the session pool and the handle cache first.
    for _ in 0..64 {
        hsm.sign_prehashed(&name, &digest)?;
    }
    let sign = |_| {
        let _ = std::hint::black_box(hsm.sign_prehashed(&name, &digest));
    };
    let one = driver::rate(1, seconds, sign);
    let many = driver::rate(threads, seconds, sign);
    hsm.destroy_key(&name)
        .context("destroy the throw-away key")?;
    Ok((one, many))
}

/// `N` bytes from the OS CSPRNG.
pub fn rand_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
    Ok(b)
}
