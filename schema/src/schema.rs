//! The diesel table definitions: one logical schema for both backends.
//!
//! This is what `diesel print-schema` produces against the SQLite migrations
//! (with `sqlite_integer_primary_key_is_bigint = true`, see `schema/diesel.toml`).
//! Against the PostgreSQL migrations it prints the same tables and columns with
//! the PostgreSQL spellings of the same types (`Int8` = `BigInt`, `Int4` =
//! `Integer`, `Bytea` = `Binary`). Regenerate it when a migration changes and
//! keep both migration folders in step; the integration tests run every
//! query on both backends.
// @generated automatically by Diesel CLI.

diesel::table! {
    challenges (nonce) {
        nonce -> Text,
        audience -> Text,
        created_by -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    credentials (serial) {
        serial -> Text,
        identity_id -> Text,
        kind -> Text,
        license_type -> Nullable<Text>,
        license_number -> Nullable<Text>,
        issuer_key_id -> Text,
        certificate -> Binary,
        cert_sha256 -> Text,
        not_before -> BigInt,
        not_after -> BigInt,
        status -> Text,
        revoked_at -> Nullable<BigInt>,
        revocation_reason -> Nullable<Text>,
        created_at -> BigInt,
        created_by -> BigInt,
    }
}

diesel::table! {
    crls (issuer_key_id, crl_number) {
        issuer_key_id -> Text,
        crl_number -> BigInt,
        this_update -> BigInt,
        next_update -> BigInt,
        der -> Binary,
    }
}

diesel::table! {
    identities (id) {
        id -> Text,
        dedup_hmac -> Binary,
        full_name -> Text,
        birth_date -> Text,
        address -> Text,
        status -> Text,
        created_at -> BigInt,
        created_by -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    issuance_intents (serial) {
        serial -> Text,
        identity_id -> Text,
        kind -> Text,
        license_type -> Nullable<Text>,
        license_number -> Nullable<Text>,
        issuer_key_id -> Text,
        state -> Text,
        created_at -> BigInt,
        created_by -> BigInt,
        resolved_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    keys (id) {
        id -> BigInt,
        purpose -> Text,
        generation -> Integer,
        key_id -> Text,
        label -> Text,
        state -> Text,
        spki -> Nullable<Binary>,
        certificate -> Nullable<Binary>,
        not_before -> Nullable<BigInt>,
        not_after -> Nullable<BigInt>,
        created_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    key_certificates (id) {
        id -> BigInt,
        key_id -> Text,
        issuer_key_id -> Text,
        kind -> Text,
        certificate -> Binary,
        cert_sha256 -> Text,
        not_before -> BigInt,
        not_after -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    key_rotation_requests (id) {
        id -> Text,
        purpose -> Text,
        state -> Text,
        requested_by -> BigInt,
        requested_at -> BigInt,
        expires_at -> BigInt,
        approved_by -> Nullable<BigInt>,
        approved_at -> Nullable<BigInt>,
        completed_at -> Nullable<BigInt>,
        new_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    ledger_checkpoints (tree_size) {
        tree_size -> BigInt,
        root_hash -> Binary,
        note -> Text,
        key_id -> Text,
        signed_at -> BigInt,
    }
}

diesel::table! {
    ledger_leaves (leaf_index) {
        leaf_index -> BigInt,
        entry -> Text,
        leaf_hash -> Binary,
        integrated_at -> BigInt,
    }
}

diesel::table! {
    ledger_nodes (level, node_index) {
        level -> Integer,
        node_index -> BigInt,
        hash -> Binary,
    }
}

diesel::table! {
    ledger_queue (id) {
        id -> BigInt,
        entry -> Text,
        leaf_hash -> Binary,
        enqueued_at -> BigInt,
    }
}

diesel::table! {
    ocsp_responders (issuer_key_id, responder_key_id) {
        issuer_key_id -> Text,
        responder_key_id -> Text,
        certificate -> Binary,
        not_before -> BigInt,
        not_after -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    staff (id) {
        id -> BigInt,
        name -> Text,
        role -> Text,
        department -> Nullable<Text>,
        token_hash -> Binary,
        disabled -> Bool,
        created_at -> BigInt,
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(credentials -> identities (identity_id));
diesel::joinable!(credentials -> issuance_intents (serial));
diesel::joinable!(credentials -> staff (created_by));
diesel::joinable!(identities -> staff (created_by));
diesel::joinable!(issuance_intents -> identities (identity_id));
diesel::joinable!(issuance_intents -> staff (created_by));

diesel::joinable!(challenges -> staff (created_by));

diesel::allow_tables_to_appear_in_same_query!(
    challenges,
    credentials,
    crls,
    identities,
    issuance_intents,
    key_certificates,
    key_rotation_requests,
    keys,
    ledger_checkpoints,
    ledger_leaves,
    ledger_nodes,
    ledger_queue,
    ocsp_responders,
    staff,
);
