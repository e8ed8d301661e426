//! Connections and the pool: [`DbConnection`] (one diesel `MultiConnection`
//! over SQLite and PostgreSQL, so one set of queries serves both),
//! [`Database`] (an r2d2 pool of them, migrated on start),
//! [`write_transaction`] and [`read_snapshot`].
//!
//! Owns the per-connection settings: on SQLite every new connection gets
//! WAL, `synchronous=FULL`, `foreign_keys=ON` and a busy timeout; on
//! PostgreSQL a `connect_timeout` is added to the URL when it has none, so an
//! unreachable server turns into [`StorageError::Unavailable`] instead of a
//! hang. It trusts the URL it is given (TLS settings for PostgreSQL belong in
//! it, e.g. `sslmode=verify-full`) and never logs it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{
    AnsiTransactionManager, InstrumentationEvent, SimpleConnection, TransactionManager,
};
use diesel::r2d2::{
    CustomizeConnection, HandleError, ManageConnection, Pool, PooledConnection, R2D2Connection,
};
use diesel::result::DatabaseErrorKind;
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::error::StorageError;
use crate::migrations;

/// A connection to either backend. Queries in this crate take
/// `&mut DbConnection`; match on it for backend-specific SQL.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// An embedded SQLite database file.
    Sqlite(SqliteConnection),
    /// A PostgreSQL server.
    Postgres(PgConnection),
}

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbConnection::Sqlite(_) => f.write_str("DbConnection::Sqlite"),
            DbConnection::Postgres(_) => f.write_str("DbConnection::Postgres"),
        }
    }
}

impl DbConnection {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Sqlite(_) => Backend::Sqlite,
            DbConnection::Postgres(_) => Backend::Postgres,
        }
    }
}

/// The database backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (embedded default).
    Sqlite,
    /// PostgreSQL (production, several instances may share it).
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// A connection checked out of the [`Database`] pool; derefs to
/// [`DbConnection`] and goes back to the pool on drop.
pub type PooledConn = PooledConnection<ConnectionManager>;

/// How long after a successful liveness check a pooled connection is handed
/// out again without another one.
///
/// r2d2 checks every checkout with `SELECT 1`: one round trip per checkout,
/// about five per request, and on PostgreSQL 11 % of all statements the
/// service sent under load. So each connection is checked at most once per
/// window (as HikariCP's `aliveBypassWindowMs` does). In between, a
/// connection whose statement failed because the server is gone (restart,
/// failover, a killed backend) is dropped when it goes back to the pool:
/// diesel's own check looks only at its transaction state and would hand
/// it out again.
const ALIVE_BYPASS: Duration = Duration::from_secs(1);

/// A pooled [`DbConnection`], when it last passed a liveness check, and
/// whether a statement on it found the server gone.
pub struct Pooled {
    conn: DbConnection,
    checked: Instant,
    lost: Arc<AtomicBool>,
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl fmt::Debug for Pooled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.conn.fmt(f)
    }
}

/// Pool and connection settings for [`Database::connect_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Maximum number of pooled connections (at least 1).
    pub pool_size: u32,
    /// How long [`Database::conn`] waits for a free or new connection before
    /// giving up with [`StorageError::Unavailable`]; also the PostgreSQL
    /// `connect_timeout` added to URLs that have none.
    pub connection_timeout: Duration,
    /// How long a SQLite statement waits for a lock held by another
    /// connection before failing with [`StorageError::Unavailable`].
    pub sqlite_busy_timeout: Duration,
}

impl ConnectOptions {
    /// Defaults (10 s connection timeout, 5 s SQLite busy timeout) with
    /// `pool_size` connections.
    pub fn new(pool_size: u32) -> Self {
        Self {
            pool_size,
            connection_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

/// How long [`Database::ping`] waits for a connection.
pub const PING_TIMEOUT: Duration = Duration::from_millis(800);

/// The storage handle: a pool of migrated connections. Cheap to clone; all
/// clones share the pool.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool<ConnectionManager>,
    backend: Backend,
    /// Writes waiting for a group commit ([`Database::group_write`]).
    group: std::sync::Arc<crate::group::GroupQueue>,
    /// This process's SQLite writers take turns here (see [`Database::write`]).
    gate: std::sync::Arc<std::sync::Mutex<()>>,
    /// Held by every application handle, not by the committers' and the
    /// checkpointer's own: those threads end when the last one is gone.
    alive: std::sync::Arc<()>,
}

impl Database {
    /// Connects to `url` with a pool of at most `pool_size` connections and
    /// applies pending migrations; see [`Database::connect_with`].
    pub fn connect(url: &str, pool_size: u32) -> Result<Database, StorageError> {
        Self::connect_with(url, &ConnectOptions::new(pool_size))
    }

    /// Connects to `url` (`sqlite://PATH`, `postgres://...` or
    /// `postgresql://...`) and applies the pending embedded migrations of
    /// that backend.
    ///
    /// The SQLite file is created when missing; its parent directory must
    /// exist. Errors: [`StorageError::InvalidUrl`] and
    /// [`StorageError::InvalidPoolSize`] for bad settings,
    /// [`StorageError::Unavailable`] when the first connection fails,
    /// [`StorageError::Migration`] when a migration fails.
    pub fn connect_with(url: &str, options: &ConnectOptions) -> Result<Database, StorageError> {
        if options.pool_size == 0 {
            return Err(StorageError::InvalidPoolSize(options.pool_size));
        }
        let target = Target::parse(url, options.connection_timeout)?;
        let backend = target.backend();
        let manager = ConnectionManager { target };
        let customizer = Customizer {
            sqlite_busy_timeout: options.sqlite_busy_timeout,
        };

        // Connect once outside the pool: the error then carries the real
        // cause instead of r2d2's "timed out", and migrations run before any
        // pooled connection is handed out.
        let mut first = manager.connect()?;
        customizer.on_acquire(&mut first)?;
        migrations::run_pending(&mut first.conn)?;
        drop(first);

        // min_idle 0: connections are opened on demand by the thread asking
        // for one, never speculatively in r2d2's background threads. A
        // background connect still running when a short-lived process (say
        // `walletctl init`) exits races libc's exit handlers: OpenSSL's
        // cleanup frees state that libpq's TLS handshake is using, and the
        // process dies with SIGSEGV after its work is done.
        let pool = Pool::builder()
            .max_size(options.pool_size)
            .min_idle(Some(0))
            .connection_timeout(options.connection_timeout)
            .connection_customizer(Box::new(customizer))
            .error_handler(Box::new(TracingErrorHandler))
            .build_unchecked(manager);
        tracing::info!(%backend, pool_size = options.pool_size, "database ready");
        Ok(Database {
            pool,
            backend,
            group: std::sync::Arc::new(crate::group::GroupQueue::new()),
            gate: std::sync::Arc::default(),
            alive: std::sync::Arc::default(),
        })
    }

    /// Runs `f` in a [`write_transaction`] on a pooled connection. On SQLite
    /// the writers of this process first queue on an in-process lock: a
    /// writer that finds the database locked would otherwise sleep in
    /// SQLite's busy handler (1, 2, 5, 10... ms steps), far longer than the
    /// sub-millisecond transactions it waits for. Writers in other processes
    /// (walletctl) still meet on the busy timeout. Never call it from inside
    /// `f` of another `write`.
    pub fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<StorageError> + From<diesel::result::Error>,
    {
        let _turn = self.writer_turn();
        let mut conn = self.conn()?;
        let result = write_transaction(&mut conn, f);
        // Also these commits are for the WAL checkpointer to copy.
        self.group
            .commits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// This process's turn to write to SQLite for a writer that keeps a
    /// connection between writes (the group committer, which keeps its
    /// connection so its page cache stays warm: no other connection commits
    /// in between, so SQLite has no reason to empty it). Taken in
    /// [`Database::write`]'s order, the turn before a connection: when the
    /// turn is not free at once, the kept connection goes back to the pool
    /// first, so the writer holding the turn can always have one.
    pub(crate) fn writer_turn_keeping(
        &self,
        kept: &mut Option<PooledConn>,
    ) -> Option<std::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(match self.gate.try_lock() {
                Ok(turn) => turn,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    *kept = None;
                    self.gate
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                }
            }),
            Backend::Postgres => None,
        }
    }

    /// This process's turn to write to SQLite (see [`Database::write`]).
    fn writer_turn(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        self.writer_turn_keeping(&mut None)
    }

    /// Checks a connection out of the pool, waiting at most the connection
    /// timeout; [`StorageError::Unavailable`] when none can be had.
    pub fn conn(&self) -> Result<PooledConn, StorageError> {
        Ok(self.pool.get()?)
    }

    /// Runs `SELECT 1` on a pooled connection (readiness check), waiting at
    /// most [`PING_TIMEOUT`] for one: a readiness probe must answer within
    /// its own timeout (Kubernetes defaults to 1 s), not the pool's.
    pub fn ping(&self) -> Result<(), StorageError> {
        let mut conn = self.pool.get_timeout(PING_TIMEOUT)?;
        R2D2Connection::ping(&mut conn.conn).map_err(|e| match StorageError::from(e) {
            StorageError::Query(e) => StorageError::Unavailable(Box::new(e)),
            other => other,
        })
    }

    /// Which backend the pool talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn group_queue(&self) -> &std::sync::Arc<crate::group::GroupQueue> {
        &self.group
    }

    /// Whether an application handle of this database is left (see
    /// `alive`), for the threads that serve them.
    pub(crate) fn liveness(&self) -> std::sync::Weak<()> {
        std::sync::Arc::downgrade(&self.alive)
    }

    /// The same pool without the group-commit queue and the application's
    /// liveness: what a committer thread holds, so the thread ends with the
    /// last handle the application holds.
    pub(crate) fn clone_without_queue(&self) -> Database {
        Database {
            pool: self.pool.clone(),
            backend: self.backend,
            group: std::sync::Arc::new(crate::group::GroupQueue::new()),
            gate: self.gate.clone(),
            alive: std::sync::Arc::default(),
        }
    }

    /// Maximum number of pooled connections.
    pub fn pool_size(&self) -> u32 {
        self.pool.max_size()
    }
}

/// Runs `f` in a transaction meant to write: `BEGIN IMMEDIATE` on SQLite, so
/// the write lock is taken up front and a concurrent writer waits on the busy
/// timeout instead of failing half-way with `SQLITE_BUSY`; a plain `BEGIN`
/// (read committed) on PostgreSQL. Commits when `f` returns `Ok`, rolls back
/// otherwise. Called inside another transaction, `f` runs in a savepoint of
/// it (and the outer transaction decides the commit).
///
/// Read-only or single-statement work needs no transaction (but see
/// [`read_snapshot`] for a request's many reads).
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(inner) => {
            match AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE") {
                Ok(()) => {}
                Err(diesel::result::Error::AlreadyInTransaction) => return conn.transaction(f),
                Err(err) => return Err(err.into()),
            }
        }
        // BEGIN, or a savepoint when nested.
        DbConnection::Postgres(_) => return conn.transaction(f),
    }
    type Tm = <DbConnection as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            <Tm as TransactionManager<DbConnection>>::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => match <Tm as TransactionManager<DbConnection>>::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(err),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// Runs `f`, a request's reads, in one read transaction on SQLite, and as
/// it is on PostgreSQL.
///
/// SQLite (in WAL mode) throws a connection's whole page cache away at the
/// start of every read transaction after any write, and a statement outside
/// a transaction is a transaction of its own: under a steady stream of group
/// commits each of a verification's twenty-odd reads walked its B-trees from
/// pages read back from the file. In one transaction the first read warms
/// the cache for the rest, and all of them see one snapshot. On PostgreSQL
/// the `BEGIN` and `COMMIT` would be two more round trips for nothing: each
/// statement already reads a consistent snapshot of its own, and
/// connections keep their buffers shared.
///
/// `f` must only read: on SQLite its transaction is deferred, so a write in
/// it fails at once with `SQLITE_BUSY` when another connection committed
/// after its first read (the busy timeout cannot help a snapshot that is
/// already stale). On SQLite, called inside a transaction, `f` runs in a
/// savepoint of it.
///
/// What `f` reads is as of its first statement: a cache it fills from these
/// reads may be up to the snapshot's age (milliseconds) old.
///
/// # Errors
///
/// `f`'s own, or a [`StorageError`] if the transaction cannot begin or end.
pub fn read_snapshot<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StorageError>,
{
    if conn.backend() != Backend::Sqlite {
        return f(conn);
    }
    type Tm = <DbConnection as Connection>::TransactionManager;
    <Tm as TransactionManager<DbConnection>>::begin_transaction(conn)
        .map_err(StorageError::from)?;
    let result = f(conn);
    let ended = match &result {
        Ok(_) => <Tm as TransactionManager<DbConnection>>::commit_transaction(conn),
        Err(_) => <Tm as TransactionManager<DbConnection>>::rollback_transaction(conn),
    };
    match ended {
        // A failed rollback after `f` failed says less than `f`'s error
        // (and leaves the connection broken, so the pool drops it).
        Err(e) if result.is_ok() => Err(StorageError::from(e).into()),
        _ => result,
    }
}

/// Where new connections go. The PostgreSQL URL may hold a password: it is
/// never printed.
#[derive(Clone)]
enum Target {
    Sqlite(String),
    Postgres(String),
}

impl Target {
    fn parse(url: &str, connect_timeout: Duration) -> Result<Target, StorageError> {
        const EXPECTED: &str = "expected sqlite://PATH, postgres://... or postgresql://...";
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StorageError::InvalidUrl(format!(
                    "sqlite:// URL has no path; {EXPECTED}"
                )));
            }
            if path.starts_with(":memory:") || path.contains("mode=memory") {
                return Err(StorageError::InvalidUrl(
                    "an in-memory SQLite database cannot back a connection pool; use a file"
                        .to_owned(),
                ));
            }
            return Ok(Target::Sqlite(url.to_owned()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if let Some(host) = postgres_host(url)
                && !is_loopback(host)
                && !url.contains("sslmode=verify-full")
            {
                tracing::warn!(
                    "PostgreSQL URL for a non-local host without sslmode=verify-full: \
                     the server's certificate is not verified"
                );
            }
            return Ok(Target::Postgres(with_connect_timeout(url, connect_timeout)));
        }
        let reason = match url.split_once("://") {
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme.len() <= 16
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
            {
                format!("unsupported scheme {scheme:?}; {EXPECTED}")
            }
            _ => format!("no recognised scheme; {EXPECTED}"),
        };
        Err(StorageError::InvalidUrl(reason))
    }

    fn backend(&self) -> Backend {
        match self {
            Target::Sqlite(_) => Backend::Sqlite,
            Target::Postgres(_) => Backend::Postgres,
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sqlite(url) => f.debug_tuple("Sqlite").field(url).finish(),
            Target::Postgres(_) => f.write_str("Postgres(<redacted url>)"),
        }
    }
}

/// The host part of a `postgres://` URL (none for a Unix socket URL).
fn postgres_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1")
        || host.starts_with('/')
        || host.starts_with("%2F")
}

/// Adds `connect_timeout` (whole seconds, at least 2 as libpq requires) to a
/// libpq URL that does not set one.
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let secs = timeout.as_secs().max(2);
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout={secs}")
}

/// The r2d2 connection manager behind [`Database`]: makes connections of the
/// configured backend (unlike the derived `establish`, which would guess
/// from the URL). Made only by [`Database::connect_with`].
#[derive(Debug)]
pub struct ConnectionManager {
    target: Target,
}

impl ManageConnection for ConnectionManager {
    type Connection = Pooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Pooled, diesel::r2d2::Error> {
        let lost = Arc::new(AtomicBool::new(false));
        match &self.target {
            Target::Sqlite(url) => SqliteConnection::establish(url).map(DbConnection::Sqlite),
            Target::Postgres(url) => PgConnection::establish(url).map(|mut c| {
                let flag = Arc::clone(&lost);
                c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
                    if let InstrumentationEvent::FinishQuery { error: Some(e), .. } = event
                        && server_gone(e)
                    {
                        flag.store(true, Ordering::Relaxed);
                    }
                });
                DbConnection::Postgres(c)
            }),
        }
        .map(|conn| Pooled {
            conn,
            checked: Instant::now(),
            lost,
        })
        .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), diesel::r2d2::Error> {
        if conn.checked.elapsed() < ALIVE_BYPASS {
            return Ok(());
        }
        R2D2Connection::ping(&mut conn.conn).map_err(diesel::r2d2::Error::QueryError)?;
        conn.checked = Instant::now();
        Ok(())
    }

    fn has_broken(&self, conn: &mut Pooled) -> bool {
        std::thread::panicking()
            || conn.lost.load(Ordering::Relaxed)
            || R2D2Connection::is_broken(&mut conn.conn)
    }
}

/// Whether `e` says the connection to the server is gone.
fn server_gone(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// Per-connection settings, applied to every new connection.
#[derive(Debug, Clone, Copy)]
struct Customizer {
    sqlite_busy_timeout: Duration,
}

impl CustomizeConnection<Pooled, diesel::r2d2::Error> for Customizer {
    fn on_acquire(&self, conn: &mut Pooled) -> Result<(), diesel::r2d2::Error> {
        match &mut conn.conn {
            DbConnection::Sqlite(c) => {
                let busy_ms = self.sqlite_busy_timeout.as_millis().min(i32::MAX as u128);
                // busy_timeout first, so the WAL switch itself waits for
                // other connections instead of failing.
                // The automatic checkpoint only as a backstop: walletd's own
                // checkpointer keeps it off the group committer (`wal`).
                let backstop = crate::wal::BACKSTOP_PAGES;
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = {busy_ms};\
                     PRAGMA journal_mode = WAL;\
                     PRAGMA synchronous = FULL;\
                     PRAGMA foreign_keys = ON;\
                     PRAGMA wal_autocheckpoint = {backstop};"
                ))
                .map_err(diesel::r2d2::Error::QueryError)
            }
            DbConnection::Postgres(_) => Ok(()),
        }
    }
}

/// Sends r2d2's background connection errors to `tracing`.
#[derive(Debug, Clone, Copy)]
struct TracingErrorHandler;

impl HandleError<diesel::r2d2::Error> for TracingErrorHandler {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(%error, "database connection attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Target, postgres_host, with_connect_timeout};
    use crate::{Backend, StorageError};

    #[test]
    fn urls_pick_the_backend() {
        let t = Duration::from_secs(5);
        assert!(matches!(
            Target::parse("sqlite://data/wallet.db", t).map(|t| t.backend()),
            Ok(Backend::Sqlite)
        ));
        assert!(matches!(
            Target::parse("postgres://u@h/db", t).map(|t| t.backend()),
            Ok(Backend::Postgres)
        ));
        assert!(matches!(
            Target::parse("postgresql://u@h/db", t).map(|t| t.backend()),
            Ok(Backend::Postgres)
        ));
        for bad in [
            "mysql://u:secret@h/db",
            "data/wallet.db",
            "sqlite://",
            "sqlite://:memory:",
            "",
        ] {
            let err = Target::parse(bad, t).map(|t| t.backend());
            assert!(
                matches!(&err, Err(StorageError::InvalidUrl(msg)) if !msg.contains("secret")),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout() {
        let t = Duration::from_secs(7);
        assert_eq!(
            with_connect_timeout("postgres://h/db", t),
            "postgres://h/db?connect_timeout=7"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=require", t),
            "postgres://h/db?sslmode=require&connect_timeout=7"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=1", t),
            "postgres://h/db?connect_timeout=1"
        );
    }

    #[test]
    fn postgres_host_is_found() {
        assert_eq!(
            postgres_host("postgres://u:p@db.example:5432/x"),
            Some("db.example")
        );
        assert_eq!(postgres_host("postgres://127.0.0.1/x"), Some("127.0.0.1"));
        assert_eq!(postgres_host("postgres://[::1]:5432/x"), Some("::1"));
        assert_eq!(postgres_host("postgres:///x?host=/run/postgresql"), None);
    }
}
