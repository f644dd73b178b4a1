//! One access line per request, from every route, on success and on a typical error: every
//! field an operator needs, and an Embedded Metric Format document CloudWatch can read
//! (`_aws.CloudWatchMetrics` with a namespace, dimension sets and metrics, each metric and
//! dimension with its value at the top level). Requests go through `shared::api::observe`,
//! as `serve` runs them under Lambda.

use base64::Engine;
use lambda_http::{Context, RequestExt};
use serde_json::Value;

use integration_tests::Env;
use shared::domain::User;
use shared::domain::log::{LogEntry, LogKey, Origin};
use shared::store::user_store::UserStore;

/// The events in `events/`, in an order in which each succeeds (as tests/events.rs replays
/// them), with the function that serves each.
const EVENTS: &[(&str, &str)] = &[
    ("create-user", "users"),
    ("list-users", "users"),
    ("get-user", "users"),
    ("patch-user", "users"),
    ("get-custom-data", "users"),
    ("patch-custom-data", "users"),
    ("patch-profile", "users"),
    ("patch-is-suspended", "users"),
    ("put-identity", "users"),
    ("get-identity", "users"),
    ("delete-identity", "users"),
    ("patch-password", "passwords"),
    ("verify-password", "passwords"),
    ("has-password", "passwords"),
    ("delete-user", "users"),
    ("token", "oidc"),
    ("jwks", "oidc"),
    ("openid-configuration", "oidc"),
    ("list-logs", "logs"),
    ("get-log", "logs"),
    ("swagger", "docs"),
    ("list-hooks", "hooks"),
    ("create-hook", "hooks"),
    ("get-hook", "hooks"),
    ("patch-hook", "hooks"),
    ("rotate-hook-signing-key", "hooks"),
    ("test-hook", "hooks"),
    ("hook-recent-logs", "hooks"),
    ("delete-hook", "hooks"),
];

fn event(name: &str, bearer: &str, basic: &str) -> (lambda_http::Request, Value) {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("REPLACE_WITH_ACCESS_TOKEN", bearer)
        .replace("REPLACE_WITH_BASE64_CLIENT_ID_AND_SECRET", basic);
    let mut context = Context::default();
    context.request_id = format!("invocation-{name}");
    context.xray_trace_id = Some(format!("Root=1-00000000-{name}"));
    let request = lambda_http::request::from_str(&text).unwrap().with_lambda_context(context);
    (request, serde_json::from_str(&text).unwrap())
}

/// The EMF checks: each declared metric has a number at the top level, each dimension a
/// string; the dimensions are the bounded ones.
fn assert_emf(line: &Value) {
    let directive = &line["_aws"];
    assert!(directive["Timestamp"].as_i64().is_some(), "{line}");
    let sets = directive["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert!(!sets.is_empty());
    for set in sets {
        assert_eq!(set["Namespace"], shared::telemetry::DEFAULT_NAMESPACE);
        for dimensions in set["Dimensions"].as_array().unwrap() {
            for dimension in dimensions.as_array().unwrap() {
                let name = dimension.as_str().unwrap();
                assert!(["Service", "Route"].contains(&name), "only bounded dimensions: {name}");
                assert!(line[name].is_string(), "dimension {name} has a value: {line}");
            }
        }
        for metric in set["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "metric {name} has a value: {line}");
            assert!(["Count", "Milliseconds"].contains(&metric["Unit"].as_str().unwrap()));
        }
    }
}

/// The access-line fields every request has.
fn assert_access_fields(line: &Value, service: &str, name: &str, status: u16, raw: &Value) {
    for field in ["timestamp", "level", "service", "requestId", "traceId", "method", "route", "status"] {
        assert!(!line[field].is_null(), "{name}: {field} in {line}");
    }
    assert_eq!((line["service"].as_str(), line["status"].as_u64()), (Some(service), Some(u64::from(status))));
    assert_eq!(line["requestId"], format!("invocation-{name}"));
    assert_eq!(line["apiRequestId"], raw["requestContext"]["requestId"], "API Gateway's request id");
    assert!(line["latencyMs"].as_f64().is_some_and(|ms| ms >= 0.0) && line["coldStart"].is_boolean());
    assert!(line["dynamodb"]["calls"].is_u64() && line["dynamodb"]["capacityUnits"].is_number());
    assert!(!line["route"].as_str().unwrap().contains("u1s2e3r4i5d6"), "a pattern, not the raw path: {line}");
    assert_emf(line);
}

#[tokio::test]
async fn every_route_writes_one_complete_access_line_on_success_and_on_error() {
    let env = Env::new().await;
    let user = User::new("u1s2e3r4i5d6".into(), shared::domain::now_ms());
    let log = LogEntry::new(LogKey::UserCreate, true, Some("u1s2e3r4i5d6"), &Origin::default());
    env.functions.users.service.store().commit(None, Some(&user), &log).await.unwrap();
    let bearer = env.token("all");
    let (app, secret) = env.create_app(&["all"]).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", app.client_id));

    for (name, service) in EVENTS {
        let (request, raw) = event(name, &bearer, &basic);
        let (response, line) = env.gateway(request).await;
        let status = response.status().as_u16();
        let json: Value = serde_json::from_str(&line.to_json(shared::telemetry::DEFAULT_NAMESPACE)).unwrap();
        assert_access_fields(&json, service, name, status, &raw);
        let route_key = raw["routeKey"].as_str().unwrap();
        assert_eq!(json["Route"], route_key, "{name}: the route key, as API Gateway names it");
        if status < 400 {
            assert!(json["code"].is_null() && json["Errors4xx"] == 0.0 && json["Errors5xx"] == 0.0, "{json}");
        }
        if route_key.starts_with("GET /api/users/{userId}") || route_key == "POST /api/users" {
            assert!(json["dynamodb"]["calls"].as_u64().unwrap() >= 1, "{json}");
        }
        if *service != "docs" && !route_key.starts_with("GET /oidc/") {
            assert_eq!(
                json["clientId"],
                if *service == "oidc" { app.client_id.as_str() } else { "test-app" }
            );
        }
        match *name {
            "token" => assert_eq!(json["TokenIssued"], 1.0),
            "verify-password" => assert_eq!(json["PasswordVerified"], 1.0),
            "patch-password" => {
                assert!(json["hashingMs"].as_f64().unwrap() > 0.0 && json["HashingTime"].is_number())
            }
            _ => {}
        }
        assert!(!line.to_text().is_empty());

        // A typical error: no credentials (or, for the public routes, an unknown path).
        let (request, _) = event(name, "", "");
        let request = if json["clientId"].is_null() && *name != "token" {
            let mut request = request;
            *request.uri_mut() = format!("{}-missing", raw["rawPath"].as_str().unwrap()).parse().unwrap();
            request
        } else {
            request
        };
        let (response, line) = env.gateway(request).await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{name}: {status}");
        let json: Value = serde_json::from_str(&line.to_json(shared::telemetry::DEFAULT_NAMESPACE)).unwrap();
        let expected_service = if json["route"] == "$default" { "users" } else { service };
        if json["route"] == "$default" {
            assert_eq!(json["Route"], "other", "unknown paths share one dimension value");
        }
        assert_access_fields(&json, expected_service, name, status, &raw);
        assert!(json["code"].is_string() && json["Errors4xx"] == 1.0, "{name}: {json}");
        assert!(json["clientId"].is_null(), "no client without credentials: {json}");
        if *name == "token" {
            assert_eq!(json["TokenRefused"], 1.0);
        }
    }
}

#[tokio::test]
async fn a_locked_verify_and_a_wrong_password_have_their_own_metrics() {
    let env = Env::with(|config| config.lockout.max_failures = 1).await;
    let user =
        env.create_user(serde_json::json!({"username": "metered", "password": "Right-Passw0rd"})).await;
    let path = format!("/api/users/{}/password/verify", user["id"].as_str().unwrap());
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let mut request = integration_tests::request(
            lambda_http::http::Method::POST,
            &path,
            Some(serde_json::json!({"password": "wrong"})),
        );
        request.headers_mut().insert("authorization", env.admin_authorization.parse().unwrap());
        let (_, line) = env.gateway(request).await;
        let json: Value = serde_json::from_str(&line.to_json("UsersApi")).unwrap();
        outcomes.push((
            json["status"].as_u64().unwrap(),
            json["PasswordRejected"].as_f64(),
            json["PasswordLocked"].as_f64(),
        ));
    }
    assert_eq!(outcomes, [(422, Some(1.0), None), (429, None, Some(1.0))]);
}
