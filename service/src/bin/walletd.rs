//! `walletd`: the OneVisit Wallet HTTP daemon. Checks its configuration, the
//! HSM, the database and the TLS material before the port opens; a problem is
//! one line on standard error and a non-zero exit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Parser;
use service::config::Config;
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
    let state = AppState {
        config: Arc::new(config),
        db,
        hsm,
        metrics: Arc::new(Metrics::new()),
    };
    let listen = state.config.listen;
    let scheme = if tls.is_some() { "https" } else { "http" };
    actix_web::rt::System::new().block_on(async move {
        let server = serve(state, tls).with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(%listen, scheme, "walletd listening");
        server.await.context("server")?;
        tracing::info!("walletd stopped");
        Ok(())
    })
}
