//! The second cold-start floor: a hello-world `lambda_http` function that reads one item with
//! a default SDK client per request, what the least possible `GET /api/users/{id}` does.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Error, Request, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let client = aws_sdk_dynamodb::Client::new(
        &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
    );
    let table = std::env::var("USERS_TABLE")?;
    let client = &client;
    let table = &table;
    lambda_http::run(service_fn(move |_: Request| async move {
        let read = client.get_item().table_name(table).key("pk", AttributeValue::S("counter#users".into()));
        read.send().await?;
        Ok::<_, Error>("hello")
    }))
    .await
}
