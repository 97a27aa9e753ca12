"""What a Swagger 2.0 reader checks in `kubectl get --raw /openapi/v2`
(on stdin): the Service definition as upstream's, every `$ref` resolved, the
CRD's definition under upstream's reversed-group name, and the PATCH
operation's `fieldValidation` parameter. Run by `explain_and_apply.rs`."""
import json, sys
doc = json.load(sys.stdin)
assert doc["swagger"] == "2.0", doc.get("swagger")
defs = doc["definitions"]
svc = defs["io.k8s.api.core.v1.Service"]
assert svc["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Service", "version": "v1"}], svc
assert svc["properties"]["spec"]["$ref"] == "#/definitions/io.k8s.api.core.v1.ServiceSpec", svc["properties"]["spec"]
ports = defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"]
assert ports["x-kubernetes-patch-merge-key"] == "port" and ports["x-kubernetes-list-map-keys"] == ["port", "protocol"], ports
assert defs["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["group"] == "apps"
text = json.dumps(doc)
refs = [p.split('"')[0] for p in text.split('"$ref": "')[1:]]
missing = [r for r in refs if r.removeprefix("#/definitions/") not in defs]
assert refs and not missing, missing[:5]
crontab = defs["com.example.stable.v1.CronTab"]
assert "cronSpec" in crontab["properties"]["spec"]["properties"], crontab
op = doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"]
assert any(p["name"] == "fieldValidation" for p in op["parameters"]), op
print("openapi v2 ok:", len(defs), "definitions")
