"""The Python `kubernetes` client (PyPI) against the apiserver: create,
list, patch, replace and delete a Service. Exits non-zero on any mismatch."""
import sys
from kubernetes import client
from kubernetes.client.rest import ApiException

config = client.Configuration()
config.host = sys.argv[1]
v1 = client.CoreV1Api(client.ApiClient(config))

svc = client.V1Service(
    metadata=client.V1ObjectMeta(name="py-svc", labels={"app": "py"}),
    spec=client.V1ServiceSpec(selector={"app": "py"}, ports=[client.V1ServicePort(name="http", port=80)]),
)
created = v1.create_namespaced_service("default", svc)
assert created.spec.cluster_ip.startswith("10."), created.spec.cluster_ip
assert created.spec.ports[0].target_port == 80 and created.spec.ports[0].protocol == "TCP"
assert created.metadata.uid and created.metadata.resource_version

try:
    v1.create_namespaced_service("default", svc)
    raise SystemExit("duplicate create succeeded")
except ApiException as e:
    assert e.status == 409, e.status

names = [s.metadata.name for s in v1.list_namespaced_service("default").items]
assert "py-svc" in names and "kubernetes" in names, names
selected = v1.list_namespaced_service("default", label_selector="app=py").items
assert [s.metadata.name for s in selected] == ["py-svc"]

# A dict body is sent as a strategic merge patch: ports merge by port number.
patched = v1.patch_namespaced_service("py-svc", "default", {"spec": {"ports": [{"name": "metrics", "port": 9090}]}})
assert sorted(p.port for p in patched.spec.ports) == [80, 9090], patched.spec.ports
# A list body is a JSON patch.
patched = v1.patch_namespaced_service("py-svc", "default", [{"op": "add", "path": "/metadata/labels/tier", "value": "web"}])
assert patched.metadata.labels == {"app": "py", "tier": "web"}

current = v1.read_namespaced_service("py-svc", "default")
current.spec.session_affinity = "ClientIP"
replaced = v1.replace_namespaced_service("py-svc", "default", current)
assert replaced.spec.session_affinity == "ClientIP"
assert replaced.spec.session_affinity_config.client_ip.timeout_seconds == 10800
assert replaced.spec.cluster_ip == created.spec.cluster_ip

current.metadata.resource_version = created.metadata.resource_version
try:
    v1.replace_namespaced_service("py-svc", "default", current)
    raise SystemExit("stale replace succeeded")
except ApiException as e:
    assert e.status == 409, e.status

v1.delete_namespaced_service("py-svc", "default")
try:
    v1.read_namespaced_service("py-svc", "default")
    raise SystemExit("deleted Service still readable")
except ApiException as e:
    assert e.status == 404, e.status
print("python client: create, list, patch, replace, delete ok")
