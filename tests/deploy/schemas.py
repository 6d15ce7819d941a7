"""Offline validation of the deployment manifests.

- Custom resources: the `openAPIV3Schema` of their apiVersion in the CRD copies in
  infra/crds/ (never outside the repository), read as the API server reads a
  structural schema: a field the schema does not declare is an error (kubectl's
  default `--validate=strict` makes the server reject unknown fields rather than
  drop them) unless `x-kubernetes-preserve-unknown-fields` says otherwise, and
  `x-kubernetes-int-or-string` means an integer or a string. `metadata` is checked
  against Kubernetes' own ObjectMeta schema (from kubernetes-validate).
- Core objects: kubernetes-validate's strict schemas for K8S_VERSION.
- What neither covers and the platforms' webhooks check: our own rules below
  (autoscaling annotations, KafkaSource ordering, durations, names).

What stays unchecked offline: CEL rules (`x-kubernetes-validations`, none in these
CRDs' served versions we use), admission webhooks beyond the rules written here,
and whether the referenced Secrets/images exist in a cluster.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import yaml

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "infra" / "crds"
K8S_VERSION = "1.34"  # kubernetes-validate ships schemas for 1.25 .. 1.37
DEFS_ID = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = {"$ref": f"{DEFS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}

CORE_KINDS = {("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("apps/v1", "Deployment"),
              ("batch/v1", "Job"), ("batch/v1", "CronJob"), ("networking.k8s.io/v1", "NetworkPolicy")}

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
ISO_DURATION = re.compile(r"^PT(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?$")


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def describe(doc: dict) -> str:
    m = doc.get("metadata") or {}
    where = f"{m.get('namespace')}/" if m.get("namespace") else ""
    return f"{doc.get('kind')} {where}{m.get('name')} ({doc.get('apiVersion')})"


# -- CRDs ------------------------------------------------------------------------

def _structural(schema: Any) -> Any:
    """An openAPIV3Schema as JSON Schema with the API server's reading of it."""
    if isinstance(schema, list):
        return [_structural(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    s = {k: _structural(v) if k in ("items", "additionalProperties", "not") or k in ("allOf", "anyOf", "oneOf")
         else v for k, v in schema.items()}
    if "properties" in s:
        s["properties"] = {k: _structural(v) for k, v in s["properties"].items()}
    if s.pop("x-kubernetes-int-or-string", False):
        s.pop("type", None)
        s["anyOf"] = s.get("anyOf", []) + [{"type": "integer"}, {"type": "string"}]
    preserve = s.get("x-kubernetes-preserve-unknown-fields")
    if s.get("type") == "object" and "properties" in s and "additionalProperties" not in s and not preserve:
        s["additionalProperties"] = False
    return s


@lru_cache(maxsize=None)
def crd_schemas() -> dict[tuple[str, str], tuple[dict, str]]:
    """(apiVersion, kind) -> (JSON Schema, the CRD file it came from), every served version."""
    out = {}
    for f in sorted(CRD_DIR.glob("*.yaml")):
        for crd in load_docs(f):
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for v in crd["spec"]["versions"]:
                if not v.get("served"):
                    continue
                schema = _structural(copy.deepcopy(v["schema"]["openAPIV3Schema"]))
                props = schema.setdefault("properties", {})
                props["apiVersion"] = {"type": "string", "const": f"{group}/{v['name']}"}
                props["kind"] = {"type": "string", "const": kind}
                props["metadata"] = OBJECT_META
                schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
                schema["additionalProperties"] = False
                out[(f"{group}/{v['name']}", kind)] = (schema, f.name)
    return out


@lru_cache(maxsize=1)
def _k8s_registry():
    from importlib.resources import files

    from referencing import Registry, Resource

    base = files("kubernetes_validate").joinpath("kubernetes-json-schema", f"v{K8S_VERSION}.0-local-strict")
    defs = json.loads(base.joinpath("_definitions.json").read_text(encoding="utf-8"))
    return Registry().with_resource(DEFS_ID, Resource.from_contents(defs))


def _path(err) -> str:
    return ".".join(str(p) for p in err.absolute_path) or "(root)"


def crd_problems(doc: dict) -> list[str]:
    from jsonschema import Draft202012Validator

    key = (doc.get("apiVersion"), doc.get("kind"))
    found = crd_schemas().get(key)
    if found is None:
        return [f"no CRD in infra/crds/ serves {key[0]} {key[1]}"]
    schema, source = found
    v = Draft202012Validator(schema, registry=_k8s_registry())
    return [f"{_path(e)}: {e.message} (schema: infra/crds/{source})"
            for e in sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


def k8s_problems(doc: dict) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{_path(e)}: {e.message} (schema: kubernetes-validate {K8S_VERSION}, strict)"]
    return []


# -- what the schemas leave to the platforms' webhooks -----------------------------

def _int_string(value: Any, what: str, problems: list[str]) -> int | None:
    if not isinstance(value, str):
        problems.append(f"{what}: annotation values must be strings, got {type(value).__name__} {value!r}")
        return None
    if not re.fullmatch(r"\d+", value):
        problems.append(f"{what}: {value!r} is not a whole number")
        return None
    return int(value)


def autoscaling_problems(doc: dict) -> list[str]:
    """Knative's autoscaler annotations on a Service's revision template."""
    p: list[str] = []
    tmpl = doc.get("spec", {}).get("template", {})
    ann = (tmpl.get("metadata") or {}).get("annotations") or {}
    spec = tmpl.get("spec") or {}
    pre = "spec.template.metadata.annotations"
    if "autoscaling.knative.dev/min-scale" not in ann:
        p.append(f"{pre}: autoscaling.knative.dev/min-scale is missing (must be \"0\": scale to zero)")
    else:
        v = ann["autoscaling.knative.dev/min-scale"]
        if v != "0":
            p.append(f"{pre}.autoscaling.knative.dev/min-scale: must be the string \"0\" (scale to zero), got {v!r}")
    lo = 0
    hi = _int_string(ann.get("autoscaling.knative.dev/max-scale"), f"{pre}.autoscaling.knative.dev/max-scale", p)
    if hi is not None and hi < max(1, lo):
        p.append(f"{pre}.autoscaling.knative.dev/max-scale: must be at least 1, got {hi}")
    target = _int_string(ann.get("autoscaling.knative.dev/target"), f"{pre}.autoscaling.knative.dev/target", p)
    cc = spec.get("containerConcurrency")
    if target is not None:
        if target <= 0:
            p.append(f"{pre}.autoscaling.knative.dev/target: must be greater than 0, got {target}")
        if isinstance(cc, int) and cc > 0 and target > cc:
            p.append(f"{pre}.autoscaling.knative.dev/target: {target} exceeds containerConcurrency {cc}")
    metric = ann.get("autoscaling.knative.dev/metric", "concurrency")
    if metric not in ("concurrency", "rps"):
        p.append(f"{pre}.autoscaling.knative.dev/metric: {metric!r} is not concurrency or rps (KPA)")
    if not isinstance(cc, int) or isinstance(cc, bool) or not 0 <= cc <= 1000:
        p.append(f"spec.template.spec.containerConcurrency: must be an integer 0..1000, got {cc!r}")
    t = spec.get("timeoutSeconds")
    if not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= 600:
        p.append(f"spec.template.spec.timeoutSeconds: must be an integer 1..600 (max-revision-timeout-seconds), got {t!r}")
    for c in spec.get("containers", []):
        for probe in ("readinessProbe", "livenessProbe"):
            path = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
            if path != "/healthz":
                p.append(f"spec.template.spec.containers[{c.get('name')}].{probe}: must GET /healthz, got {path!r}")
    if not DNS1035_LABEL.match(doc["metadata"].get("name", "")) or len(doc["metadata"]["name"]) > 63:
        p.append("metadata.name: a Knative Service name must be a DNS-1035 label of at most 63 characters")
    return p


def delivery_problems(delivery: dict, where: str) -> list[str]:
    p = []
    if delivery.get("backoffPolicy") not in ("linear", "exponential"):
        p.append(f"{where}.backoffPolicy: {delivery.get('backoffPolicy')!r} is not one of linear, exponential")
    for k in ("backoffDelay", "timeout"):
        if k in delivery and not ISO_DURATION.match(str(delivery[k])):
            p.append(f"{where}.{k}: {delivery[k]!r} is not an ISO 8601 duration (PT0.2S)")
    r = delivery.get("retry")
    if not isinstance(r, int) or isinstance(r, bool) or r < 0:
        p.append(f"{where}.retry: must be a whole number, got {r!r}")
    if "deadLetterSink" not in delivery:
        p.append(f"{where}.deadLetterSink: missing (failed events would be dropped)")
    return p


def kafka_source_problems(doc: dict) -> list[str]:
    spec = doc.get("spec", {})
    p = []
    # the CRD declares `ordering` as a plain string; the source's webhook allows only these
    if spec.get("ordering") not in ("ordered", "unordered"):
        p.append(f"spec.ordering: {spec.get('ordering')!r} is not one of ordered, unordered")
    if spec.get("initialOffset", "latest") not in ("earliest", "latest"):
        p.append(f"spec.initialOffset: {spec.get('initialOffset')!r} is not one of earliest, latest")
    if not spec.get("consumerGroup"):
        p.append("spec.consumerGroup: missing")
    p += delivery_problems(spec.get("delivery") or {}, "spec.delivery")
    return p


def ping_source_problems(doc: dict) -> list[str]:
    spec = doc.get("spec", {})
    p = []
    try:
        ZoneInfo(str(spec.get("timezone")))
    except Exception:
        p.append(f"spec.timezone: {spec.get('timezone')!r} is not an IANA time zone")
    if len(str(spec.get("schedule", "")).split()) != 5:
        p.append(f"spec.schedule: {spec.get('schedule')!r} is not a five-field cron expression")
    return p


def name_problems(doc: dict) -> list[str]:
    name = (doc.get("metadata") or {}).get("name", "")
    ns = (doc.get("metadata") or {}).get("namespace")
    p = []
    if not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
        p.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    if doc.get("kind") in ("Namespace", "Deployment", "Job", "CronJob") and (
            not DNS1123_LABEL.match(name) or len(name) > (52 if doc.get("kind") == "CronJob" else 63)):
        p.append(f"metadata.name: {name!r} is not a DNS-1123 label short enough for a {doc.get('kind')}")
    if ns is not None and not DNS1123_LABEL.match(ns):
        p.append(f"metadata.namespace: {ns!r} is not a DNS-1123 label")
    for k, v in ((doc.get("metadata") or {}).get("labels") or {}).items():
        if not isinstance(v, str) or len(v) > 63 or not re.fullmatch(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", v):
            p.append(f"metadata.labels.{k}: {v!r} is not a valid label value")
    return p


OWN_CHECKS = {
    ("serving.knative.dev/v1", "Service"): autoscaling_problems,
    ("sources.knative.dev/v1", "KafkaSource"): kafka_source_problems,
    ("sources.knative.dev/v1", "PingSource"): ping_source_problems,
}


def problems(doc: dict) -> list[str]:
    """Everything wrong with one manifest, each line naming the object, the field and the rule."""
    if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
        return ["not a Kubernetes object (no apiVersion/kind)"]
    key = (doc["apiVersion"], doc["kind"])
    found = k8s_problems(doc) if key in CORE_KINDS else crd_problems(doc)
    found += name_problems(doc)
    check = OWN_CHECKS.get(key)
    if check:
        found += check(doc)
    return [f"{describe(doc)}: {msg}" for msg in found]


def all_problems(docs: Iterable[dict]) -> list[str]:
    return [msg for d in docs for msg in problems(d)]
