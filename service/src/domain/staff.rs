//! Staff accounts: creation with a fresh bearer token (only its hash is
//! stored), listing, disabling.
//!
//! Tokens carry 256 random bits, so a plain SHA-256 is the right hash: a slow
//! password hash would only cost every request time without making a
//! 256-bit secret any harder to guess.

use schema::staff::{self, NewStaff, Staff, StaffRole};
use schema::{Database, StorageError};
use sha2::{Digest as _, Sha256};

use super::DomainError;

/// Hash under which a bearer token is stored and looked up.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates an account and returns it with its bearer token, shown once.
pub fn add(
    db: &Database,
    name: &str,
    role: StaffRole,
    department: Option<&str>,
    token: &str,
    now: i64,
) -> Result<Staff, DomainError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DomainError::invalid(
            "invalid-staff",
            "the staff name is empty",
        ));
    }
    let department = department.map(str::trim).filter(|d| !d.is_empty());
    if role == StaffRole::Officer && department.is_none() {
        return Err(DomainError::invalid(
            "invalid-staff",
            "an officer needs --department",
        ));
    }
    let mut conn = db.conn()?;
    staff::insert(
        &mut conn,
        &NewStaff {
            name: name.to_owned(),
            role,
            department: department.map(str::to_owned),
            token_hash: token_hash(token),
            created_at: now,
        },
    )
    .map_err(|e| match e {
        StorageError::UniqueViolation { .. } => {
            DomainError::conflict("staff-exists", format!("staff {name:?} already exists"))
        }
        other => other.into(),
    })
}

/// Every account, enabled or not.
pub fn list(db: &Database) -> Result<Vec<Staff>, DomainError> {
    let mut conn = db.conn()?;
    Ok(staff::list(&mut conn)?)
}

/// Disables `name`; its token stops working at once.
pub fn disable(db: &Database, name: &str, now: i64) -> Result<(), DomainError> {
    let mut conn = db.conn()?;
    if staff::disable(&mut conn, name, now)? {
        Ok(())
    } else {
        Err(DomainError::not_found(
            "staff-not-found",
            format!("no enabled staff account {name:?}"),
        ))
    }
}

/// The enabled account holding bearer `token`, if any.
pub fn authenticate(db: &Database, token: &str) -> Result<Option<Staff>, DomainError> {
    let mut conn = db.conn()?;
    Ok(staff::by_token_hash(&mut conn, &token_hash(token))?)
}
