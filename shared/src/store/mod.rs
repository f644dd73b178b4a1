//! DynamoDB access: tables, items, transactions and their errors. It knows nothing of HTTP;
//! its clients come from [`crate::aws`].

pub mod apps;
mod batch;
pub mod check;
mod documents;
mod error;
pub mod guards;
pub mod hooks;
pub mod list_cache;
pub mod log_counts;
pub mod logs;
#[cfg(test)]
pub(crate) mod memory;
pub(crate) mod metering;
pub mod migrate;
pub mod schema;
pub mod shards;
mod tx;
pub mod user_store;
pub mod users;

pub use error::StoreError;
pub use tx::{Expression, Transaction};
pub use users::DynamoUsers;
