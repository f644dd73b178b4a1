//! Lambda entry point: configuration and clients are built once, then each request goes to
//! the router in `lib.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::init_logging();
    let config = shared::Config::load().await?;
    let client = shared::store::function_client()?;
    let app = passwords::App::new(&config, client)?;
    shared::api::serve("passwords", passwords::routes(), |request| app.handle(request)).await
}
