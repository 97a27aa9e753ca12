//! ServiceAccount tokens in pods, for real: the apiserver with RBAC and
//! ServiceAccount admission, the controller's ServiceAccount controller and
//! root CA publisher, kubelet-lite in a node's network namespace, busybox
//! pods whose shell reads `/var/run/secrets/kubernetes.io/serviceaccount`
//! and calls the apiserver with the token it finds there (with curl, from
//! the pod's own network namespace), reporting in its log what it got.

use base64::Engine;
use e2e::netns::NodeNet;
use e2e::{eventually, eventually_async, spawn, workspace_binary, Apiserver, Etcd, ScratchDir};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kubelet_lite::cri_log::{self, Stream};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOKENS: &str = "admin-token,admin,u-admin,system:masters
node1-token,system:node:node1,u-node1,system:nodes
controller-token,system:kube-controller-manager,u-kcm
";

fn kubeconfig(dir: &Path, name: &str, url: &str, token: &str) -> PathBuf {
    let path = dir.join(format!("{name}.kubeconfig"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"{url}\"}}\nusers:\n- name: u\n  user: {{token: {token}}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: default}}\ncurrent-context: c\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn client(path: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

/// The pod's stdout lines so far.
fn stdout(logs: &Path, pod: &Pod) -> Vec<String> {
    let m = &pod.metadata;
    let (ns, name, uid) = (m.namespace.as_deref().unwrap(), m.name.as_deref().unwrap(), m.uid.as_deref().unwrap());
    let path = cri_log::container_log_path(logs, ns, name, uid, "c", 0);
    let text = std::fs::read(path).unwrap_or_default();
    text.split_inclusive(|b| *b == b'\n')
        .filter_map(|l| cri_log::parse(l).ok())
        .filter(|r| r.stream == Stream::Stdout)
        .map(|r| String::from_utf8_lossy(&r.content).trim_end().to_string())
        .collect()
}

/// A pod that says what its ServiceAccount directory holds, then every
/// half second: the HTTP code of listing Services with its token, the
/// body of deleting the `kubernetes` Service, and the token's checksum.
fn prober(name: &str, api: &str, automount: Option<bool>) -> Value {
    let script = format!(
        r#"D=/var/run/secrets/kubernetes.io/serviceaccount
echo "files: $(ls $D 2>/dev/null | tr '\n' ' ')"
echo "namespace: $(cat $D/namespace 2>/dev/null)"
echo "ca: $(head -c 27 $D/ca.crt 2>/dev/null)"
while true; do
  T=$(cat $D/token 2>/dev/null)
  L=$(curl -s -o /dev/null -w '%{{http_code}}' -H "Authorization: Bearer $T" {api}/api/v1/namespaces/default/services)
  X=$(curl -s -X DELETE -H "Authorization: Bearer $T" {api}/api/v1/namespaces/default/services/kubernetes | tr -d '\n')
  echo "list=$L token=$(echo "$T" | md5sum | cut -c1-8) delete=$X"
  sleep 0.5
done"#
    );
    let mut spec = json!({"nodeName": "node1", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]});
    if let Some(a) = automount {
        spec["automountServiceAccountToken"] = json!(a);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

/// The JWT's claims (its middle part).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pods_token_reaches_the_api_as_far_as_its_bindings_allow() {
    let tag = format!("sa{}", std::process::id() % 10000);
    let net = NodeNet::new(&tag, (std::process::id() % 200) as u8 + 20, 0);
    // The pods reach the apiserver on the host through the node, masqueraded
    // as the node's address (as a node's SNAT to the outside would).
    net.node.run(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    net.node.run(&["nft", "add table ip sanat"]);
    net.node.run(&["nft", "add chain ip sanat post { type nat hook postrouting priority 100 ; }"]);
    net.node.run(&["nft", "add rule ip sanat post ip saddr 10.244.1.0/24 oifname != br0 masquerade"]);

    let scratch = ScratchDir::new("sa-tokens");
    let (logs, root) = (scratch.0.join("pod-logs"), scratch.0.join("root"));
    let tokens = scratch.0.join("tokens.csv");
    std::fs::write(&tokens, TOKENS).unwrap();
    let ca = "-----BEGIN CERTIFICATE-----\nMIIBdTCCARugAwIBAgIUb2s=\n-----END CERTIFICATE-----\n";
    let ca_file = scratch.0.join("ca.crt");
    std::fs::write(&ca_file, ca).unwrap();
    let etcd = Etcd::start();
    let flags = [
        "--bind-address",
        &net.host_ip,
        "--token-auth-file",
        tokens.to_str().unwrap(),
        "--authorization-mode",
        "RBAC",
        "--disable-admission-plugins=",
    ];
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &flags);
    let admin_kc = kubeconfig(&scratch.0, "admin", &api.url, "admin-token");
    let controller_kc = kubeconfig(&scratch.0, "controller", &api.url, "controller-token");
    let node_kc = kubeconfig(&scratch.0, "node", &api.url, "node1-token");
    let controller_args = [
        "--kubeconfig",
        controller_kc.to_str().unwrap(),
        "--controllers",
        "serviceaccount,root-ca-cert-publisher",
        "--root-ca-file",
        ca_file.to_str().unwrap(),
    ];
    let _controller = spawn(&workspace_binary("controller"), &controller_args);
    let dirs = [
        "--kubeconfig",
        node_kc.to_str().unwrap(),
        "--pod-logs-dir",
        logs.to_str().unwrap(),
        "--root-dir",
        root.to_str().unwrap(),
        "--port",
        "0",
        // Tokens replaced after 3 s (the kubelet's 24 h), to see a rotation.
        "--service-account-token-max-age-seconds",
        "3",
    ];
    let node_args =
        ["--hostname-override", "node1", "--node-ip", &net.node_ip, "--pod-cidr", "10.244.1.0/24", "--bridge", "br0"];
    let args = [&node_args[..], &dirs].concat();
    let _kubelet = net.spawn(Path::new(env!("CARGO_BIN_EXE_kubelet-lite")), &args);
    let admin = client(&admin_kc).await;
    let pods: Api<Pod> = Api::default_namespaced(admin.clone());
    let pp = PostParams::default();

    // Admission: `default` (waited for, the controller makes it), the token volume and mount.
    let pod = eventually_async(
        "a pod admitted once `default` exists",
        async || {
            pods.create(&pp, &serde_json::from_value(prober("reader", &api.url, None)).unwrap())
                .await
                .map_err(|e| e.to_string())
        },
        |r| r.is_ok(),
    )
    .await
    .unwrap();
    let spec = serde_json::to_value(pod.spec.as_ref().unwrap()).unwrap();
    assert_eq!(
        (spec["serviceAccountName"].as_str(), spec["serviceAccount"].as_str()),
        (Some("default"), Some("default"))
    );
    let volume = spec["volumes"][0].clone();
    let volume_name = volume["name"].as_str().unwrap().to_string();
    assert!(
        volume_name.starts_with("kube-api-access-") && volume_name.len() == "kube-api-access-".len() + 5,
        "{volume}"
    );
    assert_eq!(
        volume["projected"]["sources"][0]["serviceAccountToken"],
        json!({"expirationSeconds": 3607, "path": "token"})
    );
    assert_eq!(
        spec["containers"][0]["volumeMounts"],
        json!([{"name": volume_name, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}])
    );

    // Inside the pod: the three files; before any binding, 403.
    let lines =
        eventually("the pod's first report", || stdout(&logs, &pod), |l| l.iter().any(|l| l.starts_with("list=")));
    assert_eq!(lines[0], "files: ca.crt namespace token", "{lines:?}");
    assert_eq!(lines[1], "namespace: default");
    assert_eq!(lines[2], "ca: -----BEGIN CERTIFICATE-----");
    assert!(lines[3].starts_with("list=403 "), "{lines:?}");

    // A Role that reads Services, bound to the pod's account: list 200, delete still 403.
    let rbac = |v: Value| {
        let admin = admin.clone();
        async move {
            let kind = v["kind"].as_str().unwrap().to_string();
            let plural = if kind == "Role" { "roles" } else { "rolebindings" };
            let ar = kube::api::ApiResource {
                group: "rbac.authorization.k8s.io".into(),
                version: "v1".into(),
                api_version: "rbac.authorization.k8s.io/v1".into(),
                kind,
                plural: plural.into(),
            };
            let api: Api<kube::api::DynamicObject> = Api::namespaced_with(admin.clone(), "default", &ar);
            api.create(&PostParams::default(), &serde_json::from_value(v).unwrap()).await.unwrap();
        }
    };
    rbac(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "svc-reader"},
        "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list"]}]}))
    .await;
    rbac(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "svc-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "svc-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]}),
    )
    .await;
    let lines =
        eventually("list allowed", || stdout(&logs, &pod), |l| l.last().is_some_and(|l| l.starts_with("list=200 ")));
    let last = lines.last().unwrap();
    let delete: Value = serde_json::from_str(last.split_once(" delete=").unwrap().1).unwrap();
    assert_eq!((delete["code"].as_i64(), delete["reason"].as_str()), (Some(403), Some("Forbidden")), "{last}");
    assert_eq!(
        delete["message"],
        r#"services "kubernetes" is forbidden: User "system:serviceaccount:default:default" cannot delete resource "services" in API group "" in the namespace "default""#
    );

    // The token: bound to the pod, an hour and 7 s; renewed (3 s here), the new one as good.
    let pod_uid = pod.metadata.uid.clone().unwrap();
    let dir = root.join("pods").join(&pod_uid).join("volumes/kubernetes.io~projected").join(&volume_name);
    let first = std::fs::read_to_string(dir.join("token")).unwrap();
    let c = claims(&first);
    assert_eq!(c["sub"], "system:serviceaccount:default:default");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3607);
    assert_eq!(
        (c["kubernetes.io"]["pod"]["name"].as_str(), c["kubernetes.io"]["pod"]["uid"].as_str()),
        (Some("reader"), Some(pod_uid.as_str()))
    );
    let first_generation = std::fs::read_link(dir.join("..data")).unwrap();
    let lines = eventually(
        "a renewed token in use",
        || stdout(&logs, &pod),
        |l| {
            let seen: std::collections::BTreeSet<&str> =
                l.iter().filter(|l| l.starts_with("list=200 ")).filter_map(|l| l.split(' ').nth(1)).collect();
            seen.len() >= 2
        },
    );
    assert!(lines.iter().filter(|l| l.starts_with("list=")).skip(3).all(|l| l.starts_with("list=200 ")), "{lines:?}");
    assert_ne!(std::fs::read_link(dir.join("..data")).unwrap(), first_generation);
    let renewed = std::fs::read_to_string(dir.join("token")).unwrap();
    assert_ne!(renewed, first);

    // automountServiceAccountToken: false: no volume, nothing mounted.
    let bare: Pod =
        pods.create(&pp, &serde_json::from_value(prober("bare", &api.url, Some(false))).unwrap()).await.unwrap();
    assert!(bare.spec.as_ref().unwrap().volumes.as_ref().is_none_or(|v| v.is_empty()), "{bare:?}");
    assert!(bare.spec.as_ref().unwrap().containers[0].volume_mounts.as_ref().is_none_or(|v| v.is_empty()));
    let lines =
        eventually("the bare pod's report", || stdout(&logs, &bare), |l| l.iter().any(|l| l.starts_with("list=")));
    assert_eq!(lines[0], "files:", "{lines:?}");
    // An empty token is no credential: anonymous, whom RBAC refuses.
    assert!(lines[3].starts_with("list=403 "), "{lines:?}");

    // A ServiceAccount that does not exist: refused, in upstream's words.
    let mut named = prober("nobody", &api.url, None);
    named["spec"]["serviceAccountName"] = json!("x");
    let refused = pods.create(&pp, &serde_json::from_value(named).unwrap()).await.unwrap_err();
    let kube::Error::Api(status) = refused else { panic!("{refused:?}") };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        r#"pods "nobody" is forbidden: error looking up service account default/x: serviceaccount "x" not found"#
    );

    // Deleting the pod ends its tokens: 401.
    let url = format!("{}/api/v1/namespaces/default/services", api.url);
    let with = |token: &str| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                &format!("Authorization: Bearer {token}"),
                &url,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(with(&renewed), "200");
    pods.delete("reader", &DeleteParams::default().grace_period(0)).await.unwrap();
    pods.delete("bare", &DeleteParams::default().grace_period(0)).await.unwrap();
    eventually("the pod's tokens refused", || (with(&first), with(&renewed)), |c| *c == ("401".into(), "401".into()));
    eventually_async(
        "the pods gone",
        async || pods.list(&Default::default()).await.map(|l| l.items.len()).ok(),
        |n| *n == Some(0),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}
