//! The AWS SDK set-up every client of the product is built from, in one place. Two entry
//! points: [`Aws::lambda`] inside a function, [`Aws::tools`] for usersctl, the tests and the
//! benchmarks. Both fail fast (the timeouts and retries below); the clients come from
//! [`Aws::dynamodb`] (metered for the request's access line) and [`Aws::secrets_manager`],
//! which honour the SDK's endpoint variables in both: `AWS_ENDPOINT_URL_<SERVICE>` (moto, or any
//! compatible endpoint), else `AWS_ENDPOINT_URL`.

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use std::time::Duration;

use crate::store::metering::Metering;

/// Per attempt: a healthy DynamoDB answers in milliseconds, so a second is already a fault.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Whole operation, retries included: keeps every answer (503 included) under 3 s.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(2200);
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// An SDK configuration, and where its clients' endpoints come from.
#[derive(Clone, Debug)]
pub struct Aws {
    sdk: SdkConfig,
    /// Inside Lambda the endpoint variables are read here; for tools, aws-config's loader has
    /// already applied them (and an endpoint given in code, which wins).
    endpoints_from_environment: bool,
}

/// What a tool may choose: a region and a named profile other than the default chain's, an
/// explicit endpoint for every service, other timeouts.
#[derive(Clone, Debug, Default)]
pub struct ToolOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint: Option<String>,
    pub timeouts: Timeouts,
}

impl Aws {
    /// Inside a function. Lambda sets the region and the execution role's credentials as
    /// environment variables, so they are read directly rather than through the SDK's provider
    /// chains (profiles, SSO, STS, IMDS), which then are not linked at all: smaller binaries,
    /// nothing probed at cold start (BENCHMARKS.md). AWS endpoints are trusted through
    /// Amazon's roots only; a custom `https://` endpoint through the system's.
    pub fn lambda() -> Result<Self, String> {
        use aws_sdk_dynamodb::config::{Credentials, Region, SharedCredentialsProvider};
        let region =
            env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).ok_or("AWS_REGION is not set")?;
        let key = env("AWS_ACCESS_KEY_ID").ok_or("AWS_ACCESS_KEY_ID is not set")?;
        let secret = env("AWS_SECRET_ACCESS_KEY").ok_or("AWS_SECRET_ACCESS_KEY is not set")?;
        let credentials = Credentials::new(key, secret, env("AWS_SESSION_TOKEN"), None, "lambda-environment");
        let custom = endpoint_for("DYNAMODB").or_else(|| endpoint_for("SECRETS_MANAGER"));
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(http_client(Trust::for_endpoint(custom.as_deref())))
            .timeout_config(timeout_config(Timeouts::from_environment()?))
            .retry_config(retry_config())
            .build();
        Ok(Self { sdk, endpoints_from_environment: true })
    }

    /// For tools and tests: region and credentials by the SDK's default chain (or the
    /// options'), the endpoint variables as aws-config reads them. They run on workstations,
    /// often behind TLS-inspecting proxies, so they trust the system's roots.
    pub async fn tools(options: ToolOptions) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client(Trust::System))
            .timeout_config(timeout_config(options.timeouts))
            .retry_config(retry_config());
        if let Some(region) = options.region {
            loader = loader.region(aws_config::Region::new(region));
        }
        if let Some(profile) = options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = options.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        Self { sdk: loader.load().await, endpoints_from_environment: false }
    }

    /// [`Aws::tools`] with the defaults: what most tests and tools need.
    pub async fn tools_default() -> Self {
        Self::tools(ToolOptions::default()).await
    }

    /// The configuration itself, for the clients only tools build (CloudFormation, IAM).
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The DynamoDB client, metering each call for the request's access line.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let mut config = aws_sdk_dynamodb::config::Builder::from(&self.sdk);
        if let Some(url) = self.endpoint("DYNAMODB") {
            config = config.endpoint_url(url);
        }
        aws_sdk_dynamodb::Client::from_conf(config.interceptor(Metering).build())
    }

    /// The DynamoDB client, aimed at `url` whatever the environment says (tests, usersctl's
    /// `--endpoint-url`).
    pub fn dynamodb_at(&self, url: &str) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk).endpoint_url(url);
        aws_sdk_dynamodb::Client::from_conf(config.interceptor(Metering).build())
    }

    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        let mut config = aws_sdk_secretsmanager::config::Builder::from(&self.sdk);
        if let Some(url) = self.endpoint("SECRETS_MANAGER") {
            config = config.endpoint_url(url);
        }
        aws_sdk_secretsmanager::Client::from_conf(config.build())
    }

    fn endpoint(&self, service: &str) -> Option<String> {
        self.endpoints_from_environment.then(|| endpoint_for(service)).flatten()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The SDK's endpoint override for one service: `AWS_ENDPOINT_URL_<SERVICE>`, else
/// `AWS_ENDPOINT_URL`.
fn endpoint_for(service: &str) -> Option<String> {
    env(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| env("AWS_ENDPOINT_URL"))
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
    /// The defaults, or `SDK_ATTEMPT_TIMEOUT_MS` / `SDK_OPERATION_TIMEOUT_MS` where set: an
    /// emulator slower than DynamoDB (moto under a fuzzer, on the local stack) needs longer.
    pub fn from_environment() -> Result<Self, String> {
        let millis = |name: &str, default: Duration| -> Result<Duration, String> {
            match env(name) {
                None => Ok(default),
                Some(value) => value
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis)
                    .ok_or(format!("{name} must be a number of milliseconds, not {value:?}")),
            }
        };
        Ok(Self {
            connect: CONNECT_TIMEOUT,
            attempt: millis("SDK_ATTEMPT_TIMEOUT_MS", ATTEMPT_TIMEOUT)?,
            operation: millis("SDK_OPERATION_TIMEOUT_MS", OPERATION_TIMEOUT)?,
        })
    }

    /// For commands a person runs (table creation, scans): seconds, not milliseconds.
    pub fn patient() -> Self {
        Self {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs(20),
            operation: Duration::from_secs(60),
        }
    }
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
