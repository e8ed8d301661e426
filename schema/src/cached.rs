//! Prepared-statement reuse for the hot `UPDATE`s and `INSERT`s, which
//! diesel will not cache by itself.

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
        DbConnection::Postgres(c) => {
            // Our types are built in; the lookup is there for custom ones.
            let collected = collect::<Pg, _, _>(query, c as &mut dyn PgMetadataLookup)?;
            c.execute_returning_count(&collected)
        }
    }
}

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
