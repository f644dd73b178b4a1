//! The `docs` function: the OpenAPI 3 document of every route, at `GET /api/swagger.json`
//! (public, as in Logto). The document lives in `docs/openapi.json`; `tests/openapi.rs` fails
//! when it and the functions' routers disagree.

use lambda_http::{Body, Request, http::Method, http::header};
use std::sync::LazyLock;

use shared::api::{Response, Router, error_response};

/// The document, compiled into the binary: nothing to read at cold start.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

static ROUTER: LazyLock<Router<()>> =
    LazyLock::new(|| Router::new(&[(Method::GET, "/api/swagger.json", ())]));

/// Every `(method, path pattern)` this function serves.
pub fn routes() -> &'static [(Method, &'static str)] {
    ROUTER.routes()
}

pub async fn handle(request: Request) -> Response {
    match ROUTER.find(request.method(), request.uri().path()) {
        Ok(((), _)) => lambda_http::Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(header::CACHE_CONTROL, "public, max-age=300")
            .body(Body::Text(OPENAPI.to_string()))
            .expect("static response"),
        Err(err) => error_response(&err),
    }
}
