//! The two-phase rotation of the signing key, against a deployed stack of `template.yaml` and
//! the Secrets Manager secret it names (docs/operations.md, "Rotating the signing key").
//!
//! Verifiers only accept the keys the stack's `AuthJwks` lists, and the oidc function signs
//! with the key `SigningKeyId` names. So a new key is published everywhere before it signs,
//! and an old one is dropped only once every token it signed has expired:
//!
//! 1. `stage`: a new key joins the secret, marked next (it signs nothing); prints the
//!    `AuthJwks` to deploy.
//! 2. `activate`: refused until the deployed `AuthJwks` lists every key of the secret; the
//!    next key becomes the set's first; prints the `SigningKeyId` to deploy. That deploy also
//!    replaces every running oidc instance, so from its end on no one signs with the old key.
//! 3. `retire`: refused until that `SigningKeyId` is deployed and a token's lifetime (plus the
//!    verifiers' clock leeway) has passed since the stack last settled; keeps only the signing
//!    key; prints the `AuthJwks` to deploy.
//!
//! Each phase run twice does nothing more the second time and prints the same thing; run out
//! of order, it changes nothing and says what comes first. The decisions are the pure
//! functions below; [`Aws`] reads and writes the stack and the secret around them.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudformation::error::DisplayErrorContext;
use aws_sdk_cloudformation::primitives::{DateTime, DateTimeFormat};
use base64::Engine;
use serde_json::Value;
use shared::auth::{LEEWAY_SECS, Phase, SigningKeys, TOKEN_TTL_SECS};

/// What a deployed stack says about its keys.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub stack: String,
    /// When its last create or update finished; `None` while one is under way or failed.
    pub settled_at: Option<SystemTime>,
    /// The `SigningKeysSecretArn` parameter.
    pub secret_id: String,
    /// The `AuthJwks` parameter, decoded: the keys every function verifies with.
    pub published: Value,
    /// The `SigningKeyId` parameter (empty: the secret's first key signs).
    pub signing_key_id: Option<String>,
}

/// One phase's outcome: the key set to store, and the parameter to deploy next.
#[derive(Clone, Debug)]
pub struct Step {
    pub keys: SigningKeys,
    /// Whether the secret changes (false when the phase had already run).
    pub changed: bool,
    /// The template parameter and the value to deploy it with.
    pub parameter: (&'static str, String),
    /// What happened and what comes next, for a person.
    pub summary: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Command {
    Stage,
    Activate,
    Retire,
}

/// The `AuthJwks` value for a set: base64, which survives `--parameter-overrides` intact.
pub fn auth_jwks(keys: &SigningKeys) -> String {
    base64::engine::general_purpose::STANDARD.encode(keys.jwks().to_string())
}

/// Step 1: a next key, published by the next deploy.
pub fn stage(keys: &SigningKeys, deployment: &Deployment) -> Result<Step, String> {
    let (keys, changed) = match keys.phase() {
        Phase::Settled => (keys.staged(), true),
        Phase::Staged => (keys.clone(), false),
        Phase::Activated => {
            return Err("the previous rotation is not finished: run `keys retire` first".into());
        }
    };
    let next = &keys.keys().last().expect("a staged set has a next key").kid;
    let published = keys.keys().iter().all(|k| k.is_listed_in(&deployment.published));
    let summary = if published {
        format!("key {next} is staged and already published; next: `keys activate`")
    } else {
        format!(
            "key {next} is staged (it signs nothing yet); next: deploy AuthJwks (below), then `keys activate`"
        )
    };
    Ok(Step { parameter: ("AuthJwks", auth_jwks(&keys)), keys, changed, summary })
}

/// Step 2: the next key signs, once every function knows it.
pub fn activate(keys: &SigningKeys, deployment: &Deployment) -> Result<Step, String> {
    let (keys, changed) = match keys.phase() {
        Phase::Settled => return Err("no key is staged: run `keys stage` first".into()),
        Phase::Activated => (keys.clone(), false),
        Phase::Staged => {
            if let Some(missing) = keys.keys().iter().find(|k| !k.is_listed_in(&deployment.published)) {
                return Err(format!(
                    "key {} is not in the deployed AuthJwks of {}: deploy the AuthJwks `keys stage` printed, \
                     then run `keys activate` again",
                    missing.kid, deployment.stack
                ));
            }
            (keys.activated(), true)
        }
    };
    let kid = keys.active().kid.clone();
    let summary = format!(
        "key {kid} signs from now on at cold start; next: deploy SigningKeyId (below), then `keys retire` \
         a token's lifetime after that deploy"
    );
    Ok(Step { parameter: ("SigningKeyId", kid), keys, changed, summary })
}

/// Step 3: the previous keys go, once no token they signed can still be valid.
pub fn retire(keys: &SigningKeys, deployment: &Deployment, now: SystemTime) -> Result<Step, String> {
    let (keys, changed) = match keys.phase() {
        Phase::Staged => return Err("a key is staged, not active: run `keys activate` first".into()),
        Phase::Settled => (keys.clone(), false),
        Phase::Activated => {
            let kid = &keys.active().kid;
            if deployment.signing_key_id.as_deref() != Some(kid.as_str()) {
                return Err(format!(
                    "{} does not sign with key {kid} yet: deploy SigningKeyId={kid} (`keys activate` printed it) first",
                    deployment.stack
                ));
            }
            let settled = deployment.settled_at.ok_or("the stack has not settled")?;
            let safe = settled + Duration::from_secs(TOKEN_TTL_SECS as u64 + LEEWAY_SECS);
            if now < safe {
                return Err(format!(
                    "tokens signed by the previous key may still be valid until {} (a token's lifetime after \
                     the deploy of {} settled at {}): run `keys retire` after that",
                    timestamp(safe),
                    deployment.stack,
                    timestamp(settled)
                ));
            }
            (keys.retired(), true)
        }
    };
    let stale = deployment.published["keys"].as_array().map_or(0, Vec::len) > keys.keys().len();
    let summary = match (changed, stale) {
        (true, _) | (false, true) => format!(
            "only key {} remains; next: deploy AuthJwks (below), after which the old keys' tokens get 401",
            keys.active().kid
        ),
        (false, false) => {
            format!("only key {} is in the set and published: nothing to retire", keys.active().kid)
        }
    };
    Ok(Step { parameter: ("AuthJwks", auth_jwks(&keys)), keys, changed, summary })
}

fn timestamp(time: SystemTime) -> String {
    DateTime::from(time).fmt(DateTimeFormat::DateTime).unwrap_or_else(|_| format!("{time:?}"))
}

/// The deployed stack and its secret, through CloudFormation and Secrets Manager.
pub struct Aws {
    cloudformation: aws_sdk_cloudformation::Client,
    secrets: aws_sdk_secretsmanager::Client,
}

/// Stack states in which nothing is under way and the last change either finished or was
/// rolled back to the previous, finished one.
const SETTLED: [&str; 5] = [
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
];

impl Aws {
    /// Clients from an operator's SDK configuration (each honours its `AWS_ENDPOINT_URL_*`).
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }

    /// Reads the stack and its secret, decides with `command`, and stores the new set if the
    /// phase changes it.
    pub async fn run(&self, stack: &str, command: Command, now: SystemTime) -> Result<Step, String> {
        let deployment = self.deployment(stack).await?;
        let keys = self.keys(&deployment.secret_id).await?;
        let step = match command {
            Command::Stage => stage(&keys, &deployment),
            Command::Activate => activate(&keys, &deployment),
            Command::Retire => retire(&keys, &deployment, now),
        }?;
        if step.changed {
            self.secrets
                .put_secret_value()
                .secret_id(&deployment.secret_id)
                .secret_string(step.keys.to_json())
                .send()
                .await
                .map_err(|e| {
                    format!("writing the secret {}: {}", deployment.secret_id, DisplayErrorContext(e))
                })?;
        }
        Ok(step)
    }

    /// The stack's key parameters, refused while an update is under way or after one failed.
    pub async fn deployment(&self, stack: &str) -> Result<Deployment, String> {
        let described = self
            .cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| format!("reading the stack {stack}: {}", DisplayErrorContext(e)))?;
        let found = described.stacks().first().ok_or(format!("no stack {stack}"))?;
        let status = found.stack_status().map(|s| s.as_str()).unwrap_or_default();
        if !SETTLED.contains(&status) {
            return Err(format!("the stack {stack} is {status}: wait until it is settled (*_COMPLETE)"));
        }
        let parameter = |key: &str| {
            found
                .parameters()
                .iter()
                .find(|p| p.parameter_key() == Some(key))
                .and_then(|p| p.parameter_value())
                .map(str::to_string)
        };
        let secret_id =
            parameter("SigningKeysSecretArn").ok_or(format!("{stack} has no SigningKeysSecretArn"))?;
        let jwks = parameter("AuthJwks").ok_or(format!("{stack} has no AuthJwks"))?;
        let published = shared::config::decode_json_or_base64("AuthJwks", &jwks)?;
        Ok(Deployment {
            stack: stack.to_string(),
            settled_at: Some(self.settled_at(stack).await?),
            secret_id,
            published: serde_json::from_str(&published).map_err(|e| format!("AuthJwks: {e}"))?,
            signing_key_id: parameter("SigningKeyId").filter(|v| !v.is_empty()),
        })
    }

    /// When the stack's latest create or update finished: its newest stack-level event in a
    /// settled state (events come newest first).
    async fn settled_at(&self, stack: &str) -> Result<SystemTime, String> {
        let mut pages = self.cloudformation.describe_stack_events().stack_name(stack).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| format!("reading the events of {stack}: {}", DisplayErrorContext(e)))?;
            let finished = page.stack_events().iter().find(|e| {
                e.resource_type() == Some("AWS::CloudFormation::Stack")
                    && e.logical_resource_id() == e.stack_name()
                    && e.resource_status().is_some_and(|s| SETTLED.contains(&s.as_str()))
            });
            if let Some(time) = finished.and_then(|e| e.timestamp()) {
                return SystemTime::try_from(*time).map_err(|e| e.to_string());
            }
        }
        Err(format!("no finished create or update in the events of {stack}"))
    }

    pub async fn keys(&self, secret_id: &str) -> Result<SigningKeys, String> {
        let secret = self
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| format!("reading the secret {secret_id}: {}", DisplayErrorContext(e)))?;
        SigningKeys::parse(secret.secret_string().ok_or("the signing-key secret has no string value")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(
        published: &SigningKeys,
        signing_key_id: Option<&str>,
        settled_at: SystemTime,
    ) -> Deployment {
        Deployment {
            stack: "users-api".into(),
            settled_at: Some(settled_at),
            secret_id: "arn:aws:secretsmanager:eu-west-1:1:secret:keys".into(),
            published: published.jwks(),
            signing_key_id: signing_key_id.map(str::to_string),
        }
    }

    #[test]
    fn each_phase_refuses_to_run_before_the_one_it_follows() {
        let settled = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let later = settled + Duration::from_secs(3660);
        let first = SigningKeys::generate();
        let staged = stage(&first, &deployment(&first, None, settled)).unwrap();
        assert!(staged.changed && staged.keys.active().kid == first.active().kid);
        assert!(activate(&staged.keys, &deployment(&first, None, settled)).is_err(), "not published yet");
        assert!(retire(&staged.keys, &deployment(&first, None, settled), later).is_err(), "not active yet");

        let published = deployment(&staged.keys, None, settled);
        let active = activate(&staged.keys, &published).unwrap();
        assert_eq!(active.parameter.1, staged.keys.keys()[1].kid);
        assert!(stage(&active.keys, &published).is_err(), "one rotation at a time");
        assert!(retire(&active.keys, &published, later).is_err(), "SigningKeyId not deployed");

        let signing = deployment(&staged.keys, Some(&active.parameter.1), settled);
        let too_early = retire(&active.keys, &signing, later - Duration::from_secs(1)).unwrap_err();
        assert!(too_early.contains("may still be valid until"), "{too_early}");
        let retired = retire(&active.keys, &signing, later).unwrap();
        assert_eq!(retired.keys.jwks()["keys"].as_array().unwrap().len(), 1);
        assert_eq!(retired.keys.active().kid, active.parameter.1);
    }
}
