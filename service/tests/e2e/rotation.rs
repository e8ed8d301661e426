//! Key rotation over real HTTP while clients keep issuing and verifying:
//! every purpose rotated under load with no failed request, the issuer
//! switching exactly once in ledger order, the first checkpoint under a new
//! ledger key co-signed by the old one, the root rolled over with a
//! cross-certificate (checked by `openssl verify` with only the old root and
//! with only the new root trusted), OCSP for old and new CAs checked by
//! `openssl ocsp`, the two-person rule, and the trust document's states
//! matched against `pkcs11-tool --list-objects`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use wallet_testkit::{openssl_verify, run};

use super::issuance::{enroll_body, get, post};
use super::ledger::{audit, python_verifier};
use super::revocation::pem_file;
use super::verification::{holder_key, nonce, present};
use super::{Daemon, World};

/// What one client saw.
#[derive(Default)]
struct Seen {
    failures: Vec<String>,
    /// (kind, certificate base64, leaf index).
    issued: Vec<(String, String, u64)>,
    verified: usize,
    /// The client's first identity and licence (issued before any rotation).
    first: Option<(String, String, String)>,
}

fn business() -> Value {
    json!({"license_type": "business", "attributes":
        {"company_name": "A", "unified_social_credit_code": "B", "scope": "C"}})
}

/// One client: enrol a person, give them a licence, present both at a
/// counter; again and again until told to stop.
fn client(
    world: &World,
    daemon: &Daemon,
    n: usize,
    officer: &str,
    counter: &str,
    stop: &AtomicBool,
) -> Seen {
    let name = format!("client{n}");
    let csr = world.csr(&name, "P-256");
    let key = holder_key(world, &name);
    let mut seen = Seen::default();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) || i < 2 {
        i += 1;
        let (status, _, person) = post(
            daemon,
            "/v1/identities",
            Some(officer),
            &enroll_body(&csr, &format!("RT{n:02}{i:07}")),
        );
        if status != 201 {
            seen.failures.push(format!("enroll: {status} {person}"));
            continue;
        }
        let id = person["identity_id"].as_str().unwrap_or_default();
        let (status, _, licence) = post(
            daemon,
            &format!("/v1/identities/{id}/licenses"),
            Some(officer),
            &business(),
        );
        if status != 201 {
            seen.failures.push(format!("licence: {status} {licence}"));
            continue;
        }
        let identity_cert = person["certificate"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let licence_cert = licence["certificate"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for (kind, body) in [("identity", &person), ("license", &licence)] {
            if let Err(e) = chain_holds(body) {
                seen.failures.push(format!("{kind} chain: {e}"));
            }
            seen.issued.push((
                kind.into(),
                body["certificate"].as_str().unwrap_or_default().to_owned(),
                body["receipt"]["leaf_index"].as_u64().unwrap_or(u64::MAX),
            ));
        }
        if seen.first.is_none() {
            seen.first = Some((id.to_owned(), identity_cert.clone(), licence_cert.clone()));
        }
        let audience = format!("counter-{n}");
        let nonce = nonce(daemon, counter, &audience);
        let p = present(&key, &[&identity_cert, &licence_cert], &audience, &nonce);
        let (status, _, result) = post(daemon, "/v1/presentations/verify", None, &p);
        if status != 200 || result["verdict"] != "valid" {
            seen.failures.push(format!("verify: {status} {result}"));
        } else {
            seen.verified += 1;
        }
    }
    seen
}

/// The response's chain is the one that certificate was issued under:
/// leaf <- chain[0] <- chain[1] (self-signed), whatever rotated meanwhile.
fn chain_holds(body: &Value) -> Result<(), String> {
    let cert = |v: &Value| -> Result<certs::Certificate, String> {
        let der = B64
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        certs::from_der(&der).map_err(|e| e.to_string())
    };
    let leaf = cert(&body["certificate"])?;
    let ca = cert(&body["chain"][0])?;
    let root = cert(&body["chain"][1])?;
    certs::verify_signed_by(&leaf, &ca).map_err(|e| format!("leaf: {e}"))?;
    certs::verify_signed_by(&ca, &root).map_err(|e| format!("CA: {e}"))?;
    certs::verify_signed_by(&root, &root).map_err(|e| format!("root: {e}"))
}

fn write_pem(world: &World, name: &str, pem: &str) -> PathBuf {
    let path = world.path(name);
    std::fs::write(&path, pem).unwrap();
    path
}

fn concat(world: &World, name: &str, parts: &[&str]) -> PathBuf {
    write_pem(world, name, &parts.concat())
}

/// The issuing-CA entries of the trust document for `purpose`.
fn issuing<'a>(trust: &'a Value, purpose: &str) -> Vec<&'a Value> {
    trust["issuing_cas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["purpose"] == purpose)
        .collect()
}

fn pem_of(entry: &Value) -> &str {
    entry["certificate_pem"].as_str().unwrap()
}

/// Asks the OCSP responder about `leaf` (issued by `issuer`) with
/// `openssl ocsp`, which checks the response signature and the responder's
/// authorisation against `trusted`; returns the output.
fn openssl_ocsp(daemon: &Daemon, issuer: &Path, leaf: &Path, trusted: &Path) -> String {
    let (ok, text) = run(Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(issuer)
        .arg("-cert")
        .arg(leaf)
        .args(["-url", &format!("{}/ocsp", daemon.base)])
        .arg("-CAfile")
        .arg(trusted));
    assert!(
        ok && text.contains("Response verify OK"),
        "openssl ocsp:\n{text}"
    );
    text
}

/// Key labels on the token, from pkcs11-tool.
fn token_labels(world: &World) -> Vec<String> {
    let text = world.pkcs11_tool(&["--list-objects"]);
    let mut labels: Vec<String> = Vec::new();
    let mut in_secret = false;
    for line in text.lines() {
        if line.contains(" Object;") {
            in_secret =
                line.starts_with("Private Key Object") || line.starts_with("Secret Key Object");
        }
        if in_secret && let Some(l) = line.trim().strip_prefix("label:") {
            labels.push(l.trim().to_owned());
        }
    }
    labels.sort();
    labels
}

fn rotation_under_load(world: &World) {
    world.init();
    let officer = world.staff("officer", "officer", Some("market-regulation"));
    let counter = world.staff("counter", "counter", None);
    let ops1 = world.staff("ops-one", "ops", None);
    let ops2 = world.staff("ops-two", "ops", None);
    let daemon = world.walletd(&[]);
    let trust_before = daemon.get_json("/v1/trust");
    let old_root_pem = trust_before["roots"][0]["certificate_pem"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_ledger_spki = trust_before["ledger_keys"][0]["public_key_pem"]
        .as_str()
        .unwrap()
        .to_owned();

    // Rotation input checks first (nothing rotates).
    for (body, token, status, kind) in [
        (
            json!({"purpose": "dedup-hmac"}),
            &ops1,
            422,
            "purpose-not-rotatable",
        ),
        (
            json!({"purpose": "nonsense"}),
            &ops1,
            422,
            "unknown-purpose",
        ),
        (
            json!({"purpose": "identity-ca"}),
            &officer,
            403,
            "forbidden",
        ),
    ] {
        let (got, ctype, problem) = post(&daemon, "/v1/admin/keys/rotate", Some(token), &body);
        assert_eq!(got, status, "{problem}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"));
        assert_eq!(problem["type"], format!("urn:onevisit:problem:{kind}"));
    }
    let (status, _, _) = post(
        &daemon,
        "/v1/admin/keys/rotate",
        None,
        &json!({"purpose": "ocsp"}),
    );
    assert_eq!(status, 401);

    let stop = Arc::new(AtomicBool::new(false));
    let seen: Vec<Seen> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..3)
            .map(|n| {
                let (daemon, officer, counter, stop) = (&daemon, &officer, &counter, &stop);
                s.spawn(move || client(world, daemon, n, officer, counter, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        for purpose in ["identity-ca", "license-ca", "ocsp", "ledger"] {
            let (status, _, outcome) = post(
                &daemon,
                "/v1/admin/keys/rotate",
                Some(&ops1),
                &json!({"purpose": purpose}),
            );
            assert_eq!(status, 200, "{purpose}: {outcome}");
            assert_eq!(outcome["retired"]["state"], "retired");
            assert_eq!(outcome["activated"]["state"], "active");
            assert_eq!(
                outcome["activated"]["label"],
                format!("onevisit/{purpose}/2")
            );
            std::thread::sleep(Duration::from_millis(800));
        }

        // Root: two persons.
        let (status, _, request) = post(
            &daemon,
            "/v1/admin/keys/rotate",
            Some(&ops1),
            &json!({"purpose": "root"}),
        );
        assert_eq!(status, 202, "{request}");
        assert_eq!(request["state"], "pending");
        let id = request["request_id"].as_str().unwrap().to_owned();
        let (status, _, again) = post(
            &daemon,
            "/v1/admin/keys/rotate",
            Some(&ops2),
            &json!({"purpose": "root"}),
        );
        assert_eq!(status, 409, "{again}");
        assert_eq!(again["type"], "urn:onevisit:problem:rotation-request-open");
        let approve = format!("/v1/admin/keys/requests/{id}/approve");
        let (status, _, own) = post(&daemon, &approve, Some(&ops1), &json!({}));
        assert_eq!(status, 403, "the requester approving: {own}");
        let (status, _, not_ops) = post(&daemon, &approve, Some(&officer), &json!({}));
        assert_eq!(status, 403, "{not_ops}");
        assert_eq!(
            get(&daemon, &format!("/v1/admin/keys/requests/{id}"), &ops2).1["state"],
            "pending"
        );
        let (status, _, approved) = post(&daemon, &approve, Some(&ops2), &json!({}));
        assert_eq!(status, 200, "{approved}");
        assert_eq!(approved["request"]["state"], "completed");
        assert_eq!(
            approved["rotation"]["activated"]["label"],
            "onevisit/root/2"
        );
        let kinds: Vec<&str> = approved["rotation"]["certified"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["cross", "recertified", "recertified"], "{approved}");
        let (status, _, twice) = post(&daemon, &approve, Some(&ops2), &json!({}));
        assert_eq!(status, 409, "{twice}");
        assert_eq!(
            twice["type"],
            "urn:onevisit:problem:rotation-request-completed"
        );

        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });

    // No request failed; every presentation verified.
    let failures: Vec<&String> = seen.iter().flat_map(|s| &s.failures).collect();
    assert!(
        failures.is_empty(),
        "{} failures: {failures:#?}",
        failures.len()
    );
    let verified: usize = seen.iter().map(|s| s.verified).sum();
    assert!(verified >= 6, "only {verified} presentations");
    let issued: usize = seen.iter().map(|s| s.issued.len()).sum();
    eprintln!(
        "under rotation: {issued} certificates issued, {verified} presentations verified, 0 failed"
    );

    // The issuer switches exactly once per kind, in ledger order.
    let trust = daemon.get_json("/v1/trust");
    let size = trust["checkpoint"]
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let mut entries = Vec::new();
    let mut start = 0;
    while start < size {
        let page = daemon.get_json(&format!(
            "/v1/ledger/entries?start={start}&end={}",
            size.min(start + 1000)
        ));
        for e in page["entries"].as_array().unwrap() {
            entries.push(serde_json::from_str::<Value>(e["entry"].as_str().unwrap()).unwrap());
        }
        start = entries.len() as u64;
    }
    for kind in ["identity", "license"] {
        let mut issuers: Vec<&str> = entries
            .iter()
            .filter(|e| e["type"] == "issuance" && e["kind"] == kind)
            .map(|e| e["issuer_key_id"].as_str().unwrap())
            .collect();
        let total = issuers.len();
        issuers.dedup();
        assert_eq!(
            issuers.len(),
            2,
            "{kind}: issuer sequence {issuers:?} over {total} certificates"
        );
    }
    // Every rotation is on the ledger: 5 activations, 5 retirements, the
    // cross-certificate and two re-certifications, request and approval.
    let count = |ty: &str, event: &str| {
        entries
            .iter()
            .filter(|e| e["type"] == ty && e["event"] == event)
            .count()
    };
    assert_eq!(count("key", "activated"), 6 + 5);
    assert_eq!(count("key", "retired"), 5);
    assert_eq!(count("key", "certified"), 3);
    assert_eq!(count("key-request", "requested"), 1);
    assert_eq!(count("key-request", "approved"), 1);

    // Trust document: both roots, a cross-certificate, every CA certificate.
    let roots = trust["roots"].as_array().unwrap();
    assert_eq!(roots.len(), 2);
    assert_eq!(
        (roots[0]["state"].as_str(), roots[1]["state"].as_str()),
        (Some("retired"), Some("active"))
    );
    assert!(roots[0]["retired_at"].is_string() && roots[1]["activated_at"].is_string());
    let new_root_pem = roots[1]["certificate_pem"].as_str().unwrap().to_owned();
    assert_eq!(roots[0]["certificate_pem"].as_str().unwrap(), old_root_pem);
    let cross = trust["cross_certificates"].as_array().unwrap();
    assert_eq!(cross.len(), 1);
    assert_eq!(cross[0]["issuer_key_id"], roots[0]["key_id"]);
    assert_eq!(cross[0]["key_id"], roots[1]["key_id"]);
    let ledger_keys = trust["ledger_keys"].as_array().unwrap();
    assert_eq!(ledger_keys.len(), 2);
    assert_eq!(
        ledger_keys[0]["public_key_pem"].as_str().unwrap(),
        old_ledger_spki
    );

    let old_root = write_pem(world, "old-root.pem", &old_root_pem);
    let new_root = write_pem(world, "new-root.pem", &new_root_pem);
    let cross_pem = cross[0]["certificate_pem"].as_str().unwrap();
    for purpose in ["identity-ca", "license-ca"] {
        let cas = issuing(&trust, purpose);
        // gen 1 (retired, under the old root); gen 2 under the new root
        // (current) and under the old root (previous).
        assert_eq!(cas.len(), 3, "{purpose}: {cas:?}");
        let gen1: Vec<&&Value> = cas
            .iter()
            .filter(|c| c["label"] == format!("onevisit/{purpose}/1"))
            .collect();
        let gen2_now: Vec<&&Value> = cas
            .iter()
            .filter(|c| c["label"] == format!("onevisit/{purpose}/2") && c["current"] == true)
            .collect();
        let gen2_before: Vec<&&Value> = cas
            .iter()
            .filter(|c| c["label"] == format!("onevisit/{purpose}/2") && c["current"] == false)
            .collect();
        assert_eq!(
            (gen1.len(), gen2_now.len(), gen2_before.len()),
            (1, 1, 1),
            "{cas:?}"
        );
        assert_eq!(gen1[0]["state"], "retired");
        assert_eq!(gen2_now[0]["state"], "active");
        assert_eq!(gen2_now[0]["issuer_key_id"], roots[1]["key_id"]);
        assert_eq!(gen2_before[0]["issuer_key_id"], roots[0]["key_id"]);

        // Certificates of both generations, checked by OpenSSL.
        let kind = if purpose == "identity-ca" {
            "identity"
        } else {
            "license"
        };
        let all: Vec<&(String, String, u64)> = seen
            .iter()
            .flat_map(|s| &s.issued)
            .filter(|(k, _, _)| k == kind)
            .collect();
        let first = all.iter().min_by_key(|(_, _, i)| *i).unwrap();
        let last = all.iter().max_by_key(|(_, _, i)| *i).unwrap();
        let old_leaf = pem_file(world, &format!("{kind}-old"), &first.1);
        let new_leaf = pem_file(world, &format!("{kind}-new"), &last.1);
        let gen1_pem = write_pem(world, &format!("{purpose}-1.pem"), pem_of(gen1[0]));
        let gen2_pem = write_pem(world, &format!("{purpose}-2.pem"), pem_of(gen2_now[0]));
        openssl_verify(&old_root, Some(&gen1_pem), &old_leaf).unwrap();
        // After the rollover: with only the new root trusted...
        openssl_verify(&new_root, Some(&gen2_pem), &new_leaf).unwrap();
        // ...and with only the old root trusted, through the cross-certificate.
        let via_cross = concat(
            world,
            &format!("{purpose}-via-cross.pem"),
            &[pem_of(gen2_now[0]), cross_pem],
        );
        openssl_verify(&old_root, Some(&via_cross), &new_leaf).unwrap();
        // The old chain also still works for the new CA key's certificate under the old root.
        let before = write_pem(
            world,
            &format!("{purpose}-2-before.pem"),
            pem_of(gen2_before[0]),
        );
        openssl_verify(&old_root, Some(&before), &new_leaf).unwrap();
        // A root the certificate never chained to is refused.
        assert!(openssl_verify(&new_root, Some(&gen1_pem), &old_leaf).is_err());

        // OCSP for a retired CA's and an active CA's certificate, both
        // answered after the responder key rotated too.
        let both_roots = concat(world, "both-roots.pem", &[&old_root_pem, &new_root_pem]);
        let text = openssl_ocsp(&daemon, &gen1_pem, &old_leaf, &both_roots);
        assert!(text.contains(": good"), "{text}");
        let text = openssl_ocsp(&daemon, &gen2_pem, &new_leaf, &both_roots);
        assert!(text.contains(": good"), "{text}");
    }

    // A presentation mixing an identity from the old CA and a licence
    // from the new one verifies.
    let (id, old_identity, _) = seen[0].first.clone().unwrap();
    let (status, _, fresh) = post(
        &daemon,
        &format!("/v1/identities/{id}/licenses"),
        Some(&officer),
        &business(),
    );
    assert_eq!(status, 201, "{fresh}");
    let key = holder_key(world, "client0");
    let n = nonce(&daemon, &counter, "mixed");
    let p = present(
        &key,
        &[&old_identity, fresh["certificate"].as_str().unwrap()],
        "mixed",
        &n,
    );
    let (status, _, result) = post(&daemon, "/v1/presentations/verify", None, &p);
    assert_eq!(status, 200);
    assert_eq!(result["verdict"], "valid", "{result}");

    // The first checkpoint under the new ledger key carries the old key's
    // signature too: a verifier that trusts only the old key follows.
    let old_spki = pem_spki_der(&old_ledger_spki);
    let new_spki = pem_spki_der(ledger_keys[1]["public_key_pem"].as_str().unwrap());
    let origin = trust["ledger_origin"].as_str().unwrap();
    let notes = checkpoint_notes(world);
    let cosigned: Vec<&String> = notes
        .iter()
        .filter(|n| ledger::checkpoint::verify_checkpoint(n, origin, &new_spki).is_ok())
        .filter(|n| ledger::checkpoint::verify_checkpoint(n, origin, &old_spki).is_ok())
        .collect();
    assert_eq!(
        cosigned.len(),
        1,
        "exactly one checkpoint carries both signatures"
    );
    let after: Vec<&String> = notes
        .iter()
        .filter(|n| ledger::checkpoint::verify_checkpoint(n, origin, &new_spki).is_ok())
        .collect();
    assert!(
        after.len() > 1,
        "checkpoints after the first under the new key"
    );

    // The admin key list and the token agree: every key is on the token.
    let (status, list) = get(&daemon, "/v1/admin/keys", &ops2);
    assert_eq!(status, 200, "{list}");
    let listed = list["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 11, "{list}");
    assert!(listed.iter().all(|k| k["on_token"] == true), "{list}");
    let mut states: BTreeMap<String, String> = BTreeMap::new();
    for k in listed {
        states.insert(
            k["label"].as_str().unwrap().into(),
            k["state"].as_str().unwrap().into(),
        );
    }
    let mut labels: Vec<String> = states.keys().cloned().collect();
    labels.sort();
    assert_eq!(token_labels(world), labels);
    for purpose in ["root", "identity-ca", "license-ca", "ocsp", "ledger"] {
        assert_eq!(states[&format!("onevisit/{purpose}/1")], "retired");
        assert_eq!(states[&format!("onevisit/{purpose}/2")], "active");
    }
    assert_eq!(states["onevisit/dedup-hmac/1"], "active");
    let (status, _) = get(&daemon, "/v1/admin/keys", &officer);
    assert_eq!(status, 403);

    // The whole log still audits, by us and by the independent verifier.
    let (ok, text) = audit(world);
    assert!(ok, "{text}");
    python_verifier(&daemon, world, &[], &[]);
}

fn pem_spki_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(body).unwrap()
}

/// Every stored checkpoint note, read through `walletctl ledger export`'s
/// sibling: the database itself (SQLite CLI or psql).
fn checkpoint_notes(world: &World) -> Vec<String> {
    let sql = "SELECT note FROM ledger_checkpoints ORDER BY tree_size";
    let out = if world.db_url.starts_with("sqlite://") {
        let path = world.db_url.trim_start_matches("sqlite://");
        run(Command::new("sqlite3").args(["-json", path, sql]))
    } else {
        let (ok, text) = run(Command::new("psql").args([
            &world.db_url,
            "-At",
            "-c",
            "SELECT json_agg(json_build_object('note', note) ORDER BY tree_size) FROM ledger_checkpoints",
        ]));
        (ok, text)
    };
    assert!(out.0, "{}", out.1);
    let rows: Vec<Value> = serde_json::from_str(out.1.trim()).unwrap();
    rows.iter()
        .map(|r| r["note"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rotation_under_load_on_sqlite() {
    rotation_under_load(&World::sqlite("rot-lite"));
}

#[test]
fn rotation_under_load_on_postgres() {
    rotation_under_load(&World::postgres("rot-pg"));
}

#[test]
fn a_root_rotation_request_expires() {
    let world = World::sqlite("rot-exp");
    world.init();
    let ops1 = world.staff("ops-one", "ops", None);
    let ops2 = world.staff("ops-two", "ops", None);
    let daemon = world.walletd(&[("WALLET_ROTATION_REQUEST_TTL_SECS", "1")]);
    let (status, _, request) = post(
        &daemon,
        "/v1/admin/keys/rotate",
        Some(&ops1),
        &json!({"purpose": "root"}),
    );
    assert_eq!(status, 202, "{request}");
    std::thread::sleep(Duration::from_millis(2100));
    let id = request["request_id"].as_str().unwrap();
    let (status, _, late) = post(
        &daemon,
        &format!("/v1/admin/keys/requests/{id}/approve"),
        Some(&ops2),
        &json!({}),
    );
    assert_eq!(status, 409, "{late}");
    assert_eq!(
        late["type"],
        "urn:onevisit:problem:rotation-request-expired"
    );
    assert_eq!(
        get(&daemon, &format!("/v1/admin/keys/requests/{id}"), &ops2).1["state"],
        "expired"
    );
    // Nothing rotated; a new request may be made.
    let trust = daemon.get_json("/v1/trust");
    assert_eq!(trust["roots"].as_array().unwrap().len(), 1);
    let (status, _, again) = post(
        &daemon,
        "/v1/admin/keys/rotate",
        Some(&ops2),
        &json!({"purpose": "root"}),
    );
    assert_eq!(status, 202, "{again}");
    let (status, _, missing) = post(
        &daemon,
        "/v1/admin/keys/requests/00000000-0000-4000-8000-000000000000/approve",
        Some(&ops1),
        &json!({}),
    );
    assert_eq!(status, 404, "{missing}");
    assert_eq!(
        missing["type"],
        "urn:onevisit:problem:rotation-request-not-found"
    );
}

#[test]
fn walletctl_rotates_while_walletd_serves() {
    let world = World::sqlite("rot-cli");
    world.init();
    let officer = world.staff("officer", "officer", Some("market-regulation"));
    let daemon = world.walletd(&[]);
    let csr = world.csr("cli", "P-256");
    let (status, _, before) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&csr, "CLI0000001"),
    );
    assert_eq!(status, 201, "{before}");

    let (ok, out, err) = world.walletctl(&["keys", "rotate", "identity-ca"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("retired   onevisit/identity-ca/1"), "{out}");
    assert!(out.contains("activated onevisit/identity-ca/2"), "{out}");
    let (ok, out, err) = world.walletctl(&["keys", "rotate", "dedup-hmac"]);
    assert!(
        !ok && format!("{out}{err}").contains("not rotated"),
        "{out}{err}"
    );

    // walletd issues with the new key at once, and both certificates verify.
    let (status, _, after) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&csr, "CLI0000002"),
    );
    assert_eq!(status, 201, "{after}");
    let trust = daemon.get_json("/v1/trust");
    let root = write_pem(
        &world,
        "root.pem",
        trust["roots"][0]["certificate_pem"].as_str().unwrap(),
    );
    let cas = issuing(&trust, "identity-ca");
    assert_eq!(cas.len(), 2);
    for (cert, ca) in [(&before, cas[0]), (&after, cas[1])] {
        let leaf = pem_file(
            &world,
            &format!("cli-{}", ca["label"].as_str().unwrap().replace('/', "-")),
            cert["certificate"].as_str().unwrap(),
        );
        let ca_pem = write_pem(&world, "cli-ca.pem", pem_of(ca));
        openssl_verify(&root, Some(&ca_pem), &leaf).unwrap();
    }
    assert_ne!(before["chain"][0], after["chain"][0]);
    // Destroying: a retired CA whose credentials are still valid stays; an
    // active key stays; a retired ledger key goes once the new key signed.
    let (ok, out, err) = world.walletctl(&["keys", "destroy", "onevisit/identity-ca/1"]);
    assert!(
        !ok && err.contains("still needed") && err.contains("valid until"),
        "{out}{err}"
    );
    let (ok, out, err) = world.walletctl(&["keys", "destroy", "onevisit/ledger/1"]);
    assert!(!ok && err.contains("only a retired key"), "{out}{err}");
    let (ok, out, err) = world.walletctl(&["keys", "rotate", "ledger"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = world.walletctl(&["keys", "destroy", "onevisit/ledger/1"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("destroyed onevisit/ledger/1"), "{out}");
    let (ok, out, err) = world.walletctl(&["keys", "destroy", "onevisit/ledger/1"]);
    assert!(ok, "repeating is harmless: {out}{err}");
    let trust = daemon.get_json("/v1/trust");
    let ledger_states: Vec<&str> = trust["ledger_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(ledger_states, ["destroyed", "active"]);
    // What the destroyed key signed still audits (its public key stays).
    let (ok, text) = audit(&world);
    assert!(ok, "{text}");

    let (ok, out, err) = world.walletctl(&["keys", "list"]);
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l.contains("onevisit/ledger/1")
            && l.contains("destroyed")
            && l.ends_with("no")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("onevisit/identity-ca/1")
            && l.contains("retired")
            && l.ends_with("yes")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("onevisit/identity-ca/2")
            && l.contains("active")
            && l.ends_with("yes")),
        "{out}"
    );

    // An active key missing from the token makes walletd not ready.
    assert_eq!(daemon.get("/readyz").0, 200);
    world.pkcs11_tool(&[
        "--delete-object",
        "--type",
        "privkey",
        "--label",
        "onevisit/identity-ca/2",
    ]);
    let (status, _, body) = daemon.get("/readyz");
    assert_eq!(status, 503, "{body}");
}
