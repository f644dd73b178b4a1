//! Authentication: every `/api` route refuses bad tokens with Logto's codes before its handler
//! runs; the token endpoint follows RFC 6749/8707; keys rotate without breaking tokens.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use lambda_http::http::Method;
use serde_json::{Value, json};

use integration_tests::{Env, Reply};
use shared::auth::{Claims, SigningKeys, sign};
use shared::store::apps::DynamoApps;

fn now() -> i64 {
    shared::domain::now_ms() / 1000
}

fn claims(env: &Env) -> Claims {
    Claims {
        iss: env.config.auth.issuer.clone(),
        sub: Some("test-app".into()),
        aud: env.config.auth.api_indicator.clone(),
        scope: Some("all".into()),
        client_id: Some("test-app".into()),
        iat: now(),
        exp: now() + 600,
        nbf: None,
        jti: "jti".into(),
    }
}

/// Every token the matrix tries, with the answer each must get on every route.
fn bad_credentials(env: &Env) -> Vec<(&'static str, Option<String>, u16, &'static str)> {
    let stranger = SigningKeys::generate();
    // Same kid as ours, someone else's key: the signature does not verify.
    let forged = {
        let token = sign(stranger.active(), &claims(env));
        let (_, rest) = token.split_once('.').unwrap();
        let header = URL_SAFE_NO_PAD
            .encode(json!({"alg": "EdDSA", "typ": "JWT", "kid": env.keys.active().kid}).to_string());
        format!("{header}.{rest}")
    };
    let alg_none = {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": env.keys.active().kid}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims(env)).unwrap());
        format!("{header}.{payload}.")
    };
    let with = |change: &dyn Fn(&mut Claims)| {
        let mut c = claims(env);
        change(&mut c);
        format!("Bearer {}", sign(env.keys.active(), &c))
    };
    vec![
        ("no header", None, 401, "auth.authorization_header_missing"),
        (
            "Basic scheme",
            Some("Basic dGVzdDp0ZXN0".into()),
            401,
            "auth.authorization_token_type_not_supported",
        ),
        ("malformed", Some("Bearer not.a.token".into()), 401, "auth.unauthorized"),
        ("bad signature", Some(format!("Bearer {forged}")), 401, "auth.unauthorized"),
        (
            "key not in JWKS",
            Some(format!("Bearer {}", sign(stranger.active(), &claims(env)))),
            401,
            "auth.unauthorized",
        ),
        ("alg none", Some(format!("Bearer {alg_none}")), 401, "auth.unauthorized"),
        (
            "expired",
            Some(with(&|c| {
                c.iat = now() - 7200;
                c.exp = now() - 120
            })),
            401,
            "auth.unauthorized",
        ),
        ("nbf in the future", Some(with(&|c| c.nbf = Some(now() + 600))), 401, "auth.unauthorized"),
        (
            "iat in the future",
            Some(with(&|c| {
                c.iat = now() + 600;
                c.exp = now() + 1200
            })),
            401,
            "auth.unauthorized",
        ),
        ("longer-lived than issued", Some(with(&|c| c.exp = now() + 30 * 86_400)), 401, "auth.unauthorized"),
        ("wrong aud", Some(with(&|c| c.aud = "https://other.example/api".into())), 401, "auth.unauthorized"),
        ("wrong iss", Some(with(&|c| c.iss = "https://evil.example/oidc".into())), 401, "auth.unauthorized"),
        ("no sub", Some(with(&|c| c.sub = None)), 401, "auth.jwt_sub_missing"),
        ("no scope", Some(with(&|c| c.scope = None)), 403, "auth.forbidden"),
        ("scope not covering", Some(with(&|c| c.scope = Some("logs:read".into()))), 403, "auth.forbidden"),
    ]
}

/// Every `/api` route of the users and passwords functions, with concrete paths and bodies.
fn api_routes(user_id: &str) -> Vec<(Method, String, Option<Value>)> {
    let mut routes = Vec::new();
    let every =
        users::routes().iter().chain(passwords::routes()).chain(logs::routes()).chain(hooks::routes());
    for (method, pattern) in every {
        let id = if pattern.starts_with("/api/hooks") { "some-hook-id" } else { "some-log-id" };
        let path = pattern.replace("{userId}", user_id).replace("{target}", "github").replace("{id}", id);
        let body = match *method {
            Method::GET | Method::DELETE => None,
            _ => Some(json!({"name": "changed", "password": "changed", "isSuspended": true, "userId": "gh",
                             "customData": {"changed": true}, "profile": {"nickname": "changed"}})),
        };
        routes.push((method.clone(), path, body));
    }
    routes
}

#[tokio::test]
async fn every_route_refuses_every_bad_token_before_its_handler_runs() {
    let env = Env::new().await;
    let user = env.create_user(json!({"username": "untouched", "password": "pw"})).await;
    let user_id = user["id"].as_str().unwrap();
    let before = env.scan_users_table().await;
    let routes = api_routes(user_id);
    assert_eq!(routes.len(), 25);
    // `logs:read` covers no users route; for the logs and hooks routes the uncovering scope is
    // another.
    let uncovering_logs = format!("Bearer {}", env.token("users:read users:write passwords:write"));
    for (case, authorization, status, code) in bad_credentials(&env) {
        for (method, path, body) in &routes {
            let authorization = match case {
                "scope not covering" if path.starts_with("/api/logs") || path.starts_with("/api/hooks") => {
                    Some(uncovering_logs.clone())
                }
                _ => authorization.clone(),
            };
            let reply = env.call_as(authorization.as_deref(), method.clone(), path, body.clone()).await;
            assert_eq!(
                (reply.status, reply.code()),
                (status, code),
                "{case}: {method} {path}: {}",
                reply.body
            );
            if status == 401 {
                assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{case}: {method} {path}");
            }
            if code == "auth.authorization_token_type_not_supported" {
                assert_eq!(reply.body["data"], json!({"supportedTypes": ["Bearer"]}));
            }
        }
    }
    assert_eq!(env.scan_users_table().await, before, "no handler ran: nothing was written");
}

#[tokio::test]
async fn finer_scopes_open_exactly_their_routes() {
    let env = Env::new().await;
    let user = env.create_user(json!({"username": "scoped"})).await;
    let path = format!("/api/users/{}", user["id"].as_str().unwrap());
    let read = format!("Bearer {}", env.token("users:read"));
    let write = format!("Bearer {}", env.token("users:write"));
    let passwords = format!("Bearer {}", env.token("passwords:write"));
    assert_eq!(env.call_as(Some(&read), Method::GET, &path, None).await.status, 200);
    env.call_as(Some(&read), Method::PATCH, &path, Some(json!({"name": "x"})))
        .await
        .assert_error(403, "auth.forbidden");
    assert_eq!(env.call_as(Some(&write), Method::PATCH, &path, Some(json!({"name": "x"}))).await.status, 200);
    env.call_as(Some(&write), Method::GET, &path, None).await.assert_error(403, "auth.forbidden");
    let set = env
        .call_as(Some(&passwords), Method::PATCH, &format!("{path}/password"), Some(json!({"password": "p"})))
        .await;
    assert_eq!(set.status, 200);
    assert_eq!(
        env.call_as(Some(&read), Method::GET, &format!("{path}/has-password"), None).await.status,
        200
    );
    // A valid token reaching an unknown route gets the 404; without one, the 401 comes first.
    env.call_as(Some(&read), Method::GET, "/api/nothing", None)
        .await
        .assert_error(404, "guard.route_not_found");
    env.call_as(None, Method::GET, "/api/nothing", None)
        .await
        .assert_error(401, "auth.authorization_header_missing");
}

#[tokio::test]
async fn password_digests_need_the_all_scope() {
    let env = Env::new().await;
    let user = env.create_user(json!({"username": "hashed", "password": "pw"})).await;
    let path = format!("/api/users/{}", user["id"].as_str().unwrap());
    let read = format!("Bearer {}", env.token("users:read"));
    let read_and_write = format!("Bearer {}", env.token("users:read users:write passwords:write"));
    for token in [&read, &read_and_write] {
        for route in [format!("{path}?includePasswordHash=true"), "/api/users?includePasswordHash=1".into()] {
            let reply = env.call_as(Some(token), Method::GET, &route, None).await;
            reply.assert_error(403, "auth.forbidden");
            assert!(!reply.body.to_string().contains("argon2"), "no digest in a refusal");
        }
        let plain =
            env.call_as(Some(token), Method::GET, &format!("{path}?includePasswordHash=false"), None).await;
        assert_eq!(plain.status, 200);
        assert!(plain.body.get("passwordDigest").is_none());
    }
    let admin = env.get(&format!("{path}?includePasswordHash=true")).await;
    assert!(admin.body["passwordDigest"].as_str().unwrap().starts_with("$argon2id$"));
    let listed = env.get("/api/users?includePasswordHash=true").await;
    assert!(listed.body[0]["passwordDigest"].as_str().unwrap().starts_with("$argon2id$"));
}

const RESOURCE: &str = "resource=https%3A%2F%2Fdefault.logto.app%2Fapi";

#[tokio::test]
async fn client_credentials_with_basic_or_form_credentials() {
    let env = Env::new().await;
    let (app, secret) = env.create_app(&["all"]).await;
    let basic = env
        .token_request(
            Some((&app.client_id, &secret)),
            &format!("grant_type=client_credentials&{RESOURCE}&scope=all"),
        )
        .await;
    assert_eq!(basic.status, 200, "{}", basic.body);
    assert_eq!(basic.body["token_type"], "Bearer");
    assert_eq!(basic.body["scope"], "all");
    assert_eq!(basic.body["expires_in"], 3600);
    assert_eq!(basic.header("cache-control"), Some("no-store"));
    let token = basic.body["access_token"].as_str().unwrap();
    let listed = env.call_as(Some(&format!("Bearer {token}")), Method::GET, "/api/users", None).await;
    assert_eq!(listed.status, 200, "the issued token opens the API: {}", listed.body);

    let form = format!(
        "grant_type=client_credentials&{RESOURCE}&client_id={}&client_secret={secret}",
        app.client_id
    );
    let posted = env.token_request(None, &form).await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert_eq!(posted.body["scope"], "all", "no scope asked: the app's scopes");

    let claims_part = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims_part).unwrap()).unwrap();
    assert_eq!(claims["sub"], app.client_id.as_str());
    assert_eq!(claims["client_id"], app.client_id.as_str());
    assert_eq!(claims["aud"], "https://default.logto.app/api");
    assert_eq!(claims["iss"], env.config.auth.issuer.as_str());
    for claim in ["iat", "exp", "jti"] {
        assert!(claims.get(claim).is_some(), "{claim}");
    }
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749() {
    let env = Env::new().await;
    let (app, secret) = env.create_app(&["users:read"]).await;
    let good = format!("grant_type=client_credentials&{RESOURCE}");
    let client_id = app.client_id.clone();
    let id = client_id.as_str();

    let wrong = env.token_request(Some((id, "wrong-secret")), &good).await;
    assert_eq!((wrong.status, &wrong.body["error"]), (401, &json!("invalid_client")));
    assert_eq!(wrong.header("www-authenticate"), Some("Basic"));
    let unknown = env.token_request(Some(("nobody", &secret)), &good).await;
    assert_eq!((unknown.status, &unknown.body["error"]), (401, &json!("invalid_client")));
    let none = env.token_request(None, &good).await;
    assert_eq!((none.status, &none.body["error"]), (401, &json!("invalid_client")));

    let grant = env.token_request(Some((id, &secret)), &format!("grant_type=password&{RESOURCE}")).await;
    assert_eq!((grant.status, &grant.body["error"]), (400, &json!("unsupported_grant_type")));
    let unknown_scope =
        env.token_request(Some((id, &secret)), &format!("{good}&scope=users:read%20admin")).await;
    assert_eq!((unknown_scope.status, &unknown_scope.body["error"]), (400, &json!("invalid_scope")));
    let not_allowed = env.token_request(Some((id, &secret)), &format!("{good}&scope=users:write")).await;
    assert_eq!((not_allowed.status, &not_allowed.body["error"]), (400, &json!("invalid_scope")));
    let target = env
        .token_request(
            Some((id, &secret)),
            "grant_type=client_credentials&resource=https%3A%2F%2Fother%2Fapi",
        )
        .await;
    assert_eq!((target.status, &target.body["error"]), (400, &json!("invalid_target")));
    let missing_target = env.token_request(Some((id, &secret)), "grant_type=client_credentials").await;
    assert_eq!(missing_target.body["error"], "invalid_target");
    let twice =
        env.token_request(Some((id, &secret)), &format!("{good}&grant_type=client_credentials")).await;
    assert_eq!((twice.status, &twice.body["error"]), (400, &json!("invalid_request")));
    let narrowed = env.token_request(Some((id, &secret)), &format!("{good}&scope=users:read")).await;
    assert_eq!((narrowed.status, &narrowed.body["scope"]), (200, &json!("users:read")));

    // A disabled app is refused like a wrong secret, once the function's copy of the app
    // (APP_CACHE_MS) is older than its TTL.
    let mut disabled = app;
    disabled.enabled = false;
    DynamoApps::new(env.client.clone(), &env.config.tables.apps).replace(&disabled).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(env.config.app_cache_ms + 100)).await;
    let refused = env.token_request(Some((id, &secret)), &good).await;
    assert_eq!((refused.status, &refused.body["error"]), (401, &json!("invalid_client")));
}

#[tokio::test]
async fn refused_token_requests_are_logged_as_errors() {
    let env = Env::new().await;
    let (app, secret) = env.create_app(&["users:read"]).await;
    let good = format!("grant_type=client_credentials&{RESOURCE}");
    let id = app.client_id.as_str();
    assert_eq!(env.token_request(Some((id, "wrong-secret")), &good).await.status, 401);
    assert_eq!(env.token_request(Some(("nobody", "whatever")), &good).await.status, 401);
    assert_eq!(env.token_request(Some((id, &secret)), &format!("{good}&scope=all")).await.status, 400);
    assert_eq!(env.token_request(Some((id, &secret)), &good).await.status, 200);

    let logs = env.get("/api/logs?logKey=ExchangeTokenBy.ClientCredentials").await;
    let payloads: Vec<&Value> = logs.body.as_array().unwrap().iter().map(|e| &e["payload"]).collect();
    assert_eq!(payloads.len(), 4, "{}", logs.body);
    let seen = |result: &str, error: Option<&str>, app: Option<&str>| {
        payloads
            .iter()
            .filter(|p| {
                p["result"] == result && p["error"].as_str() == error && p["applicationId"].as_str() == app
            })
            .count()
    };
    assert_eq!(seen("Success", None, Some(id)), 1);
    assert_eq!(seen("Error", Some("invalid_client"), Some(id)), 1, "the wrong secret");
    assert_eq!(seen("Error", Some("invalid_scope"), Some(id)), 1);
    // An id that names no app is not recorded as an application.
    assert_eq!(seen("Error", Some("invalid_client"), None), 1, "the unknown client");
    assert!(!logs.body.to_string().contains("wrong-secret"));
}

#[tokio::test]
async fn a_large_token_form_is_refused_at_once() {
    let env = Env::new().await;
    // 128 KiB of distinct field names: quadratic duplicate checks took seconds on this.
    let mut form = format!("grant_type=client_credentials&{RESOURCE}");
    let mut n = 0;
    while form.len() < 128 * 1024 {
        form.push_str(&format!("&f{n}=1"));
        n += 1;
    }
    let started = std::time::Instant::now();
    let reply = env.token_request(Some(("nobody", "secret")), &form).await;
    let took = started.elapsed();
    assert_eq!((reply.status, &reply.body["error"]), (400, &json!("invalid_request")), "{}", reply.body);
    assert!(took < std::time::Duration::from_millis(500), "took {took:?}");

    // Small enough, but too many fields.
    let many: String = (0..40).map(|i| format!("&x{i}=")).collect();
    let reply =
        env.token_request(Some(("nobody", "secret")), &format!("grant_type=client_credentials{many}")).await;
    assert_eq!((reply.status, &reply.body["error"]), (400, &json!("invalid_request")));
    // Unknown fields, even repeated, are ignored (RFC 6749 §3.2); known ones may not repeat.
    let (app, secret) = env.create_app(&["all"]).await;
    let fine = format!("grant_type=client_credentials&{RESOURCE}&extra=1&extra=2");
    assert_eq!(env.token_request(Some((&app.client_id, &secret)), &fine).await.status, 200);
    // A client id longer than any key is simply unknown, not a storage error.
    let long_id = "i".repeat(3000);
    let reply = env
        .token_request(None, &format!("grant_type=client_credentials&client_id={long_id}&client_secret=s"))
        .await;
    assert_eq!((reply.status, &reply.body["error"]), (401, &json!("invalid_client")));
}

#[tokio::test]
async fn jwks_and_discovery_publish_the_keys_and_endpoints() {
    let env = Env::new().await;
    let jwks = env.call_as(None, Method::GET, "/oidc/jwks", None).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.body, env.keys.jwks());
    assert_eq!(jwks.body["keys"][0]["kty"], "OKP");
    assert!(jwks.body["keys"][0].get("d").is_none(), "no private part");
    let mut request = integration_tests::request(Method::GET, "/oidc/.well-known/openid-configuration", None);
    request.headers_mut().insert("host", "127.0.0.1:9000".parse().unwrap());
    let discovery = env.send(request).await;
    assert_eq!(discovery.body["issuer"], env.config.auth.issuer.as_str());
    assert_eq!(discovery.body["token_endpoint"], "http://127.0.0.1:9000/oidc/token");
    assert_eq!(discovery.body["jwks_uri"], "http://127.0.0.1:9000/oidc/jwks");
}

/// A request that claims another origin: a spoofed `Host` and a scheme that is no scheme.
fn spoofed(path: &str, token: Option<&str>) -> lambda_http::Request {
    let mut request = integration_tests::request(Method::GET, path, None);
    let headers = request.headers_mut();
    headers.insert("host", "evil.example".parse().unwrap());
    headers.insert("x-forwarded-proto", "javascript".parse().unwrap());
    if let Some(token) = token {
        headers.insert("authorization", token.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn links_and_discovery_never_take_a_scheme_or_origin_from_the_client() {
    use lambda_http::RequestExt;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;

    // Local development (no gateway, nothing configured): the Host, but only http(s).
    let env = Env::new().await;
    let admin = env.admin_authorization.clone();
    let listed = env.send(spoofed("/api/users", Some(&admin))).await;
    assert_eq!(listed.status, 200);
    let link = listed.header("link").unwrap();
    assert!(link.starts_with("<https://evil.example/api/users?") && !link.contains("javascript"), "{link}");

    // Behind API Gateway: the domain the gateway received the request on.
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.domain_name = Some("abc123.execute-api.eu-west-1.amazonaws.com".into());
    let request =
        spoofed("/api/logs", Some(&admin)).with_request_context(RequestContext::ApiGatewayV2(context));
    let link = env.send(request).await.header("link").unwrap().to_string();
    assert!(link.starts_with("<https://abc123.execute-api.eu-west-1.amazonaws.com/api/logs?"), "{link}");

    // Configured: the public base URL, whatever the request says.
    let env = Env::with(|config| config.public_base_url = Some("https://users.example.com".into())).await;
    let admin = env.admin_authorization.clone();
    for path in ["/api/users", "/api/logs"] {
        let link = env.send(spoofed(path, Some(&admin))).await.header("link").unwrap().to_string();
        assert!(link.starts_with(&format!("<https://users.example.com{path}?")), "{link}");
    }
    let discovery = env.send(spoofed("/oidc/.well-known/openid-configuration", None)).await;
    assert_eq!(discovery.body["token_endpoint"], "https://users.example.com/oidc/token");
    assert_eq!(discovery.body["jwks_uri"], "https://users.example.com/oidc/jwks");
}

#[tokio::test]
async fn tokens_of_a_rotated_key_verify_until_it_is_retired() {
    let old_keys = SigningKeys::generate();
    let rotated = old_keys.staged().activated();
    let env = Env::with(|config| config.auth.signing_keys = Some(rotated.to_json().into())).await;
    let old_token = format!("Bearer {}", sign(old_keys.active(), &claims(&env)));
    let new_token = format!("Bearer {}", sign(rotated.active(), &claims(&env)));
    for token in [&old_token, &new_token] {
        assert_eq!(env.call_as(Some(token), Method::GET, "/api/users", None).await.status, 200);
    }
    let mut config = env.config.clone();
    config.auth.signing_keys = Some(rotated.retired().to_json().into());
    let after = users::App::new(&config, env.client.clone()).unwrap();
    let mut request = integration_tests::request(Method::GET, "/api/users", None);
    request.headers_mut().insert("authorization", old_token.parse().unwrap());
    Reply::from(after.handle(request).await).assert_error(401, "auth.unauthorized");
    let mut request = integration_tests::request(Method::GET, "/api/users", None);
    request.headers_mut().insert("authorization", new_token.parse().unwrap());
    assert_eq!(Reply::from(after.handle(request).await).status, 200);
}

#[tokio::test]
async fn a_function_without_keys_refuses_to_start() {
    let mut config = shared::Config::for_tables(shared::config::TableNames::with_prefix("nokeys"));
    config.auth.signing_keys = None;
    let client = shared::aws::Aws::tools_default().await.dynamodb();
    assert!(users::App::new(&config, client).is_err());
}

#[tokio::test]
async fn an_instance_reads_an_app_once_a_second_not_once_a_request() {
    let env = Env::new().await;
    let (app, secret) = env.create_app(&["all"]).await;
    let good = format!("grant_type=client_credentials&{RESOURCE}");
    let send = |secret: String| {
        let mut request = integration_tests::request_raw(Method::POST, "/oidc/token", &good);
        request.headers_mut().insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", app.client_id));
        request.headers_mut().insert("authorization", format!("Basic {basic}").parse().unwrap());
        env.functions.send(request)
    };
    // The first reads the app and writes its log entry; the next, within the TTL, only logs.
    let (first, line) = send(secret.clone()).await;
    assert_eq!((first.status().as_u16(), line.record.dynamodb.calls), (200, 2));
    let (second, line) = send(secret.clone()).await;
    assert_eq!((second.status().as_u16(), line.record.dynamodb.calls), (200, 1));
    // The copy still checks the secret.
    let (wrong, _) = send("not-the-secret".into()).await;
    assert_eq!(wrong.status().as_u16(), 401);
}
