//! `GET /openapi.json`: the OpenAPI 3 description, collected from the
//! `#[utoipa::path]` annotations of the handlers as they are registered (see
//! [`super::configure`]), so it lists exactly the routes that are served.

use actix_web::{HttpResponse, get, web};
use utoipa::OpenApi;

/// The parts of the document that are not per route.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "OneVisit Wallet", description = "HSM-backed identity and licence wallet: issuance, verification, transparency ledger."),
    components(schemas(super::error::Problem)),
    modifiers(&BearerAuth),
    tags((name = "operations", description = "health, readiness, metrics, API description"),
         (name = "trust", description = "trust anchors for verifiers"),
         (name = "identities", description = "enrollment, licences and reissue by officers"),
         (name = "ledger", description = "the transparency log: checkpoints, proofs, entries"),
         (name = "credentials", description = "revocation, status and CRLs"),
         (name = "verification", description = "challenges, presentations, one-visit service checks"),
         (name = "admin", description = "keys and rotation (ops); root rotations need a second ops user")),
)]
struct ApiDoc;

/// Declares the staff bearer token scheme the staff endpoints name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("staff token from `walletctl staff add`"))
                    .build(),
            ),
        );
    }
}

/// The base document that route registration fills in.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The finished document, shared with the handler.
pub struct Document(pub utoipa::openapi::OpenApi);

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("paths", &self.0.paths.paths.len())
            .finish()
    }
}

/// This document.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn openapi_json(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok().json(&doc.0)
}
