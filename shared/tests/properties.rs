//! Property tests for the parsers that take hostile input: whatever they are given, they
//! answer (a value or a typed error) and never panic; where a law holds, it holds.

use proptest::prelude::*;

use shared::domain::password::LegacyDigest;
use shared::domain::search::{LikePattern, Search, SearchRow};
use shared::domain::{Page, Phone};

fn row(text: &str) -> SearchRow {
    SearchRow {
        id: "abc123def456".into(),
        username: Some(text.into()),
        primary_email: Some(format!("{text}@x.io")),
        primary_phone: None,
        name: Some(text.into()),
        created_at: 0,
    }
}

/// Query keys as a client might send them, hostile ones included.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("search".to_string()),
        Just("search.name".to_string()),
        Just("search.primaryEmail".to_string()),
        Just("mode".to_string()),
        Just("mode.name".to_string()),
        Just("joint".to_string()),
        Just("isCaseSensitive".to_string()),
        "(search|mode)[.a-zA-Z_]{0,12}",
        ".{0,8}",
    ]
}

fn mode() -> impl Strategy<Value = String> {
    prop_oneof![Just("exact"), Just("like"), Just("similar_to"), Just("posix"), Just("true"), Just("and")]
        .prop_map(String::from)
}

proptest! {
    // A fixed seed: CI runs the same cases every time (a new finding never surprises a
    // merge); raise `cases` or change the seed locally to explore further.
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_127),
        ..ProptestConfig::default()
    })]

    #[test]
    fn search_parsing_and_matching_never_panic(
        pairs in prop::collection::vec((key(), prop_oneof![mode(), ".{0,24}"]), 0..6),
        text in ".{0,40}",
    ) {
        if let Ok(search) = Search::parse(&pairs) {
            let _ = search.matches(&row(&text));
        }
    }

    #[test]
    fn a_like_pattern_without_wildcards_matches_only_itself(text in "[^%_\\\\]{0,30}", other in ".{0,30}") {
        let pattern = LikePattern::parse(&text).unwrap();
        prop_assert!(pattern.matches(&text));
        prop_assert_eq!(pattern.matches(&other), other == text);
        prop_assert_eq!(pattern.literal_prefix(), text);
    }

    #[test]
    fn percent_text_percent_finds_the_text_anywhere(needle in "[a-z]{1,5}", before in "[a-z]{0,10}", after in "[a-z]{0,10}") {
        let pattern = LikePattern::parse(&format!("%{needle}%")).unwrap();
        let haystack = format!("{before}{needle}{after}");
        prop_assert!(pattern.matches(&haystack));
        prop_assert_eq!(pattern.matches(&format!("{before}{after}")), format!("{before}{after}").contains(&needle));
    }

    #[test]
    fn any_like_pattern_is_answered(pattern in ".{0,40}", text in ".{0,60}") {
        if let Ok(pattern) = LikePattern::parse(&pattern) {
            let _ = pattern.matches(&text);
        }
    }

    #[test]
    fn similar_to_and_posix_patterns_are_answered(pattern in ".{0,40}", text in ".{0,40}") {
        for mode in ["similar_to", "posix"] {
            let pairs = vec![
                ("search.name".to_string(), pattern.clone()),
                ("mode".to_string(), mode.to_string()),
                ("isCaseSensitive".to_string(), "true".to_string()),
            ];
            if let Ok(search) = Search::parse(&pairs) {
                let _ = search.matches(&row(&text));
            }
        }
    }

    #[test]
    fn phone_normalisation_is_stable(digits in "[0-9]{1,20}") {
        if let Ok(phone) = Phone::normalize(&digits) {
            let again = Phone::normalize(phone.as_str()).expect("a normalised phone parses");
            prop_assert_eq!(again.as_str(), phone.as_str());
            let [stored, trunk] = phone.forms();
            prop_assert!(trunk.len() == stored.len() + 1);
        }
    }

    #[test]
    fn any_text_as_a_legacy_digest_is_answered(text in ".{0,80}") {
        let _ = LegacyDigest::parse(&text);
    }

    /// Well-formed tuples with hostile parts: a known algorithm (or a near miss), arguments
    /// that hold the `"@"` placeholder among salts, numbers and junk, so that `matches` runs
    /// on most cases; where the expected value is the right one, it matches.
    #[test]
    fn legacy_digests_are_answered(
        algorithm in legacy_algorithm(),
        mut args in prop::collection::vec(legacy_arg(), 0..6),
        at in any::<prop::sample::Index>(),
        password in ".{0,16}",
    ) {
        let place = at.index(args.len() + 1);
        args.insert(place, "@".to_string());
        let tuple = |expected: &str| serde_json::json!([algorithm, args, expected]).to_string();
        if let Ok(digest) = LegacyDigest::parse(&tuple("00")) {
            let _ = digest.matches(&password);
            // A plain digest over the concatenated arguments: the right expected value matches.
            if let Some(expected) = node_digest(&algorithm, &args, &password) {
                let right = LegacyDigest::parse(&tuple(&expected)).expect("parsed once already");
                prop_assert!(right.matches(&password));
            }
        }
    }

    /// Mostly numbers near the bounds (0, 1, 100, 101, huge, negative, padded), some junk,
    /// repeated parameters: the page and size are in range whenever they parse, and they parse
    /// whenever each is (at most) one positive integer, the size at most 100.
    #[test]
    fn paging_is_answered(page in prop::collection::vec(paging_value(), 0..3), size in prop::collection::vec(paging_value(), 0..3)) {
        let page: Vec<&str> = page.iter().map(String::as_str).collect();
        let size: Vec<&str> = size.iter().map(String::as_str).collect();
        // Empty values are ignored and the rest trimmed, as Logto reads them.
        let positive = |values: &[&str], max: u64| {
            match values.iter().filter(|v| !v.is_empty()).collect::<Vec<_>>().as_slice() {
                [] => true,
                [one] => one.trim().parse::<u64>().is_ok_and(|n| (1..=max).contains(&n)),
                _ => false,
            }
        };
        match Page::parse(&page, &size) {
            Ok(parsed) => prop_assert!(parsed.number >= 1 && (1..=100).contains(&parsed.size)),
            Err(_) => prop_assert!(!(positive(&page, u64::MAX) && positive(&size, 100)), "{page:?} {size:?}"),
        }
    }
}

fn legacy_algorithm() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "md5",
            "sha1",
            "sha256",
            "sha512",
            "sha3-256",
            "SHA256",
            "pbkdf2",
            "pbkdf2Sync",
            "firebase-scrypt",
        ])
        .prop_map(String::from),
        "[a-z0-9-]{0,12}",
    ]
}

fn legacy_arg() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{0,12}",
        "[0-9]{1,8}",
        prop::sample::select(vec!["sha256", "sha1", "sha512", "hex:00ff", "hex:xyz", "@", "", "0", "-1"])
            .prop_map(String::from),
        ".{0,12}",
    ]
}

/// The hex digest Logto's legacy scheme expects for a plain hash algorithm, if it is one.
fn node_digest(algorithm: &str, args: &[String], password: &str) -> Option<String> {
    use sha2::Digest;
    let text: String = args.iter().map(|a| if a == "@" { password } else { a.as_str() }).collect();
    Some(match algorithm {
        "md5" => hex::encode(md5::Md5::digest(text.as_bytes())),
        "sha1" => hex::encode(sha1::Sha1::digest(text.as_bytes())),
        "sha256" | "SHA256" => hex::encode(sha2::Sha256::digest(text.as_bytes())),
        "sha512" => hex::encode(sha2::Sha512::digest(text.as_bytes())),
        _ => return None,
    })
}

fn paging_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["0", "1", "2", "99", "100", "101", "-1", "01", " 1", "1.0", "", "18446744073709551616"])
            .prop_map(String::from),
        3 => (1u64..=200).prop_map(|n| n.to_string()),
        1 => ".{0,12}",
    ]
}
