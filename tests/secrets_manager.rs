//! The functions' AWS path for secrets: at cold start, `Config::load` reads the Secrets
//! Manager secrets the environment names by id (`SIGNING_KEYS_SECRET_ID` for oidc,
//! `PAGE_TOKEN_SECRET_ID` for users and logs), through the endpoint the environment gives
//! (`AWS_ENDPOINT_URL`: on AWS unset, under `sam local` the emulator). Here the emulator's
//! Secrets Manager plays AWS's.

use shared::auth::SigningKeys;
use shared::config::ExposeSecret;

#[tokio::test]
async fn secrets_named_by_id_are_read_at_cold_start() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("run through scripts/test");
    let secrets = shared::aws::Aws::tools(shared::aws::ToolOptions {
        endpoint: Some(endpoint.clone()),
        ..Default::default()
    })
    .await
    .secrets_manager();
    let suffix = shared::domain::id::random_id(8);
    let keys = SigningKeys::generate().staged().activated();
    let create = |name: String, value: String| secrets.create_secret().name(name).secret_string(value).send();
    let keys_arn = create(format!("users-api/signing-keys-{suffix}"), keys.to_json()).await.unwrap();
    let page_arn = create(format!("users-api/page-token-key-{suffix}"), "p".repeat(64)).await.unwrap();

    // SAFETY: this test binary runs this one test; nothing else reads the environment meanwhile.
    let set = |name: &str, value: &str| unsafe { std::env::set_var(name, value) };
    set("AWS_ENDPOINT_URL", &endpoint);
    for inline in ["SIGNING_KEYS", "PAGE_TOKEN_SECRET", "AUTH_JWKS", "SIGNING_KEY_ID"] {
        set(inline, "");
    }
    set("SIGNING_KEYS_SECRET_ID", keys_arn.arn().unwrap());
    set("PAGE_TOKEN_SECRET_ID", page_arn.arn().unwrap());
    // As a function starts: its SDK set-up from the environment, then the configuration.
    let aws = shared::aws::Aws::lambda().expect("region and credentials are set");
    let config = shared::Config::load(&aws).await.expect("both secrets are read");
    assert_eq!(config.page_token_secret.as_ref().unwrap().expose_secret(), "p".repeat(64));
    let loaded = oidc::App::signing_keys(&config).expect("the keys are read from the secret");
    assert_eq!(loaded.jwks(), keys.jwks());
    assert_eq!(loaded.active().kid, keys.active().kid, "unnamed, the set's first key signs");

    // The deployment names the signing key; one the verifiers do not know stops the start.
    let previous = &keys.keys()[1].kid;
    set("SIGNING_KEY_ID", previous);
    let config = shared::Config::load(&aws).await.unwrap();
    assert_eq!(&oidc::App::signing_keys(&config).unwrap().active().kid, previous);
    set("AUTH_JWKS", &keys.activated().retired().jwks().to_string());
    let config = shared::Config::load(&aws).await.unwrap();
    let unpublished = oidc::App::signing_keys(&config).expect_err("an unpublished signing key");
    assert!(unpublished.contains("not in AUTH_JWKS"), "{unpublished}");
    set("SIGNING_KEY_ID", "no-such-kid");
    let config = shared::Config::load(&aws).await.unwrap();
    assert!(oidc::App::signing_keys(&config).is_err(), "a signing key the set lacks");

    for (variable, name) in
        [("PAGE_TOKEN_SECRET_ID", "page-token"), ("SIGNING_KEYS_SECRET_ID", "signing-keys")]
    {
        set(variable, &format!("users-api/{name}-missing-{suffix}"));
        let missing = shared::Config::load(&aws).await.expect_err("a missing secret stops the start");
        assert!(missing.contains("reading the secret"), "{missing}");
        set(variable, "");
    }
}
