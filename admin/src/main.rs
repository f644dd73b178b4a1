//! `usersctl`: operator commands against whatever DynamoDB endpoint the environment names
//! (AWS, or moto through `AWS_ENDPOINT_URL_DYNAMODB`). Run without arguments for usage.

use std::io::Read;
use std::process::ExitCode;

use shared::auth::{Scope, SigningKeys};
use shared::store::apps::{DynamoApps, M2mApp, hash_secret, new_secret};

const USAGE: &str = "\
usage:
  usersctl setup                                 create the tables and indexes (idempotent)
  usersctl check                                 scan the tables; report and fail on any broken
                                                 invariant (guards, counter, change logs)
  usersctl check --repair                        first make every user hold exactly the guards its
                                                 values call for (after a configuration change) and
                                                 remove orphan guards; then check
  usersctl apps create NAME [SCOPE...]           a machine-to-machine app (default scope: all);
                                                 prints its client id and secret, once
  usersctl apps list                             every app, without secrets
  usersctl apps rotate-secret CLIENT_ID          a new secret (the old one stops working)
  usersctl apps disable CLIENT_ID                the app can no longer get tokens
  usersctl apps enable CLIENT_ID
  usersctl keys generate                         a new private signing-key set (JSON) on stdout
  usersctl keys rotate < keys.json               the set with a new signing key in front
  usersctl keys retire KID < keys.json           the set without KID
  usersctl keys jwks < keys.json                 the public JWKS of a set (for AUTH_JWKS)

scopes: all, users:read, users:write, passwords:write, logs:read";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage) => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Message(message)) => {
            eprintln!("usersctl: {message}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage,
    Message(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(err: E) -> Self {
        Failure::Message(err.to_string())
    }
}

async fn run(args: &[&str]) -> Result<(), Failure> {
    match args {
        ["keys", rest @ ..] => keys(rest),
        ["setup"] => {
            let (config, client) = connect().await?;
            let created = shared::store::schema::ensure_tables(&client, &config.tables).await?;
            for (_, name) in shared::store::schema::tables(&config.tables) {
                let state = if created.iter().any(|c| c == name) { "created" } else { "exists" };
                println!("{name}: {state}");
            }
            Ok(())
        }
        ["check", rest @ ..] if matches!(rest, [] | ["--repair"]) => {
            let (config, client) = connect().await?;
            if rest == ["--repair"] {
                for repaired in shared::store::check::repair(&client, &config).await? {
                    println!("REPAIRED: {repaired}");
                }
            }
            let report = shared::store::check::check(&client, &config).await?;
            println!("{} users, {} guards, {} log entries", report.users, report.guards, report.logs);
            for problem in &report.problems {
                println!("BROKEN: {problem}");
            }
            match report.problems.len() {
                0 => Ok(()),
                n => Err(Failure::Message(format!("{n} broken invariants"))),
            }
        }
        ["apps", rest @ ..] => {
            let (config, client) = connect().await?;
            apps(&DynamoApps::new(client, &config.tables.apps), rest).await
        }
        _ => Err(Failure::Usage),
    }
}

async fn connect() -> Result<(shared::Config, aws_sdk_dynamodb::Client), Failure> {
    let config = shared::Config::from_env()?;
    Ok((config, shared::store::client_from_env().await))
}

async fn apps(store: &DynamoApps, args: &[&str]) -> Result<(), Failure> {
    match args {
        ["create", name, scopes @ ..] => {
            let scopes: Vec<String> = if scopes.is_empty() {
                vec!["all".into()]
            } else {
                scopes.iter().map(|s| s.to_string()).collect()
            };
            if let Some(bad) = scopes.iter().find(|s| Scope::parse(s).is_none()) {
                return Err(Failure::Message(format!("unknown scope `{bad}`")));
            }
            let (app, secret) = M2mApp::create(name, scopes);
            store.insert(&app).await?;
            println!("client_id={}", app.client_id);
            println!("client_secret={secret}");
            println!("scopes={}", app.scopes.join(" "));
            eprintln!("(the secret is shown once; keep it now)");
            Ok(())
        }
        ["list"] => {
            for app in store.list().await? {
                let state = if app.enabled { "enabled" } else { "disabled" };
                println!("{}\t{}\t{}\t{}", app.client_id, app.name, app.scopes.join(" "), state);
            }
            Ok(())
        }
        ["rotate-secret", client_id] => {
            let mut app = find(store, client_id).await?;
            let secret = new_secret();
            app.secret_hash = hash_secret(&secret);
            store.replace(&app).await?;
            println!("client_secret={secret}");
            Ok(())
        }
        [action @ ("disable" | "enable"), client_id] => {
            let mut app = find(store, client_id).await?;
            app.enabled = *action == "enable";
            store.replace(&app).await?;
            println!("{client_id}: {action}d");
            Ok(())
        }
        _ => Err(Failure::Usage),
    }
}

async fn find(store: &DynamoApps, client_id: &str) -> Result<M2mApp, Failure> {
    store.get(client_id).await?.ok_or_else(|| Failure::Message(format!("no app {client_id}")))
}

fn keys(args: &[&str]) -> Result<(), Failure> {
    let stdin_set = || -> Result<SigningKeys, Failure> {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(SigningKeys::parse(&text)?)
    };
    let out = match args {
        ["generate"] => SigningKeys::generate().to_json(),
        ["rotate"] => stdin_set()?.rotated().to_json(),
        ["retire", kid] => stdin_set()?.retired(kid)?.to_json(),
        ["jwks"] => stdin_set()?.jwks().to_string(),
        _ => return Err(Failure::Usage),
    };
    println!("{out}");
    Ok(())
}
