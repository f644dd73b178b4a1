//! Placeholder until this route group is built (see README, "Status"): answers every request
//! with Logto's error body so the local stack and the router table are already complete.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::api::init_logging();
    shared::api::serve(|_request| async {
        shared::api::error_response(&shared::Error::RouteNotFound)
    })
    .await
}
