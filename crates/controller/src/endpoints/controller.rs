//! The loop around [`super::desired`]: watch Services, Pods, Endpoints and
//! EndpointSlices; mark the Services a change touches; write what differs.
//!
//! Level-triggered: a Service is reconciled from the whole current state,
//! never from the event alone, so a missed event, a restart or a relist
//! converges all the same. Each dirty Service remembers the time of the
//! first change that made it dirty: the `last-change-trigger-time` that the
//! proxies measure network programming latency from.

use super::desired::{
    desired_endpoints, plan_slices, same_endpoints, MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, TRIGGER_TIME,
};
use api::selectors::LabelSelector;
use futures_util::{stream, FutureExt, StreamExt};
use informer::cache::{key_of, watch, Cache, Key};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const COMPONENT: &str = "endpoint-controller";

/// One event from any of the four watches (boxed: objects are large).
enum Watched {
    Service(Box<watcher::Event<Service>>),
    Pod(Box<watcher::Event<Pod>>),
    Endpoints(Box<watcher::Event<Endpoints>>),
    Slice(Box<watcher::Event<EndpointSlice>>),
}

/// The controller's state: what it has seen, and what it must look at.
#[derive(Default)]
pub struct State {
    services: Cache<Service>,
    pods: Cache<Pod>,
    endpoints: Cache<Endpoints>,
    slices: Cache<EndpointSlice>,
    /// Services to reconcile, with the time of the first change since their last write.
    dirty: BTreeMap<Key, jiff::Timestamp>,
}

impl State {
    fn synced(&self) -> bool {
        self.services.synced && self.pods.synced && self.endpoints.synced && self.slices.synced
    }

    fn mark(&mut self, key: Key) {
        self.dirty.entry(key).or_insert_with(jiff::Timestamp::now);
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

    fn on_event(&mut self, event: Watched) {
        match event {
            Watched::Service(ev) => {
                for (old, new) in self.services.apply(*ev) {
                    if let Some(svc) = new.or(old) {
                        self.mark(key_of(svc.as_ref()));
                    }
                }
            }
            Watched::Pod(ev) => {
                for (old, new) in self.pods.apply(*ev) {
                    // Both: the Services the pod joins, and those it leaves.
                    let keys: BTreeSet<Key> =
                        [old, new].iter().flatten().flat_map(|p| self.services_selecting(p)).collect();
                    keys.into_iter().for_each(|k| self.mark(k));
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
                            self.mark(key);
                        }
                    }
                }
            }
            Watched::Slice(ev) => {
                for (old, new) in self.slices.apply(*ev) {
                    if let Some(slice) = new.or(old) {
                        let ns = slice.metadata.namespace.clone().unwrap_or_default();
                        if let Some(svc) = slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)) {
                            self.mark((ns, svc.clone()));
                        }
                    }
                }
            }
        }
    }

    fn slices_of(&self, key: &Key) -> Vec<EndpointSlice> {
        self.slices
            .in_namespace(&key.0)
            .filter(|s| s.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)) == Some(&key.1))
            .map(|s| s.as_ref().clone())
            .collect()
    }
}

/// Runs the endpoints and EndpointSlice controllers until `shutdown` resolves.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let managed = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let mut events = stream::select_all([
        watch(Api::<Service>::all(client.clone()), watcher::Config::default(), Watched::Service),
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
        watch(Api::<Endpoints>::all(client.clone()), watcher::Config::default(), Watched::Endpoints),
        watch(Api::<EndpointSlice>::all(client.clone()), managed, Watched::Slice),
    ]);
    let mut state = State::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let event = tokio::select! {
            ev = events.next() => ev,
            _ = &mut shutdown => return,
        };
        let Some(event) = event else { return };
        state.on_event(event);
        // Coalesce a burst: take what is already waiting before writing.
        while let Some(Some(event)) = events.next().now_or_never() {
            state.on_event(event);
        }
        if !state.synced() {
            continue;
        }
        let dirty = std::mem::take(&mut state.dirty);
        for (key, since) in dirty {
            if let Err(e) = reconcile(&client, &mut state, &key, since).await {
                tracing::warn!(service = ?key, "reconcile failed, will retry: {e}");
                state.dirty.entry(key).or_insert(since);
            }
        }
        if !state.dirty.is_empty() {
            // Failed writes: try again shortly (a watch event would also do).
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = &mut shutdown => return,
            }
        }
    }
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
