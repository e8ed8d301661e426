-- Delegated OCSP responder certificates: the `ocsp` key certified by each
-- issuing CA (RFC 6960 4.2.2.2: a delegated responder is certified by the CA
-- whose certificates it answers for). Keep in step with the SQLite file.
CREATE TABLE ocsp_responders (
    issuer_key_id TEXT NOT NULL REFERENCES keys (key_id),
    responder_key_id TEXT NOT NULL REFERENCES keys (key_id),
    certificate BYTEA NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer_key_id, responder_key_id)
);
