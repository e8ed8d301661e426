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

/// Starts the checkpointer of `queue`'s database; it ends with the last
/// application handle of the database (`alive`).
pub(crate) fn start(queue: &Arc<GroupQueue>, alive: Weak<()>, db: Database) {
    let queue = Arc::clone(queue);
    let spawned = std::thread::Builder::new()
        .name("wal-checkpoint".into())
        .spawn(move || run(&queue, &alive, &db));
    if let Err(e) = spawned {
        // The backstop threshold still bounds the WAL.
        tracing::error!(error = %e, "cannot start the WAL checkpoint thread");
    }
}

fn run(queue: &GroupQueue, alive: &Weak<()>, db: &Database) {
    // Commits counted when the last complete checkpoint began: until the
    // next one, the checkpoint is tried again at every turn.
    let mut done = 0;
    let mut wait = FIRST_WAIT;
    // The WAL's size at the last checkpoint. SQLite starts the WAL again
    // from its first frame only once a checkpoint completed and no reader
    // is still in it; under load readers nearly always are, and the WAL
    // grows across checkpoints, so the growth since then is what is new.
    // After a restart that this cannot see (the WAL grew back past its old
    // size) it counts too few frames, and the wait only grows, up to
    // `MAX_WAIT`; the backstop bounds the WAL meanwhile.
    let mut last_log = 0;
    loop {
        std::thread::sleep(wait);
        if alive.strong_count() == 0 {
            return;
        }
        let commits = queue.commits.load(Ordering::Relaxed);
        if commits == done {
            continue;
        }
        match checkpoint(db) {
            // Another connection was checkpointing: try again next turn.
            Ok(None) => {}
            Ok(Some(c)) => {
                let new = if c.log >= last_log {
                    c.log - last_log
                } else {
                    c.log
                };
                last_log = c.log;
                wait = next_wait(wait, new);
                // A reader still in older frames stops a checkpoint short.
                if c.checkpointed == c.log {
                    done = commits;
                }
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next turn retries"),
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
    /// 1 when another connection held the checkpoint lock (nothing done).
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    busy: i64,
    /// Frames in the WAL when the checkpoint ran.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
    /// Of those, the frames now in the database file.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    checkpointed: i64,
}

/// Copies what the WAL holds into the database file, as far as no reader
/// still needs the older pages, without waiting for any lock. `None` when
/// another connection was checkpointing.
fn checkpoint(db: &Database) -> Result<Option<Checkpointed>, StorageError> {
    let mut conn = db.conn()?;
    let DbConnection::Sqlite(c) = &mut **conn else {
        return Ok(None);
    };
    let done: Checkpointed = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(c)?;
    tracing::trace!(
        busy = done.busy,
        log = done.log,
        checkpointed = done.checkpointed,
        "WAL checkpoint"
    );
    // SQLite reports -1 frames when it did nothing.
    Ok((done.busy == 0 && done.log >= 0).then_some(done))
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
