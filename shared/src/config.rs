//! Configuration, read once from the environment at cold start into a typed struct. The
//! other environment variables the product reads are the AWS SDK's own (region, credentials,
//! endpoint overrides: `aws`), the logging settings Lambda defines (`api::logging`), and the
//! access line's metrics namespace and trace id (`api`).

use base64::Engine;
/// Secrets are read with `expose_secret()`: every place that needs the value says so.
pub use secrecy::{ExposeSecret, SecretString};
use std::env;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableNames {
    pub users: String,
    pub logs: String,
    pub apps: String,
    pub hooks: String,
}

impl TableNames {
    /// The tables named `<prefix>-users`, `<prefix>-logs`, `<prefix>-apps`, `<prefix>-hooks`.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            users: format!("{prefix}-users"),
            logs: format!("{prefix}-logs"),
            apps: format!("{prefix}-apps"),
            hooks: format!("{prefix}-hooks"),
        }
    }
}

/// Where tokens come from and what they must say. Its `Debug` output shows the private key
/// set as `[REDACTED]`.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The `resource` tokens are issued for and the `aud` they must carry.
    pub api_indicator: String,
    /// The `iss` of tokens: `ISSUER`, or the indicator with `/api` replaced by `/oidc`.
    pub issuer: String,
    /// `AUTH_JWKS`: the public keys verifiers accept (a JWKS document, as JSON or its base64).
    pub public_jwks: Option<String>,
    /// `SIGNING_KEYS`: the private key set inline, JSON or its base64 (local stack, tests).
    pub signing_keys: Option<SecretString>,
    /// `SIGNING_KEYS_SECRET_ID`: a Secrets Manager secret holding the private key set (AWS).
    pub signing_keys_secret_id: Option<String>,
    /// `SIGNING_KEY_ID`: the key of the set that signs (the template's `SigningKeyId`); unset,
    /// the set's first.
    pub signing_key_id: Option<String>,
}

pub const DEFAULT_API_INDICATOR: &str = "https://default.logto.app/api";

impl AuthConfig {
    pub fn new(api_indicator: &str) -> Self {
        let issuer = match api_indicator.strip_suffix("/api") {
            Some(origin) => format!("{origin}/oidc"),
            None => format!("{}/oidc", api_indicator.trim_end_matches('/')),
        };
        Self {
            api_indicator: api_indicator.to_string(),
            issuer,
            public_jwks: None,
            signing_keys: None,
            signing_keys_secret_id: None,
            signing_key_id: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub tables: TableNames,
    pub auth: AuthConfig,
    /// Logto's `CASE_SENSITIVE_USERNAME`: when false, `Foo` and `foo` collide.
    pub username_case_sensitive: bool,
    /// Days a log item lives before DynamoDB's TTL removes it.
    pub log_retention_days: u32,
    pub lockout: Lockout,
    /// `PAGE_TOKEN_SECRET`: the key that makes page tokens tamper-evident (redacted in `Debug`).
    pub page_token_secret: Option<SecretString>,
    /// `PAGE_TOKEN_SECRET_ID`: a Secrets Manager secret holding that key (AWS).
    pub page_token_secret_id: Option<String>,
    /// `SEARCH_READ_LIMIT`: the most users one search may read when it must pass over all of
    /// them (`%x%`, `similar_to`, `posix` without a literal prefix); beyond it, a 400.
    pub search_read_limit: u64,
    /// `APP_CACHE_MS`: how long the token function keeps an app it read (a disabled app or a
    /// rotated secret takes effect within it); 0 reads the app on every request.
    pub app_cache_ms: u64,
    /// `LIST_CACHE_MS`: how long an instance keeps a list page it read from shared index
    /// partitions (`store::list_cache`); 0 (the default; the template sets 500) keeps none.
    pub list_cache_ms: u64,
    /// `PUBLIC_BASE_URL`: the origin clients call (`https://users.example.com`), used in `Link`
    /// headers and discovery instead of anything the request says about itself.
    pub public_base_url: Option<String>,
    /// `HOOKS_ALLOW_LOCAL_URLS`: let hooks point at plain http and this machine's or network's
    /// addresses. Development only; false on AWS (see docs/webhooks.md).
    pub hooks_allow_local_urls: bool,
    /// `HOOKS_TIMEOUT_MS`: how long one delivery may take, connection included.
    pub hooks_timeout_ms: u64,
}

/// Password-verify lockout: this many failures within the window lock further verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    pub max_failures: u32,
    pub window_secs: u64,
}

impl Default for Lockout {
    fn default() -> Self {
        Self { max_failures: 5, window_secs: 3600 }
    }
}

pub const DEFAULT_TABLE_PREFIX: &str = "users-api";

/// About 120 bytes of search fields a user: 200,000 users is a 24 MB read (3,000 read units,
/// under a second over 16 shards side by side) and about 50 MB of rows in a 128 MB function.
pub const DEFAULT_SEARCH_READ_LIMIT: u64 = 200_000;

/// Logto waits 10 s; a few seconds bound how long one slow receiver holds a delivery batch.
pub const DEFAULT_HOOKS_TIMEOUT_MS: u64 = 5000;

/// One read of an app's item a second per instance, instead of one per token request.
pub const DEFAULT_APP_CACHE_MS: u64 = 1000;

/// The template's `LIST_CACHE_MS` (its `ListCacheMilliseconds` default): 1,000 instances then
/// read a page at most 2,000 times a second (`store::list_cache`). The code's own default is
/// 0, none.
pub const TEMPLATE_LIST_CACHE_MS: u64 = 500;

impl Config {
    /// Reads `USERS_TABLE`, `LOGS_TABLE`, `APPS_TABLE`, `HOOKS_TABLE` (defaults `users-api-*`),
    /// `USERNAME_CASE_SENSITIVE` (default true) and `LOG_RETENTION_DAYS` (default 90).
    pub fn from_env() -> Result<Self, String> {
        let defaults = TableNames::with_prefix(DEFAULT_TABLE_PREFIX);
        let tables = TableNames {
            users: env::var("USERS_TABLE").unwrap_or(defaults.users),
            logs: env::var("LOGS_TABLE").unwrap_or(defaults.logs),
            apps: env::var("APPS_TABLE").unwrap_or(defaults.apps),
            hooks: env::var("HOOKS_TABLE").unwrap_or(defaults.hooks),
        };
        let username_case_sensitive = match env::var("USERNAME_CASE_SENSITIVE") {
            Ok(v) => parse_bool(&v).ok_or(format!("USERNAME_CASE_SENSITIVE={v} is not true/false"))?,
            Err(_) => true,
        };
        let log_retention_days = match env::var("LOG_RETENTION_DAYS") {
            Ok(v) => v.parse().map_err(|_| format!("LOG_RETENTION_DAYS={v} is not a number"))?,
            Err(_) => 90,
        };
        let mut auth = AuthConfig::new(&env::var("API_INDICATOR").unwrap_or(DEFAULT_API_INDICATOR.into()));
        if let Ok(issuer) = env::var("ISSUER")
            && !issuer.is_empty()
        {
            auth.issuer = issuer;
        }
        auth.public_jwks = json_or_base64("AUTH_JWKS")?;
        auth.signing_keys = json_or_base64("SIGNING_KEYS")?.map(Into::into);
        auth.signing_keys_secret_id = non_empty("SIGNING_KEYS_SECRET_ID");
        auth.signing_key_id = non_empty("SIGNING_KEY_ID");
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match env::var(name) {
                Ok(v) => v.parse().map_err(|_| format!("{name}={v} is not a number")),
                Err(_) => Ok(default),
            }
        };
        let lockout = Lockout {
            max_failures: number("LOCKOUT_MAX_FAILURES", 5)? as u32,
            window_secs: number("LOCKOUT_WINDOW_SECS", 3600)?,
        };
        let search_read_limit = number("SEARCH_READ_LIMIT", DEFAULT_SEARCH_READ_LIMIT)?;
        let page_token_secret = non_empty("PAGE_TOKEN_SECRET").map(Into::into);
        let public_base_url = match env::var("PUBLIC_BASE_URL") {
            Ok(v) if !v.is_empty() => Some(parse_base_url(&v)?),
            _ => None,
        };
        Ok(Self {
            tables,
            auth,
            username_case_sensitive,
            log_retention_days,
            lockout,
            search_read_limit,
            app_cache_ms: number("APP_CACHE_MS", DEFAULT_APP_CACHE_MS)?,
            list_cache_ms: number("LIST_CACHE_MS", 0)?,
            page_token_secret,
            page_token_secret_id: non_empty("PAGE_TOKEN_SECRET_ID"),
            public_base_url,
            hooks_allow_local_urls: match env::var("HOOKS_ALLOW_LOCAL_URLS") {
                Ok(v) => parse_bool(&v).ok_or(format!("HOOKS_ALLOW_LOCAL_URLS={v} is not true/false"))?,
                Err(_) => false,
            },
            hooks_timeout_ms: number("HOOKS_TIMEOUT_MS", DEFAULT_HOOKS_TIMEOUT_MS)?,
        })
    }

    /// [`Config::from_env`], then the secrets it names by id, read from Secrets Manager (once,
    /// at cold start; a value given inline, as locally, wins). A secret that cannot be read
    /// stops the start: a function without its keys must not serve.
    pub async fn load(aws: &crate::aws::Aws) -> Result<Self, String> {
        let mut config = Self::from_env()?;
        if config.auth.signing_keys.is_none()
            && let Some(id) = &config.auth.signing_keys_secret_id
        {
            config.auth.signing_keys = Some(crate::secrets::read(aws, id).await?);
        }
        if config.page_token_secret.is_none()
            && let Some(id) = &config.page_token_secret_id
        {
            config.page_token_secret = Some(crate::secrets::read(aws, id).await?);
        }
        Ok(config)
    }

    pub fn for_tables(tables: TableNames) -> Self {
        let auth = AuthConfig::new(DEFAULT_API_INDICATOR);
        Self {
            tables,
            auth,
            username_case_sensitive: true,
            log_retention_days: 90,
            lockout: Lockout::default(),
            search_read_limit: DEFAULT_SEARCH_READ_LIMIT,
            app_cache_ms: DEFAULT_APP_CACHE_MS,
            list_cache_ms: 0,
            page_token_secret: None,
            page_token_secret_id: None,
            public_base_url: None,
            hooks_allow_local_urls: false,
            hooks_timeout_ms: DEFAULT_HOOKS_TIMEOUT_MS,
        }
    }

    /// A list cache as `LIST_CACHE_MS` sets it (one per function instance).
    pub fn list_cache(&self) -> crate::store::list_cache::ListCache {
        crate::store::list_cache::ListCache::new(std::time::Duration::from_millis(self.list_cache_ms))
    }
}

fn non_empty(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

/// A JSON document from the environment, as JSON or as the base64 of it (for env files,
/// `--parameter-overrides` and tools that mangle quotes and commas).
fn json_or_base64(name: &str) -> Result<Option<String>, String> {
    match env::var(name) {
        Ok(value) if !value.trim().is_empty() => decode_json_or_base64(name, &value).map(Some),
        _ => Ok(None),
    }
}

/// A JSON document given as JSON or as its base64 (`name` says what it is in an error).
pub fn decode_json_or_base64(name: &str, value: &str) -> Result<String, String> {
    if value.trim_start().starts_with('{') {
        return Ok(value.to_string());
    }
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| text.trim_start().starts_with('{'))
        .ok_or(format!("{name} is neither JSON nor base64 of JSON"))
}

/// An `http(s)://host[:port]` origin, without a trailing slash.
fn parse_base_url(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value).map_err(|e| format!("PUBLIC_BASE_URL={value}: {e}"))?;
    let plain = url.username().is_empty() && url.password().is_none() && url.query().is_none();
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !plain {
        return Err(format!("PUBLIC_BASE_URL={value} is not an http(s) origin"));
    }
    Ok(value.trim_end_matches('/').to_string())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let mut config = Config::for_tables(TableNames::with_prefix("t"));
        config.auth.signing_keys = Some("private-key-set-5e1f".to_string().into());
        config.page_token_secret = Some("page-token-key-77aa".to_string().into());
        let printed = format!("{config:?} {:?}", config.auth);
        assert!(printed.contains("REDACTED"), "{printed}");
        assert!(
            !printed.contains("private-key-set-5e1f") && !printed.contains("page-token-key-77aa"),
            "{printed}"
        );
    }

    #[test]
    fn key_documents_come_as_json_or_its_base64() {
        let jwks = r#"{"keys":[]}"#;
        assert_eq!(decode_json_or_base64("AUTH_JWKS", jwks).unwrap(), jwks);
        let encoded = base64::engine::general_purpose::STANDARD.encode(jwks);
        assert_eq!(decode_json_or_base64("AUTH_JWKS", &encoded).unwrap(), jwks);
        assert!(decode_json_or_base64("AUTH_JWKS", "not base64!").is_err());
        let not_json = base64::engine::general_purpose::STANDARD.encode("hello");
        assert!(decode_json_or_base64("AUTH_JWKS", &not_json).is_err());
    }

    #[test]
    fn a_public_base_url_is_an_origin() {
        assert_eq!(parse_base_url("https://users.example.com/").unwrap(), "https://users.example.com");
        assert_eq!(parse_base_url("http://127.0.0.1:9000").unwrap(), "http://127.0.0.1:9000");
        for bad in
            ["javascript://x", "users.example.com", "https://u:p@x.io", "https://x.io?a=1", "file:///etc"]
        {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }
}
