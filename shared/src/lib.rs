//! Everything the functions share: configuration, the AWS SDK set-up, the domain, DynamoDB
//! access, HTTP plumbing.

pub mod api;
pub mod auth;
pub mod aws;
pub mod config;
pub mod domain;
pub mod error;
pub mod secrets;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod user_service;
pub mod webhooks;

pub use config::Config;
pub use error::{Error, Result};
