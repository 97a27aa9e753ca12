use super::*;
use crate::resources::{DEPLOYMENTS, SERVICES};

#[test]
fn service_schema_as_upstream_names_and_marks_it() {
    let defs = schemas(&[&SERVICES]);
    let svc = &defs["io.k8s.api.core.v1.Service"];
    assert_eq!(svc["x-kubernetes-group-version-kind"], json!([{ "group": "", "kind": "Service", "version": "v1" }]));
    assert_eq!(svc["properties"]["spec"]["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.core.v1.ServiceSpec");
    let ports = &defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"];
    assert_eq!(ports["items"]["$ref"], "#/components/schemas/io.k8s.api.core.v1.ServicePort");
    assert_eq!(ports["x-kubernetes-list-map-keys"], json!(["port", "protocol"]));
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
    let port = &defs["io.k8s.api.core.v1.ServicePort"];
    assert_eq!(port["required"], json!(["port"]));
    assert_eq!(port["properties"]["port"]["type"], "integer");
    assert!(port["properties"]["protocol"]["description"].as_str().unwrap().starts_with("The IP protocol"));
    assert!(defs.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    assert!(svc.get("required").is_none(), "metadata is not required upstream");
    // Enums as upstream's: the values, and their meanings once, after k8s-openapi's description.
    let ty = &defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["type"];
    assert_eq!(ty["enum"], json!(["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]));
    let doc = ty["description"].as_str().unwrap();
    assert!(doc.starts_with("type determines how the Service is exposed."), "{doc}");
    assert_eq!(doc.matches("Possible enum values:").count(), 1, "{doc}");
    assert!(doc.ends_with("\n - `\"NodePort\"` means a service will be exposed on one port of every node, in addition to 'ClusterIP' type."), "{doc}");
    let all_apps = schemas(&[&DEPLOYMENTS]);
    let restart = &all_apps["io.k8s.api.core.v1.PodSpec"]["properties"]["restartPolicy"];
    let doc = restart["description"].as_str().unwrap();
    assert!(doc.ends_with("Possible enum values:\n - `\"Always\"`\n - `\"Never\"`\n - `\"OnFailure\"`"), "{doc}");
    assert_eq!(
        all_apps["io.k8s.api.apps.v1.DeploymentStrategy"]["properties"]["type"]["enum"],
        json!(["Recreate", "RollingUpdate"])
    );
    // Every row of the table names a property that exists.
    let all = schemas(&crate::resources::all().into_iter().filter(|r| r.group.is_empty()).collect::<Vec<_>>());
    for (definition, property) in [
        ("ServicePort", "protocol"),
        ("ContainerPort", "protocol"),
        ("EndpointPort", "protocol"),
        ("PortStatus", "protocol"),
        ("ServiceSpec", "ipFamilyPolicy"),
        ("ServiceSpec", "internalTrafficPolicy"),
    ] {
        let p = &all[&format!("io.k8s.api.core.v1.{definition}")]["properties"][property];
        assert!(p["enum"].is_array(), "{definition}.{property}: {p}");
    }
}

#[test]
fn every_ref_resolves() {
    let defs = schemas(&[&DEPLOYMENTS]);
    let text = serde_json::to_string(&defs).unwrap();
    for piece in text.split("\"$ref\":\"").skip(1) {
        let target = piece.split('"').next().unwrap();
        let name = target.strip_prefix(REF_PREFIX).unwrap_or_else(|| panic!("{target}"));
        assert!(defs.contains_key(name), "{name}");
    }
    assert_eq!(
        defs["io.k8s.api.apps.v1.DeploymentStrategy"]["properties"]["rollingUpdate"]["allOf"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn group_version_keys_and_custom_names() {
    assert_eq!(group_version_key("", "v1"), "api/v1");
    assert_eq!(group_version_key("apps", "v1"), "apis/apps/v1");
    assert_eq!(parse_group_version_key("/apis/apps/v1"), Some(("apps".into(), "v1".into())));
    assert_eq!(parse_group_version_key("api"), None);
    assert_eq!(custom_definition_name("stable.example.com", "v1", "CronTab"), "com.example.stable.v1.CronTab");
    let doc = group_version_document(&[&SERVICES], "v1.32.0").unwrap();
    let op = &doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"];
    assert!(op["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
    assert!(group_version_document(&[], "v1.32.0").is_none());
}
