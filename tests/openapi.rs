//! `docs/openapi.json` describes exactly the routes the functions serve, and the docs function
//! serves it.

use lambda_http::http::Method;
use serde_json::Value;
use std::collections::BTreeSet;

use integration_tests::{Reply, request};

fn document() -> Value {
    serde_json::from_str(docs::OPENAPI).expect("the document is JSON")
}

#[test]
fn the_document_lists_exactly_the_served_routes() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let served: BTreeSet<String> = [
        users::routes(),
        passwords::routes(),
        logs::routes(),
        hooks::routes(),
        oidc::routes(),
        docs::routes(),
    ]
    .into_iter()
    .flatten()
    .map(|(method, path)| format!("{method} {path}"))
    .collect();
    assert_eq!(documented, served, "docs/openapi.json and the routers disagree");
}

#[test]
fn every_api_route_but_the_document_requires_a_bearer_token() {
    let doc = document();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let public = path.starts_with("/oidc/") || path == "/api/swagger.json";
            assert_eq!(secured, !public, "{method} {path}");
            if secured {
                for status in ["401", "403"] {
                    assert!(op["responses"].get(status).is_some(), "{method} {path} documents {status}");
                }
            }
        }
    }
}

#[tokio::test]
async fn the_docs_function_serves_the_document_without_a_token() {
    let reply = Reply::from(docs::handle(request(Method::GET, "/api/swagger.json", None)).await);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, document());
    let wrong = Reply::from(docs::handle(request(Method::POST, "/api/swagger.json", None)).await);
    wrong.assert_error(405, "guard.method_not_allowed");
}

/// The patterns the document states are the rules the API enforces, so that clients and
/// generated requests (schemathesis) get past validation: on a spread of values (ASCII and
/// not, digits and letters of other scripts, control characters, empty), each pattern accepts
/// exactly what the API's own parser accepts. (The avatar's pattern only approximates the
/// WHATWG URL parser, and is left out.)
#[test]
fn stated_patterns_are_the_rules_the_api_enforces() {
    use shared::domain::identifiers::PhoneDigits;
    use shared::domain::identity::{IdentityTarget, SocialUserId};
    use shared::domain::{Email, Username};

    let document = document();
    let user = &document["components"]["schemas"]["CreateUser"]["properties"];
    let identity = &document["paths"]["/api/users/{userId}/identities/{target}"]["put"];
    let target = identity["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "target").unwrap();
    let social_id = &identity["requestBody"]["content"]["application/json"]["schema"]["properties"]["userId"];
    type Accepts = fn(&str) -> bool;
    let rules: [(&str, &Value, Accepts); 5] = [
        ("username", &user["username"], |s| Username::parse(s).is_ok()),
        ("primaryEmail", &user["primaryEmail"], |s| Email::parse(s).is_ok()),
        ("primaryPhone", &user["primaryPhone"], |s| PhoneDigits::parse(s).is_ok()),
        ("target", &target["schema"], |s| IdentityTarget::parse(s).is_ok()),
        ("identity userId", social_id, |s| SocialUserId::parse(s).is_ok()),
    ];
    let samples = [
        "alice",
        "_a1",
        "A_b_2",
        "1abc",
        "a-b",
        "a b",
        "Ä",
        "aé",
        "a\u{0661}",
        "\u{0663}\u{0664}",
        "123",
        "0",
        "a@b.c",
        "a@b",
        "ü@x.de",
        "a b@c.d",
        "",
        " ",
        "a\u{7}",
        "a\u{85}b",
        "a\u{7f}",
        "github",
        "cafe\u{301}",
        "x:y",
        "12 34",
    ];
    for (name, schema, accepts) in rules {
        let pattern =
            regex::Regex::new(schema["pattern"].as_str().unwrap_or_else(|| panic!("{name}: a pattern")))
                .unwrap();
        for sample in samples {
            assert_eq!(
                pattern.is_match(sample),
                accepts(sample),
                "{name}: the document's pattern and the API disagree on {sample:?}"
            );
        }
    }
}
