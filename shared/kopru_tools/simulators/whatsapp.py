"""A WhatsApp Cloud API simulator: an ASGI app speaking the Graph API endpoints, auth,
webhooks and error codes of Meta's Cloud API (see kopru.connectors.whatsapp.client), for
`kopru dev` and the tests.

    sim = WhatsAppSimulator()
    sim.add_number("106540352242922", "EAAG-token", "app-secret")
    sim.add_template("siparis_kargoda", "tr", params=1)              # an APPROVED template
    with serve(sim) as base_url:
        ...WhatsAppClient(base_url)...
        raw, headers = sim.inbound("106540352242922", "+905321234567")   # the customer writes: window opens
        sim.fail_next(code=130429)                # the next send answers the Graph error 130429
        sim.fail_next(http_status=500)            # ... HTTP 500 with a Graph error (code 1), the message not taken
        sim.fail_next(code=131000, take=True)     # ... HTTP 500 (131000) although Meta took it (status webhooks follow)
        sim.fail_next(http_status=502, raw=True, take=True)   # a proxy's 502 after Meta took it: answer lost
        sim.status(wamid, "read")                 # a status webhook for that message
        sim.outbox                                # every webhook notification: (raw body, headers)

A 5xx answer, in the Graph error shape or not, says nothing of whether Meta took the
message (Meta documents no such promise and takes no idempotency key): the real service
can do either, so a failure is injected with `take` (taken: the message exists and its
status webhooks follow) or without (nothing was taken, no webhook will ever come).

What it checks, like Meta: `Authorization: Bearer` (missing or unknown token: 401 code
190; a token of another number: 400 code 100 subcode 33), `messaging_product: whatsapp`,
the number, the text (1-4096), `biz_opaque_callback_data` (at most 512), registered
templates by name and language (unknown: 132001; wrong parameter count: 132000; paused:
132015; disabled: 132016). Like Meta's Cloud API, a free-form text to a recipient whose
24-hour window is closed is accepted (200, a wamid) and then fails in its status webhook
with 131047; a recipient marked undeliverable fails with 131026, one who stopped
marketing messages with 131050 on a MARKETING template. The window per (number,
recipient) opens only with a message from the recipient (`inbound`).

Webhooks: every notification is signed `X-Hub-Signature-256: sha256=HMAC-SHA256(app
secret, raw body)` and kept in `outbox`; when the number has a callback URL (set through
`POST /_simulator/webhook`, which stands in for the App Dashboard and first makes Meta's
verification request `GET ?hub.mode=subscribe&hub.verify_token=&hub.challenge=`), it is
also POSTed there, retried on a non-200 answer. A status carries the send's
`biz_opaque_callback_data`.

Beyond Meta, for tests and people: `GET /_simulator/calls` (read-only) lists every call,
refused ones included, without tokens, numbers or texts; `GET /_simulator/messages` the
messages it accepted (test data). Numbers and texts stay in memory; it logs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kopru_tools.simulators.common import Failure, Simulator, runner, serve  # noqa: F401  (serve re-exported)

WINDOW_S = 24 * 3600
_TO = re.compile(r"\+?\d{7,15}")

ERRORS = {
    1: (500, "An unknown error has occurred."),
    2: (503, "Service temporarily unavailable"),
    4: (400, "(#4) Application request limit reached"),
    100: (400, "(#100) Invalid parameter"),
    190: (401, "Invalid OAuth access token - Cannot parse access token"),
    130429: (400, "(#130429) Rate limit hit"),
    131000: (500, "Something went wrong"),
    131016: (503, "Service unavailable"),
    131026: (400, "Message undeliverable"),
    131047: (400, "Re-engagement message"),
    131050: (400, "User has stopped marketing messages"),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit"),
    132000: (400, "(#132000) Number of parameters does not match the expected number of params"),
    132001: (404, "(#132001) Template name does not exist in the translation"),
    132015: (400, "(#132015) Template is Paused"),
    132016: (400, "(#132016) Template is Disabled"),
}


def graph_error(code: int, *, subcode: int | None = None, http_status: int | None = None,
                message: str | None = None) -> JSONResponse:
    status, text = ERRORS.get(code, (400, "Unknown error"))
    err: dict[str, Any] = {"message": message or text, "type": "OAuthException", "code": code,
                           "error_data": {"messaging_product": "whatsapp", "details": message or text},
                           "fbtrace_id": base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()}
    if subcode is not None:
        err["error_subcode"] = subcode
    return JSONResponse({"error": err}, status_code=http_status or status)


@dataclass
class SimNumber:
    phone_number_id: str
    access_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    display_phone_number: str = "+90 850 000 00 00"
    verified_name: str = "Köprü Dev"
    webhook_url: str | None = None
    verify_token: str | None = field(default=None, repr=False)


@dataclass
class SimTemplate:
    name: str
    language: str
    params: int = 0
    category: str = "UTILITY"
    status: str = "APPROVED"


@dataclass
class SimMessage:
    wamid: str
    phone_number_id: str
    to: str = field(repr=False)  # digits, as sent
    type: str = "text"
    body: str | None = field(default=None, repr=False)
    template: str | None = None
    language: str | None = None
    parameters: list[str] = field(default_factory=list, repr=False)
    opaque: str | None = None
    accepted_at: float = field(default_factory=time.time)
    statuses: list[str] = field(default_factory=list)


@dataclass
class SimCall:
    endpoint: str
    phone_number_id: str | None
    http_status: int
    code: int | None
    at: float = field(default_factory=time.time)


class WhatsAppSimulator(Simulator):
    def __init__(self, *, deliver_after: float | None = None, pair_limit_per_minute: int | None = None) -> None:
        """`deliver_after`: seconds after which an accepted message is delivered and, as long
        again later, read (as a handset would; status webhooks for each); None (the tests'
        default) leaves that to `status`."""
        self.deliver_after = deliver_after
        self.pair_limit_per_minute = pair_limit_per_minute
        self._numbers: dict[str, SimNumber] = {}
        self._templates: dict[tuple[str, str], SimTemplate] = {}
        self.undeliverable: set[str] = set()  # digits: 131026
        self.marketing_stopped: set[str] = set()  # digits: 131050 on MARKETING templates
        super().__init__([
            Route("/_simulator/messages", self._inspect_messages, methods=["GET"]),
            Route("/_simulator/webhook", self._control_webhook, methods=["POST"]),
            Route("/_simulator/inbound", self._control_inbound, methods=["POST"]),
            Route("/{version:str}/{pnid:str}/messages", self._send, methods=["POST"]),
            Route("/{version:str}/{pnid:str}", self._phone, methods=["GET"]),
        ])

    def _reset_state(self) -> None:
        super()._reset_state()
        self._messages: list[SimMessage] = []
        self._window: dict[tuple[str, str], float] = {}
        self._pairs: dict[tuple[str, str], list[float]] = {}
        self.outbox: list[tuple[bytes, dict[str, str]]] = []
        self._ids = itertools.count(1)
        self._ticker: threading.Thread | None = None

    # -- configuration and inspection (thread-safe: the app runs in uvicorn's thread) --

    def add_number(self, phone_number_id: str, access_token: str, app_secret: str, **kw: Any) -> SimNumber:
        n = SimNumber(str(phone_number_id), access_token, app_secret, **kw)
        with self._lock:
            self._numbers[n.phone_number_id] = n
        return n

    def add_template(self, name: str, language: str = "tr", *, params: int = 0, category: str = "UTILITY",
                     status: str = "APPROVED") -> SimTemplate:
        t = SimTemplate(name, language, params, category, status)
        with self._lock:
            self._templates[(name, language)] = t
        return t

    def fail_next(self, code: int | None = None, http_status: int | None = None, *, raw: bool = False,
                  take: bool = False, delay: float = 0.0, times: int = 1, endpoint: str | None = "messages") -> None:
        """The next `times` calls to `endpoint` ("messages", "phone"; any when None) fail:
        with Meta's error `code` (its usual HTTP status unless `http_status`), or with a
        bare `http_status` (a Graph error with code 1 for 5xx; with `raw`, a plain-text body
        such as a proxy gives). `take`: the send is accepted all the same (its status
        webhooks follow): Meta took it and answered the error (or the answer was lost);
        without it nothing is taken and no webhook follows. A 5xx may be either at Meta.
        `delay`: answered that much later."""
        self._inject(endpoint, times, code=code, http_status=http_status, raw=raw, taken=take, delay=delay)

    @property
    def messages(self) -> list[SimMessage]:
        with self._lock:
            return [replace(m) for m in self._messages]

    def sent_to(self, e164: str) -> list[SimMessage]:
        digits = e164.lstrip("+")
        with self._lock:
            return [replace(m) for m in self._messages if m.to == digits]

    def window_open(self, phone_number_id: str, e164: str) -> bool:
        with self._lock:
            at = self._window.get((str(phone_number_id), e164.lstrip("+")))
        return at is not None and time.time() - at < WINDOW_S

    # -- what the customer and the network do -----------------------------------------

    def inbound(self, phone_number_id: str, e164: str, text: str = "Merhaba", *, at: float | None = None,
                wamid: str | None = None, name: str = "Ayşe") -> tuple[bytes, dict[str, str]]:
        """The customer writes to the business: the window opens at `at` (now by default)
        and a signed `messages` notification is made (and sent to the callback URL)."""
        pnid, digits = str(phone_number_id), e164.lstrip("+")
        when = time.time() if at is None else at
        with self._lock:
            self._window[(pnid, digits)] = max(self._window.get((pnid, digits), 0.0), when)
        value = {"contacts": [{"profile": {"name": name}, "wa_id": digits}],
                 "messages": [{"from": digits, "id": wamid or self._wamid(), "timestamp": str(int(when)),
                               "type": "text", "text": {"body": text}}]}
        return self._notify(pnid, value)

    def status(self, wamid: str, status: str, *, error_code: int | None = None,
               at: float | None = None) -> tuple[bytes, dict[str, str]]:
        """A status webhook for a message it accepted: sent, delivered, read or failed."""
        with self._lock:
            m = next(x for x in self._messages if x.wamid == wamid)
            m.statuses.append(status)
        st: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(at or time.time())),
                              "recipient_id": m.to}
        if m.opaque is not None:
            st["biz_opaque_callback_data"] = m.opaque
        if status in ("sent", "delivered"):
            st["conversation"] = {"id": "conv-" + wamid[-8:], "origin": {"type": "service" if m.type == "text"
                                                                          else "utility"}}
            st["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service" if m.type == "text"
                             else "utility"}
        if status == "failed":
            code = error_code or 131000
            st["errors"] = [{"code": code, "title": ERRORS.get(code, (0, "Error"))[1],
                             "message": ERRORS.get(code, (0, "Error"))[1],
                             "error_data": {"details": ERRORS.get(code, (0, "Error"))[1]}}]
        return self._notify(m.phone_number_id, {"statuses": [st]})

    def _notify(self, pnid: str, value: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            number = self._numbers[pnid]
        body = {"object": "whatsapp_business_account", "entry": [{"id": "waba-" + pnid, "changes": [
            {"value": {"messaging_product": "whatsapp",
                       "metadata": {"display_phone_number": re.sub(r"\D", "", number.display_phone_number),
                                    "phone_number_id": pnid}, **value}, "field": "messages"}]}]}
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        sig = "sha256=" + hmac.new(number.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json", "x-hub-signature-256": sig}
        with self._lock:
            self.outbox.append((raw, headers))
        if number.webhook_url:
            threading.Thread(target=self._post, args=(number.webhook_url, raw, headers), daemon=True).start()
        return raw, headers

    @staticmethod
    def _post(url: str, raw: bytes, headers: dict[str, str]) -> None:
        """Meta retries a notification that is not answered 200 (here: a few times, quickly)."""
        import httpx

        for wait in (0, 1, 3, 10):
            time.sleep(wait)
            try:
                if httpx.post(url, content=raw, headers=headers, timeout=10).status_code == 200:
                    return
            except httpx.HTTPError:
                continue

    def _wamid(self) -> str:
        n = next(self._ids)
        return "wamid." + base64.b64encode(f"HBgM{n:012d}{secrets.token_hex(6)}".encode()).decode().rstrip("=")

    # -- the Graph API ---------------------------------------------------------------------

    def _auth(self, request: Request, pnid: str) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        with self._lock:
            number = self._numbers.get(pnid)
            known = any(hmac.compare_digest(n.access_token, token) for n in self._numbers.values()) if token else False
        if not known:
            return graph_error(190)
        if number is None or not hmac.compare_digest(number.access_token, token):
            return graph_error(100, subcode=33, message=f"Unsupported request. Object with ID '{pnid}' does not "
                               "exist, cannot be loaded due to missing permissions, or does not support this "
                               "operation.")
        return None

    def _log(self, endpoint: str, pnid: str | None, resp: Response) -> Response:
        code = None
        if resp.status_code >= 400 and isinstance(resp, JSONResponse):
            try:
                code = json.loads(resp.body)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = None
        self._note(SimCall(endpoint, pnid, resp.status_code, code))
        return resp

    async def _phone(self, request: Request) -> Response:
        pnid = request.path_params["pnid"]
        bad = self._auth(request, pnid)
        if bad is not None:
            return self._log("phone", pnid, bad)
        failure = self._take_failure("phone")
        if failure is not None:
            return self._log("phone", pnid, self._failure_response(failure))
        with self._lock:
            n = self._numbers[pnid]
        return self._log("phone", pnid, JSONResponse({"display_phone_number": n.display_phone_number,
                                                      "verified_name": n.verified_name, "quality_rating": "GREEN",
                                                      "id": pnid}))

    def _failure_response(self, f: Failure) -> Response:
        if f.code is not None:
            return graph_error(f.code, http_status=f.http_status)
        status = f.http_status or 500
        if f.raw:
            return PlainTextResponse("<html><body>Bad Gateway</body></html>", status_code=status)
        return graph_error(1 if status >= 500 else 100, http_status=status)

    async def _send(self, request: Request) -> Response:
        pnid = request.path_params["pnid"]
        bad = self._auth(request, pnid)
        if bad is not None:
            return self._log("messages", pnid, bad)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self._log("messages", pnid, graph_error(100, message="(#100) Invalid JSON"))
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return self._log("messages", pnid, graph_error(100, message="(#100) The parameter messaging_product "
                                                                        "is required."))
        to = body.get("to")
        if not isinstance(to, str) or not _TO.fullmatch(to):
            return self._log("messages", pnid, graph_error(100, message="(#100) Invalid parameter: to"))
        to = to.lstrip("+")
        opaque = body.get("biz_opaque_callback_data")
        if opaque is not None and (not isinstance(opaque, str) or len(opaque) > 512):
            return self._log("messages", pnid, graph_error(100, message="(#100) biz_opaque_callback_data too long"))
        kind = body.get("type", "text")
        msg = SimMessage("", pnid, to, kind, opaque=opaque)
        tmpl = None
        if kind == "text":
            text = body.get("text")
            b = text.get("body") if isinstance(text, dict) else None
            if not isinstance(b, str) or not 1 <= len(b) <= 4096:
                return self._log("messages", pnid, graph_error(100, message="(#100) Param text['body'] must be "
                                                                            "between 1 and 4096 characters long."))
            msg.body = b
        elif kind == "template":
            t = body.get("template") if isinstance(body.get("template"), dict) else {}
            lang = (t.get("language") or {}).get("code") if isinstance(t.get("language"), dict) else None
            with self._lock:
                tmpl = self._templates.get((t.get("name"), lang))
            if tmpl is None or tmpl.status in ("PENDING", "REJECTED"):
                return self._log("messages", pnid, graph_error(132001))
            if tmpl.status == "PAUSED":
                return self._log("messages", pnid, graph_error(132015))
            if tmpl.status == "DISABLED":
                return self._log("messages", pnid, graph_error(132016))
            params = [p.get("text") for c in (t.get("components") or []) if isinstance(c, dict)
                      and c.get("type") == "body" for p in (c.get("parameters") or []) if isinstance(p, dict)]
            if len(params) != tmpl.params:
                return self._log("messages", pnid, graph_error(132000))
            msg.template, msg.language, msg.parameters = tmpl.name, lang, [str(p) for p in params]
        else:
            return self._log("messages", pnid, graph_error(100, message="(#100) Unsupported message type"))
        if self.pair_limit_per_minute is not None:
            now = time.time()
            with self._lock:
                hits = [t for t in self._pairs.get((pnid, to), []) if now - t < 60]
                self._pairs[(pnid, to)] = hits + [now]
            if len(hits) >= self.pair_limit_per_minute:
                return self._log("messages", pnid, graph_error(131056))
        failure = self._take_failure("messages")
        await self._delay(failure)
        if failure is not None and (failure.code is not None or failure.http_status is not None):
            if failure.taken:
                self._accept(msg, tmpl)
            return self._log("messages", pnid, self._failure_response(failure))
        self._accept(msg, tmpl)
        return self._log("messages", pnid, JSONResponse({"messaging_product": "whatsapp",
                                                         "contacts": [{"input": body["to"], "wa_id": to}],
                                                         "messages": [{"id": msg.wamid}]}))

    def _accept(self, msg: SimMessage, tmpl: SimTemplate | None) -> None:
        msg.wamid = self._wamid()
        with self._lock:
            self._messages.append(msg)
            opened = self._window.get((msg.phone_number_id, msg.to))
        # what Meta finds after it took the message comes back in the status webhook
        if msg.type == "text" and (opened is None or time.time() - opened >= WINDOW_S):
            self.status(msg.wamid, "failed", error_code=131047)
        elif msg.to in self.undeliverable:
            self.status(msg.wamid, "failed", error_code=131026)
        elif tmpl is not None and tmpl.category == "MARKETING" and msg.to in self.marketing_stopped:
            self.status(msg.wamid, "failed", error_code=131050)
        else:
            self.status(msg.wamid, "sent")
            if self.deliver_after is not None:
                self._tick()

    def _tick(self) -> None:
        """Dev: a background thread delivers and then reads accepted messages."""
        if self._ticker is not None and self._ticker.is_alive():
            return

        def run() -> None:
            while True:
                time.sleep(0.5)
                now, due = time.time(), []
                with self._lock:
                    for m in self._messages:
                        if m.statuses[-1:] == ["sent"] and now - m.accepted_at >= self.deliver_after:
                            due.append((m.wamid, "delivered"))
                        elif m.statuses[-1:] == ["delivered"] and now - m.accepted_at >= 2 * self.deliver_after:
                            due.append((m.wamid, "read"))
                for wamid, st in due:
                    self.status(wamid, st)

        self._ticker = threading.Thread(target=run, name="whatsapp-sim-ticker", daemon=True)
        self._ticker.start()

    # -- inspection and dev controls ---------------------------------------------------------

    async def _inspect_messages(self, request: Request) -> Response:
        return JSONResponse({"messages": [{"wamid": m.wamid, "phone_number_id": m.phone_number_id, "to": m.to,
                                           "type": m.type, "body": m.body, "template": m.template,
                                           "parameters": m.parameters, "statuses": m.statuses}
                                          for m in self.messages]})

    async def _control_webhook(self, request: Request) -> Response:
        """Stands in for the App Dashboard: {phone_number_id, url, verify_token}. Like Meta, the
        callback URL is kept only after it answered the verification request."""
        import httpx

        try:
            b = json.loads(await request.body())
            pnid, url, token = str(b["phone_number_id"]), str(b["url"]), str(b["verify_token"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "phone_number_id, url and verify_token are required"}, status_code=400)
        with self._lock:
            if pnid not in self._numbers:
                return JSONResponse({"error": "unknown phone_number_id"}, status_code=404)
        challenge = str(secrets.randbelow(10**9))
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.get(url, params={"hub.mode": "subscribe", "hub.verify_token": token,
                                         "hub.challenge": challenge})
        if r.status_code != 200 or r.text != challenge:
            return JSONResponse({"error": "the callback URL did not answer the challenge",
                                 "status": r.status_code}, status_code=400)
        with self._lock:
            self._numbers[pnid].webhook_url, self._numbers[pnid].verify_token = url, token
        return JSONResponse({"success": True})

    async def _control_inbound(self, request: Request) -> Response:
        """Dev: a customer writes {phone_number_id, from (E.164), text}."""
        try:
            b = json.loads(await request.body())
            pnid, sender = str(b["phone_number_id"]), str(b["from"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "phone_number_id and from are required"}, status_code=400)
        with self._lock:
            if pnid not in self._numbers:
                return JSONResponse({"error": "unknown phone_number_id"}, status_code=404)
        self.inbound(pnid, sender, str(b.get("text") or "Merhaba"))
        return JSONResponse({"success": True})


def dev_simulator() -> WhatsAppSimulator:
    """The simulator `kopru dev` runs: one business number (phone number id
    100000000000001, token kopru-dev-whatsapp, app secret kopru-dev-whatsapp-secret) and two
    approved templates (siparis_kargoda with one parameter, kampanya, MARKETING)."""
    from kopru.config import settings

    sim = WhatsAppSimulator(deliver_after=settings().whatsapp_sim_deliver_after)
    sim.add_number(DEV_PHONE_NUMBER_ID, DEV_TOKEN, DEV_APP_SECRET)
    sim.add_template("siparis_kargoda", "tr", params=1)
    sim.add_template("kampanya", "tr", params=0, category="MARKETING")
    return sim


DEV_PHONE_NUMBER_ID, DEV_TOKEN, DEV_APP_SECRET = "100000000000001", "kopru-dev-whatsapp", "kopru-dev-whatsapp-secret"


main = runner(dev_simulator, "whatsapp-simulator", 8094)  # python -m kopru_tools.simulators.whatsapp [--port N]


if __name__ == "__main__":
    main()
