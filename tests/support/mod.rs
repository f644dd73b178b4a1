//! Test support: each test gets its own tables (a random prefix) on the emulator named by
//! `AWS_ENDPOINT_URL_DYNAMODB`, and calls the functions' handlers in-process with real
//! `lambda_http` requests, through the real SDK.

pub mod capture;
pub mod proxy;
pub mod receiver;

pub use capture::Capture;

use aws_sdk_dynamodb::Client;
use lambda_http::{Body, Request, http::Method};
use serde_json::{Value, json};

use shared::config::TableNames;
use shared::domain::id::random_id;

pub struct Env {
    pub client: Client,
    pub config: shared::Config,
    pub keys: shared::auth::SigningKeys,
    /// Every function, routed as API Gateway routes them.
    pub functions: in_process::Functions,
    /// `Bearer <token>` with scope `all`, sent by the helpers below.
    pub admin_authorization: String,
    /// Every access line the requests sent through [`Env::gateway`] wrote, JSON then text.
    pub access: Capture,
}

/// The emulator's endpoint; tests that need it fail loudly without it.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect(
        "AWS_ENDPOINT_URL_DYNAMODB must point at a DynamoDB emulator: run the tests with scripts/test",
    )
}

impl Env {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// A fresh set of tables, with the configuration adjusted by `tweak`.
    pub async fn with(tweak: impl FnOnce(&mut shared::Config)) -> Self {
        endpoint();
        let mut config = shared::Config::for_tables(TableNames::with_prefix(&format!("t{}", random_id(10))));
        let keys = shared::auth::SigningKeys::generate();
        config.auth.signing_keys = Some(keys.to_json().into());
        tweak(&mut config);
        let client = shared::aws::Aws::tools_default().await.dynamodb();
        shared::store::schema::ensure_tables(&client, &config.tables).await.expect("tables are created");
        let functions = in_process::Functions::start(&config, client.clone(), keys.clone())
            .expect("every function starts");
        let admin_authorization = String::new();
        let access = Capture::default();
        let mut env = Self { client, config, keys, functions, admin_authorization, access };
        env.admin_authorization = format!("Bearer {}", env.token("all"));
        env
    }

    /// Every log entry after `after` (a created key), oldest first, as a DynamoDB Streams event of
    /// INSERT records with new images, and the last created key.
    pub async fn log_stream_since(&self, after: &str) -> (hooks::delivery::StreamEvent, String) {
        let items = self
            .client
            .scan()
            .table_name(&self.config.tables.logs)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default();
        let mut items: Vec<_> =
            // Entries only: the log counters' items have no created key.
            items.into_iter().filter(|item| item.get("createdKey").is_some_and(|k| k.as_s().unwrap().as_str() > after)).collect();
        items.sort_by_key(|item| item["createdKey"].as_s().unwrap().clone());
        let last =
            items.last().map(|item| item["createdKey"].as_s().unwrap().clone()).unwrap_or(after.to_string());
        // Lambda names the stream each record came from; its label says when it was turned on.
        let table = self.client.describe_table().table_name(&self.config.tables.logs).send().await.unwrap();
        let stream = table.table.and_then(|t| t.latest_stream_arn).expect("the logs table streams");
        let records: Vec<Value> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let image = serde_json::to_value(serde_dynamo::Item::from(item)).unwrap();
                json!({"eventID": format!("e{i}"), "eventName": "INSERT", "eventSource": "aws:dynamodb", "eventSourceARN": stream,
                       "dynamodb": {"NewImage": image, "SequenceNumber": next_sequence_number(), "StreamViewType": "NEW_AND_OLD_IMAGES"}})
            })
            .collect();
        (serde_json::from_value(json!({ "Records": records })).unwrap(), last)
    }

    /// A machine-to-machine app with these scopes, stored; returns it and its secret.
    pub async fn create_app(&self, scopes: &[&str]) -> (shared::domain::app::M2mApp, String) {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        let (app, secret) = shared::domain::app::M2mApp::create("test", scopes);
        shared::store::apps::DynamoApps::new(self.client.clone(), &self.config.tables.apps)
            .insert(&app)
            .await
            .expect("the app is stored");
        (app, secret)
    }

    /// `POST /oidc/token` with a form body (and HTTP Basic credentials when given).
    pub async fn token_request(&self, basic: Option<(&str, &str)>, form: &str) -> Reply {
        use base64::Engine;
        let mut request = request_raw(Method::POST, "/oidc/token", form);
        request.headers_mut().insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
        if let Some((id, secret)) = basic {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            request.headers_mut().insert("authorization", format!("Basic {encoded}").parse().unwrap());
        }
        self.send(request).await
    }

    /// A valid access token for the app `test-app` with `scope`.
    pub fn token(&self, scope: &str) -> String {
        let now = shared::domain::now_ms() / 1000;
        let auth = &self.config.auth;
        shared::auth::issue(self.keys.active(), &auth.issuer, &auth.api_indicator, "test-app", scope, now)
    }

    /// Sends a request, with an admin token, to the function that serves its route.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(Some(&self.admin_authorization.clone()), method, path, body).await
    }

    /// Sends a request with an admin token and these extra headers.
    pub async fn call_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&'static str, &str)],
    ) -> Reply {
        let mut request = self.admin_request(method, path, body);
        for (name, value) in headers {
            request.headers_mut().insert(*name, value.parse().expect("a valid header value"));
        }
        self.send(request).await
    }

    /// A request carrying the admin token, for a test that sends it itself.
    pub fn admin_request(&self, method: Method, path: &str, body: Option<Value>) -> Request {
        let mut request = request(method, path, body);
        request.headers_mut().insert("authorization", self.admin_authorization.parse().unwrap());
        request
    }

    /// Sends a request with this `Authorization` header (or none) to the function that serves
    /// its route, as the API Gateway would.
    pub async fn call_as(
        &self,
        authorization: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = request(method, path, body);
        if let Some(value) = authorization {
            request.headers_mut().insert("authorization", value.parse().expect("a valid header value"));
        }
        self.send(request).await
    }

    /// Sends a prepared request to the function that serves its route.
    pub async fn send(&self, request: Request) -> Reply {
        Reply::from(Box::pin(self.gateway(request)).await.0)
    }

    /// The in-process API Gateway (`in_process`), recording the access line each request
    /// writes in `access`.
    pub async fn gateway(
        &self,
        request: Request,
    ) -> (lambda_http::Response<Body>, shared::telemetry::AccessLine) {
        let (response, line) = self.functions.send(request).await;
        self.access.push_line(&line.to_json(shared::telemetry::DEFAULT_NAMESPACE));
        self.access.push_line(&line.to_text());
        (response, line)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a user and returns its JSON, asserting success.
    pub async fn create_user(&self, body: Value) -> Value {
        let reply = self.post("/api/users", body).await;
        assert_eq!(reply.status, 200, "create failed: {}", reply.body);
        reply.body
    }

    /// Every item of the users table (for checks on guards and counters).
    pub async fn scan_users_table(
        &self,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.client
            .scan()
            .table_name(&self.config.tables.users)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .expect("scan")
    }
}

pub fn request(method: Method, path: &str, body: Option<Value>) -> Request {
    let body = match body {
        Some(value) => Body::Text(value.to_string()),
        None => Body::Empty,
    };
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body)
        .expect("valid request")
}

/// A response, its body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub body: Value,
}

impl From<lambda_http::Response<Body>> for Reply {
    fn from(response: lambda_http::Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes: &[u8] = response.body().as_ref();
        let body =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(bytes).expect("JSON body") };
        Self { status, headers, body }
    }
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Link` relations, one string each (`<url>; rel="…"`).
    pub fn links(&self) -> Vec<String> {
        let header = self.header("link").unwrap_or_default();
        header
            .split(", <")
            .map(|l| if l.starts_with('<') { l.to_string() } else { format!("<{l}") })
            .collect()
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "body: {}", self.body);
    }
}

/// A request with a raw (possibly invalid) body.
pub fn request_raw(method: Method, path: &str, body: &str) -> Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::Text(body.to_string()))
        .expect("valid request")
}

impl Env {
    /// Runs the invariant checker (`usersctl check`) over this test's tables and panics on any
    /// broken invariant.
    pub async fn assert_invariants(&self) {
        let report = shared::store::check::check(&self.client, &self.config).await.expect("the checker runs");
        assert!(report.problems.is_empty(), "broken invariants: {:#?}", report.problems);
    }
}

/// Stream sequence numbers as a stream gives them: increasing, never given twice (in this
/// process), decimal without leading zeros.
pub fn next_sequence_number() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    format!("4{:020}", NEXT.fetch_add(1, Ordering::SeqCst))
}
