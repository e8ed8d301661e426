//! `GET /openapi.json`: the OpenAPI 3 description, generated from the
//! handlers' annotations so it cannot drift from the code. A test checks that
//! every registered route appears in it.

use actix_web::HttpResponse;
use utoipa::OpenApi;

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "OneVisit Wallet", description = "HSM-backed identity and licence wallet: issuance, verification, transparency ledger."),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        openapi_json,
        super::trust::trust,
    ),
    components(schemas(super::error::Problem)),
    tags((name = "operations", description = "health, readiness, metrics, API description"),
         (name = "trust", description = "trust anchors for verifiers")),
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
