//! Users in DynamoDB: the user item, its uniqueness guards, the user counter and the search
//! indexes. See docs/data-model.md for the access patterns and their cost.

mod item;
mod seed;

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use super::StoreError;
use super::guards::{Guard, email_guard_key, guards, held};
use super::logs::{DynamoLogs, log_item};
use super::shards::{
    COUNTER_SHARDS, every_shard, every_shard_among, newest_in_partition, newest_of, read_all, sharded_among,
};
use super::tx::{Expression, Item, Transaction};
use super::user_store::{
    Attempt, IDEMPOTENCY_LABEL, IdempotencyRecord, RELEASE_LABEL, Reservation, USER_LABEL, UserStore,
    ends_lockout,
};
use crate::config::Lockout;
use crate::domain::User;
use crate::domain::log::LogEntry;
use crate::domain::search::{Condition, Field, IndexHint, Search, SearchRow};

pub use item::{decode, field_index, rewritten};
use item::{decode_row, encode, first_char, key, projection, user_pk};

pub const USER_KIND: &str = "user";
/// The user counter, sharded (over [`COUNTER_SHARDS`]) so creates and deletes share no item. The
/// unsharded key is the counter as written before sharding: still read (a migrated deployment
/// has it folded into shard 00 and deleted), never written.
pub const COUNTER: &str = "counter#users";

pub fn counter_pk(user_id: &str) -> String {
    sharded_among(COUNTER, user_id, COUNTER_SHARDS)
}

/// Whether a users-table item of this `kind` is a user (`user#<shard>`, or `user` as written
/// before sharding).
pub fn is_user_kind(kind: &str) -> bool {
    kind.split('#').next() == Some(USER_KIND)
}

fn lockout_pk(user_id: &str) -> String {
    format!("lockout#{user_id}")
}

/// How many index rows one search may still read, shared by its queries side by side: past
/// it, the search stops with [`StoreError::ReadLimit`] instead of running into the function's
/// timeout or memory.
struct ReadBudget {
    limit: u64,
    read: AtomicU64,
}

impl ReadBudget {
    fn new(limit: u64) -> Self {
        Self { limit, read: AtomicU64::new(0) }
    }

    fn spend(&self, rows: usize) -> Result<(), StoreError> {
        let read = self.read.fetch_add(rows as u64, Ordering::Relaxed) + rows as u64;
        if read > self.limit { Err(StoreError::ReadLimit(self.limit)) } else { Ok(()) }
    }
}

#[derive(Clone)]
pub struct DynamoUsers {
    client: Client,
    table: String,
    logs: DynamoLogs,
    logs_table: String,
    retention_days: u32,
    username_case_sensitive: bool,
    search_read_limit: u64,
}

impl DynamoUsers {
    pub fn new(client: Client, config: &crate::Config) -> Self {
        Self {
            logs: DynamoLogs::new(client.clone(), &config.tables.logs, config.log_retention_days),
            client,
            table: config.tables.users.clone(),
            logs_table: config.tables.logs.clone(),
            retention_days: config.log_retention_days,
            username_case_sensitive: config.username_case_sensitive,
            search_read_limit: config.search_read_limit,
        }
    }

    fn err<E, R>(&self, label: &'static str) -> impl Fn(aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        move |e| StoreError::from_sdk(e, label)
    }

    /// Every row of one index query, following pagination.
    async fn query_rows(
        &self,
        index: &str,
        key_condition: &str,
        values: HashMap<String, AttributeValue>,
        names: HashMap<String, String>,
        budget: &ReadBudget,
    ) -> Result<Vec<SearchRow>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(key_condition)
            .set_expression_attribute_values(Some(values))
            .set_expression_attribute_names(Some(names))
            .projection_expression(projection())
            .into_paginator()
            .send();
        let mut rows = Vec::new();
        while let Some(page) = pages.try_next().await.map_err(self.err("query"))? {
            let items = page.items.unwrap_or_default();
            budget.spend(items.len())?;
            for item in items {
                rows.push(decode_row(item)?);
            }
        }
        Ok(rows)
    }

    async fn field_lookup(
        &self,
        field: Field,
        hint: &IndexHint,
        budget: &ReadBudget,
    ) -> Result<Vec<SearchRow>, StoreError> {
        let (index, partition, sort) = field_index(field);
        let names = HashMap::from([
            ("#p".to_string(), partition.to_string()),
            ("#s".to_string(), sort.to_string()),
            ("#name".to_string(), "name".to_string()),
        ]);
        let (values, condition): (Vec<&String>, &str) = match hint {
            IndexHint::Exact(values) => (values.iter().collect(), "#p = :p AND #s = :v"),
            IndexHint::Prefix(prefix) => (vec![prefix], "#p = :p AND begins_with(#s, :v)"),
        };
        let mut rows = Vec::new();
        for value in values {
            // The value's partition, in every write shard, side by side.
            let shards = read_all(every_shard(&first_char(value)), |partition| {
                let bind = HashMap::from([
                    (":p".to_string(), AttributeValue::S(partition)),
                    (":v".to_string(), AttributeValue::S(value.clone())),
                ]);
                self.query_rows(index, condition, bind, names.clone(), budget)
            })
            .await?;
            rows.extend(shards.into_iter().flatten());
        }
        Ok(rows)
    }

    /// The rows of exact values of a field whose values are keys: an id names its user's item,
    /// an email its uniqueness guard (lower-cased, as the index folds it), whose owner is the
    /// one user holding it. Point reads of those users' own items, strongly consistent: no
    /// index partition shared with other requests, and a user is found the moment it is
    /// written. `None` for the other fields (a username's guard depends on the case setting
    /// it was written under, a phone's on the phone metadata of the day).
    async fn key_lookup(
        &self,
        field: Field,
        values: &[String],
        budget: &ReadBudget,
    ) -> Result<Option<Vec<SearchRow>>, StoreError> {
        if !read_by_key(field) {
            return Ok(None);
        }
        // Once each (a batch read refuses a key twice), and none longer than any stored key
        // can be (DynamoDB's index keys stop at 1,024 bytes): nothing has it, and DynamoDB
        // would refuse the read.
        let values: HashSet<&String> = values.iter().filter(|v| v.len() <= 1024).collect();
        let ids: HashSet<String> = match field {
            Field::PrimaryEmail => {
                let keys = values.into_iter().map(|v| key(email_guard_key(v))).collect();
                let guards = self.batch_get(keys, true, "guard").await?;
                budget.spend(guards.len())?;
                guards.iter().filter_map(|g| g.get("userId")?.as_s().ok().cloned()).collect()
            }
            _ => values.into_iter().cloned().collect(),
        };
        let users = self.batch_get(ids.iter().map(|id| key(user_pk(id))).collect(), true, "search").await?;
        budget.spend(users.len())?;
        users.into_iter().map(decode_row).collect::<Result<_, _>>().map(Some)
    }

    /// The items at `keys`, in no particular order; absent ones are left out.
    async fn batch_get(
        &self,
        keys: Vec<Item>,
        consistent: bool,
        label: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        super::batch::batch_get(&self.client, &self.table, keys, consistent, label).await
    }

    /// Every user's search fields: each shard of `byCreated` read side by side.
    async fn all_rows(&self, budget: &ReadBudget) -> Result<Vec<SearchRow>, StoreError> {
        let names = HashMap::from([
            ("#k".to_string(), "kind".to_string()),
            ("#name".to_string(), "name".to_string()),
        ]);
        let shards = read_all(every_shard(USER_KIND), |shard| {
            let values = HashMap::from([(":k".to_string(), AttributeValue::S(shard))]);
            self.query_rows("byCreated", "#k = :k", values, names.clone(), budget)
        })
        .await?;
        Ok(shards.into_iter().flatten().collect())
    }

    /// The newest `wanted` ids of one shard of `byCreated`, with their created keys.
    async fn newest_in(
        &self,
        shard: String,
        wanted: usize,
        after: Option<&str>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let query = || {
            self.client
                .query()
                .table_name(&self.table)
                .index_name("byCreated")
                .key_condition_expression("#k = :k")
                .expression_attribute_names("#k", "kind")
                .expression_attribute_values(":k", AttributeValue::S(shard.clone()))
                .projection_expression("id, createdKey")
        };
        let table_key = |id: &str| ("pk", user_pk(id));
        let rows = newest_in_partition(query, ("kind", &shard), table_key, wanted, after).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(created, item)| Some((created, item.get("id")?.as_s().ok()?.clone())))
            .collect())
    }
}

/// The lookups that find a superset of `search`'s matches, each a condition and its index
/// hint; `None` when only reading every user will do. OR needs every condition served by an
/// index; AND needs just one to narrow: the one read by key when there is one (cheapest, and
/// it reads no shared partition).
fn lookups(search: &Search) -> Option<Vec<(&Condition, IndexHint)>> {
    use crate::domain::search::Joint;
    let mut hints: Vec<_> = search.conditions.iter().map(|c| (c, c.index_hint())).collect();
    match search.joint {
        Joint::Or => hints.into_iter().map(|(c, h)| h.map(|h| (c, h))).collect(),
        Joint::And => {
            let chosen = hints
                .iter()
                .position(|(c, h)| is_key_read(c, h.as_ref()))
                .or_else(|| hints.iter().position(|(_, h)| h.is_some()))?;
            let (condition, hint) = hints.swap_remove(chosen);
            Some(vec![(condition, hint?)])
        }
    }
}

/// Whether a condition's lookup is read by key on every field it names.
fn is_key_read(condition: &Condition, hint: Option<&IndexHint>) -> bool {
    matches!(hint, Some(IndexHint::Exact(_))) && condition.fields().into_iter().all(read_by_key)
}

/// Whether an exact search on this field is read by key (`DynamoUsers::key_lookup`): ids and
/// emails are unique, so each value names one user's own items.
fn read_by_key(field: Field) -> bool {
    matches!(field, Field::Id | Field::PrimaryEmail)
}

impl UserStore for DynamoUsers {
    async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(self.err("get"))?;
        out.item.map(decode).transpose()
    }

    async fn get_many(&self, ids: &[String]) -> Result<Vec<User>, StoreError> {
        let keys = ids.iter().map(|id| key(user_pk(id))).collect();
        let mut found: HashMap<String, User> = HashMap::new();
        for item in self.batch_get(keys, true, "batch_get").await? {
            let user = decode(item)?;
            found.insert(user.id.clone(), user);
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    async fn log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        self.logs.put(entry).await
    }

    async fn commit(
        &self,
        before: Option<&User>,
        after: Option<&User>,
        log: &LogEntry,
    ) -> Result<(), StoreError> {
        match self.transaction(before, after, log)? {
            Some(tx) => tx.commit(&self.client).await,
            None => self.logs.put(log).await,
        }
    }

    async fn create(
        &self,
        user: &User,
        log: &LogEntry,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.transaction(None, Some(user), log)?.expect("a create writes a user");
        let mut item = key(format!("idempotency#{}", record.key));
        item.insert("kind".into(), AttributeValue::S("idempotency".into()));
        item.insert("bodyHash".into(), AttributeValue::S(record.body_hash.clone()));
        item.insert("response".into(), AttributeValue::S(record.response.clone()));
        item.insert("etag".into(), AttributeValue::S(record.etag.clone()));
        item.insert("expiresAt".into(), AttributeValue::N(record.expires_at.to_string()));
        // Absent, or expired but not yet swept by TTL.
        let vacant = Expression::new("attribute_not_exists(pk) OR expiresAt < :now")
            .value(":now", AttributeValue::N((crate::domain::now_ms() / 1000).to_string()));
        tx.put(IDEMPOTENCY_LABEL, &self.table, item, Some(vacant));
        tx.commit(&self.client).await
    }

    async fn reserve_attempt(
        &self,
        user_id: &str,
        lockout: Lockout,
        now_ms: i64,
    ) -> Result<Attempt, StoreError> {
        use aws_sdk_dynamodb::types::ReturnValue;
        let window_ms = lockout.window_secs as i64 * 1000;
        let max = i64::from(lockout.max_failures);
        let pk = lockout_pk(user_id);
        let n = |v: i64| AttributeValue::N(v.to_string());
        // `attempts` numbers the attempts of the window; a success raises `attemptLimit` past
        // its own number, so the outstanding ones are `attempts - (attemptLimit - max)`.
        // Count on in the current window (or open one where there is none: the usual case), or
        // start a new window over an expired one; twice, since a concurrent request may open
        // the window between our two tries.
        let tries = [
            (
                "SET attemptLimit = if_not_exists(attemptLimit, :max), \
                 windowStart = if_not_exists(windowStart, :now), \
                 expiresAt = if_not_exists(expiresAt, :expires) ADD attempts :one",
                "attribute_not_exists(attempts) OR (attempts < attemptLimit AND windowStart > :cutoff)",
            ),
            (
                "SET attempts = :one, attemptLimit = :max, windowStart = :now, expiresAt = :expires",
                "windowStart <= :cutoff",
            ),
        ];
        for (update, condition) in tries.iter().chain(&tries) {
            let reserved = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone())))
                .update_expression(*update)
                .condition_expression(*condition)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(max))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":expires", n((now_ms + window_ms) / 1000 + 1))
                .expression_attribute_values(":cutoff", n(now_ms - window_ms))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match reserved.map_err(self.err("attempt")) {
                Ok(out) => {
                    let item = out.attributes.unwrap_or_default();
                    let number =
                        |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
                    let (Some(window_start), Some(attempt)) = (number("windowStart"), number("attempts"))
                    else {
                        return Err(StoreError::Other(
                            "a reserved attempt came back without its window".into(),
                        ));
                    };
                    return Ok(Attempt::Reserved(Reservation {
                        window_start,
                        limit_after_success: attempt + max,
                    }));
                }
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(self.err("attempt"))?
            .item
            .unwrap_or_default();
        let window_start = item
            .get("windowStart")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(now_ms);
        Ok(Attempt::locked(window_start, window_ms, now_ms))
    }

    async fn clear_attempts(&self, user_id: &str, reservation: &Reservation) -> Result<(), StoreError> {
        let n = |v: i64| AttributeValue::N(v.to_string());
        // Only ever raised, and only in the window the attempt was counted in: a success that
        // finishes after a later one, or after the window was replaced, changes nothing.
        let cleared = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(lockout_pk(user_id))))
            .update_expression("SET attemptLimit = :limit")
            .condition_expression("windowStart = :start AND attemptLimit < :limit")
            .expression_attribute_values(":limit", n(reservation.limit_after_success))
            .expression_attribute_values(":start", n(reservation.window_start))
            .send()
            .await;
        match cleared.map_err(self.err("attempt")) {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn log_and_clear_attempts(
        &self,
        entry: &LogEntry,
        user_id: &str,
        reservation: &Reservation,
    ) -> Result<(), StoreError> {
        // Each to its end even when the other fails: nothing dropped in flight.
        let (logged, cleared) = tokio::join!(self.logs.put(entry), self.clear_attempts(user_id, reservation));
        logged.and(cleared)
    }

    async fn idempotency_record(&self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("idempotency#{scoped_key}"))))
            .consistent_read(true)
            .send()
            .await
            .map_err(self.err("idempotency"))?;
        let Some(item) = out.item else { return Ok(None) };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let expires_at =
            item.get("expiresAt").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0);
        let record = IdempotencyRecord {
            key: scoped_key.to_string(),
            body_hash: text("bodyHash"),
            response: text("response"),
            etag: text("etag"),
            expires_at,
        };
        Ok((expires_at >= crate::domain::now_ms() / 1000).then_some(record))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        // Every shard and the unsharded counter: 33 keys, one eventually consistent
        // BatchGetItem (as the single counter's GetItem was: a total may lag a write by a moment).
        let mut keys: Vec<Item> = every_shard_among(COUNTER, COUNTER_SHARDS).into_iter().map(key).collect();
        keys.push(key(COUNTER.into()));
        let count: i64 = self
            .batch_get(keys, false, "count")
            .await?
            .iter()
            .filter_map(|item| item.get("count")?.as_n().ok()?.parse::<i64>().ok())
            .sum();
        Ok(count.max(0) as u64)
    }

    async fn newest(&self, offset: u64, limit: u64, after: Option<&str>) -> Result<Vec<String>, StoreError> {
        // No capacity from `wanted`: a client chooses the page number, and so its size.
        let wanted = offset.saturating_add(limit) as usize;
        // Each shard's newest `wanted` hold the newest `wanted` of all.
        let shards = read_all(every_shard(USER_KIND), |shard| self.newest_in(shard, wanted, after)).await?;
        let rows = newest_of(shards, |(created, _)| created, wanted);
        Ok(rows.into_iter().skip(offset as usize).take(limit as usize).map(|(_, id)| id).collect())
    }

    async fn candidates(&self, search: &Search) -> Result<Vec<SearchRow>, StoreError> {
        let budget = ReadBudget::new(self.search_read_limit);
        let Some(lookups) = lookups(search) else {
            return self.all_rows(&budget).await;
        };
        let mut seen = HashSet::new();
        let mut rows = Vec::new();
        for (condition, hint) in lookups {
            for field in condition.fields() {
                let by_key = match &hint {
                    IndexHint::Exact(values) => self.key_lookup(field, values, &budget).await?,
                    IndexHint::Prefix(_) => None,
                };
                let found = match by_key {
                    Some(rows) => rows,
                    None => self.field_lookup(field, &hint, &budget).await?,
                };
                for row in found {
                    if seen.insert(row.id.clone()) {
                        rows.push(row);
                    }
                }
            }
        }
        Ok(rows)
    }

    fn reads_by_key(&self, search: &Search) -> bool {
        // No condition is no lookup: the newest users, from `byCreated`.
        let by_key = |lookups: Vec<(&Condition, IndexHint)>| {
            !lookups.is_empty() && lookups.iter().all(|(c, h)| is_key_read(c, Some(h)))
        };
        lookups(search).is_some_and(by_key)
    }

    async fn guard_owners(&self, guards: &[Guard]) -> Result<Vec<(Guard, String)>, StoreError> {
        let mut owners = Vec::new();
        for guard in guards {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(guard.key.clone())))
                .consistent_read(true)
                .send()
                .await
                .map_err(self.err("guard"))?;
            if let Some(AttributeValue::S(owner)) = out.item.as_ref().and_then(|i| i.get("userId")) {
                owners.push((guard.clone(), owner.clone()));
            }
        }
        Ok(owners)
    }
}

impl DynamoUsers {
    /// The writes that move a user from `before` to `after`, with its log entry; `None` when
    /// there is no user to write (the entry alone is then written on its own).
    fn transaction(
        &self,
        before: Option<&User>,
        after: Option<&User>,
        log: &LogEntry,
    ) -> Result<Option<Transaction>, StoreError> {
        let mut tx = Transaction::new();
        tx.put("log", &self.logs_table, log_item(log, self.retention_days)?, Some(Expression::absent("id")));
        let version_is = |user: &User| {
            Expression::new("#v = :v")
                .name("#v", "version")
                .value(":v", AttributeValue::N(user.version.to_string()))
        };
        let held: HashSet<Guard> =
            before.map(|u| held(u, self.username_case_sensitive)).unwrap_or_default().into_iter().collect();
        let wanted: Vec<Guard> = after.map(|u| guards(u, self.username_case_sensitive)).unwrap_or_default();
        match (before, after) {
            (_, Some(after)) => {
                let condition = before.map(version_is).unwrap_or_else(|| Expression::absent("pk"));
                tx.put(USER_LABEL, &self.table, encode(after, &wanted)?, Some(condition));
            }
            (Some(before), None) => {
                tx.delete(USER_LABEL, &self.table, key(user_pk(&before.id)), Some(version_is(before)));
            }
            (None, None) => return Ok(None),
        }
        if let Some(after) = after
            && ends_lockout(before, Some(after), log)
        {
            tx.delete("lockout", &self.table, key(lockout_pk(&after.id)), None);
        }
        let wanted: HashSet<Guard> = wanted.into_iter().collect();
        if let Some(owner) = after {
            for guard in wanted.difference(&held) {
                let mut item = key(guard.key.clone());
                item.insert("userId".into(), AttributeValue::S(owner.id.clone()));
                item.insert("kind".into(), AttributeValue::S("guard".into()));
                tx.put(guard.kind.label(), &self.table, item, Some(Expression::absent("pk")));
            }
        }
        if let Some(owner) = before {
            for guard in held.difference(&wanted) {
                let mine = Expression::new("userId = :me").value(":me", AttributeValue::S(owner.id.clone()));
                tx.delete(RELEASE_LABEL, &self.table, key(guard.key.clone()), Some(mine));
            }
        }
        let delta = match (before, after) {
            (None, Some(_)) => Some(1),
            (Some(_), None) => Some(-1),
            _ => None,
        };
        if let Some(delta) = delta {
            let add = Expression::new("ADD #c :d")
                .name("#c", "count")
                .value(":d", AttributeValue::N(delta.to_string()));
            let owner = after.or(before).map(|u| u.id.as_str()).unwrap_or_default();
            tx.update("counter", &self.table, key(counter_pk(owner)), add, None);
        }
        Ok(Some(tx))
    }
}
