//! The `keys` table: every key the service holds in the HSM, with its
//! purpose, generation, lifecycle state and (for key pairs) public key and
//! certificate.
//!
//! The database guarantees at most one `active` key per purpose (partial
//! unique index `keys_one_active_per_purpose`), unique labels
//! (`onevisit/<purpose>/<generation>`) and unique key ids. Rotation retires
//! the old key before activating the new one, in one [`write_transaction`].
//!
//! [`write_transaction`]: crate::write_transaction

use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::ids::{KeyId, KeyRowId, text_enum};
use crate::schema::keys;

text_enum! {
    /// What a key is for; also the middle part of its label.
    pub enum KeyPurpose {
        /// Self-signed root CA.
        Root => "root",
        /// Issues identity certificates.
        IdentityCa => "identity-ca",
        /// Issues licence certificates.
        LicenseCa => "license-ca",
        /// Delegated OCSP responder.
        Ocsp => "ocsp",
        /// Signs ledger checkpoints.
        Ledger => "ledger",
        /// HMAC secret for identity deduplication (no public key).
        DedupHmac => "dedup-hmac",
        /// Issues staff client certificates (mTLS).
        StaffCa => "staff-ca",
    }
}

impl KeyPurpose {
    /// The token label of generation `generation` of this purpose:
    /// `onevisit/<purpose>/<generation>` (the database checks this form).
    pub fn label(self, generation: i32) -> String {
        format!("onevisit/{}/{generation}", self.as_str())
    }
}

text_enum! {
    /// Lifecycle of a key.
    pub enum KeyState {
        /// Generated, not yet in use (e.g. awaiting its certificate).
        Pending => "pending",
        /// The one key of its purpose that signs now.
        Active => "active",
        /// No longer signs; what it signed still verifies.
        Retired => "retired",
        /// Removed from the token.
        Destroyed => "destroyed",
    }
}

impl KeyState {
    /// The states a key may move to `self` from.
    fn predecessors(self) -> &'static [KeyState] {
        match self {
            KeyState::Pending => &[],
            KeyState::Active => &[KeyState::Pending],
            KeyState::Retired => &[KeyState::Active],
            KeyState::Destroyed => &[KeyState::Pending, KeyState::Retired],
        }
    }
}

/// A row of `keys`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = keys)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Key {
    /// Row id.
    pub id: KeyRowId,
    /// What the key is for.
    pub purpose: KeyPurpose,
    /// The `n` in the label `onevisit/<purpose>/<n>`.
    pub generation: i32,
    /// SKI of the key pair (= CKA_ID), or the HMAC secret's check value.
    pub key_id: KeyId,
    /// CKA_LABEL in the token.
    pub label: String,
    /// Lifecycle state.
    pub state: KeyState,
    /// DER SubjectPublicKeyInfo; `None` for the HMAC secret.
    pub spki: Option<Vec<u8>>,
    /// DER certificate of the key, when it has one.
    pub certificate: Option<Vec<u8>>,
    /// Certificate validity start (unix seconds).
    pub not_before: Option<i64>,
    /// Certificate validity end (unix seconds).
    pub not_after: Option<i64>,
    /// When the key was generated.
    pub created_at: i64,
    /// When it became active.
    pub activated_at: Option<i64>,
    /// When it was retired.
    pub retired_at: Option<i64>,
}

/// A key to record.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = keys)]
pub struct NewKey {
    /// What the key is for.
    pub purpose: KeyPurpose,
    /// The `n` in the label.
    pub generation: i32,
    /// SKI, or the HMAC secret's check value.
    pub key_id: KeyId,
    /// Must equal `purpose.label(generation)`; see [`KeyPurpose::label`].
    pub label: String,
    /// Initial state (`pending`, or `active` with `activated_at` set).
    pub state: KeyState,
    /// DER SubjectPublicKeyInfo (`None` for the HMAC secret).
    pub spki: Option<Vec<u8>>,
    /// DER certificate.
    pub certificate: Option<Vec<u8>>,
    /// Certificate validity start.
    pub not_before: Option<i64>,
    /// Certificate validity end.
    pub not_after: Option<i64>,
    /// When the key was generated.
    pub created_at: i64,
    /// When it became active (required when `state` is active).
    pub activated_at: Option<i64>,
}

/// Records a key. A second active key of one purpose, a reused label, key id
/// or (purpose, generation) is a [`StorageError::UniqueViolation`].
pub fn insert(conn: &mut DbConnection, new: &NewKey) -> Result<Key, StorageError> {
    Ok(diesel::insert_into(keys::table)
        .values(new)
        // `as_returning()` does not compile for the MultiConnection backend;
        // the row struct lists the columns in table order instead.
        .returning(keys::all_columns)
        .get_result::<Key>(conn)?)
}

/// Every key, ordered by purpose then generation.
pub fn list_all(conn: &mut DbConnection) -> Result<Vec<Key>, StorageError> {
    Ok(keys::table
        .order((keys::purpose.asc(), keys::generation.asc()))
        .select(Key::as_select())
        .load(conn)?)
}

/// The active key of `purpose`, if any.
pub fn active(conn: &mut DbConnection, purpose: KeyPurpose) -> Result<Option<Key>, StorageError> {
    Ok(keys::table
        .filter(keys::purpose.eq(purpose))
        .filter(keys::state.eq(KeyState::Active))
        .select(Key::as_select())
        .first(conn)
        .optional()?)
}

/// The key with token label `label`.
pub fn by_label(conn: &mut DbConnection, label: &str) -> Result<Option<Key>, StorageError> {
    Ok(keys::table
        .filter(keys::label.eq(label))
        .select(Key::as_select())
        .first(conn)
        .optional()?)
}

/// The key with key id `key_id`.
pub fn by_key_id(conn: &mut DbConnection, key_id: &KeyId) -> Result<Option<Key>, StorageError> {
    Ok(keys::table
        .filter(keys::key_id.eq(key_id))
        .select(Key::as_select())
        .first(conn)
        .optional()?)
}

/// The highest generation recorded for `purpose` (the next key gets one
/// more), or `None` when there is none.
pub fn latest_generation(
    conn: &mut DbConnection,
    purpose: KeyPurpose,
) -> Result<Option<i32>, StorageError> {
    Ok(keys::table
        .filter(keys::purpose.eq(purpose))
        .select(diesel::dsl::max(keys::generation))
        .first(conn)?)
}

/// Moves key `id` to `state` at time `at`, setting `activated_at` (active)
/// or `retired_at` (retired). Allowed moves: pending → active → retired →
/// destroyed, and pending → destroyed.
///
/// Returns `false` when no key `id` is in a state that may move to `state`.
/// Activating while another key of the purpose is active is a
/// [`StorageError::UniqueViolation`] (`keys_one_active_per_purpose`): retire
/// the old key first, in the same transaction.
pub fn set_state(
    conn: &mut DbConnection,
    id: KeyRowId,
    state: KeyState,
    at: i64,
) -> Result<bool, StorageError> {
    let from = state.predecessors();
    if from.is_empty() {
        return Ok(false);
    }
    let target = keys::table
        .filter(keys::id.eq(id))
        .filter(keys::state.eq_any(from));
    let changed = match state {
        KeyState::Active => diesel::update(target)
            .set((keys::state.eq(state), keys::activated_at.eq(Some(at))))
            .execute(conn)?,
        KeyState::Retired => diesel::update(target)
            .set((keys::state.eq(state), keys::retired_at.eq(Some(at))))
            .execute(conn)?,
        _ => diesel::update(target)
            .set(keys::state.eq(state))
            .execute(conn)?,
    };
    Ok(changed == 1)
}

/// Stores the certificate of key `id` (e.g. once the root has certified a
/// pending key). Returns `false` when there is no such key.
pub fn set_certificate(
    conn: &mut DbConnection,
    id: KeyRowId,
    certificate: &[u8],
    not_before: i64,
    not_after: i64,
) -> Result<bool, StorageError> {
    let changed = diesel::update(keys::table.filter(keys::id.eq(id)))
        .set((
            keys::certificate.eq(Some(certificate)),
            keys::not_before.eq(Some(not_before)),
            keys::not_after.eq(Some(not_after)),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Whether key `key_id` is active, read so that a concurrent state change
/// waits for the caller's transaction (PostgreSQL: `FOR SHARE` row lock;
/// SQLite: writes are serialised by `BEGIN IMMEDIATE` already). Issuance
/// calls it in the transaction that stores a certificate, so a retirement
/// orders cleanly before or after every certificate of the key.
pub fn is_active_locked(conn: &mut DbConnection, key_id: &KeyId) -> Result<bool, StorageError> {
    let query = keys::table
        .filter(keys::key_id.eq(key_id))
        .filter(keys::state.eq(KeyState::Active))
        .select(keys::id);
    let found = match conn {
        DbConnection::Postgres(pg) => query.for_share().first::<KeyRowId>(pg).optional()?,
        DbConnection::Sqlite(lite) => query.first::<KeyRowId>(lite).optional()?,
    };
    Ok(found.is_some())
}
