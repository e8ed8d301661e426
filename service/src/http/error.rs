//! The one mapping from failures to HTTP: every error leaves as RFC 9457
//! `application/problem+json` with a stable `type`. Internal details (HSM
//! return values, SQL errors) go to `tracing` with the request id, never to
//! the client; a 5xx body is generic.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Prefix of every problem `type`; the suffix is the stable slug.
pub const PROBLEM_BASE: &str = "urn:onevisit:problem:";

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: u32 = 5;

/// Errors an HTTP handler returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed (bad JSON, bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// The resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The HSM or the database is unavailable; retry later.
    #[error("service unavailable: {0}")]
    Unavailable(String),
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
}

impl ApiError {
    /// `(status, slug, title)` of each variant: the table clients rely on.
    pub fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service temporarily unavailable",
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
            ApiError::BadRequest(d) | ApiError::NotFound(d) => Some(d.clone()),
            ApiError::Unavailable(_) => {
                Some("the HSM or the database is unavailable; retry later".into())
            }
            ApiError::Internal(_) => None,
        };
        Problem {
            problem_type: format!("{PROBLEM_BASE}{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
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
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        resp.json(self.problem())
    }
}

impl From<crate::domain::DomainError> for ApiError {
    fn from(e: crate::domain::DomainError) -> Self {
        use crate::domain::DomainError as D;
        match e {
            D::Unavailable(m) => ApiError::Unavailable(m),
            D::NotFound(m) => ApiError::NotFound(m),
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
            (
                ApiError::BadRequest("x".into()),
                400,
                "urn:onevisit:problem:bad-request",
            ),
            (
                ApiError::NotFound("x".into()),
                404,
                "urn:onevisit:problem:not-found",
            ),
            (
                ApiError::Unavailable("x".into()),
                503,
                "urn:onevisit:problem:unavailable",
            ),
            (
                ApiError::Internal("x".into()),
                500,
                "urn:onevisit:problem:internal",
            ),
        ];
        for (e, status, ty) in table {
            let p = e.problem();
            assert_eq!(p.status, status);
            assert_eq!(p.problem_type, ty);
            assert_eq!(e.error_response().status().as_u16(), status);
        }
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
    }
}
