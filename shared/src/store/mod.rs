//! DynamoDB access. The only module that speaks `aws_sdk_dynamodb`; it knows nothing of HTTP.

pub mod apps;
pub mod check;
mod error;
pub mod logs;
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

/// Builds the DynamoDB client from the environment: region and credentials by the SDK's
/// default chain, the endpoint from `AWS_ENDPOINT_URL_DYNAMODB` when set (moto, or any
/// DynamoDB-compatible endpoint), with timeouts that fail fast instead of the SDK's defaults.
pub async fn client_from_env() -> Client {
    Client::new(&sdk_config().await)
}

/// The SDK configuration every AWS client of the product is built from (same timeouts).
pub async fn sdk_config() -> aws_config::SdkConfig {
    loader().load().await
}

/// The same client, aimed at an explicit endpoint (tests, tools).
pub async fn client_with_endpoint(url: &str) -> Client {
    Client::new(&loader().endpoint_url(url).load().await)
}

fn loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_millis(400)),
        )
}
