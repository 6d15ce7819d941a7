"""What the deployment manifests need beyond the registry and the catalog: names,
sizes and defaults that are the same for every function. A new function needs no
change here; a function that needs other numbers gets a profile override."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from kopru.config import REPO_ROOT

TIMEZONE = "Europe/Istanbul"
IMAGE_REPOSITORY = "registry.example.com/kopru"


@dataclass(frozen=True)
class FunctionProfile:
    """Scaling and resources of one function. Knative: min-scale 0 (scale to zero),
    max-scale, a soft target concurrency per pod and a hard containerConcurrency.
    OpenFaaS: com.openfaas.scale.min 1 + com.openfaas.scale.zero (Pro), max, target."""

    max_scale: int = 10
    target: int = 40  # soft concurrency target per pod (autoscaler)
    container_concurrency: int = 50  # hard limit of in-flight requests per pod
    timeout_seconds: int | None = None  # None: the catalog's delivery timeout
    cpu_request: str = "100m"
    memory_request: str = "192Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"
    scale_zero_after: str = "15m"  # OpenFaaS Pro idler


# Per-function overrides; every other function gets FunctionProfile().
PROFILES: dict[str, FunctionProfile] = {
    # every API call starts with a token: let it scale further
    "token": FunctionProfile(max_scale=20),
}

# The Secrets the workloads read, with placeholders only (the rendered Secret
# template shows the shape; real values never enter the repository).
SECRETS: dict[str, dict[str, str]] = {
    # every function
    "kopru-secrets": {
        "DATABASE_URL": "postgresql://kopru_app:<password>@<host>:5432/kopru",
        "REDIS_URL": "rediss://:<password>@<host>:6379/0",
        "KOPRU_MASTER_KEY": "<base64 of 32 random bytes: head -c 32 /dev/urandom | base64>",
    },
    # the outbox relay (kopru_relay role: reads and marks the outbox, nothing else)
    "kopru-relay": {
        "RELAY_DATABASE_URL": "postgresql://kopru_relay:<password>@<host>:5432/kopru",
    },
    # operator jobs: migrations and key rotation, as the table owner
    "kopru-admin": {
        "DATABASE_OWNER_URL": "postgresql://kopru_owner:<password>@<host>:5432/kopru",
    },
}


def project_version(root: Path = REPO_ROOT) -> str:
    import tomllib

    with open(root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


@dataclass(frozen=True)
class DeploySettings:
    version: str
    image: str
    namespace: str = "kopru"
    # Strimzi: the Kafka cluster `kopru` in namespace `kafka`
    kafka_cluster: str = "kopru"
    kafka_namespace: str = "kafka"
    topic_replicas: int = 3
    min_insync_replicas: int = 2
    relay_replicas: int = 2  # the relay's advisory lock lets one publish at a time
    openfaas_gateway: str = "http://127.0.0.1:8080"
    config_map: str = "kopru-config"
    issuer: str = "https://auth.kopru.example"
    audience: str = "kopru"
    log_level: str = "INFO"
    key_rotation_cron: str = "0 4 1 * *"  # monthly, 04:00 Istanbul time
    # who may open a connection to an event-only function's pods (NetworkPolicy): the
    # eventing data plane (KafkaSource dispatcher, PingSource adapter, brokers), and
    # Knative Serving's data path to a pod (the activator; the cluster-local gateway
    # of the networking layer, Kourier here)
    eventing_namespaces: tuple[str, ...] = ("knative-eventing",)
    serving_namespaces: tuple[str, ...] = ("knative-serving", "kourier-system")
    profiles: dict[str, FunctionProfile] = field(default_factory=lambda: dict(PROFILES))
    # Functions fed through a Kafka Broker and a Trigger each instead of a KafkaSource of their
    # own: the ones whose events are what tenants subscribe to (their webhooks, their workflows'
    # triggers). They read the widest set of topics; the Trigger's CloudEvents filter (the
    # Subscriptions API dialect the tenants' own filters use, kopru.events.filters) keeps every
    # other type away from them, so a function scaled to zero is not woken for an event it drops.
    brokered: tuple[str, ...] = ("webhooks", "workflows")
    broker: str = "kopru-tenant-events"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_cluster}-kafka-bootstrap.{self.kafka_namespace}.svc:9092"

    def profile(self, function: str) -> FunctionProfile:
        return self.profiles.get(function, FunctionProfile())

    def config(self) -> dict[str, str]:
        """The non-secret environment every workload gets (the ConfigMap; on OpenFaaS
        each function's `environment`)."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "KOPRU_AUDIENCE": self.audience,
            "KOPRU_DATA_DIR": "/tmp/kopru",
            "KOPRU_ENV": "prod",
            "KOPRU_ISSUER": self.issuer,
            "KOPRU_LOG_LEVEL": self.log_level,
            # the OIDC audience Knative sources ask for (kopru.events.ingress)
            "KOPRU_NAMESPACE": self.namespace,
        }


def default_settings(image: str | None = None, root: Path = REPO_ROOT) -> DeploySettings:
    version = project_version(root)
    s = DeploySettings(version=version, image=f"{IMAGE_REPOSITORY}:{version}")
    return replace(s, image=image) if image else s
