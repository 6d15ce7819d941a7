"""Meta's webhooks for the WhatsApp Business Account (`object: whatsapp_business_account`,
field `messages`): the signature and the payload.

- Verification request (when the callback URL is set): `GET ?hub.mode=subscribe&
  hub.verify_token=<ours>&hub.challenge=<n>`; answered 200 with the challenge only when the
  verify token is ours.
- Event notification: `POST` with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
  raw body under the app secret>`; the body is
  `{"object": "whatsapp_business_account", "entry": [{"id": <WABA id>, "changes": [{"field": "messages",
   "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number", "phone_number_id"},
             "contacts": [{"profile": {"name"}, "wa_id"}], "messages": [{"from", "id", "timestamp", "type", ...}],
             "statuses": [{"id", "status", "timestamp", "recipient_id", "biz_opaque_callback_data"?,
                           "conversation"?, "pricing"?, "errors"?: [{"code", "title", ...}]}]}}]}]}`.
  Meta retries a notification that is not answered 200 (for up to 7 days), may deliver one
  more than once, and does not keep the order of statuses (`read` may come before
  `delivered`, and `delivered` may never come).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

from kopru.connectors.whatsapp.errors import BadSignature

STATUSES = ("sent", "delivered", "read", "failed")
MAX_ITEMS = 1000


def signature(app_secret: str, raw: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends for `raw`."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str, raw: bytes, header: str | None) -> None:
    """Raises BadSignature(missing=True) without a header, BadSignature(missing=False)
    when it does not match the exact bytes received."""
    if not header or not header.strip():
        raise BadSignature(missing=True)
    if not app_secret or not hmac.compare_digest(signature(app_secret, raw), header.strip()):
        raise BadSignature(missing=False)


@dataclass(frozen=True)
class Status:
    wamid: str
    status: str
    timestamp: int | None
    opaque: str | None = None
    error_code: int | None = None
    recipient: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Inbound:
    wamid: str
    sender: str = field(repr=False)  # wa_id digits, as Meta sends `from`
    timestamp: int | None = None
    type: str = "unknown"


@dataclass(frozen=True)
class Change:
    phone_number_id: str | None
    statuses: tuple[Status, ...]
    messages: tuple[Inbound, ...]


class BadPayload(ValueError):
    pass


def _int(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def parse(raw: bytes) -> list[Change]:
    """The `messages` changes of a notification (other fields are skipped). Raises
    BadPayload when it is not a notification at all."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested past the parser's depth: not ours either
        raise BadPayload("not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise BadPayload("no entry")
    out: list[Change] = []
    count = 0
    for entry in data["entry"]:
        for ch in (entry.get("changes") if isinstance(entry, dict) else None) or []:
            if not isinstance(ch, dict) or ch.get("field", "messages") != "messages":
                continue
            value = ch.get("value")
            if not isinstance(value, dict):
                continue
            meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            statuses, messages = [], []
            for s in value.get("statuses") or []:
                if not isinstance(s, dict) or not isinstance(s.get("id"), str) or s.get("status") not in STATUSES:
                    continue
                errs = s.get("errors") if isinstance(s.get("errors"), list) else []
                code = _int(errs[0].get("code")) if errs and isinstance(errs[0], dict) else None
                opaque = s.get("biz_opaque_callback_data")
                statuses.append(Status(s["id"][:200], s["status"], _int(s.get("timestamp")),
                                       opaque if isinstance(opaque, str) else None, code,
                                       s.get("recipient_id") if isinstance(s.get("recipient_id"), str) else None))
            for m in value.get("messages") or []:
                if not isinstance(m, dict) or not isinstance(m.get("id"), str) or not isinstance(m.get("from"), str):
                    continue
                messages.append(Inbound(m["id"][:200], m["from"][:32], _int(m.get("timestamp")),
                                        str(m.get("type") or "unknown")[:32]))
            count += len(statuses) + len(messages)
            if count > MAX_ITEMS:
                raise BadPayload("too many items")
            pnid = meta.get("phone_number_id")
            out.append(Change(str(pnid) if pnid is not None else None, tuple(statuses), tuple(messages)))
    return out
