//! The HTTP API: application state, routes, middleware (request ids,
//! metrics), problem+json for every error including unknown routes and bad
//! bodies, the OpenAPI document, and the server with graceful shutdown.
//! Handlers are thin: extract, call a domain function on the blocking pool,
//! map the result.

pub mod admin;
pub mod auth;
pub mod credentials;
pub mod error;
pub mod health;
pub mod identities;
pub mod ledger;
pub mod metrics;
pub mod openapi;
pub mod presentations;
pub mod trust;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpRequest, HttpServer, web};
use tracing::Instrument as _;
use utoipa_actix_web::AppExt as _;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::config::Config;
use error::ApiError;
use metrics::Metrics;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Checked configuration.
    pub config: Arc<Config>,
    /// Database pool.
    pub db: schema::Database,
    /// Token connection.
    pub hsm: Arc<pkcs11_bridge::Hsm>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Credential issuance.
    pub issuer: Arc<crate::domain::issuance::Issuer>,
    /// The transparency ledger.
    pub ledger: Arc<crate::domain::ledger::Ledger>,
    /// Bearer-token lookups.
    pub staff: Arc<crate::domain::staff::Authenticator>,
}

/// Registers every route. Routes go through `utoipa_actix_web`, which only
/// accepts handlers carrying a `#[utoipa::path]` description, so the OpenAPI
/// document is collected from exactly the routes that are served.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(64 * 1024)
            .error_handler(|err, _req| ApiError::bad_request(json_error_detail(&err)).into()),
    )
    .app_data(
        web::QueryConfig::default().error_handler(|err, _req| {
            ApiError::bad_request(format!("invalid query: {err}")).into()
        }),
    )
    .app_data(
        web::PathConfig::default().error_handler(|err, _req| {
            ApiError::bad_request(format!("invalid path: {err}")).into()
        }),
    )
    // Routes are tried in order, and a route with a `{parameter}` is matched
    // with a regular expression: the fixed paths, the hot ones first, go
    // before every parameterised one, so a challenge or a verification is
    // not tried against seven patterns first (2 % of walletd's CPU in a
    // verification run's profile). No two routes share a path, so the
    // order changes nothing else.
    .service(presentations::challenge)
    .service(presentations::verify)
    .service(identities::enroll)
    .service(credentials::ocsp_post)
    .service(ledger::inclusion)
    .service(health::healthz)
    .service(health::readyz)
    .service(metrics::metrics_text)
    .service(openapi::openapi_json)
    .service(trust::trust_document)
    .service(ledger::checkpoint)
    .service(ledger::sth)
    .service(ledger::consistency)
    .service(ledger::entries)
    .service(admin::list_keys)
    .service(admin::rotate)
    .service(identities::issue_licence)
    .service(presentations::check)
    .service(identities::show)
    .service(identities::reissue)
    .service(credentials::revoke)
    .service(credentials::credential_status)
    .service(credentials::crl)
    .service(credentials::ocsp_get)
    .service(admin::show_request)
    .service(admin::approve);
}

/// Waits (on the blocking pool, at most `WALLET_RECEIPT_TIMEOUT_MS`) for the
/// ledger entry `leaf_hash` to be integrated and returns its receipt. On
/// timeout the record stands: the answer is 503 `ledger-pending` naming the
/// leaf hash and what was recorded (`serial`, `identity_id`), so the client
/// fetches the proof later instead of repeating the request.
pub(crate) async fn await_receipt(
    state: &web::Data<AppState>,
    leaf_hash: ::ledger::Hash,
    serial: String,
    identity_id: String,
) -> Result<crate::domain::ledger::Receipt, ApiError> {
    let state = state.clone();
    web::block(move || receipt_for(&state, leaf_hash, serial, identity_id)).await?
}

/// [`await_receipt`] for a caller already on the blocking pool: an
/// issuance waits for its receipt in the same blocking task that issued,
/// instead of handing over to another thread.
pub(crate) fn receipt_for(
    state: &AppState,
    leaf_hash: ::ledger::Hash,
    serial: String,
    identity_id: String,
) -> Result<crate::domain::ledger::Receipt, ApiError> {
    let timeout = std::time::Duration::from_millis(state.config.receipt_timeout_ms);
    state
        .ledger
        .receipt(&leaf_hash, timeout)?
        .ok_or_else(|| ApiError::LedgerPending {
            leaf_hash: hex::encode(leaf_hash),
            serial: Some(serial),
            identity_id: Some(identity_id),
        })
}

/// A JSON error for the caller without the caller's values: serde quotes a
/// wrongly typed value ("invalid type: integer `1234567890`"), and that value
/// may be a national ID number. Syntax errors and missing or unknown field
/// names are safe to repeat.
fn json_error_detail(err: &actix_web::error::JsonPayloadError) -> String {
    use actix_web::error::JsonPayloadError;
    match err {
        JsonPayloadError::Deserialize(e) => {
            let msg = e.to_string();
            if e.is_syntax()
                || e.is_eof()
                || msg.starts_with("missing field")
                || msg.starts_with("unknown field")
            {
                format!("invalid JSON body: {msg}")
            } else {
                format!(
                    "invalid JSON body: a field has the wrong type or value (line {}, column {})",
                    e.line(),
                    e.column()
                )
            }
        }
        JsonPayloadError::ContentType => "expected Content-Type: application/json".into(),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            format!("the body is larger than {limit} bytes")
        }
        _ => "invalid JSON body".into(),
    }
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        kind: "not-found",
        detail: format!("no route for {} {}", req.method(), req.path()),
    })
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Middleware: gives every request an id (the caller's `X-Request-Id` when it
/// is short and printable, else a fresh one), a tracing span carrying it, and
/// echoes it in the response, so a client can quote it and ops can find the
/// log lines.
async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(crate::random::request_id);
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.path());
    let mut res = next.call(req).instrument(span.clone()).await?;
    span.in_scope(|| tracing::debug!(status = res.status().as_u16(), "response"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

/// Builds the application with all middleware; used by [`serve`] and tests.
pub fn app(
    state: AppState,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::base())
        .configure(configure)
        .split_for_parts();
    app.app_data(web::Data::new(state))
        .app_data(web::Data::new(openapi::Document(api)))
        .wrap(from_fn(metrics::track))
        .wrap(from_fn(request_id))
        .default_service(web::to(not_found))
}

/// Binds the listener (HTTPS when TLS is configured) and returns the running
/// server. Graceful shutdown on SIGTERM/SIGINT is actix's: stop accepting,
/// finish in-flight requests for up to 30 s.
pub fn serve(state: AppState, tls: Option<rustls::ServerConfig>) -> std::io::Result<Server> {
    let listen = state.config.listen;
    let server = HttpServer::new(move || app(state.clone())).shutdown_timeout(30);
    let server = match tls {
        Some(tls) => server.bind_rustls_0_23(listen, tls)?,
        None => server.bind(listen)?,
    };
    Ok(server.run())
}
