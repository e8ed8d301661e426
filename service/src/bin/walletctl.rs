//! `walletctl`: the ops CLI on the host. Reads the same settings as walletd.
//! `init` runs the key ceremony; `keys` and `staff` manage keys and staff
//! accounts. Output is for people and scripts: `staff add` prints the token
//! alone on the last line.
//!
//! Two commands need no settings, HSM, database or network, and run
//! anywhere: `holder` (the citizen's key, CSR and presentations) and
//! `verify --offline` (a counter without the service). They only read and
//! write files; the logic is `service::domain::offline`. The holder key
//! file is a secret: written once with mode 0600, never printed.
#![expect(clippy::print_stdout, reason = "a CLI reports on standard output")]

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context as _, anyhow, bail};
use clap::{Parser, Subcommand};
use schema::staff::StaffRole;
use service::config::Config;
use service::domain::ledger::{Ledger, SequencerConfig};
use service::domain::offline::{
    self, Expectations, HolderKey, IssuedCredential, LedgerEntries, OfflineError, PresentRequest,
    TrustStore,
};
use service::domain::{self, DomainError, ceremony, staff, unix};
use zeroize::Zeroizing;

/// OneVisit Wallet operations.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TOML configuration file; `WALLET_*` environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Key ceremony: create the token keys and CA certificates (idempotent).
    Init,
    /// Keys held in the HSM.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Staff accounts and their bearer tokens.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// The transparency ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// The citizen's side, on the holder's own machine: a key, a CSR for
    /// enrollment, presentations. Needs no settings, HSM or database.
    #[command(subcommand)]
    Holder(HolderCommand),
    /// Verify a presentation bundle without the service: only a saved trust
    /// document and CRLs. Prints a JSON report; exits 0 valid, 1 invalid,
    /// 2 unreadable input, 3 valid but revocation not checked.
    Verify(VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum HolderCommand {
    /// Make a new P-256 holder key: PKCS#8 PEM, mode 0600, never overwrites.
    /// Prints the SHA-256 of the public key (DER SubjectPublicKeyInfo) alone
    /// on the last line.
    Keygen {
        /// The key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a PKCS#10 request (PEM) signed by the holder key, for
    /// enrollment (`csr` of POST /v1/identities).
    Csr {
        /// The holder key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// The request file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a presentation of saved issuance responses for a counter.
    Present {
        /// The holder key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// Issuance responses of POST /v1/identities or .../licenses as
        /// saved, in the order to present (repeat, or list after one --cred).
        #[arg(long = "cred", required = true, num_args = 1..)]
        creds: Vec<PathBuf>,
        /// The counter's id, as in its challenge.
        #[arg(long)]
        audience: String,
        /// The counter's nonce (POST /v1/challenges).
        #[arg(long)]
        nonce: String,
        /// Make a credential bundle for `verify --offline`: add the chain and
        /// each credential's ledger receipt with its issuance entry.
        #[arg(long)]
        bundle: bool,
        /// A saved GET /v1/ledger/entries response, for receipts that do not
        /// carry their entry.
        #[arg(long, requires = "bundle")]
        entries: Option<PathBuf>,
        /// The presentation file to write (JSON).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// Verify with no network, database or HSM (the only mode here; online
    /// verification is POST /v1/presentations/verify).
    #[arg(long)]
    offline: bool,
    /// A saved GET /v1/trust document: the only thing trusted.
    #[arg(long)]
    trust: PathBuf,
    /// A DER CRL (GET /v1/crl/{issuer_key_id}); repeat for each issuing CA.
    /// Without one, revocation is not checked.
    #[arg(long = "crl")]
    crls: Vec<PathBuf>,
    /// This counter's id: compare it with the proof's audience.
    #[arg(long)]
    audience: Option<String>,
    /// The nonce this counter gave the holder: compare it with the proof's
    /// (its freshness and single use cannot be checked offline).
    #[arg(long)]
    nonce: Option<String>,
    /// The presentation bundle (JSON, from `holder present --bundle`).
    presentation: PathBuf,
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Recompute every leaf, subtree hash and checkpoint; exit non-zero at
    /// the first divergence.
    Audit,
    /// Write entries, leaf hashes, checkpoints and ledger keys as plain files.
    Export {
        /// Directory to write (created if missing).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List every key with purpose, id, state, validity and whether the token has it.
    List,
    /// Rotate a key: new key in the HSM, certified, activated; the old one
    /// retired (verify-only). PURPOSE: identity-ca, license-ca, ocsp,
    /// ledger or root (root rollover: new self-signed root, cross-certified
    /// by the old root, issuing CAs re-certified under it). Safe while
    /// walletd runs; an interrupted rotation resumes when run again.
    Rotate {
        /// The key purpose to rotate.
        purpose: String,
    },
    /// Remove a retired key from the token once nothing needs it (every
    /// certificate it signed expired; a ledger key once a newer one signed
    /// a checkpoint). Its record, public key and certificate stay.
    Destroy {
        /// Token label, e.g. onevisit/ocsp/1.
        label: String,
    },
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Create an account; prints its bearer token alone on the last line.
    Add {
        /// Unique account name.
        #[arg(long)]
        name: String,
        /// officer, counter, ops or auditor.
        #[arg(long)]
        role: StaffRole,
        /// Department (required for officers), e.g. market-regulation.
        #[arg(long)]
        department: Option<String>,
    },
    /// List accounts.
    List,
    /// Disable an account; running instances refuse its token within a second.
    Disable {
        /// Account name.
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        // Neither needs (or reads) the settings: they run on machines that
        // have none.
        Command::Holder(cmd) => holder_command(cmd),
        Command::Verify(verify) => return verify_command(&verify),
        command => run(args.config.as_deref(), command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("walletctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Option<&Path>, command: Command) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    service::telemetry::init(
        &std::env::var("WALLET_LOG").unwrap_or_else(|_| "warn".into()),
        config.log_format,
    );
    match command {
        Command::Init => init(&config),
        Command::Keys(KeysCommand::List) => keys_list(&config),
        Command::Keys(KeysCommand::Rotate { purpose }) => keys_rotate(&config, &purpose),
        Command::Keys(KeysCommand::Destroy { label }) => {
            let (hsm, db) = service::open_backends(&config)?;
            let key = domain::rotation::destroy(&hsm, &db, &label, SystemTime::now())
                .context("destroying the key")?;
            sequence_ledger(&config, hsm, db)?;
            println!("destroyed {} {}", key.label, key.key_id);
            Ok(())
        }
        Command::Staff(cmd) => staff_command(&config, cmd),
        Command::Ledger(cmd) => ledger_command(&config, cmd),
        Command::Holder(_) | Command::Verify(_) => bail!("not a command that reads settings"),
    }
}

fn init(config: &Config) -> anyhow::Result<()> {
    let (hsm, db) = service::open_backends(config)?;
    let outcomes = ceremony::run(&hsm, &db, SystemTime::now(), &mut || {
        service::random::bytes::<16>().map_err(DomainError::from)
    })
    .context("key ceremony")?;
    println!(
        "{:<12} {:<26} {:<40} certificate SHA-256",
        "purpose", "label", "key id"
    );
    for o in &outcomes {
        println!(
            "{:<12} {:<26} {:<40} {}{}",
            o.purpose.as_str(),
            o.label,
            o.key_id,
            o.certificate_sha256.as_deref().unwrap_or("-"),
            if o.changed { "  (created)" } else { "" }
        );
    }
    // Put the key events on the ledger now, so the first checkpoint exists
    // before walletd starts.
    for size in sequence_ledger(config, hsm, db)? {
        println!("ledger checkpoint signed: tree size {size}");
    }
    let created = outcomes.iter().filter(|o| o.changed).count();
    if created == 0 {
        println!(
            "nothing changed: all {} ceremony keys already exist and are active",
            outcomes.len()
        );
    } else {
        println!("ceremony complete: {created} key(s) created");
    }
    Ok(())
}

/// Integrates every queued ledger entry now (walletd's sequencer would too,
/// if it runs), so key events are logged before the command returns.
/// Returns the tree size after each batch.
fn sequence_ledger(
    config: &Config,
    hsm: std::sync::Arc<pkcs11_bridge::Hsm>,
    db: schema::Database,
) -> anyhow::Result<Vec<u64>> {
    let ledger = Ledger::new(hsm, db, &config.ledger_origin, SequencerConfig::default());
    let mut sizes = Vec::new();
    while let Some(size) = ledger.integrate(SystemTime::now()).context("ledger")? {
        sizes.push(size);
    }
    Ok(sizes)
}

fn keys_list(config: &Config) -> anyhow::Result<()> {
    let (hsm, db) = service::open_backends(config)?;
    let keys = schema::keys::list_all(&mut *db.conn()?)?;
    println!(
        "{:<12} {:<26} {:<40} {:<9} {:<21} on token",
        "purpose", "label", "key id", "state", "not after"
    );
    for k in keys {
        let on_token = match hsm.find_key(&k.label)? {
            Some(t) if t.id_hex() == k.key_id.as_str() => "yes",
            Some(_) => "MISMATCH",
            None => "no",
        };
        println!(
            "{:<12} {:<26} {:<40} {:<9} {:<21} {on_token}",
            k.purpose.as_str(),
            k.label,
            k.key_id,
            k.state.as_str(),
            k.not_after
                .map(domain::rfc3339)
                .unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}

fn keys_rotate(config: &Config, purpose: &str) -> anyhow::Result<()> {
    let purpose = domain::rotation::parse_purpose(purpose)?;
    let (hsm, db) = service::open_backends(config)?;
    let outcome = domain::rotation::rotate(&hsm, &db, purpose, SystemTime::now(), &mut || {
        service::random::bytes::<16>().map_err(DomainError::from)
    })
    .context("key rotation")?;
    println!(
        "retired   {} {} (signed {} .. {})",
        outcome.retired.label,
        outcome.retired.key_id,
        outcome.retired.activated_at.as_deref().unwrap_or("-"),
        outcome.retired.retired_at.as_deref().unwrap_or("-"),
    );
    println!(
        "activated {} {} certificate SHA-256 {}",
        outcome.activated.label,
        outcome.activated.key_id,
        outcome
            .activated
            .certificate_sha256
            .as_deref()
            .unwrap_or("-"),
    );
    for c in &outcome.certified {
        println!(
            "certified {:<14} key {} by {} certificate SHA-256 {}",
            c.kind, c.key_id, c.issuer_key_id, c.certificate_sha256
        );
    }
    for size in sequence_ledger(config, hsm, db)? {
        println!("ledger checkpoint signed: tree size {size}");
    }
    Ok(())
}

fn staff_command(config: &Config, cmd: StaffCommand) -> anyhow::Result<()> {
    // Staff management needs only the database, not the HSM.
    let db = service::open_database(config, 2)?;
    let now = unix(SystemTime::now());
    match cmd {
        StaffCommand::Add {
            name,
            role,
            department,
        } => {
            let token = service::random::staff_token()?;
            let s = staff::add(&db, &name, role, department.as_deref(), &token, now)?;
            println!(
                "created staff {} (id {}, role {}, department {})",
                s.name,
                s.id,
                s.role.as_str(),
                s.department.as_deref().unwrap_or("-")
            );
            println!("{token}");
        }
        StaffCommand::List => {
            println!(
                "{:<6} {:<24} {:<8} {:<20} status",
                "id", "name", "role", "department"
            );
            for s in staff::list(&db)? {
                println!(
                    "{:<6} {:<24} {:<8} {:<20} {}",
                    s.id.to_string(),
                    s.name,
                    s.role.as_str(),
                    s.department.as_deref().unwrap_or("-"),
                    if s.disabled { "disabled" } else { "enabled" }
                );
            }
        }
        StaffCommand::Disable { name } => {
            staff::disable(&db, &name, now)?;
            println!("disabled staff {name}");
        }
    }
    Ok(())
}

fn ledger_command(config: &Config, cmd: LedgerCommand) -> anyhow::Result<()> {
    // Auditing needs only the database: signatures are checked with the
    // stored public keys.
    let db = service::open_database(config, 2)?;
    match cmd {
        LedgerCommand::Audit => {
            let mut last_shown = std::time::Instant::now();
            let mut progress = |done: u64, total: u64| {
                if total > 0
                    && (last_shown.elapsed() > std::time::Duration::from_millis(250)
                        || done == total)
                {
                    last_shown = std::time::Instant::now();
                    let width = 40u64;
                    let filled = (done * width / total).min(width);
                    eprint!(
                        "\raudit [{}{}] {done}/{total} leaves",
                        "#".repeat(filled as usize),
                        " ".repeat((width - filled) as usize)
                    );
                    if done == total {
                        eprintln!();
                    }
                }
            };
            let report = domain::audit::audit(&db, &config.ledger_origin, &mut progress)
                .map_err(|e| anyhow::anyhow!("ledger audit FAILED: {e}"))?;
            println!(
                "ledger audit OK: {} leaves, {} subtree hashes, {} checkpoints verified",
                report.leaves, report.nodes, report.checkpoints
            );
        }
        LedgerCommand::Export { dir } => {
            let n = domain::audit::export(&db, &dir)?;
            println!("exported {n} entries to {}", dir.display());
        }
    }
    Ok(())
}

/// Largest presentation, credential or trust document read (1 MiB): far
/// above any real one, and a bound on hostile input.
const MAX_JSON: u64 = 1 << 20;
/// Largest ledger entries page or CRL read (16 MiB).
const MAX_LARGE: u64 = 16 << 20;

/// Reads at most `max` bytes of `path`; a larger file is refused.
fn read_bounded(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let file = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{} is larger than {max} bytes", path.display());
    }
    Ok(bytes)
}

fn read_text(path: &Path, max: u64) -> anyhow::Result<String> {
    String::from_utf8(read_bounded(path, max)?)
        .map_err(|_| anyhow!("{} is not UTF-8 text", path.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, max: u64) -> anyhow::Result<T> {
    serde_json::from_str(&read_text(path, max)?)
        .with_context(|| format!("{} is not the expected JSON", path.display()))
}

/// Reads the holder key; warns when others may read the file.
fn read_holder_key(path: &Path) -> anyhow::Result<HolderKey> {
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot read key {}", path.display()))?;
    let mode = file.metadata().map(|m| m.permissions().mode()).unwrap_or(0);
    if mode & 0o077 != 0 {
        eprintln!(
            "walletctl: warning: key {} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    // A P-256 PKCS#8 PEM is about 240 bytes. The buffer never grows, so no
    // copy of the key is left behind in freed memory.
    let mut pem = Zeroizing::new(String::with_capacity(16 * 1024));
    (&mut file)
        .take(8 * 1024)
        .read_to_string(&mut pem)
        .with_context(|| format!("cannot read key {}", path.display()))?;
    HolderKey::from_pkcs8_pem(&pem).with_context(|| format!("key {}", path.display()))
}

/// Creates `path` with mode 0600 and writes `secret`; never overwrites, and
/// removes a half-written file.
fn write_secret(path: &Path, secret: &[u8]) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => {
                anyhow!("{} already exists; not overwriting a key", path.display())
            }
            _ => anyhow!("cannot create {}: {e}", path.display()),
        })?;
    if let Err(e) = file.write_all(secret).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = fs::remove_file(path);
        bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

/// Writes a public output, refusing to clobber the key it came from.
fn write_public(path: &Path, key: &Path, text: &str) -> anyhow::Result<()> {
    if let (Ok(a), Ok(b)) = (fs::canonicalize(path), fs::canonicalize(key))
        && a == b
    {
        bail!("--out {} is the key file", path.display());
    }
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn holder_command(cmd: HolderCommand) -> anyhow::Result<()> {
    match cmd {
        HolderCommand::Keygen { out } => {
            let mut key = None;
            // About one draw in 2^32 is not a valid scalar; eight in a row
            // means the random source is broken.
            for _ in 0..8 {
                let bytes = Zeroizing::new(
                    service::random::bytes::<32>().context("no randomness from the OS")?,
                );
                match HolderKey::from_scalar(&bytes) {
                    Ok(k) => {
                        key = Some(k);
                        break;
                    }
                    Err(OfflineError::InvalidScalar) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let key = key.context("the OS random source gave no valid P-256 key")?;
            let pem = key.to_pkcs8_pem()?;
            write_secret(&out, pem.as_bytes())?;
            println!(
                "holder key written to {} (PKCS#8 PEM, mode 0600); keep it secret",
                out.display()
            );
            println!("public key SHA-256:");
            println!("{}", key.fingerprint()?);
        }
        HolderCommand::Csr { key: key_path, out } => {
            let key = read_holder_key(&key_path)?;
            write_public(&out, &key_path, &key.csr_pem()?)?;
            println!(
                "certification request for key {} written to {}",
                key.fingerprint()?,
                out.display()
            );
        }
        HolderCommand::Present {
            key: key_path,
            creds,
            audience,
            nonce,
            bundle,
            entries,
            out,
        } => {
            let key = read_holder_key(&key_path)?;
            let held = creds
                .iter()
                .map(|p| read_json::<IssuedCredential>(p, MAX_JSON))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let entries = entries
                .as_deref()
                .map(|p| read_json::<LedgerEntries>(p, MAX_LARGE))
                .transpose()?;
            let issued_at = domain::rfc3339(unix(SystemTime::now()));
            let request = PresentRequest {
                audience: &audience,
                nonce: &nonce,
                issued_at: &issued_at,
                bundle,
                entries: entries.as_ref(),
            };
            let doc = offline::present(&key, &held, &request).map_err(|e| {
                match e.credential_index().and_then(|i| creds.get(i)) {
                    Some(path) => anyhow!("{}: {e}", path.display()),
                    None => anyhow!(e),
                }
            })?;
            let mut text = serde_json::to_string_pretty(&doc)?;
            text.push('\n');
            write_public(&out, &key_path, &text)?;
            println!(
                "presentation of {} credential(s) for {audience:?}{} written to {}",
                doc.credentials.len(),
                if bundle {
                    ", with chain and ledger receipts,"
                } else {
                    ""
                },
                out.display()
            );
        }
    }
    Ok(())
}

/// `verify --offline`: the report on standard output; the exit status says
/// the verdict (0 valid, 1 invalid, 3 valid with revocation not checked),
/// 2 for input that cannot be read.
fn verify_command(args: &VerifyArgs) -> ExitCode {
    const UNREADABLE: u8 = 2;
    let report = (|| -> anyhow::Result<offline::OfflineReport> {
        if !args.offline {
            bail!(
                "walletctl verifies offline only: pass --offline (online verification is \
                 POST /v1/presentations/verify)"
            );
        }
        let trust = TrustStore::from_json(&read_text(&args.trust, MAX_JSON)?)
            .with_context(|| args.trust.display().to_string())?;
        let doc = offline::parse_presentation(&read_text(&args.presentation, MAX_JSON)?)
            .with_context(|| args.presentation.display().to_string())?;
        let crls = args
            .crls
            .iter()
            .map(|p| {
                offline::parse_crl(&read_bounded(p, MAX_LARGE)?)
                    .with_context(|| p.display().to_string())
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let expect = Expectations {
            audience: args.audience.clone(),
            nonce: args.nonce.clone(),
        };
        offline::verify_offline(&trust, &doc, &crls, &expect, SystemTime::now())
            .with_context(|| args.presentation.display().to_string())
    })();
    let printed = report.and_then(|r| {
        println!("{}", serde_json::to_string_pretty(&r)?);
        Ok(r.exit_code())
    });
    match printed {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("walletctl: {e:#}");
            ExitCode::from(UNREADABLE)
        }
    }
}
