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
