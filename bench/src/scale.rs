//! Scale: the same reads with 1k, 10k and 100k users loaded (quick mode: 1k and 3k),
//! in-process on the metered client, next to the emulator's own floor at each size (a raw
//! `GetItem`, a raw exact `Query` on a field index, the raw key reads of an exact email).
//! Cost (calls, item bytes) is the emulator-independent figure;
//! moto answers index queries by scanning its whole table in Python, so its raw query floor
//! grows with the table, and latency is judged against that floor.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures_util::future::join_all;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use shared::aws::{Aws, Timeouts, ToolOptions};
use shared::domain::User;
use shared::store::DynamoUsers;
use shared::store::shards::every_shard;

use crate::meter::Call;
use crate::report::{Budget, Section, table};
use crate::setup::{InProcess, Setup};
use crate::stats::{fmt, median, ms};

const FLAT: f64 = 1.5;

/// The request path of a read, for the i-th user.
type PathOf = Box<dyn Fn(usize) -> String>;
const FULL_PATTERN_BYTES_PER_USER: f64 = 200.0;

fn user(i: usize, now: i64) -> User {
    let mut user = User::new(format!("s{i:011}"), now + i as i64);
    user.username = Some(format!("user{i:06}"));
    user.primary_email = Some(format!("user{i:06}@example.com"));
    user.primary_phone = Some(format!("86138{i:08}"));
    user.name = Some(format!("User {i}"));
    user
}

/// One measured read at one size: medians over its runs.
#[derive(Clone, serde::Serialize)]
struct Point {
    read: String,
    users: usize,
    runs: usize,
    latency_ms: f64,
    floor_ms: f64,
    calls: f64,
    item_bytes: f64,
    response_bytes: f64,
}

fn sum(calls: &[Call], f: fn(&Call) -> u64) -> f64 {
    calls.iter().map(f).sum::<u64>() as f64
}

/// The raw calls a kind of read needs, timed on the emulator right after the product's read.
#[derive(Clone, Copy)]
enum Floor {
    /// A consistent `GetItem`.
    Get,
    /// An exact `Query` on `byEmail`, in each of its write shards side by side.
    Exact,
    /// An email's guard, then its owner: two consistent `GetItem`s one after the other.
    Key,
    /// A `begins_with` `Query` on `byUsername` in each shard, then a 20-key `BatchGetItem`
    /// (the page).
    Prefix,
}

async fn raw_floor(client: &aws_sdk_dynamodb::Client, table: &str, floor: Floor, i: usize) -> f64 {
    let s = |v: String| AttributeValue::S(v);
    let start = Instant::now();
    match floor {
        Floor::Get => {
            let read = client.get_item().table_name(table).key("pk", s(format!("user#s{i:011}")));
            read.consistent_read(true).send().await.unwrap();
        }
        Floor::Key => {
            for pk in [format!("email#user{i:06}@example.com"), format!("user#s{i:011}")] {
                client
                    .get_item()
                    .table_name(table)
                    .key("pk", s(pk))
                    .consistent_read(true)
                    .send()
                    .await
                    .unwrap();
            }
        }
        Floor::Exact => {
            let queries = every_shard("u").into_iter().map(|partition| {
                client
                    .query()
                    .table_name(table)
                    .index_name("byEmail")
                    .key_condition_expression("ixEmailP = :p AND ixEmail = :v")
                    .expression_attribute_values(":p", s(partition))
                    .expression_attribute_values(":v", s(format!("user{i:06}@example.com")))
                    .send()
            });
            for answer in join_all(queries).await {
                answer.unwrap();
            }
        }
        Floor::Prefix => {
            let queries = every_shard("u").into_iter().map(|partition| {
                client
                    .query()
                    .table_name(table)
                    .index_name("byUsername")
                    .key_condition_expression("ixUsernameP = :p AND begins_with(ixUsername, :v)")
                    .expression_attribute_values(":p", s(partition))
                    .expression_attribute_values(":v", s("user0009".into()))
                    .send()
            });
            for answer in join_all(queries).await {
                answer.unwrap();
            }
            let keys = (900..920).map(|i| HashMap::from([("pk".to_string(), s(format!("user#s{i:011}")))]));
            let batch = KeysAndAttributes::builder().set_keys(Some(keys.collect())).build().unwrap();
            client.batch_get_item().request_items(table, batch).send().await.unwrap();
        }
    }
    ms(start.elapsed())
}

pub async fn measure(setup: &Setup) -> Section {
    // Quick mode stays within minutes: moto's index queries take it seconds at 10k users.
    let default: &[usize] = if setup.quick { &[1_000, 3_000] } else { &[1_000, 10_000, 100_000] };
    // `BENCH_SCALE_SIZES=1000,100000`: other sizes (the emulator walks its whole table for each
    // index query, so each size costs more than the last; this skips the ones not wanted).
    let chosen: Option<Vec<usize>> = std::env::var("BENCH_SCALE_SIZES").ok().map(|sizes| {
        sizes.split(',').map(|n| n.trim().parse().expect("BENCH_SCALE_SIZES: numbers")).collect()
    });
    let sizes = chosen.as_deref().unwrap_or(default);
    let config = setup.fresh_tables().await;
    // moto walks its whole table for every index query, in Python: at 10k users one page of a
    // full-pattern search takes it seconds, which the product's 1 s attempt timeout would
    // turn into 503s. DynamoDB answers the same page in tens of milliseconds. At 100k users
    // one walk takes it seconds, and 16 side by side wait for each other: minutes.
    let slow = Duration::from_secs(1800);
    let timeouts = Timeouts { connect: Duration::from_secs(5), attempt: slow, operation: slow };
    let functions: InProcess = setup.in_process_on(&config, timeouts).await;
    let floor =
        aws_sdk_dynamodb::Client::new(Aws::tools(ToolOptions { timeouts, ..Default::default() }).await.sdk());
    // Loading 100k users into moto has calls that take it longer than a second, too.
    let store = DynamoUsers::new(floor.clone(), &config);
    let now = shared::domain::now_ms() - 10_000_000;
    let mut loaded = 0;
    let mut points: Vec<Point> = Vec::new();
    for &n in sizes {
        let start = Instant::now();
        let batch: Vec<User> = (loaded..n).map(|i| user(i, now)).collect();
        for chunk in batch.chunks(1000) {
            store.seed(chunk).await.expect("users are loaded");
        }
        loaded = n;
        println!(
            "scale: {n} users loaded ({:.1} s for the last {})",
            start.elapsed().as_secs_f64(),
            batch.len()
        );
        // Fewer runs where the emulator's index queries get slow.
        let runs = match (setup.quick, n) {
            // Minutes a read for the emulator there; its cost, the figure that carries over,
            // is the same on every run.
            (_, n) if n > 10_000 => 1,
            (true, n) if n <= 1_000 => 5,
            (true, _) => 3,
            (false, n) if n <= 1_000 => 40,
            (false, _) => 15,
        };
        let reads: Vec<(&str, PathOf, usize, Floor)> = vec![
            ("get by id", Box::new(|i| format!("/api/users/s{i:011}")), runs, Floor::Get),
            (
                "exact id",
                Box::new(|i| format!("/api/users?search.id=s{i:011}&mode.id=exact")),
                runs,
                Floor::Get,
            ),
            (
                "exact username",
                Box::new(|i| format!("/api/users?search.username=user{i:06}&mode.username=exact")),
                runs,
                Floor::Exact,
            ),
            (
                "exact email",
                Box::new(|i| {
                    format!("/api/users?search.primaryEmail=user{i:06}%40example.com&mode.primaryEmail=exact")
                }),
                runs,
                Floor::Key,
            ),
            (
                "exact phone",
                Box::new(|i| format!("/api/users?search.primaryPhone=86138{i:08}&mode.primaryPhone=exact")),
                runs,
                Floor::Exact,
            ),
            (
                "prefix username (`user0009%`, 100 matches)",
                Box::new(|_| "/api/users?search.username=user0009%25".into()),
                runs,
                Floor::Prefix,
            ),
            ("list page 1", Box::new(|_| "/api/users?page=1&page_size=20".into()), runs, Floor::Exact),
            ("list page 50", Box::new(|_| "/api/users?page=50&page_size=20".into()), runs, Floor::Exact),
            (
                "full pattern (`%00099%`)",
                Box::new(|_| "/api/users?search.username=%2500099%25".into()),
                if n >= 100_000 || (setup.quick && n >= 10_000) { 1 } else { runs.min(3) },
                Floor::Exact,
            ),
        ];
        for (name, path, runs, floor_kind) in reads {
            let (mut latency, mut floor_ms, mut calls, mut item_bytes, mut response_bytes) =
                (vec![], vec![], vec![], vec![], vec![]);
            for r in 0..runs {
                let i = (r * 7919 + 13) % n;
                let start = Instant::now();
                let (status, body) = functions.send(&setup.event("GET", &path(i), None)).await;
                latency.push(ms(start.elapsed()));
                floor_ms.push(raw_floor(&floor, &config.tables.users, floor_kind, i).await);
                assert_eq!(status, 200, "{name} at {n} users: {body}");
                if !name.starts_with("list") && !name.starts_with("full") && !name.starts_with("prefix") {
                    let found = if body.is_array() { body.as_array().map_or(0, Vec::len) } else { 1 };
                    assert_eq!(found, 1, "{name} at {n} users finds its user");
                }
                let made = functions.meter.take();
                calls.push(made.len() as f64);
                item_bytes.push(sum(&made, |c| c.item_bytes));
                response_bytes.push(sum(&made, |c| c.response_bytes));
            }
            let point = Point {
                read: name.to_string(),
                users: n,
                runs,
                latency_ms: median(&latency),
                floor_ms: median(&floor_ms),
                calls: median(&calls),
                item_bytes: median(&item_bytes),
                response_bytes: median(&response_bytes),
            };
            println!(
                "scale {n} {name}: {} ms (floor {} ms), {} calls, {} item bytes",
                fmt(point.latency_ms),
                fmt(point.floor_ms),
                point.calls,
                point.item_bytes
            );
            points.push(point);
        }
    }
    render(points, sizes)
}

fn render(points: Vec<Point>, sizes: &[usize]) -> Section {
    let mut reads: Vec<String> = Vec::new();
    for p in &points {
        if !reads.contains(&p.read) {
            reads.push(p.read.clone());
        }
    }
    let mut headers = vec!["read".to_string()];
    for n in sizes {
        headers.push(format!("{n}: ms (floor)"));
        headers.push(format!("{n}: calls / item bytes"));
    }
    let mut rows = Vec::new();
    let mut budgets = Vec::new();
    for read in &reads {
        let at: Vec<&Point> = points.iter().filter(|p| &p.read == read).collect();
        let mut row = vec![read.clone()];
        for p in &at {
            row.push(format!("{} ({})", fmt(p.latency_ms), fmt(p.floor_ms)));
            row.push(format!("{} / {}", p.calls, p.item_bytes));
        }
        rows.push(row);
        let spread = |f: fn(&Point) -> f64| {
            let values: Vec<f64> = at.iter().map(|p| f(p)).collect();
            let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            if lo > 0.0 {
                hi / lo
            } else if hi == 0.0 {
                1.0
            } else {
                f64::INFINITY
            }
        };
        let flat_read = read.starts_with("get") || read.starts_with("exact") || read.starts_with("prefix");
        if flat_read {
            let cost = spread(|p| p.calls).max(spread(|p| p.item_bytes));
            let over_floor = spread(|p| p.latency_ms / p.floor_ms);
            let raw = spread(|p| p.latency_ms);
            budgets.push(Budget::new(
                format!("{read}: flat across sizes (within {FLAT}×)"),
                format!("×{FLAT}"),
                format!(
                    "cost ×{}, latency ×{} raw, ×{} over the emulator's floor",
                    fmt(cost),
                    fmt(raw),
                    fmt(over_floor)
                ),
                cost <= FLAT && over_floor <= FLAT,
            ));
        }
        if read.starts_with("full") {
            let worst = at.iter().map(|p| p.item_bytes / p.users as f64).fold(0.0, f64::max);
            budgets.push(Budget::new(
                format!("{read}: bytes read per user ≤ {FULL_PATTERN_BYTES_PER_USER}"),
                format!("{FULL_PATTERN_BYTES_PER_USER}"),
                fmt(worst),
                worst <= FULL_PATTERN_BYTES_PER_USER,
            ));
        }
    }
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let markdown = format!(
        "Users loaded with `DynamoUsers::seed` (user items and guards, as creates write them), \
         then each read sent in-process on the metered client; medians. *Floor* is the \
         emulator's own time, right after each read, for the raw calls the read needs: a consistent `GetItem` \
         for get by id and exact id, two (the email's guard, then its owner) for exact email, an \
         exact `Query` on `byEmail` in each of its 16 write shards side by side for the other \
         exact searches (and, for want of better, for lists and patterns), the same \
         `begins_with` `Query`s plus a 20-key `BatchGetItem` for the prefix search. moto \
         evaluates an index query by walking its whole table, one request at a time, so a read \
         of 16 shards costs 16 walks there and slows down as the table grows — on DynamoDB the \
         16 queries run side by side and do not grow; cost (calls, item bytes) is what carries over. \
         Item bytes are DynamoDB's size of what was read (full-pattern: the projected search \
         fields of every user; page 50: the ids of 1000 index entries).\n\n{}",
        table(&header_refs, &rows)
    );
    Section { key: "scale", title: "Scale", json: json!(points), markdown, budgets }
}
