//! Social identities: the connector `target` a user is linked under and the identity's
//! `userId` at that provider. Both are unique together across users (a guard item keyed on
//! them), so both are bounded: every guard key fits DynamoDB's 2048-byte key limit, and a user
//! holds few enough identities to be deleted, with all its guards, in one transaction.

use unicode_normalization::UnicodeNormalization;

use crate::error::Error;

/// Longest `target` (a connector name such as `github`), in characters.
pub const MAX_TARGET_CHARS: usize = 128;
/// Longest identity `userId` at the provider, in characters.
pub const MAX_SOCIAL_USER_ID_CHARS: usize = 256;
/// Most identities one user may hold. A delete writes the user, its log entry, the counter and
/// up to four identifier guards besides one guard per identity: 57 of DynamoDB's 100 items.
pub const MAX_IDENTITIES: usize = 50;

/// A connector target, from the route's `{target}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityTarget(String);

impl IdentityTarget {
    pub fn parse(value: &str) -> Result<Self, Error> {
        bounded(value, MAX_TARGET_CHARS)
            .map(Self)
            .map_err(|why| Error::InvalidInput { target: "params", details: format!("`target` {why}") })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An identity's `userId` at its provider, from the body of `PUT …/identities/{target}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocialUserId(String);

impl SocialUserId {
    pub fn parse(value: &str) -> Result<Self, Error> {
        bounded(value, MAX_SOCIAL_USER_ID_CHARS)
            .map(Self)
            .map_err(|why| Error::invalid_body(format!("`userId` {why}")))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// NFC (canonically equal spellings are one identity), 1 to `max` characters, no control
/// characters (each would take six bytes in the guard's JSON key).
fn bounded(value: &str, max: usize) -> Result<String, String> {
    let normalized: String = value.nfc().collect();
    match normalized.chars().count() {
        0 => Err("must not be empty".into()),
        n if n > max => Err(format!("is longer than {max} characters")),
        _ if normalized.chars().any(char::is_control) => Err("must not contain control characters".into()),
        _ => Ok(normalized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_ids_are_bounded_and_normalised() {
        assert_eq!(IdentityTarget::parse("github").unwrap().as_str(), "github");
        assert_eq!(
            IdentityTarget::parse("cafe\u{301}").unwrap(),
            IdentityTarget::parse("caf\u{e9}").unwrap()
        );
        assert!(IdentityTarget::parse(&"t".repeat(MAX_TARGET_CHARS)).is_ok());
        for bad in [String::new(), "t".repeat(MAX_TARGET_CHARS + 1), "a\u{0}b".into(), "x\ny".into()] {
            assert!(
                matches!(IdentityTarget::parse(&bad), Err(Error::InvalidInput { target: "params", .. })),
                "{bad:?}"
            );
        }
        assert!(SocialUserId::parse(&"9".repeat(MAX_SOCIAL_USER_ID_CHARS)).is_ok());
        assert!(SocialUserId::parse(&"9".repeat(MAX_SOCIAL_USER_ID_CHARS + 1)).is_err());
    }

    #[test]
    fn the_largest_guard_key_fits_dynamodb() {
        // Four UTF-8 bytes a character at most, and no character that JSON escapes to more.
        let target = "\u{10FFFF}".repeat(MAX_TARGET_CHARS);
        let user_id = "\u{10FFFF}".repeat(MAX_SOCIAL_USER_ID_CHARS);
        let key = format!("identity#{}", serde_json::to_string(&[&target, &user_id]).unwrap());
        assert!(key.len() <= 2048, "{} bytes", key.len());
    }
}
