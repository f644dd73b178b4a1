//! A corpus of malformed and hostile requests: every one is answered (no 5xx, no panic)
//! within 2 seconds, by every function it can reach.

use lambda_http::{Body, http::Method};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use integration_tests::Env;

/// A request with an arbitrary body, authenticated as the admin app.
fn hostile(env: &Env, method: Method, path: &str, body: Body, content_type: &str) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", env.admin_authorization.as_str())
        .header("content-type", content_type)
        .body(body)
        .expect("the corpus builds valid HTTP requests")
}

fn json_body(value: Value) -> Body {
    Body::Text(value.to_string())
}

#[tokio::test]
async fn the_hostile_corpus_gets_answers_not_failures() {
    let env = Env::new().await;
    let user = env.create_user(json!({"username": "target", "password": "pw"})).await;
    let id = user["id"].as_str().unwrap().to_string();
    let path = format!("/api/users/{id}");
    let bodies = hostile_bodies();
    let targets = [
        (Method::POST, "/api/users".to_string()),
        (Method::PATCH, path.clone()),
        (Method::PATCH, format!("{path}/custom-data")),
        (Method::PATCH, format!("{path}/profile")),
        (Method::PATCH, format!("{path}/is-suspended")),
        (Method::PUT, format!("{path}/identities/github")),
        (Method::PATCH, format!("{path}/password")),
        (Method::POST, format!("{path}/password/verify")),
        (Method::POST, "/oidc/token".to_string()),
    ];
    let mut answered = 0;
    for (what, body) in &bodies {
        for (method, route) in &targets {
            for content_type in ["application/json", "application/x-www-form-urlencoded"] {
                let request = hostile(&env, method.clone(), route, body.clone(), content_type);
                check(&env, request, &format!("{what}: {method} {route} ({content_type})")).await;
                answered += 1;
            }
        }
    }

    let queries = [
        "page=1e309",
        "page_size=1e309",
        "page=-0",
        "page=NaN",
        "page=1&page=2",
        "page_size=99999999999999999999",
        "search.name=(a%2B)%2B$&mode=posix",
        "search.name=(a|aa)*b&mode=posix",
        "search.name=(%25%25%25%25%25%25%25%25x)*y&mode=similar_to&isCaseSensitive=true",
        "search.name=((a*)*)*&mode=similar_to&isCaseSensitive=true",
        "search=%00",
        "search=%FF%FE",
        "search.name.first.second=x",
        "mode.name=posix&search.name=[",
        "search=\\",
        "joint=%00",
        "search.id=a&search.id=b&mode.id=exact",
        "start_time=1e309",
        "end_time=-1e309",
    ];
    for query in queries {
        for route in ["/api/users", "/api/logs"] {
            let request =
                hostile(&env, Method::GET, &format!("{route}?{query}"), Body::Empty, "application/json");
            check(&env, request, &format!("GET {route}?{query}")).await;
            answered += 1;
        }
    }

    let paths = [
        "/api/users/..%2F..%2Fetc%2Fpasswd",
        "/api/users/%2F",
        "/api/users/a%2Fb/custom-data",
        "/api/users/../users",
        "/api/users/%00",
        "/api/users/%FF%FE",
        "/api/logs/..%2F",
        "/api/users/x/identities/%2F..%2F",
        &format!("/api/users/{}", "a".repeat(10_000)),
        "/api/users//",
        "/api//users",
        "/oidc/../api/users",
    ];
    for path in paths {
        for method in [Method::GET, Method::DELETE, Method::PATCH] {
            let request = hostile(&env, method.clone(), path, Body::Empty, "application/json");
            check(&env, request, &format!("{method} {path}")).await;
            answered += 1;
        }
    }
    // The external review's inputs: each answered fast, never a 5xx.
    let long_target = format!("{path}/identities/{}", "t".repeat(3000));
    let many_fields: String = (0..20_000).map(|i| format!("&f{i}=1")).collect();
    let form_bodies = [
        format!("grant_type=client_credentials{many_fields}"),
        format!("grant_type=client_credentials&client_id={}&client_secret=s", "i".repeat(4000)),
        "grant_type=client_credentials&client_id=a&client_id=b&client_secret=s".to_string(),
    ];
    for form in &form_bodies {
        let request = hostile(
            &env,
            Method::POST,
            "/oidc/token",
            Body::Text(form.clone()),
            "application/x-www-form-urlencoded",
        );
        check(&env, request, &format!("token form of {} bytes", form.len())).await;
        answered += 1;
    }
    let review: Vec<(Method, String, Body)> = vec![
        (Method::PUT, long_target.clone(), json_body(json!({"userId": "1"}))),
        (Method::GET, long_target.clone(), Body::Empty),
        (Method::DELETE, long_target, Body::Empty),
        (Method::PUT, format!("{path}/identities/github"), json_body(json!({"userId": "1".repeat(3000)}))),
        (Method::PUT, format!("{path}/identities/%00%1b"), json_body(json!({"userId": "1"}))),
        (
            Method::POST,
            "/api/users".into(),
            json_body(json!({"passwordAlgorithm": "Legacy",
                "passwordDigest": json!(["pbkdf2", ["s", "2000000", "1024", "sha512", "@"], "x"]).to_string()})),
        ),
        (
            Method::POST,
            "/api/users".into(),
            json_body(json!({"passwordAlgorithm": "Legacy",
                "passwordDigest": json!(["firebase-scrypt", ["c2FsdA", "a2V5", "Bw", "64", "17", "@"], "x"]).to_string()})),
        ),
        (Method::GET, format!("{path}?includePasswordHash=true"), Body::Empty),
    ];
    for (method, route, body) in review {
        let mut request = hostile(&env, method.clone(), &route, body, "application/json");
        request.headers_mut().insert("x-forwarded-proto", "javascript".parse().unwrap());
        request.headers_mut().insert("host", "evil.example>; rel=\"x\"".parse().unwrap());
        check(&env, request, &format!("{method} {}…", &route[..route.len().min(60)])).await;
        answered += 1;
    }
    assert!(answered > 300, "{answered} hostile requests");
    // The target survived it all, consistently.
    assert_eq!(env.get(&path).await.status, 200);
    env.assert_invariants().await;
}

/// Bodies no handler should fail on: broken, mistyped, oversized, strange.
fn hostile_bodies() -> Vec<(&'static str, Body)> {
    let ten_mb = "x".repeat(10 * 1024 * 1024);
    let nulls = json!({
        "username": null, "primaryEmail": null, "primaryPhone": null, "name": null, "avatar": null,
        "customData": null, "profile": null, "password": null, "passwordDigest": null,
        "passwordAlgorithm": null, "isSuspended": null, "userId": null, "details": null,
    });
    let wrong_types = json!({
        "username": 1, "primaryEmail": [], "primaryPhone": {}, "name": true, "avatar": 3.5,
        "customData": "x", "profile": [], "password": 7, "isSuspended": "yes", "userId": 5,
    });
    vec![
        ("broken JSON", Body::Text("{\"username\": ".into())),
        ("JSON array", Body::Text("[1,2,3]".into())),
        ("JSON string", Body::Text("\"hello\"".into())),
        ("nulls everywhere", json_body(nulls)),
        ("wrong types", json_body(wrong_types)),
        ("10 MB string", json_body(json!({ "name": ten_mb }))),
        ("just over 1 MiB", Body::Text(format!("{{\"name\":\"{}\"}}", "y".repeat(1024 * 1024)))),
        ("invalid UTF-8", Body::Binary(vec![0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])),
        ("control characters", json_body(json!({"username": "a\u{0000}b", "name": "\u{0007}\u{001b}[31m"}))),
        (
            "unicode edge cases",
            json_body(json!({
                "username": "\u{202e}admin", "primaryEmail": "\u{1F600}@\u{0661}.io",
                "primaryPhone": "\u{FF11}\u{FF12}\u{FF13}", "name": "\u{FEFF}\u{200D}", "avatar": "http://\u{0000}/"
            })),
        ),
        (
            "deep nesting",
            Body::Text(format!("{{\"customData\":{}1{}}}", "{\"a\":".repeat(200), "}".repeat(200))),
        ),
        ("repeated keys", Body::Text("{\"username\":\"a1\",\"username\":\"b2\"}".into())),
        ("huge number", Body::Text("{\"customData\":{\"n\":1e400}}".into())),
    ]
}

/// The hooks routes meet the same corpus: bodies, queries and paths, on a hook whose endpoint
/// refuses connections (so a test delivery that gets through fails at once).
#[tokio::test]
async fn the_hooks_routes_answer_the_hostile_corpus_too() {
    let env = Env::with(|config| config.hooks_allow_local_urls = true).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{closed}/");
    let hook = env.post("/api/hooks", json!({"events": ["User.Created"], "config": {"url": url}})).await;
    assert_eq!(hook.status, 201);
    let path = format!("/api/hooks/{}", hook.body["id"].as_str().unwrap());
    let targets = [
        (Method::POST, "/api/hooks".to_string()),
        (Method::PATCH, path.clone()),
        (Method::POST, format!("{path}/test")),
        (Method::PATCH, format!("{path}/signing-key")),
    ];
    for (what, body) in &hostile_bodies() {
        for (method, route) in &targets {
            let request = hostile(&env, method.clone(), route, body.clone(), "application/json");
            check(&env, request, &format!("{what}: {method} {route}")).await;
        }
    }
    for query in ["page=1e309", "page_size=0", "page=NaN&page_size=-1", "logKey=%00", "page=1&page=2"] {
        for route in ["/api/hooks".to_string(), format!("{path}/recent-logs")] {
            let request =
                hostile(&env, Method::GET, &format!("{route}?{query}"), Body::Empty, "application/json");
            check(&env, request, &format!("GET {route}?{query}")).await;
        }
    }
    for bad in [
        "/api/hooks/..%2F",
        "/api/hooks/%00",
        "/api/hooks/%FF%FE/test",
        &format!("/api/hooks/{}", "h".repeat(10_000)),
    ] {
        for method in [Method::GET, Method::DELETE, Method::PATCH, Method::POST] {
            let request = hostile(&env, method.clone(), bad, Body::Empty, "application/json");
            check(&env, request, &format!("{method} {bad}")).await;
        }
    }
    let stored = env.get(&path).await;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.body["config"]["url"], url, "no hostile body changed the hook's endpoint");
}

/// Answered, not failed, and in time.
async fn check(env: &Env, request: lambda_http::Request, what: &str) {
    let started = Instant::now();
    let reply = env.send(request).await;
    let took = started.elapsed();
    assert!(reply.status < 500, "{what}: {} {}", reply.status, reply.body);
    assert!(took < Duration::from_secs(2), "{what}: took {took:?}");
}
