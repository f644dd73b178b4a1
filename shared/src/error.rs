//! The one error type of the product. Every failure a request can meet is a variant here;
//! `api::response` turns it into Logto's `{code, message, data}` body in one place.

use serde_json::Value;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- request shape (guard.*, request.*)
    #[error("no route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<&'static str> },
    /// A request part failed validation: `target` is `body`, `query` or `params`.
    #[error("invalid {target}: {details}")]
    InvalidInput { target: &'static str, details: String },
    #[error("invalid pagination")]
    InvalidPagination,
    /// Search parameters that cannot be understood; `reason` is Logto's sentence.
    #[error("invalid search: {0}")]
    InvalidSearch(String),
    /// A search that must pass over every user, in a directory larger than the bound one
    /// request may read.
    #[error("search reads more than {0} users")]
    SearchTooBroad(u64),
    #[error("body too large")]
    BodyTooLarge,
    /// An `Idempotency-Key` seen before with another body.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// `If-Match` named a version the user is no longer at.
    #[error("precondition failed")]
    PreconditionFailed,

    // --- entities (entity.*)
    #[error("user not found")]
    NotFound,
    #[error("nothing to update")]
    NothingToUpdate,
    #[error("value too long: {0}")]
    ValueTooLong(String),

    // --- logs (log.*)
    #[error("start after end")]
    InvalidTimeWindow,
    #[error("log {0} not found")]
    LogNotFound(String),

    // --- hooks (hook.*)
    /// Neither `event` nor `events` in a new hook.
    #[error("hook without events")]
    HookMissingEvents,
    #[error("hook {0} not found")]
    HookNotFound(String),
    /// An endpoint a hook may not point at; the reason is sent.
    #[error("hook endpoint not allowed: {0}")]
    HookEndpointNotAllowed(String),
    /// The test delivery reached the endpoint, which answered this non-2xx status.
    #[error("hook endpoint answered {0}")]
    HookEndpointResponded(u16),
    /// The test delivery did not get an answer (refused, timed out, not allowed).
    #[error("hook test delivery failed: {0}")]
    HookSendFailed(String),

    // --- users (user.*)
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error("phone taken")]
    PhoneTaken,
    #[error("invalid phone")]
    InvalidPhone,
    #[error("identity taken")]
    IdentityTaken,
    #[error("identity not found")]
    IdentityNotFound,
    /// A new identity for a user who holds the most allowed.
    #[error("too many identities")]
    TooManyIdentities,
    #[error("cannot delete self")]
    CannotDeleteSelf,
    #[error("password and digest")]
    PasswordAndDigest,
    #[error("password algorithm required")]
    PasswordAlgorithmRequired,

    // --- passwords (password.*, session.*)
    #[error("unsupported encryption method {0}")]
    UnsupportedEncryptionMethod(String),
    #[error("invalid legacy password format")]
    InvalidLegacyFormat,
    #[error("unsupported legacy hash algorithm {0}")]
    UnsupportedLegacyAlgorithm(String),
    #[error("digest cost too high: {0}")]
    DigestCostTooHigh(String),
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed verifies: locked until the window passes (compatibility §6).
    #[error("password verify locked for {retry_after_secs}s")]
    PasswordVerifyLocked { retry_after_secs: u64 },

    // --- authentication (auth.*)
    #[error("authorization header missing")]
    AuthorizationHeaderMissing,
    #[error("authorization type not supported")]
    AuthorizationTypeNotSupported,
    /// Any token that does not verify; the reason is logged, never sent.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("jwt sub missing")]
    JwtSubMissing,
    #[error("forbidden")]
    Forbidden,
    /// The token endpoint's errors, in RFC 6749's shape (`{error, error_description}`).
    #[error("oauth {error}: {description}")]
    OAuth { status: u16, error: &'static str, description: String, basic_challenge: bool },

    // --- infrastructure
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

/// What the HTTP layer needs to answer an error: status, Logto code, message, optional data.
pub struct ErrorParts {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub data: Option<Value>,
    pub details: Option<String>,
    pub retry_after: Option<Duration>,
    /// `WWW-Authenticate` for 401s: `Bearer` on the API, `Basic` on the token endpoint.
    pub challenge: Option<&'static str>,
}

impl Error {
    pub fn invalid_body(details: impl Into<String>) -> Self {
        Error::InvalidInput { target: "body", details: details.into() }
    }

    /// An RFC 6749 token-endpoint error: `invalid_client` is 401, the others 400.
    pub fn oauth(error: &'static str, description: impl Into<String>) -> Self {
        let status = if error == "invalid_client" { 401 } else { 400 };
        Error::OAuth { status, error, description: description.into(), basic_challenge: false }
    }

    /// The contract: status, stable code and English message for every variant.
    pub fn parts(&self) -> ErrorParts {
        use Error::*;
        let (status, code, message): (u16, &'static str, String) = match self {
            RouteNotFound => (404, "guard.route_not_found", "The route does not exist.".into()),
            MethodNotAllowed { .. } => {
                (405, "guard.method_not_allowed", "The method is not allowed on this route.".into())
            }
            InvalidInput { target, .. } => {
                (400, "guard.invalid_input", format!("The request {target} is invalid."))
            }
            InvalidPagination => {
                (400, "guard.invalid_pagination", "The request pagination value is invalid.".into())
            }
            InvalidSearch(reason) => (400, "request.invalid_input", format!("Input is invalid. {reason}")),
            SearchTooBroad(limit) => (
                400,
                "request.search_too_broad",
                format!(
                    "This search has to read every user, and there are more than {limit}. Narrow it with an \
                     exact value or a pattern that starts with literal characters."
                ),
            ),
            BodyTooLarge => (413, "request.body_too_large", "The request body is larger than 1 MiB.".into()),
            IdempotencyKeyReused => (
                422,
                "request.idempotency_key_reused",
                "This Idempotency-Key was used with another request body.".into(),
            ),
            PreconditionFailed => (
                412,
                "request.precondition_failed",
                "The resource has changed since the version given in If-Match.".into(),
            ),
            NotFound => (404, "entity.not_found", "The resource does not exist.".into()),
            LogNotFound(id) => {
                (404, "entity.not_exists_with_id", format!("The logs with ID `{id}` does not exist."))
            }
            InvalidTimeWindow => {
                (400, "log.invalid_time_window", "`end_time` must be after `start_time`.".into())
            }
            NothingToUpdate => {
                (422, "entity.invalid_input", "Invalid input. Value list must not be empty.".into())
            }
            ValueTooLong(_) => (
                422,
                "entity.value_too_long",
                "The length of value is too long and exceeds the limit.".into(),
            ),
            HookMissingEvents => {
                (400, "hook.missing_events", "You need to provide at least one event.".into())
            }
            HookNotFound(id) => {
                (404, "entity.not_exists_with_id", format!("The hooks with ID `{id}` does not exist."))
            }
            HookEndpointNotAllowed(reason) => {
                (400, "hook.endpoint_not_allowed", format!("The hook's endpoint is not allowed: {reason}."))
            }
            HookEndpointResponded(_) => {
                (422, "hook.endpoint_responded_with_error", "The endpoint responded with an error.".into())
            }
            HookSendFailed(_) => {
                (422, "hook.send_test_payload_failed", "Failed to send the test payload.".into())
            }
            UsernameTaken => (422, "user.username_already_in_use", "This username is already in use.".into()),
            EmailTaken => (
                422,
                "user.email_already_in_use",
                "This email is associated with an existing account.".into(),
            ),
            PhoneTaken => (
                422,
                "user.phone_already_in_use",
                "This phone number is associated with an existing account.".into(),
            ),
            InvalidPhone => (422, "user.invalid_phone", "Invalid phone number.".into()),
            IdentityTaken => (
                422,
                "user.identity_already_in_use",
                "The social account has been associated with an existing account.".into(),
            ),
            IdentityNotFound => {
                (404, "user.identity_not_exist", "The social account has not been registered yet.".into())
            }
            TooManyIdentities => (
                422,
                "user.too_many_identities",
                format!(
                    "A user can hold at most {} social identities.",
                    crate::domain::identity::MAX_IDENTITIES
                ),
            ),
            CannotDeleteSelf => (400, "user.cannot_delete_self", "You cannot delete yourself.".into()),
            PasswordAndDigest => (
                400,
                "user.password_and_digest",
                "You cannot set both plain text password and password digest.".into(),
            ),
            PasswordAlgorithmRequired => {
                (400, "user.password_algorithm_required", "Password algorithm is required.".into())
            }
            UnsupportedEncryptionMethod(name) => (
                400,
                "password.unsupported_encryption_method",
                format!("The encryption method {name} is not supported."),
            ),
            InvalidLegacyFormat => {
                (400, "password.invalid_legacy_password_format", "Invalid legacy password format.".into())
            }
            UnsupportedLegacyAlgorithm(algorithm) => (
                400,
                "password.unsupported_legacy_hash_algorithm",
                format!("Unsupported legacy hash algorithm: {algorithm}."),
            ),
            DigestCostTooHigh(what) => (
                400,
                "password.digest_cost_too_high",
                format!("The password digest's cost is above this service's bound: {what}."),
            ),
            PasswordVerifyLocked { .. } => (
                429,
                "user.password_verify_locked",
                "Too many failed password verifications. Try again later.".into(),
            ),
            InvalidCredentials => (
                422,
                "session.invalid_credentials",
                "Incorrect account or password. Please check your input.".into(),
            ),
            AuthorizationHeaderMissing => {
                (401, "auth.authorization_header_missing", "Authorization header is missing.".into())
            }
            AuthorizationTypeNotSupported => (
                401,
                "auth.authorization_token_type_not_supported",
                "Authorization type is not supported.".into(),
            ),
            Unauthorized(_) => {
                (401, "auth.unauthorized", "Unauthorized. Please check credentials and its scope.".into())
            }
            JwtSubMissing => (401, "auth.jwt_sub_missing", "Missing `sub` in JWT.".into()),
            Forbidden => {
                (403, "auth.forbidden", "Forbidden. Please check your user roles and permissions.".into())
            }
            OAuth { status, error, description, .. } => (*status, *error, description.clone()),
            Unavailable(_) => {
                (503, "service.unavailable", "The service is temporarily unavailable. Please retry.".into())
            }
            Internal(_) => (500, "internal_server_error", "Internal server error.".into()),
        };
        let data = match self {
            InvalidSearch(_) => Some(Value::Object(Default::default())),
            SearchTooBroad(limit) => Some(serde_json::json!({ "limit": limit })),
            HookEndpointResponded(status) => Some(serde_json::json!({ "responseStatus": status })),
            ValueTooLong(detail) => Some(serde_json::json!({ "message": detail })),
            AuthorizationTypeNotSupported => Some(serde_json::json!({ "supportedTypes": ["Bearer"] })),
            _ => None,
        };
        let details = match self {
            InvalidInput { details, .. } => Some(details.clone()),
            _ => None,
        };
        let retry_after = match self {
            Unavailable(_) => Some(Duration::from_secs(1)),
            PasswordVerifyLocked { retry_after_secs } => Some(Duration::from_secs(*retry_after_secs)),
            _ => None,
        };
        let challenge = match self {
            OAuth { basic_challenge: true, .. } => Some("Basic"),
            OAuth { .. } => None,
            _ if status == 401 => Some("Bearer"),
            _ => None,
        };
        ErrorParts { status, code, message, data, details, retry_after, challenge }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
