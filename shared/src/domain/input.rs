//! Request bodies parsed into domain values. Logto's guards strip unknown keys, reject wrong
//! types with 400 `guard.invalid_input`, and treat a missing body as `{}`.

use serde_json::Value;

use super::JsonObject;
use super::identifiers::{Email, PhoneDigits, Username};
use super::password::PasswordAlgorithm;
use crate::error::Error;

/// Read access to a body's fields with Logto's type rules.
pub struct Body(JsonObject);

impl Body {
    /// Parses raw bytes: empty is `{}`; anything but a JSON object is `guard.invalid_input`.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(JsonObject::new()));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(Error::invalid_body("the body must be a JSON object")),
            Err(e) => Err(Error::invalid_body(format!("the body is not valid JSON: {e}"))),
        }
    }

    /// SHA-256 of the body as canonical JSON (keys sorted, no blanks): two requests with the
    /// same content hash alike however they were spelled.
    pub fn canonical_hash(&self) -> String {
        use sha2::Digest;
        let canonical = serde_json::to_string(&self.0).expect("JSON values serialise");
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// A field as sent, whatever its type.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A string field; absent is `None`, any other type (null included) is a 400.
    pub fn string(&self, key: &str) -> Result<Option<&str>, Error> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(type_error(key, "string")),
        }
    }

    /// A string or null: `None` absent, `Some(None)` null.
    pub fn nullable_string(&self, key: &str) -> Result<Option<Option<&str>>, Error> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s))),
            Some(_) => Err(type_error(key, "string or null")),
        }
    }

    /// A non-empty string (Logto's `min(1)`), required.
    pub fn required_password(&self, key: &str) -> Result<&str, Error> {
        match self.string(key)? {
            Some(p) if !p.is_empty() => Ok(p),
            Some(_) => Err(Error::invalid_body(format!("`{key}` must not be empty"))),
            None => Err(Error::invalid_body(format!("`{key}` is required"))),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(key, "boolean")),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&JsonObject>, Error> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(type_error(key, "object")),
        }
    }

    pub fn required_object(&self, key: &str) -> Result<&JsonObject, Error> {
        self.object(key)?.ok_or_else(|| Error::invalid_body(format!("`{key}` is required")))
    }

    pub fn profile(&self, key: &str) -> Result<Option<JsonObject>, Error> {
        self.object(key)?.map(parse_profile).transpose()
    }
}

fn type_error(key: &str, expected: &str) -> Error {
    Error::invalid_body(format!("`{key}` must be a {expected}"))
}

const PROFILE_KEYS: &[&str] = &[
    "familyName",
    "givenName",
    "middleName",
    "nickname",
    "preferredUsername",
    "profile",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
];
const ADDRESS_KEYS: &[&str] = &["formatted", "streetAddress", "locality", "region", "postalCode", "country"];

/// Logto's profile guard: known keys only (others stripped), every value a string, `address`
/// an object of known string keys.
pub fn parse_profile(input: &JsonObject) -> Result<JsonObject, Error> {
    let mut profile = strings_only(input, PROFILE_KEYS, "profile")?;
    if let Some(address) = input.get("address") {
        let Value::Object(address) = address else {
            return Err(type_error("profile.address", "object"));
        };
        let address = strings_only(address, ADDRESS_KEYS, "profile.address")?;
        profile.insert("address".into(), Value::Object(address));
    }
    Ok(profile)
}

fn strings_only(input: &JsonObject, keys: &[&str], path: &str) -> Result<JsonObject, Error> {
    let mut out = JsonObject::new();
    for key in keys {
        match input.get(*key) {
            None => {}
            Some(Value::String(s)) => {
                out.insert(key.to_string(), Value::String(s.clone()));
            }
            Some(_) => return Err(type_error(&format!("{path}.{key}"), "string")),
        }
    }
    Ok(out)
}

/// `avatar`: a URL the WHATWG parser accepts, or `""`.
pub fn parse_avatar(value: &str) -> Result<String, Error> {
    if value.is_empty() || url::Url::parse(value).is_ok() {
        Ok(value.to_string())
    } else {
        Err(Error::invalid_body("`avatar` must be a URL"))
    }
}

/// How a password arrives on create.
#[derive(Debug)]
pub enum PasswordInput {
    Plain(String),
    Digest {
        digest: String,
        algorithm: PasswordAlgorithm,
    },
    /// `passwordAlgorithm: "Legacy"` without a digest: refused later, in Logto's order.
    LegacyWithoutDigest,
}

/// `POST /api/users`.
#[derive(Debug, Default)]
pub struct NewUser {
    pub username: Option<Username>,
    pub primary_email: Option<Email>,
    pub primary_phone: Option<PhoneDigits>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub custom_data: Option<JsonObject>,
    pub profile: Option<JsonObject>,
    pub password: Option<PasswordInput>,
}

/// Longest digest Logto's guard accepts.
pub const MAX_DIGEST_LEN: usize = 256;

impl NewUser {
    /// Logto's checks 1–3: the guard, then password and digest together, then a digest
    /// without its algorithm.
    pub fn parse(body: &Body) -> Result<Self, Error> {
        let username = body.string("username")?.map(Username::parse).transpose()?;
        let primary_email = body.string("primaryEmail")?.map(Email::parse).transpose()?;
        let primary_phone = body.string("primaryPhone")?.map(PhoneDigits::parse).transpose()?;
        let name = body.string("name")?.map(str::to_string);
        let avatar = body.nullable_string("avatar")?.flatten().map(parse_avatar).transpose()?;
        let custom_data = body.object("customData")?.cloned();
        let profile = body.profile("profile")?;
        let plain = body.string("password")?;
        if plain == Some("") {
            return Err(Error::invalid_body("`password` must not be empty"));
        }
        let digest = body.string("passwordDigest")?;
        if digest.is_some_and(|d| d.chars().count() > MAX_DIGEST_LEN) {
            return Err(Error::invalid_body("`passwordDigest` is longer than 256 characters"));
        }
        let algorithm = body
            .string("passwordAlgorithm")?
            .map(|a| {
                PasswordAlgorithm::from_name(a)
                    .ok_or_else(|| Error::invalid_body("`passwordAlgorithm` is not supported"))
            })
            .transpose()?;
        let password = match (plain, digest, algorithm) {
            (Some(_), Some(_), _) => return Err(Error::PasswordAndDigest),
            (None, Some(_), None) => return Err(Error::PasswordAlgorithmRequired),
            (Some(plain), None, _) => Some(PasswordInput::Plain(plain.to_string())),
            (None, Some(digest), Some(algorithm)) => {
                Some(PasswordInput::Digest { digest: digest.to_string(), algorithm })
            }
            (None, None, Some(PasswordAlgorithm::Legacy)) => Some(PasswordInput::LegacyWithoutDigest),
            (None, None, _) => None,
        };
        Ok(Self { username, primary_email, primary_phone, name, avatar, custom_data, profile, password })
    }
}

/// A change to one field: keep, clear, or set.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldChange<T> {
    Clear,
    Set(T),
}

/// `PATCH /api/users/{id}`. `""` and `null` both clear an identifier (compatibility §3).
#[derive(Debug, Default)]
pub struct UserPatch {
    pub username: Option<FieldChange<Username>>,
    pub primary_email: Option<FieldChange<Email>>,
    pub primary_phone: Option<FieldChange<PhoneDigits>>,
    pub name: Option<Option<String>>,
    pub avatar: Option<Option<String>>,
    pub custom_data: Option<JsonObject>,
    pub profile: Option<JsonObject>,
}

impl UserPatch {
    pub fn parse(body: &Body) -> Result<Self, Error> {
        fn identifier<T>(
            body: &Body,
            key: &str,
            parse: impl Fn(&str) -> Result<T, Error>,
        ) -> Result<Option<FieldChange<T>>, Error> {
            Ok(match body.nullable_string(key)? {
                None => None,
                Some(None | Some("")) => Some(FieldChange::Clear),
                Some(Some(value)) => Some(FieldChange::Set(parse(value)?)),
            })
        }
        Ok(Self {
            username: identifier(body, "username", Username::parse)?,
            primary_email: identifier(body, "primaryEmail", Email::parse)?,
            primary_phone: identifier(body, "primaryPhone", PhoneDigits::parse)?,
            name: body.nullable_string("name")?.map(|v| v.map(str::to_string)),
            avatar: body.nullable_string("avatar")?.map(|v| v.map(parse_avatar).transpose()).transpose()?,
            custom_data: body.object("customData")?.cloned(),
            profile: body.profile("profile")?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.primary_email.is_none()
            && self.primary_phone.is_none()
            && self.name.is_none()
            && self.avatar.is_none()
            && self.custom_data.is_none()
            && self.profile.is_none()
    }
}
