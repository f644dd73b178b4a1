//! The oidc function's AWS path: at cold start it reads the private key set from the Secrets
//! Manager secret `SIGNING_KEYS_SECRET_ID` names, through the endpoint the environment gives
//! (`AWS_ENDPOINT_URL`: on AWS unset, under `sam local` the emulator). Here the emulator's
//! Secrets Manager plays AWS's.

use shared::auth::SigningKeys;

#[tokio::test]
async fn the_signing_keys_come_from_the_secret_at_cold_start() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("run through scripts/test");
    // SAFETY: this test binary runs this one test; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("AWS_ENDPOINT_URL", &endpoint) };

    let keys = SigningKeys::generate();
    let sdk = shared::store::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&sdk).endpoint_url(&endpoint).build(),
    );
    let name = format!("users-api/signing-keys-{}", shared::domain::id::random_id(8));
    let arn = secrets.create_secret().name(&name).secret_string(keys.to_json()).send().await.unwrap();

    let mut config = shared::Config::for_tables(shared::config::TableNames::with_prefix("unused"));
    config.auth.signing_keys = None;
    config.auth.signing_keys_secret_id = arn.arn().map(str::to_string);
    let loaded = oidc::App::load_keys(&config).await.expect("the keys are read from the secret");
    assert_eq!(loaded.jwks(), keys.jwks());
    assert_eq!(loaded.active().kid, keys.active().kid);

    config.auth.signing_keys_secret_id = Some(format!("{name}-missing"));
    let missing = oidc::App::load_keys(&config).await.err().expect("a missing secret stops the start");
    assert!(missing.contains("reading the signing keys"), "{missing}");
}
