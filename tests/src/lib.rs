//! Test fixtures shared by the integration tests of every crate: a fresh SoftHSM2
//! token per test, a fresh PostgreSQL database per test run, and lookup of the
//! external tools (OpenSSL, pkilint, pkcs11-tool) that check what we emit.
//!
//! Fixtures panic on set-up failure: a test that cannot get its token or database
//! must fail loudly, not skip.
#![expect(clippy::panic, reason = "test fixtures fail the test on set-up errors")]
#![expect(
    clippy::expect_used,
    reason = "test fixtures fail the test on set-up errors"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Default location of the SoftHSM2 module on Debian.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// User PIN of every test token.
pub const USER_PIN: &str = "1234-user-pin";
/// Security officer PIN of every test token.
pub const SO_PIN: &str = "5678-so-pin";

/// A SoftHSM2 token living in its own temporary directory.
///
/// SoftHSM2 reads `SOFTHSM2_CONF` once, when the module is initialised, so a
/// test process may use one token only; nextest runs every test in its own
/// process, which is what makes per-test tokens possible.
#[derive(Debug)]
pub struct SoftHsmToken {
    dir: tempfile::TempDir,
    conf: PathBuf,
    label: String,
}

impl SoftHsmToken {
    /// Creates a token directory, a config pointing at it, and initialises a
    /// token with `label`, [`USER_PIN`] and [`SO_PIN`]. Also exports
    /// `SOFTHSM2_CONF` for this process so the module loaded later sees it.
    pub fn new(label: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("onevisit-softhsm-")
            .tempdir()
            .expect("create token dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir_all(&tokens).expect("create tokens dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens.display()
            ),
        )
        .expect("write softhsm2.conf");
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                USER_PIN,
                "--so-pin",
                SO_PIN,
            ])
            .output()
            .expect("run softhsm2-util (apt-get install softhsm2)");
        if !out.status.success() {
            panic!(
                "softhsm2-util --init-token failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // SAFETY of intent: tests set this before any PKCS#11 module is loaded.
        set_env("SOFTHSM2_CONF", conf.as_os_str());
        Self {
            dir,
            conf,
            label: label.to_owned(),
        }
    }

    /// Path of the SoftHSM2 config file for this token (for child processes).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The token's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The token label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The PKCS#11 module path: `WALLET_PKCS11_MODULE` or the Debian default.
    pub fn module(&self) -> PathBuf {
        std::env::var_os("WALLET_PKCS11_MODULE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(SOFTHSM_MODULE))
    }
}

#[expect(
    unsafe_code,
    reason = "set_var is unsafe in edition 2024; fixtures call it before threads that read the environment start"
)]
fn set_env(key: &str, value: &std::ffi::OsStr) {
    // SAFETY: called from test set-up before the PKCS#11 module or any worker
    // thread that reads the environment exists.
    unsafe { std::env::set_var(key, value) };
}

/// A PostgreSQL database created for one test and dropped afterwards.
#[derive(Debug)]
pub struct PgTestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl PgTestDb {
    /// Creates a database with a random name on the server named by
    /// `WALLET_TEST_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/test`).
    pub fn new() -> Self {
        let admin_url = std::env::var("WALLET_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
        let name = format!("onevisit_test_{}", random_hex(8));
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        let url = replace_db_name(&admin_url, &name);
        Self {
            admin_url,
            name,
            url,
        }
    }

    /// Connection URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` on the server's admin database (to break or mend this
    /// database in outage tests).
    pub fn admin_sql(&self, sql: &str) {
        psql(&self.admin_url, sql);
    }

    /// The database's size on disk (`pg_database_size`), for benchmarks.
    pub fn size_bytes(&self) -> u64 {
        psql(&self.url, "SELECT pg_database_size(current_database())")
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

impl Default for PgTestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([self.admin_url.as_str(), "-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// Runs `sql` on `url`; returns what it printed (unaligned, tuples only).
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-tA", "-c", sql])
        .output()
        .expect("run psql (is PostgreSQL installed? run deploy/test.sh)");
    if !out.status.success() {
        panic!(
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let mut out = match path_start {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => format!("{base}/{name}"),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("getrandom");
    hex::encode(buf)
}

/// Runs `cmd`, returning (success, stdout + stderr) for assertions.
pub fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The pkilint environment made by `deploy/test.sh` (`.venv/bin` at the
/// workspace root), or `WALLET_PKILINT_BIN` when set.
pub fn pkilint_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WALLET_PKILINT_BIN") {
        return PathBuf::from(dir);
    }
    workspace_root().join(".venv/bin")
}

/// Runs pkilint's `cli` (e.g. `lint_pkix_cert`) over DER files. Fails on any
/// ERROR-or-worse finding and returns the WARNING/NOTICE lines. pkilint's
/// exit status counts findings, so the verdict is read from its CSV report.
/// `WALLET_SKIP_PKILINT=1` skips the check (returns no findings).
pub fn pkilint(cli: &str, files: &[&Path]) -> Result<Vec<String>, String> {
    pkilint_with(cli, &[], files)
}

/// pkilint's RFC 5280 CRL linter (`lint_crl -t CRL -p PKIX`) on a DER CRL.
pub fn pkilint_crl(file: &Path) -> Result<Vec<String>, String> {
    pkilint_with("lint_crl", &["-t", "CRL", "-p", "PKIX"], &[file])
}

/// [`pkilint`] with extra arguments for the `lint` subcommand.
pub fn pkilint_with(cli: &str, extra: &[&str], files: &[&Path]) -> Result<Vec<String>, String> {
    if std::env::var("WALLET_SKIP_PKILINT").as_deref() == Ok("1") {
        return Ok(Vec::new());
    }
    let bin = pkilint_bin_dir().join(cli);
    if !bin.is_file() {
        return Err(format!(
            "pkilint not found at {}: run deploy/test.sh (or python3 -m venv .venv && .venv/bin/pip install pkilint)",
            bin.display()
        ));
    }
    let out = Command::new(&bin)
        .args(["lint", "-s", "ALL", "-f", "CSV", "--document-format", "DER"])
        .args(extra)
        .args(files)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    if lines.next() != Some("node_path,validator,severity,code,message") {
        return Err(format!(
            "{cli} produced no report:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        match line.split(',').nth(2).unwrap_or("UNPARSED") {
            "INFO" | "DEBUG" => {}
            "WARNING" | "NOTICE" => notes.push(line.to_owned()),
            _ => errors.push(line.to_owned()),
        }
    }
    if errors.is_empty() {
        Ok(notes)
    } else {
        Err(format!("{cli} {files:?}:\n{}", errors.join("\n")))
    }
}

/// `openssl verify -x509_strict` of `cert` against the trust anchors in
/// `ca_file`, with optional untrusted intermediates.
pub fn openssl_verify(ca_file: &Path, untrusted: Option<&Path>, cert: &Path) -> Result<(), String> {
    let mut cmd = Command::new("openssl");
    cmd.args(["verify", "-x509_strict", "-CAfile"]).arg(ca_file);
    if let Some(u) = untrusted {
        cmd.arg("-untrusted").arg(u);
    }
    cmd.arg(cert);
    let (ok, text) = run(&mut cmd);
    if ok && text.contains(": OK") {
        Ok(())
    } else {
        Err(format!("openssl verify {}: {text}", cert.display()))
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// The workspace root (parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::replace_db_name;

    #[test]
    fn database_name_is_replaced_keeping_query() {
        assert_eq!(
            replace_db_name("postgres://root@127.0.0.1:5432/test", "x"),
            "postgres://root@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_db_name("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_db_name("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
