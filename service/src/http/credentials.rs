//! `/v1/credentials/{serial}/revoke` (officers), `/v1/credentials/{serial}/status`
//! and `/v1/crl/{issuer_key_id}` (anyone).

use std::time::SystemTime;

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Staff;
use super::error::{ApiError, Problem};
use crate::domain::ledger::Receipt;
use crate::domain::revocation::Status;
use crate::domain::rfc3339;

/// Revocation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// RFC 5280 reason name: `unspecified`, `keyCompromise`, `cACompromise`,
    /// `affiliationChanged`, `superseded`, `cessationOfOperation`,
    /// `privilegeWithdrawn`, `aACompromise`.
    pub reason: String,
}

/// A credential's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    /// Serial, lowercase hex.
    pub serial: String,
    /// `good`, `revoked` or `unknown`.
    pub status: String,
    /// `identity` or `license` (known credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// RFC 3339 (known credentials): after this the credential has expired
    /// whatever its status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// RFC 3339, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// RFC 5280 reason name, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The revocation's ledger receipt, in the response that revoked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

fn status_body(serial: &str, status: Status) -> StatusBody {
    match status {
        Status::Unknown => StatusBody {
            serial: serial.to_owned(),
            status: "unknown".into(),
            kind: None,
            not_after: None,
            revoked_at: None,
            reason: None,
            receipt: None,
        },
        Status::Known(c) => StatusBody {
            serial: c.serial.to_string(),
            status: c.status.to_string(),
            kind: Some(c.kind.to_string()),
            not_after: Some(rfc3339(c.not_after)),
            revoked_at: c.revoked_at.map(rfc3339),
            reason: c.revocation_reason,
            receipt: None,
        },
    }
}

/// Revokes a credential; the revocation is recorded on the ledger.
/// Repeating it changes nothing and answers with the current status.
#[utoipa::path(tag = "credentials", request_body = RevokeBody,
    security(("bearer" = [])),
    params(("serial" = String, Path, description = "serial, lowercase hex")),
    responses(
        (status = 200, description = "revoked (now or before)", body = StatusBody),
        (status = 400, description = "malformed serial or body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an officer of the licence's department", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such credential", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid-reason`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable, or `ledger-pending` with `leaf_hash`", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/credentials/{serial}/revoke")]
pub async fn revoke(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<RevokeBody>,
) -> Result<web::Json<StatusBody>, ApiError> {
    let serial = path.into_inner();
    let reason = body.into_inner().reason;
    let st = state.clone();
    let done = web::block(move || {
        st.issuer
            .revoke(&staff.0, &serial, &reason, SystemTime::now())
    })
    .await??;
    let receipt = match done.leaf_hash {
        Some(leaf_hash) => Some(
            super::await_receipt(
                &state,
                leaf_hash,
                done.credential.serial.to_string(),
                done.credential.identity_id.to_string(),
            )
            .await?,
        ),
        None => None,
    };
    let serial = done.credential.serial.to_string();
    let mut body = status_body(&serial, Status::Known(Box::new(done.credential)));
    body.receipt = receipt;
    Ok(web::Json(body))
}

/// Revocation status of a credential (good, revoked with time and reason, or unknown).
#[utoipa::path(tag = "credentials",
    params(("serial" = String, Path, description = "serial, lowercase hex")),
    responses(
        (status = 200, description = "status", body = StatusBody),
        (status = 400, description = "malformed serial", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/credentials/{serial}/status")]
pub async fn credential_status(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<StatusBody>, ApiError> {
    let serial = path.into_inner();
    let s = serial.clone();
    let status = web::block(move || state.issuer.status(&s)).await??;
    Ok(web::Json(status_body(&serial, status)))
}

/// The CRL of an issuing CA (active or retired), DER, signed in the HSM.
#[utoipa::path(tag = "credentials",
    params(("issuer_key_id" = String, Path, description = "the CA's subject key identifier, hex (as in /v1/trust)")),
    responses(
        (status = 200, description = "RFC 5280 CRL", content_type = "application/pkix-crl"),
        (status = 404, description = "no issuing CA with that key id", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/crl/{issuer_key_id}")]
pub async fn crl(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key_id = path.into_inner();
    let der = web::block(move || state.issuer.crl(&key_id, SystemTime::now())).await??;
    Ok(HttpResponse::Ok()
        .content_type("application/pkix-crl")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(der))
}

fn ocsp_response(der: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/ocsp-response")
        .body(der)
}

/// RFC 6960 OCSP over POST (`application/ocsp-request`). Always 200 with an
/// OCSP response; a malformed request gets `malformedRequest`.
#[utoipa::path(tag = "credentials",
    request_body(content = Vec<u8>, content_type = "application/ocsp-request"),
    responses((status = 200, description = "OCSP response (good / revoked / unknown, or an error status)", content_type = "application/ocsp-response")))]
#[post("/ocsp")]
pub async fn ocsp_post(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let der = web::block(move || state.issuer.ocsp(&body, SystemTime::now())).await?;
    Ok(ocsp_response(der))
}

/// RFC 6960 OCSP over GET: the DER request, base64, URL-encoded, in the path.
#[utoipa::path(tag = "credentials",
    params(("request" = String, Path, description = "base64 of the DER OCSP request (URL-encoded)")),
    responses((status = 200, description = "OCSP response", content_type = "application/ocsp-response")))]
#[get("/ocsp/{request:.*}")]
pub async fn ocsp_get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    use base64::Engine as _;
    let text = path
        .into_inner()
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=");
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim().trim_end_matches('='))
        })
        .unwrap_or_default();
    let der = web::block(move || state.issuer.ocsp(&der, SystemTime::now())).await?;
    Ok(ocsp_response(der))
}
