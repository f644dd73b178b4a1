//! Concurrent writers racing for one identifier: exactly one wins, the rest get the 422 a
//! sequential caller would, and the table is left consistent.

use serde_json::json;
use std::sync::Arc;

use integration_tests::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_with_one_email() {
    let env = Arc::new(Env::new().await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let env = env.clone();
            tokio::spawn(async move {
                env.post("/api/users", json!({"primaryEmail": "race@x.io", "name": format!("racer {i}")}))
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            200 => created += 1,
            _ => reply.assert_error(422, "user.email_already_in_use"),
        }
    }
    assert_eq!(created, 1);
    let list = env.get("/api/users").await;
    assert_eq!(list.header("total-number"), Some("1"));
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_patches_to_one_username() {
    let env = Arc::new(Env::new().await);
    let mut ids = Vec::new();
    for i in 0..20 {
        let user = env.create_user(json!({"username": format!("before_{i}")})).await;
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let env = env.clone();
            let path = format!("/api/users/{id}");
            tokio::spawn(async move { env.patch(&path, json!({"username": "the_one"})).await })
        })
        .collect();
    let mut moved = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            200 => moved += 1,
            _ => reply.assert_error(422, "user.username_already_in_use"),
        }
    }
    assert_eq!(moved, 1);
    env.assert_invariants().await;
    // The losers kept their old usernames and guards.
    let found = env.get("/api/users?search.username=before_%25").await;
    assert_eq!(found.header("total-number"), Some("19"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_to_one_user_are_all_applied() {
    let env = Arc::new(Env::new().await);
    let user = env.create_user(json!({"customData": {}})).await;
    let path = format!("/api/users/{}/custom-data", user["id"].as_str().unwrap());
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let env = env.clone();
            let path = path.clone();
            tokio::spawn(async move { env.patch(&path, json!({"customData": {format!("k{i}"): i}})).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().status, 200);
    }
    let data = env.get(&path).await.body;
    assert_eq!(data.as_object().unwrap().len(), 10, "no lost update: {data}");
    env.assert_invariants().await;
}
