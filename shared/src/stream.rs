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
    /// The stream's ARN, which ends in its label: when the stream was turned on.
    #[serde(rename = "eventSourceARN", default)]
    pub event_source_arn: Option<String>,
    pub dynamodb: StreamData,
}

impl StreamRecord {
    /// When the stream this record came from was turned on (epoch ms): every item written
    /// since is in it. From the ARN's last part, `…/stream/2026-12-01T19:00:00.123`.
    pub fn stream_started(&self) -> Option<i64> {
        let label = self.event_source_arn.as_deref()?.rsplit_once("/stream/")?.1;
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        let started = time::PrimitiveDateTime::parse(label, format).ok()?.assume_utc();
        i64::try_from(started.unix_timestamp_nanos() / 1_000_000).ok()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streams_label_says_when_it_started() {
        let record = |arn: &str| StreamRecord {
            event_name: "INSERT".into(),
            event_source_arn: Some(arn.into()),
            dynamodb: StreamData { new_image: None, old_image: None, sequence_number: "1".into() },
        };
        let arn =
            "arn:aws:dynamodb:us-east-1:123456789012:table/users-api-logs/stream/2026-12-01T19:00:00.123";
        assert_eq!(record(arn).stream_started(), Some(1_796_151_600_123));
        // moto's labels carry microseconds.
        assert_eq!(record(&format!("{arn}456")).stream_started(), Some(1_796_151_600_123));
        assert_eq!(record("arn:aws:dynamodb:us-east-1:1:table/t").stream_started(), None);
    }
}
