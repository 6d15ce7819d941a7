"""WhatsApp Cloud API client (Meta's Graph API): send text and template messages, read the
business phone number (the connection check).

Followed (Meta's Cloud API reference, developers.facebook.com/docs/whatsapp/cloud-api):
    POST {base}/{version}/{phone-number-id}/messages    Authorization: Bearer <access token>
        {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "905321234567",
         "type": "text", "text": {"preview_url": false, "body": "..."},
         "biz_opaque_callback_data": "<our reference>"}
        {"messaging_product": "whatsapp", "to": ..., "type": "template",
         "template": {"name": ..., "language": {"code": "tr"},
                      "components": [{"type": "body", "parameters": [{"type": "text", "text": ...}]}]},
         "biz_opaque_callback_data": ...}
        -> 200 {"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}],
                "messages": [{"id": "wamid...", "message_status"?}]}
        -> 4xx/5xx {"error": {"message", "type", "code", "error_data": {"details"}, "error_subcode", "fbtrace_id"}}
    GET {base}/{version}/{phone-number-id}?fields=display_phone_number,verified_name,quality_rating

Idempotency: the Cloud API takes no idempotency key; a repeated send is a second message.
`biz_opaque_callback_data` (at most 512 characters) carries our message id and comes back
in every status webhook of that message: that is how a send whose answer was lost is
proven later (kopru.whatsapp.service). This client never retries a send; it retries the
read-only phone-number call on a transient error. A send's TransientError is `ambiguous`
unless the answer proves Meta refused it: a 4xx rate-limit code (130429, 131056, 4,
80007), a bare 429, or a transport error before the request left (connect or pool
time-out, connection refused). Every 5xx, Graph error or not, and Meta's server-side
codes 1, 2, 131000, 131016 are ambiguous (codes.maybe_taken).

Numbers: Köprü keeps E.164 (`+905321234567`); the Cloud API's `to` takes the number with
its country code, digits only (`905321234567`), and answers the WhatsApp id (`wa_id`).

Logging: one line per call (endpoint, HTTP status, Meta code, wamid, duration, our
reference); never a number, a text or a token.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from kopru.connectors.common import (
    READ_RETRY,
    HttpConnector,
    RetryPolicy,
    read_retry,
    traced_call,
    transport_errors,
)
from kopru.connectors.whatsapp import codes
from kopru.connectors.whatsapp.errors import InvalidRequest, PermanentError, TransientError, WhatsAppError

log = logging.getLogger("kopru.connectors.whatsapp")

DEFAULT_BASE_URL = "https://graph.facebook.com"
API_VERSION = "v21.0"
SEND, PHONE = "messages", "phone_number"
TEXT_MAX = 4096  # Meta: text.body at most 4096 characters
OPAQUE_MAX = 512  # Meta: biz_opaque_callback_data at most 512 characters
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_PNID = re.compile(r"\d{1,32}")


def base_url_from_env() -> str:
    """WHATSAPP_BASE_URL (through kopru.config), else graph.facebook.com (never on kopru
    dev's embedded data: kopru.connectors.common.base_url)."""
    from kopru.config import settings
    from kopru.connectors.common import base_url

    return base_url(settings().whatsapp_base_url, DEFAULT_BASE_URL, "WHATSAPP_BASE_URL")


@dataclass(frozen=True)
class Credentials:
    """A tenant's business phone number on the Cloud API and the token that may use it."""

    phone_number_id: str
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class SendResult:
    wamid: str
    wa_id: str | None = field(default=None, repr=False)


def to_whatsapp(e164: str) -> str:
    """`+905321234567` -> `905321234567` (InvalidRequest for anything that is not E.164)."""
    if not isinstance(e164, str) or not _E164.fullmatch(e164):
        raise InvalidRequest("whatsapp.number_invalid", "Numara E.164 biçiminde olmalı (+90...).",
                             "The number must be in E.164 form (+90...).")
    return e164[1:]


def _check(creds: Credentials) -> None:
    if not isinstance(creds, Credentials) or not _PNID.fullmatch(creds.phone_number_id or "") \
            or not creds.access_token:
        raise InvalidRequest("whatsapp.credentials_missing", "Telefon numarası kimliği ve erişim belirteci gerekli.",
                             "The phone number id and the access token are required.")


def _check_ref(ref: str) -> str:
    if not isinstance(ref, str) or not 0 < len(ref) <= OPAQUE_MAX or not ref.isascii() or not ref.isprintable():
        raise InvalidRequest("whatsapp.ref_invalid", "Referans 1-512 yazdırılabilir ASCII karakter olmalı.",
                             "The reference must be 1-512 printable ASCII characters.")
    return ref


class WhatsAppClient(HttpConnector):
    """Calls over the process's shared HTTP pool (`kopru.connectors.common.shared_http()`):
    each tenant has its own token, so the client is cheap and made per use."""

    def __init__(self, base_url: str | None = None, *, timeout: float = 15.0, http: Any = None,
                 read_retry: RetryPolicy = READ_RETRY) -> None:
        self.timeout = timeout
        self.read_retry = read_retry
        self._connect(base_url or base_url_from_env(), timeout, http, shared=True)

    # -- calls ---------------------------------------------------------------

    async def send_text(self, creds: Credentials, to: str, body: str, *, ref: str,
                        preview_url: bool = False) -> SendResult:
        if not isinstance(body, str) or not body.strip() or len(body) > TEXT_MAX:
            raise InvalidRequest("whatsapp.text_invalid", "Metin 1-4096 karakter olmalı.",
                                 "The text must have 1-4096 characters.")
        return await self._send(creds, to, {"type": "text", "text": {"preview_url": bool(preview_url), "body": body}},
                                ref=ref, kind="text")

    async def send_template(self, creds: Credentials, to: str, name: str, language: str,
                            parameters: Sequence[str] = (), *, ref: str) -> SendResult:
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if parameters:
            template["components"] = [{"type": "body", "parameters": [{"type": "text", "text": str(p)}
                                                                      for p in parameters]}]
        return await self._send(creds, to, {"type": "template", "template": template}, ref=ref, kind="template")

    async def phone_number(self, creds: Credentials) -> dict[str, Any]:
        """The business phone number's display number, verified name and quality rating:
        the connection check (190 on a wrong token, 100 on a number the token cannot see)."""
        _check(creds)
        return await read_retry(
            self.read_retry, lambda: self._call(PHONE, creds, "GET", f"/{API_VERSION}/{creds.phone_number_id}",
                                                params={"fields": "display_phone_number,verified_name,quality_rating"}),
            TransientError)

    # -- machinery -----------------------------------------------------------

    async def _send(self, creds: Credentials, to: str, content: dict[str, Any], *, ref: str, kind: str) -> SendResult:
        _check(creds)
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to_whatsapp(to), **content,
                "biz_opaque_callback_data": _check_ref(ref)}
        data = await self._call(SEND, creds, "POST", f"/{API_VERSION}/{creds.phone_number_id}/messages", json=body,
                                ref=ref, side_effect=True, extra={"type": kind})
        msgs = data.get("messages")
        wamid = msgs[0].get("id") if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict) else None
        if not isinstance(wamid, str) or not wamid:
            # a 200 without a message id: Meta probably took it, we cannot tell
            s = codes.TRANSPORT["bad_response"]
            raise TransientError("bad_response", s.tr, s.en, endpoint=SEND, http_status=200, ambiguous=True)
        contacts = data.get("contacts")
        wa_id = contacts[0].get("wa_id") if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict) \
            else None
        return SendResult(wamid, wa_id if isinstance(wa_id, str) else None)

    async def _call(self, endpoint: str, creds: Credentials, method: str, path: str, *, json: Any = None,
                    params: dict | None = None, ref: str | None = None, side_effect: bool = False,
                    extra: dict | None = None) -> dict:
        fields: dict[str, Any] = {"endpoint": endpoint, **(extra or {})}
        if ref:
            fields["ref"] = ref

        def request():
            return self._client().request(
                method, self.base_url + path, json=json, params=params,
                headers={"Authorization": f"Bearer {creds.access_token}", "Accept": "application/json",
                         "User-Agent": "kopru-whatsapp/1"},
                timeout=self._timeout)

        def answer(resp):
            data = _classify(endpoint, resp, side_effect)
            if endpoint == SEND:
                msgs = data.get("messages")
                if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict):
                    fields["wamid"] = msgs[0].get("id")
            return data

        return await traced_call(log, "whatsapp", endpoint, fields, request, answer, side_effect=side_effect,
                                 errors=WhatsAppError, transient=TransientError, transport=_transport)


_transport = transport_errors(codes.TRANSPORT, TransientError)


def _classify(endpoint: str, resp, side_effect: bool) -> dict:
    """Meta's answer -> its JSON on success, else the error by its `code`."""
    status = resp.status_code
    try:
        body = resp.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and "code" in err:
        code = err.get("code")
        s = codes.spec(code, status)
        if s.kind == "transient":
            # a 5xx or a server-side code (1, 2, 131000, 131016) does not say Meta refused the send:
            # ambiguous, proven by a status webhook or parked, never sent blind again (codes.maybe_taken)
            raise TransientError(str(code), s.tr, s.en, endpoint=endpoint, http_status=status,
                                 ambiguous=side_effect and codes.maybe_taken(code, status))
        raise PermanentError(str(code), s.tr, s.en, endpoint=endpoint, http_status=status)
    if 200 <= status < 300 and isinstance(body, dict):
        return body
    if status >= 500 or 200 <= status < 300:
        # not a Graph API answer (a proxy's 502, a cut body): Meta may have taken a send
        raise _transport("http_5xx" if status >= 500 else "bad_response", endpoint, ambiguous=side_effect,
                         http_status=status, code=f"http_{status}" if status >= 500 else None)
    if status == 429:
        raise _transport("http_5xx", endpoint, ambiguous=False, http_status=status, code="http_429")
    s = codes.TRANSPORT["http_4xx"]
    raise PermanentError(f"http_{status}", s.tr, s.en, endpoint=endpoint, http_status=status)
