//! One access line per request, and the request's metrics inside it (docs/operations.md,
//! "Access lines and metrics").
//!
//! While a request runs, the code that learns something about it notes it here: the bearer's
//! client id (`api::authorize`), the error code (`api::error_response`), each DynamoDB call
//! with its retries, throttles and consumed capacity (`store::metering`), the time spent
//! hashing a password (`domain::password`). The notes go to a record that lives in the
//! request's task; outside one (tools, unit tests) noting does nothing. [`crate::api::serve`]
//! writes the record as one line when the request is answered.
//!
//! Under Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`) the line is a JSON object which is also a
//! CloudWatch Embedded Metric Format document: CloudWatch Logs extracts the metrics from the
//! line itself, so metrics cost no extra write, request or log volume. The EMF directive is
//! written here rather than by a metrics crate (`metrics_cloudwatch_embedded` and the
//! `metrics` facade): those emit their own documents, separate from the access line, through
//! a process-global recorder, and would double what each request logs. Locally the line is a
//! short text line for a person's terminal.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

tokio::task_local! {
    static RECORD: RefCell<Record>;
}

/// What the request's code noted while it ran.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    pub caller: Option<String>,
    pub error_code: Option<&'static str>,
    pub dynamodb: DynamoDbUse,
    /// Milliseconds spent hashing or verifying passwords.
    pub hashing_ms: Option<f64>,
}

/// DynamoDB work of one request: operations, attempts (more than one per operation when the
/// SDK retried), throttled attempts, and the capacity units DynamoDB reported (asked for on
/// every call: it costs nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DynamoDbUse {
    pub calls: u32,
    pub attempts: u32,
    pub throttles: u32,
    pub capacity_units: f64,
}

impl DynamoDbUse {
    pub fn retries(&self) -> u32 {
        self.attempts.saturating_sub(self.calls)
    }
}

fn note(change: impl FnOnce(&mut Record)) {
    let _ = RECORD.try_with(|record| change(&mut record.borrow_mut()));
}

/// The client the request came from (a token's client id; the token endpoint's app).
pub fn note_caller(client_id: &str) {
    note(|r| r.caller = Some(client_id.to_string()));
}

/// The error code the request is answered with.
pub fn note_error(code: &'static str) {
    note(|r| r.error_code = Some(code));
}

pub fn note_dynamodb(change: impl FnOnce(&mut DynamoDbUse)) {
    note(|r| change(&mut r.dynamodb));
}

pub fn note_hashing(ms: f64) {
    note(|r| *r.hashing_ms.get_or_insert(0.0) += ms);
}

/// Runs `request` with a record to note into, and returns the record with its output.
pub async fn recorded<T>(request: impl Future<Output = T>) -> (T, Record) {
    RECORD
        .scope(RefCell::new(Record::default()), async {
            let output = request.await;
            (output, RECORD.with(|r| r.take()))
        })
        .await
}

static STARTED: AtomicBool = AtomicBool::new(false);

/// True for the first request of this process (a Lambda instance's cold start).
pub fn first_request() -> bool {
    !STARTED.swap(true, Ordering::Relaxed)
}

/// Everything one access line says.
#[derive(Clone, Debug)]
pub struct AccessLine {
    /// Milliseconds since the Unix epoch, when the request was answered.
    pub timestamp_ms: i64,
    /// The function (`users`, `passwords`, `logs`, `oidc`, `docs`).
    pub service: &'static str,
    /// Lambda's invocation id.
    pub request_id: Option<String>,
    /// API Gateway's id of the request (also in its access log).
    pub api_request_id: Option<String>,
    pub trace_id: Option<String>,
    pub method: String,
    /// The route's pattern (`/api/users/{userId}`), never the raw path; `$default` when none
    /// matches.
    pub route: &'static str,
    /// Whether the function serves this method on this route (not a 404 or 405).
    pub served: bool,
    pub status: u16,
    pub latency_ms: f64,
    pub cold_start: bool,
    pub record: Record,
}

/// The metrics namespace: `METRICS_NAMESPACE` (the template sets it per stack), else this.
pub const DEFAULT_NAMESPACE: &str = "UsersApi";

/// Outcomes worth a metric of their own, read from a served route and its status.
fn outcome(route: &str, status: u16) -> Option<&'static str> {
    match (route, status) {
        ("/oidc/token", 200) => Some("TokenIssued"),
        ("/oidc/token", 400..=499) => Some("TokenRefused"),
        ("/api/users/{userId}/password/verify", 204) => Some("PasswordVerified"),
        ("/api/users/{userId}/password/verify", 422) => Some("PasswordRejected"),
        ("/api/users/{userId}/password/verify", 429) => Some("PasswordLocked"),
        _ => None,
    }
}

impl AccessLine {
    fn route_key(&self) -> String {
        format!("{} {}", self.method, self.route)
    }

    /// The `Route` dimension: a served route's key, else `other` (unknown paths and methods
    /// are whatever a client sends; they must not multiply the metrics).
    fn route_dimension(&self) -> String {
        if self.served { self.route_key() } else { "other".into() }
    }

    /// The JSON line: the access fields, then the EMF metrics. Dimensions: `Service` and
    /// `Route` (a served route's method and pattern, or `other`) for traffic and errors;
    /// `Service` alone for latency, cold starts, DynamoDB and outcomes. No id is a dimension.
    pub fn to_json(&self, namespace: &str) -> String {
        let r = &self.record;
        let mut line = json!({
            "timestamp": rfc3339(self.timestamp_ms),
            "level": if self.status >= 500 { "ERROR" } else { "INFO" },
            "type": "access",
            "service": self.service,
            "requestId": self.request_id,
            "apiRequestId": self.api_request_id,
            "traceId": self.trace_id,
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "code": r.error_code,
            "latencyMs": round(self.latency_ms),
            "clientId": r.caller,
            "coldStart": self.cold_start,
            "dynamodb": {
                "calls": r.dynamodb.calls,
                "retries": r.dynamodb.retries(),
                "throttles": r.dynamodb.throttles,
                "capacityUnits": r.dynamodb.capacity_units,
            },
        });
        let fields = line.as_object_mut().expect("an object");
        fields.retain(|_, v| !v.is_null());
        if let Some(ms) = r.hashing_ms {
            fields.insert("hashingMs".into(), json!(round(ms)));
        }

        // The metric values sit at the top level, as EMF requires, next to the dimensions.
        fields.insert("Service".into(), json!(self.service));
        fields.insert("Route".into(), json!(self.route_dimension()));
        let mut by_route = Vec::new();
        let mut by_service = Vec::new();
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        metric(&mut by_route, fields, "Requests", "Count", 1.0);
        metric(&mut by_route, fields, "Errors4xx", "Count", flag((400..500).contains(&self.status)));
        metric(&mut by_route, fields, "Errors5xx", "Count", flag(self.status >= 500));
        metric(&mut by_service, fields, "Latency", "Milliseconds", round(self.latency_ms));
        metric(&mut by_service, fields, "ColdStart", "Count", flag(self.cold_start));
        metric(&mut by_service, fields, "DynamoDbCapacityUnits", "Count", r.dynamodb.capacity_units);
        metric(&mut by_service, fields, "DynamoDbThrottles", "Count", r.dynamodb.throttles.into());
        metric(&mut by_service, fields, "DynamoDbRetries", "Count", r.dynamodb.retries().into());
        if self.served
            && let Some(name) = outcome(self.route, self.status)
        {
            metric(&mut by_service, fields, name, "Count", 1.0);
        }
        if let Some(ms) = r.hashing_ms {
            metric(&mut by_service, fields, "HashingTime", "Milliseconds", round(ms));
        }
        fields.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [
                    { "Namespace": namespace, "Dimensions": [["Service", "Route"]], "Metrics": by_route },
                    { "Namespace": namespace, "Dimensions": [["Service"]], "Metrics": by_service },
                ],
            }),
        );
        line.to_string()
    }

    /// The text line, for a terminal: `users GET /api/users/{userId} 200 12.3 ms …`.
    pub fn to_text(&self) -> String {
        let r = &self.record;
        let mut text =
            format!("{} {} {} {} ms", self.service, self.route_key(), self.status, round(self.latency_ms));
        if let Some(code) = r.error_code {
            text.push_str(&format!(" code={code}"));
        }
        if let Some(caller) = &r.caller {
            text.push_str(&format!(" client={caller}"));
        }
        text.push_str(&format!(" dynamodb={} calls {} cu", r.dynamodb.calls, r.dynamodb.capacity_units));
        if r.dynamodb.retries() > 0 || r.dynamodb.throttles > 0 {
            text.push_str(&format!(" retries={} throttles={}", r.dynamodb.retries(), r.dynamodb.throttles));
        }
        if let Some(ms) = r.hashing_ms {
            text.push_str(&format!(" hashing={} ms", round(ms)));
        }
        if self.cold_start {
            text.push_str(" cold");
        }
        text
    }
}

/// `2026-11-29T19:30:00.123Z` (the SDK's formatter, already linked).
fn rfc3339(ms: i64) -> String {
    use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
    DateTime::from_millis(ms).fmt(DateTimeFormat::DateTime).unwrap_or_default()
}

/// One metric: declared in a directive's list, its value at the top level.
fn metric(declared: &mut Vec<Value>, fields: &mut Map<String, Value>, name: &str, unit: &str, value: f64) {
    declared.push(json!({ "Name": name, "Unit": unit }));
    fields.insert(name.into(), json!(value));
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_reach_the_record_of_their_own_request_only() {
        note_caller("outside");
        let ((), record) = recorded(async {
            note_caller("app-1");
            note_error("user.not_found");
            note_dynamodb(|d| d.calls += 2);
            note_hashing(40.0);
            note_hashing(2.5);
        })
        .await;
        assert_eq!(record.caller.as_deref(), Some("app-1"));
        assert_eq!(
            (record.error_code, record.dynamodb.calls, record.hashing_ms),
            (Some("user.not_found"), 2, Some(42.5))
        );
        let ((), empty) = recorded(async {}).await;
        assert_eq!(empty, Record::default());
    }
}
