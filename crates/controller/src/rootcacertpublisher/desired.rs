//! What a namespace's `kube-root-ca.crt` must be, as upstream's
//! `rootcacertpublisher.syncNamespace`: the bundle under `ca.crt` and the
//! one annotation that says what it is for. Anything else a user put on it
//! stays; a changed bundle or a deleted ConfigMap is written back.

use api::well_known::{ROOT_CA_CONFIG_MAP, ROOT_CA_CONFIG_MAP_KEY};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ObjectMeta;
use std::collections::BTreeMap;

/// The annotation upstream puts on the ConfigMap, and its words.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// The write a namespace needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Create(ConfigMap),
    Update(ConfigMap),
}

/// The write that makes `current` (the namespace's `kube-root-ca.crt`, if
/// any) hold `ca`; `None` when it already does.
pub fn desired(namespace: &str, current: Option<&ConfigMap>, ca: &str) -> Option<Write> {
    let data: BTreeMap<String, String> = [(ROOT_CA_CONFIG_MAP_KEY.to_string(), ca.to_string())].into();
    let Some(current) = current else {
        return Some(Write::Create(ConfigMap {
            metadata: ObjectMeta {
                name: Some(ROOT_CA_CONFIG_MAP.into()),
                namespace: Some(namespace.into()),
                annotations: Some([(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string())].into()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        }));
    };
    let described = current
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
        .is_some_and(|d| !d.is_empty());
    if current.data.as_ref() == Some(&data) && current.binary_data.is_none() && described {
        return None;
    }
    let mut next = current.clone();
    next.data = Some(data);
    next.binary_data = None;
    next.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
    Some(Write::Update(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(v: serde_json::Value) -> ConfigMap {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn each_namespace_gets_the_bundle_back() {
        let ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let good = cm(
            json!({"metadata":{"name":ROOT_CA_CONFIG_MAP,"namespace":"a","annotations":{DESCRIPTION_ANNOTATION:DESCRIPTION}},
            "data":{"ca.crt":ca}}),
        );
        let stale = cm(json!({"metadata":{"name":ROOT_CA_CONFIG_MAP,"namespace":"a","resourceVersion":"7",
            "annotations":{DESCRIPTION_ANNOTATION:DESCRIPTION,"mine":"kept"},"labels":{"x":"y"}},
            "data":{"ca.crt":"old","extra":"gone"}}));
        let undescribed = cm(json!({"metadata":{"name":ROOT_CA_CONFIG_MAP,"namespace":"a"},"data":{"ca.crt":ca}}));
        let binary = cm(
            json!({"metadata":{"name":ROOT_CA_CONFIG_MAP,"namespace":"a","annotations":{DESCRIPTION_ANNOTATION:DESCRIPTION}},
            "data":{"ca.crt":ca},"binaryData":{"b":"AA=="}}),
        );

        assert_eq!(desired("a", Some(&good), ca), None);
        let Some(Write::Create(made)) = desired("a", None, ca) else { panic!("a missing one is created") };
        assert_eq!(
            serde_json::to_value(&made).unwrap(),
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kube-root-ca.crt","namespace":"a","annotations":{"kubernetes.io/description":DESCRIPTION}},
                   "data":{"ca.crt":ca}})
        );
        let Some(Write::Update(fixed)) = desired("a", Some(&stale), ca) else {
            panic!("a changed one is written back")
        };
        assert_eq!(fixed.data, good.data);
        assert_eq!(fixed.metadata.resource_version.as_deref(), Some("7"), "the update is pinned to what was read");
        assert_eq!(fixed.metadata.annotations.unwrap()["mine"], "kept");
        assert_eq!(fixed.metadata.labels.unwrap()["x"], "y");
        for needs_update in [&undescribed, &binary] {
            assert!(matches!(desired("a", Some(needs_update), ca), Some(Write::Update(_))), "{needs_update:?}");
        }
        // A new bundle (the CA rotated) reaches every namespace.
        assert!(matches!(desired("a", Some(&good), "another"), Some(Write::Update(_))));
    }
}
