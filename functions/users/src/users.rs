//! User routes: parse, call the service, shape the answer.

use lambda_http::Request;
use serde_json::{Value, json};

use shared::api::{Query, Response, Total, body_bytes, json, no_content, paged};
use shared::domain::Page;
use shared::domain::input::{Body, NewUser, UserPatch, parse_profile};
use shared::domain::search::Search;
use shared::users::Caller;
use shared::{Error, Result};

use crate::App;

/// Role and organization filters belong to features this product does not have.
const UNSUPPORTED_FILTERS: [&str; 2] = ["excludeRoleId", "excludeOrganizationId"];

pub async fn list(app: &App, request: &Request) -> Result<Response> {
    let query = Query::from_request(request);
    let page = Page::parse(&query.all("page"), &query.all("page_size"))?;
    if let Some(filter) = UNSUPPORTED_FILTERS.iter().find(|f| query.first(f).is_some()) {
        return Err(Error::InvalidSearch(format!("Parameter `{filter}` is not supported.")));
    }
    let search = Search::parse(query.pairs())?;
    let include_hash = query.flag("includePasswordHash");
    let (users, total) = app.users.list(&search, page).await?;
    let items = users.iter().map(|u| u.to_json(include_hash)).collect();
    Ok(paged(request, &query, items, Total::exact(total), page))
}

pub async fn create(app: &App, request: &Request, caller: &Caller) -> Result<Response> {
    let body = Body::parse(body_bytes(request)?)?;
    let user = app.users.create(NewUser::parse(&body)?, caller).await?;
    Ok(json(200, &user.to_json(false)))
}

pub async fn get(app: &App, request: &Request, user_id: &str) -> Result<Response> {
    let query = Query::from_request(request);
    let user = app.users.get(user_id).await?;
    let mut body = user.to_json(query.flag("includePasswordHash"));
    if query.flag("includeSsoIdentities") {
        // Enterprise SSO is out of scope: nobody has SSO identities.
        body["ssoIdentities"] = json!([]);
    }
    Ok(json(200, &body))
}

pub async fn patch(app: &App, request: &Request, user_id: &str, caller: &Caller) -> Result<Response> {
    let patch = UserPatch::parse(&Body::parse(body_bytes(request)?)?)?;
    let user = app.users.patch(user_id, patch, caller).await?;
    Ok(json(200, &user.to_json(false)))
}

pub async fn delete(app: &App, user_id: &str, caller: &Caller) -> Result<Response> {
    app.users.delete(user_id, caller).await?;
    Ok(no_content())
}

pub async fn get_custom_data(app: &App, user_id: &str) -> Result<Response> {
    let user = app.users.get(user_id).await?;
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
    let merged = app.users.merge_custom_data(user_id, custom_data, caller).await?;
    Ok(json(200, &Value::Object(merged)))
}

pub async fn patch_profile(app: &App, request: &Request, user_id: &str, caller: &Caller) -> Result<Response> {
    let body = Body::parse(body_bytes(request)?)?;
    let profile = parse_profile(body.required_object("profile")?)?;
    let merged = app.users.merge_profile(user_id, profile, caller).await?;
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
    let user = app.users.set_suspended(user_id, suspended, caller).await?;
    Ok(json(200, &user.to_json(false)))
}
