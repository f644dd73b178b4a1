//! The apps table: machine-to-machine apps ([`M2mApp`]) by client id.

use aws_sdk_dynamodb::Client;

use super::StoreError;
use super::documents::Documents;
use crate::domain::app::M2mApp;

#[derive(Clone)]
pub struct DynamoApps(Documents<M2mApp>);

impl DynamoApps {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self(Documents::new(client, table, "clientId", "app"))
    }

    pub async fn get(&self, client_id: &str) -> Result<Option<M2mApp>, StoreError> {
        self.0.get(client_id).await
    }

    /// Writes a new app; fails with `ConditionFailed` if the id exists.
    pub async fn insert(&self, app: &M2mApp) -> Result<(), StoreError> {
        self.0.insert(app).await
    }

    /// Replaces an existing app; fails with `ConditionFailed` if there is none.
    pub async fn replace(&self, app: &M2mApp) -> Result<(), StoreError> {
        self.0.replace(app).await
    }

    /// Every app, oldest first.
    pub async fn list(&self) -> Result<Vec<M2mApp>, StoreError> {
        let mut apps = self.0.list().await?;
        apps.sort_by_key(|a| a.created_at);
        Ok(apps)
    }
}
