//! Secrets Manager, read once at cold start: the secrets a function's environment names by id
//! (`SIGNING_KEYS_SECRET_ID`, `PAGE_TOKEN_SECRET_ID`) become values in its [`Config`], so no
//! secret sits in a plain environment variable on AWS. Each function's IAM policy grants
//! `GetSecretValue` on exactly the secrets it names (`tests/iam.rs`).
//!
//! [`Config`]: crate::Config

use crate::config::SecretString;

/// The SDK's per-service endpoint override, as for DynamoDB: an emulator locally, unset on AWS.
const ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL_SECRETS_MANAGER";

/// The secret's current string value.
pub async fn read(secret_id: &str) -> Result<SecretString, String> {
    let mut sdk = aws_sdk_secretsmanager::config::Builder::from(&crate::store::function_sdk_config()?);
    if let Ok(url) = std::env::var(ENDPOINT_VARIABLE)
        && !url.is_empty()
    {
        sdk = sdk.endpoint_url(url);
    }
    let client = aws_sdk_secretsmanager::Client::from_conf(sdk.build());
    let secret = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        format!("reading the secret {secret_id}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
    })?;
    let value = secret.secret_string().ok_or(format!("the secret {secret_id} has no string value"))?;
    Ok(value.to_string().into())
}
