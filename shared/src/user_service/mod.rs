//! The users service: Logto's rules for every user operation, in Logto's order of checks,
//! over any [`UserStore`]. Handlers parse requests into domain values and call this.

use serde_json::Value;

use crate::config::Lockout;
use crate::domain::identifiers::{MAX_AVATAR_LEN, MAX_IDENTIFIER_LEN};
use crate::domain::identity::{IdentityTarget, MAX_IDENTITIES};
use crate::domain::input::{FieldChange, NewUser, PasswordInput, UserPatch};
use crate::domain::log::{LogEntry, LogKey, changed_fields};
use crate::domain::password::{self, PasswordHash};
use crate::domain::search::{Search, SearchRow};
use crate::domain::user::created_key;
use crate::domain::{JsonObject, Page, User, id, now_ms};
use crate::error::{Error, Result};
use crate::store::StoreError;
use crate::store::guards::{GuardKind, guards, held};
use crate::store::list_cache::ListCache;
use crate::store::user_store::{Attempt, IDEMPOTENCY_LABEL, IdempotencyRecord, USER_LABEL, UserStore};

/// Optimistic-concurrency retries before a contended write gives up (503). With the jittered
/// pauses below, all attempts together stay well under a second.
const MAX_ATTEMPTS: u32 = 12;

/// A random pause before retrying a write that lost a race: up to 2^attempt ms, capped at
/// 64 ms, so that contenders spread out instead of colliding again in lockstep.
pub(crate) async fn pause_before_retry(attempt: u32) {
    let mut byte = [0u8; 2];
    getrandom::fill(&mut byte).expect("the OS random source is available");
    let ceiling = 1u64 << attempt.min(6);
    let millis = u64::from(u16::from_le_bytes(byte)) % ceiling + 1;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

/// Which taken identifier is reported when several are: Logto checks create and patch in
/// different orders.
const CREATE_ORDER: [GuardKind; 4] =
    [GuardKind::Username, GuardKind::Email, GuardKind::Phone, GuardKind::Identity];
const PATCH_ORDER: [GuardKind; 4] =
    [GuardKind::Email, GuardKind::Phone, GuardKind::Username, GuardKind::Identity];

use crate::auth::Caller;

pub struct UserService<S> {
    store: S,
    username_case_sensitive: bool,
    lockout: Lockout,
    /// List pages read from shared index partitions, kept for a moment (off unless set).
    list_cache: ListCache,
}

fn taken(kind: GuardKind) -> Error {
    match kind {
        GuardKind::Username => Error::UsernameTaken,
        GuardKind::Email => Error::EmailTaken,
        GuardKind::Phone => Error::PhoneTaken,
        GuardKind::Identity => Error::IdentityTaken,
    }
}

/// The first failed guard, in `order`, as its 422.
fn conflict(items: &[&str], order: &[GuardKind]) -> Option<Error> {
    order.iter().find(|kind| items.contains(&kind.label())).map(|kind| taken(*kind))
}

/// Checks Logto does at the database: column lengths.
fn check_lengths(user: &User) -> Result<()> {
    let identifiers = [&user.username, &user.primary_email, &user.primary_phone, &user.name];
    for value in identifiers.into_iter().flatten() {
        if value.chars().count() > MAX_IDENTIFIER_LEN {
            return Err(Error::ValueTooLong(format!(
                "value too long for type character varying({MAX_IDENTIFIER_LEN})"
            )));
        }
    }
    if user.avatar.as_ref().is_some_and(|a| a.chars().count() > MAX_AVATAR_LEN) {
        return Err(Error::ValueTooLong(format!(
            "value too long for type character varying({MAX_AVATAR_LEN})"
        )));
    }
    Ok(())
}

/// Stores a phone normalised; an unparseable one is kept as given and reported later, after
/// the uniqueness checks, where Logto reports it.
fn set_phone(
    user: &mut User,
    digits: &crate::domain::identifiers::PhoneDigits,
    deferred: &mut Option<Error>,
) {
    match digits.normalize() {
        Ok(phone) => user.primary_phone = Some(phone.as_str().to_string()),
        Err(err) => {
            deferred.get_or_insert(err);
            user.primary_phone = Some(digits.as_str().to_string());
        }
    }
}

/// 412 unless the user is still at a version the caller's `If-Match` names. Checked on every
/// read of the write loop: a concurrent change between read and write fails the version
/// condition, the loop reads again, and the precondition then fails as it should.
fn check_precondition(caller: &Caller, user: &User) -> Result<()> {
    match &caller.if_match {
        Some(condition) if !condition.matches(&user.etag()) => Err(Error::PreconditionFailed),
        _ => Ok(()),
    }
}

/// A page of users: the users, how many match in all, and the cursor after the last one
/// when more follow.
#[derive(Debug)]
pub struct Listing {
    pub users: Vec<User>,
    pub total: u64,
    pub next: Option<String>,
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;

/// An `Idempotency-Key` with the hash of the body it came with.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub key: String,
    pub body_hash: String,
}

impl Idempotency {
    /// The key as stored: scoped by the calling app, so apps never see each other's answers.
    fn scoped(self, caller: &Caller) -> (String, String) {
        let app = caller.application_id.as_deref().unwrap_or("-");
        (format!("{app}#{}", self.key), self.body_hash)
    }
}

/// What a create answers: a new user, or the first answer to the same keyed request.
#[derive(Debug)]
pub enum Created {
    New(Box<User>),
    Replayed { body: Value, etag: String },
}

fn record(key: &str, body_hash: &str, user: &User) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.to_string(),
        body_hash: body_hash.to_string(),
        response: user.to_json(false).to_string(),
        etag: user.etag(),
        expires_at: now_ms() / 1000 + IDEMPOTENCY_TTL_SECS,
    }
}

impl<S: UserStore> UserService<S> {
    pub fn new(store: S, username_case_sensitive: bool, lockout: Lockout) -> Self {
        Self { store, username_case_sensitive, lockout, list_cache: ListCache::off() }
    }

    pub fn with_list_cache(mut self, list_cache: ListCache) -> Self {
        self.list_cache = list_cache;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub async fn get(&self, user_id: &str) -> Result<User> {
        if !id::is_user_id(user_id) {
            return Err(Error::NotFound);
        }
        self.store.get(user_id).await?.ok_or(Error::NotFound)
    }

    /// A page of users, newest first: by page number, or after a cursor (a created key).
    pub async fn list(&self, search: &Search, page: Page, after: Option<&str>) -> Result<Listing> {
        // One more than the page, to know whether another follows.
        let (offset, wanted) = (if after.is_some() { 0 } else { page.offset() }, page.size + 1);
        let read = self.page_ids(search, offset, wanted, after);
        let (mut ids, total) = if self.store.reads_by_key(search) {
            // Read-after-write, and no partition shared with other requests: nothing to keep.
            read.await?
        } else {
            let key = || format!("users {search:?} {offset} {wanted} {after:?}");
            self.list_cache.read(key, read).await?
        };
        let more = ids.len() as u64 > page.size;
        ids.truncate(page.size as usize);
        let users = self.store.get_many(&ids).await?;
        let next = if more { users.last().map(User::created_key) } else { None };
        Ok(Listing { users, total, next })
    }

    /// The ids of a page (up to `wanted` from `offset`, or after a cursor) and the total.
    async fn page_ids(
        &self,
        search: &Search,
        offset: u64,
        wanted: u64,
        after: Option<&str>,
    ) -> Result<(Vec<String>, u64)> {
        Ok(if search.is_empty() {
            // Side by side, and each to its end even when the other fails (`join!`, not
            // `try_join!`): no request is dropped in flight, so the access line's attempts and
            // throttles are the ones DynamoDB saw.
            let (ids, total) = tokio::join!(self.store.newest(offset, wanted, after), self.store.count());
            (ids?, total?)
        } else {
            let mut rows: Vec<SearchRow> = Vec::new();
            for row in self.store.candidates(search).await? {
                if search.matches(&row)? {
                    rows.push(row);
                }
            }
            rows.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
            let total = rows.len() as u64;
            let ids = rows
                .into_iter()
                .filter(|r| after.is_none_or(|after| created_key(r.created_at, &r.id).as_str() < after))
                .skip(offset as usize)
                .take(wanted as usize)
                .map(|r| r.id)
                .collect();
            (ids, total)
        })
    }

    /// Logto's create, checks in its order: body guard and password rules (already done by
    /// `NewUser::parse`), uniqueness of username, email, phone, then Legacy digest, phone
    /// parseability and lengths.
    pub async fn create(
        &self,
        input: NewUser,
        caller: &Caller,
        idempotency: Option<Idempotency>,
    ) -> Result<Created> {
        let scoped = idempotency.map(|i| i.scoped(caller));
        if let Some((key, hash)) = &scoped
            && let Some(replay) = self.replay(key, hash).await?
        {
            return Ok(replay);
        }
        let mut user = User::new(id::new_user_id(), now_ms());
        let mut deferred: Option<Error> = None;
        user.username = input.username.map(|u| u.into_string());
        user.primary_email = input.primary_email.map(|e| e.into_string());
        if let Some(digits) = &input.primary_phone {
            set_phone(&mut user, digits, &mut deferred);
        }
        user.name = input.name;
        user.avatar = input.avatar;
        user.custom_data = input.custom_data.unwrap_or_default();
        user.profile = input.profile.unwrap_or_default();
        let mut plain = None;
        match input.password {
            None => {}
            Some(PasswordInput::Plain(p)) => plain = Some(p),
            Some(PasswordInput::Digest { digest, algorithm }) => {
                match PasswordHash::import(digest, algorithm) {
                    Ok(hash) => user.password = Some(hash),
                    // The password step comes before the phone check: it wins.
                    Err(err) => deferred = Some(err),
                }
            }
            Some(PasswordInput::LegacyWithoutDigest) => {
                deferred = Some(Error::UnsupportedEncryptionMethod("Legacy".into()))
            }
        }
        if deferred.is_none() {
            deferred = check_lengths(&user).err();
        }
        if let Some(err) = deferred {
            return Err(self.conflict_before(None, &user, &CREATE_ORDER).await?.unwrap_or(err));
        }
        if let Some(plain) = plain {
            user.password = Some(password::hash(plain).await?);
        }
        for attempt in 0..MAX_ATTEMPTS {
            let log = LogEntry::new(LogKey::UserCreate, true, Some(&user.id), &caller.origin());
            let written = match &scoped {
                None => self.store.commit(None, Some(&user), &log).await,
                Some((key, hash)) => self.store.create(&user, &log, &record(key, hash, &user)).await,
            };
            match written {
                Ok(()) => return Ok(Created::New(Box::new(user))),
                Err(StoreError::ConditionFailed { items }) if items.contains(&IDEMPOTENCY_LABEL) => {
                    // A concurrent request with this key won: answer as it did, or refuse.
                    let (key, hash) = scoped.as_ref().expect("only keyed creates write a record");
                    return self
                        .replay(key, hash)
                        .await?
                        .ok_or(Error::Unavailable("idempotency record vanished".into()));
                }
                Err(StoreError::ConditionFailed { items }) => {
                    if let Some(err) = conflict(&items, &CREATE_ORDER) {
                        return Err(err);
                    }
                    // The id was taken (1 in 36^12): draw another.
                    user.id = id::new_user_id();
                }
                Err(StoreError::TransactionConflict) => pause_before_retry(attempt).await,
                Err(err) => return Err(err.into()),
            }
        }
        Err(Error::Unavailable("create kept conflicting".into()))
    }

    /// The first answer to a keyed create, if there was one with this body; 422 if the key
    /// came with another body.
    async fn replay(&self, key: &str, body_hash: &str) -> Result<Option<Created>> {
        match self.store.idempotency_record(key).await? {
            None => Ok(None),
            Some(record) if record.body_hash != body_hash => Err(Error::IdempotencyKeyReused),
            Some(record) => {
                let body = serde_json::from_str(&record.response)
                    .map_err(|e| Error::Internal(format!("stored response: {e}")))?;
                Ok(Some(Created::Replayed { body, etag: record.etag }))
            }
        }
    }

    /// The identifier conflict `after` would meet, read before writing: used when another error
    /// is pending, so that Logto's order of reports holds.
    async fn conflict_before(
        &self,
        before: Option<&User>,
        after: &User,
        order: &[GuardKind],
    ) -> Result<Option<Error>> {
        let held = before.map(|u| held(u, self.username_case_sensitive)).unwrap_or_default();
        let new: Vec<_> =
            guards(after, self.username_case_sensitive).into_iter().filter(|g| !held.contains(g)).collect();
        let owners = self.store.guard_owners(&new).await?;
        Ok(order.iter().find_map(|kind| {
            owners.iter().find(|(g, owner)| g.kind == *kind && *owner != after.id).map(|_| taken(*kind))
        }))
    }

    /// Read, change, write with a version check and the change's log entry in one
    /// transaction; on a concurrent change, read again. `change` may veto with an error
    /// (validation, 404 of a sub-resource, …), and then nothing is written.
    async fn update<T>(
        &self,
        user_id: &str,
        caller: &Caller,
        key: LogKey,
        change: impl FnMut(&mut User) -> Result<T>,
    ) -> Result<(User, T)> {
        self.update_from(None, user_id, caller, key, change).await
    }

    /// `update`, starting from a user the caller has just read (saving a read); a conflict
    /// reads it again.
    async fn update_from<T>(
        &self,
        mut read: Option<User>,
        user_id: &str,
        caller: &Caller,
        key: LogKey,
        mut change: impl FnMut(&mut User) -> Result<T>,
    ) -> Result<(User, T)> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause_before_retry(attempt).await;
            }
            let before = match read.take() {
                Some(user) => user,
                None => self.get(user_id).await?,
            };
            check_precondition(caller, &before)?;
            let mut after = before.clone();
            let out = match change(&mut after) {
                Ok(out) => out,
                Err(err @ (Error::InvalidPhone | Error::ValueTooLong(_))) => {
                    return Err(self
                        .conflict_before(Some(&before), &after, &PATCH_ORDER)
                        .await?
                        .unwrap_or(err));
                }
                Err(err) => return Err(err),
            };
            after.version = before.version + 1;
            // `updatedAt` moves on every change, even two within one millisecond.
            after.updated_at = now_ms().max(before.updated_at + 1);
            let log = LogEntry::new(key, true, Some(user_id), &caller.origin())
                .with_changes(changed_fields(&before, &after));
            match self.store.commit(Some(&before), Some(&after), &log).await {
                Ok(()) => return Ok((after, out)),
                Err(StoreError::ConditionFailed { items }) if items.contains(&USER_LABEL) => continue,
                Err(StoreError::TransactionConflict) => continue,
                Err(StoreError::ConditionFailed { items }) => {
                    return Err(conflict(&items, &PATCH_ORDER)
                        .unwrap_or_else(|| Error::Internal(format!("guard release failed: {items:?}"))));
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(Error::Unavailable("update kept conflicting".into()))
    }

    pub async fn patch(&self, user_id: &str, patch: UserPatch, caller: &Caller) -> Result<User> {
        if patch.is_empty() {
            // Logto looks the user up first: a missing user is a 404 even with an empty body.
            self.get(user_id).await?;
            return Err(Error::NothingToUpdate);
        }
        let (user, ()) = self
            .update(user_id, caller, LogKey::UserUpdate, |user| {
                let mut deferred = None;
                if let Some(change) = &patch.username {
                    user.username = match change {
                        FieldChange::Clear => None,
                        FieldChange::Set(u) => Some(u.as_str().to_string()),
                    };
                }
                if let Some(change) = &patch.primary_email {
                    user.primary_email = match change {
                        FieldChange::Clear => None,
                        FieldChange::Set(e) => Some(e.as_str().to_string()),
                    };
                }
                match &patch.primary_phone {
                    None => {}
                    Some(FieldChange::Clear) => user.primary_phone = None,
                    Some(FieldChange::Set(digits)) => set_phone(user, digits, &mut deferred),
                }
                if let Some(name) = &patch.name {
                    user.name = name.clone();
                }
                if let Some(avatar) = &patch.avatar {
                    user.avatar = avatar.clone();
                }
                if let Some(custom_data) = &patch.custom_data {
                    user.custom_data = custom_data.clone();
                }
                if let Some(profile) = &patch.profile {
                    user.profile = profile.clone();
                }
                match deferred {
                    Some(err) => Err(err),
                    None => check_lengths(user),
                }
            })
            .await?;
        Ok(user)
    }

    /// Deletes the user and its guards; its logs stay (they outlive the user, by design).
    pub async fn delete(&self, user_id: &str, caller: &Caller) -> Result<()> {
        if caller.subject.as_deref() == Some(user_id) {
            return Err(Error::CannotDeleteSelf);
        }
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                pause_before_retry(attempt).await;
            }
            let user = self.get(user_id).await?;
            check_precondition(caller, &user)?;
            let log = LogEntry::new(LogKey::UserDelete, true, Some(user_id), &caller.origin());
            match self.store.commit(Some(&user), None, &log).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed { items }) if items.contains(&USER_LABEL) => continue,
                Err(StoreError::TransactionConflict) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(Error::Unavailable("delete kept conflicting".into()))
    }

    pub async fn merge_custom_data(
        &self,
        user_id: &str,
        patch: JsonObject,
        caller: &Caller,
    ) -> Result<JsonObject> {
        self.merge(user_id, patch, caller, LogKey::UserCustomDataUpdate, |user| &mut user.custom_data).await
    }

    pub async fn merge_profile(
        &self,
        user_id: &str,
        patch: JsonObject,
        caller: &Caller,
    ) -> Result<JsonObject> {
        self.merge(user_id, patch, caller, LogKey::UserProfileUpdate, |user| &mut user.profile).await
    }

    /// Shallow merge at the top level (Logto's jsonb `||`): mentioned keys are replaced whole.
    /// Answers the merged document.
    async fn merge(
        &self,
        user_id: &str,
        patch: JsonObject,
        caller: &Caller,
        key: LogKey,
        document: fn(&mut User) -> &mut JsonObject,
    ) -> Result<JsonObject> {
        let (mut user, ()) = self
            .update(user_id, caller, key, |user| {
                document(user).extend(patch.clone());
                Ok(())
            })
            .await?;
        Ok(std::mem::take(document(&mut user)))
    }

    pub async fn set_suspended(&self, user_id: &str, suspended: bool, caller: &Caller) -> Result<User> {
        let (user, ()) = self
            .update(user_id, caller, LogKey::UserSuspensionStatusUpdate, |user| {
                user.is_suspended = suspended;
                Ok(())
            })
            .await?;
        Ok(user)
    }

    /// Links (or replaces) the identity under `target`; `true` when the target is new. A user
    /// holds at most [`MAX_IDENTITIES`], so that it stays deletable in one transaction.
    pub async fn put_identity(
        &self,
        user_id: &str,
        target: &IdentityTarget,
        identity: JsonObject,
        caller: &Caller,
    ) -> Result<(bool, JsonObject)> {
        let (user, created) = self
            .update(user_id, caller, LogKey::UserIdentityUpsert, |user| {
                let created = !user.identities.contains_key(target.as_str());
                if created && user.identities.len() >= MAX_IDENTITIES {
                    return Err(Error::TooManyIdentities);
                }
                user.identities.insert(target.as_str().to_string(), Value::Object(identity.clone()));
                Ok(created)
            })
            .await?;
        Ok((created, user.identities))
    }

    pub async fn get_identity(&self, user_id: &str, target: &IdentityTarget) -> Result<Value> {
        let user = self.get(user_id).await?;
        user.identities.get(target.as_str()).cloned().ok_or(Error::IdentityNotFound)
    }

    pub async fn delete_identity(
        &self,
        user_id: &str,
        target: &IdentityTarget,
        caller: &Caller,
    ) -> Result<User> {
        let (user, _) = self
            .update(user_id, caller, LogKey::UserIdentityDelete, |user| {
                user.identities.remove(target.as_str()).ok_or(Error::IdentityNotFound)
            })
            .await?;
        Ok(user)
    }

    /// Replaces the password with a fresh Argon2id hash (no policy on admin routes).
    pub async fn set_password(&self, user_id: &str, new_password: String, caller: &Caller) -> Result<User> {
        // Read first: no hashing for a user that does not exist. The write ends any lockout
        // (the store clears it with every password change).
        let user = self.get(user_id).await?;
        let hash = password::hash(new_password).await?;
        let (user, ()) = self
            .update_from(Some(user), user_id, caller, LogKey::UserPasswordUpdate, |user| {
                user.password = Some(hash.clone());
                Ok(())
            })
            .await?;
        Ok(user)
    }

    /// 204 or 422, never telling by its timing whether the user had a password. Every attempt
    /// is logged (`User.Password.Verify`, `Success` or `Error`). A match on an outdated hash
    /// upgrades it to the current Argon2id parameters, in the same transaction as its log.
    ///
    /// Attempts are reserved before the (slow) check, atomically, so that concurrent guesses
    /// cannot exceed the lockout's limit: past it, 429 with `Retry-After`, logged too.
    pub async fn verify_password(&self, user_id: &str, candidate: String, caller: &Caller) -> Result<()> {
        let user = self.get(user_id).await?;
        check_precondition(caller, &user)?;
        let stored = user.password.clone();
        let entry =
            |success| LogEntry::new(LogKey::UserPasswordVerify, success, Some(user_id), &caller.origin());
        let reservation = match self.store.reserve_attempt(user_id, self.lockout, now_ms()).await? {
            Attempt::Reserved(reservation) => reservation,
            Attempt::Locked { retry_after_secs } => {
                let locked = Error::PasswordVerifyLocked { retry_after_secs };
                self.store.log(&entry(false).with_error(locked.parts().code)).await?;
                return Err(locked);
            }
        };
        if !password::verify(stored.clone(), candidate.clone()).await? {
            self.store.log(&entry(false).with_error(Error::InvalidCredentials.parts().code)).await?;
            return Err(Error::InvalidCredentials);
        }
        if !stored.as_ref().is_some_and(PasswordHash::needs_rehash) {
            self.store.log_and_clear_attempts(&entry(true), user_id, &reservation).await?;
            return Ok(());
        }
        let upgraded = password::hash(candidate).await?;
        let rehashed = self
            .update(user_id, caller, LogKey::UserPasswordVerify, |user| {
                // Only upgrade the hash we verified: a concurrent reset wins.
                if user.password == stored {
                    user.password = Some(upgraded.clone());
                }
                Ok(())
            })
            .await;
        match rehashed {
            // The rehash's transaction carried the success's log entry.
            Ok(_) => self.store.clear_attempts(user_id, &reservation).await?,
            Err(err) => {
                tracing::warn!(error = %err, "password rehash skipped");
                self.store.log_and_clear_attempts(&entry(true), user_id, &reservation).await?;
            }
        }
        Ok(())
    }

    pub async fn has_password(&self, user_id: &str) -> Result<bool> {
        Ok(self.get(user_id).await?.password.is_some())
    }
}

/// The users service over DynamoDB, as every function builds it at cold start.
pub fn from_config(
    config: &crate::Config,
    client: aws_sdk_dynamodb::Client,
) -> UserService<crate::store::DynamoUsers> {
    let store = crate::store::DynamoUsers::new(client, config);
    UserService::new(store, config.username_case_sensitive, config.lockout)
        .with_list_cache(config.list_cache())
}

#[cfg(test)]
mod tests;
