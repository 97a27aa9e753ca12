//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`) as data: upstream's
//! validation of a CRD, the status the apiserver gives it (`acceptedNames`,
//! `NamesAccepted`, `Established`), and the resource-table rows an
//! established CRD serves (one per served version).
//!
//! ```text
//! CRD written ─▶ validate ─▶ with_status (Established) ─▶ etcd ─▶ every apiserver: rows ─▶ resources::set_custom
//! ```

use crate::custom_kind::{CustomKind, PrinterColumn, ScalePaths};
use crate::field_errors::{dns1035_label, quote, FieldError};
use crate::json::str_at;
use crate::resources::{ResourceType, Schema};
use crate::structural::structural_errors;
use serde_json::{json, Value};

/// The finalizer that deletes a CRD's objects before the CRD goes.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

const COLUMN_TYPES: [&str; 7] = ["array", "boolean", "date", "integer", "number", "object", "string"];

/// The Kubernetes project's own groups: a CRD there needs an approved API review.
fn protected(group: &str) -> bool {
    ["k8s.io", "kubernetes.io"].iter().any(|g| group == *g || group.ends_with(&format!(".{g}")))
}

fn versions(crd: &Value) -> &[Value] {
    crd.pointer("/spec/versions").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn name_errors(field: &str, value: &str, out: &mut Vec<FieldError>) {
    if value.is_empty() {
        out.push(FieldError::required(field, ""));
        return;
    }
    for msg in dns1035_label(value) {
        out.push(FieldError::invalid(field, quote(value), msg));
    }
}

/// Upstream's `ValidateCustomResourceDefinition` (and the update's
/// immutable fields when `old` is given), in its words.
pub fn validate(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut out = Vec::new();
    let (group, plural) = (str_at(crd, "/spec/group"), str_at(crd, "/spec/names/plural"));
    let name = str_at(crd, "/metadata/name");
    if name != format!("{plural}.{group}") {
        out.push(FieldError::invalid("metadata.name", quote(name), "must be spec.names.plural+\".\"+spec.group"));
    }
    if group.is_empty() {
        out.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        out.push(FieldError::invalid("spec.group", quote(group), "should be a domain with at least one dot"));
    }
    if protected(group) && crd.pointer("/metadata/annotations/api-approved.kubernetes.io").is_none() {
        out.push(FieldError::required(
            "metadata.annotations[api-approved.kubernetes.io]",
            "protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111",
        ));
    }
    name_errors("spec.names.plural", plural, &mut out);
    let singular = str_at(crd, "/spec/names/singular");
    if !singular.is_empty() {
        name_errors("spec.names.singular", singular, &mut out);
    }
    let kind = str_at(crd, "/spec/names/kind");
    if kind.is_empty() {
        out.push(FieldError::required("spec.names.kind", ""));
    } else if !dns1035_label(&kind.to_ascii_lowercase()).is_empty() {
        out.push(FieldError::invalid(
            "spec.names.kind",
            quote(kind),
            "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
        ));
    }
    let shorts = crd.pointer("/spec/names/shortNames").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for (i, s) in shorts.iter().enumerate() {
        name_errors(&format!("spec.names.shortNames[{i}]"), s.as_str().unwrap_or(""), &mut out);
    }
    match str_at(crd, "/spec/scope") {
        "Cluster" | "Namespaced" => {}
        "" => out.push(FieldError::required("spec.scope", "")),
        other => out.push(FieldError::not_supported("spec.scope", other, &["Cluster", "Namespaced"])),
    }
    version_errors(crd, &mut out);
    if let Some(old) = old {
        for (field, pointer) in [("spec.scope", "/spec/scope"), ("spec.group", "/spec/group")] {
            if str_at(crd, pointer) != str_at(old, pointer) {
                out.push(FieldError::invalid(field, quote(str_at(crd, pointer)), "field is immutable"));
            }
        }
    }
    out
}

fn version_errors(crd: &Value, out: &mut Vec<FieldError>) {
    let vs = versions(crd);
    if vs.is_empty() {
        out.push(FieldError::required("spec.versions", "must have exactly one version marked as storage version"));
        return;
    }
    let storage = vs.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).count();
    if storage != 1 {
        let names: Vec<String> = vs.iter().map(|v| str_at(v, "/name").to_string()).collect();
        out.push(FieldError::invalid(
            "spec.versions",
            crate::field_errors::quote_list(&names),
            "must have exactly one version marked as storage version",
        ));
    }
    let mut seen = Vec::new();
    for (i, v) in vs.iter().enumerate() {
        let path = format!("spec.versions[{i}]");
        let vname = str_at(v, "/name");
        if vname.is_empty() {
            out.push(FieldError::required(format!("{path}.name"), ""));
        } else if seen.contains(&vname) {
            out.push(FieldError::invalid(format!("{path}.name"), quote(vname), "must be unique"));
        } else {
            for msg in dns1035_label(vname) {
                out.push(FieldError::invalid(format!("{path}.name"), quote(vname), msg));
            }
        }
        seen.push(vname);
        let schema_path = format!("{path}.schema.openAPIV3Schema");
        out.extend(structural_errors(v.pointer("/schema/openAPIV3Schema").unwrap_or(&Value::Null), &schema_path));
        let cols = v.get("additionalPrinterColumns").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        for (j, c) in cols.iter().enumerate() {
            let cpath = format!("{path}.additionalPrinterColumns[{j}]");
            if str_at(c, "/name").is_empty() {
                out.push(FieldError::required(format!("{cpath}.name"), ""));
            }
            let t = str_at(c, "/type");
            if !COLUMN_TYPES.contains(&t) {
                out.push(FieldError::not_supported(format!("{cpath}.type"), t, &COLUMN_TYPES));
            }
            if str_at(c, "/jsonPath").is_empty() {
                out.push(FieldError::required(format!("{cpath}.JSONPath"), ""));
            }
        }
    }
}

/// A name of `crd` another served resource of its group already holds:
/// upstream's condition reason and message (`"ct" is already in use`).
/// `served` is the resource table; the CRD's own rows do not count.
pub fn name_conflict(crd: &Value, served: &[&ResourceType]) -> Option<(&'static str, String)> {
    let (group, me) = (str_at(crd, "/spec/group"), str_at(crd, "/metadata/name"));
    let names = &crd["spec"]["names"];
    let others: Vec<&&ResourceType> = served
        .iter()
        .filter(|r| r.group == group && !matches!(r.schema, Schema::Custom(k) if k.crd_name == me))
        .collect();
    let in_use = |s: &str| format!("{} is already in use", quote(s));
    let kind = str_at(names, "/kind");
    if let Some(r) = others.iter().find(|r| r.kind == kind) {
        return Some(("KindConflict", in_use(r.kind)));
    }
    let singular = str_at(names, "/singular");
    if !singular.is_empty() && others.iter().any(|r| r.singular == singular || r.plural == singular) {
        return Some(("SingularConflict", in_use(singular)));
    }
    let shorts = strings(names.get("shortNames"));
    let taken = shorts.iter().find(|s| others.iter().any(|r| r.short_names.contains(&s.as_str()) || r.plural == *s));
    taken.map(|s| ("ShortNamesConflict", in_use(s)))
}

/// The CRD as the apiserver stores it (see [`with_status`]), unless a name
/// conflict keeps a CRD not yet established from being accepted.
pub fn with_status_among(crd: Value, old: Option<&Value>, served: &[&ResourceType]) -> Value {
    let was_established = old.is_some_and(established);
    match name_conflict(&crd, served).filter(|_| !was_established) {
        None => with_status(crd, old),
        Some((reason, message)) => {
            let mut crd = with_status(crd, old);
            let now = json!(jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
            crd["status"]["conditions"] = json!([
                { "type": "NamesAccepted", "status": "False", "lastTransitionTime": now, "reason": reason, "message": message },
                { "type": "Established", "status": "False", "lastTransitionTime": now, "reason": "NotAccepted", "message": "not all names are accepted" },
            ]);
            crd["status"]["acceptedNames"] = json!({ "plural": "", "kind": "" });
            crd
        }
    }
}

/// The CRD as the apiserver stores it: defaulted names, its status names
/// accepted and the CRD established (name conflicts are
/// [`with_status_among`]'s), the storage version recorded.
pub fn with_status(mut crd: Value, old: Option<&Value>) -> Value {
    let kind = str_at(&crd, "/spec/names/kind").to_string();
    let names = &mut crd["spec"]["names"];
    if str_at(names, "/singular").is_empty() {
        names["singular"] = json!(kind.to_ascii_lowercase());
    }
    if str_at(names, "/listKind").is_empty() {
        names["listKind"] = json!(format!("{kind}List"));
    }
    let accepted = crd["spec"]["names"].clone();
    let mut stored: Vec<Value> =
        old.and_then(|o| o.pointer("/status/storedVersions")).and_then(Value::as_array).cloned().unwrap_or_default();
    for v in versions(&crd) {
        let name = json!(str_at(v, "/name"));
        if v.get("storage").and_then(Value::as_bool) == Some(true) && !stored.contains(&name) {
            stored.push(name);
        }
    }
    let since = |t: &str| {
        old.and_then(|o| o.pointer("/status/conditions").and_then(Value::as_array))
            .and_then(|cs| cs.iter().find(|c| c["type"] == t && c["status"] == "True"))
            .map(|c| c["lastTransitionTime"].clone())
    };
    let now = json!(jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    let mut conditions = vec![
        json!({ "type": "NamesAccepted", "status": "True", "lastTransitionTime": since("NamesAccepted").unwrap_or(now.clone()),
                "reason": "NoConflicts", "message": "no conflicts found" }),
        json!({ "type": "Established", "status": "True", "lastTransitionTime": since("Established").unwrap_or(now.clone()),
                "reason": "InitialNamesAccepted", "message": "the initial names have been accepted" }),
    ];
    if crd.pointer("/metadata/deletionTimestamp").is_some() {
        conditions.push(json!({ "type": "Terminating", "status": "True", "lastTransitionTime": now,
            "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress" }));
    }
    crd["status"] = json!({ "conditions": conditions, "acceptedNames": accepted, "storedVersions": stored });
    crd
}

/// Whether the CRD's `Established` condition is true.
pub fn established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
}

fn columns(version: &Value) -> Vec<PrinterColumn> {
    let cols = version.get("additionalPrinterColumns").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    cols.iter()
        .map(|c| PrinterColumn {
            name: str_at(c, "/name").into(),
            type_: str_at(c, "/type").into(),
            format: str_at(c, "/format").into(),
            description: str_at(c, "/description").into(),
            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
            json_path: str_at(c, "/jsonPath").into(),
        })
        .collect()
}

/// The resource-table rows of an established CRD, one per served version.
/// Their strings live as long as the process (a CRD changes rarely, and an
/// unchanged one is not rebuilt: see the apiserver's CRD learner).
pub fn rows(crd: &Value) -> Vec<&'static ResourceType> {
    let (group, plural) = (str_at(crd, "/spec/group"), str_at(crd, "/spec/names/plural"));
    // Never a second row for a built-in resource (the built-in one serves).
    let built_in = crate::resources::ALL.iter().any(|r| r.group == group && r.plural == plural);
    if !established(crd) || built_in {
        return Vec::new();
    }
    let names = &crd["spec"]["names"];
    let kind_name = str_at(names, "/kind");
    let singular = match str_at(names, "/singular") {
        "" => kind_name.to_ascii_lowercase(),
        s => s.to_string(),
    };
    let shorts: Vec<&'static str> = strings(names.get("shortNames")).iter().map(|s| leak(s)).collect();
    let categories = strings(names.get("categories"));
    let served = versions(crd).iter().filter(|v| v.get("served").and_then(Value::as_bool) != Some(false));
    served
        .map(|v| {
            let subs = v.get("subresources");
            let status = subs.and_then(|s| s.get("status")).is_some();
            let scale = subs.and_then(|s| s.get("scale")).map(|s| ScalePaths {
                spec_replicas: str_at(s, "/specReplicasPath").into(),
                status_replicas: str_at(s, "/statusReplicasPath").into(),
                label_selector: s.get("labelSelectorPath").and_then(Value::as_str).map(String::from),
            });
            let subresources: &'static [&'static str] = match (status, scale.is_some()) {
                (true, true) => &["status", "scale"],
                (true, false) => &["status"],
                (false, true) => &["scale"],
                (false, false) => &[],
            };
            let kind = Box::leak(Box::new(CustomKind {
                crd_name: str_at(crd, "/metadata/name").into(),
                schema: v.pointer("/schema/openAPIV3Schema").cloned().unwrap_or(json!({})),
                columns: columns(v),
                scale,
                categories: categories.clone(),
            }));
            &*Box::leak(Box::new(ResourceType {
                group: leak(group),
                version: leak(str_at(v, "/name")),
                kind: leak(kind_name),
                plural: leak(plural),
                singular: leak(&singular),
                short_names: Box::leak(shorts.clone().into_boxed_slice()),
                namespaced: str_at(crd, "/spec/scope") == "Namespaced",
                subresources,
                etcd_prefix: leak(&format!("/registry/{group}/{plural}")),
                in_category_all: categories.iter().any(|c| c == "all"),
                schema: Schema::Custom(kind),
                fields: &[],
                create_on_update: false,
                // Every version of a CRD is stored as itself, under one prefix.
                view_of: None,
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"metadata":{"name":"crontabs.stable.example.com"},"spec":{"group":"stable.example.com","scope":"Namespaced",
            "names":{"plural":"crontabs","kind":"CronTab","shortNames":["ct"],"categories":["all"]},
            "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
                "schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object"}}}},
                "additionalPrinterColumns":[{"name":"Spec","type":"string","jsonPath":".spec.cronSpec"}]}]}})
    }

    fn messages(errors: Vec<FieldError>) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_good_crd_passes_and_is_established() {
        assert!(validate(&crd(), None).is_empty());
        let stored = with_status(crd(), None);
        assert!(established(&stored));
        assert_eq!(stored["spec"]["names"]["singular"], "crontab");
        assert_eq!(stored["status"]["acceptedNames"]["listKind"], "CronTabList");
        assert_eq!(stored["status"]["storedVersions"], json!(["v1"]));
        let rows = rows(&stored);
        assert_eq!(rows.len(), 1);
        let r = rows[0];
        assert_eq!((r.group, r.version, r.plural, r.kind), ("stable.example.com", "v1", "crontabs", "CronTab"));
        assert_eq!((r.short_names, r.subresources, r.in_category_all), (&["ct"][..], &["status"][..], true));
        assert_eq!(r.etcd_prefix, "/registry/stable.example.com/crontabs");
        assert!(super::rows(&crd()).is_empty(), "not established: no rows");
    }

    #[test]
    fn names_in_use_are_not_accepted() {
        let mine = rows(&with_status(crd(), None));
        let mut other = crd();
        other["metadata"]["name"] = json!("crontabs2.stable.example.com");
        other["spec"]["names"] = json!({"plural": "crontabs2", "kind": "CronTab2", "shortNames": ["ct"]});
        assert_eq!(name_conflict(&other, &mine), Some(("ShortNamesConflict", "\"ct\" is already in use".to_string())));
        other["spec"]["names"]["kind"] = json!("CronTab");
        let stored = with_status_among(other.clone(), None, &mine);
        assert_eq!(stored["status"]["conditions"][0]["reason"], "KindConflict");
        assert!(!established(&stored) && super::rows(&stored).is_empty());
        assert_eq!(name_conflict(&crd(), &mine), None, "its own rows do not count");
    }

    #[test]
    fn bad_crds_get_upstreams_messages() {
        let mut c = crd();
        c["metadata"]["name"] = json!("crontab.stable.example.com");
        c["spec"]["scope"] = json!("Global");
        c["spec"]["versions"][0]["storage"] = json!(false);
        c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"] = json!({"properties":{}});
        assert_eq!(messages(validate(&c, None)), [
            "metadata.name: Invalid value: \"crontab.stable.example.com\": must be spec.names.plural+\".\"+spec.group",
            "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
            "spec.versions: Invalid value: []string{\"v1\"}: must have exactly one version marked as storage version",
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
        ]);
        let mut k8s = crd();
        k8s["metadata"]["name"] = json!("crontabs.stable.k8s.io");
        k8s["spec"]["group"] = json!("stable.k8s.io");
        assert_eq!(messages(validate(&k8s, None)), ["metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111"]);
        let mut changed = crd();
        changed["spec"]["scope"] = json!("Cluster");
        assert_eq!(
            messages(validate(&changed, Some(&crd()))),
            ["spec.scope: Invalid value: \"Cluster\": field is immutable"]
        );
    }
}
