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
    crate::telemetry::note_error(parts.code);
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
pub fn paged(
    origin: &PublicOrigin,
    request: &Request,
    query: &Query,
    items: Vec<Value>,
    total: Total,
    page: Page,
) -> Response {
    let mut response = json(200, &Value::Array(items));
    let base = format!("{}{}", origin.of(request), request.uri().path());
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

/// The origin clients call, for `Link` headers and discovery. Never what a client may say
/// about itself where a deployment knows better: the configured `PUBLIC_BASE_URL` first; else
/// the domain API Gateway received the request on (set by the gateway, https); else, in local
/// development with no gateway in front, the `Host` header, with `X-Forwarded-Proto` honoured
/// only when it says `http` or `https`.
#[derive(Clone, Debug, Default)]
pub struct PublicOrigin {
    configured: Option<String>,
}

impl PublicOrigin {
    pub fn new(configured: Option<&str>) -> Self {
        Self { configured: configured.map(str::to_string) }
    }

    /// `scheme://host[:port]`, or `""` (relative links) when nothing trustworthy names one.
    pub fn of(&self, request: &Request) -> String {
        use lambda_http::{RequestExt, request::RequestContext};
        if let Some(configured) = &self.configured {
            return configured.clone();
        }
        if let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref()
            && let Some(domain) = context.domain_name.as_deref().filter(|d| is_host(d))
        {
            return format!("https://{domain}");
        }
        let Some(host) =
            request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| is_host(h))
        else {
            return String::new();
        };
        let loopback =
            host.starts_with("127.0.0.1") || host.starts_with("localhost") || host.starts_with("[::1]");
        let forwarded = request.headers().get("x-forwarded-proto").and_then(|h| h.to_str().ok());
        let proto = match forwarded {
            Some(proto @ ("http" | "https")) => proto,
            _ if loopback => "http",
            _ => "https",
        };
        format!("{proto}://{host}")
    }
}

/// A host name or address with an optional port: nothing that could end a URL or a header's
/// `<…>` early.
fn is_host(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}
