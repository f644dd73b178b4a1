//! Lambda entry point: configuration and clients are built once, then each request goes to
//! the router in `lib.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::init_logging();
    let aws = shared::aws::Aws::lambda()?;
    let config = shared::Config::load(&aws).await?;
    let client = aws.dynamodb();
    let app = hooks::App::new(&config, client)?;
    shared::api::serve("hooks", hooks::routes(), |request| app.handle(request)).await
}
