//! Every users route: its success case and each error code the reference lists for it.

use serde_json::{Value, json};

use integration_tests::Env;

fn user_keys(user: &Value) -> Vec<String> {
    let mut keys: Vec<String> = user.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn create_answers_200_with_logto_user_shape() {
    let env = Env::new().await;
    let user = env
        .create_user(json!({
            "username": "alice_1", "primaryEmail": "Alice@Example.com", "primaryPhone": "610412345678",
            "name": "Alice", "avatar": "https://example.com/a.png", "customData": {"plan": "pro"},
            "profile": {"familyName": "Liddell", "unknownKey": 1}, "unknownTopLevel": true
        }))
        .await;
    assert_eq!(user["id"].as_str().unwrap().len(), 12);
    assert_eq!(user["username"], "alice_1");
    assert_eq!(user["primaryEmail"], "Alice@Example.com", "stored as given");
    assert_eq!(user["primaryPhone"], "61412345678", "stored normalised");
    assert_eq!(user["profile"], json!({"familyName": "Liddell"}), "unknown profile keys stripped");
    assert_eq!(user["customData"], json!({"plan": "pro"}));
    assert_eq!(user["hasPassword"], false);
    assert_eq!(user["isSuspended"], false);
    assert_eq!(user["createdAt"], user["updatedAt"]);
    assert_eq!(
        user_keys(&user),
        [
            "applicationId",
            "avatar",
            "cimdClientId",
            "createdAt",
            "customData",
            "hasPassword",
            "id",
            "identities",
            "isSuspended",
            "lastSignInAt",
            "name",
            "primaryEmail",
            "primaryPhone",
            "profile",
            "updatedAt",
            "username"
        ]
    );
    let empty = env.create_user(json!({})).await;
    assert_eq!(empty["username"], Value::Null);
}

#[tokio::test]
async fn create_rejects_bad_bodies_with_400() {
    let env = Env::new().await;
    for body in [
        json!({"username": "1starts_with_digit"}),
        json!({"username": null}),
        json!({"username": ""}),
        json!({"primaryEmail": "not-an-email"}),
        json!({"primaryPhone": "+61412345678"}),
        json!({"name": null}),
        json!({"name": 5}),
        json!({"avatar": "not a url"}),
        json!({"customData": []}),
        json!({"profile": {"familyName": 1}}),
        json!({"password": ""}),
        json!({"passwordDigest": "a".repeat(257), "passwordAlgorithm": "MD5"}),
        json!({"passwordDigest": "x", "passwordAlgorithm": "Rot13"}),
    ] {
        env.post("/api/users", body.clone()).await.assert_error(400, "guard.invalid_input");
    }
    let mut not_json =
        integration_tests::request_raw(lambda_http::http::Method::POST, "/api/users", "{not json");
    not_json.headers_mut().insert("authorization", env.admin_authorization.parse().unwrap());
    env.send(not_json).await.assert_error(400, "guard.invalid_input");
}

#[tokio::test]
async fn create_password_rules_in_logto_order() {
    let env = Env::new().await;
    env.post("/api/users", json!({"password": "a", "passwordDigest": "b", "passwordAlgorithm": "MD5"}))
        .await
        .assert_error(400, "user.password_and_digest");
    env.post("/api/users", json!({"passwordDigest": "b"}))
        .await
        .assert_error(400, "user.password_algorithm_required");
    env.post("/api/users", json!({"passwordAlgorithm": "Legacy"}))
        .await
        .assert_error(400, "password.unsupported_encryption_method");
    env.post("/api/users", json!({"passwordDigest": "not json", "passwordAlgorithm": "Legacy"}))
        .await
        .assert_error(400, "password.invalid_legacy_password_format");
    env.post(
        "/api/users",
        json!({"passwordDigest": "[\"sha256\", [\"salt\"], \"x\"]", "passwordAlgorithm": "Legacy"}),
    )
    .await
    .assert_error(400, "password.invalid_legacy_password_format");
    let unsupported = env
        .post(
            "/api/users",
            json!({"passwordDigest": "[\"rot13\", [\"@\"], \"x\"]", "passwordAlgorithm": "Legacy"}),
        )
        .await;
    unsupported.assert_error(400, "password.unsupported_legacy_hash_algorithm");
    assert!(unsupported.body["message"].as_str().unwrap().contains("rot13"));
    // A plain password with an algorithm: the plain password wins.
    let user = env.create_user(json!({"password": "abc", "passwordAlgorithm": "MD5"})).await;
    assert_eq!(user["hasPassword"], true);
    // A taken username is reported before a bad Legacy digest, as Logto does.
    env.create_user(json!({"username": "taken"})).await;
    env.post(
        "/api/users",
        json!({"username": "taken", "passwordDigest": "nope", "passwordAlgorithm": "Legacy"}),
    )
    .await
    .assert_error(422, "user.username_already_in_use");
}

#[tokio::test]
async fn create_conflicts_on_each_identifier() {
    let env = Env::new().await;
    env.create_user(json!({"username": "bob", "primaryEmail": "bob@x.io", "primaryPhone": "61412345678"}))
        .await;
    env.post("/api/users", json!({"username": "bob"}))
        .await
        .assert_error(422, "user.username_already_in_use");
    env.post("/api/users", json!({"primaryEmail": "BOB@X.IO"}))
        .await
        .assert_error(422, "user.email_already_in_use");
    env.post("/api/users", json!({"primaryPhone": "610412345678"}))
        .await
        .assert_error(422, "user.phone_already_in_use");
    // Username first, then email, then phone.
    env.post("/api/users", json!({"username": "bob", "primaryEmail": "bob@x.io"}))
        .await
        .assert_error(422, "user.username_already_in_use");
    env.post("/api/users", json!({"primaryEmail": "bob@x.io", "primaryPhone": "61412345678"}))
        .await
        .assert_error(422, "user.email_already_in_use");
    // Usernames are case-sensitive by default.
    env.create_user(json!({"username": "Bob"})).await;
}

#[tokio::test]
async fn usernames_collide_across_case_when_configured() {
    let env = Env::with(|c| c.username_case_sensitive = false).await;
    env.create_user(json!({"username": "Carol"})).await;
    env.post("/api/users", json!({"username": "carol"}))
        .await
        .assert_error(422, "user.username_already_in_use");
}

#[tokio::test]
async fn phones_collide_in_either_form() {
    let env = Env::new().await;
    let user = env.create_user(json!({"primaryPhone": "610412345678"})).await;
    assert_eq!(user["primaryPhone"], "61412345678");
    env.post("/api/users", json!({"primaryPhone": "61412345678"}))
        .await
        .assert_error(422, "user.phone_already_in_use");
    let other = env.create_user(json!({"primaryPhone": "13102051234"})).await;
    assert_eq!(other["primaryPhone"], "13102051234");
    env.post("/api/users", json!({"primaryPhone": "1"})).await.assert_error(422, "user.invalid_phone");
}

#[tokio::test]
async fn overlong_values_are_422_value_too_long() {
    let env = Env::new().await;
    env.post("/api/users", json!({"name": "n".repeat(129)})).await.assert_error(422, "entity.value_too_long");
    let id = env.create_user(json!({})).await["id"].as_str().unwrap().to_string();
    env.patch(&format!("/api/users/{id}"), json!({"avatar": format!("https://x.io/{}", "a".repeat(2048))}))
        .await
        .assert_error(422, "entity.value_too_long");
    // A user that would not fit a DynamoDB item: 422, not a 500.
    let big = "x".repeat(200_000);
    let reply =
        env.patch(&format!("/api/users/{id}"), json!({"customData": {"a": big, "b": big, "c": big}})).await;
    reply.assert_error(422, "entity.value_too_long");
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413() {
    let env = Env::new().await;
    let reply = env.post("/api/users", json!({"name": "x".repeat(1024 * 1024)})).await;
    reply.assert_error(413, "request.body_too_large");
}

#[tokio::test]
async fn get_user_and_its_flags() {
    let env = Env::new().await;
    let created = env.create_user(json!({"username": "dave", "password": "secret"})).await;
    let id = created["id"].as_str().unwrap();
    let got = env.get(&format!("/api/users/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, created);
    assert!(got.body.get("passwordDigest").is_none());
    let with_hash = env.get(&format!("/api/users/{id}?includePasswordHash=yes&includeSsoIdentities=1")).await;
    assert!(with_hash.body["passwordDigest"].as_str().unwrap().starts_with("$argon2id$"));
    assert_eq!(with_hash.body["passwordAlgorithm"], "Argon2id");
    assert_eq!(with_hash.body["ssoIdentities"], json!([]));
    env.get("/api/users/doesnotexist").await.assert_error(404, "entity.not_found");
    env.get("/api/users/NOT-AN-ID").await.assert_error(404, "entity.not_found");
}

#[tokio::test]
async fn patch_updates_clears_and_checks_conflicts() {
    let env = Env::new().await;
    env.create_user(json!({"username": "erin", "primaryEmail": "erin@x.io", "primaryPhone": "13102051234"}))
        .await;
    let user =
        env.create_user(json!({"username": "frank", "primaryEmail": "frank@x.io", "name": "Frank"})).await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/api/users/{id}");

    let updated = env
        .patch(&path, json!({"name": "Franky", "customData": {"a": 1}, "profile": {"nickname": "F"}}))
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["name"], "Franky");
    assert_eq!(updated.body["customData"], json!({"a": 1}));
    assert!(updated.body["updatedAt"].as_i64() > user["updatedAt"].as_i64());

    env.patch(&path, json!({"username": "erin"})).await.assert_error(422, "user.username_already_in_use");
    env.patch(&path, json!({"primaryEmail": "ERIN@x.io"}))
        .await
        .assert_error(422, "user.email_already_in_use");
    env.patch(&path, json!({"primaryPhone": "13102051234"}))
        .await
        .assert_error(422, "user.phone_already_in_use");
    // Email is checked before username on PATCH.
    env.patch(&path, json!({"username": "erin", "primaryEmail": "erin@x.io"}))
        .await
        .assert_error(422, "user.email_already_in_use");
    env.patch(&path, json!({"primaryPhone": "1"})).await.assert_error(422, "user.invalid_phone");
    env.patch(&path, json!({})).await.assert_error(422, "entity.invalid_input");
    env.patch(&path, json!({"username": 5})).await.assert_error(400, "guard.invalid_input");
    env.patch("/api/users/nobody000000", json!({"name": "x"})).await.assert_error(404, "entity.not_found");

    // "" and null both clear, and release the old value for others.
    let cleared = env.patch(&path, json!({"username": "", "primaryEmail": null})).await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.body["username"], Value::Null);
    assert_eq!(cleared.body["primaryEmail"], Value::Null);
    env.create_user(json!({"username": "frank", "primaryEmail": "frank@x.io"})).await;
    // Keeping one's own identifiers is not a conflict.
    let same = env.create_user(json!({"username": "gina"})).await;
    let same_path = format!("/api/users/{}", same["id"].as_str().unwrap());
    assert_eq!(env.patch(&same_path, json!({"username": "gina"})).await.status, 200);
}

#[tokio::test]
async fn delete_removes_the_user_and_frees_its_identifiers() {
    let env = Env::new().await;
    let user = env
        .create_user(json!({"username": "hank", "primaryEmail": "h@x.io", "primaryPhone": "61412345678"}))
        .await;
    let path = format!("/api/users/{}", user["id"].as_str().unwrap());
    let put = env.put(&format!("{path}/identities/github"), json!({"userId": "gh-1"})).await;
    assert_eq!(put.status, 201);
    let deleted = env.delete(&path).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null);
    env.get(&path).await.assert_error(404, "entity.not_found");
    env.delete(&path).await.assert_error(404, "entity.not_found");
    // Every guard went with the user: the table holds only the counter, at zero.
    let items = env.scan_users_table().await;
    assert_eq!(items.len(), 1, "only the counter remains: {items:?}");
    env.create_user(json!({"username": "hank", "primaryEmail": "h@x.io", "primaryPhone": "610412345678"}))
        .await;
}

#[tokio::test]
async fn custom_data_and_profile_merge_shallowly() {
    let env = Env::new().await;
    let user = env
        .create_user(json!({"customData": {"keep": 1, "nested": {"a": 1}}, "profile": {"familyName": "Z", "address": {"country": "NZ"}}}))
        .await;
    let path = format!("/api/users/{}", user["id"].as_str().unwrap());
    let data = env.get(&format!("{path}/custom-data")).await;
    assert_eq!(data.body, json!({"keep": 1, "nested": {"a": 1}}));
    let merged = env
        .patch(&format!("{path}/custom-data"), json!({"customData": {"nested": {"b": 2}, "nil": null}}))
        .await;
    assert_eq!(merged.status, 200);
    assert_eq!(merged.body, json!({"keep": 1, "nested": {"b": 2}, "nil": null}));
    env.patch(&format!("{path}/custom-data"), json!({})).await.assert_error(400, "guard.invalid_input");
    env.patch(&format!("{path}/custom-data"), json!({"customData": [1]}))
        .await
        .assert_error(400, "guard.invalid_input");
    env.get("/api/users/nobody000000/custom-data").await.assert_error(404, "entity.not_found");
    env.patch("/api/users/nobody000000/custom-data", json!({"customData": {}}))
        .await
        .assert_error(404, "entity.not_found");

    let profile = env.patch(&format!("{path}/profile"), json!({"profile": {"givenName": "A"}})).await;
    assert_eq!(profile.body, json!({"familyName": "Z", "givenName": "A", "address": {"country": "NZ"}}));
    let replaced =
        env.patch(&format!("{path}/profile"), json!({"profile": {"address": {"locality": "W"}}})).await;
    assert_eq!(replaced.body["address"], json!({"locality": "W"}));
    env.patch(&format!("{path}/profile"), json!({"profile": {"website": 1}}))
        .await
        .assert_error(400, "guard.invalid_input");
    env.patch("/api/users/nobody000000/profile", json!({"profile": {}}))
        .await
        .assert_error(404, "entity.not_found");
}

#[tokio::test]
async fn suspension_toggles() {
    let env = Env::new().await;
    let user = env.create_user(json!({})).await;
    let path = format!("/api/users/{}/is-suspended", user["id"].as_str().unwrap());
    let suspended = env.patch(&path, json!({"isSuspended": true})).await;
    assert_eq!((suspended.status, &suspended.body["isSuspended"]), (200, &json!(true)));
    let back = env.patch(&path, json!({"isSuspended": false})).await;
    assert_eq!(back.body["isSuspended"], false);
    env.patch(&path, json!({"isSuspended": "yes"})).await.assert_error(400, "guard.invalid_input");
    env.patch(&path, json!({})).await.assert_error(400, "guard.invalid_input");
    env.patch("/api/users/nobody000000/is-suspended", json!({"isSuspended": true}))
        .await
        .assert_error(404, "entity.not_found");
}

#[tokio::test]
async fn identities_link_replace_read_and_unlink() {
    let env = Env::new().await;
    let user = env.create_user(json!({})).await;
    let other = env.create_user(json!({})).await;
    let path = format!("/api/users/{}/identities", user["id"].as_str().unwrap());
    let other_path = format!("/api/users/{}/identities", other["id"].as_str().unwrap());

    let created =
        env.put(&format!("{path}/github"), json!({"userId": "gh-1", "details": {"login": "u"}})).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body, json!({"github": {"userId": "gh-1", "details": {"login": "u"}}}));
    let replaced = env.put(&format!("{path}/github"), json!({"userId": "gh-2"})).await;
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.body, json!({"github": {"userId": "gh-2"}}));
    // gh-1 was released by the replacement; gh-2 is now taken.
    assert_eq!(env.put(&format!("{other_path}/github"), json!({"userId": "gh-1"})).await.status, 201);
    env.put(&format!("{other_path}/github"), json!({"userId": "gh-2"}))
        .await
        .assert_error(422, "user.identity_already_in_use");
    env.put(&format!("{path}/github"), json!({})).await.assert_error(400, "guard.invalid_input");
    env.put("/api/users/nobody000000/identities/github", json!({"userId": "x"}))
        .await
        .assert_error(404, "entity.not_found");

    let got = env.get(&format!("{path}/github")).await;
    assert_eq!(got.body, json!({"identity": {"userId": "gh-2"}}));
    env.get(&format!("{path}/google")).await.assert_error(404, "user.identity_not_exist");
    env.get("/api/users/nobody000000/identities/github").await.assert_error(404, "entity.not_found");

    let unlinked = env.delete(&format!("{path}/github")).await;
    assert_eq!(unlinked.status, 200);
    assert_eq!(unlinked.body["identities"], json!({}));
    assert!(unlinked.body.get("passwordDigest").is_none());
    env.delete(&format!("{path}/github")).await.assert_error(404, "user.identity_not_exist");
    assert_eq!(env.put(&format!("{path}/gitlab"), json!({"userId": "gh-2"})).await.status, 201);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let env = Env::new().await;
    env.get("/api/nothing-here").await.assert_error(404, "guard.route_not_found");
    let wrong = env.call(lambda_http::http::Method::PUT, "/api/users", Some(json!({}))).await;
    wrong.assert_error(405, "guard.method_not_allowed");
    assert_eq!(wrong.header("allow"), Some("GET, POST"));
}

#[tokio::test]
async fn unsupported_filters_are_400() {
    let env = Env::new().await;
    env.get("/api/users?excludeRoleId=r1").await.assert_error(400, "request.invalid_input");
}

#[tokio::test]
async fn identities_are_bounded_and_a_user_holding_the_most_stays_deletable() {
    use shared::domain::identity::MAX_IDENTITIES;
    let env = Env::new().await;
    let user = env
        .create_user(json!({"username": "linked", "primaryEmail": "l@x.io", "primaryPhone": "610412345678"}))
        .await;
    let base = format!("/api/users/{}/identities", user["id"].as_str().unwrap());
    // A target or an id too long for a DynamoDB key is the client's error, not a 500.
    env.put(&format!("{base}/{}", "t".repeat(3000)), json!({"userId": "1"}))
        .await
        .assert_error(400, "guard.invalid_input");
    env.put(&format!("{base}/github"), json!({"userId": "1".repeat(3000)}))
        .await
        .assert_error(400, "guard.invalid_input");
    env.put(&format!("{base}/git%00hub"), json!({"userId": "1"}))
        .await
        .assert_error(400, "guard.invalid_input");
    for i in 0..MAX_IDENTITIES {
        let reply = env.put(&format!("{base}/provider{i}"), json!({"userId": format!("id-{i}")})).await;
        assert_eq!(reply.status, 201, "{i}: {}", reply.body);
    }
    env.put(&format!("{base}/one-more"), json!({"userId": "x"}))
        .await
        .assert_error(422, "user.too_many_identities");
    assert_eq!(env.put(&format!("{base}/provider0"), json!({"userId": "replaced"})).await.status, 200);
    // Every identifier changed at once, with every identity held: one transaction still fits.
    let path = format!("/api/users/{}", user["id"].as_str().unwrap());
    let patched = env
        .patch(
            &path,
            json!({"username": "relinked", "primaryEmail": "r@x.io", "primaryPhone": "13102051234"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(env.delete(&path).await.status, 204);
    env.get(&path).await.assert_error(404, "entity.not_found");
    env.assert_invariants().await;
    assert!(
        env.scan_users_table()
            .await
            .iter()
            .all(|i| i.get("kind").and_then(|k| k.as_s().ok()).is_none_or(|k| k != "guard")),
        "no guard left"
    );
}

#[tokio::test]
async fn canonically_equal_spellings_are_one_identifier() {
    let env = Env::new().await;
    let composed = env.create_user(json!({"primaryEmail": "jos\u{e9}@example.com"})).await;
    env.post("/api/users", json!({"primaryEmail": "jose\u{301}@example.com"}))
        .await
        .assert_error(422, "user.email_already_in_use");
    let other = env.create_user(json!({"primaryEmail": "maria\u{301}@example.com"})).await;
    assert_eq!(other["primaryEmail"], "mari\u{e1}@example.com", "stored in NFC");
    let base = format!("/api/users/{}/identities", composed["id"].as_str().unwrap());
    assert_eq!(env.put(&format!("{base}/cafe%CC%81"), json!({"userId": "jose\u{301}"})).await.status, 201);
    let read = env.get(&format!("{base}/caf%C3%A9")).await;
    assert_eq!((read.status, &read.body["identity"]["userId"]), (200, &json!("jos\u{e9}")));
    // The same identity under the other spelling, on another user, is taken.
    let taken = format!("/api/users/{}/identities/caf%C3%A9", other["id"].as_str().unwrap());
    env.put(&taken, json!({"userId": "jos\u{e9}"})).await.assert_error(422, "user.identity_already_in_use");
}
