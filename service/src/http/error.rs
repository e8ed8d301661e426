//! The one mapping from failures to HTTP: every error leaves as RFC 9457
//! `application/problem+json` with a stable `type`
//! (`urn:onevisit:problem:<slug>`). Internal details (HSM return values, SQL
//! errors) go to `tracing` with the request id, never to the client; a 5xx
//! body is generic.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::DomainError;

/// Prefix of every problem `type`; the suffix is the stable slug.
pub const PROBLEM_BASE: &str = "urn:onevisit:problem:";

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: u32 = 5;

/// Errors an HTTP handler returns. `kind` fields are problem slugs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request cannot be parsed (bad JSON, bad parameter, malformed CSR).
    #[error("{detail}")]
    BadRequest {
        /// Problem slug.
        kind: &'static str,
        /// Detail for the caller.
        detail: String,
    },
    /// No credentials, or unknown or disabled ones.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed (role, department).
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist.
    #[error("{detail}")]
    NotFound {
        /// Problem slug.
        kind: &'static str,
        /// Detail for the caller.
        detail: String,
    },
    /// Conflicts with existing state.
    #[error("{detail}")]
    Conflict {
        /// Problem slug.
        kind: &'static str,
        /// Detail for the caller.
        detail: String,
        /// The identity concerned, as a problem extension member.
        identity_id: Option<String>,
    },
    /// Well-formed but breaks a rule.
    #[error("{detail}")]
    Unprocessable {
        /// Problem slug.
        kind: &'static str,
        /// Detail for the caller.
        detail: String,
    },
    /// The HSM or the database is unavailable; retry later.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The credential was issued and its ledger entry queued, but the entry
    /// was not integrated in time: fetch the proof later by leaf hash.
    #[error("ledger entry {leaf_hash} not yet integrated")]
    LedgerPending {
        /// The entry's leaf hash, hex.
        leaf_hash: String,
        /// The credential that was issued (so a client does not issue
        /// another by retrying).
        serial: Option<String>,
        /// Its holder.
        identity_id: Option<String>,
    },
    /// A failure that is ours, not the caller's; the detail is only logged.
    #[error("internal error: {0}")]
    Internal(String),
}

/// RFC 9457 problem details body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable problem type URI (`urn:onevisit:problem:<slug>`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short human-readable summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For conflicts about a person: the existing identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    /// For `ledger-pending`: the queued entry's leaf hash (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_hash: Option<String>,
    /// For `ledger-pending`: the credential that was issued. It is recorded;
    /// do not repeat the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl ApiError {
    /// A 400 with the generic `bad-request` slug.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            kind: "bad-request",
            detail: detail.into(),
        }
    }

    /// `(status, slug, title)`: the table clients rely on.
    pub fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest { kind, .. } => (StatusCode::BAD_REQUEST, kind, "Bad request"),
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            ApiError::NotFound { kind, .. } => (StatusCode::NOT_FOUND, kind, "Not found"),
            ApiError::Conflict { kind, .. } => (StatusCode::CONFLICT, kind, "Conflict"),
            ApiError::Unprocessable { kind, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                kind,
                "Request breaks a rule",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service temporarily unavailable",
            ),
            ApiError::LedgerPending { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ledger-pending",
                "Ledger entry not yet integrated",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    /// The problem body; server-side failures get no detail.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.kind();
        let detail = match self {
            ApiError::BadRequest { detail, .. }
            | ApiError::NotFound { detail, .. }
            | ApiError::Conflict { detail, .. }
            | ApiError::Unprocessable { detail, .. } => Some(detail.clone()),
            ApiError::Unauthorized(d) | ApiError::Forbidden(d) => Some(d.clone()),
            ApiError::Unavailable(_) => {
                Some("the HSM or the database is unavailable; retry later".into())
            }
            ApiError::LedgerPending { .. } => Some(
                "the credential is recorded and its ledger entry queued; fetch the inclusion proof by leaf_hash later".into(),
            ),
            ApiError::Internal(_) => None,
        };
        let identity_id = match self {
            ApiError::Conflict { identity_id, .. }
            | ApiError::LedgerPending { identity_id, .. } => identity_id.clone(),
            _ => None,
        };
        let (leaf_hash, serial) = match self {
            ApiError::LedgerPending {
                leaf_hash, serial, ..
            } => (Some(leaf_hash.clone()), serial.clone()),
            _ => (None, None),
        };
        Problem {
            problem_type: format!("{PROBLEM_BASE}{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            identity_id,
            leaf_hash,
            serial,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().0
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut resp = HttpResponse::build(status);
        resp.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        // Only an outage invites a retry; a `ledger-pending` credential is
        // already issued, and repeating the request would issue another.
        if matches!(self, ApiError::Unavailable(_)) {
            resp.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"onevisit\""),
            ));
        }
        resp.json(self.problem())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Unavailable(m) => ApiError::Unavailable(m),
            DomainError::NotFound { kind, detail } => ApiError::NotFound { kind, detail },
            DomainError::Conflict {
                kind,
                detail,
                identity_id,
            } => ApiError::Conflict {
                kind,
                detail,
                identity_id,
            },
            DomainError::Invalid { kind, detail } => ApiError::Unprocessable { kind, detail },
            DomainError::Malformed { kind, detail } => ApiError::BadRequest { kind, detail },
            DomainError::Forbidden(d) => ApiError::Forbidden(d),
            DomainError::IssuerRotated => {
                ApiError::Unavailable("the issuing key is being rotated; retry the request".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn each_variant_has_a_stable_status_and_type() {
        let table = [
            (ApiError::bad_request("x"), 400, "bad-request"),
            (
                ApiError::BadRequest {
                    kind: "malformed-csr",
                    detail: "x".into(),
                },
                400,
                "malformed-csr",
            ),
            (ApiError::Unauthorized("x".into()), 401, "unauthorized"),
            (ApiError::Forbidden("x".into()), 403, "forbidden"),
            (
                ApiError::NotFound {
                    kind: "identity-not-found",
                    detail: "x".into(),
                },
                404,
                "identity-not-found",
            ),
            (
                ApiError::Conflict {
                    kind: "identity-exists",
                    detail: "x".into(),
                    identity_id: None,
                },
                409,
                "identity-exists",
            ),
            (
                ApiError::Unprocessable {
                    kind: "unsupported-key",
                    detail: "x".into(),
                },
                422,
                "unsupported-key",
            ),
            (ApiError::Unavailable("x".into()), 503, "unavailable"),
            (ApiError::Internal("x".into()), 500, "internal"),
        ];
        for (e, status, slug) in table {
            let p = e.problem();
            assert_eq!(p.status, status);
            assert_eq!(p.problem_type, format!("{PROBLEM_BASE}{slug}"));
            assert_eq!(e.error_response().status().as_u16(), status);
        }
    }

    #[test]
    fn domain_errors_map_to_their_status() {
        let cases: [(DomainError, u16); 6] = [
            (DomainError::invalid("unsupported-key", "x"), 422),
            (
                DomainError::Malformed {
                    kind: "malformed-csr",
                    detail: "x".into(),
                },
                400,
            ),
            (DomainError::not_found("identity-not-found", "x"), 404),
            (DomainError::conflict("identity-exists", "x"), 409),
            (DomainError::Forbidden("x".into()), 403),
            (DomainError::Unavailable("x".into()), 503),
        ];
        for (d, status) in cases {
            assert_eq!(ApiError::from(d).status_code().as_u16(), status);
        }
        let internal = ApiError::from(DomainError::Inconsistent("secret detail".into()));
        assert_eq!(internal.status_code().as_u16(), 500);
        assert!(internal.problem().detail.is_none());
    }

    #[test]
    fn internal_details_stay_out_of_the_body() {
        let e = ApiError::Internal("CKR_DEVICE_ERROR in C_Sign at /secret/path".into());
        let body = serde_json::to_string(&e.problem()).unwrap();
        assert!(
            !body.contains("CKR_") && !body.contains("/secret/path"),
            "{body}"
        );
        let e = ApiError::Unavailable("db connection refused at 10.0.0.1".into());
        let body = serde_json::to_string(&e.problem()).unwrap();
        assert!(!body.contains("10.0.0.1"), "{body}");
        let resp = e.error_response();
        assert_eq!(resp.headers().get("retry-after").unwrap(), "5");
        assert_eq!(
            resp.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
        let resp = ApiError::Unauthorized("x".into()).error_response();
        assert!(resp.headers().get("www-authenticate").is_some());
    }
}
