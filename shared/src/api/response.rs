//! Building responses, and the single mapping from [`Error`] to Logto's error body.

use lambda_http::{Body, Request, http::HeaderValue, http::header};
use serde_json::{Value, json};

use super::Query;
use crate::domain::Page;
use crate::error::Error;

pub type Response = lambda_http::Response<Body>;

const JSON: &str = "application/json; charset=utf-8";

pub fn json(status: u16, body: &Value) -> Response {
    lambda_http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, JSON)
        .body(Body::Text(body.to_string()))
        .expect("status and header are valid")
}

/// A user's JSON as the body, with the user's `ETag` (the version every change bumps).
pub fn user(status: u16, user: &crate::domain::User, body: &Value) -> Response {
    let mut response = json(status, body);
    if let Ok(etag) = HeaderValue::from_str(&user.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

pub fn no_content() -> Response {
    lambda_http::Response::builder().status(204).body(Body::Empty).expect("valid")
}

/// `{code, message, data?, details?}` with the error's status, plus `Allow` on 405 and
/// `Retry-After` on 503. Server faults are logged here, once.
pub fn error_response(err: &Error) -> Response {
    let parts = err.parts();
    if parts.status >= 500 {
        tracing::error!(error = %err, code = parts.code, "request failed");
    }
    if let Error::OAuth { .. } = err {
        let mut response =
            json(parts.status, &json!({ "error": parts.code, "error_description": parts.message }));
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = parts.challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        return response;
    }
    let mut body = json!({ "code": parts.code, "message": parts.message });
    if let Some(data) = parts.data {
        body["data"] = data;
    }
    if let Some(details) = parts.details {
        body["details"] = Value::String(details);
    }
    let mut response = json(parts.status, &body);
    let headers = response.headers_mut();
    if let Error::MethodNotAllowed { allow } = err {
        headers.insert(header::ALLOW, HeaderValue::from_str(&allow.join(", ")).expect("method names"));
    }
    if let Some(challenge) = parts.challenge {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    if let Some(retry) = parts.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(retry.as_secs().max(1)));
    }
    response
}

/// How many items a list has: exact, or saturated at a cap (`enableCap` on logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Total {
    pub count: u64,
    pub capped: bool,
}

impl Total {
    pub fn exact(count: u64) -> Self {
        Self { count, capped: false }
    }
}

/// A list page: the items, `Total-Number`, and `Link` with the relations `first`, `prev`,
/// `next`, `last`, each the full request path with `page` replaced.
pub fn paged(request: &Request, query: &Query, items: Vec<Value>, total: Total, page: Page) -> Response {
    let mut response = json(200, &Value::Array(items));
    let base = format!("{}{}", request_origin(request), request.uri().path());
    let last = page.last(total.count);
    let mut links = vec![("first", 1)];
    if page.number > 1 {
        links.push(("prev", page.number - 1));
    }
    // A capped count has no known last page, so neither `next` nor `last` (Logto's logs).
    if !total.capped && page.number < last {
        links.push(("next", page.number + 1));
    }
    if !total.capped {
        links.push(("last", last));
    }
    let links: Vec<String> = links
        .into_iter()
        .map(|(rel, number)| format!("<{base}?{}>; rel=\"{rel}\"", query.with_page(number)))
        .collect();
    let headers = response.headers_mut();
    headers.insert("total-number", HeaderValue::from(total.count));
    if total.capped {
        headers.insert("total-number-is-capped", HeaderValue::from_static("true"));
    }
    // One header, comma-separated (RFC 8288): proxies that keep one value per header name,
    // as API Gateway's payload 2.0 does, cannot drop relations.
    if let Ok(value) = HeaderValue::from_str(&links.join(", ")) {
        headers.insert(header::LINK, value);
    }
    response
}

/// The origin the client called (`https://host`; `http` for loopback hosts unless a proxy
/// says otherwise), or `""` when the request has no Host header.
pub fn request_origin(request: &Request) -> String {
    let Some(host) = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return String::new();
    };
    let proto = request.headers().get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or(
        if host.starts_with("127.0.0.1") || host.starts_with("localhost") { "http" } else { "https" },
    );
    format!("{proto}://{host}")
}
