"""A Nilvera simulator: an ASGI app speaking the endpoints, Bearer auth, bodies and codes
of Nilvera's REST API as client.py documents them (and GİB's envelope codes behind it),
for `kopru dev` and the tests.

    sim = NilveraSimulator(validator=my_validate)     # default: kopru.einvoice.validate, if present
    sim.add_account("api-key", tax_number="1234567890")
    sim.add_taxpayer("9876543210", ["urn:mail:defaultpk@firma.com.tr"])
    with serve(sim) as base_url:                      # uvicorn on 127.0.0.1, a free port
        ...NilveraClient("api-key", base_url)...
        sim.reject_next(1150)                         # GİB refuses the next e-Fatura with 1150
        sim.answer_next("RED", note="fiyat hatalı")   # the next TICARIFATURA is answered RED
        sim.answer(uuid, "KABUL")                     # ...or answer one now
        sim.fail_next(code=2000)                      # next call: HTTP 422 {"Errors": [{"Code": 2000}]}
        sim.fail_next(http_status=500, times=2)       # next two calls: HTTP 500, nothing taken
        sim.fail_next(delay=2.0)                      # next call is processed, answered 2 s later
        sim.fail_next(drop=True)                      # next call is processed, then the connection drops

What it does, like Nilvera: `Authorization: Bearer <key>` against its accounts (else 401,
no body); multipart `file` upload (else 400 "Nesnesi Null Olamaz."), the `Alias` query
for e-Fatura (else the documented 400 example); the document read safely (no DTD, no
entities, no network, a size cap) for its ETTN, number, profile and buyer; an ETTN it
already holds answers 409 code 1001 unless the earlier attempt ended in a GİB error that
allows sending again; e-Arşiv to a registered buyer 422 2025, e-Fatura to an unregistered
one 422 2054, an alias the buyer does not have 422 2052, an EARSIVFATURA profile on the
e-Fatura endpoint 422 2063 and any other on the e-Arşiv endpoint 422 2024.

Validation: `validator(xml_bytes)` returns findings in any reasonable shape (a list, or an
object with `.findings`/`.errors`; each finding an object or a dict with a severity,
rule, message, location, source); `adapt_findings` reads them. Errors refuse the
document: for e-Fatura by default the upload is taken and GİB's answer comes in the status
(1160 when a schema (XSD) finding is among them, else 1150, the findings one per line in
`DetailDescription`); with `validation_stage="submit"`, and always for e-Arşiv (no GİB
envelope), the upload itself is refused with 422 code 2015, one `Errors[]` entry per finding.

Status over polls (`steps_per_poll` steps each): e-Fatura 1000 (queued) -> 1100
(processing) -> 1300 (or the refusal code); a TICARIFATURA then waits for its answer
(`answer`/`answer_next`: KABUL, RED or AUTO). e-Arşiv waiting -> succeed (NotReported) ->
succeed (Reported).

The documents, aliases and tax numbers it holds are test data, in memory; it logs nothing.
"""

from __future__ import annotations

import hmac
import importlib
import itertools
import time
import uuid as uuidlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopru_tools.simulators.common import Simulator, control, error_page, runner
from kopru_tools.simulators.common import quiet_serve as serve, quiet_start as start  # noqa: F401  (re-exported)
from kopru.connectors.nilvera import codes
from kopru.connectors.nilvera.codes import (
    COMPANY,
    EARCHIVE,
    EINVOICE,
    SEND_EARCHIVE,
    SEND_EINVOICE,
    STATUS_EARCHIVE,
    STATUS_EINVOICE,
    TAXPAYER,
    Finding,
    findings_to_text,
)

MAX_XML_BYTES = 10 * 1024 * 1024
DEFAULT = object()  # "use kopru.einvoice.validate if it can be imported"

# GİB's own upper-case names, as Nilvera's code list prints them
GIB_NAMES = {
    1000: "ZARF KUYRUGA EKLENDI", 1100: "ZARF ISLENIYOR", 1150: "SCHEMATRON KONTROL SONUCU HATALI",
    1160: "XML SEMA KONTROLUNDEN GECEMEDI",
    1163: "GONDERILEN ZARF SISTEMDE DAHA ONCE KAYITLI OLAN BIR FATURAYI ICERMEKTEDIR",
    1200: "ZARF BASARIYLA ISLENDI", 1220: "HEDEFTEN SISTEM YANITI GELMEDI",
    1230: "HEDEFTEN SISTEM YANITI BASARISIZ GELDI", 1300: "BASARIYLA TAMAMLANDI",
}
_ANSWER_CODES = {"KABUL": "approved", "RED": "rejected", "AUTO": "documentAnsweredAutomatically"}


# -- validator adapter --------------------------------------------------------------------------

def _get(obj: Any, *names: str) -> Any:
    for n in names:
        v = obj.get(n) if isinstance(obj, dict) else getattr(obj, n, None)
        if v is not None and v != "":
            return v
    return None


def _plain(v: Any) -> str | None:
    if v is None:
        return None
    v = getattr(v, "value", v)  # enums
    return str(v)


def _finding(f: Any) -> Finding:
    if isinstance(f, Finding):
        return f
    if isinstance(f, str):
        return Finding(None, f)
    severity = (_plain(_get(f, "severity", "level")) or "error").lower()
    if severity.startswith("err"):
        severity = "error"
    elif severity.startswith("warn"):
        severity = "warning"
    # GİB's texts are Turkish: the Turkish message first when a validator gives both
    message = _plain(_get(f, "message", "message_tr", "tr", "text", "en", "message_en", "description")) or str(f)
    return Finding(_plain(_get(f, "rule", "rule_id", "id", "code", "assertion")), message,
                   _plain(_get(f, "location", "path", "xpath", "context", "line")), severity,
                   _plain(_get(f, "source", "layer", "stage", "validator", "category", "kind", "type")))


def adapt_findings(result: Any) -> list[Finding]:
    """Whatever a validator returned -> a list of Finding (errors and warnings alike)."""
    if result is None or result is True:
        return []
    if isinstance(result, (str, bytes)):
        return [Finding(None, result.decode("utf-8", "replace") if isinstance(result, bytes) else result)]
    items = result
    if isinstance(result, dict):
        items = result.get("findings") or result.get("errors") or []
    elif not isinstance(result, (list, tuple, set)):
        for attr in ("findings", "errors", "issues", "messages"):
            if getattr(result, attr, None) is not None:
                items = getattr(result, attr)
                break
        else:
            items = []
    if isinstance(items, (str, bytes)):
        return adapt_findings(items)
    return [_finding(f) for f in items]


def default_validator() -> Callable[[bytes], Any] | None:
    """`kopru.einvoice.validate.validate`, if that module exists (imported on first use)."""
    try:
        mod = importlib.import_module("kopru.einvoice.validate")
    except ImportError:
        return None
    fn = getattr(mod, "validate", None)
    return fn if callable(fn) else None


# -- reading the document safely ---------------------------------------------------------------

@dataclass(frozen=True)
class _Doc:
    uuid: str | None
    number: str | None
    profile: str | None
    type_code: str | None
    buyer: str | None


def _read_doc(xml: bytes) -> _Doc | None:
    from lxml import etree

    if len(xml) > MAX_XML_BYTES:
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError:
        return None
    if root.getroottree().docinfo.doctype or etree.QName(root).localname != "Invoice":
        return None

    def child(el, name):
        for c in el:
            if isinstance(c.tag, str) and etree.QName(c).localname == name:
                return c
        return None

    def text(el, name):
        c = child(el, name) if el is not None else None
        return (c.text or "").strip() or None if c is not None else None

    buyer = None
    customer = child(root, "AccountingCustomerParty")
    party = child(customer, "Party") if customer is not None else None
    if party is not None:
        for pid in party:
            if isinstance(pid.tag, str) and etree.QName(pid).localname == "PartyIdentification":
                idel = child(pid, "ID")
                if idel is not None and (idel.get("schemeID") or "").upper() in ("VKN", "TCKN"):
                    buyer = (idel.text or "").strip() or None
                    break
    u = text(root, "UUID")
    return _Doc(u.lower() if u else None, text(root, "ID"), text(root, "ProfileID"), text(root, "InvoiceTypeCode"), buyer)


def _file_part(content_type: str, body: bytes) -> bytes | None:
    """The `file` part of a multipart/form-data body (byte-exact), or None."""
    ctype, _, params = content_type.partition(";")
    if ctype.strip().lower() != "multipart/form-data":
        return None
    boundary = None
    for p in params.split(";"):
        k, _, v = p.strip().partition("=")
        if k.lower() == "boundary":
            boundary = v.strip().strip('"')
    if not boundary:
        return None
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if part.startswith(b"--"):
            break
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        disposition = head.lower()
        if b"form-data" in disposition and (b'name="file"' in disposition or b"name=file" in disposition):
            return data
    return None


# -- state ---------------------------------------------------------------------------------------

@dataclass
class SimAccount:
    api_key: str = field(repr=False)
    tax_number: str
    name: str = "Köprü Test A.Ş."
    label: str = "account"


@dataclass
class SimTaxpayer:
    tax_number: str = field(repr=False)
    aliases: list[str] = field(repr=False)
    title: str = field(default="Alıcı Firma A.Ş.", repr=False)
    type: str = "OZEL"
    first_created: str = "2020-01-01T00:00:00"


@dataclass
class SimInvoice:
    kind: str
    uuid: str
    number: str
    profile: str | None
    account: str
    steps: list[Any]  # e-Fatura: GİB codes then maybe "answer"; e-Arşiv: ("waiting"|"succeed"|"error", reported)
    alias: str | None = field(default=None, repr=False)
    buyer: str | None = field(default=None, repr=False)
    xml: bytes = field(default=b"", repr=False)
    findings: tuple[Finding, ...] = field(default=(), repr=False)
    step: int = 0
    answer: str | None = None  # KABUL | RED | AUTO
    answer_note: str | None = field(default=None, repr=False)
    scheduled_answer: tuple[str, str | None] | None = None
    attempts: int = 1
    polls: int = 0
    submitted_at: float = field(default_factory=time.time)

    @property
    def current(self) -> Any:
        return self.steps[min(self.step, len(self.steps) - 1)]

    @property
    def final_code(self) -> Any:
        return self.steps[-1]

    def resend_allowed(self) -> bool:
        """Nilvera's code list: after most GİB errors the same ETTN may be sent again."""
        if self.kind == EARCHIVE:
            return self.step >= len(self.steps) - 1 and self.final_code[0] == "error"
        at = self.current
        spec = codes.gib_status(at) if isinstance(at, int) else None
        return spec is not None and spec.outcome == codes.FAILED and spec.resend in (codes.RESEND_AS_IS,
                                                                                    codes.RESEND_AFTER_FIX)


@dataclass
class SimCall:
    endpoint: str
    account: str | None
    http_status: int
    codes: tuple[int, ...] = ()
    uuid: str | None = None


class NilveraSimulator(Simulator):
    DROP_HEAD = b'{"UUID": "'

    def __init__(self, *, validator: Any = DEFAULT, validation_stage: str = "gib", steps_per_poll: int = 1) -> None:
        if validation_stage not in ("gib", "submit"):
            raise ValueError("validation_stage must be 'gib' or 'submit'")
        self._validator = validator
        self.validation_stage = validation_stage
        self.steps_per_poll = steps_per_poll
        self.auto_answer: str | None = None  # a TICARIFATURA without a queued answer gets this one (dev)
        self._accounts: dict[str, SimAccount] = {}
        self._taxpayers: dict[str, SimTaxpayer] = {}
        super().__init__([
            Route("/general/company", self._company, methods=["GET"]),
            Route("/general/globalcompany/check/taxnumber/{tax_number}", self._taxpayer, methods=["GET"]),
            Route("/einvoice/send/xml", self._send_einvoice, methods=["POST"]),
            Route("/earchive/send/xml", self._send_earchive, methods=["POST"]),
            Route("/einvoice/sale/{uuid}/status", self._status_einvoice, methods=["GET"]),
            Route("/earchive/invoices/{uuid}/status", self._status_earchive, methods=["GET"]),
            Route("/_simulator/answer-next", self._control_answer_next, methods=["POST"]),
        ])
        app = self._app

        async def case_insensitive(scope, receive, send):  # ASP.NET routes ignore case (Odoo sends /einvoice/sale/...)
            if scope["type"] == "http":
                scope = dict(scope, path=scope["path"].lower())
            await app(scope, receive, send)

        self._app = case_insensitive

    def _reset_state(self) -> None:
        """Forget invoices, failures, queued rejections/answers and calls (accounts and taxpayers
        stay): `reset()`."""
        super()._reset_state()
        self._invoices: dict[tuple[str, str], SimInvoice] = {}
        self._rejects: list[tuple[str, int]] = []
        self._answers: list[tuple[str, str | None]] = []
        self._numbers = itertools.count(1)

    # -- configuration and inspection (thread-safe: the app runs in uvicorn's thread) --------

    @property
    def validator(self) -> Callable[[bytes], Any] | None:
        if self._validator is DEFAULT:
            self._validator = default_validator()
        return self._validator

    @validator.setter
    def validator(self, fn: Callable[[bytes], Any] | None) -> None:
        self._validator = fn

    def add_account(self, api_key: str, tax_number: str = "1234567890", name: str = "Köprü Test A.Ş.",
                    label: str | None = None) -> SimAccount:
        acct = SimAccount(api_key, tax_number, name, label or f"account-{len(self._accounts) + 1}")
        with self._lock:
            self._accounts[api_key] = acct
        return acct

    def add_taxpayer(self, tax_number: str, aliases: list[str] | tuple[str, ...], *, title: str = "Alıcı Firma A.Ş.",
                     type: str = "OZEL") -> SimTaxpayer:
        """A registered e-Fatura user (GİB's list), with its PK aliases."""
        tp = SimTaxpayer(tax_number, list(aliases), title, type)
        with self._lock:
            self._taxpayers[tax_number] = tp
        return tp

    def remove_taxpayer(self, tax_number: str) -> None:
        with self._lock:
            self._taxpayers.pop(tax_number, None)

    def fail_next(self, code: int | None = None, http_status: int | None = None, delay: float = 0.0, times: int = 1,
                  endpoint: str | None = None, drop: bool = False) -> None:
        """The next `times` calls (to `endpoint`, one of codes.ENDPOINTS; any when None) fail:
        with Nilvera error `code` (HTTP 409 for 1xxx, 422 for 2xxx, 404 for 3xxx, else 400,
        unless `http_status`), or a bare `http_status` (e.g. 500); neither is processed.
        With only `delay` the call is processed and answered `delay` seconds later; with
        `drop` it is processed and the connection is closed mid-answer."""
        self._inject(endpoint, times, code=code, http_status=http_status, delay=delay, drop=drop)

    def reject_next(self, gib_code: int, times: int = 1, kind: str = EINVOICE) -> None:
        """GİB refuses the next `times` documents of `kind` with `gib_code` (e.g. 1150,
        1160, 1163, 1230): the upload is taken, the status ends in that code."""
        if codes.gib_status(gib_code) is None:
            raise ValueError("not a GİB status code")
        with self._lock:
            self._rejects.extend([(kind, int(gib_code))] * times)

    def answer_next(self, answer: str, note: str | None = None) -> None:
        """The next TICARIFATURA submitted is answered `answer` (KABUL, RED or AUTO) one poll
        after it reaches 1300."""
        a = answer.upper()
        if a not in _ANSWER_CODES:
            raise ValueError("answer must be KABUL, RED or AUTO")
        with self._lock:
            self._answers.append((a, note))

    def answer(self, uuid: str, answer: str, note: str | None = None) -> None:
        """The buyer answers this TICARIFATURA now (shown once it has reached 1300)."""
        a = answer.upper()
        if a not in _ANSWER_CODES:
            raise ValueError("answer must be KABUL, RED or AUTO")
        with self._lock:
            for inv in self._invoices.values():
                if inv.uuid == uuid.lower():
                    inv.answer, inv.answer_note = a, note
                    return
        raise KeyError("no such invoice")

    def advance(self, uuid: str, steps: int = 100) -> None:
        """Move an invoice on without polling (to its last step by default)."""
        with self._lock:
            for inv in self._invoices.values():
                if inv.uuid == uuid.lower():
                    inv.step = min(inv.step + steps, len(inv.steps) - 1)

    def clear_failures(self) -> None:
        super().clear_failures()
        with self._lock:
            self._rejects.clear()
            self._answers.clear()

    @property
    def invoices(self) -> list[SimInvoice]:
        with self._lock:
            return [replace(i) for i in self._invoices.values()]

    def invoice(self, uuid: str) -> SimInvoice | None:
        with self._lock:
            for inv in self._invoices.values():
                if inv.uuid == uuid.lower():
                    return replace(inv)
        return None

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(1 for i in self._invoices.values() if kind is None or i.kind == kind)

    async def _control_answer_next(self, request: Request) -> Response:
        """Dev control (not Nilvera's API): {"answer": "RED", "note": "..."}: the buyer's
        answer to the next TICARIFATURA."""
        return await control(request, lambda body: self.answer_next(
            str(body["answer"]), note=body.get("note") if isinstance(body.get("note"), str) else None),
            "give answer: KABUL, RED or AUTO (and an optional note)")

    # -- ASGI ------------------------------------------------------------------------------------

    def _account(self, request: Request) -> SimAccount | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        with self._lock:
            accounts = list(self._accounts.values())
        found = None
        for a in accounts:  # compare with every key, in constant time each
            if hmac.compare_digest(a.api_key.encode(), token.encode()):
                found = a
        return found

    def _record(self, endpoint: str, acct: SimAccount | None, status: int, codes_: tuple[int, ...] = (),
                uuid: str | None = None) -> None:
        self._note(SimCall(endpoint, acct.label if acct else None, status, codes_, uuid))

    def _errors(self, endpoint: str, acct: SimAccount | None, status: int, errors: list[tuple[int, str, str | None]],
                uuid: str | None = None) -> Response:
        self._record(endpoint, acct, status, tuple(c for c, _, _ in errors), uuid)
        message = "GECERSIZ ISTEK" if status == 400 else "HATALI ISTEK"
        return JSONResponse({"Message": message, "Errors": [{"Code": c, "Description": d, "Detail": x}
                                                             for c, d, x in errors]}, status_code=status)

    def _error(self, endpoint: str, acct: SimAccount | None, code: int, detail: str | None = None,
               status: int | None = None, uuid: str | None = None) -> Response:
        spec = codes.NILVERA_ERRORS.get(code)
        desc = spec.tr if spec else "Hatalı istek."
        if status is None:
            status = 409 if 1000 <= code < 2000 else 422 if 2000 <= code < 3000 else 404 if 3000 <= code < 4000 else 400
        return self._errors(endpoint, acct, status, [(code, desc, detail or desc)], uuid)

    def _ok(self, endpoint: str, acct: SimAccount, body: Any, uuid: str | None = None) -> Response:
        self._record(endpoint, acct, 200, (), uuid)
        return JSONResponse(body)

    async def _guard(self, endpoint: str, request: Request):
        """Injected failure, then auth. Returns (failure-or-None, account, early-response)."""
        f = self._take_failure(endpoint)
        if f is not None and (f.code is not None or f.http_status is not None):
            await self._delay(f)
            if f.code is not None:
                return f, None, self._error(endpoint, None, f.code, status=f.http_status)
            self._record(endpoint, None, f.http_status)
            return f, None, error_page(f.http_status)
        acct = self._account(request)
        if acct is None:
            self._record(endpoint, None, 401)
            return f, None, Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return f, acct, None

    # -- endpoints -----------------------------------------------------------------------------------

    async def _company(self, request: Request) -> Response:
        f, acct, early = await self._guard(COMPANY, request)
        if early is not None:
            return early
        return await self._finish(f, self._ok(COMPANY, acct, {"Name": acct.name, "TaxNumber": acct.tax_number,
                                                              "IsActive": True}))

    async def _taxpayer(self, request: Request) -> Response:
        f, acct, early = await self._guard(TAXPAYER, request)
        if early is not None:
            return early
        tn = request.path_params["tax_number"]
        want = (request.query_params.get("globalUserType") or "Invoice").lower()
        with self._lock:
            tp = self._taxpayers.get(tn)
        entries = []
        if tp is not None and want == "invoice":
            entries = [{"TaxNumber": tp.tax_number, "Title": tp.title, "FirstCreatedTime": tp.first_created,
                        "CreationTime": tp.first_created, "DocumentType": "Invoice", "Name": a, "Type": tp.type}
                       for a in tp.aliases]
        return await self._finish(f, self._ok(TAXPAYER, acct, entries))

    async def _send_einvoice(self, request: Request) -> Response:
        return await self._send(EINVOICE, SEND_EINVOICE, request)

    async def _send_earchive(self, request: Request) -> Response:
        return await self._send(EARCHIVE, SEND_EARCHIVE, request)

    async def _send(self, kind: str, endpoint: str, request: Request) -> Response:
        f, acct, early = await self._guard(endpoint, request)
        if early is not None:
            return early
        body = await request.body()
        xml = _file_part(request.headers.get("content-type", ""), body)
        if not xml:
            return self._errors(endpoint, acct, 400, [(400, "file", "Nesnesi Null Olamaz.")])
        alias = request.query_params.get("Alias") or request.query_params.get("alias")
        if kind == EINVOICE and not alias:
            return self._errors(endpoint, acct, 400, [(400, "Alias", "Nesnesi Null Olamaz.")])
        doc = _read_doc(xml)
        if doc is None or not doc.uuid:
            return self._errors(endpoint, acct, 400, [(400, "file", "Geçerli bir UBL-TR fatura XML'i değil.")])
        key = (acct.api_key, doc.uuid)
        with self._lock:
            prior = self._invoices.get(key)
        if prior is not None and not prior.resend_allowed():
            return self._error(endpoint, acct, 1001, f"{doc.uuid} UUID (ETTN) sistemde kayıtlı.", uuid=doc.uuid)
        profile = (doc.profile or "").upper()
        if kind == EINVOICE and profile == "EARSIVFATURA":
            return self._error(endpoint, acct, 2063, uuid=doc.uuid)
        if kind == EARCHIVE and profile != "EARSIVFATURA":
            return self._error(endpoint, acct, 2024, uuid=doc.uuid)
        with self._lock:
            buyer = self._taxpayers.get(doc.buyer) if doc.buyer else None
            known_alias = any(alias in t.aliases for t in self._taxpayers.values()) if alias else False
        if kind == EARCHIVE and buyer is not None:
            return self._error(endpoint, acct, 2025, uuid=doc.uuid)
        if kind == EINVOICE:
            if doc.buyer and buyer is None:
                return self._error(endpoint, acct, 2054, uuid=doc.uuid)
            if buyer is not None and alias not in buyer.aliases:
                return self._error(endpoint, acct, 2052, uuid=doc.uuid)
            if buyer is None and not known_alias:
                return self._error(endpoint, acct, 3000, uuid=doc.uuid)
        errors: list[Finding] = []
        validator = self.validator
        if validator is not None:
            errors = [x for x in adapt_findings(await run_in_threadpool(validator, xml)) if x.is_error]
        if errors and (kind == EARCHIVE or self.validation_stage == "submit"):
            desc = codes.NILVERA_ERRORS[2015].tr
            return self._errors(endpoint, acct, 422, [(2015, desc, findings_to_text([x])) for x in errors], doc.uuid)
        with self._lock:
            reject = next(((i, c) for i, (k, c) in enumerate(self._rejects) if k == kind), None)
            if reject is not None:
                self._rejects.pop(reject[0])
            ticari = kind == EINVOICE and profile == "TICARIFATURA"
            scheduled = self._answers.pop(0) if (ticari and self._answers) else \
                (self.auto_answer, None) if (ticari and self.auto_answer) else None
            number = doc.number or f"NLV{datetime.now(timezone.utc).year}{next(self._numbers):09d}"
        if kind == EINVOICE:
            final = reject[1] if reject else (codes.SCHEMA_CODE if any(x.is_schema for x in errors)
                                              else codes.SCHEMATRON_CODE if errors else codes.SUCCESS_CODE)
            steps: list[Any] = [codes.QUEUED_CODE, codes.PROCESSING_CODE, final]
            if final == codes.SUCCESS_CODE and profile == "TICARIFATURA" and scheduled is not None:
                steps.append("answer")
        else:
            steps = [("waiting", False), ("succeed", False), ("succeed", True)]
            if reject:
                steps = [("waiting", False), ("error", reject[1])]
        inv = SimInvoice(kind, doc.uuid, number, doc.profile, acct.label, steps, alias=alias, buyer=doc.buyer, xml=xml,
                         findings=tuple(errors), scheduled_answer=scheduled,
                         attempts=(prior.attempts + 1) if prior else 1)
        with self._lock:  # check again and store in one step: two uploads of one ETTN at once take one
            now = self._invoices.get(key)
            taken = now is not None and now is not prior and not now.resend_allowed()
            if not taken:
                self._invoices[key] = inv
        if taken:
            return self._error(endpoint, acct, 1001, f"{doc.uuid} UUID (ETTN) sistemde kayıtlı.", uuid=doc.uuid)
        return await self._finish(f, self._ok(endpoint, acct, {"UUID": doc.uuid, "InvoiceNumber": number}, doc.uuid))

    def _poll(self, acct: SimAccount, uuid: str) -> SimInvoice | None:
        """The invoice as this poll sees it; then it moves on `steps_per_poll` steps."""
        with self._lock:
            inv = self._invoices.get((acct.api_key, uuid.lower()))
            if inv is None:
                return None
            inv.polls += 1
            if inv.current == "answer" and inv.answer is None and inv.scheduled_answer is not None:
                inv.answer, inv.answer_note = inv.scheduled_answer
            seen = replace(inv)
            inv.step = min(inv.step + self.steps_per_poll, len(inv.steps) - 1)
        return seen

    async def _status(self, kind: str, endpoint: str, request: Request) -> Response:
        f, acct, early = await self._guard(endpoint, request)
        if early is not None:
            return early
        uuid = request.path_params["uuid"]
        inv = self._poll(acct, uuid)
        if inv is None or inv.kind != kind:
            return self._error(endpoint, acct, 3003, f"{uuid} Nolu belge sistemde bulunamadı.", uuid=uuid)
        body = _einvoice_status(inv) if kind == EINVOICE else _earchive_status(inv)
        return await self._finish(f, self._ok(endpoint, acct, body, inv.uuid))

    async def _status_einvoice(self, request: Request) -> Response:
        return await self._status(EINVOICE, STATUS_EINVOICE, request)

    async def _status_earchive(self, request: Request) -> Response:
        return await self._status(EARCHIVE, STATUS_EARCHIVE, request)


def _einvoice_status(inv: SimInvoice) -> dict[str, Any]:
    at = inv.current
    gib = codes.SUCCESS_CODE if at == "answer" else int(at)
    spec = codes.gib_status(gib)
    nstat = "succeed" if gib == codes.SUCCESS_CODE else "error" if spec.outcome in (codes.FAILED, codes.DUPLICATE) else "waiting"
    name = GIB_NAMES.get(gib, spec.tr)
    detail = findings_to_text(inv.findings) if gib in (codes.SCHEMATRON_CODE, codes.SCHEMA_CODE) and inv.findings else None
    ticari = (inv.profile or "").upper() == "TICARIFATURA"
    if ticari and gib == codes.SUCCESS_CODE:
        answer_code = _ANSWER_CODES[inv.answer] if inv.answer else "waitingForApproval"
    else:
        answer_code = "unknown"
    return {
        "InvoiceProfile": inv.profile,
        "IssueDate": datetime.fromtimestamp(inv.submitted_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "Answer": {"AnswerCode": answer_code, "AnswerNote": inv.answer_note if inv.answer else None,
                   "Description": inv.answer_note if inv.answer else None},
        "InvoiceStatus": {"Code": nstat, "Description": name, "DetailDescription": detail},
        "EnvelopeInfo": {"UUID": str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, inv.uuid)), "GIBCode": gib,
                         "GIBDescription": name,
                         "CreatedDate": datetime.fromtimestamp(inv.submitted_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")},
    }


def _earchive_status(inv: SimInvoice) -> dict[str, Any]:
    state, extra = inv.current
    if state == "error":
        spec = codes.gib_status(extra)
        detail = f"{extra} {GIB_NAMES.get(extra, spec.tr if spec else '')}".strip()
        return {"StatusCode": "error", "StatusDetail": detail, "ReportStatus": "NotReported", "CancelStatus": False}
    return {"StatusCode": state, "StatusDetail": "Başarılı" if state == "succeed" else "Kuyrukta",
            "ReportStatus": "Reported" if extra else "NotReported", "CancelStatus": False}


def dev_simulator() -> NilveraSimulator:
    """The simulator for `kopru dev`: one account (NILVERA_SIM_API_KEY / NILVERA_SIM_VKN, or
    dev defaults) and the registered buyers in NILVERA_SIM_TAXPAYERS
    ("VKN=alias[,alias];VKN=alias"). Validation through kopru.einvoice.validate if present."""
    from kopru.config import settings

    s = settings()
    sim = NilveraSimulator()
    if s.nilvera_sim_answer not in ("", "KABUL", "RED", "AUTO"):
        raise ValueError("NILVERA_SIM_ANSWER must be KABUL, RED, AUTO or empty")
    sim.auto_answer = s.nilvera_sim_answer or None  # a TICARIFATURA's buyer answers by itself in dev
    sim.add_account(s.nilvera_sim_api_key, s.nilvera_sim_vkn, label="dev")
    for item in s.nilvera_sim_taxpayers.split(";"):
        vkn, _, aliases = item.strip().partition("=")
        if vkn.strip() and aliases.strip():
            sim.add_taxpayer(vkn.strip(), [a.strip() for a in aliases.split(",") if a.strip()])
    return sim


main = runner(dev_simulator, "nilvera-simulator", 8098)  # python -m kopru_tools.simulators.nilvera [--port N]


if __name__ == "__main__":
    main()
