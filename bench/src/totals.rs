//! Totals: what `GET /api/logs` reads for its `Total-Number` as a log grows, counted (before the
//! log counters begin, or for filters they do not answer) and from the counters. One user's
//! log is loaded with N verify entries (its user, its key and the whole table are all N
//! entries), then each list is sent in-process on the metered client; medians.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use shared::aws::Timeouts;
use shared::domain::log::{LogEntry, LogKey, Origin};
use shared::store::logs::log_item;

use crate::report::{Budget, Section, table};
use crate::setup::Setup;
use crate::stats::{fmt, median, ms};

const USER: &str = "t0t0t0t0t0t0";
const FLAT: f64 = 1.5;

#[derive(Clone, serde::Serialize)]
struct Point {
    read: String,
    totals: &'static str,
    entries: usize,
    latency_ms: f64,
    calls: f64,
    /// Items read, matched or not: what the read is billed on (a COUNT returns none).
    items_read: f64,
    total_number: String,
}

async fn load(client: &aws_sdk_dynamodb::Client, table: &str, from: usize, to: usize, retention_days: u32) {
    let now = shared::domain::now_ms() - 1_000_000;
    let writes: Vec<WriteRequest> = (from..to)
        .map(|i| {
            let mut entry = LogEntry::new(LogKey::UserPasswordVerify, true, Some(USER), &Origin::default());
            entry.created_at = now + i as i64;
            let put = PutRequest::builder().set_item(Some(log_item(&entry, retention_days).unwrap())).build();
            WriteRequest::builder().put_request(put.unwrap()).build()
        })
        .collect();
    for chunk in writes.chunks(25) {
        let mut pending = HashMap::from([(table.to_string(), chunk.to_vec())]);
        while !pending.is_empty() {
            let out = client.batch_write_item().set_request_items(Some(pending)).send().await.unwrap();
            pending = out.unprocessed_items.unwrap_or_default();
            pending.retain(|_, writes| !writes.is_empty());
        }
    }
}

/// The counters as the log-counts function leaves them after counting `n` entries on a table
/// as new as its stream: counting began before them, and each total is `n` (in one shard; the
/// reader sums every shard whichever holds it).
async fn set_counters(client: &aws_sdk_dynamodb::Client, table: &str, n: usize) {
    let key = LogKey::UserPasswordVerify.as_str();
    let items = [
        ("count#since".to_string(), "since", "0".to_string()),
        ("count#all#00".into(), "n", n.to_string()),
        (format!("count#user#{USER}"), "n", n.to_string()),
        (format!("count#key#{key}#00"), "n", n.to_string()),
    ];
    for (id, attribute, value) in items {
        let mut item = HashMap::from([
            ("id".to_string(), AttributeValue::S(id)),
            (attribute.to_string(), AttributeValue::N(value)),
        ]);
        if attribute == "since" {
            // A table as new as its stream: no older entries to count at read time.
            item.insert("legacyCounted".into(), AttributeValue::Bool(true));
        }
        client.put_item().table_name(table).set_item(Some(item)).send().await.unwrap();
    }
}

async fn clear_counters(client: &aws_sdk_dynamodb::Client, table: &str) {
    for id in ["count#since".to_string(), "count#all#00".into(), format!("count#user#{USER}")] {
        client.delete_item().table_name(table).key("id", AttributeValue::S(id)).send().await.unwrap();
    }
    let key = format!("count#key#{}#00", LogKey::UserPasswordVerify.as_str());
    client.delete_item().table_name(table).key("id", AttributeValue::S(key)).send().await.unwrap();
}

pub async fn measure(setup: &Setup) -> Section {
    let sizes: &[usize] = if setup.quick { &[1_000, 10_000] } else { &[1_000, 100_000] };
    let config = setup.fresh_tables().await;
    // moto walks its whole table for every index query: counting 100k entries over 16 shards
    // takes it far longer than the product's 1 s attempt timeout.
    let slow = Duration::from_secs(300);
    let timeouts = Timeouts { connect: Duration::from_secs(5), attempt: slow, operation: slow };
    let functions = setup.in_process_on(&config, timeouts).await;
    let client = functions.meter.client(timeouts).await;
    let table = &config.tables.logs;
    let reads = [
        ("one user's log", format!("/api/logs?userId={USER}&page_size=20")),
        ("one key's log", format!("/api/logs?logKey={}&page_size=20", LogKey::UserPasswordVerify.as_str())),
        ("every entry", "/api/logs?page_size=20".to_string()),
    ];
    let mut points = Vec::new();
    let mut loaded = 0;
    for &n in sizes {
        let start = Instant::now();
        load(&client, table, loaded, n, config.log_retention_days).await;
        loaded = n;
        println!("totals: {n} entries loaded ({:.1} s)", start.elapsed().as_secs_f64());
        for totals in ["counted", "counters"] {
            if totals == "counters" {
                set_counters(&client, table, n).await;
            }
            functions.meter.take();
            for (read, path) in &reads {
                let runs = if n > 10_000 { 1 } else { 3 };
                let (mut latency, mut calls, mut items, mut total) = (vec![], vec![], vec![], String::new());
                for _ in 0..runs {
                    let start = Instant::now();
                    let event = setup.event("GET", path, None);
                    let (status, body, header) = functions.send_reading(&event, "total-number").await;
                    latency.push(ms(start.elapsed()));
                    assert_eq!(status, 200, "{read} at {n} entries: {body}");
                    let made = functions.meter.take();
                    calls.push(made.len() as f64);
                    items.push(made.iter().map(|c| c.scanned.max(c.items)).sum::<u64>() as f64);
                    total = header.unwrap_or_default();
                }
                let point = Point {
                    read: read.to_string(),
                    totals,
                    entries: n,
                    latency_ms: median(&latency),
                    calls: median(&calls),
                    items_read: median(&items),
                    total_number: total,
                };
                println!(
                    "totals {n} {read} ({totals}): {} ms, {} calls, {} items read, Total-Number {}",
                    fmt(point.latency_ms),
                    point.calls,
                    point.items_read,
                    point.total_number
                );
                points.push(point);
            }
            if totals == "counters" {
                clear_counters(&client, table).await;
            }
        }
    }
    render(points, sizes)
}

fn render(points: Vec<Point>, sizes: &[usize]) -> Section {
    let mut headers = vec!["read".to_string(), "Total-Number from".to_string()];
    for n in sizes {
        headers.push(format!("{n}: ms"));
        headers.push(format!("{n}: calls / items read"));
    }
    let mut rows = Vec::new();
    let mut budgets = Vec::new();
    let mut seen: Vec<(String, &str)> = Vec::new();
    for p in &points {
        if !seen.contains(&(p.read.clone(), p.totals)) {
            seen.push((p.read.clone(), p.totals));
        }
    }
    for (read, totals) in seen {
        let at: Vec<&Point> = points.iter().filter(|p| p.read == read && p.totals == totals).collect();
        let mut row = vec![read.clone(), totals.to_string()];
        for p in &at {
            row.push(fmt(p.latency_ms));
            row.push(format!("{} / {}", p.calls, p.items_read));
        }
        rows.push(row);
        if totals == "counters" {
            let (first, last) = (at[0], at[at.len() - 1]);
            let growth = last.items_read / first.items_read.max(1.0);
            budgets.push(Budget::new(
                format!(
                    "{read}: items read flat from {} to {} entries (within {FLAT}×)",
                    first.entries, last.entries
                ),
                format!("×{FLAT}"),
                format!("×{}", fmt(growth)),
                growth <= FLAT,
            ));
        }
    }
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let markdown = format!(
        "One user's log loaded with N verify entries (so the user's, the key's and the whole \
         table's logs each hold N), then each list (`page_size=20`) sent in-process on the metered \
         client; medians. *Counted*: before the log counters begin (or for a filter they do not \
         answer), `Total-Number` is a `Select=COUNT` over every shard, billed on every entry it \
         reads. *Counters*: the counters as the log-counts function leaves them (written here \
         directly; the function's own cost is per stream batch, docs/data-model.md \"Totals\"), \
         read with one `BatchGetItem`. *Items read* is the items returned plus the items \
         Queries scanned (`ScannedCount`).\n\n{}",
        table(&header_refs, &rows)
    );
    Section { key: "totals", title: "Log totals", json: json!(points), markdown, budgets }
}
