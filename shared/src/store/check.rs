//! The invariant checker: scans the tables and reports every broken invariant. Used by
//! `usersctl check` and by the tests after concurrent and faulty traffic.

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use std::collections::{HashMap, HashSet};

use super::StoreError;
use super::tx::Item;
use super::users::{decode, guards};
use crate::Config;
use crate::domain::log::LogKey;

#[derive(Debug, Default)]
pub struct Report {
    pub users: usize,
    pub guards: usize,
    pub logs: usize,
    /// One sentence per broken invariant; empty when all hold.
    pub problems: Vec<String>,
}

async fn scan(client: &Client, table: &str) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "scan"))?;
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// Checks, over whole tables (a full scan: run it off-peak):
/// - every guard names an existing user that holds its value, and every user holds all its
///   guards (no orphan, no missing, no stolen guard);
/// - the user counter equals the number of users;
/// - every change has its log entry: a user's version equals its change entries (creates,
///   updates, deletes, and verifies that rehashed), for users younger than the log retention.
pub async fn check(client: &Client, config: &Config) -> Result<Report, StoreError> {
    let items = scan(client, &config.tables.users).await?;
    let log_items = scan(client, &config.tables.logs).await?;
    let mut report = Report { logs: log_items.len(), ..Report::default() };

    let mut users = HashMap::new();
    let mut guard_owners: HashMap<String, String> = HashMap::new();
    let mut counter: Option<i64> = None;
    for item in &items {
        match (text(item, "kind"), text(item, "pk")) {
            (Some("user"), _) => {
                let user = decode(item.clone())?;
                users.insert(user.id.clone(), user);
            }
            (Some("guard"), Some(pk)) => {
                guard_owners.insert(pk.to_string(), text(item, "userId").unwrap_or_default().to_string());
            }
            (_, Some("counter#users")) => {
                counter = item.get("count").and_then(|c| c.as_n().ok()).and_then(|n| n.parse().ok());
            }
            _ => {}
        }
    }
    report.users = users.len();
    report.guards = guard_owners.len();

    for (key, owner) in &guard_owners {
        match users.get(owner) {
            None => report.problems.push(format!("guard {key} points to {owner}, who does not exist")),
            Some(user) if !guards(user, config.username_case_sensitive).iter().any(|g| &g.key == key) => {
                report.problems.push(format!("guard {key} points to {owner}, who does not hold that value"))
            }
            Some(_) => {}
        }
    }
    for user in users.values() {
        for guard in guards(user, config.username_case_sensitive) {
            if guard_owners.get(&guard.key) != Some(&user.id) {
                report.problems.push(format!("user {} lacks its guard {}", user.id, guard.key));
            }
        }
    }
    let counted = counter.unwrap_or(0);
    if counted != users.len() as i64 {
        report.problems.push(format!("the counter says {counted} users, the table holds {}", users.len()));
    }

    let mut changes: HashMap<&str, u64> = HashMap::new();
    let verify = LogKey::UserPasswordVerify.as_str();
    for item in &log_items {
        let Some(user_id) = text(item, "userId") else { continue };
        let changed =
            item.get("changedFields").is_some_and(|v| matches!(v, AttributeValue::L(l) if !l.is_empty()));
        if text(item, "key") != Some(verify) || changed {
            *changes.entry(user_id).or_default() += 1;
        }
    }
    let retained_since = crate::domain::now_ms() - i64::from(config.log_retention_days) * 86_400_000;
    let ids: HashSet<&String> = users.keys().collect();
    for id in ids {
        let user = &users[id];
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
