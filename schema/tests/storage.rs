//! Storage integration tests: every test body runs twice, once against a
//! fresh SQLite file in a temporary directory (`sqlite::*`) and once against
//! a fresh PostgreSQL database from `wallet_testkit::PgTestDb`
//! (`postgres::*`; server from `WALLET_TEST_POSTGRES_URL`, default the local
//! one). Each test makes its own database, so they run in parallel under
//! `cargo test` and one per process under nextest.

use std::error::Error;
use std::time::Duration;

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use schema::challenges::{self, Consumed, NewChallenge};
use schema::credentials::{self, CredentialKind, CredentialStatus, NewCredential};
use schema::identities::{self, IdentityStatus, NewIdentity};
use schema::intents::{self, IntentState, NewIssuanceIntent};
use schema::keys::{self, Key, KeyPurpose, KeyState, NewKey};
use schema::ledger::{self, Checkpoint, LedgerLeaf, LedgerNode, NewQueuedLeaf};
use schema::staff::{self, NewStaff, StaffRole};
use schema::{
    Backend, ConnectOptions, Database, DbConnection, IdentityId, KeyId, Serial, StaffId,
    StorageError, crls, migrations, write_transaction,
};
use wallet_testkit::PgTestDb;

type TestResult = Result<(), Box<dyn Error>>;

/// A migrated database and what keeps it alive. `db` is declared first so
/// the pool closes before the database or directory goes away.
struct Fixture {
    db: Database,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgTestDb>,
}

impl Fixture {
    fn sqlite() -> Result<Fixture, Box<dyn Error>> {
        Self::sqlite_with(&ConnectOptions::new(4))
    }

    fn sqlite_with(options: &ConnectOptions) -> Result<Fixture, Box<dyn Error>> {
        let dir = tempfile::Builder::new()
            .prefix("onevisit-schema-")
            .tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("wallet.db").display());
        let db = Database::connect_with(&url, options)?;
        Ok(Fixture {
            db,
            _dir: Some(dir),
            _pg: None,
        })
    }

    fn postgres() -> Result<Fixture, Box<dyn Error>> {
        Self::postgres_with(&ConnectOptions::new(4))
    }

    fn postgres_with(options: &ConnectOptions) -> Result<Fixture, Box<dyn Error>> {
        let pg = PgTestDb::new();
        let db = Database::connect_with(pg.url(), options)?;
        Ok(Fixture {
            db,
            _dir: None,
            _pg: Some(pg),
        })
    }
}

/// Declares `sqlite::<name>` and `postgres::<name>` tests for each body
/// `fn <name>(&Fixture) -> TestResult`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() -> super::TestResult {
                    let fixture = super::Fixture::sqlite()?;
                    assert_eq!(fixture.db.backend(), schema::Backend::Sqlite);
                    super::$name(&fixture)
                }
            )+
        }

        mod postgres {
            $(
                #[test]
                fn $name() -> super::TestResult {
                    let fixture = super::Fixture::postgres()?;
                    assert_eq!(fixture.db.backend(), schema::Backend::Postgres);
                    super::$name(&fixture)
                }
            )+
        }
    };
}

on_both_backends!(
    migrations_run_once,
    migrations_redo,
    layout_migration_keeps_rows,
    unique_constraint_names_match_the_migrations,
    ping_works,
    keys_insert_list_active,
    key_state_moves,
    one_active_key_per_purpose,
    failed_rotation_rolls_back,
    rotation_requests_need_two_people,
    staff_lookup_ignores_disabled,
    staff_constraints,
    identity_dedup_unique_among_active,
    credential_license_number_unique_per_type,
    serials_unique_across_intents_and_credentials,
    ledger_tables,
    crls_by_issuer,
    pool_timeout_is_unavailable,
    group_writes_commit_together_and_fail_alone,
    group_commit_tail_runs_in_the_batch_and_fails_alone,
    read_snapshot_reads_one_snapshot_and_passes_errors_on,
    challenges_are_used_once,
);

/// Many threads' writes through one group commit: every success is
/// visible once its caller returns, a unique violation fails only its own
/// caller (its savepoint), and nothing of a failed write is left.
fn group_writes_commit_together_and_fail_alone(f: &Fixture) -> TestResult {
    let threads = 48;
    let results: Vec<Result<String, StorageError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let db = f.db.clone();
                s.spawn(move || {
                    // Every eighth thread reuses thread 0's name: a duplicate.
                    let name = if i % 8 == 7 {
                        "g-0".to_owned()
                    } else {
                        format!("g-{i}")
                    };
                    let returned = name.clone();
                    db.group_write(move |c| -> Result<String, StorageError> {
                        // Two statements: the second fails for duplicates, and
                        // the first (a unique, valid row) must roll back with it.
                        staff::insert(
                            c,
                            &new_staff(&format!("first-{i}"), StaffRole::Counter, None),
                        )?;
                        staff::insert(c, &new_staff(&name, StaffRole::Counter, None))?;
                        Ok(returned)
                    })
                })
            })
            .collect();
        join_all(handles)
    });
    let mut conn = f.db.conn()?;
    let names: Vec<String> = staff::list(&mut conn)?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let mut failed = 0;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(name) => {
                assert!(names.contains(name), "{name} committed");
                assert!(names.contains(&format!("first-{i}")));
            }
            Err(e) => {
                assert!(i % 8 == 7 || i == 0, "thread {i} failed: {e}");
                // Name and token hash are both unique; either may be reported.
                assert!(e.unique_constraint().is_some(), "{e}");
                assert!(
                    !names.contains(&format!("first-{i}")),
                    "savepoint rolled back"
                );
                failed += 1;
            }
        }
    }
    // g-0 was inserted once: by thread 0 or by one of the duplicates.
    assert_eq!(failed, threads / 8);
    assert_eq!(names.iter().filter(|n| *n == "g-0").count(), 1);
    Ok(())
}

/// A tail that sees each batch's writes, writes a marker row of its own,
/// and every third call fails after writing: the failures leave nothing and
/// fail nobody; a success's after-commit step runs before its callers are
/// answered.
struct MarkerTail {
    calls: std::sync::atomic::AtomicUsize,
    /// Names the successful calls saw, added after their batch committed.
    seen: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl schema::BatchTail for MarkerTail {
    fn before_commit(
        &self,
        conn: &mut DbConnection,
    ) -> Result<Option<schema::AfterCommit>, schema::TailError> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let visible: Vec<String> = staff::list(conn)?.into_iter().map(|s| s.name).collect();
        if n % 3 == 1 {
            staff::insert(
                conn,
                &new_staff(&format!("tail-bad-{n}"), StaffRole::Counter, None),
            )?;
            return Err("this call fails".into());
        }
        staff::insert(
            conn,
            &new_staff(&format!("tail-{n}"), StaffRole::Counter, None),
        )?;
        let seen = std::sync::Arc::clone(&self.seen);
        Ok(Some(Box::new(move || {
            seen.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(visible);
        })))
    }
}

fn group_commit_tail_runs_in_the_batch_and_fails_alone(f: &Fixture) -> TestResult {
    let tail = std::sync::Arc::new(MarkerTail {
        calls: std::sync::atomic::AtomicUsize::new(0),
        seen: std::sync::Arc::default(),
    });
    let as_tail: std::sync::Arc<dyn schema::BatchTail> = tail.clone();
    f.db.set_batch_tail(std::sync::Arc::downgrade(&as_tail));
    let threads = 32;
    let answered: Vec<Result<bool, StorageError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (db, seen) = (f.db.clone(), std::sync::Arc::clone(&tail.seen));
                s.spawn(move || {
                    let name = format!("w-{i}");
                    let mine = name.clone();
                    db.group_write(move |c| {
                        staff::insert(c, &new_staff(&name, StaffRole::Counter, None))
                    })?;
                    // Answered after the after-commit step of its batch, if any.
                    Ok(seen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .contains(&mine))
                })
            })
            .collect();
        join_all(handles)
    });
    let calls = tail.calls.load(std::sync::atomic::Ordering::SeqCst);
    assert!(calls >= 1);
    let mut seen_at_answer = 0;
    for r in answered {
        if r? {
            seen_at_answer += 1;
        }
    }
    // The first call succeeds, and its batch had at least one caller.
    assert!(seen_at_answer >= 1);
    let names: Vec<String> = staff::list(&mut *f.db.conn()?)?
        .into_iter()
        .map(|s| s.name)
        .collect();
    for i in 0..threads {
        assert!(names.contains(&format!("w-{i}")), "w-{i} committed");
    }
    for n in 0..calls {
        let good = format!("tail-{n}");
        let bad = format!("tail-bad-{n}");
        assert_eq!(names.contains(&good), n % 3 != 1, "{good}");
        assert!(!names.contains(&bad), "{bad} rolled back");
    }
    // Every name a successful tail saw was committed.
    for name in tail
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        assert!(names.contains(name), "{name}");
    }
    Ok(())
}

/// Joins scoped threads; a panicked thread counts as a failed write.
fn join_all<T>(
    handles: Vec<std::thread::ScopedJoinHandle<'_, Result<T, StorageError>>>,
) -> Vec<Result<T, StorageError>> {
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(StorageError::InvalidPoolSize(0)))
        })
        .collect()
}

// ---------------------------------------------------------------- builders

const T0: i64 = 1_790_000_000;

#[expect(clippy::expect_used, reason = "fixed, well-formed test data")]
fn key_id(n: u8) -> KeyId {
    KeyId::from_bytes(&[0xab, n, 0x01, 0x02]).expect("non-empty")
}

fn new_key(purpose: KeyPurpose, generation: i32, state: KeyState, id: u8) -> NewKey {
    NewKey {
        purpose,
        generation,
        key_id: key_id(id),
        label: purpose.label(generation),
        state,
        spki: (purpose != KeyPurpose::DedupHmac).then(|| vec![0x30, id]),
        certificate: None,
        not_before: None,
        not_after: None,
        created_at: T0,
        activated_at: (state == KeyState::Active).then_some(T0),
    }
}

fn new_staff(name: &str, role: StaffRole, department: Option<&str>) -> NewStaff {
    NewStaff {
        name: name.to_owned(),
        role,
        department: department.map(str::to_owned),
        token_hash: format!("hash-of-{name}").into_bytes(),
        created_at: T0,
    }
}

#[expect(clippy::expect_used, reason = "fixed, well-formed test data")]
fn identity_id(n: u8) -> IdentityId {
    IdentityId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02x}")).expect("a UUID")
}

fn new_identity(n: u8, hmac: &[u8], by: StaffId) -> NewIdentity {
    NewIdentity {
        id: identity_id(n),
        dedup_hmac: hmac.to_vec(),
        full_name: format!("Person {n}"),
        birth_date: "1990-04-01".to_owned(),
        address: "1 Main Street".to_owned(),
        created_at: T0,
        created_by: by,
    }
}

#[expect(clippy::expect_used, reason = "fixed, well-formed test data")]
fn serial(n: u16) -> Serial {
    Serial::from_bytes(&[0x4f, (n >> 8) as u8, n as u8, 0x99]).expect("non-empty")
}

/// Staff, an active identity CA and licence CA key, and one identity.
struct World {
    officer: StaffId,
    identity_ca: KeyId,
    license_ca: KeyId,
    holder: IdentityId,
}

fn world(conn: &mut DbConnection) -> Result<World, Box<dyn Error>> {
    let officer = staff::insert(
        conn,
        &new_staff("alice", StaffRole::Officer, Some("market-regulation")),
    )?;
    let ica = keys::insert(
        conn,
        &new_key(KeyPurpose::IdentityCa, 1, KeyState::Active, 10),
    )?;
    let lca = keys::insert(
        conn,
        &new_key(KeyPurpose::LicenseCa, 1, KeyState::Active, 11),
    )?;
    let holder = identities::insert(conn, &new_identity(1, b"hmac-1", officer.id))?;
    Ok(World {
        officer: officer.id,
        identity_ca: ica.key_id,
        license_ca: lca.key_id,
        holder: holder.id,
    })
}

fn intent(w: &World, serial: &Serial, license_type: Option<&str>) -> NewIssuanceIntent {
    NewIssuanceIntent {
        serial: serial.clone(),
        identity_id: w.holder.clone(),
        kind: if license_type.is_some() {
            CredentialKind::License
        } else {
            CredentialKind::Identity
        },
        license_type: license_type.map(str::to_owned),
        license_number: license_type.map(|t| format!("{t}-{}", serial.as_str())),
        issuer_key_id: if license_type.is_some() {
            w.license_ca.clone()
        } else {
            w.identity_ca.clone()
        },
        created_at: T0,
        created_by: w.officer,
    }
}

fn credential(w: &World, serial: &Serial, license: Option<(&str, &str)>) -> NewCredential {
    let digest = format!("{:0>64}", serial.as_str());
    NewCredential {
        serial: serial.clone(),
        identity_id: w.holder.clone(),
        kind: if license.is_some() {
            CredentialKind::License
        } else {
            CredentialKind::Identity
        },
        license_type: license.map(|(t, _)| t.to_owned()),
        license_number: license.map(|(_, n)| n.to_owned()),
        issuer_key_id: if license.is_some() {
            w.license_ca.clone()
        } else {
            w.identity_ca.clone()
        },
        certificate: vec![0x30, 0x82, 0x01],
        cert_sha256: digest,
        not_before: T0,
        not_after: T0 + 86_400 * 365,
        created_at: T0,
        created_by: w.officer,
    }
}

/// Records the intent and the credential, as issuance does.
fn issue(
    conn: &mut DbConnection,
    w: &World,
    serial: &Serial,
    license: Option<(&str, &str)>,
) -> Result<credentials::Credential, StorageError> {
    write_transaction(conn, |conn| {
        intents::insert(conn, &intent(w, serial, license.map(|(t, _)| t)))?;
        let stored = credentials::insert(conn, &credential(w, serial, license))?;
        intents::resolve(conn, serial, IntentState::Completed, T0 + 1)?;
        Ok(stored)
    })
}

#[expect(clippy::panic, reason = "test assertion")]
fn assert_unique(result: Result<impl std::fmt::Debug, StorageError>, constraint: &str) {
    match result {
        Err(err @ StorageError::UniqueViolation { .. }) => {
            assert_eq!(err.unique_constraint(), Some(constraint), "{err:?}");
        }
        other => panic!("expected unique violation of {constraint}, got {other:?}"),
    }
}

fn assert_constraint(result: Result<impl std::fmt::Debug, StorageError>) {
    assert!(
        matches!(result, Err(StorageError::ConstraintViolation(_))),
        "expected a constraint violation, got {result:?}"
    );
}

// ---------------------------------------------------------------- migrations

/// Every migration version, oldest first.
const VERSIONS: [&str; 5] = [
    "20261121000000",
    "20261121000001",
    "20261121000002",
    "20261121000003",
    "20261122000004",
];

fn migrations_run_once(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let mut applied = migrations::applied(&mut conn)?;
    applied.sort();
    assert_eq!(applied, VERSIONS);
    // Running again applies nothing; tables are there and empty.
    assert!(migrations::run_pending(&mut conn)?.is_empty());
    assert!(keys::list_all(&mut conn)?.is_empty());
    assert!(staff::list(&mut conn)?.is_empty());
    Ok(())
}

fn migrations_redo(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    staff::insert(&mut conn, &new_staff("before", StaffRole::Ops, None))?;

    let reverted = migrations::danger_revert_all(&mut conn)?;
    // Newest first.
    let newest_first: Vec<&str> = VERSIONS.iter().rev().copied().collect();
    assert_eq!(reverted, newest_first);
    assert!(migrations::applied(&mut conn)?.is_empty());
    // Every table is gone.
    assert!(matches!(
        staff::list(&mut conn),
        Err(StorageError::Query(_))
    ));
    assert!(matches!(
        ledger::tree_size(&mut conn),
        Err(StorageError::Query(_))
    ));

    let applied = migrations::run_pending(&mut conn)?;
    assert_eq!(applied, VERSIONS);
    assert!(staff::list(&mut conn)?.is_empty());
    staff::insert(&mut conn, &new_staff("after", StaffRole::Ops, None))?;
    assert_eq!(staff::list(&mut conn)?.len(), 1);
    drop(conn);

    // A second pool on the same database finds nothing to do.
    assert!(
        f.db.conn()
            .map(|mut c| migrations::run_pending(&mut c))??
            .is_empty()
    );
    Ok(())
}

/// The storage-layout migration (20261122000004) keeps every ledger row and
/// intent written before it, and its revert keeps them too. On SQLite, the
/// reads a proof makes then take one B-tree search each.
fn layout_migration_keeps_rows(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    assert_eq!(migrations::danger_revert_last(conn)?, "20261122000004");
    let w = world(conn)?;
    issue(conn, &w, &serial(1), None)?;
    let key = keys::insert(conn, &new_key(KeyPurpose::Ledger, 1, KeyState::Active, 1))?;
    let leaves: Vec<LedgerLeaf> = (0..3u8)
        .map(|i| LedgerLeaf {
            leaf_index: i64::from(i),
            entry: format!("{{\"n\":{i}}}"),
            leaf_hash: vec![i + 1; 32],
            integrated_at: T0,
        })
        .collect();
    let nodes = [(0, 2, 3u8), (1, 0, 9), (0, 0, 1)].map(|(level, node_index, byte)| LedgerNode {
        level,
        node_index,
        hash: vec![byte; 32],
    });
    let checkpoint = Checkpoint {
        tree_size: 3,
        root_hash: vec![7; 32],
        note: "onevisit.local/ledger\n3\n...\n".into(),
        key_id: key.key_id.clone(),
        signed_at: T0,
    };
    write_transaction(conn, |c| -> Result<(), StorageError> {
        ledger::insert_leaves(c, &leaves)?;
        ledger::insert_nodes(c, &nodes)?;
        ledger::insert_checkpoint(c, &checkpoint)
    })?;

    let read = |c: &mut DbConnection| -> Result<_, StorageError> {
        let mut found = Vec::new();
        for n in &nodes {
            found.push(ledger::node(c, n.level, n.node_index)?);
        }
        Ok((
            ledger::leaves(c, 0, 10)?,
            found,
            ledger::latest_checkpoint(c)?,
            ledger::leaf_index_by_hash(c, &[3; 32])?,
            intents::by_serial(c, &serial(1))?.map(|i| i.state),
            ledger::tree_size(c)?,
        ))
    };
    let before = read(conn)?;
    assert_eq!(before.0, leaves);
    assert_eq!(before.2.as_ref(), Some(&checkpoint));
    assert_eq!(before.3, Some(2));
    assert_eq!(before.5, 3);

    assert_eq!(migrations::run_pending(conn)?, ["20261122000004"]);
    assert_eq!(read(conn)?, before);
    // Written once, as before the migration.
    let again = LedgerLeaf {
        leaf_index: 3,
        ..leaves[0].clone()
    };
    assert_unique(
        ledger::insert_leaves(conn, &[again]),
        "ledger_leaves_leaf_hash_key",
    );
    let taken = LedgerLeaf {
        leaf_hash: vec![9; 32],
        ..leaves[0].clone()
    };
    assert_unique(ledger::insert_leaves(conn, &[taken]), "ledger_leaves_pkey");
    assert_unique(ledger::insert_nodes(conn, &nodes[..1]), "ledger_nodes_pkey");
    assert_unique(
        ledger::insert_checkpoint(conn, &checkpoint),
        "ledger_checkpoints_pkey",
    );
    // Checks and the checkpoint's reference to its key hold as before.
    let negative = LedgerLeaf {
        leaf_index: -1,
        leaf_hash: vec![8; 32],
        ..leaves[0].clone()
    };
    assert_constraint(ledger::insert_leaves(conn, &[negative]));
    let unknown_key = Checkpoint {
        tree_size: 4,
        key_id: key_id(99),
        ..checkpoint.clone()
    };
    assert_constraint(ledger::insert_checkpoint(conn, &unknown_key));
    assert!(!has_index(conn, "issuance_intents_identity_id")?);

    if let DbConnection::Sqlite(c) = &mut **conn {
        let mut plan = |sql: &str| query_plan(c, sql);
        let by_hash = plan("SELECT leaf_index FROM ledger_leaves WHERE leaf_hash = x'00'")?;
        assert!(by_hash.contains("USING COVERING INDEX"), "{by_hash}");
        let node = plan("SELECT hash FROM ledger_nodes WHERE level = 1 AND node_index = 0")?;
        assert!(node.contains("USING PRIMARY KEY"), "{node}");
        let latest = plan("SELECT note FROM ledger_checkpoints ORDER BY tree_size DESC LIMIT 1")?;
        assert_eq!(latest, "SCAN ledger_checkpoints");
    }
    assert_eq!(migrations::danger_revert_last(conn)?, "20261122000004");
    assert_eq!(read(conn)?, before);
    assert!(has_index(conn, "issuance_intents_identity_id")?);
    if let DbConnection::Sqlite(c) = &mut **conn {
        // The old layout again: leaf, node and checkpoint keys are
        // indexes beside the rowid.
        for (table, sql) in [
            (
                "ledger_leaves",
                "SELECT entry FROM ledger_leaves WHERE leaf_index = 1",
            ),
            (
                "ledger_nodes",
                "SELECT hash FROM ledger_nodes WHERE level = 1 AND node_index = 0",
            ),
            (
                "ledger_checkpoints",
                "SELECT note FROM ledger_checkpoints WHERE tree_size = 3",
            ),
        ] {
            let plan = query_plan(c, sql)?;
            assert!(
                plan.contains(&format!("USING INDEX sqlite_autoindex_{table}_")),
                "{plan}"
            );
        }
    }
    Ok(())
}

/// SQLite's query plan for `sql`, its steps joined with "; ".
fn query_plan(
    c: &mut diesel::SqliteConnection,
    sql: &str,
) -> Result<String, diesel::result::Error> {
    Ok(diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load::<Plan>(c)?
        .into_iter()
        .map(|p| p.detail)
        .collect::<Vec<_>>()
        .join("; "))
}

/// Whether the database has an index named `name`.
fn has_index(conn: &mut DbConnection, name: &str) -> Result<bool, Box<dyn Error>> {
    let found: Vec<Name> = match conn {
        DbConnection::Sqlite(c) => {
            diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'index' AND name = $1")
                .bind::<Text, _>(name)
                .load(c)?
        }
        DbConnection::Postgres(c) => diesel::sql_query(
            "SELECT indexname AS name FROM pg_indexes \
             WHERE schemaname = current_schema() AND indexname = $1",
        )
        .bind::<Text, _>(name)
        .load(c)?,
    };
    Ok(!found.is_empty())
}

#[derive(QueryableByName)]
struct Plan {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The unique constraint names reported on SQLite (mapped from column
/// lists) cover exactly the unique constraints and indexes of both schemas.
fn unique_constraint_names_match_the_migrations(f: &Fixture) -> TestResult {
    let mut expected: Vec<String> = migrations::unique_constraint_names()
        .map(str::to_owned)
        .collect();
    expected.sort();
    let mut conn = f.db.conn()?;
    let mut found: Vec<String> = match &mut **conn {
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT indexname AS name FROM pg_indexes \
             WHERE schemaname = current_schema() AND indexdef LIKE 'CREATE UNIQUE INDEX%' \
               AND tablename <> '__diesel_schema_migrations'",
        )
        .load::<Name>(pg)?
        .into_iter()
        .map(|n| n.name)
        .collect(),
        DbConnection::Sqlite(sqlite) => {
            // Column lists of every unique index, as SQLite's error
            // messages print them, then mapped like StorageError does.
            let lists = diesel::sql_query(
                "SELECT (SELECT group_concat(m.name || '.' || ii.name, ', ') \
                         FROM (SELECT * FROM pragma_index_info(il.name) ORDER BY seqno) ii) AS name \
                 FROM sqlite_master m, pragma_index_list(m.name) il \
                 WHERE m.type = 'table' AND il.\"unique\" = 1 \
                   AND m.name NOT IN ('__diesel_schema_migrations', 'sqlite_sequence')",
            )
            .load::<Name>(sqlite)?;
            let mut names = Vec::new();
            for list in lists {
                // Map the column list exactly as a real violation is mapped.
                let message = format!("UNIQUE constraint failed: {}", list.name);
                let err = StorageError::from(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    Box::new(message),
                ));
                let name = err.unique_constraint().unwrap_or("unknown").to_owned();
                assert_ne!(
                    name, "unknown",
                    "no constraint name for SQLite unique index on {}",
                    list.name
                );
                names.push(name);
            }
            // INTEGER PRIMARY KEYs are the rowid, not an index.
            names.extend(
                [
                    "key_certificates_pkey",
                    "keys_pkey",
                    "ledger_checkpoints_pkey",
                    "ledger_leaves_pkey",
                    "ledger_queue_pkey",
                    "staff_pkey",
                ]
                .map(str::to_owned),
            );
            names
        }
    };
    found.sort();
    assert_eq!(found, expected);
    Ok(())
}

#[derive(QueryableByName)]
struct Pragma {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(QueryableByName)]
struct Autocheckpoint {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    wal_autocheckpoint: i64,
}

/// Every pooled SQLite connection, not just the first, has the settings.
#[test]
fn sqlite_pragmas_are_set() -> TestResult {
    let f = Fixture::sqlite()?;
    let mut held = Vec::new();
    for _ in 0..f.db.pool_size() {
        held.push(f.db.conn()?);
    }
    for conn in &mut held {
        let DbConnection::Sqlite(c) = &mut ***conn else {
            return Err("not a SQLite connection".into());
        };
        let mut pragma = |sql: &str| -> Result<String, diesel::result::Error> {
            diesel::sql_query(sql)
                .get_result::<Pragma>(c)
                .map(|p| p.value)
        };
        assert_eq!(
            pragma("SELECT journal_mode AS value FROM pragma_journal_mode")?,
            "wal"
        );
        assert_eq!(
            pragma("SELECT CAST(foreign_keys AS TEXT) AS value FROM pragma_foreign_keys")?,
            "1"
        );
        // FULL = 2
        assert_eq!(
            pragma("SELECT CAST(synchronous AS TEXT) AS value FROM pragma_synchronous")?,
            "2"
        );
        assert_eq!(
            pragma("SELECT CAST(timeout AS TEXT) AS value FROM pragma_busy_timeout")?,
            "5000"
        );
        // The bundled SQLite's build flags (.cargo/config.toml): savepoint
        // journals of up to 4 MiB stay in memory, bigger ones go to a file.
        assert_eq!(
            pragma(
                "SELECT compile_options AS value FROM pragma_compile_options \
                 WHERE compile_options LIKE 'STMTJRNL_SPILL=%'"
            )?,
            "STMTJRNL_SPILL=4194304"
        );
        // The automatic checkpoint is only a backstop (see the next test).
        // A pragma that can write has no table-valued form.
        let backstop: Autocheckpoint =
            diesel::sql_query("PRAGMA wal_autocheckpoint").get_result(c)?;
        assert_eq!(backstop.wal_autocheckpoint, 10_000);
    }
    Ok(())
}

/// Group commits are checkpointed into the database file by a thread of
/// their own: 2 MB committed through the group commit (about 500 WAL
/// pages, far below the automatic checkpoint's backstop threshold) reach
/// the database file while every connection stays open.
#[test]
fn sqlite_group_commits_are_checkpointed_in_the_background() -> TestResult {
    let f = Fixture::sqlite()?;
    let path = f
        ._dir
        .as_ref()
        .ok_or("no directory")?
        .path()
        .join("wallet.db");
    // An open connection: no checkpoint-on-close can be what moves the pages.
    let _open = f.db.conn()?;
    f.db.group_write(|c| -> Result<(), StorageError> {
        diesel::sql_query("CREATE TABLE filler (b BLOB NOT NULL)").execute(c)?;
        diesel::sql_query("INSERT INTO filler VALUES (zeroblob(2000000))").execute(c)?;
        Ok(())
    })?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let size = std::fs::metadata(&path)?.len();
        if size >= 2_000_000 {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("database file still {size} bytes after 10 s").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// With a pool of one connection, a writer of its own ([`Database::write`])
/// and a steady group commit, whose committer keeps its connection between
/// batches, still take turns: the committer gives its connection back when
/// the writer's turn is taken, instead of holding it while it waits.
#[test]
fn sqlite_writer_and_group_commit_share_a_pool_of_one() -> TestResult {
    let mut options = ConnectOptions::new(1);
    options.connection_timeout = Duration::from_secs(3);
    let f = Fixture::sqlite_with(&options)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let steady = {
        let (db, stop) = (f.db.clone(), stop.clone());
        std::thread::spawn(move || -> Result<u32, StorageError> {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let name = format!("group-{n}");
                db.group_write(move |c| {
                    staff::insert(c, &new_staff(&name, StaffRole::Ops, None)).map(|_| ())
                })?;
            }
            Ok(n)
        })
    };
    let mut own = 0;
    let result = (0..20).try_for_each(|i| {
        std::thread::sleep(Duration::from_millis(10));
        own += 1;
        f.db.write(|c| staff::insert(c, &new_staff(&format!("own-{i}"), StaffRole::Ops, None)))
            .map(|_| ())
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let grouped = steady.join().map_err(|_| "group writer panicked")??;
    result?;
    let mut conn = f.db.conn()?;
    assert_eq!(staff::list(&mut conn)?.len(), own + grouped as usize);
    Ok(())
}

/// The group committer and the WAL checkpointer end with the last handle
/// of the database: its last connection closes, and SQLite, as it does
/// then, checkpoints the WAL and removes it.
#[test]
fn sqlite_threads_end_with_the_last_handle() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("w.db");
    let db = Database::connect(&format!("sqlite://{}", path.display()), 4)?;
    db.group_write(|c| staff::insert(c, &new_staff("one", StaffRole::Ops, None)).map(|_| ()))?;
    let wal = dir.path().join("w.db-wal");
    assert!(wal.exists(), "the WAL is in use while the database is open");
    drop(db);
    wait_for(
        || Ok(!wal.exists()),
        "the WAL still exists: a thread keeps the pool",
    )
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// PostgreSQL's three committers end with the last handle of the database,
/// and its pool's connections close: before, each committer held the queue
/// while it waited, so three of them kept it alive for each other.
#[test]
fn postgres_committers_end_with_the_last_handle() -> TestResult {
    let pg = PgTestDb::new();
    let db = Database::connect(pg.url(), 4)?;
    db.group_write(|c| staff::insert(c, &new_staff("one", StaffRole::Ops, None)).map(|_| ()))?;
    drop(db);
    let watcher = Database::connect(pg.url(), 1)?;
    let mut conn = watcher.conn()?;
    let DbConnection::Postgres(c) = &mut **conn else {
        return Err("not a PostgreSQL connection".into());
    };
    wait_for(
        || {
            let others: Count = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .get_result(c)?;
            Ok(others.n == 0)
        },
        "connections of the dropped pool are still open",
    )
}

/// Polls `done` every 20 ms for up to 10 s.
fn wait_for(mut done: impl FnMut() -> Result<bool, Box<dyn Error>>, failure: &str) -> TestResult {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done()? {
        if std::time::Instant::now() > deadline {
            return Err(failure.into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn ping_works(f: &Fixture) -> TestResult {
    f.db.ping()?;
    f.db.ping()?;
    Ok(())
}

// ---------------------------------------------------------------- keys

fn rotation_requests_need_two_people(f: &Fixture) -> TestResult {
    use schema::rotation::{self, NewRotationRequest, RequestState};
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let alice = staff::insert(conn, &new_staff("alice", StaffRole::Ops, None))?;
    let bob = staff::insert(conn, &new_staff("bob", StaffRole::Ops, None))?;
    let root2 = keys::insert(conn, &new_key(KeyPurpose::Root, 2, KeyState::Pending, 2))?;
    let request = |id: &str| NewRotationRequest {
        id: id.to_owned(),
        purpose: KeyPurpose::Root,
        state: RequestState::Pending,
        requested_by: alice.id,
        requested_at: T0,
        expires_at: T0 + 60,
    };
    let first = "00000000-0000-4000-8000-000000000001";
    rotation::insert_request(conn, &request(first))?;
    // One open request per purpose.
    assert_unique(
        rotation::insert_request(conn, &request("00000000-0000-4000-8000-000000000002")),
        "key_rotation_requests_one_open",
    );
    // The database itself refuses the requester as approver.
    assert!(matches!(
        rotation::approve(conn, first, alice.id, T0 + 1),
        Err(StorageError::ConstraintViolation(_))
    ));
    // Too late is no approval; expiry frees the purpose.
    assert!(!rotation::approve(conn, first, bob.id, T0 + 60)?);
    assert_eq!(rotation::expire_requests(conn, T0 + 60)?, 1);
    assert_eq!(
        rotation::request(conn, first)?.map(|r| r.state),
        Some(RequestState::Expired)
    );
    let second = "00000000-0000-4000-8000-000000000003";
    rotation::insert_request(conn, &request(second))?;
    assert!(rotation::approve(conn, second, bob.id, T0 + 5)?);
    assert!(
        !rotation::approve(conn, second, bob.id, T0 + 6)?,
        "approved once"
    );
    assert!(rotation::complete(conn, second, &root2.key_id, T0 + 7)?);
    let done = rotation::request(conn, second)?.ok_or("request vanished")?;
    assert_eq!(done.state, RequestState::Completed);
    assert_eq!(done.approved_by, Some(bob.id));
    assert_eq!(done.new_key_id, Some(root2.key_id));
    Ok(())
}

fn keys_insert_list_active(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    assert_eq!(keys::active(conn, KeyPurpose::Root)?, None);
    assert_eq!(keys::latest_generation(conn, KeyPurpose::Root)?, None);

    let ledger_key = keys::insert(conn, &new_key(KeyPurpose::Ledger, 1, KeyState::Active, 3))?;
    let root = keys::insert(conn, &new_key(KeyPurpose::Root, 1, KeyState::Active, 1))?;
    let hmac = keys::insert(
        conn,
        &new_key(KeyPurpose::DedupHmac, 1, KeyState::Active, 4),
    )?;
    let pending = keys::insert(conn, &new_key(KeyPurpose::Root, 2, KeyState::Pending, 2))?;

    // What went in comes back, field for field.
    assert_eq!(root.purpose, KeyPurpose::Root);
    assert_eq!(root.label, "onevisit/root/1");
    assert_eq!(root.key_id, key_id(1));
    assert_eq!(root.state, KeyState::Active);
    assert_eq!(root.spki, Some(vec![0x30, 1]));
    assert_eq!(root.activated_at, Some(T0));
    assert_eq!(hmac.spki, None);
    assert!(pending.id > root.id);

    let all = keys::list_all(conn)?;
    let order: Vec<(KeyPurpose, i32)> = all.iter().map(|k| (k.purpose, k.generation)).collect();
    assert_eq!(
        order,
        vec![
            (KeyPurpose::DedupHmac, 1),
            (KeyPurpose::Ledger, 1),
            (KeyPurpose::Root, 1),
            (KeyPurpose::Root, 2),
        ]
    );
    assert_eq!(keys::active(conn, KeyPurpose::Root)?, Some(root.clone()));
    assert_eq!(keys::active(conn, KeyPurpose::Ledger)?, Some(ledger_key));
    assert_eq!(keys::active(conn, KeyPurpose::IdentityCa)?, None);
    assert_eq!(
        keys::by_label(conn, "onevisit/root/2")?,
        Some(pending.clone())
    );
    assert_eq!(keys::by_label(conn, "onevisit/root/9")?, None);
    assert_eq!(keys::by_key_id(conn, &key_id(1))?, Some(root.clone()));
    assert_eq!(keys::by_key_id(conn, &key_id(99))?, None);
    assert_eq!(keys::latest_generation(conn, KeyPurpose::Root)?, Some(2));

    assert!(keys::set_certificate(
        conn,
        root.id,
        &[0x30, 0x03],
        T0,
        T0 + 10
    )?);
    let with_cert: Option<Key> = keys::by_label(conn, "onevisit/root/1")?;
    assert_eq!(
        with_cert.and_then(|k| k.certificate),
        Some(vec![0x30, 0x03])
    );

    // Same generation (and so, by the label check, same label) twice:
    // either constraint may be the one reported.
    let err = keys::insert(conn, &new_key(KeyPurpose::Root, 2, KeyState::Pending, 9));
    assert!(
        matches!(
            err.as_ref().map_err(StorageError::unique_constraint),
            Err(Some("keys_label_key" | "keys_purpose_generation_key"))
        ),
        "{err:?}"
    );
    let mut reused_id = new_key(KeyPurpose::Ocsp, 1, KeyState::Pending, 1);
    reused_id.key_id = key_id(1);
    assert_unique(keys::insert(conn, &reused_id), "keys_key_id_key");
    // A label that does not match purpose and generation.
    let mut bad_label = new_key(KeyPurpose::Ocsp, 1, KeyState::Pending, 20);
    bad_label.label = "onevisit/root/7".to_owned();
    assert_constraint(keys::insert(conn, &bad_label));
    // The HMAC secret has no public key.
    let mut hmac_with_spki = new_key(KeyPurpose::DedupHmac, 2, KeyState::Pending, 21);
    hmac_with_spki.spki = Some(vec![1]);
    assert_constraint(keys::insert(conn, &hmac_with_spki));
    Ok(())
}

fn key_state_moves(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let k = keys::insert(conn, &new_key(KeyPurpose::Ocsp, 1, KeyState::Pending, 1))?;
    assert!(
        !keys::set_state(conn, k.id, KeyState::Retired, T0 + 1)?,
        "pending -> retired"
    );
    assert!(!keys::set_state(conn, k.id, KeyState::Pending, T0 + 1)?);
    assert!(keys::set_state(conn, k.id, KeyState::Active, T0 + 2)?);
    assert!(
        !keys::set_state(conn, k.id, KeyState::Active, T0 + 3)?,
        "already active"
    );
    assert!(
        !keys::set_state(conn, k.id, KeyState::Destroyed, T0 + 3)?,
        "active -> destroyed"
    );
    assert!(keys::set_state(conn, k.id, KeyState::Retired, T0 + 4)?);
    assert!(keys::set_state(conn, k.id, KeyState::Destroyed, T0 + 5)?);
    let k = keys::by_key_id(conn, &k.key_id)?;
    assert_eq!(
        k.map(|k| (k.state, k.activated_at, k.retired_at)),
        Some((KeyState::Destroyed, Some(T0 + 2), Some(T0 + 4)))
    );
    assert!(!keys::set_state(
        conn,
        schema::KeyRowId(999_999),
        KeyState::Active,
        T0
    )?);
    Ok(())
}

fn one_active_key_per_purpose(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let old = keys::insert(
        conn,
        &new_key(KeyPurpose::IdentityCa, 1, KeyState::Active, 1),
    )?;
    // A second active key of the purpose is refused, by insert or by update.
    assert_unique(
        keys::insert(
            conn,
            &new_key(KeyPurpose::IdentityCa, 2, KeyState::Active, 2),
        ),
        "keys_one_active_per_purpose",
    );
    let new = keys::insert(
        conn,
        &new_key(KeyPurpose::IdentityCa, 2, KeyState::Pending, 2),
    )?;
    assert_unique(
        keys::set_state(conn, new.id, KeyState::Active, T0 + 1),
        "keys_one_active_per_purpose",
    );
    // Other purposes are independent.
    keys::insert(
        conn,
        &new_key(KeyPurpose::LicenseCa, 1, KeyState::Active, 3),
    )?;

    // Rotation: retire, then activate, in one transaction.
    write_transaction(conn, |conn| -> Result<(), StorageError> {
        assert!(keys::set_state(conn, old.id, KeyState::Retired, T0 + 2)?);
        assert!(keys::set_state(conn, new.id, KeyState::Active, T0 + 2)?);
        Ok(())
    })?;
    let active = keys::active(conn, KeyPurpose::IdentityCa)?;
    assert_eq!(active.map(|k| k.id), Some(new.id));
    let states: Vec<(i32, KeyState)> = keys::list_all(conn)?
        .into_iter()
        .filter(|k| k.purpose == KeyPurpose::IdentityCa)
        .map(|k| (k.generation, k.state))
        .collect();
    assert_eq!(states, vec![(1, KeyState::Retired), (2, KeyState::Active)]);
    // Several retired keys of one purpose are fine.
    let third = keys::insert(
        conn,
        &new_key(KeyPurpose::IdentityCa, 3, KeyState::Pending, 4),
    )?;
    write_transaction(conn, |conn| -> Result<(), StorageError> {
        keys::set_state(conn, new.id, KeyState::Retired, T0 + 3)?;
        keys::set_state(conn, third.id, KeyState::Active, T0 + 3)?;
        Ok(())
    })?;
    assert_eq!(
        keys::active(conn, KeyPurpose::IdentityCa)?.map(|k| k.generation),
        Some(3)
    );
    Ok(())
}

fn failed_rotation_rolls_back(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let old = keys::insert(conn, &new_key(KeyPurpose::Ledger, 1, KeyState::Active, 1))?;
    let other = keys::insert(conn, &new_key(KeyPurpose::Ledger, 2, KeyState::Pending, 2))?;
    // Activate first, retire second: the unique index stops the transaction
    // and the rollback keeps the old key active.
    let result = write_transaction(conn, |conn| -> Result<(), StorageError> {
        keys::set_state(conn, other.id, KeyState::Active, T0 + 1)?;
        keys::set_state(conn, old.id, KeyState::Retired, T0 + 1)?;
        Ok(())
    });
    assert_unique(result, "keys_one_active_per_purpose");
    // An error returned by the closure also rolls back.
    let result: Result<(), StorageError> = write_transaction(conn, |conn| {
        keys::set_state(conn, old.id, KeyState::Retired, T0 + 1)?;
        Err(StorageError::InvalidPoolSize(0))
    });
    assert!(matches!(result, Err(StorageError::InvalidPoolSize(0))));
    // Nested: the inner failure rolls back to its savepoint only.
    write_transaction(conn, |conn| -> Result<(), StorageError> {
        keys::set_state(conn, other.id, KeyState::Destroyed, T0 + 2)?;
        let inner: Result<(), StorageError> = write_transaction(conn, |conn| {
            keys::set_state(conn, old.id, KeyState::Retired, T0 + 2)?;
            Err(StorageError::InvalidPoolSize(0))
        });
        assert!(inner.is_err());
        Ok(())
    })?;
    let other_state = keys::by_key_id(conn, &other.key_id)?.map(|k| k.state);
    assert_eq!(other_state, Some(KeyState::Destroyed));
    assert_eq!(
        keys::active(conn, KeyPurpose::Ledger)?.map(|k| k.id),
        Some(old.id)
    );
    // The connection is usable afterwards.
    assert_eq!(keys::list_all(conn)?.len(), 2);
    Ok(())
}

// ---------------------------------------------------------------- staff

/// A request's reads in `read_snapshot`: on SQLite one snapshot (another
/// connection's commit in between is not seen), on PostgreSQL each
/// statement its own (read committed); `f`'s error comes back and the
/// connection stays usable.
fn read_snapshot_reads_one_snapshot_and_passes_errors_on(f: &Fixture) -> TestResult {
    let mut reader = f.db.conn()?;
    let mut writer = f.db.conn()?;
    staff::insert(&mut writer, &new_staff("bob", StaffRole::Counter, None))?;
    let (before, after) = schema::read_snapshot(&mut reader, |c| -> Result<_, StorageError> {
        let before = staff::list(c)?.len();
        staff::insert(&mut writer, &new_staff("carol", StaffRole::Counter, None))
            .map_err(|e| StorageError::Unavailable(Box::new(e)))?;
        Ok((before, staff::list(c)?.len()))
    })?;
    let expected_after = match f.db.backend() {
        schema::Backend::Sqlite => 1,
        _ => 2,
    };
    assert_eq!((before, after), (1, expected_after));
    assert_eq!(
        staff::list(&mut reader)?.len(),
        2,
        "a new snapshot after it"
    );

    let failed: Result<(), StorageError> = schema::read_snapshot(&mut reader, |c| {
        staff::list(c)?;
        Err(StorageError::Unavailable("stop".into()))
    });
    assert!(
        matches!(failed, Err(StorageError::Unavailable(_))),
        "{failed:?}"
    );
    assert_eq!(staff::list(&mut reader)?.len(), 2);
    Ok(())
}

/// A nonce's use is recorded once; a stored nonce of the previous format is
/// consumed once, for its audience and counter, before its expiry; purging
/// keeps what has not expired.
fn challenges_are_used_once(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let desk = staff::insert(conn, &new_staff("desk", StaffRole::Counter, None))?;
    let other = staff::insert(conn, &new_staff("other", StaffRole::Counter, None))?;
    let row = |nonce: &str, used_at: Option<i64>| NewChallenge {
        nonce: nonce.to_owned(),
        audience: "desk-1".to_owned(),
        created_by: desk.id,
        created_at: T0,
        expires_at: T0 + 300,
        used_at,
    };

    assert!(challenges::record_use(
        conn,
        &row("mac-nonce", Some(T0 + 10))
    )?);
    assert!(
        !challenges::record_use(conn, &row("mac-nonce", Some(T0 + 11)))?,
        "second use"
    );

    challenges::insert(conn, &row("stored", None))?;
    let consume = |c: &mut DbConnection, nonce: &str, audience: &str, by, at| {
        challenges::consume(c, nonce, audience, by, at)
    };
    // In order: each step sees the ones before it.
    for (nonce, audience, by, at, want) in [
        ("stored", "desk-2", None, T0 + 1, Consumed::WrongAudience),
        (
            "stored",
            "desk-1",
            Some(other.id),
            T0 + 1,
            Consumed::WrongAudience,
        ),
        ("nothing", "desk-1", None, T0 + 1, Consumed::Unknown),
        ("stored", "desk-1", Some(desk.id), T0 + 2, Consumed::Fresh),
        ("stored", "desk-1", None, T0 + 3, Consumed::Used),
        // A recorded use is a used nonce to the old path too.
        ("mac-nonce", "desk-1", None, T0 + 3, Consumed::Used),
    ] {
        assert_eq!(
            consume(conn, nonce, audience, by, at)?,
            want,
            "{nonce} at {at}"
        );
    }
    challenges::insert(conn, &row("late", None))?;
    assert_eq!(
        consume(conn, "late", "desk-1", None, T0 + 300)?,
        Consumed::Expired
    );

    assert_eq!(challenges::purge_expired(conn, T0 + 300)?, 0);
    assert_eq!(challenges::purge_expired(conn, T0 + 301)?, 3);
    assert!(challenges::record_use(
        conn,
        &row("mac-nonce", Some(T0 + 12))
    )?);
    Ok(())
}

fn staff_lookup_ignores_disabled(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let bob = staff::insert(conn, &new_staff("bob", StaffRole::Counter, None))?;
    let carol = staff::insert(
        conn,
        &new_staff("carol", StaffRole::Officer, Some("health")),
    )?;
    assert!(!bob.disabled);
    assert_eq!(bob.disabled_at, None);
    assert_eq!(carol.department.as_deref(), Some("health"));

    assert_eq!(
        staff::by_token_hash(conn, b"hash-of-bob")?,
        Some(bob.clone())
    );
    assert_eq!(staff::by_token_hash(conn, b"hash-of-nobody")?, None);

    assert!(staff::disable(conn, "bob", T0 + 5)?);
    assert_eq!(staff::by_token_hash(conn, b"hash-of-bob")?, None);
    assert!(!staff::disable(conn, "bob", T0 + 6)?, "already disabled");
    assert!(!staff::disable(conn, "nobody", T0 + 6)?);
    assert_eq!(
        staff::by_token_hash(conn, b"hash-of-carol")?.map(|s| s.id),
        Some(carol.id)
    );

    // Disabled accounts stay listed and attributable.
    let listed: Vec<(String, bool, Option<i64>)> = staff::list(conn)?
        .into_iter()
        .map(|s| (s.name, s.disabled, s.disabled_at))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("bob".to_owned(), true, Some(T0 + 5)),
            ("carol".to_owned(), false, None)
        ]
    );
    assert_eq!(staff::by_id(conn, bob.id)?.map(|s| s.disabled), Some(true));
    assert_eq!(staff::by_name(conn, "carol")?, Some(carol));
    Ok(())
}

fn staff_constraints(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    staff::insert(conn, &new_staff("dave", StaffRole::Ops, None))?;
    let mut same_name = new_staff("dave", StaffRole::Auditor, None);
    same_name.token_hash = b"another token".to_vec();
    assert_unique(staff::insert(conn, &same_name), "staff_name_key");
    let mut same_token = new_staff("erin", StaffRole::Ops, None);
    same_token.token_hash = b"hash-of-dave".to_vec();
    assert_unique(staff::insert(conn, &same_token), "staff_token_hash_key");
    // Officers belong to a department.
    assert_constraint(staff::insert(
        conn,
        &new_staff("frank", StaffRole::Officer, None),
    ));
    Ok(())
}

// ---------------------------------------------------------------- identities

fn identity_dedup_unique_among_active(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let officer = staff::insert(conn, &new_staff("alice", StaffRole::Officer, Some("civil")))?;
    let first = identities::insert(conn, &new_identity(1, b"same-person", officer.id))?;
    assert_eq!(first.status, IdentityStatus::Active);
    assert_eq!(first.full_name, "Person 1");
    assert_eq!(first.birth_date, "1990-04-01");
    assert_eq!(identities::by_id(conn, &first.id)?, Some(first.clone()));

    // One person, one active identity.
    assert_unique(
        identities::insert(conn, &new_identity(2, b"same-person", officer.id)),
        "identities_one_active_per_person",
    );
    // A different person is fine.
    identities::insert(conn, &new_identity(3, b"other-person", officer.id))?;
    // Once revoked, the person may be enrolled again.
    assert!(identities::revoke(conn, &first.id, T0 + 10)?);
    assert!(!identities::revoke(conn, &first.id, T0 + 11)?);
    let second = identities::insert(conn, &new_identity(2, b"same-person", officer.id))?;
    assert_eq!(
        identities::active_by_dedup_hmac(conn, b"same-person")?.map(|i| i.id),
        Some(second.id.clone())
    );
    let revoked = identities::by_id(conn, &first.id)?;
    assert_eq!(
        revoked.map(|i| (i.status, i.revoked_at)),
        Some((IdentityStatus::Revoked, Some(T0 + 10)))
    );
    // A second active identity is still refused.
    assert_unique(
        identities::insert(conn, &new_identity(4, b"same-person", officer.id)),
        "identities_one_active_per_person",
    );
    // Birth dates are YYYY-MM-DD; the creator must exist.
    let mut bad_date = new_identity(5, b"p5", officer.id);
    bad_date.birth_date = "01/04/1990".to_owned();
    assert_constraint(identities::insert(conn, &bad_date));
    assert_constraint(identities::insert(
        conn,
        &new_identity(6, b"p6", StaffId(424_242)),
    ));
    // PII stays out of Debug.
    let debug = format!("{second:?}");
    assert!(
        !debug.contains("Person") && !debug.contains("Main Street"),
        "{debug}"
    );
    Ok(())
}

// ---------------------------------------------------------------- credentials

fn credential_license_number_unique_per_type(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let w = world(conn)?;

    let lic = issue(conn, &w, &serial(1), Some(("business", "B-0001")))?;
    assert_eq!(lic.status, CredentialStatus::Good);
    assert_eq!(lic.kind, CredentialKind::License);
    assert_eq!(credentials::by_serial(conn, &serial(1))?, Some(lic.clone()));
    assert_eq!(
        credentials::by_license(conn, "business", "B-0001")?,
        Some(lic.clone())
    );
    assert_eq!(
        credentials::by_cert_sha256(conn, &lic.cert_sha256)?,
        Some(lic.clone())
    );

    // Same number, same type: refused, and the intent stays unrecorded
    // because the transaction rolled back.
    assert_unique(
        issue(conn, &w, &serial(2), Some(("business", "B-0001"))),
        "credentials_license_type_license_number_key",
    );
    assert_eq!(intents::by_serial(conn, &serial(2))?, None);
    // Same number, other type: fine.
    issue(conn, &w, &serial(3), Some(("sanitation", "B-0001")))?;
    // Identity credentials carry no licence number; several may exist.
    let id1 = issue(conn, &w, &serial(4), None)?;
    issue(conn, &w, &serial(5), None)?;
    assert_eq!(id1.license_type, None);
    // A licence without its number, or an identity with one, is malformed.
    intents::insert(conn, &intent(&w, &serial(6), Some("business")))?;
    let mut no_number = credential(&w, &serial(6), Some(("business", "x")));
    no_number.license_number = None;
    assert_constraint(credentials::insert(conn, &no_number));
    // The same certificate twice.
    let mut same_cert = credential(&w, &serial(6), Some(("business", "B-0006")));
    same_cert.cert_sha256 = lic.cert_sha256.clone();
    assert_unique(
        credentials::insert(conn, &same_cert),
        "credentials_cert_sha256_key",
    );

    assert_eq!(credentials::for_identity(conn, &w.holder)?.len(), 4);
    assert!(credentials::revoke(
        conn,
        &serial(1),
        Some("superseded"),
        T0 + 100
    )?);
    assert!(!credentials::revoke(conn, &serial(1), None, T0 + 101)?);
    let revoked = credentials::revoked_by_issuer(conn, &w.license_ca)?;
    assert_eq!(
        revoked
            .iter()
            .map(|c| (c.serial.clone(), c.revoked_at, c.revocation_reason.clone()))
            .collect::<Vec<_>>(),
        vec![(serial(1), Some(T0 + 100), Some("superseded".to_owned()))]
    );
    assert!(credentials::revoked_by_issuer(conn, &w.identity_ca)?.is_empty());

    // The identity certificates revoked for a reason other than a reissue:
    // not licences, not superseded ones, not good ones.
    assert!(credentials::revoked_identity_certificates(conn, &w.holder)?.is_empty());
    assert!(credentials::revoke(
        conn,
        &serial(4),
        Some("superseded"),
        T0 + 102
    )?);
    assert!(credentials::revoked_identity_certificates(conn, &w.holder)?.is_empty());
    assert!(credentials::revoke(
        conn,
        &serial(5),
        Some("keyCompromise"),
        T0 + 103
    )?);
    let id2 = credentials::by_serial(conn, &serial(5))?.map(|c| c.certificate);
    assert_eq!(
        credentials::revoked_identity_certificates(conn, &w.holder)?,
        id2.into_iter().collect::<Vec<_>>()
    );
    Ok(())
}

fn serials_unique_across_intents_and_credentials(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let w = world(conn)?;
    let s = serial(7);
    let reserved = intents::insert(conn, &intent(&w, &s, None))?;
    assert_eq!(reserved.state, IntentState::Pending);
    assert_eq!(reserved.resolved_at, None);
    assert_eq!(intents::pending(conn)?, vec![reserved.clone()]);
    // A serial is reserved once.
    assert_unique(
        intents::insert(conn, &intent(&w, &s, Some("business"))),
        "issuance_intents_pkey",
    );
    // A credential needs its intent (record before sign).
    assert_constraint(credentials::insert(conn, &credential(&w, &serial(8), None)));
    credentials::insert(conn, &credential(&w, &s, None))?;
    let mut again = credential(&w, &s, None);
    again.cert_sha256 = "ab".repeat(32);
    assert_unique(credentials::insert(conn, &again), "credentials_pkey");
    assert!(!intents::resolve(conn, &s, IntentState::Pending, T0)?);
    assert!(intents::resolve(conn, &s, IntentState::Completed, T0 + 1)?);
    assert!(!intents::resolve(conn, &s, IntentState::Abandoned, T0 + 2)?);
    assert!(intents::pending(conn)?.is_empty());
    let done = intents::by_serial(conn, &s)?;
    assert_eq!(
        done.map(|i| (i.state, i.resolved_at)),
        Some((IntentState::Completed, Some(T0 + 1)))
    );
    // An intent names a recorded issuer key.
    let mut unknown_key = intent(&w, &serial(9), None);
    unknown_key.issuer_key_id = key_id(200);
    assert_constraint(intents::insert(conn, &unknown_key));
    Ok(())
}

// ---------------------------------------------------------------- ledger

fn ledger_tables(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let key = keys::insert(conn, &new_key(KeyPurpose::Ledger, 1, KeyState::Active, 1))?;
    assert_eq!(ledger::tree_size(conn)?, 0);
    assert_eq!(ledger::latest_checkpoint(conn)?, None);

    ledger::enqueue(
        conn,
        &NewQueuedLeaf {
            entry: "{\"a\":1}".into(),
            leaf_hash: vec![1; 32],
            enqueued_at: T0,
        },
    )?;
    ledger::enqueue(
        conn,
        &NewQueuedLeaf {
            entry: "{\"a\":2}".into(),
            leaf_hash: vec![2; 32],
            enqueued_at: T0,
        },
    )?;
    assert_unique(
        ledger::enqueue(
            conn,
            &NewQueuedLeaf {
                entry: "{\"a\":1}".into(),
                leaf_hash: vec![1; 32],
                enqueued_at: T0,
            },
        ),
        "ledger_queue_leaf_hash_key",
    );
    assert_constraint(ledger::enqueue(
        conn,
        &NewQueuedLeaf {
            entry: "x".into(),
            leaf_hash: vec![3; 31],
            enqueued_at: T0,
        },
    ));

    // One sequencer batch: lock, move queue to leaves, store nodes and the
    // checkpoint, all or nothing.
    // In queue order.
    let queue = ledger::queued(conn, 100)?;
    assert_eq!(queue.len(), 2);
    assert!(queue[1].id > queue[0].id);
    assert_eq!(
        (queue[0].entry.as_str(), queue[0].leaf_hash.as_slice()),
        ("{\"a\":1}", &[1; 32][..])
    );
    assert_eq!(queue[1].leaf_hash, vec![2; 32]);
    write_transaction(conn, |conn| -> Result<(), StorageError> {
        ledger::lock_sequencer(conn)?;
        let start = ledger::tree_size(conn)?;
        let leaves: Vec<LedgerLeaf> = queue
            .iter()
            .zip(start..)
            .map(|(q, i)| LedgerLeaf {
                leaf_index: i,
                entry: q.entry.clone(),
                leaf_hash: q.leaf_hash.clone(),
                integrated_at: T0 + 1,
            })
            .collect();
        assert_eq!(ledger::insert_leaves(conn, &leaves)?, 2);
        // One statement per table on PostgreSQL: an empty batch is one too.
        assert_eq!(ledger::insert_leaves(conn, &[])?, 0);
        assert_eq!(ledger::insert_nodes(conn, &[])?, 0);
        let ids: Vec<i64> = queue.iter().map(|q| q.id).collect();
        assert_eq!(ledger::dequeue(conn, &ids)?, 2);
        let stored = ledger::insert_nodes(
            conn,
            &[
                LedgerNode {
                    level: 0,
                    node_index: 0,
                    hash: vec![1; 32],
                },
                LedgerNode {
                    level: 0,
                    node_index: 1,
                    hash: vec![2; 32],
                },
                LedgerNode {
                    level: 1,
                    node_index: 0,
                    hash: vec![9; 32],
                },
            ],
        )?;
        assert_eq!(stored, 3);
        ledger::insert_checkpoint(
            conn,
            &Checkpoint {
                tree_size: 2,
                root_hash: vec![9; 32],
                note: "onevisit.local/ledger\n2\n...\n".into(),
                key_id: key.key_id.clone(),
                signed_at: T0 + 1,
            },
        )?;
        Ok(())
    })?;
    assert_eq!(ledger::tree_size(conn)?, 2);
    assert!(ledger::queued(conn, 100)?.is_empty());
    assert_eq!(
        ledger::leaf(conn, 1)?.map(|l| l.entry),
        Some("{\"a\":2}".to_owned())
    );
    assert_eq!(ledger::leaf_index_by_hash(conn, &[1; 32])?, Some(0));
    assert_eq!(ledger::leaf_index_by_hash(conn, &[7; 32])?, None);
    assert_eq!(ledger::leaves(conn, 0, 10)?.len(), 2);
    assert_eq!(ledger::leaves(conn, 1, 2)?.len(), 1);
    assert_eq!(ledger::node(conn, 1, 0)?, Some(vec![9; 32]));
    assert_eq!(ledger::node(conn, 1, 1)?, None);
    assert_eq!(
        ledger::latest_checkpoint(conn)?.map(|c| c.tree_size),
        Some(2)
    );
    assert_eq!(
        ledger::checkpoint(conn, 2)?.map(|c| c.key_id),
        Some(key.key_id.clone())
    );
    assert_eq!(ledger::checkpoint(conn, 1)?, None);

    // Leaves, nodes and checkpoints are written once.
    assert_unique(
        ledger::insert_leaves(
            conn,
            &[LedgerLeaf {
                leaf_index: 2,
                entry: "y".into(),
                leaf_hash: vec![1; 32],
                integrated_at: T0,
            }],
        ),
        "ledger_leaves_leaf_hash_key",
    );
    assert_unique(
        ledger::insert_leaves(
            conn,
            &[LedgerLeaf {
                leaf_index: 1,
                entry: "y".into(),
                leaf_hash: vec![5; 32],
                integrated_at: T0,
            }],
        ),
        "ledger_leaves_pkey",
    );
    assert_unique(
        ledger::insert_nodes(
            conn,
            &[LedgerNode {
                level: 1,
                node_index: 0,
                hash: vec![0; 32],
            }],
        ),
        "ledger_nodes_pkey",
    );
    assert_unique(
        ledger::insert_checkpoint(
            conn,
            &Checkpoint {
                tree_size: 2,
                root_hash: vec![0; 32],
                note: "n".into(),
                key_id: key.key_id.clone(),
                signed_at: T0,
            },
        ),
        "ledger_checkpoints_pkey",
    );
    Ok(())
}

fn crls_by_issuer(f: &Fixture) -> TestResult {
    let mut conn = f.db.conn()?;
    let conn = &mut *conn;
    let ca = keys::insert(
        conn,
        &new_key(KeyPurpose::IdentityCa, 1, KeyState::Active, 1),
    )?;
    assert_eq!(crls::latest(conn, &ca.key_id)?, None);
    let crl = |n: i64| crls::Crl {
        issuer_key_id: ca.key_id.clone(),
        crl_number: n,
        this_update: T0 + n,
        next_update: T0 + n + 3600,
        der: vec![0x30, n as u8],
    };
    crls::insert(conn, &crl(1))?;
    crls::insert(conn, &crl(2))?;
    assert_eq!(crls::latest(conn, &ca.key_id)?, Some(crl(2)));
    assert_unique(crls::insert(conn, &crl(2)), "crls_pkey");
    Ok(())
}

// ---------------------------------------------------------------- availability

/// With every connection checked out, the next `conn()` gives up after the
/// connection timeout with `Unavailable`, and works again once one is back.
fn pool_timeout_is_unavailable(f: &Fixture) -> TestResult {
    let mut options = ConnectOptions::new(1);
    options.connection_timeout = Duration::from_millis(300);
    let small = match f.db.backend() {
        Backend::Sqlite => Fixture::sqlite_with(&options)?,
        _ => Fixture::postgres_with(&options)?,
    };
    let held = small.db.conn()?;
    let err = small.db.conn().map(|_| ());
    assert!(matches!(&err, Err(e) if e.is_unavailable()), "{err:?}");
    assert!(small.db.ping().is_err_and(|e| e.is_unavailable()));
    drop(held);
    small.db.ping()?;
    Ok(())
}

// ---------------------------------------------------------------- configuration

#[test]
#[expect(clippy::panic, reason = "test assertion")]
fn bad_urls_are_refused_clearly() {
    for (url, expect) in [
        (
            "mysql://root:hunter2@localhost/db",
            "unsupported scheme \"mysql\"",
        ),
        ("data/wallet.db", "no recognised scheme"),
        ("sqlite://", "no path"),
        ("sqlite://:memory:", "in-memory"),
    ] {
        match Database::connect(url, 2) {
            Err(err @ StorageError::InvalidUrl(_)) => {
                let text = err.to_string();
                assert!(text.contains(expect), "{url}: {text}");
                assert!(!text.contains("hunter2"), "{url}: {text}");
            }
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }
    assert!(matches!(
        Database::connect("sqlite://x.db", 0),
        Err(StorageError::InvalidPoolSize(0))
    ));
}

#[test]
fn unreachable_databases_are_unavailable() -> TestResult {
    let dir = tempfile::tempdir()?;
    // The parent directory is the caller's job.
    let missing = format!(
        "sqlite://{}",
        dir.path().join("no/such/dir/wallet.db").display()
    );
    let err = Database::connect(&missing, 1).map(|_| ());
    assert!(matches!(&err, Err(e) if e.is_unavailable()), "{err:?}");
    // Nothing listens on port 1.
    let err = Database::connect("postgres://root:hunter2@127.0.0.1:1/none", 1).map(|_| ());
    assert!(matches!(&err, Err(e) if e.is_unavailable()), "{err:?}");
    assert!(!format!("{err:?}").contains("hunter2"));
    Ok(())
}

/// Two pools on one database file share it (WAL), and a writer waits for
/// another's transaction instead of failing.
#[test]
fn sqlite_writers_wait_for_each_other() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let a = Database::connect(&url, 2)?;
    let b = Database::connect(&url, 2)?;
    let mut ca = a.conn()?;
    let writer = std::thread::spawn(move || -> Result<(), StorageError> {
        let mut cb = b.conn()?;
        std::thread::sleep(Duration::from_millis(50));
        write_transaction(&mut cb, |c| {
            staff::insert(c, &new_staff("second", StaffRole::Ops, None)).map(|_| ())
        })
    });
    write_transaction(&mut ca, |c| -> Result<(), StorageError> {
        staff::insert(c, &new_staff("first", StaffRole::Ops, None))?;
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    })?;
    writer.join().map_err(|_| "writer thread panicked")??;
    assert_eq!(staff::list(&mut ca)?.len(), 2);
    Ok(())
}

/// A PostgreSQL connection killed while idle in the pool (so no checkout
/// ping finds it within the liveness window) fails at most the one request
/// that gets it; the pool then drops it instead of handing it out again.
#[test]
fn postgres_connection_killed_in_the_pool_fails_once() -> TestResult {
    let f = Fixture::postgres()?;
    let mut idle = f.db.conn()?;
    let mut killer = f.db.conn()?;
    let pid = backend_pid(&mut idle)?;
    // Back to the pool, alive and just checked.
    drop(idle);
    terminate(&mut killer, pid)?;
    drop(killer);
    std::thread::sleep(Duration::from_millis(200));
    let mut failed = 0;
    for _ in 0..f.db.pool_size() + 2 {
        let mut conn = f.db.conn()?;
        match staff::list(&mut conn) {
            Ok(list) => assert!(list.is_empty()),
            Err(e) if e.is_unavailable() => failed += 1,
            Err(e) => return Err(e.into()),
        }
    }
    assert!(failed <= 1, "{failed} requests got the dead connection");
    Ok(())
}

/// The server process behind a pooled PostgreSQL connection.
fn backend_pid(conn: &mut DbConnection) -> Result<i32, Box<dyn Error>> {
    let DbConnection::Postgres(pg) = conn else {
        return Err("not a PostgreSQL connection".into());
    };
    Ok(diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(pg)?
        .pid)
}

/// Kills server process `pid`, from another pooled connection.
fn terminate(conn: &mut DbConnection, pid: i32) -> TestResult {
    let DbConnection::Postgres(pg) = conn else {
        return Err("not a PostgreSQL connection".into());
    };
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})")).execute(pg)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// A PostgreSQL connection killed under the service reports `Unavailable`,
/// and the pool hands out a fresh one afterwards without a restart.
#[test]
fn lost_postgres_connection_is_unavailable_then_recovers() -> TestResult {
    let f = Fixture::postgres()?;
    let mut victim = f.db.conn()?;
    let pid = backend_pid(&mut victim)?;
    terminate(&mut *f.db.conn()?, pid)?;
    // Give the server a moment to close the socket.
    std::thread::sleep(Duration::from_millis(200));
    let err = staff::list(&mut victim).map(|_| ());
    assert!(matches!(&err, Err(e) if e.is_unavailable()), "{err:?}");
    drop(victim);
    for _ in 0..f.db.pool_size() + 1 {
        f.db.ping()?;
        let mut conn = f.db.conn()?;
        assert!(staff::list(&mut conn)?.is_empty());
    }
    Ok(())
}
