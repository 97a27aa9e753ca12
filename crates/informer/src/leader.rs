//! Leader election through a Lease, as client-go's `leaderelection`: one
//! replica holds `kube-system/<name>` and works; the others retry every
//! `retry_period` and take it over once the holder has not renewed it for
//! `lease_duration`.
//!
//! ```text
//!  acquire: retry every retry_period ──▶ holder = me ──▶ hold: renew every retry_period
//!                                                        │ no renewal for renew_deadline
//!                                                        ▼
//!                                        lost (the process exits, as upstream's)
//!  shutdown while holding ──▶ release: holder "", duration 1 s (releaseOnCancel)
//! ```
//!
//! [`next`] is the pure step (the Lease as read, what was last observed of
//! it, and now → what to write); [`Elector`] does the IO. Expiry is judged
//! on this process's clock from when the record was last seen to change,
//! not from the `renewTime` written by the holder, so clock skew between
//! replicas does not matter (client-go's `observedTime`). The
//! resourceVersion of the Lease as read makes every write conditional:
//! two candidates racing for an expired Lease cannot both win.
//!
//! Not `kube-lease-manager` (0.13, the one maintained crate for kube 5): its
//! model is a duration plus a grace, with conflicts found by server-side
//! apply; upstream's is three durations (`--leader-elect-lease-duration`,
//! `-renew-deadline`, `-retry-period`) and conditional updates, which is
//! what kubectl users see in the Lease and what this file does in ~100 lines.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use std::future::Future;
use std::time::Duration;

/// The flags of kube-controller-manager's `--leader-elect-*`.
#[derive(Clone, Debug)]
pub struct Config {
    pub namespace: String,
    /// `--leader-elect-resource-name`.
    pub name: String,
    /// `<hostname>_<uuid>`: see [`identity`].
    pub identity: String,
    /// How long a Lease not renewed stays the holder's (15 s).
    pub lease_duration: Duration,
    /// How long the holder keeps trying to renew before it gives up (10 s).
    pub renew_deadline: Duration,
    /// How often candidates and the holder try (2 s).
    pub retry_period: Duration,
}

/// This replica's identity, as kube-controller-manager's: the hostname, an
/// underscore, and a fresh UUID (two replicas on one host differ).
pub fn identity(hostname: &str) -> String {
    format!("{hostname}_{}", uuid::Uuid::new_v4())
}

/// The parts of the Lease whose change shows that the holder is alive.
pub type Record = (Option<String>, Option<Timestamp>, Option<i32>);

fn record(lease: &Lease) -> Record {
    let spec = lease.spec.clone().unwrap_or_default();
    (spec.holder_identity, spec.renew_time.map(|t| t.0), spec.lease_transitions)
}

/// The Lease as last seen to change, and when (on our clock).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub record: Option<Record>,
    pub at: Option<Timestamp>,
}

/// What to do after reading the Lease.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// There is none: create it, held by us.
    Create(Lease),
    /// Ours to renew, or free (expired or released) to take: write this.
    Update(Lease),
    /// Someone else's until they stop renewing it.
    HeldBy(String),
}

/// One try of client-go's `tryAcquireOrRenew`: given the Lease as read
/// (`None`: not found) and what was observed of it before, what to write.
/// Also returns the observation to keep.
pub fn next(current: Option<&Lease>, observed: &Observed, config: &Config, now: Timestamp) -> (Step, Observed) {
    let duration = i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let Some(current) = current else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                namespace: Some(config.namespace.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(duration),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return (Step::Create(lease), Observed::default());
    };
    let seen = record(current);
    let observed = match (&observed.record, observed.at) {
        (Some(r), Some(at)) if *r == seen => Observed { record: Some(seen), at: Some(at) },
        _ => Observed { record: Some(seen), at: Some(now) },
    };
    let spec = current.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let ours = holder == config.identity;
    // The holder's own duration, as written: it is what it promised.
    let held_for = SignedDuration::from_secs(spec.lease_duration_seconds.unwrap_or(duration).into());
    let expired = observed.at.is_none_or(|at| at + held_for < now);
    if !holder.is_empty() && !ours && !expired {
        return (Step::HeldBy(holder), observed);
    }
    let mut lease = current.clone();
    let spec = lease.spec.get_or_insert_with(Default::default);
    if !ours {
        spec.holder_identity = Some(config.identity.clone());
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.lease_duration_seconds = Some(duration);
    spec.renew_time = Some(MicroTime(now));
    (Step::Update(lease), observed)
}

/// The Lease given up on shutdown (client-go's `release`): no holder, a
/// duration of 1 s, so a waiting replica takes over at its next try
/// instead of after the full lease duration. `None` if it is not ours.
pub fn released(current: &Lease, identity: &str, now: Timestamp) -> Option<Lease> {
    let mut lease = current.clone();
    let spec = lease.spec.as_mut()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    spec.holder_identity = Some(String::new());
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(now));
    spec.acquire_time = Some(MicroTime(now));
    Some(lease)
}

/// How holding the Lease ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// No renewal succeeded for `renew_deadline`: someone else may hold it now.
    Lost,
    /// Shut down, and given up.
    Released,
}

/// The IO around [`next`].
pub struct Elector {
    api: Api<Lease>,
    config: Config,
    observed: Observed,
    /// The Lease as last written by us.
    held: Option<Lease>,
}

impl Elector {
    pub fn new(client: kube::Client, config: Config) -> Self {
        let api = Api::namespaced(client, &config.namespace);
        Self { api, config, observed: Observed::default(), held: None }
    }

    /// One try; true if we hold the Lease after it.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let current = self.api.get_opt(&self.config.name).await?;
        let (step, observed) = next(current.as_ref(), &self.observed, &self.config, Timestamp::now());
        self.observed = observed;
        let written = match step {
            Step::HeldBy(holder) => {
                tracing::debug!("lease {}/{} is held by {holder}", self.config.namespace, self.config.name);
                return Ok(false);
            }
            Step::Create(lease) => self.api.create(&PostParams::default(), &lease).await?,
            Step::Update(lease) => self.api.replace(&self.config.name, &PostParams::default(), &lease).await?,
        };
        self.held = Some(written);
        Ok(true)
    }

    /// Tries every `retry_period` until this replica holds the Lease
    /// (true) or `shutdown` resolves (false).
    pub async fn acquire(&mut self, shutdown: impl Future<Output = ()>) -> bool {
        let (ns, name) = (self.config.namespace.clone(), self.config.name.clone());
        tracing::info!("attempting to acquire leader lease {ns}/{name}...");
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!("successfully acquired lease {ns}/{name} as {}", self.config.identity);
                    return true;
                }
                Ok(false) => {}
                // A conflict: someone else wrote first; read again next time.
                Err(e) => tracing::debug!("error acquiring lease {ns}/{name}: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.retry_period) => {}
                _ = &mut shutdown => return false,
            }
        }
    }

    /// Renews every `retry_period` until a renewal has failed for
    /// `renew_deadline` ([`Ended::Lost`]) or `release` resolves: then
    /// gives the Lease up ([`Ended::Released`]).
    pub async fn hold(mut self, release: impl Future<Output = ()>) -> Ended {
        let mut release = std::pin::pin!(release);
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.config.retry_period) => {}
                _ = &mut release => {
                    self.release().await;
                    return Ended::Released;
                }
            }
            // A hung apiserver must not stretch the deadline.
            match tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => last_renewed = tokio::time::Instant::now(),
                Ok(Ok(false)) => return Ended::Lost,
                Ok(Err(e)) => tracing::warn!("failed to renew lease {}: {e}", self.config.name),
                Err(_) => tracing::warn!("renewing lease {} timed out", self.config.name),
            }
            if last_renewed.elapsed() > self.config.renew_deadline {
                return Ended::Lost;
            }
        }
    }

    async fn release(&mut self) {
        let Some(held) = &self.held else { return };
        let Some(lease) = released(held, &self.config.identity, Timestamp::now()) else { return };
        match self.api.replace(&self.config.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!("released lease {}/{}", self.config.namespace, self.config.name),
            Err(e) => tracing::warn!("failed to release lease {}: {e}", self.config.name),
        }
    }
}

#[cfg(test)]
#[path = "leader_tests.rs"]
mod tests;
