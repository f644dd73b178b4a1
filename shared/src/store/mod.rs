//! DynamoDB access, and the AWS SDK set-up every client of the product is built from. It knows
//! nothing of HTTP; outside it, only the oidc function (its Secrets Manager read) and the
//! tools (usersctl's CloudFormation look-up) build AWS clients, from the configuration here.

pub mod apps;
pub mod check;
mod error;
pub mod logs;
mod metering;
pub mod schema;
mod tx;
pub mod users;

pub use error::StoreError;
pub use tx::{Condition, Transaction};
pub use users::DynamoUsers;

use aws_config::{BehaviorVersion, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// Per attempt: a healthy DynamoDB answers in milliseconds, so a second is already a fault.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Whole operation, retries included: keeps every answer (503 included) under 3 s.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(2200);
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Builds the DynamoDB client of a tool or test from the environment: region and credentials
/// by the SDK's default chain, the endpoint from `AWS_ENDPOINT_URL_DYNAMODB` when set (moto, or
/// any DynamoDB-compatible endpoint), with timeouts that fail fast instead of the SDK's defaults.
pub async fn client_from_env() -> Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await);
    Client::from_conf(config.interceptor(metering::Metering).build())
}

/// The SDK configuration tools and tests build their AWS clients from (same timeouts as the
/// functions). They run on workstations, often behind TLS-inspecting proxies, so they trust
/// the system's roots; only the functions pin Amazon's ([`function_sdk_config`]).
pub async fn sdk_config() -> aws_config::SdkConfig {
    tool_sdk_config(None, None, Timeouts::default()).await
}

/// [`sdk_config`] with a region and a named profile other than the default chain's, and
/// other timeouts (an operator's command may wait where a request may not).
pub async fn tool_sdk_config(
    region: Option<&str>,
    profile: Option<&str>,
    timeouts: Timeouts,
) -> aws_config::SdkConfig {
    let mut loader = loader(Trust::System, timeouts);
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// The configuration a function builds its AWS clients from. Lambda sets the region and the
/// execution role's credentials as environment variables, so they are read directly rather
/// than through the SDK's provider chains (profiles, SSO, STS, IMDS), which then are not
/// linked at all: smaller binaries, nothing probed at cold start (BENCHMARKS.md). Tools and
/// tests, which may run with profiles, use [`sdk_config`].
pub fn function_sdk_config() -> Result<aws_config::SdkConfig, String> {
    use aws_sdk_dynamodb::config::{Credentials, Region, SharedCredentialsProvider};
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).ok_or("AWS_REGION is not set")?;
    let key = var("AWS_ACCESS_KEY_ID").ok_or("AWS_ACCESS_KEY_ID is not set")?;
    let secret = var("AWS_SECRET_ACCESS_KEY").ok_or("AWS_SECRET_ACCESS_KEY is not set")?;
    let credentials = Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "lambda-environment");
    let endpoint = var("AWS_ENDPOINT_URL");
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(http_client(Trust::for_endpoint(dynamodb_endpoint().or(endpoint.clone()).as_deref())))
        .timeout_config(timeout_config(Timeouts::default()))
        .retry_config(retry_config());
    if let Some(url) = endpoint {
        builder = builder.endpoint_url(url);
    }
    Ok(builder.build())
}

/// The DynamoDB client of a function: [`function_sdk_config`], with the SDK's per-service
/// endpoint override `AWS_ENDPOINT_URL_DYNAMODB` (moto, or any DynamoDB-compatible endpoint),
/// metering each call for the request's access line.
pub fn function_client() -> Result<Client, String> {
    let mut config = aws_sdk_dynamodb::config::Builder::from(&function_sdk_config()?);
    if let Some(url) = dynamodb_endpoint() {
        config = config.endpoint_url(url);
    }
    Ok(Client::from_conf(config.interceptor(metering::Metering).build()))
}

/// The same configuration with other timeouts (the benchmarks' emulator needs seconds for
/// what DynamoDB answers in milliseconds).
pub async fn sdk_config_with(timeouts: Timeouts) -> aws_config::SdkConfig {
    loader(Trust::System, timeouts).load().await
}

/// How long the SDK waits: to connect, for one attempt, for a whole operation.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: CONNECT_TIMEOUT, attempt: ATTEMPT_TIMEOUT, operation: OPERATION_TIMEOUT }
    }
}

impl Timeouts {
    /// For commands a person runs (table creation, scans): seconds, not milliseconds.
    pub fn patient() -> Self {
        Self {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs(20),
            operation: Duration::from_secs(60),
        }
    }
}

/// The same client, aimed at an explicit endpoint (tests, tools).
pub async fn client_with_endpoint(url: &str) -> Client {
    let sdk = loader(Trust::System, Timeouts::default()).endpoint_url(url).load().await;
    Client::from_conf(aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(metering::Metering).build())
}

/// The SDK's per-service endpoint override for DynamoDB, `AWS_ENDPOINT_URL_DYNAMODB`.
fn dynamodb_endpoint() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok().filter(|url| !url.is_empty())
}

/// Amazon Trust Services' roots. Every AWS endpoint's certificate chains to one of them, so
/// trusting only these costs five certificates parsed at cold start instead of the system
/// store's ~140 (3.5 ms measured by `scripts/bench`), and trusts nobody AWS does not.
const AMAZON_TRUST_SERVICES: &str = include_str!("amazon-trust-services.pem");

/// Which certificate authorities an HTTPS client trusts.
#[derive(Clone, Copy)]
enum Trust {
    /// Amazon Trust Services' roots only: a function talking to AWS endpoints.
    Amazon,
    /// The system's store: tools and tests, and a function with a custom `https://` endpoint
    /// (a VPC endpoint, an Alternator cluster with its own CA).
    System,
}

impl Trust {
    fn for_endpoint(endpoint: Option<&str>) -> Self {
        if endpoint.is_some_and(|url| url.starts_with("https://")) { Trust::System } else { Trust::Amazon }
    }
}

/// An HTTPS client (plain-HTTP emulators work with either trust).
fn http_client(trust: Trust) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let trust = match trust {
        Trust::System => TrustStore::default(),
        Trust::Amazon => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes()),
    };
    let context = TlsContext::builder().with_trust_store(trust).build().expect("the trust store is valid");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

fn loader(trust: Trust, timeouts: Timeouts) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client(trust))
        .timeout_config(timeout_config(timeouts))
        .retry_config(retry_config())
}

fn timeout_config(timeouts: Timeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(timeouts.connect)
        .operation_attempt_timeout(timeouts.attempt)
        .operation_timeout(timeouts.operation)
        .build()
}

fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(400))
}
