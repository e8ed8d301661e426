//! Group commit: write transactions of many concurrent callers run as
//! savepoints inside one database transaction, so one commit (one fsync on
//! SQLite, one commit round trip and WAL flush on PostgreSQL) covers a whole
//! batch. Each caller blocks until the shared COMMIT is durable and only
//! then gets its own result, so nothing is reported done before it is.
//!
//! A caller's failure rolls back its savepoint only: the others in the batch
//! are unaffected. A failed COMMIT fails every caller of that batch with
//! [`StorageError::Unavailable`]. Batches form by themselves: while one
//! commit is being flushed, the next callers queue up.
//!
//! A [`BatchTail`] (the ledger sequencer) may run at the end of every batch,
//! inside its transaction: what the callers queued is then sequenced by the
//! same commit, and the tail's own failure rolls back only its savepoint.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use diesel::connection::SimpleConnection as _;

use crate::connection::{Database, DbConnection, PooledConn, write_transaction};
use crate::error::StorageError;

/// Most callers in one batch: bounds the time one COMMIT makes anyone wait.
const MAX_BATCH: usize = 256;

/// A queued write: runs inside the batch's transaction, then learns whether
/// the batch committed.
trait Job: Send {
    /// Runs the write; false when it failed (its savepoint must be rolled
    /// back).
    fn run(&mut self, conn: &mut DbConnection) -> bool;
    fn finish(self: Box<Self>, committed: Result<(), &str>);
}

struct Typed<F, T, E> {
    work: Option<F>,
    result: Option<Result<T, E>>,
    reply: mpsc::SyncSender<Result<T, E>>,
}

impl<F, T, E> Job for Typed<F, T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send,
    T: Send,
    E: From<StorageError> + From<diesel::result::Error> + Send,
{
    fn run(&mut self, conn: &mut DbConnection) -> bool {
        let Some(work) = self.work.take() else {
            return true;
        };
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), &str>) {
        let result = match (committed, self.result) {
            (Err(why), None) => Err(unavailable(why).into()),
            (Ok(()), None) => Err(unavailable("the batch ended before this write ran").into()),
            (Ok(()), Some(r)) => r,
            // Its own failure stands (its savepoint was rolled back anyway).
            (Err(_), Some(Err(e))) => Err(e),
            (Err(why), Some(Ok(_))) => Err(unavailable(why).into()),
        };
        // The caller may have gone (it never does: it blocks on this).
        let _ = self.reply.send(result);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("group commit failed: {0}")]
struct GroupCommitFailed(String);

fn unavailable(why: &str) -> StorageError {
    StorageError::Unavailable(Box::new(GroupCommitFailed(why.to_owned())))
}

/// Work run at the end of every group-commit batch, inside the batch's
/// transaction and after its callers' writes (see [`Database::set_batch_tail`]).
pub trait BatchTail: Send + Sync {
    /// Runs in a savepoint of its own: an error rolls back only what this
    /// did, and the batch commits without it. Returns what to run once the
    /// batch has committed, before any caller is answered (dropped unrun
    /// when the commit fails).
    ///
    /// # Errors
    ///
    /// Whatever stopped the tail; the committer logs it.
    fn before_commit(&self, conn: &mut DbConnection) -> Result<Option<AfterCommit>, TailError>;

    /// Whether this batch may have work for [`BatchTail::before_commit`];
    /// when not, the committer skips it and the savepoint it would run in
    /// (on PostgreSQL a round trip). Asked once per batch, on the committer
    /// thread, after the callers' writes.
    fn wants_batch(&self) -> bool {
        true
    }
}

/// What a [`BatchTail`] runs after its batch committed.
pub type AfterCommit = Box<dyn FnOnce() + Send>;

/// Why a [`BatchTail`] did nothing.
pub type TailError = Box<dyn std::error::Error + Send + Sync>;

/// The savepoint each caller's write, and then the tail, runs in.
///
/// Kept here rather than by diesel's nested `transaction`, which sends
/// `SAVEPOINT` and `RELEASE SAVEPOINT` as two statements for every write: on
/// PostgreSQL two round trips, a quarter of all the statements the service
/// sent under load. Here releasing one write's savepoint and opening the
/// next one's is one round trip, and the last one is released by the
/// COMMIT. `ROLLBACK TO` keeps the savepoint, so the next write releases
/// and reopens it as usual. A write that opens a transaction of its own
/// gets one of diesel's savepoints inside this one.
#[derive(Default)]
struct Savepoint {
    open: bool,
}

impl Savepoint {
    fn next(&mut self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        conn.batch_execute(if self.open {
            "RELEASE SAVEPOINT group_write; SAVEPOINT group_write"
        } else {
            "SAVEPOINT group_write"
        })?;
        self.open = true;
        Ok(())
    }

    fn roll_back(&self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        conn.batch_execute("ROLLBACK TO SAVEPOINT group_write")
    }
}

/// The queue shared by a [`Database`]'s clones and its committer threads.
pub(crate) struct GroupQueue {
    jobs: Mutex<VecDeque<Box<dyn Job>>>,
    ready: Condvar,
    started: std::sync::Once,
    /// Weak: the tail (the ledger) holds a [`Database`] itself.
    tail: Mutex<Option<Weak<dyn BatchTail>>>,
    /// Write transactions run so far (group batches and
    /// [`Database::write`]s): the WAL checkpointer skips a database nothing
    /// was written to since its last complete checkpoint.
    pub(crate) commits: AtomicU64,
}

impl std::fmt::Debug for GroupQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupQueue").finish_non_exhaustive()
    }
}

impl GroupQueue {
    pub(crate) fn new() -> Self {
        Self {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            started: std::sync::Once::new(),
            tail: Mutex::new(None),
            commits: AtomicU64::new(0),
        }
    }
}

impl Database {
    /// Runs `f` like [`write_transaction`], but as part of a group commit
    /// with other callers' writes (see the module documentation). Blocks
    /// until the batch's COMMIT is durable. `f` must own what it uses: it
    /// runs on a committer thread.
    ///
    /// Use it for short, independent writes on the request path; a write
    /// that must not share its transaction (a key rotation, the ledger
    /// sequencer) keeps using [`write_transaction`]. Never call it while
    /// holding a pooled connection: the committer takes one from the same
    /// pool, and enough such callers would starve it.
    pub fn group_write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + From<diesel::result::Error> + Send + 'static,
    {
        let queue = self.group_queue();
        queue.started.call_once(|| self.start_committers(queue));
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Box<dyn Job> = Box::new(Typed {
            work: Some(f),
            result: None,
            reply,
        });
        queue
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(job);
        queue.ready.notify_one();
        answer
            .recv()
            .unwrap_or_else(|_| Err(unavailable("the committer stopped").into()))
    }

    /// Runs `tail` at the end of every later batch of this database's
    /// group commits (all clones), replacing any earlier one; it stops when
    /// the tail is dropped.
    pub fn set_batch_tail(&self, tail: Weak<dyn BatchTail>) {
        *self
            .group_queue()
            .tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(tail);
    }

    fn start_committers(&self, queue: &Arc<GroupQueue>) {
        // SQLite has one writer at a time: more committers would only queue
        // on its lock. PostgreSQL overlaps one batch's commit with the next.
        let threads = match self.backend() {
            crate::Backend::Sqlite => 1,
            crate::Backend::Postgres => 3,
        };
        for i in 0..threads {
            let queue = Arc::clone(queue);
            let alive = self.liveness();
            let db = self.clone_without_queue();
            let spawned = std::thread::Builder::new()
                .name(format!("group-commit-{i}"))
                .spawn(move || committer(&queue, &alive, &db));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a group-commit thread");
            }
        }
        if self.backend() == crate::Backend::Sqlite {
            crate::wal::start(queue, self.liveness(), self.clone_without_queue());
        }
    }
}

/// Takes batches off the queue until every application [`Database`]
/// handle is gone (`alive`). Liveness is not the queue's own count: the
/// committers hold the queue, and on PostgreSQL three of them waiting in
/// turn would keep it alive for each other forever.
fn committer(queue: &GroupQueue, alive: &Weak<()>, db: &Database) {
    // Kept from one batch to the next while batches keep coming (see
    // `Database::writer_turn_keeping`), given back to the pool when a wait
    // for the next write ends without one, and after a failed batch, so a
    // broken connection is not kept.
    let mut kept: Option<PooledConn> = None;
    loop {
        // A caller waiting for its batch holds a handle: none is left
        // behind in the queue.
        if alive.strong_count() == 0 {
            return;
        }
        let tail = queue
            .tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(Weak::upgrade);
        let batch: Vec<Box<dyn Job>> = {
            let mut jobs = queue.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            if jobs.is_empty() {
                jobs = queue
                    .ready
                    .wait_timeout(jobs, Duration::from_millis(500))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            let n = jobs.len().min(MAX_BATCH);
            jobs.drain(..n).collect()
        };
        if batch.is_empty() {
            kept = None;
            continue;
        }
        let turn = db.writer_turn_keeping(&mut kept);
        let conn = match kept.take() {
            Some(conn) => Ok(conn),
            None => db.conn(),
        };
        kept = run_batch(turn, conn, batch, tail.as_deref());
        queue.commits.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs one batch on `conn` during the writer's `turn`; returns the
/// connection when the batch committed, for the next one.
fn run_batch(
    turn: Option<MutexGuard<'_, ()>>,
    conn: Result<PooledConn, StorageError>,
    mut batch: Vec<Box<dyn Job>>,
    tail: Option<&dyn BatchTail>,
) -> Option<PooledConn> {
    let batch_write = |c: &mut DbConnection| -> Result<Option<AfterCommit>, StorageError> {
        let mut savepoint = Savepoint::default();
        for job in &mut batch {
            savepoint.next(c)?;
            if !job.run(c) {
                savepoint.roll_back(c)?;
            }
        }
        let Some(tail) = tail.filter(|t| t.wants_batch()) else {
            return Ok(None);
        };
        // In a savepoint too: the tail's failure leaves the callers' writes
        // alone.
        savepoint.next(c)?;
        match tail.before_commit(c) {
            Ok(after) => Ok(after),
            Err(e) => {
                tracing::warn!(error = %e, "the group-commit tail failed; the batch commits without it");
                savepoint.roll_back(c)?;
                Ok(None)
            }
        }
    };
    let (outcome, conn) = match conn {
        Ok(mut conn) => (write_transaction(&mut conn, batch_write), Some(conn)),
        Err(e) => (Err(e), None),
    };
    // The next writer may go while this batch's callers are answered.
    drop(turn);
    let (why, conn) = match outcome {
        Ok(after) => {
            if let Some(after) = after {
                after();
            }
            (None, conn)
        }
        Err(e) => {
            tracing::warn!(error = %e, size = batch.len(), "group commit failed");
            (Some(e.to_string()), None)
        }
    };
    for job in batch {
        job.finish(why.as_deref().map_or(Ok(()), Err));
    }
    conn
}
