//! Webhooks (docs/webhooks.md): which user events a hook wants, where they go, and how each
//! delivery is signed. A hook's endpoint is checked here, once, when it is set; the delivery
//! client checks the addresses its name resolves to again at every connection.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::input::Body;
use crate::error::Error;

/// The user data-mutation events a hook may subscribe to (Logto's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HookEvent {
    #[serde(rename = "User.Created")]
    UserCreated,
    #[serde(rename = "User.Deleted")]
    UserDeleted,
    #[serde(rename = "User.Data.Updated")]
    UserDataUpdated,
    #[serde(rename = "User.SuspensionStatus.Updated")]
    UserSuspensionStatusUpdated,
}

impl HookEvent {
    pub const EVERY: [HookEvent; 4] = [
        HookEvent::UserCreated,
        HookEvent::UserDeleted,
        HookEvent::UserDataUpdated,
        HookEvent::UserSuspensionStatusUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::UserCreated => "User.Created",
            HookEvent::UserDeleted => "User.Deleted",
            HookEvent::UserDataUpdated => "User.Data.Updated",
            HookEvent::UserSuspensionStatusUpdated => "User.SuspensionStatus.Updated",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|event| event.as_str() == name)
    }

    /// The activity-log key of one delivery attempt (Logto's `TriggerHook.<event>`).
    pub fn trigger_log_key(self) -> String {
        format!("TriggerHook.{}", self.as_str())
    }
}

/// Header names a hook may not set: they frame the request (smuggling) or carry its proof.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "trailer",
    "keep-alive",
    "proxy-connection",
    SIGNATURE_HEADER,
    DELIVERY_ID_HEADER,
];
pub const SIGNATURE_HEADER: &str = "logto-signature-sha-256";
/// The change a delivery reports, the same on every retry (the Standard Webhooks header name).
pub const DELIVERY_ID_HEADER: &str = "webhook-id";
pub const USER_AGENT: &str = "Logto (https://logto.io/)";
const MAX_NAME: usize = 256;
const MAX_URL: usize = 2048;
const MAX_HEADERS: usize = 20;
const MAX_HEADER_VALUE: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    pub id: String,
    pub name: String,
    /// Logto's legacy single event, kept as sent.
    #[serde(default)]
    pub event: Option<HookEvent>,
    pub events: Vec<HookEvent>,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub signing_key: String,
    pub enabled: bool,
    pub created_at: i64,
    /// Bumped by every change: writes are conditioned on the version they read.
    #[serde(default)]
    pub version: u64,
}

/// Where endpoints may point: anywhere public over https on AWS; locally, also plain http and
/// this machine (`HOOKS_ALLOW_LOCAL_URLS`, for development only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoints {
    PublicHttps,
    AnyForDevelopment,
}

impl Endpoints {
    /// What this deployment allows (`HOOKS_ALLOW_LOCAL_URLS`).
    pub fn configured(config: &crate::Config) -> Self {
        if config.hooks_allow_local_urls { Endpoints::AnyForDevelopment } else { Endpoints::PublicHttps }
    }
}

impl Hook {
    /// A hook from `POST /api/hooks`'s body: every field checked first (Logto's guard), then
    /// that it names events at all. A legacy `event` alone is kept as Logto keeps it, with
    /// `events` empty.
    pub fn create(body: &Body, endpoints: Endpoints) -> Result<Self, Error> {
        let (event, events) = (parse_event(body)?, parse_events(body)?);
        let (url, headers) = parse_config(body.required_object("config")?, endpoints)?;
        let (name, enabled) = (parse_name(body)?, body.boolean("enabled")?);
        if event.is_none() && events.is_none() {
            return Err(Error::HookMissingEvents);
        }
        Ok(Self {
            id: super::id::random_id(21),
            name: name.unwrap_or_default(),
            event,
            events: events.unwrap_or_default(),
            url,
            headers,
            signing_key: new_signing_key(),
            enabled: enabled.unwrap_or(true),
            created_at: super::now_ms(),
            version: 0,
        })
    }

    /// Applies a parsed `PATCH /api/hooks/{id}` body.
    pub fn apply(&mut self, patch: &HookPatch) {
        let patch = patch.clone();
        self.name = patch.name.unwrap_or(std::mem::take(&mut self.name));
        self.event = patch.event.unwrap_or(self.event);
        self.events = patch.events.unwrap_or(std::mem::take(&mut self.events));
        if let Some((url, headers)) = patch.config {
            (self.url, self.headers) = (url, headers);
        }
        self.enabled = patch.enabled.unwrap_or(self.enabled);
    }

    pub fn rotate_signing_key(&mut self) {
        self.signing_key = new_signing_key();
    }

    pub fn wants(&self, event: HookEvent) -> bool {
        self.enabled && (self.events.contains(&event) || self.event == Some(event))
    }

    /// Logto's hook shape (`signingKey` included: the management API is the key's only reader).
    pub fn to_json(&self) -> Value {
        let mut config = json!({ "url": self.url });
        if !self.headers.is_empty() {
            config["headers"] = json!(self.headers);
        }
        json!({
            "tenantId": super::log::TENANT_ID,
            "id": self.id,
            "name": self.name,
            "event": self.event.map(HookEvent::as_str),
            "events": self.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "config": config,
            "signingKey": self.signing_key,
            "enabled": self.enabled,
            "createdAt": self.created_at,
        })
    }
}

/// A `PATCH /api/hooks/{id}` body, checked before the hook is looked up (Logto's guard comes
/// first): every field optional, `config` replaced whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookPatch {
    name: Option<String>,
    /// `null` clears the legacy event.
    event: Option<Option<HookEvent>>,
    events: Option<Vec<HookEvent>>,
    config: Option<(String, BTreeMap<String, String>)>,
    enabled: Option<bool>,
}

impl HookPatch {
    pub fn parse(body: &Body, endpoints: Endpoints) -> Result<Self, Error> {
        Ok(Self {
            name: parse_name(body)?,
            event: body
                .nullable_string("event")?
                .map(|event| event.map(known_event).transpose())
                .transpose()?,
            events: parse_events(body)?,
            config: body.object("config")?.map(|config| parse_config(config, endpoints)).transpose()?,
            enabled: body.boolean("enabled")?,
        })
    }
}

/// `POST /api/hooks/{id}/test`'s body, both fields required as in Logto: the events to send a
/// sample of, and the endpoint to send them to (which need not be saved yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookTrial {
    pub events: Vec<HookEvent>,
    url: String,
    headers: BTreeMap<String, String>,
}

impl HookTrial {
    pub fn parse(body: &Body, endpoints: Endpoints) -> Result<Self, Error> {
        let events = parse_events(body)?.ok_or_else(|| Error::invalid_body("`events` is required"))?;
        let (url, headers) = parse_config(body.required_object("config")?, endpoints)?;
        Ok(Self { events, url, headers })
    }

    /// The hook as the trial would have it: its id and signing key, the trial's endpoint.
    pub fn on(&self, hook: &Hook) -> Hook {
        Hook { url: self.url.clone(), headers: self.headers.clone(), ..hook.clone() }
    }
}

/// 32 random characters of `[0-9a-z]` (~165 bits), like Logto's.
fn new_signing_key() -> String {
    super::id::random_id(32)
}

/// `logto-signature-sha-256`: hex HMAC-SHA256 of the exact body bytes under the signing key.
pub fn signature(signing_key: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(signing_key.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn parse_name(body: &Body) -> Result<Option<String>, Error> {
    match body.string("name")? {
        Some(name) if name.chars().count() > MAX_NAME => {
            Err(Error::invalid_body(format!("`name` is longer than {MAX_NAME} characters")))
        }
        name => Ok(name.map(str::to_string)),
    }
}

fn parse_event(body: &Body) -> Result<Option<HookEvent>, Error> {
    body.string("event")?.map(known_event).transpose()
}

/// A non-empty list of known events, duplicates removed (order kept).
fn parse_events(body: &Body) -> Result<Option<Vec<HookEvent>>, Error> {
    let Some(value) = body.value("events") else { return Ok(None) };
    let Value::Array(names) = value else {
        return Err(Error::invalid_body("`events` must be an array of event names"));
    };
    let mut events = Vec::new();
    for name in names {
        let event = known_event(name.as_str().unwrap_or_default())?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        return Err(Error::invalid_body("`events` must name at least one event"));
    }
    Ok(Some(events))
}

fn known_event(name: &str) -> Result<HookEvent, Error> {
    HookEvent::parse(name).ok_or_else(|| {
        let known: Vec<_> = HookEvent::EVERY.iter().map(|e| e.as_str()).collect();
        Error::invalid_body(format!("`{name}` is not an event; the events are {}", known.join(", ")))
    })
}

fn parse_config(
    config: &super::JsonObject,
    endpoints: Endpoints,
) -> Result<(String, BTreeMap<String, String>), Error> {
    let url = match config.get("url") {
        Some(Value::String(url)) => check_endpoint(url, endpoints)?,
        Some(_) => return Err(Error::invalid_body("`config.url` must be a string")),
        None => return Err(Error::invalid_body("`config.url` is required")),
    };
    let headers = match config.get("headers") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(headers)) => parse_headers(headers)?,
        Some(_) => return Err(Error::invalid_body("`config.headers` must be an object of strings")),
    };
    Ok((url.to_string(), headers))
}

fn parse_headers(headers: &super::JsonObject) -> Result<BTreeMap<String, String>, Error> {
    if headers.len() > MAX_HEADERS {
        return Err(Error::invalid_body(format!("`config.headers` holds more than {MAX_HEADERS} headers")));
    }
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        let Value::String(value) = value else {
            return Err(Error::invalid_body(format!("`config.headers.{name}` must be a string")));
        };
        let lower = name.to_ascii_lowercase();
        let valid_name = lambda_http::http::HeaderName::from_bytes(lower.as_bytes()).is_ok();
        let valid_value = value.len() <= MAX_HEADER_VALUE
            && lambda_http::http::HeaderValue::from_str(value).is_ok_and(|v| v.to_str().is_ok());
        if !valid_name || !valid_value || RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Error::invalid_body(format!("`config.headers.{name}` cannot be sent")));
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

/// An endpoint URL: absolute http(s) with a host, no credentials; on AWS https only and never an
/// address of this network (loopback, private, link-local: the instance metadata service).
/// A host *name* is checked again when it is resolved, at delivery.
pub fn check_endpoint(url: &str, endpoints: Endpoints) -> Result<url::Url, Error> {
    let refuse = |reason: &str| Err(Error::HookEndpointNotAllowed(reason.to_string()));
    if url.len() > MAX_URL {
        return refuse("the URL is too long");
    }
    let Ok(parsed) = url::Url::parse(url) else { return refuse("not an absolute URL") };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return refuse("the URL carries credentials; send them in `config.headers`");
    }
    let Some(host) = parsed.host() else { return refuse("the URL has no host") };
    match (parsed.scheme(), endpoints) {
        ("https", _) | ("http", Endpoints::AnyForDevelopment) => {}
        _ => return refuse("endpoints must use https"),
    }
    if endpoints == Endpoints::PublicHttps {
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") || name.ends_with(".internal") {
                    return refuse("the host is on this network");
                }
                None
            }
        };
        if literal.is_some_and(|ip| !is_public(ip)) {
            return refuse("the address is not a public one");
        }
    }
    Ok(parsed)
}

/// Whether an address is reachable on the public internet (not loopback, private, link-local,
/// shared, documentation, multicast or unspecified; IPv4-mapped IPv6 judged as IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Body {
        Body::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_hook_needs_known_events_and_keeps_them_once() {
        let ok = r#"{"events":["User.Created","User.Created","User.Deleted"],"config":{"url":"https://example.com/h"}}"#;
        let hook = Hook::create(&body(ok), Endpoints::PublicHttps).unwrap();
        assert_eq!(hook.events, vec![HookEvent::UserCreated, HookEvent::UserDeleted]);
        assert!(hook.enabled && hook.name.is_empty() && hook.signing_key.len() == 32);
        let missing =
            Hook::create(&body(r#"{"config":{"url":"https://example.com"}}"#), Endpoints::PublicHttps);
        assert!(matches!(missing, Err(Error::HookMissingEvents)));
        for bad in [r#"[]"#, r#"["PostSignIn"]"#, r#""User.Created""#] {
            let json = format!(r#"{{"events":{bad},"config":{{"url":"https://example.com"}}}}"#);
            assert!(matches!(
                Hook::create(&body(&json), Endpoints::PublicHttps),
                Err(Error::InvalidInput { .. })
            ));
        }
        let legacy = Hook::create(
            &body(r#"{"event":"User.Deleted","config":{"url":"https://e.com"}}"#),
            Endpoints::PublicHttps,
        )
        .unwrap();
        assert_eq!((legacy.event, legacy.events.clone()), (Some(HookEvent::UserDeleted), vec![]));
        assert!(legacy.wants(HookEvent::UserDeleted) && !legacy.wants(HookEvent::UserCreated));
    }

    #[test]
    fn endpoints_on_this_network_are_refused_on_aws() {
        for bad in [
            "http://example.com/h",
            "https://127.0.0.1/h",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00::1]/",
            "https://localhost:8443/",
            "https://user:pw@example.com/",
            "ftp://example.com/",
            "not a url",
        ] {
            assert!(check_endpoint(bad, Endpoints::PublicHttps).is_err(), "{bad}");
        }
        assert!(check_endpoint("https://hooks.example.com:8443/in?x=1", Endpoints::PublicHttps).is_ok());
        assert!(check_endpoint("http://127.0.0.1:9000/in", Endpoints::AnyForDevelopment).is_ok());
        assert!(check_endpoint("ftp://127.0.0.1/", Endpoints::AnyForDevelopment).is_err());
    }

    #[test]
    fn framing_and_signature_headers_cannot_be_set() {
        for name in ["Host", "content-length", "Logto-Signature-Sha-256", "bad name"] {
            let json = format!(
                r#"{{"events":["User.Created"],"config":{{"url":"https://e.com","headers":{{"{name}":"x"}}}}}}"#
            );
            assert!(Hook::create(&body(&json), Endpoints::PublicHttps).is_err(), "{name}");
        }
        let json = r#"{"events":["User.Created"],"config":{"url":"https://e.com","headers":{"Authorization":"Bearer t"}}}"#;
        assert_eq!(
            Hook::create(&body(json), Endpoints::PublicHttps).unwrap().headers["Authorization"],
            "Bearer t"
        );
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
