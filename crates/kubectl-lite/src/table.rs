//! A `meta.k8s.io/v1` Table printed as kubectl prints it: upper-case
//! headers, columns padded to their widest cell and three spaces apart,
//! `-o wide` columns only when asked, a NAMESPACE column with `-A`.

use serde_json::Value;

/// Renders `table`; `wide` includes the priority > 0 columns.
pub fn render(table: &Value, wide: bool, with_namespace: bool) -> String {
    render_rows(table, wide, with_namespace, &mut Vec::new(), true)
}

/// Renders with column widths carried between calls (`kubectl get -w`
/// prints later rows in the columns of the first list): `widths` grow to
/// fit, and the header is printed only when asked.
pub fn render_rows(table: &Value, wide: bool, with_namespace: bool, widths: &mut Vec<usize>, header: bool) -> String {
    let columns: Vec<&Value> = table["columnDefinitions"].as_array().map(|c| c.iter().collect()).unwrap_or_default();
    let shown: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut grid: Vec<Vec<String>> = Vec::new();
    let mut head: Vec<String> =
        shown.iter().map(|i| columns[*i]["name"].as_str().unwrap_or("").to_uppercase()).collect();
    if with_namespace {
        head.insert(0, "NAMESPACE".into());
    }
    let n = head.len();
    grid.push(head);
    for row in table["rows"].as_array().into_iter().flatten() {
        let cells = row["cells"].as_array().cloned().unwrap_or_default();
        let mut line: Vec<String> = shown
            .iter()
            .map(|i| match cells.get(*i) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            })
            .collect();
        if with_namespace {
            line.insert(0, row.pointer("/object/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string());
        }
        grid.push(line);
    }
    widths.resize(n.max(widths.len()), 0);
    for c in 0..n {
        widths[c] = grid.iter().map(|r| r[c].chars().count()).max().unwrap_or(0).max(widths[c]);
    }
    let mut out = String::new();
    for row in grid.iter().skip(if header { 0 } else { 1 }) {
        let last = row.len() - 1;
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c < last {
                out.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn like_kubectl_get_svc() {
        let table = json!({
            "columnDefinitions": [
                {"name":"Name","priority":0},{"name":"Type","priority":0},{"name":"Cluster-IP","priority":0},
                {"name":"External-IP","priority":0},{"name":"Port(s)","priority":0},{"name":"Age","priority":0},{"name":"Selector","priority":1}],
            "rows": [
                {"cells":["kubernetes","ClusterIP","10.96.0.1","<none>","443/TCP","5d3h","<none>"],"object":{"metadata":{"namespace":"default"}}},
                {"cells":["myapp","ClusterIP","10.108.46.110","<none>","80/TCP","12s","app=myapp,release=stabel"],"object":{"metadata":{"namespace":"default"}}}]
        });
        assert_eq!(
            render(&table, false, false),
            "\
NAME         TYPE        CLUSTER-IP      EXTERNAL-IP   PORT(S)   AGE
kubernetes   ClusterIP   10.96.0.1       <none>        443/TCP   5d3h
myapp        ClusterIP   10.108.46.110   <none>        80/TCP    12s
"
        );
        assert!(render(&table, true, true).starts_with("NAMESPACE   NAME         TYPE"));
        assert!(render(&table, true, false).lines().next().unwrap().ends_with("   SELECTOR"));
    }

    /// Every kind `get` prints, as kubectl lays it out (the columns and
    /// cells are the apiserver's printers; `tests/cli.rs` compares the same
    /// tables with the installed kubectl's, live).
    #[test]
    fn every_kinds_table_snapshot() {
        let now: jiff::Timestamp = "2026-11-26T03:20:00Z".parse().unwrap();
        let created = "2026-11-26T03:18:24Z";
        let objects = [
            (
                "Service",
                json!({"metadata":{"name":"myapp","namespace":"default","creationTimestamp":created},
                "spec":{"type":"NodePort","clusterIP":"10.108.46.110","clusterIPs":["10.108.46.110"],"selector":{"app":"myapp","release":"stabel"},
                "ports":[{"port":80,"protocol":"TCP","nodePort":30080}]}}),
            ),
            (
                "Pod",
                json!({"metadata":{"name":"myapp-deploy-6f65bc87b4-62vgm","namespace":"default","creationTimestamp":created},
                "spec":{"nodeName":"node1","containers":[{"name":"myapp"}]},
                "status":{"phase":"Running","podIP":"10.244.1.31","containerStatuses":[{"name":"myapp","ready":true,"restartCount":0,"state":{"running":{}}}]}}),
            ),
            (
                "Deployment",
                json!({"metadata":{"name":"myapp-deploy","namespace":"default","creationTimestamp":created},
                "spec":{"replicas":3,"selector":{"matchLabels":{"app":"myapp"}},"template":{"spec":{"containers":[{"name":"myapp","image":"myapp:v2"}]}}},
                "status":{"readyReplicas":3,"updatedReplicas":3,"availableReplicas":3}}),
            ),
            (
                "Endpoints",
                json!({"metadata":{"name":"myapp","namespace":"default","creationTimestamp":created},
                "subsets":[{"addresses":[{"ip":"10.244.1.31"},{"ip":"10.244.1.32"},{"ip":"10.244.2.41"},{"ip":"10.244.2.42"}],"ports":[{"port":80}]}]}),
            ),
            (
                "EndpointSlice",
                json!({"metadata":{"name":"myapp-x7k2p","namespace":"default","creationTimestamp":created},
                "addressType":"IPv4","ports":[{"port":80}],"endpoints":[{"addresses":["10.244.1.31"]},{"addresses":["10.244.1.32"]}]}),
            ),
            (
                "Node",
                json!({"metadata":{"name":"node1","creationTimestamp":created},
                "status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"172.28.0.11"}],
                "nodeInfo":{"kubeletVersion":"v1.32.0-lite","osImage":"mini-k8s lab node","kernelVersion":"6.1.0","containerRuntimeVersion":"lite://0.1.0"}}}),
            ),
            (
                "Namespace",
                json!({"metadata":{"name":"default","creationTimestamp":created},"status":{"phase":"Active"}}),
            ),
            (
                "Event",
                json!({"metadata":{"name":"myapp.1","namespace":"default","creationTimestamp":created},"type":"Normal","reason":"EndpointsUpdated",
                "involvedObject":{"kind":"Service","name":"myapp"},"source":{"component":"endpoint-controller"},"message":"Endpoints: 10.244.1.31:80 ready",
                "lastTimestamp":"2026-11-26T03:19:00Z","firstTimestamp":"2026-11-26T03:19:00Z","count":1}),
            ),
        ];
        let mut all = String::new();
        for (kind, obj) in objects {
            let columns: Vec<Value> = api::printers::columns(kind)
                .iter()
                .map(|c| json!({"name": c.name, "type": c.type_, "priority": c.priority}))
                .collect();
            let table = json!({"columnDefinitions": columns,
                "rows": [{"cells": api::printers::cells(kind, &obj, now), "object": {"metadata": obj["metadata"].clone()}}]});
            all.push_str(&format!("$ kubectl get {kind} -o wide\n{}\n", render(&table, true, false)));
        }
        insta::assert_snapshot!(all);
    }
}
