//! Liveness and readiness. Readiness asks the database and the HSM for real
//! (a `SELECT 1`, a pooled session checked against the token) on the blocking
//! pool, so a load balancer stops sending writes while either is away.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;

/// Readiness body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// Always `"ready"` in a 200 response.
    pub status: &'static str,
    /// `"sqlite"` or `"postgres"`.
    pub database: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "alive", content_type = "text/plain")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: the database answers and an HSM session is logged in.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "ready", body = Ready),
              (status = 503, description = "database or HSM unavailable", body = super::error::Problem,
               content_type = "application/problem+json")))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Ready>, ApiError> {
    let st = state.clone();
    web::block(move || crate::domain::readiness(&st.db, &st.hsm)).await??;
    let database = match state.db.backend() {
        schema::Backend::Sqlite => "sqlite",
        schema::Backend::Postgres => "postgres",
        _ => "other",
    };
    Ok(web::Json(Ready {
        status: "ready",
        database,
    }))
}
