//! What each DynamoDB call costs, noted for the request's access line ([`crate::telemetry`]):
//! operations, extra attempts, throttled attempts, and consumed capacity. Every request asks
//! DynamoDB for `ReturnConsumedCapacity=TOTAL`, which costs nothing but a few response bytes.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
    delete_item::{DeleteItemInput, DeleteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    scan::{ScanInput, ScanOutput},
    transact_get_items::{TransactGetItemsInput, TransactGetItemsOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;

use super::list_cache::note_write;
use crate::telemetry::note_dynamodb;

#[derive(Debug)]
pub struct Metering;

/// Sets `return_consumed_capacity` on whichever of these inputs `$input` is.
macro_rules! ask_for_capacity {
    ($input:expr, $($kind:ty),+) => {
        $(if let Some(input) = $input.downcast_mut::<$kind>() {
            input.return_consumed_capacity.get_or_insert(ReturnConsumedCapacity::Total);
        })+
    };
}

/// The capacity units of whichever of these outputs `$output` is.
macro_rules! capacity_of {
    ($output:expr; one: $($one:ty),+; many: $($many:ty),+) => {{
        let units = |c: &ConsumedCapacity| c.capacity_units().unwrap_or_default();
        let mut total = 0.0;
        $(if let Some(output) = $output.downcast_ref::<$one>() {
            total += output.consumed_capacity().map(units).unwrap_or_default();
        })+
        $(if let Some(output) = $output.downcast_ref::<$many>() {
            total += output.consumed_capacity().iter().map(units).sum::<f64>();
        })+
        total
    }};
}

/// Whether `$value` (an operation's input or output) is one of a write.
macro_rules! is_write {
    ($value:expr) => {{
        let value = $value;
        value.downcast_ref::<PutItemInput>().is_some()
            || value.downcast_ref::<UpdateItemInput>().is_some()
            || value.downcast_ref::<DeleteItemInput>().is_some()
            || value.downcast_ref::<BatchWriteItemInput>().is_some()
            || value.downcast_ref::<TransactWriteItemsInput>().is_some()
            || value.downcast_ref::<PutItemOutput>().is_some()
            || value.downcast_ref::<UpdateItemOutput>().is_some()
            || value.downcast_ref::<DeleteItemOutput>().is_some()
            || value.downcast_ref::<BatchWriteItemOutput>().is_some()
            || value.downcast_ref::<TransactWriteItemsOutput>().is_some()
    }};
}

/// DynamoDB's throttling error types (in the error body's `__type`).
const THROTTLING: [&str; 3] =
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"];

impl Intercept for Metering {
    fn name(&self) -> &'static str {
        "request-metering"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        ask_for_capacity!(
            input,
            GetItemInput,
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            QueryInput,
            ScanInput,
            BatchGetItemInput,
            BatchWriteItemInput,
            TransactGetItemsInput,
            TransactWriteItemsInput
        );
        if is_write!(input) {
            note_write();
        }
        note_dynamodb(|d| d.calls += 1);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        note_dynamodb(|d| d.attempts += 1);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match context.output_or_error() {
            Ok(output) => {
                let units = capacity_of!(output;
                    one: GetItemOutput, PutItemOutput, UpdateItemOutput, DeleteItemOutput, QueryOutput, ScanOutput;
                    many: BatchGetItemOutput, BatchWriteItemOutput, TransactGetItemsOutput, TransactWriteItemsOutput);
                note_dynamodb(|d| d.capacity_units += units);
            }
            Err(_) => {
                // The body is in memory once deserialised; its `__type` names the error.
                let body = context.response().body().bytes().unwrap_or_default();
                let body = String::from_utf8_lossy(body);
                if THROTTLING.iter().any(|kind| body.contains(kind)) {
                    note_dynamodb(|d| d.throttles += 1);
                }
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // A write again once it is over (a read that began while it was in flight may hold
        // what was there before it: see `list_cache`), and any call that did not end in a
        // read's answer (a timed-out write may still land).
        match context.output_or_error() {
            Some(Ok(output)) if !is_write!(output) => {}
            _ => note_write(),
        }
        Ok(())
    }
}
