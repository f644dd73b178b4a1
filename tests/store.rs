//! The shared crate against the emulator, through aws-sdk-dynamodb: items round-trip, a failed
//! transaction names the write whose condition failed, and a dead endpoint fails fast.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use integration_tests::Env;
use shared::domain::User;
use shared::domain::log::{LogEntry, LogKey, Origin};
use shared::store::user_store::UserStore;
use shared::store::{DynamoUsers, Expression, StoreError, Transaction};

fn item(pk: &str, extra: &[(&str, &str)]) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([("pk".to_string(), AttributeValue::S(pk.into()))]);
    for (k, v) in extra {
        item.insert(k.to_string(), AttributeValue::S(v.to_string()));
    }
    item
}

#[tokio::test]
async fn a_user_round_trips_through_put_and_get() {
    let env = Env::new().await;
    let store = DynamoUsers::new(env.client.clone(), &env.config);
    let mut user = User::new("abcdef123456".into(), 1_700_000_000_000);
    user.username = Some("round_trip".into());
    user.custom_data = serde_json::json!({ "nested": { "n": 1.5, "list": [null, true, "x"] }, "empty": {} })
        .as_object()
        .unwrap()
        .clone();
    let log = LogEntry::new(LogKey::UserCreate, true, Some(&user.id), &Origin::default());
    store.commit(None, Some(&user), &log).await.expect("create commits");
    let loaded = store.get("abcdef123456").await.unwrap().expect("the user is there");
    // Read back with the guard keys it was stored with.
    assert_eq!(loaded, User { stored_guards: Some(vec!["username#round_trip".into()]), ..user });
    assert_eq!(store.count().await.unwrap(), 1);
    assert!(store.get("nobody000000").await.unwrap().is_none());
}

#[tokio::test]
async fn a_failed_transaction_names_the_failed_write() {
    let env = Env::new().await;
    let table = &env.config.tables.users;
    let mut first = Transaction::new();
    first.put("seed", table, item("taken", &[("userId", "a")]), Some(Expression::absent("pk")));
    first.commit(&env.client).await.expect("seed commits");

    let mut tx = Transaction::new();
    tx.put("fresh", table, item("fresh", &[]), Some(Expression::absent("pk")));
    tx.put("guard:email", table, item("taken", &[("userId", "b")]), Some(Expression::absent("pk")));
    let err = tx.commit(&env.client).await.expect_err("the second put's condition fails");
    assert_eq!(err, StoreError::ConditionFailed { items: vec!["guard:email"] });

    // Nothing of the cancelled transaction was written.
    let fresh = env
        .client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("fresh".into()))
        .send()
        .await
        .unwrap();
    assert!(fresh.item.is_none(), "a cancelled transaction writes nothing");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_typed_error_within_three_seconds() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = shared::aws::Aws::tools_default().await.dynamodb_at(&format!("http://127.0.0.1:{port}"));
    let config = shared::Config::for_tables(shared::config::TableNames::with_prefix("unreachable"));
    let store = DynamoUsers::new(client, &config);
    let started = Instant::now();
    let err = store.get("abcdef123456").await.expect_err("nobody answers");
    let elapsed = started.elapsed();
    assert!(matches!(err, StoreError::Unreachable(_)), "{err:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    // And the service turns it into 503 service.unavailable.
    let api_error: shared::Error = err.into();
    assert_eq!(api_error.parts().status, 503);
    assert_eq!(api_error.parts().code, "service.unavailable");
}

#[tokio::test]
async fn table_setup_is_idempotent() {
    let env = Env::new().await;
    let again = shared::store::schema::ensure_tables(&env.client, &env.config.tables).await.unwrap();
    assert!(again.is_empty(), "nothing to create the second time: {again:?}");
}

#[tokio::test]
async fn seeded_users_are_stored_as_creates_store_them() {
    let env = Env::new().await;
    let store = DynamoUsers::new(env.client.clone(), &env.config);
    let users: Vec<User> = (0..30)
        .map(|i| {
            let mut user = User::new(format!("seed{i:08}"), 1_700_000_000_000 + i);
            user.username = Some(format!("Seeded{i}"));
            user.primary_email = Some(format!("seed{i}@example.com"));
            user.primary_phone = Some(format!("86138{i:08}"));
            user
        })
        .collect();
    // 30 users with 4 guards each: more than one batch of 25.
    store.seed(&users).await.expect("users are seeded");

    assert_eq!(store.count().await.unwrap(), 30);
    let loaded = store.get("seed00000007").await.unwrap().expect("the user is there");
    let guards = loaded.stored_guards.clone().expect("the guard keys are recorded");
    assert_eq!(guards.len(), 4, "username, email and both phone forms: {guards:?}");
    assert_eq!(loaded, User { stored_guards: Some(guards), ..users[7].clone() });
    // Every guard is in place: the same identifier is taken for a create.
    let taken = env
        .call(
            lambda_http::http::Method::POST,
            "/api/users",
            Some(serde_json::json!({ "username": "Seeded3" })),
        )
        .await;
    assert_eq!(taken.status, 422, "{}", taken.body);
    assert_eq!(taken.body["code"], "user.username_already_in_use");
    env.assert_invariants().await;
}
