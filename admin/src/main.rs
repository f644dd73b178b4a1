//! `usersctl`: operator commands against a deployment's tables — on AWS (a region, a profile,
//! the table names from the CloudFormation stack's outputs) or on any DynamoDB-compatible
//! endpoint such as the local emulator. `usersctl --help` lists the commands.

use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::process::ExitCode;

use admin::rotation;
use shared::auth::{Scope, SigningKeys};
use shared::aws::{Aws, Timeouts, ToolOptions};
use shared::config::TableNames;
use shared::domain::app::{M2mApp, hash_secret, new_secret};
use shared::store::apps::DynamoApps;

#[derive(Parser)]
#[command(
    name = "usersctl",
    version,
    about = "Operate a deployment of the users API: its tables, machine-to-machine apps and signing keys.",
    after_help = "Without --stack-name, the table names come from USERS_TABLE, LOGS_TABLE, APPS_TABLE and HOOKS_TABLE \
                  (default users-api-users, users-api-logs, users-api-apps, users-api-hooks)."
)]
struct Cli {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: Command,
}

/// Where the tables are.
#[derive(Args)]
struct Target {
    /// AWS region (default: the SDK's, from AWS_REGION or the profile).
    #[arg(long, global = true)]
    region: Option<String>,
    /// A named profile of ~/.aws/config.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// A deployed stack of template.yaml: the table names are read from its outputs.
    #[arg(long, global = true)]
    stack_name: Option<String>,
    /// A DynamoDB endpoint other than AWS's (also: AWS_ENDPOINT_URL_DYNAMODB).
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
}

impl Target {
    /// The SDK set-up for this region and profile, patient as a person's command may be.
    async fn aws(&self) -> Aws {
        let options = ToolOptions {
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint: None,
            timeouts: Timeouts::patient(),
        };
        Aws::tools(options).await
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create the tables and indexes (idempotent).
    Setup,
    /// Bring tables written by an earlier release to this one's shape: new indexes, write
    /// shards on every user and log entry, the sharded user counter, old indexes removed.
    /// Safe beside live traffic; run it again to resume an interrupted run. With
    /// --stack-name, indexes are left to the stack's template (it checks the new ones exist).
    Migrate,
    /// Scan the tables; report, and fail on, any broken invariant (guards, counter, change logs).
    Check {
        /// First make every user hold exactly the guards its values call for (after a
        /// configuration change) and remove orphan guards; then check.
        #[arg(long)]
        repair: bool,
    },
    /// Machine-to-machine apps: the clients that get tokens.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Signing keys: a first set, its public half, and the two-phase rotation of a deployed stack.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum AppsCommand {
    /// Create an app; prints its client id and secret (the secret only this once).
    Create {
        name: String,
        /// Scopes it may ask for: all, users:read, users:write, passwords:write, logs:read.
        #[arg(default_value = "all", value_parser = scope)]
        scopes: Vec<String>,
    },
    /// Every app, without secrets.
    List {
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// A new secret; the old one stops working.
    RotateSecret { client_id: String },
    /// The app can no longer get tokens.
    Disable { client_id: String },
    /// The app can get tokens again.
    Enable { client_id: String },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// A new private signing-key set, as JSON on stdout (no AWS access).
    Generate,
    /// The public JWKS of the set on stdin (no AWS access).
    Jwks,
    /// Rotation, step 1 of 3: a next key joins the stack's secret, signing nothing; prints
    /// the AuthJwks to deploy. Needs --stack-name.
    Stage,
    /// Rotation, step 2 of 3: once the deployed AuthJwks lists the next key, it becomes the
    /// signing key; prints the SigningKeyId to deploy. Needs --stack-name.
    Activate,
    /// Rotation, step 3 of 3: a token's lifetime after SigningKeyId is deployed, only the
    /// signing key remains; prints the AuthJwks to deploy. Needs --stack-name.
    Retire,
}

fn scope(value: &str) -> Result<String, String> {
    match Scope::parse(value) {
        Some(_) => Ok(value.to_string()),
        None => Err(format!("unknown scope; one of {}", Scope::EVERY.map(Scope::name).join(", "))),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Usage errors (unknown or missing arguments, named in the message) exit 2, from clap.
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("usersctl: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Keys(command) => keys(&cli.target, command).await,
        Command::Setup => {
            let (config, client) = connect(&cli.target).await?;
            let created =
                shared::store::schema::ensure_tables(&client, &config.tables).await.map_err(text)?;
            for (_, name) in shared::store::schema::tables(&config.tables) {
                let state = if created.iter().any(|c| c == name) { "created" } else { "exists" };
                println!("{name}: {state}");
            }
            for index in created.iter().filter(|c| c.contains(" index ")) {
                println!("{index}: created");
            }
            for (table, index) in
                shared::store::schema::obsolete_indexes(&client, &config.tables).await.map_err(text)?
            {
                println!("{table} index {index}: no longer read; `usersctl migrate` removes it");
            }
            Ok(())
        }
        Command::Migrate => {
            let (config, client) = connect(&cli.target).await?;
            // A stack's template owns its indexes; tables `usersctl setup` made are ours to change.
            let indexes = if cli.target.stack_name.is_some() {
                shared::store::migrate::Indexes::LeaveToTemplate
            } else {
                shared::store::migrate::Indexes::Manage
            };
            for step in shared::store::migrate::migrate(&client, &config, indexes).await.map_err(text)? {
                println!("{step}");
            }
            Ok(())
        }
        Command::Check { repair } => {
            let (config, client) = connect(&cli.target).await?;
            if repair {
                for repaired in shared::store::check::repair(&client, &config).await.map_err(text)? {
                    println!("REPAIRED: {repaired}");
                }
            }
            let report = shared::store::check::check(&client, &config).await.map_err(text)?;
            println!("{} users, {} guards, {} log entries", report.users, report.guards, report.logs);
            for problem in &report.problems {
                println!("BROKEN: {problem}");
            }
            match report.problems.len() {
                0 => Ok(()),
                n => Err(format!("{n} broken invariants")),
            }
        }
        Command::Apps(command) => {
            let (config, client) = connect(&cli.target).await?;
            apps(&DynamoApps::new(client, &config.tables.apps), command).await
        }
    }
}

fn text(err: impl std::fmt::Display) -> String {
    err.to_string()
}

/// The configuration (table names from the stack when one is named) and a DynamoDB client.
async fn connect(target: &Target) -> Result<(shared::Config, aws_sdk_dynamodb::Client), String> {
    let aws = target.aws().await;
    let mut config = shared::Config::from_env()?;
    if let Some(stack) = &target.stack_name {
        config.tables = stack_tables(aws.sdk(), stack).await?;
    }
    let dynamodb = match &target.endpoint_url {
        Some(url) => aws.dynamodb_at(url),
        None => aws.dynamodb(),
    };
    Ok((config, dynamodb))
}

/// The table names a deployed stack of template.yaml reports in its outputs.
async fn stack_tables(sdk: &aws_config::SdkConfig, stack: &str) -> Result<TableNames, String> {
    let described = aws_sdk_cloudformation::Client::new(sdk)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            format!("reading the stack {stack}: {}", aws_sdk_cloudformation::error::DisplayErrorContext(e))
        })?;
    let outputs = described.stacks().first().map(|s| s.outputs()).unwrap_or_default();
    let output = |key: &str| {
        outputs
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .map(str::to_string)
            .ok_or(format!("the stack {stack} has no output {key}"))
    };
    Ok(TableNames {
        users: output("UsersTableName")?,
        logs: output("LogsTableName")?,
        apps: output("AppsTableName")?,
        hooks: output("HooksTableName")?,
    })
}

async fn apps(store: &DynamoApps, command: AppsCommand) -> Result<(), String> {
    match command {
        AppsCommand::Create { name, scopes } => {
            let (app, secret) = M2mApp::create(&name, scopes);
            store.insert(&app).await.map_err(text)?;
            println!("client_id={}", app.client_id);
            println!("client_secret={secret}");
            println!("scopes={}", app.scopes.join(" "));
            eprintln!("(the secret is shown once; keep it now)");
        }
        AppsCommand::List { json } => {
            let apps = store.list().await.map_err(text)?;
            if json {
                let apps: Vec<serde_json::Value> = apps
                    .iter()
                    .map(|app| {
                        serde_json::json!({
                            "clientId": app.client_id,
                            "name": app.name,
                            "scopes": app.scopes,
                            "enabled": app.enabled,
                            "createdAt": app.created_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(apps));
            } else {
                for app in apps {
                    let state = if app.enabled { "enabled" } else { "disabled" };
                    println!("{}\t{}\t{}\t{}", app.client_id, app.name, app.scopes.join(" "), state);
                }
            }
        }
        AppsCommand::RotateSecret { client_id } => {
            let mut app = find(store, &client_id).await?;
            let secret = new_secret();
            app.secret_hash = hash_secret(&secret);
            store.replace(&app).await.map_err(text)?;
            println!("client_secret={secret}");
        }
        AppsCommand::Disable { client_id } => set_enabled(store, &client_id, false).await?,
        AppsCommand::Enable { client_id } => set_enabled(store, &client_id, true).await?,
    }
    Ok(())
}

async fn set_enabled(store: &DynamoApps, client_id: &str, enabled: bool) -> Result<(), String> {
    let mut app = find(store, client_id).await?;
    app.enabled = enabled;
    store.replace(&app).await.map_err(text)?;
    println!("{client_id}: {}", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

async fn find(store: &DynamoApps, client_id: &str) -> Result<M2mApp, String> {
    store.get(client_id).await.map_err(text)?.ok_or_else(|| format!("no app {client_id}"))
}

async fn keys(target: &Target, command: KeysCommand) -> Result<(), String> {
    let phase = match command {
        KeysCommand::Generate => {
            println!("{}", SigningKeys::generate().to_json());
            return Ok(());
        }
        KeysCommand::Jwks => {
            let mut json = String::new();
            std::io::stdin().read_to_string(&mut json).map_err(text)?;
            println!("{}", SigningKeys::parse(&json)?.jwks());
            return Ok(());
        }
        KeysCommand::Stage => rotation::Command::Stage,
        KeysCommand::Activate => rotation::Command::Activate,
        KeysCommand::Retire => rotation::Command::Retire,
    };
    let stack =
        target.stack_name.as_deref().ok_or("the rotation works on a deployed stack: give --stack-name")?;
    let aws = target.aws().await;
    let step = rotation::Aws::new(aws.sdk()).run(stack, phase, std::time::SystemTime::now()).await?;
    eprintln!("{}", step.summary);
    let (parameter, value) = &step.parameter;
    eprintln!("  sam deploy --stack-name {stack} --parameter-overrides {parameter}=\"${parameter}\"");
    println!("{parameter}={value}");
    Ok(())
}
