//! The apps table: machine-to-machine apps ([`M2mApp`]) by client id.

use aws_sdk_dynamodb::{Client, types::AttributeValue};

use super::{Expression, StoreError};
use crate::domain::app::M2mApp;

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
        self.put(app, Expression::absent("clientId")).await
    }

    /// Replaces an existing app; fails with `ConditionFailed` if there is none.
    pub async fn replace(&self, app: &M2mApp) -> Result<(), StoreError> {
        self.put(app, Expression::new("attribute_exists(clientId)")).await
    }

    async fn put(&self, app: &M2mApp, condition: Expression) -> Result<(), StoreError> {
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
