//! The cold-start floor: a hello-world `lambda_http` function, built with the product's release
//! profile and the same runtime flavour, that answers every request without touching anything.

use lambda_http::{Error, Request, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_: Request| async { Ok::<_, Error>("hello") })).await
}
