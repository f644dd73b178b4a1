//! Through the real Lambda runtime loop, at the most verbose level an operator can set: the
//! runtime traces every raw event (bearer token, password), the SDK traces every request
//! (password digests in user items); none of it may reach a log line. The function's
//! subscriber (`shared::api::logging`) keeps everything but our own code at INFO or above.
//! The access line the loop writes for the request carries the runtime's ids and no secret.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use integration_tests::{Capture, Env};

/// A Lambda Runtime API on loopback that hands out `event` once and reports the function's
/// answer on the channel (later polls wait, as Lambda's do between invocations).
async fn runtime_api(event: Bytes, answers: mpsc::UnboundedSender<Bytes>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let event = Arc::new(Mutex::new(Some(event)));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (event, answers) = (event.clone(), answers.clone());
            let service = service_fn(move |request: Request<Incoming>| {
                let (event, answers) = (event.clone(), answers.clone());
                async move {
                    let path = request.uri().path().to_string();
                    if path.ends_with("/invocation/next") {
                        let next = event.lock().unwrap().take();
                        let Some(next) = next else {
                            std::future::pending::<()>().await;
                            unreachable!()
                        };
                        let deadline = shared::domain::now_ms() + 30_000;
                        let response = Response::builder()
                            .header("lambda-runtime-aws-request-id", "req-1")
                            .header("lambda-runtime-trace-id", "Root=1-6749f0a0-0123456789abcdef01234567")
                            .header("lambda-runtime-deadline-ms", deadline.to_string())
                            .header(
                                "lambda-runtime-invoked-function-arn",
                                "arn:aws:lambda:us-east-1:1:function:f",
                            )
                            .body(Full::new(next))
                            .unwrap();
                        return Ok::<_, hyper::Error>(response);
                    }
                    let body = request.into_body().collect().await?.to_bytes();
                    let _ = answers.send(body);
                    Ok(Response::builder().status(202).body(Full::new(Bytes::from_static(b"{}"))).unwrap())
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_through_the_runtime_at_trace() {
    // SAFETY: this test binary runs this one test; nothing else touches the environment.
    unsafe {
        std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "TRACE");
        std::env::set_var("RUST_LOG", "trace");
        std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    }
    let capture = Capture::default();
    let writer = capture.clone();
    tracing::subscriber::set_global_default(shared::api::logging::subscriber(move || writer.clone()))
        .unwrap();

    let env = Env::new().await;
    let password = "Traced-Passw0rd-4d2e";
    let user = env.create_user(json!({"username": "traced", "password": password})).await;
    let id = user["id"].as_str().unwrap();
    let token = env.admin_authorization.clone();
    let mut event: Value = serde_json::from_str(include_str!("../events/verify-password.json")).unwrap();
    let path = format!("/api/users/{id}/password/verify");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"]["userId"] = json!(id);
    event["headers"]["authorization"] = json!(token);
    event["body"] = json!(json!({"password": password}).to_string());

    let (answers, mut answered) = mpsc::unbounded_channel();
    let address = runtime_api(Bytes::from(event.to_string()), answers).await;
    // SAFETY: as above; the runtime reads these once, when it starts below.
    unsafe {
        std::env::set_var("AWS_LAMBDA_RUNTIME_API", &address);
        std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "passwords");
        std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024");
        std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
        std::env::set_var("AWS_LAMBDA_LOG_STREAM_NAME", "test");
        std::env::set_var("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/passwords");
    }
    // The runtime loop never returns: it runs until the answer arrives, then is dropped.
    let access = Capture::default();
    let access_writer = access.clone();
    let write = move |line: &str| access_writer.push_line(line);
    let runtime = shared::api::serve_with(
        "passwords",
        passwords::routes(),
        |r| env.functions.passwords.handle(r),
        write,
    );
    let answer = tokio::select! {
        answer = answered.recv() => answer.unwrap(),
        stopped = runtime => panic!("the runtime stopped: {stopped:?}"),
        _ = tokio::time::sleep(Duration::from_secs(30)) => panic!("no answer within 30 s"),
    };
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["statusCode"], 204, "the verify went through the runtime: {answer}");

    let access_lines = access.text();
    let lines = capture.text() + &access_lines;
    let [line] = access_lines.lines().collect::<Vec<_>>()[..] else {
        panic!("one access line: {access_lines}")
    };
    let line: Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["requestId"], "req-1", "{line}");
    assert_eq!(line["traceId"], "Root=1-6749f0a0-0123456789abcdef01234567", "{line}");
    assert_eq!(
        (line["route"].as_str(), line["status"].as_u64()),
        (Some("/api/users/{userId}/password/verify"), Some(204))
    );
    // Not this process's first request (the user was created through the gateway above).
    assert_eq!((line["PasswordVerified"].as_f64(), line["coldStart"].as_bool()), (Some(1.0), Some(false)));
    let stored = env.get(&format!("/api/users/{id}?includePasswordHash=true")).await;
    let digest = stored.body["passwordDigest"].as_str().unwrap().to_string();
    let bearer = token.trim_start_matches("Bearer ");
    let signature = bearer.rsplit('.').next().unwrap();
    for secret in [password, bearer, signature, &digest] {
        assert!(!lines.contains(secret), "a log line holds a secret ({secret}):\n{lines}");
    }

    // The filter, not silence, is what keeps the lines clean: our code's TRACE lines pass,
    // a dependency's do not.
    tracing::trace!(target: "shared::probe", "own trace line");
    tracing::trace!(target: "lambda_runtime::probe", "dependency trace line");
    tracing::info!(target: "lambda_runtime::probe", "dependency info line");
    let lines = capture.text();
    assert!(lines.contains("own trace line") && lines.contains("dependency info line"), "{lines}");
    assert!(!lines.contains("dependency trace line"), "{lines}");
}
