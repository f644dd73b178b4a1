//! Small tables of whole documents read and written one at a time and listed by a scan: the
//! apps table and the hooks table. Both hold a handful of items, so a scan is their index.

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use serde::{Serialize, de::DeserializeOwned};
use std::marker::PhantomData;

use super::{Expression, StoreError};

#[derive(Clone)]
pub struct Documents<T> {
    client: Client,
    table: String,
    /// The table's hash key attribute.
    key: &'static str,
    /// What the documents are, for errors.
    what: &'static str,
    kind: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Documents<T> {
    pub fn new(client: Client, table: impl Into<String>, key: &'static str, what: &'static str) -> Self {
        Self { client, table: table.into(), key, what, kind: PhantomData }
    }

    pub async fn get(&self, id: &str) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(self.key, AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, self.what))?;
        out.item.map(|item| self.decode(item)).transpose()
    }

    /// Writes a new document; `ConditionFailed` if its key exists.
    pub async fn insert(&self, document: &T) -> Result<(), StoreError> {
        self.put(document, Expression::absent(self.key)).await
    }

    /// Replaces an existing document; `ConditionFailed` if there is none.
    pub async fn replace(&self, document: &T) -> Result<(), StoreError> {
        self.put(document, Expression::new(format!("attribute_exists({})", self.key))).await
    }

    /// Replaces a document only if its `version` attribute still reads `version` (optimistic
    /// concurrency); `ConditionFailed` if it changed or is gone.
    pub async fn replace_at(&self, document: &T, version: u64) -> Result<(), StoreError> {
        let condition = Expression::new(format!("attribute_exists({}) AND version = :version", self.key))
            .value(":version", AttributeValue::N(version.to_string()));
        self.put(document, condition).await
    }

    /// Deletes a document; `false` if there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(self.key, AttributeValue::S(id.to_string()))
            .condition_expression(format!("attribute_exists({})", self.key))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, self.what));
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Every document, in no particular order.
    pub async fn list(&self) -> Result<Vec<T>, StoreError> {
        let items: Vec<_> = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| StoreError::from_sdk(e, self.what))?;
        items.into_iter().map(|item| self.decode(item)).collect()
    }

    async fn put(&self, document: &T, condition: Expression) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(document)
            .map_err(|e| StoreError::Other(format!("encode {}: {e}", self.what)))?;
        let (expression, _, values) = condition.into_parts();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(expression)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, self.what))?;
        Ok(())
    }

    fn decode(&self, item: std::collections::HashMap<String, AttributeValue>) -> Result<T, StoreError> {
        serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("decode {}: {e}", self.what)))
    }
}
