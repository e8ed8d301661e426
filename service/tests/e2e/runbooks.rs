//! The runbooks in `deploy/runbooks/` run as written. Every ```` ```sh ````
//! block of a runbook is put, in order, into one script (as if typed into
//! one shell) and run with `bash -euo pipefail` from the repository root,
//! with a fresh token and database, `walletd` first on `PATH` and a free
//! port; then the test checks the outcome with its own eyes (trust
//! document, `walletctl keys list`, the ledger audit, files written).
//! walletd processes a runbook starts are killed when the test ends, pass
//! or fail (the pid file in `WALLET_RUN_DIR`).

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wallet_testkit::{SOFTHSM_MODULE, free_port, run, workspace_root};

use super::World;

/// Longest a runbook run may take (each is a few seconds).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// One ```` ```sh ```` block of a runbook.
#[derive(Debug)]
struct Block {
    /// The `## ` heading it is under.
    section: String,
    /// Line of the opening fence (1-based).
    line: usize,
    code: String,
}

/// The ```` ```sh ```` blocks of a Markdown text, with their sections.
/// Other fenced blocks (```` ```text ````) are skipped whole.
fn sh_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut section = String::new();
    // (is sh, opening line, code) of the fence we are in.
    let mut fence: Option<(bool, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        if let Some((is_sh, start, code)) = fence.as_mut() {
            if line.trim_end() == "```" {
                if *is_sh {
                    blocks.push(Block {
                        section: section.clone(),
                        line: *start,
                        code: std::mem::take(code),
                    });
                }
                fence = None;
            } else {
                code.push_str(line);
                code.push('\n');
            }
            continue;
        }
        if let Some(heading) = line.strip_prefix("## ") {
            heading.trim().clone_into(&mut section);
        } else if let Some(lang) = line.strip_prefix("```") {
            fence = Some((lang.trim() == "sh", i + 1, String::new()));
        }
    }
    assert!(fence.is_none(), "unclosed code fence");
    blocks
}

/// A runbook and which of its blocks have run.
struct Runbook {
    name: &'static str,
    blocks: Vec<Block>,
    ran: Vec<bool>,
}

impl Runbook {
    fn load(name: &'static str) -> Self {
        let path = workspace_root().join("deploy/runbooks").join(name);
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let blocks = sh_blocks(&text);
        assert!(!blocks.is_empty(), "{name} has no ```sh blocks");
        let ran = vec![false; blocks.len()];
        Self { name, blocks, ran }
    }

    /// Runs, in one `bash -euo pipefail`, the blocks under the sections whose
    /// heading starts with one of `sections` (every block when empty), in
    /// order. Panics with the output when the script fails; returns it.
    fn run(&mut self, shell: &Shell, sections: &[&str]) -> String {
        let chosen: Vec<usize> = (0..self.blocks.len())
            .filter(|&i| {
                sections.is_empty()
                    || sections
                        .iter()
                        .any(|s| self.blocks[i].section.starts_with(s))
            })
            .collect();
        assert!(
            !chosen.is_empty(),
            "{}: no block under {sections:?}",
            self.name
        );
        let mut script = format!("# generated from deploy/runbooks/{}\n", self.name);
        for &i in &chosen {
            let b = &self.blocks[i];
            // Show each block before it runs, so a failure names its block.
            script.push_str("cat >&2 <<'__RUNBOOK_BLOCK__'\n");
            script.push_str(&format!(
                "\n#### {}:{} ({})\n",
                self.name, b.line, b.section
            ));
            for l in b.code.lines() {
                script.push_str(&format!("| {l}\n"));
            }
            script.push_str("__RUNBOOK_BLOCK__\n");
            script.push_str(&b.code);
        }
        script.push_str("echo '#### runbook finished' >&2\n");
        let (ok, output) = shell.bash(self.name, &script);
        assert!(
            ok && output.contains("#### runbook finished"),
            "{} {sections:?} failed (the last #### names the block):\n{output}",
            self.name
        );
        for i in chosen {
            self.ran[i] = true;
        }
        output
    }

    /// Every block ran, except those under sections starting with `except`.
    fn assert_ran_all_but(&self, except: &[&str]) {
        for (b, ran) in self.blocks.iter().zip(&self.ran) {
            let skipped = except.iter().any(|s| b.section.starts_with(s));
            assert!(
                *ran || skipped,
                "{}:{} ({}) was never run",
                self.name,
                b.line,
                b.section
            );
        }
    }
}

/// The environment a runbook runs in, and the guard that stops the walletd
/// it started.
struct Shell {
    env: Vec<(String, String)>,
    scratch: PathBuf,
    run_dir: PathBuf,
    url: String,
}

impl Shell {
    /// Settings shared by every runbook run: PATH with our binaries first,
    /// a scratch directory for records, backups and walletd's pid file, a
    /// free port. No inherited `WALLET_*` variable gets through.
    fn new(scratch: &Path) -> Self {
        fs::create_dir_all(scratch).unwrap();
        let bin = Path::new(env!("CARGO_BIN_EXE_walletd"))
            .parent()
            .unwrap()
            .to_owned();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
        );
        let tmp = scratch.join("tmp");
        fs::create_dir_all(&tmp).unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let run_dir = scratch.join("run");
        let mut shell = Self {
            env: Vec::new(),
            scratch: scratch.to_owned(),
            run_dir: run_dir.clone(),
            url: url.clone(),
        };
        for (k, v) in [
            ("PATH", path),
            (
                "HOME",
                std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
            ),
            ("LANG", "C.UTF-8".into()),
            ("TMPDIR", tmp.display().to_string()),
            ("WALLET_LISTEN", format!("127.0.0.1:{port}")),
            ("WALLET_URL", url),
            ("WALLET_RUN_DIR", run_dir.display().to_string()),
            ("RECORD_DIR", scratch.join("record").display().to_string()),
            ("BACKUP_DIR", scratch.join("backups").display().to_string()),
        ] {
            shell.set(k, &v);
        }
        shell
    }

    /// [`Shell::new`] with `world`'s token and database.
    fn for_world(world: &World) -> Self {
        let mut shell = Self::new(&world.path("runbook"));
        shell.set("SOFTHSM2_CONF", &world.token.conf().display().to_string());
        shell.set(
            "WALLET_PKCS11_MODULE",
            &world.token.module().display().to_string(),
        );
        shell.set("WALLET_TOKEN_LABEL", world.token.label());
        shell.set("WALLET_PIN", wallet_testkit::USER_PIN);
        shell.set("WALLET_DATABASE_URL", &world.db_url);
        shell
    }

    fn set(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    fn unset(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    fn var(&self, key: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{key} not set"))
    }

    fn record(&self, name: &str) -> PathBuf {
        Path::new(self.var("RECORD_DIR")).join(name)
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(workspace_root())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `script` with `bash -euo pipefail` in its own process group;
    /// returns (success, stdout and stderr interleaved).
    fn bash(&self, name: &str, script: &str) -> (bool, String) {
        let n = fs::read_dir(&self.scratch).unwrap().count();
        let file = self.scratch.join(format!("{name}.{n}.sh"));
        fs::write(&file, script).unwrap();
        let log = self.scratch.join(format!("{name}.{n}.log"));
        let out = fs::File::create(&log).unwrap();
        let mut child = self
            .command("bash")
            .args(["-euo", "pipefail"])
            .arg(&file)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + RUN_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                // The whole group: bash and whatever it is waiting for.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                panic!(
                    "{name} ran longer than {RUN_LIMIT:?}:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (
            status.success(),
            fs::read_to_string(&log).unwrap_or_default(),
        )
    }

    /// Runs walletctl with this environment; returns (success, stdout, stderr).
    fn walletctl(&self, args: &[&str]) -> (bool, String, String) {
        let out = self
            .command(env!("CARGO_BIN_EXE_walletctl"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `walletctl keys list` as rows of (purpose, label, state, on token).
    fn keys(&self) -> Vec<(String, String, String, String)> {
        let (ok, out, err) = self.walletctl(&["keys", "list"]);
        assert!(ok, "walletctl keys list: {err}");
        out.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (
                    f[0].to_owned(),
                    f[1].to_owned(),
                    f[3].to_owned(),
                    f[f.len() - 1].to_owned(),
                )
            })
            .collect()
    }

    fn assert_audit_clean(&self) {
        let (ok, out, err) = self.walletctl(&["ledger", "audit"]);
        assert!(ok && out.contains("ledger audit OK"), "{out}{err}");
    }

    /// GET `path` from the runbook's walletd: (status, body).
    fn get(&self, path: &str, bearer: Option<&str>) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut req = agent.get(format!("{}{path}", self.url));
        if let Some(token) = bearer {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        let mut resp = req.call().unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }

    fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Stops the walletd a runbook started (its pid file), as a crash
    /// would: SIGKILL.
    fn kill_walletd(&self) {
        stop_pid_file(&self.run_dir.join("walletd.pid"), "-KILL");
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        stop_pid_file(&self.run_dir.join("walletd.pid"), "-TERM");
    }
}

/// Whether `pid` is a live process (a zombie is not).
fn alive(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Sends `signal` to the process in `pid_file`, waits up to 10 s, then
/// SIGKILL; removes the file.
fn stop_pid_file(pid_file: &Path, signal: &str) {
    let Ok(pid) = fs::read_to_string(pid_file) else {
        return;
    };
    let pid = pid.trim().to_owned();
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    let _ = Command::new("kill").args([signal, &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(&pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(&pid) {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    }
    let _ = fs::remove_file(pid_file);
}

/// A staff account made with walletctl; returns its bearer token.
/// The token directory of `world`'s SoftHSM2 token (as its config names it).
fn token_dir(world: &World) -> PathBuf {
    let conf = fs::read_to_string(world.token.conf()).unwrap();
    let dir = conf
        .lines()
        .find_map(|l| l.strip_prefix("directories.tokendir = "))
        .unwrap();
    PathBuf::from(dir.trim())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The settings of a key ceremony on an empty token directory: a SoftHSM2
/// config naming a directory that does not exist yet, PIN files the
/// runbook will write, a new SQLite database.
fn ceremony_settings(shell: &mut Shell, dir: &Path, conf: Option<&Path>, label: &str) {
    let secrets = dir.join("secrets");
    fs::create_dir_all(&secrets).unwrap();
    fs::set_permissions(&secrets, fs::Permissions::from_mode(0o700)).unwrap();
    if let Some(conf) = conf {
        shell.set("SOFTHSM2_CONF", &conf.display().to_string());
    } else {
        let conf = dir.join("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.join("tokens").display()
            ),
        )
        .unwrap();
        shell.set("SOFTHSM2_CONF", &conf.display().to_string());
    }
    let module =
        std::env::var("WALLET_PKCS11_MODULE").unwrap_or_else(|_| SOFTHSM_MODULE.to_owned());
    shell.set("WALLET_PKCS11_MODULE", &module);
    shell.set("WALLET_TOKEN_LABEL", label);
    shell.unset("WALLET_PIN");
    shell.set(
        "WALLET_PIN_FILE",
        &secrets.join("pin").display().to_string(),
    );
    shell.set(
        "WALLET_SO_PIN_FILE",
        &secrets.join("so-pin").display().to_string(),
    );
    shell.set(
        "WALLET_DATABASE_URL",
        &format!("sqlite://{}", dir.join("data/wallet.db").display()),
    );
    shell.set("OPS_NAME", "ops-alice");
    shell.set("OPS2_NAME", "ops-bob");
}

/// What a finished key ceremony leaves: PIN files 0600, six keys on the
/// token, one root in the trust document, the record, working ops tokens.
fn check_ceremony(shell: &Shell, output: &str) -> Value {
    for var in ["WALLET_PIN_FILE", "WALLET_SO_PIN_FILE"] {
        let path = Path::new(shell.var(var));
        assert_eq!(mode(path), 0o600, "{var}");
        assert_eq!(fs::read_to_string(path).unwrap().trim().len(), 32, "{var}");
    }
    assert!(
        output.contains("ceremony complete: 6 key(s) created"),
        "{output}"
    );
    let keys = shell.keys();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(
        keys.iter().all(|k| k.2 == "active" && k.3 == "yes"),
        "{keys:?}"
    );
    shell.assert_audit_clean();
    let trust = shell.get_json("/v1/trust");
    assert_eq!(trust["roots"].as_array().unwrap().len(), 1, "{trust}");
    let recorded: Value =
        serde_json::from_str(&fs::read_to_string(shell.record("trust.json")).unwrap()).unwrap();
    assert_eq!(recorded["roots"], trust["roots"]);
    let fingerprint = fs::read_to_string(shell.record("root-fingerprint.txt")).unwrap();
    assert!(
        fingerprint.contains("sha256 Fingerprint=") || fingerprint.contains("SHA256 Fingerprint="),
        "{fingerprint}"
    );
    let objects = fs::read_to_string(shell.record("token-objects.txt")).unwrap();
    assert_eq!(objects.matches("never extractable").count(), 6, "{objects}");
    // The ops tokens the runbook printed work.
    for name in ["ops-alice", "ops-bob"] {
        let token = output
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no token for {name}:\n{output}"));
        let (status, body) = shell.get("/v1/admin/keys", Some(token));
        assert_eq!(status, 200, "{body}");
    }
    trust
}

#[test]
fn key_ceremony() {
    let dir = tempfile::tempdir().unwrap();
    let mut shell = Shell::new(&dir.path().join("runbook"));
    ceremony_settings(&mut shell, dir.path(), None, "rb-ceremony");
    let mut ceremony = Runbook::load("key-ceremony.md");
    let output = ceremony.run(&shell, &[]);
    ceremony.assert_ran_all_but(&[]);
    check_ceremony(&shell, &output);
    assert_eq!(mode(&dir.path().join("tokens")), 0o700);
    let (status, body) = shell.get("/readyz", None);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn rotation() {
    let world = World::sqlite("rb-rotation");
    world.init();
    let mut shell = Shell::for_world(&world);
    shell.set("OPS_TOKEN", &world.staff("ops-alice", "ops", None));
    let mut rotation = Runbook::load("rotation.md");
    for purpose in ["license-ca", "ocsp", "ledger"] {
        shell.set("PURPOSE", purpose);
        let output = rotation.run(&shell, &[]);
        assert!(
            output.contains(&format!("\"activated\": \"onevisit/{purpose}/2\"")),
            "{output}"
        );
        assert_eq!(output.matches("OCSP verify OK").count(), 2, "{output}");
    }
    rotation.assert_ran_all_but(&[]);

    let keys = shell.keys();
    let state = |label: &str| {
        keys.iter()
            .find(|k| k.1 == label)
            .map(|k| (k.2.as_str(), k.3.as_str()))
    };
    for purpose in ["license-ca", "ocsp", "ledger"] {
        let old = format!("onevisit/{purpose}/1");
        let new = format!("onevisit/{purpose}/2");
        assert_eq!(state(&old), Some(("retired", "yes")), "{keys:?}");
        assert_eq!(state(&new), Some(("active", "yes")), "{keys:?}");
    }
    assert_eq!(keys.len(), 9, "{keys:?}");
    shell.assert_audit_clean();
    let trust = shell.get_json("/v1/trust");
    assert_eq!(trust["ledger_keys"].as_array().unwrap().len(), 2);
    let licence_cas = trust["issuing_cas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["purpose"] == "license-ca")
        .count();
    assert_eq!(licence_cas, 2, "{trust}");
}

#[test]
fn root_rollover() {
    let world = World::sqlite("rb-rollover");
    world.init();
    let mut shell = Shell::for_world(&world);
    shell.set("OPS_TOKEN", &world.staff("ops-alice", "ops", None));
    shell.set("OPS2_TOKEN", &world.staff("ops-bob", "ops", None));
    let mut rollover = Runbook::load("root-rollover.md");
    let output = rollover.run(&shell, &[]);
    rollover.assert_ran_all_but(&[]);
    // openssl verify: both issuing CAs, under the new root and through the
    // cross-certificate under the old one.
    let verified = output.lines().filter(|l| l.ends_with(".pem: OK")).count();
    assert_eq!(verified, 4, "{output}");
    assert_eq!(output.matches("OCSP verify OK").count(), 2, "{output}");

    let trust = shell.get_json("/v1/trust");
    let roots = trust["roots"].as_array().unwrap();
    assert_eq!(roots.len(), 2, "{trust}");
    assert_eq!(
        (roots[0]["state"].as_str(), roots[1]["state"].as_str()),
        (Some("retired"), Some("active"))
    );
    assert_eq!(roots[1]["label"], "onevisit/root/2");
    let cross = trust["cross_certificates"].as_array().unwrap();
    assert_eq!(cross.len(), 1, "{trust}");
    assert_eq!(cross[0]["issuer_key_id"], roots[0]["key_id"]);
    assert_eq!(cross[0]["key_id"], roots[1]["key_id"]);
    let new_root = fs::read_to_string(shell.record("new-root.pem")).unwrap();
    assert_eq!(
        new_root.trim(),
        roots[1]["certificate_pem"].as_str().unwrap().trim()
    );
    let (ok, text) = run(Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(shell.record("new-root.pem")));
    assert!(ok && text.contains("OneVisit Root CA G2"), "{text}");
    let keys = shell.keys();
    assert!(keys.iter().all(|k| k.3 == "yes"), "{keys:?}");
    shell.assert_audit_clean();
}

/// Back up with the runbook, lose the database and the token, restore
/// with the runbook.
fn backup_restore(world: &World) {
    world.init();
    let ops = world.staff("ops-alice", "ops", None);
    let shell = Shell::for_world(world);
    let mut runbook = Runbook::load("backup-restore.md");
    let output = runbook.run(
        &shell,
        &["Before you start", "Back up", "Check the backup set"],
    );
    assert!(output.contains("checked"), "{output}");
    let before = shell.get_json("/v1/trust");
    let sets: Vec<PathBuf> = fs::read_dir(shell.var("BACKUP_DIR"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(mode(&sets[0]), 0o700);
    let keys_txt = fs::read_to_string(sets[0].join("keys.txt")).unwrap();
    assert_eq!(keys_txt.lines().count(), 7, "{keys_txt}");

    // The host dies: walletd, the database and the token are gone.
    shell.kill_walletd();
    if let Some(path) = world.db_url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = fs::remove_file(format!("{path}{suffix}"));
        }
    } else {
        let (ok, text) = run(Command::new("psql").args([
            world.db_url.as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
        ]));
        assert!(ok, "{text}");
    }
    fs::remove_dir_all(token_dir(world)).unwrap();

    runbook.run(&shell, &["Restore", "Check the restore"]);
    runbook.assert_ran_all_but(&[]);
    let keys = shell.keys();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(keys.iter().all(|k| k.3 == "yes"), "{keys:?}");
    shell.assert_audit_clean();
    let after = shell.get_json("/v1/trust");
    assert_eq!(after["roots"], before["roots"]);
    assert_eq!(after["checkpoint"], before["checkpoint"]);
    // Staff accounts came back with the database.
    let (status, body) = shell.get("/v1/admin/keys", Some(&ops));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn backup_restore_on_sqlite() {
    backup_restore(&World::sqlite("rb-backup-lite"));
}

#[test]
fn backup_restore_on_postgres() {
    backup_restore(&World::postgres("rb-backup-pg"));
}

#[test]
fn hsm_loss_with_a_backup() {
    let world = World::sqlite("rb-loss");
    world.init();
    let shell = Shell::for_world(&world);
    Runbook::load("backup-restore.md").run(&shell, &["Before you start", "Back up"]);
    // A rotation after the backup: its key is on the live token only.
    let (ok, out, err) = shell.walletctl(&["keys", "rotate", "license-ca"]);
    assert!(ok, "{out}{err}");
    // The token is destroyed under the running walletd.
    fs::remove_dir_all(token_dir(&world)).unwrap();

    let mut runbook = Runbook::load("hsm-loss.md");
    let output = runbook.run(&shell, &["Before you start", "With a backup"]);
    runbook.assert_ran_all_but(&["Without a usable backup"]);

    let missing = fs::read_to_string(shell.record("missing-keys.txt")).unwrap();
    assert_eq!(
        missing.trim(),
        "license-ca onevisit/license-ca/2 active no",
        "{missing}"
    );
    let keys = shell.keys();
    let find = |label: &str| {
        keys.iter()
            .find(|k| k.1 == label)
            .map(|k| (k.2.as_str(), k.3.as_str()))
    };
    // The lost key is retired (known lost); a new one replaced it.
    assert_eq!(
        find("onevisit/license-ca/2"),
        Some(("retired", "no")),
        "{keys:?}"
    );
    assert_eq!(
        find("onevisit/license-ca/3"),
        Some(("active", "yes")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .filter(|k| k.2 == "active")
            .all(|k| k.3 == "yes"),
        "{keys:?}"
    );
    shell.assert_audit_clean();
    let (status, body) = shell.get("/readyz", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(output.matches("OCSP verify OK").count(), 2, "{output}");
}

#[test]
fn hsm_loss_without_a_backup() {
    let world = World::sqlite("rb-loss-total");
    let init = world.init();
    let old_root_sha256 = init
        .lines()
        .find(|l| l.starts_with("root "))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap()
        .to_owned();
    let mut shell = Shell::for_world(&world);
    // Some token files are left, unusable: the runbook moves them aside.
    let tokens = token_dir(&world);
    for entry in fs::read_dir(&tokens).unwrap() {
        let token = entry.unwrap().path();
        for object in fs::read_dir(&token).unwrap() {
            fs::remove_file(object.unwrap().path()).unwrap();
        }
    }

    let mut runbook = Runbook::load("hsm-loss.md");
    runbook.run(&shell, &["Before you start", "Without a usable backup"]);
    runbook.assert_ran_all_but(&["With a backup"]);
    let incident = shell.record("incident");
    let distrust = fs::read_to_string(incident.join("distrust-root-sha256.txt")).unwrap();
    assert_eq!(distrust.trim(), old_root_sha256);
    let note = fs::read_to_string(incident.join("final-checkpoint.note")).unwrap();
    assert!(note.starts_with("onevisit.local/ledger\n6\n"), "{note}");
    let aside: Vec<String> = fs::read_dir(tokens.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tokens.lost-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");

    // Start again: the key ceremony on the emptied token directory, a new
    // database and a new ledger origin.
    let fresh = world.path("fresh");
    shell.set("RECORD_DIR", &fresh.join("record").display().to_string());
    ceremony_settings(
        &mut shell,
        &fresh,
        Some(world.token.conf()),
        world.token.label(),
    );
    shell.set("WALLET_LEDGER_ORIGIN", "onevisit.local/ledger-2");
    let mut ceremony = Runbook::load("key-ceremony.md");
    let output = ceremony.run(&shell, &[]);
    ceremony.assert_ran_all_but(&[]);
    let trust = check_ceremony(&shell, &output);
    assert_eq!(trust["ledger_origin"], "onevisit.local/ledger-2");
    assert_ne!(
        trust["roots"][0]["certificate_sha256"].as_str().unwrap(),
        old_root_sha256
    );
}
