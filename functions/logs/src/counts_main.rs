//! Lambda entry point of the log counters: each batch of the logs table's stream (entries
//! written and entries TTL removed) moves the counters that make a log list's `Total-Number`
//! O(1) (docs/data-model.md, "Totals"). A failed batch fails whole: Lambda retries it from its
//! first record, and the counters skip what an earlier attempt counted.

use lambda_runtime::{LambdaEvent, service_fn};
use shared::store::log_counts::LogCounts;
use shared::stream::StreamEvent;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::api::init_logging();
    let aws = shared::aws::Aws::lambda()?;
    let config = shared::Config::load(&aws).await?;
    let counts = LogCounts::new(aws.dynamodb(), &config.tables.logs);
    let counts = &counts;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        counts.apply(&event.payload.records).await.map_err(|err| lambda_runtime::Error::from(err.to_string()))
    }))
    .await
}
