//! Write sharding for index partitions that many writers share (every user in `byCreated`,
//! every log entry in `byTime`, one app's or one key's entries in `byAppShard` / `byKeyShard`).
//!
//! One DynamoDB partition takes about 1,000 write units per second, and an ever-increasing
//! sort key gives it nothing to split on. So each such partition value is written as
//! `<value>#<shard>`, the shard derived from the item's own id, and read by querying every
//! shard side by side and merging by the sort key (docs/data-model.md, "Write shards").

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::join_all;
use std::collections::HashMap;
use std::future::Future;

use super::StoreError;
use super::tx::Item;

/// Shards per shared partition value. Entries are under 1 KB, so each index write is one write
/// unit: 16 shards take 16,000 writes/s per value before any partition saturates, above the
/// 10,000 requests/s each route is sized for (every verify and token request writes one entry
/// to `byTime`). A read of a sharded index costs 16 parallel Queries instead of one.
pub const SHARDS: u32 = 16;

/// Shards of the user counter. Its update is part of a create's or delete's transaction,
/// which costs two write units: 32 × 1,000 / 2 = 16,000 creates or deletes a second. Reading
/// the total is one `BatchGetItem` however many there are.
pub const COUNTER_SHARDS: u32 = 32;

/// The shard of an item among `shards`, from its id: stable across releases and machines,
/// since it is stored. FNV-1a, written out because `std`'s hasher may change between Rust
/// versions and ids are already random (no need for a keyed hash).
pub fn shard_among(id: &str, shards: u32) -> u32 {
    let hash =
        id.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    hash % shards
}

pub fn shard_of(id: &str) -> u32 {
    shard_among(id, SHARDS)
}

/// The partition value `value` takes for the item `id`.
pub fn sharded(value: &str, id: &str) -> String {
    sharded_among(value, id, SHARDS)
}

/// The same, among `shards` shards.
pub fn sharded_among(value: &str, id: &str, shards: u32) -> String {
    shard_value(value, shard_among(id, shards))
}

fn shard_value(value: &str, shard: u32) -> String {
    format!("{value}#{shard:02}")
}

/// Every partition value `value` is spread over.
pub fn every_shard(value: &str) -> Vec<String> {
    every_shard_among(value, SHARDS)
}

pub fn every_shard_among(value: &str, shards: u32) -> Vec<String> {
    (0..shards).map(|shard| shard_value(value, shard)).collect()
}

/// Runs `read` on every partition value side by side (each to its end, as with `join!`, so
/// no call is dropped in flight) and returns their results in order, or the first error.
pub async fn read_all<T, F, Fut>(partitions: Vec<String>, read: F) -> Result<Vec<T>, StoreError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    join_all(partitions.into_iter().map(read)).await.into_iter().collect()
}

/// The newest `wanted` items of one index partition, each with its created key, newest first.
/// `query` is the partition's Query (index, key condition, filter), `partition` its key
/// attribute and value; `table_key` names the
/// table's key for an item id. With `after` (a created key, `<ms>#<id>`) the read resumes right
/// after that position, which is a position in every partition, whichever holds that item.
/// Pages are read until there are enough: a filter or a page's 1 MB end can leave one short.
pub async fn newest_in_partition(
    query: impl Fn() -> QueryFluentBuilder,
    partition: (&str, &str),
    table_key: impl Fn(&str) -> (&'static str, String),
    wanted: usize,
    after: Option<&str>,
) -> Result<Vec<(String, Item)>, StoreError> {
    let (partition_attribute, partition) = partition;
    let mut start: Option<Item> = after.and_then(|created| {
        let (name, value) = table_key(created.split_once('#')?.1);
        Some(HashMap::from([
            (name.to_string(), AttributeValue::S(value)),
            (partition_attribute.to_string(), AttributeValue::S(partition.to_string())),
            ("createdKey".to_string(), AttributeValue::S(created.to_string())),
        ]))
    });
    let mut rows = Vec::new();
    loop {
        let page = query()
            .scan_index_forward(false)
            .limit((wanted - rows.len()).clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "query newest"))?;
        for mut item in page.items.unwrap_or_default() {
            let Some(AttributeValue::S(created)) = item.remove("createdKey") else {
                return Err(StoreError::Other("an index entry without its created key".into()));
            };
            rows.push((created, item));
        }
        start = page.last_evaluated_key;
        if start.is_none() || rows.len() >= wanted {
            return Ok(rows);
        }
    }
}

/// The newest `wanted` items of several newest-first lists, newest first. Sort keys are
/// unique (they end with the item's id), so the order is total.
pub fn newest_of<T>(lists: Vec<Vec<T>>, sort_key: impl Fn(&T) -> &str, wanted: usize) -> Vec<T> {
    let mut all: Vec<T> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| sort_key(b).cmp(sort_key(a)));
    all.truncate(wanted);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        // Stored values: a change to the function would strand every existing item.
        // FNV-1a("abc") = 0x1a47e90b, and 0xb = 11.
        assert_eq!(shard_of("abc"), 11);
        assert_eq!(sharded("log", "abc"), "log#11");
        let mut counts = [0u32; SHARDS as usize];
        for _ in 0..16_000 {
            counts[shard_of(&crate::domain::id::random_id(12)) as usize] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 800 && *max < 1200, "random ids spread evenly: {counts:?}");
    }

    #[test]
    fn newest_of_merges_by_sort_key() {
        let lists = vec![vec!["0003#a", "0001#b"], vec!["0004#c", "0002#d"], vec![]];
        assert_eq!(newest_of(lists, |s| s, 3), ["0004#c", "0003#a", "0002#d"]);
        assert_eq!(every_shard("user").len(), SHARDS as usize);
        assert_eq!(every_shard("user")[3], "user#03");
    }
}
