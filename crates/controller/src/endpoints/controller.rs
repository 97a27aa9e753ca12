//! The loop around [`super::desired`]: watch Services, Pods, Endpoints and
//! EndpointSlices; mark the Services a change touches; write what differs.
//! The loop itself is the shared [`informer::reconcile`]; this file says
//! what an event touches ([`State::on_event`]) and how one Service is
//! reconciled.
//!
//! Level-triggered: a Service is reconciled from the whole current state,
//! never from the event alone, so a missed event, a restart or a relist
//! converges all the same. Each queued Service remembers the time of the
//! first change that queued it: the `last-change-trigger-time` that the
//! proxies measure network programming latency from.

use super::desired::{
    desired_endpoints, plan_slices, same_endpoints, MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, TRIGGER_TIME,
};
use api::selectors::LabelSelector;
use futures_util::stream;
use informer::cache::{key_of, watch, Cache, Key};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::collections::BTreeSet;
use std::time::SystemTime;

const COMPONENT: &str = "endpoint-controller";

/// One event from any of the four watches (boxed: objects are large).
pub enum Watched {
    Service(Box<watcher::Event<Service>>),
    Pod(Box<watcher::Event<Pod>>),
    Endpoints(Box<watcher::Event<Endpoints>>),
    Slice(Box<watcher::Event<EndpointSlice>>),
}

/// What the controller has seen: no IO, so its event handling is tested
/// without a server.
#[derive(Default)]
pub struct State {
    services: Cache<Service>,
    pods: Cache<Pod>,
    endpoints: Cache<Endpoints>,
    slices: Cache<EndpointSlice>,
}

impl State {
    pub fn synced(&self) -> bool {
        self.services.synced && self.pods.synced && self.endpoints.synced && self.slices.synced
    }

    /// The Services in `namespace` whose selector matches `pod`.
    fn services_selecting(&self, pod: &Pod) -> Vec<Key> {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        self.services
            .in_namespace(&namespace)
            .filter(|svc| {
                svc.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|sel| LabelSelector::from_map(sel).matches(&labels))
            })
            .map(|svc| key_of(svc.as_ref()))
            .collect()
    }

    /// Applies one event; returns the Services it touches, in order.
    pub fn on_event(&mut self, event: Watched) -> Vec<Key> {
        let mut touched = BTreeSet::new();
        match event {
            Watched::Service(ev) => {
                for (old, new) in self.services.apply(*ev) {
                    touched.extend(new.or(old).map(|svc| key_of(svc.as_ref())));
                }
            }
            Watched::Pod(ev) => {
                for (old, new) in self.pods.apply(*ev) {
                    // Both: the Services the pod joins, and those it leaves.
                    touched.extend([old, new].iter().flatten().flat_map(|p| self.services_selecting(p)));
                }
            }
            Watched::Endpoints(ev) => {
                for (old, new) in self.endpoints.apply(*ev) {
                    // Someone else changed (or deleted) an Endpoints: put it right.
                    if let Some(ep) = new.or(old) {
                        let key = key_of(ep.as_ref());
                        if self.services.get(&key).is_some()
                            || ep.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(TRIGGER_TIME))
                        {
                            touched.insert(key);
                        }
                    }
                }
            }
            Watched::Slice(ev) => {
                for (old, new) in self.slices.apply(*ev) {
                    if let Some(slice) = new.or(old) {
                        let ns = slice.metadata.namespace.clone().unwrap_or_default();
                        if let Some(svc) = slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)) {
                            touched.insert((ns, svc.clone()));
                        }
                    }
                }
            }
        }
        touched.into_iter().collect()
    }

    fn slices_of(&self, key: &Key) -> Vec<EndpointSlice> {
        self.slices
            .in_namespace(&key.0)
            .filter(|s| s.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)) == Some(&key.1))
            .map(|s| s.as_ref().clone())
            .collect()
    }
}

/// The controller: its state and the client it writes with.
struct Controller {
    client: Client,
    state: State,
}

impl Reconciler for Controller {
    type Event = Watched;
    /// A Service's `namespace/name`.
    type Key = Key;
    type Error = kube::Error;
    const NAME: &'static str = "endpoints";

    fn on_event(&mut self, event: Watched) -> Vec<Key> {
        self.state.on_event(event)
    }

    fn synced(&self) -> bool {
        self.state.synced()
    }

    async fn reconcile(&mut self, key: &Key, since: SystemTime) -> Result<Action, kube::Error> {
        let since = jiff::Timestamp::try_from(since).unwrap_or_else(|_| jiff::Timestamp::now());
        reconcile(&self.client, &mut self.state, key, since).await.map(|()| Action::await_change())
    }
}

/// Runs the endpoints and EndpointSlice controllers until `shutdown` resolves.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let managed = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let events = stream::select_all([
        watch(Api::<Service>::all(client.clone()), watcher::Config::default(), Watched::Service),
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
        watch(Api::<Endpoints>::all(client.clone()), watcher::Config::default(), Watched::Endpoints),
        watch(Api::<EndpointSlice>::all(client.clone()), managed, Watched::Slice),
    ]);
    let mut controller = Controller { client, state: State::default() };
    informer::reconcile::run(&mut controller, events, DEFAULT_BACKOFF, shutdown).await;
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Brings one Service's Endpoints and EndpointSlices to what its pods say.
async fn reconcile(client: &Client, state: &mut State, key: &Key, since: jiff::Timestamp) -> Result<(), kube::Error> {
    let (namespace, name) = key;
    let endpoints_api: Api<Endpoints> = Api::namespaced(client.clone(), namespace);
    let slices_api: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let trigger = since.to_string();

    let Some(svc) = state.services.get(key).cloned() else {
        // The Service is gone: so are the objects this controller made for it.
        if state
            .endpoints
            .get(key)
            .is_some_and(|ep| ep.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(TRIGGER_TIME)))
        {
            match endpoints_api.delete(name, &DeleteParams::default()).await {
                Ok(_) => state.endpoints.forget(key),
                Err(e) if is_not_found(&e) => state.endpoints.forget(key),
                Err(e) => return Err(e),
            }
        }
        for slice in state.slices_of(key) {
            let slice_name = slice.metadata.name.clone().unwrap_or_default();
            match slices_api.delete(&slice_name, &DeleteParams::default()).await {
                Ok(_) => state.slices.forget(&(namespace.clone(), slice_name)),
                Err(e) if is_not_found(&e) => state.slices.forget(&(namespace.clone(), slice_name)),
                Err(e) => return Err(e),
            }
        }
        return Ok(());
    };
    let pods: Vec<Pod> = state.pods.in_namespace(namespace).map(|p| p.as_ref().clone()).collect();

    // Decide both from the cache first, then write both at once: the
    // EndpointSlices need not wait for the Endpoints.
    let endpoints_work = async {
        let Some(mut desired) = desired_endpoints(&svc, &pods, Some(&trigger)) else { return Ok(None) };
        match state.endpoints.get(key).cloned() {
            None => match endpoints_api.create(&PostParams::default(), &desired).await {
                Err(e) if is_conflict(&e) => replace_fresh(&endpoints_api, name, desired).await.map(Some),
                other => other.map(Some),
            },
            Some(cur) if same_endpoints(&cur, &desired) => Ok(None),
            Some(cur) => {
                desired.metadata.resource_version = cur.metadata.resource_version.clone();
                match endpoints_api.replace(name, &PostParams::default(), &desired).await {
                    // Our view was stale: decide again on what the apiserver has now.
                    Err(e) if is_conflict(&e) => replace_fresh(&endpoints_api, name, desired).await.map(Some),
                    other => other.map(Some),
                }
            }
        }
    };
    let plan = plan_slices(&svc, &pods, &state.slices_of(key), Some(&trigger));
    // What was written is kept even if a later write fails, so a retry
    // never creates a slice twice.
    let slices_work = async {
        let (mut written, mut gone) = (Vec::new(), Vec::new());
        for slice in plan.create {
            match slices_api.create(&PostParams::default(), &slice).await {
                Ok(s) => written.push(s),
                Err(e) => return (written, gone, Some(e)),
            }
        }
        for slice in plan.update {
            let slice_name = slice.metadata.name.clone().unwrap_or_default();
            match slices_api.replace(&slice_name, &PostParams::default(), &slice).await {
                Ok(s) => written.push(s),
                Err(e) => return (written, gone, Some(e)),
            }
        }
        for slice in plan.delete {
            let slice_name = slice.metadata.name.clone().unwrap_or_default();
            match slices_api.delete(&slice_name, &DeleteParams::default()).await {
                Ok(_) => gone.push(slice_name),
                Err(e) if is_not_found(&e) => gone.push(slice_name),
                Err(e) => return (written, gone, Some(e)),
            }
        }
        (written, gone, None)
    };
    let (endpoints_written, slices_written) = tokio::join!(endpoints_work, slices_work);

    let (written, gone, failed) = slices_written;
    written.into_iter().for_each(|s| state.slices.write_through(s));
    gone.into_iter().for_each(|n| state.slices.forget(&(namespace.clone(), n)));
    if let Some(ep) = endpoints_written? {
        // In the background: an event must not slow the next write.
        let (client, involved, message) = (client.clone(), crate::events::reference(svc.as_ref()), describe(&ep));
        tokio::spawn(async move {
            crate::events::record(&client, involved, false, "EndpointsUpdated", message, COMPONENT).await
        });
        state.endpoints.write_through(ep);
    }
    failed.map_or(Ok(()), Err)
}

/// `Endpoints: 10.244.1.31:80, 10.244.2.41:80 ready; 10.244.1.32:80 not ready`
fn describe(ep: &Endpoints) -> String {
    let list = |ready: bool| {
        let mut out = Vec::new();
        for s in ep.subsets.iter().flatten() {
            let addrs = if ready { &s.addresses } else { &s.not_ready_addresses };
            for a in addrs.iter().flatten() {
                for p in s.ports.iter().flatten() {
                    out.push(format!("{}:{}", a.ip, p.port));
                }
            }
        }
        out
    };
    let (ready, not_ready) = (list(true), list(false));
    match (ready.is_empty(), not_ready.is_empty()) {
        (true, true) => "Endpoints: none".to_string(),
        (false, true) => format!("Endpoints: {} ready", ready.join(", ")),
        (true, false) => format!("Endpoints: {} not ready", not_ready.join(", ")),
        (false, false) => format!("Endpoints: {} ready; {} not ready", ready.join(", "), not_ready.join(", ")),
    }
}

/// After a conflict: read the current object and replace it unless it
/// already says what we want.
async fn replace_fresh(api: &Api<Endpoints>, name: &str, mut desired: Endpoints) -> Result<Endpoints, kube::Error> {
    let fresh = api.get(name).await?;
    if same_endpoints(&fresh, &desired) {
        return Ok(fresh);
    }
    desired.metadata.resource_version = fresh.metadata.resource_version.clone();
    api.replace(name, &PostParams::default(), &desired).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use watcher::Event;

    fn service(name: &str, app: &str) -> Watched {
        let svc = json!({"metadata":{"name":name,"namespace":"default"},"spec":{"selector":{"app":app}}});
        Watched::Service(Box::new(Event::Apply(serde_json::from_value(svc).unwrap())))
    }

    fn pod(name: &str, app: &str, rv: &str) -> Pod {
        serde_json::from_value(json!({"metadata":{"name":name,"namespace":"default","resourceVersion":rv,
            "labels":{"app":app}},"status":{"podIP":"10.244.1.5"}}))
        .unwrap()
    }

    fn applied(p: Pod) -> Watched {
        Watched::Pod(Box::new(Event::Apply(p)))
    }

    fn key(name: &str) -> Key {
        ("default".into(), name.into())
    }

    /// A state after the first full lists, with Services `web` (app=web)
    /// and `api` (app=api).
    fn synced_state() -> State {
        let mut s = State::default();
        for ev in [
            Watched::Service(Box::new(Event::InitDone)),
            Watched::Pod(Box::new(Event::InitDone)),
            Watched::Endpoints(Box::new(Event::InitDone)),
            Watched::Slice(Box::new(Event::InitDone)),
        ] {
            assert!(s.on_event(ev).is_empty());
        }
        assert!(s.synced());
        assert_eq!(s.on_event(service("web", "web")), [key("web")]);
        assert_eq!(s.on_event(service("api", "api")), [key("api")]);
        s
    }

    #[test]
    fn a_pod_that_changes_labels_touches_the_service_it_leaves_and_the_one_it_joins() {
        let mut s = synced_state();
        assert_eq!(s.on_event(applied(pod("p", "web", "10"))), [key("web")]);
        assert_eq!(s.on_event(applied(pod("p", "api", "11"))), [key("api"), key("web")], "joins api, leaves web");
        assert_eq!(s.on_event(applied(pod("p", "other", "12"))), [key("api")], "leaves api, joins nothing");
        assert!(s.on_event(applied(pod("p", "other", "13"))).is_empty(), "selected by no Service");
        assert!(s.on_event(applied(pod("p", "other", "13"))).is_empty(), "unchanged");
        assert_eq!(s.on_event(applied(pod("p", "web", "14"))), [key("web")]);
        assert_eq!(s.on_event(Watched::Pod(Box::new(Event::Delete(pod("p", "web", "14"))))), [key("web")]);
    }

    #[test]
    fn a_pod_deleted_while_the_watch_was_down_touches_its_service_at_the_relist() {
        let mut s = synced_state();
        s.on_event(applied(pod("p", "web", "10")));
        s.on_event(Watched::Pod(Box::new(Event::Init)));
        assert!(s.on_event(Watched::Pod(Box::new(Event::InitDone))).contains(&key("web")));
    }

    #[test]
    fn endpoints_and_slices_written_by_others_touch_their_service() {
        let mut s = synced_state();
        let endpoints = |name: &str, annotated: bool| {
            let annotations = if annotated { json!({TRIGGER_TIME: "2026-12-01T00:00:00Z"}) } else { json!({}) };
            let ep = json!({"metadata":{"name":name,"namespace":"default","annotations":annotations}});
            Watched::Endpoints(Box::new(Event::Apply(serde_json::from_value(ep).unwrap())))
        };
        assert_eq!(s.on_event(endpoints("web", false)), [key("web")], "a Service's Endpoints");
        assert_eq!(s.on_event(endpoints("gone", true)), [key("gone")], "ours, for a Service now gone");
        assert!(s.on_event(endpoints("manual", false)).is_empty(), "someone's own Endpoints");
        let slice = json!({"metadata":{"name":"web-abc","namespace":"default",
            "labels":{SERVICE_NAME_LABEL:"web"}},"addressType":"IPv4","endpoints":[]});
        let slice: EndpointSlice = serde_json::from_value(slice).unwrap();
        assert_eq!(s.on_event(Watched::Slice(Box::new(Event::Delete(slice.clone())))), Vec::<Key>::new());
        assert_eq!(s.on_event(Watched::Slice(Box::new(Event::Apply(slice.clone())))), [key("web")]);
        assert_eq!(s.on_event(Watched::Slice(Box::new(Event::Delete(slice)))), [key("web")]);
    }

    #[test]
    fn a_service_change_touches_the_service() {
        let mut s = synced_state();
        assert_eq!(s.on_event(service("web", "web2")), [key("web")]);
        let svc: Service = serde_json::from_value(json!({"metadata":{"name":"web","namespace":"default"}})).unwrap();
        assert_eq!(s.on_event(Watched::Service(Box::new(Event::Delete(svc)))), [key("web")]);
        assert!(s.services.get(&key("web")).is_none());
    }
}
