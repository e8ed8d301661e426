//! The transparency ledger as the service runs it: entries are queued in the
//! same transaction as the record they describe ([`enqueue`]); one sequencer
//! at a time (a database lock) integrates queued entries in batches, stores
//! leaves and complete-subtree hashes, and has the HSM sign one checkpoint
//! per batch; requests wait for their entry and get a receipt; proofs are
//! built from stored subtree hashes with O(log n) reads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ledger::Hash;
use ledger::checkpoint::{Checkpoint, SignedNote};
use ledger::entry::Entry;
use ledger::tree::{self, HashStore};
use pkcs11_bridge::Hsm;
use schema::keys::{self, KeyPurpose};
use schema::ledger::{self as store, LedgerLeaf, LedgerNode, NewQueuedLeaf};
use schema::{AfterCommit, BatchTail, Database, DbConnection, StorageError, TailError};

use super::{DomainError, unix};

/// Queues `entry` on `conn`, inside the caller's transaction, so the entry
/// commits or rolls back with the record it describes. Returns its leaf hash.
pub fn enqueue(
    conn: &mut DbConnection,
    entry: &Entry,
    now: SystemTime,
) -> Result<Hash, DomainError> {
    // An entry that breaks its schema is refused before anything is
    // written: the log is append-only, so it would fail every audit forever.
    entry
        .validate()
        .map_err(|e| DomainError::Inconsistent(format!("refusing to log an invalid entry: {e}")))?;
    let leaf_hash = entry.leaf_hash();
    ENQUEUED.fetch_add(1, Ordering::Relaxed);
    store::enqueue(
        conn,
        &NewQueuedLeaf {
            entry: entry.to_json(),
            leaf_hash: leaf_hash.to_vec(),
            enqueued_at: unix(now),
        },
    )?;
    Ok(leaf_hash)
}

/// Entries this process has queued, ever (rolled back or not). Only a hint
/// for the group-commit tail: a batch after which it has not moved queued
/// nothing here, so the tail is skipped with its savepoint, lock and queue
/// reads (on PostgreSQL three round trips per batch). Entries other
/// instances queue are the sequencer thread's, as before.
static ENQUEUED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// [`ENQUEUED`] when this committer thread's tail last looked.
    static TAIL_SEEN: std::cell::Cell<u64> = const { std::cell::Cell::new(u64::MAX) };
}

/// Subtree hashes read from the database inside the current transaction.
///
/// Upper nodes are read one by one (and cached). A lower node (of fewer than
/// 2^[`NODE_CACHE_MIN_LEVEL`] leaves) not in the cache is read the way that
/// is cheaper on the backend:
///
/// - PostgreSQL: computed from its block of 2^[`NODE_CACHE_MIN_LEVEL`] leaf
///   hashes, read in one query. A proof needs up to six lower nodes, all in
///   one block, and each read is a round trip (a presentation's two
///   inclusion checks were about 18 of them).
/// - SQLite: read by its key, like an upper node. There is no round trip,
///   and decoding 64 rows and hashing 63 nodes per proof cost 14 % of
///   walletd's CPU in a verification run, against about a tenth of that
///   for the six single reads.
///
/// The hashes are the same either way (the stored nodes are made from the
/// same leaves), and the proof is still checked against the signed root.
pub(crate) struct DbStore<'a> {
    conn: RefCell<&'a mut DbConnection>,
    /// Committed nodes. The sequencer reads only the old tree's nodes
    /// through it (its own new ones may still roll back).
    cache: &'a NodeCache,
    /// The last block read: its number and its leaves' tree.
    block: RefCell<Option<(u64, tree::MemoryTree)>>,
}

/// Hashes of complete subtrees as committed (such a node never changes once
/// written):
///
/// - those of at least 2^[`NODE_CACHE_MIN_LEVEL`] leaves: every proof reads
///   the same few of them, so proofs need about a third of the reads. At
///   1,000,000 leaves that is about 31,000 nodes (a few MB).
/// - the smaller ones at the right edge of the tree, which this process's
///   batches made: the next batch appends next to them and proves its
///   leaves with them. Without them every batch read about a dozen nodes
///   back one by one (on PostgreSQL, a round trip each: 16 % of all the
///   statements the service sent). Kept for the last 2^`NODE_CACHE_MIN_LEVEL`
///   leaves only, a hundred-odd hashes.
#[derive(Debug, Default)]
pub(crate) struct NodeCache {
    nodes: Mutex<HashMap<(u8, u64), Hash>>,
    edge: Mutex<HashMap<(u8, u64), Hash>>,
}

impl NodeCache {
    fn get(&self, level: u8, index: u64) -> Option<Hash> {
        let map = if level >= NODE_CACHE_MIN_LEVEL {
            &self.nodes
        } else {
            &self.edge
        };
        map.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(level, index))
            .copied()
    }

    /// Keeps an upper node read from the database.
    fn keep_upper(&self, level: u8, index: u64, hash: Hash) {
        if level < NODE_CACHE_MIN_LEVEL {
            return;
        }
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        if nodes.len() >= NODE_CACHE_MAX {
            nodes.clear();
        }
        nodes.insert((level, index), hash);
    }

    /// Keeps the nodes a batch made, once it committed, in a tree of `size`
    /// leaves, and forgets lower nodes that have left the right edge.
    fn keep_committed(&self, made: &HashMap<(u8, u64), Hash>, size: u64) {
        for (&(level, index), &hash) in made {
            self.keep_upper(level, index, hash);
        }
        let mut edge = self.edge.lock().unwrap_or_else(PoisonError::into_inner);
        edge.extend(
            made.iter()
                .filter(|((level, _), _)| *level < NODE_CACHE_MIN_LEVEL)
                .map(|(k, h)| (*k, *h)),
        );
        let window = 1u64 << NODE_CACHE_MIN_LEVEL;
        edge.retain(|&(level, index), _| {
            // Nodes that end inside the last `window` leaves: the ones the
            // next batch can append next to or prove with.
            (index + 1) << level > size.saturating_sub(window)
        });
    }
}

/// Lowest level kept in a [`NodeCache`].
const NODE_CACHE_MIN_LEVEL: u8 = 6;
/// Most nodes kept; emptied when full (enough for 10 million leaves).
const NODE_CACHE_MAX: usize = 400_000;

/// The name the rest of the domain uses for [`DbStore`].
pub(crate) type DbNodes<'a> = DbStore<'a>;

impl<'a> DbStore<'a> {
    /// Reads committed nodes through `conn`, and through `cache` first.
    pub(crate) fn new(conn: &'a mut DbConnection, cache: &'a NodeCache) -> Self {
        Self {
            conn: RefCell::new(conn),
            cache,
            block: RefCell::new(None),
        }
    }

    /// Lower node (`level`, `index`), from its block's leaves.
    fn lower(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        let missing = || StoreError::Missing { level, index };
        let block = (index << level) >> NODE_CACHE_MIN_LEVEL;
        let start = block << NODE_CACHE_MIN_LEVEL;
        let mut held = self.block.borrow_mut();
        if held.as_ref().is_none_or(|(b, _)| *b != block) {
            let first = i64::try_from(start).map_err(|_| missing())?;
            let mut conn = self.conn.borrow_mut();
            let mut leaves = tree::MemoryTree::new();
            for h in store::leaf_hashes(&mut conn, first, 1 << NODE_CACHE_MIN_LEVEL)? {
                leaves.push(h.try_into().map_err(|_| missing())?);
            }
            *held = Some((block, leaves));
        }
        let (_, leaves) = held.as_ref().ok_or_else(missing)?;
        // A block's leaves come back contiguous from its start (leaf
        // indexes have no gaps), so block-local index = global - offset.
        leaves
            .node(level, index - (start >> level))
            .map_err(|_| missing())
    }
}

/// A missing subtree hash: the stored tree is incomplete or corrupt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A node the tree must have is not stored.
    #[error("ledger node ({level}, {index}) is missing")]
    Missing {
        /// Level.
        level: u8,
        /// Index at that level.
        index: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl HashStore for DbStore<'_> {
    type Error = StoreError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        if let Some(h) = self.cache.get(level, index) {
            return Ok(h);
        }
        if level < NODE_CACHE_MIN_LEVEL && self.conn.borrow().backend() == schema::Backend::Postgres
        {
            return self.lower(level, index);
        }
        let idx = i64::try_from(index).map_err(|_| StoreError::Missing { level, index })?;
        let mut conn = self.conn.borrow_mut();
        let bytes = store::node(&mut conn, i32::from(level), idx)?
            .ok_or(StoreError::Missing { level, index })?;
        let hash: Hash = bytes
            .try_into()
            .map_err(|_| StoreError::Missing { level, index })?;
        self.cache.keep_upper(level, index, hash);
        Ok(hash)
    }
}

fn tree_error<E: std::error::Error>(e: tree::TreeError<E>) -> DomainError {
    match e {
        tree::TreeError::Store(inner) => {
            DomainError::Inconsistent(format!("ledger store: {inner}"))
        }
        other => DomainError::Malformed {
            kind: "invalid-ledger-range",
            detail: other.to_string(),
        },
    }
}

/// A receipt: the entry's position and a proof against a signed checkpoint.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// Index of the entry's leaf.
    pub leaf_index: u64,
    /// Size of the tree the proof is against.
    pub tree_size: u64,
    /// RFC 9162 inclusion proof, base64 hashes.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint (C2SP signed note) of that tree size.
    pub checkpoint: String,
}

/// The signed tree head.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TreeHead {
    /// Number of leaves.
    pub tree_size: u64,
    /// Root hash, base64.
    pub root_hash: String,
    /// The signed checkpoint.
    pub checkpoint: String,
}

/// Sequencer settings.
#[derive(Debug, Clone, Copy)]
pub struct SequencerConfig {
    /// Most entries integrated (and covered by one signature) per batch.
    pub batch_max: usize,
    /// How long the sequencer lets entries gather after being woken.
    pub batch_delay: Duration,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self {
            batch_max: 1024,
            batch_delay: Duration::from_millis(5),
        }
    }
}

/// The ledger service: sequencing, receipts, proofs.
pub struct Ledger {
    hsm: Arc<Hsm>,
    db: Database,
    origin: String,
    config: SequencerConfig,
    /// Set when an entry is queued; the sequencer thread waits on it.
    wake: (Mutex<bool>, Condvar),
    /// What waiters for receipts watch; shared with what a group commit
    /// runs after its batch (and its ledger entries) committed.
    published: Arc<Published>,
}

/// An integrated batch, to publish once it committed.
struct Batch {
    /// The new tree size.
    size: u64,
    /// Each new entry's receipt.
    receipts: Vec<(Hash, Receipt)>,
    /// The subtree hashes the batch made.
    made: HashMap<(u8, u64), Hash>,
}

/// Integrated batches as this process hands them to waiting requests.
#[derive(Default)]
struct Published {
    /// Bumped after every batch this process integrates; waiters re-check.
    integrated: (Mutex<u64>, Condvar),
    /// Receipts of the entries this process integrated, made by the
    /// sequencer from the batch it just wrote (no database reads per
    /// waiter), kept until taken or [`RECEIPT_KEEP`] old.
    receipts: Mutex<HashMap<Hash, (Instant, Receipt)>>,
    /// Committed subtree hashes (integration, proofs and receipts).
    nodes: NodeCache,
}

impl Published {
    /// Hands out a committed batch's receipts; call only after its commit:
    /// a receipt is for a durable leaf. Returns the new tree size.
    fn publish(
        &self,
        Batch {
            size,
            receipts,
            made,
        }: Batch,
    ) -> u64 {
        self.nodes.keep_committed(&made, size);
        {
            let mut held = self.receipts.lock().unwrap_or_else(PoisonError::into_inner);
            let at = Instant::now();
            held.retain(|_, (t, _)| at.duration_since(*t) < RECEIPT_KEEP);
            held.extend(receipts.into_iter().map(|(h, r)| (h, (at, r))));
        }
        let (lock, cv) = &self.integrated;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = size;
        cv.notify_all();
        size
    }
}

/// How long an integrated entry's receipt waits in memory for its request
/// (it is normally taken within milliseconds; entries queued by another
/// instance are never taken here, so this bounds the memory they hold).
const RECEIPT_KEEP: Duration = Duration::from_secs(5);

/// Subtree hashes for the receipts of one batch: the nodes the batch just
/// made, then older ones through the database store (and its caches).
struct BatchStore<'a, 'c> {
    new: &'a HashMap<(u8, u64), Hash>,
    db: &'a DbStore<'c>,
}

impl HashStore for BatchStore<'_, '_> {
    type Error = StoreError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        match self.new.get(&(level, index)) {
            Some(h) => Ok(*h),
            None => self.db.node(level, index),
        }
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// A ledger with checkpoint origin `origin`.
    pub fn new(hsm: Arc<Hsm>, db: Database, origin: &str, config: SequencerConfig) -> Self {
        Self {
            hsm,
            db,
            origin: origin.to_owned(),
            config,
            wake: (Mutex::new(false), Condvar::new()),
            published: Arc::default(),
        }
    }

    /// The checkpoint origin (also the note key name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Tells the sequencer thread there is work.
    pub fn wake(&self) {
        let (lock, cv) = &self.wake;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_one();
    }

    /// Integrates one batch of queued entries: leaves, subtree hashes and a
    /// checkpoint signed by the HSM, in one transaction under the sequencer
    /// lock. Returns the new tree size, or `None` when nothing was queued.
    pub fn integrate(&self, now: SystemTime) -> Result<Option<u64>, DomainError> {
        let batch = self.db.write(|c| -> Result<Option<Batch>, DomainError> {
            store::lock_sequencer(c)?;
            self.integrate_on(c, now)
        })?;
        Ok(batch.map(|b| self.published.publish(b)))
    }

    /// Makes every group commit of this ledger's database sequence the
    /// entries queued so far at the end of its batch, in the same
    /// transaction, when no other transaction is the sequencer: one commit
    /// then makes a request's record, its entry and its leaf durable, and
    /// the receipt is ready when the request's write returns. Entries a
    /// batch could not sequence wait for the next batch or for [`Ledger::run`].
    pub fn sequence_group_commits(self: &Arc<Self>) {
        let tail: Arc<dyn BatchTail> = self.clone();
        self.db.set_batch_tail(Arc::downgrade(&tail));
    }

    /// The body of one integration, inside a transaction that holds the
    /// sequencer lock; the caller publishes the batch after its commit.
    fn integrate_on(
        &self,
        c: &mut DbConnection,
        now: SystemTime,
    ) -> Result<Option<Batch>, DomainError> {
        let limit = i64::try_from(self.config.batch_max).unwrap_or(i64::MAX);
        let queued = store::queued(c, limit)?;
        if queued.is_empty() {
            return Ok(None);
        }
        // Read under the sequencer lock, which a ledger key rotation
        // also takes: a retired key never signs a checkpoint.
        let key = keys::active(c, KeyPurpose::Ledger)?.ok_or_else(|| {
            DomainError::Inconsistent("no active ledger key; run walletctl init".into())
        })?;
        // The first checkpoint after a ledger key rotation is signed by
        // the previous key too, so a verifier that trusts only the old
        // key can follow the log onto the new one.
        // A previous key that is gone (destroyed, or lost with the HSM)
        // cannot co-sign; the log goes on under the new key alone and
        // verifiers must take the new key from the trust document.
        let mut signers = Vec::with_capacity(2);
        if let Some(previous) = store::latest_checkpoint(c)?
            .filter(|cp| cp.key_id != key.key_id)
            .map(|cp| keys::by_key_id(c, &cp.key_id))
            .transpose()?
            .flatten()
        {
            if previous.state != keys::KeyState::Destroyed
                && self.hsm.find_key(&previous.label)?.is_some()
            {
                signers.push(previous);
            } else {
                tracing::warn!(previous = %previous.label, "the previous ledger key is gone; the hand-over checkpoint is signed by the new key only");
            }
        }
        signers.push(key.clone());
        let old_size = u64::try_from(store::tree_size(c)?).unwrap_or(0);
        let mut hashes = Vec::with_capacity(queued.len());
        let mut leaves = Vec::with_capacity(queued.len());
        for (i, q) in queued.iter().enumerate() {
            let h: Hash = q.leaf_hash.clone().try_into().map_err(|_| {
                DomainError::Inconsistent(format!("queued entry {} has a bad leaf hash", q.id))
            })?;
            hashes.push(h);
            leaves.push(LedgerLeaf {
                leaf_index: i64::try_from(old_size + i as u64).unwrap_or(i64::MAX),
                entry: q.entry.clone(),
                leaf_hash: q.leaf_hash.clone(),
                integrated_at: unix(now),
            });
        }
        let new_nodes = {
            // Reads only the old tree's (committed) nodes.
            let s = DbStore::new(&mut *c, &self.published.nodes);
            tree::append(&s, old_size, &hashes).map_err(tree_error)?
        };
        let made: HashMap<(u8, u64), Hash> =
            new_nodes.iter().map(|(l, i, h)| ((*l, *i), *h)).collect();
        let nodes: Vec<LedgerNode> = new_nodes
            .into_iter()
            .map(|(level, index, hash)| LedgerNode {
                level: i32::from(level),
                node_index: i64::try_from(index).unwrap_or(i64::MAX),
                hash: hash.to_vec(),
            })
            .collect();
        store::insert_leaves(c, &leaves)?;
        store::insert_nodes(c, &nodes)?;
        let ids: Vec<i64> = queued.iter().map(|q| q.id).collect();
        store::dequeue(c, &ids)?;
        let new_size = old_size + queued.len() as u64;
        // The root and every new entry's inclusion proof, from the
        // nodes just made plus a few older ones.
        let (root, proofs) = {
            // Only nodes this batch did not make are looked up here: the
            // old tree's, committed.
            let db = DbStore::new(&mut *c, &self.published.nodes);
            let s = BatchStore {
                new: &made,
                db: &db,
            };
            let root = tree::root(&s, new_size).map_err(tree_error)?;
            let proofs = (old_size..new_size)
                .map(|i| tree::inclusion_proof(&s, i, new_size).map_err(tree_error))
                .collect::<Result<Vec<_>, _>>()?;
            (root, proofs)
        };
        let body = Checkpoint {
            origin: self.origin.clone(),
            size: new_size,
            root,
            extensions: Vec::new(),
        }
        .body();
        let mut note = SignedNote {
            text: body,
            signatures: Vec::with_capacity(signers.len()),
        };
        for signer in &signers {
            let spki = signer.spki.as_deref().ok_or_else(|| {
                DomainError::Inconsistent(format!("{} has no public key", signer.label))
            })?;
            let signature = self.hsm.sign(&signer.label, note.text.as_bytes())?;
            note.signatures.push(
                ledger::checkpoint::signature_line(&self.origin, spki, signature.as_bytes())
                    .map_err(|e| DomainError::Inconsistent(format!("checkpoint signature: {e}")))?,
            );
            // A checkpoint nobody can verify must never be published:
            // check the HSM's signature (and the raw-to-DER conversion),
            // by ring: this runs in every batch.
            if !certs::verify_p256(spki, note.text.as_bytes(), signature.as_bytes()) {
                return Err(DomainError::Inconsistent(
                    "the HSM's checkpoint signature does not verify".into(),
                ));
            }
        }
        let note_text = note.to_text();
        store::insert_checkpoint(
            c,
            &store::Checkpoint {
                tree_size: i64::try_from(new_size).unwrap_or(i64::MAX),
                root_hash: root.to_vec(),
                note: note_text.clone(),
                key_id: key.key_id.clone(),
                signed_at: unix(now),
            },
        )?;
        let receipts = hashes
            .iter()
            .zip(proofs)
            .zip(old_size..)
            .map(|((h, proof), index)| {
                (
                    *h,
                    Receipt {
                        leaf_index: index,
                        tree_size: new_size,
                        inclusion_proof: b64_all(&proof),
                        checkpoint: note_text.clone(),
                    },
                )
            })
            .collect();
        Ok(Some(Batch {
            size: new_size,
            receipts,
            made,
        }))
    }

    /// The sequencer loop: integrates whenever woken (or every `idle` to pick
    /// up entries queued by other instances), until `keep_going` says stop.
    pub fn run(&self, idle: Duration, keep_going: &dyn Fn() -> bool) {
        while keep_going() {
            {
                let (lock, cv) = &self.wake;
                let mut woken = lock.lock().unwrap_or_else(PoisonError::into_inner);
                if !*woken {
                    woken = cv
                        .wait_timeout(woken, idle)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                let had_work = *woken;
                *woken = false;
                drop(woken);
                if had_work {
                    // Let concurrent requests queue their entries: one
                    // signature then covers them all.
                    std::thread::sleep(self.config.batch_delay);
                }
            }
            loop {
                match self.integrate(SystemTime::now()) {
                    Ok(Some(size)) => tracing::debug!(size, "ledger batch integrated"),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "ledger integration failed; will retry");
                        std::thread::sleep(Duration::from_millis(500));
                        break;
                    }
                }
            }
        }
    }

    /// Waits (at most `timeout`) until the entry with `leaf_hash` is covered
    /// by a signed checkpoint, then returns its receipt. `Ok(None)` on timeout:
    /// the entry is queued and durable, only not yet integrated.
    pub fn receipt(
        &self,
        leaf_hash: &Hash,
        timeout: Duration,
    ) -> Result<Option<Receipt>, DomainError> {
        let deadline = Instant::now() + timeout;
        let mut woken = false;
        loop {
            if let Some(r) = self.try_receipt(leaf_hash)? {
                return Ok(Some(r));
            }
            // Usually the group commit that stored the entry sequenced it;
            // otherwise the sequencer thread must.
            if !woken {
                self.wake();
                woken = true;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // Woken by this process's sequencer; the short cap also catches
            // batches integrated by another instance.
            let (lock, cv) = &self.published.integrated;
            let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let wait = (deadline - now).min(Duration::from_millis(50));
            let _ = cv.wait_timeout(guard, wait);
        }
    }

    fn try_receipt(&self, leaf_hash: &Hash) -> Result<Option<Receipt>, DomainError> {
        if let Some((_, r)) = self
            .published
            .receipts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(leaf_hash)
        {
            return Ok(Some(r));
        }
        let mut conn = self.db.conn()?;
        let Some(leaf_index) = store::leaf_index_by_hash(&mut conn, leaf_hash)? else {
            return Ok(None);
        };
        let Some(cp) = store::latest_checkpoint(&mut conn)? else {
            return Ok(None);
        };
        let index = u64::try_from(leaf_index).unwrap_or(u64::MAX);
        let size = u64::try_from(cp.tree_size).unwrap_or(0);
        if index >= size {
            return Ok(None);
        }
        let s = DbStore::new(&mut conn, &self.published.nodes);
        let proof = tree::inclusion_proof(&s, index, size).map_err(tree_error)?;
        Ok(Some(Receipt {
            leaf_index: index,
            tree_size: size,
            inclusion_proof: b64_all(&proof),
            checkpoint: cp.note,
        }))
    }

    /// The latest signed checkpoint, if any.
    pub fn tree_head(&self) -> Result<Option<TreeHead>, DomainError> {
        let mut conn = self.db.conn()?;
        Ok(store::latest_checkpoint(&mut conn)?.map(|cp| TreeHead {
            tree_size: u64::try_from(cp.tree_size).unwrap_or(0),
            root_hash: B64.encode(&cp.root_hash),
            checkpoint: cp.note,
        }))
    }

    /// Inclusion proof of the leaf at `index` (or with `leaf_hash`) in the
    /// tree of `size` (default: the latest checkpoint's).
    pub fn inclusion(
        &self,
        index: Option<u64>,
        leaf_hash: Option<&Hash>,
        size: Option<u64>,
    ) -> Result<(u64, u64, Vec<String>), DomainError> {
        let mut pooled = self.db.conn()?;
        // On SQLite, the checkpoint, the leaf and the nodes in one read
        // transaction: one snapshot and one warm page cache.
        schema::read_snapshot(&mut pooled, |conn| {
            let latest = store::latest_checkpoint(conn)?
                .map_or(0, |c| u64::try_from(c.tree_size).unwrap_or(0));
            let size = size.unwrap_or(latest);
            if size == 0 || size > latest {
                return Err(range(format!(
                    "tree_size must be 1 to {latest} (the latest checkpoint)"
                )));
            }
            let index = match (index, leaf_hash) {
                (Some(i), None) => i,
                (None, Some(h)) => store::leaf_index_by_hash(conn, h)?
                    .map(|i| u64::try_from(i).unwrap_or(u64::MAX))
                    .ok_or_else(|| {
                        DomainError::not_found(
                            "leaf-not-found",
                            "no integrated leaf with that hash",
                        )
                    })?,
                _ => return Err(range("give exactly one of leaf_index and leaf_hash".into())),
            };
            if index >= size {
                return Err(range(format!(
                    "leaf {index} is not in a tree of size {size}"
                )));
            }
            let s = DbStore::new(conn, &self.published.nodes);
            let proof = tree::inclusion_proof(&s, index, size).map_err(tree_error)?;
            Ok((index, size, b64_all(&proof)))
        })
    }

    /// Consistency proof between tree sizes `first` and `second`.
    pub fn consistency(&self, first: u64, second: u64) -> Result<Vec<String>, DomainError> {
        let mut conn = self.db.conn()?;
        let latest = store::latest_checkpoint(&mut conn)?
            .map_or(0, |c| u64::try_from(c.tree_size).unwrap_or(0));
        if first == 0 || first > second || second > latest {
            return Err(range(format!("need 1 <= first <= second <= {latest}")));
        }
        let s = DbStore::new(&mut conn, &self.published.nodes);
        let proof = tree::consistency_proof(&s, first, second).map_err(tree_error)?;
        Ok(b64_all(&proof))
    }

    /// Integrated entries `start..end` (at most `max`), with leaf hashes.
    pub fn entries(&self, start: u64, end: u64, max: u64) -> Result<Vec<LedgerLeaf>, DomainError> {
        let mut conn = self.db.conn()?;
        let latest = store::latest_checkpoint(&mut conn)?
            .map_or(0, |c| u64::try_from(c.tree_size).unwrap_or(0));
        if start >= end || start >= latest {
            return Err(range(format!("need start < end and start < {latest}")));
        }
        let end = end.min(latest).min(start.saturating_add(max));
        let s = i64::try_from(start).unwrap_or(i64::MAX);
        let e = i64::try_from(end).unwrap_or(i64::MAX);
        Ok(store::leaves(&mut conn, s, e)?)
    }
}

impl BatchTail for Ledger {
    fn wants_batch(&self) -> bool {
        // This batch's own entries were queued before now, on this thread
        // (a committer's): per thread, so another committer's look at the
        // queue never hides them.
        let queued = ENQUEUED.load(Ordering::Relaxed);
        TAIL_SEEN.with(|seen| seen.replace(queued)) != queued
    }

    fn before_commit(&self, conn: &mut DbConnection) -> Result<Option<AfterCommit>, TailError> {
        // Never wait for the lock here: see `try_lock_sequencer`.
        if !store::try_lock_sequencer(conn)? {
            return Ok(None);
        }
        let Some(batch) = self.integrate_on(conn, SystemTime::now())? else {
            return Ok(None);
        };
        let published = Arc::clone(&self.published);
        Ok(Some(Box::new(move || {
            published.publish(batch);
        })))
    }
}

fn range(detail: String) -> DomainError {
    DomainError::Malformed {
        kind: "invalid-ledger-range",
        detail,
    }
}

fn b64_all(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| B64.encode(h)).collect()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::expect_used, reason = "tests")]

    use std::collections::HashMap;

    use ledger::tree::{self, HashStore, MemoryTree};

    use super::{NODE_CACHE_MIN_LEVEL, NodeCache};

    /// Between batches the cache alone holds every old node the next batch
    /// appends next to and proves its new leaves with (as the sequencer
    /// does: the batch's own nodes, then the cache), and it forgets the
    /// lower nodes that left the right edge.
    #[test]
    fn the_edge_cache_holds_what_the_next_batch_reads() {
        let cache = NodeCache::default();
        let mut full = MemoryTree::new();
        let mut size = 0u64;
        for batch in [1u64, 3, 7, 64, 5, 100, 2, 1, 63, 1] {
            let hashes: Vec<_> = (size..size + batch)
                .map(|i| ledger::leaf_hash(&i.to_be_bytes()))
                .collect();
            let made = tree::append(&Cached(&cache, HashMap::new()), size, &hashes)
                .expect("append reads the cache alone");
            let made: HashMap<_, _> = made.into_iter().map(|(l, i, h)| ((l, i), h)).collect();
            full.extend(hashes.iter().copied());
            let new_size = size + batch;
            let store = Cached(&cache, made);
            for i in size..new_size {
                assert_eq!(
                    tree::inclusion_proof(&store, i, new_size).ok(),
                    tree::inclusion_proof(&full, i, new_size).ok(),
                    "leaf {i} of {new_size}"
                );
            }
            cache.keep_committed(&store.1, new_size);
            size = new_size;
            let edge = cache.edge.lock().map(|e| e.len()).unwrap_or(usize::MAX);
            assert!(edge <= 2 << NODE_CACHE_MIN_LEVEL, "{edge} lower nodes kept");
        }
    }

    /// The cache, after the nodes a batch made.
    struct Cached<'a>(&'a NodeCache, HashMap<(u8, u64), ledger::Hash>);

    impl HashStore for Cached<'_> {
        type Error = tree::MissingNode;

        fn node(&self, level: u8, index: u64) -> Result<ledger::Hash, tree::MissingNode> {
            self.1
                .get(&(level, index))
                .copied()
                .or_else(|| self.0.get(level, index))
                .ok_or(tree::MissingNode { level, index })
        }
    }
}
