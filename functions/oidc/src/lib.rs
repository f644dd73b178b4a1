//! The `oidc` function: the token issuer. OAuth 2.0 client credentials at `/oidc/token`,
//! the public keys at `/oidc/jwks`, discovery at `/oidc/.well-known/openid-configuration`.
//! No bearer token is needed here.

mod token;

use lambda_http::{Request, http::Method};
use serde_json::json;
use std::sync::LazyLock;

use shared::api::{PublicOrigin, Response, Router, error_response, json};
use shared::auth::SigningKeys;
use shared::store::apps::DynamoApps;
use shared::store::logs::DynamoLogs;

pub struct App {
    apps: DynamoApps,
    logs: DynamoLogs,
    keys: SigningKeys,
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
        Self {
            apps: DynamoApps::new(client.clone(), &config.tables.apps),
            logs: DynamoLogs::new(client, &config.tables.logs, config.log_retention_days),
            keys,
            issuer: config.auth.issuer.clone(),
            audience: config.auth.api_indicator.clone(),
            origin: PublicOrigin::new(config.public_base_url.as_deref()),
        }
    }

    /// The private key set: `SIGNING_KEYS` inline, or the Secrets Manager secret named by
    /// `SIGNING_KEYS_SECRET_ID` (read once, at cold start).
    pub async fn load_keys(config: &shared::Config) -> Result<SigningKeys, String> {
        if let Some(inline) = &config.auth.signing_keys {
            return SigningKeys::parse(shared::config::ExposeSecret::expose_secret(inline));
        }
        let Some(secret_id) = &config.auth.signing_keys_secret_id else {
            return Err("no signing keys: set SIGNING_KEYS_SECRET_ID (or SIGNING_KEYS locally)".into());
        };
        let mut sdk = aws_sdk_secretsmanager::config::Builder::from(&shared::store::function_sdk_config()?);
        if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER")
            && !url.is_empty()
        {
            sdk = sdk.endpoint_url(url);
        }
        let client = aws_sdk_secretsmanager::Client::from_conf(sdk.build());
        let secret = client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| format!("reading the signing keys from {secret_id}: {e}"))?;
        SigningKeys::parse(secret.secret_string().ok_or("the signing-key secret has no string value")?)
    }

    pub async fn handle(&self, request: Request) -> Response {
        let result = match ROUTER.find(request.method(), request.uri().path()) {
            Ok((Endpoint::Token, _)) => token::issue(self, &request).await,
            Ok((Endpoint::Jwks, _)) => Ok(json(200, &self.keys.jwks())),
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
