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
    let served: BTreeSet<String> =
        [users::routes(), passwords::routes(), logs::routes(), oidc::routes(), docs::routes()]
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
