//! Logto's `Legacy` digests: a JSON tuple `[algorithm, args, expected]` whose args contain
//! `"@"` where the candidate password goes. Three families: any Node `createHash` digest over
//! the concatenated args, `pbkdf2`, and Firebase's modified scrypt.

use aes::Aes256;
use base64::{Engine, engine::general_purpose::STANDARD};
use ctr::cipher::{KeyIvInit, StreamCipher};
use serde_json::Value;
use sha2::Digest;
use subtle::ConstantTimeEq;

use crate::error::Error;

pub const PLACEHOLDER: &str = "@";
/// Bounds on imported costs, by the work a verify does rather than by one parameter
/// (docs/security.md). pbkdf2 computes `ceil(key length / hash length)` blocks of
/// `iterations` HMACs each: their product is bounded.
pub const MAX_PBKDF2_WORK: u64 = 2_000_000;
/// scrypt (Firebase's variant, p = 1) needs `128·r·N` bytes and does work in proportion to
/// them, so one bound covers memory and CPU. Firebase's own parameters (memCost 14, rounds 8)
/// take 16 MiB.
pub const MAX_SCRYPT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeDigest {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_256,
    Sha3_384,
    Sha3_512,
}

impl NodeDigest {
    /// Node's digest names (case-insensitive, as `crypto.createHash` accepts them).
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "md5" => Self::Md5,
            "sha1" => Self::Sha1,
            "sha224" => Self::Sha224,
            "sha256" => Self::Sha256,
            "sha384" => Self::Sha384,
            "sha512" => Self::Sha512,
            "sha3-256" => Self::Sha3_256,
            "sha3-384" => Self::Sha3_384,
            "sha3-512" => Self::Sha3_512,
            _ => return None,
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Md5 => md5::Md5::digest(data).to_vec(),
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
            Self::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
            Self::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
            Self::Sha3_512 => sha3::Sha3_512::digest(data).to_vec(),
        }
    }

    /// The hash's output length in bytes, for the digests pbkdf2 accepts.
    fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 | Self::Sha3_256 => 32,
            Self::Sha384 | Self::Sha3_384 => 48,
            Self::Sha512 | Self::Sha3_512 => 64,
        }
    }

    fn pbkdf2(self, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) -> Option<()> {
        use pbkdf2::pbkdf2_hmac;
        match self {
            Self::Sha1 => pbkdf2_hmac::<sha1::Sha1>(password, salt, rounds, out),
            Self::Sha224 => pbkdf2_hmac::<sha2::Sha224>(password, salt, rounds, out),
            Self::Sha256 => pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, out),
            Self::Sha384 => pbkdf2_hmac::<sha2::Sha384>(password, salt, rounds, out),
            Self::Sha512 => pbkdf2_hmac::<sha2::Sha512>(password, salt, rounds, out),
            _ => return None,
        }
        Some(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Scheme {
    Digest(NodeDigest),
    Pbkdf2 { salt: Vec<u8>, iterations: u32, key_len: usize, digest: NodeDigest },
    FirebaseScrypt { salt: Vec<u8>, signer_key: Vec<u8>, log_n: u8, rounds: u32 },
}

/// A parsed, validated `Legacy` digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyDigest {
    scheme: Scheme,
    args: Vec<String>,
    expected: String,
}

impl LegacyDigest {
    /// Logto's creation-time checks: a JSON `[string, string[], string]` with `"@"` among the
    /// args → else `invalid_legacy_password_format`; a known algorithm → else
    /// `unsupported_legacy_hash_algorithm`; costs within our bounds → else `digest_cost_too_high`.
    pub fn parse(digest: &str) -> Result<Self, Error> {
        let Ok(Value::Array(tuple)) = serde_json::from_str::<Value>(digest) else {
            return Err(Error::InvalidLegacyFormat);
        };
        let [Value::String(algorithm), Value::Array(args), Value::String(expected)] = tuple.as_slice() else {
            return Err(Error::InvalidLegacyFormat);
        };
        let args: Vec<String> = args
            .iter()
            .map(|a| a.as_str().map(str::to_string).ok_or(Error::InvalidLegacyFormat))
            .collect::<Result<_, _>>()?;
        if !args.iter().any(|a| a == PLACEHOLDER) {
            return Err(Error::InvalidLegacyFormat);
        }
        let scheme = match algorithm.as_str() {
            "pbkdf2" | "pbkdf2Sync" => parse_pbkdf2(&args, algorithm)?,
            "firebase-scrypt" => parse_firebase(&args)?,
            name => Scheme::Digest(
                NodeDigest::from_name(name)
                    .ok_or_else(|| Error::UnsupportedLegacyAlgorithm(name.to_string()))?,
            ),
        };
        Ok(Self { scheme, args, expected: expected.clone() })
    }

    /// Recomputes with `candidate` in place of `"@"` and compares in constant time.
    pub fn matches(&self, candidate: &str) -> bool {
        let resolved: Vec<&str> =
            self.args.iter().map(|a| if a == PLACEHOLDER { candidate } else { a }).collect();
        let computed = match &self.scheme {
            Scheme::Digest(digest) => hex::encode(digest.digest(resolved.concat().as_bytes())),
            Scheme::Pbkdf2 { salt, iterations, key_len, digest } => {
                let password = resolved.get(4).copied().unwrap_or(candidate);
                let mut out = vec![0u8; *key_len];
                if digest.pbkdf2(password.as_bytes(), salt, *iterations, &mut out).is_none() {
                    return false;
                }
                hex::encode(out)
            }
            Scheme::FirebaseScrypt { salt, signer_key, log_n, rounds } => {
                match firebase_scrypt(candidate.as_bytes(), salt, signer_key, *log_n, *rounds) {
                    Some(hash) => STANDARD.encode(hash),
                    None => return false,
                }
            }
        };
        computed.as_bytes().ct_eq(self.expected.as_bytes()).into()
    }
}

/// `[salt, iterations, keylen, digest, "@"]`; a salt written `hex:<even hex>` is binary.
fn parse_pbkdf2(args: &[String], algorithm: &str) -> Result<Scheme, Error> {
    let [salt, iterations, key_len, digest, ..] = args else {
        return Err(Error::InvalidLegacyFormat);
    };
    let salt = match salt.strip_prefix("hex:") {
        Some(hex_salt) => hex::decode(hex_salt).map_err(|_| Error::InvalidLegacyFormat)?,
        None => salt.as_bytes().to_vec(),
    };
    let iterations: u32 = iterations.parse().map_err(|_| Error::InvalidLegacyFormat)?;
    let key_len: usize = key_len.parse().map_err(|_| Error::InvalidLegacyFormat)?;
    if iterations == 0 || key_len == 0 || key_len > 1024 {
        return Err(Error::InvalidLegacyFormat);
    }
    let digest = NodeDigest::from_name(digest)
        .filter(|d| d.pbkdf2(b"", b"", 1, &mut [0u8; 1]).is_some())
        .ok_or_else(|| Error::UnsupportedLegacyAlgorithm(format!("{algorithm} with {digest}")))?;
    let blocks = key_len.div_ceil(digest.output_len()) as u64;
    let work = u64::from(iterations) * blocks;
    if work > MAX_PBKDF2_WORK {
        return Err(Error::DigestCostTooHigh(format!(
            "pbkdf2 iterations × blocks = {iterations} × {blocks} exceed {MAX_PBKDF2_WORK}"
        )));
    }
    Ok(Scheme::Pbkdf2 { salt, iterations, key_len, digest })
}

/// `[salt, signerKey, saltSeparator, rounds, memCost, ...]`, all keys base64 or base64url.
fn parse_firebase(args: &[String]) -> Result<Scheme, Error> {
    let [salt, signer_key, separator, rounds, mem_cost, ..] = args else {
        return Err(Error::InvalidLegacyFormat);
    };
    let decode = |s: &str| {
        let standard = s.replace('-', "+").replace('_', "/");
        let padded = format!("{standard}{}", "=".repeat((4 - standard.len() % 4) % 4));
        STANDARD.decode(padded).map_err(|_| Error::InvalidLegacyFormat)
    };
    let mut salt = decode(salt)?;
    salt.extend(decode(separator)?);
    let signer_key = decode(signer_key)?;
    let rounds: u32 = rounds.parse().map_err(|_| Error::InvalidLegacyFormat)?;
    let log_n: u8 = mem_cost.parse().map_err(|_| Error::InvalidLegacyFormat)?;
    if rounds == 0 || log_n == 0 {
        return Err(Error::InvalidLegacyFormat);
    }
    // 128·r·2^memCost, computed without overflow for any memCost a u8 can say.
    let memory = 128u128.saturating_mul(u128::from(rounds)).saturating_mul(1u128 << log_n.min(100));
    if memory > u128::from(MAX_SCRYPT_MEMORY_BYTES) {
        return Err(Error::DigestCostTooHigh(format!(
            "firebase-scrypt memory 128 × rounds {rounds} × 2^{log_n} bytes exceeds {MAX_SCRYPT_MEMORY_BYTES}"
        )));
    }
    Ok(Scheme::FirebaseScrypt { salt, signer_key, log_n, rounds })
}

/// Firebase's scrypt: derive a key with scrypt(N=2^memCost, r=rounds, p=1, 32 bytes), then
/// AES-256-CTR-encrypt the project's signer key with it under a zero IV.
fn firebase_scrypt(
    password: &[u8],
    salt: &[u8],
    signer_key: &[u8],
    log_n: u8,
    rounds: u32,
) -> Option<Vec<u8>> {
    let params = scrypt::Params::new(log_n, rounds, 1).ok()?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut key).ok()?;
    let mut cipher = ctr::Ctr128BE::<Aes256>::new_from_slices(&key, &[0u8; 16]).ok()?;
    let mut out = signer_key.to_vec();
    cipher.apply_keystream(&mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(json: serde_json::Value) -> Result<LegacyDigest, Error> {
        LegacyDigest::parse(&json.to_string())
    }

    #[test]
    fn node_digest_over_concatenated_args() {
        // sha256("salt" + "password")
        let expected = hex::encode(sha2::Sha256::digest(b"saltpassword"));
        let digest = legacy(serde_json::json!(["sha256", ["salt", "@"], expected])).unwrap();
        assert!(digest.matches("password"));
        assert!(!digest.matches("passwor"));
    }

    #[test]
    fn pbkdf2_with_a_hex_salt() {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"password", &[0xde, 0xad, 0xbe, 0xef], 1000, &mut out);
        let digest = legacy(serde_json::json!([
            "pbkdf2",
            ["hex:deadbeef", "1000", "32", "sha256", "@"],
            hex::encode(out)
        ]))
        .unwrap();
        assert!(digest.matches("password"));
        assert!(!digest.matches("Password"));
    }

    #[test]
    fn format_errors_in_logto_order() {
        for bad in [
            serde_json::json!("not a tuple"),
            serde_json::json!(["sha256", ["salt"], "x"]),
            serde_json::json!(["sha256", "@", "x"]),
            serde_json::json!(["pbkdf2", ["hex:xyz", "1000", "32", "sha256", "@"], "x"]),
        ] {
            assert!(matches!(legacy(bad.clone()), Err(Error::InvalidLegacyFormat)), "{bad}");
        }
        assert!(matches!(LegacyDigest::parse("{"), Err(Error::InvalidLegacyFormat)));
        assert!(matches!(
            legacy(serde_json::json!(["whirlpool9", ["@"], "x"])),
            Err(Error::UnsupportedLegacyAlgorithm(name)) if name == "whirlpool9"
        ));
        assert!(matches!(
            legacy(serde_json::json!(["pbkdf2", ["s", "2000001", "32", "sha256", "@"], "x"])),
            Err(Error::DigestCostTooHigh(_))
        ));
    }

    #[test]
    fn pbkdf2_work_counts_every_block_of_the_key() {
        let pbkdf2 = |iterations: &str, key_len: &str, digest: &str| {
            legacy(serde_json::json!(["pbkdf2", ["s", iterations, key_len, digest, "@"], "x"]))
        };
        // 1024 bytes of SHA-256 output are 32 blocks: 32× the work of one.
        assert!(matches!(pbkdf2("2000000", "1024", "sha256"), Err(Error::DigestCostTooHigh(_))));
        assert!(matches!(pbkdf2("62501", "1024", "sha256"), Err(Error::DigestCostTooHigh(_))));
        assert!(pbkdf2("62500", "1024", "sha256").is_ok());
        assert!(pbkdf2("1000001", "40", "sha512").is_ok(), "40 bytes are one SHA-512 block");
        assert!(matches!(pbkdf2("1000001", "40", "sha1"), Err(Error::DigestCostTooHigh(_))));
        assert!(pbkdf2("2000000", "32", "sha256").is_ok());
    }

    #[test]
    fn firebase_scrypt_memory_is_bounded_whatever_the_split() {
        let firebase = |rounds: &str, mem_cost: &str| {
            legacy(serde_json::json!([
                "firebase-scrypt",
                ["c2FsdA", "a2V5", "Bw", rounds, mem_cost, "@"],
                "x"
            ]))
        };
        assert!(firebase("8", "14").is_ok(), "Firebase's own parameters: 16 MiB");
        assert!(firebase("4", "17").is_ok(), "exactly 64 MiB");
        assert!(matches!(firebase("64", "17"), Err(Error::DigestCostTooHigh(_))), "1 GiB");
        assert!(matches!(firebase("8", "17"), Err(Error::DigestCostTooHigh(_))), "128 MiB");
        assert!(matches!(firebase("1", "255"), Err(Error::DigestCostTooHigh(_))));
        assert!(matches!(firebase("4294967295", "1"), Err(Error::DigestCostTooHigh(_))));
    }
}
