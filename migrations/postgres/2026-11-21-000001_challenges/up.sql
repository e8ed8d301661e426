-- Counter challenges: single-use nonces bound to an audience, expiring.
-- Keep in step with migrations/sqlite/2026-11-21-000001_challenges/up.sql.
CREATE TABLE challenges (
    nonce TEXT NOT NULL PRIMARY KEY CHECK (nonce <> ''),
    audience TEXT NOT NULL CHECK (audience <> ''),
    created_by BIGINT NOT NULL REFERENCES staff (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    CHECK (expires_at > created_at)
);
CREATE INDEX challenges_expires_at ON challenges (expires_at);
