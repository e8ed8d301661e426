//! `walletctl ledger audit` and `export`: recompute the ledger from what is
//! stored and compare. Every entry must be canonical and hash to its stored
//! leaf hash; every stored subtree hash must equal the recomputed one; every
//! stored checkpoint must carry the recomputed root for its size, name its
//! size, and be signed by a ledger key; consecutive checkpoints must be
//! consistent. The first divergence is reported with where it is.

use std::io::Write as _;
use std::path::Path;

use ledger::checkpoint::{Checkpoint as NoteBody, SignedNote};
use ledger::entry::Entry;
use ledger::tree::{self, HashStore, MemoryTree};
use schema::Database;
use schema::keys::{self, KeyPurpose};
use schema::ledger as store;

use super::DomainError;

/// Leaves read per database round trip.
const PAGE: i64 = 10_000;

/// What the audit checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Leaves recomputed.
    pub leaves: u64,
    /// Checkpoints verified.
    pub checkpoints: u64,
    /// Stored subtree hashes compared.
    pub nodes: u64,
}

/// The first thing that does not add up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditFailure {
    /// An entry is not canonical JSON of a known type.
    #[error("leaf {index}: entry is not a canonical ledger entry: {reason}")]
    BadEntry {
        /// Leaf index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// An entry does not hash to its stored leaf hash.
    #[error("leaf {index}: entry does not hash to its stored leaf hash (entry altered?)")]
    LeafHash {
        /// Leaf index.
        index: u64,
    },
    /// Leaf indexes are not 0..n without gaps.
    #[error("leaf {index} is missing")]
    Gap {
        /// First missing index.
        index: u64,
    },
    /// A stored subtree hash differs from the recomputed one.
    #[error("stored subtree hash at level {level}, index {index} differs from the recomputed one")]
    Node {
        /// Level.
        level: u8,
        /// Index.
        index: u64,
    },
    /// A checkpoint is wrong.
    #[error("checkpoint at tree size {size}: {reason}")]
    Checkpoint {
        /// Its tree size.
        size: u64,
        /// What is wrong.
        reason: String,
    },
    /// Two consecutive checkpoints are not consistent.
    #[error("checkpoints {first} and {second} are not consistent")]
    Inconsistent {
        /// Earlier size.
        first: u64,
        /// Later size.
        second: u64,
    },
    /// The audit could not read the ledger.
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl From<schema::StorageError> for AuditFailure {
    fn from(e: schema::StorageError) -> Self {
        AuditFailure::Domain(e.into())
    }
}

/// Audits the ledger; `progress(done, total)` is called as leaves are read.
pub fn audit(
    db: &Database,
    origin: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<AuditReport, AuditFailure> {
    let mut conn = db.conn().map_err(DomainError::from)?;
    // Audit exactly the tree of the latest checkpoint: a running sequencer
    // may add leaves meanwhile, and those are the next audit's business.
    let total =
        store::latest_checkpoint(&mut conn)?.map_or(0, |c| u64::try_from(c.tree_size).unwrap_or(0));
    let stored = u64::try_from(store::tree_size(&mut conn)?).unwrap_or(0);
    if stored < total {
        return Err(AuditFailure::Gap { index: stored });
    }
    let end = i64::try_from(total).unwrap_or(i64::MAX);
    let mut tree = MemoryTree::new();
    let mut start = 0i64;
    loop {
        if start >= end {
            break;
        }
        let page = store::leaves(&mut conn, start, (start + PAGE).min(end))?;
        if page.is_empty() {
            break;
        }
        for leaf in &page {
            let index = u64::try_from(leaf.leaf_index).unwrap_or(u64::MAX);
            if index != tree.size() {
                return Err(AuditFailure::Gap { index: tree.size() });
            }
            let entry = Entry::parse(&leaf.entry).map_err(|e| AuditFailure::BadEntry {
                index,
                reason: e.to_string(),
            })?;
            let hash = entry.leaf_hash();
            if hash.as_slice() != leaf.leaf_hash.as_slice() {
                return Err(AuditFailure::LeafHash { index });
            }
            tree.push(hash);
        }
        start += PAGE;
        progress(tree.size(), total);
    }
    if tree.size() != total {
        return Err(AuditFailure::Gap { index: tree.size() });
    }

    // Stored subtree hashes: proofs are served from these.
    let mut nodes = 0u64;
    for level in 0..64u8 {
        let width = tree.size() >> level;
        if width == 0 {
            break;
        }
        for index in 0..width {
            let stored = store::node(
                &mut conn,
                i32::from(level),
                i64::try_from(index).unwrap_or(i64::MAX),
            )?;
            let want = tree
                .node(level, index)
                .map_err(|e| DomainError::Inconsistent(e.to_string()))?;
            if stored.as_deref() != Some(want.as_slice()) {
                return Err(AuditFailure::Node { level, index });
            }
            nodes += 1;
        }
    }

    // Checkpoints.
    let ledger_keys: Vec<(String, Vec<u8>)> = keys::list_all(&mut conn)?
        .into_iter()
        .filter(|k| k.purpose == KeyPurpose::Ledger)
        .filter_map(|k| k.spki.map(|s| (k.key_id.to_string(), s)))
        .collect();
    let mut checkpoints = 0u64;
    let mut previous: Option<(u64, ledger::Hash)> = None;
    for cp in store::checkpoints(&mut conn)?
        .into_iter()
        .filter(|c| c.tree_size <= end)
    {
        let size = u64::try_from(cp.tree_size).unwrap_or(0);
        let bad = |reason: String| AuditFailure::Checkpoint { size, reason };
        if size == 0 || size > tree.size() {
            return Err(bad(format!(
                "size beyond the {} stored leaves",
                tree.size()
            )));
        }
        let root = tree::root(&tree, size).map_err(|e| DomainError::Inconsistent(e.to_string()))?;
        if cp.root_hash.as_slice() != root.as_slice() {
            return Err(bad("stored root differs from the recomputed root".into()));
        }
        let note = SignedNote::parse(&cp.note).map_err(|e| bad(format!("unparsable note: {e}")))?;
        let body = NoteBody::parse_body(&note.text)
            .map_err(|e| bad(format!("unparsable checkpoint: {e}")))?;
        if body.size != size || body.root != root || body.origin != origin {
            return Err(bad(
                "the signed text does not name this origin, size and root".into(),
            ));
        }
        let signed = ledger_keys
            .iter()
            .any(|(_, spki)| note.verify(origin, spki).is_ok());
        if !signed {
            return Err(bad("no valid signature by a ledger key".into()));
        }
        if let Some((first, first_root)) = previous {
            let proof = tree::consistency_proof(&tree, first, size)
                .map_err(|e| DomainError::Inconsistent(e.to_string()))?;
            tree::verify_consistency(first, size, &first_root, &root, &proof).map_err(|_| {
                AuditFailure::Inconsistent {
                    first,
                    second: size,
                }
            })?;
        }
        previous = Some((size, root));
        checkpoints += 1;
    }
    Ok(AuditReport {
        leaves: tree.size(),
        checkpoints,
        nodes,
    })
}

/// Writes the ledger as plain files any RFC 9162 implementation can replay:
/// `entries.jsonl` (one canonical entry per line, in leaf order; each line's
/// bytes without the newline are what is hashed), `leaf-hashes.txt` (hex),
/// `checkpoints/<size>.note` (signed notes), `ledger-keys/<key id>.pem`, and
/// `README.txt` saying so. Returns the number of entries.
pub fn export(db: &Database, dir: &Path) -> Result<u64, DomainError> {
    let io =
        |e: std::io::Error| DomainError::Inconsistent(format!("export to {}: {e}", dir.display()));
    std::fs::create_dir_all(dir.join("checkpoints")).map_err(io)?;
    std::fs::create_dir_all(dir.join("ledger-keys")).map_err(io)?;
    let mut conn = db.conn()?;
    let mut entries =
        std::io::BufWriter::new(std::fs::File::create(dir.join("entries.jsonl")).map_err(io)?);
    let mut hashes =
        std::io::BufWriter::new(std::fs::File::create(dir.join("leaf-hashes.txt")).map_err(io)?);
    let mut count = 0u64;
    let mut start = 0i64;
    loop {
        let page = store::leaves(&mut conn, start, start + PAGE)?;
        if page.is_empty() {
            break;
        }
        for leaf in page {
            writeln!(entries, "{}", leaf.entry).map_err(io)?;
            writeln!(hashes, "{}", hex::encode(&leaf.leaf_hash)).map_err(io)?;
            count += 1;
        }
        start += PAGE;
    }
    entries.flush().map_err(io)?;
    hashes.flush().map_err(io)?;
    for cp in store::checkpoints(&mut conn)? {
        std::fs::write(
            dir.join(format!("checkpoints/{}.note", cp.tree_size)),
            &cp.note,
        )
        .map_err(io)?;
    }
    for k in keys::list_all(&mut conn)?
        .into_iter()
        .filter(|k| k.purpose == KeyPurpose::Ledger)
    {
        if let Some(spki) = k.spki {
            let pem = certs::spki_pem(&certs::spki_from_der(&spki)?)?;
            std::fs::write(dir.join(format!("ledger-keys/{}.pem", k.key_id)), pem).map_err(io)?;
        }
    }
    std::fs::write(
        dir.join("README.txt"),
        "OneVisit ledger export.\n\
         entries.jsonl      one canonical JSON entry per line, leaf 0 first; leaf hash = SHA-256(0x00 || line bytes)\n\
         leaf-hashes.txt    the leaf hashes, hex, same order\n\
         checkpoints/N.note C2SP signed checkpoints (tree size N); key name = origin, key ID = SHA-256(SPKI)[:4]\n\
         ledger-keys/*.pem  the ledger public keys (SPKI)\n\
         Trees, roots and proofs follow RFC 9162 section 2.1.\n",
    )
    .map_err(io)?;
    Ok(count)
}
