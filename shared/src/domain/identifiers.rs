//! The three unique identifiers. Their regexes are Logto's (`toolkit/core-kit/src/regex.ts`).

use regex::Regex;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;

use crate::error::Error;

/// Logto's column limits; exceeding one is a 422 `entity.value_too_long`, not a 400.
pub const MAX_IDENTIFIER_LEN: usize = 128;
pub const MAX_AVATAR_LEN: usize = 2048;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\S+@\S+\.\S+$").expect("valid"));
static USERNAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Z_a-z][A-Za-z0-9_]*$").expect("valid"));

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Logto's pattern, on the address in Unicode NFC: canonically equal spellings of one
    /// address are one value (stored, compared and guarded as such).
    pub fn parse(value: &str) -> Result<Self, Error> {
        let value: String = value.nfc().collect();
        if EMAIL.is_match(&value) {
            Ok(Self(value))
        } else {
            Err(Error::invalid_body(format!("`primaryEmail` must match {}", EMAIL.as_str())))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(value: &str) -> Result<Self, Error> {
        if USERNAME.is_match(value) {
            Ok(Self(value.to_string()))
        } else {
            Err(Error::invalid_body(format!("`username` must match {}", USERNAME.as_str())))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A phone number as stored: country code followed by the national number, digits only,
/// the national trunk prefix dropped (`610412345678` → `61412345678`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone {
    stored: String,
    /// `<cc>0<national>`: the other way people write the same number. Both forms collide.
    trunk_form: String,
}

/// A phone as the request gave it: digits only (the 400 guard), maybe not a real number yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneDigits(String);

impl PhoneDigits {
    pub fn parse(value: &str) -> Result<Self, Error> {
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value.to_string()))
        } else {
            Err(Error::invalid_body("`primaryPhone` must match ^\\d+$"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the number the way libphonenumber does: it must be *parseable* (a known
    /// country code and a plausible length), not necessarily *valid*.
    pub fn normalize(&self) -> Result<Phone, Error> {
        Phone::normalize(&self.0)
    }
}

impl Phone {
    pub fn normalize(digits: &str) -> Result<Self, Error> {
        let phone = Self::parse_once(digits)?;
        // The stored form must itself be a number (a few degenerate inputs, such as "310001",
        // parse only before their trunk zeros are dropped): refuse what would not round-trip.
        match Self::parse_once(&phone.stored) {
            Ok(again) if again == phone => Ok(phone),
            _ => Err(Error::InvalidPhone),
        }
    }

    fn parse_once(digits: &str) -> Result<Self, Error> {
        let number = phonenumber::parse(None, format!("+{digits}")).map_err(|_| Error::InvalidPhone)?;
        let code = number.code().value();
        let national = number.national();
        let national = format!("{}{}", "0".repeat(national.zeros() as usize), national.value());
        Ok(Self { stored: format!("{code}{national}"), trunk_form: format!("{code}0{national}") })
    }

    pub fn as_str(&self) -> &str {
        &self.stored
    }

    /// Both spellings that must be unique across users.
    pub fn forms(&self) -> [&str; 2] {
        [&self.stored, &self.trunk_form]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_follows_logto_regex() {
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("A.B+c@sub.example.org").is_ok());
        for bad in ["", "a@b", "a b@c.d", "@b.co", "a@.c", "a@b."] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_is_stored_in_nfc() {
        let composed = Email::parse("jos\u{e9}@example.com").unwrap();
        let decomposed = Email::parse("jose\u{301}@example.com").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(decomposed.as_str(), "jos\u{e9}@example.com");
    }

    #[test]
    fn username_follows_logto_regex() {
        for good in ["a", "_", "User_1", "_x9"] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "1abc", "a-b", "a b", "é"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_drops_the_trunk_prefix_and_knows_both_forms() {
        let phone = Phone::normalize("610412345678").unwrap();
        assert_eq!(phone.as_str(), "61412345678");
        assert_eq!(phone.forms(), ["61412345678", "610412345678"]);
        assert_eq!(Phone::normalize("61412345678").unwrap(), phone);
        assert_eq!(Phone::normalize("4407911123456").unwrap().as_str(), "447911123456");
        assert_eq!(Phone::normalize("13102051234").unwrap().as_str(), "13102051234");
    }

    #[test]
    fn phone_must_be_parseable() {
        assert!(matches!(Phone::normalize("1"), Err(Error::InvalidPhone)));
        assert!(matches!(Phone::normalize("310001"), Err(Error::InvalidPhone)), "would not round-trip");
        assert!(matches!(Phone::normalize("9991234567"), Err(Error::InvalidPhone)), "999 is no country code");
        assert!(PhoneDigits::parse("+61412345678").is_err());
        assert!(PhoneDigits::parse("").is_err());
    }
}
