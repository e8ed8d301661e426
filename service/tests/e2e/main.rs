//! End-to-end tests of `walletctl` and `walletd` as real processes: a fresh
//! SoftHSM2 token per test, a real SQLite file or PostgreSQL database, real
//! HTTP(S), and what they emit checked by tools we did not write (OpenSSL,
//! pkilint, pkcs11-tool, curl).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wallet_testkit::{PgTestDb, SoftHsmToken, USER_PIN, free_port, openssl_verify, pkilint, run};

/// One test's world: a token, a scratch directory, a database URL.
struct World {
    token: SoftHsmToken,
    dir: tempfile::TempDir,
    db_url: String,
    _pg: Option<PgTestDb>,
}

impl World {
    fn sqlite(label: &str) -> Self {
        let token = SoftHsmToken::new(label);
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}", dir.path().join("data/wallet.db").display());
        Self {
            token,
            dir,
            db_url,
            _pg: None,
        }
    }

    fn postgres(label: &str) -> Self {
        let token = SoftHsmToken::new(label);
        let dir = tempfile::tempdir().unwrap();
        let pg = PgTestDb::new();
        Self {
            token,
            dir,
            db_url: pg.url().to_owned(),
            _pg: Some(pg),
        }
    }

    fn is_postgres(&self) -> bool {
        self._pg.is_some()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A command for one of our binaries with this world's settings and no
    /// inherited `WALLET_*` variables.
    fn command(&self, bin: &str) -> Command {
        let exe = match bin {
            "walletd" => env!("CARGO_BIN_EXE_walletd"),
            _ => env!("CARGO_BIN_EXE_walletctl"),
        };
        let mut cmd = Command::new(exe);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("WALLET_")) {
            cmd.env_remove(k);
        }
        cmd.current_dir(self.dir.path())
            .env("SOFTHSM2_CONF", self.token.conf())
            .env("WALLET_PKCS11_MODULE", self.token.module())
            .env("WALLET_TOKEN_LABEL", self.token.label())
            .env("WALLET_PIN", USER_PIN)
            .env("WALLET_DATABASE_URL", &self.db_url)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs walletctl; returns (success, stdout, stderr).
    fn walletctl(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command("walletctl").args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs pkcs11-tool logged in to this world's token; asserts success and
    /// returns its output.
    fn pkcs11_tool(&self, args: &[&str]) -> String {
        let (ok, text) = run(Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", self.token.conf())
            .arg("--module")
            .arg(self.token.module())
            .args([
                "--token-label",
                self.token.label(),
                "--login",
                "--pin",
                USER_PIN,
            ])
            .args(args));
        assert!(ok, "pkcs11-tool {args:?}: {text}");
        text
    }

    fn init(&self) -> String {
        let (ok, out, err) = self.walletctl(&["init"]);
        assert!(ok, "walletctl init failed:\n{out}\n{err}");
        out
    }

    /// Starts walletd and waits until /healthz answers.
    /// Starts walletd and waits until it has bound its port and answers.
    /// A port from `free_port` can be taken by a parallel test before our
    /// daemon binds it; then our daemon exits ("Address already in use") and
    /// we try another port. Waiting for our own daemon's "listening" line
    /// also makes sure we never talk to another test's daemon.
    fn walletd(&self, envs: &[(&str, &str)]) -> Daemon {
        for _ in 0..5 {
            let port = free_port();
            let log = self.path(&format!("walletd-{port}.log"));
            let mut cmd = self.command("walletd");
            cmd.env("WALLET_LISTEN", format!("127.0.0.1:{port}"))
                .env("WALLET_LOG", "debug")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap());
            for (k, v) in envs {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let bound = loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("walletd listening") {
                    break true;
                }
                if child.try_wait().unwrap().is_some() {
                    assert!(
                        text.contains("Address already in use"),
                        "walletd exited:\n{text}"
                    );
                    break false;
                }
                assert!(Instant::now() < deadline, "walletd did not start:\n{text}");
                std::thread::sleep(Duration::from_millis(20));
            };
            if !bound {
                continue;
            }
            let tls = envs.iter().any(|(k, _)| *k == "WALLET_TLS_CERT");
            let daemon = Daemon {
                child,
                base: format!("http://127.0.0.1:{port}"),
                port,
                log,
            };
            if !tls {
                daemon.wait_healthy();
            }
            return daemon;
        }
        panic!("no free port for walletd after 5 tries");
    }
}

struct Daemon {
    child: Child,
    base: String,
    port: u16,
    log: PathBuf,
}

impl Daemon {
    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((200, _, _)) = http_get(&format!("{}/healthz", self.base)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "walletd did not become healthy:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        http_get(&format!("{}{path}", self.base)).unwrap()
    }

    fn get_json(&self, path: &str) -> Value {
        let (status, _, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let (ok, text) = run(Command::new("kill").args(["-TERM", &self.child.id().to_string()]));
        assert!(ok, "{text}");
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "walletd did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET returning (status, content-type, body) for any status.
fn http_get(url: &str) -> Result<(u16, String, String), ureq::Error> {
    http_get_header(url, "content-type").map(|(s, h, b)| (s, h.unwrap_or_default(), b))
}

/// GET returning (status, value of `header`, body) for any status.
fn http_get_header(url: &str, header: &str) -> Result<(u16, Option<String>, String), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut resp = agent.get(url).call()?;
    let status = resp.status().as_u16();
    let value = resp
        .headers()
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.body_mut().read_to_string()?;
    Ok((status, value, body))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// PEM to DER through OpenSSL, for pkilint.
fn pem_to_der(pem: &Path, der: &Path) {
    let (ok, text) = run(Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pem)
        .arg("-out")
        .arg(der));
    assert!(ok, "{text}");
}

/// The trust document's certificates pass `openssl verify -x509_strict` and
/// pkilint; returns the document.
fn check_trust_document(world: &World, daemon: &Daemon) -> Value {
    let trust = daemon.get_json("/v1/trust");
    assert_eq!(trust["ledger_origin"], "onevisit.local/ledger");
    let roots = trust["roots"].as_array().unwrap();
    assert_eq!(roots.len(), 1, "{trust}");
    let cas = trust["issuing_cas"].as_array().unwrap();
    let purposes: Vec<&str> = cas.iter().map(|c| c["purpose"].as_str().unwrap()).collect();
    assert_eq!(purposes, ["identity-ca", "license-ca"]);
    let ledger = trust["ledger_keys"].as_array().unwrap();
    assert_eq!(ledger.len(), 1);
    assert!(
        ledger[0]["public_key_pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    assert_eq!(ledger[0]["note_key_id"].as_str().unwrap().len(), 8);

    let root_pem = world.path("root.pem");
    write(&root_pem, roots[0]["certificate_pem"].as_str().unwrap());
    openssl_verify(&root_pem, None, &root_pem).unwrap();
    let root_der = world.path("root.der");
    pem_to_der(&root_pem, &root_der);
    let mut notes = pkilint("lint_pkix_cert", &[&root_der]).unwrap();
    for ca in cas {
        assert_eq!(ca["state"], "active");
        assert_eq!(ca["key_id"].as_str().unwrap().len(), 40);
        let name = ca["purpose"].as_str().unwrap();
        let pem = world.path(&format!("{name}.pem"));
        let der = world.path(&format!("{name}.der"));
        write(&pem, ca["certificate_pem"].as_str().unwrap());
        openssl_verify(&root_pem, None, &pem).unwrap();
        pem_to_der(&pem, &der);
        notes.extend(pkilint("lint_pkix_cert", &[&der]).unwrap());
        notes.extend(pkilint("lint_pkix_signer_signee_cert_chain", &[&root_der, &der]).unwrap());
    }
    assert!(notes.is_empty(), "pkilint warnings: {notes:?}");
    trust
}

/// Every private and secret key on the token, as pkcs11-tool sees it, is
/// sensitive and never extractable, and no key can decrypt, unwrap or derive.
fn check_token_with_pkcs11_tool(world: &World) -> String {
    let text = world.pkcs11_tool(&["--list-objects"]);
    // Blocks start at lines like "Private Key Object; EC".
    let mut blocks: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.contains(" Object;") {
            blocks.push(String::new());
        }
        if let Some(b) = blocks.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    let secret: Vec<&String> = blocks
        .iter()
        .filter(|b| b.starts_with("Private Key Object") || b.starts_with("Secret Key Object"))
        .collect();
    // root, identity-ca, license-ca, ocsp, ledger private keys and the HMAC key.
    assert_eq!(secret.len(), 6, "{text}");
    for b in secret {
        let access = b
            .lines()
            .find(|l| l.trim_start().starts_with("Access:"))
            .unwrap_or_else(|| panic!("no Access line: {b}"));
        assert!(
            access.contains("sensitive") && access.contains("never extractable"),
            "{b}"
        );
        assert!(
            access.contains("always sensitive") && access.contains("local"),
            "{b}"
        );
        let usage = b
            .lines()
            .find(|l| l.trim_start().starts_with("Usage:"))
            .unwrap_or_else(|| panic!("no Usage line: {b}"));
        for forbidden in ["decrypt", "unwrap", "derive"] {
            assert!(!usage.contains(forbidden), "{b}");
        }
        // pkcs11-tool prints CKA_SIGN of private keys only; the bridge's own
        // tests read it back for the HMAC key.
        if b.starts_with("Private Key") {
            assert!(usage.contains("sign"), "{b}");
        }
    }
    text
}

#[test]
fn ceremony_and_daemon_on_sqlite() {
    let world = World::sqlite("e2e-sqlite");

    let first = world.init();
    assert!(
        first.contains("ceremony complete: 6 key(s) created"),
        "{first}"
    );
    for label in [
        "onevisit/root/1",
        "onevisit/identity-ca/1",
        "onevisit/license-ca/1",
        "onevisit/ocsp/1",
        "onevisit/ledger/1",
        "onevisit/dedup-hmac/1",
    ] {
        assert!(first.contains(label), "{first}");
    }
    // Idempotent: the second run changes nothing and says so, same ids.
    let second = world.init();
    assert!(second.contains("nothing changed"), "{second}");
    let ids = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.contains("onevisit/"))
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(ids(&first), ids(&second));

    let (ok, list, err) = world.walletctl(&["keys", "list"]);
    assert!(ok, "{err}");
    assert_eq!(
        list.lines()
            .filter(|l| l.contains("active") && l.trim_end().ends_with("yes"))
            .count(),
        6,
        "{list}"
    );

    let daemon = world.walletd(&[]);
    let trust = check_trust_document(&world, &daemon);
    // The key ids published are the token's CKA_IDs.
    let tokens = check_token_with_pkcs11_tool(&world);
    let root_id = trust["roots"][0]["key_id"].as_str().unwrap();
    assert!(
        tokens.contains(&format!("ID:         {root_id}")),
        "{tokens}"
    );

    let (status, _, body) = daemon.get("/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sqlite"), "{body}");

    let (status, ctype, body) = daemon.get("/no/such/route");
    assert_eq!(status, 404);
    assert_eq!(ctype, "application/problem+json");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["type"], "urn:onevisit:problem:not-found");
    assert_eq!(problem["status"], 404);

    let (status, _, metrics) = daemon.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            "onevisit_http_requests_total{method=\"GET\",route=\"/v1/trust\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("onevisit_http_request_duration_seconds_bucket"),
        "{metrics}"
    );

    // The OpenAPI document is collected from the registered routes: it lists
    // exactly these, and every parameterless GET it lists is served.
    let api = daemon.get_json("/openapi.json");
    assert!(api["openapi"].as_str().unwrap().starts_with("3."), "{api}");
    let mut paths: Vec<&str> = api["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/healthz",
            "/metrics",
            "/ocsp",
            "/ocsp/{request}",
            "/openapi.json",
            "/readyz",
            "/v1/admin/keys",
            "/v1/admin/keys/requests/{id}",
            "/v1/admin/keys/requests/{id}/approve",
            "/v1/admin/keys/rotate",
            "/v1/challenges",
            "/v1/credentials/{serial}/revoke",
            "/v1/credentials/{serial}/status",
            "/v1/crl/{issuer_key_id}",
            "/v1/identities",
            "/v1/identities/{id}",
            "/v1/identities/{id}/licenses",
            "/v1/identities/{id}/reissue",
            "/v1/ledger/checkpoint",
            "/v1/ledger/entries",
            "/v1/ledger/proof/consistency",
            "/v1/ledger/proof/inclusion",
            "/v1/ledger/sth",
            "/v1/presentations/verify",
            "/v1/services/{service_id}/check",
            "/v1/trust",
        ]
    );
    for path in paths {
        let ops = api["paths"][path].as_object().unwrap();
        assert!(!ops.is_empty(), "{path}");
        // Served means routed and answered: never 404 or 5xx (a staff
        // endpoint answers 401, a query endpoint without its query 400).
        if ops.contains_key("get") {
            let concrete = path
                .replace("{id}", "00000000-0000-4000-8000-000000000000")
                .replace("{serial}", "7f")
                .replace("{issuer_key_id}", "00");
            let status = daemon.get(&concrete).0;
            assert!(
                status < 500 && (status != 404 || path.contains('{')),
                "{path}: {status}"
            );
        }
    }
    assert!(
        api["components"]["securitySchemes"]["bearer"].is_object(),
        "{api}"
    );

    // The request id is echoed (or made) for log correlation.
    let log_before = daemon.log();
    assert!(!log_before.contains(USER_PIN), "PIN in walletd log");

    let status = daemon.terminate();
    assert!(status.success(), "graceful shutdown exit status: {status}");
}

#[test]
fn ceremony_and_daemon_on_postgres() {
    let world = World::postgres("e2e-postgres");
    let out = world.init();
    assert!(out.contains("ceremony complete: 6 key(s) created"), "{out}");
    assert!(world.init().contains("nothing changed"));
    // Short-lived processes on PostgreSQL must exit cleanly: background pool
    // connects racing OpenSSL's exit handlers once made a quarter of these
    // runs die with SIGSEGV after finishing their work.
    for _ in 0..12 {
        let (ok, out, err) = world.walletctl(&["keys", "list"]);
        assert!(ok, "walletctl keys list:\n{out}\n{err}");
    }
    let daemon = world.walletd(&[]);
    check_trust_document(&world, &daemon);
    let (status, _, body) = daemon.get("/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("postgres"), "{body}");

    // The database goes away: readiness fails with 503 problem+json and
    // Retry-After, and comes back by itself when the database does.
    let pg = world._pg.as_ref().unwrap();
    pg.admin_sql(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        pg.name()
    ));
    pg.admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
        pg.name()
    ));
    let started = Instant::now();
    let (status, ctype, body) = daemon.get("/readyz");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a readiness probe must answer quickly"
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(ctype, "application/problem+json");
    assert!(
        body.contains("urn:onevisit:problem:unavailable") && !body.contains(pg.name()),
        "{body}"
    );
    let (status, retry_after, _) =
        http_get_header(&format!("{}/readyz", daemon.base), "retry-after").unwrap();
    assert_eq!(status, 503);
    assert_eq!(retry_after.as_deref(), Some("5"));
    pg.admin_sql(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        pg.name()
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.get("/readyz").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "readyz did not recover:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    check_trust_document(&world, &daemon);
    assert!(daemon.terminate().success());
}

#[test]
fn staff_accounts_print_the_token_last() {
    let world = World::sqlite("e2e-staff");
    let (ok, out, err) = world.walletctl(&[
        "staff",
        "add",
        "--name",
        "alice",
        "--role",
        "officer",
        "--department",
        "health",
    ]);
    assert!(ok, "{err}");
    let token = out.lines().last().unwrap();
    assert!(token.starts_with("ovw_") && token.len() > 40, "{out}");
    // The token is stored hashed, never in clear.
    let db = std::fs::read(world.path("data/wallet.db")).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));

    let (ok, _, err) = world.walletctl(&["staff", "add", "--name", "alice", "--role", "counter"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = world.walletctl(&["staff", "add", "--name", "bob", "--role", "officer"]);
    assert!(!ok && err.contains("department"), "{err}");
    let (ok, _, err) = world.walletctl(&["staff", "add", "--name", "bob", "--role", "janitor"]);
    assert!(!ok && err.contains("janitor"), "{err}");

    let (ok, out, _) = world.walletctl(&["staff", "disable", "--name", "alice"]);
    assert!(ok, "{out}");
    let (ok, list, _) = world.walletctl(&["staff", "list"]);
    assert!(
        ok && list.contains("alice") && list.contains("disabled"),
        "{list}"
    );
    let (ok, _, err) = world.walletctl(&["staff", "disable", "--name", "alice"]);
    assert!(!ok && err.contains("alice"), "{err}");
}

/// Starts walletd with `envs` and expects it to exit non-zero before opening
/// its port, with one error line on stderr; returns that line.
fn refused(world: &World, envs: &[(&str, &str)]) -> String {
    let port = free_port();
    let mut cmd = world.command("walletd");
    cmd.env("WALLET_LISTEN", format!("127.0.0.1:{port}"))
        .env("WALLET_LOG", "trace");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "walletd opened its port despite {envs:?}"
        );
        assert!(
            Instant::now() < deadline,
            "walletd kept running with {envs:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{envs:?}");
    // Start-up log lines (INFO, DEBUG) may precede it; the failure itself is
    // exactly one line, and nothing else is logged as an error.
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("walletd: "))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error line for {envs:?}, got:\n{stderr}"
    );
    assert!(!stderr.lines().any(|l| l.contains(" ERROR ")), "{stderr}");
    errors[0].to_owned()
}

#[test]
fn bad_settings_fail_before_the_port_opens() {
    let world = World::sqlite("e2e-bad");
    world.init();

    let line = refused(
        &world,
        &[("WALLET_PKCS11_MODULE", "/nonexistent/libsofthsm2.so")],
    );
    assert!(line.contains("/nonexistent/libsofthsm2.so"), "{line}");
    let line = refused(&world, &[("WALLET_TOKEN_LABEL", "no-such-token")]);
    assert!(
        line.contains("no-such-token") && line.contains("e2e-bad"),
        "{line}"
    );
    let wrong_pin = "wrong-pin-8731";
    let line = refused(&world, &[("WALLET_PIN", wrong_pin)]);
    assert!(line.contains("PIN") && !line.contains(wrong_pin), "{line}");
    let line = refused(
        &world,
        &[("WALLET_PIN", ""), ("WALLET_PIN_FILE", "/nonexistent/pin")],
    );
    assert!(line.contains("/nonexistent/pin"), "{line}");

    let bad_toml = world.path("bad.toml");
    write(
        &bad_toml,
        "listen = \"127.0.0.1:1\"\nno_such_setting = true\n",
    );
    let port = free_port();
    let out = world
        .command("walletd")
        .env("WALLET_LISTEN", format!("127.0.0.1:{port}"))
        .args(["--config", bad_toml.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no_such_setting") && err.lines().count() == 1,
        "{err}"
    );
    let line = refused(&world, &[("WALLET_LISTEN", "not-an-address")]);
    assert!(line.contains("WALLET_LISTEN"), "{line}");
    let line = refused(
        &world,
        &[
            ("WALLET_TLS_CERT", "/nonexistent/cert.pem"),
            ("WALLET_TLS_KEY", "/nonexistent/key.pem"),
        ],
    );
    assert!(line.contains("/nonexistent/cert.pem"), "{line}");

    // Without the ceremony there is nothing to serve.
    let empty = World::sqlite("e2e-bad-empty");
    let line = refused(&empty, &[]);
    assert!(line.contains("walletctl init"), "{line}");
}

#[test]
fn the_pin_never_reaches_logs_or_output() {
    let world = World::sqlite("e2e-pin");
    let (ok, out, err) = world.walletctl(&["init"]);
    assert!(ok, "{err}");
    assert!(!out.contains(USER_PIN) && !err.contains(USER_PIN));
    let daemon = world.walletd(&[("WALLET_LOG", "trace")]);
    daemon.get("/readyz");
    daemon.get("/v1/trust");
    let log = daemon.log();
    assert!(log.contains("walletd listening"), "{log}");
    assert!(!log.contains(USER_PIN), "PIN found in trace log");
    // And through a PIN file, with JSON logs.
    let pin_file = world.path("pin");
    write(&pin_file, &format!("{USER_PIN}\n"));
    drop(daemon);
    let daemon = world.walletd(&[
        ("WALLET_PIN", ""),
        ("WALLET_PIN_FILE", pin_file.to_str().unwrap()),
        ("WALLET_LOG_FORMAT", "json"),
    ]);
    daemon.get("/readyz");
    let log = daemon.log();
    assert!(log.lines().any(|l| l.starts_with('{')), "{log}");
    assert!(!log.contains(USER_PIN));
}

#[test]
fn serves_https_with_rustls() {
    let world = World::sqlite("e2e-tls");
    world.init();
    let (cert, key) = (world.path("tls.pem"), world.path("tls.key"));
    let (ok, text) = run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    assert!(ok, "{text}");
    let daemon = world.walletd(&[
        ("WALLET_TLS_CERT", cert.to_str().unwrap()),
        ("WALLET_TLS_KEY", key.to_str().unwrap()),
    ]);
    let url = format!("https://127.0.0.1:{}/v1/trust", daemon.port);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (ok, body) = run(Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(&cert)
            .arg(&url));
        if ok {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no HTTPS answer: {body}\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let trust: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(trust["roots"].as_array().unwrap().len(), 1);
    // Plain HTTP on the TLS port is refused.
    assert!(
        http_get(&format!("http://127.0.0.1:{}/healthz", daemon.port))
            .map(|r| r.0 != 200)
            .unwrap_or(true)
    );
}

mod issuance;
mod ledger;
mod revocation;
mod rotation;
mod runbooks;
mod verification;

#[test]
fn the_ceremony_refuses_a_key_it_did_not_make() {
    let world = World::sqlite("e2e-planted");
    // Someone put a key under the root's label with pkcs11-tool's defaults
    // (decrypt, unwrap, derive allowed).
    world.pkcs11_tool(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "onevisit/root/1",
    ]);
    let (ok, out, err) = world.walletctl(&["init"]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("onevisit/root/1") && err.contains("not a key this ceremony would make"),
        "{err}"
    );
}
mod holder;
