//! DynamoDB calls and bytes of every route, counted by an interceptor on the functions' own
//! client (in-process), next to the minimum `docs/data-model.md` claims for that route.

use serde_json::{Value, json};

use crate::meter::Call;
use crate::report::{Budget, Section, table};
use crate::setup::{Fixture, InProcess, Setup};

/// A route, the request sent, and the calls the data model says it needs.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    minimum: Vec<&'static str>,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    minimum: &[&'static str],
) -> Case {
    Case { name, method, path, body, minimum: minimum.to_vec() }
}

/// One Query per write shard of a sharded index (side by side), then `rest`.
fn sharded(rest: &[&'static str]) -> Vec<&'static str> {
    let mut calls = vec!["Query"; shared::store::shards::SHARDS as usize];
    calls.extend_from_slice(rest);
    calls
}

/// Every route once, in an order that leaves each request something to act on.
fn cases(fixture: &Fixture, log_id: &str) -> Vec<Case> {
    let u = format!("/api/users/{}", fixture.user_id);
    let email = &fixture.email;
    const READ: &[&str] = &["GetItem"];
    const CHANGE: &[&str] = &["GetItem", "TransactWriteItems"];
    vec![
        case(
            "POST /api/users",
            "POST",
            "/api/users".into(),
            Some(json!({ "username": "calls_new", "primaryEmail": "calls.new@example.com" })),
            &["TransactWriteItems"],
        ),
        case("GET /api/users/{id}", "GET", u.clone(), None, READ),
        case(
            "GET /api/users (page 1)",
            "GET",
            "/api/users?page=1&page_size=20".into(),
            None,
            &sharded(&["BatchGetItem", "BatchGetItem"]),
        ),
        case(
            "GET /api/users exact email",
            "GET",
            format!("/api/users?search.primaryEmail={email}&mode.primaryEmail=exact"),
            None,
            // By key: the email's guard, its owner, the page.
            &["BatchGetItem", "BatchGetItem", "BatchGetItem"],
        ),
        case(
            "GET /api/users prefix username",
            "GET",
            "/api/users?search.username=fixture%25".into(),
            None,
            &sharded(&["BatchGetItem"]),
        ),
        case(
            "GET /api/users `%x%`",
            "GET",
            "/api/users?search.username=%25ixtur%25".into(),
            None,
            &sharded(&["BatchGetItem"]),
        ),
        case("PATCH /api/users/{id}", "PATCH", u.clone(), Some(json!({ "name": "Calls" })), CHANGE),
        case("GET …/custom-data", "GET", format!("{u}/custom-data"), None, READ),
        case(
            "PATCH …/custom-data",
            "PATCH",
            format!("{u}/custom-data"),
            Some(json!({ "customData": { "plan": "pro" } })),
            CHANGE,
        ),
        case(
            "PATCH …/profile",
            "PATCH",
            format!("{u}/profile"),
            Some(json!({ "profile": { "nickname": "c" } })),
            CHANGE,
        ),
        case(
            "PATCH …/is-suspended",
            "PATCH",
            format!("{u}/is-suspended"),
            Some(json!({ "isSuspended": false })),
            CHANGE,
        ),
        case(
            "PUT …/identities/{target}",
            "PUT",
            format!("{u}/identities/github"),
            Some(json!({ "userId": "gh-1", "details": {} })),
            CHANGE,
        ),
        case("GET …/identities/{target}", "GET", format!("{u}/identities/github"), None, READ),
        case("DELETE …/identities/{target}", "DELETE", format!("{u}/identities/github"), None, CHANGE),
        case(
            "PATCH …/password",
            "PATCH",
            format!("{u}/password"),
            Some(json!({ "password": fixture.password })),
            CHANGE,
        ),
        case(
            "POST …/password/verify (right)",
            "POST",
            format!("{u}/password/verify"),
            Some(json!({ "password": fixture.password })),
            &["GetItem", "UpdateItem", "PutItem", "UpdateItem"],
        ),
        case(
            "POST …/password/verify (wrong)",
            "POST",
            format!("{u}/password/verify"),
            Some(json!({ "password": "wrong" })),
            &["GetItem", "UpdateItem", "PutItem"],
        ),
        case("GET …/has-password", "GET", format!("{u}/has-password"), None, READ),
        // The page, and the total: the counters, then (a log this small) counted.
        case(
            "GET /api/logs",
            "GET",
            "/api/logs?page_size=20".into(),
            None,
            &sharded(&sharded(&["BatchGetItem"])),
        ),
        case(
            "GET /api/logs?userId=",
            "GET",
            format!("/api/logs?userId={}", fixture.user_id),
            None,
            &["BatchGetItem", "Query", "Query"],
        ),
        case("GET /api/logs/{id}", "GET", format!("/api/logs/{log_id}"), None, READ),
        case("GET /oidc/jwks", "GET", "/oidc/jwks".into(), None, &[]),
        case(
            "GET /oidc/.well-known/openid-configuration",
            "GET",
            "/oidc/.well-known/openid-configuration".into(),
            None,
            &[],
        ),
        case("DELETE /api/users/{id}", "DELETE", u, None, CHANGE),
    ]
}

fn operations(calls: &[Call]) -> Vec<String> {
    let mut ops: Vec<String> = calls.iter().map(|c| c.operation.clone()).collect();
    ops.sort();
    ops
}

/// Sorted operations as a sum, repeats counted: `16 × Query + BatchGetItem`.
fn sum_of(ops: &[String]) -> String {
    if ops.is_empty() {
        return "–".into();
    }
    let mut terms: Vec<(usize, &str)> = Vec::new();
    for op in ops {
        match terms.last_mut() {
            Some((n, last)) if *last == op => *n += 1,
            _ => terms.push((1, op)),
        }
    }
    let term = |(n, op): &(usize, &str)| if *n == 1 { op.to_string() } else { format!("{n} × {op}") };
    terms.iter().map(term).collect::<Vec<_>>().join(" + ")
}

async fn token_request(setup: &Setup, functions: &InProcess, fixture: &Fixture) -> (u16, Vec<Call>) {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", fixture.app_id, fixture.app_secret));
    let form =
        format!("grant_type=client_credentials&resource={}&scope=all", setup.config.auth.api_indicator);
    let headers = [
        ("authorization", format!("Basic {basic}")),
        ("content-type", "application/x-www-form-urlencoded".into()),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let event = crate::lambda::event_with("POST", "/oidc/token", &headers, Some(form));
    let (status, _) = functions.send(&event).await;
    (status, functions.meter.take())
}

/// `event` sent twice: the second one's calls and time.
async fn send_twice(functions: &InProcess, event: &[u8]) -> (Vec<Call>, std::time::Duration) {
    functions.send(event).await;
    functions.meter.take();
    let started = std::time::Instant::now();
    functions.send(event).await;
    (functions.meter.take(), started.elapsed())
}

/// One route's request as measured: its status, its DynamoDB calls and its time in-process.
pub struct Measured {
    pub route: String,
    pub status: u16,
    pub calls: Vec<Call>,
    pub elapsed: std::time::Duration,
    /// For a route whose instance keeps what it read (a list page for `LIST_CACHE_MS`, an app
    /// for `APP_CACHE_MS`): the calls of the same request sent again within that time, and
    /// the time.
    pub again: Option<(Vec<Call>, std::time::Duration)>,
}

/// Sends every route once; the section of its calls, and what was measured (for the
/// ceilings and cost sections). `cached` is the same functions keeping list pages (for longer
/// than the emulator takes to answer): each list is sent to it twice as well, for what a page
/// asked again costs.
pub async fn measure(
    setup: &Setup,
    functions: &InProcess,
    cached: &InProcess,
    fixture: &Fixture,
) -> (Section, Vec<Measured>) {
    let (_, logs) = functions.send(&setup.event("GET", "/api/logs?page_size=1", None)).await;
    let log_id = logs[0]["id"].as_str().unwrap_or_default().to_string();
    functions.meter.take();
    let mut measured: Vec<(String, u16, Vec<Call>, Vec<&'static str>)> = Vec::new();
    let mut times = Vec::new();
    let mut again = Vec::new();
    for case in cases(fixture, &log_id) {
        let started = std::time::Instant::now();
        let event = setup.event(case.method, &case.path, case.body.as_ref());
        let (status, _) = functions.send(&event).await;
        times.push(started.elapsed());
        measured.push((case.name.to_string(), status, functions.meter.take(), case.minimum));
        let kept = case.method == "GET" && case.path.starts_with("/api/") && case.path.contains('?');
        again.push(if kept { Some(send_twice(cached, &event).await) } else { None });
    }
    let started = std::time::Instant::now();
    let (status, calls) = token_request(setup, functions, fixture).await;
    times.push(started.elapsed());
    measured.push(("POST /oidc/token".into(), status, calls, vec!["GetItem", "PutItem"]));
    token_request(setup, cached, fixture).await;
    let started = std::time::Instant::now();
    let (_, calls) = token_request(setup, cached, fixture).await;
    again.push(Some((calls, started.elapsed())));
    let routes = measured
        .iter()
        .zip(times)
        .zip(again)
        .map(|(((route, status, calls, _), elapsed), again)| Measured {
            route: route.clone(),
            status: *status,
            calls: calls.clone(),
            elapsed,
            again,
        })
        .collect();

    let (mut rows, mut results, mut off) = (Vec::new(), Vec::new(), Vec::new());
    for (name, status, calls, minimum) in &measured {
        let ops = operations(calls);
        let mut min: Vec<String> = minimum.iter().map(|s| s.to_string()).collect();
        min.sort();
        let equal = ops == min;
        if !equal {
            off.push(name.clone());
        }
        let sum = |f: fn(&Call) -> u64| calls.iter().map(f).sum::<u64>();
        println!("calls {name} ({status}): {} (minimum {})", sum_of(&ops), sum_of(&min));
        rows.push(vec![
            format!("{name} → {status}"),
            sum_of(&ops),
            sum(|c| c.request_bytes).to_string(),
            sum(|c| c.response_bytes).to_string(),
            sum(|c| c.item_bytes).to_string(),
            sum_of(&min),
            if equal { "yes".into() } else { "**no**".into() },
        ]);
        results.push(json!({
            "route": name, "status": status, "calls": calls, "operations": ops, "minimum": min, "equal": equal,
        }));
    }
    let budgets = vec![Budget::new(
        "DynamoDB calls per route = the data model's minimum",
        "every route",
        if off.is_empty() {
            format!("all {} routes", measured.len())
        } else {
            format!("off: {}", off.join(", "))
        },
        off.is_empty(),
    )];
    let markdown = format!(
        "Each route once, in-process, on the functions' own SDK client with a counting \
         interceptor (retries would count as calls). *Request* and *response* bytes are the \
         HTTP bodies on the wire; *item bytes* is the DynamoDB size of the items read (attribute \
         names + values, what read capacity is billed on). The minimum is the access-pattern \
         table of `docs/data-model.md`. A fresh table: list and search pages hold a few users.\n\n{}",
        table(
            &[
                "route → status",
                "calls",
                "request bytes",
                "response bytes",
                "item bytes",
                "minimum (data model)",
                "equal"
            ],
            &rows
        )
    );
    let section = Section {
        key: "dynamodb_calls",
        title: "DynamoDB calls and bytes per request",
        json: json!(results),
        markdown,
        budgets,
    };
    (section, routes)
}
