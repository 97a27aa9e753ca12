"""The Python `kubernetes` client's DynamicClient on a custom resource: the
CRD created through ApiextensionsV1Api, then the CronTabs found by
discovery and created, listed, patched, watched and deleted. Exits non-zero
on any mismatch."""
import os
import sys
import tempfile
import yaml
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

config = client.Configuration()
config.host = sys.argv[1]
api_client = client.ApiClient(config)

with open(sys.argv[2]) as f:
    crd = yaml.safe_load(f)
ext = client.ApiextensionsV1Api(api_client)
created = ext.create_custom_resource_definition(crd)
assert created.metadata.name == "crontabs.stable.example.com"
conds = {c.type: c.status for c in created.status.conditions}
assert conds.get("Established") == "True", conds

# Its discovery cache in a file of its own: the default is one per server URL
# in /tmp, and a port used again by a later apiserver would read stale groups.
cache = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
os.unlink(cache)
dyn = dynamic.DynamicClient(api_client, cache_file=cache)
crontabs = dyn.resources.get(api_version="stable.example.com/v1", kind="CronTab")
assert crontabs.namespaced and crontabs.short_names == ["ct"], (crontabs.namespaced, crontabs.short_names)

body = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "py-cron"},
        "spec": {"cronSpec": "*/5 * * * *", "image": "busybox", "unknown": 1}}
obj = crontabs.create(body=body, namespace="default")
assert obj.spec.replicas == 1, obj.spec  # defaulted by the schema
assert "unknown" not in obj.spec.to_dict(), obj.spec  # pruned

try:
    crontabs.create(body={**body, "metadata": {"name": "bad"}, "spec": {"cronSpec": "x"}}, namespace="default")
    raise SystemExit("an invalid CronTab was accepted")
except ApiException as e:
    assert e.status == 422 and "spec.cronSpec in body should match" in e.body, (e.status, e.body)

names = [i.metadata.name for i in crontabs.get(namespace="default").items]
assert names == ["py-cron"], names

patched = crontabs.patch(name="py-cron", namespace="default", body={"spec": {"replicas": 4}},
                         content_type="application/merge-patch+json")
assert patched.spec.replicas == 4 and patched.metadata.generation == 2, patched

rv = crontabs.get(namespace="default").metadata.resourceVersion
crontabs.delete(name="py-cron", namespace="default")
events = []
for ev in crontabs.watch(namespace="default", resource_version=rv, timeout=10):
    events.append((ev["type"], ev["object"].metadata.name))
    if ev["type"] == "DELETED":
        break
assert events == [("DELETED", "py-cron")], events
os.unlink(cache)
print("python dynamic client on a CRD ok")
