-- Back to the layout of 2026-11-21-000000_init (same rows).

CREATE TABLE ledger_checkpoints_old (
    tree_size BIGINT NOT NULL PRIMARY KEY CHECK (tree_size >= 0),
    root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
    note TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES keys (key_id),
    signed_at BIGINT NOT NULL
);
INSERT INTO ledger_checkpoints_old (tree_size, root_hash, note, key_id, signed_at)
    SELECT tree_size, root_hash, note, key_id, signed_at FROM ledger_checkpoints ORDER BY tree_size;
DROP TABLE ledger_checkpoints;
ALTER TABLE ledger_checkpoints_old RENAME TO ledger_checkpoints;

CREATE TABLE ledger_nodes_old (
    level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
    node_index BIGINT NOT NULL CHECK (node_index >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, node_index)
);
INSERT INTO ledger_nodes_old (level, node_index, hash)
    SELECT level, node_index, hash FROM ledger_nodes ORDER BY level, node_index;
DROP TABLE ledger_nodes;
ALTER TABLE ledger_nodes_old RENAME TO ledger_nodes;

CREATE TABLE ledger_leaves_old (
    leaf_index BIGINT NOT NULL PRIMARY KEY CHECK (leaf_index >= 0),
    entry TEXT NOT NULL,
    leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    integrated_at BIGINT NOT NULL,
    CONSTRAINT ledger_leaves_leaf_hash_key UNIQUE (leaf_hash)
);
INSERT INTO ledger_leaves_old (leaf_index, entry, leaf_hash, integrated_at)
    SELECT leaf_index, entry, leaf_hash, integrated_at FROM ledger_leaves ORDER BY leaf_index;
DROP TABLE ledger_leaves;
ALTER TABLE ledger_leaves_old RENAME TO ledger_leaves;

CREATE INDEX issuance_intents_identity_id ON issuance_intents (identity_id);
