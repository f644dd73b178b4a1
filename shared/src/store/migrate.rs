//! `usersctl migrate`: brings tables written by an earlier release to this one's shape, beside
//! live traffic. Every step is idempotent, so an interrupted run is resumed by running it
//! again: items already migrated are skipped, and each write is conditioned on what the scan
//! saw (a user changed meanwhile was rewritten in the new shape by that change).
//!
//! 1. indexes this release reads are created (each backfilled by DynamoDB before it is used),
//!    on tables of our own; a stack's template must have declared them ([`Indexes`]);
//! 2. users get their `byCreated` shard (`kind = user#<shard>`) and write-sharded field-index
//!    partitions;
//! 3. the unsharded user counter is folded into shard 00, in one transaction;
//! 4. log entries get their `byTime`, `byKeyShard` and `byAppShard` shards;
//! 5. log entries created before the log counters began are counted (each marked, so its
//!    removal by TTL is subtracted), once the `log-counts` function has begun counting;
//! 6. indexes this release no longer reads are deleted (on tables of our own) or named.

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use std::collections::HashMap;

use super::StoreError;
use super::check::{scan, text};
use super::log_counts::count_legacy;
use super::logs::{log_is_sharded, shard_attributes};
use super::schema::{delete_index, ensure_tables, missing_indexes, obsolete_indexes};
use super::shards::every_shard;
use super::tx::{Expression, Item, Transaction};
use super::users::{COUNTER, is_user_kind, rewritten};
use crate::Config;

/// Who changes the tables' indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexes {
    /// The migration creates and deletes them (tables `usersctl setup` made).
    Manage,
    /// A CloudFormation stack declares them: changed out of band, the stack's next update
    /// would fail. The migration checks the new ones exist and names the old ones to remove.
    LeaveToTemplate,
}

/// What one run did, a sentence a step.
pub async fn migrate(client: &Client, config: &Config, indexes: Indexes) -> Result<Vec<String>, StoreError> {
    let mut done = Vec::new();
    match indexes {
        Indexes::Manage => done
            .extend(ensure_tables(client, &config.tables).await?.into_iter().map(|c| format!("created {c}"))),
        Indexes::LeaveToTemplate => {
            if let Some((table, index)) = missing_indexes(client, &config.tables).await?.into_iter().next() {
                return Err(StoreError::Other(format!(
                    "{table} has no index {index} yet: deploy the template that declares it first"
                )));
            }
        }
    }
    done.push(format!("users sharded: {}", shard_users(client, config).await?));
    done.push(fold_counter(client, &config.tables.users).await?);
    done.push(format!("log entries sharded: {}", shard_logs(client, &config.tables.logs).await?));
    let entries = scan(client, &config.tables.logs, None).await?;
    done.push(count_legacy(client, &config.tables.logs, &entries).await?);
    for (table, index) in obsolete_indexes(client, &config.tables).await? {
        if indexes == Indexes::Manage {
            delete_index(client, &table, &index).await?;
            done.push(format!("deleted index {index} of {table} (no longer read)"));
        } else {
            done.push(format!("index {index} of {table} is no longer read: remove it from the stack"));
        }
    }
    Ok(done)
}

/// Sets `attributes` on the item at `key` if `condition` (an expression over `#c0`, `:c0`)
/// still holds; `false` when it no longer did.
async fn set(
    client: &Client,
    table: &str,
    key: Item,
    attributes: Vec<(&str, String)>,
    condition: (&str, &str, Option<&str>),
) -> Result<bool, StoreError> {
    let (expression, name, value) = condition;
    let mut update = client
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression(expression)
        .expression_attribute_names("#c0", name)
        .set_expression_attribute_values(
            value.map(|v| HashMap::from([(":c0".to_string(), AttributeValue::S(v.into()))])),
        );
    let mut sets = Vec::new();
    for (i, (name, value)) in attributes.into_iter().enumerate() {
        update = update
            .expression_attribute_names(format!("#a{i}"), name)
            .expression_attribute_values(format!(":a{i}"), AttributeValue::S(value));
        sets.push(format!("#a{i} = :a{i}"));
    }
    match update.update_expression(format!("SET {}", sets.join(", "))).send().await {
        Ok(_) => Ok(true),
        Err(err) => match StoreError::from_sdk(err, "migrate") {
            StoreError::ConditionFailed { .. } => Ok(false),
            err => Err(err),
        },
    }
}

/// Rewrites every user whose index attributes are an earlier release's, each conditioned on
/// the version the scan saw (a user changed meanwhile was written in this shape by that change).
async fn shard_users(client: &Client, config: &Config) -> Result<usize, StoreError> {
    let table = &config.tables.users;
    let items = scan(client, table, None).await?;
    let mut moved = 0;
    for item in items.iter().filter(|i| text(i, "kind").is_some_and(is_user_kind)) {
        let Some((current, version)) = rewritten(item, config.username_case_sensitive)? else { continue };
        let written = client
            .put_item()
            .table_name(table)
            .set_item(Some(current))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .send()
            .await;
        match written.map_err(|e| StoreError::from_sdk(e, "migrate")) {
            Ok(_) => moved += 1,
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(moved)
}

/// Moves the unsharded counter's count into shard 00 and deletes it, atomically: the sum the
/// API reads (all shards and the unsharded key) is the same before, during and after.
async fn fold_counter(client: &Client, table: &str) -> Result<String, StoreError> {
    let key = |pk: String| HashMap::from([("pk".to_string(), AttributeValue::S(pk))]);
    // A few tries: an earlier release still running may change the count between read and fold.
    for _ in 0..5 {
        let out = client
            .get_item()
            .table_name(table)
            .set_key(Some(key(COUNTER.into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "counter"))?;
        let Some(count) = out.item.as_ref().and_then(|i| i.get("count")).and_then(|c| c.as_n().ok()).cloned()
        else {
            return Ok("user counter: already sharded".into());
        };
        let mut tx = Transaction::new();
        let same =
            Expression::new("#c = :c").name("#c", "count").value(":c", AttributeValue::N(count.clone()));
        tx.delete("counter", table, key(COUNTER.into()), Some(same));
        let add =
            Expression::new("ADD #c :c").name("#c", "count").value(":c", AttributeValue::N(count.clone()));
        tx.update("counter shard", table, key(every_shard(COUNTER).swap_remove(0)), add, None);
        match tx.commit(client).await {
            Ok(()) => return Ok(format!("user counter: {count} folded into its shards")),
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Other("the user counter kept changing; stop the earlier release and run again".into()))
}

async fn shard_logs(client: &Client, table: &str) -> Result<usize, StoreError> {
    let mut moved = 0;
    let projection =
        ("id, #key, applicationId, #k, keyShard, appShard", &[("#key", "key"), ("#k", "kind")][..]);
    for item in scan(client, table, Some(projection)).await? {
        let (Some(id), Some(log_key)) = (text(&item, "id"), text(&item, "key")) else { continue };
        if log_is_sharded(&item) {
            continue;
        }
        let key = HashMap::from([("id".to_string(), AttributeValue::S(id.to_string()))]);
        let attributes = shard_attributes(log_key, text(&item, "applicationId"), id);
        // Not resurrected if TTL removed it meanwhile.
        if set(client, table, key, attributes, ("attribute_exists(#c0)", "id", None)).await? {
            moved += 1;
        }
    }
    Ok(moved)
}
