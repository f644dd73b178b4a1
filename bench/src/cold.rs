//! Cold start: process spawn → first event answered, through the local Runtime API, for each
//! function next to a hello-world `lambda_http` binary built with the same profile. Runs are
//! paired (floor, then function) so that each ratio shares the machine's state of the moment.

use serde_json::json;

use crate::lambda::{self, Function};
use crate::report::{Budget, Section, table};
use crate::setup::{Fixture, Setup};
use crate::stats::{fmt, median, ms, paired_ratio};

const BUDGET: f64 = 1.25;

struct Sample {
    init_ms: f64,
    first_answer_ms: f64,
}

async fn cold_start(setup: &Setup, binary: &str, event: bytes::Bytes) -> Sample {
    let function = Function::start(&Setup::binary(binary), &setup.function_env(binary)).await;
    let answer = function.invoke(event).await;
    let status = lambda::status(&answer.body);
    assert!(status == 200, "{binary} answered its first event with {status}: {}", answer.body);
    let init = function.first_poll().expect("the function polled") - function.spawned_at;
    let first_answer = answer.answered_at - function.spawned_at;
    function.stop().await;
    Sample { init_ms: ms(init), first_answer_ms: ms(first_answer) }
}

pub async fn measure(setup: &Setup, fixture: &Fixture) -> Section {
    let rounds = if setup.quick { 7 } else { 25 };
    let user = &fixture.user_id;
    let targets = [
        ("users", setup.event("GET", &format!("/api/users/{user}"), None)),
        ("passwords", setup.event("GET", &format!("/api/users/{user}/has-password"), None)),
        ("logs", setup.event("GET", "/api/logs?page_size=1", None)),
        ("hooks", setup.event("GET", "/api/hooks", None)),
        ("oidc", setup.event("GET", "/oidc/jwks", None)),
        ("docs", setup.event("GET", "/api/swagger.json", None)),
    ];
    let hello_event = lambda::event("GET", "/", None, None);
    let mut rows = Vec::new();
    let mut budgets = Vec::new();
    let mut results = Vec::new();
    for (name, event) in &targets {
        let (mut floor, mut read_floor, mut function) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            floor.push(cold_start(setup, "hello", hello_event.clone()).await);
            read_floor.push(cold_start(setup, "hello-dynamo", hello_event.clone()).await);
            function.push(cold_start(setup, name, event.clone()).await);
        }
        let first = |s: &[Sample]| s.iter().map(|s| s.first_answer_ms).collect::<Vec<_>>();
        let init = |s: &[Sample]| s.iter().map(|s| s.init_ms).collect::<Vec<_>>();
        let ratio = paired_ratio(&first(&function), &first(&floor));
        let read_ratio = paired_ratio(&first(&function), &first(&read_floor));
        println!(
            "cold start {name}: {} ms (init {} ms), floor {} ms (×{}), floor with one read {} ms (×{})",
            fmt(median(&first(&function))),
            fmt(median(&init(&function))),
            fmt(median(&first(&floor))),
            fmt(ratio),
            fmt(median(&first(&read_floor))),
            fmt(read_ratio)
        );
        rows.push(vec![
            format!("`{name}`"),
            fmt(median(&init(&function))),
            fmt(median(&first(&function))),
            fmt(median(&init(&floor))),
            fmt(median(&first(&floor))),
            format!("×{}", fmt(ratio)),
            fmt(median(&first(&read_floor))),
            format!("×{}", fmt(read_ratio)),
        ]);
        budgets.push(Budget::new(
            format!("cold start `{name}` ≤ {BUDGET}× floor"),
            format!("×{BUDGET}"),
            format!("×{}", fmt(ratio)),
            ratio <= BUDGET,
        ));
        results.push(json!({
            "function": name,
            "init_ms": median(&init(&function)),
            "first_answer_ms": median(&first(&function)),
            "floor_init_ms": median(&init(&floor)),
            "floor_first_answer_ms": median(&first(&floor)),
            "ratio": ratio,
            "read_floor_first_answer_ms": median(&first(&read_floor)),
            "read_floor_ratio": read_ratio,
        }));
    }
    let markdown = format!(
        "Process spawn → first event answered, through a local Lambda Runtime API served by the \
         harness; median of {rounds} paired runs. *Init* is spawn → the function's first poll for \
         an event (what Lambda reports as Init Duration). The floor is `bench/src/bin/hello.rs`, \
         a hello-world `lambda_http` function built with the same release profile; the second \
         floor, `hello-dynamo`, is the same plus one `GetItem` per request from a default SDK \
         client (the least a function that reads DynamoDB can do). Events: \
         `users` GET /api/users/{{id}}, `passwords` GET …/has-password, `logs` GET /api/logs, \
         `oidc` GET /oidc/jwks, `docs` GET /api/swagger.json, all with a valid token. As on AWS, \
         `users` and `logs` read the page-token key and `oidc` the signing keys from Secrets \
         Manager (the emulator's, over plain HTTP on localhost) during init.\n\n{}",
        table(
            &[
                "function",
                "init ms",
                "first answer ms",
                "floor init ms",
                "floor first answer ms",
                "ratio (paired)",
                "floor + 1 read ms",
                "ratio to it"
            ],
            &rows
        )
    );
    Section { key: "cold_start", title: "Cold start", json: json!(results), markdown, budgets }
}
