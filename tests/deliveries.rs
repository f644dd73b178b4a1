//! Webhook deliveries from the logs table's stream: one user's life reaches a receiver on this
//! machine as Logto's four events, in order, signed; hooks get only their events; disabled hooks
//! nothing; a failing receiver is retried (through the partial batch answer) without sending the
//! others again, and every attempt is in the hook's recent logs.
//!
//! The stream is replayed from the logs table's items in the shape Lambda hands them over (the
//! local stack's poller reads moto's real stream: tests/stack/checks.sh).

use lambda_http::http::Method;
use serde_json::{Value, json};

use hooks::delivery::{BatchResponse, Deliveries, trigger_keys};
use integration_tests::Env;
use integration_tests::receiver::Receiver;
use shared::domain::hook::signature;

async fn local_env() -> Env {
    Env::with(|config| config.hooks_allow_local_urls = true).await
}

async fn hook(env: &Env, events: &[&str], url: &str) -> Value {
    let reply = env.post("/api/hooks", json!({"events": events, "config": {"url": url}})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

#[tokio::test]
async fn one_users_life_arrives_in_order_signed_and_shaped_as_logtos() {
    let env = local_env().await;
    let everything = Receiver::start().await;
    let deletions = Receiver::start().await;
    let disabled = Receiver::start().await;
    let all = hook(
        &env,
        &["User.Created", "User.Data.Updated", "User.SuspensionStatus.Updated", "User.Deleted"],
        &everything.url,
    )
    .await;
    hook(&env, &["User.Deleted"], &deletions.url).await;
    let off = hook(&env, &["User.Created"], &disabled.url).await;
    env.patch(&format!("/api/hooks/{}", off["id"].as_str().unwrap()), json!({"enabled": false})).await;

    let user = env
        .create_user(json!({"username": "lifecycle", "primaryEmail": "life@example.com", "password": "pw"}))
        .await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(env.patch(&format!("/api/users/{id}"), json!({"name": "Life"})).await.status, 200);
    assert_eq!(
        env.patch(&format!("/api/users/{id}/is-suspended"), json!({"isSuspended": true})).await.status,
        200
    );
    let verify = env.post(&format!("/api/users/{id}/password/verify"), json!({"password": "wrong"})).await;
    assert_eq!(verify.status, 422, "a failed verify is logged but is no event");
    let deliveries = Deliveries::new(&env.config, env.client.clone()).unwrap();
    let (event, last) = env.log_stream_since("").await;
    assert_eq!(deliveries.handle(event).await.unwrap(), BatchResponse::default());
    assert_eq!(env.delete(&format!("/api/users/{id}")).await.status, 204);
    let (event, _) = env.log_stream_since(&last).await;
    assert_eq!(deliveries.handle(event).await.unwrap(), BatchResponse::default());

    let received = everything.received();
    let events: Vec<String> =
        received.iter().map(|r| r.json()["event"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        events,
        ["User.Created", "User.Data.Updated", "User.SuspensionStatus.Updated", "User.Deleted"]
    );
    let key = all["signingKey"].as_str().unwrap();
    for (delivery, (method, path, route, status)) in received.iter().zip([
        ("POST", "/users".to_string(), "/users", 200),
        ("PATCH", format!("/users/{id}"), "/users/:userId", 200),
        ("PATCH", format!("/users/{id}/is-suspended"), "/users/:userId/is-suspended", 200),
        ("DELETE", format!("/users/{id}"), "/users/:userId", 204),
    ]) {
        assert_eq!(delivery.headers["logto-signature-sha-256"], signature(key, &delivery.body));
        assert_eq!(delivery.headers["content-type"], "application/json");
        assert_eq!(delivery.headers["user-agent"], "Logto (https://logto.io/)");
        let body = delivery.json();
        assert_eq!(body["hookId"], all["id"]);
        assert_eq!(
            delivery.headers["webhook-id"],
            body["deliveryId"].as_str().unwrap(),
            "the change's id, signed too"
        );
        assert_eq!(
            (body["method"].as_str().unwrap(), body["path"].as_str().unwrap()),
            (method, path.as_str())
        );
        assert_eq!(
            (body["matchedRoute"].as_str().unwrap(), body["status"].as_u64().unwrap()),
            (route, status)
        );
        let params = if method == "POST" { json!({}) } else { json!({"userId": id}) };
        assert_eq!(body["params"], params);
        assert!(body["createdAt"].as_str().unwrap().ends_with('Z'), "ISO time: {body}");
        assert!(body.get("userAgent").is_some() && body.get("ip").is_some());
        assert!(body["data"].get("passwordDigest").is_none());
        assert_eq!(body["data"]["id"], id);
    }
    let created = received[0].json();
    assert_eq!(created["data"]["hasPassword"], true, "the user as the API shows it");
    assert_eq!(created["data"]["primaryEmail"], "life@example.com");
    assert_eq!(received[2].json()["data"]["isSuspended"], true);
    assert_eq!(received[3].json()["data"], json!({"id": id}), "no copy of a deleted user's fields is kept");
    let deleted: Vec<String> =
        deletions.received().iter().map(|r| r.json()["event"].as_str().unwrap().to_string()).collect();
    assert_eq!(deleted, ["User.Deleted"], "a hook gets only its events");
    assert!(disabled.received().is_empty(), "a disabled hook gets nothing");

    // Each delivery is in the hook's recent logs and in the activity log.
    let recent = env.get(&format!("/api/hooks/{}/recent-logs", all["id"].as_str().unwrap())).await;
    assert_eq!(recent.header("total-number"), Some("4"));
    let keys: Vec<&str> =
        recent.body.as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "TriggerHook.User.Deleted",
            "TriggerHook.User.SuspensionStatus.Updated",
            "TriggerHook.User.Data.Updated",
            "TriggerHook.User.Created"
        ]
    );
    let newest = &recent.body[0]["payload"];
    assert_eq!(
        (newest["result"].as_str(), newest["response"]["statusCode"].as_u64()),
        (Some("Success"), Some(200))
    );
    assert_eq!(newest["userId"], id);
    assert!(newest["deliveryId"].as_str().is_some() && newest["durationMs"].as_u64().is_some());
    let by_key = env.get(&format!("/api/logs?logKey=TriggerHook.User.Deleted&userId={id}")).await;
    assert_eq!(by_key.header("total-number"), Some("2"), "one per hook that took it");

    // A redelivered batch (Lambda retries) sends nothing twice: every hook already took it.
    let (again, _) = env.log_stream_since("").await;
    assert_eq!(deliveries.handle(again).await.unwrap(), BatchResponse::default());
    assert_eq!(everything.received().len(), 4);
    let attempts = env.get("/api/logs?logKey=TriggerHook.User.Deleted").await;
    assert_eq!(attempts.header("total-number"), Some("2"), "no new attempt was made");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_without_holding_back_or_resending_to_the_others() {
    let env = local_env().await;
    let healthy = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.answer(500);
    hook(&env, &["User.Created", "User.Data.Updated"], &healthy.url).await;
    let broken = hook(&env, &["User.Created"], &failing.url).await;
    let first = env.create_user(json!({"username": "first"})).await;
    env.create_user(json!({"username": "second"})).await;
    env.patch(&format!("/api/users/{}", first["id"].as_str().unwrap()), json!({"name": "F"})).await;

    let deliveries = Deliveries::new(&env.config, env.client.clone()).unwrap();
    let (event, _) = env.log_stream_since("").await;
    let sequences: Vec<String> = event.records.iter().map(|r| r.dynamodb.sequence_number.clone()).collect();
    let answer = deliveries.handle(event).await.unwrap();
    assert_eq!(answer.batch_item_failures.len(), 1);
    assert_eq!(
        answer.batch_item_failures[0].item_identifier, sequences[0],
        "retry from the first record not delivered"
    );
    // The healthy hook got everything at once: only the failing hook's lane stopped.
    // (Lanes run side by side: no order between users.)
    let mut healthy_events: Vec<(String, String)> = healthy
        .received()
        .iter()
        .map(|r| {
            (
                r.json()["event"].as_str().unwrap().to_string(),
                r.json()["data"]["username"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    healthy_events.sort();
    assert_eq!(
        healthy_events,
        [
            ("User.Created".into(), "first".into()),
            ("User.Created".into(), "second".into()),
            ("User.Data.Updated".into(), "first".into())
        ]
    );

    // Lambda retries from that record: the healthy hook is not sent what it took already.
    failing.answer(204);
    let (retry, _) = env.log_stream_since("").await;
    assert_eq!(deliveries.handle(retry).await.unwrap(), BatchResponse::default());
    assert_eq!(healthy.received().len(), 3, "nothing was sent twice");
    assert_eq!(failing.received().len(), 4, "first: refused, then taken; second: refused, then taken");

    let recent = env.get(&format!("/api/hooks/{}/recent-logs", broken["id"].as_str().unwrap())).await;
    let results: Vec<&str> =
        recent.body.as_array().unwrap().iter().map(|e| e["payload"]["result"].as_str().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| **r == "Error").count(), 2);
    assert_eq!(results.iter().filter(|r| **r == "Success").count(), 2);
    let stats =
        env.get(&format!("/api/hooks/{}?includeExecutionStats=true", broken["id"].as_str().unwrap())).await;
    assert_eq!(stats.body["executionStats"], json!({"successCount": 2, "requestCount": 4}));
    let listed = env.get("/api/hooks?includeExecutionStats=1").await;
    assert!(
        listed.body.as_array().unwrap().iter().all(|hook| hook["executionStats"]["requestCount"].is_u64())
    );
    assert!(env.get("/api/hooks").await.body[0].get("executionStats").is_none(), "only when asked");
    let failed = recent.body.as_array().unwrap().iter().find(|e| e["payload"]["result"] == "Error").unwrap();
    assert_eq!(failed["payload"]["response"]["statusCode"], 500);
    let only_errors = env
        .call(
            Method::GET,
            &format!(
                "/api/hooks/{}/recent-logs?logKey=TriggerHook.User.Created&page_size=1",
                broken["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(only_errors.header("total-number"), Some("4"));
    assert_eq!(only_errors.body.as_array().unwrap().len(), 1);
}

#[test]
fn the_templates_stream_filter_names_exactly_the_trigger_keys() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let template: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let mapping =
        &template["Resources"]["HookDeliveriesFunction"]["Properties"]["Events"]["LogStream"]["Properties"];
    let pattern: Value =
        serde_json::from_str(mapping["FilterCriteria"]["Filters"][0]["Pattern"].as_str().unwrap()).unwrap();
    let mut keys: Vec<&str> = pattern["dynamodb"]["NewImage"]["key"]["S"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let mut expected = trigger_keys();
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(pattern["eventName"], json!(["INSERT"]));
    assert_eq!(mapping["BisectBatchOnFunctionError"], true);
    assert_eq!(mapping["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    assert!(mapping["MaximumRetryAttempts"].as_u64().is_some_and(|n| n > 0 && n <= 10));
    assert!(mapping["DestinationConfig"]["OnFailure"]["Destination"].is_tagged_or_string());
}

trait TaggedOrString {
    fn is_tagged_or_string(&self) -> bool;
}

impl TaggedOrString for serde_norway::Value {
    fn is_tagged_or_string(&self) -> bool {
        matches!(self, serde_norway::Value::Tagged(_) | serde_norway::Value::String(_))
    }
}

#[tokio::test]
async fn a_hook_gets_only_the_changes_made_once_it_exists() {
    let env = local_env().await;
    let receiver = Receiver::start().await;
    env.create_user(json!({"username": "before_the_hook"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    hook(&env, &["User.Created"], &receiver.url).await;
    let (event, _) = env.log_stream_since("").await;
    let deliveries = Deliveries::new(&env.config, env.client.clone()).unwrap();
    assert_eq!(deliveries.handle(event).await.unwrap(), BatchResponse::default());
    assert!(receiver.received().is_empty(), "the change was made before the hook existed");
    env.create_user(json!({"username": "after_the_hook"})).await;
    let (event, _) = env.log_stream_since("").await;
    deliveries.handle(event).await.unwrap();
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(receiver.received()[0].json()["data"]["username"], "after_the_hook");
}
