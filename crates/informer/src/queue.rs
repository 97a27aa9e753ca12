//! The work queue of a reconcile loop (client-go's workqueue, small): which
//! keys to reconcile now, which later, and how long a failing key waits.
//!
//! A key is queued once however many events touch it (a burst of pod
//! changes is one reconcile of their Service), and it remembers *when* it
//! was first queued since its last successful reconcile: the endpoints
//! controller writes that time as `last-change-trigger-time`, so a retry
//! must not move it. Pure: every method takes the time as a parameter.
//!
//! ```text
//!  event ──add──▶ dirty ──take──▶ reconcile ──Ok(requeue(d))──▶ scheduled (now + d)
//!                   ▲                 │──────Ok(await_change)──▶ (forgotten)
//!                   │                 └─────────Err────────────▶ scheduled (now + backoff)
//!                   └────────────────────due────────────────────────┘
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

/// What a reconcile asks for next (kube-runtime's `Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Nothing more to do until an event touches the key again.
    pub fn await_change() -> Self {
        Self { requeue_after: None }
    }

    /// Reconcile again after `after` even if no event comes (a periodic
    /// resync); an event before then reconciles it sooner.
    pub fn requeue(after: Duration) -> Self {
        Self { requeue_after: Some(after) }
    }
}

/// How long a failing key waits: `first`, doubling with each consecutive
/// failure, at most `max` (client-go's per-item exponential backoff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `failures`-th consecutive failure (1, 2, ...).
    pub fn after(&self, failures: u32) -> Duration {
        let doubled = self.first.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        doubled.min(self.max)
    }
}

/// A key waiting for its time.
#[derive(Debug, Clone, Copy)]
struct Scheduled {
    at: Instant,
    /// A retry keeps the time its change was first queued; a requeue has none.
    since: Option<SystemTime>,
}

#[derive(Debug)]
pub struct Queue<K> {
    /// To reconcile at the next pass, with the time each was first queued.
    dirty: BTreeMap<K, SystemTime>,
    /// To reconcile at a time: requeues and retries.
    scheduled: BTreeMap<K, Scheduled>,
    /// Consecutive failures per key, for the backoff.
    failures: BTreeMap<K, u32>,
    backoff: Backoff,
}

impl<K: Ord + Clone> Queue<K> {
    pub fn new(backoff: Backoff) -> Self {
        Self { dirty: BTreeMap::new(), scheduled: BTreeMap::new(), failures: BTreeMap::new(), backoff }
    }

    /// Queues `key` for the next pass. A key already queued keeps its first
    /// time, and a key waiting to be retried keeps the time of its change.
    pub fn add(&mut self, key: K, now: SystemTime) {
        let since = self.scheduled.remove(&key).and_then(|s| s.since).unwrap_or(now);
        let first = self.dirty.entry(key).or_insert(since);
        *first = (*first).min(since);
    }

    /// The keys to reconcile now, in order, with the time each was first
    /// queued: the dirty ones, and the scheduled ones whose time has come.
    pub fn take(&mut self, now: Instant, wall: SystemTime) -> Vec<(K, SystemTime)> {
        let due: Vec<K> = self.scheduled.iter().filter(|(_, s)| s.at <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            if let Some(s) = self.scheduled.remove(&key) {
                self.dirty.entry(key).or_insert(s.since.unwrap_or(wall));
            }
        }
        std::mem::take(&mut self.dirty).into_iter().collect()
    }

    /// Records a successful reconcile of `key` and what it asked for.
    pub fn done(&mut self, key: K, action: Action, now: Instant) {
        self.failures.remove(&key);
        if self.dirty.contains_key(&key) {
            return;
        }
        match action.requeue_after {
            Some(after) => self.scheduled.insert(key, Scheduled { at: now + after, since: None }),
            None => self.scheduled.remove(&key),
        };
    }

    /// Records a failed reconcile of `key`, first queued at `since`: it is
    /// retried after the backoff, which this returns.
    pub fn failed(&mut self, key: K, since: SystemTime, now: Instant) -> Duration {
        let failures = self.failures.entry(key.clone()).or_default();
        *failures += 1;
        let wait = self.backoff.after(*failures);
        match self.dirty.get_mut(&key) {
            // Queued again meanwhile: it goes at the next pass, with the older time.
            Some(first) => *first = (*first).min(since),
            None => {
                self.scheduled.insert(key, Scheduled { at: now + wait, since: Some(since) });
            }
        }
        wait
    }

    /// When the next scheduled key is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.scheduled.values().map(|s| s.at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff { first: Duration::from_millis(200), max: Duration::from_secs(2) };

    fn secs(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn a_key_is_queued_once_with_its_first_time() {
        let mut q = Queue::new(BACKOFF);
        let now = Instant::now();
        q.add("svc-a", secs(10));
        q.add("svc-b", secs(11));
        q.add("svc-a", secs(12));
        assert_eq!(q.take(now, secs(13)), [("svc-a", secs(10)), ("svc-b", secs(11))]);
        assert!(q.take(now, secs(14)).is_empty(), "taken keys are gone");
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn a_failed_key_is_retried_after_a_growing_backoff_with_its_time() {
        let mut q = Queue::new(BACKOFF);
        let t0 = Instant::now();
        q.add("svc", secs(10));
        let [(key, since)] = q.take(t0, secs(10))[..] else { panic!() };
        assert_eq!(q.failed(key, since, t0), Duration::from_millis(200));
        assert!(q.take(t0 + Duration::from_millis(100), secs(11)).is_empty(), "not yet");
        assert_eq!(q.next_due(), Some(t0 + Duration::from_millis(200)));
        let t1 = t0 + Duration::from_millis(200);
        assert_eq!(q.take(t1, secs(11)), [("svc", secs(10))], "the retry keeps the first time");
        assert_eq!(q.failed("svc", secs(10), t1), Duration::from_millis(400));
        // An event before the retry is due: reconciled at once, still with the first time.
        q.add("svc", secs(12));
        assert_eq!(q.next_due(), None);
        assert_eq!(q.take(t1, secs(12)), [("svc", secs(10))]);
        assert_eq!(q.failed("svc", secs(10), t1), Duration::from_millis(800));
        assert_eq!(q.failed("svc", secs(10), t1), Duration::from_millis(1600));
        assert_eq!(q.failed("svc", secs(10), t1), Duration::from_secs(2), "at most max");
        // Success forgets the failures: the next failure waits `first` again.
        q.done("svc", Action::await_change(), t1);
        assert_eq!(q.next_due(), None);
        q.add("svc", secs(20));
        let [(key, since)] = q.take(t1, secs(20))[..] else { panic!() };
        assert_eq!(since, secs(20), "a new change, a new time");
        assert_eq!(q.failed(key, since, t1), Duration::from_millis(200));
    }

    #[test]
    fn a_requeue_comes_back_at_its_time_unless_an_event_comes_first() {
        let mut q = Queue::new(BACKOFF);
        let t0 = Instant::now();
        q.done((), Action::requeue(Duration::from_secs(30)), t0);
        assert_eq!(q.next_due(), Some(t0 + Duration::from_secs(30)));
        assert!(q.take(t0 + Duration::from_secs(29), secs(29)).is_empty());
        assert_eq!(q.take(t0 + Duration::from_secs(30), secs(30)), [((), secs(30))]);
        q.done((), Action::requeue(Duration::from_secs(30)), t0 + Duration::from_secs(30));
        q.add((), secs(31));
        assert_eq!(q.next_due(), None, "the event replaces the requeue");
        assert_eq!(q.take(t0 + Duration::from_secs(31), secs(31)), [((), secs(31))]);
    }

    #[test]
    fn backoff_doubles_up_to_max() {
        let b = Backoff { first: Duration::from_secs(1), max: Duration::from_secs(30) };
        let waits: Vec<u64> = (1..=7).map(|n| b.after(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.after(u32::MAX), Duration::from_secs(30), "no overflow");
    }
}
