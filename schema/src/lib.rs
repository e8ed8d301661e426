//! Storage for OneVisit Wallet: the diesel schema, row models, queries, the
//! connection pool for SQLite and PostgreSQL, and the embedded migrations.
//!
//! This crate is the only one that touches SQL. It owns:
//!
//! - [`schema`]: the `table!` definitions, matching `migrations/sqlite` and
//!   `migrations/postgres` (one logical schema on both backends);
//! - [`Database`]: a pool of [`DbConnection`]s (a diesel `MultiConnection`
//!   over SQLite and PostgreSQL), set up and migrated by [`Database::connect`];
//! - one module per table group with its row types (`X` beside `NewX`) and
//!   queries: [`keys`], [`staff`], [`identities`], [`intents`],
//!   [`credentials`], [`ledger`], [`crls`];
//! - [`StorageError`], which classifies backend failures into what callers
//!   act on (unique violation → 409, unavailable → 503).
//!
//! It trusts the database to enforce the constraints declared in the
//! migrations (uniqueness, checks, foreign keys) and trusts nothing else: it
//! does no HTTP, no HSM calls and no certificate parsing. Everything here
//! blocks; call it from a blocking pool. Times are unix seconds passed in by
//! the caller; this crate never reads a clock.
#![forbid(unsafe_code)]

mod cached;
pub mod challenges;
mod connection;
pub mod credentials;
pub mod crls;
mod error;
mod group;
pub mod identities;
mod ids;
pub mod intents;
pub mod keys;
pub mod ledger;
pub mod migrations;
pub mod ocsp;
pub mod rotation;
pub mod schema;
pub mod staff;
mod wal;

pub use connection::{
    Backend, ConnectOptions, ConnectionManager, Database, DbConnection, MultiBackend, PING_TIMEOUT,
    Pooled, PooledConn, read_snapshot, write_transaction,
};
/// Diesel's error, for callers whose transaction closures return their own
/// error type (it must convert from this one).
pub use diesel::result::Error as DieselError;
pub use error::{InvalidId, StorageError};
pub use group::{AfterCommit, BatchTail, TailError};
pub use ids::{IdentityId, KeyId, KeyRowId, Serial, StaffId};
