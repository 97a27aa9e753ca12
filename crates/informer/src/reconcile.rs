//! The one loop every controller (and the proxy) runs: watch → coalesce →
//! reconcile.
//!
//! ```text
//!  watches ──event──▶ on_event (caches, keys it touches) ──▶ queue
//!                                                              │ synced?
//!  retry / requeue ◀── Err / Action ◀── reconcile(key, since) ◀┘
//! ```
//!
//! 1. Wait for the next event, the next key whose time has come (a retry or
//!    a requeue), or shutdown.
//! 2. Apply the event, and every event already waiting, to the caches
//!    ([`Reconciler::on_event`]); each names the keys it touches, which are
//!    queued once however many events touch them: a burst is one reconcile.
//! 3. Until every cache has its first full list ([`Reconciler::synced`]),
//!    reconcile nothing: a decision on half a list would delete what is
//!    merely not listed yet.
//! 4. Reconcile each queued key from the whole cached state (level
//!    triggered: the event that woke it is not passed on). A failure is
//!    retried after a backoff; an [`Action::requeue`] comes back by itself.
//!
//! What differs between controllers is only `on_event` and `reconcile`. A
//! loop that reconciles everything at once (the scheduler, the proxy) uses
//! the key `()`.

use crate::queue::Queue;
pub use crate::queue::{Action, Backoff};
use futures_util::{FutureExt, Stream, StreamExt};
use std::fmt::{Debug, Display};
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

/// The controllers' retry: 200 ms, doubling, at most 10 s.
pub const DEFAULT_BACKOFF: Backoff = Backoff { first: Duration::from_millis(200), max: Duration::from_secs(10) };

/// What one loop does with events and keys; the loop itself is [`run`].
pub trait Reconciler {
    /// One event of any of the loop's watches.
    type Event;
    /// What one reconcile brings to its desired state (a Service's
    /// `namespace/name`), or `()` when each reconcile does everything.
    type Key: Ord + Clone + Debug;
    type Error: Display;
    /// The loop's name in logs.
    const NAME: &'static str;

    /// Applies one event to the caches and returns the keys it touches
    /// (for a pod: the Services it joins *and* those it leaves, which the
    /// cache's `(before, after)` tells). No IO, so it is unit-tested alone.
    fn on_event(&mut self, event: Self::Event) -> Vec<Self::Key>;

    /// Whether every cache has had its first full list.
    fn synced(&self) -> bool;

    /// Brings `key` to its desired state. `since`: when it was first
    /// queued after its last successful reconcile (a retry keeps it).
    fn reconcile(
        &mut self,
        key: &Self::Key,
        since: SystemTime,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}

/// Runs `reconciler` on `events` until `shutdown` resolves or the events
/// end. Failed keys wait `backoff`. A reconcile in progress is finished
/// before shutdown is noticed: the loop never stops halfway through a write.
pub async fn run<R: Reconciler>(
    reconciler: &mut R,
    mut events: impl Stream<Item = R::Event> + Unpin,
    backoff: Backoff,
    shutdown: impl Future<Output = ()>,
) {
    let mut queue = Queue::new(backoff);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Before the first full lists nothing is reconciled, so nothing is due.
        let due = if reconciler.synced() { queue.next_due() } else { None };
        let wake = tokio::time::Instant::from_std(due.unwrap_or_else(Instant::now));
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { return };
                let now = SystemTime::now();
                reconciler.on_event(event).into_iter().for_each(|k| queue.add(k, now));
                // Coalesce a burst: take what is already waiting before reconciling.
                while let Some(Some(event)) = events.next().now_or_never() {
                    reconciler.on_event(event).into_iter().for_each(|k| queue.add(k, now));
                }
            }
            _ = tokio::time::sleep_until(wake), if due.is_some() => {}
            _ = &mut shutdown => return,
        }
        if !reconciler.synced() {
            continue;
        }
        for (key, since) in queue.take(Instant::now(), SystemTime::now()) {
            match reconciler.reconcile(&key, since).await {
                Ok(action) => queue.done(key, action, Instant::now()),
                Err(e) => {
                    let wait = queue.failed(key.clone(), since, Instant::now());
                    tracing::warn!(controller = R::NAME, key = ?key, "reconcile failed, retrying in {wait:?}: {e:#}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::sync::mpsc;

    /// An in-memory event source: what the test sends, as a stream.
    fn source<E: Send + 'static>() -> (mpsc::UnboundedSender<E>, impl Stream<Item = E> + Unpin) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        (tx, futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    enum Event {
        Touch(&'static str),
        Synced,
    }

    /// One reconcile: the key, the time it was first queued, when it ran.
    type Call = (&'static str, SystemTime, Instant);

    /// Records each reconcile; fails a key as often as `failures` says.
    #[derive(Default)]
    struct Recorder {
        synced: bool,
        failures: std::collections::BTreeMap<&'static str, u32>,
        requeue: Option<Duration>,
        calls: Arc<Mutex<Vec<Call>>>,
    }

    impl Reconciler for Recorder {
        type Event = Event;
        type Key = &'static str;
        type Error = String;
        const NAME: &'static str = "test";

        fn on_event(&mut self, event: Event) -> Vec<&'static str> {
            match event {
                Event::Touch(key) => vec![key],
                Event::Synced => {
                    self.synced = true;
                    vec![]
                }
            }
        }

        fn synced(&self) -> bool {
            self.synced
        }

        async fn reconcile(&mut self, key: &&'static str, since: SystemTime) -> Result<Action, String> {
            self.calls.lock().unwrap().push((key, since, Instant::now()));
            match self.failures.get_mut(key) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    Err(format!("{key} refused"))
                }
                _ => Ok(self.requeue.map_or(Action::await_change(), Action::requeue)),
            }
        }
    }

    const FAST: Backoff = Backoff { first: Duration::from_millis(20), max: Duration::from_millis(40) };

    fn keys(calls: &Mutex<Vec<Call>>) -> Vec<&'static str> {
        calls.lock().unwrap().iter().map(|c| c.0).collect()
    }

    #[tokio::test]
    async fn a_burst_is_one_reconcile_per_key() {
        let (tx, events) = source();
        for e in [Event::Touch("b"), Event::Touch("a"), Event::Touch("b"), Event::Synced, Event::Touch("a")] {
            tx.send(e).unwrap();
        }
        drop(tx);
        let mut r = Recorder::default();
        run(&mut r, events, FAST, std::future::pending()).await;
        assert_eq!(keys(&r.calls), ["a", "b"]);
    }

    #[tokio::test]
    async fn nothing_is_reconciled_before_the_caches_are_synced() {
        let (tx, events) = source();
        let mut r = Recorder::default();
        let calls = r.calls.clone();
        let drive = async {
            tx.send(Event::Touch("a")).unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(keys(&calls).is_empty(), "before the first full lists");
            tx.send(Event::Touch("b")).unwrap();
            tx.send(Event::Synced).unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(keys(&calls), ["a", "b"], "what was queued meanwhile, once synced");
            drop(tx);
        };
        tokio::join!(run(&mut r, events, FAST, std::future::pending()), drive);
    }

    #[tokio::test]
    async fn a_failed_key_is_retried_with_backoff_and_keeps_its_time() {
        let (tx, events) = source();
        let mut r = Recorder { failures: [("a", 2)].into(), ..Default::default() };
        let calls = r.calls.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let drive = async {
            tx.send(Event::Synced).unwrap();
            tx.send(Event::Touch("a")).unwrap();
            tx.send(Event::Touch("b")).unwrap();
            // No event comes: the retries alone reconcile `a` again.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = stop.send(());
        };
        // The events stay open (tx lives on): shutdown ends the loop.
        tokio::join!(run(&mut r, events, FAST, async { stopped.await.unwrap_or(()) }), drive);
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls.iter().map(|c| c.0).collect::<Vec<_>>(), ["a", "b", "a", "a"], "b never failed");
        let a: Vec<_> = calls.iter().filter(|c| c.0 == "a").collect();
        assert!(a.iter().all(|c| c.1 == a[0].1), "every retry carries the first queued time");
        assert!(a[1].2 - a[0].2 >= Duration::from_millis(20), "first wait");
        assert!(a[2].2 - a[1].2 >= Duration::from_millis(40), "doubled");
    }

    #[tokio::test]
    async fn a_requeue_comes_back_without_events() {
        let (tx, events) = source();
        let mut r = Recorder { requeue: Some(Duration::from_millis(20)), ..Default::default() };
        let calls = r.calls.clone();
        tx.send(Event::Synced).unwrap();
        tx.send(Event::Touch("all")).unwrap();
        let stop = tokio::time::sleep(Duration::from_millis(200));
        run(&mut r, events, FAST, stop).await;
        let n = keys(&calls).len();
        assert!((3..=11).contains(&n), "every 20 ms for 200 ms: {n} reconciles");
    }
}
