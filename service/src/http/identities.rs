//! `/v1/identities`: enrollment, licences, reissue and the identity view, for
//! officers. Handlers extract (staff first, so an anonymous caller gets 401
//! before the body is read), run the domain call on the blocking pool, and
//! shape the response.

use std::collections::BTreeMap;
use std::time::SystemTime;

use actix_web::{HttpResponse, get, post, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::AppState;
use super::auth::Staff;
use super::error::{ApiError, Problem};
use crate::domain::issuance::{EnrollRequest, IdentityView, Issued, LicenceOrder};
use crate::domain::ledger::Receipt;
use crate::domain::national_id::NationalId;
use crate::domain::rfc3339;

/// Text that is wiped from memory when dropped and never printed.
pub struct SecretText(Zeroizing<String>);

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| SecretText(Zeroizing::new(s)))
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Enrollment request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollBody {
    /// National ID number as written on the document; spaces, dashes, case
    /// and full-width forms do not matter. Never stored or logged.
    #[schema(value_type = String, example = "AB 123 4567 X")]
    pub national_id: SecretText,
    /// Full name (certificate CN), at most 64 characters.
    pub full_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Postal address (kept in the record, not in the certificate).
    pub address: String,
    /// PKCS#10 CSR of the holder's P-256 key, PEM or base64 DER, at most 16 KiB.
    pub csr: String,
}

impl std::fmt::Debug for EnrollBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personal data stays out of Debug output (and so out of logs).
        f.debug_struct("EnrollBody")
            .field("csr_len", &self.csr.len())
            .finish_non_exhaustive()
    }
}

/// Licence request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenceBody {
    /// Licence type id from the catalog, e.g. `business`.
    pub license_type: String,
    /// Exactly the type's required attributes.
    pub attributes: BTreeMap<String, String>,
    /// Validity in days (default: the type's).
    pub valid_days: Option<u32>,
}

/// Reissue request: the holder's new device key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReissueBody {
    /// PKCS#10 CSR of the new P-256 key, PEM or base64 DER.
    pub csr: String,
}

/// A newly issued credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedBody {
    /// The holder's identity id (UUID).
    pub identity_id: String,
    /// Certificate serial number, lowercase hex.
    pub serial: String,
    /// Licence number (licences only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_number: Option<String>,
    /// The certificate, base64 DER.
    pub certificate: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// Issuing CA certificate then root certificate, base64 DER.
    pub chain: Vec<String>,
    /// Proof that the issuance entry is on the ledger.
    pub receipt: Receipt,
}

/// One credential of an identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialBody {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// `identity` or `license`.
    pub kind: String,
    /// Licence type (licences only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_type: Option<String>,
    /// Licence number (licences only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_number: Option<String>,
    /// `good` or `revoked`.
    pub status: String,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
    /// RFC 3339, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// RFC 5280 reason name, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<String>,
    /// Issuing CA key id (hex SKI).
    pub issuer_key_id: String,
    /// The certificate, base64 DER.
    pub certificate: String,
}

/// An identity with its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityBody {
    /// Identity id (UUID).
    pub identity_id: String,
    /// Full name.
    pub full_name: String,
    /// Date of birth.
    pub birth_date: String,
    /// Postal address.
    pub address: String,
    /// `active` or `revoked`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// Credentials, oldest first.
    pub credentials: Vec<CredentialBody>,
}

/// Waits for the issuance entry to be integrated and builds the response;
/// on timeout the credential stays issued and recorded, and the client gets
/// 503 `ledger-pending` with the leaf hash to fetch the proof later.
/// The response to an issuance, with its receipt; runs on the blocking
/// pool (it waits for the ledger).
fn issued_body(state: &AppState, i: Issued) -> Result<IssuedBody, ApiError> {
    let receipt = super::receipt_for(state, i.leaf_hash, i.serial.clone(), i.identity_id.clone())?;
    let cert = certs::from_der(&i.certificate).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(IssuedBody {
        identity_id: i.identity_id,
        serial: i.serial,
        license_number: i.license_number,
        certificate: B64.encode(&i.certificate),
        certificate_pem: certs::to_pem(&cert).map_err(|e| ApiError::Internal(e.to_string()))?,
        chain: i.chain.iter().map(|c| B64.encode(c)).collect(),
        receipt,
    })
}

fn created(body: IssuedBody) -> HttpResponse {
    HttpResponse::Created()
        .insert_header(("Location", format!("/v1/identities/{}", body.identity_id)))
        .json(body)
}

/// Enrolls a person and issues their identity certificate.
#[utoipa::path(tag = "identities", request_body = EnrollBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "enrolled", body = IssuedBody),
        (status = 400, description = "malformed body or CSR (`malformed-csr`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an officer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the person already has an active identity (`identity-exists`, with `identity_id`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid field, `unsupported-key` or `csr-signature-invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "HSM or database unavailable (`unavailable`), or the ledger entry is queued but not yet integrated (`ledger-pending`, with `leaf_hash`)", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/identities")]
pub async fn enroll(
    staff: Staff,
    state: web::Data<AppState>,
    body: web::Json<EnrollBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let issued = web::block(move || -> Result<IssuedBody, ApiError> {
        let req = EnrollRequest {
            national_id: NationalId::normalise(&body.national_id.0)?,
            full_name: body.full_name,
            birth_date: body.birth_date,
            address: body.address,
            csr: body.csr,
        };
        let issued = state.issuer.enroll(&staff.0, &req, SystemTime::now())?;
        issued_body(&state, issued)
    })
    .await??;
    Ok(created(issued))
}

/// Issues a licence to an enrolled person (officer of the type's department).
#[utoipa::path(tag = "identities", request_body = LicenceBody,
    security(("bearer" = [])),
    params(("id" = String, Path, description = "identity id")),
    responses(
        (status = 201, description = "issued", body = IssuedBody),
        (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an officer of the type's department", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "unknown identity (`identity-not-found`) or type (`unknown-license-type`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "identity not active", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`missing-attributes`, `unknown-attributes`, `invalid-validity`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "HSM or database unavailable (`unavailable`), or the ledger entry is queued but not yet integrated (`ledger-pending`, with `leaf_hash`)", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/identities/{id}/licenses")]
pub async fn issue_licence(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<LicenceBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body = body.into_inner();
    let order = LicenceOrder {
        license_type: body.license_type,
        attributes: body.attributes,
        valid_days: body.valid_days,
    };
    let issued = web::block(move || -> Result<IssuedBody, ApiError> {
        let issued = state
            .issuer
            .issue_licence(&staff.0, &id, &order, SystemTime::now())?;
        issued_body(&state, issued)
    })
    .await??;
    Ok(created(issued))
}

/// Issues a new identity certificate for a new device key and revokes the
/// old one as superseded.
#[utoipa::path(tag = "identities", request_body = ReissueBody,
    security(("bearer" = [])),
    params(("id" = String, Path, description = "identity id")),
    responses(
        (status = 201, description = "reissued", body = IssuedBody),
        (status = 400, description = "malformed CSR", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an officer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "unknown identity", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "identity not active", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unsupported-key` or `csr-signature-invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "HSM or database unavailable (`unavailable`), or the ledger entry is queued but not yet integrated (`ledger-pending`, with `leaf_hash`)", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/identities/{id}/reissue")]
pub async fn reissue(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ReissueBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let csr = body.into_inner().csr;
    let issued = web::block(move || -> Result<IssuedBody, ApiError> {
        let issued = state
            .issuer
            .reissue(&staff.0, &id, &csr, SystemTime::now())?;
        issued_body(&state, issued)
    })
    .await??;
    Ok(created(issued))
}

/// The identity and its credentials (officers).
#[utoipa::path(tag = "identities",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "identity id")),
    responses(
        (status = 200, description = "the identity", body = IdentityBody),
        (status = 401, description = "no or unknown staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not an officer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "unknown identity", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/identities/{id}")]
pub async fn show(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<IdentityBody>, ApiError> {
    staff.require(schema::staff::StaffRole::Officer)?;
    let id = path.into_inner();
    let view = web::block(move || state.issuer.identity(&id)).await??;
    Ok(web::Json(identity_body(view)))
}

fn identity_body(v: IdentityView) -> IdentityBody {
    IdentityBody {
        identity_id: v.identity.id.to_string(),
        full_name: v.identity.full_name,
        birth_date: v.identity.birth_date,
        address: v.identity.address,
        status: v.identity.status.to_string(),
        created_at: rfc3339(v.identity.created_at),
        credentials: v
            .credentials
            .into_iter()
            .map(|c| CredentialBody {
                serial: c.serial.to_string(),
                kind: c.kind.to_string(),
                license_type: c.license_type,
                license_number: c.license_number,
                status: c.status.to_string(),
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
                revoked_at: c.revoked_at.map(rfc3339),
                revocation_reason: c.revocation_reason,
                issuer_key_id: c.issuer_key_id.to_string(),
                certificate: B64.encode(&c.certificate),
            })
            .collect(),
    }
}
