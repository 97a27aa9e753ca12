//! When each Service's name became resolvable on this server, and after
//! what: served as `/programmed` on the health port for `kubectl-lite
//! trace svc NAME` (the proxies publish the same for their rules).
//!
//! "Resolvable" is what a client sees: an A question for
//! `<svc>.<ns>.svc.<zone>` is answered NOERROR (NODATA counts: the name
//! exists). The moment is when the event that made it so reached the
//! index, which is the moment answers changed. The trigger is the
//! Service's creation for a Service with a ClusterIP (or an ExternalName),
//! and the endpoint change (the slice's `last-change-trigger-time`) for a
//! headless one, whose name exists only while it has ready endpoints.
//! A name that stops resolving (deleted, no endpoints left) loses its
//! entry, so the next one is its new first.

use crate::answer::{answer, Answer, State};
use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What a Service's name followed when it became resolvable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The Service was created (its `creationTimestamp`, whole seconds).
    Created,
    /// Its endpoints changed (`endpoints.kubernetes.io/last-change-trigger-time`).
    Endpoints,
}

/// The triggers seen for one Service since it was last reconciled.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Pending {
    pub created: Option<jiff::Timestamp>,
    pub endpoints: Option<jiff::Timestamp>,
}

/// One Service's entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub resolvable_at: jiff::Timestamp,
    pub trigger: Option<(Trigger, jiff::Timestamp)>,
}

/// The table the loop writes and `/programmed` reads, by `namespace/name`.
#[derive(Debug, Default, Clone)]
pub struct Programmed(Arc<Mutex<BTreeMap<String, Entry>>>);

/// Whether `<name>.<namespace>.svc.<zone>` is answered (not NXDOMAIN or SERVFAIL).
pub fn resolvable(state: &State, namespace: &str, name: &str) -> bool {
    let Ok(fqdn) = Name::from_ascii(format!("{name}.{namespace}.svc.{}.", state.config.zone)) else {
        return false;
    };
    match answer(&Query::query(fqdn, RecordType::A), state) {
        Answer::Zone(r) => r.rcode == ResponseCode::NoError,
        _ => false,
    }
}

/// The trigger a Service's resolvability followed: its endpoints for a
/// headless one (when they were what changed), else its creation.
pub fn trigger(headless: bool, pending: Pending) -> Option<(Trigger, jiff::Timestamp)> {
    let created = pending.created.map(|t| (Trigger::Created, t));
    let endpoints = pending.endpoints.map(|t| (Trigger::Endpoints, t));
    if headless {
        endpoints.or(created)
    } else {
        created.or(endpoints)
    }
}

impl Programmed {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one reconcile of `key`: resolvable since `at` (kept if it
    /// already was), or not (forgotten).
    pub fn record(&self, key: &str, resolvable: bool, at: SystemTime, trigger: Option<(Trigger, jiff::Timestamp)>) {
        let mut table = self.lock();
        if !resolvable {
            table.remove(key);
        } else if !table.contains_key(key) {
            let resolvable_at = jiff::Timestamp::try_from(at).unwrap_or_else(|_| jiff::Timestamp::now());
            table.insert(key.to_string(), Entry { resolvable_at, trigger });
        }
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        self.lock().get(key).cloned()
    }

    /// `{"ns/name": {"resolvableAt", "trigger", "triggerTime", "latencySeconds"}}`.
    pub fn json(&self) -> serde_json::Value {
        let table = self.lock();
        let entries = table.iter().map(|(k, e)| (k.clone(), entry_json(e)));
        serde_json::Value::Object(entries.collect())
    }
}

fn entry_json(e: &Entry) -> serde_json::Value {
    let mut v = serde_json::json!({"resolvableAt": e.resolvable_at.to_string()});
    if let Some((what, when)) = e.trigger {
        v["trigger"] = serde_json::json!(what);
        v["triggerTime"] = serde_json::json!(when.to_string());
        v["latencySeconds"] = serde_json::json!(e.resolvable_at.duration_since(when).as_secs_f64());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::Config;
    use crate::index::{Index, ServiceEntry, SliceEntry};
    use serde_json::json;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_trigger_of_each_kind() {
        let (c, e) = (ts("2026-12-02T04:00:00Z"), ts("2026-12-02T04:00:05.250Z"));
        for (headless, pending, want) in [
            (false, Pending { created: Some(c), endpoints: Some(e) }, Some((Trigger::Created, c))),
            (true, Pending { created: Some(c), endpoints: Some(e) }, Some((Trigger::Endpoints, e))),
            (true, Pending { created: Some(c), endpoints: None }, Some((Trigger::Created, c))),
            (false, Pending { created: None, endpoints: Some(e) }, Some((Trigger::Endpoints, e))),
            (false, Pending::default(), None),
        ] {
            assert_eq!(trigger(headless, pending), want, "headless {headless}, {pending:?}");
        }
    }

    fn state() -> State {
        let mut index = Index::default();
        index.set_namespace("default", true);
        let svc = |spec| serde_json::from_value(json!({"metadata": {"name": "x"}, "spec": spec})).unwrap();
        let entry = |spec| ServiceEntry::from_service(&svc(spec));
        index.set_service("default", "web", Some(entry(json!({"clusterIP": "10.96.0.5"}))));
        index.set_service("default", "hl", Some(entry(json!({"clusterIP": "None"}))));
        index.set_service("default", "ext", Some(entry(json!({"type": "ExternalName", "externalName": "a.b"}))));
        index.set_service("gone", "web", Some(entry(json!({"clusterIP": "10.96.0.6"}))));
        index.synced = true;
        State { config: Config::new("cluster.local", 30), index }
    }

    #[test]
    fn resolvable_is_what_a_client_would_see() {
        let mut s = state();
        // A ClusterIP and an ExternalName resolve; a headless without ready
        // endpoints, an unknown name and a namespace that does not exist do not.
        for (ns, name, want) in
            [("default", "web", true), ("default", "ext", true), ("default", "hl", false), ("default", "nope", false)]
        {
            assert_eq!(resolvable(&s, ns, name), want, "{ns}/{name}");
        }
        assert!(!resolvable(&s, "gone", "web"), "no Namespace object");
        let slice: k8s_openapi::api::discovery::v1::EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "hl-1", "labels": {"kubernetes.io/service-name": "hl"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": true}}],
        }))
        .unwrap();
        s.index.set_slice("default", "hl-1", SliceEntry::from_slice(&slice));
        assert!(resolvable(&s, "default", "hl"), "one ready endpoint");
    }

    #[test]
    fn first_resolvable_is_kept_until_the_name_stops_resolving() {
        let p = Programmed::default();
        let (t0, t1) = (ts("2026-12-02T04:00:00Z"), ts("2026-12-02T04:00:00.012Z"));
        let at = |t: jiff::Timestamp| SystemTime::from(t);
        p.record("default/web", true, at(t1), Some((Trigger::Created, t0)));
        p.record("default/web", true, at(ts("2026-12-02T04:01:00Z")), None);
        assert_eq!(
            p.json(),
            json!({"default/web": {"resolvableAt": "2026-12-02T04:00:00.012Z", "trigger": "created",
                "triggerTime": "2026-12-02T04:00:00Z", "latencySeconds": 0.012}})
        );
        p.record("default/web", false, at(ts("2026-12-02T04:02:00Z")), None);
        assert_eq!(p.get("default/web"), None);
        p.record("default/web", true, at(ts("2026-12-02T04:03:00Z")), None);
        assert_eq!(p.json(), json!({"default/web": {"resolvableAt": "2026-12-02T04:03:00Z"}}));
    }
}
