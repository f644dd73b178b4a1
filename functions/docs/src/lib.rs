//! Placeholder until this route group is built (see README, "Status"): every request gets
//! Logto's 404 body, so the local stack, the template and the events are already complete.

use lambda_http::Request;
use shared::api::{Response, error_response};

pub async fn handle(_request: Request) -> Response {
    error_response(&shared::Error::RouteNotFound)
}
