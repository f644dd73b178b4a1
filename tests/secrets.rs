//! After traffic through every function — passwords set, imported and verified, tokens issued
//! and used — no log item, no captured log line (the functions' own subscriber at TRACE) and
//! no access line holds a password, digest, client secret, token, signing key, email or phone.

use lambda_http::http::Method;
use serde_json::json;

use integration_tests::{Capture, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log() {
    // SAFETY: this test binary runs this one test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "TRACE");
        std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    }
    let capture = Capture::default();
    let writer = capture.clone();
    tracing::subscriber::set_global_default(shared::api::logging::subscriber(move || writer.clone()))
        .unwrap();
    tracing::info!("capture started");

    let env = Env::new().await;
    let plain = "Plain-Passw0rd-7f3a";
    let next = "Next-Passw0rd-91bc";
    let md5 = "5f4dcc3b5aa765d61d8327deb882cf99";
    let legacy_hash = "b109f3bbbc244eb82441917ed06d618b9008dd09b3befd1b5e07394c706a8bb980b1d7785e5976ec049b46df5f1326af5a2ea6d103fd07c95385ffab0cacbc86";
    let legacy = json!(["sha512", ["@"], legacy_hash]).to_string();

    let (email, phone) = ("private.person@example.com", "14155550123");
    let with_password = env
        .create_user(
            json!({"username": "s1", "password": plain, "primaryEmail": email, "primaryPhone": phone}),
        )
        .await;
    env.get(&format!("/api/users?search=%25{email}%25")).await;
    let with_md5 =
        env.create_user(json!({"username": "s2", "passwordDigest": md5, "passwordAlgorithm": "MD5"})).await;
    let with_legacy = env
        .create_user(json!({"username": "s3", "passwordDigest": legacy, "passwordAlgorithm": "Legacy"}))
        .await;
    let id = with_password["id"].as_str().unwrap();
    let stored =
        env.get(&format!("/api/users/{id}?includePasswordHash=1")).await.body["passwordDigest"].clone();
    let argon2_digest = stored.as_str().unwrap().to_string();
    env.patch(&format!("/api/users/{id}/password"), json!({"password": next})).await;
    env.post(&format!("/api/users/{id}/password/verify"), json!({"password": next})).await;
    env.post(&format!("/api/users/{id}/password/verify"), json!({"password": plain})).await;
    for user in [&with_md5, &with_legacy] {
        let verify = format!("/api/users/{}/password/verify", user["id"].as_str().unwrap());
        env.post(&verify, json!({"password": "password"})).await;
    }
    env.call_as(Some("Bearer not-a-real-token-3c9d"), Method::GET, "/api/users", None).await;

    let (app, secret) = env.create_app(&["all"]).await;
    let form = format!(
        "grant_type=client_credentials&resource=https%3A%2F%2Fdefault.logto.app%2Fapi&client_id={}&client_secret={secret}",
        app.client_id
    );
    let issued = env.token_request(None, &form).await.body["access_token"].as_str().unwrap().to_string();
    let wrong_secret = "Wrong-Secret-1b7e";
    let refused = env
        .token_request(
            Some((&app.client_id, wrong_secret)),
            "grant_type=client_credentials&resource=https%3A%2F%2Fdefault.logto.app%2Fapi",
        )
        .await;
    assert_eq!(refused.status, 401);
    env.call_as(Some(&format!("Bearer {issued}")), Method::GET, "/api/logs", None).await;

    let log_items =
        env.client.scan().table_name(&env.config.tables.logs).send().await.unwrap().items.unwrap();
    assert_eq!(log_items.len(), 10, "3 creates, 1 password change, 4 verifies, 1 token, 1 refused");
    let stored_logs = format!("{log_items:?}");
    let access = env.access.text();
    assert!(access.lines().count() >= 2 * 14, "an access line (JSON and text) per request: {access}");
    let lines = capture.text() + &access;
    assert!(lines.contains("capture started"), "the capture works");
    let refusal = lines.lines().find(|l| l.contains("token request refused")).expect("refusals are logged");
    assert!(refusal.contains(&app.client_id) && refusal.contains("invalid_client"), "{refusal}");

    let admin_token = env.admin_authorization.trim_start_matches("Bearer ").to_string();
    let seed = env.keys.to_json();
    let secrets = [
        plain,
        next,
        md5,
        legacy_hash,
        &argon2_digest,
        &secret,
        wrong_secret,
        &issued,
        &admin_token,
        "not-a-real-token-3c9d",
        &seed,
        email,
        phone,
    ];
    for secret in secrets {
        assert!(!stored_logs.contains(secret), "a log item holds a secret: {secret}");
        assert!(!lines.contains(secret), "a log line holds a secret: {secret}");
    }
    // Token signatures alone are secrets too.
    for token in [&issued, &admin_token] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!stored_logs.contains(signature) && !lines.contains(signature));
    }
}
