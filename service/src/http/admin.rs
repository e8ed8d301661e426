//! `/v1/admin/keys...` (ops): the key list, rotation, and the two-person
//! rule for root rotations (request, then approval by another ops user).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use schema::staff::StaffRole;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Staff;
use super::error::{ApiError, Problem};
use crate::domain::rotation::{self, KeyView, RequestView, RotationOutcome};

/// The keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Every key, by purpose then generation.
    pub keys: Vec<KeyView>,
}

/// A rotation request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// `identity-ca`, `license-ca`, `ocsp`, `ledger` (rotated at once) or
    /// `root` (needs a second ops user's approval).
    pub purpose: String,
}

/// An approved request and the rotation it ran.
#[derive(Debug, Serialize, ToSchema)]
pub struct Approved {
    /// The request, now completed.
    pub request: RequestView,
    /// What the rotation did.
    pub rotation: RotationOutcome,
}

fn serial_bytes() -> Result<[u8; 16], crate::domain::DomainError> {
    Ok(crate::random::bytes::<16>()?)
}

/// Lists every key with purpose, key id, label, state, validity,
/// certificate and whether the token holds it.
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "the keys", body = KeyList),
        (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not ops", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/admin/keys")]
pub async fn list_keys(
    staff: Staff,
    state: web::Data<AppState>,
) -> Result<web::Json<KeyList>, ApiError> {
    staff.require(StaffRole::Ops)?;
    let keys = web::block(move || rotation::list(&state.hsm, &state.db)).await??;
    Ok(web::Json(KeyList { keys }))
}

/// Rotates a key: a new key in the HSM, certified, activated; the old one
/// retired (verify-only). A `root` rotation is only requested here (202):
/// a different ops user approves it at
/// `/v1/admin/keys/requests/{id}/approve` before it runs.
#[utoipa::path(tag = "admin", request_body = RotateBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "rotated", body = RotationOutcome),
        (status = 202, description = "root rotation requested; awaiting approval", body = RequestView),
        (status = 400, description = "malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not ops", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`rotation-request-open` or `rotation-in-progress`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-purpose` or `purpose-not-rotatable`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "HSM or database unavailable", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/admin/keys/rotate")]
pub async fn rotate(
    staff: Staff,
    state: web::Data<AppState>,
    body: web::Json<RotateBody>,
) -> Result<HttpResponse, ApiError> {
    staff.require(StaffRole::Ops)?;
    let purpose = rotation::parse_purpose(&body.purpose)?;
    // Who asked: the ledger's key entries carry no staff (root requests do).
    tracing::info!(staff_id = %staff.0.id, staff = %staff.0.name, purpose = %purpose, "key rotation asked for");
    let st = state.clone();
    if purpose == schema::keys::KeyPurpose::Root {
        let ttl = Duration::from_secs(state.config.rotation_request_ttl_secs);
        let (request, _) = web::block(move || {
            rotation::request(&st.db, &staff.0, purpose, ttl, SystemTime::now())
        })
        .await??;
        state.ledger.wake();
        return Ok(HttpResponse::build(StatusCode::ACCEPTED)
            .insert_header((
                "Location",
                format!("/v1/admin/keys/requests/{}", request.request_id),
            ))
            .json(request));
    }
    let outcome = web::block(move || {
        rotation::rotate(
            &Arc::clone(&st.hsm),
            &st.db,
            purpose,
            SystemTime::now(),
            &mut serial_bytes,
        )
    })
    .await??;
    state.ledger.wake();
    Ok(HttpResponse::Ok().json(outcome))
}

/// A rotation request and its state.
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id (UUID)")),
    responses(
        (status = 200, description = "the request", body = RequestView),
        (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not ops", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`rotation-request-not-found`", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/admin/keys/requests/{id}")]
pub async fn show_request(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<RequestView>, ApiError> {
    staff.require(StaffRole::Ops)?;
    let id = path.into_inner();
    Ok(web::Json(
        web::block(move || rotation::show_request(&state.db, &id)).await??,
    ))
}

/// Approves a root rotation request and runs it. The approver must be an
/// ops user other than the requester, before the request expires.
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id (UUID)")),
    responses(
        (status = 200, description = "approved and rotated", body = Approved),
        (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not ops, or the requester approving their own request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`rotation-request-not-found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`rotation-request-expired`, `rotation-request-completed` or `rotation-in-progress`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "HSM or database unavailable (approve again to resume)", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/admin/keys/requests/{id}/approve")]
pub async fn approve(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<Approved>, ApiError> {
    staff.require(StaffRole::Ops)?;
    let id = path.into_inner();
    let st = state.clone();
    let (request, rotation) = web::block(move || {
        rotation::approve(
            &Arc::clone(&st.hsm),
            &st.db,
            &staff.0,
            &id,
            SystemTime::now(),
            &mut serial_bytes,
        )
    })
    .await??;
    state.ledger.wake();
    Ok(web::Json(Approved { request, rotation }))
}
