//! The hooks table: webhooks ([`Hook`]) by id.

use aws_sdk_dynamodb::Client;

use super::StoreError;
use super::documents::Documents;
use crate::domain::hook::Hook;

#[derive(Clone)]
pub struct DynamoHooks(Documents<Hook>);

impl DynamoHooks {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self(Documents::new(client, table, "id", "hook"))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Hook>, StoreError> {
        self.0.get(id).await
    }

    pub async fn insert(&self, hook: &Hook) -> Result<(), StoreError> {
        self.0.insert(hook).await
    }

    /// Reads a hook, applies `change`, and writes it back unless another writer got there
    /// first (then again, from what that one wrote). `None` if there is no such hook.
    pub async fn update(&self, id: &str, change: impl Fn(&mut Hook)) -> Result<Option<Hook>, StoreError> {
        loop {
            let Some(mut hook) = self.get(id).await? else { return Ok(None) };
            let read = hook.version;
            change(&mut hook);
            hook.version = read + 1;
            match self.0.replace_at(&hook, read).await {
                Ok(()) => return Ok(Some(hook)),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
    }

    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.0.delete(id).await
    }

    /// Every hook, newest first (Logto's order).
    pub async fn list(&self) -> Result<Vec<Hook>, StoreError> {
        let mut hooks = self.0.list().await?;
        hooks.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(hooks)
    }
}
