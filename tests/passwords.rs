//! Password routes. Known vectors come from independent implementations (Python's
//! argon2-cffi, bcrypt, hashlib and cryptography), not from this code.

use serde_json::{Value, json};

use integration_tests::Env;

const FIREBASE_SIGNER_KEY: &str =
    "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==";

/// (algorithm, digest of "password")
fn vectors() -> Vec<(&'static str, String)> {
    let legacy = |v: Value| v.to_string();
    vec![
        ("MD5", "5f4dcc3b5aa765d61d8327deb882cf99".into()),
        ("SHA1", "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8".into()),
        ("SHA256", "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8".into()),
        ("Bcrypt", "$2b$10$abcdefghijklmnopqrstuu5Lo0g67CiD3M4RpN1BmBb4Crp5w7dbK".into()),
        ("Argon2i", "$argon2i$v=19$m=4096,t=2,p=1$c29tZXNhbHQxMjM0NTY3OA$waUhv/9v/LR2PFC8ZZXsJXa2G1/yGF7tTE420vc4awA".into()),
        ("Argon2id", "$argon2id$v=19$m=4096,t=2,p=1$c29tZXNhbHQxMjM0NTY3OA$9gia9rvkBMj6118I3Mq7O8TiwAGD7ayVtm5XBzbjHmo".into()),
        ("Argon2d", "$argon2d$v=19$m=4096,t=2,p=1$c29tZXNhbHQxMjM0NTY3OA$N2yt3IkA2JNOTlGkjhRyw5cU/nuthwXaPDtrDVpKnrs".into()),
        ("Legacy", legacy(json!(["sha512", ["@"], "b109f3bbbc244eb82441917ed06d618b9008dd09b3befd1b5e07394c706a8bb980b1d7785e5976ec049b46df5f1326af5a2ea6d103fd07c95385ffab0cacbc86"]))),
        ("Legacy", legacy(json!(["pbkdf2", ["hex:a1b2c3d4", "1000", "64", "sha512", "@"], "12fc0d74d963e2d5cc94cf5ac1c40377ffbfcc8bcb37cb7091ed9d13bcd6de452af4d244a768232c99b1b01bf5b9e57a1427f44dfd1f80262bf57a3701db058a"]))),
        ("Legacy", legacy(json!(["firebase-scrypt", ["42xEC+ixf3L2lw==", FIREBASE_SIGNER_KEY, "Bw==", "8", "14", "@"], "w/HNsBP9QEDE2U84sKp+AAY88Fo9cV8QAFAB9HA2Or8U7AVxX/Hgc2QFszt3afHGwml/R7yCoettgKhmeJ9tGw=="]))),
    ]
}

async fn stored_hash(env: &Env, id: &str) -> (String, String) {
    let user = env.get(&format!("/api/users/{id}?includePasswordHash=1")).await.body;
    (user["passwordAlgorithm"].as_str().unwrap().into(), user["passwordDigest"].as_str().unwrap().into())
}

#[tokio::test]
async fn known_vectors_verify_fail_when_wrong_and_rehash_to_argon2id() {
    let env = Env::new().await;
    for (algorithm, digest) in vectors() {
        let user = env.create_user(json!({"passwordDigest": digest, "passwordAlgorithm": algorithm})).await;
        assert_eq!(user["hasPassword"], true);
        let id = user["id"].as_str().unwrap();
        let verify = format!("/api/users/{id}/password/verify");

        env.post(&verify, json!({"password": "Password"}))
            .await
            .assert_error(422, "session.invalid_credentials");
        assert_eq!(
            stored_hash(&env, id).await,
            (algorithm.to_string(), digest.clone()),
            "a failure changes nothing"
        );

        let ok = env.post(&verify, json!({"password": "password"})).await;
        assert_eq!((ok.status, &ok.body), (204, &Value::Null), "{algorithm} {digest}");
        let (new_algorithm, new_digest) = stored_hash(&env, id).await;
        assert_eq!(new_algorithm, "Argon2id", "{algorithm} is upgraded");
        assert!(new_digest.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{new_digest}");
        let after = env.get(&format!("/api/users/{id}")).await.body;
        assert!(after["updatedAt"].as_i64() > user["updatedAt"].as_i64(), "the rehash bumps updatedAt");
        assert_eq!(env.post(&verify, json!({"password": "password"})).await.status, 204, "still verifies");
    }
}

#[tokio::test]
async fn over_cost_digests_are_refused_at_import() {
    let env = Env::new().await;
    for (algorithm, digest) in [
        (
            "Argon2id",
            "$argon2id$v=19$m=131072,t=2,p=1$c29tZXNhbHQxMjM0NTY3OA$9gia9rvkBMj6118I3Mq7O8TiwAGD7ayVtm5XBzbjHmo",
        ),
        (
            "Argon2i",
            "$argon2i$v=19$m=4096,t=11,p=1$c29tZXNhbHQxMjM0NTY3OA$waUhv/9v/LR2PFC8ZZXsJXa2G1/yGF7tTE420vc4awA",
        ),
        ("Bcrypt", "$2b$15$abcdefghijklmnopqrstuu5Lo0g67CiD3M4RpN1BmBb4Crp5w7dbK"),
    ] {
        env.post("/api/users", json!({"passwordDigest": digest, "passwordAlgorithm": algorithm}))
            .await
            .assert_error(400, "password.digest_cost_too_high");
    }
    // Bounded by work, not by one parameter: a long pbkdf2 key multiplies the iterations, and
    // scrypt's rounds multiply its memory.
    let legacy = [
        json!(["firebase-scrypt", ["c2FsdA==", FIREBASE_SIGNER_KEY, "Bw==", "8", "18", "@"], "x"]),
        json!(["firebase-scrypt", ["c2FsdA==", FIREBASE_SIGNER_KEY, "Bw==", "64", "17", "@"], "x"]),
        json!(["pbkdf2", ["salt", "2000000", "1024", "sha256", "@"], "x"]),
    ];
    for digest in legacy {
        env.post("/api/users", json!({"passwordDigest": digest.to_string(), "passwordAlgorithm": "Legacy"}))
            .await
            .assert_error(400, "password.digest_cost_too_high");
    }
}

#[tokio::test]
async fn set_password_then_verify() {
    let env = Env::new().await;
    let user = env.create_user(json!({"username": "pw_user"})).await;
    let id = user["id"].as_str().unwrap();
    let has = env.get(&format!("/api/users/{id}/has-password")).await;
    assert_eq!((has.status, has.body.clone()), (200, json!({"hasPassword": false})));
    env.post(&format!("/api/users/{id}/password/verify"), json!({"password": "anything"}))
        .await
        .assert_error(422, "session.invalid_credentials");

    let set = env.patch(&format!("/api/users/{id}/password"), json!({"password": "abc"})).await;
    assert_eq!(set.status, 200, "no password policy: {}", set.body);
    assert_eq!(set.body["hasPassword"], true);
    assert!(set.body.get("passwordDigest").is_none());
    assert!(set.body["updatedAt"].as_i64() > user["updatedAt"].as_i64());
    assert_eq!(env.get(&format!("/api/users/{id}/has-password")).await.body, json!({"hasPassword": true}));
    assert_eq!(
        env.post(&format!("/api/users/{id}/password/verify"), json!({"password": "abc"})).await.status,
        204
    );
    assert_eq!(stored_hash(&env, id).await.0, "Argon2id");

    env.patch(&format!("/api/users/{id}/password"), json!({"password": ""}))
        .await
        .assert_error(400, "guard.invalid_input");
    env.patch(&format!("/api/users/{id}/password"), json!({})).await.assert_error(400, "guard.invalid_input");
    env.post(&format!("/api/users/{id}/password/verify"), json!({"password": ""}))
        .await
        .assert_error(400, "guard.invalid_input");
    env.patch("/api/users/nobody000000/password", json!({"password": "x"}))
        .await
        .assert_error(404, "entity.not_found");
    env.post("/api/users/nobody000000/password/verify", json!({"password": "x"}))
        .await
        .assert_error(404, "entity.not_found");
    env.get("/api/users/nobody000000/has-password").await.assert_error(404, "entity.not_found");
}

#[tokio::test]
async fn create_with_a_plain_password_hashes_with_argon2id() {
    let env = Env::new().await;
    let user = env.create_user(json!({"password": "hunter2"})).await;
    let id = user["id"].as_str().unwrap();
    let (algorithm, digest) = stored_hash(&env, id).await;
    assert_eq!(algorithm, "Argon2id");
    assert!(digest.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_eq!(
        env.post(&format!("/api/users/{id}/password/verify"), json!({"password": "hunter2"})).await.status,
        204
    );
}
