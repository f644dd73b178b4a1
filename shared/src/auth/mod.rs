//! Bearer tokens, Logto's model: OAuth 2.0 client-credentials JWTs for the API indicator,
//! scope `all` or finer scopes. Verification is in-process with keys loaded at cold start.

pub mod keys;

use jsonwebtoken::{Algorithm, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

pub use keys::{Phase, PublicKeys, SigningKey, SigningKeys};

use crate::error::Error;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// How long an access token lives.
pub const TOKEN_TTL_SECS: i64 = 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Logto's management scope: everything.
    All,
    UsersRead,
    UsersWrite,
    PasswordsWrite,
    LogsRead,
    /// Read webhooks (their signing keys included) and their delivery logs.
    HooksRead,
    /// Create, change, test and delete webhooks.
    HooksWrite,
}

impl Scope {
    pub const EVERY: [Scope; 7] = [
        Scope::All,
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::PasswordsWrite,
        Scope::LogsRead,
        Scope::HooksRead,
        Scope::HooksWrite,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::PasswordsWrite => "passwords:write",
            Scope::LogsRead => "logs:read",
            Scope::HooksRead => "hooks:read",
            Scope::HooksWrite => "hooks:write",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|s| s.name() == name)
    }
}

/// The claims of an access token (compatibility §4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
}

/// Who is calling: the token's subject and app, what it may do, and where the request came
/// from (recorded in activity logs).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub subject: Option<String>,
    pub application_id: Option<String>,
    pub scopes: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The request's `If-Match`: a change applies only to a user still at one of these versions.
    pub if_match: Option<crate::domain::user::IfMatch>,
}

impl Caller {
    pub fn origin(&self) -> crate::domain::log::Origin {
        crate::domain::log::Origin {
            application_id: self.application_id.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }

    /// 403 `auth.forbidden` unless the token carries `all` or `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Error> {
        if self.scopes.iter().any(|s| s == Scope::All.name() || s == scope.name()) {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }
}

/// Checks bearer tokens against the published keys, the issuer and the API indicator.
#[derive(Clone)]
pub struct Verifier {
    keys: PublicKeys,
    validation: Validation,
}

impl Verifier {
    /// The verifier a function builds at cold start: public keys from `AUTH_JWKS`, or derived
    /// from `SIGNING_KEYS`. Without either it refuses to start: no keys, no requests.
    pub fn from_config(config: &crate::config::AuthConfig) -> Result<Self, String> {
        let jwks = match (&config.public_jwks, &config.signing_keys) {
            (Some(jwks), _) => serde_json::from_str(jwks).map_err(|e| format!("AUTH_JWKS: {e}"))?,
            (None, Some(private)) => {
                SigningKeys::parse(crate::config::ExposeSecret::expose_secret(private))?.jwks()
            }
            (None, None) => return Err("no keys to verify tokens with: set AUTH_JWKS or SIGNING_KEYS".into()),
        };
        Ok(Self::new(PublicKeys::from_jwks(&jwks)?, &config.issuer, &config.api_indicator))
    }

    pub fn new(keys: PublicKeys, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self { keys, validation }
    }

    /// Logto's checks, in its order: a header (401 `auth.authorization_header_missing`), the
    /// Bearer scheme (401 `auth.authorization_token_type_not_supported`), a valid token
    /// (401 `auth.unauthorized`), a subject (401 `auth.jwt_sub_missing`).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, Error> {
        let header = authorization.ok_or(Error::AuthorizationHeaderMissing)?;
        let token = header.strip_prefix("Bearer ").ok_or(Error::AuthorizationTypeNotSupported)?.trim();
        let unauthorized = |why: &str| Error::Unauthorized(why.to_string());
        let kid = decode_header(token)
            .map_err(|e| unauthorized(&e.to_string()))?
            .kid
            .ok_or_else(|| unauthorized("no kid"))?;
        let key = self.keys.get(&kid).ok_or_else(|| unauthorized("unknown kid"))?;
        let claims =
            decode::<Claims>(token, key, &self.validation).map_err(|e| unauthorized(&e.to_string()))?.claims;
        check_issued_at(&claims, crate::domain::now_ms() / 1000).map_err(unauthorized)?;
        let subject = claims.sub.filter(|s| !s.is_empty()).ok_or(Error::JwtSubMissing)?;
        let scopes = claims.scope.unwrap_or_default().split_whitespace().map(String::from).collect();
        Ok(Caller { subject: Some(subject), application_id: claims.client_id, scopes, ..Caller::default() })
    }
}

/// What the signature check leaves to us (docs/security.md): a token issued in the future, or
/// living longer than this issuer's tokens do, was not issued by this issuer as it is now.
fn check_issued_at(claims: &Claims, now_secs: i64) -> Result<(), &'static str> {
    let leeway = LEEWAY_SECS as i64;
    if claims.iat > now_secs + leeway {
        return Err("iat is in the future");
    }
    if claims.exp.saturating_sub(claims.iat) > TOKEN_TTL_SECS + leeway {
        return Err("the token lives longer than this issuer's tokens");
    }
    Ok(())
}

/// Signs an access token for `client_id` with the active key.
pub fn issue(
    key: &SigningKey,
    issuer: &str,
    audience: &str,
    client_id: &str,
    scope: &str,
    now_secs: i64,
) -> String {
    let claims = Claims {
        iss: issuer.to_string(),
        sub: Some(client_id.to_string()),
        aud: audience.to_string(),
        scope: Some(scope.to_string()),
        client_id: Some(client_id.to_string()),
        iat: now_secs,
        exp: now_secs + TOKEN_TTL_SECS,
        nbf: None,
        jti: crate::domain::id::random_id(21),
    };
    sign(key, &claims)
}

/// Signs arbitrary claims (tests use it to forge expired or foreign tokens).
pub fn sign(key: &SigningKey, claims: &impl Serialize) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    encode(&header, claims, &key.encoding_key()).expect("Ed25519 signing does not fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://example.test/oidc";
    const AUD: &str = "https://default.logto.app/api";

    fn now() -> i64 {
        crate::domain::now_ms() / 1000
    }

    fn verifier(keys: &SigningKeys) -> Verifier {
        Verifier::new(PublicKeys::from_jwks(&keys.jwks()).unwrap(), ISS, AUD)
    }

    #[test]
    fn a_token_round_trips_and_carries_its_scopes() {
        let keys = SigningKeys::generate();
        let token = issue(keys.active(), ISS, AUD, "app1", "users:read logs:read", now());
        let caller = verifier(&keys).authenticate(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(caller.subject.as_deref(), Some("app1"));
        assert_eq!(caller.application_id.as_deref(), Some("app1"));
        assert!(caller.require(Scope::UsersRead).is_ok());
        assert!(matches!(caller.require(Scope::UsersWrite), Err(Error::Forbidden)));
    }

    #[test]
    fn time_claims_beyond_the_issuers_rules_are_refused() {
        let keys = SigningKeys::generate();
        let verifier = verifier(&keys);
        let now = now();
        let claims = |iat: i64, exp: i64, nbf: Option<i64>| Claims {
            iss: ISS.into(),
            sub: Some("app1".into()),
            aud: AUD.into(),
            scope: Some("all".into()),
            client_id: Some("app1".into()),
            iat,
            exp,
            nbf,
            jti: "j".into(),
        };
        let check =
            |claims: Claims| verifier.authenticate(Some(&format!("Bearer {}", sign(keys.active(), &claims))));
        assert!(check(claims(now, now + TOKEN_TTL_SECS, None)).is_ok());
        assert!(check(claims(now, now + TOKEN_TTL_SECS, Some(now))).is_ok());
        assert!(check(claims(now + 30, now + 30 + TOKEN_TTL_SECS, None)).is_ok(), "within the leeway");
        for (what, refused) in [
            ("nbf in the future", claims(now, now + TOKEN_TTL_SECS, Some(now + 600))),
            ("iat in the future", claims(now + 600, now + 600 + TOKEN_TTL_SECS, None)),
            ("a day-long token", claims(now, now + 86_400, None)),
            ("a ten-year token issued long ago", claims(now - 86_400, now + 10 * 365 * 86_400, None)),
        ] {
            assert!(matches!(check(refused), Err(Error::Unauthorized(_))), "{what}");
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_the_old_key_is_retired() {
        let old = SigningKeys::generate();
        assert_eq!(old.phase(), Phase::Settled);
        let old_token = issue(old.active(), ISS, AUD, "app1", "all", now());

        let staged = old.staged();
        assert_eq!(staged.phase(), Phase::Staged);
        assert_eq!(staged.active().kid, old.active().kid, "a staged key does not sign");
        let reparsed = SigningKeys::parse(&staged.to_json()).unwrap();
        assert_eq!((reparsed.phase(), reparsed.jwks()), (Phase::Staged, staged.jwks()), "the mark is stored");

        let activated = staged.activated();
        assert_eq!(activated.phase(), Phase::Activated);
        assert_eq!(activated.active().kid, staged.keys()[1].kid, "the staged key signs once activated");
        assert_eq!(activated.activated().jwks(), activated.jwks(), "activating twice changes nothing");
        let new_token = issue(activated.active(), ISS, AUD, "app1", "all", now());
        for token in [&old_token, &new_token] {
            assert!(verifier(&activated).authenticate(Some(&format!("Bearer {token}"))).is_ok());
        }

        let retired = activated.retired();
        assert_eq!(
            (retired.phase(), retired.active().kid.as_str()),
            (Phase::Settled, activated.active().kid.as_str())
        );
        assert!(matches!(
            verifier(&retired).authenticate(Some(&format!("Bearer {old_token}"))),
            Err(Error::Unauthorized(_))
        ));
        assert!(verifier(&retired).authenticate(Some(&format!("Bearer {new_token}"))).is_ok());
    }

    #[test]
    fn a_key_set_is_refused_when_its_rotation_marks_make_no_sense() {
        let staged = SigningKeys::generate().staged().to_json();
        let first_marked = staged.replacen(r#""seed""#, r#""next":true,"seed""#, 1);
        assert!(SigningKeys::parse(&first_marked).unwrap_err().contains("first key"));
        let set: serde_json::Value = serde_json::from_str(&staged).unwrap();
        let twice =
            serde_json::json!({ "keys": [set["keys"][0], set["keys"][1], set["keys"][1]] }).to_string();
        assert!(SigningKeys::parse(&twice).is_err(), "two next keys, one kid twice");
        let kid = set["keys"][1]["kid"].as_str().unwrap();
        let chosen = SigningKeys::parse(&staged).unwrap().signing_with(Some(kid)).unwrap();
        assert_eq!(chosen.active().kid, kid);
        assert!(SigningKeys::parse(&staged).unwrap().signing_with(Some("nope")).is_err());
    }
}
