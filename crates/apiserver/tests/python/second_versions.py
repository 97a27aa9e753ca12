"""The Python `kubernetes` client on the second versions served over the
same objects: `EventsV1Api` (events.k8s.io/v1 over core/v1 Events) and
`AutoscalingV1Api` (autoscaling/v1 over autoscaling/v2 HPAs), CRUD and a
watch. Exits non-zero on any mismatch."""
import datetime
import sys
from kubernetes import client, watch

api = client.ApiClient(client.Configuration(host=sys.argv[1]))
core, events, v1, v2 = (client.CoreV1Api(api), client.EventsV1Api(api),
                        client.AutoscalingV1Api(api), client.AutoscalingV2Api(api))
now = datetime.datetime.now(datetime.timezone.utc)

# A new-style Event, read back in both versions.
ev = client.EventsV1Event(
    metadata=client.V1ObjectMeta(name="web.1"), event_time=now, reason="Scaled", action="Scale",
    note="scaled up to 3", type="Normal", reporting_controller="example.com/scaler",
    reporting_instance="scaler-1", regarding=client.V1ObjectReference(kind="Deployment", name="web", namespace="default"))
made = events.create_namespaced_event("default", ev)
assert made.note == "scaled up to 3" and made.regarding.name == "web", made
old = core.read_namespaced_event("web.1", "default")
assert old.message == "scaled up to 3" and old.involved_object.kind == "Deployment", old
assert old.reporting_component == "example.com/scaler", old

# A core Event seen through events.k8s.io: deprecated* fields carry its legacy ones.
# (It sets eventTime: this client refuses an EventsV1Event without one, on any
# cluster, and a legacy Event has none unless its writer set it.)
core.create_namespaced_event("default", client.CoreV1Event(
    metadata=client.V1ObjectMeta(name="web.2"), event_time=now, involved_object=client.V1ObjectReference(kind="Pod", name="web-0"),
    reason="Pulled", message="image pulled", type="Normal", count=2, source=client.V1EventSource(component="kubelet"),
    first_timestamp=now, last_timestamp=now))
seen = events.read_namespaced_event("web.2", "default")
assert seen.note == "image pulled" and seen.deprecated_count == 2, seen
assert seen.deprecated_source.component == "kubelet", seen
names = sorted(e.metadata.name for e in events.list_namespaced_event("default").items)
assert names == ["web.1", "web.2"], names
patched = events.patch_namespaced_event("web.1", "default", {"note": "scaled up to 4"})
assert patched.note == "scaled up to 4", patched
assert core.read_namespaced_event("web.1", "default").message == "scaled up to 4"
streamed = [(e["type"], e["object"].note) for e in
            watch.Watch().stream(events.list_namespaced_event, "default", timeout_seconds=1)]
assert ("ADDED", "image pulled") in streamed, streamed
events.delete_namespaced_event("web.2", "default")
try:
    events.read_namespaced_event("web.2", "default")
    sys.exit("deleted event still readable")
except client.ApiException as e:
    assert e.status == 404 and "events.events.k8s.io" in e.body, e.body

# An autoscaling/v1 HPA is a v2 HPA with a CPU utilization metric.
hpa = client.V1HorizontalPodAutoscaler(
    metadata=client.V1ObjectMeta(name="web"),
    spec=client.V1HorizontalPodAutoscalerSpec(
        scale_target_ref=client.V1CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name="web"),
        min_replicas=2, max_replicas=5, target_cpu_utilization_percentage=70))
made = v1.create_namespaced_horizontal_pod_autoscaler("default", hpa)
assert made.spec.target_cpu_utilization_percentage == 70, made
as_v2 = v2.read_namespaced_horizontal_pod_autoscaler("web", "default")
metric = as_v2.spec.metrics[0]
assert metric.type == "Resource" and metric.resource.name == "cpu", as_v2
assert metric.resource.target.average_utilization == 70, as_v2
v1.patch_namespaced_horizontal_pod_autoscaler("web", "default", {"spec": {"targetCPUUtilizationPercentage": 55}})
as_v2 = v2.read_namespaced_horizontal_pod_autoscaler("web", "default")
assert as_v2.spec.metrics[0].resource.target.average_utilization == 55, as_v2
# A v2 memory metric survives a v1 read-modify-write, in upstream's annotation.
as_v2.spec.metrics.append(client.V2MetricSpec(type="Resource", resource=client.V2ResourceMetricSource(
    name="memory", target=client.V2MetricTarget(type="AverageValue", average_value="100Mi"))))
v2.replace_namespaced_horizontal_pod_autoscaler("web", "default", as_v2)
got = v1.read_namespaced_horizontal_pod_autoscaler("web", "default")
assert "autoscaling.alpha.kubernetes.io/metrics" in got.metadata.annotations, got
got.spec.max_replicas = 7
v1.replace_namespaced_horizontal_pod_autoscaler("web", "default", got)
as_v2 = v2.read_namespaced_horizontal_pod_autoscaler("web", "default")
assert as_v2.spec.max_replicas == 7 and len(as_v2.spec.metrics) == 2, as_v2
assert not (as_v2.metadata.annotations or {}), as_v2.metadata.annotations
assert [h.metadata.name for h in v1.list_namespaced_horizontal_pod_autoscaler("default").items] == ["web"]
v1.delete_namespaced_horizontal_pod_autoscaler("web", "default")
assert v2.list_namespaced_horizontal_pod_autoscaler("default").items == []
print("python client: events.k8s.io/v1 and autoscaling/v1 ok")
