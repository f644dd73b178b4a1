//! Storage faults, injected by a TCP proxy between the functions and a running emulator:
//! every request answers 503 `service.unavailable` with `Retry-After` within 3 s, nothing is
//! left half-written, and a create whose answer was lost is recovered by its Idempotency-Key.
//! The access line of each says what happened to its DynamoDB calls (retries, throttles).

use lambda_http::http::Method;
use serde_json::json;
use std::time::{Duration, Instant};

use integration_tests::proxy::{Fault, FaultProxy};
use integration_tests::{Env, Reply, request};

/// The users function, talking to DynamoDB through `proxy` with a fresh connection pool.
/// A users function whose client goes through `proxy`, with a retry budget of its own: the
/// SDK's retry token bucket is shared by every client of a retry partition (by default, all
/// DynamoDB clients of the process), and the timeouts of earlier faults would otherwise have
/// spent it before the throttling one (a sharded list alone makes 18 calls).
async fn users_through(env: &Env, proxy: &FaultProxy) -> users::App {
    use aws_sdk_dynamodb::config::retry::RetryPartition;
    let client = shared::aws::Aws::tools_default().await.dynamodb_at(&proxy.url);
    let partition = RetryPartition::new(format!("faults-{}", shared::domain::id::random_id(8)));
    let config = client.config().to_builder().retry_partition(partition).build();
    users::App::new(&env.config, aws_sdk_dynamodb::Client::from_conf(config)).unwrap()
}

async fn send(
    env: &Env,
    app: &users::App,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
    key: Option<&str>,
) -> (Reply, Duration, shared::telemetry::AccessLine) {
    let mut request = request(method, path, body);
    request.headers_mut().insert("authorization", env.admin_authorization.parse().unwrap());
    if let Some(key) = key {
        request.headers_mut().insert("idempotency-key", key.parse().unwrap());
    }
    let started = Instant::now();
    let (response, line) = shared::api::observe("users", users::routes(), request, |r| app.handle(r)).await;
    (Reply::from(response), started.elapsed(), line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_a_quick_503_and_leaves_no_partial_state() {
    let env = Env::new().await;
    let existing = env.create_user(json!({"username": "steady"})).await;
    let path = format!("/api/users/{}", existing["id"].as_str().unwrap());
    let proxy = FaultProxy::start(&integration_tests::endpoint()).await;
    let faults = [
        Fault::Reset,
        Fault::Stall(Duration::from_secs(5)),
        Fault::CutRequest,
        Fault::LoseAnswer,
        Fault::Throttle,
    ];
    for fault in faults {
        proxy.set(fault);
        let app = users_through(&env, &proxy).await;
        let requests = [
            (Method::GET, "/api/users".to_string(), None),
            (Method::GET, path.clone(), None),
            (Method::POST, "/api/users".to_string(), Some(json!({"username": "never_half_made"}))),
            (Method::PATCH, path.clone(), Some(json!({"name": "maybe"}))),
        ];
        for (method, route, body) in requests {
            let (reply, took, line) = send(&env, &app, method.clone(), &route, body, None).await;
            if fault == Fault::LoseAnswer && reply.status < 500 {
                // A read may finish before the cut; a lost answer is only a fault for writes.
                continue;
            }
            reply.assert_error(503, "service.unavailable");
            let dynamodb = line.record.dynamodb;
            assert_eq!(line.record.error_code, Some("service.unavailable"));
            assert!(dynamodb.calls >= 1, "{fault:?} {method} {route}: {dynamodb:?}");
            if fault == Fault::Throttle {
                // The SDK retried the throttled call; every attempt met the throttle.
                assert!(dynamodb.retries() >= 1, "{method} {route}: {dynamodb:?}");
                assert_eq!(dynamodb.throttles, dynamodb.attempts, "{method} {route}: {dynamodb:?}");
            } else {
                assert_eq!(dynamodb.throttles, 0, "{fault:?} {method} {route}: {dynamodb:?}");
            }
            assert!(reply.header("retry-after").is_some(), "{fault:?} {method} {route}");
            assert!(took < Duration::from_secs(3), "{fault:?} {method} {route} took {took:?}");
        }
    }
    proxy.set(Fault::Pass);
    // Whatever went through went through whole: guards, counter and logs agree.
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_a_quick_503() {
    let env = Env::new().await;
    // A port nobody listens on: every connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = shared::aws::Aws::tools_default().await.dynamodb_at(&format!("http://127.0.0.1:{port}"));
    let app = users::App::new(&env.config, client).unwrap();
    for (method, route, body) in [
        (Method::GET, "/api/users", None),
        (Method::POST, "/api/users", Some(json!({"username": "nowhere"}))),
    ] {
        let (reply, took, _) = send(&env, &app, method, route, body, Some("refused-key")).await;
        reply.assert_error(503, "service.unavailable");
        assert!(took < Duration::from_secs(3), "{route} took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_is_recovered_by_its_key() {
    let env = Env::new().await;
    let proxy = FaultProxy::start(&integration_tests::endpoint()).await;
    let body = json!({"username": "lost_answer", "primaryEmail": "lost@x.io"});

    proxy.set(Fault::LoseAnswer);
    let faulty = users_through(&env, &proxy).await;
    let (lost, _, _) =
        send(&env, &faulty, Method::POST, "/api/users", Some(body.clone()), Some("retry-me")).await;
    lost.assert_error(503, "service.unavailable");

    proxy.set(Fault::Pass);
    let healthy = users_through(&env, &proxy).await;
    let (retried, _, _) =
        send(&env, &healthy, Method::POST, "/api/users", Some(body), Some("retry-me")).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["username"], "lost_answer");
    let listed = env.get("/api/users?search.username=lost_answer&mode=exact").await;
    assert_eq!(listed.header("total-number"), Some("1"), "created once");
    assert_eq!(listed.body[0]["id"], retried.body["id"]);
    env.assert_invariants().await;
}
