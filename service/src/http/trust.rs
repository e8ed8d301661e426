//! `GET /v1/trust`: the trust document (roots, issuing CAs, ledger keys).

use actix_web::web;

use super::AppState;
use super::error::ApiError;
use crate::domain::trust::{self, TrustDocument};

/// Roots and issuing CA certificates with key ids, states and validity; ledger
/// public keys and origin.
#[utoipa::path(get, path = "/v1/trust", tag = "trust",
    responses((status = 200, description = "trust document", body = TrustDocument),
              (status = 503, description = "database unavailable", body = super::error::Problem,
               content_type = "application/problem+json")))]
pub async fn trust(state: web::Data<AppState>) -> Result<web::Json<TrustDocument>, ApiError> {
    let st = state.clone();
    let doc = web::block(move || trust::document(&st.db, &st.config.ledger_origin)).await??;
    Ok(web::Json(doc))
}
