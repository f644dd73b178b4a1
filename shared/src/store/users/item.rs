//! How a user is laid out in DynamoDB: the item, its index attributes, and the narrow rows the
//! search indexes project.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::USER_KIND;
use crate::domain::password::{PasswordAlgorithm, PasswordHash};
use crate::domain::search::{Field, SearchRow};
use crate::domain::{JsonObject, User};
use crate::store::StoreError;
use crate::store::guards::{Guard, held};
use crate::store::schema::SEARCH_PROJECTION;
use crate::store::shards::sharded;
use crate::store::tx::Item;

/// What DynamoDB stores for a user. JSON documents are kept as JSON text: they round-trip
/// exactly (numbers, nulls, key order) and escape DynamoDB's nesting and empty-set rules.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserItem {
    pk: String,
    /// `user#<shard>`: the kind of item, and the write shard of its `byCreated` entry.
    kind: String,
    created_key: String,
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    primary_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    primary_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    avatar: Option<String>,
    custom_data: String,
    identities: String,
    profile: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_sign_in_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    application_id: Option<String>,
    is_suspended: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_algorithm: Option<PasswordAlgorithm>,
    version: u64,
    /// The keys of the guards this user holds, as written with it (see `User::stored_guards`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    guard_keys: Option<Vec<String>>,
}

/// The index each searchable field is served by: (index, partition attribute, sort attribute).
/// The partition is the lower-cased value's first character, write-sharded (a tenth of names
/// start with the commonest letter), the sort key the lower-cased value, so exact and prefix
/// lookups touch only matching entries.
pub fn field_index(field: Field) -> (&'static str, &'static str, &'static str) {
    match field {
        Field::Id => ("byId", "ixIdP", "ixId"),
        Field::Username => ("byUsername", "ixUsernameP", "ixUsername"),
        Field::PrimaryEmail => ("byEmail", "ixEmailP", "ixEmail"),
        Field::PrimaryPhone => ("byPhone", "ixPhoneP", "ixPhone"),
        Field::Name => ("byName", "ixNameP", "ixName"),
    }
}

pub(super) fn user_pk(id: &str) -> String {
    format!("user#{id}")
}

pub(super) fn key(pk: String) -> Item {
    HashMap::from([("pk".to_string(), AttributeValue::S(pk))])
}

/// The search projection, with `name` (a DynamoDB reserved word) behind its placeholder.
pub(super) fn projection() -> String {
    let fields: Vec<&str> =
        SEARCH_PROJECTION.iter().map(|f| if *f == "name" { "#name" } else { f }).collect();
    fields.join(", ")
}

pub(super) fn first_char(value: &str) -> String {
    value.chars().next().map(String::from).unwrap_or_default()
}

/// The user's item, recording `guards` as the ones it holds.
pub(super) fn encode(user: &User, guards: &[Guard]) -> Result<Item, StoreError> {
    let json = |v: &JsonObject| serde_json::to_string(v).expect("JSON values serialise");
    let record = UserItem {
        pk: user_pk(&user.id),
        kind: sharded(USER_KIND, &user.id),
        created_key: user.created_key(),
        id: user.id.clone(),
        username: user.username.clone(),
        primary_email: user.primary_email.clone(),
        primary_phone: user.primary_phone.clone(),
        name: user.name.clone(),
        avatar: user.avatar.clone(),
        custom_data: json(&user.custom_data),
        identities: json(&user.identities),
        profile: json(&user.profile),
        last_sign_in_at: user.last_sign_in_at,
        created_at: user.created_at,
        updated_at: user.updated_at,
        application_id: user.application_id.clone(),
        is_suspended: user.is_suspended,
        password_digest: user.password.as_ref().map(|p| p.digest.clone()),
        password_algorithm: user.password.as_ref().map(|p| p.algorithm),
        version: user.version,
        guard_keys: Some(guards.iter().map(|g| g.key.clone()).collect()),
    };
    let mut item: Item =
        serde_dynamo::to_item(record).map_err(|e| StoreError::Other(format!("encode user: {e}")))?;
    for field in Field::ALL {
        let value = match field {
            Field::Id => Some(user.id.as_str()),
            Field::Username => user.username.as_deref(),
            Field::PrimaryEmail => user.primary_email.as_deref(),
            Field::PrimaryPhone => user.primary_phone.as_deref(),
            Field::Name => user.name.as_deref(),
        };
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            let (_, partition, sort) = field_index(field);
            let folded = value.to_lowercase();
            item.insert(partition.into(), AttributeValue::S(sharded(&first_char(&folded), &user.id)));
            item.insert(sort.into(), AttributeValue::S(folded));
        }
    }
    Ok(item)
}

/// The item as this release writes it, with the version it was read at, when the stored
/// `item` (a user) has other index attributes (an earlier release's `byCreated` partition or
/// field-index partitions); `None` when it is current.
pub fn rewritten(item: &Item, username_case_sensitive: bool) -> Result<Option<(Item, u64)>, StoreError> {
    let user = decode(item.clone())?;
    let current = encode(&user, &held(&user, username_case_sensitive))?;
    let mut attributes = vec!["kind"];
    for field in Field::ALL {
        let (_, partition, sort) = field_index(field);
        attributes.extend([partition, sort]);
    }
    let same = attributes.iter().all(|name| item.get(*name) == current.get(*name));
    Ok((!same).then_some((current, user.version)))
}

/// Reads a user item back (also used by checks that scan the table).
pub fn decode(item: Item) -> Result<User, StoreError> {
    let record: UserItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("decode user: {e}")))?;
    let json = |s: &str| -> Result<JsonObject, StoreError> {
        serde_json::from_str(s).map_err(|e| StoreError::Other(format!("decode user JSON: {e}")))
    };
    let password = match (record.password_digest, record.password_algorithm) {
        (Some(digest), Some(algorithm)) => Some(PasswordHash { digest, algorithm }),
        _ => None,
    };
    Ok(User {
        custom_data: json(&record.custom_data)?,
        identities: json(&record.identities)?,
        profile: json(&record.profile)?,
        id: record.id,
        username: record.username,
        primary_email: record.primary_email,
        primary_phone: record.primary_phone,
        name: record.name,
        avatar: record.avatar,
        last_sign_in_at: record.last_sign_in_at,
        created_at: record.created_at,
        updated_at: record.updated_at,
        application_id: record.application_id,
        is_suspended: record.is_suspended,
        password,
        version: record.version,
        stored_guards: record.guard_keys,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RowItem {
    id: String,
    username: Option<String>,
    primary_email: Option<String>,
    primary_phone: Option<String>,
    name: Option<String>,
    created_at: i64,
}

pub(super) fn decode_row(item: Item) -> Result<SearchRow, StoreError> {
    let row: RowItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("decode row: {e}")))?;
    Ok(SearchRow {
        id: row.id,
        username: row.username,
        primary_email: row.primary_email,
        primary_phone: row.primary_phone,
        name: row.name,
        created_at: row.created_at,
    })
}
