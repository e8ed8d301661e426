//! `/v1/ledger/*`: the public, read-only face of the transparency log: the
//! latest signed checkpoint, the tree head, inclusion and consistency proofs,
//! and the entries themselves. Bad or out-of-range parameters are 400
//! problem+json, never a 500.

use actix_web::{HttpResponse, get, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, Problem};
use crate::domain::ledger::TreeHead;

/// Most entries one `GET /v1/ledger/entries` returns.
pub const MAX_ENTRIES_PAGE: u64 = 1000;

fn no_checkpoint() -> ApiError {
    ApiError::NotFound {
        kind: "no-checkpoint",
        detail: "the ledger has no checkpoint yet".into(),
    }
}

/// The latest signed checkpoint (C2SP signed note).
#[utoipa::path(tag = "ledger",
    responses((status = 200, description = "signed note", content_type = "text/plain"),
              (status = 404, description = "no checkpoint yet", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/ledger/checkpoint")]
pub async fn checkpoint(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let head = web::block(move || state.ledger.tree_head())
        .await??
        .ok_or_else(no_checkpoint)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(head.checkpoint))
}

/// The signed tree head.
#[utoipa::path(tag = "ledger",
    responses((status = 200, description = "tree head", body = TreeHead),
              (status = 404, description = "no checkpoint yet", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/ledger/sth")]
pub async fn sth(state: web::Data<AppState>) -> Result<web::Json<TreeHead>, ApiError> {
    let head = web::block(move || state.ledger.tree_head())
        .await??
        .ok_or_else(no_checkpoint)?;
    Ok(web::Json(head))
}

/// Which leaf, in which tree.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// Leaf index (give this or `leaf_hash`).
    pub leaf_index: Option<u64>,
    /// Leaf hash, hex or base64 (give this or `leaf_index`).
    pub leaf_hash: Option<String>,
    /// Tree size; default the latest checkpoint's.
    pub tree_size: Option<u64>,
}

/// An inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionBody {
    /// Leaf index.
    pub leaf_index: u64,
    /// Tree size the proof is for.
    pub tree_size: u64,
    /// RFC 9162 inclusion path, base64 hashes.
    pub inclusion_proof: Vec<String>,
}

fn parse_hash(text: &str) -> Result<ledger::Hash, ApiError> {
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        B64.decode(text)
            .ok()
            .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
    };
    bytes
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::BadRequest {
            kind: "invalid-ledger-range",
            detail: "leaf_hash must be 32 bytes, hex or base64".into(),
        })
}

/// Inclusion proof of a leaf.
#[utoipa::path(tag = "ledger", params(InclusionQuery),
    responses((status = 200, description = "proof", body = InclusionBody),
              (status = 400, description = "bad or out-of-range parameters", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "no leaf with that hash", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/ledger/proof/inclusion")]
pub async fn inclusion(
    state: web::Data<AppState>,
    q: web::Query<InclusionQuery>,
) -> Result<web::Json<InclusionBody>, ApiError> {
    let q = q.into_inner();
    let hash = q.leaf_hash.as_deref().map(parse_hash).transpose()?;
    let (leaf_index, tree_size, inclusion_proof) = web::block(move || {
        state
            .ledger
            .inclusion(q.leaf_index, hash.as_ref(), q.tree_size)
    })
    .await??;
    Ok(web::Json(InclusionBody {
        leaf_index,
        tree_size,
        inclusion_proof,
    }))
}

/// Two tree sizes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The earlier size.
    pub first: u64,
    /// The later size.
    pub second: u64,
}

/// A consistency proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyBody {
    /// The earlier size.
    pub first: u64,
    /// The later size.
    pub second: u64,
    /// RFC 9162 consistency proof, base64 hashes.
    pub consistency_proof: Vec<String>,
}

/// Consistency proof between two tree sizes.
#[utoipa::path(tag = "ledger", params(ConsistencyQuery),
    responses((status = 200, description = "proof", body = ConsistencyBody),
              (status = 400, description = "bad or out-of-range parameters", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/ledger/proof/consistency")]
pub async fn consistency(
    state: web::Data<AppState>,
    q: web::Query<ConsistencyQuery>,
) -> Result<web::Json<ConsistencyBody>, ApiError> {
    let ConsistencyQuery { first, second } = q.into_inner();
    let consistency_proof = web::block(move || state.ledger.consistency(first, second)).await??;
    Ok(web::Json(ConsistencyBody {
        first,
        second,
        consistency_proof,
    }))
}

/// A page of entries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// First leaf index.
    pub start: u64,
    /// One past the last leaf index wanted (at most 1000 are returned).
    pub end: u64,
}

/// One integrated entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryBody {
    /// Leaf index.
    pub leaf_index: u64,
    /// The canonical JSON entry, as hashed.
    pub entry: String,
    /// SHA-256(0x00 || entry), base64.
    pub leaf_hash: String,
}

/// Entries with their leaf hashes.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntriesBody {
    /// In leaf order; may be fewer than asked (page cap, tree size).
    pub entries: Vec<EntryBody>,
}

/// Integrated entries `start..end`, paged.
#[utoipa::path(tag = "ledger", params(EntriesQuery),
    responses((status = 200, description = "entries", body = EntriesBody),
              (status = 400, description = "bad or out-of-range parameters", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/ledger/entries")]
pub async fn entries(
    state: web::Data<AppState>,
    q: web::Query<EntriesQuery>,
) -> Result<web::Json<EntriesBody>, ApiError> {
    let EntriesQuery { start, end } = q.into_inner();
    let leaves = web::block(move || state.ledger.entries(start, end, MAX_ENTRIES_PAGE)).await??;
    Ok(web::Json(EntriesBody {
        entries: leaves
            .into_iter()
            .map(|l| EntryBody {
                leaf_index: u64::try_from(l.leaf_index).unwrap_or(0),
                entry: l.entry,
                leaf_hash: B64.encode(&l.leaf_hash),
            })
            .collect(),
    }))
}
