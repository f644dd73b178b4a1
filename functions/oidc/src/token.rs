//! `POST /oidc/token`: the client-credentials grant (RFC 6749 §4.4) with a resource
//! indicator (RFC 8707). Errors are RFC 6749's `{error, error_description}`.

use base64::{Engine, engine::general_purpose::STANDARD};
use lambda_http::{Request, http::header};
use percent_encoding::percent_decode_str;
use serde_json::json;

use shared::api::{Response, body_bytes, client_info, json};
use shared::auth::{self, Scope};
use shared::domain::log::{LogEntry, LogKey, Origin};
use shared::store::apps::hash_secret;
use shared::{Error, Result};

use crate::App;

/// Form fields, each at most once (RFC 6749 §3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(request: &Request) -> Result<Self> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(Error::oauth(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(body_bytes(request)?).into_owned().collect();
        for (i, (key, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(k, _)| k == key) {
                return Err(Error::oauth("invalid_request", format!("`{key}` is given more than once")));
            }
        }
        Ok(Self(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(request: &Request) -> Option<Result<(String, String)>> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let invalid = || Error::OAuth {
        status: 401,
        error: "invalid_client",
        description: "malformed Basic credentials".into(),
        basic_challenge: true,
    };
    let decoded = STANDARD.decode(encoded.trim()).ok().and_then(|b| String::from_utf8(b).ok());
    let parsed = decoded.as_deref().and_then(|d| d.split_once(':')).and_then(|(id, secret)| {
        let id = percent_decode_str(id).decode_utf8().ok()?.into_owned();
        let secret = percent_decode_str(secret).decode_utf8().ok()?.into_owned();
        Some((id, secret))
    });
    Some(parsed.ok_or_else(invalid))
}

pub async fn issue(app: &App, request: &Request) -> Result<Response> {
    let form = Form::parse(request)?;
    match form.get("grant_type") {
        None => return Err(Error::oauth("invalid_request", "`grant_type` is required")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(Error::oauth("unsupported_grant_type", format!("`{other}` is not supported")));
        }
    }

    let basic = basic_credentials(request).transpose()?;
    let (client_id, secret, used_basic) = match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(_), _, Some(_)) => {
            return Err(Error::oauth("invalid_request", "use one client authentication method, not two"));
        }
        (Some((id, secret)), _, None) => (id, secret, true),
        (None, Some(id), Some(secret)) => (id.to_string(), secret.to_string(), false),
        (None, _, _) => return Err(Error::oauth("invalid_client", "client authentication is required")),
    };
    let app_record = app.apps.get(&client_id).await?;
    let authenticated = match &app_record {
        Some(record) => record.secret_matches(&secret) && record.enabled,
        None => {
            // Same work as a real comparison: the answer's timing does not say which ids exist.
            let _ = hash_secret(&secret);
            false
        }
    };
    let record = match app_record {
        Some(record) if authenticated => record,
        _ => {
            return Err(Error::OAuth {
                status: 401,
                error: "invalid_client",
                description: "client authentication failed".into(),
                basic_challenge: used_basic,
            });
        }
    };

    match form.get("resource") {
        Some(resource) if resource == app.audience => {}
        _ => {
            return Err(Error::oauth("invalid_target", format!("the resource must be {}", app.audience)));
        }
    }

    let allowed = |scope: &str| record.scopes.iter().any(|s| s == scope || s == Scope::All.name());
    let scopes: Vec<&str> = match form.get("scope") {
        Some(requested) => requested.split_whitespace().collect(),
        None => record.scopes.iter().map(String::as_str).collect(),
    };
    if let Some(bad) = scopes.iter().find(|s| Scope::parse(s).is_none() || !allowed(s)) {
        return Err(Error::oauth("invalid_scope", format!("scope `{bad}` is not allowed for this client")));
    }
    let scope = scopes.join(" ");
    let now = shared::domain::now_ms() / 1000;
    let token = auth::issue(app.keys.active(), &app.issuer, &app.audience, &record.client_id, &scope, now);
    // No token leaves without its log entry.
    let (ip, user_agent) = client_info(request);
    let origin = Origin { application_id: Some(record.client_id.clone()), ip, user_agent };
    app.logs.put(&LogEntry::new(LogKey::ExchangeTokenByClientCredentials, true, None, &origin)).await?;
    let mut response = json(
        200,
        &json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": auth::TOKEN_TTL_SECS,
            "scope": scope,
        }),
    );
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}
