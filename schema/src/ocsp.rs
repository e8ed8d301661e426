//! The `ocsp_responders` table: the delegated OCSP responder certificate
//! each issuing CA gave the `ocsp` key.

use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::ids::KeyId;
use crate::schema::ocsp_responders;

/// A responder certificate.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ocsp_responders)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Responder {
    /// The issuing CA that certified the responder.
    pub issuer_key_id: KeyId,
    /// The responder key (purpose `ocsp`).
    pub responder_key_id: KeyId,
    /// The responder certificate, DER.
    pub certificate: Vec<u8>,
    /// Its notBefore.
    pub not_before: i64,
    /// Its notAfter.
    pub not_after: i64,
    /// When it was made.
    pub created_at: i64,
}

/// Stores a responder certificate.
pub fn insert(conn: &mut DbConnection, r: &Responder) -> Result<(), StorageError> {
    diesel::insert_into(ocsp_responders::table)
        .values(r)
        .execute(conn)?;
    Ok(())
}

/// The responder certificate `issuer_key_id` gave `responder_key_id`.
pub fn find(
    conn: &mut DbConnection,
    issuer_key_id: &KeyId,
    responder_key_id: &KeyId,
) -> Result<Option<Responder>, StorageError> {
    Ok(ocsp_responders::table
        .find((issuer_key_id, responder_key_id))
        .select(Responder::as_select())
        .first(conn)
        .optional()?)
}

/// Replaces a responder certificate (renewal).
pub fn replace(conn: &mut DbConnection, r: &Responder) -> Result<bool, StorageError> {
    let changed =
        diesel::update(ocsp_responders::table.find((&r.issuer_key_id, &r.responder_key_id)))
            .set((
                ocsp_responders::certificate.eq(&r.certificate),
                ocsp_responders::not_before.eq(r.not_before),
                ocsp_responders::not_after.eq(r.not_after),
                ocsp_responders::created_at.eq(r.created_at),
            ))
            .execute(conn)?;
    Ok(changed == 1)
}

/// The latest notAfter of any responder certificate of `responder_key_id`.
pub fn latest_not_after_for_responder(
    conn: &mut DbConnection,
    responder_key_id: &KeyId,
) -> Result<Option<i64>, StorageError> {
    Ok(ocsp_responders::table
        .filter(ocsp_responders::responder_key_id.eq(responder_key_id))
        .select(diesel::dsl::max(ocsp_responders::not_after))
        .first(conn)?)
}
