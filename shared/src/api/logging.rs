//! Logging for the function binaries. Format and level follow Lambda's advanced logging
//! controls as the runtime's own subscriber does (`AWS_LAMBDA_LOG_FORMAT=JSON`,
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`), with one rule on top: below INFO, only this
//! product's own code logs. The runtime traces each raw event at TRACE (bearer tokens,
//! passwords), and the SDK and HTTP stack trace requests (digests in user items); none of that
//! may reach a log line, whatever level an operator sets while debugging.

use std::str::FromStr;
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// The crates whose DEBUG and TRACE lines may be shown: ours, which never log secrets.
const OWN_CRATES: [&str; 6] = ["shared", "users", "passwords", "logs", "oidc", "docs"];

fn is_own(target: &str) -> bool {
    OWN_CRATES.contains(&target.split("::").next().unwrap_or_default())
}

/// The subscriber every function installs, writing to `writer` (stdout under Lambda).
pub fn subscriber<W>(writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let setting = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let level =
        setting.as_deref().ok().and_then(|s| LevelFilter::from_str(s).ok()).unwrap_or(LevelFilter::INFO);
    let levels = EnvFilter::builder().with_default_directive(level.into()).from_env_lossy();
    let verbose_only_for_own_code = filter_fn(|meta| *meta.level() <= Level::INFO || is_own(meta.target()));
    let json = is_json();
    let format = tracing_subscriber::fmt::layer().with_target(false).without_time().with_writer(writer);
    let format = if json { format.json().boxed() } else { format.boxed() };
    tracing_subscriber::registry().with(levels).with(verbose_only_for_own_code).with(format)
}

/// Whether lines are JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`, as the template sets) or text.
pub fn is_json() -> bool {
    std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
}

/// Installs [`subscriber`] on stdout for the whole process.
pub fn init() {
    // A second call (tests that start several functions) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stdout));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_crates_count_as_our_code() {
        assert!(is_own("shared::user_service") && is_own("oidc::token") && is_own("passwords"));
        for dependency in ["lambda_runtime::layers::api_response", "aws_smithy_runtime", "hyper", "sharedx"] {
            assert!(!is_own(dependency), "{dependency}");
        }
    }
}
