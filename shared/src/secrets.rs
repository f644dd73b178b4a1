//! Secrets Manager, read once at cold start: the secrets a function's environment names by id
//! (`SIGNING_KEYS_SECRET_ID`, `PAGE_TOKEN_SECRET_ID`) become values in its [`Config`], so no
//! secret sits in a plain environment variable on AWS. Each function's IAM policy grants
//! `GetSecretValue` on exactly the secrets it names (`tests/iam.rs`).
//!
//! [`Config`]: crate::Config

use crate::aws::Aws;
use crate::config::SecretString;

/// The secret's current string value.
pub async fn read(aws: &Aws, secret_id: &str) -> Result<SecretString, String> {
    let client = aws.secrets_manager();
    let secret = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        format!("reading the secret {secret_id}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
    })?;
    let value = secret.secret_string().ok_or(format!("the secret {secret_id} has no string value"))?;
    Ok(value.to_string().into())
}
