//! Warm latency of the main routes, measured on the release binaries through the local
//! Runtime API (event handed over → answer received), next to the floor: one raw `GetItem` to
//! the same emulator from a minimal SDK client in the harness. The get route and the floor
//! alternate request by request so that both see the same noise.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use std::time::Instant;

use crate::lambda::{self, Function};
use crate::report::{Budget, Section, table};
use crate::setup::{Fixture, Setup};
use crate::stats::{fmt, median, ms, paired_ratio, percentile};

const BUDGET: f64 = 1.2;

struct Route {
    name: &'static str,
    function: &'static str,
    method: &'static str,
    path: String,
    body: Option<Box<dyn Fn(usize) -> Value>>,
    runs: usize,
}

async fn floor_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
}

async fn raw_get_ms(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> f64 {
    let start = Instant::now();
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .consistent_read(true)
        .send()
        .await
        .expect("the floor GetItem succeeds");
    ms(start.elapsed())
}

pub async fn measure(setup: &Setup, fixture: &Fixture) -> Section {
    let runs = if setup.quick { 300 } else { 2000 };
    // moto copies the whole table for every transaction, so its writes slow down as the
    // table grows; past a second an attempt times out and the SDK's retry meets its own
    // write (DynamoDB would recognise the retry by its ClientRequestToken; moto does not).
    // 150 keeps the tail under that second even on a loaded machine; at 300 the full run
    // (after 2,000 reads per route) met it on 2026-11-29.
    let writes = 150;
    let user = fixture.user_id.clone();
    let email = fixture.email.clone();
    let password = fixture.password.clone();
    let routes = vec![
        Route {
            name: "get user",
            function: "users",
            method: "GET",
            path: format!("/api/users/{user}"),
            body: None,
            runs,
        },
        Route {
            name: "list, page 1",
            function: "users",
            method: "GET",
            path: "/api/users?page=1&page_size=20".into(),
            body: None,
            runs,
        },
        Route {
            name: "exact search (email)",
            function: "users",
            method: "GET",
            path: format!("/api/users?search.primaryEmail={email}&mode.primaryEmail=exact"),
            body: None,
            runs,
        },
        Route {
            name: "create (no password)",
            function: "users",
            method: "POST",
            path: "/api/users".into(),
            body: Some(Box::new(|i| json!({ "username": format!("warm_{}_{i}", std::process::id()) }))),
            runs: writes,
        },
        Route {
            name: "patch",
            function: "users",
            method: "PATCH",
            path: format!("/api/users/{user}"),
            body: Some(Box::new(|i| json!({ "name": format!("Name {i}") }))),
            runs: writes,
        },
        Route {
            name: "verify password",
            function: "passwords",
            method: "POST",
            path: format!("/api/users/{user}/password/verify"),
            body: Some(Box::new(move |_| json!({ "password": password }))),
            runs: runs / 10,
        },
    ];
    let users = Function::start(&Setup::binary("users"), &setup.function_env("users")).await;
    let passwords = Function::start(&Setup::binary("passwords"), &setup.function_env("passwords")).await;
    let floor = floor_client().await;
    let table_name = setup.config.tables.users.clone();
    let user_pk = format!("user#{user}");
    // Connections open, caches filled, on both sides.
    for _ in 0..20 {
        users.invoke(setup.event("GET", &format!("/api/users/{user}"), None)).await;
        raw_get_ms(&floor, &table_name, &user_pk).await;
    }

    let mut floor_ms = Vec::new();
    let (mut rows, mut results, mut budgets) = (Vec::new(), Vec::new(), Vec::new());
    for route in &routes {
        let function = if route.function == "users" { &users } else { &passwords };
        let mut samples = Vec::with_capacity(route.runs);
        for i in 0..route.runs {
            let body = route.body.as_ref().map(|b| b(i));
            let answer = function.invoke(setup.event(route.method, &route.path, body.as_ref())).await;
            let status = lambda::status(&answer.body);
            assert!(status < 300, "{} answered {status}: {}", route.name, answer.body);
            samples.push(ms(answer.latency));
            if route.name == "get user" {
                floor_ms.push(raw_get_ms(&floor, &table_name, &user_pk).await);
            }
        }
        let (p50, p99) = (median(&samples), percentile(&samples, 99.0));
        println!("warm {}: p50 {} ms, p99 {} ms", route.name, fmt(p50), fmt(p99));
        rows.push(vec![
            route.name.to_string(),
            format!("`{}`", route.function),
            route.runs.to_string(),
            fmt(p50),
            fmt(p99),
        ]);
        results.push(json!({ "route": route.name, "function": route.function, "runs": route.runs, "p50_ms": p50, "p99_ms": p99 }));
        if route.name == "get user" {
            let (floor_p50, floor_p99) = (median(&floor_ms), percentile(&floor_ms, 99.0));
            // Each get is paired with the floor call right after it.
            let ratio = paired_ratio(&samples, &floor_ms);
            println!(
                "warm floor GetItem: p50 {} ms, p99 {} ms; get user ×{}",
                fmt(floor_p50),
                fmt(floor_p99),
                fmt(ratio)
            );
            rows.push(vec![
                "*floor: raw `GetItem`*".into(),
                "harness".into(),
                floor_ms.len().to_string(),
                fmt(floor_p50),
                fmt(floor_p99),
            ]);
            results.push(json!({ "route": "floor GetItem", "runs": floor_ms.len(), "p50_ms": floor_p50, "p99_ms": floor_p99 }));
            budgets.push(Budget::new(
                format!("warm get user ≤ {BUDGET}× raw GetItem (median of paired ratios)"),
                format!("×{BUDGET}"),
                format!("×{}", fmt(ratio)),
                ratio <= BUDGET,
            ));
        }
    }
    users.stop().await;
    passwords.stop().await;
    let render = access_line_ms(if setup.quick { 500 } else { 5_000 });
    let (p50, p99) = (median(&render), percentile(&render, 99.0));
    println!("warm access line render: p50 {} ms, p99 {} ms", fmt(p50), fmt(p99));
    rows.push(vec![
        "*one access line, JSON + EMF*".into(),
        "harness".into(),
        render.len().to_string(),
        fmt(p50),
        fmt(p99),
    ]);
    results
        .push(json!({ "route": "access line render", "runs": render.len(), "p50_ms": p50, "p99_ms": p99 }));
    let markdown = format!(
        "Release binaries behind the local Runtime API; latency is event handed to the function → \
         its answer received (the function's own work plus one loopback HTTP round trip to the \
         Runtime API). The floor is one consistent `GetItem` of the same item from a default SDK \
         client in the harness, alternating request by request with the get route. Writes are \
         moto's transactions, which copy the whole table each time: their figures are the \
         emulator's, and they are capped at 150 runs so that the table stays small. Every figure \
         includes the access line each request writes; the last row is what rendering one costs \
         on its own (a complete line with its metrics, timed in the harness).\n\n{}",
        table(&["route", "function", "runs", "p50 ms", "p99 ms"], &rows)
    );
    Section { key: "warm_latency", title: "Warm latency", json: json!(results), markdown, budgets }
}

/// Milliseconds to render one complete access line (every field, every metric), `runs` times.
fn access_line_ms(runs: usize) -> Vec<f64> {
    use shared::telemetry::{AccessLine, DynamoDbUse, Record};
    let record = Record {
        caller: Some("m2m-app-id".into()),
        error_code: Some("user.not_found"),
        dynamodb: DynamoDbUse { calls: 2, attempts: 2, throttles: 0, capacity_units: 1.5 },
        hashing_ms: Some(50.0),
    };
    let line = AccessLine {
        timestamp_ms: shared::domain::now_ms(),
        service: "passwords",
        request_id: Some("8f2c0d3e-5a1b-4c7d-9e2f-0a1b2c3d4e5f".into()),
        api_request_id: Some("JkHgqhc9IAMEVxA=".into()),
        trace_id: Some("Root=1-6749f0a0-0123456789abcdef01234567".into()),
        method: "POST".into(),
        route: "/api/users/{userId}/password/verify",
        served: true,
        status: 422,
        latency_ms: 61.5,
        cold_start: false,
        record,
    };
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(line.to_json("UsersApi/users-api"));
            ms(started.elapsed())
        })
        .collect()
}
