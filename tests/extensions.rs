//! Beyond Logto (compatibility §6): ETag / If-Match, Idempotency-Key, and the verify lockout.

use lambda_http::http::Method;
use serde_json::{Value, json};
use std::sync::Arc;

use integration_tests::{Env, Reply};

async fn with_headers(
    env: &Env,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&'static str, &str)],
) -> Reply {
    env.call_with_headers(method, path, body, headers).await
}

#[tokio::test]
async fn user_responses_carry_an_etag_that_every_change_bumps() {
    let env = Env::new().await;
    let created = env.post("/api/users", json!({"username": "tagged"})).await;
    assert_eq!(created.header("etag"), Some("\"1\""));
    let path = format!("/api/users/{}", created.body["id"].as_str().unwrap());
    assert_eq!(env.get(&path).await.header("etag"), Some("\"1\""));
    let patched =
        with_headers(&env, Method::PATCH, &path, Some(json!({"name": "a"})), &[("if-match", "\"1\"")]).await;
    assert_eq!((patched.status, patched.header("etag")), (200, Some("\"2\"")));
    let suspended = env.patch(&format!("{path}/is-suspended"), json!({"isSuspended": true})).await;
    assert_eq!(suspended.header("etag"), Some("\"3\""));
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let env = Env::new().await;
    let user = env.create_user(json!({"username": "stale", "password": "pw"})).await;
    let path = format!("/api/users/{}", user["id"].as_str().unwrap());
    env.patch(&path, json!({"name": "moved on"})).await; // now at version 2
    let stale = [("if-match", "\"1\"")];
    for (method, route, body) in [
        (Method::PATCH, path.clone(), Some(json!({"name": "lost update"}))),
        (Method::PATCH, format!("{path}/is-suspended"), Some(json!({"isSuspended": true}))),
        (Method::PATCH, format!("{path}/password"), Some(json!({"password": "x"}))),
        (Method::POST, format!("{path}/password/verify"), Some(json!({"password": "pw"}))),
        (Method::DELETE, path.clone(), None),
    ] {
        let reply = with_headers(&env, method.clone(), &route, body, &stale).await;
        reply.assert_error(412, "request.precondition_failed");
    }
    let weak =
        with_headers(&env, Method::PATCH, &path, Some(json!({"name": "weak"})), &[("if-match", "W/\"2\"")])
            .await;
    weak.assert_error(412, "request.precondition_failed");
    let now = env.get(&path).await;
    assert_eq!(
        (now.body["name"].as_str(), now.body["isSuspended"].as_bool()),
        (Some("moved on"), Some(false))
    );
    let any =
        with_headers(&env, Method::PATCH, &path, Some(json!({"name": "any"})), &[("if-match", "*")]).await;
    assert_eq!(any.status, 200);
    let listed = with_headers(&env, Method::DELETE, &path, None, &[("if-match", "\"9\", \"3\"")]).await;
    assert_eq!(listed.status, 204, "one of the listed tags matches");
}

#[tokio::test]
async fn an_idempotency_key_creates_once_and_answers_the_same() {
    let env = Env::new().await;
    let body = json!({"username": "once", "primaryEmail": "once@x.io"});
    let key = [("idempotency-key", "create-once-1")];
    let first = with_headers(&env, Method::POST, "/api/users", Some(body.clone()), &key).await;
    assert_eq!(first.status, 200);
    // The same content, spelled differently, is the same request.
    let reordered = json!({"primaryEmail": "once@x.io", "username": "once"});
    let again = with_headers(&env, Method::POST, "/api/users", Some(reordered), &key).await;
    assert_eq!((again.status, &again.body), (200, &first.body));
    assert_eq!(again.header("etag"), first.header("etag"));
    let other =
        with_headers(&env, Method::POST, "/api/users", Some(json!({"username": "other"})), &key).await;
    other.assert_error(422, "request.idempotency_key_reused");
    assert_eq!(env.get("/api/users").await.header("total-number"), Some("1"));
    with_headers(&env, Method::POST, "/api/users", Some(json!({})), &[("idempotency-key", "")])
        .await
        .assert_error(400, "guard.invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_with_one_key_create_once() {
    let env = Arc::new(Env::new().await);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let env = env.clone();
            tokio::spawn(async move {
                let body = json!({"username": "racer", "primaryEmail": "racer@x.io"});
                with_headers(&env, Method::POST, "/api/users", Some(body), &[("idempotency-key", "race-key")])
                    .await
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        ids.insert(reply.body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "every answer is the one user");
    assert_eq!(env.get("/api/users").await.header("total-number"), Some("1"));
    env.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_wrong_verifies_lock_after_five() {
    let env = Arc::new(Env::new().await);
    let user = env.create_user(json!({"password": "right"})).await;
    let verify = format!("/api/users/{}/password/verify", user["id"].as_str().unwrap());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (env, verify) = (env.clone(), verify.clone());
            tokio::spawn(async move { env.post(&verify, json!({"password": "wrong"})).await })
        })
        .collect();
    let (mut wrong, mut locked) = (0, 0);
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            422 => wrong += 1,
            429 => {
                reply.assert_error(429, "user.password_verify_locked");
                let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=3600).contains(&retry), "{retry}");
                locked += 1;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!((wrong, locked), (5, 15));
    // Locked even for the right password, until a reset.
    env.post(&verify, json!({"password": "right"})).await.assert_error(429, "user.password_verify_locked");
    let logs = env
        .get(&format!("/api/logs?userId={}&logKey=User.Password.Verify", user["id"].as_str().unwrap()))
        .await;
    let errors: Vec<&str> =
        logs.body.as_array().unwrap().iter().filter_map(|e| e["payload"]["error"].as_str()).collect();
    assert_eq!(
        errors.iter().filter(|e| **e == "user.password_verify_locked").count(),
        16,
        "lockouts are logged"
    );
    env.patch(&verify.replace("/verify", ""), json!({"password": "new"})).await;
    assert_eq!(env.post(&verify, json!({"password": "new"})).await.status, 204, "a reset clears the lockout");
}

#[tokio::test]
async fn a_success_clears_the_failures_and_the_limit_is_configurable() {
    let env = Env::with(|c| c.lockout.max_failures = 2).await;
    let user = env.create_user(json!({"password": "right"})).await;
    let verify = format!("/api/users/{}/password/verify", user["id"].as_str().unwrap());
    env.post(&verify, json!({"password": "wrong"})).await.assert_error(422, "session.invalid_credentials");
    assert_eq!(env.post(&verify, json!({"password": "right"})).await.status, 204);
    env.post(&verify, json!({"password": "wrong"})).await.assert_error(422, "session.invalid_credentials");
    env.post(&verify, json!({"password": "wrong"})).await.assert_error(422, "session.invalid_credentials");
    env.post(&verify, json!({"password": "wrong"})).await.assert_error(429, "user.password_verify_locked");
}

#[tokio::test]
async fn a_success_forgets_only_the_attempts_reserved_before_it() {
    use shared::config::Lockout;
    use shared::domain::log::{LogEntry, LogKey, Origin};
    use shared::store::user_store::{Attempt, UserStore};

    let env = Env::new().await;
    let store = env.functions.users.service.store();
    let lockout = Lockout { max_failures: 5, window_secs: 3600 };
    let now = shared::domain::now_ms();
    let reserve = |user: &'static str| store.reserve_attempt(user, lockout, now);
    let success = |reservation| async move {
        let entry = LogEntry::new(LogKey::UserPasswordVerify, true, Some("u1"), &Origin::default());
        store.log_and_clear_attempts(&entry, "u1", &reservation).await.unwrap();
    };
    let Attempt::Reserved(slow_success) = reserve("u1").await.unwrap() else { panic!("reserved") };
    let Attempt::Reserved(fast_success) = reserve("u1").await.unwrap() else { panic!("reserved") };
    // Three guesses reserved while both verifies were still hashing: they count, whatever the
    // successes do when they finish, and in whichever order they finish.
    for _ in 0..3 {
        assert!(matches!(reserve("u1").await.unwrap(), Attempt::Reserved(_)));
    }
    success(fast_success).await;
    success(slow_success).await;
    for _ in 0..2 {
        assert!(matches!(reserve("u1").await.unwrap(), Attempt::Reserved(_)));
    }
    assert!(matches!(reserve("u1").await.unwrap(), Attempt::Locked { .. }), "3 + 2 outstanding: locked");
    // Another user's window is their own.
    assert!(matches!(reserve("u2").await.unwrap(), Attempt::Reserved(_)));
}

/// Follows `Next-Page-Token` from `first` to the end; the names of every page.
async fn follow(env: &Env, list: &str, first: &str, field: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut url = format!("{list}?{first}");
    loop {
        let reply = env.get(&url).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        let page: Vec<String> =
            reply.body.as_array().unwrap().iter().map(|i| i.pointer(field).unwrap().to_string()).collect();
        pages.push(page);
        match reply.header("next-page-token") {
            Some(token) => url = format!("{list}?{first}&page_token={token}"),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn cursor_paging_walks_users_and_logs_to_the_end() {
    let env = Env::new().await;
    let mut ids = Vec::new();
    for name in ["amy", "bob", "cat", "dan", "eve"] {
        ids.push(env.create_user(json!({"name": name})).await["id"].as_str().unwrap().to_string());
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let pages = follow(&env, "/api/users", "page_size=2", "/name").await;
    assert_eq!(pages, [vec!["\"eve\"", "\"dan\""], vec!["\"cat\"", "\"bob\""], vec!["\"amy\""]]);
    let filtered = follow(&env, "/api/users", "page_size=1&search.name=%25a%25", "/name").await;
    assert_eq!(filtered, [vec!["\"dan\""], vec!["\"cat\""], vec!["\"amy\""]]);
    // Page 2 by number hands over a cursor that continues where it ended.
    let second = env.get("/api/users?page_size=2&page=2").await;
    let token = second.header("next-page-token").unwrap();
    let rest = env.get(&format!("/api/users?page_size=2&page_token={token}")).await;
    assert_eq!(rest.body[0]["name"], "amy");

    for i in 0..4 {
        env.patch(&format!("/api/users/{}", ids[0]), json!({"name": format!("amy{i}")})).await;
    }
    let log_pages = follow(&env, "/api/logs", &format!("userId={}&page_size=2", ids[0]), "/key").await;
    assert_eq!(log_pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(log_pages[2], ["\"User.Create\""]);
}

#[tokio::test]
async fn a_tampered_or_foreign_page_token_is_400() {
    let env = Env::new().await;
    for name in ["a1", "a2", "a3"] {
        env.create_user(json!({"name": name})).await;
    }
    let token = env.get("/api/users?page_size=1").await.header("next-page-token").unwrap().to_string();
    assert_eq!(env.get(&format!("/api/users?page_size=1&page_token={token}")).await.status, 200);
    let mut forged = token.clone().into_bytes();
    forged[2] = if forged[2] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [
        format!("/api/users?page_size=1&page_token={forged}"),
        format!("/api/users?page_size=1&search=a%25&page_token={token}"),
        format!("/api/logs?page_size=1&page_token={token}"),
        "/api/users?page_token=garbage".to_string(),
    ] {
        env.get(&bad).await.assert_error(400, "guard.invalid_pagination");
    }
}
