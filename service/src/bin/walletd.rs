//! `walletd`: the OneVisit Wallet HTTP daemon. Checks its configuration, the
//! HSM, the database and the TLS material before the port opens; a problem is
//! one line on standard error and a non-zero exit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use clap::Parser;
use service::config::Config;
use service::domain::issuance::{INTENT_GRACE, Issuer};
use service::domain::ledger::{Ledger, SequencerConfig};
use service::domain::staff::Authenticator;
use service::http::{AppState, metrics::Metrics, serve};

/// OneVisit Wallet daemon.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TOML configuration file; `WALLET_*` environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("walletd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    service::telemetry::init(&config.log, config.log_format);
    let tls = config
        .tls
        .as_ref()
        .map(service::tls::server_config)
        .transpose()?;
    let (hsm, db) = service::open_backends(&config)?;
    let has_root =
        schema::keys::active(&mut *db.conn()?, schema::keys::KeyPurpose::Root)?.is_some();
    if !has_root {
        bail!("no active root key in the database: run `walletctl init` first");
    }
    let catalog = Arc::new(service::load_catalog(&config)?);
    // Renew the short-lived OCSP responder certificates before they lapse.
    service::domain::ceremony::ensure_responders(&hsm, &db, SystemTime::now(), &mut || {
        Ok(service::random::bytes::<16>()?)
    })
    .context("OCSP responder certificates (run `walletctl init` to finish the key ceremony)")?;
    let issuer = Arc::new(Issuer::new(
        Arc::clone(&hsm),
        db.clone(),
        catalog,
        &config.public_url,
    ));
    let resolved = issuer
        .resolve_unfinished(SystemTime::now(), INTENT_GRACE)
        .context("resolving unfinished issuances")?;
    if resolved > 0 {
        tracing::warn!(
            resolved,
            "unfinished issuance intents from an earlier run resolved as abandoned"
        );
    }
    // Intents younger than the grace period may belong to another instance's
    // request in flight; a background sweep resolves them once they are stale.
    // It holds only a weak reference, so shutdown still drops (and finalises)
    // the HSM connection.
    let sweeper = Arc::downgrade(&issuer);
    std::thread::Builder::new().name("intent-sweeper".into()).spawn(move || {
        loop {
            std::thread::sleep(INTENT_GRACE / 2);
            let Some(issuer) = sweeper.upgrade() else { return };
            if let Err(e) = issuer.resolve_unfinished(SystemTime::now(), INTENT_GRACE) {
                tracing::warn!(error = %e, "sweeping unfinished issuance intents failed; will retry");
            }
        }
    })?;
    let ledger = Arc::new(Ledger::new(
        Arc::clone(&hsm),
        db.clone(),
        &config.ledger_origin,
        SequencerConfig {
            batch_max: config.ledger_batch_max,
            batch_delay: Duration::from_millis(config.ledger_batch_delay_ms),
        },
    ));
    // Group commits sequence their own entries in the same transaction. The
    // sequencer thread integrates the rest (writes outside group commits,
    // and batches that found another transaction sequencing) whenever woken,
    // and every 200 ms to pick up entries other instances queued. On
    // PostgreSQL the database lock makes sure only one transaction
    // integrates at a time.
    if config.ledger_in_commit {
        ledger.sequence_group_commits();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sequencer = {
        let (ledger, stop) = (Arc::clone(&ledger), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("ledger-sequencer".into())
            .spawn(move || {
                ledger.run(Duration::from_millis(200), &|| {
                    !stop.load(Ordering::Relaxed)
                })
            })?
    };
    let state = AppState {
        config: Arc::new(config),
        staff: Arc::new(Authenticator::new(db.clone())),
        db,
        hsm,
        metrics: Arc::new(Metrics::new()),
        issuer,
        ledger,
    };
    let listen = state.config.listen;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let served = actix_web::rt::System::new().block_on(async move {
        let server = serve(state, tls).with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(%listen, scheme, "walletd listening");
        server.await.context("server")
    });
    stop.store(true, Ordering::Relaxed);
    let _ = sequencer.join();
    served?;
    tracing::info!("walletd stopped");
    Ok(())
}
