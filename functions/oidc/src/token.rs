//! `POST /oidc/token`: the client-credentials grant (RFC 6749 §4.4) with a resource
//! indicator (RFC 8707). Errors are RFC 6749's `{error, error_description}`.

use base64::{Engine, engine::general_purpose::STANDARD};
use lambda_http::{Request, http::header};
use percent_encoding::percent_decode_str;
use serde_json::json;

use shared::api::{Response, client_info, json};
use shared::auth::{self, Scope};
use shared::domain::app::{M2mApp, hash_secret};
use shared::domain::log::{LogEntry, LogKey, Origin};
use shared::{Error, Result};

use crate::App;

/// The token endpoint's form is small (docs/security.md): a client-credentials request needs five
/// short fields. Anything larger is refused before it is parsed.
pub const MAX_FORM_BYTES: usize = 4 * 1024;
pub const MAX_FORM_FIELDS: usize = 16;

/// Client ids are generated (`usersctl apps create`) and far shorter than this.
const MAX_CLIENT_ID_BYTES: usize = 128;

/// The fields this endpoint reads. Each may appear at most once (RFC 6749 §3.2); others are
/// ignored, as RFC 6749 asks, without being compared with anything.
const KNOWN_FIELDS: [&str; 5] = ["grant_type", "client_id", "client_secret", "resource", "scope"];

/// The known fields of the form, found in one pass over it.
struct Form([Option<String>; KNOWN_FIELDS.len()]);

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
        let body: &[u8] = request.body().as_ref();
        if body.len() > MAX_FORM_BYTES {
            return Err(Error::oauth(
                "invalid_request",
                format!("the form is larger than {MAX_FORM_BYTES} bytes"),
            ));
        }
        let mut fields: [Option<String>; KNOWN_FIELDS.len()] = Default::default();
        for (count, (key, value)) in form_urlencoded::parse(body).enumerate() {
            if count == MAX_FORM_FIELDS {
                return Err(Error::oauth(
                    "invalid_request",
                    format!("the form has more than {MAX_FORM_FIELDS} fields"),
                ));
            }
            let Some(slot) = KNOWN_FIELDS.iter().position(|known| *known == key) else { continue };
            if fields[slot].replace(value.into_owned()).is_some() {
                return Err(Error::oauth("invalid_request", format!("`{key}` is given more than once")));
            }
        }
        Ok(Self(fields))
    }

    fn get(&self, key: &str) -> Option<&str> {
        let slot = KNOWN_FIELDS.iter().position(|known| *known == key)?;
        self.0[slot].as_deref().filter(|v| !v.is_empty())
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

/// How the client authenticated: its claimed id and secret, and whether by HTTP Basic.
struct Credentials {
    client_id: String,
    secret: String,
    basic: bool,
}

/// A refused grant: the error to answer, and whether the claimed client id names an app.
struct Refusal {
    error: Error,
    known_app: bool,
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
    let credentials = client_credentials(request, &form)?;
    let (ip, user_agent) = client_info(request);
    let (record, scope) = match grant(app, &form, &credentials).await? {
        Ok(granted) => granted,
        Err(Refusal { error, known_app }) => {
            if known_app {
                shared::telemetry::note_caller(&credentials.client_id);
            }
            // Failed exchanges are visible to operators and in the activity log, like
            // successes: who tried (never with what secret), from where, and why not.
            let parts = error.parts();
            tracing::warn!(
                client_id = ?credentials.client_id,
                ip = ?ip,
                error = parts.code,
                reason = %parts.message,
                "token request refused"
            );
            let application_id = known_app.then(|| credentials.client_id.clone());
            let origin = Origin { application_id, ip, user_agent };
            let entry = LogEntry::new(LogKey::ExchangeTokenByClientCredentials, false, None, &origin)
                .with_error(parts.code);
            app.logs.put(&entry).await?;
            return Err(error);
        }
    };
    shared::telemetry::note_caller(&record.client_id);
    let now = shared::domain::now_ms() / 1000;
    let token = auth::issue(app.keys.active(), &app.issuer, &app.audience, &record.client_id, &scope, now);
    // No token leaves without its log entry.
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

/// One client authentication method: HTTP Basic or the `client_id`/`client_secret` fields.
fn client_credentials(request: &Request, form: &Form) -> Result<Credentials> {
    let basic = basic_credentials(request).transpose()?;
    match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(_), _, Some(_)) => {
            Err(Error::oauth("invalid_request", "use one client authentication method, not two"))
        }
        (Some((client_id, secret)), _, None) => Ok(Credentials { client_id, secret, basic: true }),
        (None, Some(id), Some(secret)) => {
            Ok(Credentials { client_id: id.to_string(), secret: secret.to_string(), basic: false })
        }
        (None, _, _) => Err(Error::oauth("invalid_client", "client authentication is required")),
    }
}

/// Authenticates the client and checks what it asks for: the app and the granted scope, or
/// the reason it is refused. Storage faults are the outer error.
async fn grant(
    app: &App,
    form: &Form,
    credentials: &Credentials,
) -> Result<std::result::Result<(M2mApp, String), Refusal>> {
    // Longer than any id `usersctl` makes, and than a DynamoDB key may be: no such app.
    let app_record = match credentials.client_id.len() {
        1..=MAX_CLIENT_ID_BYTES => app.recent_apps.get(&app.apps, &credentials.client_id).await?,
        _ => None,
    };
    let known_app = app_record.is_some();
    let refuse = |error| Ok(Err(Refusal { error, known_app }));
    let authenticated = match &app_record {
        Some(record) => record.secret_matches(&credentials.secret) && record.enabled,
        None => {
            // Same work as a real comparison: the answer's timing does not say which ids exist.
            std::hint::black_box(hash_secret(std::hint::black_box(&credentials.secret)));
            false
        }
    };
    let record = match app_record {
        Some(record) if authenticated => record,
        _ => {
            return refuse(Error::OAuth {
                status: 401,
                error: "invalid_client",
                description: "client authentication failed".into(),
                basic_challenge: credentials.basic,
            });
        }
    };

    match form.get("resource") {
        Some(resource) if resource == app.audience => {}
        _ => return refuse(Error::oauth("invalid_target", format!("the resource must be {}", app.audience))),
    }

    let allowed = |scope: &str| record.scopes.iter().any(|s| s == scope || s == Scope::All.name());
    let scopes: Vec<&str> = match form.get("scope") {
        Some(requested) => requested.split_whitespace().collect(),
        None => record.scopes.iter().map(String::as_str).collect(),
    };
    if let Some(bad) = scopes.iter().find(|s| Scope::parse(s).is_none() || !allowed(s)) {
        return refuse(Error::oauth(
            "invalid_scope",
            format!("scope `{bad}` is not allowed for this client"),
        ));
    }
    let scope = scopes.join(" ");
    Ok(Ok((record, scope)))
}
