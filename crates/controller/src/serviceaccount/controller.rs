//! The service account controller's loop: watch Namespaces and
//! ServiceAccounts; a namespace is the key, and its reconcile creates the
//! accounts [`super::desired::missing`] names. A `default` deleted by hand
//! comes back, as upstream's does.

use super::desired::missing;
use futures_util::stream;
use informer::cache::{watch, Cache};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::time::SystemTime;

enum Watched {
    Namespace(Box<watcher::Event<Namespace>>),
    ServiceAccount(Box<watcher::Event<ServiceAccount>>),
}

struct ServiceAccounts {
    client: Client,
    namespaces: Cache<Namespace>,
    accounts: Cache<ServiceAccount>,
}

impl Reconciler for ServiceAccounts {
    type Event = Watched;
    /// A namespace's name.
    type Key = String;
    type Error = kube::Error;
    const NAME: &'static str = "serviceaccount";

    /// A namespace change touches that namespace; an account's change (a
    /// deleted `default`) touches the namespace it was in.
    fn on_event(&mut self, event: Watched) -> Vec<String> {
        let changes: Vec<String> = match event {
            Watched::Namespace(ev) => self
                .namespaces
                .apply(*ev)
                .into_iter()
                .filter_map(|(before, after)| after.or(before))
                .filter_map(|n| n.metadata.name.clone())
                .collect(),
            Watched::ServiceAccount(ev) => self
                .accounts
                .apply(*ev)
                .into_iter()
                .filter_map(|(before, after)| after.or(before))
                .filter_map(|a| a.metadata.namespace.clone())
                .collect(),
        };
        changes
    }

    fn synced(&self) -> bool {
        self.namespaces.synced && self.accounts.synced
    }

    async fn reconcile(&mut self, namespace: &String, _since: SystemTime) -> Result<Action, kube::Error> {
        let Some(ns) = self.namespaces.get(&(String::new(), namespace.clone())).cloned() else {
            return Ok(Action::await_change());
        };
        let existing: Vec<String> =
            self.accounts.in_namespace(namespace).filter_map(|a| a.metadata.name.clone()).collect();
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        for name in missing(&ns, existing.iter().map(String::as_str)) {
            let account = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: Some(namespace.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match api.create(&PostParams::default(), &account).await {
                Ok(created) => self.accounts.write_through(created),
                // Someone (or our own earlier write) got there first: fine.
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Action::await_change())
    }
}

/// Runs the service account controller until `shutdown` resolves.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let events = stream::select_all([
        watch(Api::<Namespace>::all(client.clone()), watcher::Config::default(), Watched::Namespace),
        watch(Api::<ServiceAccount>::all(client.clone()), watcher::Config::default(), Watched::ServiceAccount),
    ]);
    let mut controller = ServiceAccounts { client, namespaces: Cache::default(), accounts: Cache::default() };
    informer::reconcile::run(&mut controller, events, DEFAULT_BACKOFF, shutdown).await;
}
