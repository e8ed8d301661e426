CREATE INDEX issuance_intents_identity_id ON issuance_intents (identity_id);
