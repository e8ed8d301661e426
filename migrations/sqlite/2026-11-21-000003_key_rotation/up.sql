-- Key rotation. Keep in step with the PostgreSQL file.

-- Certificates a key holds besides its current one (keys.certificate):
-- `cross` (the old root certifying the new root's key at a root rollover)
-- and `previous` (an issuing CA's certificate under a retired root, kept
-- because the credentials it issued still chain through it).
CREATE TABLE key_certificates (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    key_id TEXT NOT NULL REFERENCES keys (key_id),
    issuer_key_id TEXT NOT NULL REFERENCES keys (key_id),
    kind TEXT NOT NULL CHECK (kind IN ('cross', 'previous')),
    certificate BLOB NOT NULL,
    cert_sha256 TEXT NOT NULL CHECK (length(cert_sha256) = 64 AND cert_sha256 = lower(cert_sha256)),
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL CHECK (not_after > not_before),
    created_at BIGINT NOT NULL,
    CONSTRAINT key_certificates_cert_sha256_key UNIQUE (cert_sha256)
);
CREATE INDEX key_certificates_by_key ON key_certificates (key_id);

-- Two-person rule: a root rotation asked for by one ops user runs only when
-- a different ops user approves it before it expires. An approved request
-- whose rotation failed half-way stays `approved` and is resumed by approving
-- again (the rotation itself is resumable).
CREATE TABLE key_rotation_requests (
    id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
    purpose TEXT NOT NULL CHECK (purpose IN
        ('root', 'identity-ca', 'license-ca', 'ocsp', 'ledger')),
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'completed', 'expired')),
    requested_by BIGINT NOT NULL REFERENCES staff (id),
    requested_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL CHECK (expires_at > requested_at),
    approved_by BIGINT REFERENCES staff (id),
    approved_at BIGINT,
    completed_at BIGINT,
    new_key_id TEXT REFERENCES keys (key_id),
    CHECK (approved_by IS NULL OR approved_by <> requested_by),
    CHECK ((state IN ('approved', 'completed')) = (approved_by IS NOT NULL)),
    CHECK ((approved_by IS NULL) = (approved_at IS NULL)),
    CHECK ((state = 'completed') = (completed_at IS NOT NULL AND new_key_id IS NOT NULL))
);
-- At most one open request per purpose.
CREATE UNIQUE INDEX key_rotation_requests_one_open ON key_rotation_requests (purpose)
    WHERE state IN ('pending', 'approved');
