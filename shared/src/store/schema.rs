//! The tables and indexes the code expects: the one source of truth. `ensure_tables` creates
//! them on any endpoint (idempotently); a test checks `template.yaml` declares exactly these.

use aws_sdk_dynamodb::{
    Client,
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection as SdkProjection, ProjectionType, ScalarAttributeType, StreamSpecification,
        StreamViewType, TableDescription, TimeToLiveSpecification,
    },
};

use super::StoreError;
use crate::config::TableNames;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    KeysOnly,
    All,
    Include(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct IndexDef {
    pub name: &'static str,
    pub hash_key: &'static str,
    pub range_key: &'static str,
    pub projection: Projection,
}

#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    /// The resource's logical id in `template.yaml`.
    pub logical_id: &'static str,
    pub hash_key: &'static str,
    pub indexes: &'static [IndexDef],
    pub ttl_attribute: Option<&'static str>,
    /// Whether the table has a stream of new and old item images (the logs table: webhook
    /// deliveries and the log counters).
    pub stream: bool,
}

/// What every user search index carries besides its keys: enough to filter and order
/// candidates without reading whole user items.
pub const SEARCH_PROJECTION: &[&str] =
    &["id", "username", "primaryEmail", "primaryPhone", "name", "createdAt"];

const fn search_index(name: &'static str, hash_key: &'static str, range_key: &'static str) -> IndexDef {
    IndexDef { name, hash_key, range_key, projection: Projection::Include(SEARCH_PROJECTION) }
}

/// Users, their uniqueness guards and the user counter share one table (see docs/data-model.md).
pub const USERS: TableDef = TableDef {
    logical_id: "UsersTable",
    hash_key: "pk",
    indexes: &[
        search_index("byCreated", "kind", "createdKey"),
        search_index("byId", "ixIdP", "ixId"),
        search_index("byUsername", "ixUsernameP", "ixUsername"),
        search_index("byEmail", "ixEmailP", "ixEmail"),
        search_index("byPhone", "ixPhoneP", "ixPhone"),
        search_index("byName", "ixNameP", "ixName"),
    ],
    ttl_attribute: Some("expiresAt"),
    stream: false,
};

/// The app, key and time indexes are partitioned on write-sharded values (see `shards`).
pub const LOGS: TableDef = TableDef {
    logical_id: "LogsTable",
    hash_key: "id",
    indexes: &[
        IndexDef { name: "byUser", hash_key: "userId", range_key: "createdKey", projection: Projection::All },
        IndexDef {
            name: "byAppShard",
            hash_key: "appShard",
            range_key: "createdKey",
            projection: Projection::All,
        },
        IndexDef {
            name: "byKeyShard",
            hash_key: "keyShard",
            range_key: "createdKey",
            projection: Projection::All,
        },
        IndexDef { name: "byTime", hash_key: "kind", range_key: "createdKey", projection: Projection::All },
        // Sparse: only webhook delivery entries carry `hookId`.
        IndexDef { name: "byHook", hash_key: "hookId", range_key: "createdKey", projection: Projection::All },
    ],
    ttl_attribute: Some("expiresAt"),
    // Every change's entry, once, for the webhook deliveries (docs/webhooks.md), and every
    // entry written or expired, for the log counters (docs/data-model.md, "Totals").
    stream: true,
};

pub const APPS: TableDef = TableDef {
    logical_id: "AppsTable",
    hash_key: "clientId",
    indexes: &[],
    ttl_attribute: None,
    stream: false,
};

pub const HOOKS: TableDef =
    TableDef { logical_id: "HooksTable", hash_key: "id", indexes: &[], ttl_attribute: None, stream: false };

/// Each table definition with the name it has in this deployment.
pub fn tables(names: &TableNames) -> [(&'static TableDef, &str); 4] {
    [
        (&USERS, names.users.as_str()),
        (&LOGS, names.logs.as_str()),
        (&APPS, names.apps.as_str()),
        (&HOOKS, names.hooks.as_str()),
    ]
}

impl TableDef {
    /// Every attribute used as a key, by the table or an index (all strings).
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.hash_key];
        for index in self.indexes {
            for name in [index.hash_key, index.range_key] {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }
}

/// Creates whatever tables are missing and adds the indexes an existing table lacks (one at a
/// time, as DynamoDB requires, each waited for until active); nothing is removed (see
/// [`obsolete_indexes`]). Safe to run repeatedly. Returns what it created.
pub async fn ensure_tables(client: &Client, names: &TableNames) -> Result<Vec<String>, StoreError> {
    let mut created = Vec::new();
    for (def, name) in tables(names) {
        match existing_indexes(client, name).await? {
            None => {
                create_table(client, def, name).await?;
                created.push(name.to_string());
            }
            Some(existing) => {
                for index in def.indexes.iter().filter(|i| !existing.iter().any(|e| e == i.name)) {
                    add_index(client, name, index).await?;
                    created.push(format!("{name} index {}", index.name));
                }
                match (def.stream, stream_view(client, name).await?) {
                    (true, None) => {
                        enable_stream(client, name).await?;
                        created.push(format!("{name} stream"));
                    }
                    // An earlier release's stream of new images only: a stream's view cannot
                    // change, so it is replaced (its readers start on the new one).
                    (true, Some(view)) if view != StreamViewType::NewAndOldImages => {
                        let off = StreamSpecification::builder().stream_enabled(false).build();
                        set_stream(client, name, off.expect("flag is set")).await?;
                        enable_stream(client, name).await.map_err(|err| {
                            StoreError::Other(format!(
                                "{name}: its stream of new images was turned off, but one of new and old \
                                 images could not be turned on ({err}). DynamoDB allows it; moto does \
                                 not re-enable a stream: recreate the table (scripts/stack --fresh)"
                            ))
                        })?;
                        created.push(format!("{name} stream of new and old images"));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(created)
}

/// What DynamoDB says of a table, or `None` when there is no such table.
async fn describe(client: &Client, table: &str) -> Result<Option<TableDescription>, StoreError> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out.table),
        Err(err) => match StoreError::from_sdk(err, "describe_table") {
            StoreError::TableMissing(_) => Ok(None),
            other => Err(other),
        },
    }
}

/// The names of the indexes a table has, or `None` when there is no such table.
async fn existing_indexes(client: &Client, table: &str) -> Result<Option<Vec<String>>, StoreError> {
    let found = describe(client, table).await?;
    Ok(found.map(|t| {
        t.global_secondary_indexes.unwrap_or_default().into_iter().filter_map(|i| i.index_name).collect()
    }))
}

/// What a table's stream carries, or `None` when it has none on.
async fn stream_view(client: &Client, table: &str) -> Result<Option<StreamViewType>, StoreError> {
    let found = describe(client, table).await?;
    Ok(found
        .and_then(|t| t.stream_specification)
        .filter(|s| s.stream_enabled)
        .and_then(|s| s.stream_view_type))
}

/// Both images: webhook deliveries read what an insert wrote, the log counters what a TTL
/// removal removed.
fn stream() -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .expect("flag is set")
}

async fn enable_stream(client: &Client, table: &str) -> Result<(), StoreError> {
    set_stream(client, table, stream()).await
}

async fn set_stream(client: &Client, table: &str, spec: StreamSpecification) -> Result<(), StoreError> {
    client
        .update_table()
        .table_name(table)
        .stream_specification(spec)
        .send()
        .await
        .map_err(|e| StoreError::from_sdk(e, "update_table"))?;
    Ok(())
}

/// Indexes a table has that this release no longer reads: each still costs a write per item,
/// and a constant partition key in one of them keeps the ceiling sharding removes.
pub async fn obsolete_indexes(
    client: &Client,
    names: &TableNames,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut obsolete = Vec::new();
    for (def, name) in tables(names) {
        for index in existing_indexes(client, name).await?.unwrap_or_default() {
            if !def.indexes.iter().any(|i| i.name == index) {
                obsolete.push((name.to_string(), index));
            }
        }
    }
    Ok(obsolete)
}

/// Indexes this release reads that a table lacks.
pub async fn missing_indexes(
    client: &Client,
    names: &TableNames,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut missing = Vec::new();
    for (def, name) in tables(names) {
        let existing = existing_indexes(client, name).await?.unwrap_or_default();
        for index in def.indexes.iter().filter(|i| !existing.iter().any(|e| e == i.name)) {
            missing.push((name.to_string(), index.name.to_string()));
        }
    }
    Ok(missing)
}

/// Deletes one index (its data is derived from the table's items; nothing is lost).
pub async fn delete_index(client: &Client, table: &str, index: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
    let delete = DeleteGlobalSecondaryIndexAction::builder().index_name(index).build().expect("name is set");
    client
        .update_table()
        .table_name(table)
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().delete(delete).build())
        .send()
        .await
        .map_err(|e| StoreError::from_sdk(e, "update_table"))?;
    Ok(())
}

async fn add_index(client: &Client, table: &str, index: &IndexDef) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, IndexStatus,
    };
    let sdk = sdk_index(index);
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(index.name)
        .set_key_schema(Some(sdk.key_schema().to_vec()))
        .set_projection(sdk.projection().cloned())
        .build()
        .expect("name, keys and projection are set");
    client
        .update_table()
        .table_name(table)
        .set_attribute_definitions(Some(vec![attribute(index.hash_key), attribute(index.range_key)]))
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
        .send()
        .await
        .map_err(|e| StoreError::from_sdk(e, "update_table"))?;
    // DynamoDB backfills a new index before it is active, and takes one creation at a time.
    loop {
        let status = describe(client, table)
            .await?
            .and_then(|t| t.global_secondary_indexes)
            .unwrap_or_default()
            .into_iter()
            .find(|i| i.index_name() == Some(index.name))
            .and_then(|i| i.index_status);
        if matches!(status, None | Some(IndexStatus::Active)) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type are set")
}

async fn create_table(client: &Client, def: &TableDef, name: &str) -> Result<(), StoreError> {
    let attributes = def.key_attributes().into_iter().map(attribute);
    let indexes: Vec<GlobalSecondaryIndex> = def.indexes.iter().map(sdk_index).collect();
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes.collect()))
        .key_schema(key(def.hash_key, KeyType::Hash))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .set_stream_specification(def.stream.then(stream))
        .send()
        .await
        .map_err(|e| StoreError::from_sdk(e, "create_table"))?;
    if let Some(attribute) = def.ttl_attribute {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(attribute)
            .enabled(true)
            .build()
            .expect("name and flag are set");
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(e, "create_table"))?;
    }
    Ok(())
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("set")
}

fn sdk_index(index: &IndexDef) -> GlobalSecondaryIndex {
    let projection = match index.projection {
        Projection::KeysOnly => SdkProjection::builder().projection_type(ProjectionType::KeysOnly),
        Projection::All => SdkProjection::builder().projection_type(ProjectionType::All),
        Projection::Include(fields) => SdkProjection::builder()
            .projection_type(ProjectionType::Include)
            .set_non_key_attributes(Some(fields.iter().map(|f| f.to_string()).collect())),
    };
    GlobalSecondaryIndex::builder()
        .index_name(index.name)
        .key_schema(key(index.hash_key, KeyType::Hash))
        .key_schema(key(index.range_key, KeyType::Range))
        .projection(projection.build())
        .build()
        .expect("name, keys and projection are set")
}
