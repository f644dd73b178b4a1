//! Memory: each function's peak resident set (VmHWM) under a bounded load from `wrk` on
//! loopback, through a front door that turns HTTP requests into API Gateway events for the
//! function's Runtime API (one event at a time per process, as in Lambda).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming};
use serde_json::json;
use std::sync::Arc;
use tokio::net::TcpListener;

use crate::lambda::{self, Function};
use crate::report::{Budget, Section, table};
use crate::setup::{Fixture, Setup};

/// Serves `function` over HTTP on a free loopback port; returns the port.
async fn front_door(function: Arc<Function>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(lambda::serve_http(listener, function, forward));
    port
}

async fn forward(
    request: Request<Incoming>,
    function: Arc<Function>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = request.method().to_string();
    let path = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = request.into_body().collect().await?.to_bytes();
    let body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
    let header_refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let answer = function.invoke(lambda::event_with(&method, &path, &header_refs, body)).await.body;
    let mut response =
        Response::new(Full::new(Bytes::from(answer["body"].as_str().unwrap_or_default().to_string())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(lambda::status(&answer)).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    Ok(response)
}

/// A wrk script sending one request shape.
fn wrk_script(method: &str, headers: &[(&str, String)], body: Option<&str>) -> String {
    let mut lua = format!("wrk.method = \"{method}\"\n");
    for (name, value) in headers {
        lua.push_str(&format!("wrk.headers[\"{name}\"] = \"{value}\"\n"));
    }
    if let Some(body) = body {
        lua.push_str(&format!("wrk.body = {}\n", serde_json::to_string(body).unwrap()));
    }
    lua
}

struct Load {
    function: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
}

/// The template's default memory for the passwords function, in MB.
fn passwords_memory_mb() -> u64 {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap_or_default();
    let after = template.split("PasswordsMemorySize:").nth(1).unwrap_or_default();
    after
        .lines()
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

pub async fn measure(setup: &Setup, fixture: &Fixture) -> Section {
    let seconds = if setup.quick { 5 } else { 20 };
    let connections = 8;
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", fixture.app_id, fixture.app_secret));
    let bearer = setup.authorization.clone();
    let json_type = ("Content-Type", "application/json".to_string());
    let loads = [
        Load {
            function: "users",
            method: "GET",
            path: format!("/api/users/{}", fixture.user_id),
            headers: vec![("Authorization", bearer.clone())],
            body: None,
        },
        Load {
            function: "passwords",
            method: "POST",
            path: format!("/api/users/{}/password/verify", fixture.user_id),
            headers: vec![("Authorization", bearer.clone()), json_type.clone()],
            body: Some(json!({ "password": fixture.password }).to_string()),
        },
        Load {
            function: "logs",
            method: "GET",
            path: "/api/logs?page_size=20".into(),
            headers: vec![("Authorization", bearer.clone())],
            body: None,
        },
        Load {
            function: "oidc",
            method: "POST",
            path: "/oidc/token".into(),
            headers: vec![
                ("Authorization", format!("Basic {basic}")),
                ("Content-Type", "application/x-www-form-urlencoded".into()),
            ],
            body: Some(format!(
                "grant_type=client_credentials&resource={}&scope=all",
                setup.config.auth.api_indicator
            )),
        },
        Load {
            function: "docs",
            method: "GET",
            path: "/api/swagger.json".into(),
            headers: vec![],
            body: None,
        },
    ];
    let passwords_mb = passwords_memory_mb();
    let (mut rows, mut results, mut budgets) = (Vec::new(), Vec::new(), Vec::new());
    for load in &loads {
        let function = Arc::new(
            Function::start(&Setup::binary(load.function), &setup.function_env(load.function)).await,
        );
        let port = front_door(function.clone()).await;
        let script = std::env::temp_dir().join(format!("bench-{}-{}.lua", load.function, std::process::id()));
        std::fs::write(&script, wrk_script(load.method, &load.headers, load.body.as_deref())).unwrap();
        let output = tokio::process::Command::new("wrk")
            .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "-s"])
            .arg(&script)
            .arg(format!("http://127.0.0.1:{port}{}", load.path))
            .output()
            .await;
        let _ = std::fs::remove_file(&script);
        let text = match output {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
            Ok(out) => format!("wrk failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => format!("wrk not run: {e}"),
        };
        let rps: f64 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN);
        let errors = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
            .map(|v| v.trim().to_string())
            .unwrap_or("0".into());
        let peak_kib = function.peak_rss_kib();
        let peak_mb = peak_kib as f64 / 1024.0;
        if rps.is_nan() {
            println!("memory {}: {text}", load.function);
        }
        println!(
            "memory {}: peak RSS {:.1} MiB at {:.0} requests/s ({} non-2xx)",
            load.function, peak_mb, rps, errors
        );
        let limit_mb = if load.function == "passwords" { passwords_mb } else { 128 };
        rows.push(vec![
            format!("`{}`", load.function),
            format!("{} {}", load.method, load.path.split('?').next().unwrap_or_default()),
            format!("{rps:.0}"),
            errors.clone(),
            format!("{peak_mb:.1}"),
            limit_mb.to_string(),
        ]);
        results.push(json!({ "function": load.function, "requests_per_second": rps, "non_2xx": errors, "peak_rss_kib": peak_kib, "limit_mb": limit_mb }));
        budgets.push(Budget::new(
            format!("peak RSS `{}` fits {limit_mb} MB", load.function),
            format!("{limit_mb} MB"),
            format!("{peak_mb:.1} MiB"),
            !rps.is_nan() && peak_kib > 0 && peak_mb < limit_mb as f64,
        ));
        function.kill();
    }
    let markdown = format!(
        "`wrk -t1 -c{connections} -d{seconds}s` on loopback against a front door that hands each request \
         to the release binary as an API Gateway event through the local Runtime API (one at a \
         time, as Lambda does). Peak RSS is the process's `VmHWM` after the run. Limits: 128 MB, \
         the smallest Lambda, for all but `passwords`, whose memory the template states \
         (`PasswordsMemorySize`, default {passwords_mb} MB, sized for CPU: Lambda's CPU share grows \
         with memory).\n\n{}",
        table(&["function", "request", "requests/s", "non-2xx", "peak RSS MiB", "limit MB"], &rows)
    );
    Section { key: "memory", title: "Memory under load", json: json!(results), markdown, budgets }
}
