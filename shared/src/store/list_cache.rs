//! Each instance keeps the list pages it read for a moment (`LIST_CACHE_MS`): the reads that
//! fan out over shared index partitions (the newest users, a field search, a log page and its
//! total), so that one page asked for at any rate cannot saturate a partition.
//!
//! Such a read touches every write shard of its value at half a read unit or more, so each
//! shard partition takes half a unit per request: 6,000 requests a second saturate it however
//! many shards there are (docs/data-model.md, "List cache"). Kept for `ttl`, a page is read by
//! one instance at most once per `ttl`: with C instances, C / `ttl` reads a second whatever
//! the request rate. At 500 ms (the template's setting) and 1,000 instances (an account's
//! default concurrency) that is 2,000 reads a second, a third of what a partition takes.
//!
//! What it costs: a page may miss a change made through another instance up to `ttl` before.
//! The reads it keeps are of global secondary indexes and counters, eventually consistent
//! already. The instance's own writes end everything kept at once ([`note_write`], called by
//! the client's interceptor for every write), so a client that writes and then lists through
//! the same instance sees its write. Reads by key (a user, an exact id or email) never go
//! through it. A `ttl` of zero, the default outside the template, keeps nothing.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Writes this process has sent or had answered. A Lambda instance is one process serving one
/// request at a time, so this is "this instance's writes".
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Remembered reads at most: a page of ids or entries each, a few hundred KB in all.
const MAX_ENTRIES: usize = 64;

/// Ends every read remembered so far, in every [`ListCache`] of the process.
pub(crate) fn note_write() {
    WRITES.fetch_add(1, Ordering::SeqCst);
}

struct Entry {
    read_at: Instant,
    writes: u64,
    value: Arc<dyn Any + Send + Sync>,
}

#[derive(Clone)]
pub struct ListCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    /// [`WRITES`]; the unit tests below count their own.
    writes: &'static AtomicU64,
}

impl ListCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Arc::default(), writes: &WRITES }
    }

    /// Off: every read goes to the store.
    pub fn off() -> Self {
        Self::new(Duration::ZERO)
    }

    /// The value `read` gave for `key` less than `ttl` ago with no write of this instance
    /// since it began, or what `read` gives now (remembered if no write overlapped it). The
    /// key is only made when the cache is on.
    pub async fn read<T, E, F>(&self, key: impl FnOnce() -> String, read: F) -> Result<T, E>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, E>>,
    {
        if self.ttl.is_zero() {
            return read.await;
        }
        let key = key();
        let began = self.writes.load(Ordering::SeqCst);
        if let Some(value) = self.remembered::<T>(&key, began) {
            return Ok(value);
        }
        // Its age counts from before the read: what it holds may be that old.
        let read_at = Instant::now();
        let value = read.await?;
        if self.writes.load(Ordering::SeqCst) == began {
            self.remember(key, Entry { read_at, writes: began, value: Arc::new(value.clone()) });
        }
        Ok(value)
    }

    fn remembered<T: Clone + 'static>(&self, key: &str, writes: u64) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.get(key)?;
        let fresh = entry.writes == writes && entry.read_at.elapsed() < self.ttl;
        fresh.then(|| entry.value.downcast_ref::<T>().cloned()).flatten()
    }

    fn remember(&self, key: String, entry: Entry) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, e| e.read_at.elapsed() < ttl && e.writes == entry.writes);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use std::sync::atomic::AtomicUsize;

    /// Its own write counter: other tests' writes run side by side with it.
    fn hot(ttl: Duration) -> ListCache {
        ListCache { writes: Box::leak(Box::new(AtomicU64::new(0))), ..ListCache::new(ttl) }
    }

    async fn counted(reads: &AtomicUsize, value: u32) -> Result<u32, StoreError> {
        reads.fetch_add(1, Ordering::SeqCst);
        Ok(value)
    }

    #[tokio::test]
    async fn a_read_is_remembered_for_its_ttl_and_no_longer() {
        let hot = hot(Duration::from_millis(150));
        let reads = AtomicUsize::new(0);
        assert_eq!(hot.read(|| "k".into(), counted(&reads, 1)).await.unwrap(), 1);
        // Remembered: the second read is not made, and its value is the first one's.
        assert_eq!(hot.read(|| "k".into(), counted(&reads, 2)).await.unwrap(), 1);
        // Another key is another read.
        assert_eq!(hot.read(|| "other".into(), counted(&reads, 3)).await.unwrap(), 3);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(hot.read(|| "k".into(), counted(&reads, 4)).await.unwrap(), 4);
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn off_reads_every_time_and_errors_are_not_remembered() {
        let off = ListCache::off();
        let reads = AtomicUsize::new(0);
        off.read(|| "k".into(), counted(&reads, 1)).await.unwrap();
        off.read(|| "k".into(), counted(&reads, 1)).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);

        let hot = hot(Duration::from_secs(60));
        let failed: Result<u32, _> =
            hot.read(|| "k".into(), async { Err(StoreError::Other("x".into())) }).await;
        assert!(failed.is_err());
        assert_eq!(hot.read(|| "k".into(), counted(&reads, 5)).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn a_write_ends_what_was_remembered_and_what_it_overlapped() {
        let hot = hot(Duration::from_secs(60));
        let reads = AtomicUsize::new(0);
        hot.read(|| "k".into(), counted(&reads, 1)).await.unwrap();
        hot.writes.fetch_add(1, Ordering::SeqCst);
        assert_eq!(hot.read(|| "k".into(), counted(&reads, 2)).await.unwrap(), 2);
        // A read a write overlapped may hold what was there before the write: not kept.
        let overlapped = async {
            hot.writes.fetch_add(1, Ordering::SeqCst);
            Ok::<_, StoreError>(3)
        };
        assert_eq!(hot.read(|| "k".into(), overlapped).await.unwrap(), 3);
        assert_eq!(hot.read(|| "k".into(), counted(&reads, 4)).await.unwrap(), 4);
    }
}
