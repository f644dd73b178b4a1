//! Signing keys: Ed25519, each a 32-byte seed with a key id. The private key set is JSON
//! (`{"keys":[{"kid":"…","seed":"<base64url>"}]}`, the first key signs unless the deployment
//! names another); the public half is a JWKS document that verifiers load once per cold start.
//!
//! A set also records where it stands in a rotation (docs/operations.md, "Rotating the signing
//! key"): a key staged for the next rotation carries `"next": true` and never signs by
//! default; keys after the first without that mark are the previous ones, awaiting retirement.
//!
//! Ed25519 because a private key is just 32 random bytes (nothing to parse or misconfigure),
//! signatures are small and verification is fast; tokens are opaque to Logto's clients.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): this prefix, then the 32 bytes.
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    seed: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    next: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    keys: Vec<StoredKey>,
}

/// One key: its id, the seed (private) and the public key.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    seed: [u8; 32],
    public: [u8; 32],
    /// Staged for the next rotation: published first, signing only once activated.
    next: bool,
}

impl SigningKey {
    fn from_seed(kid: String, seed: [u8; 32]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| format!("key {kid}: bad seed"))?;
        let public: [u8; 32] = pair.public_key().as_ref().try_into().map_err(|_| "bad public key length")?;
        Ok(Self { kid, seed, public, next: false })
    }

    /// Whether `jwks` (a JWKS document) lists this key: same id, same public key.
    pub fn is_listed_in(&self, jwks: &Value) -> bool {
        let x = URL_SAFE_NO_PAD.encode(self.public);
        jwks["keys"].as_array().is_some_and(|keys| keys.iter().any(|k| k["kid"] == *self.kid && k["x"] == *x))
    }

    /// A new random key; its id is derived from the public key.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the OS random source is available");
        let mut key = Self::from_seed(String::new(), seed).expect("any 32 bytes are a seed");
        key.kid = URL_SAFE_NO_PAD.encode(&key.public[..9]);
        key
    }

    pub fn encoding_key(&self) -> EncodingKey {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&self.seed);
        EncodingKey::from_ed_der(&der)
    }

    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": URL_SAFE_NO_PAD.encode(self.public),
        })
    }
}

/// The private key set; the first key is the one that signs unless the deployment names
/// another ([`SigningKeys::signing_with`]).
#[derive(Clone)]
pub struct SigningKeys(Vec<SigningKey>);

/// Where a key set stands in a two-phase rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// One key, signing.
    Settled,
    /// A next key is in the set (last), to be published before it signs.
    Staged,
    /// The new key signs (first); the previous ones still verify until retired.
    Activated,
}

/// Key ids and marks only: a seed never reaches a log or a panic message.
impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> =
            self.0.iter().map(|k| if k.next { format!("{} (next)", k.kid) } else { k.kid.clone() }).collect();
        f.debug_tuple("SigningKeys").field(&kids).finish()
    }
}

impl SigningKeys {
    pub fn parse(json: &str) -> Result<Self, String> {
        let set: StoredKeySet = serde_json::from_str(json).map_err(|e| format!("signing keys: {e}"))?;
        let keys = set
            .keys
            .into_iter()
            .map(|k| {
                let seed: [u8; 32] = URL_SAFE_NO_PAD
                    .decode(k.seed.trim_end_matches('='))
                    .ok()
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| format!("key {}: the seed must be 32 bytes, base64url", k.kid))?;
                let mut key = SigningKey::from_seed(k.kid, seed)?;
                key.next = k.next;
                Ok(key)
            })
            .collect::<Result<Vec<_>, String>>()?;
        match keys.first() {
            None => return Err("signing keys: the set is empty".into()),
            Some(first) if first.next => return Err("signing keys: the first key is marked next".into()),
            _ => {}
        }
        if keys.iter().filter(|k| k.next).count() > 1 {
            return Err("signing keys: more than one key is marked next".into());
        }
        if (1..keys.len()).any(|i| keys[..i].iter().any(|k| k.kid == keys[i].kid)) {
            return Err("signing keys: two keys share a kid".into());
        }
        Ok(Self(keys))
    }

    pub fn generate() -> Self {
        Self(vec![SigningKey::generate()])
    }

    pub fn phase(&self) -> Phase {
        if self.0.iter().any(|k| k.next) {
            Phase::Staged
        } else if self.0.len() > 1 {
            Phase::Activated
        } else {
            Phase::Settled
        }
    }

    /// A new key at the end, marked next: it is published with the others, and signs nothing
    /// until [`SigningKeys::activated`].
    pub fn staged(&self) -> Self {
        let mut keys = self.0.clone();
        keys.push(SigningKey { next: true, ..SigningKey::generate() });
        Self(keys)
    }

    /// The next key moves to the front and signs from now on; the previous ones still verify.
    /// Without a next key, the set as it is.
    pub fn activated(&self) -> Self {
        let mut keys = self.0.clone();
        if let Some(i) = keys.iter().position(|k| k.next) {
            let mut next = keys.remove(i);
            next.next = false;
            keys.insert(0, next);
        }
        Self(keys)
    }

    /// Only the signing key: the previous ones are gone, and so is a staged next key.
    pub fn retired(&self) -> Self {
        Self(vec![self.0[0].clone()])
    }

    /// The set with `kid` as the signing key (the deployment's `SIGNING_KEY_ID`); without one,
    /// the set as it is.
    pub fn signing_with(mut self, kid: Option<&str>) -> Result<Self, String> {
        if let Some(kid) = kid {
            let i =
                self.0.iter().position(|k| k.kid == kid).ok_or(format!("no signing key {kid} in the set"))?;
            let key = self.0.remove(i);
            self.0.insert(0, key);
        }
        Ok(self)
    }

    pub fn active(&self) -> &SigningKey {
        &self.0[0]
    }

    pub fn keys(&self) -> &[SigningKey] {
        &self.0
    }

    /// The private set as JSON (for Secrets Manager or the local stack; never logged).
    pub fn to_json(&self) -> String {
        let set = StoredKeySet {
            keys: self
                .0
                .iter()
                .map(|k| StoredKey { kid: k.kid.clone(), seed: URL_SAFE_NO_PAD.encode(k.seed), next: k.next })
                .collect(),
        };
        serde_json::to_string(&set).expect("serialisable")
    }

    /// The public JWKS document.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.0.iter().map(SigningKey::jwk).collect::<Vec<_>>() })
    }
}

/// Public keys by id, as verifiers hold them.
#[derive(Clone)]
pub struct PublicKeys(Vec<(String, DecodingKey)>);

impl PublicKeys {
    /// Reads a JWKS document; only Ed25519 (`OKP`) keys are used.
    pub fn from_jwks(jwks: &Value) -> Result<Self, String> {
        let keys = jwks["keys"].as_array().ok_or("JWKS: no `keys` array")?;
        let mut out = Vec::new();
        for key in keys {
            if key["kty"] != "OKP" || key["crv"] != "Ed25519" {
                continue;
            }
            let kid = key["kid"].as_str().ok_or("JWKS: a key without `kid`")?;
            let x = key["x"].as_str().ok_or("JWKS: a key without `x`")?;
            let decoding = DecodingKey::from_ed_components(x).map_err(|e| format!("JWKS key {kid}: {e}"))?;
            out.push((kid.to_string(), decoding));
        }
        if out.is_empty() {
            return Err("JWKS: no Ed25519 key".into());
        }
        Ok(Self(out))
    }

    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.0.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }
}
