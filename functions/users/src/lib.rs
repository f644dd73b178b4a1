//! The `users` function: every `/api/users` route except passwords.

mod identities;
mod users;

use lambda_http::{Request, http::Method};
use std::sync::LazyLock;

use shared::api::{Params, Response, Router, error_response};
use shared::store::DynamoUsers;

/// What the function builds once per cold start and shares across invocations.
pub struct App {
    pub users: shared::users::Users<DynamoUsers>,
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

static ROUTER: LazyLock<Router<Endpoint>> = LazyLock::new(|| {
    use Endpoint::*;
    Router::new(&[
        (Method::GET, "/api/users", ListUsers),
        (Method::POST, "/api/users", CreateUser),
        (Method::GET, "/api/users/{userId}", GetUser),
        (Method::PATCH, "/api/users/{userId}", PatchUser),
        (Method::DELETE, "/api/users/{userId}", DeleteUser),
        (
            Method::GET,
            "/api/users/{userId}/custom-data",
            GetCustomData,
        ),
        (
            Method::PATCH,
            "/api/users/{userId}/custom-data",
            PatchCustomData,
        ),
        (Method::PATCH, "/api/users/{userId}/profile", PatchProfile),
        (
            Method::PATCH,
            "/api/users/{userId}/is-suspended",
            PatchSuspension,
        ),
        (
            Method::PUT,
            "/api/users/{userId}/identities/{target}",
            PutIdentity,
        ),
        (
            Method::GET,
            "/api/users/{userId}/identities/{target}",
            GetIdentity,
        ),
        (
            Method::DELETE,
            "/api/users/{userId}/identities/{target}",
            DeleteIdentity,
        ),
    ])
});

/// Every `(method, path pattern)` this function serves.
pub fn routes() -> &'static [(Method, &'static str)] {
    ROUTER.routes()
}

impl App {
    pub fn new(config: &shared::Config, client: aws_sdk_dynamodb::Client) -> Self {
        Self {
            users: shared::users::from_config(config, client),
        }
    }

    /// Answers one request; every failure becomes Logto's error body here.
    pub async fn handle(&self, request: Request) -> Response {
        let result = match ROUTER.find(request.method(), request.uri().path()) {
            Ok((endpoint, params)) => self.dispatch(endpoint, &request, &params).await,
            Err(err) => Err(err),
        };
        result.unwrap_or_else(|err| error_response(&err))
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        request: &Request,
        params: &Params,
    ) -> shared::Result<Response> {
        use Endpoint::*;
        let user_id = params.get("userId");
        let target = params.get("target");
        match endpoint {
            ListUsers => users::list(self, request).await,
            CreateUser => users::create(self, request).await,
            GetUser => users::get(self, request, user_id).await,
            PatchUser => users::patch(self, request, user_id).await,
            DeleteUser => users::delete(self, user_id).await,
            GetCustomData => users::get_custom_data(self, user_id).await,
            PatchCustomData => users::patch_custom_data(self, request, user_id).await,
            PatchProfile => users::patch_profile(self, request, user_id).await,
            PatchSuspension => users::patch_suspension(self, request, user_id).await,
            PutIdentity => identities::put(self, request, user_id, target).await,
            GetIdentity => identities::get(self, user_id, target).await,
            DeleteIdentity => identities::delete(self, user_id, target).await,
        }
    }
}
