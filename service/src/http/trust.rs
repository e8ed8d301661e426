//! `GET /v1/trust`: the trust document (roots, issuing CAs, ledger keys).

use actix_web::{get, web};

use super::AppState;
use super::error::ApiError;
use crate::domain::trust::{TrustDocument, document};

/// Roots and issuing CA certificates with key ids, states and validity; ledger
/// public keys and origin.
#[utoipa::path(tag = "trust",
    responses((status = 200, description = "trust document", body = TrustDocument),
              (status = 503, description = "database unavailable", body = super::error::Problem,
               content_type = "application/problem+json")))]
#[get("/v1/trust")]
pub async fn trust_document(
    state: web::Data<AppState>,
) -> Result<web::Json<TrustDocument>, ApiError> {
    let st = state.clone();
    let doc = web::block(move || document(&st.db, &st.config.ledger_origin)).await??;
    Ok(web::Json(doc))
}
