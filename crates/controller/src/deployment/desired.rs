//! A Deployment's next step, as a pure function of the Deployment and the
//! ReplicaSets it controls: which ReplicaSet to create, which to scale (and
//! to how many), which old ones to prune, and the status to report. Upstream's
//! deployment controller, one pass of `syncDeployment`.
//!
//! The ReplicaSet whose template is the Deployment's is the *new* one; the
//! rest are *old*. A rolling update scales the new one up and the old ones
//! down within two budgets (upstream's defaults, 25% each):
//!
//! ```text
//!  pods in total      ≤ replicas + maxSurge         (how far to grow)
//!  pods available     ≥ replicas − maxUnavailable   (how far to shrink)
//! ```
//!
//! The pods themselves are the ReplicaSet controller's (`crate::replicaset`).

use super::replicasets::{
    equal_ignore_hash, int_annotation, new_replica_set, replicas, revision, set_new_annotations, set_replicas,
    set_replicas_annotations, template_hash,
};
use super::status::{self, condition, get, PROGRESSING};
use api::well_known::{DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub use super::replicasets::template_hash as hash_of;

/// What to write now.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// The new ReplicaSet, to create.
    pub create: Option<ReplicaSet>,
    /// Existing ReplicaSets with new replicas or annotations, to replace.
    pub update: Vec<ReplicaSet>,
    /// Old ReplicaSets beyond `revisionHistoryLimit`, by name.
    pub delete: Vec<String>,
    /// `ScalingReplicaSet` event messages, in order.
    pub events: Vec<String>,
    /// The Deployment's new `deployment.kubernetes.io/revision`, if it changes.
    pub revision: Option<String>,
    pub status: DeploymentStatus,
}

/// `25%` of `total`, or a plain number; percentages round up for surge and
/// down for unavailability, as upstream.
fn scaled(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    let pct = match value {
        None => 25.0,
        Some(IntOrString::Int(n)) => return *n,
        Some(IntOrString::String(s)) => s.trim_end_matches('%').parse().unwrap_or(25.0),
    };
    let v = total as f64 * pct / 100.0;
    (if round_up { v.ceil() } else { v.floor() }) as i32
}

/// (maxSurge, maxUnavailable) as numbers: upstream's `ResolveFenceposts`
/// (both zero would never move, so one may be unavailable); Recreate has none.
pub fn budgets(d: &Deployment) -> (i32, i32) {
    let spec = d.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let strategy = spec.strategy.unwrap_or_default();
    if strategy.type_.as_deref() == Some("Recreate") {
        return (0, 0);
    }
    let ru = strategy.rolling_update.unwrap_or_default();
    let surge = scaled(ru.max_surge.as_ref(), desired, true);
    let unavailable = scaled(ru.max_unavailable.as_ref(), desired, false);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable.min(desired))
}

/// One pass's working state: the ReplicaSets as this pass leaves them.
struct Pass {
    desired: i32,
    /// The Deployment's `status.replicas` as read (upstream's fallback size).
    status_replicas: i32,
    surge: i32,
    unavailable: i32,
    new: Option<ReplicaSet>,
    /// Old ReplicaSets, oldest first.
    old: Vec<ReplicaSet>,
    events: Vec<String>,
}

impl Pass {
    /// Upstream's `scaleReplicaSet`: the size and the replicas annotations;
    /// whether the size changed.
    fn scale(&mut self, rs: &mut ReplicaSet, to: i32) -> bool {
        let from = replicas(rs);
        set_replicas_annotations(rs, self.desired, self.desired + self.surge);
        if from == to {
            return false;
        }
        set_replicas(rs, to);
        let (way, name) = (if to > from { "up" } else { "down" }, rs.metadata.name.clone().unwrap_or_default());
        self.events.push(format!("Scaled {way} replica set {name} from {from} to {to}"));
        true
    }

    fn scale_new(&mut self, to: i32) -> bool {
        let Some(mut rs) = self.new.take() else { return false };
        let scaled = self.scale(&mut rs, to);
        self.new = Some(rs);
        scaled
    }

    fn scale_old(&mut self, i: usize, to: i32) -> bool {
        let mut rs = std::mem::take(&mut self.old[i]);
        let scaled = self.scale(&mut rs, to);
        self.old[i] = rs;
        scaled
    }

    fn all(&self) -> Vec<&ReplicaSet> {
        self.old.iter().chain(self.new.as_ref()).collect()
    }

    fn total(&self) -> i32 {
        self.all().iter().map(|rs| replicas(rs)).sum()
    }

    fn available(&self) -> i32 {
        self.all().iter().map(|rs| rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)).sum()
    }

    /// Upstream's `NewRSNewReplicas` for a rolling update: grow within the surge.
    fn new_rs_replicas(&self) -> i32 {
        let current = self.new.as_ref().map_or(0, replicas);
        let room = self.desired + self.surge - self.total();
        if room <= 0 {
            return current;
        }
        current + room.min(self.desired - current)
    }

    /// Upstream's `reconcileNewReplicaSet`.
    fn reconcile_new(&mut self) -> bool {
        let Some(current) = self.new.as_ref().map(replicas) else { return false };
        match current.cmp(&self.desired) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Greater => self.scale_new(self.desired),
            std::cmp::Ordering::Less => {
                let to = self.new_rs_replicas();
                self.scale_new(to)
            }
        }
    }

    /// Upstream's `reconcileOldReplicaSets`: unhealthy old pods go first
    /// (they serve nobody), then available ones as far as the availability
    /// budget allows, oldest ReplicaSet first.
    fn reconcile_old(&mut self) -> bool {
        if self.old.iter().map(replicas).sum::<i32>() == 0 {
            return false;
        }
        let min_available = self.desired - self.unavailable;
        let new_unavailable = self
            .new
            .as_ref()
            .map_or(0, |rs| replicas(rs) - rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0));
        let max_scaled_down = self.total() - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let mut cleaned = 0;
        for i in 0..self.old.len() {
            let (n, available) = (replicas(&self.old[i]), available_of(&self.old[i]));
            if cleaned >= max_scaled_down || n == 0 || n == available {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(n - available);
            self.scale_old(i, n - down);
            cleaned += down;
        }
        let mut scaled = 0;
        let available = self.available();
        if available > min_available {
            let budget = available - min_available;
            for i in 0..self.old.len() {
                let n = replicas(&self.old[i]);
                if scaled >= budget || n == 0 {
                    continue;
                }
                let down = n.min(budget - scaled);
                self.scale_old(i, n - down);
                scaled += down;
            }
        }
        cleaned + scaled > 0
    }

    /// Upstream's `scale` (a scaling event, or a paused Deployment): the one
    /// active ReplicaSet takes the new size, or all share it in proportion.
    fn scale_all(&mut self) {
        let active: Vec<bool> = self.old.iter().map(|rs| replicas(rs) > 0).collect();
        let new_active = self.new.as_ref().is_some_and(|rs| replicas(rs) > 0);
        let count = active.iter().filter(|a| **a).count() + usize::from(new_active);
        if count <= 1 {
            // The active one, or the newest when none is.
            if new_active || (count == 0 && self.new.is_some()) {
                self.scale_new(self.desired);
            } else if let Some(i) = active.iter().position(|a| *a).or(self.old.len().checked_sub(1)) {
                self.scale_old(i, self.desired);
            }
            return;
        }
        let saturated = self.new.as_ref().is_some_and(|rs| {
            replicas(rs) == self.desired
                && int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) == Some(self.desired)
                && available_of(rs) == self.desired
        });
        if saturated {
            for i in 0..self.old.len() {
                if replicas(&self.old[i]) > 0 {
                    self.scale_old(i, 0);
                }
            }
            return;
        }
        if self.surge == 0 && self.unavailable == 0 {
            return; // Recreate: no proportions
        }
        let allowed = if self.desired > 0 { self.desired + self.surge } else { 0 };
        let to_add = allowed - self.total();
        let max_now = self.desired + self.surge;
        // Every ReplicaSet grows or shrinks by its share of the change,
        // from the size the Deployment had when it last scaled it.
        let mut sizes: Vec<(Option<usize>, i32)> = Vec::new();
        let mut added = 0;
        let mut order: Vec<Option<usize>> = (0..self.old.len()).map(Some).collect();
        order.push(None);
        order.retain(|i| self.rs(*i).is_some_and(|rs| replicas(rs) > 0));
        // Larger first; ties: newer first when growing, older when shrinking.
        order.sort_by_key(|i| {
            (std::cmp::Reverse(replicas(self.rs(*i).unwrap())), if to_add > 0 { -position(*i) } else { position(*i) })
        });
        for i in &order {
            let rs = self.rs(*i).unwrap();
            let n = replicas(rs);
            let share = if to_add == 0 || added == to_add {
                0
            } else {
                let before = int_annotation(rs, MAX_REPLICAS_ANNOTATION)
                    .filter(|m| *m > 0)
                    .or(Some(self.status_replicas).filter(|r| *r > 0));
                let fraction = match (self.desired, before) {
                    (0, _) => -n,
                    (_, None) => 0,
                    (_, Some(before)) => ((n * max_now) as f64 / before as f64).round() as i32 - n,
                };
                let allowed = to_add - added;
                if to_add > 0 {
                    fraction.min(allowed)
                } else {
                    fraction.max(allowed)
                }
            };
            added += share;
            sizes.push((*i, n + share));
        }
        if let Some(first) = sizes.first_mut() {
            first.1 = (first.1 + to_add - added).max(0); // leftovers to the largest
        }
        for (i, to) in sizes {
            match i {
                None => self.scale_new(to),
                Some(i) => self.scale_old(i, to),
            };
        }

        fn position(i: Option<usize>) -> i64 {
            i.map_or(i64::MAX / 2, |i| i as i64)
        }
    }

    fn rs(&self, i: Option<usize>) -> Option<&ReplicaSet> {
        match i {
            None => self.new.as_ref(),
            Some(i) => self.old.get(i),
        }
    }
}

fn available_of(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

/// Upstream's `cleanupDeployment`: old ReplicaSets beyond
/// `revisionHistoryLimit` that are empty and settled, lowest revision first.
fn prune(d: &Deployment, old: &[ReplicaSet]) -> Vec<String> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else { return Vec::new() };
    let mut alive: Vec<&ReplicaSet> = old.iter().filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
    let excess = alive.len() as i32 - limit;
    if excess <= 0 {
        return Vec::new();
    }
    alive.sort_by_key(|rs| revision(&rs.metadata));
    alive
        .iter()
        .take(excess as usize)
        .filter(|rs| {
            let status = rs.status.clone().unwrap_or_default();
            status.replicas == 0
                && replicas(rs) == 0
                && rs.metadata.generation.unwrap_or(0) <= status.observed_generation.unwrap_or(0)
        })
        .filter_map(|rs| rs.metadata.name.clone())
        .collect()
}

fn creation(rs: &ReplicaSet) -> (i64, String) {
    let t = rs.metadata.creation_timestamp.as_ref().map_or(i64::MAX, |t| t.0.as_second());
    (t, rs.metadata.name.clone().unwrap_or_default())
}

/// Plans one pass for `d` over the ReplicaSets it controls. `taken` says
/// whether a ReplicaSet of that name exists at all (a hash collision when it
/// is not the new one).
pub fn plan(d: &Deployment, owned: &[&ReplicaSet], taken: impl Fn(&str) -> bool, now: &Time) -> Plan {
    let spec = d.spec.clone().unwrap_or_default();
    let mut d = d.clone();
    let (surge, unavailable) = budgets(&d);
    let desired = spec.replicas.unwrap_or(1);
    let has_deadline = spec.progress_deadline_seconds.is_some_and(|s| s != i32::MAX);
    let mut out = Plan::default();

    // Paused and resumed are Progressing conditions of their own (upstream's
    // `checkPausedConditions`), set before anything else is decided.
    let paused = spec.paused == Some(true);
    let current = get(d.status.as_ref(), PROGRESSING).cloned();
    let paused_cond = current.as_ref().is_some_and(|c| c.reason.as_deref() == Some("DeploymentPaused"));
    let timed_out = current.as_ref().is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"));
    if has_deadline && !timed_out && paused != paused_cond {
        let (reason, message) = if paused {
            ("DeploymentPaused", "Deployment is paused")
        } else {
            ("DeploymentResumed", "Deployment is resumed")
        };
        status::set(
            d.status.get_or_insert_with(Default::default),
            condition(PROGRESSING, "Unknown", reason, message.into(), now),
        );
    }

    let mut sorted: Vec<ReplicaSet> = owned.iter().map(|rs| (*rs).clone()).collect();
    sorted.sort_by_key(creation);
    let new_at = sorted.iter().position(|rs| {
        rs.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| equal_ignore_hash(t, &spec.template))
    });
    let new = new_at.map(|i| sorted.remove(i));
    let new_revision = sorted.iter().map(|rs| revision(&rs.metadata)).max().unwrap_or(0) + 1;
    let status_replicas = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let mut pass = Pass { desired, status_replicas, surge, unavailable, new, old: sorted, events: Vec::new() };

    // The new ReplicaSet carries the newest revision (a rollback raises an old one's).
    if let Some(mut rs) = pass.new.take() {
        set_new_annotations(&d, &mut rs, new_revision);
        if rs.spec.as_ref().and_then(|s| s.min_ready_seconds) != spec.min_ready_seconds {
            rs.spec.get_or_insert_with(Default::default).min_ready_seconds = spec.min_ready_seconds;
        }
        pass.new = Some(rs);
        if has_deadline && get(d.status.as_ref(), PROGRESSING).is_none() {
            let name = pass.new.as_ref().and_then(|rs| rs.metadata.name.clone()).unwrap_or_default();
            let c =
                condition(PROGRESSING, "True", "FoundNewReplicaSet", format!("Found new replica set {name:?}"), now);
            status::set(d.status.get_or_insert_with(Default::default), c);
        }
    }

    let scaling_event = pass
        .all()
        .iter()
        .filter(|rs| replicas(rs) > 0)
        .any(|rs| int_annotation(rs, DESIRED_REPLICAS_ANNOTATION).is_some_and(|n| n != desired));
    let recreate = spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    let deleting = d.metadata.deletion_timestamp.is_some();
    let rollout = !deleting && !paused && !scaling_event;
    let mut collided = false;
    let mut may_prune = false;

    if deleting {
    } else if paused || scaling_event {
        pass.scale_all();
        if paused {
            out.delete = prune(&d, &pass.old);
        }
    } else {
        // Recreate: every old pod gone before the first new one.
        let mut wait = false;
        if recreate {
            let mut scaled = false;
            for i in 0..pass.old.len() {
                if replicas(&pass.old[i]) > 0 {
                    scaled |= pass.scale_old(i, 0);
                }
            }
            let running: i32 = pass.old.iter().map(|rs| rs.status.as_ref().map_or(0, |s| s.replicas)).sum();
            wait = scaled || running > 0;
        }
        if !wait && pass.new.is_none() {
            let count = d.status.as_ref().and_then(|s| s.collision_count);
            let hash = template_hash(&spec.template, count);
            let name = format!("{}-{hash}", d.metadata.name.as_deref().unwrap_or_default());
            if taken(&name) {
                // Another template has this name: hash again with one more collision.
                d.status.get_or_insert_with(Default::default).collision_count = Some(count.unwrap_or(0) + 1);
                collided = true;
            } else {
                let mut rs = new_replica_set(&d, &hash, new_revision, 0, desired + surge);
                let size = if recreate { desired } else { pass.new_rs_replicas() };
                set_replicas(&mut rs, size);
                if size > 0 {
                    pass.events.push(format!("Scaled up replica set {name} from 0 to {size}"));
                }
                if has_deadline {
                    let c = condition(
                        PROGRESSING,
                        "True",
                        "NewReplicaSetCreated",
                        format!("Created new replica set {name:?}"),
                        now,
                    );
                    status::set(d.status.get_or_insert_with(Default::default), c);
                }
                out.create = Some(rs.clone());
                pass.new = Some(rs);
            }
        }
        if !wait && !collided {
            let moved = if recreate { pass.scale_new(desired) } else { pass.reconcile_new() || pass.reconcile_old() };
            may_prune = !moved;
        }
    }

    // What changed, against what was read.
    let changed = |rs: &ReplicaSet| !owned.contains(&rs);
    let created = out.create.as_ref().and_then(|rs| rs.metadata.name.clone());
    if let Some(rs) = pass.new.as_ref() {
        if created.is_some() {
            out.create = Some(rs.clone());
        } else if changed(rs) {
            out.update.push(rs.clone());
        }
    }
    out.update.extend(pass.old.iter().filter(|rs| changed(rs)).cloned());
    out.events = std::mem::take(&mut pass.events);
    let rev = pass.new.as_ref().and_then(|rs| rs.metadata.annotations.as_ref()?.get(REVISION_ANNOTATION).cloned());
    if rev.is_some() && rev.as_ref() != d.metadata.annotations.as_ref().and_then(|a| a.get(REVISION_ANNOTATION)) {
        out.revision = rev;
    }
    let all = pass.all();
    let max_unavailable = if recreate || desired == 0 { 0 } else { unavailable };
    out.status = if rollout && !collided {
        status::rollout(&d, &all, pass.new.as_ref(), max_unavailable, now)
    } else {
        status::calculate(&d, &all, pass.new.as_ref(), max_unavailable, now)
    };
    // A finished rollout prunes: finished as last reported, or as this pass
    // reports it (our own status write wakes no further pass).
    if may_prune && [d.status.as_ref(), Some(&out.status)].into_iter().flatten().any(|s| status::complete(&d, s)) {
        out.delete = prune(&d, &pass.old);
    }
    if collided {
        out.status.collision_count = d.status.as_ref().and_then(|s| s.collision_count);
    }
    out
}

/// Whether the status to write says something new.
pub fn same_status(a: Option<&DeploymentStatus>, b: &DeploymentStatus) -> bool {
    a == Some(b)
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
