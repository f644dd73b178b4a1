//! `BatchGetItem` with its 100-key limit and unprocessed keys handled, for every store.

use aws_sdk_dynamodb::{Client, types::KeysAndAttributes};
use std::collections::HashMap;

use super::StoreError;
use super::tx::Item;

/// The items of `table` at `keys`, in no particular order; absent ones are left out.
pub(crate) async fn batch_get(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    consistent: bool,
    label: &'static str,
) -> Result<Vec<Item>, StoreError> {
    let mut found = Vec::new();
    for chunk in keys.chunks(100) {
        let keys = KeysAndAttributes::builder()
            .set_keys(Some(chunk.to_vec()))
            .consistent_read(consistent)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let mut request = Some(HashMap::from([(table.to_string(), keys)]));
        while let Some(items) = request.take().filter(|r| !r.is_empty()) {
            let out = client
                .batch_get_item()
                .set_request_items(Some(items))
                .send()
                .await
                .map_err(|e| StoreError::from_sdk(e, label))?;
            found.extend(out.responses.unwrap_or_default().remove(table).unwrap_or_default());
            request = out.unprocessed_keys;
        }
    }
    Ok(found)
}
