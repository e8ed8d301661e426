//! Benchmark (not a test): in-process presentation verification (identity +
//! one licence, a fresh nonce each) through `Issuer::verify` on a SQLite file,
//! next to the raw ECDSA P-256 verify rates, measured in the same run, of the
//! library the service uses (RustCrypto `p256`) and of a fast one (`ring`).
//!
//!     cargo bench -p service --bench verification [-- SECONDS]
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "benchmark tool output"
)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey as _;
use service::domain::issuance::{EnrollRequest, Issuer, LicenceOrder};
use service::domain::national_id::NationalId;
use service::domain::verification::Presentation;
use service::domain::{ceremony, rfc3339, staff, unix};
use sha2::{Digest as _, Sha256};
use wallet_testkit::{SoftHsmToken, USER_PIN};

fn rate(secs: f64, mut op: impl FnMut()) -> (f64, Vec<Duration>) {
    let start = Instant::now();
    let mut lat = Vec::new();
    while start.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        op();
        lat.push(t.elapsed());
    }
    (lat.len() as f64 / start.elapsed().as_secs_f64(), lat)
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort_unstable();
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn main() {
    let secs: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5.0);
    let token = SoftHsmToken::new("verify-bench");
    let hsm = Arc::new(
        pkcs11_bridge::Hsm::open(pkcs11_bridge::HsmConfig {
            module: token.module(),
            token_label: "verify-bench".into(),
            pin: pkcs11_bridge::Pin::new(USER_PIN),
        })
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = schema::Database::connect(
        &format!("sqlite://{}", dir.path().join("v.db").display()),
        4,
    )
    .unwrap();
    let now = SystemTime::now();
    ceremony::run(&hsm, &db, now, &mut || Ok(service::random::bytes::<16>()?)).unwrap();
    let ledger = service::domain::ledger::Ledger::new(
        Arc::clone(&hsm),
        db.clone(),
        "onevisit.local/ledger",
        Default::default(),
    );
    let officer = staff::add(
        &db,
        "officer",
        schema::staff::StaffRole::Officer,
        Some("market-regulation"),
        "o",
        unix(now),
    )
    .unwrap();
    let counter = staff::add(
        &db,
        "counter",
        schema::staff::StaffRole::Counter,
        None,
        "c",
        unix(now),
    )
    .unwrap();
    let catalog = Arc::new(certs::catalog::Catalog::from_toml(certs::catalog::BUILT_IN).unwrap());
    let issuer = Issuer::new(Arc::clone(&hsm), db, catalog, "http://127.0.0.1:8080");

    let (key_path, csr_path) = (dir.path().join("h.key"), dir.path().join("h.csr"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=h",
            "-keyout",
        ])
        .arg(&key_path)
        .arg("-out")
        .arg(&csr_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    let req = EnrollRequest {
        national_id: NationalId::normalise("BENCH12345").unwrap(),
        full_name: "Bench Holder".into(),
        birth_date: "1980-01-01".into(),
        address: "1 Bench St".into(),
        csr: std::fs::read_to_string(&csr_path).unwrap(),
    };
    let identity = issuer.enroll(&officer, &req, SystemTime::now()).unwrap();
    let mut attrs = BTreeMap::new();
    for (k, v) in [
        ("company_name", "B"),
        ("unified_social_credit_code", "1"),
        ("scope", "s"),
    ] {
        attrs.insert(k.to_owned(), v.to_owned());
    }
    let licence = issuer
        .issue_licence(
            &officer,
            &identity.identity_id,
            &LicenceOrder {
                license_type: "business".into(),
                attributes: attrs,
                valid_days: None,
            },
            SystemTime::now(),
        )
        .unwrap();
    while ledger.integrate(SystemTime::now()).unwrap().is_some() {}
    let creds = vec![identity.certificate.clone(), licence.certificate.clone()];

    // One presentation per verification: a fresh nonce each, signed ahead.
    let make = || {
        let c = issuer
            .challenge(&counter, "desk", SystemTime::now())
            .unwrap();
        let issued_at = rfc3339(unix(SystemTime::now()));
        let input = certs::presentation::signing_input("desk", &c.nonce, &issued_at, &creds);
        let sig: Signature = key.sign(&input);
        Presentation {
            credentials: creds.clone(),
            audience: "desk".into(),
            nonce: c.nonce,
            issued_at,
            signature: sig.to_der().as_bytes().to_vec(),
        }
    };
    let batch: Vec<Presentation> = (0..20_000).map(|_| make()).collect();
    let mut next = batch.iter();
    let (verify_rate, lat) = rate(secs, || {
        let p = next.next().unwrap();
        assert!(
            issuer
                .verify(p, None, SystemTime::now())
                .unwrap()
                .is_valid()
        );
    });

    // Raw verify rates on one message, same run.
    let msg = Sha256::digest(b"onevisit bench").to_vec();
    let sig: Signature = key.sign(&msg);
    let vk: VerifyingKey = *key.verifying_key();
    let (p256_rate, _) = rate(2.0, || vk.verify(&msg, &sig).unwrap());
    let point = vk.to_sec1_point(false);
    let ring_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        point.as_bytes().to_vec(),
    );
    let der = sig.to_der();
    let (ring_rate, _) = rate(2.0, || ring_key.verify(&msg, der.as_bytes()).unwrap());

    println!(
        "presentation verification (identity + licence, fresh nonce, SQLite, 1 thread): {verify_rate:.0}/s  p50 {:.2} ms  p99 {:.2} ms",
        pct(lat.clone(), 0.5),
        pct(lat, 0.99)
    );
    println!("raw ECDSA P-256 verify, RustCrypto p256 (used by the service): {p256_rate:.0}/s");
    println!("raw ECDSA P-256 verify, ring (fast reference):                  {ring_rate:.0}/s");
    println!(
        "one verification = {:.3} x the raw p256 verify rate, {:.3} x the raw ring rate \
         (it checks the two credentials' signatures, each issuing CA's, the holder's and the checkpoint's)",
        verify_rate / p256_rate,
        verify_rate / ring_rate
    );
    println!(
        "(the presented credentials: {} bytes)",
        creds.iter().map(Vec::len).sum::<usize>()
    );
}
