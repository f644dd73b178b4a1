//! Password hashes: new ones are Argon2id at OWASP's parameters; imported ones may be any of
//! Logto's eight algorithms, bounded in cost so one import cannot stall a function.

mod argon2_memory;
mod legacy;

use argon2::Params;
use md5::Md5;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;
use subtle::ConstantTimeEq;

use crate::error::Error;

pub use legacy::LegacyDigest;

/// OWASP's Argon2id recommendation (compatibility §3).
pub const ARGON2_M_COST: u32 = 19_456;
pub const ARGON2_T_COST: u32 = 2;
pub const ARGON2_P_COST: u32 = 1;

/// Bounds on imported digests (compatibility §3).
pub const MAX_ARGON2_M_COST: u32 = 65_536;
pub const MAX_ARGON2_T_COST: u32 = 10;
pub const MAX_ARGON2_P_COST: u32 = 4;
pub const MAX_BCRYPT_COST: u32 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PasswordAlgorithm {
    Argon2i,
    Argon2id,
    Argon2d,
    SHA1,
    SHA256,
    MD5,
    Bcrypt,
    Legacy,
}

impl PasswordAlgorithm {
    pub fn from_name(name: &str) -> Option<Self> {
        use PasswordAlgorithm::*;
        Some(match name {
            "Argon2i" => Argon2i,
            "Argon2id" => Argon2id,
            "Argon2d" => Argon2d,
            "SHA1" => SHA1,
            "SHA256" => SHA256,
            "MD5" => MD5,
            "Bcrypt" => Bcrypt,
            "Legacy" => Legacy,
            _ => return None,
        })
    }

    /// Fast hashes are padded with a dummy Argon2 run on failure, so timing does not tell.
    fn is_fast(self) -> bool {
        matches!(self, Self::SHA1 | Self::SHA256 | Self::MD5 | Self::Legacy)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash {
    pub digest: String,
    pub algorithm: PasswordAlgorithm,
}

/// A hash of a password nobody knows, verified against when there is nothing real to check.
static DUMMY: LazyLock<String> =
    LazyLock::new(|| argon2_memory::hash(crate::domain::id::random_id(24).as_bytes()));

impl PasswordHash {
    /// Hashes a new password (CPU-heavy: call from a blocking thread, see [`hash`]).
    pub fn new_argon2id(password: &str) -> Self {
        Self { digest: argon2_memory::hash(password.as_bytes()), algorithm: PasswordAlgorithm::Argon2id }
    }

    /// Accepts an imported digest. Like Logto, only `Legacy` digests are checked for shape;
    /// unlike Logto, any digest whose cost is over our bounds is refused.
    pub fn import(digest: String, algorithm: PasswordAlgorithm) -> Result<Self, Error> {
        use PasswordAlgorithm::*;
        match algorithm {
            Legacy => {
                LegacyDigest::parse(&digest)?;
            }
            Argon2i | Argon2id | Argon2d => check_argon2_cost(&digest)?,
            Bcrypt => check_bcrypt_cost(&digest)?,
            SHA1 | SHA256 | MD5 => {}
        }
        Ok(Self { digest, algorithm })
    }

    /// Whether `candidate` is the password. CPU-heavy: see [`verify`].
    pub fn matches(&self, candidate: &str) -> bool {
        use PasswordAlgorithm::*;
        let candidate_bytes = candidate.as_bytes();
        match self.algorithm {
            Argon2i | Argon2id | Argon2d => argon2_memory::verify(candidate_bytes, &self.digest),
            Bcrypt => bcrypt::verify(candidate, &self.digest).unwrap_or(false),
            MD5 => equal_hex(&Md5::digest(candidate_bytes), &self.digest),
            SHA1 => equal_hex(&Sha1::digest(candidate_bytes), &self.digest),
            SHA256 => equal_hex(&Sha256::digest(candidate_bytes), &self.digest),
            Legacy => LegacyDigest::parse(&self.digest).is_ok_and(|d| d.matches(candidate)),
        }
    }

    /// True unless this is Argon2id at least as strong as the current parameters.
    pub fn needs_rehash(&self) -> bool {
        if self.algorithm != PasswordAlgorithm::Argon2id {
            return true;
        }
        match argon2_params(&self.digest) {
            Some((m, t, _)) => m < ARGON2_M_COST || t < ARGON2_T_COST,
            None => true,
        }
    }
}

/// Checks `candidate` against `hash` and pays one Argon2 verification whenever the answer is
/// "no" and no slow hash was checked: users without a password, or with a fast hash, take as
/// long to fail as anyone else.
pub fn verify_blocking(hash: Option<&PasswordHash>, candidate: &str) -> bool {
    match hash {
        Some(hash) if hash.matches(candidate) => true,
        Some(hash) if !hash.algorithm.is_fast() => false,
        _ => {
            // black_box: the result is unused, and the work must not be optimised away.
            std::hint::black_box(argon2_memory::verify(
                std::hint::black_box(candidate.as_bytes()),
                DUMMY.as_str(),
            ));
            false
        }
    }
}

/// Hashes a new password on the blocking pool, off the async executor.
pub async fn hash(password: String) -> Result<PasswordHash, Error> {
    let started = std::time::Instant::now();
    let hash = tokio::task::spawn_blocking(move || PasswordHash::new_argon2id(&password)).await;
    crate::telemetry::note_hashing(started.elapsed().as_secs_f64() * 1000.0);
    hash.map_err(|e| Error::Internal(format!("hashing task failed: {e}")))
}

/// Verifies on the blocking pool, off the async executor.
pub async fn verify(hash: Option<PasswordHash>, candidate: String) -> Result<bool, Error> {
    let started = std::time::Instant::now();
    let matched = tokio::task::spawn_blocking(move || verify_blocking(hash.as_ref(), &candidate)).await;
    crate::telemetry::note_hashing(started.elapsed().as_secs_f64() * 1000.0);
    matched.map_err(|e| Error::Internal(format!("verification task failed: {e}")))
}

fn equal_hex(computed: &[u8], expected: &str) -> bool {
    hex::encode(computed).as_bytes().ct_eq(expected.as_bytes()).into()
}

/// `(m, t, p)` of a PHC-encoded Argon2 hash, if it parses.
fn argon2_params(digest: &str) -> Option<(u32, u32, u32)> {
    let hash = argon2::PasswordHash::new(digest).ok()?;
    let params = Params::try_from(&hash).ok()?;
    Some((params.m_cost(), params.t_cost(), params.p_cost()))
}

fn check_argon2_cost(digest: &str) -> Result<(), Error> {
    if let Some((m, t, p)) = argon2_params(digest)
        && (m > MAX_ARGON2_M_COST || t > MAX_ARGON2_T_COST || p > MAX_ARGON2_P_COST)
    {
        return Err(Error::DigestCostTooHigh(format!(
            "argon2 m={m},t={t},p={p} exceeds m≤{MAX_ARGON2_M_COST},t≤{MAX_ARGON2_T_COST},p≤{MAX_ARGON2_P_COST}"
        )));
    }
    Ok(())
}

fn check_bcrypt_cost(digest: &str) -> Result<(), Error> {
    // `$2b$12$...`: the cost is the two digits after the second `$`.
    let cost = digest.split('$').nth(2).and_then(|c| c.parse::<u32>().ok());
    match cost {
        Some(cost) if cost > MAX_BCRYPT_COST => {
            Err(Error::DigestCostTooHigh(format!("bcrypt cost {cost} exceeds {MAX_BCRYPT_COST}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_hashes_are_argon2id_at_owasp_parameters() {
        let hash = PasswordHash::new_argon2id("correct horse");
        assert!(hash.digest.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.digest);
        assert!(hash.matches("correct horse"));
        assert!(!hash.matches("wrong"));
        assert!(!hash.needs_rehash());
    }

    #[test]
    fn unsalted_hex_digests() {
        let md5 =
            PasswordHash::import("5f4dcc3b5aa765d61d8327deb882cf99".into(), PasswordAlgorithm::MD5).unwrap();
        assert!(md5.matches("password") && !md5.matches("Password"));
        let sha1 = PasswordHash {
            digest: "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8".into(),
            algorithm: PasswordAlgorithm::SHA1,
        };
        assert!(sha1.matches("password") && sha1.needs_rehash());
        let sha256 = PasswordHash {
            digest: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8".into(),
            algorithm: PasswordAlgorithm::SHA256,
        };
        assert!(sha256.matches("password") && !sha256.matches("password "));
        let upper = PasswordHash {
            digest: "5F4DCC3B5AA765D61D8327DEB882CF99".into(),
            algorithm: PasswordAlgorithm::MD5,
        };
        assert!(!upper.matches("password"), "Logto compares lowercase hex exactly");
    }

    #[test]
    fn import_bounds_cost() {
        let heavy = "$argon2id$v=19$m=131072,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(matches!(
            PasswordHash::import(heavy.into(), PasswordAlgorithm::Argon2id),
            Err(Error::DigestCostTooHigh(_))
        ));
        let bcrypt15 = "$2b$15$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";
        assert!(PasswordHash::import(bcrypt15.into(), PasswordAlgorithm::Bcrypt).is_err());
        assert!(PasswordHash::import("a".repeat(256), PasswordAlgorithm::MD5).is_ok(), "not format-checked");
    }

    #[test]
    fn failures_without_a_slow_hash_still_pay_an_argon2_run() {
        assert!(!verify_blocking(None, "anything"));
        let md5 = PasswordHash { digest: "00".into(), algorithm: PasswordAlgorithm::MD5 };
        assert!(!verify_blocking(Some(&md5), "anything"));
    }
}
