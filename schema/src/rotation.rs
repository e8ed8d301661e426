//! Key rotation storage: the extra certificates a key gains at a root
//! rollover (`key_certificates`) and the two-person requests for a root
//! rotation (`key_rotation_requests`).
//!
//! The database enforces the two-person rule itself: an approval by the
//! requester breaks a CHECK constraint, and at most one request per purpose
//! is open (partial unique index `key_rotation_requests_one_open`).

use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::ids::{KeyId, StaffId, text_enum};
use crate::keys::KeyPurpose;
use crate::schema::{key_certificates, key_rotation_requests};

text_enum! {
    /// Why a key holds a certificate besides its current one.
    pub enum KeyCertificateKind {
        /// The old root certifying the new root's key (root rollover).
        Cross => "cross",
        /// A certificate replaced by a re-certification under a new root;
        /// what was issued under it still chains through it.
        Previous => "previous",
    }
}

/// A row of `key_certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = key_certificates)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct KeyCertificate {
    /// Row id.
    pub id: i64,
    /// The certified key (subject).
    pub key_id: KeyId,
    /// The key that signed the certificate.
    pub issuer_key_id: KeyId,
    /// Cross or previous.
    pub kind: KeyCertificateKind,
    /// DER certificate.
    pub certificate: Vec<u8>,
    /// SHA-256 of the DER, lowercase hex.
    pub cert_sha256: String,
    /// notBefore (unix seconds).
    pub not_before: i64,
    /// notAfter (unix seconds).
    pub not_after: i64,
    /// When it was stored.
    pub created_at: i64,
}

/// A certificate to store in `key_certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = key_certificates)]
pub struct NewKeyCertificate {
    /// The certified key.
    pub key_id: KeyId,
    /// The signing key.
    pub issuer_key_id: KeyId,
    /// Cross or previous.
    pub kind: KeyCertificateKind,
    /// DER certificate.
    pub certificate: Vec<u8>,
    /// SHA-256 of the DER, lowercase hex.
    pub cert_sha256: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// When it was stored.
    pub created_at: i64,
}

/// Stores an extra certificate of a key.
pub fn insert_certificate(
    conn: &mut DbConnection,
    new: &NewKeyCertificate,
) -> Result<(), StorageError> {
    diesel::insert_into(key_certificates::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

/// Every extra certificate, oldest first.
pub fn certificates(conn: &mut DbConnection) -> Result<Vec<KeyCertificate>, StorageError> {
    Ok(key_certificates::table
        .order(key_certificates::id.asc())
        .select(KeyCertificate::as_select())
        .load(conn)?)
}

text_enum! {
    /// Lifecycle of a rotation request.
    pub enum RequestState {
        /// Waiting for a second ops user.
        Pending => "pending",
        /// Approved; the rotation runs (or is resumed by approving again).
        Approved => "approved",
        /// The rotation ran.
        Completed => "completed",
        /// Not approved in time.
        Expired => "expired",
    }
}

/// A row of `key_rotation_requests`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = key_rotation_requests)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct RotationRequest {
    /// Request id (lowercase UUID).
    pub id: String,
    /// The purpose to rotate.
    pub purpose: KeyPurpose,
    /// Lifecycle state.
    pub state: RequestState,
    /// The ops user who asked.
    pub requested_by: StaffId,
    /// When.
    pub requested_at: i64,
    /// Approval deadline.
    pub expires_at: i64,
    /// The second ops user.
    pub approved_by: Option<StaffId>,
    /// When they approved.
    pub approved_at: Option<i64>,
    /// When the rotation finished.
    pub completed_at: Option<i64>,
    /// The key the rotation activated.
    pub new_key_id: Option<KeyId>,
}

/// A request to record.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = key_rotation_requests)]
pub struct NewRotationRequest {
    /// Request id (lowercase UUID).
    pub id: String,
    /// The purpose to rotate.
    pub purpose: KeyPurpose,
    /// Always `pending`.
    pub state: RequestState,
    /// The ops user who asks.
    pub requested_by: StaffId,
    /// When.
    pub requested_at: i64,
    /// Approval deadline.
    pub expires_at: i64,
}

/// Records a request. A second open request for the purpose is a
/// [`StorageError::UniqueViolation`] on `key_rotation_requests_one_open`.
pub fn insert_request(
    conn: &mut DbConnection,
    new: &NewRotationRequest,
) -> Result<(), StorageError> {
    diesel::insert_into(key_rotation_requests::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

/// The request `id`.
pub fn request(conn: &mut DbConnection, id: &str) -> Result<Option<RotationRequest>, StorageError> {
    Ok(key_rotation_requests::table
        .find(id)
        .select(RotationRequest::as_select())
        .first(conn)
        .optional()?)
}

/// Marks every pending request past its deadline at `now` as expired, so
/// it no longer blocks a new one. Returns how many.
pub fn expire_requests(conn: &mut DbConnection, now: i64) -> Result<usize, StorageError> {
    Ok(diesel::update(
        key_rotation_requests::table
            .filter(key_rotation_requests::state.eq(RequestState::Pending))
            .filter(key_rotation_requests::expires_at.le(now)),
    )
    .set(key_rotation_requests::state.eq(RequestState::Expired))
    .execute(conn)?)
}

/// Approves pending request `id` by `approver` at `now`, if it has not
/// expired. Returns `false` when no such pending, unexpired request exists.
/// An approval by the requester is a [`StorageError::ConstraintViolation`]
/// (callers check first and answer 403).
pub fn approve(
    conn: &mut DbConnection,
    id: &str,
    approver: StaffId,
    now: i64,
) -> Result<bool, StorageError> {
    let changed = diesel::update(
        key_rotation_requests::table
            .filter(key_rotation_requests::id.eq(id))
            .filter(key_rotation_requests::state.eq(RequestState::Pending))
            .filter(key_rotation_requests::expires_at.gt(now)),
    )
    .set((
        key_rotation_requests::state.eq(RequestState::Approved),
        key_rotation_requests::approved_by.eq(Some(approver)),
        key_rotation_requests::approved_at.eq(Some(now)),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Marks approved request `id` completed with the key it activated.
pub fn complete(
    conn: &mut DbConnection,
    id: &str,
    new_key_id: &KeyId,
    now: i64,
) -> Result<bool, StorageError> {
    let changed = diesel::update(
        key_rotation_requests::table
            .filter(key_rotation_requests::id.eq(id))
            .filter(key_rotation_requests::state.eq(RequestState::Approved)),
    )
    .set((
        key_rotation_requests::state.eq(RequestState::Completed),
        key_rotation_requests::completed_at.eq(Some(now)),
        key_rotation_requests::new_key_id.eq(Some(new_key_id)),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}
