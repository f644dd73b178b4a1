//! Ids in Logto's alphabet: 12 characters for users, 21 for logs and apps.
//! Written here rather than with the `nanoid` crate: it is a dozen lines on `getrandom`,
//! which the build already has, and the alphabet must match Logto's exactly.

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A random id of `len` characters from `[0-9a-z]`, uniformly distributed.
pub fn random_id(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the OS random source is available");
        // 252 = 7 * 36: rejecting bytes above it keeps every character equally likely.
        for byte in buf.iter().filter(|b| **b < 252) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(*byte % 36) as usize] as char);
        }
    }
    out
}

pub fn new_user_id() -> String {
    random_id(12)
}

pub fn new_log_id() -> String {
    random_id(21)
}

/// An id of `len` characters from `[0-9a-z]` that `seed` always gives (SHA-256 of it): for
/// records that must be written once however often the work is retried.
pub fn derived_id(seed: &str, len: usize) -> String {
    use sha2::Digest;
    let mut out = String::with_capacity(len);
    let mut block = sha2::Sha256::digest(seed.as_bytes());
    while out.len() < len {
        for byte in block.iter().filter(|b| **b < 252) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(*byte % 36) as usize] as char);
        }
        block = sha2::Sha256::digest(block);
    }
    out
}

/// Whether `value` could be a user id; anything else cannot exist, so it is a 404 without a read.
pub fn is_user_id(value: &str) -> bool {
    is_id(value)
}

/// Whether `value` could be an id this product made (users, hooks, log entries, apps).
pub fn is_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_length_and_alphabet_of_logto() {
        let id = new_user_id();
        assert_eq!(id.len(), 12);
        assert!(is_user_id(&id));
        assert_eq!(new_log_id().len(), 21);
        assert_ne!(new_user_id(), new_user_id());
    }
}
