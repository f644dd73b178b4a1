//! The apps this instance read in the last moment. Every token request reads its app's item:
//! one partition, 3,000 consistent reads a second, would cap one app's token requests there.
//! Each instance keeps what it read for `APP_CACHE_MS` (1 s by default) and checks the secret
//! against that copy, so an app's requests read its item about once a second per instance. A
//! disabled app or a rotated secret takes effect within that time, well inside the hour a
//! token issued just before stays valid anyway.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shared::domain::app::M2mApp;
use shared::store::StoreError;
use shared::store::apps::DynamoApps;

/// Ids kept at most; past it the copies are dropped (ids are the caller's to choose, so the
/// map must not grow with them).
const MAX_APPS: usize = 1024;

/// Ids that name no app are kept too: a repeated id then answers as fast whether or not it
/// exists, so timing does not tell which ids do (as the token endpoint's dummy hash ensures
/// for a first request).
pub struct RecentApps {
    ttl: Duration,
    apps: Mutex<HashMap<String, (Instant, Option<M2mApp>)>>,
}

impl RecentApps {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, apps: Mutex::new(HashMap::new()) }
    }

    /// The app, from this instance's copy if it is younger than the TTL, else from the table.
    pub async fn get(&self, store: &DynamoApps, client_id: &str) -> Result<Option<M2mApp>, StoreError> {
        if let Some((read_at, app)) = self.apps.lock().expect("not poisoned").get(client_id)
            && read_at.elapsed() < self.ttl
        {
            return Ok(app.clone());
        }
        let app = store.get(client_id).await?;
        if !self.ttl.is_zero() {
            let mut apps = self.apps.lock().expect("not poisoned");
            if apps.len() >= MAX_APPS {
                apps.clear();
            }
            apps.insert(client_id.to_string(), (Instant::now(), app.clone()));
        }
        Ok(app)
    }
}
