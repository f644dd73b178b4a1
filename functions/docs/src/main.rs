//! Lambda entry point.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::init_logging();
    shared::api::serve("docs", docs::routes(), docs::handle).await
}
