//! Staff accounts: creation with a fresh bearer token (only its hash is
//! stored), listing, disabling, and looking tokens up per request.
//!
//! Tokens carry 256 random bits, so a plain SHA-256 is the right hash: a slow
//! password hash would only cost every request time without making a
//! 256-bit secret any harder to guess.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use schema::staff::{self, NewStaff, Staff, StaffRole};
use schema::{Database, StorageError};
use sha2::{Digest as _, Sha256};

use super::DomainError;

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
            token_hash: token_key(token).to_vec(),
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

/// Disables `name`; its token stops working at once on a new lookup, and
/// within [`STAFF_TTL`] on instances that remember it ([`Authenticator`]).
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

/// How long an authenticated account is taken as still enabled without
/// asking the database again: how late a `walletctl staff disable` can take
/// effect on a running instance, the same bound as the key snapshot's.
pub const STAFF_TTL: Duration = Duration::from_secs(1);

/// Most accounts remembered; emptied when full (an instance sees a few
/// hundred counters and officers, not thousands).
const STAFF_CACHE_MAX: usize = 4_096;

/// Looks bearer tokens up, remembering each enabled account it found for
/// [`STAFF_TTL`]. Every authenticated request used to read the staff table
/// on the blocking pool: a thread hand-over and a read transaction that
/// were 7 % of walletd's CPU under verification load. Unknown and disabled
/// tokens are not remembered, so guessing costs a lookup each time and a
/// new account works at once.
pub struct Authenticator {
    db: Database,
    seen: Mutex<HashMap<[u8; 32], (Staff, Instant)>>,
}

impl Authenticator {
    /// Looks tokens up in `db`.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The account holding `token` if it was found enabled less than
    /// [`STAFF_TTL`] before `now`. No I/O: safe on an async worker.
    pub fn remembered(&self, token: &str, now: Instant) -> Option<Staff> {
        let key = token_key(token);
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(&key)
            .filter(|(_, at)| now.saturating_duration_since(*at) < STAFF_TTL)
            .map(|(staff, _)| staff.clone())
    }

    /// The enabled account holding bearer `token`, if any, from the
    /// database (blocking), remembered as of `now`.
    pub fn authenticate(&self, token: &str, now: Instant) -> Result<Option<Staff>, DomainError> {
        let key = token_key(token);
        let found = {
            let mut conn = self.db.conn()?;
            staff::by_token_hash(&mut conn, &key)?
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        match &found {
            Some(account) => {
                if seen.len() >= STAFF_CACHE_MAX {
                    seen.clear();
                }
                seen.insert(key, (account.clone(), now));
            }
            None => {
                seen.remove(&key);
            }
        }
        Ok(found)
    }
}

/// Neither token hashes nor accounts: how many are remembered.
impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let remembered = self.seen.lock().map_or(0, |s| s.len());
        f.debug_struct("Authenticator")
            .field("remembered", &remembered)
            .finish_non_exhaustive()
    }
}

/// Hash under which a bearer token is stored and looked up.
fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests")]

    use super::*;

    #[test]
    fn an_account_is_remembered_for_the_ttl_and_a_disabled_one_is_not_found_after() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let db = Database::connect(&url, 2).expect("database");
        let token = "ovw_test_token";
        add(&db, "desk", StaffRole::Counter, None, token, 0).expect("add");
        let auth = Authenticator::new(db.clone());
        let t0 = Instant::now();

        assert!(
            auth.remembered(token, t0).is_none(),
            "nothing looked up yet"
        );
        let found = auth.authenticate(token, t0).expect("lookup");
        assert_eq!(found.map(|s| s.name), Some("desk".to_owned()));
        assert_eq!(
            auth.remembered(token, t0 + STAFF_TTL / 2).map(|s| s.name),
            Some("desk".to_owned())
        );
        assert!(auth.remembered("ovw_other", t0).is_none());
        let debug = format!("{auth:?}");
        assert!(
            debug.contains("remembered: 1") && !debug.contains("desk"),
            "{debug}"
        );

        // Disabled elsewhere (walletctl): still remembered inside the TTL,
        // never after it, and a lookup then finds nothing.
        disable(&db, "desk", 1).expect("disable");
        assert!(auth.remembered(token, t0 + STAFF_TTL / 2).is_some());
        let later = t0 + STAFF_TTL;
        assert!(auth.remembered(token, later).is_none());
        assert!(auth.authenticate(token, later).expect("lookup").is_none());
        assert!(auth.remembered(token, later).is_none());

        // Unknown tokens are never remembered.
        assert!(
            auth.authenticate("ovw_unknown", t0)
                .expect("lookup")
                .is_none()
        );
        assert!(auth.remembered("ovw_unknown", t0).is_none());
    }
}
