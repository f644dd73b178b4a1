//! The values and rules of the contract. Each type validates once, at construction;
//! nothing downstream checks again.

pub mod app;
pub mod hook;
pub mod id;
pub mod identifiers;
pub mod identity;
pub mod input;
pub mod log;
pub mod page;
pub mod password;
pub mod search;
pub mod user;

pub use identifiers::{Email, Phone, Username};
pub use page::Page;
pub use user::{Identity, User};

/// A JSON object (`customData`, `profile`, `identities`).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Milliseconds since the epoch: the contract's timestamp unit.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Logto's truthy flag (`@silverhand/essentials` `yes`): 1, true, y, yes, yep, yeah.
pub fn is_truthy(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "y" | "yes" | "yep" | "yeah")
    })
}
