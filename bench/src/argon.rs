//! Argon2id at the product's parameters (m=19456 KiB, t=2, p=1): the product's own hash and
//! verify (the `argon2` crate, as `shared` calls it) next to the reference C implementation
//! (Debian's libargon2, loaded at run time), alternating call by call on one thread.

use serde_json::json;
use std::ffi::{CString, c_char, c_int};
use std::time::Instant;

use shared::domain::password::PasswordHash;

use crate::report::{Budget, Section, table};
use crate::stats::{fmt, median, ms, paired_ratio};

const BUDGET: f64 = 1.3;
const T_COST: u32 = 2;
const M_COST: u32 = 19456;
const PARALLELISM: u32 = 1;

type HashEncoded = unsafe extern "C" fn(
    u32,
    u32,
    u32,
    *const u8,
    usize,
    *const u8,
    usize,
    usize,
    *mut c_char,
    usize,
) -> c_int;
type Verify = unsafe extern "C" fn(*const c_char, *const u8, usize) -> c_int;

/// The reference implementation: `argon2id_hash_encoded` and `argon2id_verify` from libargon2.
struct Reference {
    _library: libloading::Library,
    hash: HashEncoded,
    verify: Verify,
}

impl Reference {
    fn load() -> Result<Self, String> {
        // SAFETY: libargon2's initialisers have no preconditions; the symbols' signatures are
        // those of argon2.h (20171227), which the types above transcribe.
        unsafe {
            let library = libloading::Library::new("libargon2.so.1").map_err(|e| e.to_string())?;
            let hash = *library.get::<HashEncoded>(b"argon2id_hash_encoded\0").map_err(|e| e.to_string())?;
            let verify = *library.get::<Verify>(b"argon2id_verify\0").map_err(|e| e.to_string())?;
            Ok(Self { _library: library, hash, verify })
        }
    }

    fn hash(&self, password: &str, salt: &[u8]) -> CString {
        let mut encoded = vec![0u8; 128];
        // SAFETY: every pointer is valid for the length passed with it.
        let rc = unsafe {
            (self.hash)(
                T_COST,
                M_COST,
                PARALLELISM,
                password.as_ptr(),
                password.len(),
                salt.as_ptr(),
                salt.len(),
                32,
                encoded.as_mut_ptr().cast(),
                encoded.len(),
            )
        };
        assert_eq!(rc, 0, "libargon2 hashes");
        let end = encoded.iter().position(|b| *b == 0).expect("a terminated string");
        CString::new(&encoded[..end]).expect("no interior NUL")
    }

    fn verify(&self, encoded: &CString, password: &str) -> bool {
        // SAFETY: `encoded` is NUL-terminated; the password pointer is valid for its length.
        unsafe { (self.verify)(encoded.as_ptr(), password.as_ptr(), password.len()) == 0 }
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (ms(start.elapsed()), out)
}

pub fn measure(quick: bool) -> Section {
    let rounds = if quick { 15 } else { 60 };
    let password = "correct horse battery staple";
    let reference = match Reference::load() {
        Ok(reference) => reference,
        Err(why) => {
            println!("argon2: reference not measured: {why}");
            let markdown = format!(
                "Not measured: the reference library could not be loaded ({why}). Install Debian's `argon2`.\n"
            );
            return Section {
                key: "argon2",
                title: "Argon2id",
                json: json!({ "error": why }),
                markdown,
                budgets: vec![],
            };
        }
    };
    let (mut ours_hash, mut ref_hash, mut ours_verify, mut ref_verify) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let (t, ours) = time(|| PasswordHash::new_argon2id(password));
        ours_hash.push(t);
        let (t, theirs) = time(|| reference.hash(password, b"0123456789abcdef"));
        ref_hash.push(t);
        let (t, ok) = time(|| ours.matches(password));
        assert!(ok, "the product verifies its own hash");
        ours_verify.push(t);
        let (t, ok) = time(|| reference.verify(&theirs, password));
        assert!(ok, "the reference verifies its own hash");
        ref_verify.push(t);
        // Each side reads the other's hashes: the same function, not just the same speed.
        assert!(reference.verify(&CString::new(ours.digest.clone()).unwrap(), password));
        assert!(PasswordHash { digest: theirs.to_str().unwrap().into(), ..ours }.matches(password));
    }
    let hash_ratio = paired_ratio(&ours_hash, &ref_hash);
    let verify_ratio = paired_ratio(&ours_verify, &ref_verify);
    println!(
        "argon2id hash {} ms vs reference {} ms (×{}), verify {} ms vs {} ms (×{})",
        fmt(median(&ours_hash)),
        fmt(median(&ref_hash)),
        fmt(hash_ratio),
        fmt(median(&ours_verify)),
        fmt(median(&ref_verify)),
        fmt(verify_ratio)
    );
    let rows = vec![
        vec!["hash".into(), fmt(median(&ours_hash)), fmt(median(&ref_hash)), format!("×{}", fmt(hash_ratio))],
        vec![
            "verify".into(),
            fmt(median(&ours_verify)),
            fmt(median(&ref_verify)),
            format!("×{}", fmt(verify_ratio)),
        ],
    ];
    let budgets = vec![
        Budget::new(
            format!("Argon2id hash ≤ {BUDGET}× reference"),
            format!("×{BUDGET}"),
            format!("×{}", fmt(hash_ratio)),
            hash_ratio <= BUDGET,
        ),
        Budget::new(
            format!("Argon2id verify ≤ {BUDGET}× reference"),
            format!("×{BUDGET}"),
            format!("×{}", fmt(verify_ratio)),
            verify_ratio <= BUDGET,
        ),
    ];
    let markdown = format!(
        "m=19456 KiB, t=2, p=1, 32-byte hash, 16-byte salt; median of {rounds} paired calls on one \
         thread. *Ours* is `PasswordHash::new_argon2id` / `matches` from `shared` (the `argon2` \
         crate); the reference is Debian's libargon2 (`argon2id_hash_encoded` / \
         `argon2id_verify`). Each verifies the other's hashes.\n\n{}",
        table(&["operation", "ours ms", "reference ms", "ratio (paired)"], &rows)
    );
    let json = json!({
        "rounds": rounds,
        "hash": { "ours_ms": median(&ours_hash), "reference_ms": median(&ref_hash), "ratio": hash_ratio },
        "verify": { "ours_ms": median(&ours_verify), "reference_ms": median(&ref_verify), "ratio": verify_ratio },
    });
    Section { key: "argon2", title: "Argon2id", json, markdown, budgets }
}
