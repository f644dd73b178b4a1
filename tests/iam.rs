//! Each function's IAM policy in `template.yaml` grants exactly the DynamoDB actions, on
//! exactly the tables, that its code calls: the calls are recorded by an SDK interceptor while
//! every route's event (and some extra traffic) goes through the function.

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput, delete_item::DeleteItemInput,
    get_item::GetItemInput, put_item::PutItemInput, query::QueryInput, scan::ScanInput,
    transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_types::config_bag::ConfigBag;
use base64::Engine;
use serde_norway::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use integration_tests::receiver::Receiver;
use integration_tests::{Env, Reply};

type Calls = BTreeSet<(String, String)>;

/// Records `(action, table)` for every DynamoDB call, transactions item by item.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Calls>>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "iam-recorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let mut calls = self.0.lock().unwrap();
        let mut add = |action: &str, table: Option<&str>| {
            calls.insert((action.to_string(), table.unwrap_or("?").to_string()));
        };
        if let Some(i) = input.downcast_ref::<GetItemInput>() {
            add("GetItem", i.table_name());
        } else if let Some(i) = input.downcast_ref::<PutItemInput>() {
            add("PutItem", i.table_name());
        } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
            add("DeleteItem", i.table_name());
        } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
            add("UpdateItem", i.table_name());
        } else if let Some(i) = input.downcast_ref::<QueryInput>() {
            add("Query", i.table_name());
        } else if let Some(i) = input.downcast_ref::<ScanInput>() {
            add("Scan", i.table_name());
        } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
            for table in i.request_items().into_iter().flat_map(|m| m.keys()) {
                add("BatchGetItem", Some(table));
            }
        } else if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
            for table in i.request_items().into_iter().flat_map(|m| m.keys()) {
                add("BatchWriteItem", Some(table));
            }
        } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in i.transact_items() {
                if let Some(put) = item.put() {
                    add("PutItem", Some(put.table_name()));
                }
                if let Some(delete) = item.delete() {
                    add("DeleteItem", Some(delete.table_name()));
                }
                if let Some(update) = item.update() {
                    add("UpdateItem", Some(update.table_name()));
                }
                if let Some(check) = item.condition_check() {
                    add("ConditionCheckItem", Some(check.table_name()));
                }
            }
        } else {
            add("unrecognised operation", None);
        }
        Ok(())
    }
}

async fn recording_client(recorder: &Recorder) -> aws_sdk_dynamodb::Client {
    let aws = shared::aws::Aws::tools_default().await;
    let config = aws_sdk_dynamodb::config::Builder::from(aws.sdk()).interceptor(recorder.clone()).build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// `(action, table logical id)` the template grants the function built from `binary`.
fn granted(binary: &str) -> Calls {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let template: Value = serde_norway::from_str(&text).unwrap();
    let function = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"] == binary)
        .unwrap_or_else(|| panic!("no function {binary}"));
    let mut grants = Calls::new();
    let statements = function["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default();
    for statement in statements.iter().flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default())
    {
        let tables: BTreeSet<String> =
            statement["Resource"].as_sequence().unwrap().iter().filter_map(table_of).collect();
        for action in statement["Action"].as_sequence().unwrap() {
            if let Some(action) = action.as_str().unwrap().strip_prefix("dynamodb:") {
                for table in &tables {
                    grants.insert((action.to_string(), table.clone()));
                }
            }
        }
    }
    grants
}

/// `!GetAtt UsersTable.Arn` or `!Sub "${UsersTable.Arn}/index/*"` → `UsersTable`.
fn table_of(resource: &Value) -> Option<String> {
    let Value::Tagged(tagged) = resource else { return None };
    let text = tagged.value.as_str()?;
    let name = text.trim_start_matches("${").split('.').next()?;
    name.ends_with("Table").then(|| name.to_string())
}

fn logical(env: &Env, calls: &Calls) -> Calls {
    let tables = &env.config.tables;
    calls
        .iter()
        .map(|(action, table)| {
            let id = if *table == tables.users {
                "UsersTable"
            } else if *table == tables.logs {
                "LogsTable"
            } else if *table == tables.apps {
                "AppsTable"
            } else if *table == tables.hooks {
                "HooksTable"
            } else {
                "unknown table"
            };
            (action.clone(), id.to_string())
        })
        .collect()
}

/// Replays every event whose path the function serves, with real credentials.
async fn replay(
    env: &Env,
    prefix: &str,
    handle: impl AsyncFn(lambda_http::Request) -> lambda_http::Response<lambda_http::Body>,
) {
    let (app, secret) = env.create_app(&["all"]).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", app.client_id));
    let bearer = env.token("all");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    // Create first, delete last, so that every route meets a user.
    files.sort_by_key(|f| (!f.ends_with("create-user.json"), f.ends_with("delete-user.json")));
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
        let text = std::fs::read_to_string(file)
            .unwrap()
            .replace("REPLACE_WITH_ACCESS_TOKEN", &bearer)
            .replace("REPLACE_WITH_BASE64_CLIENT_ID_AND_SECRET", &basic);
        let request = lambda_http::request::from_str(&text).unwrap();
        let path = request.uri().path().to_string();
        let is_password =
            path.ends_with("/password") || path.ends_with("/verify") || path.ends_with("/has-password");
        let matches = match prefix {
            "passwords" => is_password,
            "users" => path.starts_with("/api/users") && !is_password,
            other => path.starts_with(other),
        };
        if matches {
            let reply = Reply::from(handle(request).await);
            assert!(reply.status < 500, "{}: {}", file.display(), reply.body);
        }
    }
}

async fn seed_user(env: &Env) {
    let user = shared::domain::User::new("u1s2e3r4i5d6".into(), shared::domain::now_ms());
    let log = shared::domain::log::LogEntry::new(
        shared::domain::log::LogKey::UserCreate,
        true,
        Some("u1s2e3r4i5d6"),
        &Default::default(),
    );
    use shared::store::user_store::UserStore;
    env.functions.users.service.store().commit(None, Some(&user), &log).await.unwrap();
}

#[tokio::test]
async fn each_function_is_granted_exactly_what_it_calls() {
    // Hooks may point at this machine: the deliveries reach a receiver here.
    let env = Env::with(|config| config.hooks_allow_local_urls = true).await;
    seed_user(&env).await;
    for binary in ["users", "passwords", "logs", "log-counts", "hooks", "hook-deliveries", "oidc", "docs"] {
        let recorder = Recorder::default();
        let client = recording_client(&recorder).await;
        match binary {
            "users" => {
                let app = users::App::new(&env.config, client).unwrap();
                replay(&env, "users", async |r| app.handle(r).await).await;
                // Paths the events do not take: an unfiltered list and a deferred-error create.
                let mut list = integration_tests::request(lambda_http::http::Method::GET, "/api/users", None);
                list.headers_mut().insert("authorization", env.admin_authorization.parse().unwrap());
                app.handle(list).await;
                let body = serde_json::json!({"username": "event_user", "primaryPhone": "1"});
                let mut create =
                    integration_tests::request(lambda_http::http::Method::POST, "/api/users", Some(body));
                create.headers_mut().insert("authorization", env.admin_authorization.parse().unwrap());
                app.handle(create).await;
            }
            "passwords" => {
                seed_user(&env).await;
                let app = passwords::App::new(&env.config, client).unwrap();
                replay(&env, "passwords", async |r| app.handle(r).await).await;
            }
            "logs" => {
                let app = logs::App::new(&env.config, client).unwrap();
                replay(&env, "/api/logs", async |r| app.handle(r).await).await;
            }
            "hooks" => {
                let app = hooks::App::new(&env.config, client).unwrap();
                replay(&env, "/api/hooks", async |r| app.handle(r).await).await;
            }
            "hook-deliveries" => {
                // A hook that takes everything and one that refuses it: both outcomes are written.
                let (taking, refusing) = (Receiver::start().await, Receiver::start().await);
                refusing.answer(500);
                for receiver in [&taking, &refusing] {
                    let body = serde_json::json!({"events": ["User.Created", "User.Data.Updated", "User.Deleted"],
                                                  "config": {"url": receiver.url}});
                    assert_eq!(env.post("/api/hooks", body).await.status, 201);
                }
                env.create_user(serde_json::json!({"username": "delivered"})).await;
                let deliveries = hooks::delivery::Deliveries::new(&env.config, client).unwrap();
                let (stream, _) = env.log_stream_since("").await;
                deliveries.handle(stream).await.unwrap();
                assert!(!taking.received().is_empty() && !refusing.received().is_empty());
            }
            "log-counts" => {
                // Counting begins, a batch counts, and its retry finds the batch's marker.
                let counts = shared::store::log_counts::LogCounts::new(client, &env.config.tables.logs);
                let (stream, _) = env.log_stream_since("").await;
                counts.apply(&stream.records).await.unwrap();
                counts.apply(&stream.records).await.unwrap();
            }
            "oidc" => {
                let app = oidc::App::new(&env.config, client, env.keys.clone());
                replay(&env, "/oidc/", async |r| app.handle(r).await).await;
            }
            _ => replay(&env, "/api/swagger.json", async |r| docs::handle(r).await).await,
        }
        let called = logical(&env, &recorder.0.lock().unwrap());
        assert_eq!(called, granted(binary), "{binary}: calls (left) and template grants (right) differ");
    }
}
