//! Argon2 over one reused block of working memory.
//!
//! Each Argon2 hash fills `m_cost` KiB of memory (19 MiB at OWASP's parameters). The crate's
//! own `hash_password`/`verify_password` allocate and free it on every call; under load the
//! freed blocks stayed with the allocator's per-thread arenas and the passwords function
//! peaked near 123 MiB. A Lambda instance serves one request at a time, so one buffer of the
//! current parameters' size is kept and lent to each hash; a hash with larger (imported)
//! parameters, or one that runs while the buffer is lent (tests run many at once), gets a
//! buffer of its own for its duration. As with the crate's own allocation, the memory is not
//! wiped between hashes: it never leaves the process.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Mutex, PoisonError};
use subtle::ConstantTimeEq;

use super::{ARGON2_M_COST, ARGON2_P_COST, ARGON2_T_COST};

/// The digest length of new hashes, in bytes.
const OUTPUT_LEN: usize = 32;

static KEPT: Mutex<Option<Vec<Block>>> = Mutex::new(None);

fn current_params() -> Params {
    Params::new(ARGON2_M_COST, ARGON2_T_COST, ARGON2_P_COST, Some(OUTPUT_LEN))
        .expect("OWASP parameters are valid")
}

/// Runs `work` on `blocks` blocks of memory: the kept buffer when it is free and large enough.
fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    let keepable = current_params().block_count();
    let lent =
        if blocks <= keepable { KEPT.lock().unwrap_or_else(PoisonError::into_inner).take() } else { None };
    let mut memory = lent.unwrap_or_else(|| vec![Block::default(); blocks.max(keepable)]);
    let result = work(&mut memory[..blocks]);
    if memory.len() == keepable {
        KEPT.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(memory);
    }
    result
}

/// A new Argon2id hash of `password` at the current parameters, PHC-encoded.
pub fn hash(password: &[u8]) -> String {
    let params = current_params();
    let salt = argon2::password_hash::generate_salt();
    let mut output = [0u8; OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_memory(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, &salt, &mut output, memory)
    })
    .expect("hashing with valid parameters and a 16-byte salt succeeds");
    Phc {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("valid parameters encode"),
        salt: Some(Salt::new(&salt).expect("16 bytes is a valid salt")),
        hash: Some(Output::new(&output).expect("32 bytes is a valid output")),
    }
    .to_string()
}

/// Whether `password` hashes to the PHC-encoded Argon2 `digest` (any variant and version);
/// false for a digest that does not parse.
pub fn verify(password: &[u8], digest: &str) -> bool {
    let Ok(phc) = Phc::new(digest) else { return false };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else { return false };
    let version = match phc.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&phc) else { return false };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut computed = vec![0u8; expected.len()];
    let hashed = with_memory(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, salt.as_ref(), &mut computed, memory)
    });
    hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_are_the_crates_own_format_and_verify_both_ways() {
        let ours = hash(b"correct horse");
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        // The crate's verifier accepts ours, and ours accepts the crate's (other variants and
        // parameters included).
        assert!(Argon2::default().verify_password(b"correct horse", ours.as_str()).is_ok());
        assert!(verify(b"correct horse", &ours));
        assert!(!verify(b"correct horsf", &ours));
        let params = Params::new(1024, 1, 1, Some(24)).unwrap();
        for algorithm in [Algorithm::Argon2i, Algorithm::Argon2d, Algorithm::Argon2id] {
            let theirs = Argon2::new(algorithm, Version::V0x10, params.clone())
                .hash_password(b"pw")
                .unwrap()
                .to_string();
            assert!(verify(b"pw", &theirs), "{theirs}");
            assert!(!verify(b"pW", &theirs), "{theirs}");
        }
        assert!(!verify(b"pw", "$argon2id$v=19$m=19456,t=2,p=1$bm90IGJhc2U2NA"), "no hash part");
        assert!(!verify(b"pw", "not a digest"));
    }

    #[test]
    fn a_larger_imported_cost_borrows_memory_of_its_own_and_the_kept_buffer_stays() {
        let big = Params::new(ARGON2_M_COST * 2, 1, 1, None).unwrap();
        let digest =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, big).hash_password(b"pw").unwrap().to_string();
        assert!(verify(b"pw", &digest));
        hash(b"again");
        let kept = KEPT.lock().unwrap().as_ref().map(Vec::len);
        // Another test may have the buffer lent right now; when it is back, it is the size
        // of the current parameters, never the larger one.
        assert!(kept.is_none_or(|len| len == current_params().block_count()), "{kept:?}");
    }
}
