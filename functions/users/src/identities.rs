//! Social identity routes: link or replace one identity, read it, unlink it.

use lambda_http::Request;
use serde_json::{Value, json};

use shared::api::{Response, body_bytes, json, user as user_response};
use shared::auth::Caller;
use shared::domain::JsonObject;
use shared::domain::identity::{IdentityTarget, SocialUserId};
use shared::domain::input::Body;
use shared::{Error, Result};

use crate::App;

/// `PUT`: 201 when the target is new, 200 when it replaced one; the body is the identities map.
pub async fn put(
    app: &App,
    request: &Request,
    user_id: &str,
    target: &str,
    caller: &Caller,
) -> Result<Response> {
    let target = IdentityTarget::parse(target)?;
    let body = Body::parse(body_bytes(request)?)?;
    let identity_user_id = match body.string("userId")? {
        Some(id) if !id.is_empty() => SocialUserId::parse(id)?,
        _ => return Err(Error::invalid_body("`userId` is required")),
    };
    let mut identity = JsonObject::new();
    identity.insert("userId".into(), Value::String(identity_user_id.into_string()));
    if let Some(details) = body.object("details")? {
        identity.insert("details".into(), Value::Object(details.clone()));
    }
    let (created, identities) = app.service.put_identity(user_id, &target, identity, caller).await?;
    Ok(json(if created { 201 } else { 200 }, &Value::Object(identities)))
}

/// No social token sets are stored, so `includeTokenSecret` never adds `tokenSecret`.
pub async fn get(app: &App, user_id: &str, target: &str) -> Result<Response> {
    let identity = app.service.get_identity(user_id, &IdentityTarget::parse(target)?).await?;
    Ok(json(200, &json!({ "identity": identity })))
}

pub async fn delete(app: &App, user_id: &str, target: &str, caller: &Caller) -> Result<Response> {
    let user = app.service.delete_identity(user_id, &IdentityTarget::parse(target)?, caller).await?;
    Ok(user_response(200, &user, &user.to_json(false)))
}
