//! The `crls` table: every CRL signed, per issuing key, by CRL number.
//!
//! The (issuer key, CRL number) pair is the primary key, so a CRL number is
//! never reused for one issuer; the newest CRL of an issuer is the one with
//! the highest number.

use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::ids::KeyId;
use crate::schema::crls;

/// A row of `crls` (no generated columns: inserted as read).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crls)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Crl {
    /// Key id of the CA key that signed it.
    pub issuer_key_id: KeyId,
    /// The cRLNumber extension value.
    pub crl_number: i64,
    /// thisUpdate (unix seconds).
    pub this_update: i64,
    /// nextUpdate (unix seconds).
    pub next_update: i64,
    /// The DER CRL.
    pub der: Vec<u8>,
}

/// Stores a signed CRL. A number already used for the issuer is a
/// [`StorageError::UniqueViolation`] (`crls_pkey`).
pub fn insert(conn: &mut DbConnection, crl: &Crl) -> Result<(), StorageError> {
    diesel::insert_into(crls::table).values(crl).execute(conn)?;
    Ok(())
}

/// The CRL of `issuer_key_id` with the highest number.
pub fn latest(conn: &mut DbConnection, issuer_key_id: &KeyId) -> Result<Option<Crl>, StorageError> {
    Ok(crls::table
        .filter(crls::issuer_key_id.eq(issuer_key_id))
        .order(crls::crl_number.desc())
        .select(Crl::as_select())
        .first(conn)
        .optional()?)
}

/// Makes this transaction the only one (re)signing `issuer_key_id`'s CRL
/// until it ends: a transaction-scoped advisory lock on PostgreSQL; on
/// SQLite the write transaction already excludes other writers. Without it
/// two signers could store CRL n+1 and n+2 with n+2 missing a revocation
/// n+1 has.
pub fn lock_issuer(conn: &mut DbConnection, issuer_key_id: &KeyId) -> Result<(), StorageError> {
    if let DbConnection::Postgres(_) = conn {
        // The key id is validated lowercase hex, so it can be quoted safely.
        diesel::sql_query(format!(
            "SELECT pg_advisory_xact_lock(hashtext('onevisit-crl:{issuer_key_id}'))"
        ))
        .execute(conn)?;
    }
    Ok(())
}
