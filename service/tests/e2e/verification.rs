//! The counter's transaction over real HTTP: a challenge, a presentation
//! signed by the holder's own key (made by OpenSSL), every check, replay,
//! concurrent use of one nonce, one-visit service requirements, revoked and
//! forged credentials, and malformed bodies.

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::issuance::{enroll_body, post};
use super::{Daemon, World, run};

/// The holder's side: DESIGN.md's signing input, written out here on purpose
/// rather than borrowed from the service's code.
pub(super) fn present(
    key: &SigningKey,
    credentials: &[&str],
    audience: &str,
    nonce: &str,
) -> Value {
    let issued_at = service::domain::rfc3339(service::domain::unix(SystemTime::now()));
    let mut lines = vec![
        "onevisit-presentation-v1".to_owned(),
        audience.to_owned(),
        nonce.to_owned(),
        issued_at.clone(),
    ];
    for c in credentials {
        lines.push(hex::encode(Sha256::digest(B64.decode(c).unwrap())));
    }
    let sig: Signature = key.sign(lines.join("\n").as_bytes());
    json!({
        "version": 1,
        "credentials": credentials,
        "proof": {"audience": audience, "nonce": nonce, "issued_at": issued_at, "signature": B64.encode(sig.to_der().as_bytes())},
    })
}

pub(super) fn holder_key(world: &World, name: &str) -> SigningKey {
    SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(world.path(&format!("{name}.key"))).unwrap(),
    )
    .unwrap()
}

pub(super) fn nonce(daemon: &Daemon, counter: &str, audience: &str) -> String {
    let (status, _, body) = post(
        daemon,
        "/v1/challenges",
        Some(counter),
        &json!({ "audience": audience }),
    );
    assert_eq!(status, 201, "{body}");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    body["nonce"].as_str().unwrap().to_owned()
}

fn verify(daemon: &Daemon, body: &Value) -> Value {
    let (status, _, result) = post(daemon, "/v1/presentations/verify", None, body);
    assert_eq!(status, 200, "{result}");
    result
}

fn errors(result: &Value) -> Vec<&str> {
    result["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect()
}

/// A challenge row as the previous version stored it when it handed the
/// nonce out, written straight into the database.
fn stored_nonce(world: &World, counter: &str, audience: &str) -> String {
    let db = schema::Database::connect(&world.db_url, 1).unwrap();
    let mut conn = db.conn().unwrap();
    let by = schema::staff::by_name(&mut conn, counter)
        .unwrap()
        .unwrap()
        .id;
    let now = service::domain::unix(SystemTime::now());
    let nonce = hex::encode(Sha256::digest(format!("{audience}{now}")));
    schema::challenges::insert(
        &mut conn,
        &schema::challenges::NewChallenge {
            nonce: nonce.clone(),
            audience: audience.to_owned(),
            created_by: by,
            created_at: now,
            expires_at: now + 300,
            used_at: None,
        },
    )
    .unwrap();
    nonce
}

fn verification_flow(world: &World) {
    world.init();
    let market = world.staff("mr", "officer", Some("market-regulation"));
    let health = world.staff("he", "officer", Some("health"));
    let counter = world.staff("counter", "counter", None);
    let daemon = world.walletd(&[]);
    let (_, _, person) = post(
        &daemon,
        "/v1/identities",
        Some(&market),
        &enroll_body(&world.csr("holder", "P-256"), "VF1234567"),
    );
    let id = person["identity_id"].as_str().unwrap();
    let (_, _, business) = post(
        &daemon,
        &format!("/v1/identities/{id}/licenses"),
        Some(&market),
        &json!({
        "license_type": "business", "attributes": {"company_name": "A", "unified_social_credit_code": "B", "scope": "C"}}),
    );
    let (_, _, sanitation) = post(
        &daemon,
        &format!("/v1/identities/{id}/licenses"),
        Some(&health),
        &json!({
        "license_type": "sanitation", "attributes": {"premises": "P", "inspector": "I"}}),
    );
    let key = holder_key(world, "holder");
    let certs = [
        person["certificate"].as_str().unwrap(),
        business["certificate"].as_str().unwrap(),
        sanitation["certificate"].as_str().unwrap(),
    ];

    // Only counters ask for challenges.
    let (status, _, _) = post(
        &daemon,
        "/v1/challenges",
        Some(&market),
        &json!({"audience": "x"}),
    );
    assert_eq!(status, 403);
    assert_eq!(
        post(&daemon, "/v1/challenges", None, &json!({"audience": "x"})).0,
        401
    );

    // A genuine presentation.
    let n = nonce(&daemon, &counter, "hotel-desk-1");
    let good = present(&key, &certs, "hotel-desk-1", &n);
    let result = verify(&daemon, &good);
    assert_eq!(result["verdict"], "valid", "{result}");
    assert_eq!(result["holder"], id);
    assert!(
        result["checks"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == true),
        "{result}"
    );
    for c in result["credentials"].as_array().unwrap() {
        assert_eq!(
            (c["status"].as_str(), c["ledger"]["verified"].as_bool()),
            (Some("good"), Some(true)),
            "{c}"
        );
    }
    // Replayed: the nonce is spent.
    let again = verify(&daemon, &good);
    assert_eq!(
        (
            again["verdict"].as_str(),
            again["checks"]["nonce"].as_bool()
        ),
        (Some("invalid"), Some(false)),
        "{again}"
    );

    // A nonce is the service's to make: one character of its MAC changed,
    // and it is unknown (and the holder's signature over it still verifies).
    let n = nonce(&daemon, &counter, "hotel-desk-1");
    let forged = format!(
        "{}{}",
        &n[..n.len() - 1],
        if n.ends_with('A') { 'B' } else { 'A' }
    );
    let r = verify(&daemon, &present(&key, &certs, "hotel-desk-1", &forged));
    assert_eq!(
        (
            r["verdict"].as_str(),
            r["checks"]["nonce"].as_bool(),
            r["checks"]["holder_signature"].as_bool()
        ),
        (Some("invalid"), Some(false), Some(true)),
        "{r}"
    );
    assert!(errors(&r).contains(&"nonce-unknown"), "{r}");
    // The genuine one is untouched by the forgery.
    assert_eq!(
        verify(&daemon, &present(&key, &certs, "hotel-desk-1", &n))["verdict"],
        "valid"
    );
    // A nonce stored when it was handed out, as the previous version did,
    // is still consumed once (presentations begun before an upgrade).
    let stored = stored_nonce(world, "counter", "hotel-desk-1");
    let old = present(&key, &certs, "hotel-desk-1", &stored);
    assert_eq!(verify(&daemon, &old)["verdict"], "valid");
    let again = verify(&daemon, &old);
    assert!(errors(&again).contains(&"nonce-used"), "{again}");
    // Another instance on the same database accepts this one's nonce, and
    // the use is seen by both.
    if world.is_postgres() {
        let other = world.walletd(&[]);
        let n = nonce(&daemon, &counter, "hotel-desk-1");
        let body = present(&key, &certs, "hotel-desk-1", &n);
        assert_eq!(verify(&other, &body)["verdict"], "valid");
        let again = verify(&daemon, &body);
        assert!(errors(&again).contains(&"nonce-used"), "{again}");
    }

    // Two verifications racing for one nonce: exactly one is valid.
    let n = nonce(&daemon, &counter, "hotel-desk-1");
    let body = Arc::new(present(&key, &certs, "hotel-desk-1", &n));
    let daemon = Arc::new(daemon);
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let (d, b, body) = (Arc::clone(&daemon), Arc::clone(&barrier), Arc::clone(&body));
            std::thread::spawn(move || {
                b.wait();
                verify(&d, &body)["verdict"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let verdicts: Vec<String> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        verdicts.iter().filter(|v| *v == "valid").count(),
        1,
        "{verdicts:?}"
    );

    // One-visit services.
    let check = |service: &str, creds: &[&str]| {
        let n = nonce(&daemon, &counter, "desk");
        post(
            &daemon,
            &format!("/v1/services/{service}/check"),
            Some(&counter),
            &present(&key, creds, "desk", &n),
        )
    };
    let (status, _, hotel) = check("hotel-opening", &certs);
    assert_eq!(status, 200, "{hotel}");
    assert_eq!(
        (hotel["verdict"].as_str(), hotel["complete"].as_bool()),
        (Some("valid"), Some(true)),
        "{hotel}"
    );
    let (_, _, restaurant) = check("restaurant-opening", &certs);
    assert_eq!(restaurant["complete"], false, "{restaurant}");
    let unmet: Vec<&str> = restaurant["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["met"] == false)
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(unmet, ["food-service"]);
    assert_eq!(check("casino-opening", &certs).0, 404);

    // Wrong audience, wrong key, forged certificate.
    let n = nonce(&daemon, &counter, "desk-A");
    let r = verify(&daemon, &present(&key, &certs, "desk-B", &n));
    assert_eq!(
        (r["verdict"].as_str(), r["checks"]["audience"].as_bool()),
        (Some("invalid"), Some(false)),
        "{r}"
    );
    world.csr("thief", "P-256");
    let thief = holder_key(world, "thief");
    let n = nonce(&daemon, &counter, "desk");
    let r = verify(&daemon, &present(&thief, &certs, "desk", &n));
    assert_eq!(
        (
            r["verdict"].as_str(),
            r["checks"]["holder_signature"].as_bool()
        ),
        (Some("invalid"), Some(false)),
        "{r}"
    );
    // The thief's attempt did not burn the citizen's nonce.
    assert_eq!(
        verify(&daemon, &present(&key, &certs, "desk", &n))["verdict"],
        "valid"
    );
    // A counter's service check accepts only nonces that counter asked for.
    let other = world.staff("counter-2", "counter", None);
    let n = nonce(&daemon, &other, "desk");
    let (status, _, r) = post(
        &daemon,
        "/v1/services/hotel-opening/check",
        Some(&counter),
        &present(&key, &certs, "desk", &n),
    );
    assert_eq!(status, 200);
    assert_eq!(
        (r["verdict"].as_str(), r["checks"]["audience"].as_bool()),
        (Some("invalid"), Some(false)),
        "{r}"
    );
    assert_eq!(r["audience"], "desk");
    // ...and refusing it did not use it up for the counter it was made for.
    assert_eq!(
        verify(&daemon, &present(&key, &certs, "desk", &n))["verdict"],
        "valid"
    );
    let forged = world.path("forged.der");
    let (ok, text) = run(Command::new("openssl")
        .args(["req", "-x509", "-key"])
        .arg(world.path("holder.key"))
        .args([
            "-subj",
            &format!("/CN=Zhang Wei/serialNumber={id}"),
            "-days",
            "30",
            "-outform",
            "DER",
            "-out",
        ])
        .arg(&forged));
    assert!(ok, "{text}");
    let forged_b64 = B64.encode(std::fs::read(&forged).unwrap());
    let n = nonce(&daemon, &counter, "desk");
    let r = verify(
        &daemon,
        &present(&key, &[certs[0], &forged_b64], "desk", &n),
    );
    assert_eq!(
        (r["verdict"].as_str(), r["checks"]["chain"].as_bool()),
        (Some("invalid"), Some(false)),
        "{r}"
    );

    // A tampered certificate (one byte of its signature changed), signed
    // over by the holder as it is: invalid, never an error.
    let mut der = B64.decode(certs[1]).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let tampered = B64.encode(der);
    let n = nonce(&daemon, &counter, "desk");
    let r = verify(&daemon, &present(&key, &[certs[0], &tampered], "desk", &n));
    assert_eq!(
        (r["verdict"].as_str(), r["checks"]["chain"].as_bool()),
        (Some("invalid"), Some(false)),
        "{r}"
    );

    // A revoked licence makes the presentation invalid.
    let (status, _, _) = post(
        &daemon,
        &format!(
            "/v1/credentials/{}/revoke",
            business["serial"].as_str().unwrap()
        ),
        Some(&market),
        &json!({"reason": "privilegeWithdrawn"}),
    );
    assert_eq!(status, 200);
    let n = nonce(&daemon, &counter, "desk");
    let r = verify(&daemon, &present(&key, &certs, "desk", &n));
    assert_eq!(
        (r["verdict"].as_str(), r["checks"]["revocation"].as_bool()),
        (Some("invalid"), Some(false)),
        "{r}"
    );

    // Revoking the holder's identity certificate for key compromise takes
    // the licences bound to that key with it, even presented alone.
    let sanitation_only = [certs[2]];
    let n = nonce(&daemon, &counter, "desk");
    assert_eq!(
        verify(&daemon, &present(&key, &sanitation_only, "desk", &n))["verdict"],
        "valid"
    );
    let (status, _, _) = post(
        &daemon,
        &format!(
            "/v1/credentials/{}/revoke",
            person["serial"].as_str().unwrap()
        ),
        Some(&market),
        &json!({"reason": "keyCompromise"}),
    );
    assert_eq!(status, 200);
    let n = nonce(&daemon, &counter, "desk");
    let r = verify(&daemon, &present(&key, &sanitation_only, "desk", &n));
    assert_eq!(
        (
            r["verdict"].as_str(),
            r["checks"]["identity_active"].as_bool()
        ),
        (Some("invalid"), Some(false)),
        "{r}"
    );
    // ...and the licences bound to that key are revoked with it, so CRLs,
    // OCSP and offline verifiers say so too.
    let st = daemon.get_json(&format!(
        "/v1/credentials/{}/status",
        sanitation["serial"].as_str().unwrap()
    ));
    assert_eq!(
        (st["status"].as_str(), st["reason"].as_str()),
        (Some("revoked"), Some("keyCompromise")),
        "{st}"
    );

    // Malformed bodies are problems, not verdicts.
    for (body, status_want) in [
        (
            json!({"version": 2, "credentials": [certs[0]], "proof": {"audience": "a", "nonce": "n", "issued_at": "t", "signature": "AA=="}}),
            422,
        ),
        (
            json!({"version": 1, "credentials": [], "proof": {"audience": "a", "nonce": "n", "issued_at": "t", "signature": "AA=="}}),
            422,
        ),
        (
            json!({"version": 1, "credentials": ["***"], "proof": {"audience": "a", "nonce": "n", "issued_at": "t", "signature": "AA=="}}),
            400,
        ),
        (json!({"version": 1, "credentials": [certs[0]]}), 400),
    ] {
        let (status, ctype, got) = post(&daemon, "/v1/presentations/verify", None, &body);
        assert_eq!(
            (status, ctype.as_deref()),
            (status_want, Some("application/problem+json")),
            "{got}"
        );
    }
    // Garbage that is base64 is a verdict, never an error.
    let n = nonce(&daemon, &counter, "desk");
    let r = verify(&daemon, &present(&key, &["AAAA"], "desk", &n));
    assert_eq!(r["verdict"], "invalid", "{r}");

    // A counter disabled with walletctl (another process) loses its token
    // on the running instance within the second the instance may remember
    // it for, and for good.
    let (ok, out, err) = world.walletctl(&["staff", "disable", "--name", "counter"]);
    assert!(ok, "{out}{err}");
    let challenge = || {
        post(
            &daemon,
            "/v1/challenges",
            Some(&counter),
            &json!({"audience": "desk"}),
        )
        .0
    };
    let disabled = Instant::now();
    let status = loop {
        let status = challenge();
        if status != 201 || disabled.elapsed() > Duration::from_secs(10) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = disabled.elapsed();
    assert_eq!(status, 401, "still accepted {took:?} after disabling");
    assert!(
        took < Duration::from_millis(1_500),
        "refused only after {took:?}"
    );
    assert_eq!(challenge(), 401);
}

#[test]
fn counter_verification_on_sqlite() {
    verification_flow(&World::sqlite("ver-sqlite"));
}

#[test]
fn counter_verification_on_postgres() {
    verification_flow(&World::postgres("ver-postgres"));
}
