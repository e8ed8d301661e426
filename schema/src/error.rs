//! The storage error type and how backend failures are classified.
//!
//! Policy: every diesel, r2d2 and migration error is wrapped with its source
//! kept, and sorted into the few cases a caller acts on differently:
//!
//! | variant | caller's mapping |
//! |---|---|
//! | [`StorageError::UniqueViolation`] | 409 Conflict (or retry with a fresh random value) |
//! | [`StorageError::Unavailable`] | 503 with Retry-After; the pool recovers by itself |
//! | [`StorageError::ConstraintViolation`] | a bug or bad input that slipped past validation: 4xx/5xx by context |
//! | [`StorageError::InvalidUrl`], [`StorageError::InvalidPoolSize`] | configuration error at start-up |
//! | everything else | 500, details to the log only |
//!
//! Messages never contain the database URL (it may hold a password) nor the
//! values of a failed statement; the database's own message is reachable only
//! through [`std::error::Error::source`], for logs.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Boxed error from a library whose error type is not worth naming here.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database URL is not one this crate accepts (`sqlite://PATH`,
    /// `postgres://...`, `postgresql://...`). The message says why; it
    /// never echoes the URL.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),

    /// The pool size must be at least 1.
    #[error("invalid database pool size {0}: must be at least 1")]
    InvalidPoolSize(u32),

    /// A unique constraint or unique index refused the write.
    ///
    /// `constraint` names it the same way on both backends (the PostgreSQL
    /// constraint or index name from the migrations, e.g.
    /// `keys_one_active_per_purpose`); see [`StorageError::unique_constraint`].
    #[error("unique constraint {constraint} violated")]
    UniqueViolation {
        /// The violated constraint, as named in the PostgreSQL migration.
        constraint: String,
        /// The database's error.
        #[source]
        source: DieselError,
    },

    /// A CHECK, foreign key or NOT NULL constraint refused the write.
    #[error("database constraint violated")]
    ConstraintViolation(#[source] DieselError),

    /// The database cannot be reached right now: no pooled connection within
    /// the timeout, the connection failed or was lost, or SQLite stayed
    /// locked past its busy timeout. Retrying later may succeed.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),

    /// Applying or reverting migrations failed.
    #[error("database migration failed")]
    Migration(#[source] BoxError),

    /// Any other database error.
    #[error("database query failed")]
    Query(#[source] DieselError),
}

impl StorageError {
    /// Whether this is a failure to reach the database (map to 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StorageError::Unavailable(_))
    }

    /// The violated unique constraint's name, when this is a unique violation.
    pub fn unique_constraint(&self) -> Option<&str> {
        match self {
            StorageError::UniqueViolation { constraint, .. } => Some(constraint),
            _ => None,
        }
    }
}

impl From<DieselError> for StorageError {
    fn from(err: DieselError) -> Self {
        match &err {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                let constraint = info
                    .constraint_name()
                    .map(str::to_owned)
                    .or_else(|| sqlite_unique_constraint(info.message()).map(str::to_owned))
                    .unwrap_or_else(|| "unknown".to_owned());
                StorageError::UniqueViolation {
                    constraint,
                    source: err,
                }
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::RestrictViolation
                | DatabaseErrorKind::ExclusionViolation,
                _,
            ) => StorageError::ConstraintViolation(err),
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => StorageError::Unavailable(Box::new(err)),
            DieselError::DatabaseError(_, info) if is_sqlite_busy(info.message()) => {
                StorageError::Unavailable(Box::new(err))
            }
            _ => StorageError::Query(err),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StorageError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        StorageError::Unavailable(Box::new(err))
    }
}

impl From<diesel::ConnectionError> for StorageError {
    fn from(err: diesel::ConnectionError) -> Self {
        StorageError::Unavailable(Box::new(err))
    }
}

impl From<diesel::r2d2::Error> for StorageError {
    fn from(err: diesel::r2d2::Error) -> Self {
        match err {
            diesel::r2d2::Error::ConnectionError(e) => e.into(),
            diesel::r2d2::Error::QueryError(e) => match StorageError::from(e) {
                StorageError::Query(e) => StorageError::Unavailable(Box::new(e)),
                other => other,
            },
        }
    }
}

/// SQLite reports `SQLITE_BUSY` / `SQLITE_LOCKED` (after the busy timeout) as
/// an unclassified error with these messages.
fn is_sqlite_busy(message: &str) -> bool {
    message.starts_with("database is locked") || message.starts_with("database table is locked")
}

/// SQLite names the columns, not the constraint: `UNIQUE constraint failed:
/// keys.purpose`. Map the column lists of this schema to the names the
/// PostgreSQL migration gives the same constraints, so callers see one name
/// on both backends. Kept in step with the migrations by a test that lists
/// PostgreSQL's unique indexes.
pub(crate) fn sqlite_unique_constraint(message: &str) -> Option<&'static str> {
    let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
    SQLITE_UNIQUE_COLUMNS
        .iter()
        .find(|(cols, _)| *cols == columns)
        .map(|(_, name)| *name)
}

/// (SQLite's column list, PostgreSQL constraint name) for every unique
/// constraint and unique index in the migrations.
pub(crate) const SQLITE_UNIQUE_COLUMNS: &[(&str, &str)] = &[
    ("challenges.nonce", "challenges_pkey"),
    ("credentials.serial", "credentials_pkey"),
    ("credentials.cert_sha256", "credentials_cert_sha256_key"),
    (
        "credentials.license_type, credentials.license_number",
        "credentials_license_type_license_number_key",
    ),
    ("crls.issuer_key_id, crls.crl_number", "crls_pkey"),
    ("identities.id", "identities_pkey"),
    ("identities.dedup_hmac", "identities_one_active_per_person"),
    ("issuance_intents.serial", "issuance_intents_pkey"),
    (
        "issuance_intents.license_type, issuance_intents.license_number",
        "issuance_intents_license_type_license_number_key",
    ),
    ("key_certificates.id", "key_certificates_pkey"),
    (
        "key_certificates.cert_sha256",
        "key_certificates_cert_sha256_key",
    ),
    ("key_rotation_requests.id", "key_rotation_requests_pkey"),
    (
        "key_rotation_requests.purpose",
        "key_rotation_requests_one_open",
    ),
    ("keys.id", "keys_pkey"),
    ("keys.key_id", "keys_key_id_key"),
    ("keys.label", "keys_label_key"),
    (
        "keys.purpose, keys.generation",
        "keys_purpose_generation_key",
    ),
    ("keys.purpose", "keys_one_active_per_purpose"),
    ("ledger_checkpoints.tree_size", "ledger_checkpoints_pkey"),
    ("ledger_leaves.leaf_index", "ledger_leaves_pkey"),
    ("ledger_leaves.leaf_hash", "ledger_leaves_leaf_hash_key"),
    (
        "ledger_nodes.level, ledger_nodes.node_index",
        "ledger_nodes_pkey",
    ),
    ("ledger_queue.id", "ledger_queue_pkey"),
    ("ledger_queue.leaf_hash", "ledger_queue_leaf_hash_key"),
    (
        "ocsp_responders.issuer_key_id, ocsp_responders.responder_key_id",
        "ocsp_responders_pkey",
    ),
    ("staff.id", "staff_pkey"),
    ("staff.name", "staff_name_key"),
    ("staff.token_hash", "staff_token_hash_key"),
];

/// A value that is not a well-formed identifier or enum value of its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {value:?}")]
pub struct InvalidId {
    kind: &'static str,
    value: String,
}

impl InvalidId {
    pub(crate) fn new(kind: &'static str, value: &str) -> Self {
        // Bound what an untrusted value can put into logs.
        let value = value.chars().take(80).collect();
        Self { kind, value }
    }

    /// The name of the type that refused the value (e.g. `Serial`).
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::{is_sqlite_busy, sqlite_unique_constraint};

    #[test]
    fn sqlite_messages_map_to_postgres_names() {
        assert_eq!(
            sqlite_unique_constraint("UNIQUE constraint failed: keys.purpose"),
            Some("keys_one_active_per_purpose")
        );
        assert_eq!(
            sqlite_unique_constraint(
                "UNIQUE constraint failed: credentials.license_type, credentials.license_number"
            ),
            Some("credentials_license_type_license_number_key")
        );
        assert_eq!(
            sqlite_unique_constraint("UNIQUE constraint failed: x.y"),
            None
        );
        assert_eq!(sqlite_unique_constraint("something else"), None);
        assert!(is_sqlite_busy("database is locked"));
        assert!(!is_sqlite_busy("no such table: keys"));
    }
}
