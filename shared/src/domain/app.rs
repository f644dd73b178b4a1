//! Machine-to-machine apps: who may get tokens, with which scopes. Secrets are random and
//! long (160+ bits), so a SHA-256 of the secret is stored, not a slow password hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::id::random_id;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct M2mApp {
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub enabled: bool,
    pub created_at: i64,
}

/// A fresh client secret: 40 characters of `[0-9a-z]` (~206 bits).
pub fn new_secret() -> String {
    random_id(40)
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl M2mApp {
    /// A new app and its secret (shown once, never stored).
    pub fn create(name: &str, scopes: Vec<String>) -> (Self, String) {
        let secret = new_secret();
        let app = Self {
            client_id: random_id(21),
            name: name.to_string(),
            secret_hash: hash_secret(&secret),
            scopes,
            enabled: true,
            created_at: crate::domain::now_ms(),
        };
        (app, secret)
    }

    /// Compares in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        hash_secret(secret).as_bytes().ct_eq(self.secret_hash.as_bytes()).into()
    }
}
