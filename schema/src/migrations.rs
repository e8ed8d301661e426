//! The SQL migrations of both backends, embedded in the binary, and the
//! harness to apply, list and revert them.
//!
//! `migrations/sqlite` and `migrations/postgres` hold the same logical schema
//! with the same version names; [`run_pending`] picks the folder that matches
//! the connection. On PostgreSQL it holds a session advisory lock while it
//! works, so several `walletd` instances starting together against one
//! database migrate it once.

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::DbConnection;
use crate::error::{BoxError, SQLITE_UNIQUE_COLUMNS, StorageError};

/// The SQLite migrations (`migrations/sqlite`).
pub const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// The PostgreSQL migrations (`migrations/postgres`).
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Advisory lock key taken while migrating PostgreSQL ("onevisit" in ASCII).
const PG_MIGRATION_LOCK: i64 = 0x6f6e_6576_6973_6974;

/// Applies every pending migration of the connection's backend, in order,
/// each in its own transaction. Returns the versions applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, StorageError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE).map(versions),
        DbConnection::Postgres(c) => {
            with_pg_lock(c, |c| c.run_pending_migrations(POSTGRES).map(versions))
        }
    }
    .map_err(StorageError::Migration)?;
    for version in &applied {
        tracing::info!(%version, "applied database migration");
    }
    Ok(applied)
}

/// Reverts every applied migration, newest first, dropping all tables and
/// their data. For tests of the `down` scripts (run, revert, run again);
/// never called by the service. Returns the versions reverted.
pub fn danger_revert_all(conn: &mut DbConnection) -> Result<Vec<String>, StorageError> {
    match conn {
        DbConnection::Sqlite(c) => c.revert_all_migrations(SQLITE).map(versions),
        DbConnection::Postgres(c) => {
            with_pg_lock(c, |c| c.revert_all_migrations(POSTGRES).map(versions))
        }
    }
    .map_err(StorageError::Migration)
}

/// Reverts the newest applied migration only, keeping the data the older
/// ones hold. For tests that a migration carries existing rows over (revert
/// it, write in the older layout, apply it again); never called by the
/// service. Returns the version reverted.
pub fn danger_revert_last(conn: &mut DbConnection) -> Result<String, StorageError> {
    match conn {
        DbConnection::Sqlite(c) => c.revert_last_migration(SQLITE),
        DbConnection::Postgres(c) => with_pg_lock(c, |c| c.revert_last_migration(POSTGRES)),
    }
    .map(|v| v.to_string())
    .map_err(StorageError::Migration)
}

/// The versions applied to this database, oldest first.
pub fn applied(conn: &mut DbConnection) -> Result<Vec<String>, StorageError> {
    let mut list = match conn {
        DbConnection::Sqlite(c) => MigrationHarness::applied_migrations(c).map(versions),
        DbConnection::Postgres(c) => MigrationHarness::applied_migrations(c).map(versions),
    }
    .map_err(StorageError::Migration)?;
    list.sort();
    Ok(list)
}

/// The names of every unique constraint and unique index the migrations
/// create, as [`StorageError::UniqueViolation`] reports them on both
/// backends.
pub fn unique_constraint_names() -> impl Iterator<Item = &'static str> {
    SQLITE_UNIQUE_COLUMNS.iter().map(|(_, name)| *name)
}

fn versions(list: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    list.into_iter().map(|v| v.to_string()).collect()
}

fn with_pg_lock<T>(
    conn: &mut diesel::PgConnection,
    f: impl FnOnce(&mut diesel::PgConnection) -> Result<T, BoxError>,
) -> Result<T, BoxError> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))?;
    let result = f(conn);
    let unlocked = conn.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"));
    let value = result?;
    unlocked?;
    Ok(value)
}
