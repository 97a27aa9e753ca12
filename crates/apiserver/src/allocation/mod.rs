//! ClusterIP and NodePort allocation that cannot leak.
//!
//! Upstream keeps one bitmap per range in a single etcd key and repairs
//! leaks with a background loop. Here every allocated value is its own small
//! etcd key (`/registry/ipaddresses/10.96.0.10`,
//! `/registry/servicenodeports/30080`), claimed in the *same transaction*
//! that writes the Service, guarded by "key does not exist yet". A crash
//! cannot leave a value held by no Service, and two apiservers can never
//! hand out the same value: etcd refuses the second transaction.
//!
//! The in-memory bitmaps here only *pick candidates*; they are kept fresh
//! by watching the allocation keys, and a stale bitmap costs a retry, never
//! a duplicate.
//!
//! # Layout
//! - [`bitmap`]: offsets taken, and the choice of a free one.
//! - [`range`]: ClusterIP and NodePort ranges mapped onto offsets.
//! - this file: the live candidate pickers, the etcd keys, and the
//!   [`Allocation`] a write claims and releases in its transaction.

pub mod bitmap;
pub mod range;

use crate::error::ApiError;
use crate::shutdown::Shutdown;
use crate::storage::{Guard, Store, Txn, WatchEvent};
use bitmap::Bitmap;
use futures_util::StreamExt;
use range::{AllocationError, IpRange, PortRange};
use serde_json::json;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

pub const IP_PREFIX: &str = "/registry/ipaddresses/";
pub const PORT_PREFIX: &str = "/registry/servicenodeports/";

pub fn ip_key(ip: Ipv4Addr) -> String {
    format!("{IP_PREFIX}{ip}")
}

pub fn port_key(port: i32) -> String {
    format!("{PORT_PREFIX}{port}")
}

/// The record stored under an allocation key: who holds the value. It
/// mirrors upstream's `IPAddress` object, so `etcdctl get` explains itself.
pub fn claim_record(kind: &str, value: &str, namespace: &str, service: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "kind": kind,
        "metadata": { "name": value },
        "spec": { "parentRef": { "group": "", "resource": "services", "namespace": namespace, "name": service } },
    }))
    .unwrap_or_default()
}

/// The candidate pickers for both ranges.
pub struct Allocators {
    pub ip_range: IpRange,
    pub port_range: PortRange,
    ips: Mutex<Bitmap>,
    ports: Mutex<Bitmap>,
}

// std Mutex, not tokio's: nothing is awaited while a bitmap is locked.
fn lock(bitmap: &Mutex<Bitmap>) -> std::sync::MutexGuard<'_, Bitmap> {
    bitmap.lock().unwrap_or_else(|e| e.into_inner())
}

fn pick(bitmap: &Mutex<Bitmap>, band: usize) -> Result<usize, AllocationError> {
    let mut bitmap = lock(bitmap);
    let offset = bitmap.pick(band, fastrand::usize(..)).ok_or(AllocationError::Full)?;
    bitmap.set(offset);
    Ok(offset)
}

impl Allocators {
    pub fn new(ip_range: IpRange, port_range: PortRange) -> Self {
        Self {
            ips: Mutex::new(Bitmap::new(ip_range.size())),
            ports: Mutex::new(Bitmap::new(port_range.size)),
            ip_range,
            port_range,
        }
    }

    /// Picks a free ClusterIP for a dynamic request and marks it taken here,
    /// so that concurrent creates in this process pick different ones.
    pub fn pick_ip(&self) -> Result<Ipv4Addr, AllocationError> {
        pick(&self.ips, self.ip_range.static_band()).map(|o| self.ip_range.address(o))
    }

    pub fn pick_port(&self) -> Result<i32, AllocationError> {
        pick(&self.ports, self.port_range.static_band()).map(|o| self.port_range.port(o))
    }

    /// Records what etcd says (or what a failed transaction revealed).
    pub fn mark_ip(&self, ip: Ipv4Addr, taken: bool) {
        if let Ok(offset) = self.ip_range.offset(ip) {
            lock(&self.ips).mark(offset, taken);
        }
    }

    pub fn mark_port(&self, port: i32, taken: bool) {
        if let Ok(offset) = self.port_range.offset(port) {
            lock(&self.ports).mark(offset, taken);
        }
    }

    /// Applies one allocation key's presence to the right bitmap.
    fn mark_key(&self, key: &str, taken: bool) {
        if let Some(ip) = key.strip_prefix(IP_PREFIX).and_then(|s| s.parse().ok()) {
            self.mark_ip(ip, taken);
        } else if let Some(port) = key.strip_prefix(PORT_PREFIX).and_then(|s| s.parse().ok()) {
            self.mark_port(port, taken);
        }
    }

    fn reset(&self, prefix: &str) {
        if prefix == IP_PREFIX {
            *lock(&self.ips) = Bitmap::new(self.ip_range.size());
        } else {
            *lock(&self.ports) = Bitmap::new(self.port_range.size);
        }
    }

    /// Loads the allocation keys under `prefix` ([`IP_PREFIX`] or
    /// [`PORT_PREFIX`]); returns the revision to watch from.
    pub async fn load(&self, store: &Store, prefix: &str) -> Result<i64, crate::storage::StoreError> {
        let (keys, revision) = store.list_keys(prefix).await?;
        self.reset(prefix);
        keys.iter().for_each(|k| self.mark_key(k, true));
        Ok(revision)
    }

    /// Reloads both bitmaps from etcd: what a "range is full" must do
    /// before it is believed (another apiserver may just have released).
    pub async fn reload(&self, store: &Store) -> Result<(), crate::storage::StoreError> {
        for prefix in [IP_PREFIX, PORT_PREFIX] {
            self.load(store, prefix).await?;
        }
        Ok(())
    }

    /// Keeps one bitmap in step with etcd, whoever writes it (another
    /// apiserver included). After a compaction it reloads from scratch.
    pub async fn follow(&self, store: Store, prefix: &'static str, revision: i64, shutdown: Shutdown) {
        let events = store.watch_prefix_keys(prefix, revision);
        tokio::pin!(events);
        loop {
            let event = tokio::select! {
                e = events.next() => e,
                _ = shutdown.wait() => return,
            };
            match event {
                None => return,
                Some(WatchEvent::Put { key, .. }) => self.mark_key(&key, true),
                Some(WatchEvent::Delete { key, .. }) => self.mark_key(&key, false),
                Some(WatchEvent::Compacted(_)) => {
                    if let Err(e) = self.load(&store, prefix).await {
                        tracing::warn!("reloading allocations under {prefix}: {e}");
                    }
                }
                Some(WatchEvent::Progress(_)) => {}
            }
        }
    }
}

/// Allocated values: those one Service holds, or one write claims or releases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub ips: BTreeSet<Ipv4Addr>,
    pub ports: BTreeSet<i32>,
}

/// The outcome of allocating for one write: the claims to take (and which of
/// them the user asked for by value), the claims to let go, and what this
/// process reserved in its bitmaps (to undo if the write fails).
#[derive(Debug, Default)]
pub struct Allocation {
    pub claim: Claims,
    pub release: Claims,
    pub static_ips: BTreeSet<Ipv4Addr>,
    pub static_ports: BTreeSet<i32>,
    pub picked: Claims,
}

impl Allocation {
    /// Adds the claims (each guarded "key absent") and the releases to the
    /// transaction that writes the object holding them.
    pub fn into_txn(&self, mut txn: Txn, namespace: &str, name: &str) -> Txn {
        for ip in &self.claim.ips {
            txn = txn
                .guard(Guard::Absent(ip_key(*ip)))
                .put(ip_key(*ip), claim_record("IPAddress", &ip.to_string(), namespace, name));
        }
        for port in &self.claim.ports {
            txn = txn
                .guard(Guard::Absent(port_key(*port)))
                .put(port_key(*port), claim_record("ServiceNodePort", &port.to_string(), namespace, name));
        }
        for ip in &self.release.ips {
            txn = txn.delete(ip_key(*ip));
        }
        for port in &self.release.ports {
            txn = txn.delete(port_key(*port));
        }
        txn
    }

    /// Gives back what this process reserved, after a failed or dry-run write.
    pub fn undo_reservations(&self, allocators: &Allocators) {
        self.picked.ips.iter().for_each(|ip| allocators.mark_ip(*ip, false));
        self.picked.ports.iter().for_each(|p| allocators.mark_port(*p, false));
    }

    /// After a commit: the bitmaps learn at once, before the watch says so.
    pub fn committed(&self, allocators: &Allocators) {
        self.claim.ips.iter().for_each(|ip| allocators.mark_ip(*ip, true));
        self.claim.ports.iter().for_each(|p| allocators.mark_port(*p, true));
        self.release.ips.iter().for_each(|ip| allocators.mark_ip(*ip, false));
        self.release.ports.iter().for_each(|p| allocators.mark_port(*p, false));
    }
}

/// Why allocating for a write failed.
#[derive(Debug)]
pub enum AllocateError {
    /// This process's bitmap has no free value for a dynamic request. It may
    /// be stale (another apiserver just released one): reload and retry
    /// before telling the user.
    RangeFull(&'static str),
    Invalid(ApiError),
}

impl From<AllocateError> for ApiError {
    fn from(e: AllocateError) -> Self {
        match e {
            AllocateError::RangeFull(what) => ApiError::internal(format!("failed to allocate a {what}: range is full")),
            AllocateError::Invalid(e) => e,
        }
    }
}
