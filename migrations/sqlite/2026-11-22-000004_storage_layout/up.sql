-- Storage layout only: the logical schema (columns, keys, constraints) is
-- unchanged, except that a NULL leaf index or tree size, which walletd
-- never writes, would now be given the next number instead of refused.
-- Keep in step with the PostgreSQL file, which drops the same index and has
-- no rowid tables to change.

-- No query looks intents up by identity, and identities are never deleted or
-- renumbered, so no foreign key check needs it either: it was one more
-- random-keyed B-tree page written for every issuance.
DROP INDEX issuance_intents_identity_id;

-- A `BIGINT PRIMARY KEY` is not SQLite's rowid but a second B-tree beside
-- it, so every leaf was written twice and every read by leaf hash took two
-- searches. As `INTEGER PRIMARY KEY` the leaf index is the rowid: the leaf
-- hash index then answers "which index has this hash" on its own.
CREATE TABLE ledger_leaves_new (
    leaf_index INTEGER NOT NULL PRIMARY KEY CHECK (leaf_index >= 0),
    entry TEXT NOT NULL,
    leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    integrated_at BIGINT NOT NULL,
    CONSTRAINT ledger_leaves_leaf_hash_key UNIQUE (leaf_hash)
);
INSERT INTO ledger_leaves_new (leaf_index, entry, leaf_hash, integrated_at)
    SELECT leaf_index, entry, leaf_hash, integrated_at FROM ledger_leaves ORDER BY leaf_index;
DROP TABLE ledger_leaves;
ALTER TABLE ledger_leaves_new RENAME TO ledger_leaves;

-- Subtree hashes are only ever read by their key: stored in the key's own
-- B-tree (WITHOUT ROWID), a proof's node reads take one search each, not two.
CREATE TABLE ledger_nodes_new (
    level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
    node_index BIGINT NOT NULL CHECK (node_index >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, node_index)
) WITHOUT ROWID;
INSERT INTO ledger_nodes_new (level, node_index, hash)
    SELECT level, node_index, hash FROM ledger_nodes ORDER BY level, node_index;
DROP TABLE ledger_nodes;
ALTER TABLE ledger_nodes_new RENAME TO ledger_nodes;

-- The tree size as the rowid, for the same reason as the leaf index: the
-- latest checkpoint is the last row of one B-tree.
CREATE TABLE ledger_checkpoints_new (
    tree_size INTEGER NOT NULL PRIMARY KEY CHECK (tree_size >= 0),
    root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
    note TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES keys (key_id),
    signed_at BIGINT NOT NULL
);
INSERT INTO ledger_checkpoints_new (tree_size, root_hash, note, key_id, signed_at)
    SELECT tree_size, root_hash, note, key_id, signed_at FROM ledger_checkpoints ORDER BY tree_size;
DROP TABLE ledger_checkpoints;
ALTER TABLE ledger_checkpoints_new RENAME TO ledger_checkpoints;
