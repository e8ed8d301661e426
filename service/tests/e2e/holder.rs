//! The holder's tooling and offline verification as real processes:
//! `walletctl holder keygen` and `csr` (checked by OpenSSL), enrollment and
//! a licence with that key, `holder present --bundle`, then `walletctl
//! verify --offline` with nothing but the saved trust document and CRLs,
//! agreeing with the service's own verification; tampering, revocation and
//! unreadable input.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::issuance::{enroll_body, post};
use super::{Daemon, World, run};

/// Runs walletctl; returns (exit code, stdout, stderr).
fn walletctl(world: &World, args: &[&str]) -> (i32, String, String) {
    let out = world.command("walletctl").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `walletctl verify --offline --trust trust.json ARGS...`: (exit code,
/// report or `null`, stderr).
fn verify_offline(world: &World, args: &[&str]) -> (i32, Value, String) {
    let trust = world.path("trust.json");
    let mut all = vec!["verify", "--offline", "--trust", trust.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = walletctl(world, &all);
    let report = serde_json::from_str(&out).unwrap_or(Value::Null);
    (code, report, err)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// GET returning the raw body (CRLs are binary).
fn get_bytes(daemon: &Daemon, path: &str) -> Vec<u8> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut resp = agent.get(&format!("{}{path}", daemon.base)).call().unwrap();
    resp.body_mut().read_to_vec().unwrap()
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn nonce(daemon: &Daemon, counter: &str, audience: &str) -> String {
    let (status, _, body) = post(
        daemon,
        "/v1/challenges",
        Some(counter),
        &json!({ "audience": audience }),
    );
    assert_eq!(status, 201, "{body}");
    body["nonce"].as_str().unwrap().to_owned()
}

/// Saves the CRL of each issuing CA; returns the `--crl` arguments.
fn fetch_crls(world: &World, daemon: &Daemon, trust: &Value, tag: &str) -> Vec<String> {
    let mut args = Vec::new();
    for ca in trust["issuing_cas"].as_array().unwrap() {
        let key_id = ca["key_id"].as_str().unwrap();
        let path = world.path(&format!("{}-{tag}.crl", ca["purpose"].as_str().unwrap()));
        std::fs::write(&path, get_bytes(daemon, &format!("/v1/crl/{key_id}"))).unwrap();
        args.push("--crl".to_owned());
        args.push(s(&path).to_owned());
    }
    args
}

fn checks(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn check(report: &Value, name: &str) -> String {
    report["checks"][name].as_str().unwrap_or("").to_owned()
}

#[test]
fn holder_tooling_and_offline_verification() {
    let world = World::sqlite("e2e-holder");
    world.init();
    let officer = world.staff("mr", "officer", Some("market-regulation"));
    let counter = world.staff("desk", "counter", None);

    // A key of the holder's own: mode 0600, never printed, never replaced.
    let key = world.path("holder.key");
    let (code, out, err) = walletctl(&world, &["holder", "keygen", "--out", s(&key)]);
    assert_eq!(code, 0, "{out}\n{err}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
    let body = pem.lines().nth(1).unwrap();
    assert!(!out.contains("PRIVATE") && !out.contains(body) && !err.contains(body));
    let signing = SigningKey::from_pkcs8_pem(&pem).unwrap();
    let spki = signing.verifying_key().to_public_key_der().unwrap();
    assert_eq!(
        out.lines().last().unwrap(),
        hex::encode(Sha256::digest(spki.as_bytes())),
        "{out}"
    );
    let (code, _, err) = walletctl(&world, &["holder", "keygen", "--out", s(&key)]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem);

    // Its CSR, checked by OpenSSL, enrolls the holder.
    let csr = world.path("holder.csr");
    let (code, out, err) = walletctl(
        &world,
        &["holder", "csr", "--key", s(&key), "--out", s(&csr)],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let (ok, text) = run(Command::new("openssl")
        .args(["req", "-verify", "-noout", "-in"])
        .arg(&csr));
    assert!(ok && text.contains("verify OK"), "{text}");

    let daemon = world.walletd(&[]);
    let (status, _, person) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&std::fs::read_to_string(&csr).unwrap(), "HD1234567"),
    );
    assert_eq!(status, 201, "{person}");
    let id = person["identity_id"].as_str().unwrap();
    let (status, _, licence) = post(
        &daemon,
        &format!("/v1/identities/{id}/licenses"),
        Some(&officer),
        &json!({"license_type": "business", "attributes":
            {"company_name": "A", "unified_social_credit_code": "B", "scope": "C"}}),
    );
    assert_eq!(status, 201, "{licence}");
    let identity_json = world.path("identity.json");
    let licence_json = world.path("licence.json");
    write_json(&identity_json, &person);
    write_json(&licence_json, &licence);

    // What a counter saves while it is online.
    let (status, _, trust_text) = daemon.get("/v1/trust");
    assert_eq!(status, 200);
    std::fs::write(world.path("trust.json"), &trust_text).unwrap();
    let trust: Value = serde_json::from_str(&trust_text).unwrap();
    let crls = fetch_crls(&world, &daemon, &trust, "before");
    let size = daemon.get_json("/v1/ledger/sth")["tree_size"]
        .as_u64()
        .unwrap();
    let entries = world.path("entries.json");
    let (status, _, page) = daemon.get(&format!("/v1/ledger/entries?start=0&end={size}"));
    assert_eq!(status, 200, "{page}");
    std::fs::write(&entries, page).unwrap();

    let present = |key: &Path, audience: &str, nonce: &str, extra: &[&str], out: &Path| {
        let mut args = vec![
            "holder",
            "present",
            "--key",
            s(key),
            "--cred",
            s(&identity_json),
            s(&licence_json),
            "--audience",
            audience,
            "--nonce",
            nonce,
            "--out",
            s(out),
        ];
        args.extend_from_slice(extra);
        walletctl(&world, &args)
    };

    // The saved responses carry no ledger entry: a bundle needs the entries.
    let bundle = world.path("bundle.json");
    let (code, _, err) = present(&key, "desk-1", "n", &["--bundle"], &bundle);
    assert_eq!(code, 1);
    assert!(
        err.contains("identity.json") && err.contains("--entries"),
        "{err}"
    );

    let n = nonce(&daemon, &counter, "desk-1");
    let (code, out, err) = present(
        &key,
        "desk-1",
        &n,
        &["--bundle", "--entries", s(&entries)],
        &bundle,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let doc = read_json(&bundle);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["credentials"][0], person["certificate"]);
    assert_eq!(doc["credentials"][1], licence["certificate"]);
    assert_eq!(doc["proof"]["audience"], "desk-1");
    assert!(doc["proof"]["issued_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        doc["chain"].as_array().unwrap().len(),
        3,
        "two CAs, one root"
    );
    let receipts = doc["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 2);
    for (r, issued) in receipts.iter().zip([&person, &licence]) {
        assert_eq!(r["leaf_index"], issued["receipt"]["leaf_index"]);
        let entry: Value = serde_json::from_str(r["entry"].as_str().unwrap()).unwrap();
        assert_eq!(entry["type"], "issuance");
        assert_eq!(entry["serial"], issued["serial"]);
    }

    // Offline, with the CRLs: valid, and says what it could not check.
    let mut args: Vec<&str> = crls.iter().map(String::as_str).collect();
    args.push(s(&bundle));
    let (code, report, err) = verify_offline(&world, &args);
    assert_eq!(code, 0, "{report:#}\n{err}");
    assert_eq!(report["verdict"], "valid", "{report:#}");
    assert_eq!(report["holder"], id);
    for (name, outcome) in checks(&report) {
        let expected = match name.as_str() {
            "nonce" | "audience" | "identity_active" => "not-checked",
            _ => "passed",
        };
        assert_eq!(outcome, expected, "{name}: {report:#}");
    }
    for c in report["credentials"].as_array().unwrap() {
        assert_eq!(c["status"], "good", "{c}");
        assert_eq!(c["ledger"]["verified"], true, "{c}");
    }
    assert_eq!(report["credentials"][1]["license_type"], "business");
    assert!(
        report["crls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["authentic"] == true && c["current"] == true),
        "{report:#}"
    );
    // The counter may say what it expects.
    let mut expecting = vec!["--audience", "desk-1", "--nonce", &n];
    expecting.extend_from_slice(&args);
    let (code, report, _) = verify_offline(&world, &expecting);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        (check(&report, "audience"), check(&report, "nonce")),
        ("passed".into(), "passed".into())
    );
    let mut elsewhere = vec!["--audience", "desk-2"];
    elsewhere.extend_from_slice(&args);
    let (code, report, _) = verify_offline(&world, &elsewhere);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(check(&report, "audience"), "failed");

    // Without CRLs the verdict is computed from the rest and says so.
    let (code, report, _) = verify_offline(&world, &[s(&bundle)]);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["verdict"], "valid-unchecked-revocation");
    assert_eq!(check(&report, "revocation"), "not-checked");
    assert_eq!(check(&report, "ledger"), "passed");
    assert!(
        report["errors"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    for c in report["credentials"].as_array().unwrap() {
        assert_eq!(c["status"], "not-checked", "{c}");
    }
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("revocation of") && notes.contains("not checked"),
        "{notes}"
    );

    // The service finds the same presentation valid, with its real nonce.
    let (status, _, online) = post(&daemon, "/v1/presentations/verify", None, &doc);
    assert_eq!(status, 200, "{online}");
    assert_eq!(online["verdict"], "valid", "{online:#}");

    // Tampering is caught offline.
    let tampered = world.path("tampered.json");
    let mut flipped = doc.clone();
    let mut der = B64.decode(doc["credentials"][1].as_str().unwrap()).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    flipped["credentials"][1] = B64.encode(&der).into();
    write_json(&tampered, &flipped);
    let (code, report, _) = verify_offline(&world, &[s(&tampered)]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["verdict"], "invalid");
    assert_eq!(check(&report, "chain"), "failed");
    assert_eq!(check(&report, "holder_signature"), "failed");

    let mut moved = doc.clone();
    moved["proof"]["audience"] = "desk-2".into();
    write_json(&tampered, &moved);
    let (code, report, _) = verify_offline(&world, &[s(&tampered)]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(check(&report, "holder_signature"), "failed");
    assert_eq!(check(&report, "chain"), "passed");

    let mut rewritten = doc.clone();
    let entry = doc["receipts"][1]["entry"].as_str().unwrap();
    rewritten["receipts"][1]["entry"] = entry.replacen("\"at\":", "\"at\":1", 1).into();
    write_json(&tampered, &rewritten);
    let (code, report, _) = verify_offline(&world, &[s(&tampered)]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(check(&report, "ledger"), "failed");
    assert_eq!(
        report["credentials"][1]["errors"],
        json!(["inclusion-proof-failed"])
    );

    // Not a bundle: the ledger cannot be checked, so it is not valid.
    let plain = world.path("plain.json");
    let (code, _, err) = present(&key, "desk-1", "n", &[], &plain);
    assert_eq!(code, 0, "{err}");
    let plain_doc = read_json(&plain);
    assert!(plain_doc.get("receipts").is_none() && plain_doc.get("chain").is_none());
    let (code, report, _) = verify_offline(&world, &[s(&plain)]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(check(&report, "ledger"), "not-checked");
    assert!(
        report["errors"].to_string().contains("ledger-not-checked"),
        "{report:#}"
    );

    // Someone else's key cannot present these credentials.
    let thief = world.path("thief.key");
    assert_eq!(
        walletctl(&world, &["holder", "keygen", "--out", s(&thief)]).0,
        0
    );
    let (code, _, err) = present(&thief, "desk-1", "n", &[], &world.path("stolen.json"));
    assert_eq!(code, 1);
    assert!(
        err.contains("identity.json") && err.contains("bound to another key"),
        "{err}"
    );

    // Unreadable input is exit status 2, without a report.
    let garbage = world.path("garbage.json");
    std::fs::write(&garbage, "{\"version\": 1, \"credentials\": [").unwrap();
    let (code, report, err) = verify_offline(&world, &[s(&garbage)]);
    assert_eq!((code, report), (2, Value::Null), "{err}");
    let (code, _, err) = verify_offline(&world, &["--crl", s(&garbage), s(&bundle)]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = walletctl(
        &world,
        &["verify", "--offline", "--trust", s(&garbage), s(&bundle)],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("trust document"), "{err}");

    // A revoked licence: the new CRL says so, offline too.
    let serial = licence["serial"].as_str().unwrap();
    let (status, _, body) = post(
        &daemon,
        &format!("/v1/credentials/{serial}/revoke"),
        Some(&officer),
        &json!({"reason": "keyCompromise"}),
    );
    assert_eq!(status, 200, "{body}");
    let crls = fetch_crls(&world, &daemon, &trust, "after");
    let mut args: Vec<&str> = crls.iter().map(String::as_str).collect();
    args.push(s(&bundle));
    let (code, report, _) = verify_offline(&world, &args);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["verdict"], "invalid");
    assert_eq!(check(&report, "revocation"), "failed");
    let revoked = &report["credentials"][1];
    assert_eq!(revoked["status"], "revoked", "{report:#}");
    assert_eq!(revoked["revocation"]["reason"], "keyCompromise");
    assert_eq!(report["credentials"][0]["status"], "good");
    assert!(
        report["errors"]
            .to_string()
            .contains(&format!("{serial}: credential-revoked")),
        "{report:#}"
    );
    // A CRL that is not the trusted CA's is not used.
    let mut forged = std::fs::read(crls[1].as_str()).unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let forged_path = world.path("forged.crl");
    std::fs::write(&forged_path, forged).unwrap();
    let (code, report, err) = verify_offline(&world, &["--crl", s(&forged_path), s(&bundle)]);
    assert_eq!(code, 3, "{report:#}\n{err}");
    assert_eq!(report["crls"][0]["authentic"], false, "{report:#}");
    assert_eq!(report["crls"][0]["error"], "crl-bad-signature");
}
