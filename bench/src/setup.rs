//! What every measurement shares: fresh tables on the emulator, signing keys, tokens, the
//! environment the function binaries start with, and in-process copies of the functions.

use aws_sdk_dynamodb::Client;
use serde_json::{Value, json};
use std::path::PathBuf;

use shared::config::TableNames;
use shared::domain::id::random_id;

use crate::lambda;
use crate::meter::Meter;

pub struct Setup {
    pub endpoint: String,
    pub config: shared::Config,
    pub keys: shared::auth::SigningKeys,
    /// The emulator's Secrets Manager secrets holding the keys and the page-token key, which
    /// the function binaries read at cold start as they do on AWS.
    secret_ids: SecretIds,
    pub client: Client,
    /// `Bearer <token>` with every scope.
    pub authorization: String,
    pub quick: bool,
}

struct SecretIds {
    signing_keys: String,
    page_token_key: String,
}

/// The functions as the bench calls them in-process, on a metered client.
pub struct InProcess {
    pub functions: in_process::Functions,
    pub meter: Meter,
}

impl Setup {
    pub async fn new(quick: bool) -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
            .expect("AWS_ENDPOINT_URL_DYNAMODB must name the emulator: run scripts/bench");
        let config = Self::fresh_config();
        let keys = shared::auth::SigningKeys::generate();
        let client = shared::aws::Aws::tools_default().await.dynamodb();
        let secret_ids = Self::create_secrets(&endpoint, &keys).await;
        let mut setup =
            Self { endpoint, config, keys, secret_ids, client, authorization: String::new(), quick };
        setup.config.auth.signing_keys = Some(setup.keys.to_json().into());
        setup.create_tables().await;
        setup.authorization = format!("Bearer {}", setup.token("all"));
        setup
    }

    async fn create_secrets(endpoint: &str, keys: &shared::auth::SigningKeys) -> SecretIds {
        let secrets = shared::aws::Aws::tools(shared::aws::ToolOptions {
            endpoint: Some(endpoint.to_string()),
            ..Default::default()
        })
        .await
        .secrets_manager();
        let prefix = format!("bench{}", random_id(6));
        let create = async |name: &str, value: String| -> String {
            let created =
                secrets.create_secret().name(format!("{prefix}/{name}")).secret_string(value).send();
            created.await.expect("the emulator stores secrets").arn().expect("an ARN").to_string()
        };
        SecretIds {
            signing_keys: create("signing-keys", keys.to_json()).await,
            page_token_key: create("page-token-key", random_id(64)).await,
        }
    }

    fn fresh_config() -> shared::Config {
        shared::Config::for_tables(TableNames::with_prefix(&format!("bench{}", random_id(6))))
    }

    /// A copy of the configuration aimed at a new, empty set of tables.
    pub async fn fresh_tables(&self) -> shared::Config {
        let mut config = Self::fresh_config();
        config.auth = self.config.auth.clone();
        shared::store::schema::ensure_tables(&self.client, &config.tables).await.expect("tables are created");
        config
    }

    async fn create_tables(&self) {
        shared::store::schema::ensure_tables(&self.client, &self.config.tables)
            .await
            .expect("tables are created");
    }

    pub fn token(&self, scope: &str) -> String {
        let now = shared::domain::now_ms() / 1000;
        let auth = &self.config.auth;
        shared::auth::issue(self.keys.active(), &auth.issuer, &auth.api_indicator, "bench-app", scope, now)
    }

    /// A release binary next to this one (`target/release/<name>`).
    pub fn binary(name: &str) -> PathBuf {
        let me = std::env::current_exe().expect("the bench knows where it is");
        me.with_file_name(name)
    }

    /// The environment the function built from `binary` gets from the template, aimed at these
    /// tables and at the emulator's Secrets Manager.
    pub fn function_env(&self, binary: &str) -> Vec<(String, String)> {
        let tables = &self.config.tables;
        let mut env: Vec<(String, String)> = [
            ("USERS_TABLE", tables.users.clone()),
            ("LOGS_TABLE", tables.logs.clone()),
            ("APPS_TABLE", tables.apps.clone()),
            ("HOOKS_TABLE", tables.hooks.clone()),
            ("AUTH_JWKS", self.keys.jwks().to_string()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.endpoint.clone()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.endpoint.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        match binary {
            "oidc" => env.push(("SIGNING_KEYS_SECRET_ID".into(), self.secret_ids.signing_keys.clone())),
            "users" | "logs" => {
                env.push(("PAGE_TOKEN_SECRET_ID".into(), self.secret_ids.page_token_key.clone()))
            }
            _ => {}
        }
        for name in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            env.push((name.into(), std::env::var(name).unwrap_or_else(|_| "test".into())));
        }
        env
    }

    /// The functions built in-process on a metered client, as their binaries build them.
    pub async fn in_process(&self) -> InProcess {
        self.in_process_on(&self.config, Self::timeouts()).await
    }

    /// The SDK timeouts the functions read under Lambda: `scripts/bench` gives the emulator
    /// longer, so a slow answer is measured, not retried (a create retried after its first
    /// attempt went through would find its username taken: the emulator ignores the
    /// transaction's idempotency token, DynamoDB honours it).
    pub fn timeouts() -> shared::aws::Timeouts {
        shared::aws::Timeouts::from_environment().expect("valid SDK timeouts")
    }

    /// The same, on other tables and with other SDK timeouts.
    pub async fn in_process_on(&self, config: &shared::Config, timeouts: shared::aws::Timeouts) -> InProcess {
        let meter = Meter::default();
        let client = meter.client(timeouts).await;
        let functions =
            in_process::Functions::start(config, client, self.keys.clone()).expect("every function starts");
        InProcess { functions, meter }
    }

    /// An event for `method path` with the all-scopes token.
    pub fn event(&self, method: &str, path: &str, body: Option<&Value>) -> bytes::Bytes {
        lambda::event(method, path, Some(&self.authorization), body)
    }
}

impl InProcess {
    /// Sends an API Gateway event to the function that serves its path, as Lambda would.
    pub async fn send(&self, event: &[u8]) -> (u16, Value) {
        let (status, body, _) = self.send_reading(event, "").await;
        (status, body)
    }

    /// [`Self::send`], with the answer's `header` too.
    pub async fn send_reading(&self, event: &[u8], header: &str) -> (u16, Value, Option<String>) {
        let request = lambda_http::request::from_str(std::str::from_utf8(event).expect("UTF-8"))
            .expect("a valid API Gateway event");
        let (response, _access_line) = self.functions.send(request).await;
        let status = response.status().as_u16();
        let header = response.headers().get(header).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = match response.body() {
            lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap_or(json!(text)),
            lambda_http::Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (status, body, header)
    }
}

/// What the measured requests act on: one user with a password, one machine-to-machine app.
pub struct Fixture {
    pub user_id: String,
    pub email: String,
    pub password: String,
    pub app_id: String,
    pub app_secret: String,
}

impl Fixture {
    /// Creates both through `functions`, on the tables of `config`.
    pub async fn create(setup: &Setup, functions: &InProcess, config: &shared::Config) -> Self {
        let password = "correct horse battery staple".to_string();
        let email = format!("fixture.{}@example.com", random_id(6));
        let body = json!({ "username": format!("fixture_{}", random_id(6)), "primaryEmail": email, "password": password });
        let (status, user) = functions.send(&setup.event("POST", "/api/users", Some(&body))).await;
        assert_eq!(status, 200, "the fixture user is created: {user}");
        let (app, app_secret) = shared::domain::app::M2mApp::create("bench", vec!["all".into()]);
        shared::store::apps::DynamoApps::new(setup.client.clone(), &config.tables.apps)
            .insert(&app)
            .await
            .expect("the app is stored");
        functions.meter.take();
        Self {
            user_id: user["id"].as_str().unwrap().to_string(),
            email,
            password,
            app_id: app.client_id,
            app_secret,
        }
    }
}
