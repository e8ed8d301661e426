//! Settings of `walletd` and `walletctl`: one TOML file with `WALLET_*`
//! environment variables over it (environment wins), parsed and checked
//! before anything starts, so a bad setting is one clear error line.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pkcs11_bridge::Pin;
use serde::Deserialize;

/// Debian's SoftHSM2 module, the default PKCS#11 module.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Errors found while reading or checking the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (unknown keys are errors).
        message: String,
    },
    /// A setting has an invalid value.
    #[error("invalid setting {name}: {message}")]
    Invalid {
        /// `WALLET_*` name of the setting.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The PIN file could not be read.
    #[error("cannot read PIN file {path}: {source}")]
    PinFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The TOML file's shape; every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    database_url: Option<String>,
    pkcs11_module: Option<PathBuf>,
    token_label: Option<String>,
    pin_file: Option<PathBuf>,
    catalog: Option<PathBuf>,
    ledger_origin: Option<String>,
    ledger_batch_max: Option<usize>,
    ledger_batch_delay_ms: Option<u64>,
    ledger_in_commit: Option<bool>,
    receipt_timeout_ms: Option<u64>,
    rotation_request_ttl_secs: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    log: Option<String>,
    log_format: Option<String>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// TLS settings: certificate chain and key, and optionally the CA that
/// client certificates (staff mTLS) must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates for client authentication.
    pub client_ca: Option<PathBuf>,
}

/// Where the PIN comes from. The PIN itself is read only when the HSM is
/// opened, so it is never part of a value that gets printed.
#[derive(Debug, Clone)]
pub enum PinSource {
    /// `WALLET_PIN_FILE` / `pin_file`.
    File(PathBuf),
    /// `WALLET_PIN`.
    Inline(Pin),
    /// Not configured.
    None,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address walletd binds.
    pub listen: SocketAddr,
    /// Base URL written into certificates (no trailing slash).
    pub public_url: String,
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// PKCS#11 module path.
    pub pkcs11_module: PathBuf,
    /// Token label.
    pub token_label: String,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// Licence catalog file; `None` means `certs/catalog.toml` when it
    /// exists, else the copy built into the binary.
    pub catalog: Option<PathBuf>,
    /// Checkpoint origin line.
    pub ledger_origin: String,
    /// Most ledger entries per batch (one HSM signature each batch).
    pub ledger_batch_max: usize,
    /// How long the sequencer lets entries gather once woken, in ms.
    pub ledger_batch_delay_ms: u64,
    /// Whether each group commit sequences the entries it stores, in the
    /// same transaction (else only the sequencer thread does).
    pub ledger_in_commit: bool,
    /// How long an issuance waits for its receipt before answering 503, in ms.
    pub receipt_timeout_ms: u64,
    /// How long a root rotation request waits for a second ops user, in s.
    pub rotation_request_ttl_secs: u64,
    /// HTTPS, when configured.
    pub tls: Option<TlsConfig>,
    /// Tracing filter.
    pub log: String,
    /// Log format.
    pub log_format: LogFormat,
}

impl Config {
    /// Reads `file` (if given) and overlays the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("WALLET_"))
            .collect();
        Self::from_sources(file, &env)
    }

    /// Reads `file` (if given) and overlays `env`; the pure core of [`Config::load`].
    pub fn from_sources(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let f = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.message().to_owned(),
                })?
            }
            None => FileConfig::default(),
        };
        let get = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();

        let listen_text = get("WALLET_LISTEN")
            .or(f.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError::Invalid {
            name: "WALLET_LISTEN",
            message: format!("{listen_text:?} is not an address like 127.0.0.1:8080"),
        })?;

        let tls_cert = get("WALLET_TLS_CERT").map(PathBuf::from).or(f.tls_cert);
        let tls_key = get("WALLET_TLS_KEY").map(PathBuf::from).or(f.tls_key);
        let tls_client_ca = get("WALLET_TLS_CLIENT_CA")
            .map(PathBuf::from)
            .or(f.tls_client_ca);
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert,
                key,
                client_ca: tls_client_ca,
            }),
            (None, None) if tls_client_ca.is_none() => None,
            (None, None) => {
                return Err(ConfigError::Invalid {
                    name: "WALLET_TLS_CLIENT_CA",
                    message: "needs WALLET_TLS_CERT and WALLET_TLS_KEY".into(),
                });
            }
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    name: "WALLET_TLS_KEY",
                    message: "missing (WALLET_TLS_CERT is set)".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "WALLET_TLS_CERT",
                    message: "missing (WALLET_TLS_KEY is set)".into(),
                });
            }
        };

        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = get("WALLET_PUBLIC_URL")
            .or(f.public_url)
            .unwrap_or_else(|| format!("{scheme}://{listen}"));
        let public_url = public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.contains(char::is_whitespace)
        {
            return Err(ConfigError::Invalid {
                name: "WALLET_PUBLIC_URL",
                message: format!("{public_url:?} is not an http(s) URL"),
            });
        }

        let database_url = get("WALLET_DATABASE_URL")
            .or(f.database_url)
            .unwrap_or_else(|| "sqlite://data/wallet.db".into());
        let valid_db = database_url
            .strip_prefix("sqlite://")
            .map(|p| !p.is_empty())
            .unwrap_or(false)
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://");
        if !valid_db {
            return Err(ConfigError::Invalid {
                name: "WALLET_DATABASE_URL",
                message: "must be sqlite://PATH or postgres://...".into(),
            });
        }

        let pin = match (
            get("WALLET_PIN_FILE").map(PathBuf::from).or(f.pin_file),
            env.get("WALLET_PIN"),
        ) {
            (Some(path), _) => PinSource::File(path),
            (None, Some(pin)) if !pin.trim().is_empty() => PinSource::Inline(Pin::new(pin)),
            _ => PinSource::None,
        };

        let token_label = get("WALLET_TOKEN_LABEL")
            .or(f.token_label)
            .unwrap_or_else(|| "onevisit".into());
        if token_label.len() > 32 {
            return Err(ConfigError::Invalid {
                name: "WALLET_TOKEN_LABEL",
                message: "PKCS#11 token labels are at most 32 bytes".into(),
            });
        }
        let ledger_origin = get("WALLET_LEDGER_ORIGIN")
            .or(f.ledger_origin)
            .unwrap_or_else(|| "onevisit.local/ledger".into());
        // The origin is the checkpoint's first line and the signed-note key
        // name: one line, no spaces or '+' (C2SP signed-note key names).
        // Caught here, not by a sequencer that could never sign.
        if !ledger::checkpoint::is_valid_key_name(&ledger_origin) {
            return Err(ConfigError::Invalid {
                name: "WALLET_LEDGER_ORIGIN",
                message: format!(
                    "{ledger_origin:?} is not a valid checkpoint origin (one line, no spaces or '+')"
                ),
            });
        }
        let number = |name: &'static str,
                      file: Option<u64>,
                      default: u64,
                      max: u64|
         -> Result<u64, ConfigError> {
            let v = match get(name) {
                Some(text) => text.parse::<u64>().map_err(|_| ConfigError::Invalid {
                    name,
                    message: format!("{text:?} is not a whole number"),
                })?,
                None => file.unwrap_or(default),
            };
            if v == 0 || v > max {
                return Err(ConfigError::Invalid {
                    name,
                    message: format!("must be 1 to {max}"),
                });
            }
            Ok(v)
        };
        let ledger_batch_max = number(
            "WALLET_LEDGER_BATCH_MAX",
            f.ledger_batch_max.map(|v| v as u64),
            1024,
            100_000,
        )? as usize;
        let ledger_batch_delay_ms = number(
            "WALLET_LEDGER_BATCH_DELAY_MS",
            f.ledger_batch_delay_ms,
            5,
            10_000,
        )?;
        let ledger_in_commit = match get("WALLET_LEDGER_IN_COMMIT").as_deref() {
            None => f.ledger_in_commit.unwrap_or(true),
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "WALLET_LEDGER_IN_COMMIT",
                    message: format!("{other:?} is neither \"true\" nor \"false\""),
                });
            }
        };
        let receipt_timeout_ms = number(
            "WALLET_RECEIPT_TIMEOUT_MS",
            f.receipt_timeout_ms,
            10_000,
            600_000,
        )?;
        let rotation_request_ttl_secs = number(
            "WALLET_ROTATION_REQUEST_TTL_SECS",
            f.rotation_request_ttl_secs,
            3600,
            7 * 86_400,
        )?;
        let log_format = match get("WALLET_LOG_FORMAT").or(f.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "WALLET_LOG_FORMAT",
                    message: format!("{other:?} is neither \"text\" nor \"json\""),
                });
            }
        };

        Ok(Self {
            listen,
            public_url,
            database_url,
            pkcs11_module: get("WALLET_PKCS11_MODULE")
                .map(PathBuf::from)
                .or(f.pkcs11_module)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE)),
            token_label,
            pin,
            catalog: get("WALLET_CATALOG").map(PathBuf::from).or(f.catalog),
            ledger_origin,
            ledger_batch_max,
            ledger_batch_delay_ms,
            ledger_in_commit,
            receipt_timeout_ms,
            rotation_request_ttl_secs,
            tls,
            log: get("WALLET_LOG").or(f.log).unwrap_or_else(|| "info".into()),
            log_format,
        })
    }

    /// The user PIN, read from its file now (so a rotated PIN file is picked
    /// up on restart) or taken from the environment.
    pub fn read_pin(&self) -> Result<Pin, ConfigError> {
        let pin = match &self.pin {
            PinSource::File(path) => {
                let text =
                    zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                        ConfigError::PinFile {
                            path: path.clone(),
                            source,
                        }
                    })?);
                Pin::new(&text)
            }
            PinSource::Inline(pin) => pin.clone(),
            PinSource::None => {
                return Err(ConfigError::Invalid {
                    name: "WALLET_PIN",
                    message: "no user PIN: set WALLET_PIN_FILE or WALLET_PIN".into(),
                });
            }
        };
        if pin.is_empty() {
            return Err(ConfigError::Invalid {
                name: "WALLET_PIN_FILE",
                message: "the PIN is empty".into(),
            });
        }
        Ok(pin)
    }

    /// The HSM settings with the PIN read.
    pub fn hsm(&self) -> Result<pkcs11_bridge::HsmConfig, ConfigError> {
        Ok(pkcs11_bridge::HsmConfig {
            module: self.pkcs11_module.clone(),
            token_label: self.token_label.clone(),
            pin: self.read_pin()?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://data/wallet.db");
        assert_eq!(c.pkcs11_module, PathBuf::from(DEFAULT_MODULE));
        assert_eq!(c.token_label, "onevisit");
        assert_eq!(c.ledger_origin, "onevisit.local/ledger");
        assert_eq!(c.catalog, None);
        assert!(c.tls.is_none());
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(matches!(c.pin, PinSource::None));
        assert!(c.read_pin().is_err());
    }

    #[test]
    fn environment_wins_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ntoken_label = \"file\"\nlog_format = \"json\"\n",
        )
        .unwrap();
        let c =
            Config::from_sources(Some(&file), &env(&[("WALLET_TOKEN_LABEL", "envlabel")])).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.token_label, "envlabel");
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.public_url, "http://127.0.0.1:9000");
    }

    #[test]
    fn pin_file_wins_over_pin_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, "from-file\n").unwrap();
        let c = Config::from_sources(
            None,
            &env(&[
                ("WALLET_PIN", "from-env"),
                ("WALLET_PIN_FILE", pin_file.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert!(matches!(c.pin, PinSource::File(_)));
        c.read_pin().unwrap();
        let c = Config::from_sources(None, &env(&[("WALLET_PIN", "from-env")])).unwrap();
        assert!(
            !format!("{c:?}").contains("from-env"),
            "PIN must not appear in Debug"
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "listn = \"x\"\n").unwrap();
        let e = Config::from_sources(Some(&file), &env(&[])).unwrap_err();
        assert!(e.to_string().contains("listn"), "{e}");
        std::fs::write(&file, "listen = [\n").unwrap();
        assert!(matches!(
            Config::from_sources(Some(&file), &env(&[])),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            Config::from_sources(Some(&dir.path().join("missing.toml")), &env(&[])),
            Err(ConfigError::Read { .. })
        ));
        for (k, v) in [
            ("WALLET_LISTEN", "nowhere"),
            ("WALLET_DATABASE_URL", "mysql://x"),
            ("WALLET_PUBLIC_URL", "ftp://x"),
            ("WALLET_TLS_CERT", "/tmp/c.pem"),
            ("WALLET_LOG_FORMAT", "xml"),
            ("WALLET_LEDGER_ORIGIN", "has spaces"),
            ("WALLET_LEDGER_ORIGIN", "a+b"),
            (
                "WALLET_TOKEN_LABEL",
                "a-label-that-is-longer-than-thirty-two-bytes",
            ),
        ] {
            let e = Config::from_sources(None, &env(&[(k, v)])).unwrap_err();
            assert!(matches!(e, ConfigError::Invalid { .. }), "{k}: {e}");
        }
        let e = Config::from_sources(None, &env(&[("WALLET_PIN_FILE", "/nonexistent/pin")]))
            .unwrap()
            .read_pin()
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/pin"), "{e}");
    }
}
