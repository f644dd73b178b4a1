//! Signing keys: Ed25519, each a 32-byte seed with a key id. The private key set is JSON
//! (`{"keys":[{"kid":"…","seed":"<base64url>"}]}`, the first key signs); the public half is a
//! JWKS document that verifiers load once per cold start.
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
}

impl SigningKey {
    fn from_seed(kid: String, seed: [u8; 32]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| format!("key {kid}: bad seed"))?;
        let public: [u8; 32] = pair.public_key().as_ref().try_into().map_err(|_| "bad public key length")?;
        Ok(Self { kid, seed, public })
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

/// The private key set; the first key is the one that signs.
#[derive(Clone)]
pub struct SigningKeys(Vec<SigningKey>);

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
                SigningKey::from_seed(k.kid, seed)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err("signing keys: the set is empty".into());
        }
        Ok(Self(keys))
    }

    pub fn generate() -> Self {
        Self(vec![SigningKey::generate()])
    }

    /// A new key in front (it signs from now on); the others stay published until retired.
    pub fn rotated(&self) -> Self {
        let mut keys = vec![SigningKey::generate()];
        keys.extend(self.0.iter().cloned());
        Self(keys)
    }

    /// The set without `kid`; refuses to drop the last key.
    pub fn retired(&self, kid: &str) -> Result<Self, String> {
        let keys: Vec<_> = self.0.iter().filter(|k| k.kid != kid).cloned().collect();
        if keys.len() == self.0.len() {
            return Err(format!("no key {kid} in the set"));
        }
        if keys.is_empty() {
            return Err("cannot retire the only key".into());
        }
        Ok(Self(keys))
    }

    pub fn active(&self) -> &SigningKey {
        &self.0[0]
    }

    /// The private set as JSON (for Secrets Manager or the local stack; never logged).
    pub fn to_json(&self) -> String {
        let set = StoredKeySet {
            keys: self
                .0
                .iter()
                .map(|k| StoredKey { kid: k.kid.clone(), seed: URL_SAFE_NO_PAD.encode(k.seed) })
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
