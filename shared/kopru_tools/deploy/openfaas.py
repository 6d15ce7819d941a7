"""`kopru deploy render openfaas`: the OpenFaaS stack (`stack.yml`, faas-cli's
format, `version: 1.0`).

Every function is built from the one image (lang `dockerfile`, handler
infra/docker: functions-framework in ASGI mode needs no OpenFaaS template or
watchdog) with `configuration.copy` bringing the library, the catalog and the
functions into each build context. Values in `${VAR:-default}` form are filled in
by faas-cli from the environment (its envsubst), so one file serves every
installation.

Triggers: none of OpenFaaS's own. `POST /` accepts an event or a tick only with a
sender token (kopru.events.ingress), and neither the kafka-connector nor the
cron-connector can send one (connector-sdk's Invoker sets Content-Type, X-Topic
and the connector's own headers, nothing configurable; the cron-connector posts an
empty body), so no function carries the `topic` annotation they look for: Köprü's
dispatcher (`kopru dispatch`) and ticker (`kopru events tick`) deliver through the
gateway with tokens. The `kopru.dev/*` annotations say what each function receives
(for people; no connector reads them)."""

from __future__ import annotations

from typing import Any

from kopru_tools.deploy.cron import to_utc
from kopru_tools.deploy.plan import FunctionPlan, Plan, RenderError
from kopru_tools.deploy.settings import DeploySettings
from kopru_tools.deploy.yamlout import sorted_map

Doc = dict[str, Any]

COPY = ["./events", "./functions", "./infra/docker", "./pyproject.toml", "./shared"]


def env_default(var: str, default: str) -> str:
    return "${" + var + ":-" + default + "}"


def function(s: DeploySettings, f: FunctionPlan) -> Doc:
    p = s.profile(f.name)
    environment = {k: env_default(k, v) for k, v in s.config().items()}
    environment["FUNCTION_TARGET"] = "handle"
    environment["FUNCTION_SOURCE"] = f.source
    labels = {
        "app.kubernetes.io/part-of": "kopru",
        "com.openfaas.scale.min": "1",  # OpenFaaS counts from 1; zero is the idler's (Pro)
        "com.openfaas.scale.max": str(p.max_scale),
        "com.openfaas.scale.zero": "true",
        "com.openfaas.scale.zero-duration": p.scale_zero_after,
        "com.openfaas.scale.type": "capacity",
        "com.openfaas.scale.target": str(p.target),
    }
    annotations = {
        # functions-framework answers /healthz (not the watchdog's /_/health)
        "com.openfaas.health.http.path": "/healthz",
        "com.openfaas.ready.http.path": "/healthz",
    }
    if f.topics and f.schedule is not None:
        raise RenderError(f"{f.name}: a function is fed either by Kafka or by a schedule, not both "
                          "(split it in two, as sms-send/sms-report)")
    if f.topics:
        annotations["kopru.dev/event-topics"] = ",".join(f.topics)  # delivered by `kopru dispatch`
    if f.schedule is not None:
        # ticked by `kopru events tick` in the schedule's own zone (UTC form for reference)
        annotations["kopru.dev/schedule"] = f.schedule.cron
        annotations["kopru.dev/schedule-timezone"] = f.schedule.timezone
        annotations["kopru.dev/schedule-utc"] = to_utc(f.schedule.cron, f.schedule.timezone)
    return {
        "lang": "dockerfile",
        "handler": "./infra/docker",
        "image": env_default("KOPRU_IMAGE", s.image),
        "environment": sorted_map(environment),
        "secrets": ["kopru-secrets"],
        "labels": sorted_map(labels),
        "annotations": sorted_map(annotations),
        "requests": {"cpu": p.cpu_request, "memory": p.memory_request},
        "limits": {"cpu": p.cpu_limit, "memory": p.memory_limit},
    }


def render(plan: Plan, s: DeploySettings) -> Doc:
    return {
        "version": "1.0",
        "provider": {"name": "openfaas", "gateway": env_default("OPENFAAS_URL", s.openfaas_gateway)},
        "configuration": {"copy": list(COPY)},
        "functions": {f.name: function(s, f) for f in plan.functions},
    }
