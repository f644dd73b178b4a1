//! HTTP plumbing shared by every function: routing, request parsing, responses and the one
//! place where [`crate::Error`] becomes Logto's `{code, message, data}`.

pub mod logging;
mod page_tokens;
pub mod request;
pub mod response;
pub mod router;

pub use page_tokens::PageTokens;
pub use request::{Query, body_bytes};
pub use response::{PublicOrigin, Response, Total, error_response, json, no_content, paged, user};
pub use router::{Params, Route, Router};

use lambda_http::{
    Request,
    http::Method,
    http::header::{AUTHORIZATION, IF_MATCH},
    service_fn,
};
use std::future::Future;

use crate::auth::{Caller, Scope, Verifier};
use crate::domain::user::IfMatch;
use crate::error::Error;

/// Authenticates, routes, then checks the route's scope: 401 before 404/405 (no route is
/// revealed to a caller without a valid token), 403 last.
pub fn authorize<E: Copy>(
    verifier: &Verifier,
    router: &Router<(E, Scope)>,
    request: &Request,
) -> Result<(E, Params, Caller), Error> {
    let header = request.headers().get(AUTHORIZATION).map(|h| h.to_str().unwrap_or_default());
    let mut caller = verifier.authenticate(header)?;
    if let Some(client) = caller.application_id.as_deref().or(caller.subject.as_deref()) {
        crate::telemetry::note_caller(client);
    }
    let ((endpoint, scope), params) = router.find(request.method(), request.uri().path())?;
    caller.require(scope)?;
    (caller.ip, caller.user_agent) = client_info(request);
    caller.if_match = request.headers().get(IF_MATCH).map(|v| IfMatch::parse(v.to_str().unwrap_or_default()));
    Ok((endpoint, params, caller))
}

/// The client's address and user agent. The address is API Gateway's view of the caller when
/// there is a gateway (its request context), else the first `X-Forwarded-For` hop. The user
/// agent is the client's own `User-Agent` header, which API Gateway also copies into its
/// context; a local gateway (`cargo lambda watch`) names itself there instead, so the header
/// comes first and the context is the fallback.
pub fn client_info(request: &Request) -> (Option<String>, Option<String>) {
    use lambda_http::{RequestExt, request::RequestContext};
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => Some(&context.http),
        _ => None,
    };
    let ip = match context {
        Some(http) => http.source_ip.clone(),
        None => header("x-forwarded-for").and_then(|v| v.split(',').next().map(|ip| ip.trim().to_string())),
    };
    let user_agent = header("user-agent").or_else(|| context.and_then(|http| http.user_agent.clone()));
    (ip, user_agent)
}

/// Cursor paging for one list request (`page_token` in, `Next-Page-Token` out). Tokens are
/// bound to the list and to its query, paging parameters aside.
pub struct Cursor<'a> {
    tokens: &'a PageTokens,
    scope: String,
}

impl<'a> Cursor<'a> {
    pub fn new(tokens: &'a PageTokens, list: &str, query: &Query) -> Self {
        Self { tokens, scope: format!("{list}?{}", query.without(&["page", "page_size", "page_token"])) }
    }

    /// The position the request's `page_token` names; 400 `guard.invalid_pagination` if the
    /// token was altered or belongs to another list or query.
    pub fn after(&self, query: &Query) -> Result<Option<String>, Error> {
        query
            .first("page_token")
            .filter(|t| !t.is_empty())
            .map(|t| self.tokens.open(&self.scope, t))
            .transpose()
    }

    /// Adds `Next-Page-Token` when more items follow `next`.
    pub fn attach(&self, response: &mut Response, next: Option<String>) {
        if let Some(next) = next
            && let Ok(value) = self.tokens.seal(&self.scope, &next).parse()
        {
            response.headers_mut().insert("next-page-token", value);
        }
    }
}

/// Runs a function: every event handed to `handle`, which answers every request itself
/// (errors included), then one access line per request on stdout ([`crate::telemetry`]):
/// JSON with the request's metrics under Lambda, text on a terminal. `service` names the
/// function; `routes` are its patterns, which the line names instead of raw paths.
pub async fn serve<F, Fut>(
    service: &'static str,
    routes: &'static [(Method, &'static str)],
    handle: F,
) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Response> + Send,
{
    serve_with(service, routes, handle, |line| println!("{line}")).await
}

/// [`serve`], writing each access line to `write` instead of stdout (tests).
pub async fn serve_with<F, Fut, W>(
    service: &'static str,
    routes: &'static [(Method, &'static str)],
    handle: F,
    write: W,
) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Response> + Send,
    W: Fn(&str) + Sync,
{
    let namespace = std::env::var("METRICS_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or(crate::telemetry::DEFAULT_NAMESPACE.into());
    let (namespace, json, handle, write) = (namespace.as_str(), logging::is_json(), &handle, &write);
    lambda_http::run(service_fn(move |request| async move {
        let (response, line) = observe(service, routes, request, handle).await;
        write(&if json { line.to_json(namespace) } else { line.to_text() });
        Ok::<_, std::convert::Infallible>(response)
    }))
    .await
}

/// Answers `request` through `handle`, and describes the exchange as an access line.
pub async fn observe<F, Fut>(
    service: &'static str,
    routes: &[(Method, &'static str)],
    request: Request,
    handle: F,
) -> (Response, crate::telemetry::AccessLine)
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    use lambda_http::{RequestExt, request::RequestContext};
    let started = std::time::Instant::now();
    let cold_start = crate::telemetry::first_request();
    let method = request.method().to_string();
    let route = router::pattern_of(routes, request.uri().path()).unwrap_or("$default");
    let served = routes.iter().any(|(m, pattern)| *m == request.method() && *pattern == route);
    let (request_id, trace_id) = match request.lambda_context_ref() {
        Some(context) => (Some(context.request_id.clone()), context.xray_trace_id.clone()),
        None => (None, None),
    };
    let api_request_id = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    let (response, record) = crate::telemetry::recorded(handle(request)).await;
    let line = crate::telemetry::AccessLine {
        timestamp_ms: crate::domain::now_ms(),
        service,
        request_id: request_id.filter(|id| !id.is_empty()),
        api_request_id,
        trace_id: trace_id.or_else(|| std::env::var("_X_AMZN_TRACE_ID").ok()).filter(|id| !id.is_empty()),
        method,
        route,
        served,
        status: response.status().as_u16(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        cold_start,
        record,
    };
    (response, line)
}

/// Logging for a function binary: see [`logging`].
pub fn init_logging() {
    logging::init();
}
