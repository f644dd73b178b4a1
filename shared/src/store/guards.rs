//! Uniqueness guards: one item per unique value (username, email, both phone forms, social
//! identity), written and released in the same transactions as the user.

use crate::domain::User;

/// A uniqueness guard: one item per unique value, pointing at its owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Guard {
    pub kind: GuardKind,
    pub key: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuardKind {
    Username,
    Email,
    Phone,
    Identity,
}

impl Guard {
    /// The guard a stored key names, its kind read from the key's prefix.
    pub fn from_key(key: &str) -> Option<Self> {
        let kind = match key.split_once('#')?.0 {
            "username" => GuardKind::Username,
            "email" => GuardKind::Email,
            "phone" => GuardKind::Phone,
            "identity" => GuardKind::Identity,
            _ => return None,
        };
        Some(Self { kind, key: key.to_string() })
    }
}

impl GuardKind {
    /// The transaction label of a guard put: what a failed condition reports.
    pub const fn label(self) -> &'static str {
        match self {
            GuardKind::Username => "guard:username",
            GuardKind::Email => "guard:email",
            GuardKind::Phone => "guard:phone",
            GuardKind::Identity => "guard:identity",
        }
    }
}

/// The guards a stored user holds: exactly the keys recorded with it, so that releasing them
/// never depends on today's configuration or phone metadata; derived for users stored before
/// the keys were recorded.
pub fn held(user: &User, username_case_sensitive: bool) -> Vec<Guard> {
    match &user.stored_guards {
        Some(keys) => keys.iter().filter_map(|key| Guard::from_key(key)).collect(),
        None => guards(user, username_case_sensitive),
    }
}

/// The key of an email's guard: emails are unique whatever their case.
pub fn email_guard_key(email: &str) -> String {
    format!("email#{}", email.to_lowercase())
}

/// The guards a user's values call for now. The username guard folds case when usernames are
/// case-insensitive.
pub fn guards(user: &User, username_case_sensitive: bool) -> Vec<Guard> {
    let mut out = Vec::new();
    let mut add = |kind, key: String| out.push(Guard { kind, key });
    if let Some(username) = user.username.as_deref().filter(|u| !u.is_empty()) {
        let folded = if username_case_sensitive { username.to_string() } else { username.to_lowercase() };
        add(GuardKind::Username, format!("username#{folded}"));
    }
    if let Some(email) = user.primary_email.as_deref().filter(|e| !e.is_empty()) {
        add(GuardKind::Email, email_guard_key(email));
    }
    if let Some(phone) = user.primary_phone.as_deref().filter(|p| !p.is_empty()) {
        match crate::domain::Phone::normalize(phone) {
            Ok(phone) => phone.forms().into_iter().for_each(|f| add(GuardKind::Phone, format!("phone#{f}"))),
            Err(_) => add(GuardKind::Phone, format!("phone#{phone}")),
        }
    }
    for identity in user.social_identities() {
        let key = serde_json::to_string(&[&identity.target, &identity.user_id]).expect("strings");
        add(GuardKind::Identity, format!("identity#{key}"));
    }
    out
}
