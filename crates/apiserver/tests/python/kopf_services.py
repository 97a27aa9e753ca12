"""A small kopf (PyPI) operator on core/v1 Services, run by `kopf run
--standalone` in `tests/kopf_operator.rs`. For every Service it keeps a
ConfigMap `<service>-seen` that says what it last saw (created, updated,
deleted) and the Service's ports, and it marks the Service itself with an
annotation (through kopf's own merge patch) and an Event. The test watches
those reactions; kopf's own machinery (its finalizer on the Service, its
last-handled-configuration annotation, its Events) is exercised on the way.
"""
import kopf
import kubernetes

ANNOTATION = "operator.mink8s.io/seen"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    # The test's apiserver is fresh: short watch timeouts make a broken
    # watch show quickly instead of after kopf's default of hours.
    settings.watching.server_timeout = 30
    settings.watching.client_timeout = 40
    settings.posting.level = 20  # INFO: kopf.info() and kopf's own successes become Events
    kubernetes.config.load_kube_config()


def _ports(spec):
    return ",".join(str(p.get("port")) for p in (spec or {}).get("ports") or [])


def _record(namespace, name, what, spec):
    """Creates or updates the ConfigMap `<name>-seen` (the Python client's
    create, then replace on 409, as an operator that does not own it would)."""
    core = kubernetes.client.CoreV1Api()
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-seen", "labels": {"operator.mink8s.io/service": name}},
        "data": {"event": what, "ports": _ports(spec)},
    }
    try:
        core.create_namespaced_config_map(namespace, body)
    except kubernetes.client.ApiException as e:
        if e.status != 409:
            raise
        core.patch_namespaced_config_map(f"{name}-seen", namespace, {"data": body["data"]})


@kopf.on.create("v1", "services")
def service_created(spec, name, namespace, patch, body, **_):
    _record(namespace, name, "created", spec)
    patch.metadata.annotations[ANNOTATION] = "created"
    kopf.info(body, reason="ServiceSeen", message=f"created with ports {_ports(spec)}")


@kopf.on.update("v1", "services", field="spec.ports")
def service_ports_changed(spec, name, namespace, patch, body, old, new, **_):
    _record(namespace, name, "updated", spec)
    patch.metadata.annotations[ANNOTATION] = "updated"
    kopf.info(body, reason="ServiceSeen", message=f"ports {_ports({'ports': old})} -> {_ports({'ports': new})}")


@kopf.on.delete("v1", "services")
def service_deleted(spec, name, namespace, **_):
    _record(namespace, name, "deleted", spec)
