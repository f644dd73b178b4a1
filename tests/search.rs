//! Search (every mode, joint, case sensitivity, errors, runaway patterns) and paging.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use integration_tests::Env;

fn names(body: &Value) -> Vec<String> {
    body.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap_or_default().to_string()).collect()
}

/// Five users created oldest first, so lists answer newest first: eve, dan, cat, bob, amy.
async fn seeded() -> Env {
    let env = Env::new().await;
    for (name, username, email, phone) in [
        ("amy", "amy_a", "amy@alpha.io", "13102051234"),
        ("bob", "Bob_b", "bob@beta.io", "61412345678"),
        ("cat", "cat_c", "cat@alpha.io", "447911123456"),
        ("dan", "dan_d", "DAN@gamma.io", "13102051235"),
        ("eve", "admin_eve", "eve@beta.io", "13102051236"),
    ] {
        env.create_user(
            json!({"name": name, "username": username, "primaryEmail": email, "primaryPhone": phone}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    env
}

async fn search(env: &Env, query: &str) -> Vec<String> {
    let reply = env.get(&format!("/api/users?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    names(&reply.body)
}

#[tokio::test]
async fn like_mode_is_verbatim_case_insensitive_and_across_fields() {
    let env = seeded().await;
    assert_eq!(search(&env, "").await, ["eve", "dan", "cat", "bob", "amy"]);
    assert_eq!(search(&env, "search=%25alpha%25").await, ["cat", "amy"]);
    assert_eq!(search(&env, "search=BOB").await, ["bob"], "verbatim pattern, ILIKE");
    assert_eq!(search(&env, "search=bo").await, Vec::<String>::new(), "no implicit wildcards");
    assert_eq!(search(&env, "search.primaryEmail=dan%25").await, ["dan"], "literal prefix via the index");
    assert_eq!(search(&env, "search.username=bob%25&isCaseSensitive=true").await, Vec::<String>::new());
    assert_eq!(search(&env, "search.username=Bob%25&isCaseSensitive=true").await, ["bob"]);
    assert_eq!(search(&env, "search.primary_phone=1310%25").await, ["eve", "dan", "amy"]);
    assert_eq!(search(&env, "search.name=_a_").await, ["dan", "cat"]);
}

#[tokio::test]
async fn exact_mode_with_several_values() {
    let env = seeded().await;
    assert_eq!(search(&env, "search.primaryEmail=dan@gamma.io&mode.primaryEmail=exact").await, ["dan"]);
    assert_eq!(
        search(
            &env,
            "search.primaryEmail=amy@alpha.io&search.primaryEmail=BOB@beta.io&mode.primaryEmail=exact"
        )
        .await,
        ["bob", "amy"]
    );
    assert_eq!(
        search(&env, "search.primaryEmail=dan@gamma.io&mode.primaryEmail=exact&isCaseSensitive=true").await,
        Vec::<String>::new()
    );
    assert_eq!(search(&env, "search.username=cat_c&mode=exact").await, ["cat"]);
    assert_eq!(search(&env, "search.primaryPhone=61412345678&mode=exact").await, ["bob"]);
    let id = env.get("/api/users?search.name=amy").await.body[0]["id"].as_str().unwrap().to_string();
    assert_eq!(search(&env, &format!("search.id={id}&mode=exact")).await, ["amy"]);
}

/// The users `query` finds, and the DynamoDB calls it took (from its access line).
async fn search_with_calls(env: &Env, query: &str) -> (Vec<String>, u32) {
    let request = env.admin_request(lambda_http::http::Method::GET, &format!("/api/users?{query}"), None);
    let (response, line) = env.gateway(request).await;
    let reply = integration_tests::Reply::from(response);
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    (names(&reply.body), line.record.dynamodb.calls)
}

#[tokio::test]
async fn an_exact_id_or_email_is_read_by_key_not_from_an_index() {
    let env = seeded().await;
    let id = env.get("/api/users?search.name=amy").await.body[0]["id"].as_str().unwrap().to_string();
    // The email's guard, its owner and the page (or the owner by id, and the page): a
    // field index would read all 16 write shards of the value's partition, one Query each.
    for (query, found, calls) in [
        ("search.primaryEmail=dan@GAMMA.io&mode.primaryEmail=exact".to_string(), vec!["dan"], 3),
        (format!("search.id={id}&mode.id=exact"), vec!["amy"], 2),
        ("search.primaryEmail=nobody@gamma.io&mode.primaryEmail=exact".into(), vec![], 1),
        // The same email twice (once in other case): one key, read once.
        (
            "search.primaryEmail=dan@gamma.io&search.primaryEmail=DAN@gamma.io&mode.primaryEmail=exact"
                .into(),
            vec!["dan"],
            3,
        ),
        // AND reads by the key and filters by the rest.
        (
            "search.primaryEmail=eve@beta.io&search.name=%25e%25&joint=and&mode.primaryEmail=exact".into(),
            vec!["eve"],
            3,
        ),
        (
            "search.primaryEmail=eve@beta.io&search.name=amy&joint=and&mode.primaryEmail=exact".into(),
            vec![],
            2,
        ),
    ] {
        assert_eq!(
            search_with_calls(&env, &query).await,
            (found.iter().map(|s| s.to_string()).collect(), calls),
            "{query}"
        );
    }
    // Read-after-write: found the moment it is created (strongly consistent reads of the
    // user's own items, where a global index is only eventually consistent).
    env.create_user(json!({ "name": "fay", "primaryEmail": "fay@delta.io" })).await;
    let (found, _) = search_with_calls(&env, "search.primaryEmail=fay@delta.io&mode=exact").await;
    assert_eq!(found, ["fay"]);
}

#[tokio::test]
async fn joint_or_and_and() {
    let env = seeded().await;
    assert_eq!(search(&env, "search.name=amy&search.primaryEmail=%25beta%25").await, ["eve", "bob", "amy"]);
    assert_eq!(search(&env, "search.name=%25e%25&search.primaryEmail=%25beta%25&joint=and").await, ["eve"]);
    assert_eq!(
        search(&env, "search.name=%25e%25&search.primaryEmail=%25beta%25&jointMode=and").await,
        ["eve"]
    );
}

#[tokio::test]
async fn similar_to_and_posix_with_lookahead() {
    let env = seeded().await;
    assert_eq!(
        search(&env, "search.name=(a|b)%25&mode=similar_to&isCaseSensitive=true").await,
        ["bob", "amy"]
    );
    assert_eq!(search(&env, "search.username=^(?!admin).*_[a-c]$&mode=posix").await, ["cat", "bob", "amy"]);
    assert_eq!(search(&env, "search.username=^BOB&mode=posix").await, ["bob"], "~* is case-insensitive");
    assert_eq!(
        search(&env, "search.username=^BOB&mode=posix&isCaseSensitive=true").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn search_errors_are_400_with_logto_messages() {
    let env = seeded().await;
    for (query, reason) in [
        ("search=", "Search value cannot be empty."),
        ("search=a&search=b", "Only one search value is allowed when search mode is not `exact`."),
        (
            "search.email=a",
            "Search field `email` is not valid, expect one of id, primary_email, primary_phone, username, name.",
        ),
        ("search=a&mode=fuzzy", "Search match mode `fuzzy` is not valid"),
        ("search=a&joint=xor", "Search joint mode `xor` is not valid, expect one of or, and."),
        ("search.name.first=a", "Unsupported nested search field path"),
        ("search=a&mode=similar_to", "Cannot use case-insensitive match for `similar to`."),
        ("search=a(&mode=posix", "Invalid regular expression"),
    ] {
        let reply = env.get(&format!("/api/users?{query}")).await;
        reply.assert_error(400, "request.invalid_input");
        assert!(reply.body["message"].as_str().unwrap().contains(reason), "{query}: {}", reply.body);
        assert_eq!(reply.body["data"], json!({}));
    }
}

#[tokio::test]
async fn a_pathological_pattern_answers_400_quickly() {
    let env = Env::new().await;
    env.create_user(json!({"name": format!("{}!", "a".repeat(64))})).await;
    let started = Instant::now();
    let reply = env.get("/api/users?search.name=(a*)*\\1b&mode=posix").await;
    reply.assert_error(400, "request.invalid_input");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn paging_headers_and_bounds() {
    let env = seeded().await;
    let first = env.get("/api/users?page_size=2").await;
    assert_eq!(names(&first.body), ["eve", "dan"]);
    assert_eq!(first.header("total-number"), Some("5"));
    let links = first.links();
    assert_eq!(links.len(), 3, "{links:?}");
    assert!(links[0].ends_with("/api/users?page_size=2&page=1>; rel=\"first\""), "{links:?}");
    assert!(links[1].ends_with("/api/users?page_size=2&page=2>; rel=\"next\""), "{links:?}");
    assert!(links[2].ends_with("/api/users?page_size=2&page=3>; rel=\"last\""), "{links:?}");

    let middle = env.get("/api/users?page_size=2&page=2").await;
    assert_eq!(names(&middle.body), ["cat", "bob"]);
    let rels: Vec<_> = middle.links().iter().map(|l| l.rsplit("rel=").next().unwrap().to_string()).collect();
    assert_eq!(rels, ["\"first\"", "\"prev\"", "\"next\"", "\"last\""]);

    let past = env.get("/api/users?page_size=2&page=9").await;
    assert_eq!(past.status, 200);
    assert_eq!(past.body, json!([]));
    assert_eq!(past.header("total-number"), Some("5"));
    assert!(past.links().iter().any(|l| l.contains("page=8>; rel=\"prev\"")));
    assert!(!past.links().iter().any(|l| l.contains("rel=\"next\"")));

    let filtered = env.get("/api/users?search=%25beta%25&page_size=1&page=2").await;
    assert_eq!(names(&filtered.body), ["bob"]);
    assert_eq!(filtered.header("total-number"), Some("2"));

    assert_eq!(env.get("/api/users?page_size=100").await.status, 200);
    // A page far past the end is cheap: nothing is sized by the page number.
    let far = env.get("/api/users?page=100876496&page_size=100").await;
    assert_eq!((far.status, &far.body), (200, &json!([])));
    for bad in ["page_size=101", "page=0", "page=-1", "page=abc", "page_size=0", "page=1&page=2"] {
        env.get(&format!("/api/users?{bad}")).await.assert_error(400, "guard.invalid_pagination");
    }
    let defaults = env.get("/api/users").await;
    assert!(defaults.links()[0].contains("page=1>"));
    assert_eq!(defaults.body.as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn include_password_hash_in_lists() {
    let env = Env::new().await;
    env.create_user(json!({"name": "p", "passwordDigest": "5f4dcc3b5aa765d61d8327deb882cf99", "passwordAlgorithm": "MD5"}))
        .await;
    env.create_user(json!({"name": "n"})).await;
    let reply = env.get("/api/users?includePasswordHash=true").await;
    assert_eq!(reply.body[0]["passwordDigest"], Value::Null);
    assert_eq!(reply.body[1]["passwordDigest"], "5f4dcc3b5aa765d61d8327deb882cf99");
    assert_eq!(reply.body[1]["passwordAlgorithm"], "MD5");
    assert!(env.get("/api/users").await.body[1].get("passwordDigest").is_none());
}

#[tokio::test]
async fn a_search_past_its_read_bound_says_so() {
    let env = Env::with(|config| config.search_read_limit = 4).await;
    for n in 0..6 {
        env.create_user(json!({ "username": format!("reader_{n}"), "name": format!("r{n}") })).await;
    }
    // `%x%` must pass over every user: six rows is past the bound of four.
    let broad = env.get("/api/users?search.username=%25ader_%25").await;
    broad.assert_error(400, "request.search_too_broad");
    assert_eq!(broad.body["data"], json!({ "limit": 4 }), "{}", broad.body);
    // So does a prefix that matches more than four users.
    env.get("/api/users?search.username=reader%25").await.assert_error(400, "request.search_too_broad");
    // Narrower searches and the plain list are unaffected.
    let exact = env.get("/api/users?search.username=reader_3&mode.username=exact").await;
    assert_eq!((exact.status, names(&exact.body)), (200, vec!["r3".to_string()]));
    let list = env.get("/api/users").await;
    assert_eq!((list.status, list.header("total-number")), (200, Some("6")));
}
