//! Lambda entry point: configuration, clients and signing keys are loaded once, then each
//! request goes to the router in `lib.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::init_logging();
    let aws = shared::aws::Aws::lambda()?;
    let config = shared::Config::load(&aws).await?;
    let client = aws.dynamodb();
    let keys = oidc::App::signing_keys(&config)?;
    let app = oidc::App::new(&config, client, keys);
    shared::api::serve("oidc", oidc::routes(), |request| app.handle(request)).await
}
