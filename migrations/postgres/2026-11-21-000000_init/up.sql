-- OneVisit Wallet storage, PostgreSQL flavour. Keep in step with
-- migrations/sqlite/2026-11-21-000000_init/up.sql: same tables, columns,
-- constraints and index names. Times are unix seconds (BIGINT); hex
-- identifiers are lowercase; binary data is BYTEA.

-- Keys held in the HSM (or, for `dedup-hmac`, the secret key's check value).
CREATE TABLE keys (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN
        ('root', 'identity-ca', 'license-ca', 'ocsp', 'ledger', 'dedup-hmac', 'staff-ca')),
    generation INTEGER NOT NULL CHECK (generation >= 0),
    key_id TEXT NOT NULL CHECK (key_id <> '' AND key_id = lower(key_id)),
    label TEXT NOT NULL CHECK (label = 'onevisit/' || purpose || '/' || generation),
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retired', 'destroyed')),
    spki BYTEA,
    certificate BYTEA,
    not_before BIGINT,
    not_after BIGINT,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT,
    CONSTRAINT keys_key_id_key UNIQUE (key_id),
    CONSTRAINT keys_label_key UNIQUE (label),
    CONSTRAINT keys_purpose_generation_key UNIQUE (purpose, generation),
    -- The HMAC secret has no public key and no certificate.
    CHECK (purpose <> 'dedup-hmac' OR (spki IS NULL AND certificate IS NULL)),
    CHECK (certificate IS NULL OR (not_before IS NOT NULL AND not_after IS NOT NULL)),
    CHECK (state <> 'active' OR activated_at IS NOT NULL),
    CHECK (state <> 'retired' OR retired_at IS NOT NULL)
);
-- At most one active key per purpose.
CREATE UNIQUE INDEX keys_one_active_per_purpose ON keys (purpose) WHERE state = 'active';

-- Staff accounts. Bearer tokens are stored hashed only.
CREATE TABLE staff (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL CHECK (name <> ''),
    role TEXT NOT NULL CHECK (role IN ('officer', 'counter', 'ops', 'auditor')),
    department TEXT,
    token_hash BYTEA NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT,
    CONSTRAINT staff_name_key UNIQUE (name),
    CONSTRAINT staff_token_hash_key UNIQUE (token_hash),
    CHECK (role <> 'officer' OR department IS NOT NULL),
    CHECK (disabled = (disabled_at IS NOT NULL))
);

-- Enrolled persons. The national ID number is never stored: only its HMAC,
-- made by the `dedup-hmac` key inside the HSM.
CREATE TABLE identities (
    id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
    dedup_hmac BYTEA NOT NULL,
    full_name TEXT NOT NULL,
    birth_date TEXT NOT NULL
        CHECK (birth_date ~ '^[0-9]{4}-[0-1][0-9]-[0-3][0-9]$'),
    address TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'abandoned')),
    created_at BIGINT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES staff (id),
    revoked_at BIGINT,
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
-- One person, one active identity.
CREATE UNIQUE INDEX identities_one_active_per_person ON identities (dedup_hmac)
    WHERE status = 'active';

-- Record before sign: the serial and the intent to issue are stored before
-- the HSM signs. Every credential has its intent (credentials.serial
-- references this table), so a serial is unique across both.
CREATE TABLE issuance_intents (
    serial TEXT NOT NULL PRIMARY KEY CHECK (serial <> '' AND serial = lower(serial)),
    identity_id TEXT NOT NULL REFERENCES identities (id),
    kind TEXT NOT NULL CHECK (kind IN ('identity', 'license')),
    license_type TEXT,
    license_number TEXT,
    issuer_key_id TEXT NOT NULL REFERENCES keys (key_id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'abandoned')),
    created_at BIGINT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES staff (id),
    resolved_at BIGINT,
    -- The licence number is reserved with the serial, before signing,
    -- because it is inside the signed certificate.
    CONSTRAINT issuance_intents_license_type_license_number_key UNIQUE (license_type, license_number),
    CHECK ((kind = 'license') = (license_type IS NOT NULL)),
    CHECK ((kind = 'license') = (license_number IS NOT NULL)),
    CHECK ((state = 'pending') = (resolved_at IS NULL))
);
CREATE INDEX issuance_intents_pending ON issuance_intents (created_at) WHERE state = 'pending';
CREATE INDEX issuance_intents_identity_id ON issuance_intents (identity_id);

-- Issued certificates (identity and licence credentials).
CREATE TABLE credentials (
    serial TEXT NOT NULL PRIMARY KEY REFERENCES issuance_intents (serial),
    identity_id TEXT NOT NULL REFERENCES identities (id),
    kind TEXT NOT NULL CHECK (kind IN ('identity', 'license')),
    license_type TEXT,
    license_number TEXT,
    issuer_key_id TEXT NOT NULL REFERENCES keys (key_id),
    certificate BYTEA NOT NULL,
    cert_sha256 TEXT NOT NULL CHECK (length(cert_sha256) = 64 AND cert_sha256 = lower(cert_sha256)),
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('good', 'revoked')),
    revoked_at BIGINT,
    revocation_reason TEXT,
    created_at BIGINT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES staff (id),
    CONSTRAINT credentials_cert_sha256_key UNIQUE (cert_sha256),
    CONSTRAINT credentials_license_type_license_number_key UNIQUE (license_type, license_number),
    CHECK ((kind = 'identity' AND license_type IS NULL AND license_number IS NULL)
        OR (kind = 'license' AND license_type IS NOT NULL AND license_number IS NOT NULL)),
    CHECK (not_before < not_after),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL)),
    CHECK (status = 'revoked' OR revocation_reason IS NULL)
);
CREATE INDEX credentials_identity_id ON credentials (identity_id);
CREATE INDEX credentials_issuer_revoked ON credentials (issuer_key_id, revoked_at)
    WHERE status = 'revoked';

-- Ledger: leaves waiting for the sequencer.
CREATE TABLE ledger_queue (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry TEXT NOT NULL,
    leaf_hash BYTEA NOT NULL CHECK (length(leaf_hash) = 32),
    enqueued_at BIGINT NOT NULL,
    CONSTRAINT ledger_queue_leaf_hash_key UNIQUE (leaf_hash)
);

-- Ledger: sequenced leaves, RFC 9162 leaf hashes.
CREATE TABLE ledger_leaves (
    leaf_index BIGINT NOT NULL PRIMARY KEY CHECK (leaf_index >= 0),
    entry TEXT NOT NULL,
    leaf_hash BYTEA NOT NULL CHECK (length(leaf_hash) = 32),
    integrated_at BIGINT NOT NULL,
    CONSTRAINT ledger_leaves_leaf_hash_key UNIQUE (leaf_hash)
);

-- Ledger: hashes of complete subtrees; (level, node_index) covers leaves
-- [node_index * 2^level, (node_index + 1) * 2^level).
CREATE TABLE ledger_nodes (
    level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
    node_index BIGINT NOT NULL CHECK (node_index >= 0),
    hash BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, node_index)
);

-- Ledger: signed checkpoints (C2SP signed notes), one per tree size.
CREATE TABLE ledger_checkpoints (
    tree_size BIGINT NOT NULL PRIMARY KEY CHECK (tree_size >= 0),
    root_hash BYTEA NOT NULL CHECK (length(root_hash) = 32),
    note TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES keys (key_id),
    signed_at BIGINT NOT NULL
);

-- Certificate revocation lists as signed, per issuing key.
CREATE TABLE crls (
    issuer_key_id TEXT NOT NULL REFERENCES keys (key_id),
    crl_number BIGINT NOT NULL CHECK (crl_number >= 0),
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der BYTEA NOT NULL,
    PRIMARY KEY (issuer_key_id, crl_number),
    CHECK (this_update < next_update)
);
