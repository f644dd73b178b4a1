//! Machine-to-machine apps: who may get tokens, with which scopes. Secrets are random and
//! long (160+ bits), so a SHA-256 of the secret is stored, not a slow password hash.

use aws_sdk_dynamodb::{Client, types::AttributeValue};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Condition, StoreError};
use crate::domain::id::random_id;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct M2mApp {
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub enabled: bool,
    pub created_at: i64,
}

/// A fresh client secret: 40 characters of `[0-9a-z]` (~206 bits).
pub fn new_secret() -> String {
    random_id(40)
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl M2mApp {
    /// A new app and its secret (shown once, never stored).
    pub fn create(name: &str, scopes: Vec<String>) -> (Self, String) {
        let secret = new_secret();
        let app = Self {
            client_id: random_id(21),
            name: name.to_string(),
            secret_hash: hash_secret(&secret),
            scopes,
            enabled: true,
            created_at: crate::domain::now_ms(),
        };
        (app, secret)
    }

    /// Compares in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        hash_secret(secret).as_bytes().ct_eq(self.secret_hash.as_bytes()).into()
    }
}

#[derive(Clone)]
pub struct DynamoApps {
    client: Client,
    table: String,
}

impl DynamoApps {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub async fn get(&self, client_id: &str) -> Result<Option<M2mApp>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("clientId", AttributeValue::S(client_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "app"))?;
        out.item
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("decode app: {e}")))
            })
            .transpose()
    }

    /// Writes a new app; fails with `ConditionFailed` if the id exists.
    pub async fn insert(&self, app: &M2mApp) -> Result<(), StoreError> {
        self.put(app, Condition::absent("clientId")).await
    }

    /// Replaces an existing app; fails with `ConditionFailed` if there is none.
    pub async fn replace(&self, app: &M2mApp) -> Result<(), StoreError> {
        self.put(app, Condition::new("attribute_exists(clientId)")).await
    }

    async fn put(&self, app: &M2mApp, condition: Condition) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(app).map_err(|e| StoreError::Other(format!("encode app: {e}")))?;
        let (expression, _, _) = condition.into_parts();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(expression)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "app"))?;
        Ok(())
    }

    pub async fn list(&self) -> Result<Vec<M2mApp>, StoreError> {
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| StoreError::from_sdk(e, "apps"))?;
        let mut apps = items
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("decode app: {e}")))
            })
            .collect::<Result<Vec<M2mApp>, _>>()?;
        apps.sort_by_key(|a| a.created_at);
        Ok(apps)
    }
}
