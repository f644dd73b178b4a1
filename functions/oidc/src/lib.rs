//! The `oidc` function: the token issuer. OAuth 2.0 client credentials at `/oidc/token`,
//! the public keys at `/oidc/jwks`, discovery at `/oidc/.well-known/openid-configuration`.
//! No bearer token is needed here.

mod recent_apps;
mod token;

use lambda_http::{Request, http::Method};
use serde_json::{Value, json};
use std::sync::LazyLock;

use shared::api::{PublicOrigin, Response, Router, error_response, json};
use shared::auth::SigningKeys;
use shared::config::ExposeSecret;
use shared::store::apps::DynamoApps;
use shared::store::logs::DynamoLogs;

pub struct App {
    apps: DynamoApps,
    recent_apps: recent_apps::RecentApps,
    logs: DynamoLogs,
    keys: SigningKeys,
    /// What `/oidc/jwks` serves: the keys the verifiers accept (`AUTH_JWKS`), so a staged key
    /// is visible to other verifiers before it signs; locally, the set's own public keys.
    jwks: Value,
    issuer: String,
    audience: String,
    origin: PublicOrigin,
}

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Token,
    Jwks,
    Discovery,
}

static ROUTER: LazyLock<Router<Endpoint>> = LazyLock::new(|| {
    Router::new(&[
        (Method::POST, "/oidc/token", Endpoint::Token),
        (Method::GET, "/oidc/jwks", Endpoint::Jwks),
        (Method::GET, "/oidc/.well-known/openid-configuration", Endpoint::Discovery),
    ])
});

/// Every `(method, path pattern)` this function serves.
pub fn routes() -> &'static [(Method, &'static str)] {
    ROUTER.routes()
}

impl App {
    pub fn new(config: &shared::Config, client: aws_sdk_dynamodb::Client, keys: SigningKeys) -> Self {
        let jwks = published(config).ok().flatten().unwrap_or_else(|| keys.jwks());
        Self {
            jwks,
            apps: DynamoApps::new(client.clone(), &config.tables.apps),
            recent_apps: recent_apps::RecentApps::new(std::time::Duration::from_millis(config.app_cache_ms)),
            logs: DynamoLogs::new(client, &config.tables.logs, config.log_retention_days),
            keys,
            issuer: config.auth.issuer.clone(),
            audience: config.auth.api_indicator.clone(),
            origin: PublicOrigin::new(config.public_base_url.as_deref()),
        }
    }

    /// The private key set (`SIGNING_KEYS`, or the secret [`shared::Config::load`] read),
    /// signing with `SIGNING_KEY_ID` when it is set. A signing key the verifiers do not know
    /// (absent from `AUTH_JWKS`) stops the start: every token it signed would be refused
    /// (docs/operations.md, "Rotating the signing key").
    pub fn signing_keys(config: &shared::Config) -> Result<SigningKeys, String> {
        let private = config
            .auth
            .signing_keys
            .as_ref()
            .ok_or("no signing keys: set SIGNING_KEYS_SECRET_ID (or SIGNING_KEYS locally)".to_string())?;
        let keys = SigningKeys::parse(private.expose_secret())?
            .signing_with(config.auth.signing_key_id.as_deref())?;
        if let Some(jwks) = published(config)?
            && !keys.active().is_listed_in(&jwks)
        {
            return Err(format!(
                "the signing key {} is not in AUTH_JWKS: publish it first (usersctl keys stage, deploy, then activate)",
                keys.active().kid
            ));
        }
        Ok(keys)
    }

    pub async fn handle(&self, request: Request) -> Response {
        let result = match ROUTER.find(request.method(), request.uri().path()) {
            Ok((Endpoint::Token, _)) => token::issue(self, &request).await,
            Ok((Endpoint::Jwks, _)) => Ok(json(200, &self.jwks)),
            Ok((Endpoint::Discovery, _)) => Ok(self.discovery(&request)),
            Err(err) => Err(err),
        };
        result.unwrap_or_else(|err| error_response(&err))
    }

    fn discovery(&self, request: &Request) -> Response {
        let origin = self.origin.of(request);
        json(
            200,
            &json!({
                "issuer": self.issuer,
                "token_endpoint": format!("{origin}/oidc/token"),
                "jwks_uri": format!("{origin}/oidc/jwks"),
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": shared::auth::Scope::EVERY.map(|s| s.name()),
                "response_types_supported": [],
            }),
        )
    }
}

/// The published JWKS (`AUTH_JWKS`), when the deployment gives one.
fn published(config: &shared::Config) -> Result<Option<Value>, String> {
    config
        .auth
        .public_jwks
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| format!("AUTH_JWKS: {e}"))
}
