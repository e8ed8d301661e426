//! The `identities` table: enrolled persons.
//!
//! The national ID number is never stored: only `dedup_hmac`, its HMAC made
//! by the `dedup-hmac` key inside the HSM. The database allows one active
//! identity per HMAC (partial unique index
//! `identities_one_active_per_person`); revoked identities keep their HMAC
//! for history. Personal data (name, birth date, address) is left out of
//! `Debug` output so it cannot reach logs by accident.

use std::fmt;

use diesel::prelude::*;

use crate::cached;
use crate::cached::native;
use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::ids::{IdentityId, StaffId, text_enum};
use crate::schema::identities;

text_enum! {
    /// Whether an identity is in force.
    pub enum IdentityStatus {
        /// The person's current identity.
        Active => "active",
        /// Revoked; another identity may be enrolled for the person.
        Revoked => "revoked",
        /// Enrollment did not finish (signing or storing the certificate
        /// failed, or the process died); frees the person's dedup slot.
        Abandoned => "abandoned",
    }
}

/// A row of `identities`.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = identities)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Identity {
    /// UUID, the subject serialNumber of all the person's certificates.
    pub id: IdentityId,
    /// HMAC of the normalised national ID number.
    pub dedup_hmac: Vec<u8>,
    /// Full name.
    pub full_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Postal address.
    pub address: String,
    /// Status.
    pub status: IdentityStatus,
    /// Enrolment time.
    pub created_at: i64,
    /// The officer who enrolled the person.
    pub created_by: StaffId,
    /// When the identity was revoked.
    pub revoked_at: Option<i64>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// An identity to enrol (active).
#[derive(Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = identities)]
pub struct NewIdentity {
    /// Fresh UUID.
    pub id: IdentityId,
    /// HMAC of the normalised national ID number.
    pub dedup_hmac: Vec<u8>,
    /// Full name.
    pub full_name: String,
    /// Date of birth, `YYYY-MM-DD` (the database checks the form).
    pub birth_date: String,
    /// Postal address.
    pub address: String,
    /// Enrolment time.
    pub created_at: i64,
    /// The enrolling officer.
    pub created_by: StaffId,
}

impl fmt::Debug for NewIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewIdentity")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .finish_non_exhaustive()
    }
}

/// Enrols an identity as active. When the person already has an active
/// identity this is a [`StorageError::UniqueViolation`] with constraint
/// `identities_one_active_per_person` (map to 409).
pub fn insert(conn: &mut DbConnection, new: &NewIdentity) -> Result<Identity, StorageError> {
    // Every column is given (no defaults, no triggers): the stored row is
    // known without RETURNING, and the statement can be a cached one.
    cached::execute(
        conn,
        &diesel::insert_into(identities::table)
            .values((new, identities::status.eq(IdentityStatus::Active))),
    )?;
    Ok(Identity {
        id: new.id.clone(),
        dedup_hmac: new.dedup_hmac.clone(),
        full_name: new.full_name.clone(),
        birth_date: new.birth_date.clone(),
        address: new.address.clone(),
        status: IdentityStatus::Active,
        created_at: new.created_at,
        created_by: new.created_by,
        revoked_at: None,
    })
}

/// The identity `id`.
pub fn by_id(conn: &mut DbConnection, id: &IdentityId) -> Result<Option<Identity>, StorageError> {
    Ok(native!(conn, c => identities::table
        .find(id)
        .select(Identity::as_select())
        .first(c)
        .optional())?)
}

/// The active identity with this dedup HMAC, if any.
pub fn active_by_dedup_hmac(
    conn: &mut DbConnection,
    dedup_hmac: &[u8],
) -> Result<Option<Identity>, StorageError> {
    Ok(identities::table
        .filter(identities::dedup_hmac.eq(dedup_hmac))
        // A literal, not a bound value: only then can the planner see
        // that the partial index identities_one_active_per_person
        // applies (SQLite with a stable plan, PostgreSQL with a generic
        // plan); with `status = ?` this was a scan of every identity.
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "status = 'active'",
        ))
        .select(Identity::as_select())
        .first(conn)
        .optional()?)
}

/// Revokes the active identity `id` at `at`. Returns `false` when there is
/// no active identity `id`.
pub fn revoke(conn: &mut DbConnection, id: &IdentityId, at: i64) -> Result<bool, StorageError> {
    let changed = diesel::update(
        identities::table
            .filter(identities::id.eq(id))
            .filter(identities::status.eq(IdentityStatus::Active)),
    )
    .set((
        identities::status.eq(IdentityStatus::Revoked),
        identities::revoked_at.eq(Some(at)),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Marks an active identity that never got a certificate as abandoned, so
/// the person can be enrolled again. Returns `false` when the identity is not
/// active or already has a credential.
pub fn abandon(conn: &mut DbConnection, id: &IdentityId) -> Result<bool, StorageError> {
    use crate::schema::credentials;
    let has_credentials =
        diesel::dsl::exists(credentials::table.filter(credentials::identity_id.eq(id)));
    let changed = diesel::update(
        identities::table
            .filter(identities::id.eq(id))
            .filter(identities::status.eq(IdentityStatus::Active))
            .filter(diesel::dsl::not(has_credentials)),
    )
    .set(identities::status.eq(IdentityStatus::Abandoned))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Takes the identity's row lock for the rest of the transaction (a no-op
/// update: PostgreSQL locks the row, SQLite's write transaction already
/// excludes other writers), so two transactions changing one person's
/// credentials run one after the other and the second sees the first's.
pub fn lock(conn: &mut DbConnection, id: &IdentityId) -> Result<bool, StorageError> {
    let changed = diesel::update(identities::table.filter(identities::id.eq(id)))
        .set(identities::status.eq(identities::status))
        .execute(conn)?;
    Ok(changed == 1)
}
