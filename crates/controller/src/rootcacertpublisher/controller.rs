//! The root CA publisher's loop: watch Namespaces and the ConfigMaps named
//! `kube-root-ca.crt`; a namespace is the key, and its reconcile writes what
//! [`super::desired::desired`] says. A deleted or edited ConfigMap comes
//! back, as upstream's does.

use super::desired::{desired, Write};
use crate::serviceaccount::desired::terminating;
use api::well_known::ROOT_CA_CONFIG_MAP;
use futures_util::stream;
use informer::cache::{watch, Cache};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::time::SystemTime;

enum Watched {
    Namespace(Box<watcher::Event<Namespace>>),
    ConfigMap(Box<watcher::Event<ConfigMap>>),
}

struct Publisher {
    client: Client,
    /// The PEM bundle every namespace gets.
    ca: String,
    namespaces: Cache<Namespace>,
    config_maps: Cache<ConfigMap>,
}

impl Reconciler for Publisher {
    type Event = Watched;
    /// A namespace's name.
    type Key = String;
    type Error = kube::Error;
    const NAME: &'static str = "root-ca-cert-publisher";

    fn on_event(&mut self, event: Watched) -> Vec<String> {
        match event {
            Watched::Namespace(ev) => self
                .namespaces
                .apply(*ev)
                .into_iter()
                .filter_map(|(before, after)| after.or(before))
                .filter_map(|n| n.metadata.name.clone())
                .collect(),
            Watched::ConfigMap(ev) => self
                .config_maps
                .apply(*ev)
                .into_iter()
                .filter_map(|(before, after)| after.or(before))
                .filter_map(|c| c.metadata.namespace.clone())
                .collect(),
        }
    }

    fn synced(&self) -> bool {
        self.namespaces.synced && self.config_maps.synced
    }

    async fn reconcile(&mut self, namespace: &String, _since: SystemTime) -> Result<Action, kube::Error> {
        let Some(ns) = self.namespaces.get(&(String::new(), namespace.clone())) else {
            return Ok(Action::await_change());
        };
        if terminating(ns) {
            return Ok(Action::await_change());
        }
        let current = self.config_maps.get(&(namespace.clone(), ROOT_CA_CONFIG_MAP.to_string()));
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let pp = PostParams::default();
        let written = match desired(namespace, current.map(|c| &**c), &self.ca) {
            None => return Ok(Action::await_change()),
            Some(Write::Create(cm)) => api.create(&pp, &cm).await,
            Some(Write::Update(cm)) => api.replace(ROOT_CA_CONFIG_MAP, &pp, &cm).await,
        };
        match written {
            Ok(cm) => self.config_maps.write_through(cm),
            // Created meanwhile, or changed since we read it: its watch
            // event brings this namespace back. A namespace gone or going
            // takes no ConfigMap (upstream does not retry those either).
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {}
            Err(kube::Error::Api(e)) if e.code == 403 && e.message.contains("being terminated") => {}
            Err(e) => return Err(e),
        }
        Ok(Action::await_change())
    }
}

/// Runs the root CA publisher with the bundle `ca` until `shutdown` resolves.
pub async fn run(client: Client, ca: String, shutdown: impl std::future::Future<Output = ()>) {
    let named = watcher::Config::default().fields(&format!("metadata.name={ROOT_CA_CONFIG_MAP}"));
    let events = stream::select_all([
        watch(Api::<Namespace>::all(client.clone()), watcher::Config::default(), Watched::Namespace),
        watch(Api::<ConfigMap>::all(client.clone()), named, Watched::ConfigMap),
    ]);
    let mut publisher = Publisher { client, ca, namespaces: Cache::default(), config_maps: Cache::default() };
    informer::reconcile::run(&mut publisher, events, DEFAULT_BACKOFF, shutdown).await;
}
