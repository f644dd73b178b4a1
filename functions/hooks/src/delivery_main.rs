//! Lambda entry point of the webhook deliveries: configuration and clients are built once, then
//! each batch of the logs table's stream goes to `delivery::Deliveries` (docs/webhooks.md).

use lambda_runtime::{LambdaEvent, service_fn};

use hooks::delivery::{BatchResponse, Deliveries, StreamEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::api::init_logging();
    let aws = shared::aws::Aws::lambda()?;
    let config = shared::Config::load(&aws).await?;
    let deliveries = Deliveries::new(&config, aws.dynamodb())?;
    let deliveries = &deliveries;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        let answer: Result<BatchResponse, _> = deliveries.handle(event.payload).await;
        // A failure to read the hooks fails the whole batch: Lambda retries it as is.
        answer.map_err(|err| lambda_runtime::Error::from(err.to_string()))
    }))
    .await
}
