//! SQLite WAL checkpoints on a thread of their own, off the group
//! committer's path.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that crosses its
//! threshold, on the committing thread: the group committer then copied
//! pages into the database file and waited for that file's fsync while every
//! caller of the batch waited for their answer, and the next batch waited
//! behind it. A PASSIVE checkpoint from another connection takes no write
//! lock, so here it runs beside the committer. The automatic checkpoint
//! stays on every connection with a higher threshold ([`BACKSTOP_PAGES`]),
//! so the WAL stays bounded if this thread falls behind, and for processes
//! that never start it (walletctl).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::{QueryableByName, RunQueryDsl as _};

use crate::connection::{Database, DbConnection};
use crate::error::StorageError;
use crate::group::GroupQueue;

/// How long the checkpointer waits between checkpoints: adapted so that a
/// checkpoint copies about [`TARGET_FRAMES`] WAL frames, as SQLite's own
/// automatic checkpoint (1,000 pages) did. Checkpointing more often would
/// copy hot pages and fsync the database file more often for nothing;
/// less often lets the WAL that every read searches grow.
const FIRST_WAIT: Duration = Duration::from_millis(100);
const MIN_WAIT: Duration = Duration::from_millis(25);
const MAX_WAIT: Duration = Duration::from_millis(1_000);
const TARGET_FRAMES: i64 = 1_000;

/// WAL pages after which a connection's own COMMIT checkpoints anyway.
pub(crate) const BACKSTOP_PAGES: u32 = 10_000;

/// Starts the checkpointer of `queue`'s database; it ends with the queue
/// (the last application handle of the database).
pub(crate) fn start(queue: &Arc<GroupQueue>, db: Database) {
    let weak = Arc::downgrade(queue);
    let spawned = std::thread::Builder::new()
        .name("wal-checkpoint".into())
        .spawn(move || run(&weak, &db));
    if let Err(e) = spawned {
        // The backstop threshold still bounds the WAL.
        tracing::error!(error = %e, "cannot start the WAL checkpoint thread");
    }
}

fn run(queue: &Weak<GroupQueue>, db: &Database) {
    let mut seen = 0;
    let mut wait = FIRST_WAIT;
    // The WAL's size at the last checkpoint: it only restarts from its
    // first frame when no reader is still in it, so what a checkpoint
    // found new is the growth since then.
    let mut last_log = 0;
    loop {
        std::thread::sleep(wait);
        let Some(q) = queue.upgrade() else {
            return;
        };
        let batches = q.batches.load(Ordering::Relaxed);
        drop(q);
        if batches == seen {
            continue;
        }
        seen = batches;
        match checkpoint(db) {
            Ok(log) => {
                let new = if log >= last_log { log - last_log } else { log };
                last_log = log;
                wait = next_wait(wait, new);
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries"),
        }
    }
}

/// The wait before the next checkpoint, after one that found `frames` WAL
/// frames.
fn next_wait(wait: Duration, frames: i64) -> Duration {
    if frames < TARGET_FRAMES / 2 {
        (wait * 2).min(MAX_WAIT)
    } else if frames > TARGET_FRAMES * 2 {
        (wait / 2).max(MIN_WAIT)
    } else {
        wait
    }
}

#[derive(QueryableByName)]
struct Checkpointed {
    /// Frames in the WAL when the checkpoint ran.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    checkpointed: i64,
}

/// Copies what the WAL holds into the database file, as far as no reader
/// still needs the older pages, without waiting for any lock. Returns how
/// many frames the WAL holds (it is reused from its start, not
/// truncated, once no reader needs it).
fn checkpoint(db: &Database) -> Result<i64, StorageError> {
    let mut conn = db.conn()?;
    let DbConnection::Sqlite(c) = &mut **conn else {
        return Ok(0);
    };
    let done: Checkpointed = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(c)?;
    tracing::trace!(
        log = done.log,
        checkpointed = done.checkpointed,
        "WAL checkpoint"
    );
    Ok(done.log)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{MAX_WAIT, MIN_WAIT, next_wait};

    #[test]
    fn the_wait_follows_the_wal() {
        let ms = Duration::from_millis;
        assert_eq!(next_wait(ms(100), 100), ms(200));
        assert_eq!(next_wait(ms(800), 0), MAX_WAIT);
        assert_eq!(next_wait(ms(100), 1_000), ms(100));
        assert_eq!(next_wait(ms(100), 2_000), ms(100));
        assert_eq!(next_wait(ms(100), 2_001), ms(50));
        assert_eq!(next_wait(ms(30), 50_000), MIN_WAIT);
    }
}
