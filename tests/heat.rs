//! Heat: a realistic mix of 10,000 operations (creates, patches, verifies, token requests,
//! deletes) with every DynamoDB write and read recorded by partition key, per table and per
//! index (the index's partition value taken from the written item and the schema's index
//! definitions). No partition but a single user's own may take more than its 1/N share of its
//! index's writes: a shared partition caps the whole deployment near 1,000 writes/s.

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemInput, delete_item::DeleteItemInput, get_item::GetItemInput,
    put_item::PutItemInput, query::QueryInput, transact_write_items::TransactWriteItemsInput,
    update_item::UpdateItemInput,
};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use integration_tests::Env;
use shared::aws::{Aws, Timeouts, ToolOptions};
use shared::store::schema::{self, TableDef};
use shared::store::shards::{SHARDS, sharded};

type Item = HashMap<String, AttributeValue>;

/// Where writes or reads landed: (table, index or "table") → partition value → count.
type Heat = HashMap<(String, String), HashMap<String, u64>>;

#[derive(Debug, Default)]
struct Recorder {
    /// Table name → (logical id, definition), for every round's tables.
    tables: Mutex<HashMap<String, (&'static str, &'static TableDef)>>,
    writes: Mutex<Heat>,
    reads: Mutex<Heat>,
    /// (table, index) → the items written to it: the independent draws of the shard function
    /// (one user patched ten times is ten writes but one draw).
    items: Mutex<HashMap<(String, String), HashSet<String>>>,
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

impl Recorder {
    fn table(&self, name: &str) -> Option<(&'static str, &'static TableDef)> {
        self.tables.lock().unwrap().get(name).copied()
    }

    fn note(heat: &Mutex<Heat>, table: &str, index: &str, partition: String) {
        let mut heat = heat.lock().unwrap();
        *heat.entry((table.to_string(), index.to_string())).or_default().entry(partition).or_default() += 1;
    }

    /// A write of a whole item: its table partition and every index it has both keys for
    /// (an item without an index's sort key is not in that index).
    fn put(&self, table: &str, item: &Item) {
        let Some((logical, def)) = self.table(table) else { return };
        let Some(pk) = text(item, def.hash_key) else { return };
        self.note_item(logical, "table", &pk);
        Self::note(&self.writes, logical, "table", pk.clone());
        for index in def.indexes {
            if let (Some(partition), Some(_)) = (text(item, index.hash_key), text(item, index.range_key)) {
                self.note_item(logical, index.name, &pk);
                Self::note(&self.writes, logical, index.name, partition);
            }
        }
    }

    /// A write by key alone (an update or a delete): its table partition and, for a user item,
    /// the `byCreated` shard its id puts it in (a delete removes that index entry).
    fn by_key(&self, table: &str, key: &Item) {
        let Some((logical, def)) = self.table(table) else { return };
        let Some(pk) = text(key, def.hash_key) else { return };
        if let Some(id) = pk.strip_prefix("user#") {
            self.note_item(logical, "byCreated", &pk);
            Self::note(&self.writes, logical, "byCreated", sharded("user", id));
        }
        self.note_item(logical, "table", &pk);
        Self::note(&self.writes, logical, "table", pk);
    }

    fn note_item(&self, table: &str, index: &str, pk: &str) {
        let mut items = self.items.lock().unwrap();
        items.entry((table.to_string(), index.to_string())).or_default().insert(pk.to_string());
    }

    fn read(&self, table: &str, index: &str, partition: String) {
        let logical = self.table(table).map_or(table, |(logical, _)| logical);
        Self::note(&self.reads, logical, index, partition);
    }
}

#[derive(Debug)]
struct Recording(Arc<Recorder>);

impl Intercept for Recording {
    fn name(&self) -> &'static str {
        "heat-recorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let recorder = &self.0;
        let input = context.input();
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            recorder.put(put.table_name().unwrap_or_default(), put.item().unwrap_or(&Item::new()));
        } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            recorder.by_key(update.table_name().unwrap_or_default(), update.key().unwrap_or(&Item::new()));
        } else if let Some(delete) = input.downcast_ref::<DeleteItemInput>() {
            recorder.by_key(delete.table_name().unwrap_or_default(), delete.key().unwrap_or(&Item::new()));
        } else if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
            for write in tx.transact_items() {
                if let Some(put) = write.put() {
                    recorder.put(put.table_name(), put.item());
                } else if let Some(update) = write.update() {
                    recorder.by_key(update.table_name(), update.key());
                } else if let Some(delete) = write.delete() {
                    recorder.by_key(delete.table_name(), delete.key());
                }
            }
        } else if let Some(get) = input.downcast_ref::<GetItemInput>() {
            let key =
                get.key().unwrap_or(&Item::new()).values().filter_map(|v| v.as_s().ok()).cloned().collect();
            recorder.read(get.table_name().unwrap_or_default(), "table", key);
        } else if let Some(batch) = input.downcast_ref::<BatchGetItemInput>() {
            for (table, keys) in batch.request_items().into_iter().flatten() {
                for key in keys.keys() {
                    let key = key.values().filter_map(|v| v.as_s().ok()).cloned().collect();
                    recorder.read(table, "table", key);
                }
            }
        } else if let Some(query) = input.downcast_ref::<QueryInput>() {
            // Every query here binds its partition as `:p` or `:k`, or (a field index) `:p`.
            let values = query.expression_attribute_values().cloned().unwrap_or_default();
            let partition = values.get(":p").or(values.get(":k")).and_then(|v| v.as_s().ok()).cloned();
            recorder.read(
                query.table_name().unwrap_or_default(),
                query.index_name().unwrap_or("table"),
                partition.unwrap_or_default(),
            );
        }
        Ok(())
    }
}

/// A partition that belongs to one user: their item, lockout window and guards, their
/// entries in `byUser`, each log entry's own id.
fn one_users_own(table: &str, index: &str, partition: &str) -> bool {
    match (table, index) {
        ("UsersTable", "table") => !partition.starts_with("counter#"),
        ("LogsTable", "table") | ("LogsTable", "byUser") => true,
        _ => false,
    }
}

fn report(title: &str, heat: &Heat) {
    println!("{title}: table / index — count, partitions, hottest partition (share)");
    let mut rows: Vec<_> = heat.iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    for ((table, index), partitions) in rows {
        let total: u64 = partitions.values().sum();
        let (hottest, count) = partitions.iter().max_by_key(|(_, n)| **n).unwrap();
        let share = *count as f64 / total as f64;
        println!(
            "  {table} / {index}: {total}, {} partitions, {hottest} {count} ({share:.3})",
            partitions.len()
        );
    }
}

/// Operations per round, each round on fresh tables: the emulator copies a whole table for
/// every transaction (to roll it back), so its cost grows with the table; rounds of 1,000
/// keep each copy small. Where writes land does not depend on how full a table is.
///
/// A round takes about a minute on the emulator, so `scripts/test` runs `HEAT_ROUNDS=2` and
/// the full replay of 10,000 operations is `HEAT_ROUNDS=10` (the default when run alone).
const ROUNDS: usize = 10;
const CREATES: usize = 150;
const PASSWORD_EVERY: usize = 10;
const PATCHES: usize = 350;
const VERIFIES: usize = 100;
const TOKENS: usize = 300;
const DELETES: usize = 100;
const LANES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_shared_partition_takes_more_than_its_share_of_writes() {
    let rounds = std::env::var("HEAT_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(ROUNDS);
    let recorder = Arc::new(Recorder::default());
    let mut operations = 0;
    for _ in 0..rounds {
        operations += round(&recorder).await;
    }
    assert!(operations >= 1_000 * rounds);
    let writes = recorder.writes.lock().unwrap().clone();
    let reads = recorder.reads.lock().unwrap().clone();
    report(&format!("writes of {operations} operations"), &writes);
    report("reads", &reads);

    // Every index that took real traffic is spread: its hottest shared partition holds no
    // more than its 1/N share of the index's writes, give or take chance. Shards are drawn from
    // random ids, one draw per item written, so the bound is the share plus five standard
    // deviations of a binomial over those items (about 1 in 100,000 of a false alarm). One
    // unsharded partition would hold N times its share.
    let items = recorder.items.lock().unwrap().clone();
    let mut checked = 0;
    let share = 1.0 / f64::from(SHARDS);
    for ((table, index), partitions) in &writes {
        let total: u64 = partitions.values().sum();
        // Indexes every round writes to at least half its operations' worth.
        if total < 500 * rounds as u64 {
            continue;
        }
        let draws = items[&(table.clone(), index.clone())].len() as f64;
        let limit = total as f64 * (share + 5.0 * (share * (1.0 - share) / draws).sqrt());
        for (partition, count) in partitions {
            if one_users_own(table, index, partition) {
                continue;
            }
            assert!(
                (*count as f64) <= limit,
                "{table}/{index}: partition {partition} took {count} of {total} writes (limit {limit:.0})"
            );
        }
        checked += 1;
    }
    // byCreated, byTime, byKeyShard, byAppShard, byUser, both tables, and the field indexes.
    assert!(checked >= 8, "{checked} indexes took traffic: {:?}", writes.keys().collect::<Vec<_>>());
    for index in ["byCreated", "byTime", "byKeyShard", "byAppShard"] {
        let table = if index == "byCreated" { "UsersTable" } else { "LogsTable" };
        let partitions = &writes[&(table.to_string(), index.to_string())];
        assert!(partitions.len() >= SHARDS as usize, "{index} spread over {} partitions", partitions.len());
    }
}

/// Names as people have them: the first letters of real names are far from uniform (a fifth
/// of these start with "j" or "m").
const NAMES: [&str; 20] = [
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
];

/// Operations spread over lanes that run side by side.
fn lanes_of(ops: &[(Op, usize)]) -> Vec<Vec<(Op, usize)>> {
    (0..LANES).map(|lane| ops.iter().skip(lane).step_by(LANES).copied().collect()).collect()
}

#[derive(Clone, Copy)]
enum Op {
    Patch,
    Verify,
    Token,
    Delete,
}

/// One round on fresh tables, recorded: creates, then patches, verifies and token requests
/// interleaved, then deletes. Returns the number of operations.
async fn round(recorder: &Arc<Recorder>) -> usize {
    let mut env = Env::new().await;
    for (def, name) in schema::tables(&env.config.tables) {
        let def = (def.logical_id, schema_def(def.logical_id));
        recorder.tables.lock().unwrap().insert(name.to_string(), def);
    }
    // Patient timeouts: an emulator on two busy cores can take over a second to answer, and a
    // retried create whose first attempt went through answers 422. This test is about where
    // writes land, not how fast.
    let options = ToolOptions { timeouts: Timeouts::patient(), ..ToolOptions::default() };
    let patient = Aws::tools(options).await.dynamodb();
    let config = patient.config().to_builder().interceptor(Recording(recorder.clone())).build();
    env.functions = in_process::Functions::start(
        &env.config,
        aws_sdk_dynamodb::Client::from_conf(config),
        env.keys.clone(),
    )
    .unwrap();
    let (app, secret) = env.create_app(&["all"]).await;
    let (env, client_id, secret) = (&env, app.client_id.as_str(), secret.as_str());

    let creates: Vec<usize> = (0..CREATES).collect();
    let lanes = (0..LANES).map(|lane| creates.iter().skip(lane).step_by(LANES).copied().collect::<Vec<_>>());
    let created = futures_util::future::join_all(lanes.map(|lane| async move {
        let mut ids = Vec::new();
        for n in lane {
            let name = NAMES[n % NAMES.len()];
            let mut body = json!({
                "username": format!("{name}_{n}"),
                "primaryEmail": format!("{name}.{n}@example.com"),
                "name": name,
            });
            if n % PASSWORD_EVERY == 0 {
                body["password"] = json!("heat-password-1");
            }
            ids.push(env.create_user(body).await["id"].as_str().unwrap().to_string());
        }
        ids
    }))
    .await;
    let mut ids: Vec<String> = created.into_iter().flatten().collect();
    ids.sort();
    let ids = &ids;

    let run = |operations: Vec<(Op, usize)>| async move {
        for (op, n) in operations {
            let status = match op {
                Op::Patch => {
                    let name = NAMES[n * 3 % NAMES.len()];
                    env.patch(&format!("/api/users/{}", ids[n % ids.len()]), json!({"name": name}))
                        .await
                        .status
                }
                Op::Verify => {
                    // Over all users, password or not (one without answers 422 after a read),
                    // every other one with the right password.
                    let id = &ids[n * 7 % ids.len()];
                    let password = if n % 2 == 0 { "heat-password-1" } else { "wrong" };
                    env.post(&format!("/api/users/{id}/password/verify"), json!({"password": password}))
                        .await
                        .status
                }
                Op::Token => {
                    let form = "grant_type=client_credentials&resource=https%3A%2F%2Fdefault.logto.app%2Fapi&scope=all";
                    env.token_request(Some((client_id, secret)), form).await.status
                }
                Op::Delete => env.delete(&format!("/api/users/{}", ids[ids.len() - 1 - n])).await.status,
            };
            assert!(matches!(status, 200 | 204 | 422 | 429), "{n}: {status}");
        }
    };
    let mut mixed: Vec<(Op, usize)> = (0..PATCHES).map(|n| (Op::Patch, n)).collect();
    mixed.extend((0..VERIFIES).map(|n| (Op::Verify, n)));
    mixed.extend((0..TOKENS).map(|n| (Op::Token, n)));
    // Interleaved in a fixed pseudo-random order.
    let mut order: Vec<usize> = (0..mixed.len()).collect();
    order.sort_by_key(|i| i * 7919 % 10_007);
    let mixed: Vec<(Op, usize)> = order.into_iter().map(|i| mixed[i]).collect();
    futures_util::future::join_all(lanes_of(&mixed).into_iter().map(run)).await;
    let deletes: Vec<(Op, usize)> = (0..DELETES).map(|n| (Op::Delete, n)).collect();
    futures_util::future::join_all(lanes_of(&deletes).into_iter().map(run)).await;
    let report = shared::store::check::check(&patient, &env.config).await.expect("the checker runs");
    assert!(report.problems.is_empty(), "broken invariants: {:#?}", report.problems);
    CREATES + PATCHES + VERIFIES + TOKENS + DELETES
}

fn schema_def(logical_id: &str) -> &'static TableDef {
    let names = shared::config::TableNames::with_prefix("any");
    schema::tables(&names).into_iter().map(|(def, _)| def).find(|d| d.logical_id == logical_id).unwrap()
}
