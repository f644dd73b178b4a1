//! The `hooks` function: Logto's webhooks management API (`/api/hooks…`). Deliveries of real
//! events are described in docs/webhooks.md; this function stores hooks, sends test payloads and
//! reads each hook's delivery entries from the activity log.

pub mod delivery;

use lambda_http::{Request, http::Method};
use serde_json::Value;
use std::sync::LazyLock;

use shared::api::{
    Params, PublicOrigin, Query, Response, Router, Total, authorize, body_bytes, error_response, json,
    no_content, paged,
};
use shared::auth::Scope;
use shared::domain::hook::{Endpoints, Hook, HookPatch, HookTrial};
use shared::domain::id::is_id;
use shared::domain::input::Body;
use shared::domain::{Page, is_truthy, now_ms};
use shared::store::hooks::DynamoHooks;
use shared::store::logs::{DynamoLogs, LogFilter};
use shared::webhooks::{Sender, test_body};
use shared::{Error, Result};

/// `recent-logs` reads the last day of attempts, as Logto's does.
const RECENT_MS: i64 = 24 * 3600 * 1000;

pub struct App {
    hooks: DynamoHooks,
    logs: DynamoLogs,
    sender: Sender,
    endpoints: Endpoints,
    verifier: shared::auth::Verifier,
    origin: PublicOrigin,
}

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    List,
    Create,
    Get,
    Update,
    Delete,
    RotateKey,
    Test,
    RecentLogs,
}

static ROUTER: LazyLock<Router<(Endpoint, Scope)>> = LazyLock::new(|| {
    Router::new(&[
        (Method::GET, "/api/hooks", (Endpoint::List, Scope::HooksRead)),
        (Method::POST, "/api/hooks", (Endpoint::Create, Scope::HooksWrite)),
        (Method::GET, "/api/hooks/{id}", (Endpoint::Get, Scope::HooksRead)),
        (Method::PATCH, "/api/hooks/{id}", (Endpoint::Update, Scope::HooksWrite)),
        (Method::DELETE, "/api/hooks/{id}", (Endpoint::Delete, Scope::HooksWrite)),
        (Method::PATCH, "/api/hooks/{id}/signing-key", (Endpoint::RotateKey, Scope::HooksWrite)),
        (Method::POST, "/api/hooks/{id}/test", (Endpoint::Test, Scope::HooksWrite)),
        (Method::GET, "/api/hooks/{id}/recent-logs", (Endpoint::RecentLogs, Scope::HooksRead)),
    ])
});

/// Every `(method, path pattern)` this function serves.
pub fn routes() -> &'static [(Method, &'static str)] {
    ROUTER.routes()
}

impl App {
    pub fn new(
        config: &shared::Config,
        client: aws_sdk_dynamodb::Client,
    ) -> std::result::Result<Self, String> {
        Ok(Self {
            hooks: DynamoHooks::new(client.clone(), &config.tables.hooks),
            logs: DynamoLogs::new(client, &config.tables.logs, config.log_retention_days),
            sender: Sender::from_config(config)?,
            endpoints: Endpoints::configured(config),
            verifier: shared::auth::Verifier::from_config(&config.auth)?,
            origin: PublicOrigin::new(config.public_base_url.as_deref()),
        })
    }

    pub async fn handle(&self, request: Request) -> Response {
        let result = match authorize(&self.verifier, &ROUTER, &request) {
            Ok((endpoint, params, _)) => self.route(endpoint, &params, &request).await,
            Err(err) => Err(err),
        };
        result.unwrap_or_else(|err| error_response(&err))
    }

    async fn route(&self, endpoint: Endpoint, params: &Params, request: &Request) -> Result<Response> {
        let id = params.get("id");
        match endpoint {
            Endpoint::List => self.list(request).await,
            Endpoint::Create => {
                let hook = Hook::create(&Body::parse(body_bytes(request)?)?, self.endpoints)?;
                self.hooks.insert(&hook).await?;
                Ok(json(201, &hook.to_json()))
            }
            Endpoint::Get => {
                let hook = self.get(id).await?;
                Ok(json(200, &self.shown(&hook, &Query::from_request(request)).await?))
            }
            Endpoint::Update => {
                let patch = HookPatch::parse(&Body::parse(body_bytes(request)?)?, self.endpoints)?;
                self.update(id, |hook| hook.apply(&patch)).await
            }
            Endpoint::RotateKey => self.update(id, Hook::rotate_signing_key).await,
            Endpoint::Delete => match is_id(id) && self.hooks.delete(id).await? {
                true => Ok(no_content()),
                false => Err(Error::HookNotFound(id.to_string())),
            },
            Endpoint::Test => {
                let trial = HookTrial::parse(&Body::parse(body_bytes(request)?)?, self.endpoints)?;
                self.test(id, &trial).await
            }
            Endpoint::RecentLogs => self.recent_logs(id, request).await,
        }
    }

    /// Every hook; paged (with `Total-Number` and `Link`) only when the query asks for a page.
    async fn list(&self, request: &Request) -> Result<Response> {
        let query = Query::from_request(request);
        let page = match query.first("page").is_some() || query.first("page_size").is_some() {
            true => Some(Page::parse(&query.all("page"), &query.all("page_size"))?),
            false => None,
        };
        let hooks = self.hooks.list().await?;
        let shown: Vec<&Hook> = match page {
            Some(page) => hooks.iter().skip(page.offset() as usize).take(page.size as usize).collect(),
            None => hooks.iter().collect(),
        };
        let items =
            futures_util::future::try_join_all(shown.into_iter().map(|hook| self.shown(hook, &query)))
                .await?;
        match page {
            None => Ok(json(200, &Value::Array(items))),
            Some(page) => {
                let total = Total { count: hooks.len() as u64, capped: false };
                Ok(paged(&self.origin, request, &query, items, total, page))
            }
        }
    }

    /// A hook's JSON; with `includeExecutionStats`, Logto's counts of its last 24 hours of
    /// deliveries (`executionStats: {successCount, requestCount}`).
    async fn shown(&self, hook: &Hook, query: &Query) -> Result<Value> {
        let mut shown = hook.to_json();
        if is_truthy(query.first("includeExecutionStats")) {
            let filter = |success| LogFilter {
                hook_id: Some(hook.id.clone()),
                success,
                start: Some(now_ms() - RECENT_MS),
                ..LogFilter::default()
            };
            let (successes, attempts) = (filter(Some(true)), filter(None));
            let (succeeded, all) =
                tokio::join!(self.logs.count(&successes, None), self.logs.count(&attempts, None));
            shown["executionStats"] = serde_json::json!({ "successCount": succeeded?, "requestCount": all? });
        }
        Ok(shown)
    }

    /// A hook, or 404 (ids that cannot exist are not looked up).
    async fn get(&self, id: &str) -> Result<Hook> {
        let found = if is_id(id) { self.hooks.get(id).await? } else { None };
        found.ok_or_else(|| Error::HookNotFound(id.to_string()))
    }

    async fn update(&self, id: &str, change: impl Fn(&mut Hook)) -> Result<Response> {
        let updated = if is_id(id) { self.hooks.update(id, change).await? } else { None };
        let hook = updated.ok_or_else(|| Error::HookNotFound(id.to_string()))?;
        Ok(json(200, &hook.to_json()))
    }

    /// Sends a sample payload of each of the body's `events` to the body's `config`, signed with
    /// the hook's key (Logto's console tests a hook before saving it).
    async fn test(&self, id: &str, trial: &HookTrial) -> Result<Response> {
        let hook = trial.on(&self.get(id).await?);
        // Side by side: the whole test takes one delivery's timeout at most, within the function's.
        let bodies: Vec<_> = trial.events.iter().map(|event| test_body(&hook.id, *event)).collect();
        let sends = bodies.iter().map(|body| self.sender.send(&hook, body));
        for attempt in futures_util::future::join_all(sends).await {
            match (attempt.status, attempt.error) {
                (Some(status), _) if !(200..300).contains(&status) => {
                    return Err(Error::HookEndpointResponded(status));
                }
                (None, error) => return Err(Error::HookSendFailed(error.unwrap_or_default())),
                _ => {}
            }
        }
        Ok(no_content())
    }

    /// The hook's delivery attempts of the last 24 hours, newest first (`[]` for an unknown hook,
    /// as in Logto), paged, optionally of one `logKey`.
    async fn recent_logs(&self, id: &str, request: &Request) -> Result<Response> {
        let query = Query::from_request(request);
        let page = Page::parse(&query.all("page"), &query.all("page_size"))?;
        let filter = LogFilter {
            hook_id: Some(id.to_string()),
            key: query.first("logKey").filter(|k| !k.is_empty()).map(str::to_string),
            start: Some(now_ms() - RECENT_MS),
            ..LogFilter::default()
        };
        let (entries, count) = tokio::join!(
            self.logs.page(&filter, page.offset(), page.size, None),
            self.logs.count(&filter, None)
        );
        let items = entries?.iter().map(|entry| entry.to_json()).collect();
        let total = Total { count: count?, capped: false };
        Ok(paged(&self.origin, request, &query, items, total, page))
    }
}
