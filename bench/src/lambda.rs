//! A local Lambda: the Runtime API a function binary polls (what AWS serves it inside the
//! sandbox), a function process attached to it, and API Gateway v2 events.
//!
//! Written here rather than borrowed from `cargo lambda watch`, which compiles and restarts
//! functions on its own schedule: a cold start must be timed from our own `spawn`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// One answered invocation.
pub struct Answer {
    pub body: Value,
    /// From the moment the function received the event to the moment its answer arrived.
    pub latency: Duration,
    pub answered_at: Instant,
}

struct Pending {
    event: Bytes,
    reply: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct State {
    queue: tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<Pending>>>,
    in_flight: Mutex<HashMap<String, (Instant, oneshot::Sender<Answer>)>>,
    first_poll: Mutex<Option<Instant>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// A running function: its process and the Runtime API it polls.
pub struct Function {
    child: Mutex<Child>,
    sender: mpsc::UnboundedSender<Pending>,
    state: Arc<State>,
    pub spawned_at: Instant,
}

impl Function {
    /// Serves a Runtime API on a free loopback port, then starts `binary` against it with
    /// the environment Lambda gives a function plus `env`.
    pub async fn start(binary: &Path, env: &[(String, String)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("a bound address");
        let (sender, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(State { queue: tokio::sync::Mutex::new(Some(receiver)), ..State::default() });
        tokio::spawn(serve_http(listener, state.clone(), runtime_api));
        let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function");
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Self { child: Mutex::new(child), sender, state, spawned_at }
    }

    /// Hands the function one event and waits for its answer.
    pub async fn invoke(&self, event: Bytes) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.sender.send(Pending { event, reply }).expect("the runtime API is serving");
        tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .expect("the function answers within 30 s")
            .expect("the function answers")
    }

    /// When the function first asked for an event: the end of its init phase.
    pub fn first_poll(&self) -> Option<Instant> {
        *self.state.first_poll.lock().unwrap()
    }

    /// The process's peak resident set (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.lock().unwrap().id().expect("the function is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Kills the process without waiting for it (also done when the `Function` is dropped).
    pub fn kill(&self) {
        let _ = self.child.lock().unwrap().start_kill();
    }

    /// Kills the process and waits until it is gone.
    pub async fn stop(self) {
        let mut child = self.child.into_inner().unwrap();
        let _ = child.kill().await;
    }
}

/// Serves HTTP/1.1 on `listener` until the process ends, each request to `handle` with a
/// clone of `state`.
pub async fn serve_http<S, F, Fut>(listener: TcpListener, state: S, handle: F)
where
    S: Clone + Send + Sync + 'static,
    F: Fn(Request<Incoming>, S) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, hyper::Error>> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, state.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn runtime_api(
    request: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = request.uri().path().to_string();
    let invocation = path.strip_prefix("/2018-06-01/runtime/invocation/");
    match (request.method(), invocation) {
        (&Method::GET, Some("next")) => {
            state.first_poll.lock().unwrap().get_or_insert_with(Instant::now);
            // One function process takes one event at a time; a closed queue ends it.
            let mut queue = state.queue.lock().await;
            let Some(pending) = queue.as_mut().expect("one poller").recv().await else {
                return Ok(reply(StatusCode::GONE, Bytes::new()));
            };
            let id = format!("bench-{}", state.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            state.in_flight.lock().unwrap().insert(id.clone(), (Instant::now(), pending.reply));
            let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
            let deadline_ms = deadline.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
            let mut response = reply(StatusCode::OK, pending.event);
            let headers = response.headers_mut();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert("lambda-runtime-deadline-ms", deadline_ms.to_string().parse().unwrap());
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench".parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".parse().unwrap(),
            );
            Ok(response)
        }
        (&Method::POST, Some(rest)) => {
            let (id, outcome) = rest.split_once('/').unwrap_or((rest, ""));
            let (id, outcome) = (id.to_string(), outcome.to_string());
            let body = request.into_body().collect().await?.to_bytes();
            let answered_at = Instant::now();
            if let Some((handed_at, reply_to)) = state.in_flight.lock().unwrap().remove(&id) {
                let body = if outcome == "response" {
                    serde_json::from_slice(&body).unwrap_or(Value::Null)
                } else {
                    json!({ "runtimeError": String::from_utf8_lossy(&body) })
                };
                let _ = reply_to.send(Answer { body, latency: answered_at - handed_at, answered_at });
            }
            Ok(reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}")))
        }
        _ => {
            // `/runtime/init/error`: the function could not start.
            let body = request.into_body().collect().await?.to_bytes();
            eprintln!("runtime API: {path}: {}", String::from_utf8_lossy(&body));
            Ok(reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}")))
        }
    }
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

/// An API Gateway HTTP API (payload 2.0) event with a JSON body, as AWS sends it.
pub fn event(method: &str, path_and_query: &str, authorization: Option<&str>, body: Option<&Value>) -> Bytes {
    let mut headers = vec![("accept", "application/json")];
    headers.extend(authorization.map(|a| ("authorization", a)));
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    event_with(method, path_and_query, &headers, body.map(Value::to_string))
}

/// An API Gateway HTTP API (payload 2.0) event with these headers and body.
pub fn event_with(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Bytes {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut all = json!({ "host": "api.example.com", "user-agent": "bench", "x-forwarded-proto": "https" });
    for (name, value) in headers {
        all[name.to_ascii_lowercase()] = json!(value);
    }
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:14:00:00 +0000",
            "timeEpoch": 1795788000000u64,
        },
        "isBase64Encoded": false,
        "body": body,
    });
    Bytes::from(serde_json::to_vec(&event).expect("JSON"))
}

/// The status code of a function's answer.
pub fn status(answer: &Value) -> u16 {
    answer["statusCode"].as_u64().unwrap_or(0) as u16
}
