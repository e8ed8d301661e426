//! Revocation over real HTTP: who may revoke, reasons, idempotence, the
//! ledger entry, status, and HSM-signed CRLs checked by OpenSSL (`openssl crl`,
//! `openssl verify -crl_check`) and pkilint's CRL linter.

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::issuance::{enroll_body, post};
use super::{Daemon, World, run};

pub(super) fn pem_file(world: &World, name: &str, der_b64: &str) -> std::path::PathBuf {
    let der = world.path(&format!("{name}.der"));
    std::fs::write(&der, B64.decode(der_b64).unwrap()).unwrap();
    let pem = world.path(&format!("{name}.pem"));
    let (ok, text) = run(Command::new("openssl")
        .args(["x509", "-inform", "DER", "-in"])
        .arg(&der)
        .arg("-out")
        .arg(&pem));
    assert!(ok, "{text}");
    pem
}

/// Downloads the CRL of `key_id` and returns (DER path, PEM path, text dump).
fn fetch_crl(
    world: &World,
    daemon: &Daemon,
    key_id: &str,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let url = format!("{}/v1/crl/{key_id}", daemon.base);
    let der = world.path(&format!("{name}.crl.der"));
    let (ok, text) = run(Command::new("curl")
        .args(["-sS", "--fail", "-o"])
        .arg(&der)
        .arg(&url));
    assert!(ok, "{text}");
    let pem = world.path(&format!("{name}.crl.pem"));
    let (ok, text) = run(Command::new("openssl")
        .args(["crl", "-inform", "DER", "-in"])
        .arg(&der)
        .arg("-out")
        .arg(&pem));
    assert!(ok, "{text}");
    let (ok, dump) = run(Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&der));
    assert!(ok, "{dump}");
    (der, pem, dump)
}

fn verify_with_crl(
    ca_bundle: &std::path::Path,
    crl_pem: &std::path::Path,
    leaf: &std::path::Path,
) -> (bool, String) {
    run(Command::new("openssl")
        .args(["verify", "-x509_strict", "-crl_check", "-CAfile"])
        .arg(ca_bundle)
        .arg("-CRLfile")
        .arg(crl_pem)
        .arg(leaf))
}

/// A serial as `openssl crl -text` prints it: upper case, without leading
/// zero bytes (1 serial in 256 starts with 00).
fn serial_upper(v: &Value) -> String {
    let mut hex = v["serial"].as_str().unwrap().to_uppercase();
    while hex.len() > 2 && hex.starts_with("00") {
        hex.drain(..2);
    }
    hex
}

fn revocation_flow(world: &World) {
    world.init();
    let market = world.staff("mr", "officer", Some("market-regulation"));
    let health = world.staff("he", "officer", Some("health"));
    let daemon = world.walletd(&[]);
    let (status, _, person) = post(
        &daemon,
        "/v1/identities",
        Some(&market),
        &enroll_body(&world.csr("p", "P-256"), "RV1234567"),
    );
    assert_eq!(status, 201, "{person}");
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
    let bserial = business["serial"].as_str().unwrap();
    let sserial = sanitation["serial"].as_str().unwrap();

    // Status is public.
    let st = daemon.get_json(&format!("/v1/credentials/{bserial}/status"));
    assert_eq!(
        (st["status"].as_str(), st["kind"].as_str()),
        (Some("good"), Some("license")),
        "{st}"
    );
    assert_eq!(
        daemon.get_json(&format!("/v1/credentials/{}/status", "7f".repeat(16)))["status"],
        "unknown"
    );
    let (status, ctype, _) = daemon.get("/v1/credentials/not-hex/status");
    assert_eq!((status, ctype.as_str()), (400, "application/problem+json"));

    // Who may revoke, with what.
    let revoke = |token: Option<&str>, serial: &str, reason: &str| {
        post(
            &daemon,
            &format!("/v1/credentials/{serial}/revoke"),
            token,
            &json!({ "reason": reason }),
        )
    };
    assert_eq!(revoke(None, bserial, "keyCompromise").0, 401);
    let (status, _, body) = revoke(Some(&health), bserial, "keyCompromise");
    assert_eq!(
        status, 403,
        "health may not revoke a business licence: {body}"
    );
    let (status, _, body) = revoke(Some(&market), bserial, "becauseISaidSo");
    assert_eq!(
        (status, body["type"].as_str()),
        (422, Some("urn:onevisit:problem:invalid-reason")),
        "{body}"
    );
    let (status, _, body) = revoke(Some(&market), &"7f".repeat(16), "keyCompromise");
    assert_eq!(status, 404, "{body}");
    let size_before = daemon.get_json("/v1/ledger/sth")["tree_size"]
        .as_u64()
        .unwrap();
    let (status, _, revoked) = revoke(Some(&market), bserial, "keyCompromise");
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(
        (revoked["status"].as_str(), revoked["reason"].as_str()),
        (Some("revoked"), Some("keyCompromise"))
    );
    // On the ledger, with a receipt.
    let r = &revoked["receipt"];
    let entry = daemon.get_json(&format!(
        "/v1/ledger/entries?start={0}&end={1}",
        r["leaf_index"],
        r["leaf_index"].as_u64().unwrap() + 1
    ));
    let entry: Value =
        serde_json::from_str(entry["entries"][0]["entry"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            entry["type"].as_str(),
            entry["serial"].as_str(),
            entry["reason"].as_str()
        ),
        (Some("revocation"), Some(bserial), Some("keyCompromise"))
    );
    // Idempotent: same answer, nothing new on the ledger.
    let (status, _, again) = revoke(Some(&market), bserial, "keyCompromise");
    assert_eq!(status, 200);
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    assert!(again.get("receipt").is_none());
    assert_eq!(
        daemon.get_json("/v1/ledger/sth")["tree_size"]
            .as_u64()
            .unwrap(),
        size_before + 1
    );
    let st = daemon.get_json(&format!("/v1/credentials/{bserial}/status"));
    assert_eq!(
        (st["status"].as_str(), st["reason"].as_str()),
        (Some("revoked"), Some("keyCompromise"))
    );
    assert!(st["revoked_at"].as_str().unwrap().ends_with('Z'));

    // The licence CA's CRL, checked by OpenSSL and pkilint.
    let trust = daemon.get_json("/v1/trust");
    let ca = |purpose: &str| {
        trust["issuing_cas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["purpose"] == purpose)
            .unwrap()
            .clone()
    };
    let licence_ca = ca("license-ca");
    let root_pem = world.path("root-ca.pem");
    std::fs::write(
        &root_pem,
        trust["roots"][0]["certificate_pem"].as_str().unwrap(),
    )
    .unwrap();
    let bundle = world.path("licence-bundle.pem");
    std::fs::write(
        &bundle,
        format!(
            "{}{}",
            trust["roots"][0]["certificate_pem"].as_str().unwrap(),
            licence_ca["certificate_pem"].as_str().unwrap()
        ),
    )
    .unwrap();
    let ca_pem = world.path("licence-ca.pem");
    std::fs::write(&ca_pem, licence_ca["certificate_pem"].as_str().unwrap()).unwrap();
    let key_id = licence_ca["key_id"].as_str().unwrap();
    let (crl_der, crl_pem, dump) = fetch_crl(world, &daemon, key_id, "licence-1");
    assert!(dump.contains(&serial_upper(&business)), "{dump}");
    assert!(dump.contains("Key Compromise"), "{dump}");
    assert!(
        dump.contains("X509v3 CRL Number") && dump.contains("X509v3 Authority Key Identifier"),
        "{dump}"
    );
    assert!(!dump.contains(&serial_upper(&sanitation)), "{dump}");
    let (ok, text) = run(Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-CAfile"])
        .arg(&ca_pem)
        .arg("-in")
        .arg(&crl_der));
    assert!(ok && text.contains("verify OK"), "{text}");
    let business_pem = pem_file(world, "business", business["certificate"].as_str().unwrap());
    let (ok, text) = verify_with_crl(&bundle, &crl_pem, &business_pem);
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let sanitation_pem = pem_file(
        world,
        "sanitation",
        sanitation["certificate"].as_str().unwrap(),
    );
    let (ok, text) = verify_with_crl(&bundle, &crl_pem, &sanitation_pem);
    assert!(ok, "{text}");
    let notes = wallet_testkit::pkilint_crl(&crl_der).unwrap();
    assert!(notes.is_empty(), "pkilint lint_crl: {notes:?}");
    // OCSP: openssl asks the delegated responder over POST (with a nonce).
    let ocsp = |cert: &std::path::Path| {
        run(Command::new("openssl")
            .args(["ocsp", "-issuer"])
            .arg(&ca_pem)
            .arg("-cert")
            .arg(cert)
            .args(["-url", &format!("{}/ocsp", daemon.base), "-CAfile"])
            .arg(&bundle)
            .arg("-resp_text"))
    };
    let (ok, text) = ocsp(&business_pem);
    assert!(ok && text.contains("Response verify OK"), "{text}");
    assert!(
        text.contains(&format!("{}: revoked", business_pem.display()))
            && text.contains("keyCompromise"),
        "{text}"
    );
    assert!(
        text.contains("OCSP Nonce") && !text.contains("WARNING: no nonce"),
        "nonce echoed: {text}"
    );
    assert!(
        text.contains("OCSP Signing")
            || text.contains("OCSPSigning")
            || text.contains("Responder Id"),
        "{text}"
    );
    let (ok, text) = ocsp(&sanitation_pem);
    assert!(
        ok && text.contains(&format!("{}: good", sanitation_pem.display())),
        "{text}"
    );
    // The GET form, and pkilint on the response.
    let req = world.path("ocsp-req.der");
    let (ok, text) = run(Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(&ca_pem)
        .arg("-cert")
        .arg(&business_pem)
        .arg("-reqout")
        .arg(&req));
    assert!(ok, "{text}");
    let b64 = B64
        .encode(std::fs::read(&req).unwrap())
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let resp = world.path("ocsp-resp.der");
    let (ok, text) = run(Command::new("curl")
        .args(["-sS", "--fail", "-o"])
        .arg(&resp)
        .arg(format!("{}/ocsp/{b64}", daemon.base)));
    assert!(ok, "{text}");
    let (ok, text) = run(Command::new("openssl")
        .args(["ocsp", "-respin"])
        .arg(&resp)
        .arg("-issuer")
        .arg(&ca_pem)
        .arg("-cert")
        .arg(&business_pem)
        .arg("-CAfile")
        .arg(&bundle)
        .arg("-no_nonce"));
    assert!(ok && text.contains(": revoked"), "GET /ocsp: {text}");
    let notes = wallet_testkit::pkilint_with("lint_ocsp_response", &[], &[&resp]).unwrap();
    assert!(notes.is_empty(), "pkilint lint_ocsp_response: {notes:?}");
    // A malformed request is an OCSP malformedRequest, not an HTTP error.
    let (ok, text) = run(Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "-H",
            "Content-Type: application/ocsp-request",
            "--data-binary",
            "garbage",
            "-o",
        ])
        .arg(world.path("bad.der"))
        .arg(format!("{}/ocsp", daemon.base)));
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read(world.path("bad.der")).unwrap(),
        [0x30, 0x03, 0x0a, 0x01, 0x01]
    );

    // Unchanged: the same CRL again.
    let (again_der, _, _) = fetch_crl(world, &daemon, key_id, "licence-1b");
    assert_eq!(
        std::fs::read(&crl_der).unwrap(),
        std::fs::read(&again_der).unwrap()
    );

    // A second revocation: a new CRL with a higher number and both entries.
    let (status, _, _) = revoke(Some(&health), sserial, "cessationOfOperation");
    assert_eq!(status, 200);
    let (_, crl2_pem, dump2) = fetch_crl(world, &daemon, key_id, "licence-2");
    let number = |d: &str| -> u64 {
        let at = d.find("X509v3 CRL Number").unwrap();
        d[at..].lines().nth(1).unwrap().trim().parse().unwrap()
    };
    assert!(number(&dump2) > number(&dump), "{dump2}");
    assert!(
        dump2.contains(&serial_upper(&sanitation)) && dump2.contains("Cessation Of Operation"),
        "{dump2}"
    );
    let (ok, text) = verify_with_crl(&bundle, &crl2_pem, &sanitation_pem);
    assert!(!ok && text.contains("certificate revoked"), "{text}");

    // Superseded identity certificates are on the identity CA's CRL.
    let (status, _, _) = post(
        &daemon,
        &format!("/v1/identities/{id}/reissue"),
        Some(&market),
        &json!({"csr": world.csr("p2", "P-256")}),
    );
    assert_eq!(status, 201);
    let identity_ca = ca("identity-ca");
    let (_, _, dump3) = fetch_crl(
        world,
        &daemon,
        identity_ca["key_id"].as_str().unwrap(),
        "identity-1",
    );
    assert!(
        dump3.contains(&serial_upper(&person)) && dump3.contains("Superseded"),
        "{dump3}"
    );

    // Only issuing CAs have CRLs here.
    let root_id = trust["roots"][0]["key_id"].as_str().unwrap();
    for bad in [root_id.to_owned(), "00".repeat(20), "xyz".to_owned()] {
        let (status, ctype, _) = daemon.get(&format!("/v1/crl/{bad}"));
        assert_eq!(
            (status, ctype.as_str()),
            (404, "application/problem+json"),
            "{bad}"
        );
    }
    drop(daemon);
    let (ok, out, err) = world.walletctl(&["ledger", "audit"]);
    assert!(ok, "{out}{err}");
}

#[test]
fn revocation_status_and_crls_on_sqlite() {
    revocation_flow(&World::sqlite("rev-sqlite"));
}

#[test]
fn revocation_status_and_crls_on_postgres() {
    revocation_flow(&World::postgres("rev-postgres"));
}
