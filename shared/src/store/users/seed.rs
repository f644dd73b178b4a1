//! Bulk loading of users known to be new and unique (benchmarks, a migration from a trusted
//! export): 25 items per `BatchWriteItem` instead of one transaction per user. Nothing is
//! checked and no log entry is written, so the API never calls it.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use super::item::{encode, key};
use super::{DynamoUsers, counter_pk};
use crate::domain::User;
use crate::store::StoreError;
use crate::store::guards::guards;
use std::collections::HashMap;

/// DynamoDB's limit of items per `BatchWriteItem`.
const BATCH: usize = 25;

impl DynamoUsers {
    /// Writes each user with its guards, then adds their number to the counter's shards. The table
    /// must hold none of these users or identifiers: an existing item is overwritten.
    pub async fn seed(&self, users: &[User]) -> Result<(), StoreError> {
        let mut writes = Vec::new();
        for user in users {
            let guards = guards(user, self.username_case_sensitive);
            writes.push(encode(user, &guards)?);
            for guard in guards {
                let mut item = key(guard.key);
                item.insert("userId".into(), AttributeValue::S(user.id.clone()));
                item.insert("kind".into(), AttributeValue::S("guard".into()));
                writes.push(item);
            }
        }
        let requests: Vec<WriteRequest> = writes
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build().expect("an item is set");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        for chunk in requests.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(self.err("seed"))?;
                pending = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
            }
        }
        let mut per_shard: HashMap<String, usize> = HashMap::new();
        for user in users {
            *per_shard.entry(counter_pk(&user.id)).or_default() += 1;
        }
        for (counter, added) in per_shard {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(counter)))
                .update_expression("ADD #c :n")
                .expression_attribute_names("#c", "count")
                .expression_attribute_values(":n", AttributeValue::N(added.to_string()))
                .send()
                .await
                .map_err(self.err("seed counter"))?;
        }
        Ok(())
    }
}
