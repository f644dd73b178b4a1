//! The one transaction builder every mutation goes through: each write carries a label, so a
//! cancelled transaction reports *which* condition failed in domain terms.

use aws_sdk_dynamodb::{
    Client,
    operation::transact_write_items::TransactWriteItemsError,
    types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update},
};
use std::collections::HashMap;

use super::StoreError;

pub type Item = HashMap<String, AttributeValue>;

/// A DynamoDB expression with its placeholders: a write's condition, or an update.
#[derive(Clone, Debug, Default)]
pub struct Expression {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    pub fn new(expression: impl Into<String>) -> Self {
        Self { expression: expression.into(), ..Default::default() }
    }

    /// `attribute_not_exists(<key>)`: the item must not exist yet.
    pub fn absent(key: &str) -> Self {
        Self::new(format!("attribute_not_exists({key})"))
    }

    pub fn name(mut self, placeholder: &str, name: &str) -> Self {
        self.names.insert(placeholder.into(), name.into());
        self
    }

    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    /// Expression, names and values, for single-item calls.
    pub fn into_parts(self) -> (String, HashMap<String, String>, HashMap<String, AttributeValue>) {
        (self.expression, self.names, self.values)
    }
}

#[derive(Default)]
pub struct Transaction {
    writes: Vec<TransactWriteItem>,
    labels: Vec<&'static str>,
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, label: &'static str, table: &str, item: Item, condition: Option<Expression>) {
        let (expression, names, values) = split(condition);
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .set_condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .expect("table and item are set");
        self.push(label, TransactWriteItem::builder().put(put).build());
    }

    pub fn delete(&mut self, label: &'static str, table: &str, key: Item, condition: Option<Expression>) {
        let (expression, names, values) = split(condition);
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(key))
            .set_condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .expect("table and key are set");
        self.push(label, TransactWriteItem::builder().delete(delete).build());
    }

    /// An update; `update` carries the update expression, its names and values, and
    /// `condition` (placeholders distinct from the update's) must hold for it to apply.
    pub fn update(
        &mut self,
        label: &'static str,
        table: &str,
        key: Item,
        mut update: Expression,
        condition: Option<Expression>,
    ) {
        let condition = condition.map(|c| {
            update.names.extend(c.names);
            update.values.extend(c.values);
            c.expression
        });
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(update.expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(non_empty(update.names))
            .set_expression_attribute_values(non_empty(update.values))
            .build()
            .expect("table, key and expression are set");
        self.push(label, TransactWriteItem::builder().update(update).build());
    }

    /// A condition on an item the transaction does not write.
    pub fn check(&mut self, label: &'static str, table: &str, key: Item, condition: Expression) {
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression(condition.expression)
            .set_expression_attribute_names(non_empty(condition.names))
            .set_expression_attribute_values(non_empty(condition.values))
            .build()
            .expect("table, key and condition are set");
        self.push(label, TransactWriteItem::builder().condition_check(check).build());
    }

    fn push(&mut self, label: &'static str, write: TransactWriteItem) {
        self.writes.push(write);
        self.labels.push(label);
    }

    /// Runs all writes atomically. A cancellation is reported as `ConditionFailed` with the
    /// labels of the failed writes, or `TransactionConflict` when another transaction raced us.
    pub async fn commit(self, client: &Client) -> Result<(), StoreError> {
        let Transaction { writes, labels } = self;
        let result = client.transact_write_items().set_transact_items(Some(writes)).send().await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error()
        {
            let reasons = cancelled.cancellation_reasons();
            let failed: Vec<&'static str> = reasons
                .iter()
                .zip(&labels)
                .filter(|(reason, _)| reason.code() == Some("ConditionalCheckFailed"))
                .map(|(_, label)| *label)
                .collect();
            if !failed.is_empty() {
                return Err(StoreError::ConditionFailed { items: failed });
            }
            if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                return Err(StoreError::TransactionConflict);
            }
            if reasons.iter().any(|r| r.code() == Some("ThrottlingError")) {
                return Err(StoreError::Throttled("transaction throttled".into()));
            }
            let message = cancelled.message().unwrap_or_default();
            if super::error::is_limit_violation(message)
                || reasons.iter().any(|r| r.code() == Some("ValidationError"))
            {
                return Err(StoreError::ItemTooLarge(message.to_string()));
            }
        }
        Err(StoreError::from_sdk(err, "transaction"))
    }
}

type Split = (Option<String>, Option<HashMap<String, String>>, Option<Item>);

fn split(condition: Option<Expression>) -> Split {
    match condition {
        None => (None, None, None),
        Some(c) => (Some(c.expression), non_empty(c.names), non_empty(c.values)),
    }
}

fn non_empty<K, V>(map: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!map.is_empty()).then_some(map)
}
