//! The invariant checker finds each kind of broken invariant, and nothing on healthy tables.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use integration_tests::Env;
use shared::store::check::check;

async fn problems(env: &Env) -> Vec<String> {
    check(&env.client, &env.config).await.unwrap().problems
}

#[tokio::test]
async fn healthy_traffic_breaks_nothing_and_each_corruption_is_reported() {
    let env = Env::new().await;
    let user =
        env.create_user(json!({"username": "checked", "primaryEmail": "c@x.io", "password": "pw"})).await;
    let id = user["id"].as_str().unwrap();
    env.patch(&format!("/api/users/{id}"), json!({"name": "n"})).await;
    env.put(&format!("/api/users/{id}/identities/github"), json!({"userId": "g1"})).await;
    env.post(&format!("/api/users/{id}/password/verify"), json!({"password": "nope"})).await;
    let gone = env.create_user(json!({"username": "gone"})).await;
    env.delete(&format!("/api/users/{}", gone["id"].as_str().unwrap())).await;
    assert_eq!(problems(&env).await, Vec::<String>::new());

    let table = &env.config.tables.users;
    let key = |pk: &str| AttributeValue::S(pk.to_string());
    // A guard lost: the user lacks it.
    env.client.delete_item().table_name(table).key("pk", key("email#c@x.io")).send().await.unwrap();
    // An orphan guard.
    env.client
        .put_item()
        .table_name(table)
        .item("pk", key("username#ghost"))
        .item("kind", key("guard"))
        .item("userId", key("nobody000000"))
        .send()
        .await
        .unwrap();
    let add_one = |pk: String, attribute: &str| {
        env.client
            .update_item()
            .table_name(table)
            .key("pk", key(&pk))
            .update_expression("ADD #a :one")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
    };
    // A counter that drifted.
    add_one("counter#users".into(), "count").await.unwrap();
    // A change without its log entry: the version moves, no entry is written.
    add_one(format!("user#{id}"), "version").await.unwrap();

    let found = problems(&env).await;
    let expect = [
        format!("user {id} lacks its guard email#c@x.io"),
        "guard username#ghost points to nobody000000, who does not exist".to_string(),
        "the counter says 2 users, the table holds 1".to_string(),
        format!("user {id} is at version 4 but has 3 change entries"),
    ];
    for problem in &expect {
        assert!(found.contains(problem), "missing {problem:?} in {found:#?}");
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

/// Sends a request, with the admin token, to a users function built with `config`.
async fn send_to(
    env: &Env,
    function: &users::App,
    method: lambda_http::http::Method,
    path: &str,
    body: serde_json::Value,
) -> integration_tests::Reply {
    let mut request = integration_tests::request(method, path, Some(body));
    request.headers_mut().insert("authorization", env.admin_authorization.parse().unwrap());
    integration_tests::Reply::from(function.handle(request).await)
}

fn pks(items: &[std::collections::HashMap<String, AttributeValue>]) -> Vec<String> {
    items.iter().filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned()).collect()
}

#[tokio::test]
async fn guards_are_released_as_recorded_after_the_configuration_changes() {
    use lambda_http::http::Method;
    let env = Env::new().await;
    let alice = env.create_user(json!({"username": "Alice"})).await;
    let carol = env.create_user(json!({"username": "Carol"})).await;
    let (alice, carol) = (alice["id"].as_str().unwrap(), carol["id"].as_str().unwrap());

    // The operator turns on case-insensitive usernames.
    let mut config = env.config.clone();
    config.username_case_sensitive = false;
    let function = users::App::new(&config, env.client.clone()).unwrap();
    // A rename releases exactly the guard written under the old setting.
    let renamed =
        send_to(&env, &function, Method::PATCH, &format!("/api/users/{alice}"), json!({"username": "Bob"}))
            .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);

    // Carol's guard was written case-sensitively: the checker says so, and the repair mends it.
    let report = check(&env.client, &config).await.unwrap();
    assert_eq!(
        report.problems,
        [format!(
            "user {carol} holds guards that no longer match its values: [\"username#Carol\"] instead of [\"username#carol\"]"
        )]
    );
    // And a guard whose owner is gone.
    let table = &env.config.tables.users;
    env.client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S("email#ghost@x.io".into()))
        .item("kind", AttributeValue::S("guard".into()))
        .item("userId", AttributeValue::S("nobody000000".into()))
        .send()
        .await
        .unwrap();
    let repaired = shared::store::check::repair(&env.client, &config).await.unwrap();
    assert_eq!(repaired.len(), 2, "Carol moved, the orphan removed: {repaired:?}");
    assert_eq!(check(&env.client, &config).await.unwrap().problems, Vec::<String>::new());
    let keys = pks(&env.scan_users_table().await);
    for (key, present) in [
        ("username#bob", true),
        ("username#carol", true),
        ("username#Alice", false),
        ("username#Carol", false),
        ("email#ghost@x.io", false),
    ] {
        assert_eq!(keys.iter().any(|k| k == key), present, "{key}: {keys:?}");
    }
    // The repaired guard does its job.
    send_to(&env, &function, Method::POST, "/api/users", json!({"username": "CAROL"}))
        .await
        .assert_error(422, "user.username_already_in_use");
}

#[tokio::test]
async fn a_phone_guard_is_released_by_its_recorded_key_whatever_the_metadata_says_now() {
    let env = Env::new().await;
    let user = env.create_user(json!({"primaryPhone": "61412345678"})).await;
    let id = user["id"].as_str().unwrap();
    // As if the phone metadata had formatted the number otherwise when the user was stored:
    // the guards and the recorded keys carry another spelling than today's.
    let table = &env.config.tables.users;
    let key = |pk: &str| AttributeValue::S(pk.to_string());
    for (today, then) in
        [("phone#61412345678", "phone#61-412345678"), ("phone#610412345678", "phone#61-0412345678")]
    {
        env.client.delete_item().table_name(table).key("pk", key(today)).send().await.unwrap();
        env.client
            .put_item()
            .table_name(table)
            .item("pk", key(then))
            .item("kind", key("guard"))
            .item("userId", key(id))
            .send()
            .await
            .unwrap();
    }
    let recorded = AttributeValue::L(vec![key("phone#61-412345678"), key("phone#61-0412345678")]);
    env.client
        .update_item()
        .table_name(table)
        .key("pk", key(&format!("user#{id}")))
        .update_expression("SET guardKeys = :k")
        .expression_attribute_values(":k", recorded)
        .send()
        .await
        .unwrap();

    let changed = env.patch(&format!("/api/users/{id}"), json!({"primaryPhone": "13102051234"})).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let keys = pks(&env.scan_users_table().await);
    assert!(!keys.iter().any(|k| k.starts_with("phone#61")), "the recorded guards are gone: {keys:?}");
    assert_eq!(problems(&env).await, Vec::<String>::new());
}
