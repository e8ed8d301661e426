//! Prepared-statement reuse for the hot statements: the `UPDATE`s and
//! `INSERT`s diesel will not cache by itself, and the hot reads, run on the
//! backend's own connection so a cached statement is found without building
//! its SQL.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::connection::Connection;
use diesel::pg::{Pg, PgMetadataLookup};
use diesel::query_builder::{CollectedQuery, MoveableBindCollector, QueryBuilder, QueryFragment};
use diesel::sql_types::TypeMetadata;
use diesel::sqlite::Sqlite;

use crate::connection::DbConnection;

/// Runs `query` (a statement that returns no rows) through the connection's
/// prepared-statement cache, keyed by its SQL text; returns the number of
/// rows it changed.
///
/// Diesel prepares an `UPDATE` (its SET list may render differently per
/// call) afresh on every execution, and on PostgreSQL every `INSERT` too
/// (a column may render as `DEFAULT`). Under load that was parsing and
/// planning the same few texts thousands of times a second inside the
/// single writer's batch (intent resolution, nonce consumption, every row
/// an issuance stores), and on PostgreSQL one more round trip per statement
/// (an unnamed statement is prepared, then executed). Here the query is rendered
/// and its binds collected first, and the result is handed to diesel as a
/// query that is safe to cache: keyed by its own text, a statement can only
/// ever be reused for that same text.
///
/// (Overriding `is_safe_to_cache_prepared` on a wrapper type does not work:
/// diesel asks through a reference, whose implementation walks the AST and
/// finds the `UPDATE`.)
pub(crate) fn execute<Q>(conn: &mut DbConnection, query: &Q) -> QueryResult<usize>
where
    Q: QueryFragment<Sqlite> + QueryFragment<Pg>,
{
    match conn {
        DbConnection::Sqlite(c) => {
            let collected = collect::<Sqlite, _, _>(query, &mut ())?;
            c.execute_returning_count(&collected)
        }
        DbConnection::Postgres(c) => execute_pg(c, query),
    }
}

/// [`execute`] for a statement only PostgreSQL can run (one that binds
/// arrays, say).
pub(crate) fn execute_pg<Q>(c: &mut diesel::PgConnection, query: &Q) -> QueryResult<usize>
where
    Q: QueryFragment<Pg>,
{
    // Our types are built in; the lookup is there for custom ones.
    let collected = collect::<Pg, _, _>(query, c as &mut dyn PgMetadataLookup)?;
    c.execute_returning_count(&collected)
}

/// Runs a read on the backend's own connection: `native!(conn, c =>
/// query.load(c))`. The expression is written once and type-checked for
/// each backend (a row type's `as_select()` names its backend).
///
/// Through [`DbConnection`] (diesel's multi-connection), every execution of
/// even a cached statement renders the query's SQL, more than once: the
/// wrapper rebuilds its text in every pass over the query, binding
/// included. On the verification path that was 8.5 % of walletd's CPU. On
/// the backend's own connection a query with a static id finds its cached
/// statement by type, and only its binds are collected.
macro_rules! native {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::connection::DbConnection::Sqlite($c) => $body,
            $crate::connection::DbConnection::Postgres($c) => $body,
        }
    };
}
pub(crate) use native;

/// `query`'s SQL text and bind values for backend `DB`.
fn collect<DB, Q, T>(
    query: &Q,
    lookup: &mut <DB as TypeMetadata>::MetadataLookup,
) -> QueryResult<CollectedQuery<T>>
where
    DB: Backend + Default,
    DB::QueryBuilder: Default,
    for<'a> DB::BindCollector<'a>: MoveableBindCollector<DB, BindData = T> + Default,
    Q: QueryFragment<DB>,
{
    let backend = DB::default();
    let mut sql = DB::QueryBuilder::default();
    query.to_sql(&mut sql, &backend)?;
    let mut binds = DB::BindCollector::default();
    query.collect_binds(&mut binds, lookup, &backend)?;
    Ok(CollectedQuery::new(sql.finish(), true, binds.moveable()))
}
