//! The service's rules over the in-memory store: Logto's order of checks, the retry loops,
//! idempotent creates and the lockout, each in milliseconds and with the races and faults
//! made on demand. The same rules run against the emulator in `tests/`.

use serde_json::json;

use super::*;
use crate::domain::input::Body;
use crate::domain::user::IfMatch;
use crate::store::memory::MemoryUsers;

fn service() -> UserService<MemoryUsers> {
    UserService::new(MemoryUsers::new(true), true, Lockout { max_failures: 3, window_secs: 60 })
}

fn caller() -> Caller {
    Caller { application_id: Some("app".into()), ..Caller::default() }
}

fn new_user(body: serde_json::Value) -> NewUser {
    NewUser::parse(&Body::parse(body.to_string().as_bytes()).unwrap()).unwrap()
}

fn patch(body: serde_json::Value) -> UserPatch {
    UserPatch::parse(&Body::parse(body.to_string().as_bytes()).unwrap()).unwrap()
}

async fn create(users: &UserService<MemoryUsers>, body: serde_json::Value) -> User {
    match users.create(new_user(body), &caller(), None).await.unwrap() {
        Created::New(user) => *user,
        Created::Replayed { .. } => panic!("a new user"),
    }
}

#[tokio::test]
async fn create_reports_the_first_taken_identifier_in_logtos_create_order() {
    let users = service();
    create(&users, json!({"username": "ann", "primaryEmail": "ann@x.io", "primaryPhone": "61412345678"}))
        .await;
    // All three taken: create checks username, then email, then phone.
    let all = json!({"username": "ann", "primaryEmail": "ann@x.io", "primaryPhone": "61412345678"});
    assert!(matches!(users.create(new_user(all), &caller(), None).await, Err(Error::UsernameTaken)));
    let two = json!({"username": "bob", "primaryEmail": "ann@x.io", "primaryPhone": "61412345678"});
    assert!(matches!(users.create(new_user(two), &caller(), None).await, Err(Error::EmailTaken)));
    // A pending error (an unparseable phone) loses to a taken identifier, as in Logto.
    let pending = json!({"username": "ann", "primaryPhone": "999"});
    assert!(matches!(users.create(new_user(pending), &caller(), None).await, Err(Error::UsernameTaken)));
    assert_eq!(users.store().log_entries().len(), 1, "failed creates write nothing");
}

#[tokio::test]
async fn patch_reports_in_logtos_patch_order_and_releases_what_it_no_longer_holds() {
    let users = service();
    create(&users, json!({"username": "ann", "primaryEmail": "ann@x.io"})).await;
    let bob = create(&users, json!({"username": "bob", "primaryEmail": "bob@x.io"})).await;
    // Both taken: patch checks email before username.
    let both = patch(json!({"username": "ann", "primaryEmail": "ann@x.io"}));
    assert!(matches!(users.patch(&bob.id, both, &caller()).await, Err(Error::EmailTaken)));
    let renamed = users.patch(&bob.id, patch(json!({"username": "bobby"})), &caller()).await.unwrap();
    assert_eq!(renamed.version, bob.version + 1);
    let owners = users.store().guard_keys();
    assert!(!owners.contains_key("username#bob"), "the old name is free again: {owners:?}");
    assert_eq!(owners.get("username#bobby"), Some(&bob.id));
}

#[tokio::test]
async fn a_change_that_lost_a_race_is_applied_again_to_the_newer_user() {
    let users = service();
    let ann = create(&users, json!({"username": "ann"})).await;
    // Between the read and the write, another request changes the name.
    users.store().before_next_write({
        let id = ann.id.clone();
        move |stored| {
            let user = stored.get_mut(&id).unwrap();
            user.name = Some("Other".into());
            user.version += 1;
        }
    });
    let patched =
        users.patch(&ann.id, patch(json!({"avatar": "https://x.io/a.png"})), &caller()).await.unwrap();
    assert_eq!(patched.name.as_deref(), Some("Other"), "the concurrent change is kept");
    assert_eq!(patched.avatar.as_deref(), Some("https://x.io/a.png"));
    assert_eq!(patched.version, ann.version + 2);
}

#[tokio::test]
async fn if_match_is_checked_against_the_version_read() {
    let users = service();
    let ann = create(&users, json!({"username": "ann"})).await;
    let stale = Caller { if_match: Some(IfMatch::parse("\"7\"")), ..caller() };
    let refused = users.patch(&ann.id, patch(json!({"name": "A"})), &stale).await;
    assert!(matches!(refused, Err(Error::PreconditionFailed)));
    let current = Caller { if_match: Some(IfMatch::parse(&ann.etag())), ..caller() };
    users.patch(&ann.id, patch(json!({"name": "A"})), &current).await.unwrap();
    assert!(matches!(users.delete(&ann.id, &current).await, Err(Error::PreconditionFailed)), "moved on");
}

#[tokio::test]
async fn conflicts_on_every_try_end_in_a_503_and_nothing_written() {
    let users = service();
    let ann = create(&users, json!({"username": "ann"})).await;
    users.store().fail_writes(std::iter::repeat_n(StoreError::TransactionConflict, MAX_ATTEMPTS as usize));
    let answer = users.patch(&ann.id, patch(json!({"name": "A"})), &caller()).await;
    assert!(matches!(answer, Err(Error::Unavailable(_))), "{answer:?}");
    assert_eq!(users.get(&ann.id).await.unwrap().name, None);
    // One conflict fewer, and the last try succeeds.
    users
        .store()
        .fail_writes(std::iter::repeat_n(StoreError::TransactionConflict, MAX_ATTEMPTS as usize - 1));
    users.patch(&ann.id, patch(json!({"name": "A"})), &caller()).await.unwrap();
}

#[tokio::test]
async fn storage_faults_are_503s_and_a_taken_id_draws_another() {
    let users = service();
    users.store().fail_writes([StoreError::Throttled("slow down".into())]);
    let throttled = users.create(new_user(json!({"username": "ann"})), &caller(), None).await;
    assert!(matches!(throttled, Err(Error::Unavailable(_))));
    // The id drawn was taken (the user item's condition failed): another is drawn.
    users.store().fail_writes([StoreError::ConditionFailed { items: vec![USER_LABEL] }]);
    let user = create(&users, json!({"username": "ann"})).await;
    assert_eq!(users.get(&user.id).await.unwrap().username.as_deref(), Some("ann"));
}

#[tokio::test]
async fn a_keyed_create_is_answered_again_and_a_reused_key_with_another_body_refused() {
    let users = service();
    let key = |body_hash: &str| Some(Idempotency { key: "k1".into(), body_hash: body_hash.into() });
    let first = users.create(new_user(json!({"username": "ann"})), &caller(), key("h1")).await.unwrap();
    let Created::New(user) = first else { panic!("a new user") };
    let again = users.create(new_user(json!({"username": "ann"})), &caller(), key("h1")).await.unwrap();
    let Created::Replayed { body, etag } = again else { panic!("a replay") };
    assert_eq!(body["id"], json!(user.id));
    assert_eq!(etag, user.etag());
    let other = users.create(new_user(json!({"username": "bob"})), &caller(), key("h2")).await;
    assert!(matches!(other, Err(Error::IdempotencyKeyReused)));
    // The same key from another app is another key.
    let elsewhere = Caller { application_id: Some("other-app".into()), ..caller() };
    let theirs = users.create(new_user(json!({"username": "bob"})), &elsewhere, key("h2")).await.unwrap();
    assert!(matches!(theirs, Created::New(_)));
}

#[tokio::test]
async fn lockout_counts_failures_and_a_success_or_a_new_password_ends_it() {
    let users = service();
    let ann = create(&users, json!({"username": "ann", "password": "right one"})).await;
    let who = caller();
    let verify = |candidate: &str| users.verify_password(&ann.id, candidate.to_string(), &who);
    for _ in 0..2 {
        assert!(matches!(verify("wrong").await, Err(Error::InvalidCredentials)));
    }
    verify("right one").await.unwrap();
    // The success gave back its attempt and the two before it: three more failures to lock.
    for _ in 0..3 {
        assert!(matches!(verify("wrong").await, Err(Error::InvalidCredentials)));
    }
    assert!(
        matches!(verify("right one").await, Err(Error::PasswordVerifyLocked { .. })),
        "locked, even right"
    );
    users.set_password(&ann.id, "new one".into(), &caller()).await.unwrap();
    verify("new one").await.unwrap();
    let keys: Vec<String> = users.store().log_entries().into_iter().map(|e| e.key).collect();
    let verifies = keys.iter().filter(|k| *k == LogKey::UserPasswordVerify.as_str()).count();
    assert_eq!(verifies, 8, "every verify, locked ones included, is logged: {keys:?}");
}

#[tokio::test]
async fn delete_releases_every_guard_and_refuses_the_caller_itself() {
    let users = service();
    let ann =
        create(&users, json!({"username": "ann", "primaryEmail": "ann@x.io", "primaryPhone": "61412345678"}))
            .await;
    let itself = Caller { subject: Some(ann.id.clone()), ..caller() };
    assert!(matches!(users.delete(&ann.id, &itself).await, Err(Error::CannotDeleteSelf)));
    users.delete(&ann.id, &caller()).await.unwrap();
    assert!(users.store().guard_keys().is_empty(), "{:?}", users.store().guard_keys());
    assert!(matches!(users.get(&ann.id).await, Err(Error::NotFound)));
    // Its identifiers are free for the next user.
    create(&users, json!({"username": "ann", "primaryEmail": "ann@x.io", "primaryPhone": "61412345678"}))
        .await;
}
