//! Prepared-statement reuse for the hot queries diesel will not cache by
//! itself: every `UPDATE` and every query with a literal SQL fragment.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;

/// `Cached(query)` runs `query` through the connection's statement cache,
/// keyed by its SQL text.
///
/// Diesel prepares an `UPDATE` (its SET list may render differently per
/// call) and any query holding a `sql` literal afresh on every execution.
/// Under load that was parsing and planning the same text thousands of
/// times a second (intent resolution, nonce consumption, the duplicate
/// enrollment check). Keying the cache by the text itself is safe whatever
/// the query renders to: different text, different statement. The type
/// deliberately has no static query id, so the type alone never selects a
/// cached statement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cached<Q>(pub(crate) Q);

impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, DB> QueryFragment<DB> for Cached<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Cached<Q> {}
