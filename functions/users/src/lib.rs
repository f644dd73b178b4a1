//! The `users` function: every `/api/users` route except passwords.

mod handlers;
mod identities;

use lambda_http::{Request, http::Method};
use std::sync::LazyLock;

use shared::api::{Params, PublicOrigin, Response, Router, authorize, error_response};
use shared::auth::{Caller, Scope, Verifier};
use shared::store::DynamoUsers;

/// What the function builds once per cold start and shares across invocations.
pub struct App {
    pub service: shared::user_service::UserService<DynamoUsers>,
    verifier: Verifier,
    page_tokens: shared::api::PageTokens,
    origin: PublicOrigin,
}

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    ListUsers,
    CreateUser,
    GetUser,
    PatchUser,
    DeleteUser,
    GetCustomData,
    PatchCustomData,
    PatchProfile,
    PatchSuspension,
    PutIdentity,
    GetIdentity,
    DeleteIdentity,
}

static ROUTER: LazyLock<Router<(Endpoint, Scope)>> = LazyLock::new(|| {
    use Endpoint::*;
    use Scope::{UsersRead as Read, UsersWrite as Write};
    Router::new(&[
        (Method::GET, "/api/users", (ListUsers, Read)),
        (Method::POST, "/api/users", (CreateUser, Write)),
        (Method::GET, "/api/users/{userId}", (GetUser, Read)),
        (Method::PATCH, "/api/users/{userId}", (PatchUser, Write)),
        (Method::DELETE, "/api/users/{userId}", (DeleteUser, Write)),
        (Method::GET, "/api/users/{userId}/custom-data", (GetCustomData, Read)),
        (Method::PATCH, "/api/users/{userId}/custom-data", (PatchCustomData, Write)),
        (Method::PATCH, "/api/users/{userId}/profile", (PatchProfile, Write)),
        (Method::PATCH, "/api/users/{userId}/is-suspended", (PatchSuspension, Write)),
        (Method::PUT, "/api/users/{userId}/identities/{target}", (PutIdentity, Write)),
        (Method::GET, "/api/users/{userId}/identities/{target}", (GetIdentity, Read)),
        (Method::DELETE, "/api/users/{userId}/identities/{target}", (DeleteIdentity, Write)),
    ])
});

/// Every `(method, path pattern)` this function serves.
pub fn routes() -> &'static [(Method, &'static str)] {
    ROUTER.routes()
}

impl App {
    pub fn new(config: &shared::Config, client: aws_sdk_dynamodb::Client) -> Result<Self, String> {
        let verifier = Verifier::from_config(&config.auth)?;
        let page_tokens = shared::api::PageTokens::new(
            config.page_token_secret.as_ref().map(shared::config::ExposeSecret::expose_secret),
        );
        let origin = PublicOrigin::new(config.public_base_url.as_deref());
        Ok(Self { service: shared::user_service::from_config(config, client), verifier, page_tokens, origin })
    }

    /// Answers one request; every failure becomes Logto's error body here.
    pub async fn handle(&self, request: Request) -> Response {
        let result = match authorize(&self.verifier, &ROUTER, &request) {
            Ok((endpoint, params, caller)) => self.dispatch(endpoint, &request, &params, &caller).await,
            Err(err) => Err(err),
        };
        result.unwrap_or_else(|err| error_response(&err))
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        request: &Request,
        params: &Params,
        caller: &Caller,
    ) -> shared::Result<Response> {
        use Endpoint::*;
        let user_id = params.get("userId");
        let target = params.get("target");
        match endpoint {
            ListUsers => handlers::list(self, request, caller).await,
            CreateUser => handlers::create(self, request, caller).await,
            GetUser => handlers::get(self, request, user_id, caller).await,
            PatchUser => handlers::patch(self, request, user_id, caller).await,
            DeleteUser => handlers::delete(self, user_id, caller).await,
            GetCustomData => handlers::get_custom_data(self, user_id).await,
            PatchCustomData => handlers::patch_custom_data(self, request, user_id, caller).await,
            PatchProfile => handlers::patch_profile(self, request, user_id, caller).await,
            PatchSuspension => handlers::patch_suspension(self, request, user_id, caller).await,
            PutIdentity => identities::put(self, request, user_id, target, caller).await,
            GetIdentity => identities::get(self, user_id, target).await,
            DeleteIdentity => identities::delete(self, user_id, target, caller).await,
        }
    }
}
