//! Ceilings and cost, from the calls each route made (recorded by the meter): where every
//! read and write landed (table or index, and partition), and how many capacity units it
//! took by DynamoDB's rules (writes: 1 unit per started KB of the item or index entry, twice
//! in a transaction; reads: 1 unit per started 4 KB, half for eventually consistent reads).
//!
//! A route's ceiling is the request rate at which the busiest partition it shares with other
//! users' requests reaches DynamoDB's per-partition limits (1,000 write units/s, 3,000 read
//! units/s). A write-sharded value spreads over its shards, so its partitions each take a 1/16
//! share of that value's units. Partitions of one user's own items (the user, its guards, its
//! lockout window, its log entries) bound only that user's requests, listed apart. A route
//! whose instance keeps what it read (a list page, an app) is measured asked again too: when
//! that reads no shared partition, the first reads are bounded by instances, not requests.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

use shared::store::schema::{self, Projection, TableDef};
use shared::store::shards::{COUNTER_SHARDS, SHARDS};

use crate::calls::Measured;
use crate::meter::Call;
use crate::meter::item_size;
use crate::report::{Budget, Section, table};

const WRITE_LIMIT: f64 = 1_000.0;
const READ_LIMIT: f64 = 3_000.0;
/// The rate every route is sized for before any shared partition saturates.
const TARGET: f64 = 10_000.0;
/// Lambda's default concurrency per account and region: the instances a function may have
/// unless the account asks for more.
const DEFAULT_CONCURRENCY: f64 = 1_000.0;

/// Published on-demand prices, us-east-1 (DynamoDB since its November 2024 price change;
/// Lambda on arm64, the template's default architecture; HTTP API for the first 300 million).
const WRITE_UNIT_PRICE: f64 = 0.625 / 1e6;
const READ_UNIT_PRICE: f64 = 0.125 / 1e6;
const LAMBDA_GB_SECOND_PRICE: f64 = 0.000_013_333_4;
const LAMBDA_REQUEST_PRICE: f64 = 0.20 / 1e6;
const HTTP_API_REQUEST_PRICE: f64 = 1.00 / 1e6;

/// Who shares a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sharing {
    /// Every request of the route, spread over the value's write shards.
    Sharded,
    /// Every request of the route, on one partition: the user counter as written before it
    /// was sharded (still read, so that an unmigrated deployment's total is right).
    Single,
    /// Every request of the route for one app (its item in the apps table).
    OneApp,
    /// One user's (or one item's) requests only.
    OneUser,
}

/// The units one request of a route puts on one partition group.
#[derive(Clone, Debug, Default)]
struct Load {
    write_units: f64,
    read_units: f64,
}

/// One route's measured load: per (table / index, partition group), and in total.
pub struct RouteLoad {
    route: String,
    status: u16,
    seconds: f64,
    memory_mb: f64,
    groups: BTreeMap<(Sharing, String), Load>,
    write_units: f64,
    read_units: f64,
    /// The same request asked again, where the instance keeps what it read.
    again: Option<Box<RouteLoad>>,
}

fn text(value: &Value) -> Option<&str> {
    value.get("S").and_then(Value::as_str)
}

/// A partition value without its shard suffix, and whether it had one.
fn unsharded(value: &str) -> (String, bool) {
    match value.rsplit_once('#') {
        Some((base, shard)) if shard.len() == 2 && shard.bytes().all(|b| b.is_ascii_digit()) => {
            (base.to_string(), true)
        }
        _ => (value.to_string(), false),
    }
}

struct Tables {
    /// Table name → its definition.
    defs: HashMap<String, &'static TableDef>,
    /// User partition key → the user item last written (what a delete removes from indexes).
    last_user: HashMap<String, Value>,
}

impl Tables {
    fn group(&self, table: &str, index: &str, value: &str) -> (Sharing, String) {
        let logical = self.defs.get(table).map_or(table, |d| d.logical_id);
        let (base, sharded) = unsharded(value);
        let place = format!("{logical} / {index}");
        // Sharded items of a table: the user counter's shards, and the log counters' (a
        // user's own log counter, `count#user#<id>`, is not sharded).
        let counter = base.starts_with("counter#") || base.starts_with("count#");
        if !sharded && index == "table" && base == shared::store::users::COUNTER {
            (Sharing::Single, format!("{place} `{base}` (unsharded)"))
        } else if sharded && (index != "table" || counter) {
            // A field index's partition is a first letter: name it by its index alone.
            let base =
                if index.starts_with("by") && base.chars().count() == 1 { "a letter".into() } else { base };
            (Sharing::Sharded, format!("{place} `{base}#··`"))
        } else if logical == "AppsTable" {
            (Sharing::OneApp, format!("{place} (the app)"))
        } else {
            (Sharing::OneUser, place)
        }
    }

    /// The entries a whole item has in its table's indexes, with their sizes.
    fn index_entries(&self, table: &str, item: &Value) -> Vec<(&'static str, String, u64)> {
        let Some(def) = self.defs.get(table) else { return Vec::new() };
        let attributes = item.as_object().cloned().unwrap_or_default();
        let mut entries = Vec::new();
        for index in def.indexes {
            let (Some(partition), Some(_)) = (
                attributes.get(index.hash_key).and_then(text),
                attributes.get(index.range_key).and_then(text),
            ) else {
                continue;
            };
            let keep = |name: &str| {
                name == def.hash_key
                    || name == index.hash_key
                    || name == index.range_key
                    || match index.projection {
                        Projection::All => true,
                        Projection::KeysOnly => false,
                        Projection::Include(fields) => fields.contains(&name),
                    }
            };
            let entry: serde_json::Map<String, Value> = attributes
                .iter()
                .filter(|(name, _)| keep(name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            entries.push((index.name, partition.to_string(), item_size(&Value::Object(entry))));
        }
        entries
    }
}

fn units(bytes: u64, per: u64) -> f64 {
    bytes.div_ceil(per).max(1) as f64
}

impl RouteLoad {
    fn add(&mut self, group: (Sharing, String), write_units: f64, read_units: f64) {
        let load = self.groups.entry(group).or_default();
        load.write_units += write_units;
        load.read_units += read_units;
        self.write_units += write_units;
        self.read_units += read_units;
    }

    /// A whole item written: its table partition and its index entries.
    fn put(&mut self, tables: &mut Tables, table: &str, item: &Value, factor: f64) {
        let Some(def) = tables.defs.get(table).copied() else { return };
        let pk = item.get(def.hash_key).and_then(text).unwrap_or_default().to_string();
        self.add(tables.group(table, "table", &pk), factor * units(item_size(item), 1024), 0.0);
        for (index, partition, size) in tables.index_entries(table, item) {
            self.add(tables.group(table, index, &partition), units(size, 1024), 0.0);
        }
        if pk.starts_with("user#") {
            tables.last_user.insert(pk, item.clone());
        }
    }

    /// An update or delete by key: its table partition (an item under 1 KB) and, for a deleted
    /// user, the index entries of the user as last written.
    fn by_key(&mut self, tables: &Tables, table: &str, key: &Value, factor: f64, delete: bool) {
        let Some(def) = tables.defs.get(table).copied() else { return };
        let pk = key.get(def.hash_key).and_then(text).unwrap_or_default();
        self.add(tables.group(table, "table", pk), factor, 0.0);
        if let (true, Some(item)) = (delete, tables.last_user.get(pk)) {
            for (index, partition, size) in tables.index_entries(table, item) {
                self.add(tables.group(table, index, &partition), units(size, 1024), 0.0);
            }
        }
    }
}

/// Where each route's calls landed and what they took (and those of the route asked again,
/// where the instance keeps what it read).
pub fn loads(config: &shared::Config, routes: &[Measured]) -> Vec<RouteLoad> {
    let defs =
        schema::tables(&config.tables).into_iter().map(|(def, name)| (name.to_string(), def)).collect();
    let mut tables = Tables { defs, last_user: HashMap::new() };
    let mut loads = Vec::new();
    for measured in routes {
        let memory_mb = if measured.route.contains("password/verify") || measured.route.contains("…/password")
        {
            1024.0
        } else {
            256.0
        };
        let load_of = |tables: &mut Tables, calls: &[Call], elapsed: std::time::Duration| {
            let mut load = RouteLoad {
                route: measured.route.clone(),
                status: measured.status,
                seconds: elapsed.as_secs_f64(),
                memory_mb,
                groups: BTreeMap::new(),
                write_units: 0.0,
                read_units: 0.0,
                again: None,
            };
            load.add_calls(tables, calls);
            load
        };
        let mut load = load_of(&mut tables, &measured.calls, measured.elapsed);
        if let Some((calls, elapsed)) = &measured.again {
            load.again = Some(Box::new(load_of(&mut tables, calls, *elapsed)));
        }
        loads.push(load);
    }
    loads
}

impl RouteLoad {
    /// Each call's units, on the partitions it landed on.
    fn add_calls(&mut self, tables: &mut Tables, calls: &[Call]) {
        let load = self;
        for call in calls {
            let request = &call.request;
            let table = request.get("TableName").and_then(Value::as_str).unwrap_or_default();
            let consistent = request.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
            let read_factor = if consistent { 1.0 } else { 0.5 };
            match call.operation.as_str() {
                "PutItem" => load.put(tables, table, &request["Item"], 1.0),
                "UpdateItem" => load.by_key(tables, table, &request["Key"], 1.0, false),
                "DeleteItem" => load.by_key(tables, table, &request["Key"], 1.0, true),
                "TransactWriteItems" => {
                    for write in request["TransactItems"].as_array().into_iter().flatten() {
                        if let Some(put) = write.get("Put") {
                            let table = put["TableName"].as_str().unwrap_or_default();
                            load.put(tables, table, &put["Item"], 2.0);
                        } else if let Some(update) = write.get("Update") {
                            let table = update["TableName"].as_str().unwrap_or_default();
                            load.by_key(tables, table, &update["Key"], 2.0, false);
                        } else if let Some(delete) = write.get("Delete") {
                            let table = delete["TableName"].as_str().unwrap_or_default();
                            load.by_key(tables, table, &delete["Key"], 2.0, true);
                        }
                    }
                }
                "GetItem" => {
                    let def = tables.defs.get(table).copied();
                    let pk =
                        def.and_then(|d| request["Key"].get(d.hash_key)).and_then(text).unwrap_or_default();
                    let read = read_factor * units(call.item_bytes, 4096);
                    load.add(tables.group(table, "table", pk), 0.0, read);
                }
                "BatchGetItem" => {
                    let per_item = call.item_bytes / call.items.max(1);
                    for (table, request) in request["RequestItems"].as_object().into_iter().flatten() {
                        let consistent =
                            request.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
                        let factor = if consistent { 1.0 } else { 0.5 };
                        let def = tables.defs.get(table.as_str()).copied();
                        for key in request["Keys"].as_array().into_iter().flatten() {
                            let pk = def.and_then(|d| key.get(d.hash_key)).and_then(text).unwrap_or_default();
                            load.add(tables.group(table, "table", pk), 0.0, factor * units(per_item, 4096));
                        }
                    }
                }
                "Query" => {
                    let index = request.get("IndexName").and_then(Value::as_str).unwrap_or("table");
                    let values = &request["ExpressionAttributeValues"];
                    let partition =
                        [":p", ":k"].iter().find_map(|p| values.get(*p).and_then(text)).unwrap_or_default();
                    let read = 0.5 * units(call.item_bytes, 4096);
                    load.add(tables.group(table, index, partition), 0.0, read);
                }
                _ => {}
            }
        }
    }
}

/// The rate at which a group's partitions saturate, for one request's load on it.
fn saturation(sharing: Sharing, place: &str, load: &Load) -> f64 {
    let spread = match sharing {
        Sharing::Sharded if place.contains("counter#") => f64::from(COUNTER_SHARDS),
        Sharing::Sharded => f64::from(SHARDS),
        _ => 1.0,
    };
    let by_writes =
        if load.write_units > 0.0 { WRITE_LIMIT * spread / load.write_units } else { f64::INFINITY };
    let by_reads = if load.read_units > 0.0 { READ_LIMIT * spread / load.read_units } else { f64::INFINITY };
    by_writes.min(by_reads)
}

fn rate(value: f64) -> String {
    if value.is_infinite() { "–".into() } else { format!("{value:.0}") }
}

impl RouteLoad {
    /// The lowest saturation rate among the partitions `sharing` selects, and where.
    fn binding(&self, shared: bool) -> Option<(f64, String)> {
        self.groups
            .iter()
            .filter(|((sharing, _), _)| (*sharing != Sharing::OneUser) == shared)
            .map(|((sharing, place), l)| (saturation(*sharing, place, l), place.clone()))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// How long an instance keeps what this route read: the app for a token request, else a
    /// list page (the template's settings).
    fn kept_for(&self) -> f64 {
        let ms = if self.route.contains("/oidc/token") {
            shared::config::DEFAULT_APP_CACHE_MS
        } else {
            shared::config::TEMPLATE_LIST_CACHE_MS
        };
        ms as f64 / 1000.0
    }
}

pub fn ceilings(loads: &[RouteLoad]) -> Section {
    let (mut rows, mut results, mut under) = (Vec::new(), Vec::new(), Vec::new());
    for load in loads {
        let (ceiling, place) = load.binding(true).unwrap_or((f64::INFINITY, "none shared".into()));
        let own = load.binding(false);
        // Asked again within the time the instance keeps what it read: the second request's
        // ceiling, and the instances whose first reads alone would saturate the partition
        // (each makes them at most once per that time).
        let again = load.again.as_ref().map(|again| {
            let ceiling_again = again.binding(true).map_or(f64::INFINITY, |(rate, _)| rate);
            (ceiling_again, ceiling * load.kept_for())
        });
        let kept = again.is_some_and(|(ceiling_again, instances)| {
            ceiling_again >= TARGET && instances >= DEFAULT_CONCURRENCY
        });
        if ceiling < TARGET && !kept {
            under.push(format!("{} ({})", load.route, rate(ceiling)));
        }
        let again_text = match again {
            None => "–".to_string(),
            Some((a, instances)) if a.is_infinite() && ceiling.is_finite() => {
                format!("any rate; first reads saturate at {} instances", rate(instances))
            }
            Some((a, _)) => rate(a),
        };
        rows.push(vec![
            format!("{} → {}", load.route, load.status),
            rate(ceiling),
            place.clone(),
            again_text,
            own.as_ref().map_or("–".into(), |(r, p)| format!("{} ({p})", rate(*r))),
        ]);
        results.push(json!({
            "route": load.route, "ceiling": ceiling.is_finite().then_some(ceiling), "binding": place,
            "asked_again": again.map(|(a, _)| a).filter(|a| a.is_finite()),
            "instances_to_saturate": again.map(|(_, i)| i).filter(|i| i.is_finite()),
            "per_user": own.as_ref().map(|(r, _)| *r).filter(|r| r.is_finite()),
        }));
    }
    let budgets = vec![Budget::new(
        "every route ≥ 10,000 requests/s before a shared partition saturates (or, for what an \
         instance keeps, asked again: none, and first reads only past 1,000 instances)",
        "≥ 10000/s",
        if under.is_empty() {
            format!("all {} routes", loads.len())
        } else {
            format!("under: {}", under.join(", "))
        },
        under.is_empty(),
    )];
    let markdown = format!(
        "From the calls of the section above, each with where it landed (table or index, and \
         partition) and its capacity units by DynamoDB's rules (1 write unit per started KB of an \
         item or index entry, ×2 in a transaction; 1 read unit per started 4 KB, ½ when eventually \
         consistent). *Ceiling*: the request rate at which the busiest partition the route shares \
         with every other request reaches 1,000 write or 3,000 read units/s — a write-sharded value \
         (`#··`) spreads over its {SHARDS} shards. *Asked again*: the same for the request sent \
         again to an instance that keeps what it read (a list page for the template's \
         `LIST_CACHE_MS`, {list} ms; an app for `APP_CACHE_MS`, {app} ms): when it reads no shared \
         partition, each instance makes the first read at most once per that time, so the \
         partition saturates only past *ceiling × that time* instances, whatever the request rate \
         (an account's default concurrency is 1,000). *Per user*: the same for partitions of one \
         user's own items, which bound only that user's requests (or one app's, for its item). \
         Item sizes are the fixture's: a few hundred bytes a user.\n\n{}",
        table(
            &[
                "route → status",
                "ceiling (requests/s)",
                "binding partition",
                "asked again (requests/s)",
                "per user (requests/s)"
            ],
            &rows
        ),
        list = shared::config::TEMPLATE_LIST_CACHE_MS,
        app = shared::config::DEFAULT_APP_CACHE_MS,
    );
    Section {
        key: "ceilings",
        title: "Ceilings: where each route saturates a partition",
        json: json!(results),
        markdown,
        budgets,
    }
}

pub fn cost(loads: &[RouteLoad]) -> Section {
    let (mut rows, mut results) = (Vec::new(), Vec::new());
    for load in loads {
        // Lambda bills each started millisecond; the in-process time here includes the
        // emulator's own (slower than DynamoDB's) answers, so it errs high for I/O routes.
        let billed_seconds = (load.seconds * 1000.0).ceil() / 1000.0;
        let gb_seconds = load.memory_mb / 1024.0 * billed_seconds;
        let dynamodb = load.write_units * WRITE_UNIT_PRICE + load.read_units * READ_UNIT_PRICE;
        let lambda = gb_seconds * LAMBDA_GB_SECOND_PRICE + LAMBDA_REQUEST_PRICE;
        let total = dynamodb + lambda + HTTP_API_REQUEST_PRICE;
        rows.push(vec![
            format!("{} → {}", load.route, load.status),
            format!("{:.0}", load.write_units),
            format!("{:.1}", load.read_units),
            format!("{:.4}", gb_seconds),
            format!("{:.2}", dynamodb * 1e6),
            format!("{:.2}", lambda * 1e6),
            format!("{:.2}", total * 1e6),
        ]);
        results.push(json!({
            "route": load.route, "write_units": load.write_units, "read_units": load.read_units,
            "lambda_gb_seconds": gb_seconds, "usd_per_million": total * 1e6,
        }));
    }
    let markdown = format!(
        "Per request, from the same calls: DynamoDB write and read request units (index writes \
         included), Lambda GB-seconds (the template's memory: 1,024 MB for password routes, 256 MB \
         otherwise; billed time taken as this run's in-process time, which includes the emulator's \
         slower answers), and dollars per million requests at published on-demand prices in \
         us-east-1: DynamoDB $0.625 per million write and $0.125 per million read request units, \
         Lambda arm64 $0.0000133334 per GB-second and $0.20 per million requests, API Gateway HTTP \
         API $1.00 per million requests (included in the total).\n\n{}",
        table(
            &[
                "route → status",
                "write units",
                "read units",
                "Lambda GB-s",
                "DynamoDB $/M",
                "Lambda $/M",
                "total $/M"
            ],
            &rows
        )
    );
    Section { key: "cost", title: "Cost per route", json: json!(results), markdown, budgets: Vec::new() }
}
