//! The list cache (`LIST_CACHE_MS`): a list page read from shared index partitions is kept by
//! the instance for the setting's time, so a page asked for again costs no shared read; the
//! instance's own writes end it; reads by key and one user's own log are never kept.
//!
//! One test in its own binary: the cache ends at any write of the process, and other tests
//! writing side by side would end it at moments this test cannot predict.

use lambda_http::http::Method;
use serde_json::{Value, json};

use integration_tests::{Env, Reply};

/// A list request's reply and its DynamoDB calls (from its access line).
async fn list(env: &Env, path: &str) -> (Reply, u32) {
    let (response, line) = env.gateway(env.admin_request(Method::GET, path, None)).await;
    let reply = Reply::from(response);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    (reply, line.record.dynamodb.calls)
}

fn names(body: &Value) -> Vec<String> {
    body.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap_or_default().to_string()).collect()
}

fn total(reply: &Reply) -> &str {
    reply.headers["total-number"].to_str().unwrap()
}

/// The users function of another instance: its writes are not this instance's (its client
/// has none of the functions' interceptors, so it ends nothing kept here).
async fn another_instance(env: &Env) -> users::App {
    let aws = shared::aws::Aws::tools_default().await;
    let client = aws_sdk_dynamodb::Client::new(aws.sdk());
    users::App::new(&env.config, client).unwrap()
}

#[tokio::test]
async fn list_pages_are_kept_until_the_instances_own_write() {
    let env = Env::with(|config| config.list_cache_ms = 60_000).await;
    let amy = env.create_user(json!({ "name": "amy", "primaryEmail": "amy@alpha.io" })).await;
    env.create_user(json!({ "name": "bob", "primaryEmail": "bob@beta.io" })).await;

    // The newest users: 16 shards and the counter, then the page's users; again, the page's
    // users alone (read by key, strongly consistent: a kept page shows each user as it is now).
    let (first, calls) = list(&env, "/api/users").await;
    assert_eq!((names(&first.body), total(&first), calls), (vec!["bob".into(), "amy".into()], "2", 18));
    let (again, calls) = list(&env, "/api/users").await;
    assert_eq!((&again.body, total(&again), calls), (&first.body, "2", 1));
    // Another page size is another page.
    assert_eq!(list(&env, "/api/users?page_size=1").await.1, 18);

    // A field search on an index is kept likewise; an exact email is read by key every time.
    let prefix = "/api/users?search.name=a%25";
    assert_eq!(list(&env, prefix).await.1, 17);
    assert_eq!(list(&env, prefix).await.1, 1);
    let exact = "/api/users?search.primaryEmail=amy@alpha.io&mode.primaryEmail=exact";
    assert_eq!(list(&env, exact).await.1, 3);
    assert_eq!(list(&env, exact).await.1, 3);

    // A user another instance creates is missed for the cache's time (as a global index may
    // miss it for a moment)...
    let other = another_instance(&env).await;
    let request = env.admin_request(Method::POST, "/api/users", Some(json!({ "name": "cat" })));
    assert_eq!(Reply::from(other.handle(request).await).status, 200);
    let (stale, calls) = list(&env, "/api/users").await;
    assert_eq!((names(&stale.body), total(&stale), calls), (vec!["bob".into(), "amy".into()], "2", 1));

    // ...until this instance writes: every page it kept is read again.
    let path = format!("/api/users/{}", amy["id"].as_str().unwrap());
    assert_eq!(env.call(Method::PATCH, &path, Some(json!({ "name": "ann" }))).await.status, 200);
    let (fresh, calls) = list(&env, "/api/users").await;
    assert_eq!(
        (names(&fresh.body), total(&fresh), calls),
        (vec!["cat".into(), "bob".into(), "ann".into()], "3", 18)
    );
    assert_eq!(list(&env, prefix).await.1, 17);

    // The log: a page of every entry (16 shards of `byTime` and the counters) is kept; one
    // user's own entries (its own partition, shared with no one) are read every time.
    let (logs, calls) = list(&env, "/api/logs").await;
    assert!(calls > 1, "{calls}");
    let (logs_again, calls) = list(&env, "/api/logs").await;
    assert_eq!((&logs_again.body, total(&logs_again), calls), (&logs.body, total(&logs), 0));
    let own = format!("/api/logs?userId={}", amy["id"].as_str().unwrap());
    let (_, calls) = list(&env, &own).await;
    assert!(calls > 0);
    assert_eq!(list(&env, &own).await.1, calls);
}
