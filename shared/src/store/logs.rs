//! Activity logs in DynamoDB: written inside the transactions of the changes they record
//! (see `users::DynamoUsers::commit`), read through the by-user, by-app, by-key and by-time
//! indexes so a filtered list costs what matches, not what the table holds. The app, key and
//! time indexes are write-sharded (see [`super::shards`]): every verify and token request
//! writes to them.

use aws_sdk_dynamodb::{Client, types::AttributeValue, types::Select};
use std::collections::HashMap;

use super::StoreError;
use super::log_counts::LogCounts;
use super::shards::{every_shard, newest_in_partition, newest_of, read_all, sharded};
use super::tx::Item;
use crate::domain::log::LogEntry;
use crate::domain::user::created_key;

pub const LOG_KIND: &str = "log";

/// What `GET /api/logs` filters on; times are epoch milliseconds, both inclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Webhook delivery attempts of one hook (`TriggerHook.*` entries carry it).
    pub hook_id: Option<String>,
    pub user_id: Option<String>,
    pub application_id: Option<String>,
    pub key: Option<String>,
    /// Only successes (`true`) or only failures (`false`).
    pub success: Option<bool>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Only entries the log counters do not hold: created before counting began and not yet
    /// counted by a migration (see [`super::log_counts`]).
    pub uncounted: bool,
}

impl LogFilter {
    /// Whether it reads one user's or one hook's own entries (`byUser`, `byHook`): a partition
    /// no other user's or hook's requests share.
    pub fn reads_one_owner(&self) -> bool {
        self.user_id.is_some() || self.hook_id.is_some()
    }
}

/// The item for `entry`, with the TTL attribute DynamoDB expires it by (epoch seconds).
pub fn log_item(entry: &LogEntry, retention_days: u32) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(entry).map_err(|e| StoreError::Other(format!("encode log: {e}")))?;
    for (attribute, value) in shard_attributes(entry.key.as_str(), entry.application_id.as_deref(), &entry.id)
    {
        item.insert(attribute.into(), AttributeValue::S(value));
    }
    item.insert("createdKey".into(), AttributeValue::S(created_key(entry.created_at, &entry.id)));
    let expires = entry.created_at / 1000 + i64::from(retention_days) * 86_400;
    item.insert("expiresAt".into(), AttributeValue::N(expires.to_string()));
    Ok(item)
}

/// The write-sharded partition values of an entry: `kind` (`byTime`), `keyShard` (`byKeyShard`)
/// and, when it has an app, `appShard` (`byAppShard`).
pub fn shard_attributes(key: &str, application_id: Option<&str>, id: &str) -> Vec<(&'static str, String)> {
    let mut attributes = vec![("kind", sharded(LOG_KIND, id)), ("keyShard", sharded(key, id))];
    if let Some(app) = application_id {
        attributes.push(("appShard", sharded(app, id)));
    }
    attributes
}

/// Whether a stored entry carries the shard attributes its values call for.
pub fn log_is_sharded(item: &Item) -> bool {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str);
    let (Some(id), Some(key)) = (text("id"), text("key")) else { return false };
    shard_attributes(key, text("applicationId"), id)
        .into_iter()
        .all(|(name, value)| text(name) == Some(&value))
}

fn decode(item: Item) -> Result<LogEntry, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("decode log: {e}")))
}

/// Below this many, a total is counted rather than taken from the counters: they trail the
/// stream by a second or so, and counting this few reads at most about 25 read units.
pub const COUNTED_BELOW: u64 = 200;

#[derive(Clone)]
pub struct DynamoLogs {
    client: Client,
    table: String,
    retention_days: u32,
    counts: LogCounts,
    counted_below: u64,
}

/// One Query's shape: the index, its key condition, and a filter for the other equalities.
struct Plan {
    index: &'static str,
    /// The index's partition attribute and the values to query: one, or every shard of one.
    partition: &'static str,
    partitions: Vec<String>,
    key_condition: String,
    filter: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Plan {
    /// The most selective index for `filter`: hook, user, then app, then key, else time.
    fn for_filter(filter: &LogFilter) -> Self {
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let equalities = [
            ("hookId", &filter.hook_id),
            ("userId", &filter.user_id),
            ("applicationId", &filter.application_id),
            ("key", &filter.key),
        ];
        let driver = equalities.iter().position(|(_, v)| v.is_some());
        let (index, partition, partitions) =
            match driver.map(|i| (equalities[i].0, equalities[i].1.clone().unwrap_or_default())) {
                Some(("hookId", hook)) => ("byHook", "hookId", vec![hook]),
                Some(("userId", user)) => ("byUser", "userId", vec![user]),
                Some(("applicationId", app)) => ("byAppShard", "appShard", every_shard(&app)),
                Some((_, key)) => ("byKeyShard", "keyShard", every_shard(&key)),
                None => ("byTime", "kind", every_shard(LOG_KIND)),
            };
        names.insert("#p".into(), partition.into());
        let mut key_condition = "#p = :p".to_string();
        if filter.start.is_some() || filter.end.is_some() {
            // `{start:015}` sorts before every key of that millisecond, `{end:015}#~` after
            // every key of that one (ids are [0-9a-z]): BETWEEN is inclusive at both ends.
            let low = format!("{:015}", filter.start.unwrap_or(0).max(0));
            let high = format!("{:015}#~", filter.end.unwrap_or(i64::MAX / 10_000).max(0));
            key_condition.push_str(" AND #ck BETWEEN :lo AND :hi");
            names.insert("#ck".into(), "createdKey".into());
            values.insert(":lo".into(), AttributeValue::S(low));
            values.insert(":hi".into(), AttributeValue::S(high));
        }
        let mut filters = Vec::new();
        for (i, (attr, value)) in equalities.iter().enumerate() {
            if let Some(value) = value
                && Some(i) != driver
            {
                names.insert(format!("#f{i}"), attr.to_string());
                values.insert(format!(":f{i}"), AttributeValue::S(value.clone()));
                filters.push(format!("#f{i} = :f{i}"));
            }
        }
        if filter.uncounted {
            filters.push("attribute_not_exists(counted)".to_string());
        }
        if let Some(success) = filter.success {
            names.insert("#ok".into(), "success".into());
            values.insert(":ok".into(), AttributeValue::Bool(success));
            filters.push("#ok = :ok".to_string());
        }
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));
        Self { index, partition, partitions, key_condition, filter, names, values }
    }
}

impl DynamoLogs {
    pub fn new(client: Client, table: impl Into<String>, retention_days: u32) -> Self {
        let table = table.into();
        let counts = LogCounts::new(client.clone(), &table);
        Self { counts, client, table, retention_days, counted_below: COUNTED_BELOW }
    }

    /// Totals below `n`, not [`COUNTED_BELOW`], are counted (tests take them from the
    /// counters with 0).
    pub fn with_counted_below(mut self, n: u64) -> Self {
        self.counted_below = n;
        self
    }

    /// Writes one entry on its own (for events that change nothing: a failed verify).
    pub async fn put(&self, entry: &LogEntry) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(log_item(entry, self.retention_days)?))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "log"))?;
        Ok(())
    }

    /// Writes an entry whose id says what it records, once: writing it again changes nothing.
    pub async fn insert(&self, entry: &LogEntry) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(log_item(entry, self.retention_days)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "log"));
        match result {
            Err(StoreError::ConditionFailed { .. }) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<LogEntry>, StoreError> {
        self.read(id, false).await
    }

    /// [`Self::get`], seeing every write that succeeded before it (for checks that decide
    /// whether to write again).
    pub async fn get_consistent(&self, id: &str) -> Result<Option<LogEntry>, StoreError> {
        self.read(id, true).await
    }

    async fn read(&self, id: &str, consistent: bool) -> Result<Option<LogEntry>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "log"))?;
        out.item.map(decode).transpose()
    }

    /// `Total-Number` for `filter`, no more than `cap` when given: from the counters when they
    /// answer the filter (with entries from before counting began counted, until a migration
    /// has counted them), else counted. Either way the total does not grow with the entries.
    pub async fn total(&self, filter: &LogFilter, cap: Option<u64>) -> Result<u64, StoreError> {
        if let Some(tally) = self.counts.tally(filter).await? {
            let mut total = tally.counted;
            if !tally.legacy_counted {
                // Those a migration has counted are in the counters already.
                let before = LogFilter { end: Some(tally.since - 1), uncounted: true, ..filter.clone() };
                total += self.count(&before, cap).await?;
            }
            if total >= self.counted_below {
                return Ok(cap.map_or(total, |cap| total.min(cap)));
            }
        }
        self.count(filter, cap).await
    }

    /// How many entries match, counting no further than `cap` when given: every partition
    /// of the plan counted side by side, each up to the cap.
    pub async fn count(&self, filter: &LogFilter, cap: Option<u64>) -> Result<u64, StoreError> {
        let plan = Plan::for_filter(filter);
        let counts =
            read_all(plan.partitions.clone(), |partition| self.count_in(&plan, partition, cap)).await?;
        let count = counts.iter().sum::<u64>();
        Ok(cap.map_or(count, |cap| count.min(cap)))
    }

    async fn count_in(&self, plan: &Plan, partition: String, cap: Option<u64>) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut pages = self.query(plan, partition).select(Select::Count).into_paginator().send();
        while let Some(page) = pages.try_next().await.map_err(|e| StoreError::from_sdk(e, "count logs"))? {
            count += page.count.max(0) as u64;
            if cap.is_some_and(|cap| count >= cap) {
                break;
            }
        }
        Ok(count)
    }

    /// Matching entries, newest first, skipping `offset`, or (with `after`, a created key)
    /// those that come after that entry.
    pub async fn page(
        &self,
        filter: &LogFilter,
        offset: u64,
        limit: u64,
        after: Option<&str>,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let plan = Plan::for_filter(filter);
        let wanted = offset.saturating_add(limit) as usize;
        // Each partition's newest `wanted` hold the newest `wanted` of all.
        let lists =
            read_all(plan.partitions.clone(), |partition| self.newest_in(&plan, partition, wanted, after))
                .await?;
        let entries = newest_of(lists, |(created, _)| created, wanted);
        Ok(entries.into_iter().skip(offset as usize).take(limit as usize).map(|(_, entry)| entry).collect())
    }

    /// The newest `wanted` matching entries of one partition, with their created keys.
    async fn newest_in(
        &self,
        plan: &Plan,
        partition: String,
        wanted: usize,
        after: Option<&str>,
    ) -> Result<Vec<(String, LogEntry)>, StoreError> {
        let query = || self.query(plan, partition.clone());
        let table_key = |id: &str| ("id", id.to_string());
        let rows = newest_in_partition(query, (plan.partition, &partition), table_key, wanted, after).await?;
        rows.into_iter().map(|(created, item)| Ok((created, decode(item)?))).collect()
    }

    fn query(
        &self,
        plan: &Plan,
        partition: String,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(plan.index)
            .key_condition_expression(&plan.key_condition)
            .set_filter_expression(plan.filter.clone())
            .set_expression_attribute_names(Some(plan.names.clone()))
            .set_expression_attribute_values(Some(plan.values.clone()))
            .expression_attribute_values(":p", AttributeValue::S(partition))
    }
}
