//! User activity logs: every change writes its entry in the same transaction, failures write
//! neither, and `GET /api/logs` filters and pages as Logto does.

use lambda_http::http::Method;
use serde_json::{Value, json};
use std::time::Duration;

use integration_tests::{Env, Reply};

const AGENT: &str = "logs-test/1.0";
const IP: &str = "198.51.100.23";

/// Sends as the admin app, from a known address and user agent.
async fn send(env: &Env, method: Method, path: &str, body: Option<Value>) -> Reply {
    let forwarded = format!("{IP}, 10.0.0.1");
    env.call_with_headers(method, path, body, &[("user-agent", AGENT), ("x-forwarded-for", &forwarded)]).await
}

async fn logs(env: &Env, query: &str) -> Vec<Value> {
    let reply = env.get(&format!("/api/logs?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.body.as_array().unwrap().clone()
}

/// The newest entry for `user_id`, checked for the fields every entry carries.
async fn latest(env: &Env, user_id: &str, key: &str, result: &str) -> Value {
    let entries = logs(env, &format!("userId={user_id}")).await;
    let entry = entries.first().expect("an entry").clone();
    assert_eq!(entry["key"], key, "{entry}");
    assert_eq!(entry["tenantId"], "default");
    assert_eq!(entry["id"].as_str().unwrap().len(), 21);
    let payload = &entry["payload"];
    assert_eq!(payload["key"], key);
    assert_eq!(payload["result"], result);
    assert_eq!(payload["userId"], user_id);
    assert_eq!(payload["applicationId"], "test-app");
    assert_eq!(payload["ip"], IP);
    assert_eq!(payload["userAgent"], AGENT);
    entry
}

#[tokio::test]
async fn every_mutation_writes_its_entry() {
    let env = Env::new().await;
    let created =
        send(&env, Method::POST, "/api/users", Some(json!({"username": "logged", "password": "p1"}))).await;
    assert_eq!(created.status, 200);
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/users/{id}");
    latest(&env, &id, "User.Create", "Success").await;

    let cases: Vec<(Method, String, Value, &str, Value)> = vec![
        (
            Method::PATCH,
            path.clone(),
            json!({"name": "N", "username": "logged"}),
            "User.Update",
            json!(["name"]),
        ),
        (
            Method::PATCH,
            format!("{path}/custom-data"),
            json!({"customData": {"a": 1}}),
            "User.CustomData.Update",
            json!(["customData"]),
        ),
        (
            Method::PATCH,
            format!("{path}/profile"),
            json!({"profile": {"nickname": "n"}}),
            "User.Profile.Update",
            json!(["profile"]),
        ),
        (
            Method::PATCH,
            format!("{path}/is-suspended"),
            json!({"isSuspended": true}),
            "User.SuspensionStatus.Update",
            json!(["isSuspended"]),
        ),
        (
            Method::PUT,
            format!("{path}/identities/github"),
            json!({"userId": "gh-9"}),
            "User.Identity.Upsert",
            json!(["identities"]),
        ),
        (
            Method::DELETE,
            format!("{path}/identities/github"),
            Value::Null,
            "User.Identity.Delete",
            json!(["identities"]),
        ),
        (
            Method::PATCH,
            format!("{path}/password"),
            json!({"password": "p2"}),
            "User.Password.Update",
            json!(["password"]),
        ),
    ];
    for (method, route, body, key, changed) in cases {
        let body = (!body.is_null()).then_some(body);
        let reply = send(&env, method.clone(), &route, body).await;
        assert!(reply.status < 300, "{method} {route}: {}", reply.body);
        let entry = latest(&env, &id, key, "Success").await;
        assert_eq!(entry["payload"]["changedFields"], changed, "{key}");
    }

    let verify = format!("{path}/password/verify");
    assert_eq!(send(&env, Method::POST, &verify, Some(json!({"password": "p2"}))).await.status, 204);
    latest(&env, &id, "User.Password.Verify", "Success").await;
    assert_eq!(send(&env, Method::POST, &verify, Some(json!({"password": "nope"}))).await.status, 422);
    latest(&env, &id, "User.Password.Verify", "Error").await;

    assert_eq!(send(&env, Method::DELETE, &path, None).await.status, 204);
    latest(&env, &id, "User.Delete", "Success").await;
    let kept = logs(&env, &format!("userId={id}")).await;
    assert_eq!(kept.len(), 11, "deleting the user keeps its logs");
}

#[tokio::test]
async fn a_failed_mutation_writes_neither_change_nor_log() {
    let env = Env::new().await;
    env.create_user(json!({"username": "taken"})).await;
    let user = env.create_user(json!({"username": "mover"})).await;
    let id = user["id"].as_str().unwrap();
    let before = logs(&env, &format!("userId={id}")).await;
    env.patch(&format!("/api/users/{id}"), json!({"username": "taken", "name": "x"}))
        .await
        .assert_error(422, "user.username_already_in_use");
    env.patch(&format!("/api/users/{id}"), json!({"primaryPhone": "1"}))
        .await
        .assert_error(422, "user.invalid_phone");
    env.delete(&format!("/api/users/{id}/identities/nothing"))
        .await
        .assert_error(404, "user.identity_not_exist");
    assert_eq!(logs(&env, &format!("userId={id}")).await, before, "no new log");
    assert_eq!(env.get(&format!("/api/users/{id}")).await.body, user, "no change");
    env.post("/api/users", json!({"username": "taken"}))
        .await
        .assert_error(422, "user.username_already_in_use");
    assert_eq!(logs(&env, "logKey=User.Create").await.len(), 2, "the failed create wrote no log");
}

#[tokio::test]
async fn token_issuance_is_logged_with_its_app() {
    let env = Env::new().await;
    let (app, secret) = env.create_app(&["all"]).await;
    let form = format!(
        "grant_type=client_credentials&resource=https%3A%2F%2Fdefault.logto.app%2Fapi&client_id={}&client_secret={secret}",
        app.client_id
    );
    assert_eq!(env.token_request(None, &form).await.status, 200);
    let entries = logs(&env, &format!("applicationId={}", app.client_id)).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["key"], "ExchangeTokenBy.ClientCredentials");
    assert_eq!(entries[0]["payload"]["result"], "Success");
    assert!(entries[0]["payload"].get("userId").is_none());
}

#[tokio::test]
async fn filters_time_windows_and_paging() {
    let env = Env::new().await;
    let a = env.create_user(json!({"username": "a_user"})).await["id"].as_str().unwrap().to_string();
    let b = env.create_user(json!({"username": "b_user"})).await["id"].as_str().unwrap().to_string();
    for i in 0..3 {
        env.patch(&format!("/api/users/{a}"), json!({"name": format!("a{i}")})).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    env.patch(&format!("/api/users/{b}"), json!({"name": "b"})).await;

    let for_a = logs(&env, &format!("userId={a}")).await;
    assert_eq!(for_a.len(), 4);
    let times: Vec<i64> = for_a.iter().map(|e| e["createdAt"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    assert_eq!(logs(&env, &format!("userId={a}&logKey=User.Update")).await.len(), 3);
    assert_eq!(logs(&env, "logKey=User.Create").await.len(), 2);
    assert_eq!(logs(&env, "applicationId=test-app").await.len(), 6);
    assert_eq!(logs(&env, "applicationId=someone-else").await.len(), 0);
    assert_eq!(logs(&env, "logKey=Interaction.SignIn.Submit").await.len(), 0);
    assert_eq!(logs(&env, "userId=").await.len(), 6, "empty is no filter");

    // Inclusive at both ends, to the millisecond.
    let (newest, oldest) = (times[0], times[3]);
    assert_eq!(logs(&env, &format!("userId={a}&start_time={oldest}&end_time={newest}")).await.len(), 4);
    assert_eq!(logs(&env, &format!("userId={a}&start_time={}", oldest + 1)).await.len(), 3);
    assert_eq!(logs(&env, &format!("userId={a}&end_time={}", newest - 1)).await.len(), 3);
    let same = logs(&env, &format!("userId={a}&start_time={newest}&end_time={newest}")).await;
    assert!(!same.is_empty(), "start == end is a 1 ms window");
    // Without a user filter the window is served by the time index: a's four and b's create.
    assert_eq!(logs(&env, &format!("start_time={oldest}&end_time={newest}")).await.len(), 5);

    env.get("/api/logs?start_time=abc").await.assert_error(400, "guard.invalid_input");
    let nan = env.get("/api/logs?end_time=NaN").await;
    nan.assert_error(400, "guard.invalid_input");
    assert_eq!(nan.body["message"], "The request end_time is invalid.");
    let window = env.get(&format!("/api/logs?start_time={newest}&end_time={oldest}")).await;
    window.assert_error(400, "log.invalid_time_window");
    assert_eq!(window.body["message"], "`end_time` must be after `start_time`.");

    let page = env.get(&format!("/api/logs?userId={a}&page_size=3&page=2")).await;
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    assert_eq!(page.header("total-number"), Some("4"));
    assert!(page.links().iter().any(|l| l.contains("rel=\"prev\"")));
    env.get("/api/logs?page_size=101").await.assert_error(400, "guard.invalid_pagination");
}

#[tokio::test]
async fn enable_cap_saturates_the_count_and_hides_last() {
    let mut env = Env::new().await;
    let config = env.config.clone();
    env.functions.logs = logs::App::new(&config, env.client.clone()).unwrap().with_count_cap(3);
    let id = env.create_user(json!({})).await["id"].as_str().unwrap().to_string();
    for i in 0..4 {
        env.patch(&format!("/api/users/{id}"), json!({"name": format!("n{i}")})).await;
    }
    let uncapped = env.get(&format!("/api/logs?userId={id}&page_size=2")).await;
    assert_eq!(uncapped.header("total-number"), Some("5"));
    assert_eq!(uncapped.header("total-number-is-capped"), None);
    let capped = env.get(&format!("/api/logs?userId={id}&page_size=2&enableCap=true")).await;
    assert_eq!(capped.header("total-number"), Some("4"), "saturates at cap + 1");
    assert_eq!(capped.header("total-number-is-capped"), Some("true"));
    let rels = capped.links().join(" ");
    assert!(
        rels.contains("rel=\"first\"") && !rels.contains("rel=\"last\"") && !rels.contains("rel=\"next\""),
        "{rels}"
    );
    let under = env.get(&format!("/api/logs?userId={id}&logKey=User.Create&enableCap=1")).await;
    assert_eq!((under.header("total-number"), under.header("total-number-is-capped")), (Some("1"), None));
}

#[tokio::test]
async fn get_one_log() {
    let env = Env::new().await;
    let id = env.create_user(json!({})).await["id"].as_str().unwrap().to_string();
    let entry = logs(&env, &format!("userId={id}")).await[0].clone();
    let got = env.get(&format!("/api/logs/{}", entry["id"].as_str().unwrap())).await;
    assert_eq!((got.status, &got.body), (200, &entry));
    let missing = env.get("/api/logs/nosuchlog000000000000").await;
    missing.assert_error(404, "entity.not_exists_with_id");
    assert_eq!(missing.body["message"], "The logs with ID `nosuchlog000000000000` does not exist.");
}

#[tokio::test]
async fn log_items_expire_by_ttl() {
    let env = Env::with(|c| c.log_retention_days = 7).await;
    env.create_user(json!({})).await;
    let items = env.client.scan().table_name(&env.config.tables.logs).send().await.unwrap().items.unwrap();
    let item = &items[0];
    let created: i64 = item["createdAt"].as_n().unwrap().parse().unwrap();
    let expires: i64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires, created / 1000 + 7 * 86_400);
}

#[tokio::test]
async fn entries_record_the_clients_user_agent_whatever_the_gateway_says() {
    use lambda_http::RequestExt;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;

    let env = Env::new().await;
    // As `cargo lambda watch` builds the context: its own name as the user agent.
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(IP.into());
    context.http.user_agent = Some("cargo-lambda".into());
    let mut request = integration_tests::request(Method::POST, "/api/users", Some(json!({"name": "ua"})));
    request.headers_mut().insert("authorization", env.admin_authorization.parse().unwrap());
    request.headers_mut().insert("user-agent", AGENT.parse().unwrap());
    let reply = env.send(request.with_request_context(RequestContext::ApiGatewayV2(context))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let entry = latest(&env, reply.body["id"].as_str().unwrap(), "User.Create", "Success").await;
    assert_eq!(entry["payload"]["userAgent"], AGENT, "the client's, not the gateway's");
}
