//! The two-phase signing-key rotation end to end, on the emulator's CloudFormation and Secrets
//! Manager: a stack with the template's key parameters, deployed by parameter updates, and
//! after each step the functions' cold start as that deployment configures it (`Config::load`
//! reading the secret, oidc choosing its key, a verifier from `AuthJwks`). Tokens signed
//! before, during and after the rotation verify exactly while their key is published.

use std::process::{Command, Output};
use std::time::Duration;

use admin::rotation;
use shared::auth::{SigningKey, SigningKeys, Verifier};

const TEMPLATE: &str = "Parameters:
  SigningKeysSecretArn: {Type: String}
  AuthJwks: {Type: String}
  SigningKeyId: {Type: String, Default: ''}
Resources:
  Topic:
    Type: AWS::SNS::Topic
";

struct Stack {
    name: String,
    secret_arn: String,
    cloudformation: aws_sdk_cloudformation::Client,
    created: bool,
}

impl Stack {
    /// A deploy: the stack with these parameters, the way `sam deploy` leaves it.
    async fn deploy(&mut self, auth_jwks: &str, signing_key_id: &str) {
        use aws_sdk_cloudformation::types::Parameter;
        let parameters = [
            ("SigningKeysSecretArn", self.secret_arn.as_str()),
            ("AuthJwks", auth_jwks),
            ("SigningKeyId", signing_key_id),
        ]
        .map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build());
        if self.created {
            let update = self.cloudformation.update_stack().stack_name(&self.name).template_body(TEMPLATE);
            update.set_parameters(Some(parameters.to_vec())).send().await.unwrap();
        } else {
            let create = self.cloudformation.create_stack().stack_name(&self.name).template_body(TEMPLATE);
            create.set_parameters(Some(parameters.to_vec())).send().await.unwrap();
            self.created = true;
        }
    }

    fn parameter(&self, stack: &aws_sdk_cloudformation::types::Stack, key: &str) -> String {
        let found = stack.parameters().iter().find(|p| p.parameter_key() == Some(key));
        found.and_then(|p| p.parameter_value()).unwrap_or_default().to_string()
    }

    /// A cold start of the deployed functions: the oidc function's signing key (or why it
    /// refuses to start) and a verifier as every function builds it.
    async fn cold_start(&self) -> (Result<SigningKey, String>, Verifier) {
        let described = self.cloudformation.describe_stacks().stack_name(&self.name).send().await.unwrap();
        let stack = &described.stacks()[0];
        // SAFETY: this test binary runs one test at a time on this thread of environment
        // changes; `Config::load` reads the environment right after, on the same task.
        unsafe {
            std::env::set_var("SIGNING_KEYS_SECRET_ID", self.parameter(stack, "SigningKeysSecretArn"));
            std::env::set_var("AUTH_JWKS", self.parameter(stack, "AuthJwks"));
            std::env::set_var("SIGNING_KEY_ID", self.parameter(stack, "SigningKeyId"));
        }
        let aws = shared::aws::Aws::lambda().expect("region and credentials are set");
        let config = shared::Config::load(&aws).await.expect("the deployment's configuration loads");
        let signer = oidc::App::signing_keys(&config).map(|keys| keys.active().clone());
        (signer, Verifier::from_config(&config.auth).unwrap())
    }
}

fn token(key: &SigningKey) -> String {
    let auth = shared::config::AuthConfig::new(shared::config::DEFAULT_API_INDICATOR);
    let now = (shared::domain::now_ms() / 1000) as i64;
    let token = shared::auth::issue(key, &auth.issuer, &auth.api_indicator, "rotation-app", "all", now);
    format!("Bearer {token}")
}

fn verifies(verifier: &Verifier, token: &str) -> bool {
    verifier.authenticate(Some(token)).is_ok()
}

fn usersctl(stack: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usersctl"))
        .args(["--stack-name", stack, "keys"])
        .args(args)
        .output()
        .unwrap()
}

/// The `NAME=value` line a successful phase prints.
fn printed(output: &Output, name: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "usersctl failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).expect(name).to_string()
}

fn refused(output: &Output, because: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "refused: {stderr}");
    assert!(stderr.contains(because), "the refusal says `{because}`: {stderr}");
    assert!(output.stdout.is_empty(), "nothing to deploy after a refusal");
}

#[tokio::test]
async fn tokens_verify_exactly_while_their_key_is_published_through_a_rotation() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("run through scripts/test");
    // SAFETY: set before anything else runs in this single-test binary.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL_CLOUDFORMATION", &endpoint);
        std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", &endpoint);
        std::env::set_var("SIGNING_KEYS", "");
    }
    let tools = shared::aws::Aws::tools(shared::aws::ToolOptions {
        timeouts: shared::aws::Timeouts::patient(),
        ..Default::default()
    })
    .await;
    let secrets = tools.secrets_manager();
    let name = format!("rot{}", shared::domain::id::random_id(8));
    let first = SigningKeys::generate();
    let created = secrets.create_secret().name(format!("{name}/keys")).secret_string(first.to_json()).send();
    let secret_arn = created.await.unwrap().arn().unwrap().to_string();
    let stored = async || {
        SigningKeys::parse(
            secrets.get_secret_value().secret_id(&secret_arn).send().await.unwrap().secret_string().unwrap(),
        )
        .unwrap()
    };
    let mut stack = Stack {
        name: name.clone(),
        secret_arn: secret_arn.clone(),
        cloudformation: aws_sdk_cloudformation::Client::new(tools.sdk()),
        created: false,
    };
    stack.deploy(&rotation::auth_jwks(&first), "").await;

    let (signer, initial) = stack.cold_start().await;
    let token_a = token(&signer.unwrap());
    assert!(verifies(&initial, &token_a));
    refused(&usersctl(&name, &["activate"]), "no key is staged");

    // 1. Stage: a next key in the secret, signing nothing; run twice, the same.
    let jwks_ab = printed(&usersctl(&name, &["stage"]), "AuthJwks");
    let staged = stored().await;
    assert_eq!(printed(&usersctl(&name, &["stage"]), "AuthJwks"), jwks_ab, "stage is idempotent");
    assert_eq!(stored().await.jwks(), staged.jwks(), "no second next key");
    let next_kid = staged.keys()[1].kid.clone();
    let (signer, _) = stack.cold_start().await;
    assert_eq!(signer.unwrap().kid, first.active().kid, "a fresh oidc still signs with the old key");
    refused(&usersctl(&name, &["activate"]), "not in the deployed AuthJwks");
    refused(&usersctl(&name, &["retire"]), "run `keys activate` first");

    stack.deploy(&jwks_ab, "").await;
    let (signer, published) = stack.cold_start().await;
    assert_eq!(signer.unwrap().kid, first.active().kid);
    assert!(verifies(&published, &token_a));

    // 2. Activate: the next key signs; run twice, the same.
    assert_eq!(printed(&usersctl(&name, &["activate"]), "SigningKeyId"), next_kid);
    assert_eq!(printed(&usersctl(&name, &["activate"]), "SigningKeyId"), next_kid, "activate is idempotent");
    let (signer, _) = stack.cold_start().await;
    let token_b = token(&signer.unwrap());
    assert!(verifies(&published, &token_b), "functions that know the next key accept its tokens");
    assert!(!verifies(&initial, &token_b), "which is why it is published before it signs");
    refused(&usersctl(&name, &["retire"]), &format!("deploy SigningKeyId={next_kid}"));

    stack.deploy(&jwks_ab, &next_kid).await;
    let (signer, activated) = stack.cold_start().await;
    assert_eq!(signer.unwrap().kid, next_kid, "the deployment names the signing key");
    assert!(verifies(&activated, &token_a) && verifies(&activated, &token_b), "both verify meanwhile");

    // 3. Retire: refused within a token's lifetime of that deploy, then only the new key.
    refused(&usersctl(&name, &["retire"]), "may still be valid until");
    let aws = rotation::Aws::new(tools.sdk());
    let settled = aws.deployment(&name).await.unwrap().settled_at.unwrap();
    let early = settled + Duration::from_secs(3600);
    assert!(aws.run(&name, rotation::Command::Retire, early).await.is_err(), "60 s of leeway remain");
    let later = settled + Duration::from_secs(3600 + 60);
    let retired = aws.run(&name, rotation::Command::Retire, later).await.unwrap();
    assert!(retired.changed);
    let again = aws.run(&name, rotation::Command::Retire, later).await.unwrap();
    assert!(!again.changed && again.parameter == retired.parameter, "retire is idempotent");
    assert_eq!(stored().await.jwks(), staged.activated().retired().jwks(), "only the new key is stored");

    stack.deploy(&retired.parameter.1, &next_kid).await;
    let (signer, after) = stack.cold_start().await;
    assert_eq!(signer.unwrap().kid, next_kid);
    assert!(!verifies(&after, &token_a), "the retired key's tokens get 401");
    assert!(verifies(&after, &token_b));

    // A deploy that names a key the verifiers do not know: oidc refuses to start.
    stack.deploy(&rotation::auth_jwks(&first), &next_kid).await;
    let (signer, _) = stack.cold_start().await;
    assert!(signer.err().expect("oidc refuses to start").contains("not in AUTH_JWKS"));
    stack.deploy(&retired.parameter.1, &next_kid).await;

    // And the next rotation can begin.
    assert_ne!(printed(&usersctl(&name, &["stage"]), "AuthJwks"), retired.parameter.1);
}
