//! User activity logs (compatibility §5): what happened to a user, by whom, from where. Never a
//! password, digest, token or secret, and no field values beyond ids.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::User;

/// Logto's `tenantId` for a single-tenant deployment.
pub const TENANT_ID: &str = "default";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKey {
    UserCreate,
    UserUpdate,
    UserCustomDataUpdate,
    UserProfileUpdate,
    UserPasswordUpdate,
    UserSuspensionStatusUpdate,
    UserIdentityUpsert,
    UserIdentityDelete,
    UserDelete,
    UserPasswordVerify,
    ExchangeTokenByClientCredentials,
}

impl LogKey {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKey::UserCreate => "User.Create",
            LogKey::UserUpdate => "User.Update",
            LogKey::UserCustomDataUpdate => "User.CustomData.Update",
            LogKey::UserProfileUpdate => "User.Profile.Update",
            LogKey::UserPasswordUpdate => "User.Password.Update",
            LogKey::UserSuspensionStatusUpdate => "User.SuspensionStatus.Update",
            LogKey::UserIdentityUpsert => "User.Identity.Upsert",
            LogKey::UserIdentityDelete => "User.Identity.Delete",
            LogKey::UserDelete => "User.Delete",
            LogKey::UserPasswordVerify => "User.Password.Verify",
            LogKey::ExchangeTokenByClientCredentials => "ExchangeTokenBy.ClientCredentials",
        }
    }
}

/// Where a request came from, as far as the caller's request says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub application_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub id: String,
    pub key: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_fields: Vec<String>,
    /// For `Error` results: the error's code (never its details); for a failed webhook
    /// delivery, why it failed (the endpoint's status, or the connection's error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `TriggerHook.*` entries: what was delivered where, and how it went.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    pub created_at: i64,
}

/// One webhook delivery attempt. The request and response bodies are not kept: they carry the
/// user's field values, which activity logs never hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub hook_id: String,
    /// The id of the entry that recorded the change: the delivery's stable id.
    pub delivery_id: String,
    /// The endpoint's answer, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub duration_ms: u64,
}

impl LogEntry {
    pub fn new(key: LogKey, success: bool, user_id: Option<&str>, origin: &Origin) -> Self {
        Self::keyed(key.as_str().to_string(), success, user_id, origin)
    }

    /// An entry whose key is not one of [`LogKey`]'s (`TriggerHook.<event>`).
    pub fn keyed(key: String, success: bool, user_id: Option<&str>, origin: &Origin) -> Self {
        Self {
            id: super::id::new_log_id(),
            key,
            success,
            user_id: user_id.map(str::to_string),
            application_id: origin.application_id.clone(),
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            changed_fields: Vec::new(),
            error: None,
            delivery: None,
            created_at: super::now_ms(),
        }
    }

    pub fn with_error(mut self, code: &str) -> Self {
        self.error = Some(code.to_string());
        self
    }

    pub fn with_changes(mut self, fields: Vec<String>) -> Self {
        self.changed_fields = fields;
        self
    }

    /// Logto's log shape: `{tenantId, id, key, payload, createdAt}`.
    pub fn to_json(&self) -> Value {
        let mut payload =
            json!({ "key": self.key, "result": if self.success { "Success" } else { "Error" } });
        let optional = [
            ("userId", &self.user_id),
            ("applicationId", &self.application_id),
            ("ip", &self.ip),
            ("userAgent", &self.user_agent),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                payload[name] = json!(value);
            }
        }
        if let Some(code) = &self.error {
            payload["error"] = json!(code);
        }
        if !self.changed_fields.is_empty() {
            payload["changedFields"] = json!(self.changed_fields);
        }
        if let Some(delivery) = &self.delivery {
            payload["hookId"] = json!(delivery.hook_id);
            payload["deliveryId"] = json!(delivery.delivery_id);
            payload["durationMs"] = json!(delivery.duration_ms);
            if let Some(status) = delivery.status_code {
                payload["response"] = json!({ "statusCode": status });
            }
        }
        json!({ "tenantId": TENANT_ID, "id": self.id, "key": self.key, "payload": payload, "createdAt": self.created_at })
    }
}

/// The names of the user fields that differ, in the contract's spelling. Passwords appear as
/// `password`, never with a value.
pub fn changed_fields(before: &User, after: &User) -> Vec<String> {
    let mut fields = Vec::new();
    let mut check = |name: &str, changed: bool| {
        if changed {
            fields.push(name.to_string());
        }
    };
    check("username", before.username != after.username);
    check("primaryEmail", before.primary_email != after.primary_email);
    check("primaryPhone", before.primary_phone != after.primary_phone);
    check("name", before.name != after.name);
    check("avatar", before.avatar != after.avatar);
    check("customData", before.custom_data != after.custom_data);
    check("identities", before.identities != after.identities);
    check("profile", before.profile != after.profile);
    check("isSuspended", before.is_suspended != after.is_suspended);
    check("password", before.password != after.password);
    fields
}

/// A time filter as JavaScript's `Number()` reads it (Logto's rule): surrounding blanks are
/// ignored, `""` is 0, decimal, exponent and `0x`/`0o`/`0b` forms are numbers; anything not
/// finite is refused. Fractions are cut to whole milliseconds.
pub fn parse_time(value: &str) -> Option<i64> {
    let value = value.trim();
    if value.is_empty() {
        return Some(0);
    }
    let radix = [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)]
        .into_iter()
        .find_map(|(prefix, radix)| value.strip_prefix(prefix).map(|digits| (digits, radix)));
    if let Some((digits, radix)) = radix {
        return i64::from_str_radix(digits, radix).ok();
    }
    let lowered = value.to_ascii_lowercase();
    if lowered.contains("inf") || lowered.contains("nan") {
        return None;
    }
    let number: f64 = value.parse().ok()?;
    (number.is_finite() && number.abs() < 1e15).then(|| number.trunc() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_javascript_number() {
        assert_eq!(parse_time(""), Some(0));
        assert_eq!(parse_time(" 1700000000000 "), Some(1_700_000_000_000));
        assert_eq!(parse_time("1e3"), Some(1000));
        assert_eq!(parse_time("0x10"), Some(16));
        for bad in ["abc", "NaN", "Infinity", "12abc", "1e400"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
