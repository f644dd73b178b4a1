//! Webhook deliveries from the logs table's stream (docs/webhooks.md). Every change writes its
//! activity entry in the change's own transaction, so each new entry in the stream is one change,
//! once. For each entry that is a user event, every enabled hook that wants the event gets a
//! signed POST; each attempt is written as a `TriggerHook.<event>` entry.
//!
//! Failures are left to the event-source mapping: the batch answer names the first record not
//! delivered everywhere (a partial batch response), which Lambda retries (with the records after
//! it) a bounded number of times before sending the batch's description to the dead-letter
//! queue. A hook that already took a record is not sent it again on those retries: its success
//! entry has an id derived from the delivery and the hook, written once and looked up first.
//! Each hook gets one user's changes in stream order; every (hook, user) pair is a lane of its
//! own, and lanes run side by side, so a failing endpoint holds back nothing but its own later
//! deliveries of that user.

use serde_json::{Value, json};
use std::collections::BTreeMap;

use shared::domain::hook::{Hook, HookEvent};
use shared::domain::id::derived_id;
use shared::domain::log::{Delivery, LogEntry, LogKey, Origin};
use shared::store::hooks::DynamoHooks;
use shared::store::logs::DynamoLogs;
use shared::user_service::UserService;
use shared::webhooks::{Attempt, ChangeContext, Sender, event_body};
use shared::{Error, store::DynamoUsers};

pub use shared::stream::{BatchResponse, ItemFailure, StreamEvent, StreamRecord};

/// A log key that is a user event, with the route the change came through (the fields of
/// Logto's data-mutation body).
#[derive(Clone, Copy, Debug)]
pub struct Trigger {
    pub key: LogKey,
    pub event: HookEvent,
    pub method: &'static str,
    /// The path after `/users/{userId}`.
    pub suffix: &'static str,
    pub matched_route: &'static str,
    pub status: u16,
}

const fn on(
    key: LogKey,
    event: HookEvent,
    method: &'static str,
    suffix: &'static str,
    route: &'static str,
) -> Trigger {
    let status = if matches!(key, LogKey::UserDelete) { 204 } else { 200 };
    Trigger { key, event, method, suffix, matched_route: route, status }
}

/// Every user change that is an event (the template's stream filter names exactly these keys).
const TRIGGERS: [Trigger; 9] = {
    use HookEvent::*;
    [
        on(LogKey::UserCreate, UserCreated, "POST", "", "/users"),
        on(LogKey::UserUpdate, UserDataUpdated, "PATCH", "", "/users/:userId"),
        on(
            LogKey::UserCustomDataUpdate,
            UserDataUpdated,
            "PATCH",
            "/custom-data",
            "/users/:userId/custom-data",
        ),
        on(LogKey::UserProfileUpdate, UserDataUpdated, "PATCH", "/profile", "/users/:userId/profile"),
        on(LogKey::UserPasswordUpdate, UserDataUpdated, "PATCH", "/password", "/users/:userId/password"),
        on(
            LogKey::UserIdentityUpsert,
            UserDataUpdated,
            "PUT",
            "/identities",
            "/users/:userId/identities/:target",
        ),
        on(
            LogKey::UserIdentityDelete,
            UserDataUpdated,
            "DELETE",
            "/identities",
            "/users/:userId/identities/:target",
        ),
        on(
            LogKey::UserSuspensionStatusUpdate,
            UserSuspensionStatusUpdated,
            "PATCH",
            "/is-suspended",
            "/users/:userId/is-suspended",
        ),
        on(LogKey::UserDelete, UserDeleted, "DELETE", "", "/users/:userId"),
    ]
};

/// The event a log key is, if any.
pub fn trigger(key: &str) -> Option<&'static Trigger> {
    TRIGGERS.iter().find(|trigger| trigger.key.as_str() == key)
}

/// The keys that trigger deliveries.
pub fn trigger_keys() -> Vec<&'static str> {
    TRIGGERS.iter().map(|trigger| trigger.key.as_str()).collect()
}

/// A user change from the stream, with the route it came through (see [`trigger`]).
struct Change {
    sequence: String,
    user_id: String,
    trigger: &'static Trigger,
    entry: LogEntry,
}

pub struct Deliveries {
    hooks: DynamoHooks,
    logs: DynamoLogs,
    users: UserService<DynamoUsers>,
    sender: Sender,
}

impl Deliveries {
    pub fn new(config: &shared::Config, client: aws_sdk_dynamodb::Client) -> Result<Self, String> {
        Ok(Self {
            hooks: DynamoHooks::new(client.clone(), &config.tables.hooks),
            logs: DynamoLogs::new(client.clone(), &config.tables.logs, config.log_retention_days),
            users: shared::user_service::from_config(config, client),
            sender: Sender::from_config(config)?,
        })
    }

    /// Delivers a batch; names the first record to retry, if any.
    pub async fn handle(&self, event: StreamEvent) -> Result<BatchResponse, Error> {
        let changes: Vec<Change> = event
            .records
            .into_iter()
            .filter(|record| record.event_name == "INSERT")
            .filter_map(|record| {
                let entry: LogEntry = serde_dynamo::from_item(record.dynamodb.new_image?).ok()?;
                let trigger = trigger(&entry.key).filter(|_| entry.success)?;
                let user_id = entry.user_id.clone()?;
                Some(Change { sequence: record.dynamodb.sequence_number, user_id, trigger, entry })
            })
            .collect();
        if changes.is_empty() {
            return Ok(BatchResponse::default());
        }
        let hooks: Vec<Hook> = self.hooks.list().await?.into_iter().filter(|hook| hook.enabled).collect();
        // One lane per hook and user, in stream order; lanes side by side, so a failing or slow
        // endpoint holds back only its own hook's later events of that user.
        let mut lanes: BTreeMap<(&str, &str), Vec<&Change>> = BTreeMap::new();
        for change in &changes {
            // As in Logto, where a change triggers the hooks there are when it is made: a hook
            // created while older changes were still in the stream does not get them.
            let existed = |hook: &&Hook| hook.created_at <= change.entry.created_at;
            for hook in hooks.iter().filter(|hook| hook.wants(change.trigger.event)).filter(existed) {
                lanes.entry((hook.id.as_str(), change.user_id.as_str())).or_default().push(change);
            }
        }
        let hooks_by_id: BTreeMap<&str, &Hook> = hooks.iter().map(|hook| (hook.id.as_str(), hook)).collect();
        let lanes = lanes.into_iter().map(|((hook, _), lane)| self.deliver_lane(hooks_by_id[hook], lane));
        let stopped: Vec<Option<&str>> = futures_util::future::join_all(lanes).await;
        // Stream order is sequence order: the earliest stop is where Lambda's retry starts.
        let first = changes.iter().map(|c| c.sequence.as_str()).find(|s| stopped.contains(&Some(*s)));
        Ok(BatchResponse {
            batch_item_failures: first
                .map(|sequence| ItemFailure { item_identifier: sequence.to_string() })
                .into_iter()
                .collect(),
        })
    }

    /// One hook's deliveries of one user's changes, in order; stops at the first that fails
    /// and names its record.
    async fn deliver_lane<'a>(&self, hook: &Hook, lane: Vec<&'a Change>) -> Option<&'a str> {
        for change in lane {
            if !self.deliver(hook, change).await {
                return Some(&change.sequence);
            }
        }
        None
    }

    /// One change to one hook: skipped if an earlier try got it there, else sent and recorded.
    async fn deliver(&self, hook: &Hook, change: &Change) -> bool {
        let Trigger { event, method, suffix, matched_route, status, .. } = *change.trigger;
        let user_id = &change.user_id;
        let done_id = derived_id(&format!("{}:{}", change.entry.id, hook.id), 21);
        match self.logs.get_consistent(&done_id).await {
            Ok(Some(_)) => return true,
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, "checking an earlier delivery failed");
                return false;
            }
        }
        let data = match self.data(user_id, event, suffix).await {
            Ok(data) => data,
            Err(err) => {
                tracing::warn!(error = %err, "reading the user for a delivery failed");
                return false;
            }
        };
        let created = event == HookEvent::UserCreated;
        let context = ChangeContext {
            path: if created { "/users".to_string() } else { format!("/users/{user_id}{suffix}") },
            method,
            status,
            params: if created { json!({}) } else { json!({ "userId": user_id }) },
            matched_route,
            ip: change.entry.ip.clone(),
            user_agent: change.entry.user_agent.clone(),
        };
        let body = event_body(&hook.id, &change.entry.id, event, change.entry.created_at, &context, data);
        let attempt = self.sender.send(hook, &body).await;
        let entry = attempt_entry(hook, event, &change.entry, &attempt, &done_id);
        let recorded = match attempt.succeeded() {
            true => self.logs.insert(&entry).await,
            false => self.logs.put(&entry).await,
        };
        if let Err(err) = recorded {
            tracing::warn!(error = %err, hook = %hook.id, "recording a delivery attempt failed");
        }
        attempt.succeeded()
    }

    /// The user as the API returns it now (the change's route's answer: the custom data or the
    /// profile for those routes); for a user deleted since, only the id: no copy of a deleted
    /// user's fields is kept anywhere.
    async fn data(&self, user_id: &str, event: HookEvent, suffix: &str) -> Result<Value, Error> {
        if event == HookEvent::UserDeleted {
            return Ok(json!({ "id": user_id }));
        }
        match self.users.get(user_id).await {
            Ok(user) => Ok(match suffix {
                "/custom-data" => Value::Object(user.custom_data.clone()),
                "/profile" => Value::Object(user.profile.clone()),
                _ => user.to_json(false),
            }),
            Err(Error::NotFound) => Ok(json!({ "id": user_id })),
            Err(err) => Err(err),
        }
    }
}

/// The `TriggerHook.<event>` entry of one attempt: a success under the id that marks the
/// delivery done, a failure under a fresh id (each failed attempt is kept).
fn attempt_entry(
    hook: &Hook,
    event: HookEvent,
    change: &LogEntry,
    attempt: &Attempt,
    success_id: &str,
) -> LogEntry {
    let key = event.trigger_log_key();
    let mut entry = LogEntry::keyed(key, attempt.succeeded(), change.user_id.as_deref(), &Origin::default());
    if attempt.succeeded() {
        entry.id = success_id.to_string();
    } else {
        let reason = match (attempt.status, &attempt.error) {
            (Some(status), _) => format!("the endpoint answered {status}"),
            (None, Some(error)) => error.clone(),
            (None, None) => "no answer".to_string(),
        };
        entry = entry.with_error(&reason);
    }
    entry.delivery = Some(Delivery {
        hook_id: hook.id.clone(),
        delivery_id: change.id.clone(),
        status_code: attempt.status,
        duration_ms: attempt.duration.as_millis() as u64,
    });
    entry
}
