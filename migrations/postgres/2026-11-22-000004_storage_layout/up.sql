-- Storage layout only. Keep in step with the SQLite file (which also moves
-- its ledger tables onto rowid keys; PostgreSQL has no rowid tables).

-- No query looks intents up by identity, and identities are never deleted or
-- renumbered, so no foreign key check needs it either: it was one more
-- random-keyed index entry written for every issuance.
DROP INDEX issuance_intents_identity_id;
