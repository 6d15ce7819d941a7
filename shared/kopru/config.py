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


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _networks(raw: str) -> tuple:
    import ipaddress

    return tuple(ipaddress.ip_network(x.strip(), strict=False) for x in raw.replace(",", " ").split() if x.strip())


def _str(name: str) -> str | None:
    return os.environ.get(name) or None


def _otlp_traces_endpoint() -> str | None:
    """Where spans go (OpenTelemetry's exporter specification): the signal's own variable is
    the URL as given; the generic one is a base URL that gets /v1/traces appended."""
    own = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or "").strip()
    if own:
        return own
    base = (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    return base.rstrip("/") + "/v1/traces" if base else None


@dataclass(frozen=True)
class Settings:
    """Every setting Köprü reads from the environment (this module is the only reader;
    tests/shared/test_layers.py checks it). Each field names its variable."""

    data_dir: Path  # KOPRU_DATA_DIR
    database_url: str | None  # DATABASE_URL: the application role (never the table owner)
    database_owner_url: str | None  # DATABASE_OWNER_URL: the owner role, for migrations only
    redis_url: str | None  # REDIS_URL
    otel_tracer_provider: str | None  # OTEL_PYTHON_TRACER_PROVIDER (an SDK named by entry point)
    kafka_bootstrap_servers: str | None  # KAFKA_BOOTSTRAP_SERVERS
    master_key: str | None  # KOPRU_MASTER_KEY: base64 32 bytes; wraps signing keys and secrets at rest
    issuer: str  # KOPRU_ISSUER
    audience: str  # KOPRU_AUDIENCE
    max_body_bytes: int  # KOPRU_MAX_BODY_BYTES
    access_token_ttl: int  # KOPRU_ACCESS_TOKEN_TTL
    log_level: str  # KOPRU_LOG_LEVEL
    env: str  # KOPRU_ENV: "dev", "test" or "prod"
    client_cache_ttl: float  # KOPRU_CLIENT_CACHE_TTL
    # the outbox relay's role (RELAY_DATABASE_URL; required with DATABASE_URL)
    relay_database_url: str | None = None
    # the public address of the gateway: signed export links, Netgsm's report push URL
    public_url: str = "http://127.0.0.1:8080"  # KOPRU_PUBLIC_URL
    # KVKK exports: "" (a folder in the data dir), a folder, or s3://bucket/prefix
    export_store: str = ""  # KOPRU_EXPORT_STORE
    export_link_ttl: int = 7 * 24 * 3600  # KOPRU_EXPORT_LINK_TTL, seconds
    # the signed link to an invoice's HTML view (kopru.einvoice.view.view_link; the SMS after a payment)
    invoice_link_ttl: int = 7 * 24 * 3600  # KOPRU_INVOICE_LINK_TTL_SECONDS
    kms_key_id: str | None = None  # KOPRU_KMS_KEY_ID: AWS KMS key wrapping subject keys
    # how long backups and WAL archives of the database are kept (the erasure report's bound on copies)
    backup_retention_days: int = 30  # KOPRU_BACKUP_RETENTION_DAYS
    # subject keys' key-encryption-key epochs (kopru.kvkk.epochs): "" (a folder in the data dir), a folder,
    # or kms:<alias prefix> (one AWS KMS HMAC key per epoch)
    key_store: str = ""  # KOPRU_KEY_STORE
    key_epoch_days: int = 7  # KOPRU_KEY_EPOCH_DAYS: a new epoch this often; old ones die after the backup retention
    # the audit chains' anchors (kopru.kvkk.anchor): "" (a file in the data dir), a file, or s3://bucket/prefix
    audit_anchor_store: str = ""  # KOPRU_AUDIT_ANCHOR_STORE
    audit_anchor_retention_days: int = 3650  # KOPRU_AUDIT_ANCHOR_RETENTION_DAYS: S3 Object Lock retention
    audit_anchor_lock_mode: str = "COMPLIANCE"  # KOPRU_AUDIT_ANCHOR_LOCK_MODE: COMPLIANCE or GOVERNANCE
    purge_batch: int = 1000  # KOPRU_PURGE_BATCH: rows per purge statement, at the start
    purge_batch_ms: float = 40.0  # KOPRU_PURGE_BATCH_MS: the batch duration the purge aims at
    purge_budget_s: float = 240.0  # KOPRU_PURGE_BUDGET_S: a scheduled run stops starting batches after this
    # outside services (None: the provider's production URL)
    netgsm_base_url: str | None = None  # NETGSM_BASE_URL
    nilvera_base_url: str | None = None  # NILVERA_BASE_URL
    iyzico_base_url: str | None = None  # IYZICO_BASE_URL
    credit_partner_base_url: str | None = None  # CREDIT_PARTNER_BASE_URL: the KKB-member partner (kopru.credit)
    bulutfon_base_url: str | None = None  # BULUTFON_BASE_URL
    # a click-to-call whose answer was lost: no trace among the CDRs this long after the
    # attempt and it is parked `unknown` for an operator (never placed twice)
    bulutfon_absent_after_seconds: float = 900.0  # KOPRU_BULUTFON_ABSENT_AFTER_SECONDS
    bulutfon_sync_days: int = 7  # KOPRU_BULUTFON_SYNC_DAYS: how far back a tenant's first CDR sync reaches
    arvento_base_url: str | None = None  # ARVENTO_BASE_URL
    # Arvento's rate limit: one request per account at most this often, across all instances
    arvento_min_interval_s: float = 31.0  # KOPRU_ARVENTO_MIN_INTERVAL_S (Arvento's is about 30 s; 1 s of margin)
    arvento_vehicles_every_s: float = 21600.0  # KOPRU_ARVENTO_VEHICLES_EVERY_S: the vehicle list (plates) refreshed this often
    whatsapp_base_url: str | None = None  # WHATSAPP_BASE_URL (Meta's Graph API host, the version is in the path)
    # the CLI and `kopru dev`
    operator_client_id: str | None = None  # KOPRU_OPERATOR_CLIENT_ID
    operator_client_secret: str | None = None  # KOPRU_OPERATOR_CLIENT_SECRET
    sink_template: str = "http://127.0.0.1:8080/function/{name}/"  # KOPRU_SINK_TEMPLATE
    port: int = 8080  # PORT
    health_host: str = "127.0.0.1"  # KOPRU_HEALTH_HOST: `kopru relay|dispatch` readiness endpoint
    health_port: int = 8081  # KOPRU_HEALTH_PORT (0: none)
    trusted_proxies: tuple = ()  # KOPRU_TRUSTED_PROXIES: CIDRs whose X-Forwarded-For is believed (none by default)
    metrics: bool = False  # KOPRU_METRICS: record metrics (an OpenTelemetry SDK + exporter is configured)
    # traces to a collector over OTLP/HTTP (kopru.tracing.configure), the standard OpenTelemetry variables:
    # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces"; None: no SDK
    otlp_traces_endpoint: str | None = None
    # the simulators' dev accounts (`kopru dev`)
    netgsm_sim_usercode: str = "kopru-dev"  # NETGSM_SIM_USERCODE
    netgsm_sim_password: str = "kopru-dev"  # NETGSM_SIM_PASSWORD
    netgsm_sim_msgheaders: str = "KOPRU"  # NETGSM_SIM_MSGHEADERS, comma-separated
    nilvera_sim_api_key: str = "kopru-dev-nilvera"  # NILVERA_SIM_API_KEY
    nilvera_sim_vkn: str = "1234567890"  # NILVERA_SIM_VKN
    nilvera_sim_taxpayers: str = ""  # NILVERA_SIM_TAXPAYERS, ";"-separated
    netgsm_sim_deliver_after: float = 5.0  # NETGSM_SIM_DELIVER_AFTER: seconds until a dev message is delivered
    nilvera_sim_answer: str = "KABUL"  # NILVERA_SIM_ANSWER: the dev buyer's answer to a TICARIFATURA ("" waits)
    iyzico_sim_pay_after: float = 5.0  # IYZICO_SIM_PAY_AFTER: seconds until the dev buyer pays a started payment
    arvento_sim_username: str = "kopru-dev"  # ARVENTO_SIM_USERNAME
    arvento_sim_password: str = "kopru-dev-arvento"  # ARVENTO_SIM_PASSWORD
    arvento_sim_window_s: float = 30.0  # ARVENTO_SIM_WINDOW_S: the simulator's rate limit per account
    whatsapp_sim_deliver_after: float = 3.0  # WHATSAPP_SIM_DELIVER_AFTER: seconds until a dev message is delivered, then read
    outward_lease_seconds: float = 60.0  # a claim on an outward call (kopru.work): longer than any provider time-out
    payment_settle_after_seconds: float = 600.0  # KOPRU_PAYMENT_SETTLE_AFTER_SECONDS: a pending payment the schedule asks iyzico about
    # outbound webhooks (kopru.webhooks): private, loopback, link-local and metadata addresses are refused
    # unless this is set (kopru dev sets it for its own loopback receivers)
    webhooks_allow_private: bool = False  # KOPRU_WEBHOOKS_ALLOW_PRIVATE
    webhook_timeout_seconds: float = 15.0  # KOPRU_WEBHOOK_TIMEOUT_SECONDS: one delivery attempt
    webhook_tick_budget_seconds: float = 50.0  # KOPRU_WEBHOOK_TICK_BUDGET_SECONDS: a retry tick waits for due deliveries this long
    credit_absent_after_seconds: float = 60.0  # KOPRU_CREDIT_ABSENT_AFTER_SECONDS: nothing under our reference at the partner this long after an ambiguous request: never taken
    netgsm_absent_after_seconds: float = 120.0  # no trace in Netgsm's report this long after an ambiguous send: never taken
    # an ambiguous WhatsApp send with no status webhook naming it this long after: parked `unknown` for an operator
    whatsapp_unproven_after_seconds: float = 900.0  # KOPRU_WHATSAPP_UNPROVEN_AFTER_SECONDS
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
        database_url=_str("DATABASE_URL"),
        database_owner_url=_str("DATABASE_OWNER_URL"),
        redis_url=_str("REDIS_URL"),
        otel_tracer_provider=_str("OTEL_PYTHON_TRACER_PROVIDER"),
        kafka_bootstrap_servers=_str("KAFKA_BOOTSTRAP_SERVERS"),
        master_key=_str("KOPRU_MASTER_KEY"),
        issuer=os.environ.get("KOPRU_ISSUER", "https://auth.kopru.local"),
        audience=os.environ.get("KOPRU_AUDIENCE", "kopru"),
        max_body_bytes=_int("KOPRU_MAX_BODY_BYTES", 1024 * 1024),
        access_token_ttl=_int("KOPRU_ACCESS_TOKEN_TTL", 900),
        log_level=os.environ.get("KOPRU_LOG_LEVEL", "INFO"),
        env=os.environ.get("KOPRU_ENV", "dev"),
        client_cache_ttl=_float("KOPRU_CLIENT_CACHE_TTL", 5.0),
        relay_database_url=_str("RELAY_DATABASE_URL"),
        public_url=os.environ.get("KOPRU_PUBLIC_URL", "http://127.0.0.1:8080"),
        export_store=os.environ.get("KOPRU_EXPORT_STORE", "").strip(),
        export_link_ttl=_int("KOPRU_EXPORT_LINK_TTL", 7 * 24 * 3600),
        invoice_link_ttl=_int("KOPRU_INVOICE_LINK_TTL_SECONDS", 7 * 24 * 3600),
        kms_key_id=_str("KOPRU_KMS_KEY_ID"),
        backup_retention_days=_int("KOPRU_BACKUP_RETENTION_DAYS", 30),
        key_store=os.environ.get("KOPRU_KEY_STORE", "").strip(),
        key_epoch_days=max(1, _int("KOPRU_KEY_EPOCH_DAYS", 7)),
        audit_anchor_store=os.environ.get("KOPRU_AUDIT_ANCHOR_STORE", "").strip(),
        audit_anchor_retention_days=_int("KOPRU_AUDIT_ANCHOR_RETENTION_DAYS", 3650),
        audit_anchor_lock_mode=(os.environ.get("KOPRU_AUDIT_ANCHOR_LOCK_MODE") or "COMPLIANCE").strip().upper(),
        purge_batch=_int("KOPRU_PURGE_BATCH", 1000),
        purge_batch_ms=_float("KOPRU_PURGE_BATCH_MS", 40.0),
        purge_budget_s=_float("KOPRU_PURGE_BUDGET_S", 240.0),
        netgsm_base_url=_str("NETGSM_BASE_URL"),
        nilvera_base_url=_str("NILVERA_BASE_URL"),
        iyzico_base_url=_str("IYZICO_BASE_URL"),
        credit_partner_base_url=_str("CREDIT_PARTNER_BASE_URL"),
        bulutfon_base_url=_str("BULUTFON_BASE_URL"),
        bulutfon_absent_after_seconds=_float("KOPRU_BULUTFON_ABSENT_AFTER_SECONDS", 900.0),
        bulutfon_sync_days=_int("KOPRU_BULUTFON_SYNC_DAYS", 7),
        arvento_base_url=_str("ARVENTO_BASE_URL"),
        arvento_min_interval_s=_float("KOPRU_ARVENTO_MIN_INTERVAL_S", 31.0),
        arvento_vehicles_every_s=_float("KOPRU_ARVENTO_VEHICLES_EVERY_S", 21600.0),
        whatsapp_base_url=_str("WHATSAPP_BASE_URL"),
        operator_client_id=_str("KOPRU_OPERATOR_CLIENT_ID"),
        operator_client_secret=_str("KOPRU_OPERATOR_CLIENT_SECRET"),
        sink_template=os.environ.get("KOPRU_SINK_TEMPLATE", "http://127.0.0.1:8080/function/{name}/"),
        port=_int("PORT", 8080),
        health_host=os.environ.get("KOPRU_HEALTH_HOST", "127.0.0.1"),
        health_port=_int("KOPRU_HEALTH_PORT", 8081),
        trusted_proxies=_networks(os.environ.get("KOPRU_TRUSTED_PROXIES", "")),
        metrics=os.environ.get("KOPRU_METRICS", "").strip().lower() in ("1", "true", "yes", "on"),
        otlp_traces_endpoint=_otlp_traces_endpoint(),
        netgsm_sim_usercode=os.environ.get("NETGSM_SIM_USERCODE", "kopru-dev"),
        netgsm_sim_password=os.environ.get("NETGSM_SIM_PASSWORD", "kopru-dev"),
        netgsm_sim_msgheaders=os.environ.get("NETGSM_SIM_MSGHEADERS", "KOPRU"),
        nilvera_sim_api_key=os.environ.get("NILVERA_SIM_API_KEY", "kopru-dev-nilvera"),
        nilvera_sim_vkn=os.environ.get("NILVERA_SIM_VKN", "1234567890"),
        nilvera_sim_taxpayers=os.environ.get("NILVERA_SIM_TAXPAYERS") or "",
        netgsm_sim_deliver_after=_float("NETGSM_SIM_DELIVER_AFTER", 5.0),
        nilvera_sim_answer=os.environ.get("NILVERA_SIM_ANSWER", "KABUL").strip().upper(),
        iyzico_sim_pay_after=_float("IYZICO_SIM_PAY_AFTER", 5.0),
        arvento_sim_username=os.environ.get("ARVENTO_SIM_USERNAME", "kopru-dev"),
        arvento_sim_password=os.environ.get("ARVENTO_SIM_PASSWORD", "kopru-dev-arvento"),
        arvento_sim_window_s=_float("ARVENTO_SIM_WINDOW_S", 30.0),
        whatsapp_sim_deliver_after=_float("WHATSAPP_SIM_DELIVER_AFTER", 3.0),
        outward_lease_seconds=float(os.environ.get("KOPRU_OUTWARD_LEASE_SECONDS", "60")),
        webhooks_allow_private=os.environ.get("KOPRU_WEBHOOKS_ALLOW_PRIVATE", "").strip().lower() in ("1", "true", "yes", "on"),
        webhook_timeout_seconds=_float("KOPRU_WEBHOOK_TIMEOUT_SECONDS", 15.0),
        webhook_tick_budget_seconds=_float("KOPRU_WEBHOOK_TICK_BUDGET_SECONDS", 50.0),
        credit_absent_after_seconds=float(os.environ.get("KOPRU_CREDIT_ABSENT_AFTER_SECONDS", "60")),
        netgsm_absent_after_seconds=float(os.environ.get("KOPRU_NETGSM_ABSENT_AFTER_SECONDS", "120")),
        whatsapp_unproven_after_seconds=_float("KOPRU_WHATSAPP_UNPROVEN_AFTER_SECONDS", 900.0),
        payment_settle_after_seconds=float(os.environ.get("KOPRU_PAYMENT_SETTLE_AFTER_SECONDS", "600")),
        event_signing_key=os.environ.get("KOPRU_EVENT_SIGNING_KEY") or None,
        event_token_ttl=_int("KOPRU_EVENT_TOKEN_TTL", 300),
        oidc_issuers=tuple(u.strip() for u in os.environ.get("KOPRU_OIDC_ISSUERS", "").replace(",", " ").split()
                           if u.strip()),
        event_audience=os.environ.get("KOPRU_EVENT_AUDIENCE") or "serving.knative.dev/service/{namespace}/{function}",
        namespace=os.environ.get("KOPRU_NAMESPACE") or "kopru",
        oidc_ca_bundle=os.environ.get("KOPRU_OIDC_CA_BUNDLE") or None,
    )


def environment_value(name: str) -> str | None:
    """One variable named at run time (the CLI's `--password-env NAME`): the only read of
    the environment by a name that is not a field above."""
    return os.environ.get(name)


def reset_settings() -> None:
    """Forget the cached settings (tests that change the environment)."""
    settings.cache_clear()
