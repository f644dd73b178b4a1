//! The log counters behind `Total-Number`: kept from the logs table's stream exactly once
//! (a retried batch, even a grown one, counts nothing twice), following TTL removals, answering
//! a large log's total without counting it, and counting on a migration the entries that
//! predate them. The invariant checker holds them to the table.
//!
//! The stream is replayed from the logs table's items in Lambda's shape, as in deliveries.rs.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::{Value, json};

use integration_tests::{Env, next_sequence_number};
use shared::store::log_counts::{LogCounts, Tally, count_legacy};
use shared::store::logs::{COUNTED_BELOW, LogFilter};
use shared::stream::StreamEvent;

fn counts(env: &Env) -> LogCounts {
    LogCounts::new(env.client.clone(), &env.config.tables.logs)
}

async fn counted(counts: &LogCounts, filter: LogFilter) -> u64 {
    counts.tally(&filter).await.unwrap().expect("counting has begun").counted
}

fn user(id: &str) -> LogFilter {
    LogFilter { user_id: Some(id.into()), ..Default::default() }
}

fn key(key: &str) -> LogFilter {
    LogFilter { key: Some(key.into()), ..Default::default() }
}

/// Removes an entry as TTL does, and the stream record that removal makes.
async fn expire(env: &Env, id: &str) -> Value {
    let out = env
        .client
        .delete_item()
        .table_name(&env.config.tables.logs)
        .key("id", AttributeValue::S(id.into()))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    let old = serde_json::to_value(serde_dynamo::Item::from(out.attributes.unwrap())).unwrap();
    json!({"eventID": "r", "eventName": "REMOVE", "eventSource": "aws:dynamodb",
           "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
           "dynamodb": {"OldImage": old, "SequenceNumber": next_sequence_number(), "StreamViewType": "NEW_AND_OLD_IMAGES"}})
}

/// The checker's word on the log counters (an entry removed before its time breaks another
/// invariant, that each change keeps its entry through the retention).
async fn assert_counters_hold(env: &Env) {
    let report = shared::store::check::check(&env.client, &env.config).await.unwrap();
    let about_counters: Vec<_> =
        report.problems.iter().filter(|p| p.contains("log counter") || p.contains("counting")).collect();
    assert!(about_counters.is_empty(), "{about_counters:#?}");
}

fn event(records: Vec<Value>) -> StreamEvent {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn records(event: StreamEvent) -> Vec<Value> {
    // Back to JSON, to build batches from parts.
    event
        .records
        .iter()
        .map(|r| {
            json!({"eventName": r.event_name, "eventSourceARN": r.event_source_arn, "dynamodb": {
                "NewImage": r.dynamodb.new_image.as_ref().map(|i| serde_json::to_value(i).unwrap()),
                "SequenceNumber": r.dynamodb.sequence_number}})
        })
        .collect()
}

#[tokio::test]
async fn counters_follow_inserts_and_removals_exactly_once() {
    let env = Env::new().await;
    let counts = counts(&env);
    assert_eq!(counts.tally(&LogFilter::default()).await.unwrap(), None, "nothing counted yet");
    let ann = env.create_user(json!({"username": "ann"})).await;
    let ann = ann["id"].as_str().unwrap();
    assert_eq!(env.patch(&format!("/api/users/{ann}"), json!({"name": "Ann"})).await.status, 200);
    let (first, last) = env.log_stream_since("").await;
    let first = records(first);
    counts.apply(&event(first.clone()).records).await.unwrap();
    let tally = counts.tally(&LogFilter::default()).await.unwrap().unwrap();
    assert!(tally.legacy_counted, "a table as new as its stream has no older entries to count");
    assert_eq!(counted(&counts, LogFilter::default()).await, 2);
    assert_eq!(counted(&counts, user(ann)).await, 2);
    assert_eq!(counted(&counts, key("User.Create")).await, 1);

    // Lambda retries a batch from its first record: as it was, or grown by later records.
    counts.apply(&event(first.clone()).records).await.unwrap();
    let bob = env.create_user(json!({"username": "bob"})).await;
    let bob = bob["id"].as_str().unwrap();
    let (later, _) = env.log_stream_since(&last).await;
    let grown: Vec<Value> = first.iter().cloned().chain(records(later)).collect();
    counts.apply(&event(grown).records).await.unwrap();
    assert_eq!(counted(&counts, LogFilter::default()).await, 3, "each entry counted once");
    assert_eq!(counted(&counts, key("User.Create")).await, 2);
    assert_eq!(counted(&counts, user(bob)).await, 1);
    env.assert_invariants().await;

    // TTL removes Ann's creation entry.
    let page = env.get(&format!("/api/logs?userId={ann}&logKey=User.Create")).await;
    let entry = page.body[0]["id"].as_str().unwrap().to_string();
    let removal = expire(&env, &entry).await;
    counts.apply(&event(vec![removal.clone()]).records).await.unwrap();
    counts.apply(&event(vec![removal]).records).await.unwrap();
    assert_eq!(counted(&counts, user(ann)).await, 1);
    assert_eq!(counted(&counts, key("User.Create")).await, 1);
    assert_eq!(counted(&counts, LogFilter::default()).await, 2);
    assert_counters_hold(&env).await;

    // The checker holds the counters to the table.
    env.client
        .update_item()
        .table_name(&env.config.tables.logs)
        .key("id", AttributeValue::S(format!("count#user#{bob}")))
        .update_expression("ADD n :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let report = shared::store::check::check(&env.client, &env.config).await.unwrap();
    let wrong = format!("log counter user#{bob} says 2, the table holds 1 such entries");
    assert!(report.problems.contains(&wrong), "{:#?}", report.problems);
}

#[tokio::test]
async fn a_large_logs_total_comes_from_its_counters_and_a_small_ones_is_counted() {
    let env = Env::new().await;
    let ann = env.create_user(json!({"username": "ann"})).await;
    let ann = ann["id"].as_str().unwrap();
    let total = |reply: &integration_tests::Reply| reply.header("total-number").unwrap().to_string();
    let list = format!("/api/logs?userId={ann}");
    assert_eq!(total(&env.get(&list).await), "1", "before counting begins, counted");
    let (stream, _) = env.log_stream_since("").await;
    counts(&env).apply(&stream.records).await.unwrap();
    assert_eq!(total(&env.get(&list).await), "1");

    // Ann's log as if it held many more entries than this table does: the total is the
    // counter's, so no list reads them to count them.
    let many = COUNTED_BELOW * 100;
    env.client
        .update_item()
        .table_name(&env.config.tables.logs)
        .key("id", AttributeValue::S(format!("count#user#{ann}")))
        .update_expression("SET n = :n")
        .expression_attribute_values(":n", AttributeValue::N(many.to_string()))
        .send()
        .await
        .unwrap();
    let page = env.get(&list).await;
    assert_eq!(page.status, 200);
    assert_eq!(total(&page), many.to_string());
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    let capped = env.get(&format!("{list}&enableCap=true")).await;
    assert_eq!((total(&capped).as_str(), capped.header("total-number-is-capped")), ("10001", Some("true")));
    // Filters the counters do not answer are counted: two equalities, or a time window.
    assert_eq!(total(&env.get(&format!("{list}&logKey=User.Create")).await), "1");
    assert_eq!(total(&env.get(&format!("{list}&start_time=0")).await), "1");
    // The counters' items are no entries.
    env.get(&format!("/api/logs/count%23user%23{ann}")).await.assert_error(404, "entity.not_exists_with_id");
}

#[tokio::test]
async fn a_migration_counts_the_entries_from_before_counting_began() {
    let mut env = Env::new().await;
    // Totals from the counters however small, to see them before and after the migration.
    let config = env.config.clone();
    env.functions.logs = logs::App::new(&config, env.client.clone()).unwrap().with_counted_below(0);
    let old = env.create_user(json!({"username": "old"})).await;
    let old = old["id"].as_str().unwrap();
    let (before, last) = env.log_stream_since("").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // As on a table upgraded to counters: its stream (and counting) began after the first
    // entry, which the first batch finds older than it.
    let since = shared::domain::now_ms();
    env.client
        .put_item()
        .table_name(&env.config.tables.logs)
        .item("id", AttributeValue::S("count#since".into()))
        .item("since", AttributeValue::N(since.to_string()))
        .item("legacyCounted", AttributeValue::Bool(false))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    env.create_user(json!({"username": "new"})).await;
    let (after, _) = env.log_stream_since(&last).await;
    let counts = counts(&env);
    counts.apply(&after.records).await.unwrap();
    let tally = counts.tally(&LogFilter::default()).await.unwrap().unwrap();
    assert!(matches!(tally, Tally { counted: 1, legacy_counted: false, .. }), "{tally:?}");
    let total = env.get("/api/logs").await;
    assert_eq!(total.header("total-number"), Some("2"), "the older entry is counted at read time");
    env.assert_invariants().await;

    let entries = env.client.scan().table_name(&env.config.tables.logs).send().await.unwrap().items.unwrap();
    let said = count_legacy(&env.client, &env.config.tables.logs, &entries).await.unwrap();
    assert_eq!(said, "log counters: 1 entries from before counting began counted");
    let again = count_legacy(&env.client, &env.config.tables.logs, &entries).await.unwrap();
    assert_eq!(again, "log counters: entries from before counting began are counted");
    // A reader that read `count#since` before keeps it a while: it counts only the older
    // entries no migration has counted, so its totals stay right.
    let total = env.get("/api/logs").await;
    assert_eq!(total.header("total-number"), Some("2"), "the migrated entry is not counted twice");
    let counts = crate::counts(&env);
    let tally = counts.tally(&LogFilter::default()).await.unwrap().unwrap();
    assert!(matches!(tally, Tally { counted: 2, legacy_counted: true, .. }), "{tally:?}");
    assert_eq!(counted(&counts, user(old)).await, 1);
    env.assert_invariants().await;

    // Its removal is subtracted: the migration marked it counted.
    let entry = before.records[0].dynamodb.new_image.as_ref().unwrap()["id"].clone();
    let serde_dynamo::AttributeValue::S(entry) = entry else { panic!("an id") };
    let removal = expire(&env, &entry).await;
    counts.apply(&event(vec![removal]).records).await.unwrap();
    assert_eq!(counted(&counts, user(old)).await, 0);
    assert_eq!(counted(&counts, LogFilter::default()).await, 1);
    assert_counters_hold(&env).await;
}
