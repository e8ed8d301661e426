//! The OneVisit Wallet application: configuration, domain services (key
//! ceremony, trust document, staff), the actix-web HTTP API, and the pieces
//! the `walletd` and `walletctl` binaries share.
#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod http;
pub mod random;
pub mod telemetry;
pub mod tls;

use std::sync::Arc;

/// Why the service could not start; each is one line naming the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The configuration is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The HSM could not be opened (module, token label, PIN).
    #[error("HSM: {0}")]
    Hsm(#[from] pkcs11_bridge::HsmError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] schema::StorageError),
    /// A directory for the SQLite file could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The licence catalog is unreadable or invalid.
    #[error("catalog {path}: {message}")]
    Catalog {
        /// Where it was read from.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The TLS material is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Database connections per process: enough for the blocking pool's
/// concurrent handlers without exhausting a shared PostgreSQL.
const POOL_SIZE: u32 = 16;

/// Opens the HSM and the database from `config`, the start-up sequence
/// common to both binaries.
pub fn open_backends(
    config: &config::Config,
) -> Result<(Arc<pkcs11_bridge::Hsm>, schema::Database), StartupError> {
    let hsm = pkcs11_bridge::Hsm::open(config.hsm()?)?;
    let db = open_database(config, POOL_SIZE)?;
    Ok((Arc::new(hsm), db))
}

/// Opens (and migrates) the database, creating the SQLite file's directory
/// on first use.
pub fn open_database(
    config: &config::Config,
    pool_size: u32,
) -> Result<schema::Database, StartupError> {
    let sqlite_dir = config
        .database_url
        .strip_prefix("sqlite://")
        .and_then(|path| std::path::Path::new(path).parent())
        .filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = sqlite_dir {
        std::fs::create_dir_all(dir).map_err(|source| StartupError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(schema::Database::connect(&config.database_url, pool_size)?)
}

/// Loads the licence catalog: `WALLET_CATALOG` when set (it must then be
/// readable), else `certs/catalog.toml` in the working directory when it
/// exists, else the catalog built into the binary, so walletd started from
/// anywhere (systemd, a container) has one.
pub fn load_catalog(config: &config::Config) -> Result<certs::catalog::Catalog, StartupError> {
    let default = std::path::Path::new("certs/catalog.toml");
    let (path, text) = match &config.catalog {
        Some(p) => (p.display().to_string(), read_catalog(p)?),
        None if default.exists() => (default.display().to_string(), read_catalog(default)?),
        None => ("(built in)".to_owned(), certs::catalog::BUILT_IN.to_owned()),
    };
    let catalog = certs::catalog::Catalog::from_toml(&text).map_err(|e| StartupError::Catalog {
        path: path.clone(),
        message: e.to_string(),
    })?;
    tracing::info!(catalog = %path, "licence catalog loaded");
    Ok(catalog)
}

fn read_catalog(path: &std::path::Path) -> Result<String, StartupError> {
    std::fs::read_to_string(path).map_err(|e| StartupError::Catalog {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
