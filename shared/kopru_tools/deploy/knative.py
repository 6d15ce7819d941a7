"""`kopru deploy render knative`: the Kubernetes objects for Knative Serving and
Eventing (with eventing-kafka-broker's KafkaSource/KafkaSink) and Strimzi.

infra/knative/
  base/namespace.yaml          Namespace
  base/config.yaml             ConfigMap (non-secret environment)
  secrets/secrets.template.yaml  Secret templates, placeholders only (not applied as is)
  kafka/topics.yaml            Strimzi KafkaTopic per catalog topic and per dead-letter topic
  jobs/migrate.yaml            Job: kopru db migrate (owner role)
  jobs/keys-rotate.yaml        CronJob: kopru keys rotate (monthly)
  relay/outbox-relay.yaml      Deployment: kopru relay
  eventing/broker.yaml         the Kafka Broker for the brokered functions (webhooks,
                               workflows), its ConfigMap and the KafkaSource feeding it
  functions/<name>.yaml        Service; for a consumer its KafkaSink (dead letters) and
                               KafkaSource, or for a brokered one its Trigger; for a
                               scheduled function its PingSource; for an event-only
                               function a NetworkPolicy

Event ingress (kopru.events.ingress): the sources set `sink.audience` to the
Service's OIDC audience in Knative's format, so with Knative's
`authentication-oidc` feature they send a token the function verifies. An
event-only function is cluster-local and its pods take connections only from the
eventing and serving data planes and Köprü's namespace: a second wall, not the
only one (the sender token is checked either way).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from kopru_tools.deploy.plan import FunctionPlan, Plan
from kopru_tools.deploy.settings import TIMEZONE, DeploySettings, SECRETS
from kopru_tools.deploy.yamlout import sorted_map
from kopru.events.catalog import Catalog

Doc = dict[str, Any]

KNATIVE_SERVICE = "serving.knative.dev/v1"
KAFKA_SOURCE = "sources.knative.dev/v1"
PING_SOURCE = "sources.knative.dev/v1"
KAFKA_SINK = "eventing.knative.dev/v1alpha1"
EVENTING = "eventing.knative.dev/v1"  # Broker, Trigger
KAFKA_TOPIC = "kafka.strimzi.io/v1"
UID = 10001  # the image's non-root user (infra/docker/Dockerfile)


def labels(s: DeploySettings, name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "kopru-deploy",
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "kopru",
        "app.kubernetes.io/version": s.version,
    }


def meta(s: DeploySettings, name: str, component: str, namespace: str | None = None, **extra: Any) -> Doc:
    m: Doc = {"name": name, "namespace": namespace or s.namespace, "labels": labels(s, name, component)}
    m.update(extra)
    return m


def resource_name(topic: str) -> str:
    """A Kafka topic name as a Kubernetes object name (a DNS-1123 subdomain)."""
    return re.sub(r"[^a-z0-9.-]+", "-", topic.lower()).strip("-.")


def container_security() -> Doc:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def env_from(s: DeploySettings, *secrets: str) -> list[Doc]:
    return [{"configMapRef": {"name": s.config_map}}] + [{"secretRef": {"name": n}} for n in secrets]


def timeout_seconds(s: DeploySettings, catalog: Catalog, fn: str) -> int:
    t = s.profile(fn).timeout_seconds
    return t if t is not None else max(1, math.ceil(catalog.delivery.timeout))


def iso_duration(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


# -- per function --------------------------------------------------------------

def service(s: DeploySettings, catalog: Catalog, f: FunctionPlan) -> Doc:
    p = s.profile(f.name)
    m = meta(s, f.name, "function")
    if not f.http:
        # events only: reachable inside the cluster (by its sources), not from outside
        m["labels"]["networking.knative.dev/visibility"] = "cluster-local"
    probe = {"httpGet": {"path": "/healthz"}}
    return {
        "apiVersion": KNATIVE_SERVICE,
        "kind": "Service",
        "metadata": m,
        "spec": {"template": {
            "metadata": {
                "labels": labels(s, f.name, "function"),
                "annotations": {
                    "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
                    "autoscaling.knative.dev/metric": "concurrency",
                    "autoscaling.knative.dev/min-scale": "0",
                    "autoscaling.knative.dev/max-scale": str(p.max_scale),
                    "autoscaling.knative.dev/target": str(p.target),
                },
            },
            "spec": {
                "containerConcurrency": p.container_concurrency,
                "timeoutSeconds": timeout_seconds(s, catalog, f.name),
                "enableServiceLinks": False,
                "containers": [{
                    "name": "function",
                    "image": s.image,
                    "ports": [{"name": "http1", "containerPort": 8080}],
                    "env": [
                        {"name": "FUNCTION_TARGET", "value": "handle"},
                        {"name": "FUNCTION_SOURCE", "value": f.source},
                    ],
                    "envFrom": env_from(s, "kopru-secrets"),
                    "readinessProbe": dict(probe, periodSeconds=5, failureThreshold=3),
                    "livenessProbe": dict(probe, periodSeconds=10, failureThreshold=3, timeoutSeconds=2),
                    "resources": {
                        "requests": {"cpu": p.cpu_request, "memory": p.memory_request},
                        "limits": {"cpu": p.cpu_limit, "memory": p.memory_limit},
                    },
                    # gunicorn keeps its worker heartbeat files in /tmp: the root
                    # filesystem stays writable, the user is not root
                    "securityContext": container_security(),
                }],
            },
        }},
    }


def oidc_audience(s: DeploySettings, f: FunctionPlan) -> str:
    """Knative's audience format, `<group>/<kind>/<namespace>/<name>` lower-cased
    (knative/eventing pkg/auth GetAudience), for the function's Service: what
    kopru.events.ingress expects by default (KOPRU_EVENT_AUDIENCE)."""
    return f"serving.knative.dev/service/{s.namespace}/{f.name}".lower()


def service_ref(s: DeploySettings, f: FunctionPlan) -> Doc:
    # a Knative Service announces no audience of its own: the source is told it
    return {"ref": {"apiVersion": KNATIVE_SERVICE, "kind": "Service", "name": f.name},
            "audience": oidc_audience(s, f)}


def network_policy(s: DeploySettings, f: FunctionPlan) -> Doc:
    """Only the eventing and serving data planes and Köprü's own namespace may open a
    connection to an event-only function's pods."""
    allowed = sorted({*s.eventing_namespaces, *s.serving_namespaces, s.namespace})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(s, f"{f.name}-ingress", "network-policy"),
        "spec": {
            "podSelector": {"matchLabels": {"serving.knative.dev/service": f.name}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                                  for ns in allowed]}],
        },
    }


def dead_letter_sink(s: DeploySettings, f: FunctionPlan) -> Doc:
    assert f.dead_letter_topic
    return {
        "apiVersion": KAFKA_SINK,
        "kind": "KafkaSink",
        "metadata": meta(s, f"{f.name}-deadletter", "dead-letter"),
        "spec": {
            "topic": f.dead_letter_topic,
            "bootstrapServers": [s.kafka_bootstrap],
            "contentMode": "binary",
        },
    }


def kafka_source(s: DeploySettings, catalog: Catalog, f: FunctionPlan) -> Doc:
    m = meta(s, f"{f.name}-events", "event-source")
    m["annotations"] = {"kopru.dev/event-types": ",".join(f.types)}
    return {
        "apiVersion": KAFKA_SOURCE,
        "kind": "KafkaSource",
        "metadata": m,
        "spec": {
            "bootstrapServers": [s.kafka_bootstrap],
            "topics": list(f.topics),
            "consumerGroup": f.consumer_group,
            "initialOffset": "earliest",
            # one partition's records one at a time (per-tenant order)
            "ordering": "ordered",
            "delivery": delivery_spec(catalog, f.name),
            "sink": service_ref(s, f),
        },
    }


def delivery_spec(catalog: Catalog, name: str) -> Doc:
    """Retries and the dead-letter KafkaSink `<name>-deadletter` (a function's, or the Broker feed's)."""
    d = catalog.delivery
    return {
        "retry": d.retry,
        "backoffPolicy": d.backoff_policy,
        "backoffDelay": iso_duration(d.backoff_delay),
        "timeout": iso_duration(d.timeout),
        "deadLetterSink": {"ref": {"apiVersion": KAFKA_SINK, "kind": "KafkaSink", "name": f"{name}-deadletter"}},
    }


def trigger(s: DeploySettings, catalog: Catalog, f: FunctionPlan) -> Doc:
    """A brokered function's Trigger: the types it consumes as a CloudEvents Subscriptions
    API filter (`any` of `exact` on `type`), delivered in order per partition (the Broker
    keys records by the events' `partitionkey`, the tenant), with the same retries and dead
    letters as a KafkaSource."""
    m = meta(s, f.name, "event-trigger")
    m["annotations"] = {"kafka.eventing.knative.dev/delivery.order": "ordered"}
    return {
        "apiVersion": EVENTING,
        "kind": "Trigger",
        "metadata": m,
        "spec": {
            "broker": s.broker,
            "filters": [{"any": [{"exact": {"type": t}} for t in f.types]}],
            "subscriber": service_ref(s, f),
            "delivery": delivery_spec(catalog, f.name),
        },
    }


def broker_docs(s: DeploySettings, catalog: Catalog, plan: Plan) -> list[Doc]:
    """The Kafka Broker the brokered functions' Triggers hang on, its ConfigMap, and the
    KafkaSource that feeds it the catalog topics those functions read (in order: the
    Broker's own topic is keyed by the events' partitionkey)."""
    brokered = [f for f in plan.consumers if f.name in s.brokered]
    if not brokered:
        return []
    topics = sorted({t for f in brokered for t in f.topics})
    parts = max(catalog.topics[t].partitions for t in topics)
    cm = meta(s, f"{s.broker}-config", "broker-config")
    bm = meta(s, s.broker, "broker")
    bm["annotations"] = {"eventing.knative.dev/broker.class": "Kafka"}
    feed = meta(s, f"{s.broker}-feed", "event-source")
    feed["annotations"] = {"kopru.dev/event-types": ",".join(sorted({t for f in brokered for t in f.types}))}
    dead = {"apiVersion": KAFKA_SINK, "kind": "KafkaSink", "metadata": meta(s, f"{s.broker}-deadletter", "dead-letter"),
            "spec": {"topic": catalog.dead_letter_topic(s.broker), "bootstrapServers": [s.kafka_bootstrap],
                     "contentMode": "binary"}}
    return [
        dead,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": cm, "data": {
            "bootstrap.servers": s.kafka_bootstrap,
            "default.topic.partitions": str(parts),
            "default.topic.replication.factor": str(s.topic_replicas),
        }},
        {"apiVersion": EVENTING, "kind": "Broker", "metadata": bm, "spec": {
            "config": {"apiVersion": "v1", "kind": "ConfigMap", "name": f"{s.broker}-config",
                       "namespace": s.namespace},
        }},
        {"apiVersion": KAFKA_SOURCE, "kind": "KafkaSource", "metadata": feed, "spec": {
            "bootstrapServers": [s.kafka_bootstrap],
            "topics": topics,
            "consumerGroup": f"{s.broker}-feed",
            "initialOffset": "earliest",
            "ordering": "ordered",
            # what the Broker will not take after the retries waits in its own dead-letter topic
            "delivery": delivery_spec(catalog, s.broker),
            # a Broker announces its own OIDC audience (it is an Addressable)
            "sink": {"ref": {"apiVersion": EVENTING, "kind": "Broker", "name": s.broker}},
        }},
    ]


def ping_source(s: DeploySettings, f: FunctionPlan) -> Doc:
    sch = f.schedule
    assert sch is not None
    m = meta(s, f"{f.name}-schedule", "schedule")
    m["annotations"] = {"kopru.dev/event-type": sch.type}
    return {
        "apiVersion": PING_SOURCE,
        "kind": "PingSource",
        "metadata": m,
        "spec": {
            "schedule": sch.cron,
            "timezone": sch.timezone,
            "contentType": "application/json",
            "data": json.dumps({"type": sch.type, "schedule": sch.cron, "timezone": sch.timezone},
                               separators=(",", ":")),
            "sink": service_ref(s, f),
        },
    }


# -- shared objects ------------------------------------------------------------

def namespace(s: DeploySettings) -> Doc:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": s.namespace, "labels": labels(s, s.namespace, "namespace")}}


def config_map(s: DeploySettings) -> Doc:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(s, s.config_map, "config"),
            "data": sorted_map(s.config())}


def secret_templates(s: DeploySettings) -> list[Doc]:
    out = []
    for name in sorted(SECRETS):
        m = meta(s, name, "secret")
        m["annotations"] = {"kopru.dev/template": "placeholders only: fill in a copy outside the repository"}
        out.append({"apiVersion": "v1", "kind": "Secret", "metadata": m, "type": "Opaque",
                    "stringData": sorted_map(SECRETS[name])})
    return out


def kafka_topics(s: DeploySettings, catalog: Catalog, plan: Plan) -> list[Doc]:
    from kopru.events.topics import wanted_topics

    wanted = wanted_topics(catalog)
    topics: dict[str, tuple[int, int]] = {t.name: (t.partitions, t.retention_ms) for t in catalog.topics.values()}
    dead = [f.dead_letter_topic for f in plan.consumers if f.dead_letter_topic]
    if any(f.name in s.brokered for f in plan.consumers):
        dead.append(catalog.dead_letter_topic(s.broker))  # the Broker feed's
    for name in dead:
        topics[name] = wanted.get(name, (1, 30 * 24 * 3600 * 1000))
    out = []
    for name in sorted(topics):
        partitions, retention = topics[name]
        m = meta(s, resource_name(name), "kafka-topic", namespace=s.kafka_namespace)
        m["labels"]["strimzi.io/cluster"] = s.kafka_cluster
        m["labels"] = sorted_map(m["labels"])
        out.append({
            "apiVersion": KAFKA_TOPIC,
            "kind": "KafkaTopic",
            "metadata": m,
            "spec": {
                "topicName": name,
                "partitions": partitions,
                "replicas": s.topic_replicas,
                "config": {
                    "cleanup.policy": "delete",
                    "min.insync.replicas": s.min_insync_replicas,
                    "retention.ms": retention,
                },
            },
        })
    return out


def pod_spec(s: DeploySettings, name: str, args: list[str], secrets: tuple[str, ...], restart: str,
             cpu: str = "50m", memory: str = "128Mi") -> Doc:
    return {
        "restartPolicy": restart,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": name,
            "image": s.image,
            "args": args,  # the image's ENTRYPOINT runs them
            "envFrom": env_from(s, *secrets),
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": "256Mi"}},
            "securityContext": dict(container_security(), readOnlyRootFilesystem=True),
        }],
    }


HEALTH_PORT = 8081  # `kopru relay` / `kopru dispatch`: GET /readyz and /healthz


def with_health_probes(spec: Doc) -> Doc:
    """The container serves its supervised loops' readiness (`--health-port`): bound on
    the pod's address so the kubelet reaches it; /readyz turns 503 while a loop (the
    relay's database or broker connection) is down, /healthz is liveness."""
    c = spec["containers"][0]
    c["env"] = [{"name": "KOPRU_HEALTH_HOST", "value": "0.0.0.0"},
                {"name": "KOPRU_HEALTH_PORT", "value": str(HEALTH_PORT)}]
    c["ports"] = [{"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}]
    c["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "health"}, "periodSeconds": 5,
                           "timeoutSeconds": 2, "failureThreshold": 2}
    c["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": "health"}, "periodSeconds": 10,
                          "timeoutSeconds": 2, "failureThreshold": 3}
    return spec


def relay(s: DeploySettings) -> Doc:
    name = "outbox-relay"
    lab = labels(s, name, "relay")
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "kopru"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(s, name, "relay"),
        "spec": {
            "replicas": s.relay_replicas,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": lab},
                "spec": dict(with_health_probes(pod_spec(s, "relay", ["kopru", "relay"], ("kopru-relay",), "Always")),
                             terminationGracePeriodSeconds=30),
            },
        },
    }


def migrate_job(s: DeploySettings) -> Doc:
    name = "db-migrate"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(s, name, "migrations"),
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 900,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels(s, name, "migrations")},
                "spec": pod_spec(s, "migrate", ["kopru", "db", "migrate"], ("kopru-secrets", "kopru-admin"), "Never"),
            },
        },
    }


def keys_rotate_cronjob(s: DeploySettings) -> Doc:
    name = "keys-rotate"
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta(s, name, "key-rotation"),
        "spec": {
            "schedule": s.key_rotation_cron,
            "timeZone": TIMEZONE,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": 600,
                "template": {
                    "metadata": {"labels": labels(s, name, "key-rotation")},
                    "spec": pod_spec(s, "rotate", ["kopru", "keys", "rotate"], ("kopru-secrets", "kopru-admin"),
                                     "Never"),
                },
            }},
        },
    }


def render(plan: Plan, catalog: Catalog, s: DeploySettings) -> dict[str, list[Doc]]:
    """relative path (under infra/knative/) -> its documents."""
    files: dict[str, list[Doc]] = {
        "base/namespace.yaml": [namespace(s)],
        "base/config.yaml": [config_map(s)],
        "secrets/secrets.template.yaml": secret_templates(s),
        "kafka/topics.yaml": kafka_topics(s, catalog, plan),
        "jobs/migrate.yaml": [migrate_job(s)],
        "jobs/keys-rotate.yaml": [keys_rotate_cronjob(s)],
        "relay/outbox-relay.yaml": [relay(s)],
    }
    if broker_docs(s, catalog, plan):
        files["eventing/broker.yaml"] = broker_docs(s, catalog, plan)
    for f in plan.functions:
        docs = [service(s, catalog, f)]
        if f.topics:
            docs += [dead_letter_sink(s, f),
                     trigger(s, catalog, f) if f.name in s.brokered else kafka_source(s, catalog, f)]
        if f.schedule is not None:
            docs.append(ping_source(s, f))
        if not f.http:
            docs.append(network_policy(s, f))
        files[f"functions/{f.name}.yaml"] = docs
    return files
