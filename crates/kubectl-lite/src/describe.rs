//! `describe svc`, laid out as kubectl lays it out: Go's tabwriter
//! (padding 2) over `key:\tvalue` lines, where a column is aligned only
//! across consecutive lines that have it. That rule is why
//! `Port:  http  80/TCP` keeps two spaces inside while the keys align.

use api::duration::human_duration;
use api::printers::format_labels;
use serde_json::Value;

/// Go's `text/tabwriter` with padding 2 and spaces: each tab-terminated
/// cell is padded to the widest cell of its column among the consecutive
/// lines that have that column.
pub fn tabwriter(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths = vec![Vec::<usize>::new(); lines.len()];
    for (i, cells) in lines.iter().enumerate() {
        widths[i] = vec![0; cells.len().saturating_sub(1)];
    }
    let max_cols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    for col in 0..max_cols {
        let mut i = 0;
        while i < lines.len() {
            if lines[i].len() > col + 1 {
                let start = i;
                while i < lines.len() && lines[i].len() > col + 1 {
                    i += 1;
                }
                let w = (start..i).map(|j| lines[j][col].chars().count()).max().unwrap_or(0) + 2;
                (start..i).for_each(|j| widths[j][col] = w);
            } else {
                i += 1;
            }
        }
    }
    let mut out = String::new();
    for (cells, ws) in lines.iter().zip(&widths) {
        for (c, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = ws.get(c) {
                out.push_str(&" ".repeat(w - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// `key=value` lines for labels, `key: value` for annotations (kubectl's).
fn map_lines(out: &mut String, key: &str, map: Option<&Value>, sep: &str, skip: &[&str]) {
    let entries: Vec<(String, String)> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    if entries.is_empty() {
        out.push_str(&format!("{key}:\t<none>\n"));
    }
    for (i, (k, v)) in entries.iter().enumerate() {
        let label = if i == 0 { format!("{key}:") } else { String::new() };
        out.push_str(&format!("{label}\t{k}{sep}{v}\n"));
    }
}

/// The ready addresses of the slices' port named `port_name`: `ip:port,...`.
fn endpoints_of(slices: &[Value], port_name: &str) -> String {
    let mut items = Vec::new();
    for slice in slices {
        let Some(port) = slice["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| s(p, "/name") == port_name)
            .and_then(|p| p["port"].as_i64())
        else {
            continue;
        };
        for e in slice["endpoints"].as_array().into_iter().flatten() {
            if e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false) {
                items.extend(
                    e["addresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(|a| format!("{a}:{port}")),
                );
            }
        }
    }
    match items.len() {
        0 => "<none>".to_string(),
        n if n > 3 => format!("{} + {} more...", items[..3].join(","), n - 3),
        _ => items.join(","),
    }
}

/// The describe text of a Service, its slices and its events.
pub fn service(svc: &Value, slices: &[Value], events: &[Value], now: jiff::Timestamp) -> String {
    let mut out = String::new();
    out.push_str(&format!("Name:\t{}\nNamespace:\t{}\n", s(svc, "/metadata/name"), s(svc, "/metadata/namespace")));
    map_lines(&mut out, "Labels", svc.pointer("/metadata/labels"), "=", &[]);
    map_lines(
        &mut out,
        "Annotations",
        svc.pointer("/metadata/annotations"),
        ": ",
        &["kubectl.kubernetes.io/last-applied-configuration"],
    );
    out.push_str(&format!("Selector:\t{}\n", format_labels(svc.pointer("/spec/selector"))));
    let ty = s(svc, "/spec/type");
    out.push_str(&format!("Type:\t{ty}\n"));
    if !s(svc, "/spec/ipFamilyPolicy").is_empty() {
        out.push_str(&format!("IP Family Policy:\t{}\n", s(svc, "/spec/ipFamilyPolicy")));
    }
    let join = |p: &str| {
        svc.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    };
    if !join("/spec/ipFamilies").is_empty() {
        out.push_str(&format!("IP Families:\t{}\n", join("/spec/ipFamilies")));
    }
    if !s(svc, "/spec/clusterIP").is_empty() {
        out.push_str(&format!("IP:\t{}\nIPs:\t{}\n", s(svc, "/spec/clusterIP"), join("/spec/clusterIPs")));
    }
    if !join("/spec/externalIPs").is_empty() {
        out.push_str(&format!("External IPs:\t{}\n", join("/spec/externalIPs")));
    }
    if ty == "ExternalName" {
        out.push_str(&format!("External Name:\t{}\n", s(svc, "/spec/externalName")));
    }
    for p in svc.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten() {
        let name = if s(p, "/name").is_empty() { "<unset>" } else { s(p, "/name") };
        let proto = s(p, "/protocol");
        out.push_str(&format!("Port:\t{name}\t{}/{proto}\n", p["port"]));
        let target = match &p["targetPort"] {
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("TargetPort:\t{target}/{proto}\n"));
        if let Some(np) = p["nodePort"].as_i64().filter(|n| *n != 0) {
            out.push_str(&format!("NodePort:\t{name}\t{np}/{proto}\n"));
        }
        out.push_str(&format!("Endpoints:\t{}\n", endpoints_of(slices, s(p, "/name"))));
    }
    out.push_str(&format!("Session Affinity:\t{}\n", s(svc, "/spec/sessionAffinity")));
    if !s(svc, "/spec/externalTrafficPolicy").is_empty() {
        out.push_str(&format!("External Traffic Policy:\t{}\n", s(svc, "/spec/externalTrafficPolicy")));
    }
    if !s(svc, "/spec/internalTrafficPolicy").is_empty() {
        out.push_str(&format!("Internal Traffic Policy:\t{}\n", s(svc, "/spec/internalTrafficPolicy")));
    }
    if events.is_empty() {
        out.push_str("Events:\t<none>\n");
        return tabwriter(&out);
    }
    let mut text = tabwriter(&out);
    let mut table = String::from("Events:\n  Type\tReason\tAge\tFrom\tMessage\n  ----\t------\t----\t----\t-------\n");
    for e in events {
        let at = [s(e, "/lastTimestamp"), s(e, "/eventTime"), s(e, "/metadata/creationTimestamp")]
            .into_iter()
            .find_map(|t| t.parse::<jiff::Timestamp>().ok());
        let age = at.map_or("<unknown>".to_string(), |t| human_duration(now.as_second() - t.as_second()));
        let from =
            if s(e, "/source/component").is_empty() { s(e, "/reportingComponent") } else { s(e, "/source/component") };
        table.push_str(&format!(
            "  {}\t{}\t{age}\t{from}\t{}\n",
            s(e, "/type"),
            s(e, "/reason"),
            s(e, "/message").trim()
        ));
    }
    text.push_str(&tabwriter(&table));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tabwriter_blocks_like_go() {
        let text =
            tabwriter("Name:\tnp2\nPort:\t80-8080\t80/TCP\nTargetPort:\t8080/TCP\nInternal Traffic Policy:\tCluster\n");
        assert_eq!(
            text,
            "Name:                     np2\nPort:                     80-8080  80/TCP\nTargetPort:               8080/TCP\nInternal Traffic Policy:  Cluster\n"
        );
    }

    #[test]
    fn a_node_port_service_as_kubectl_describes_it() {
        let svc = json!({"metadata":{"name":"np2","namespace":"default","labels":{"app":"np2","tier":"web"},"annotations":{"a":"b"}},
            "spec":{"type":"NodePort","selector":{"app":"np2"},"ipFamilyPolicy":"SingleStack","ipFamilies":["IPv4"],"clusterIP":"10.97.72.35","clusterIPs":["10.97.72.35"],
                    "ports":[{"name":"80-8080","port":80,"protocol":"TCP","targetPort":8080,"nodePort":30674}],
                    "sessionAffinity":"None","externalTrafficPolicy":"Cluster","internalTrafficPolicy":"Cluster"}});
        // Exactly what kubectl 1.32 printed for this object (trailing spaces included).
        let want = "\
Name:                     np2
Namespace:                default
Labels:                   app=np2
                          tier=web
Annotations:              a: b
Selector:                 app=np2
Type:                     NodePort
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       10.97.72.35
IPs:                      10.97.72.35
Port:                     80-8080  80/TCP
TargetPort:               8080/TCP
NodePort:                 80-8080  30674/TCP
Endpoints:                <none>
Session Affinity:         None
External Traffic Policy:  Cluster
Internal Traffic Policy:  Cluster
Events:                   <none>
";
        assert_eq!(service(&svc, &[], &[], jiff::Timestamp::now()), want);
    }
}
