//! An in-memory [`UserStore`]: the users service's rules tested fast and exhaustively, with
//! failures injected where the emulator cannot make them on demand (a transaction conflict on
//! every try, a concurrent change between a read and its write).
//!
//! It keeps the DynamoDB implementation's semantics, which `tests/store.rs` and the service's
//! integration tests pin on the emulator: a write is one atomic step whose conditions are the
//! user's version (or its absence), each new guard's absence and each released guard's owner;
//! a failed one reports every failed condition's label and changes nothing. It is a test
//! double, not a product store: one lock, everything in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::StoreError;
use super::guards::{Guard, guards, held};
use super::user_store::{
    Attempt, IDEMPOTENCY_LABEL, IdempotencyRecord, RELEASE_LABEL, Reservation, USER_LABEL, UserStore,
    ends_lockout,
};
use crate::config::Lockout;
use crate::domain::User;
use crate::domain::log::LogEntry;
use crate::domain::search::{Search, SearchRow};

#[derive(Default)]
pub struct MemoryUsers {
    username_case_sensitive: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    users: HashMap<String, User>,
    /// Guard key → owner id.
    guards: HashMap<String, String>,
    idempotency: HashMap<String, IdempotencyRecord>,
    lockouts: HashMap<String, Window>,
    log: Vec<LogEntry>,
    /// Answers the next writes (`commit`, `create`) give instead of writing.
    failures: VecDeque<StoreError>,
    /// Run once, just before the next write is checked: a concurrent request's change.
    interleaved: Option<Interleaved>,
}

/// A change to the stored users, made as if by another request.
type Interleaved = Box<dyn FnOnce(&mut HashMap<String, User>) + Send>;

/// A lockout window, as the DynamoDB item holds it.
#[derive(Clone, Copy)]
struct Window {
    attempts: i64,
    limit: i64,
    start: i64,
}

impl MemoryUsers {
    pub fn new(username_case_sensitive: bool) -> Self {
        Self { username_case_sensitive, state: Mutex::default() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next writes fail with these errors, in order, before anything is checked.
    pub fn fail_writes(&self, errors: impl IntoIterator<Item = StoreError>) {
        self.state().failures.extend(errors);
    }

    /// Just before the next write is checked, `change` runs on the stored users, as a request
    /// that got there first would.
    pub fn before_next_write(&self, change: impl FnOnce(&mut HashMap<String, User>) + Send + 'static) {
        self.state().interleaved = Some(Box::new(change));
    }

    /// Every log entry written, oldest first.
    pub fn log_entries(&self) -> Vec<LogEntry> {
        self.state().log.clone()
    }

    /// Guard key → owner, for checks that none leaks.
    pub fn guard_keys(&self) -> HashMap<String, String> {
        self.state().guards.clone()
    }

    fn write(
        &self,
        before: Option<&User>,
        after: Option<&User>,
        log: &LogEntry,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        if let Some(error) = state.failures.pop_front() {
            return Err(error);
        }
        if let Some(change) = state.interleaved.take() {
            change(&mut state.users);
        }
        let case = self.username_case_sensitive;
        let held: Vec<Guard> = before.map(|u| held(u, case)).unwrap_or_default();
        let wanted: Vec<Guard> = after.map(|u| guards(u, case)).unwrap_or_default();
        let id = after.or(before).map(|u| u.id.clone()).unwrap_or_default();

        let mut failed = Vec::new();
        let stored_version = state.users.get(&id).map(|u| u.version);
        if stored_version != before.map(|u| u.version) {
            failed.push(USER_LABEL);
        }
        for guard in wanted.iter().filter(|g| !held.contains(g)) {
            if state.guards.contains_key(&guard.key) {
                failed.push(guard.kind.label());
            }
        }
        for guard in held.iter().filter(|g| !wanted.contains(g)) {
            if state.guards.get(&guard.key) != Some(&id) {
                failed.push(RELEASE_LABEL);
            }
        }
        if let Some(record) = record
            && state
                .idempotency
                .get(&record.key)
                .is_some_and(|r| r.expires_at >= crate::domain::now_ms() / 1000)
        {
            failed.push(IDEMPOTENCY_LABEL);
        }
        if !failed.is_empty() {
            return Err(StoreError::ConditionFailed { items: failed });
        }

        for guard in held.iter().filter(|g| !wanted.contains(g)) {
            state.guards.remove(&guard.key);
        }
        for guard in &wanted {
            state.guards.insert(guard.key.clone(), id.clone());
        }
        if ends_lockout(before, after, log) {
            state.lockouts.remove(&id);
        }
        match after {
            Some(after) => {
                let mut stored = after.clone();
                stored.stored_guards = Some(wanted.iter().map(|g| g.key.clone()).collect());
                state.users.insert(id, stored);
            }
            None => {
                state.users.remove(&id);
            }
        }
        if let Some(record) = record {
            state.idempotency.insert(record.key.clone(), record.clone());
        }
        state.log.push(log.clone());
        Ok(())
    }
}

fn row(user: &User) -> SearchRow {
    SearchRow {
        id: user.id.clone(),
        username: user.username.clone(),
        primary_email: user.primary_email.clone(),
        primary_phone: user.primary_phone.clone(),
        name: user.name.clone(),
        created_at: user.created_at,
    }
}

impl UserStore for MemoryUsers {
    async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.state().users.get(id).cloned())
    }

    async fn get_many(&self, ids: &[String]) -> Result<Vec<User>, StoreError> {
        let state = self.state();
        Ok(ids.iter().filter_map(|id| state.users.get(id).cloned()).collect())
    }

    async fn commit(
        &self,
        before: Option<&User>,
        after: Option<&User>,
        log: &LogEntry,
    ) -> Result<(), StoreError> {
        self.write(before, after, log, None)
    }

    async fn create(
        &self,
        user: &User,
        log: &LogEntry,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        self.write(None, Some(user), log, Some(record))
    }

    async fn idempotency_record(&self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let now = crate::domain::now_ms() / 1000;
        Ok(self.state().idempotency.get(scoped_key).filter(|r| r.expires_at >= now).cloned())
    }

    async fn reserve_attempt(
        &self,
        user_id: &str,
        lockout: Lockout,
        now_ms: i64,
    ) -> Result<Attempt, StoreError> {
        let window_ms = lockout.window_secs as i64 * 1000;
        let max = i64::from(lockout.max_failures);
        let mut state = self.state();
        let window = state.lockouts.entry(user_id.to_string()).or_insert(Window {
            attempts: 0,
            limit: max,
            start: now_ms,
        });
        if window.start <= now_ms - window_ms {
            *window = Window { attempts: 0, limit: max, start: now_ms };
        }
        if window.attempts >= window.limit {
            return Ok(Attempt::locked(window.start, window_ms, now_ms));
        }
        window.attempts += 1;
        Ok(Attempt::Reserved(Reservation {
            window_start: window.start,
            limit_after_success: window.attempts + max,
        }))
    }

    async fn clear_attempts(&self, user_id: &str, reservation: &Reservation) -> Result<(), StoreError> {
        if let Some(window) = self.state().lockouts.get_mut(user_id)
            && window.start == reservation.window_start
            && window.limit < reservation.limit_after_success
        {
            window.limit = reservation.limit_after_success;
        }
        Ok(())
    }

    async fn log_and_clear_attempts(
        &self,
        entry: &LogEntry,
        user_id: &str,
        reservation: &Reservation,
    ) -> Result<(), StoreError> {
        self.log(entry).await?;
        self.clear_attempts(user_id, reservation).await
    }

    async fn log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        self.state().log.push(entry.clone());
        Ok(())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.state().users.len() as u64)
    }

    async fn newest(&self, offset: u64, limit: u64, after: Option<&str>) -> Result<Vec<String>, StoreError> {
        let state = self.state();
        let mut keys: Vec<(String, String)> =
            state.users.values().map(|u| (u.created_key(), u.id.clone())).collect();
        keys.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(keys
            .into_iter()
            .filter(|(key, _)| after.is_none_or(|after| key.as_str() < after))
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(_, id)| id)
            .collect())
    }

    async fn candidates(&self, _search: &Search) -> Result<Vec<SearchRow>, StoreError> {
        // A superset is what the trait asks for: every user.
        Ok(self.state().users.values().map(row).collect())
    }

    async fn guard_owners(&self, guards: &[Guard]) -> Result<Vec<(Guard, String)>, StoreError> {
        let state = self.state();
        Ok(guards
            .iter()
            .filter_map(|g| state.guards.get(&g.key).map(|owner| (g.clone(), owner.clone())))
            .collect())
    }
}
