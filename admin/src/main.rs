//! `usersctl`: operator commands against whatever DynamoDB endpoint the environment names
//! (AWS, or moto through `AWS_ENDPOINT_URL_DYNAMODB`).
//!
//!   usersctl setup     create the tables and indexes the functions expect (idempotent)

use std::process::ExitCode;

const USAGE: &str = "usage: usersctl setup";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match shared::Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration: {err}");
            return ExitCode::FAILURE;
        }
    };
    let client = shared::store::client_from_env().await;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["setup"] => match shared::store::schema::ensure_tables(&client, &config.tables).await {
            Ok(created) => {
                for (_, name) in shared::store::schema::tables(&config.tables) {
                    let state = if created.iter().any(|c| c == name) {
                        "created"
                    } else {
                        "exists"
                    };
                    println!("{name}: {state}");
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("setup failed: {err}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
