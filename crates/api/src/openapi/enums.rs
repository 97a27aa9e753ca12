//! Upstream's enum values of string fields: the `enum` list and the
//! "Possible enum values:" that ends the field's description, as
//! kube-apiserver's OpenAPI definitions carry them and `kubectl explain`
//! prints them (`ENUM: ClusterIP ...`). k8s-openapi's schemas have neither,
//! so the values the Service lifecycle uses are a table (`enums.tsv`).

use serde_json::{json, Map, Value};

/// The enum of one property: its values and what each means, in upstream's order.
struct Enum {
    definition: &'static str,
    property: &'static str,
    values: Vec<(&'static str, &'static str)>,
}

fn table() -> Vec<Enum> {
    let mut out: Vec<Enum> = Vec::new();
    let rows = include_str!("enums.tsv").lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    for line in rows {
        let [definition, property, value, meaning] = line.split('\t').collect::<Vec<_>>()[..] else { continue };
        match out.last_mut().filter(|e| e.definition == definition && e.property == property) {
            Some(e) => e.values.push((value, meaning)),
            None => out.push(Enum { definition, property, values: vec![(value, meaning)] }),
        }
    }
    out
}

/// Adds each enum to its property in `definitions`: the values, and their
/// meanings after the description as upstream writes them.
pub fn annotate(definitions: &mut Map<String, Value>) {
    for e in table() {
        let pointer = format!("/properties/{}", e.property);
        let Some(def) = definitions.get_mut(&format!("io.k8s.{}", e.definition)) else { continue };
        let Some(Value::Object(property)) = def.pointer_mut(&pointer) else { continue };
        let mut description = property.get("description").and_then(Value::as_str).unwrap_or("").to_string();
        description.push_str("\n\nPossible enum values:");
        for (value, meaning) in &e.values {
            // Some values have no meaning written (a pod's restartPolicy): just the value.
            description.push_str(&format!("\n - `\"{value}\"`"));
            if !meaning.is_empty() {
                description.push_str(&format!(" {meaning}"));
            }
        }
        property.insert("description".into(), json!(description));
        property.insert("enum".into(), json!(e.values.iter().map(|(v, _)| v).collect::<Vec<_>>()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_names_a_property_of_a_served_type() {
        let table = table();
        assert!(table.len() >= 9, "{}", table.len());
        let service_type = table.iter().find(|e| e.property == "type").unwrap();
        assert_eq!(
            service_type.values.iter().map(|v| v.0).collect::<Vec<_>>(),
            ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
        );
        let mut defs = Map::new();
        defs.insert(
            "io.k8s.api.core.v1.ServicePort".into(),
            json!({"properties": {"protocol": {"description": "The IP protocol for this port.", "type": "string"}}}),
        );
        annotate(&mut defs);
        assert_eq!(
            defs["io.k8s.api.core.v1.ServicePort"]["properties"]["protocol"],
            json!({"type": "string", "enum": ["SCTP", "TCP", "UDP"],
                "description": "The IP protocol for this port.\n\nPossible enum values:\n - `\"SCTP\"` is the SCTP protocol.\n - `\"TCP\"` is the TCP protocol.\n - `\"UDP\"` is the UDP protocol."})
        );
    }
}
