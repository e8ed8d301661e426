//! The ledger tables: `ledger_queue` (entries waiting for the sequencer),
//! `ledger_leaves` (sequenced entries and their RFC 9162 leaf hashes),
//! `ledger_nodes` (hashes of complete subtrees, so proofs take O(log n)
//! reads) and `ledger_checkpoints` (signed notes, one per tree size).
//!
//! This module stores and fetches; the `ledger` crate computes every hash
//! and proof, and trusts nothing here beyond "what was written is read
//! back". The database holds: leaf hashes are 32 bytes and unique (a second
//! queueing or sequencing of one entry is a
//! [`StorageError::UniqueViolation`]), leaf indexes and tree sizes are not
//! negative, checkpoints name a recorded key.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Binary, Integer, Text};

use crate::cached;
use crate::cached::native;
use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::ids::KeyId;
use crate::schema::{ledger_checkpoints, ledger_leaves, ledger_nodes, ledger_queue};

/// A row of `ledger_queue`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = ledger_queue)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct QueuedLeaf {
    /// Queue position (increasing).
    pub id: i64,
    /// Canonical JSON entry.
    pub entry: String,
    /// SHA-256(0x00 || entry).
    pub leaf_hash: Vec<u8>,
    /// When it was queued.
    pub enqueued_at: i64,
}

/// An entry to queue.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = ledger_queue)]
pub struct NewQueuedLeaf {
    /// Canonical JSON entry.
    pub entry: String,
    /// SHA-256(0x00 || entry).
    pub leaf_hash: Vec<u8>,
    /// When it was queued.
    pub enqueued_at: i64,
}

/// A row of `ledger_leaves` (no generated columns: inserted as read).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ledger_leaves)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct LedgerLeaf {
    /// Position in the log, from 0.
    pub leaf_index: i64,
    /// Canonical JSON entry.
    pub entry: String,
    /// SHA-256(0x00 || entry).
    pub leaf_hash: Vec<u8>,
    /// When the sequencer integrated it.
    pub integrated_at: i64,
}

/// A row of `ledger_nodes`: the hash of the complete subtree of `2^level`
/// leaves starting at leaf `node_index * 2^level`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ledger_nodes)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct LedgerNode {
    /// Height of the subtree (0 = a leaf hash).
    pub level: i32,
    /// Index of the subtree among those of its level.
    pub node_index: i64,
    /// The subtree's RFC 9162 hash.
    pub hash: Vec<u8>,
}

/// A row of `ledger_checkpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ledger_checkpoints)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Checkpoint {
    /// Number of leaves the checkpoint covers.
    pub tree_size: i64,
    /// RFC 9162 root hash of those leaves.
    pub root_hash: Vec<u8>,
    /// The C2SP signed note text.
    pub note: String,
    /// Key id of the ledger key that signed it.
    pub key_id: KeyId,
    /// Signing time.
    pub signed_at: i64,
}

/// Queues an entry for the sequencer.
pub fn enqueue(conn: &mut DbConnection, new: &NewQueuedLeaf) -> Result<(), StorageError> {
    cached::execute(conn, &diesel::insert_into(ledger_queue::table).values(new))?;
    Ok(())
}

/// The oldest `limit` queued entries, in queue order.
pub fn queued(conn: &mut DbConnection, limit: i64) -> Result<Vec<QueuedLeaf>, StorageError> {
    Ok(ledger_queue::table
        .order(ledger_queue::id.asc())
        .limit(limit)
        .select(QueuedLeaf::as_select())
        .load(conn)?)
}

/// Removes integrated entries from the queue; returns how many went.
pub fn dequeue(conn: &mut DbConnection, ids: &[i64]) -> Result<usize, StorageError> {
    Ok(diesel::delete(ledger_queue::table.filter(ledger_queue::id.eq_any(ids))).execute(conn)?)
}

/// Stores sequenced leaves.
pub fn insert_leaves(
    conn: &mut DbConnection,
    leaves: &[LedgerLeaf],
) -> Result<usize, StorageError> {
    if let DbConnection::Postgres(pg) = conn {
        // One statement for the whole batch: on PostgreSQL every statement
        // is a round trip, and a sequencer batch has thousands of rows.
        let query = diesel::sql_query(
            "INSERT INTO ledger_leaves (leaf_index, entry, leaf_hash, integrated_at) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bytea[], $4::bigint[])",
        )
        .bind::<Array<BigInt>, _>(leaves.iter().map(|l| l.leaf_index).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(leaves.iter().map(|l| l.entry.as_str()).collect::<Vec<_>>())
        .bind::<Array<Binary>, _>(
            leaves
                .iter()
                .map(|l| l.leaf_hash.as_slice())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<BigInt>, _>(leaves.iter().map(|l| l.integrated_at).collect::<Vec<_>>());
        return Ok(cached::execute_pg(pg, &query)?);
    }
    // SQLite has no round trip: a cached single-row statement per leaf is
    // cheaper than preparing a statement for each batch size.
    let mut count = 0;
    for leaf in leaves {
        count += cached::execute(
            conn,
            &diesel::insert_into(ledger_leaves::table).values(leaf),
        )?;
    }
    Ok(count)
}

/// The leaf at `leaf_index`.
pub fn leaf(conn: &mut DbConnection, leaf_index: i64) -> Result<Option<LedgerLeaf>, StorageError> {
    Ok(ledger_leaves::table
        .find(leaf_index)
        .select(LedgerLeaf::as_select())
        .first(conn)
        .optional()?)
}

/// The index of the leaf with `leaf_hash` (what an inclusion check needs,
/// without the entry's text).
pub fn leaf_index_by_hash(
    conn: &mut DbConnection,
    leaf_hash: &[u8],
) -> Result<Option<i64>, StorageError> {
    Ok(native!(conn, c => ledger_leaves::table
        .filter(ledger_leaves::leaf_hash.eq(leaf_hash))
        .select(ledger_leaves::leaf_index)
        .first(c)
        .optional())?)
}

/// Leaves with `start <= leaf_index < end`, in order.
pub fn leaves(
    conn: &mut DbConnection,
    start: i64,
    end: i64,
) -> Result<Vec<LedgerLeaf>, StorageError> {
    Ok(ledger_leaves::table
        .filter(ledger_leaves::leaf_index.ge(start))
        .filter(ledger_leaves::leaf_index.lt(end))
        .order(ledger_leaves::leaf_index.asc())
        .select(LedgerLeaf::as_select())
        .load(conn)?)
}

/// The leaf hashes of at most `count` leaves from `start` on, in index
/// order.
pub fn leaf_hashes(
    conn: &mut DbConnection,
    start: i64,
    count: i64,
) -> Result<Vec<Vec<u8>>, StorageError> {
    Ok(native!(conn, c => ledger_leaves::table
        .filter(ledger_leaves::leaf_index.ge(start))
        .filter(ledger_leaves::leaf_index.lt(start.saturating_add(count)))
        .order(ledger_leaves::leaf_index.asc())
        .select(ledger_leaves::leaf_hash)
        .load(c))?)
}

/// Number of sequenced leaves (highest index + 1; one index lookup).
pub fn tree_size(conn: &mut DbConnection) -> Result<i64, StorageError> {
    let max: Option<i64> = ledger_leaves::table
        .select(diesel::dsl::max(ledger_leaves::leaf_index))
        .first(conn)?;
    Ok(max.map_or(0, |m| m + 1))
}

/// Stores subtree hashes. A node already stored is a
/// [`StorageError::UniqueViolation`] (complete subtrees never change).
pub fn insert_nodes(conn: &mut DbConnection, nodes: &[LedgerNode]) -> Result<usize, StorageError> {
    if let DbConnection::Postgres(pg) = conn {
        // One statement, as for the leaves.
        let query = diesel::sql_query(
            "INSERT INTO ledger_nodes (level, node_index, hash) \
             SELECT * FROM UNNEST($1::integer[], $2::bigint[], $3::bytea[])",
        )
        .bind::<Array<Integer>, _>(nodes.iter().map(|n| n.level).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(nodes.iter().map(|n| n.node_index).collect::<Vec<_>>())
        .bind::<Array<Binary>, _>(nodes.iter().map(|n| n.hash.as_slice()).collect::<Vec<_>>());
        return Ok(cached::execute_pg(pg, &query)?);
    }
    let mut count = 0;
    for node in nodes {
        count += cached::execute(conn, &diesel::insert_into(ledger_nodes::table).values(node))?;
    }
    Ok(count)
}

/// The hash of subtree (`level`, `node_index`), if stored.
pub fn node(
    conn: &mut DbConnection,
    level: i32,
    node_index: i64,
) -> Result<Option<Vec<u8>>, StorageError> {
    Ok(native!(conn, c => ledger_nodes::table
        .find((level, node_index))
        .select(ledger_nodes::hash)
        .first(c)
        .optional())?)
}

/// Stores a signed checkpoint.
pub fn insert_checkpoint(
    conn: &mut DbConnection,
    checkpoint: &Checkpoint,
) -> Result<(), StorageError> {
    cached::execute(
        conn,
        &diesel::insert_into(ledger_checkpoints::table).values(checkpoint),
    )?;
    Ok(())
}

/// The checkpoint with the largest tree size.
pub fn latest_checkpoint(conn: &mut DbConnection) -> Result<Option<Checkpoint>, StorageError> {
    Ok(native!(conn, c => ledger_checkpoints::table
        .order(ledger_checkpoints::tree_size.desc())
        .select(Checkpoint::as_select())
        .first(c)
        .optional())?)
}

/// The checkpoint for `tree_size`.
pub fn checkpoint(
    conn: &mut DbConnection,
    tree_size: i64,
) -> Result<Option<Checkpoint>, StorageError> {
    Ok(ledger_checkpoints::table
        .find(tree_size)
        .select(Checkpoint::as_select())
        .first(conn)
        .optional()?)
}

/// Advisory lock key of the ledger sequencer ("ledger-s" in ASCII).
const PG_SEQUENCER_LOCK: i64 = 0x6c65_6467_6572_2d73;

/// Makes this transaction the only sequencer until it ends. Call first
/// thing inside a [`write_transaction`]: on PostgreSQL it waits for
/// `pg_advisory_xact_lock`, released at commit or rollback; on SQLite the
/// transaction's `BEGIN IMMEDIATE` write lock already excludes every other
/// writer, so there is nothing more to take.
///
/// [`write_transaction`]: crate::write_transaction
pub fn lock_sequencer(conn: &mut DbConnection) -> Result<(), StorageError> {
    match conn {
        DbConnection::Postgres(_) => {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({PG_SEQUENCER_LOCK})"))
                .execute(conn)?;
        }
        DbConnection::Sqlite(_) => {}
    }
    Ok(())
}

/// Like [`lock_sequencer`] without waiting: false when another transaction
/// is the sequencer now. For work that may skip a turn, such as the group
/// committer's tail: a committer waiting for the lock while holding its
/// batch's row locks could deadlock with a key rotation that holds the lock
/// and waits for one of those rows.
pub fn try_lock_sequencer(conn: &mut DbConnection) -> Result<bool, StorageError> {
    match conn {
        DbConnection::Postgres(pg) => Ok(diesel::select(
            diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "pg_try_advisory_xact_lock({PG_SEQUENCER_LOCK})"
            )),
        )
        .get_result::<bool>(pg)?),
        DbConnection::Sqlite(_) => Ok(true),
    }
}

/// Every stored checkpoint, smallest tree first (for audits).
pub fn checkpoints(conn: &mut DbConnection) -> Result<Vec<Checkpoint>, StorageError> {
    Ok(ledger_checkpoints::table
        .order(ledger_checkpoints::tree_size.asc())
        .select(Checkpoint::as_select())
        .load(conn)?)
}
