"""The Python `kubernetes` client's `utils.create_from_yaml` of one
multi-document file mixing a Namespace, a Deployment, a Service, a
ReplicationController and a Role (each kind goes through its own API class).
Run twice, every object is a 409 the client collects per object. Exits
non-zero on any mismatch."""
import sys
import tempfile
from kubernetes import client, utils

MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: py-mixed}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: py-mixed}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: py-mixed}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: py-mixed}
spec:
  replicas: 1
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: py-mixed}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
"""

config = client.Configuration()
config.host = sys.argv[1]
api = client.ApiClient(config)
with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
    f.write(MANIFEST)
    f.flush()
    created = utils.create_from_yaml(api, f.name)
    kinds = [objs[0].kind for objs in created]
    assert kinds == ["Namespace", "Deployment", "Service", "ReplicationController", "Role"], kinds

    rc = client.CoreV1Api(api).read_namespaced_replication_controller("legacy", "py-mixed")
    assert rc.spec.replicas == 1 and rc.spec.selector == {"app": "legacy"}, rc.spec
    role = client.RbacAuthorizationV1Api(api).read_namespaced_role("pod-reader", "py-mixed")
    assert role.rules[0].verbs == ["get", "list"], role.rules
    svc = client.CoreV1Api(api).read_namespaced_service("web", "py-mixed")
    assert svc.spec.cluster_ip.startswith("10."), svc.spec.cluster_ip

    try:
        utils.create_from_yaml(api, f.name)
        raise SystemExit("second create_from_yaml succeeded")
    except utils.FailToCreateError as e:
        codes = [x.status for x in e.api_exceptions]
        assert codes == [409] * 5, codes
        reasons = {__import__("json").loads(x.body)["reason"] for x in e.api_exceptions}
        assert reasons == {"AlreadyExists"}, reasons

print("python client: create_from_yaml of a mixed manifest ok")
