//! The `credentials` table: issued identity and licence certificates and
//! their revocation status.
//!
//! The database holds: the serial is an intent's serial (record before
//! sign); `cert_sha256` is unique; a licence number is unique per licence
//! type (`credentials_license_type_license_number_key`), identities carry
//! neither; `revoked_at` is set exactly when the status is `revoked`.

use diesel::prelude::*;

use crate::cached;
use crate::cached::native;
use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::ids::{IdentityId, KeyId, Serial, StaffId, text_enum};
use crate::schema::credentials;

text_enum! {
    /// What a credential certifies.
    pub enum CredentialKind {
        /// The holder's identity certificate.
        Identity => "identity",
        /// A licence certificate.
        License => "license",
    }
}

text_enum! {
    /// Revocation status (as in OCSP).
    pub enum CredentialStatus {
        /// Not revoked.
        Good => "good",
        /// Revoked.
        Revoked => "revoked",
    }
}

/// A row of `credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = credentials)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Credential {
    /// Certificate serial.
    pub serial: Serial,
    /// The holder.
    pub identity_id: IdentityId,
    /// Identity or licence.
    pub kind: CredentialKind,
    /// Licence type id from the catalogue (licences only).
    pub license_type: Option<String>,
    /// Licence number, unique per type (licences only).
    pub license_number: Option<String>,
    /// Key id of the issuing CA key.
    pub issuer_key_id: KeyId,
    /// DER certificate.
    pub certificate: Vec<u8>,
    /// Lowercase hex SHA-256 of `certificate`.
    pub cert_sha256: String,
    /// Validity start.
    pub not_before: i64,
    /// Validity end.
    pub not_after: i64,
    /// Revocation status.
    pub status: CredentialStatus,
    /// Revocation time.
    pub revoked_at: Option<i64>,
    /// RFC 5280 reason name, when revoked with one.
    pub revocation_reason: Option<String>,
    /// Issuance time.
    pub created_at: i64,
    /// The issuing officer.
    pub created_by: StaffId,
}

/// A credential to store (status `good`).
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = credentials)]
pub struct NewCredential {
    /// Serial of a recorded issuance intent.
    pub serial: Serial,
    /// The holder.
    pub identity_id: IdentityId,
    /// Identity or licence.
    pub kind: CredentialKind,
    /// Licence type (licences only).
    pub license_type: Option<String>,
    /// Licence number (licences only).
    pub license_number: Option<String>,
    /// Key id of the issuing CA key.
    pub issuer_key_id: KeyId,
    /// DER certificate.
    pub certificate: Vec<u8>,
    /// Lowercase hex SHA-256 of `certificate`.
    pub cert_sha256: String,
    /// Validity start.
    pub not_before: i64,
    /// Validity end.
    pub not_after: i64,
    /// Issuance time.
    pub created_at: i64,
    /// The issuing officer.
    pub created_by: StaffId,
}

/// Stores an issued credential as `good`. A licence number already used for
/// the type is a [`StorageError::UniqueViolation`]
/// (`credentials_license_type_license_number_key`); a serial without an
/// intent is a [`StorageError::ConstraintViolation`].
pub fn insert(conn: &mut DbConnection, new: &NewCredential) -> Result<Credential, StorageError> {
    // Every column but the revocation ones (NULL) is given: the stored row
    // is known without RETURNING.
    cached::execute(
        conn,
        &diesel::insert_into(credentials::table)
            .values((new, credentials::status.eq(CredentialStatus::Good))),
    )?;
    Ok(Credential {
        serial: new.serial.clone(),
        identity_id: new.identity_id.clone(),
        kind: new.kind,
        license_type: new.license_type.clone(),
        license_number: new.license_number.clone(),
        issuer_key_id: new.issuer_key_id.clone(),
        certificate: new.certificate.clone(),
        cert_sha256: new.cert_sha256.clone(),
        not_before: new.not_before,
        not_after: new.not_after,
        status: CredentialStatus::Good,
        revoked_at: None,
        revocation_reason: None,
        created_at: new.created_at,
        created_by: new.created_by,
    })
}

/// The credential with `serial`.
pub fn by_serial(
    conn: &mut DbConnection,
    serial: &Serial,
) -> Result<Option<Credential>, StorageError> {
    Ok(credentials::table
        .find(serial)
        .select(Credential::as_select())
        .first(conn)
        .optional()?)
}

/// The credential whose certificate has this SHA-256 (lowercase hex).
pub fn by_cert_sha256(
    conn: &mut DbConnection,
    cert_sha256: &str,
) -> Result<Option<Credential>, StorageError> {
    Ok(native!(conn, c => credentials::table
        .filter(credentials::cert_sha256.eq(cert_sha256))
        .select(Credential::as_select())
        .first(c)
        .optional())?)
}

/// The licence of `license_type` numbered `license_number`.
pub fn by_license(
    conn: &mut DbConnection,
    license_type: &str,
    license_number: &str,
) -> Result<Option<Credential>, StorageError> {
    Ok(credentials::table
        .filter(credentials::license_type.eq(license_type))
        .filter(credentials::license_number.eq(license_number))
        .select(Credential::as_select())
        .first(conn)
        .optional()?)
}

/// Every credential of `identity_id`, oldest first.
pub fn for_identity(
    conn: &mut DbConnection,
    identity_id: &IdentityId,
) -> Result<Vec<Credential>, StorageError> {
    Ok(credentials::table
        .filter(credentials::identity_id.eq(identity_id))
        .order((credentials::created_at.asc(), credentials::serial.asc()))
        .select(Credential::as_select())
        .load(conn)?)
}

/// The DER certificates of `identity_id`'s identity credentials revoked
/// for a reason other than `superseded` (a reissue): usually none, so a
/// verification that asks it for every licence reads no certificate it then
/// throws away.
pub fn revoked_identity_certificates(
    conn: &mut DbConnection,
    identity_id: &IdentityId,
) -> Result<Vec<Vec<u8>>, StorageError> {
    Ok(native!(conn, c => credentials::table
        .filter(credentials::identity_id.eq(identity_id))
        .filter(credentials::kind.eq(CredentialKind::Identity))
        .filter(credentials::status.eq(CredentialStatus::Revoked))
        .filter(
            credentials::revocation_reason
                .is_null()
                .or(credentials::revocation_reason.ne("superseded")),
        )
        .select(credentials::certificate)
        .load(c))?)
}

/// Revokes the good credential `serial` at `at` with an optional RFC 5280
/// reason name. Returns `false` when there is no good credential `serial`.
pub fn revoke(
    conn: &mut DbConnection,
    serial: &Serial,
    reason: Option<&str>,
    at: i64,
) -> Result<bool, StorageError> {
    let changed = diesel::update(
        credentials::table
            .filter(credentials::serial.eq(serial))
            .filter(credentials::status.eq(CredentialStatus::Good)),
    )
    .set((
        credentials::status.eq(CredentialStatus::Revoked),
        credentials::revoked_at.eq(Some(at)),
        credentials::revocation_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// The revoked credentials issued by `issuer_key_id`, by revocation time
/// (the entries of its CRL).
pub fn revoked_by_issuer(
    conn: &mut DbConnection,
    issuer_key_id: &KeyId,
) -> Result<Vec<Credential>, StorageError> {
    Ok(credentials::table
        .filter(credentials::issuer_key_id.eq(issuer_key_id))
        // A literal, so the partial index credentials_issuer_revoked applies
        // (see identities::active_by_dedup_hmac).
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "status = 'revoked'",
        ))
        .order((credentials::revoked_at.asc(), credentials::serial.asc()))
        .select(Credential::as_select())
        .load(conn)?)
}

/// The latest notAfter of any credential `issuer_key_id` issued, or `None`
/// when it issued none: until then its CRL must stay signable.
pub fn latest_not_after_by_issuer(
    conn: &mut DbConnection,
    issuer_key_id: &KeyId,
) -> Result<Option<i64>, StorageError> {
    Ok(credentials::table
        .filter(credentials::issuer_key_id.eq(issuer_key_id))
        .select(diesel::dsl::max(credentials::not_after))
        .first(conn)?)
}
