//! The transparency ledger end to end: receipts with every issuance verified
//! by our `ledger` crate and by the independent Python verifier, the public
//! endpoints and their 400s, `walletctl ledger audit` and `export`, a
//! tampered entry named by the audit, SIGKILL under concurrent issuance on
//! SQLite and PostgreSQL, and two instances sharing one PostgreSQL.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ledger::checkpoint::{Checkpoint, SignedNote};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use service::domain::offline::HolderKey;

use super::issuance::{enroll_body, post};
use super::{Daemon, World, run};

fn hash(b64: &str) -> ledger::Hash {
    B64.decode(b64).unwrap().try_into().unwrap()
}

/// The ledger public keys and origin from /v1/trust.
fn trust(daemon: &Daemon) -> (String, Vec<Vec<u8>>) {
    let t = daemon.get_json("/v1/trust");
    let keys = t["ledger_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let pem = k["public_key_pem"].as_str().unwrap();
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            B64.decode(body).unwrap()
        })
        .collect();
    (t["ledger_origin"].as_str().unwrap().to_owned(), keys)
}

/// Verifies an issuance response's receipt with the `ledger` crate: signed
/// checkpoint, entry at the leaf index naming this certificate, inclusion.
fn check_receipt(
    daemon: &Daemon,
    issued: &Value,
    origin: &str,
    keys: &[Vec<u8>],
) -> (u64, ledger::Hash) {
    let r = &issued["receipt"];
    let note = SignedNote::parse(r["checkpoint"].as_str().unwrap()).unwrap();
    assert!(
        keys.iter().any(|k| note.verify(origin, k).is_ok()),
        "checkpoint signature"
    );
    let cp = Checkpoint::parse_body(&note.text).unwrap();
    let (index, size) = (
        r["leaf_index"].as_u64().unwrap(),
        r["tree_size"].as_u64().unwrap(),
    );
    assert_eq!(cp.size, size);
    let entries = daemon.get_json(&format!(
        "/v1/ledger/entries?start={index}&end={}",
        index + 1
    ));
    let entry = entries["entries"][0]["entry"].as_str().unwrap();
    let der = B64.decode(issued["certificate"].as_str().unwrap()).unwrap();
    let parsed: Value = serde_json::from_str(entry).unwrap();
    assert_eq!(parsed["type"], "issuance");
    assert_eq!(parsed["cert_sha256"], hex::encode(Sha256::digest(&der)));
    assert_eq!(parsed["serial"], issued["serial"]);
    let leaf = ledger::leaf_hash(entry.as_bytes());
    let proof: Vec<ledger::Hash> = r["inclusion_proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect();
    ledger::tree::verify_inclusion(&leaf, index, size, &proof, &cp.root)
        .expect("receipt inclusion proof");
    (size, cp.root)
}

pub(super) fn python_verifier(
    daemon: &Daemon,
    world: &World,
    receipts: &[Value],
    previous: &[String],
) {
    let python = wallet_testkit::pkilint_bin_dir().join("python");
    let script = wallet_testkit::workspace_root().join("tests/verifier/verify_ledger.py");
    let receipts_file = world.path("receipts.json");
    std::fs::write(&receipts_file, serde_json::to_string(receipts).unwrap()).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args(["--url", &daemon.base, "--receipts"])
        .arg(&receipts_file);
    for (i, note) in previous.iter().enumerate() {
        let f = world.path(&format!("previous-{i}.note"));
        std::fs::write(&f, note).unwrap();
        cmd.arg("--previous-checkpoint").arg(f);
    }
    let (ok, text) = run(&mut cmd);
    assert!(
        ok && text.contains("ledger OK"),
        "independent verifier:\n{text}"
    );
}

pub(super) fn audit(world: &World) -> (bool, String) {
    let (ok, out, err) = world.walletctl(&["ledger", "audit"]);
    (ok, format!("{out}{err}"))
}

fn issue_some(world: &World, daemon: &Daemon, officer: &str, n: usize, tag: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let csr = world.csr(&format!("{tag}{i}"), "P-256");
            let (status, _, body) = post(
                daemon,
                "/v1/identities",
                Some(officer),
                &enroll_body(&csr, &format!("{tag}{i}X1234")),
            );
            assert_eq!(status, 201, "{body}");
            body
        })
        .collect()
}

fn ledger_flow(world: &World) {
    let out = world.init();
    assert!(
        out.contains("ledger checkpoint signed: tree size 6"),
        "ceremony key events: {out}"
    );
    let officer = world.staff("officer", "officer", Some("market-regulation"));
    let daemon = world.walletd(&[]);
    let (origin, keys) = trust(&daemon);
    assert_eq!(origin, "onevisit.local/ledger");
    let first_note = daemon.get("/v1/ledger/checkpoint").2;

    let issued = issue_some(world, &daemon, &officer, 6, "LF");
    let identity = issued[0]["identity_id"].as_str().unwrap();
    let (status, _, licence) = post(
        &daemon,
        &format!("/v1/identities/{identity}/licenses"),
        Some(&officer),
        &json!({
        "license_type": "business", "attributes": {"company_name": "A", "unified_social_credit_code": "B", "scope": "C"}}),
    );
    assert_eq!(status, 201, "{licence}");
    let mut all = issued.clone();
    all.push(licence);
    for r in &all {
        check_receipt(&daemon, r, &origin, &keys);
    }

    // The endpoints, and their refusals.
    let (status, ctype, note) = daemon.get("/v1/ledger/checkpoint");
    assert_eq!((status, ctype.as_str()), (200, "text/plain; charset=utf-8"));
    let sth = daemon.get_json("/v1/ledger/sth");
    let size = sth["tree_size"].as_u64().unwrap();
    assert_eq!(size, 6 + 7, "6 key events, 6 identities, 1 licence");
    assert_eq!(sth["checkpoint"].as_str().unwrap(), note);
    let by_index = daemon.get_json(&format!(
        "/v1/ledger/proof/inclusion?leaf_index=3&tree_size={size}"
    ));
    let leaf3 = daemon.get_json("/v1/ledger/entries?start=3&end=4")["entries"][0]["leaf_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let hex3 = hex::encode(hash(&leaf3));
    let by_hash = daemon.get_json(&format!("/v1/ledger/proof/inclusion?leaf_hash={hex3}"));
    assert_eq!(by_index["inclusion_proof"], by_hash["inclusion_proof"]);
    let cons = daemon.get_json(&format!(
        "/v1/ledger/proof/consistency?first=6&second={size}"
    ));
    let first = SignedNote::parse(&first_note).unwrap();
    let first_cp = Checkpoint::parse_body(&first.text).unwrap();
    let proof: Vec<ledger::Hash> = cons["consistency_proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect();
    ledger::tree::verify_consistency(
        6,
        size,
        &first_cp.root,
        &hash(sth["root_hash"].as_str().unwrap()),
        &proof,
    )
    .unwrap();
    let page = daemon.get_json("/v1/ledger/entries?start=0&end=100000");
    assert_eq!(page["entries"].as_array().unwrap().len() as u64, size);
    for bad in [
        "/v1/ledger/proof/inclusion?leaf_index=999&tree_size=3",
        "/v1/ledger/proof/inclusion?leaf_index=0&tree_size=99999",
        "/v1/ledger/proof/inclusion?leaf_index=x",
        "/v1/ledger/proof/inclusion?leaf_hash=zz",
        "/v1/ledger/proof/inclusion?leaf_index=1&leaf_hash=00",
        "/v1/ledger/proof/consistency?first=5&second=3",
        "/v1/ledger/proof/consistency?first=0&second=3",
        "/v1/ledger/proof/consistency?first=1",
        "/v1/ledger/entries?start=10&end=5",
        "/v1/ledger/entries?start=-1&end=5",
        "/v1/ledger/entries?start=99999&end=100000",
    ] {
        let (status, ctype, body) = daemon.get(bad);
        assert_eq!(
            (status, ctype.as_str()),
            (400, "application/problem+json"),
            "{bad}: {body}"
        );
    }
    let (status, _, _) = daemon.get(&format!(
        "/v1/ledger/proof/inclusion?leaf_hash={}",
        "ab".repeat(32)
    ));
    assert_eq!(status, 404);
    assert_eq!(
        daemon.get_json("/v1/trust")["checkpoint"].as_str().unwrap(),
        note
    );

    // Two implementations agree.
    python_verifier(&daemon, world, &all, &[first_note]);
    let (ok, text) = audit(world);
    assert!(
        ok && text.contains(&format!("ledger audit OK: {size} leaves")),
        "{text}"
    );
    let export = world.path("export");
    let (ok, out, err) = world.walletctl(&["ledger", "export", export.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let lines = std::fs::read_to_string(export.join("entries.jsonl")).unwrap();
    let mut replay = ledger::tree::MemoryTree::new();
    for line in lines.lines() {
        replay.push(ledger::leaf_hash(line.as_bytes()));
    }
    assert_eq!(
        ledger::tree::root(&replay, size).unwrap(),
        hash(sth["root_hash"].as_str().unwrap())
    );
    assert!(export.join(format!("checkpoints/{size}.note")).exists());
    assert!(daemon.terminate().success());
}

#[test]
fn receipts_proofs_audit_and_an_independent_verifier_on_sqlite() {
    ledger_flow(&World::sqlite("led-sqlite"));
}

#[test]
fn receipts_proofs_audit_and_an_independent_verifier_on_postgres() {
    ledger_flow(&World::postgres("led-postgres"));
}

#[test]
fn the_audit_names_a_tampered_entry() {
    let world = World::sqlite("led-tamper");
    world.init();
    let officer = world.staff("officer", "officer", Some("health"));
    let daemon = world.walletd(&[]);
    issue_some(&world, &daemon, &officer, 3, "TA");
    drop(daemon);
    assert!(audit(&world).0);
    // Flip one character of leaf 6's stored entry (a hex digit of its serial).
    let db = world.path("data/wallet.db");
    let (ok, text) = run(Command::new("sqlite3").arg(&db).arg(
        "UPDATE ledger_leaves SET entry = replace(entry, '\"serial\":\"', '\"serial\":\"f') WHERE leaf_index = 6;",
    ));
    assert!(ok, "{text}");
    let (ok, text) = audit(&world);
    assert!(!ok, "{text}");
    assert!(text.contains("leaf 6"), "the audit names the leaf: {text}");
}

/// Issues from 8 clients, SIGKILLs walletd mid-stream, restarts it, and
/// checks nothing handed out was lost and the log stayed append-only.
fn crash(world: &World) {
    world.init();
    let officer = world.staff("officer", "officer", Some("health"));
    let daemon = Arc::new(world.walletd(&[]));
    let before = daemon.get("/v1/ledger/checkpoint").2;
    let csrs: Arc<Vec<String>> = Arc::new(
        (0..8)
            .map(|i| world.csr(&format!("k{i}"), "P-256"))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (daemon, officer, csrs, stop) = (
                Arc::clone(&daemon),
                officer.clone(),
                Arc::clone(&csrs),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..10_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(5)))
                        .build()
                        .into();
                    let resp = agent
                        .post(&format!("{}/v1/identities", daemon.base))
                        .header("Authorization", &format!("Bearer {officer}"))
                        .send_json(enroll_body(&csrs[c], &format!("CR{c}N{i}X")));
                    match resp {
                        Ok(mut r) if r.status().as_u16() == 201 => got.push(
                            serde_json::from_str::<Value>(&r.body_mut().read_to_string().unwrap())
                                .unwrap(),
                        ),
                        _ => break, // the server died under us
                    }
                }
                got
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = daemon.child.id();
    let (ok, text) = run(Command::new("kill").args(["-KILL", &pid.to_string()]));
    assert!(ok, "{text}");
    stop.store(true, Ordering::Relaxed);
    let received: Vec<Value> = clients
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        received.len() >= 8,
        "clients got {} certificates before the crash",
        received.len()
    );
    drop(daemon);

    let daemon = world.walletd(&[]);
    let (origin, keys) = trust(&daemon);
    // The restarted sequencer integrates whatever was queued at the crash.
    std::thread::sleep(Duration::from_millis(500));
    let sth = daemon.get_json("/v1/ledger/sth");
    let size = sth["tree_size"].as_u64().unwrap();
    let root = hash(sth["root_hash"].as_str().unwrap());
    for r in &received {
        let (rsize, rroot) = check_receipt(&daemon, r, &origin, &keys);
        // Still included in the new tree head...
        let index = r["receipt"]["leaf_index"].as_u64().unwrap();
        let p = daemon.get_json(&format!(
            "/v1/ledger/proof/inclusion?leaf_index={index}&tree_size={size}"
        ));
        let der = B64.decode(r["certificate"].as_str().unwrap()).unwrap();
        let entry = daemon.get_json(&format!(
            "/v1/ledger/entries?start={index}&end={}",
            index + 1
        ));
        let leaf = ledger::leaf_hash(entry["entries"][0]["entry"].as_str().unwrap().as_bytes());
        assert!(
            entry["entries"][0]["entry"]
                .as_str()
                .unwrap()
                .contains(&hex::encode(Sha256::digest(&der)))
        );
        let proof: Vec<ledger::Hash> = p["inclusion_proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hash(h.as_str().unwrap()))
            .collect();
        ledger::tree::verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        // ...and the receipt's tree head is consistent with it.
        if rsize < size {
            let c = daemon.get_json(&format!(
                "/v1/ledger/proof/consistency?first={rsize}&second={size}"
            ));
            let proof: Vec<ledger::Hash> = c["consistency_proof"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| hash(h.as_str().unwrap()))
                .collect();
            ledger::tree::verify_consistency(rsize, size, &rroot, &root, &proof).unwrap();
        }
    }
    // No entry lost or duplicated: one issuance entry per stored credential.
    // The entries come in pages (at most 1,000 each): a fast machine issues
    // more than one page before the kill.
    let mut serials: Vec<String> = Vec::new();
    let mut start = 0;
    while start < size {
        let page = daemon.get_json(&format!("/v1/ledger/entries?start={start}&end={size}"));
        let entries = page["entries"].as_array().unwrap();
        assert!(!entries.is_empty(), "no entries from {start} of {size}");
        start += entries.len() as u64;
        serials.extend(
            entries
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(e["entry"].as_str().unwrap()).ok())
                .filter(|e| e["type"] == "issuance")
                .map(|e| e["serial"].as_str().unwrap().to_owned()),
        );
    }
    let total = serials.len();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), total, "duplicate issuance entries");
    for r in &received {
        assert!(serials.contains(&r["serial"].as_str().unwrap().to_owned()));
    }
    python_verifier(&daemon, world, &received, &[before]);
    drop(daemon);
    let (ok, text) = audit(world);
    assert!(ok, "{text}");
}

#[test]
fn sigkill_under_concurrent_issuance_on_sqlite() {
    crash(&World::sqlite("led-crash-sqlite"));
}

#[test]
fn sigkill_under_concurrent_issuance_on_postgres() {
    crash(&World::postgres("led-crash-postgres"));
}

#[test]
fn two_instances_share_one_postgres_ledger() {
    let world = World::postgres("led-two");
    world.init();
    let officer = world.staff("officer", "officer", Some("health"));
    let a = world.walletd(&[]);
    let b = world.walletd(&[]);
    let (origin, keys) = trust(&a);
    let mut received = issue_some(&world, &a, &officer, 4, "TWA");
    received.extend(issue_some(&world, &b, &officer, 4, "TWB"));
    // One instance dies; the other takes over sequencing.
    drop(a);
    received.extend(issue_some(&world, &b, &officer, 4, "TWC"));
    for r in &received {
        check_receipt(&b, r, &origin, &keys);
    }
    python_verifier(&b, &world, &received, &[]);
    drop(b);
    let (ok, text) = audit(&world);
    assert!(
        ok && text.contains(&format!("ledger audit OK: {} leaves", 6 + 12)),
        "{text}"
    );
}

/// Scale-out: concurrent enrollments split between two instances on one
/// PostgreSQL (group commits on both, one sequencer at a time): every
/// serial and every leaf index is unique, every receipt verifies, and the
/// audit of the whole log is clean.
#[test]
fn two_instances_under_concurrent_load_on_one_postgres() {
    let world = World::postgres("led-scale");
    world.init();
    let officer = world.staff("officer", "officer", Some("health"));
    let a = world.walletd(&[]);
    let b = world.walletd(&[]);
    let (origin, keys) = trust(&a);
    let daemons = [&a, &b];
    let (threads, each) = (8, 20);
    let received: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (daemon, officer) = (daemons[t % 2], &officer);
                s.spawn(move || {
                    (0..each)
                        .map(|i| {
                            let key = loop {
                                let scalar = service::random::bytes::<32>().unwrap();
                                if let Ok(k) = HolderKey::from_scalar(&scalar) {
                                    break k;
                                }
                            };
                            let (status, _, body) = post(
                                daemon,
                                "/v1/identities",
                                Some(officer),
                                &enroll_body(&key.csr_pem().unwrap(), &format!("SC{t}X{i:04}")),
                            );
                            assert_eq!(status, 201, "{body}");
                            body
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let n = threads * each;
    let serials: std::collections::HashSet<&str> = received
        .iter()
        .map(|r| r["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials.len(), n, "serials unique");
    let leaves: std::collections::HashSet<u64> = received
        .iter()
        .map(|r| r["receipt"]["leaf_index"].as_u64().unwrap())
        .collect();
    assert_eq!(leaves.len(), n, "one leaf per issuance");
    for r in &received {
        check_receipt(&b, r, &origin, &keys);
    }
    drop(a);
    drop(b);
    let (ok, text) = audit(&world);
    assert!(
        ok && text.contains(&format!("ledger audit OK: {} leaves", 6 + n)),
        "{text}"
    );
}

#[test]
fn a_slow_ledger_answers_503_with_the_leaf_hash_and_the_proof_comes_later() {
    let world = World::sqlite("led-slow");
    world.init();
    let officer = world.staff("officer", "officer", Some("health"));
    // Only the sequencer thread sequences, and it waits 3 s to gather a
    // batch; the request waits 200 ms.
    let daemon = world.walletd(&[
        ("WALLET_LEDGER_IN_COMMIT", "false"),
        ("WALLET_LEDGER_BATCH_DELAY_MS", "3000"),
        ("WALLET_RECEIPT_TIMEOUT_MS", "200"),
    ]);
    let csr = world.csr("slow", "P-256");
    let (status, ctype, body) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&csr, "SL1234567"),
    );
    assert_eq!(
        (status, ctype.as_deref()),
        (503, Some("application/problem+json")),
        "{body}"
    );
    assert_eq!(body["type"], "urn:onevisit:problem:ledger-pending");
    let leaf_hash = body["leaf_hash"].as_str().unwrap().to_owned();
    assert_eq!(leaf_hash.len(), 64, "{body}");
    // The credential is issued and recorded: the person is enrolled.
    let (status, _, again) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&csr, "SL1234567"),
    );
    assert_eq!(status, 409, "{again}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, proof) =
            daemon.get(&format!("/v1/ledger/proof/inclusion?leaf_hash={leaf_hash}"));
        if status == 200 {
            let p: Value = serde_json::from_str(&proof).unwrap();
            assert!(p["leaf_index"].as_u64().unwrap() >= 6, "{p}");
            break;
        }
        assert_eq!(status, 404, "{proof}");
        assert!(std::time::Instant::now() < deadline, "never integrated");
        std::thread::sleep(Duration::from_millis(200));
    }
}
