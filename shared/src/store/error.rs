//! SDK failures folded into one typed error, so nothing above the store sees SDK types.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A condition failed; `items` names each write (by the label it was added with) whose
    /// condition did not hold. Single writes report their one label.
    #[error("condition failed on {items:?}")]
    ConditionFailed { items: Vec<&'static str> },
    /// Another transaction touched the same item at the same time; the caller may retry.
    #[error("transaction conflict")]
    TransactionConflict,
    #[error("throttled: {0}")]
    Throttled(String),
    /// No answer in time, connection refused or cut: the endpoint is unreachable for now.
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("item too large: {0}")]
    ItemTooLarge(String),
    #[error("validation: {0}")]
    Validation(String),
    #[error("table missing: {0}")]
    TableMissing(String),
    /// A read that would go past its bound (a search that must pass over every user, in a
    /// directory larger than `SEARCH_READ_LIMIT`).
    #[error("read more than {0} items")]
    ReadLimit(u64),
    #[error("store: {0}")]
    Other(String),
}

const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

impl StoreError {
    /// Classifies any DynamoDB operation's error. `label` names the write for condition failures.
    pub fn from_sdk<E, R>(err: SdkError<E, R>, label: &'static str) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        match err {
            SdkError::TimeoutError(_) => StoreError::Unreachable("timed out".into()),
            SdkError::DispatchFailure(e) => StoreError::Unreachable(format!("{e:?}")),
            SdkError::ResponseError(e) => StoreError::Unreachable(format!("{e:?}")),
            SdkError::ServiceError(ctx) => {
                let err = ctx.into_err();
                let message = err.message().unwrap_or_default().to_string();
                match err.code().unwrap_or_default() {
                    "ConditionalCheckFailedException" => StoreError::ConditionFailed { items: vec![label] },
                    "TransactionConflictException" => StoreError::TransactionConflict,
                    "ResourceNotFoundException" => StoreError::TableMissing(message),
                    code if THROTTLING_CODES.contains(&code) => StoreError::Throttled(message),
                    "ValidationException" if is_limit_violation(&message) => {
                        StoreError::ItemTooLarge(message)
                    }
                    "ValidationException" => StoreError::Validation(message),
                    code => StoreError::Other(format!("{code}: {message}")),
                }
            }
            other => StoreError::Other(format!("{other:?}")),
        }
    }
}

/// Whether DynamoDB refused a request for one of its size or count limits (an item over
/// 400 KB, a key over 2048 or 1024 bytes, a transaction over 100 items): the request's data is
/// too large, which is the client's to fix (a 4xx), never a fault of ours.
pub(crate) fn is_limit_violation(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("exceeded")
        || message.contains("item size")
        || message.contains("length less than or equal")
}

/// What the API answers for a storage failure: the store knows its errors, the error enum
/// knows nothing of storage.
impl From<StoreError> for crate::Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Throttled(m) | StoreError::Unreachable(m) => crate::Error::Unavailable(m),
            StoreError::ItemTooLarge(m) => crate::Error::ValueTooLong(m),
            StoreError::ReadLimit(limit) => crate::Error::SearchTooBroad(limit),
            other => crate::Error::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_and_count_limit_is_recognised() {
        for message in [
            "Item size has exceeded the maximum allowed size",
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
            "Item size to update has exceeded the maximum allowed size",
            "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100",
        ] {
            assert!(is_limit_violation(message), "{message}");
        }
        assert!(!is_limit_violation("Invalid UpdateExpression: Syntax error; token: \"x\""));
    }
}
