//! The `issuance_intents` table: record before sign.
//!
//! A serial and the intent to issue are stored (and committed) before the HSM
//! signs, so a crash can never leave a signed certificate the service does
//! not know about. The intent's serial is the primary key here and
//! `credentials.serial` references it, so a serial is unique across intents
//! and credentials: a random serial that collides is a
//! [`StorageError::UniqueViolation`] (`issuance_intents_pkey`) before
//! anything is signed. At start-up the service resolves [`pending`] intents:
//! `completed` when the credential exists, `abandoned` otherwise.

use diesel::prelude::*;

use crate::cached;
use crate::connection::DbConnection;
use crate::credentials::CredentialKind;
use crate::error::StorageError;
use crate::ids::{IdentityId, KeyId, Serial, StaffId, text_enum};
use crate::schema::issuance_intents;

text_enum! {
    /// Where an issuance stands.
    pub enum IntentState {
        /// Serial reserved; the certificate may or may not have been signed.
        Pending => "pending",
        /// The credential is stored.
        Completed => "completed",
        /// Given up; no credential carries this serial.
        Abandoned => "abandoned",
    }
}

/// A row of `issuance_intents`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = issuance_intents)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct IssuanceIntent {
    /// The reserved serial.
    pub serial: Serial,
    /// The holder.
    pub identity_id: IdentityId,
    /// Identity or licence.
    pub kind: CredentialKind,
    /// Licence type for licences.
    pub license_type: Option<String>,
    /// Licence number reserved with the serial (licences only); unique per type.
    pub license_number: Option<String>,
    /// The key that is to sign.
    pub issuer_key_id: KeyId,
    /// State.
    pub state: IntentState,
    /// When the serial was reserved.
    pub created_at: i64,
    /// The officer who asked.
    pub created_by: StaffId,
    /// When it was completed or abandoned.
    pub resolved_at: Option<i64>,
}

/// An intent to record (pending).
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = issuance_intents)]
pub struct NewIssuanceIntent {
    /// Freshly drawn serial.
    pub serial: Serial,
    /// The holder.
    pub identity_id: IdentityId,
    /// Identity or licence.
    pub kind: CredentialKind,
    /// Licence type; required for licences, `None` for identities.
    pub license_type: Option<String>,
    /// Licence number reserved with the serial (licences only); unique per type.
    pub license_number: Option<String>,
    /// The key that is to sign.
    pub issuer_key_id: KeyId,
    /// Reservation time.
    pub created_at: i64,
    /// The officer who asked.
    pub created_by: StaffId,
}

/// Reserves a serial (state `pending`). A serial already used by an intent,
/// and so by any credential, is a [`StorageError::UniqueViolation`].
pub fn insert(
    conn: &mut DbConnection,
    new: &NewIssuanceIntent,
) -> Result<IssuanceIntent, StorageError> {
    // Every column is given: the stored row is known without RETURNING.
    cached::execute(
        conn,
        &diesel::insert_into(issuance_intents::table)
            .values((new, issuance_intents::state.eq(IntentState::Pending))),
    )?;
    Ok(IssuanceIntent {
        serial: new.serial.clone(),
        identity_id: new.identity_id.clone(),
        kind: new.kind,
        license_type: new.license_type.clone(),
        license_number: new.license_number.clone(),
        issuer_key_id: new.issuer_key_id.clone(),
        state: IntentState::Pending,
        created_at: new.created_at,
        created_by: new.created_by,
        resolved_at: None,
    })
}

/// The intent for `serial`.
pub fn by_serial(
    conn: &mut DbConnection,
    serial: &Serial,
) -> Result<Option<IssuanceIntent>, StorageError> {
    Ok(issuance_intents::table
        .find(serial)
        .select(IssuanceIntent::as_select())
        .first(conn)
        .optional()?)
}

/// Every pending intent, oldest first.
pub fn pending(conn: &mut DbConnection) -> Result<Vec<IssuanceIntent>, StorageError> {
    Ok(issuance_intents::table
        // A literal, so the partial index issuance_intents_pending applies
        // (see identities::active_by_dedup_hmac).
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "state = 'pending'",
        ))
        .order((
            issuance_intents::created_at.asc(),
            issuance_intents::serial.asc(),
        ))
        .select(IssuanceIntent::as_select())
        .load(conn)?)
}

/// Resolves the pending intent `serial` as `state` (completed or abandoned)
/// at `at`. Returns `false` when there is no pending intent `serial` or
/// `state` is `pending`.
pub fn resolve(
    conn: &mut DbConnection,
    serial: &Serial,
    state: IntentState,
    at: i64,
) -> Result<bool, StorageError> {
    if state == IntentState::Pending {
        return Ok(false);
    }
    let changed = cached::execute(
        conn,
        &diesel::update(
            issuance_intents::table
                .filter(issuance_intents::serial.eq(serial))
                .filter(issuance_intents::state.eq(IntentState::Pending)),
        )
        .set((
            issuance_intents::state.eq(state),
            issuance_intents::resolved_at.eq(Some(at)),
        )),
    )?;
    Ok(changed == 1)
}
