//! User routes: parse, call the service, shape the answer.

use lambda_http::Request;
use serde_json::{Value, json};

use shared::api::{
    Cursor, Query, Response, Total, body_bytes, json, no_content, paged, user as user_response,
};
use shared::auth::Caller;
use shared::auth::Scope;
use shared::domain::Page;
use shared::domain::input::{Body, NewUser, UserPatch, parse_profile};
use shared::domain::search::Search;
use shared::user_service::{Created, Idempotency};
use shared::{Error, Result};

use crate::App;

/// Role and organization filters belong to features this product does not have.
const UNSUPPORTED_FILTERS: [&str; 2] = ["excludeRoleId", "excludeOrganizationId"];

/// `includePasswordHash`: password digests are as sensitive as a password store, so reading
/// them takes the scope that also governs every password (`all`), not `users:read`.
fn include_password_hash(query: &Query, caller: &Caller) -> Result<bool> {
    let include = query.flag("includePasswordHash");
    if include {
        caller.require(Scope::All)?;
    }
    Ok(include)
}

pub async fn list(app: &App, request: &Request, caller: &Caller) -> Result<Response> {
    let query = Query::from_request(request);
    let include_hash = include_password_hash(&query, caller)?;
    let page = Page::parse(&query.all("page"), &query.all("page_size"))?;
    if let Some(filter) = UNSUPPORTED_FILTERS.iter().find(|f| query.first(f).is_some()) {
        return Err(Error::InvalidSearch(format!("Parameter `{filter}` is not supported.")));
    }
    let search = Search::parse(query.pairs())?;
    let cursor = Cursor::new(&app.page_tokens, "users", &query);
    let after = cursor.after(&query)?;
    let listing = app.service.list(&search, page, after.as_deref()).await?;
    let items = listing.users.iter().map(|u| u.to_json(include_hash)).collect();
    let mut response = paged(&app.origin, request, &query, items, Total::exact(listing.total), page);
    cursor.attach(&mut response, listing.next);
    Ok(response)
}

pub async fn create(app: &App, request: &Request, caller: &Caller) -> Result<Response> {
    let body = Body::parse(body_bytes(request)?)?;
    let input = NewUser::parse(&body)?;
    let idempotency =
        idempotency_key(request)?.map(|key| Idempotency { key, body_hash: body.canonical_hash() });
    match app.service.create(input, caller, idempotency).await? {
        Created::New(user) => Ok(user_response(200, &user, &user.to_json(false))),
        Created::Replayed { body, etag } => {
            let mut response = json(200, &body);
            if let Ok(etag) = etag.parse() {
                response.headers_mut().insert(lambda_http::http::header::ETAG, etag);
            }
            Ok(response)
        }
    }
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
fn idempotency_key(request: &Request) -> Result<Option<String>> {
    let Some(value) = request.headers().get("idempotency-key") else { return Ok(None) };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_string()))
        }
        _ => Err(Error::InvalidInput {
            target: "headers",
            details: "`Idempotency-Key` must be 1 to 255 visible ASCII characters".into(),
        }),
    }
}

pub async fn get(app: &App, request: &Request, user_id: &str, caller: &Caller) -> Result<Response> {
    let query = Query::from_request(request);
    let include_hash = include_password_hash(&query, caller)?;
    let user = app.service.get(user_id).await?;
    let mut body = user.to_json(include_hash);
    if query.flag("includeSsoIdentities") {
        // Enterprise SSO is out of scope: nobody has SSO identities.
        body["ssoIdentities"] = json!([]);
    }
    Ok(user_response(200, &user, &body))
}

pub async fn patch(app: &App, request: &Request, user_id: &str, caller: &Caller) -> Result<Response> {
    let patch = UserPatch::parse(&Body::parse(body_bytes(request)?)?)?;
    let user = app.service.patch(user_id, patch, caller).await?;
    Ok(user_response(200, &user, &user.to_json(false)))
}

pub async fn delete(app: &App, user_id: &str, caller: &Caller) -> Result<Response> {
    app.service.delete(user_id, caller).await?;
    Ok(no_content())
}

pub async fn get_custom_data(app: &App, user_id: &str) -> Result<Response> {
    let user = app.service.get(user_id).await?;
    Ok(json(200, &Value::Object(user.custom_data)))
}

pub async fn patch_custom_data(
    app: &App,
    request: &Request,
    user_id: &str,
    caller: &Caller,
) -> Result<Response> {
    let body = Body::parse(body_bytes(request)?)?;
    let custom_data = body.required_object("customData")?.clone();
    let merged = app.service.merge_custom_data(user_id, custom_data, caller).await?;
    Ok(json(200, &Value::Object(merged)))
}

pub async fn patch_profile(app: &App, request: &Request, user_id: &str, caller: &Caller) -> Result<Response> {
    let body = Body::parse(body_bytes(request)?)?;
    let profile = parse_profile(body.required_object("profile")?)?;
    let merged = app.service.merge_profile(user_id, profile, caller).await?;
    Ok(json(200, &Value::Object(merged)))
}

pub async fn patch_suspension(
    app: &App,
    request: &Request,
    user_id: &str,
    caller: &Caller,
) -> Result<Response> {
    let body = Body::parse(body_bytes(request)?)?;
    let suspended =
        body.boolean("isSuspended")?.ok_or_else(|| Error::invalid_body("`isSuspended` is required"))?;
    let user = app.service.set_suspended(user_id, suspended, caller).await?;
    Ok(user_response(200, &user, &user.to_json(false)))
}
