//! Logto's hooks management API (`/api/hooks…`): shapes, codes and order of checks, scopes, the
//! endpoint rules, concurrent changes, and test deliveries to a receiver on this machine.

use lambda_http::http::Method;
use serde_json::{Value, json};

use integration_tests::Env;
use integration_tests::receiver::Receiver;
use shared::domain::hook::signature;

const PUBLIC_URL: &str = "https://hooks.example.com/users";

async fn create(env: &Env, body: Value) -> Value {
    let reply = env.post("/api/hooks", body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

/// An environment whose hooks may point at this machine (the local stack's setting).
async fn local_env() -> Env {
    Env::with(|config| config.hooks_allow_local_urls = true).await
}

#[tokio::test]
async fn a_hook_is_created_read_listed_changed_and_deleted_as_in_logto() {
    let env = Env::new().await;
    let hook = create(
        &env,
        json!({"events": ["User.Created", "User.Deleted", "User.Created"], "config": {"url": PUBLIC_URL, "headers": {"x-team": "crm"}}, "unknown": 1}),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    assert_eq!(id.len(), 21);
    assert_eq!(hook["tenantId"], "default");
    assert_eq!(hook["name"], "");
    assert_eq!(hook["event"], Value::Null);
    assert_eq!(hook["events"], json!(["User.Created", "User.Deleted"]));
    assert_eq!(hook["config"], json!({"url": PUBLIC_URL, "headers": {"x-team": "crm"}}));
    assert_eq!(hook["enabled"], true);
    assert_eq!(hook["signingKey"].as_str().unwrap().len(), 32);
    assert!(hook["createdAt"].as_i64().unwrap() > 0);
    assert_eq!(env.get(&format!("/api/hooks/{id}")).await.body, hook);

    let second =
        create(&env, json!({"name": "audit", "event": "User.Data.Updated", "config": {"url": PUBLIC_URL}}))
            .await;
    // A legacy `event` alone is kept as Logto keeps it: `events` stays empty.
    assert_eq!((second["event"].clone(), second["events"].clone()), (json!("User.Data.Updated"), json!([])));
    let cleared =
        env.patch(&format!("/api/hooks/{}", second["id"].as_str().unwrap()), json!({"event": null})).await;
    assert_eq!(cleared.body["event"], Value::Null);
    let all = env.get("/api/hooks").await;
    assert_eq!(all.status, 200);
    assert!(all.header("total-number").is_none(), "unpaged without page parameters");
    let ids: Vec<&str> = all.body.as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    let paged = env.get("/api/hooks?page=2&page_size=1").await;
    assert_eq!(paged.header("total-number"), Some("2"));
    assert_eq!(paged.body.as_array().unwrap().len(), 1);
    assert_eq!(paged.body[0]["id"], ids[1]);

    let patched = env.patch(&format!("/api/hooks/{id}"), json!({"name": "crm", "enabled": false})).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!((patched.body["name"].clone(), patched.body["enabled"].clone()), (json!("crm"), json!(false)));
    assert_eq!(patched.body["signingKey"], hook["signingKey"]);
    assert_eq!(patched.body["config"], hook["config"], "config is kept unless sent");
    let rotated = env.call(Method::PATCH, &format!("/api/hooks/{id}/signing-key"), None).await;
    assert_eq!(rotated.status, 200);
    assert_ne!(rotated.body["signingKey"], hook["signingKey"]);
    assert_eq!(env.get(&format!("/api/hooks/{id}")).await.body["signingKey"], rotated.body["signingKey"]);

    assert_eq!(env.delete(&format!("/api/hooks/{id}")).await.status, 204);
    env.get(&format!("/api/hooks/{id}")).await.assert_error(404, "entity.not_exists_with_id");
    env.delete(&format!("/api/hooks/{id}")).await.assert_error(404, "entity.not_exists_with_id");
    env.patch(&format!("/api/hooks/{id}"), json!({"name": "x"}))
        .await
        .assert_error(404, "entity.not_exists_with_id");
    env.call(Method::PATCH, &format!("/api/hooks/{id}/signing-key"), None)
        .await
        .assert_error(404, "entity.not_exists_with_id");
    let stored = env.get("/api/hooks").await.body;
    assert_eq!(stored.as_array().unwrap().len(), 1, "only the other hook is left");
}

#[tokio::test]
async fn bad_hooks_are_refused_with_logtos_codes() {
    let env = Env::new().await;
    let url = json!({"url": PUBLIC_URL});
    env.post("/api/hooks", json!({"config": url})).await.assert_error(400, "hook.missing_events");
    for events in [json!([]), json!(["PostSignIn"]), json!("User.Created"), json!([1])] {
        env.post("/api/hooks", json!({"events": events, "config": url}))
            .await
            .assert_error(400, "guard.invalid_input");
    }
    env.post("/api/hooks", json!({"events": ["User.Created"]}))
        .await
        .assert_error(400, "guard.invalid_input");
    env.post("/api/hooks", json!({"events": ["User.Created"], "config": {"url": 1}}))
        .await
        .assert_error(400, "guard.invalid_input");
    env.post("/api/hooks", json!({"events": ["User.Created"], "config": url, "enabled": "yes"}))
        .await
        .assert_error(400, "guard.invalid_input");
    for header in ["Host", "Content-Length", "logto-signature-sha-256"] {
        let config = json!({"url": PUBLIC_URL, "headers": {header: "x"}});
        env.post("/api/hooks", json!({"events": ["User.Created"], "config": config}))
            .await
            .assert_error(400, "guard.invalid_input");
    }
    // On AWS: https to public addresses only (a hook must not reach into the network it runs in).
    for url in [
        "http://hooks.example.com/",
        "https://127.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/",
        "https://[::1]/",
        "https://localhost/",
        "https://user:secret@hooks.example.com/",
        "hooks.example.com",
    ] {
        env.post("/api/hooks", json!({"events": ["User.Created"], "config": {"url": url}}))
            .await
            .assert_error(400, "hook.endpoint_not_allowed");
    }
    assert_eq!(env.get("/api/hooks").await.body, json!([]), "nothing was stored");
    let hook = create(&env, json!({"events": ["User.Created"], "config": url})).await;
    let path = format!("/api/hooks/{}", hook["id"].as_str().unwrap());
    env.patch(&path, json!({"config": {"url": "https://192.168.1.1/"}}))
        .await
        .assert_error(400, "hook.endpoint_not_allowed");
    env.patch(&path, json!({"events": []})).await.assert_error(400, "guard.invalid_input");
    // The body is checked before the hook is looked up (Logto's guard comes first).
    env.patch("/api/hooks/nohook", json!({"events": []})).await.assert_error(400, "guard.invalid_input");
    assert_eq!(env.get(&path).await.body, hook, "a refused change changes nothing");
    env.get("/api/hooks?page=0").await.assert_error(400, "guard.invalid_pagination");
}

#[tokio::test]
async fn hooks_scopes_guard_the_routes() {
    let env = Env::new().await;
    let hook = create(&env, json!({"events": ["User.Created"], "config": {"url": PUBLIC_URL}})).await;
    let path = format!("/api/hooks/{}", hook["id"].as_str().unwrap());
    let bearer = |scope: &str| format!("Bearer {}", env.token(scope));
    let read = bearer("hooks:read");
    assert_eq!(env.call_as(Some(&read), Method::GET, &path, None).await.status, 200);
    assert_eq!(env.call_as(Some(&read), Method::GET, "/api/hooks", None).await.status, 200);
    assert_eq!(env.call_as(Some(&read), Method::GET, &format!("{path}/recent-logs"), None).await.status, 200);
    for (method, route) in [
        (Method::POST, "/api/hooks".to_string()),
        (Method::PATCH, path.clone()),
        (Method::DELETE, path.clone()),
        (Method::PATCH, format!("{path}/signing-key")),
        (Method::POST, format!("{path}/test")),
    ] {
        env.call_as(Some(&read), method.clone(), &route, Some(json!({})))
            .await
            .assert_error(403, "auth.forbidden");
        let write = env.call_as(Some(&bearer("hooks:write")), method, &route, Some(json!({}))).await;
        assert_ne!(write.status, 403, "{route}");
    }
    for scope in ["users:read", "users:write", "logs:read"] {
        env.call_as(Some(&bearer(scope)), Method::GET, &path, None).await.assert_error(403, "auth.forbidden");
    }
    env.call_as(None, Method::GET, "/api/hooks", None)
        .await
        .assert_error(401, "auth.authorization_header_missing");
    env.call_as(None, Method::GET, "/api/hooks/nohook/nothing", None)
        .await
        .assert_error(401, "auth.authorization_header_missing");
}

#[tokio::test]
async fn concurrent_changes_to_one_hook_all_take_effect() {
    let env = Env::new().await;
    let hook = create(&env, json!({"events": ["User.Created"], "config": {"url": PUBLIC_URL}})).await;
    let path = format!("/api/hooks/{}", hook["id"].as_str().unwrap());
    let (named, disabled, events) = tokio::join!(
        env.patch(&path, json!({"name": "renamed"})),
        env.patch(&path, json!({"enabled": false})),
        env.patch(&path, json!({"events": ["User.Deleted"]})),
    );
    assert!([named.status, disabled.status, events.status].iter().all(|s| *s == 200));
    let stored = env.get(&path).await.body;
    assert_eq!(stored["name"], "renamed");
    assert_eq!(stored["enabled"], false);
    assert_eq!(stored["events"], json!(["User.Deleted"]));
}

#[tokio::test]
async fn a_test_delivery_is_signed_and_shaped_as_logtos() {
    let env = local_env().await;
    let receiver = Receiver::start().await;
    let hook = create(
        &env,
        json!({"events": ["User.Created", "User.SuspensionStatus.Updated"], "config": {"url": receiver.url, "headers": {"x-team": "crm", "User-Agent": "custom"}}}),
    )
    .await;
    let path = format!("/api/hooks/{}/test", hook["id"].as_str().unwrap());
    let trial = |url: &str| {
        let events = ["User.Created", "User.SuspensionStatus.Updated"];
        Some(
            json!({"events": events, "config": {"url": url, "headers": {"x-team": "crm", "User-Agent": "custom"}}}),
        )
    };
    let reply = env.call(Method::POST, &path, trial(&receiver.url)).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let received = receiver.received();
    assert_eq!(received.len(), 2, "one sample per event");
    let mut events = Vec::new();
    for delivery in &received {
        assert_eq!((delivery.method.as_str(), delivery.path.as_str()), ("POST", "/hooks"));
        assert_eq!(delivery.headers["content-type"], "application/json");
        assert_eq!(delivery.headers["user-agent"], "custom", "custom headers may set the user agent");
        assert_eq!(delivery.headers["x-team"], "crm");
        let key = hook["signingKey"].as_str().unwrap();
        assert_eq!(delivery.headers["logto-signature-sha-256"], signature(key, &delivery.body));
        let body = delivery.json();
        assert_eq!(body["hookId"], hook["id"]);
        for field in ["createdAt", "path", "method", "status", "params", "matchedRoute", "data"] {
            assert!(body.get(field).is_some(), "{field} in {body}");
        }
        assert!(body["data"].get("passwordDigest").is_none());
        events.push(body["event"].as_str().unwrap().to_string());
    }
    events.sort();
    assert_eq!(events, ["User.Created", "User.SuspensionStatus.Updated"]);

    // Both fields are required, as in Logto; the body is checked before the hook is looked up.
    for partial in [json!({}), json!({"events": ["User.Created"]}), json!({"config": {"url": receiver.url}})]
    {
        env.call(Method::POST, &path, Some(partial)).await.assert_error(400, "guard.invalid_input");
    }
    env.call(Method::POST, "/api/hooks/nohook/test", Some(json!({"events": []})))
        .await
        .assert_error(400, "guard.invalid_input");
    // The body may test another endpoint and other events without saving them.
    let other = Receiver::start().await;
    let reply = env
        .call(Method::POST, &path, Some(json!({"events": ["User.Deleted"], "config": {"url": other.url}})))
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(other.received()[0].json()["event"], "User.Deleted");
    assert_eq!(env.get(&format!("/api/hooks/{}", hook["id"].as_str().unwrap())).await.body, hook);

    receiver.answer(500);
    let failed = env.call(Method::POST, &path, trial(&receiver.url)).await;
    failed.assert_error(422, "hook.endpoint_responded_with_error");
    assert_eq!(failed.body["data"]["responseStatus"], 500);
    let closed = format!("http://127.0.0.1:{}/", free_port());
    env.call(Method::POST, &path, trial(&closed)).await.assert_error(422, "hook.send_test_payload_failed");
    env.call(Method::POST, "/api/hooks/nohook/test", trial(&receiver.url))
        .await
        .assert_error(404, "entity.not_exists_with_id");
}

#[tokio::test]
async fn on_aws_a_test_cannot_be_aimed_at_this_machine() {
    let env = Env::new().await;
    let receiver = Receiver::start().await;
    let hook = create(&env, json!({"events": ["User.Created"], "config": {"url": PUBLIC_URL}})).await;
    let path = format!("/api/hooks/{}/test", hook["id"].as_str().unwrap());
    env.call(Method::POST, &path, Some(json!({"events": ["User.Created"], "config": {"url": receiver.url}})))
        .await
        .assert_error(400, "hook.endpoint_not_allowed");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn recent_logs_are_an_empty_page_for_a_hook_without_deliveries() {
    let env = Env::new().await;
    let reply = env.get("/api/hooks/nohook/recent-logs").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!([]));
    assert_eq!(reply.header("total-number"), Some("0"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
