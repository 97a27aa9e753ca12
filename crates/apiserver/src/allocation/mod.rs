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
//! - this file: the live candidate pickers and the etcd keys.

pub mod bitmap;
pub mod range;

use crate::shutdown::Shutdown;
use crate::storage::Store;
use bitmap::Bitmap;
use etcd_client::{EventType, WatchOptions};
use range::{AllocationError, IpRange, PortRange};
use serde_json::json;
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

    /// Keeps one bitmap in step with etcd, whoever writes it (another
    /// apiserver included). On any watch failure it reloads from scratch.
    pub async fn follow(&self, store: Store, prefix: &'static str, mut revision: i64, shutdown: Shutdown) {
        loop {
            let opts = WatchOptions::new().with_prefix().with_start_revision(revision + 1);
            if let Ok(mut stream) = store.client().watch(prefix, Some(opts)).await {
                loop {
                    let msg = tokio::select! {
                        m = stream.message() => m,
                        _ = shutdown.wait() => return,
                    };
                    match msg {
                        Ok(Some(resp)) if !resp.canceled() => {
                            for ev in resp.events() {
                                if let Some(kv) = ev.kv() {
                                    self.mark_key(
                                        &String::from_utf8_lossy(kv.key()),
                                        ev.event_type() == EventType::Put,
                                    );
                                    revision = revision.max(kv.mod_revision());
                                }
                            }
                        }
                        _ => break,
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                _ = shutdown.wait() => return,
            }
            match self.load(&store, prefix).await {
                Ok(rev) => revision = rev,
                Err(e) => tracing::warn!("reloading allocations under {prefix}: {e}"),
            }
        }
    }
}
