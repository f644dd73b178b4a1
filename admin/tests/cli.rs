//! `usersctl` as an operator runs it, against the emulator the test command starts.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use shared::auth::SigningKeys;
use shared::config::TableNames;
use shared::store::apps::DynamoApps;

/// Runs usersctl on tables named by `prefix`, feeding `stdin`.
fn usersctl(prefix: &str, args: &[&str], stdin: &str) -> Output {
    let tables = TableNames::with_prefix(prefix);
    let mut child = Command::new(env!("CARGO_BIN_EXE_usersctl"))
        .args(args)
        .env("USERS_TABLE", &tables.users)
        .env("LOGS_TABLE", &tables.logs)
        .env("APPS_TABLE", &tables.apps)
        .env("HOOKS_TABLE", &tables.hooks)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("usersctl runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "usersctl failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn field(text: &str, name: &str) -> String {
    text.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).expect(name).to_string()
}

#[tokio::test]
async fn apps_are_created_listed_rotated_disabled_and_enabled() {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("run through scripts/test");
    let prefix = format!("cli{}", shared::domain::id::random_id(8));
    assert!(stdout(&usersctl(&prefix, &["setup"], "")).contains("created"));
    assert!(stdout(&usersctl(&prefix, &["setup"], "")).contains("exists"), "setup is idempotent");

    let created = stdout(&usersctl(&prefix, &["apps", "create", "ops", "users:read", "logs:read"], ""));
    let (client_id, secret) = (field(&created, "client_id"), field(&created, "client_secret"));
    assert_eq!(field(&created, "scopes"), "users:read logs:read");
    let listed = stdout(&usersctl(&prefix, &["apps", "list"], ""));
    assert!(
        listed.contains(&client_id) && listed.contains("enabled") && !listed.contains(&secret),
        "{listed}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&usersctl(&prefix, &["apps", "list", "--json"], ""))).unwrap();
    assert_eq!(listed[0]["clientId"], client_id.as_str());
    assert_eq!(listed[0]["scopes"], serde_json::json!(["users:read", "logs:read"]));
    assert_eq!(listed[0]["enabled"], true);
    assert!(!listed.to_string().contains(&secret), "no secret in the JSON either");

    let rotated =
        field(&stdout(&usersctl(&prefix, &["apps", "rotate-secret", &client_id], "")), "client_secret");
    assert_ne!(rotated, secret);
    let store = DynamoApps::new(
        shared::aws::Aws::tools_default().await.dynamodb(),
        TableNames::with_prefix(&prefix).apps,
    );
    let app = store.get(&client_id).await.unwrap().unwrap();
    assert!(app.secret_matches(&rotated) && !app.secret_matches(&secret), "the old secret stops working");

    stdout(&usersctl(&prefix, &["apps", "disable", &client_id], ""));
    assert!(!store.get(&client_id).await.unwrap().unwrap().enabled);
    assert!(stdout(&usersctl(&prefix, &["apps", "list"], "")).contains("disabled"));
    stdout(&usersctl(&prefix, &["apps", "enable", &client_id], ""));
    assert!(store.get(&client_id).await.unwrap().unwrap().enabled);

    let unknown_scope = usersctl(&prefix, &["apps", "create", "x", "root"], "");
    assert!(!unknown_scope.status.success());
    assert_eq!(usersctl(&prefix, &["nonsense"], "").status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn a_key_set_is_generated_and_its_public_half_printed() {
    let generated = stdout(&usersctl("unused", &["keys", "generate"], ""));
    let set = SigningKeys::parse(&generated).unwrap();
    let jwks: serde_json::Value =
        serde_json::from_str(&stdout(&usersctl("unused", &["keys", "jwks"], &generated))).unwrap();
    assert_eq!(jwks, set.jwks());
    assert!(jwks["keys"][0].get("d").is_none() && !jwks.to_string().contains("seed"), "public only");
    // The rotation works on a deployed stack (tests/rotation.rs); without one it says so.
    let output = usersctl("unused", &["keys", "stage"], "");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--stack-name"));
}

#[test]
fn help_version_and_usage_errors_name_what_is_wrong() {
    let help = stdout(&usersctl("unused", &["--help"], ""));
    for command in ["setup", "check", "apps", "keys", "--stack-name", "--region", "--profile"] {
        assert!(help.contains(command), "--help lists {command}: {help}");
    }
    let apps_help = stdout(&usersctl("unused", &["apps", "--help"], ""));
    for command in ["create", "list", "rotate-secret", "disable", "enable"] {
        assert!(apps_help.contains(command), "{apps_help}");
    }
    assert!(stdout(&usersctl("unused", &["apps", "create", "--help"], "")).contains("<NAME>"));
    assert!(stdout(&usersctl("unused", &["--version"], "")).starts_with("usersctl "));
    for (args, named) in [
        (&["--bogus"][..], "--bogus"),
        (&["apps", "create"][..], "<NAME>"),
        (&["apps", "create", "x", "root"][..], "root"),
        (&["check", "--fix"][..], "--fix"),
    ] {
        let output = usersctl("unused", args, "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} names {named}: {stderr}");
    }
}

#[tokio::test]
async fn table_names_come_from_the_stack_outputs() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("run through scripts/test");
    let prefix = format!("stk{}", shared::domain::id::random_id(8));
    let stack = format!("{prefix}-stack");
    let tables = TableNames::with_prefix(&prefix);
    // A stack with the outputs template.yaml declares, on the emulator's CloudFormation.
    let template = format!(
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\nOutputs:\n  UsersTableName:\n    Value: {}\n  \
         LogsTableName:\n    Value: {}\n  AppsTableName:\n    Value: {}\n  HooksTableName:\n    Value: {}\n",
        tables.users, tables.logs, tables.apps, tables.hooks
    );
    let aws = shared::aws::Aws::tools(patient()).await;
    let cloudformation = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(aws.sdk()).endpoint_url(&endpoint).build(),
    );
    cloudformation.create_stack().stack_name(&stack).template_body(template).send().await.unwrap();

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_usersctl"))
            .args(["--stack-name", &stack, "--region", "us-east-1"])
            .args(args)
            .env_remove("USERS_TABLE")
            .env_remove("LOGS_TABLE")
            .env_remove("APPS_TABLE")
            .env_remove("HOOKS_TABLE")
            .env("AWS_ENDPOINT_URL_CLOUDFORMATION", &endpoint)
            .output()
            .unwrap()
    };
    assert!(stdout(&run(&["setup"])).contains(&format!("{}: created", tables.apps)));
    let client_id = field(&stdout(&run(&["apps", "create", "from-stack"])), "client_id");
    let store = DynamoApps::new(shared::aws::Aws::tools_default().await.dynamodb(), tables.apps.clone());
    assert!(store.get(&client_id).await.unwrap().is_some(), "the app is in the stack's table");
    let missing = run(&["--stack-name", "no-such-stack", "apps", "list"]);
    assert!(!missing.status.success());
}

fn patient() -> shared::aws::ToolOptions {
    shared::aws::ToolOptions { timeouts: shared::aws::Timeouts::patient(), ..Default::default() }
}
