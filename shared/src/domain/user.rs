//! The user as the contract sees it, and the JSON it answers with.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::JsonObject;
use super::password::PasswordHash;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub username: Option<String>,
    pub primary_email: Option<String>,
    pub primary_phone: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub custom_data: JsonObject,
    /// `target → { userId, details? }`
    pub identities: JsonObject,
    pub profile: JsonObject,
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub application_id: Option<String>,
    pub is_suspended: bool,
    pub password: Option<PasswordHash>,
    /// Bumped by every change: the optimistic-concurrency guard and the ETag.
    pub version: u64,
    /// Storage bookkeeping, not part of the contract: the uniqueness guard keys recorded with
    /// the user when it was read, which the next change releases exactly (whatever the
    /// configuration or the phone metadata would derive now). `None` for a user not stored
    /// yet, or stored before the keys were recorded.
    #[serde(skip)]
    pub stored_guards: Option<Vec<String>>,
}

/// One social identity, as stored under its target in `identities`.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub target: String,
    pub user_id: String,
}

impl User {
    pub fn new(id: String, now: i64) -> Self {
        Self {
            id,
            username: None,
            primary_email: None,
            primary_phone: None,
            name: None,
            avatar: None,
            custom_data: JsonObject::new(),
            identities: JsonObject::new(),
            profile: JsonObject::new(),
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
            application_id: None,
            is_suspended: false,
            password: None,
            version: 1,
            stored_guards: None,
        }
    }

    /// The user's place in newest-first order: `createdAt` zero-padded, then the id.
    pub fn created_key(&self) -> String {
        created_key(self.created_at, &self.id)
    }

    /// The strong entity tag of this state of the user: its version, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    /// The social identities that must stay unique across users.
    pub fn social_identities(&self) -> Vec<Identity> {
        self.identities
            .iter()
            .filter_map(|(target, value)| {
                let user_id = value.get("userId")?.as_str()?;
                Some(Identity { target: target.clone(), user_id: user_id.to_string() })
            })
            .collect()
    }

    /// Logto's user response. The password hash appears only when asked for
    /// (`includePasswordHash`), as `passwordDigest` and `passwordAlgorithm`.
    pub fn to_json(&self, include_password_hash: bool) -> Value {
        let mut body = json!({
            "id": self.id,
            "username": self.username,
            "primaryEmail": self.primary_email,
            "primaryPhone": self.primary_phone,
            "name": self.name,
            "avatar": self.avatar,
            "customData": self.custom_data,
            "identities": self.identities,
            "lastSignInAt": self.last_sign_in_at,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "profile": self.profile,
            "applicationId": self.application_id,
            "cimdClientId": null,
            "isSuspended": self.is_suspended,
            "hasPassword": self.password.is_some(),
        });
        if include_password_hash {
            let (digest, algorithm) = match &self.password {
                Some(hash) => (json!(hash.digest), json!(hash.algorithm)),
                None => (Value::Null, Value::Null),
            };
            body["passwordDigest"] = digest;
            body["passwordAlgorithm"] = algorithm;
        }
        body
    }
}

/// `createdAt` zero-padded to 15 digits, `#`, then the id: sorts as newest-first order needs,
/// with a deterministic tie-break. Also the position a page token records.
pub fn created_key(created_at: i64, id: &str) -> String {
    format!("{created_at:015}#{id}")
}

/// `If-Match` (RFC 9110 §13.1.1), against the user's version, which is its strong ETag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// Entity tags as sent; weak ones (`W/"…"`) never match, as strong comparison requires.
    Tags(Vec<String>),
}

impl IfMatch {
    pub fn parse(header: &str) -> Self {
        if header.trim() == "*" {
            return IfMatch::Any;
        }
        IfMatch::Tags(header.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect())
    }

    pub fn matches(&self, etag: &str) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Tags(tags) => tags.iter().any(|t| t == etag),
        }
    }
}
