//! The counter's endpoints: `POST /v1/challenges` (counters),
//! `POST /v1/presentations/verify` (anyone) and
//! `POST /v1/services/{id}/check` (counters). A well-formed presentation that
//! fails a check is 200 with `verdict: "invalid"` and the reasons; only a
//! body that cannot be read is 400/422.

use std::time::SystemTime;

use actix_web::{HttpResponse, post, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Staff;
use super::error::{ApiError, Problem};
use crate::domain::verification::{
    Challenge, Presentation, Requirement, VerifyResult, requirements,
};

/// Most credentials in one presentation.
const MAX_CREDENTIALS: usize = 8;

/// Challenge request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    /// The counter the proof will be for.
    pub audience: String,
}

/// The holder's proof.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofBody {
    /// Must equal the challenge's audience.
    pub audience: String,
    /// From `POST /v1/challenges`.
    pub nonce: String,
    /// RFC 3339 UTC, exactly as signed.
    pub issued_at: String,
    /// Base64 DER ECDSA P-256/SHA-256 signature over the DESIGN.md input.
    pub signature: String,
}

/// A presentation (DESIGN.md). A credential bundle's `chain` and `receipts`
/// are accepted and ignored: the service checks against its own trust store
/// and ledger.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresentationBody {
    /// Must be 1.
    pub version: u32,
    /// Base64 DER certificates: identity and/or licences, same holder key.
    pub credentials: Vec<String>,
    /// The holder's signature.
    pub proof: ProofBody,
    /// Bundle: chain certificates (ignored).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub chain: Option<serde_json::Value>,
    /// Bundle: ledger receipts (ignored).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub receipts: Option<serde_json::Value>,
}

/// A one-visit service check.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceCheckBody {
    /// The verification.
    #[serde(flatten)]
    pub result: VerifyResult,
    /// Each requirement of the service.
    pub requirements: Vec<Requirement>,
    /// All requirements met by a valid presentation.
    pub complete: bool,
}

fn decode(body: PresentationBody) -> Result<Presentation, ApiError> {
    if body.version != 1 {
        return Err(ApiError::Unprocessable {
            kind: "unsupported-version",
            detail: "version must be 1".into(),
        });
    }
    if body.credentials.is_empty() || body.credentials.len() > MAX_CREDENTIALS {
        return Err(ApiError::Unprocessable {
            kind: "invalid-presentation",
            detail: format!("a presentation carries 1 to {MAX_CREDENTIALS} credentials"),
        });
    }
    let bad = |what: &str| ApiError::BadRequest {
        kind: "invalid-presentation",
        detail: format!("{what} is not base64"),
    };
    let credentials = body
        .credentials
        .iter()
        .map(|c| B64.decode(c.trim()).map_err(|_| bad("a credential")))
        .collect::<Result<Vec<_>, _>>()?;
    let signature = B64
        .decode(body.proof.signature.trim())
        .map_err(|_| bad("proof.signature"))?;
    Ok(Presentation {
        credentials,
        audience: body.proof.audience,
        nonce: body.proof.nonce,
        issued_at: body.proof.issued_at,
        signature,
    })
}

/// A single-use nonce for one counter's audience, valid for 5 minutes.
#[utoipa::path(tag = "verification", request_body = ChallengeBody, security(("bearer" = [])),
    responses((status = 201, description = "challenge", body = Challenge),
              (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "not a counter", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "`invalid-audience`", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/challenges")]
pub async fn challenge(
    staff: Staff,
    state: web::Data<AppState>,
    body: web::Json<ChallengeBody>,
) -> Result<HttpResponse, ApiError> {
    let audience = body.into_inner().audience;
    let now = SystemTime::now();
    // Nothing to write and, but once an hour, nothing to ask the HSM: no
    // trip through the blocking pool.
    let c = match state
        .issuer
        .challenge_from_memory(&staff.0, &audience, now)?
    {
        Some(c) => c,
        None => web::block(move || state.issuer.challenge(&staff.0, &audience, now)).await??,
    };
    Ok(HttpResponse::Created().json(c))
}

/// Verifies a presentation: every check reported.
#[utoipa::path(tag = "verification", request_body = PresentationBody,
    responses((status = 200, description = "verdict `valid` or `invalid`, with each check", body = VerifyResult),
              (status = 400, description = "unreadable body", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "`unsupported-version`, `invalid-presentation`", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/presentations/verify")]
pub async fn verify(
    state: web::Data<AppState>,
    body: web::Json<PresentationBody>,
) -> Result<web::Json<VerifyResult>, ApiError> {
    let p = decode(body.into_inner())?;
    let result = web::block(move || state.issuer.verify(&p, None, SystemTime::now())).await??;
    Ok(web::Json(result))
}

/// Verifies a presentation against a one-visit service's requirements.
#[utoipa::path(tag = "verification", request_body = PresentationBody, security(("bearer" = [])),
    params(("service_id" = String, Path, description = "one-visit service id, e.g. hotel-opening")),
    responses((status = 200, description = "verdict, requirements, complete", body = ServiceCheckBody),
              (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "not a counter", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "`unknown-service`", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/services/{service_id}/check")]
pub async fn check(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<PresentationBody>,
) -> Result<web::Json<ServiceCheckBody>, ApiError> {
    staff.require(schema::staff::StaffRole::Counter)?;
    let service_id = path.into_inner();
    // An unknown service is refused before the nonce is spent.
    if state.issuer.catalog().service(&service_id).is_none() {
        return Err(ApiError::NotFound {
            kind: "unknown-service",
            detail: format!("no one-visit service {service_id:?}"),
        });
    }
    let p = decode(body.into_inner())?;
    let st = state.clone();
    let counter = staff.0.id;
    let result =
        web::block(move || st.issuer.verify(&p, Some(counter), SystemTime::now())).await??;
    let requirements = requirements(state.issuer.catalog(), &service_id, &result)?;
    let complete = result.is_valid() && requirements.iter().all(|r| r.met);
    Ok(web::Json(ServiceCheckBody {
        result,
        requirements,
        complete,
    }))
}
