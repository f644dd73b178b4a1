//! Counts what a request costs in DynamoDB: every call the SDK sends (retries included), its
//! request and response bytes on the wire, and the DynamoDB size of the items it read (what
//! read capacity is billed on), by an interceptor on the real client.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Serialize)]
pub struct Call {
    pub operation: String,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// DynamoDB item size of everything the call returned (attribute names + values).
    pub item_bytes: u64,
    pub items: u64,
    /// Items a Query or Scan read, matched or not (`ScannedCount`): what a `Select=COUNT`
    /// Query is billed on, though it returns none.
    pub scanned: u64,
    /// The request's JSON body: its tables, keys and items (for where each call lands).
    #[serde(skip)]
    pub request: Value,
}

/// Where an attempt's call is in the meter's list, kept in the operation's config bag.
#[derive(Clone, Debug)]
struct Slot(usize);

impl Storable for Slot {
    type Storer = StoreReplace<Self>;
}

#[derive(Clone, Debug, Default)]
pub struct Meter(Arc<Mutex<Vec<Call>>>);

impl Meter {
    /// A client with the product's configuration (and these timeouts) whose every call this
    /// meter counts.
    pub async fn client(&self, timeouts: shared::aws::Timeouts) -> aws_sdk_dynamodb::Client {
        let aws = shared::aws::Aws::tools(shared::aws::ToolOptions { timeouts, ..Default::default() }).await;
        let config = aws_sdk_dynamodb::config::Builder::from(aws.sdk()).interceptor(self.clone()).build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// The calls since the last `take`.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "bench-meter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or("?").to_string();
        let body = request.body().bytes().unwrap_or_default();
        let request_bytes = body.len() as u64;
        let request = serde_json::from_slice(body).unwrap_or(Value::Null);
        let call = Call {
            operation,
            request_bytes,
            response_bytes: 0,
            item_bytes: 0,
            items: 0,
            scanned: 0,
            request,
        };
        let mut calls = self.0.lock().unwrap();
        // The attempt's own slot: calls run side by side (a sharded read sends 16), so the
        // answer must find its request by index, not as the last one sent.
        cfg.interceptor_state().store_put(Slot(calls.len()));
        calls.push(call);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.response().body().bytes().unwrap_or_default();
        let response = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
        let (items, item_bytes) = returned_items(&response);
        let scanned = response.get("ScannedCount").and_then(Value::as_u64).unwrap_or(0);
        let Some(Slot(slot)) = cfg.load::<Slot>().cloned() else { return Ok(()) };
        if let Some(call) = self.0.lock().unwrap().get_mut(slot) {
            call.response_bytes = body.len() as u64;
            call.item_bytes = item_bytes;
            call.items = items;
            call.scanned = scanned;
        }
        Ok(())
    }
}

/// The items a response carries (`Item`, `Items`, `Responses`) and their DynamoDB size.
fn returned_items(response: &Value) -> (u64, u64) {
    let mut items: Vec<&Value> = Vec::new();
    items.extend(response.get("Item"));
    items.extend(response.get("Items").and_then(Value::as_array).into_iter().flatten());
    for table in response.get("Responses").and_then(Value::as_object).into_iter().flat_map(|m| m.values()) {
        items.extend(table.as_array().into_iter().flatten());
    }
    (items.len() as u64, items.iter().map(|item| item_size(item)).sum())
}

/// DynamoDB's item size rules: each attribute name's UTF-8 length plus its value's size.
pub fn item_size(item: &Value) -> u64 {
    item.as_object().map_or(0, |m| m.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum())
}

fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|m| m.iter().next()) else { return 0 };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, |s| s.len() as u64),
        // Numbers: about one byte per two significant digits, plus one.
        "N" => inner.as_str().map_or(1, |n| n.trim_start_matches('-').len().div_ceil(2) as u64 + 1),
        "B" => inner.as_str().map_or(0, |b| (b.len() as u64 * 3) / 4),
        "BOOL" | "NULL" => 1,
        "SS" | "NS" | "BS" => {
            inner.as_array().map_or(0, |a| a.iter().map(|v| v.as_str().map_or(0, |s| s.len() as u64)).sum())
        }
        "L" => 3 + inner.as_array().map_or(0, |a| a.iter().map(|v| 1 + value_size(v)).sum()),
        "M" => {
            3 + inner
                .as_object()
                .map_or(0, |m| m.iter().map(|(k, v)| 1 + k.len() as u64 + value_size(v)).sum())
        }
        _ => 0,
    }
}
