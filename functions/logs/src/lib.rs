//! The `logs` function: users' activity logs (`GET /api/logs`, `GET /api/logs/{id}`), with
//! Logto's filters and paging, read through the logs table's indexes.

use lambda_http::{Request, http::Method};
use std::sync::LazyLock;

use shared::api::{
    Cursor, PublicOrigin, Query, Response, Router, Total, authorize, error_response, json, paged,
};
use shared::auth::{Scope, Verifier};
use shared::domain::Page;
use shared::domain::log::parse_time;
use shared::domain::user::created_key;
use shared::store::StoreError;
use shared::store::list_cache::ListCache;
use shared::store::logs::{DynamoLogs, LogFilter};
use shared::{Error, Result};

/// With `enableCap`, counting stops here and `Total-Number` saturates (Logto's 10 000 cap).
pub const COUNT_CAP: u64 = 10_000;

pub struct App {
    logs: DynamoLogs,
    list_cache: ListCache,
    verifier: Verifier,
    count_cap: u64,
    page_tokens: shared::api::PageTokens,
    origin: PublicOrigin,
}

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    List,
    Get,
}

static ROUTER: LazyLock<Router<(Endpoint, Scope)>> = LazyLock::new(|| {
    Router::new(&[
        (Method::GET, "/api/logs", (Endpoint::List, Scope::LogsRead)),
        (Method::GET, "/api/logs/{id}", (Endpoint::Get, Scope::LogsRead)),
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
            logs: DynamoLogs::new(client, &config.tables.logs, config.log_retention_days),
            list_cache: config.list_cache(),
            verifier: Verifier::from_config(&config.auth)?,
            count_cap: COUNT_CAP,
            page_tokens: shared::api::PageTokens::new(
                config.page_token_secret.as_ref().map(shared::config::ExposeSecret::expose_secret),
            ),
            origin: PublicOrigin::new(config.public_base_url.as_deref()),
        })
    }

    /// The same function taking totals from the log counters from `n` on (tests use 0).
    pub fn with_counted_below(mut self, n: u64) -> Self {
        self.logs = self.logs.with_counted_below(n);
        self
    }

    /// The same function with another `enableCap` limit (tests use a small one).
    pub fn with_count_cap(mut self, cap: u64) -> Self {
        self.count_cap = cap;
        self
    }

    pub async fn handle(&self, request: Request) -> Response {
        let result = match authorize(&self.verifier, &ROUTER, &request) {
            Ok((Endpoint::List, _, _)) => self.list(&request).await,
            Ok((Endpoint::Get, params, _)) => self.get(params.get("id")).await,
            Err(err) => Err(err),
        };
        result.unwrap_or_else(|err| error_response(&err))
    }

    async fn list(&self, request: &Request) -> Result<Response> {
        let query = Query::from_request(request);
        let page = Page::parse(&query.all("page"), &query.all("page_size"))?;
        let filter = parse_filter(&query)?;
        let cursor = Cursor::new(&self.page_tokens, "logs", &query);
        let after = cursor.after(&query)?;
        let offset = if after.is_some() { 0 } else { page.offset() };
        let cap = query.flag("enableCap").then_some(self.count_cap + 1);
        // One more than the page, to know whether another follows.
        // Side by side, each to its end even when the other fails (see `UserService::list`).
        let read = async {
            let (entries, count) = tokio::join!(
                self.logs.page(&filter, offset, page.size + 1, after.as_deref()),
                self.logs.total(&filter, cap)
            );
            Ok::<_, StoreError>((entries?, count?))
        };
        let (mut entries, count) = if filter.reads_one_owner() {
            read.await?
        } else {
            let key = || format!("logs {filter:?} {offset} {} {after:?} {cap:?}", page.size);
            self.list_cache.read(key, read).await?
        };
        let more = entries.len() as u64 > page.size;
        entries.truncate(page.size as usize);
        let next = if more { entries.last().map(|e| created_key(e.created_at, &e.id)) } else { None };
        let total = Total { count, capped: cap.is_some_and(|cap| count >= cap) };
        let items = entries.iter().map(|e| e.to_json()).collect();
        let mut response = paged(&self.origin, request, &query, items, total, page);
        cursor.attach(&mut response, next);
        Ok(response)
    }

    async fn get(&self, id: &str) -> Result<Response> {
        // Ids that no entry can have (the counters' among them) are not looked up.
        if !shared::domain::id::is_id(id) {
            return Err(Error::LogNotFound(id.to_string()));
        }
        match self.logs.get(id).await? {
            Some(entry) => Ok(json(200, &entry.to_json())),
            None => Err(Error::LogNotFound(id.to_string())),
        }
    }
}

/// Logto's log filters: empty values are no filter; times are inclusive milliseconds.
fn parse_filter(query: &Query) -> Result<LogFilter> {
    let text = |key: &str| query.first(key).filter(|v| !v.is_empty()).map(str::to_string);
    let time = |key: &'static str| -> Result<Option<i64>> {
        match query.first(key) {
            None => Ok(None),
            Some(value) => parse_time(value)
                .map(Some)
                .ok_or(Error::InvalidInput { target: key, details: format!("`{key}` must be a number") }),
        }
    };
    let (start, end) = (time("start_time")?, time("end_time")?);
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        return Err(Error::InvalidTimeWindow);
    }
    Ok(LogFilter {
        hook_id: None,
        user_id: text("userId"),
        application_id: text("applicationId"),
        key: text("logKey"),
        success: None,
        start,
        end,
        uncounted: false,
    })
}
