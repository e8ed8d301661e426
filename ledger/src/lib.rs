//! Pure transparency-log logic for the OneVisit ledger: RFC 9162 hashing,
//! tree heads and proofs over stored subtree hashes, C2SP checkpoints and
//! signed notes, and the canonical JSON entries that become leaves.
//!
//! No I/O and no clock: storage is reached through [`tree::HashStore`],
//! signatures are made outside (in the HSM) and only assembled and verified
//! here, and times are parameters. The service, `walletctl ledger audit` and
//! `walletctl verify --offline` all run this same code.
//!
//! What it trusts: nothing it is handed. Proofs, notes and entries are
//! checked byte for byte; a [`tree::HashStore`] is trusted to return the
//! hashes it stored (the audit recomputes them with [`tree::MemoryTree`]).
//!
//! - [`tree`]: RFC 9162 section 2.1 tree heads, inclusion and consistency
//!   proofs (generation from O(log n) stored nodes, and verification).
//! - [`checkpoint`]: C2SP tlog-checkpoint bodies in C2SP signed notes with
//!   ECDSA P-256 signatures (signature type 0x02).
//! - [`entry`]: the canonical JSON ledger entries of the design.
#![forbid(unsafe_code)]

use sha2::{Digest as _, Sha256};

pub mod checkpoint;
pub mod entry;
pub mod tree;

pub use checkpoint::{Checkpoint, NoteError, NoteSignature, SignedNote};
pub use entry::{Entry, EntryError};
pub use tree::{HashStore, MemoryTree, TreeError, VerifyError};

/// A SHA-256 hash in the log.
pub type Hash = [u8; 32];

/// Root hash of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Leaf hash: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    // Vectors from the RFC 6962 reference test data (certificate-transparency-go merkle tests).
    #[test]
    fn matches_rfc6962_vectors() {
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let l0 = leaf_hash(b"");
        let l1 = leaf_hash(&[0x00]);
        assert_eq!(
            hex(&l1),
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
        );
        assert_eq!(
            hex(&node_hash(&l0, &l1)),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
    }
}
