//! The `staff` table: accounts of officers, counters, ops and auditors.
//!
//! Bearer tokens are never stored, only a hash of them chosen by the caller
//! (`token_hash`, unique). Disabled accounts stay for attribution (every
//! identity and credential records its `created_by`) but no longer
//! authenticate: [`by_token_hash`] does not return them.

use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::ids::{StaffId, text_enum};
use crate::schema::staff;

text_enum! {
    /// What a staff member may do.
    pub enum StaffRole {
        /// Enrols identities, issues licences of their department, revokes.
        Officer => "officer",
        /// Service counter: challenges and presentation checks.
        Counter => "counter",
        /// Key ceremony, rotation, staff accounts, ledger audit.
        Ops => "ops",
        /// Read-only audit.
        Auditor => "auditor",
    }
}

/// A row of `staff`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = staff)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Staff {
    /// Row id, recorded as `created_by` on what they do.
    pub id: StaffId,
    /// Unique account name.
    pub name: String,
    /// Role.
    pub role: StaffRole,
    /// Department (required for officers; the database checks it).
    pub department: Option<String>,
    /// Hash of the bearer token.
    pub token_hash: Vec<u8>,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// When the account was made.
    pub created_at: i64,
    /// When it was disabled.
    pub disabled_at: Option<i64>,
}

/// A staff account to create (enabled).
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = staff)]
pub struct NewStaff {
    /// Unique account name.
    pub name: String,
    /// Role.
    pub role: StaffRole,
    /// Department; required for officers.
    pub department: Option<String>,
    /// Hash of the bearer token (unique).
    pub token_hash: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
}

/// Creates an account. A taken name or token hash is a
/// [`StorageError::UniqueViolation`] (`staff_name_key`,
/// `staff_token_hash_key`); an officer without a department is a
/// [`StorageError::ConstraintViolation`].
pub fn insert(conn: &mut DbConnection, new: &NewStaff) -> Result<Staff, StorageError> {
    Ok(diesel::insert_into(staff::table)
        .values(new)
        // `as_returning()` does not compile for the MultiConnection backend;
        // the row struct lists the columns in table order instead.
        .returning(staff::all_columns)
        .get_result::<Staff>(conn)?)
}

/// Every account, enabled or not, ordered by name.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Staff>, StorageError> {
    Ok(staff::table
        .order(staff::name.asc())
        .select(Staff::as_select())
        .load(conn)?)
}

/// The account named `name`, enabled or not.
pub fn by_name(conn: &mut DbConnection, name: &str) -> Result<Option<Staff>, StorageError> {
    Ok(staff::table
        .filter(staff::name.eq(name))
        .select(Staff::as_select())
        .first(conn)
        .optional()?)
}

/// The account by id, enabled or not (for attribution).
pub fn by_id(conn: &mut DbConnection, id: StaffId) -> Result<Option<Staff>, StorageError> {
    Ok(staff::table
        .find(id)
        .select(Staff::as_select())
        .first(conn)
        .optional()?)
}

/// The enabled account whose token hashes to `token_hash`; `None` when
/// there is none or it is disabled.
pub fn by_token_hash(
    conn: &mut DbConnection,
    token_hash: &[u8],
) -> Result<Option<Staff>, StorageError> {
    Ok(staff::table
        .filter(staff::token_hash.eq(token_hash))
        .filter(staff::disabled.eq(false))
        .select(Staff::as_select())
        .first(conn)
        .optional()?)
}

/// Disables the account `name` at time `at`. Returns `false` when there is
/// no enabled account of that name.
pub fn disable(conn: &mut DbConnection, name: &str, at: i64) -> Result<bool, StorageError> {
    let changed = diesel::update(
        staff::table
            .filter(staff::name.eq(name))
            .filter(staff::disabled.eq(false)),
    )
    .set((staff::disabled.eq(true), staff::disabled_at.eq(Some(at))))
    .execute(conn)?;
    Ok(changed == 1)
}
