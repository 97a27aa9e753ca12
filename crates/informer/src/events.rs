//! Events (core/v1) for the steps a learner should see: "Scheduled",
//! "SuccessfulCreate", and so on, as `kubectl describe` and `kubectl get
//! events` show them. Recording is best effort: a failed event never
//! fails the work it describes.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use kube::{Client, Resource, ResourceExt};

/// A reference to `obj` for `involvedObject`.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: Some(obj.name_any()),
        namespace: obj.namespace(),
        uid: obj.uid(),
        ..Default::default()
    }
}

/// Records one event about `involved`, from `component`.
pub async fn record(
    client: &Client,
    involved: ObjectReference,
    warning: bool,
    reason: &str,
    message: String,
    component: &str,
) {
    let namespace = involved.namespace.clone().unwrap_or_else(|| "default".into());
    let now = jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            // Upstream names events `<object>.<nanoseconds in hex>`.
            name: Some(format!("{}.{:x}", involved.name.clone().unwrap_or_default(), now.as_nanosecond())),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        involved_object: involved,
        reason: Some(reason.into()),
        message: Some(message),
        type_: Some(if warning { "Warning" } else { "Normal" }.into()),
        source: Some(EventSource { component: Some(component.into()), host: None }),
        // Microseconds, for timelines (`kubectl-lite trace`); the
        // timestamps below have whole seconds.
        event_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(now)),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        reporting_component: Some(component.into()),
        ..Default::default()
    };
    if let Err(e) = Api::<Event>::namespaced(client.clone(), &namespace).create(&PostParams::default(), &event).await {
        tracing::debug!("recording event {reason}: {e}");
    }
}
