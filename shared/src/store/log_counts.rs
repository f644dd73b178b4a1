//! Counters that make a log list's `Total-Number` O(1) (docs/data-model.md, "Totals"): how many
//! entries there are in all, per user, per app and per key — the filters that drive a list.
//!
//! They are kept from the logs table's stream by the `log-counts` function, not in each
//! entry's transaction: entries leave by TTL, which no transaction sees but the stream shows
//! (a `REMOVE` with the entry's old image), and counting there adds nothing to the writes of
//! verifies and token requests. The counters are items of the logs table under ids no entry
//! can have (`count#…`; entry ids are `[0-9a-z]`); the shared ones (all, per app, per key) are
//! write-sharded like the indexes, so no counter item is hot.
//!
//! Exactly once: a batch's counter updates are one transaction with a marker item named after
//! its first record and holding its last. Lambda retries a failed batch from that same first
//! record, so a retry finds the marker, skips what it covered, and counts only the rest.
//!
//! Counting starts at `since`, when the stream was turned on (its label, in every record's
//! source ARN): every entry created from then on was written after it, so is in the stream,
//! which the mapping reads from its start (`TRIM_HORIZON`). On a new table that is all of them.
//! Older ones, on a deployment upgraded to counters, are counted at read time until
//! `usersctl migrate` has counted them (marking each, so its removal is subtracted).

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::StoreError;
use super::batch::batch_get;
use super::logs::LOG_KIND;
use super::logs::LogFilter;
use super::shards::{every_shard, read_all, shard_of};
use super::tx::{Expression, Item, Transaction};
use crate::stream::StreamRecord;

const PREFIX: &str = "count#";
const SINCE_ID: &str = "count#since";
const MARKER_PREFIX: &str = "count#batch#";
/// Each record moves at most three counters besides the shared total: 32 records and their
/// marker stay under a transaction's 100 items.
const RECORDS_PER_WRITE: usize = 32;
/// Tries again of a transaction another batch's raced (jittered pauses of up to 64 ms) before
/// the batch fails and Lambda retries it.
const CONFLICT_RETRIES: u32 = 8;
/// Markers outlive the stream's 24-hour retention, after which no retry can come.
const MARKER_TTL_SECS: i64 = 2 * 86_400;

/// Whether a logs-table id is one of the counting items rather than an entry.
pub fn is_count_item(id: &str) -> bool {
    id.starts_with(PREFIX)
}

/// How long a reader keeps what it read of `count#since` while older entries are still being
/// counted (once they are, it never changes again): every list reads that one item otherwise,
/// which would cap all log lists together at one item's read rate.
const START_CACHE: Duration = Duration::from_secs(60);

/// When counting began, and whether older entries are counted.
#[derive(Clone, Copy, Debug)]
struct Start {
    since: i64,
    legacy_counted: bool,
}

impl Start {
    fn of(item: &Item) -> Self {
        Self {
            since: number(item, "since").unwrap_or(i64::MAX),
            legacy_counted: item
                .get("legacyCounted")
                .is_some_and(|v| matches!(v, AttributeValue::Bool(true))),
        }
    }
}

/// What the counters say for one filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Entries created since counting began (and older ones a migration counted).
    pub counted: u64,
    /// When counting began (epoch ms): entries created before it are not in `counted` unless
    /// `legacy_counted`.
    pub since: i64,
    pub legacy_counted: bool,
}

/// An entry as the counters see it (from a stream image or a scan).
struct Entry<'a> {
    id: &'a str,
    created_at: i64,
    user_id: Option<&'a str>,
    application_id: Option<&'a str>,
    key: &'a str,
    counted: bool,
}

impl<'a> Entry<'a> {
    fn of(item: &'a Item) -> Option<Self> {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str);
        let id = text("id").filter(|id| !is_count_item(id))?;
        Some(Self {
            id,
            created_at: item.get("createdAt")?.as_n().ok()?.parse().ok()?,
            user_id: text("userId"),
            application_id: text("applicationId"),
            key: text("key")?,
            counted: item.get("counted").is_some_and(|v| matches!(v, AttributeValue::Bool(true))),
        })
    }

    /// Whether the counters hold it: created since counting began, or counted by a migration.
    fn is_counted(&self, since: i64) -> bool {
        self.created_at >= since || self.counted
    }

    /// The counter items it counts toward, the shared ones in `shard`.
    fn counters(&self, shard: u32) -> Vec<String> {
        let in_shard = |value: String| format!("{value}#{shard:02}");
        let mut ids = vec![in_shard(format!("{PREFIX}all")), in_shard(format!("{PREFIX}key#{}", self.key))];
        if let Some(user) = self.user_id {
            ids.push(format!("{PREFIX}user#{user}"));
        }
        if let Some(app) = self.application_id {
            ids.push(in_shard(format!("{PREFIX}app#{app}")));
        }
        ids
    }

    /// What it counts toward with every shard folded: `all`, `user#…`, `app#…`, `key#…`.
    fn totals(&self) -> Vec<String> {
        self.counters(0).iter().map(|id| total_of(id).to_string()).collect()
    }
}

/// The total a counter item adds to (its id without the prefix and shard).
fn total_of(id: &str) -> &str {
    let name = id.strip_prefix(PREFIX).unwrap_or(id);
    if name.starts_with("user#") { name } else { name.rsplit_once('#').map_or(name, |(total, _)| total) }
}

/// The counter items whose sum is the number of entries matching `filter`, when counters
/// answer it: no filter, or only one of user, app and key, with no time window.
fn counters_for(filter: &LogFilter) -> Option<Vec<String>> {
    let LogFilter { hook_id, user_id, application_id, key, success, start, end, uncounted } = filter;
    if hook_id.is_some() || success.is_some() || start.is_some() || end.is_some() || *uncounted {
        return None;
    }
    match (user_id, application_id, key) {
        (None, None, None) => Some(every_shard(&format!("{PREFIX}all"))),
        (Some(user), None, None) => Some(vec![format!("{PREFIX}user#{user}")]),
        (None, Some(app), None) => Some(every_shard(&format!("{PREFIX}app#{app}"))),
        (None, None, Some(key)) => Some(every_shard(&format!("{PREFIX}key#{key}"))),
        _ => None,
    }
}

fn id_key(id: &str) -> Item {
    HashMap::from([("id".to_string(), AttributeValue::S(id.to_string()))])
}

fn has_id(item: &Item, id: &str) -> bool {
    item.get("id").and_then(|v| v.as_s().ok()).is_some_and(|v| v == id)
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// Whether stream sequence number `a` comes no later than `b` (decimal digits, no leading
/// zeros, longer than any integer type).
fn not_after(a: &str, b: &str) -> bool {
    (a.len(), a) <= (b.len(), b)
}

#[derive(Clone)]
pub struct LogCounts {
    client: Client,
    table: String,
    since: Arc<OnceLock<i64>>,
    /// The reader's copy of [`Start`], with when it was read.
    start: Arc<Mutex<Option<(Instant, Start)>>>,
}

impl LogCounts {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), since: Arc::default(), start: Arc::default() }
    }

    /// The counters for `filter`, or `None` when they do not answer it or counting has not begun.
    pub async fn tally(&self, filter: &LogFilter) -> Result<Option<Tally>, StoreError> {
        let Some(ids) = counters_for(filter) else { return Ok(None) };
        let known = *self.start.lock().unwrap();
        let known = known.filter(|(read, start)| start.legacy_counted || read.elapsed() < START_CACHE);
        let mut keys: Vec<Item> = ids.iter().map(|id| id_key(id)).collect();
        if known.is_none() {
            keys.push(id_key(SINCE_ID));
        }
        let items = batch_get(&self.client, &self.table, keys, false, "log counters").await?;
        let start = match known {
            Some((_, start)) => start,
            None => {
                let Some(item) = items.iter().find(|item| has_id(item, SINCE_ID)) else { return Ok(None) };
                let start = Start::of(item);
                *self.start.lock().unwrap() = Some((Instant::now(), start));
                start
            }
        };
        let counted: i64 =
            items.iter().filter(|item| !has_id(item, SINCE_ID)).filter_map(|i| number(i, "n")).sum();
        Ok(Some(Tally {
            counted: counted.max(0) as u64,
            since: start.since,
            legacy_counted: start.legacy_counted,
        }))
    }

    /// Counts a batch of the logs table's stream (in stream order), exactly once.
    pub async fn apply(&self, records: &[StreamRecord]) -> Result<(), StoreError> {
        let images: Vec<(&StreamRecord, Option<Item>)> =
            records.iter().map(|record| (record, image(record))).collect();
        let stream_started = records.iter().find_map(StreamRecord::stream_started);
        let Some(since) = self.since(stream_started).await? else { return Ok(()) };
        let mut rest = &images[..];
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(RECORDS_PER_WRITE)];
            match self.write(chunk, since).await? {
                None => rest = &rest[chunk.len()..],
                // An earlier attempt counted through `last`: go on after it.
                Some(last) => {
                    let done = rest.iter().take_while(|(r, _)| not_after(&r.dynamodb.sequence_number, &last));
                    rest = &rest[done.count().max(1)..];
                }
            }
        }
        Ok(())
    }

    /// Writes one chunk's counts with its marker; `Some(last)` when a marker for the same first
    /// record already exists (an earlier attempt's), naming the last record it covered.
    async fn write(
        &self,
        chunk: &[(&StreamRecord, Option<Item>)],
        since: i64,
    ) -> Result<Option<String>, StoreError> {
        let first = &chunk[0].0.dynamodb.sequence_number;
        let last = &chunk[chunk.len() - 1].0.dynamodb.sequence_number;
        // One shard per chunk, from its first record: chunks spread over the shards.
        let shard = shard_of(first);
        let mut deltas: BTreeMap<String, i64> = BTreeMap::new();
        for (record, item) in chunk {
            let Some(entry) = item.as_ref().and_then(Entry::of) else { continue };
            let delta = match record.event_name.as_str() {
                "INSERT" if entry.created_at >= since => 1,
                "REMOVE" if entry.is_counted(since) => -1,
                _ => continue,
            };
            for id in entry.counters(shard) {
                *deltas.entry(id).or_default() += delta;
            }
        }
        deltas.retain(|_, delta| *delta != 0);
        if deltas.is_empty() {
            return Ok(None);
        }
        let marker_id = format!("{MARKER_PREFIX}{first}");
        let expires = crate::domain::now_ms() / 1000 + MARKER_TTL_SECS;
        let transaction = || {
            let mut tx = Transaction::new();
            let marker = HashMap::from([
                ("id".to_string(), AttributeValue::S(marker_id.clone())),
                ("last".to_string(), AttributeValue::S(last.clone())),
                ("expiresAt".to_string(), AttributeValue::N(expires.to_string())),
            ]);
            tx.put("marker", &self.table, marker, Some(Expression::absent("id")));
            for (id, delta) in &deltas {
                let add = Expression::new("ADD n :d").value(":d", AttributeValue::N(delta.to_string()));
                tx.update("counter", &self.table, id_key(id), add, None);
            }
            tx
        };
        // Batches of other stream shards move the same shared counters at the same moment; a
        // transaction that meets one is cancelled whole, so it is tried again here rather
        // than failing (and delaying) the batch.
        let mut result = transaction().commit(&self.client).await;
        for attempt in 1..=CONFLICT_RETRIES {
            if !matches!(result, Err(StoreError::TransactionConflict)) {
                break;
            }
            crate::user_service::pause_before_retry(attempt + 2).await;
            result = transaction().commit(&self.client).await;
        }
        match result {
            Ok(()) => Ok(None),
            Err(StoreError::ConditionFailed { items }) if items.contains(&"marker") => {
                let marker = self.read(&marker_id).await?;
                let covered = marker.as_ref().and_then(|m| m.get("last")?.as_s().ok().cloned());
                Ok(Some(covered.unwrap_or_else(|| last.clone())))
            }
            Err(err) => Err(err),
        }
    }

    /// When counting began, fixing it now (from the first entry seen) if nobody has.
    async fn since(&self, stream_started: Option<i64>) -> Result<Option<i64>, StoreError> {
        if let Some(since) = self.since.get() {
            return Ok(Some(*since));
        }
        let mut found = self.read(SINCE_ID).await?.and_then(|item| number(&item, "since"));
        if found.is_none()
            && let Some(since) = stream_started
        {
            // Older entries exist only on a table that had entries before this stream (a
            // deployment upgraded to counters); without them there is nothing to migrate.
            let older =
                read_all(every_shard(LOG_KIND), |partition| self.any_before(partition, since)).await?;
            let item = HashMap::from([
                ("id".to_string(), AttributeValue::S(SINCE_ID.into())),
                ("since".to_string(), AttributeValue::N(since.to_string())),
                ("legacyCounted".to_string(), AttributeValue::Bool(!older.contains(&true))),
            ]);
            let (condition, _, _) = Expression::absent("id").into_parts();
            let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
            match put
                .condition_expression(condition)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk(e, "log counters"))
            {
                Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(err) => return Err(err),
            }
            found = self.read(SINCE_ID).await?.and_then(|item| number(&item, "since"));
        }
        if let Some(since) = found {
            let _ = self.since.set(since);
        }
        Ok(found)
    }

    /// Whether one shard of `byTime` holds an entry created before `since`.
    async fn any_before(&self, partition: String, since: i64) -> Result<bool, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("byTime")
            .key_condition_expression("kind = :p AND createdKey < :s")
            .expression_attribute_values(":p", AttributeValue::S(partition))
            .expression_attribute_values(":s", AttributeValue::S(format!("{since:015}")))
            .limit(1)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "log counters"))?;
        Ok(out.count > 0)
    }

    async fn read(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(id_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "log counters"))?;
        Ok(out.item)
    }
}

/// The image a record counts by: the new one of an insert, the old one of a removal.
fn image(record: &StreamRecord) -> Option<Item> {
    let image = match record.event_name.as_str() {
        "INSERT" => record.dynamodb.new_image.clone(),
        "REMOVE" => record.dynamodb.old_image.clone(),
        _ => None,
    }?;
    Some(image.into())
}

/// `usersctl migrate`: counts the entries created before counting began, each in a transaction
/// that marks it counted (so its removal is subtracted), then records that they are. Resumable:
/// marked entries are skipped; an entry removed meanwhile is not counted.
pub async fn count_legacy(client: &Client, table: &str, entries: &[Item]) -> Result<String, StoreError> {
    let counts = LogCounts::new(client.clone(), table);
    let Some(start) = counts.read(SINCE_ID).await? else {
        return Ok("log counters: not started yet (the log-counts function has seen no entry); run migrate again later".into());
    };
    let Start { since, legacy_counted } = Start::of(&start);
    if legacy_counted {
        return Ok("log counters: entries from before counting began are counted".into());
    }
    let mut counted = 0;
    for entry in entries.iter().filter_map(Entry::of).filter(|e| !e.is_counted(since)) {
        let mut tx = Transaction::new();
        let mark = Expression::new("SET counted = :t").value(":t", AttributeValue::Bool(true));
        let still_there = Expression::new("attribute_exists(id) AND attribute_not_exists(counted)");
        tx.update("entry", table, id_key(entry.id), mark, Some(still_there));
        for id in entry.counters(shard_of(entry.id)) {
            let add = Expression::new("ADD n :d").value(":d", AttributeValue::N("1".into()));
            tx.update("counter", table, id_key(&id), add, None);
        }
        match tx.commit(client).await {
            Ok(()) => counted += 1,
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {}
            Err(err) => return Err(err),
        }
    }
    let (done, _, values) =
        Expression::new("SET legacyCounted = :t").value(":t", AttributeValue::Bool(true)).into_parts();
    client
        .update_item()
        .table_name(table)
        .set_key(Some(id_key(SINCE_ID)))
        .update_expression(done)
        .set_expression_attribute_values(Some(values))
        .send()
        .await
        .map_err(|e| StoreError::from_sdk(e, "log counters"))?;
    Ok(format!("log counters: {counted} entries from before counting began counted"))
}

/// `usersctl check`: each total the counters hold against the entries of the table (run when
/// the stream is drained: counters trail it). Problems, one sentence each.
pub fn check(items: &[Item]) -> Vec<String> {
    let Some(start) = items.iter().find(|item| has_id(item, SINCE_ID)) else { return Vec::new() };
    let Start { since, legacy_counted } = Start::of(start);
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut uncounted = 0;
    for entry in items.iter().filter_map(Entry::of) {
        if entry.is_counted(since) {
            for total in entry.totals() {
                *expected.entry(total).or_default() += 1;
            }
        } else if legacy_counted {
            uncounted += 1;
        }
    }
    let mut held: BTreeMap<String, i64> = BTreeMap::new();
    for item in items {
        let Some(id) = item.get("id").and_then(|v| v.as_s().ok()) else { continue };
        if is_count_item(id) && id != SINCE_ID && !id.starts_with(MARKER_PREFIX) {
            *held.entry(total_of(id).to_string()).or_default() += number(item, "n").unwrap_or(0);
        }
    }
    let mut problems = Vec::new();
    for name in expected.keys().chain(held.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (want, have) = (expected.get(name).copied().unwrap_or(0), held.get(name).copied().unwrap_or(0));
        if want != have {
            problems.push(format!("log counter {name} says {have}, the table holds {want} such entries"));
        }
    }
    if uncounted > 0 {
        problems.push(format!(
            "{uncounted} log entries from before counting began are not counted (run usersctl migrate)"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::shards::SHARDS;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(not_after("99", "100"));
        assert!(not_after("100", "100"));
        assert!(!not_after("101", "100"));
        assert!(!not_after("1000000000000000000000000000000000000001", "999"));
    }

    #[test]
    fn shards_fold_into_their_totals() {
        assert_eq!(total_of("count#all#07"), "all");
        assert_eq!(total_of("count#key#User.Password.Verify#15"), "key#User.Password.Verify");
        assert_eq!(total_of("count#app#abc#00"), "app#abc");
        assert_eq!(total_of("count#user#u1"), "user#u1");
    }

    #[test]
    fn counters_answer_only_the_filters_they_count() {
        let none = LogFilter::default();
        assert_eq!(counters_for(&none).unwrap().len(), SHARDS as usize);
        let user = LogFilter { user_id: Some("u1".into()), ..Default::default() };
        assert_eq!(counters_for(&user).unwrap(), vec!["count#user#u1".to_string()]);
        let both = LogFilter { key: Some("k".into()), ..user.clone() };
        assert_eq!(counters_for(&both), None);
        let windowed = LogFilter { start: Some(1), ..user };
        assert_eq!(counters_for(&windowed), None);
    }
}
