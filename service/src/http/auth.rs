//! Staff authentication as an actix extractor: `Authorization: Bearer
//! <token>` is hashed and looked up (on the blocking pool, unless the
//! account was found enabled within the last second); a missing, unknown or
//! disabled token is 401, a wrong role 403. Handlers state the
//! role they need with [`Staff::require`].

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use schema::staff::{Staff as StaffRow, StaffRole};

use super::AppState;
use super::error::ApiError;

/// An authenticated, enabled staff member.
#[derive(Debug, Clone)]
pub struct Staff(pub StaffRow);

impl Staff {
    /// The account if it has `role`, else 403.
    pub fn require(&self, role: StaffRole) -> Result<&StaffRow, ApiError> {
        if self.0.role == role {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role",
                role.as_str()
            )))
        }
    }
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer token".into()))?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 256 {
        return Err(ApiError::Unauthorized(
            "expected Authorization: Bearer <token>".into(),
        ));
    }
    Ok(token.to_owned())
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token?;
            let state = state.ok_or_else(|| ApiError::Internal("no application state".into()))?;
            if let Some(known) = state.staff.remembered(&token, Instant::now()) {
                return Ok(Staff(known));
            }
            let found =
                web::block(move || state.staff.authenticate(&token, Instant::now())).await??;
            found
                .map(Staff)
                .ok_or_else(|| ApiError::Unauthorized("unknown or disabled token".into()))
        })
    }
}
