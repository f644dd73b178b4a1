//! Every function in one process, routed as API Gateway routes them: a path goes to the
//! function whose own `routes()` serve it (template.yaml declares exactly those, which
//! `tests/template.rs` checks), anything else to users, as the template's `$default` route
//! does. Each request goes through `shared::api::observe`, as under Lambda, so its access line
//! comes back with the response. The tests and the benchmarks send their requests through
//! here; a route added to a function is reachable here without touching this file.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::api::{observe, router::pattern_of};
use shared::telemetry::AccessLine;

/// A function's routes, as its crate lists them.
pub type Routes = fn() -> &'static [(Method, &'static str)];

/// Each function's name and routes, in the order they are tried; the last is `$default`'s.
pub const FUNCTIONS: [(&str, Routes); 6] = [
    ("passwords", passwords::routes),
    ("logs", logs::routes),
    ("hooks", hooks::routes),
    ("oidc", oidc::routes),
    ("docs", docs::routes),
    ("users", users::routes),
];

/// The function API Gateway sends `path` to (the users function for unmatched paths), with
/// its routes.
fn entry_for(path: &str) -> (&'static str, Routes) {
    let serves = |(_, routes): &&(&str, Routes)| pattern_of(routes(), path).is_some();
    *FUNCTIONS.iter().find(serves).unwrap_or(&FUNCTIONS[FUNCTIONS.len() - 1])
}

/// The name of the function API Gateway sends `path` to.
pub fn function_for(path: &str) -> &'static str {
    entry_for(path).0
}

/// The functions, built as their binaries build them.
pub struct Functions {
    pub users: users::App,
    pub passwords: passwords::App,
    pub logs: logs::App,
    pub hooks: hooks::App,
    pub oidc: oidc::App,
}

impl Functions {
    pub fn start(
        config: &shared::Config,
        client: aws_sdk_dynamodb::Client,
        keys: shared::auth::SigningKeys,
    ) -> Result<Self, String> {
        Ok(Self {
            users: users::App::new(config, client.clone())?,
            passwords: passwords::App::new(config, client.clone())?,
            logs: logs::App::new(config, client.clone())?,
            hooks: hooks::App::new(config, client.clone())?,
            oidc: oidc::App::new(config, client, keys),
        })
    }

    /// The response of the function that serves the request's path, and its access line.
    pub async fn send(&self, request: Request) -> (Response<Body>, AccessLine) {
        // Boxed: five handlers' futures inside one caller's future overflow a test thread's
        // stack in unoptimised builds.
        let (name, routes) = entry_for(request.uri().path());
        let routes = routes();
        match name {
            "passwords" => observe(name, routes, request, |r| Box::pin(self.passwords.handle(r))).await,
            "logs" => observe(name, routes, request, |r| Box::pin(self.logs.handle(r))).await,
            "hooks" => observe(name, routes, request, |r| Box::pin(self.hooks.handle(r))).await,
            "oidc" => observe(name, routes, request, |r| Box::pin(self.oidc.handle(r))).await,
            "docs" => observe(name, routes, request, |r| Box::pin(docs::handle(r))).await,
            _ => observe(name, routes, request, |r| Box::pin(self.users.handle(r))).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_goes_to_the_function_that_serves_it_and_the_rest_to_users() {
        for (path, function) in [
            ("/api/users", "users"),
            ("/api/users/u1/identities/github", "users"),
            ("/api/users/u1/password", "passwords"),
            ("/api/users/u1/password/verify", "passwords"),
            ("/api/users/u1/has-password", "passwords"),
            ("/api/logs/l1", "logs"),
            ("/api/hooks/h1/recent-logs", "hooks"),
            ("/oidc/.well-known/openid-configuration", "oidc"),
            ("/api/swagger.json", "docs"),
            ("/api/no-such-route", "users"),
            ("/", "users"),
        ] {
            assert_eq!(function_for(path), function, "{path}");
        }
    }
}
