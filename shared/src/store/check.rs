//! The invariant checker: scans the tables and reports every broken invariant. Used by
//! `usersctl check` and by the tests after concurrent and faulty traffic.

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use std::collections::{BTreeSet, HashMap};

use super::StoreError;
use super::guards::{Guard, guards, held};
use super::log_counts::{self, is_count_item};
use super::logs::log_is_sharded;
use super::tx::Item;
use super::tx::{Expression, Transaction};
use super::users::{COUNTER, decode, is_user_kind, rewritten};
use crate::Config;
use crate::domain::User;
use crate::domain::log::LogKey;

#[derive(Debug, Default)]
pub struct Report {
    pub users: usize,
    pub guards: usize,
    pub logs: usize,
    /// One sentence per broken invariant; empty when all hold.
    pub problems: Vec<String>,
}

/// Every item of `table` (a paginated full scan), or only the attributes `projection` names,
/// with its `#placeholder` names.
pub(super) async fn scan(
    client: &Client,
    table: &str,
    projection: Option<(&str, &[(&str, &str)])>,
) -> Result<Vec<Item>, StoreError> {
    let names =
        projection.map(|(_, names)| names.iter().map(|(p, n)| (p.to_string(), n.to_string())).collect());
    client
        .scan()
        .table_name(table)
        .set_projection_expression(projection.map(|(expression, _)| expression.to_string()))
        .set_expression_attribute_names(names)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| StoreError::from_sdk(e, "scan"))
}

pub(super) fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// What the tables hold, read once for a check or a repair.
struct Tables {
    users: HashMap<String, User>,
    /// Guard key → the user id it points to.
    guard_owners: HashMap<String, String>,
    /// Counter key (`counter#users`, or one of its shards) → its count.
    counters: HashMap<String, i64>,
    /// Users whose index attributes are not the ones this release writes (an earlier
    /// release's, not yet migrated).
    unsharded: Vec<String>,
    /// Log entries (the counting items left out).
    log_items: Vec<Item>,
    /// What is wrong with the log counters.
    log_counter_problems: Vec<String>,
}

async fn read(client: &Client, config: &Config) -> Result<Tables, StoreError> {
    let items = scan(client, &config.tables.users, None).await?;
    let log_table = scan(client, &config.tables.logs, None).await?;
    let log_counter_problems = log_counts::check(&log_table);
    let log_items =
        log_table.into_iter().filter(|item| !text(item, "id").is_some_and(is_count_item)).collect();
    let mut tables = Tables {
        users: HashMap::new(),
        guard_owners: HashMap::new(),
        counters: HashMap::new(),
        unsharded: Vec::new(),
        log_items,
        log_counter_problems,
    };
    for item in &items {
        match (text(item, "kind"), text(item, "pk")) {
            (Some(kind), _) if is_user_kind(kind) => {
                let user = decode(item.clone())?;
                if rewritten(item, config.username_case_sensitive)?.is_some() {
                    tables.unsharded.push(user.id.clone());
                }
                tables.users.insert(user.id.clone(), user);
            }
            (Some("guard"), Some(pk)) => {
                let owner = text(item, "userId").unwrap_or_default().to_string();
                tables.guard_owners.insert(pk.to_string(), owner);
            }
            (_, Some(pk)) if pk.starts_with(COUNTER) => {
                let count = item.get("count").and_then(|c| c.as_n().ok()).and_then(|n| n.parse().ok());
                tables.counters.insert(pk.to_string(), count.unwrap_or(0));
            }
            _ => {}
        }
    }
    Ok(tables)
}

fn keys(guards: Vec<Guard>) -> BTreeSet<String> {
    guards.into_iter().map(|g| g.key).collect()
}

/// Checks, over whole tables (a full scan: run it off-peak):
/// - every guard names an existing user that holds it, and every user's guards exist and
///   point to it (no orphan, no missing, no stolen guard);
/// - every user holds the guards its values call for under this configuration (a changed
///   `USERNAME_CASE_SENSITIVE`, or phone metadata that now formats a number otherwise, leaves
///   stale ones: [`repair`] moves them);
/// - the user counter (the sum of its shards, and of the unsharded counter of an earlier
///   release) equals the number of users; a shard alone need not equal its users, since a
///   migration folds the old count into shard 00;
/// - every user and log entry carries this release's index attributes (write shards, field
///   partitions: `usersctl migrate` backfills them);
/// - the log counters (once counting has begun) equal the entries they count; run it with the
///   logs table's stream drained, since the counters follow it;
/// - every change has its log entry: a user's version equals its change entries (creates,
///   updates, deletes, and verifies that rehashed), for users younger than the log retention.
pub async fn check(client: &Client, config: &Config) -> Result<Report, StoreError> {
    let tables = read(client, config).await?;
    let Tables { users, guard_owners, counters, unsharded, log_items, log_counter_problems } = &tables;
    let case_sensitive = config.username_case_sensitive;
    let mut report =
        Report { users: users.len(), guards: guard_owners.len(), logs: log_items.len(), ..Report::default() };

    for (key, owner) in guard_owners {
        match users.get(owner) {
            None => report.problems.push(format!("guard {key} points to {owner}, who does not exist")),
            Some(user) if !keys(held(user, case_sensitive)).contains(key) => {
                report.problems.push(format!("guard {key} points to {owner}, who does not hold that value"))
            }
            Some(_) => {}
        }
    }
    for user in users.values() {
        let holds = keys(held(user, case_sensitive));
        for key in &holds {
            if guard_owners.get(key) != Some(&user.id) {
                report.problems.push(format!("user {} lacks its guard {key}", user.id));
            }
        }
        let called_for = keys(guards(user, case_sensitive));
        if holds != called_for {
            let stale: Vec<_> = holds.difference(&called_for).collect();
            let missing: Vec<_> = called_for.difference(&holds).collect();
            report.problems.push(format!(
                "user {} holds guards that no longer match its values: {stale:?} instead of {missing:?}",
                user.id
            ));
        }
    }
    let counted: i64 = counters.values().sum();
    if counted != users.len() as i64 {
        report.problems.push(format!("the counter says {counted} users, the table holds {}", users.len()));
    }
    for id in unsharded {
        report
            .problems
            .push(format!("user {id} is not in this release's index layout (run usersctl migrate)"));
    }
    for item in log_items {
        if !log_is_sharded(item) {
            let id = text(item, "id").unwrap_or_default();
            report.problems.push(format!("log entry {id} lacks its index shards (run usersctl migrate)"));
        }
    }

    report.problems.extend(log_counter_problems.iter().cloned());

    let mut changes: HashMap<&str, u64> = HashMap::new();
    let verify = LogKey::UserPasswordVerify.as_str();
    for item in log_items {
        let Some(user_id) = text(item, "userId") else { continue };
        let changed =
            item.get("changedFields").is_some_and(|v| matches!(v, AttributeValue::L(l) if !l.is_empty()));
        if text(item, "key") != Some(verify) || changed {
            *changes.entry(user_id).or_default() += 1;
        }
    }
    let retained_since = crate::domain::now_ms() - i64::from(config.log_retention_days) * 86_400_000;
    for (id, user) in users {
        let logged = changes.get(id.as_str()).copied().unwrap_or(0);
        if user.created_at > retained_since && logged != user.version {
            report
                .problems
                .push(format!("user {id} is at version {} but has {logged} change entries", user.version));
        }
    }
    report.problems.sort();
    Ok(report)
}

/// Mends what [`check`] reports about guards: each user is made to hold exactly the guards its
/// values call for (new ones written if vacant, stale ones of its own released, the recorded
/// keys updated, all in one transaction conditioned on the user's version), and guards that
/// point to no user are removed. A guard another user holds is left alone (and still
/// reported). Safe beside live traffic: every write is conditioned on what the scan saw.
/// Returns the sentences of what it did.
pub async fn repair(client: &Client, config: &Config) -> Result<Vec<String>, StoreError> {
    let Tables { users, guard_owners, .. } = read(client, config).await?;
    let case_sensitive = config.username_case_sensitive;
    let table = &config.tables.users;
    let mut done = Vec::new();
    let mut ids: Vec<&String> = users.keys().collect();
    ids.sort();
    for id in ids {
        let user = &users[id];
        let called_for = guards(user, case_sensitive);
        let owned: BTreeSet<String> =
            guard_owners.iter().filter(|(_, owner)| *owner == id).map(|(key, _)| key.clone()).collect();
        let vacant: Vec<&Guard> = called_for.iter().filter(|g| !guard_owners.contains_key(&g.key)).collect();
        // What the user can hold: its values' guards that are vacant or already its own.
        let wanted: BTreeSet<String> = called_for
            .iter()
            .filter(|g| owned.contains(&g.key) || !guard_owners.contains_key(&g.key))
            .map(|g| g.key.clone())
            .collect();
        let recorded = keys(held(user, case_sensitive));
        let stale: Vec<&String> = owned.difference(&wanted).collect();
        if vacant.is_empty() && stale.is_empty() && recorded == wanted && user.stored_guards.is_some() {
            continue;
        }
        let mine = || Expression::new("userId = :me").value(":me", AttributeValue::S(id.clone()));
        let mut tx = Transaction::new();
        let recorded_keys = Expression::new("SET guardKeys = :keys")
            .value(":keys", AttributeValue::L(wanted.iter().cloned().map(AttributeValue::S).collect()));
        let unchanged = Expression::new("#v = :v")
            .name("#v", "version")
            .value(":v", AttributeValue::N(user.version.to_string()));
        tx.update("user", table, key(format!("user#{id}")), recorded_keys, Some(unchanged));
        for guard in &vacant {
            let mut item = key(guard.key.clone());
            item.insert("userId".into(), AttributeValue::S(id.clone()));
            item.insert("kind".into(), AttributeValue::S("guard".into()));
            tx.put(guard.kind.label(), table, item, Some(Expression::absent("pk")));
        }
        for guard in &stale {
            tx.delete("release", table, key((*guard).clone()), Some(mine()));
        }
        match tx.commit(client).await {
            Ok(()) => {
                done.push(format!("user {id}: holds {wanted:?} (wrote {}, released {stale:?})", vacant.len()))
            }
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                done.push(format!("user {id}: changed while being repaired; run the repair again"))
            }
            Err(err) => return Err(err),
        }
    }
    // Guards of users that no longer exist (those of existing users were settled above): each
    // removed only if its owner is still absent, so a user created since the scan keeps its own.
    for (guard, owner) in &guard_owners {
        if users.contains_key(owner) {
            continue;
        }
        let mut tx = Transaction::new();
        tx.check("owner", table, key(format!("user#{owner}")), Expression::absent("pk"));
        let still_theirs =
            Expression::new("userId = :owner").value(":owner", AttributeValue::S(owner.clone()));
        tx.delete("release", table, key(guard.clone()), Some(still_theirs));
        match tx.commit(client).await {
            Ok(()) => done.push(format!("guard {guard}: removed (its owner {owner} does not exist)")),
            // The owner appeared, or the guard changed hands, meanwhile: not an orphan.
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(done)
}

fn key(pk: String) -> Item {
    HashMap::from([("pk".to_string(), AttributeValue::S(pk))])
}
