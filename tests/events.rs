//! Every file in `events/` is a valid API Gateway v2 event that reaches its route with the
//! documented status, and every route has an event.

use base64::Engine;
use lambda_http::http::Method;
use std::collections::BTreeSet;
use std::path::PathBuf;

use integration_tests::Env;
use shared::domain::User;
use shared::domain::log::{LogEntry, LogKey, Origin};
use shared::store::user_store::UserStore;

/// The user id every event file uses.
const EVENT_USER_ID: &str = "u1s2e3r4i5d6";

/// In the order they are replayed, with the status each answers when replayed in this order
/// against a store holding the user `EVENT_USER_ID` (see events/README.md).
const EXPECTED: &[(&str, u16)] = &[
    ("create-user", 200),
    ("list-users", 200),
    ("get-user", 200),
    ("patch-user", 200),
    ("get-custom-data", 200),
    ("patch-custom-data", 200),
    ("patch-profile", 200),
    ("patch-is-suspended", 200),
    ("put-identity", 201),
    ("get-identity", 200),
    ("delete-identity", 200),
    ("patch-password", 200),
    ("verify-password", 204),
    ("has-password", 200),
    ("delete-user", 204),
    ("token", 200),
    ("jwks", 200),
    ("openid-configuration", 200),
    ("list-logs", 200),
    ("get-log", 404),
    ("swagger", 200),
    ("list-hooks", 200),
    ("create-hook", 201),
    ("get-hook", 404),
    ("patch-hook", 404),
    ("rotate-hook-signing-key", 404),
    ("test-hook", 404),
    ("hook-recent-logs", 200),
    ("delete-hook", 404),
];

fn events_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../events"))
}

/// An event with its placeholder credentials replaced by real ones.
fn load(name: &str, bearer: &str, basic: &str) -> (lambda_http::Request, serde_json::Value) {
    let text = std::fs::read_to_string(events_dir().join(format!("{name}.json")))
        .unwrap()
        .replace("REPLACE_WITH_ACCESS_TOKEN", bearer)
        .replace("REPLACE_WITH_BASE64_CLIENT_ID_AND_SECRET", basic);
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    (request, raw)
}

#[tokio::test]
async fn every_event_answers_its_documented_status() {
    let env = Env::new().await;
    let store = env.functions.users.service.store();
    let user = User::new(EVENT_USER_ID.into(), shared::domain::now_ms());
    let log = LogEntry::new(LogKey::UserCreate, true, Some(EVENT_USER_ID), &Origin::default());
    store.commit(None, Some(&user), &log).await.unwrap();
    let bearer = env.token("all");
    let (app, secret) = env.create_app(&["all"]).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", app.client_id));

    let on_disk: BTreeSet<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".json").map(String::from))
        .collect();
    let listed: BTreeSet<String> = EXPECTED.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, listed, "every event file has an expected status, and every listed one exists");

    for (name, status) in EXPECTED {
        let (request, raw) = load(name, &bearer, &basic);
        assert_eq!(request.uri().path(), raw["rawPath"].as_str().unwrap(), "{name}: path");
        let reply = env.send(request).await;
        assert_eq!(reply.status, *status, "{name}: {}", reply.body);
    }
}

#[test]
fn every_route_has_an_event() {
    let mut events = BTreeSet::new();
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        events.insert(raw["routeKey"].as_str().unwrap().to_string());
    }
    let mut routes: Vec<(Method, &str)> = Vec::new();
    routes.extend(users::routes().iter().cloned());
    routes.extend(passwords::routes().iter().cloned());
    routes.extend(oidc::routes().iter().cloned());
    routes.extend(logs::routes().iter().cloned());
    routes.extend(docs::routes().iter().cloned());
    routes.extend(hooks::routes().iter().cloned());
    for (method, pattern) in routes {
        let key = format!("{method} {pattern}");
        assert!(events.contains(&key), "no event in events/ for {key}");
    }
}

/// `sam local generate-event apigateway http-api-proxy`, as the pinned SAM CLI prints it
/// (`scripts/lint-template` fails when the copy is out of date).
fn sam_sample() -> serde_json::Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sam-http-api-proxy.json"))
            .expect("the SAM sample event");
    serde_json::from_str(&text).unwrap()
}

fn keys(value: &serde_json::Value) -> BTreeSet<String> {
    value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn events_have_the_shape_sam_and_api_gateway_send() {
    let sample = sam_sample();
    let (top, context, http) =
        (keys(&sample), keys(&sample["requestContext"]), keys(&sample["requestContext"]["http"]));
    let required =
        ["version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext", "isBase64Encoded"];
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(event["version"], sample["version"], "{name}: payload format 2.0");
        for key in required {
            assert!(event.get(key).is_some(), "{name} lacks {key}");
        }
        assert!(keys(&event).is_subset(&top), "{name}: {:?} not in SAM's {top:?}", keys(&event));
        assert!(keys(&event["requestContext"]).is_subset(&context), "{name}: requestContext");
        assert_eq!(keys(&event["requestContext"]["http"]), http, "{name}: requestContext.http");
        assert_eq!(event["rawPath"], event["requestContext"]["http"]["path"], "{name}: one path");
        assert!(keys(&event["headers"]).iter().all(|h| *h == h.to_ascii_lowercase()), "{name}: headers");
        let raw = event["rawQueryString"].as_str().unwrap();
        if !raw.is_empty() {
            // API Gateway also sends the query parsed, repeated keys joined with commas.
            let mut parsed = serde_json::Map::new();
            for (key, value) in shared::api::Query::parse(raw).pairs().iter().cloned() {
                let joined = match parsed.get(&key).and_then(|v| v.as_str()) {
                    Some(before) => format!("{before},{value}"),
                    None => value,
                };
                parsed.insert(key, serde_json::Value::String(joined));
            }
            assert_eq!(event["queryStringParameters"], serde_json::Value::Object(parsed), "{name}");
        }
    }
}

/// The stream events (`events/streams/`) are what Lambda hands the webhook deliveries: each
/// reads as a stream batch and, with its user present, is delivered to a hook that wants it.
#[tokio::test]
async fn every_stream_event_is_delivered() {
    let env = Env::with(|config| config.hooks_allow_local_urls = true).await;
    let receiver = integration_tests::receiver::Receiver::start().await;
    let hook = serde_json::json!({"events": ["User.Data.Updated"], "config": {"url": receiver.url}});
    assert_eq!(env.post("/api/hooks", hook).await.status, 201);
    let store = env.functions.users.service.store();
    let user = User::new(EVENT_USER_ID.into(), shared::domain::now_ms());
    let log = LogEntry::new(LogKey::UserCreate, true, Some(EVENT_USER_ID), &Origin::default());
    store.commit(None, Some(&user), &log).await.unwrap();
    let deliveries = hooks::delivery::Deliveries::new(&env.config, env.client.clone()).unwrap();
    let mut count = 0;
    for entry in std::fs::read_dir(events_dir().join("streams")).unwrap() {
        // Made now, as scripts/invoke makes it: a hook gets only the changes made once it exists.
        let text = std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .replace("1795788000000", &shared::domain::now_ms().to_string());
        let event: hooks::delivery::StreamEvent = serde_json::from_str(&text).unwrap();
        let answer = deliveries.handle(event).await.unwrap();
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
        count += 1;
    }
    assert_eq!(receiver.received().len(), count, "each delivered once");
    assert_eq!(receiver.received()[0].json()["path"], format!("/users/{EVENT_USER_ID}"));
}
