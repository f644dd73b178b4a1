//! Page tokens: the cursors of `Next-Page-Token` / `page_token`, an HTTP concern (the store
//! only sees the position inside).

use crate::error::Error;

/// Opaque, tamper-evident cursors (`Next-Page-Token` / `page_token`): the position of the
/// last item sent, bound to the list and query it came from, with an HMAC-SHA256 tag. A
/// token that was altered, or is used on another query, is refused.
#[derive(Clone)]
pub struct PageTokens {
    key: Vec<u8>,
}

/// How many bytes of the tag a token carries (128 bits).
const TAG_LEN: usize = 16;

impl PageTokens {
    /// `secret` from configuration; without one, a random key for this process (tokens then
    /// work only against the instance that issued them).
    pub fn new(secret: Option<&str>) -> Self {
        let key = match secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key).expect("the OS random source is available");
                key
            }
        };
        Self { key }
    }

    fn tag(&self, scope: &str, position: &str) -> Vec<u8> {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(position.as_bytes());
        mac.finalize().into_bytes()[..TAG_LEN].to_vec()
    }

    /// A token for `position` in the list `scope` (resource and query).
    pub fn seal(&self, scope: &str, position: &str) -> String {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        format!("{}.{}", URL_SAFE_NO_PAD.encode(position), URL_SAFE_NO_PAD.encode(self.tag(scope, position)))
    }

    /// The position a token names, if it is intact and was issued for `scope`.
    pub fn open(&self, scope: &str, token: &str) -> Result<String, Error> {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        use subtle::ConstantTimeEq;
        let (position, tag) = token.split_once('.').ok_or(Error::InvalidPagination)?;
        let position = URL_SAFE_NO_PAD.decode(position).map_err(|_| Error::InvalidPagination)?;
        let position = String::from_utf8(position).map_err(|_| Error::InvalidPagination)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Error::InvalidPagination)?;
        if bool::from(tag.ct_eq(&self.tag(scope, &position))) {
            Ok(position)
        } else {
            Err(Error::InvalidPagination)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_refuse_tampering_and_other_queries() {
        let tokens = PageTokens::new(Some("secret"));
        let token = tokens.seal("users?search=a", "000001700000000#abc");
        assert_eq!(tokens.open("users?search=a", &token).unwrap(), "000001700000000#abc");
        assert!(tokens.open("users?search=b", &token).is_err(), "bound to its query");
        assert!(tokens.open("logs?search=a", &token).is_err(), "bound to its list");
        let mut forged = token.clone().into_bytes();
        forged[3] ^= 1;
        assert!(tokens.open("users?search=a", &String::from_utf8_lossy(&forged)).is_err());
        assert!(PageTokens::new(Some("other")).open("users?search=a", &token).is_err());
        for junk in ["", ".", "abc", "a.b.c", "%%%.***"] {
            assert!(tokens.open("users?search=a", junk).is_err(), "{junk}");
        }
    }
}
