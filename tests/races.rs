//! Concurrent writers racing for one identifier: exactly one wins, the rest get the 422 a
//! sequential caller would, and the table is left consistent.

use serde_json::json;
use std::sync::Arc;

use integration_tests::Env;

/// moto serves one request at a time (see scripts/moto_server.py), so a hundred racers all in
/// flight would queue past the SDK's one-second attempt timeout and measure the emulator, not
/// the code. The race tests take turns, and each keeps a dozen writers in flight at once:
/// still true races, each one queued behind at most eleven others.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const IN_FLIGHT: usize = 12;

fn in_flight() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_with_one_email() {
    concurrent_creates_with_one_email(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_creates_with_one_email() {
    concurrent_creates_with_one_email(100).await;
}

async fn concurrent_creates_with_one_email(racers: usize) {
    let _turn = TURN.lock().await;
    let env = Arc::new(Env::new().await);
    let slots = in_flight();
    let tasks: Vec<_> = (0..racers)
        .map(|i| {
            let (env, slots) = (env.clone(), slots.clone());
            tokio::spawn(async move {
                let _slot = slots.acquire().await.unwrap();
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
    concurrent_patches_to_one_username(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_patches_to_one_username() {
    concurrent_patches_to_one_username(50).await;
}

async fn concurrent_patches_to_one_username(racers: usize) {
    let _turn = TURN.lock().await;
    let env = Arc::new(Env::new().await);
    let slots = in_flight();
    let mut ids = Vec::new();
    for i in 0..racers {
        let user = env.create_user(json!({"username": format!("before_{i}")})).await;
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (env, slots) = (env.clone(), slots.clone());
            let path = format!("/api/users/{id}");
            tokio::spawn(async move {
                let _slot = slots.acquire().await.unwrap();
                env.patch(&path, json!({"username": "the_one"})).await
            })
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
    assert_eq!(found.header("total-number"), Some((racers - 1).to_string().as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_to_one_user_are_all_applied() {
    let _turn = TURN.lock().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_racing_an_update_and_an_identity_link() {
    let _turn = TURN.lock().await;
    let env = Arc::new(Env::new().await);
    for round in 0..10 {
        let user = env.create_user(json!({"username": format!("doomed_{round}")})).await;
        let path = format!("/api/users/{}", user["id"].as_str().unwrap());
        let identity = format!("{path}/identities/github");
        let (delete, patch, link) = tokio::join!(
            env.delete(&path),
            env.patch(&path, json!({"name": "late"})),
            env.put(&identity, json!({"userId": format!("gh-{round}")})),
        );
        assert_eq!(delete.status, 204, "{}", delete.body);
        assert!(matches!(patch.status, 200 | 404), "{}", patch.body);
        assert!(matches!(link.status, 200 | 201 | 404), "{}", link.body);
        env.get(&path).await.assert_error(404, "entity.not_found");
    }
    // Whatever interleaving won, no guard outlived its user and no change lacks its log.
    env.assert_invariants().await;
    for round in 0..10 {
        let again = env.create_user(json!({"username": format!("doomed_{round}")})).await;
        let path = format!("/api/users/{}/identities/github", again["id"].as_str().unwrap());
        assert_eq!(
            env.put(&path, json!({"userId": format!("gh-{round}")})).await.status,
            201,
            "identity freed"
        );
    }
}
