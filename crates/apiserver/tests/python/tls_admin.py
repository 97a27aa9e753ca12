"""The Python `kubernetes` client (PyPI) with the apiserver's admin
kubeconfig, unchanged: HTTPS verified against its CA, the client
certificate as the credential. Create, get, list, watch and delete a
Service, then ask who we are. Exits non-zero on any mismatch."""
import sys
from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
assert client.Configuration.get_default_copy().host.startswith("https://")

svc = client.V1Service(
    metadata=client.V1ObjectMeta(name="py-tls", labels={"app": "py-tls"}),
    spec=client.V1ServiceSpec(selector={"app": "py-tls"}, ports=[client.V1ServicePort(port=80)]),
)
created = v1.create_namespaced_service("default", svc)
assert created.spec.cluster_ip.startswith("10."), created.spec.cluster_ip
assert v1.read_namespaced_service("py-tls", "default").metadata.uid == created.metadata.uid
listed = v1.list_namespaced_service("default", label_selector="app=py-tls")
assert [s.metadata.name for s in listed.items] == ["py-tls"]

import threading, time
# The delete comes once the watch is open; watching from the list's
# revision, it is the first event.
threading.Thread(target=lambda: (time.sleep(1), v1.delete_namespaced_service("py-tls", "default"))).start()
seen = []
w = watch.Watch()
for event in w.stream(v1.list_namespaced_service, "default", label_selector="app=py-tls",
                      resource_version=listed.metadata.resource_version, timeout_seconds=20):
    seen.append((event["type"], event["object"].metadata.name))
    w.stop()
assert seen == [("DELETED", "py-tls")], seen

review = client.AuthenticationV1Api().create_self_subject_review(client.V1SelfSubjectReview())
info = review.status.user_info
assert info.username == "kubernetes-admin", info
assert "system:masters" in info.groups, info.groups
print("python client over TLS: create, get, list, watch, delete, whoami ok")
