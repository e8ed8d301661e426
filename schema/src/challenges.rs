//! The `challenges` table: the used challenge nonces, so each is usable
//! once. A nonce is recorded when a presentation uses it; the insert of its
//! row is conditional on the key, so of two concurrent verifications with one
//! nonce exactly one records it, on every instance sharing the database.
//! Rows of the previous format, stored when the nonce was handed out, are
//! consumed by one conditional UPDATE.

use diesel::prelude::*;

use crate::cached;
use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::ids::StaffId;
use crate::schema::challenges;

/// A challenge row.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = challenges)]
pub struct NewChallenge {
    /// The nonce, as the holder signed it.
    pub nonce: String,
    /// The counter it is for.
    pub audience: String,
    /// The counter staff member who asked.
    pub created_by: StaffId,
    /// Creation time.
    pub created_at: i64,
    /// Expiry time.
    pub expires_at: i64,
    /// When a presentation used it.
    pub used_at: Option<i64>,
}

/// Why a nonce could not be consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// Consumed now: the presentation may be valid.
    Fresh,
    /// No such nonce.
    Unknown,
    /// Issued for another audience.
    WrongAudience,
    /// Past its expiry.
    Expired,
    /// Already used.
    Used,
}

/// Records the use of a nonce (`used.used_at` set): true when this is its
/// first use, false when it was used before (its row exists already).
pub fn record_use(conn: &mut DbConnection, used: &NewChallenge) -> Result<bool, StorageError> {
    debug_assert!(used.used_at.is_some(), "a use has a time");
    let inserted = cached::execute(
        conn,
        &diesel::insert_into(challenges::table)
            .values(used)
            .on_conflict_do_nothing(),
    )?;
    Ok(inserted == 1)
}

/// Stores a challenge handed out but not yet used: what the previous
/// version did for every challenge. Nothing in the service calls it now; it
/// stays with [`consume`] while such rows may exist, and lets the tests make
/// them.
pub fn insert(conn: &mut DbConnection, new: &NewChallenge) -> Result<(), StorageError> {
    cached::execute(conn, &diesel::insert_into(challenges::table).values(new))?;
    Ok(())
}

/// Consumes a stored `nonce` (the previous format: a row per nonce handed
/// out) for `audience` at `now`, atomically with one conditional UPDATE.
/// With `counter` set, only a nonce that counter asked for is accepted: a
/// presentation made for another counter cannot be checked here.
pub fn consume(
    conn: &mut DbConnection,
    nonce: &str,
    audience: &str,
    counter: Option<StaffId>,
    now: i64,
) -> Result<Consumed, StorageError> {
    let open = challenges::table
        .filter(challenges::nonce.eq(nonce))
        .filter(challenges::audience.eq(audience))
        .filter(challenges::used_at.is_null())
        .filter(challenges::expires_at.gt(now));
    let changed = match counter {
        Some(by) => cached::execute(
            conn,
            &diesel::update(open.filter(challenges::created_by.eq(by)))
                .set(challenges::used_at.eq(Some(now))),
        )?,
        None => cached::execute(
            conn,
            &diesel::update(open).set(challenges::used_at.eq(Some(now))),
        )?,
    };
    if changed == 1 {
        return Ok(Consumed::Fresh);
    }
    let row: Option<(String, StaffId, Option<i64>)> = challenges::table
        .filter(challenges::nonce.eq(nonce))
        .select((
            challenges::audience,
            challenges::created_by,
            challenges::used_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => Consumed::Unknown,
        Some((_, _, Some(_))) => Consumed::Used,
        Some((a, by, None)) if a != audience || counter.is_some_and(|c| c != by) => {
            Consumed::WrongAudience
        }
        Some(_) => Consumed::Expired,
    })
}

/// Deletes challenges that expired before `before` (housekeeping).
pub fn purge_expired(conn: &mut DbConnection, before: i64) -> Result<usize, StorageError> {
    Ok(
        diesel::delete(challenges::table.filter(challenges::expires_at.lt(before)))
            .execute(conn)?,
    )
}
