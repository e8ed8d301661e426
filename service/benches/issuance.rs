//! Benchmark (not a test): the in-process issuance path (enrollment and
//! licence issuance through `Issuer`, on a real SoftHSM2 token and a SQLite
//! file) against the raw SoftHSM2 ECDSA signing rate measured in the same
//! run on the same token, so each figure is also a ratio to its limit.
//!
//!     cargo bench -p service --bench issuance [-- SECONDS THREADS]
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "benchmark tool output"
)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use service::domain::issuance::{EnrollRequest, Issuer, LicenceOrder};
use service::domain::national_id::NationalId;
use service::domain::{ceremony, staff, unix};
use wallet_testkit::{SoftHsmToken, USER_PIN};

struct Stats {
    ops: usize,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.seconds
    }

    fn pct(&mut self, p: f64) -> f64 {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies
            .get(i)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

/// Runs `op(thread, i)` on `threads` threads for `secs` seconds.
fn drive(threads: usize, secs: f64, op: impl Fn(usize, usize) + Sync) -> Stats {
    let counter = AtomicUsize::new(0);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let latencies = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (op, counter) = (&op, &counter);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    while Instant::now() < deadline {
                        let i = counter.fetch_add(1, Ordering::Relaxed);
                        let t0 = Instant::now();
                        op(t, i);
                        lat.push(t0.elapsed());
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    Stats {
        ops: latencies.len(),
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    }
}

fn csr(dir: &std::path::Path, i: usize) -> String {
    let (key, out) = (dir.join(format!("{i}.key")), dir.join(format!("{i}.csr")));
    let status = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=x",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success());
    std::fs::read_to_string(out).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let secs: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let threads: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2);

    let token = SoftHsmToken::new("bench");
    let hsm = Arc::new(
        pkcs11_bridge::Hsm::open(pkcs11_bridge::HsmConfig {
            module: token.module(),
            token_label: "bench".into(),
            pin: pkcs11_bridge::Pin::new(USER_PIN),
        })
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = schema::Database::connect(
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
        16,
    )
    .unwrap();
    let now = SystemTime::now();
    ceremony::run(&hsm, &db, now, &mut || Ok(service::random::bytes::<16>()?)).unwrap();
    let officer = staff::add(
        &db,
        "bench-officer",
        schema::staff::StaffRole::Officer,
        Some("market-regulation"),
        "t",
        unix(now),
    )
    .unwrap();
    let catalog = Arc::new(certs::catalog::Catalog::from_toml(certs::catalog::BUILT_IN).unwrap());
    let issuer = Issuer::new(Arc::clone(&hsm), db, catalog, "http://127.0.0.1:8080");
    let csrs: Vec<String> = (0..16).map(|i| csr(dir.path(), i)).collect();

    println!(
        "machine: {} cores; {threads} threads; {secs} s per phase",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // The physical limit: raw CKM_ECDSA signatures through the session pool.
    let digest = [7u8; 32];
    let mut raw1 = drive(1, secs, |_, _| {
        hsm.sign_prehashed("onevisit/identity-ca/1", &digest)
            .unwrap();
    });
    let mut raw = drive(threads, secs, |_, _| {
        hsm.sign_prehashed("onevisit/identity-ca/1", &digest)
            .unwrap();
    });
    println!(
        "raw SoftHSM ECDSA P-256 sign, 1 thread : {:>8.0}/s  p50 {:.3} ms",
        raw1.rate(),
        raw1.pct(0.5)
    );
    println!(
        "raw SoftHSM ECDSA P-256 sign, {threads} threads: {:>8.0}/s  p50 {:.3} ms",
        raw.rate(),
        raw.pct(0.5)
    );

    let run_id = std::process::id();
    let identities = std::sync::Mutex::new(Vec::new());
    let mut enroll = drive(threads, secs, |t, i| {
        let req = EnrollRequest {
            national_id: NationalId::normalise(&format!("B{run_id}T{t}N{i}")).unwrap(),
            full_name: "Bench Person".into(),
            birth_date: "1980-01-01".into(),
            address: "1 Bench Street".into(),
            csr: csrs[i % csrs.len()].clone(),
        };
        let issued = issuer.enroll(&officer, &req, SystemTime::now()).unwrap();
        identities.lock().unwrap().push(issued.identity_id);
    });
    let ids = identities.into_inner().unwrap();
    let mut attrs = BTreeMap::new();
    attrs.insert("company_name".to_owned(), "Bench Co".to_owned());
    attrs.insert(
        "unified_social_credit_code".to_owned(),
        "91310000MA1K4XXXX1".to_owned(),
    );
    attrs.insert("scope".to_owned(), "benchmarking".to_owned());
    let order = LicenceOrder {
        license_type: "business".into(),
        attributes: attrs,
        valid_days: None,
    };
    let mut licence = drive(threads, secs, |_, i| {
        issuer
            .issue_licence(&officer, &ids[i % ids.len()], &order, SystemTime::now())
            .unwrap();
    });

    for (name, s) in [
        ("enrollment (identity certificate)", &mut enroll),
        ("licence issuance", &mut licence),
    ] {
        let (p50, p99, max) = (s.pct(0.5), s.pct(0.99), s.pct(1.0));
        println!(
            "{name:<34}: {:>8.0}/s  p50 {p50:.2} ms  p99 {p99:.2} ms  max {max:.2} ms  = {:.1}% of raw sign rate ({threads} threads)",
            s.rate(),
            100.0 * s.rate() / raw.rate()
        );
    }
    println!("HSM signatures made in this run: {}", hsm.signatures_made());
}
