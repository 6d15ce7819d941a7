"""Settings read from the environment, once, on first use (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# shared/kopru/config.py -> repository root
REPO_ROOT = Path(__file__).resolve().parents[2]


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None  # the application role (never the table owner)
    database_owner_url: str | None  # the owner role, for migrations only
    redis_url: str | None
    kafka_bootstrap_servers: str | None
    master_key: str | None  # base64 32 bytes; wraps signing keys and secrets at rest
    issuer: str
    audience: str
    max_body_bytes: int
    access_token_ttl: int
    log_level: str
    env: str
    client_cache_ttl: float  # "dev", "test" or "prod"
    outward_lease_seconds: float = 60.0  # a claim on an outward call (kopru.work): longer than any provider time-out
    netgsm_absent_after_seconds: float = 120.0  # no trace in Netgsm's report this long after an ambiguous send: never taken
    # event ingress (kopru.events.ingress)
    event_signing_key: str | None = None  # base64, >= 32 bytes; default: derived from the master key
    event_token_ttl: int = 300  # seconds a platform sender token lives
    oidc_issuers: tuple[str, ...] = ()  # Knative Eventing OIDC: trusted issuers (the cluster's SA token issuer)
    event_audience: str = "serving.knative.dev/service/{namespace}/{function}"  # Knative's audience format
    namespace: str = "kopru"  # the Kubernetes namespace the functions run in
    oidc_ca_bundle: str | None = None  # CA file for the issuers' discovery and JWKS (e.g. the cluster CA)

    @property
    def embedded(self) -> bool:
        return self.database_url is None


@lru_cache(maxsize=1)
def settings() -> Settings:
    data_dir = Path(os.environ.get("KOPRU_DATA_DIR") or (Path.cwd() / ".kopru")).resolve()
    return Settings(
        data_dir=data_dir,
        database_url=os.environ.get("DATABASE_URL") or None,
        database_owner_url=os.environ.get("DATABASE_OWNER_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        master_key=os.environ.get("KOPRU_MASTER_KEY") or None,
        issuer=os.environ.get("KOPRU_ISSUER", "https://auth.kopru.local"),
        audience=os.environ.get("KOPRU_AUDIENCE", "kopru"),
        max_body_bytes=_int("KOPRU_MAX_BODY_BYTES", 1024 * 1024),
        access_token_ttl=_int("KOPRU_ACCESS_TOKEN_TTL", 900),
        log_level=os.environ.get("KOPRU_LOG_LEVEL", "INFO"),
        env=os.environ.get("KOPRU_ENV", "dev"),
        client_cache_ttl=float(os.environ.get("KOPRU_CLIENT_CACHE_TTL", "5")),
        outward_lease_seconds=float(os.environ.get("KOPRU_OUTWARD_LEASE_SECONDS", "60")),
        netgsm_absent_after_seconds=float(os.environ.get("KOPRU_NETGSM_ABSENT_AFTER_SECONDS", "120")),
        event_signing_key=os.environ.get("KOPRU_EVENT_SIGNING_KEY") or None,
        event_token_ttl=_int("KOPRU_EVENT_TOKEN_TTL", 300),
        oidc_issuers=tuple(u.strip() for u in os.environ.get("KOPRU_OIDC_ISSUERS", "").replace(",", " ").split()
                           if u.strip()),
        event_audience=os.environ.get("KOPRU_EVENT_AUDIENCE") or "serving.knative.dev/service/{namespace}/{function}",
        namespace=os.environ.get("KOPRU_NAMESPACE") or "kopru",
        oidc_ca_bundle=os.environ.get("KOPRU_OIDC_CA_BUNDLE") or None,
    )


def reset_settings() -> None:
    """Forget the cached settings (tests that change the environment)."""
    settings.cache_clear()
