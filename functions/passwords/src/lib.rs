//! The `passwords` function: set, verify and check a user's password. Argon2 work lives here,
//! in its own function, so that it can have the memory (and so the CPU) it needs.

use lambda_http::{Request, http::Method};
use serde_json::json;
use std::sync::LazyLock;

use shared::api::{Response, Router, authorize, body_bytes, error_response, json, no_content};
use shared::auth::{Caller, Scope, Verifier};
use shared::domain::input::Body;
use shared::store::DynamoUsers;

pub struct App {
    pub service: shared::user_service::UserService<DynamoUsers>,
    verifier: Verifier,
}

#[derive(Clone, Copy, Debug)]
/// The password routes: set, verify, check.
enum Endpoint {
    Set,
    Verify,
    Check,
}

static ROUTER: LazyLock<Router<(Endpoint, Scope)>> = LazyLock::new(|| {
    use Endpoint::*;
    Router::new(&[
        (Method::PATCH, "/api/users/{userId}/password", (Set, Scope::PasswordsWrite)),
        (Method::POST, "/api/users/{userId}/password/verify", (Verify, Scope::PasswordsWrite)),
        (Method::GET, "/api/users/{userId}/has-password", (Check, Scope::UsersRead)),
    ])
});

/// Every `(method, path pattern)` this function serves.
pub fn routes() -> &'static [(Method, &'static str)] {
    ROUTER.routes()
}

impl App {
    pub fn new(config: &shared::Config, client: aws_sdk_dynamodb::Client) -> Result<Self, String> {
        let verifier = Verifier::from_config(&config.auth)?;
        Ok(Self { service: shared::user_service::from_config(config, client), verifier })
    }

    pub async fn handle(&self, request: Request) -> Response {
        let result = match authorize(&self.verifier, &ROUTER, &request) {
            Ok((endpoint, params, caller)) => {
                self.dispatch(endpoint, &request, params.get("userId"), &caller).await
            }
            Err(err) => Err(err),
        };
        result.unwrap_or_else(|err| error_response(&err))
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        request: &Request,
        user_id: &str,
        caller: &Caller,
    ) -> shared::Result<Response> {
        match endpoint {
            Endpoint::Set => {
                let body = Body::parse(body_bytes(request)?)?;
                let password = body.required_password("password")?.to_string();
                let user = self.service.set_password(user_id, password, caller).await?;
                Ok(shared::api::user(200, &user, &user.to_json(false)))
            }
            Endpoint::Verify => {
                let body = Body::parse(body_bytes(request)?)?;
                let password = body.required_password("password")?.to_string();
                self.service.verify_password(user_id, password, caller).await?;
                Ok(no_content())
            }
            Endpoint::Check => {
                let has = self.service.has_password(user_id).await?;
                Ok(json(200, &json!({ "hasPassword": has })))
            }
        }
    }
}
