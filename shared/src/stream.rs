//! The parts of a DynamoDB Streams event (as Lambda hands it over) that this product's stream
//! consumers read, and Lambda's partial batch answer.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    pub dynamodb: StreamData,
}

#[derive(Debug, Deserialize)]
pub struct StreamData {
    #[serde(rename = "NewImage")]
    pub new_image: Option<serde_dynamo::Item>,
    /// The item before the change (streams of new and old images): what a `REMOVE` removed.
    #[serde(rename = "OldImage")]
    pub old_image: Option<serde_dynamo::Item>,
    /// Increasing within a stream shard; decimal digits, of varying length.
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
}

/// Lambda's partial batch response: the records to retry (from the first one named).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}
