//! Sending webhook deliveries (docs/webhooks.md): Logto's request shape, signed with the hook's
//! key, over an HTTP client that connects only to public addresses (outside development) and
//! never follows redirects, with one timeout for the whole exchange.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector, connect::dns::Name};
use serde_json::{Value, json};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::domain::hook::{
    DELIVERY_ID_HEADER, Endpoints, Hook, HookEvent, SIGNATURE_HEADER, USER_AGENT, check_endpoint, is_public,
};

/// How one attempt went: the endpoint's status if it answered, or why it did not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration: Duration,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The request context of the change a delivery reports (Logto's data-mutation fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeContext {
    pub path: String,
    pub method: &'static str,
    pub status: u16,
    /// The route's path parameters (`{userId}`; none for a create).
    pub params: Value,
    pub matched_route: &'static str,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Logto's body for a user data-mutation event; `created_at` is epoch milliseconds. Beyond
/// Logto's fields, `deliveryId` names the change (the same on every retry: receivers can drop
/// repeats); it is also the `webhook-id` header.
pub fn event_body(
    hook_id: &str,
    delivery_id: &str,
    event: HookEvent,
    created_at: i64,
    context: &ChangeContext,
    data: Value,
) -> Value {
    json!({
        "hookId": hook_id,
        "deliveryId": delivery_id,
        "event": event.as_str(),
        "createdAt": iso_time(created_at),
        "userAgent": context.user_agent,
        "ip": context.ip,
        "path": context.path,
        "method": context.method,
        "status": context.status,
        "params": context.params,
        "matchedRoute": context.matched_route,
        "data": data,
    })
}

/// What `POST /api/hooks/{id}/test` sends for `event`: the event's shape with a sample user.
pub fn test_body(hook_id: &str, event: HookEvent) -> Value {
    let user_id = "sampleUserId";
    let (path, method, status, route) = match event {
        HookEvent::UserCreated => ("/users".to_string(), "POST", 200, "/users"),
        HookEvent::UserDeleted => (format!("/users/{user_id}"), "DELETE", 204, "/users/:userId"),
        HookEvent::UserDataUpdated => (format!("/users/{user_id}"), "PATCH", 200, "/users/:userId"),
        HookEvent::UserSuspensionStatusUpdated => {
            (format!("/users/{user_id}/is-suspended"), "PATCH", 200, "/users/:userId/is-suspended")
        }
    };
    let context = ChangeContext {
        path,
        method,
        status,
        params: if event == HookEvent::UserCreated { json!({}) } else { json!({ "userId": user_id }) },
        matched_route: route,
        ip: Some("127.0.0.1".into()),
        user_agent: Some(USER_AGENT.into()),
    };
    let data = json!({
        "id": user_id, "username": "sample_user", "primaryEmail": "user@example.com", "primaryPhone": null,
        "name": "Sample User", "avatar": null, "customData": {}, "identities": {}, "profile": {},
        "lastSignInAt": null, "createdAt": 0, "updatedAt": 0, "applicationId": null,
        "isSuspended": event == HookEvent::UserSuspensionStatusUpdated, "hasPassword": false,
    });
    let delivery_id = format!("test-{}", crate::domain::id::random_id(16));
    event_body(hook_id, &delivery_id, event, crate::domain::now_ms(), &context, data)
}

/// RFC 3339 in UTC with milliseconds, as JavaScript's `toISOString()` writes it.
pub fn iso_time(epoch_ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// Delivers signed JSON to hooks' endpoints.
#[derive(Clone)]
pub struct Sender {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector<CheckedResolver>>, Full<Bytes>>,
    endpoints: Endpoints,
    timeout: Duration,
}

impl Sender {
    /// The sender this deployment's configuration describes (endpoints allowed, timeout).
    pub fn from_config(config: &crate::Config) -> Result<Self, String> {
        Self::new(Endpoints::configured(config), Duration::from_millis(config.hooks_timeout_ms))
    }

    /// Loads the system's trust roots (once per instance: keep the sender).
    pub fn new(endpoints: Endpoints, timeout: Duration) -> Result<Self, String> {
        let mut http = HttpConnector::new_with_resolver(CheckedResolver { endpoints });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("trust roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        Ok(Self { client, endpoints, timeout })
    }

    /// POSTs `body` to the hook's endpoint with Logto's headers, the hook's own, the body's
    /// `deliveryId` as `webhook-id`, and the signature of the exact bytes sent.
    pub async fn send(&self, hook: &Hook, body: &Value) -> Attempt {
        let started = Instant::now();
        let bytes = Bytes::from(body.to_string());
        let delivery_id = body["deliveryId"].as_str().unwrap_or_default();
        let result = match self.request(hook, delivery_id, bytes) {
            Ok(request) => match tokio::time::timeout(self.timeout, self.exchange(request)).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
            },
            Err(err) => Err(err),
        };
        let duration = started.elapsed();
        match result {
            Ok(status) => Attempt { status: Some(status), error: None, duration },
            Err(error) => Attempt { status: None, error: Some(error), duration },
        }
    }

    fn request(
        &self,
        hook: &Hook,
        delivery_id: &str,
        bytes: Bytes,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        // Checked again: the rules may be stricter here than where the hook was saved.
        let url = check_endpoint(&hook.url, self.endpoints).map_err(|e| e.to_string())?;
        let mut request = hyper::Request::post(url.as_str())
            .header("content-type", "application/json")
            .header("user-agent", USER_AGENT);
        for (name, value) in &hook.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let signature = crate::domain::hook::signature(&hook.signing_key, &bytes);
        let mut request = request.body(Full::new(bytes)).map_err(|e| e.to_string())?;
        // Last, so that no custom header can stand in for them.
        let headers = request.headers_mut();
        headers.insert(SIGNATURE_HEADER, signature.parse().map_err(|_| "signature")?);
        headers.insert(DELIVERY_ID_HEADER, delivery_id.parse().map_err(|_| "delivery id")?);
        Ok(request)
    }

    async fn exchange(&self, request: hyper::Request<Full<Bytes>>) -> Result<u16, String> {
        let response = self.client.request(request).await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        // The body is not kept; up to 64 KiB of it is read so the connection can be reused,
        // never more, whatever the endpoint sends.
        let _ = http_body_util::Limited::new(response.into_body(), 64 * 1024).collect().await;
        Ok(status)
    }
}

/// The error and its causes, which hold the useful part ("connection refused").
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves host names with the system resolver and keeps only addresses hooks may reach, so a
/// public name that points inside the network (or is re-pointed later) is refused at connect.
#[derive(Clone)]
pub struct CheckedResolver {
    endpoints: Endpoints,
}

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let endpoints = self.endpoints;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| endpoints == Endpoints::AnyForDevelopment || is_public(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{name} has no public address"),
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_that_resolves_inside_the_network_is_refused_at_connect() {
        use std::str::FromStr;
        use tower_service::Service;
        let name = || Name::from_str("localhost").unwrap();
        let mut public_only = CheckedResolver { endpoints: Endpoints::PublicHttps };
        let refused = public_only.call(name()).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
        let mut development = CheckedResolver { endpoints: Endpoints::AnyForDevelopment };
        assert!(development.call(name()).await.unwrap().all(|addr| addr.ip().is_loopback()));
    }

    #[test]
    fn times_are_written_as_javascript_writes_them() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
