//! Domain services of the wallet, free of HTTP: the key ceremony, the trust
//! document, staff accounts, readiness. Every function here blocks (HSM and
//! database calls) and takes the current time as a parameter; the HTTP layer
//! runs them on the blocking pool.

pub mod audit;
pub mod ceremony;
pub mod issuance;
pub mod ledger;
pub mod national_id;
pub mod nonce;
pub mod offline;
pub mod revocation;
pub mod rotation;
pub mod staff;
pub mod trust;
pub mod verification;

use std::time::{SystemTime, UNIX_EPOCH};

use pkcs11_bridge::{Hsm, HsmError};
use schema::{Database, StorageError};

/// Errors of the domain layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The HSM or the database is (temporarily) unavailable.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The thing asked for does not exist; `kind` is the stable problem slug.
    #[error("{detail}")]
    NotFound {
        /// Problem slug, e.g. `identity-not-found`.
        kind: &'static str,
        /// Human-readable detail.
        detail: String,
    },
    /// The request conflicts with existing state.
    #[error("{detail}")]
    Conflict {
        /// Problem slug, e.g. `identity-exists`.
        kind: &'static str,
        /// Human-readable detail.
        detail: String,
        /// The identity the conflict is about, when there is one.
        identity_id: Option<String>,
    },
    /// Well-formed input that breaks a rule (422).
    #[error("{detail}")]
    Invalid {
        /// Problem slug, e.g. `unsupported-key`.
        kind: &'static str,
        /// Human-readable detail.
        detail: String,
    },
    /// Input that cannot be parsed at all (400).
    #[error("{detail}")]
    Malformed {
        /// Problem slug, e.g. `malformed-csr`.
        kind: &'static str,
        /// Human-readable detail.
        detail: String,
    },
    /// The caller may not do this (wrong role or department).
    #[error("{0}")]
    Forbidden(String),
    /// An HSM failure that is not a transient outage.
    #[error("HSM: {0}")]
    Hsm(HsmError),
    /// A storage failure that is not a transient outage.
    #[error("storage: {0}")]
    Storage(StorageError),
    /// Building or parsing a certificate failed.
    #[error("certificate: {0}")]
    Cert(#[from] certs::CertError),
    /// The token and the database disagree; a human must look.
    #[error("inconsistent state: {0}")]
    Inconsistent(String),
    /// The issuing CA key was retired while a certificate was being signed
    /// with it; the certificate was discarded and the issuance may be run
    /// again with the new key.
    #[error("the issuing key was rotated while signing")]
    IssuerRotated,
    /// The OS could not provide random bytes.
    #[error("no randomness available: {0}")]
    Random(String),
}

impl From<HsmError> for DomainError {
    fn from(e: HsmError) -> Self {
        if e.is_unavailable() {
            DomainError::Unavailable(format!("HSM: {e}"))
        } else {
            DomainError::Hsm(e)
        }
    }
}

impl From<StorageError> for DomainError {
    fn from(e: StorageError) -> Self {
        if e.is_unavailable() {
            DomainError::Unavailable(format!("database: {e}"))
        } else {
            DomainError::Storage(e)
        }
    }
}

impl From<schema::DieselError> for DomainError {
    fn from(e: schema::DieselError) -> Self {
        StorageError::from(e).into()
    }
}

impl From<getrandom::Error> for DomainError {
    fn from(e: getrandom::Error) -> Self {
        DomainError::Random(e.to_string())
    }
}

impl DomainError {
    /// A 422 with slug `kind`.
    pub fn invalid(kind: &'static str, detail: impl Into<String>) -> Self {
        DomainError::Invalid {
            kind,
            detail: detail.into(),
        }
    }

    /// A 404 with slug `kind`.
    pub fn not_found(kind: &'static str, detail: impl Into<String>) -> Self {
        DomainError::NotFound {
            kind,
            detail: detail.into(),
        }
    }

    /// A 409 with slug `kind`.
    pub fn conflict(kind: &'static str, detail: impl Into<String>) -> Self {
        DomainError::Conflict {
            kind,
            detail: detail.into(),
            identity_id: None,
        }
    }
}

/// Seconds since the Unix epoch (0 for times before it).
pub fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// RFC 3339 UTC text (`2026-11-21T07:06:00Z`) of Unix seconds.
pub fn rfc3339(unix_secs: i64) -> String {
    // Days-from-civil inverse (H. Hinnant), valid for the whole i64 day range we use.
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Readiness: the database answers and an HSM session is logged in.
pub fn readiness(db: &Database, hsm: &Hsm) -> Result<(), DomainError> {
    db.ping()
        .map_err(|e| DomainError::Unavailable(format!("database: {e}")))?;
    hsm.check()
        .map_err(|e| DomainError::Unavailable(format!("HSM: {e}")))?;
    // An active key missing from the token (a token restored from a backup
    // older than a rotation) fails every request that needs it: not ready.
    let active = schema::keys::list_all(&mut *db.conn()?)?
        .into_iter()
        .filter(|k| k.state == schema::keys::KeyState::Active);
    for key in active {
        // By id: a fresh search of the token, not the cached handle.
        let id = hex::decode(key.key_id.as_str())
            .map_err(|e| DomainError::Inconsistent(format!("key id {}: {e}", key.key_id)))?;
        let found = hsm
            .find_key_by_id(&id)
            .map_err(|e| DomainError::Unavailable(format!("HSM: {e}")))?;
        if found.is_none_or(|k| k.label != key.label) {
            return Err(DomainError::Unavailable(format!(
                "HSM: the token does not hold active key {}",
                key.label
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(2_524_608_000), "2050-01-01T00:00:00Z");
    }
}
