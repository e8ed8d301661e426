//! `walletctl`: the ops CLI on the host. Reads the same settings as walletd.
//! `init` runs the key ceremony; `keys` and `staff` manage keys and staff
//! accounts. Output is for people and scripts: `staff add` prints the token
//! alone on the last line.
#![expect(clippy::print_stdout, reason = "a CLI reports on standard output")]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use schema::staff::StaffRole;
use service::config::Config;
use service::domain::ledger::{Ledger, SequencerConfig};
use service::domain::{self, DomainError, ceremony, staff, unix};

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
    /// Disable an account; its token stops working at once.
    Disable {
        /// Account name.
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("walletctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    service::telemetry::init(
        &std::env::var("WALLET_LOG").unwrap_or_else(|_| "warn".into()),
        config.log_format,
    );
    match args.command {
        Command::Init => init(&config),
        Command::Keys(KeysCommand::List) => keys_list(&config),
        Command::Staff(cmd) => staff_command(&config, cmd),
        Command::Ledger(cmd) => ledger_command(&config, cmd),
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
    let ledger = Ledger::new(hsm, db, &config.ledger_origin, SequencerConfig::default());
    while let Some(size) = ledger.integrate(SystemTime::now()).context("ledger")? {
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
