//! Enrollment, licences and reissue over real HTTP on SQLite and PostgreSQL:
//! staff authentication, the dedup rule under concurrency, CSR checks, the
//! issued certificates checked with OpenSSL and pkilint, the licence
//! extension decoded by `openssl asn1parse`, record-before-sign under an
//! injected storage failure, and lint-before-sign.

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use wallet_testkit::{openssl_verify, pkilint, run};

use super::{Daemon, World};

/// POST with an optional bearer token; (status, headers we care about, body).
pub(super) fn post(
    daemon: &Daemon,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut req = agent.post(&format!("{}{path}", daemon.base));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send_json(body).unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.body_mut().read_to_string().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, ctype, value)
}

pub(super) fn get(daemon: &Daemon, path: &str, token: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(&format!("{}{path}", daemon.base))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn problem_type(v: &Value) -> &str {
    v["type"].as_str().unwrap_or("")
}

impl World {
    pub(super) fn staff(&self, name: &str, role: &str, department: Option<&str>) -> String {
        let mut args = vec!["staff", "add", "--name", name, "--role", role];
        if let Some(d) = department {
            args.extend(["--department", d]);
        }
        let (ok, out, err) = self.walletctl(&args);
        assert!(ok, "{err}");
        out.lines().last().unwrap().to_owned()
    }

    /// A holder key and its CSR, made by OpenSSL; returns the CSR PEM.
    pub(super) fn csr(&self, name: &str, curve: &str) -> String {
        let key = self.path(&format!("{name}.key"));
        let csr = self.path(&format!("{name}.csr"));
        let (ok, text) = run(Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                &format!("ec_paramgen_curve:{curve}"),
                "-nodes",
            ])
            .args(["-subj", "/CN=ignored by the CA", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&csr));
        assert!(ok, "{text}");
        std::fs::read_to_string(csr).unwrap()
    }

    /// Writes an issued credential and its chain; checks it with
    /// `openssl verify -x509_strict` (issuing CA as untrusted intermediate)
    /// and pkilint; returns the PEM path.
    fn check_issued(&self, name: &str, issued: &Value) -> std::path::PathBuf {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let pem_of = |der_b64: &str, label: &str| {
            let der = b64.decode(der_b64).unwrap();
            let path = self.path(&format!("{name}-{label}.der"));
            std::fs::write(&path, &der).unwrap();
            let pem = self.path(&format!("{name}-{label}.pem"));
            let (ok, text) = run(Command::new("openssl")
                .args(["x509", "-inform", "DER", "-in"])
                .arg(&path)
                .arg("-out")
                .arg(&pem));
            assert!(ok, "{text}");
            (path, pem)
        };
        let (leaf_der, leaf_pem) = pem_of(issued["certificate"].as_str().unwrap(), "leaf");
        assert_eq!(
            std::fs::read_to_string(&leaf_pem).unwrap(),
            issued["certificate_pem"].as_str().unwrap()
        );
        let chain = issued["chain"].as_array().unwrap();
        assert_eq!(chain.len(), 2, "issuing CA and root");
        let (ca_der, ca_pem) = pem_of(chain[0].as_str().unwrap(), "ca");
        let (_, root_pem) = pem_of(chain[1].as_str().unwrap(), "root");
        openssl_verify(&root_pem, Some(&ca_pem), &leaf_pem).unwrap();
        let notes = pkilint("lint_pkix_cert", &[&leaf_der]).unwrap();
        assert!(notes.is_empty(), "pkilint: {notes:?}");
        let notes = pkilint("lint_pkix_signer_signee_cert_chain", &[&ca_der, &leaf_der]).unwrap();
        assert!(notes.is_empty(), "pkilint chain: {notes:?}");
        leaf_pem
    }
}

pub(super) fn enroll_body(csr: &str, national_id: &str) -> Value {
    json!({
        "national_id": national_id,
        "full_name": "Zhang Wei",
        "birth_date": "1985-04-12",
        "address": "1 Harbour Road, Springfield",
        "csr": csr,
    })
}

fn openssl_text(pem: &std::path::Path, args: &[&str]) -> String {
    let (ok, text) = run(Command::new("openssl")
        .arg("x509")
        .arg("-in")
        .arg(pem)
        .args(args));
    assert!(ok, "{text}");
    text
}

/// The LicenceInfo extension, decoded by `openssl asn1parse` alone.
fn asn1parse_licence(pem: &std::path::Path) -> String {
    let (ok, dump) = run(Command::new("openssl").args(["asn1parse", "-in"]).arg(pem));
    assert!(ok, "{dump}");
    let lines: Vec<&str> = dump.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.contains(
                ":1.2.840.113556.1.8000.2554.1217.53817.1796.19528.46638.7559119.5844275.2.1",
            )
        })
        .unwrap_or_else(|| panic!("no LicenceInfo extension:\n{dump}"));
    let octets = lines[at + 1..]
        .iter()
        .find(|l| l.contains("OCTET STRING"))
        .unwrap();
    let offset = octets.split(':').next().unwrap().trim();
    let (ok, inner) = run(Command::new("openssl")
        .args(["asn1parse", "-in"])
        .arg(pem)
        .args(["-strparse", offset]));
    assert!(ok, "{inner}");
    inner
}

fn issuance_flow(world: &World) {
    world.init();
    let officer = world.staff("mr-officer", "officer", Some("market-regulation"));
    let health = world.staff("health-officer", "officer", Some("health"));
    let counter = world.staff("counter-1", "counter", None);
    let daemon = world.walletd(&[]);
    let csr = world.csr("holder", "P-256");

    // Authentication and roles.
    let (status, ctype, body) = post(
        &daemon,
        "/v1/identities",
        None,
        &enroll_body(&csr, "AB1234567X"),
    );
    assert_eq!(
        (status, ctype.as_deref()),
        (401, Some("application/problem+json")),
        "{body}"
    );
    assert_eq!(problem_type(&body), "urn:onevisit:problem:unauthorized");
    let (status, _, body) = post(
        &daemon,
        "/v1/identities",
        Some("ovw_not-a-token"),
        &enroll_body(&csr, "AB1234567X"),
    );
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = post(
        &daemon,
        "/v1/identities",
        Some(&counter),
        &enroll_body(&csr, "AB1234567X"),
    );
    assert_eq!(status, 403, "{body}");

    // Enrollment.
    let (status, _, enrolled) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&csr, "ab-123 4567x"),
    );
    assert_eq!(status, 201, "{enrolled}");
    let identity_id = enrolled["identity_id"].as_str().unwrap().to_owned();
    assert_eq!(identity_id.len(), 36);
    assert_eq!(
        enrolled["serial"].as_str().unwrap().len(),
        32,
        "128-bit serial"
    );
    let id_pem = world.check_issued("identity", &enrolled);
    let text = openssl_text(&id_pem, &["-noout", "-text", "-nameopt", "RFC2253"]);
    assert!(
        text.contains(&format!("Subject: serialNumber={identity_id},CN=Zhang Wei")),
        "{text}"
    );
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(
        text.contains("Digital Signature") && text.contains("critical"),
        "{text}"
    );
    assert!(
        text.contains("1.2.840.113556.1.8000.2554.1217.53817.1796.19528.46638.7559119.5844275.1.1"),
        "identity policy: {text}"
    );
    assert!(text.contains(&format!("{}/ocsp", daemon.base)), "{text}");
    assert!(text.contains(&format!("{}/v1/crl/", daemon.base)), "{text}");

    // The same person typed differently is refused, naming the identity.
    let (status, _, body) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&csr, "ＡＢ１２３４５６７ｘ"),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(problem_type(&body), "urn:onevisit:problem:identity-exists");
    assert_eq!(body["identity_id"], identity_id.as_str());

    // Input checks, each with its own type.
    for (national_id, full_name, birth_date, slug) in [
        ("12", "A", "1985-04-12", "invalid-national-id"),
        ("CD7654321", "", "1985-04-12", "invalid-field"),
        ("CD7654321", "A", "1985-02-30", "invalid-birth-date"),
        ("CD7654321", "A", "2999-01-01", "invalid-birth-date"),
    ] {
        let mut b = enroll_body(&csr, national_id);
        b["full_name"] = json!(full_name);
        b["birth_date"] = json!(birth_date);
        let (status, _, body) = post(&daemon, "/v1/identities", Some(&officer), &b);
        assert_eq!(
            (status, problem_type(&body)),
            (422, format!("urn:onevisit:problem:{slug}").as_str()),
            "{body}"
        );
    }
    let (status, _, body) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &json!({"national_id": "CD7654321"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("missing field"),
        "{body}"
    );
    // A wrongly typed national ID is refused without being echoed.
    let mut numeric = enroll_body(&csr, "x");
    numeric["national_id"] = json!(987_654_321_u64);
    let (status, _, body) = post(&daemon, "/v1/identities", Some(&officer), &numeric);
    assert_eq!(status, 400, "{body}");
    assert!(
        !body.to_string().contains("987654321"),
        "value echoed: {body}"
    );
    let p384 = world.csr("p384", "P-384");
    // Proof of possession: the last byte of the DER is the end of the
    // signature's s; flipping it keeps the DER well-formed. Sent as base64
    // DER, the other accepted input form.
    let flipped = {
        use base64::Engine as _;
        let der_path = world.path("holder.csr.der");
        let (ok, text) = run(Command::new("openssl")
            .args(["req", "-in"])
            .arg(world.path("holder.csr"))
            .args(["-outform", "DER", "-out"])
            .arg(&der_path));
        assert!(ok, "{text}");
        let good =
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(&der_path).unwrap());
        let (status, _, body) = post(
            &daemon,
            "/v1/identities",
            Some(&officer),
            &enroll_body(&good, "AB1234567X"),
        );
        assert_eq!(
            (status, problem_type(&body)),
            (409, "urn:onevisit:problem:identity-exists"),
            "base64 DER accepted: {body}"
        );
        let mut der = std::fs::read(&der_path).unwrap();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        base64::engine::general_purpose::STANDARD.encode(der)
    };
    for (csr_text, status_want, slug) in [
        ("not a csr".to_owned(), 400, "malformed-csr"),
        ("A".repeat(17 * 1024), 400, "malformed-csr"),
        (p384, 422, "unsupported-key"),
        (flipped, 422, "csr-signature-invalid"),
    ] {
        let (status, _, body) = post(
            &daemon,
            "/v1/identities",
            Some(&officer),
            &enroll_body(&csr_text, "CD7654321"),
        );
        assert_eq!(
            (status, problem_type(&body)),
            (status_want, format!("urn:onevisit:problem:{slug}").as_str()),
            "{body}"
        );
    }

    // Licences.
    let licence = |token: &str, body: Value| {
        post(
            &daemon,
            &format!("/v1/identities/{identity_id}/licenses"),
            Some(token),
            &body,
        )
    };
    let business = json!({"license_type": "business", "attributes": {
        "company_name": "Harbour Hotel Ltd", "unified_social_credit_code": "91310000MA1K4XXXX1", "scope": "accommodation"}});
    let (status, _, issued) = licence(&officer, business.clone());
    assert_eq!(status, 201, "{issued}");
    let number = issued["license_number"].as_str().unwrap();
    assert!(
        number.starts_with("BUS-") && number.len() == "BUS-2026-0123456789".len(),
        "{number}"
    );
    let lic_pem = world.check_issued("business", &issued);
    let text = openssl_text(&lic_pem, &["-noout", "-text", "-nameopt", "RFC2253"]);
    assert!(
        text.contains(&format!("Subject: serialNumber={identity_id},CN=Zhang Wei")),
        "{text}"
    );
    let pubkey = |pem: &std::path::Path| openssl_text(pem, &["-noout", "-pubkey"]);
    assert_eq!(
        pubkey(&lic_pem),
        pubkey(&id_pem),
        "licence bound to the holder's key"
    );
    let info = asn1parse_licence(&lic_pem);
    for want in [
        ":business",
        &format!(":{number}"),
        ":market-regulation",
        ":company_name",
        ":Harbour Hotel Ltd",
        ":scope",
    ] {
        assert!(info.contains(want), "{want} missing from\n{info}");
    }
    assert_eq!(info.matches("UTF8STRING").count(), 9, "{info}");

    let sanitation = json!({"license_type": "sanitation", "attributes": {"premises": "1 Harbour Road", "inspector": "Li Na"}});
    let (status, _, body) = licence(&officer, sanitation.clone());
    assert_eq!(
        status, 403,
        "market-regulation may not issue sanitation: {body}"
    );
    let (status, _, body) = licence(&health, sanitation);
    assert_eq!(status, 201, "{body}");
    world.check_issued("sanitation", &body);

    for (body, status_want, slug) in [
        (
            json!({"license_type": "business", "attributes": {"company_name": "x", "scope": "y"}}),
            422,
            "missing-attributes",
        ),
        (
            json!({"license_type": "business", "attributes": {"company_name": "x", "unified_social_credit_code": "1", "scope": "y", "colour": "red"}}),
            422,
            "unknown-attributes",
        ),
        (
            json!({"license_type": "casino", "attributes": {}}),
            404,
            "unknown-license-type",
        ),
        (
            json!({"license_type": "business", "valid_days": 0, "attributes": {"company_name": "x", "unified_social_credit_code": "1", "scope": "y"}}),
            422,
            "invalid-validity",
        ),
    ] {
        let (status, _, got) = licence(&officer, body);
        assert_eq!(
            (status, problem_type(&got)),
            (status_want, format!("urn:onevisit:problem:{slug}").as_str()),
            "{got}"
        );
    }
    let (status, _, body) = post(
        &daemon,
        "/v1/identities/00000000-0000-4000-8000-000000000000/licenses",
        Some(&officer),
        &business,
    );
    assert_eq!(
        (status, problem_type(&body)),
        (404, "urn:onevisit:problem:identity-not-found"),
        "{body}"
    );

    // Reissue for a new device key supersedes the old certificate.
    let new_csr = world.csr("holder2", "P-256");
    let (status, _, reissued) = post(
        &daemon,
        &format!("/v1/identities/{identity_id}/reissue"),
        Some(&officer),
        &json!({"csr": new_csr}),
    );
    assert_eq!(status, 201, "{reissued}");
    world.check_issued("reissued", &reissued);
    let (status, view) = get(&daemon, &format!("/v1/identities/{identity_id}"), &officer);
    assert_eq!(status, 200, "{view}");
    let creds = view["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 4, "{view}");
    let old = creds
        .iter()
        .find(|c| c["serial"] == enrolled["serial"])
        .unwrap();
    assert_eq!(
        (old["status"].as_str(), old["revocation_reason"].as_str()),
        (Some("revoked"), Some("superseded"))
    );
    let new = creds
        .iter()
        .find(|c| c["serial"] == reissued["serial"])
        .unwrap();
    assert_eq!(new["status"], "good");
    assert_eq!(view["status"], "active");
    assert_eq!(get(&daemon, "/v1/identities/not-a-uuid", &officer).0, 404);
    assert_eq!(
        get(&daemon, &format!("/v1/identities/{identity_id}"), &counter).0,
        403
    );

    // A new licence now binds the new key.
    let (status, _, issued) = licence(
        &officer,
        json!({"license_type": "food-service", "attributes": {"premises": "1 Harbour Road", "category": "restaurant"}}),
    );
    assert_eq!(status, 201, "{issued}");
    let fsv = world.check_issued("food", &issued);
    let new_pem = world.path("reissued-leaf.pem");
    assert_eq!(pubkey(&fsv), pubkey(&new_pem));
    assert!(daemon.terminate().success());
}

#[test]
fn enrollment_and_licences_on_sqlite() {
    issuance_flow(&World::sqlite("iss-sqlite"));
}

#[test]
fn enrollment_and_licences_on_postgres() {
    issuance_flow(&World::postgres("iss-postgres"));
}

fn concurrent_enrollments(world: &World) {
    world.init();
    let officer = world.staff("officer", "officer", Some("health"));
    let daemon = Arc::new(world.walletd(&[]));
    let forms = [
        "EF 987 6543",
        "ef9876543",
        "ＥＦ９８７６５４３",
        "EF-987-6543",
    ];
    let csrs: Vec<String> = (0..16)
        .map(|i| world.csr(&format!("c{i}"), "P-256"))
        .collect();
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = csrs
        .into_iter()
        .enumerate()
        .map(|(i, csr)| {
            let (daemon, barrier, officer) =
                (Arc::clone(&daemon), Arc::clone(&barrier), officer.clone());
            let form = forms[i % forms.len()];
            std::thread::spawn(move || {
                barrier.wait();
                post(
                    &daemon,
                    "/v1/identities",
                    Some(&officer),
                    &enroll_body(&csr, form),
                )
            })
        })
        .collect();
    let results: Vec<(u16, Option<String>, Value)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    let created: Vec<&Value> = results
        .iter()
        .filter(|r| r.0 == 201)
        .map(|r| &r.2)
        .collect();
    assert_eq!(created.len(), 1, "exactly one enrollment wins: {results:?}");
    let winner = created[0]["identity_id"].as_str().unwrap();
    for (status, _, body) in results.iter().filter(|r| r.0 != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["identity_id"], winner, "{body}");
    }
    // And the loser's work left nothing behind: one identity, one credential.
    let (status, view) = get(&daemon, &format!("/v1/identities/{winner}"), &officer);
    assert_eq!(status, 200);
    assert_eq!(view["credentials"].as_array().unwrap().len(), 1);
}

#[test]
fn sixteen_concurrent_enrollments_of_one_person_on_sqlite() {
    concurrent_enrollments(&World::sqlite("conc-sqlite"));
}

#[test]
fn sixteen_concurrent_enrollments_of_one_person_on_postgres() {
    concurrent_enrollments(&World::postgres("conc-postgres"));
}

fn sqlite(world: &World, sql: &str) -> String {
    let db = world.path("data/wallet.db");
    let (ok, text) = run(Command::new("sqlite3").arg(&db).arg(sql));
    assert!(ok, "sqlite3 {sql}: {text}");
    text.trim().to_owned()
}

#[test]
fn the_national_id_is_never_stored_or_logged() {
    let world = World::sqlite("iss-privacy");
    world.init();
    let officer = world.staff("officer", "officer", Some("health"));
    let daemon = world.walletd(&[("WALLET_LOG", "trace")]);
    let raw = "QZ-778 899 001";
    let (status, _, body) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&world.csr("p", "P-256"), raw),
    );
    assert_eq!(status, 201, "{body}");
    let (status, _, _) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&world.csr("q", "P-256"), raw),
    );
    assert_eq!(status, 409);
    drop(daemon);
    let mut haystack = std::fs::read(world.path("data/wallet.db")).unwrap();
    for side in ["data/wallet.db-wal", "data/wallet.db-shm"] {
        haystack.extend(std::fs::read(world.path(side)).unwrap_or_default());
    }
    for entry in std::fs::read_dir(world.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            haystack.extend(std::fs::read(path).unwrap());
        }
    }
    for needle in [raw, "QZ778899001", "778899001", "778 899 001"] {
        assert!(
            !haystack
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "{needle:?} found"
        );
    }
}

#[test]
fn a_storage_failure_after_signing_hands_out_nothing() {
    let world = World::sqlite("iss-inject");
    world.init();
    let officer = world.staff("officer", "officer", Some("health"));
    let daemon = world.walletd(&[]);
    let signatures = |d: &Daemon| -> u64 {
        let (_, _, m) = d.get("/metrics");
        m.lines()
            .find(|l| l.starts_with("onevisit_hsm_signatures "))
            .and_then(|l| l.split(' ').nth(1))
            .unwrap()
            .parse()
            .unwrap()
    };
    sqlite(
        &world,
        "CREATE TRIGGER inject_failure BEFORE INSERT ON credentials BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    );
    let before = signatures(&daemon);
    let (status, ctype, body) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&world.csr("h", "P-256"), "GH1112223"),
    );
    assert_eq!(
        (status, ctype.as_deref()),
        (500, Some("application/problem+json")),
        "{body}"
    );
    assert!(
        body.get("certificate").is_none() && body.get("detail").is_none(),
        "{body}"
    );
    assert!(
        !body.to_string().contains("injected"),
        "internal detail leaked: {body}"
    );
    assert_eq!(signatures(&daemon), before + 1, "the HSM did sign");
    // The intent is resolved, the person's slot is free, nothing half-written.
    assert_eq!(
        sqlite(&world, "SELECT state FROM issuance_intents"),
        "abandoned"
    );
    assert_eq!(sqlite(&world, "SELECT status FROM identities"), "abandoned");
    assert_eq!(sqlite(&world, "SELECT count(*) FROM credentials"), "0");

    sqlite(&world, "DROP TRIGGER inject_failure;");
    let (status, _, body) = post(
        &daemon,
        "/v1/identities",
        Some(&officer),
        &enroll_body(&world.csr("h2", "P-256"), "GH1112223"),
    );
    assert_eq!(status, 201, "the person can be enrolled again: {body}");
    assert_eq!(
        sqlite(
            &world,
            "SELECT count(*) FROM identities WHERE status = 'active'"
        ),
        "1"
    );
}

#[test]
fn a_tbs_that_breaks_its_profile_is_never_signed() {
    use service::domain::issuance::{EnrollRequest, Issuer};
    use service::domain::national_id::NationalId;

    let world = World::sqlite("iss-lint");
    world.init();
    world.staff("officer", "officer", Some("health"));
    let hsm = Arc::new(
        pkcs11_bridge::Hsm::open(pkcs11_bridge::HsmConfig {
            module: world.token.module(),
            token_label: world.token.label().to_owned(),
            pin: pkcs11_bridge::Pin::new(wallet_testkit::USER_PIN),
        })
        .unwrap(),
    );
    let db = schema::Database::connect(&world.db_url, 2).unwrap();
    let catalog = Arc::new(certs::catalog::Catalog::from_toml(certs::catalog::BUILT_IN).unwrap());
    let issuer = Issuer::new(Arc::clone(&hsm), db.clone(), catalog, "http://127.0.0.1:1");
    let officer = {
        let mut conn = db.conn().unwrap();
        schema::staff::list(&mut conn).unwrap().remove(0)
    };
    // Thirty years on, the identity CA (ten years) has expired: the clamped
    // validity is empty and the profile lint must refuse it before the HSM.
    let later = SystemTime::now() + Duration::from_secs(30 * 365 * 86_400);
    let req = EnrollRequest {
        national_id: NationalId::normalise("JK5556667").unwrap(),
        full_name: "Late Comer".into(),
        birth_date: "1990-01-01".into(),
        address: "nowhere".into(),
        csr: world.csr("late", "P-256"),
    };
    let before = hsm.signatures_made();
    let err = issuer.enroll(&officer, &req, later).unwrap_err();
    assert!(
        matches!(err, service::domain::DomainError::Cert(_)),
        "{err:?}"
    );
    assert_eq!(hsm.signatures_made(), before, "nothing was signed");
    let api = service::http::error::ApiError::from(err);
    assert_eq!(actix_web::ResponseError::status_code(&api).as_u16(), 500);
    assert!(api.problem().detail.is_none());
    drop(issuer);
    drop(db);
    assert_eq!(
        sqlite(&world, "SELECT state FROM issuance_intents"),
        "abandoned"
    );
    assert_eq!(sqlite(&world, "SELECT status FROM identities"), "abandoned");
    assert_eq!(sqlite(&world, "SELECT count(*) FROM credentials"), "0");
}

#[test]
fn intents_left_by_a_crash_are_resolved_at_start_up() {
    let world = World::sqlite("iss-crash");
    world.init();
    world.staff("officer", "officer", Some("health"));
    // What a crash between reserving and storing leaves behind: an active
    // identity without a certificate and its pending intent, an hour old;
    // and a pending intent of a request that may still be in flight.
    for (id, serial, age) in [
        (
            "11111111-1111-4111-8111-111111111111",
            "0123456789abcdef0123456789abcdef",
            3600,
        ),
        (
            "22222222-2222-4222-8222-222222222222",
            "1123456789abcdef0123456789abcdef",
            0,
        ),
    ] {
        sqlite(
            &world,
            &format!(
                "INSERT INTO identities (id, dedup_hmac, full_name, birth_date, address, status, created_at, created_by) \
                 VALUES ('{id}', randomblob(32), 'Crash Victim', '1990-01-01', 'x', 'active', strftime('%s','now') - {age}, 1); \
                 INSERT INTO issuance_intents (serial, identity_id, kind, issuer_key_id, state, created_at, created_by) \
                 VALUES ('{serial}', '{id}', 'identity', (SELECT key_id FROM keys WHERE purpose = 'identity-ca'), 'pending', \
                 strftime('%s','now') - {age}, 1);"
            ),
        );
    }
    let daemon = world.walletd(&[]);
    assert!(
        daemon.log().contains("resolved as abandoned"),
        "{}",
        daemon.log()
    );
    assert_eq!(
        sqlite(
            &world,
            "SELECT serial || ' ' || state FROM issuance_intents ORDER BY serial"
        ),
        "0123456789abcdef0123456789abcdef abandoned\n1123456789abcdef0123456789abcdef pending"
    );
    assert_eq!(
        sqlite(&world, "SELECT status FROM identities ORDER BY id"),
        "abandoned\nactive",
        "the crashed enrollment's person can enrol again"
    );
}
