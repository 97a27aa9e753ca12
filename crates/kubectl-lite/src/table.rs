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
}
