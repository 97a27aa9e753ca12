"""The Python `kubernetes` client (PyPI) with a bearer token against an
apiserver with RBAC: the token's user may list Services and not create
them (403, upstream's message); a wrong token is 401. Exits non-zero on any
mismatch."""
import json
import sys
from kubernetes import client
from kubernetes.client.rest import ApiException


def api(token):
    config = client.Configuration()
    config.host = sys.argv[1]
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    return client.CoreV1Api(client.ApiClient(config))


v1 = api(sys.argv[2])
names = [s.metadata.name for s in v1.list_namespaced_service("default").items]
assert "kubernetes" in names, names

svc = client.V1Service(metadata=client.V1ObjectMeta(name="py-svc"), spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]))
try:
    v1.create_namespaced_service("default", svc)
    raise SystemExit("create succeeded without the right")
except ApiException as e:
    assert e.status == 403, e.status
    body = json.loads(e.body)
    want = 'services is forbidden: User "alice" cannot create resource "services" in API group "" in the namespace "default"'
    assert body["message"] == want, body["message"]

try:
    api("not-a-token").list_namespaced_service("default")
    raise SystemExit("a wrong token was accepted")
except ApiException as e:
    assert e.status == 401, e.status
    assert json.loads(e.body)["reason"] == "Unauthorized"

print("python client: token list ok, create forbidden")
