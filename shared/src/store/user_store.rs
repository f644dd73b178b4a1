//! What the users service needs from storage, apart from how it is stored: the
//! [`UserStore`] trait, what its calls answer, and the labels a failed write reports. Two
//! implementations: DynamoDB (`store::users`) and an in-memory double for the service's unit
//! tests (`store::memory`).

use std::future::Future;

use super::StoreError;
use super::guards::Guard;
use crate::config::Lockout;
use crate::domain::User;
use crate::domain::log::LogEntry;
use crate::domain::search::{Search, SearchRow};

/// Label of the user item's write; its condition failing means a concurrent change.
pub const USER_LABEL: &str = "user";
/// The outcome of reserving a verify attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Reserved(Reservation),
    Locked { retry_after_secs: u64 },
}

/// Whether a write from `before` to `after` ends the user's lockout window: a new password
/// does (the failed attempts were against the old one). Not so a verify's rehash (same
/// password, new hash): its attempt is given back like any success's, and concurrent failures
/// stay counted.
pub fn ends_lockout(before: Option<&User>, after: Option<&User>, log: &LogEntry) -> bool {
    let is_rehash = log.key == crate::domain::log::LogKey::UserPasswordVerify.as_str();
    matches!((before, after), (Some(before), Some(after)) if before.password != after.password && !is_rehash)
}

impl Attempt {
    /// Locked until the window that started at `window_start_ms` ends: the whole seconds
    /// left, at least one.
    pub fn locked(window_start_ms: i64, window_ms: i64, now_ms: i64) -> Self {
        let remaining_ms = (window_start_ms + window_ms - now_ms).max(1000);
        Attempt::Locked { retry_after_secs: (remaining_ms as u64).div_ceil(1000) }
    }
}

/// One reserved verify attempt: the lockout window it was counted in, and the attempt limit
/// that gives back this attempt and every one reserved before it (what a success does).
/// Attempts reserved after it stay counted: concurrent failures are not forgotten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub(crate) window_start: i64,
    pub(crate) limit_after_success: i64,
}

/// Label of an idempotency record's put; its condition failing means the key was just used.
pub const IDEMPOTENCY_LABEL: &str = "idempotency";

/// What a create with an `Idempotency-Key` leaves behind for 24 hours: enough to recognise
/// the same request (`body_hash`) and to answer it again (`response`, `etag`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The key, scoped by the calling app so that apps cannot see each other's.
    pub key: String,
    pub body_hash: String,
    pub response: String,
    pub etag: String,
    /// Epoch seconds; also the item's TTL.
    pub expires_at: i64,
}

/// Label of a guard release; its condition failing means the guard was not ours.
pub const RELEASE_LABEL: &str = "release";

/// The storage users need. One implementation talks to DynamoDB; the trait keeps the
/// service's rules independent of it.
pub trait UserStore: Send + Sync {
    /// A strongly consistent read of one user.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    /// Users by id, in the order asked; missing ones are skipped.
    fn get_many(&self, ids: &[String]) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
    /// Atomically moves a user from `before` to `after` (create: no `before`; delete: no
    /// `after`), with its guards, the counter and the change's log entry in one transaction.
    fn commit(
        &self,
        before: Option<&User>,
        after: Option<&User>,
        log: &LogEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Creates a user (as `commit` does) and, in the same transaction, its idempotency record,
    /// which must be vacant: `ConditionFailed` names `IDEMPOTENCY_LABEL` when a concurrent
    /// request with the same key won.
    fn create(
        &self,
        user: &User,
        log: &LogEntry,
        record: &IdempotencyRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The live (unexpired) record for an app's idempotency key.
    fn idempotency_record(
        &self,
        scoped_key: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;
    /// Takes one of the user's verify attempts for the lockout window, atomically: `Locked`
    /// once `max_failures` are outstanding within it. A success gives back its own attempt and
    /// those reserved before it (`clear_attempts`); a password change ends the window.
    fn reserve_attempt(
        &self,
        user_id: &str,
        lockout: Lockout,
        now_ms: i64,
    ) -> impl Future<Output = Result<Attempt, StoreError>> + Send;
    /// A successful verify forgets the attempts reserved up to and including `reservation`,
    /// in the window it was counted in; later ones (concurrent failures) stay counted.
    fn clear_attempts(
        &self,
        user_id: &str,
        reservation: &Reservation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A successful verify: its log entry and `clear_attempts`, side by side (not atomic, and
    /// need not be: each half is right on its own).
    fn log_and_clear_attempts(
        &self,
        entry: &LogEntry,
        user_id: &str,
        reservation: &Reservation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records an event that changes no user (a failed password verify).
    fn log(&self, entry: &LogEntry) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The unfiltered number of users (O(1): a counter).
    fn count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Ids of the newest users, skipping `offset`, or (with `after`, a created key) those that
    /// come after that one: a cursor costs no offset.
    fn newest(
        &self,
        offset: u64,
        limit: u64,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// A superset of the users that match `search`, as search rows.
    fn candidates(&self, search: &Search) -> impl Future<Output = Result<Vec<SearchRow>, StoreError>> + Send;
    /// Whether `candidates` reads `search` by key alone (each value names one user's own
    /// items, strongly consistent), not from an index partition other requests share.
    fn reads_by_key(&self, _search: &Search) -> bool {
        false
    }
    /// Who holds each of these guards (for reporting conflicts before a write is attempted).
    fn guard_owners(
        &self,
        guards: &[Guard],
    ) -> impl Future<Output = Result<Vec<(Guard, String)>, StoreError>> + Send;
}
