-- Reverts 2026-11-21-000000_init (SQLite): children before parents.
DROP TABLE crls;
DROP TABLE ledger_checkpoints;
DROP TABLE ledger_nodes;
DROP TABLE ledger_leaves;
DROP TABLE ledger_queue;
DROP TABLE credentials;
DROP TABLE issuance_intents;
DROP TABLE identities;
DROP TABLE staff;
DROP TABLE keys;
