//! `usersctl migrate` on tables an earlier release wrote: unsharded users, the single user
//! counter, log entries without index shards, and an index this release no longer reads.
//! Before, lists miss what is unsharded and the checker says so; after, everything is found,
//! totals are unchanged, the checker is clean, and a second run has nothing left to do.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate,
    KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use serde_json::json;

use integration_tests::Env;
use shared::store::migrate::{Indexes, migrate};

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

/// Rewrites the tables as the release before sharding wrote them.
async fn unshard(env: &Env) {
    let users = &env.config.tables.users;
    let mut total = 0;
    for item in env.scan_users_table().await {
        let pk = item["pk"].as_s().unwrap().clone();
        if pk.starts_with("user#") {
            // Unsharded: kind `user`, field partitions the value's first character alone.
            let mut update = env.client.update_item().table_name(users).key("pk", s(&pk));
            let mut sets = vec!["kind = :k".to_string()];
            update = update.expression_attribute_values(":k", s("user"));
            for (i, field) in ["Id", "Username", "Email", "Phone", "Name"].iter().enumerate() {
                if let Some(AttributeValue::S(value)) = item.get(&format!("ix{field}")) {
                    sets.push(format!("ix{field}P = :p{i}"));
                    update = update.expression_attribute_values(format!(":p{i}"), s(&value[..1]));
                }
            }
            update.update_expression(format!("SET {}", sets.join(", "))).send().await.unwrap();
        } else if pk.starts_with("counter#users#") {
            total += item["count"].as_n().unwrap().parse::<i64>().unwrap();
            env.client.delete_item().table_name(users).key("pk", s(&pk)).send().await.unwrap();
        }
    }
    env.client
        .put_item()
        .table_name(users)
        .item("pk", s("counter#users"))
        .item("count", AttributeValue::N(total.to_string()))
        .send()
        .await
        .unwrap();
    let logs = &env.config.tables.logs;
    let items: Vec<_> =
        env.client.scan().table_name(logs).into_paginator().items().send().try_collect().await.unwrap();
    for item in items {
        env.client
            .update_item()
            .table_name(logs)
            .key("id", item["id"].clone())
            .update_expression("SET kind = :k REMOVE keyShard, appShard")
            .expression_attribute_values(":k", s("log"))
            .send()
            .await
            .unwrap();
    }
    // The old by-key index, on the entry's key itself.
    let key = |name: &str, key_type| {
        KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().unwrap()
    };
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name("byKey")
        .key_schema(key("key", KeyType::Hash))
        .key_schema(key("createdKey", KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .unwrap();
    let definition = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    env.client
        .update_table()
        .table_name(logs)
        .attribute_definitions(definition("key"))
        .attribute_definitions(definition("createdKey"))
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
        .send()
        .await
        .unwrap();
}

async fn indexes(env: &Env) -> Vec<String> {
    let out = env.client.describe_table().table_name(&env.config.tables.logs).send().await.unwrap();
    out.table
        .unwrap()
        .global_secondary_indexes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.index_name)
        .collect()
}

#[tokio::test]
async fn migrate_shards_what_an_earlier_release_wrote_and_is_idempotent() {
    let env = Env::new().await;
    let (app, secret) = env.create_app(&["all"]).await;
    for n in 0..6 {
        env.create_user(json!({"username": format!("old_{n}"), "password": "pw-old"})).await;
    }
    let token = env
        .token_request(
            Some((&app.client_id, &secret)),
            "grant_type=client_credentials&resource=https%3A%2F%2Fdefault.logto.app%2Fapi&scope=all",
        )
        .await;
    assert_eq!(token.status, 200, "{}", token.body);
    unshard(&env).await;

    let before = env.get("/api/users").await;
    assert_eq!(before.body.as_array().unwrap().len(), 0, "unsharded users are in no shard");
    assert_eq!(before.header("total-number"), Some("6"), "the old counter is still counted");
    let problems = shared::store::check::check(&env.client, &env.config).await.unwrap().problems;
    assert!(problems.iter().any(|p| p.contains("not in this release's index layout")), "{problems:#?}");
    assert!(problems.iter().any(|p| p.contains("lacks its index shards")), "{problems:#?}");
    let found = env.get("/api/users?search.username=old_3&mode.username=exact").await;
    assert_eq!(found.body.as_array().unwrap().len(), 0, "nor in a field index shard");

    // A stack's tables: the template owns the indexes, so the migration leaves them and says
    // which to remove (here the new ones exist, as `Env` created them).
    let steps = migrate(&env.client, &env.config, Indexes::LeaveToTemplate).await.unwrap();
    assert!(steps.contains(&"users sharded: 6".to_string()), "{steps:#?}");
    assert!(steps.contains(&"user counter: 6 folded into its shards".to_string()), "{steps:#?}");
    assert!(steps.contains(&"log entries sharded: 7".to_string()), "{steps:#?}");
    assert!(steps.iter().any(|s| s.starts_with("index byKey of ")), "{steps:#?}");
    assert!(indexes(&env).await.contains(&"byKey".to_string()));
    // Tables of our own: the old index is deleted.
    let steps = migrate(&env.client, &env.config, Indexes::Manage).await.unwrap();
    assert!(steps.iter().any(|s| s.starts_with("deleted index byKey ")), "{steps:#?}");
    assert!(!indexes(&env).await.contains(&"byKey".to_string()));

    let after = env.get("/api/users?page_size=4").await;
    assert_eq!(after.body.as_array().unwrap().len(), 4);
    assert_eq!(after.header("total-number"), Some("6"));
    let all = env.get("/api/users?page_size=20").await;
    let names: Vec<&str> =
        all.body.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["old_5", "old_4", "old_3", "old_2", "old_1", "old_0"], "newest first, across shards");
    let found = env.get("/api/users?search.username=old_3&mode.username=exact").await;
    assert_eq!(found.body[0]["username"], "old_3");
    let creates = env.get("/api/logs?logKey=User.Create").await;
    assert_eq!((creates.body.as_array().unwrap().len(), creates.header("total-number")), (6, Some("6")));
    let by_app = env.get(&format!("/api/logs?applicationId={}", app.client_id)).await;
    assert_eq!(by_app.body.as_array().unwrap().len(), 1, "{}", by_app.body);
    let everything = env.get("/api/logs").await;
    assert_eq!(everything.header("total-number"), Some("7"));
    let counters: Vec<String> = env
        .scan_users_table()
        .await
        .iter()
        .filter_map(|i| i["pk"].as_s().ok().filter(|pk| pk.starts_with("counter#")).cloned())
        .collect();
    assert!(!counters.contains(&"counter#users".to_string()), "the old counter is folded away: {counters:?}");
    env.assert_invariants().await;

    // New writes after the migration count on; a second run finds nothing to do.
    env.create_user(json!({"username": "new_one"})).await;
    let again = migrate(&env.client, &env.config, Indexes::Manage).await.unwrap();
    assert_eq!(
        again,
        [
            "users sharded: 0",
            "user counter: already sharded",
            "log entries sharded: 0",
            // No stream consumer runs here (tests/log_counts.rs counts the older entries).
            "log counters: not started yet (the log-counts function has seen no entry); run migrate again later"
        ],
        "nothing left to do"
    );
    assert_eq!(env.get("/api/users").await.header("total-number"), Some("7"));
    env.assert_invariants().await;
}

#[tokio::test]
async fn on_a_stack_the_new_indexes_come_from_the_template_first() {
    let env = Env::new().await;
    let logs = &env.config.tables.logs;
    shared::store::schema::delete_index(&env.client, logs, "byKeyShard").await.unwrap();
    let refused = migrate(&env.client, &env.config, Indexes::LeaveToTemplate).await.unwrap_err();
    assert!(refused.to_string().contains("no index byKeyShard yet: deploy the template"), "{refused}");
    assert!(!indexes(&env).await.contains(&"byKeyShard".to_string()), "nothing created out of band");
    // Tables of our own get it created.
    let steps = migrate(&env.client, &env.config, Indexes::Manage).await.unwrap();
    assert!(steps.iter().any(|s| s.contains("index byKeyShard")), "{steps:#?}");
    assert!(indexes(&env).await.contains(&"byKeyShard".to_string()));
}

/// Tables made before webhooks: `setup` (ensure_tables) adds the logs table's stream and index
/// and the hooks table, and then has nothing left to do.
#[tokio::test]
async fn setup_turns_on_the_logs_stream_of_an_earlier_release() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamViewType,
    };
    let env = Env::new().await;
    let logs = &env.config.tables.logs;
    // A logs table as a release without webhooks left it (its other indexes are added back too).
    env.client.delete_table().table_name(logs).send().await.unwrap();
    env.client.delete_table().table_name(&env.config.tables.hooks).send().await.unwrap();
    let id =
        AttributeDefinition::builder().attribute_name("id").attribute_type(ScalarAttributeType::S).build();
    let key = KeySchemaElement::builder().attribute_name("id").key_type(KeyType::Hash).build();
    env.client
        .create_table()
        .table_name(logs)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(id.unwrap())
        .key_schema(key.unwrap())
        .send()
        .await
        .unwrap();
    let streaming = async |env: &Env| {
        let table = env.client.describe_table().table_name(logs).send().await.unwrap().table.unwrap();
        table.stream_specification.filter(|s| s.stream_enabled).and_then(|s| s.stream_view_type)
    };
    assert_eq!(streaming(&env).await, None);

    let done = shared::store::schema::ensure_tables(&env.client, &env.config.tables).await.unwrap();
    for expected in
        [format!("{logs} index byHook"), format!("{logs} stream"), env.config.tables.hooks.clone()]
    {
        assert!(done.contains(&expected), "{expected} in {done:?}");
    }
    assert_eq!(streaming(&env).await, Some(StreamViewType::NewAndOldImages));
    let again = shared::store::schema::ensure_tables(&env.client, &env.config.tables).await.unwrap();
    assert!(again.is_empty(), "nothing left to do: {again:?}");
}
