"""Nilvera REST client: taxpayer check, e-Fatura and e-Arşiv upload (UBL-TR XML), status.

What was read (2025/2026; Nilvera's own reference is https://developer.nilvera.com):
- Odoo, github.com/odoo/odoo `addons/l10n_tr_nilvera/lib/nilvera_client.py`: base URLs
  `https://api.nilvera.com` (production) and `https://apitest.nilvera.com` (test), the
  API key sent as `Authorization: Bearer <key>`, `Accept: application/json`, a time-out
  of at most 30 s; 401/403 = "unauthorised, try another API key", other 4xx/5xx = "try
  again later".
- Odoo `addons/l10n_tr_nilvera/models/res_partner.py`: the taxpayer check
  `GET /general/GlobalCompany/Check/TaxNumber/{vkn}`, an empty JSON list meaning "not an
  e-Fatura user" (e-Arşiv), entries carrying the aliases (`Name`, e.g.
  `urn:mail:defaultpk@...`); `GET /general/GlobalCompany/GetGlobalCustomerInfo/{vkn}
  ?globalUserType=Invoice` for the alias list with its `Aliases[].Name`.
  `addons/l10n_tr_nilvera/models/res_config_settings.py`: `GET /general/Company` as the
  "test connection" call (401 = wrong API key; `TaxNumber` is the key's company).
- Odoo `addons/l10n_tr_nilvera_einvoice/models/account_move.py`: e-Fatura is
  `POST /einvoice/Send/Xml?Alias=<buyer's PK alias>`, e-Arşiv `POST /earchive/Send/Xml`,
  both multipart with the XML as the `file` part (`application/xml`), 200 on success;
  4xx bodies `{"Message", "Errors": [{"Code", "Description", "Detail"}]}` (3009 "series
  not defined" makes Odoo create the series with `POST /{einvoice|earchive}/Series` and
  retry); status `GET /einvoice/Sale/{uuid}/Status` and `GET /earchive/Invoices/{uuid}/Status`
  read as `InvoiceStatus.Code` (e-Fatura) or `StatusCode` (e-Arşiv), one of `waiting`,
  `succeed`, `error`, `unknown`. Its TICARIFATURA override (`Answer.AnswerCode` in
  approved / rejected / documentAnsweredAutomatically, the rejection note in
  `Answer.Description`) and `tests/test_tr_nilvera_mocked_requests.py` (the exact calls and
  bodies: Send returns `{"UUID", "InvoiceNumber"}`; a 422 example
  `{"Message": "HATALI ISTEK", "Errors": [{"Code": 2000, ...}]}`).
  `addons/l10n_tr_nilvera/const.py`: Nilvera's error codes by HTTP status.
- Nilvera's OpenAPI documents (github.com/montarist/nilvera-api `docs/einvoice.swagger.json`,
  `docs/earchive.swagger.json`, `docs/general.swagger.json`): the same paths; security
  scheme `Bearer`; Send/Xml takes `Alias` and `TemplateUUID` query parameters and a
  multipart `file` ("zipped or plain XML") and answers 200 `SendResponse {UUID,
  InvoiceNumber}`, 400, 403, 404, 409 ("the request already exists in the system"), 422;
  e-Fatura `StatusResponse {InvoiceProfile, IssueDate, Answer {AnswerCode, AnswerNote,
  Description}, InvoiceStatus {Code, Description, DetailDescription}, EnvelopeInfo {UUID,
  GIBCode, GIBDescription, CreatedDate}}`; e-Arşiv `StatusResponse {StatusCode,
  StatusDetail, ReportStatus (NotReported|Reported), CancelStatus}`; Check/TaxNumber
  returns `[GlobalCompanyInfoResponse {TaxNumber, Title, FirstCreatedTime, CreationTime,
  DocumentType, Name, Type}]` and takes `globalUserType` (Invoice|DespatchAdvice).
- https://developer.nilvera.com/hata-kodlari: 401 Unauthorized, 403 Forbidden, 5xx server
  errors, 400 and 404 bodies (`{"Message": "GECERSIZ ISTEK", "Errors": [{"Code": 400,
  "Description": "Alias", "Detail": "Nesnesi Null Olamaz."}]}`), the 3xxx list.
- https://developer.nilvera.com/kod-listeleri ("GİB Detaylı Durum Kodları"): GİB's
  envelope codes 1000 ... 1300 with what to do for each (codes.py).

Endpoints used here:
    GET  {base}/general/Company                                    -> {TaxNumber, Name, ...}
    GET  {base}/general/GlobalCompany/Check/TaxNumber/{vkn|tckn}?globalUserType=Invoice
                                                                   -> [{Name: alias, DocumentType, Type, Title, ...}]
    POST {base}/einvoice/Send/Xml?Alias={alias}   multipart file   -> {UUID, InvoiceNumber}
    POST {base}/earchive/Send/Xml                 multipart file   -> {UUID, InvoiceNumber}
    GET  {base}/einvoice/Sale/{uuid}/Status                        -> e-Fatura StatusResponse
    GET  {base}/earchive/Invoices/{uuid}/Status                    -> e-Arşiv StatusResponse

Where the sources are silent, and what was chosen:
- How Nilvera answers a second upload of a UUID it already holds is not shown anywhere;
  its documents say 409 means "already in the system", and Odoo's code table has 1001
  "UUID (ETTN) is already registered" and 1004 "this e-invoice was added before" under
  409. So a 409 on Send (other than 1000 "tax number does not match" and 1005 "number used
  before", which are real refusals) is returned as `already_submitted=True`: resubmitting
  never creates a second invoice, at Nilvera or at GİB (GİB itself would answer 1163).
  If that guess were wrong the status poll says so: `get_status` raises DocumentNotFound
  (404) for a UUID Nilvera does not hold.
- Whether Nilvera refuses an invalid document on upload (422, code 2015 "schema/schematron
  error") or accepts it and reports GİB's 1150/1160 in the status: both are handled; the
  simulator does the second for e-Fatura by default (configurable) and the first for
  e-Arşiv (no GİB envelope there). The text of GİB's findings is free text in
  `DetailDescription`; it is split into one finding per line.
- The 401 body is not documented (ASP.NET bearer auth sends none); any body is ignored.
- Whether an unregistered tax number is `[]` or a 404 on Check/TaxNumber: Odoo relies on
  `[]`; a 404 is read as "not registered" too (a wrong routing is then refused by Nilvera
  with 2025/2054, which carry `reroute=True`).
- No idempotency key exists at Nilvera: the ETTN in the document is the key. The client
  checks that the `uuid` argument is the document's own `cbc:UUID` before sending.
- A GİB-registered status with `InvoiceStatus.Code` `unknown` keeps being polled (Odoo stops).

This client never retries a send itself (the caller records the UUID first, then
retries with backoff: safe, see above). It retries the read-only calls a few times on a
transient error.

Logging: one line per call (`nilvera.call` / `nilvera.call_failed`) with the endpoint,
HTTP status, Nilvera/GİB code, UUID, sizes and duration; never the API key, the XML, a
tax number or an alias. The tax number and the alias travel in the URL, so a filter on
the `httpx` logger masks them in httpx's own request lines.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

from kopru.connectors.common import (
    READ_RETRY,  # noqa: F401  (re-exported)
    HttpConnector,
    RetryPolicy,  # noqa: F401  (re-exported)
    read_retry,
    traced_call,
    transport_errors,
)
from kopru.connectors.nilvera import codes
from kopru.connectors.nilvera.codes import (
    ALREADY,
    COMPANY,
    EARCHIVE,
    EINVOICE,
    SEND_EARCHIVE,
    SEND_EINVOICE,
    STATUS_EARCHIVE,
    STATUS_EINVOICE,
    TAXPAYER,
    TRANSIENT,
    Finding,
    findings_from_text,
)
from kopru.connectors.nilvera.errors import (
    AuthError,
    DocumentNotFound,
    InvalidRequest,
    NilveraError,
    PermanentError,
    TransientError,
    ValidationRejected,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("kopru.connectors.nilvera")

DEFAULT_BASE_URL = "https://api.nilvera.com"
TEST_BASE_URL = "https://apitest.nilvera.com"
BASE_URL_ENV = "NILVERA_BASE_URL"
PATHS = {
    COMPANY: "/general/Company",
    TAXPAYER: "/general/GlobalCompany/Check/TaxNumber/{tax_number}",
    SEND_EINVOICE: "/einvoice/Send/Xml",
    SEND_EARCHIVE: "/earchive/Send/Xml",
    STATUS_EINVOICE: "/einvoice/Sale/{uuid}/Status",
    STATUS_EARCHIVE: "/earchive/Invoices/{uuid}/Status",
}
MAX_XML_BYTES = 10 * 1024 * 1024  # Nilvera's own limit is not documented; a UBL-TR invoice is far smaller
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TAX_NUMBER = re.compile(r"^(?:\d{10}|\d{11})$")  # VKN 10 digits, TCKN 11
_ALIAS = re.compile(r"^urn:mail:\S+@\S+$")
# The document's ETTN: Invoice/cbc:UUID, the first UUID element in schema order (UBLExtensions,
# which come before it, hold the signature and no UUID element).
_DOC_UUID = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?UUID(?:\s[^>]*)?>\s*([^<\s]+)\s*</")


def base_url_from_env() -> str:
    """NILVERA_BASE_URL (through kopru.config), else Nilvera's production API (never on
    kopru dev's embedded data: kopru.connectors.common.base_url)."""
    from kopru.config import settings
    from kopru.connectors.common import base_url

    return base_url(settings().nilvera_base_url, DEFAULT_BASE_URL, BASE_URL_ENV)


def document_uuid(xml: bytes) -> str | None:
    """The ETTN of a UBL-TR document (its Invoice/cbc:UUID), lower-cased; None if absent."""
    m = _DOC_UUID.search(xml[:1_000_000] if isinstance(xml, (bytes, bytearray)) else b"")
    return m.group(1).decode("ascii", "replace").lower() if m else None


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    """The company an API key belongs to (the "test connection" answer)."""

    tax_number: str | None
    name: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Taxpayer:
    """Whether a VKN/TCKN is a registered e-Fatura user, and its PK aliases (for the
    `Alias` of an e-Fatura). `title` (a company or a person's name) is kept out of repr."""

    registered: bool
    aliases: tuple[str, ...] = ()
    type: str | None = None  # GİB's user type, e.g. OZEL / KAMU
    first_created: str | None = None
    title: str | None = field(default=None, repr=False)

    @property
    def default_alias(self) -> str | None:
        """The alias to send to: the one named `defaultpk` if there is one, else the first
        (more than one alias means the buyer should say which; see Odoo's multi-alias warning)."""
        for a in self.aliases:
            if "defaultpk@" in a.lower():
                return a
        return self.aliases[0] if self.aliases else None

    def __repr__(self) -> str:  # aliases can name a person (sole proprietors): count only
        return f"Taxpayer(registered={self.registered!r}, aliases={len(self.aliases)}, type={self.type!r})"


@dataclass(frozen=True)
class SendResult:
    """Nilvera took the document (or already held this UUID: `already_submitted`, in which
    case nothing new was created and `number` is unknown)."""

    kind: str
    uuid: str
    number: str | None
    already_submitted: bool = False


@dataclass(frozen=True)
class Status:
    """Where an invoice is. `outcome` is what callers branch on (codes.PENDING, DELIVERED,
    ACCEPTED, REJECTED, FAILED, DUPLICATE, CANCELLED); `final` says whether to stop polling;
    `code` is the precise code to record: the GİB envelope code ("1000", "1300", "1150"...)
    when there is one, "KABUL"/"RED" once a TICARIFATURA is answered, else Nilvera's status
    ("queued", "succeed", "error", "unknown", "cancelled"). `resend` says whether the same
    document may go again (codes.RESEND_*). `detail`, `answer_note` and `findings` are
    GİB's, Nilvera's or the buyer's words and can quote the document: not in repr."""

    kind: str
    uuid: str
    code: str
    outcome: str
    final: bool
    tr: str
    en: str
    answer: str | None = None  # KABUL | RED (TICARIFATURA)
    answered_automatically: bool = False
    resend: str | None = None
    gib_code: int | None = None
    nilvera_status: str | None = None
    profile: str | None = None
    reported: bool | None = None  # e-Arşiv: reported to GİB yet
    detail: str | None = field(default=None, repr=False)
    answer_note: str | None = field(default=None, repr=False)
    findings: tuple[Finding, ...] = field(default=(), repr=False)

    @property
    def pending(self) -> bool:
        return not self.final

    @property
    def awaiting_answer(self) -> bool:
        """A TICARIFATURA that reached the buyer and waits for KABUL or RED (8-day window)."""
        return self.outcome == codes.DELIVERED and not self.final

    @property
    def permanent(self) -> bool:
        """A final failure that sending the same document again cannot fix."""
        return self.final and self.outcome in (codes.FAILED, codes.DUPLICATE, codes.REJECTED) \
            and self.resend != codes.RESEND_AS_IS


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _text(v: Any) -> str | None:
    return v.strip() or None if isinstance(v, str) else None


def status_from_response(kind: str, uuid: str, body: Any, *, profile: str | None = None) -> Status:
    """Map Nilvera's status answer for one invoice to a `Status` (pure; the simulator and
    tests use it too). `profile` is the document's ProfileID when the answer lacks it."""
    body = body if isinstance(body, dict) else {}
    uuid = str(uuid).lower()
    if kind == EARCHIVE:
        nstat = (_text(body.get("StatusCode")) or "unknown").lower()
        detail = _text(body.get("StatusDetail"))
        reported = body.get("ReportStatus") == "Reported" if body.get("ReportStatus") is not None else None
        if body.get("CancelStatus") is True:
            spec, code = codes.EARCHIVE_CANCELLED, "cancelled"
        elif nstat == "succeed":
            spec, code = codes.EARCHIVE_DELIVERED, "succeed"
        else:
            spec = codes.NILVERA_STATUS.get(nstat, codes.NILVERA_STATUS["unknown"])
            code = "queued" if nstat == "waiting" else (nstat if nstat in codes.NILVERA_STATUS else "unknown")
        findings = findings_from_text(detail) if spec.outcome == codes.FAILED else ()
        return Status(kind, uuid, code, spec.outcome, spec.final, spec.tr, spec.en, resend=spec.resend,
                      nilvera_status=nstat, profile=_text(body.get("InvoiceProfile")) or profile or "EARSIVFATURA",
                      reported=reported, detail=detail, findings=findings)

    inv = body.get("InvoiceStatus") if isinstance(body.get("InvoiceStatus"), dict) else {}
    env = body.get("EnvelopeInfo") if isinstance(body.get("EnvelopeInfo"), dict) else {}
    ans = body.get("Answer") if isinstance(body.get("Answer"), dict) else {}
    nstat = (_text(inv.get("Code")) or "unknown").lower()
    gib = _int(env.get("GIBCode")) or None
    prof = _text(body.get("InvoiceProfile")) or profile
    detail = "\n".join(t for t in (_text(inv.get("Description")) or _text(env.get("GIBDescription")),
                                   _text(inv.get("DetailDescription"))) if t) or None
    nspec = codes.NILVERA_STATUS.get(nstat, codes.NILVERA_STATUS["unknown"])
    gspec = codes.gib_status(gib)
    if gspec is not None and not (gspec.outcome == codes.PENDING and nstat == "error"):
        spec, code = gspec, str(gib)
    elif gib is not None:
        spec, code = nspec, str(gib)  # a GİB code we do not know: Nilvera's status decides
    elif nstat == "succeed":
        spec, code = codes.GIB_STATUS[codes.SUCCESS_CODE], str(codes.SUCCESS_CODE)
    else:
        spec, code = nspec, {"waiting": "queued"}.get(nstat, nstat if nstat in codes.NILVERA_STATUS else "unknown")
    answer = None
    auto = False
    note = None
    if spec.outcome == codes.DELIVERED and (prof or "").upper() == "TICARIFATURA":
        got = codes.ANSWER_CODES.get(_text(ans.get("AnswerCode")) or "")
        if got is None:
            spec = codes.AWAITING_ANSWER
        else:
            answer, auto = got
            spec = codes.ANSWERED_AUTOMATICALLY if auto else codes.ANSWERS[answer]
            code = answer
            note = _text(ans.get("AnswerNote")) or _text(ans.get("Description"))
    findings: tuple[Finding, ...] = ()
    if spec.outcome == codes.FAILED:
        source = "xsd" if gib == codes.SCHEMA_CODE else "schematron" if gib == codes.SCHEMATRON_CODE else None
        findings = findings_from_text(_text(inv.get("DetailDescription")), source=source)
    return Status(kind, uuid, code, spec.outcome, spec.final, spec.tr, spec.en, answer=answer,
                  answered_automatically=auto, resend=spec.resend, gib_code=gib, nilvera_status=nstat,
                  profile=prof, detail=detail, answer_note=note, findings=findings)




# -- request checks (refused before anything is sent; never echo the input) -------------------

def _invalid(code: str, tr: str, en: str) -> InvalidRequest:
    return InvalidRequest(f"nilvera.{code}", tr, en)


def _check_api_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or not key.isascii() or not key.isprintable() or " " in key.strip():
        raise _invalid("api_key_missing", "Nilvera API anahtarı gerekli.", "A Nilvera API key is required.")
    return key.strip()


def _check_tax_number(v: Any) -> str:
    s = v.strip() if isinstance(v, str) else ""
    if not _TAX_NUMBER.fullmatch(s):
        raise _invalid("tax_number_invalid", "Vergi numarası 10 haneli VKN ya da 11 haneli TCKN olmalı.",
                       "The tax number must be a 10-digit VKN or an 11-digit TCKN.")
    return s


def _check_uuid(v: Any) -> str:
    s = v.strip() if isinstance(v, str) else str(v) if v is not None else ""
    if not _UUID.fullmatch(s):
        raise _invalid("uuid_invalid", "UUID (ETTN) 8-4-4-4-12 biçiminde olmalı.", "The UUID (ETTN) must be in 8-4-4-4-12 form.")
    return s.lower()


def _check_xml(xml: Any, uuid: str) -> bytes:
    if not isinstance(xml, (bytes, bytearray)) or not xml.strip():
        raise _invalid("xml_missing", "Gönderilecek XML belgesi boş.", "The XML document to send is empty.")
    if len(xml) > MAX_XML_BYTES:
        raise _invalid("xml_too_large", "XML belgesi çok büyük.", "The XML document is too large.")
    if document_uuid(bytes(xml)) != uuid:
        raise _invalid("uuid_mismatch", "UUID belgenin kendi UUID (ETTN) alanıyla aynı olmalı.",
                       "The UUID must be the document's own UUID (ETTN).")
    return bytes(xml)


def _check_alias(v: Any) -> str:
    s = v.strip() if isinstance(v, str) else ""
    if not _ALIAS.fullmatch(s):
        raise _invalid("alias_invalid", "Alıcı etiketi urn:mail:...@... biçiminde olmalı.",
                       "The buyer's alias must look like urn:mail:...@....")
    return s


def _check_kind(kind: Any) -> str:
    if kind not in codes.KINDS:
        raise _invalid("kind_invalid", "Belge türü einvoice ya da earchive olmalı.", "The kind must be einvoice or earchive.")
    return kind


# -- keeping tax numbers and aliases out of httpx's own log lines ------------------------------

_URL_SECRETS = (
    (re.compile(r"(/GlobalCompany/(?:Check/TaxNumber|GetGlobalCustomerInfo)/)[^/?#\s\"']+", re.I), r"\1***"),
    (re.compile(r"((?:/einvoice/Send/Xml)[^\s\"']*?[?&]Alias=)[^&#\s\"']+", re.I), r"\1***"),
)


class _MaskNilveraUrls(logging.Filter):
    """httpx logs each request's URL at INFO; for Nilvera's URLs that would put a tax number
    (a TCKN is personal data) or an alias in the logs. Rewrites only those URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            changed = False
            out = []
            for a in args:
                s = str(a) if not isinstance(a, (int, float)) else None
                if s is not None and ("GlobalCompany" in s or "Alias=" in s):
                    for rx, rep in _URL_SECRETS:
                        s = rx.sub(rep, s)
                    out.append(s)
                    changed = True
                else:
                    out.append(a)
            if changed:
                record.args = tuple(out)
        return True


_MASK = _MaskNilveraUrls()


def _install_url_mask() -> None:
    lg = logging.getLogger("httpx")
    if _MASK not in lg.filters:
        lg.addFilter(_MASK)


# -- the client ---------------------------------------------------------------------------------


class NilveraClient(HttpConnector):
    """One tenant's Nilvera API key over one HTTP pool; `async with NilveraClient(key) as c:`.

    `base_url` defaults to $NILVERA_BASE_URL, else production (`TEST_BASE_URL` is Nilvera's
    test system). `http` is an `httpx.AsyncClient` to share between tenants (it is not
    closed here; the key goes per request). `timeout` bounds each call (connect 5 s of it)."""

    def __init__(self, api_key: str, base_url: str | None = None, http: "httpx.AsyncClient | None" = None, *,
                 timeout: float = 30.0, read_retry: RetryPolicy = READ_RETRY) -> None:
        self._api_key = _check_api_key(api_key)
        self.read_retry = read_retry
        self._connect(base_url or base_url_from_env(), timeout, http)
        _install_url_mask()

    # -- calls ------------------------------------------------------------------------------

    async def company(self) -> Company:
        """The key's company: the "test connection" call (AuthError on a wrong key)."""
        def handle(resp):
            data = _json_object(resp, COMPANY)
            return Company(_text(data.get("TaxNumber")), _text(data.get("Name"))), {}

        return await self._read(COMPANY, "GET", PATHS[COMPANY], handle=handle)

    async def check_taxpayer(self, tax_number: str) -> Taxpayer:
        """Whether `tax_number` (VKN or TCKN) is a registered e-Fatura user, with its aliases
        for invoices. Not registered means: send e-Arşiv."""
        tn = _check_tax_number(tax_number)

        def handle(resp):
            if resp.status_code == 404:
                errs = _errors(resp)
                if 3030 in [e["code"] for e in errs]:  # "API not found": a wrong URL, not an answer
                    raise _error(TAXPAYER, resp, side_effect=False, errs=errs)
                return Taxpayer(False), {"registered": False, "aliases": 0}
            data = _json(resp, TAXPAYER)
            if not isinstance(data, list):
                raise _transport("bad_response", TAXPAYER, ambiguous=False, http_status=resp.status_code)
            entries = [e for e in data if isinstance(e, dict)
                       and (_text(e.get("DocumentType")) or "Invoice").lower() == "invoice"]
            aliases: list[str] = []
            for e in entries:
                a = _text(e.get("Name"))
                if a and a not in aliases:
                    aliases.append(a)
            first = entries[0] if entries else {}
            tp = Taxpayer(bool(aliases), tuple(aliases), _text(first.get("Type")),
                          _text(first.get("FirstCreatedTime")), _text(first.get("Title")))
            return tp, {"registered": tp.registered, "aliases": len(aliases)}

        return await self._read(TAXPAYER, "GET", PATHS[TAXPAYER].format(tax_number=quote(tn, safe="")),
                                params={"globalUserType": "Invoice"}, handle=handle, ok=(200, 404),
                                fields={"tax_number_kind": "vkn" if len(tn) == 10 else "tckn"})

    async def send_einvoice(self, xml: bytes, uuid: str, alias: str) -> SendResult:
        """Upload a signed UBL-TR e-Fatura for the buyer's PK `alias`. `uuid` must be the
        document's ETTN. A UUID Nilvera already holds answers `already_submitted=True`."""
        u = _check_uuid(uuid)
        doc = _check_xml(xml, u)
        return await self._send(EINVOICE, SEND_EINVOICE, doc, u, {"Alias": _check_alias(alias)})

    async def send_earchive(self, xml: bytes, uuid: str) -> SendResult:
        """Upload a signed UBL-TR e-Arşiv invoice (ProfileID EARSIVFATURA). Same idempotency."""
        u = _check_uuid(uuid)
        doc = _check_xml(xml, u)
        return await self._send(EARCHIVE, SEND_EARCHIVE, doc, u, None)

    async def get_status(self, kind: str, uuid: str, *, profile: str | None = None) -> Status:
        """The invoice's status (`kind` codes.EINVOICE or codes.EARCHIVE). `profile` is its
        ProfileID when known (TICARIFATURA waits for an answer after 1300). Raises
        DocumentNotFound when Nilvera has no such UUID."""
        k = _check_kind(kind)
        u = _check_uuid(uuid)
        endpoint = STATUS_EINVOICE if k == EINVOICE else STATUS_EARCHIVE

        def handle(resp):
            st = status_from_response(k, u, _json_object(resp, endpoint), profile=profile)
            return st, {"status": st.code, "outcome": st.outcome, "final": st.final}

        return await self._read(endpoint, "GET", PATHS[endpoint].format(uuid=u), handle=handle,
                                fields={"uuid": u, "kind": k})

    # -- machinery ------------------------------------------------------------------------

    async def _send(self, kind: str, endpoint: str, doc: bytes, uuid: str, params: dict | None) -> SendResult:
        def handle(resp):
            if resp.status_code == 409:
                errs = _errors(resp)
                spec = codes.error_spec(_first_code(errs), 409)
                if spec.kind == ALREADY:
                    return SendResult(kind, uuid, None, True), {"already_submitted": True, "code": "already_submitted",
                                                                "nilvera_codes": [e["code"] for e in errs]}
                raise _error(endpoint, resp, side_effect=True, errs=errs)
            data = _json_object(resp, endpoint, side_effect=True)
            got = _text(str(data.get("UUID"))) if data.get("UUID") is not None else None
            if not got:
                raise _transport("bad_response", endpoint, ambiguous=True, http_status=resp.status_code)
            if got.lower() != uuid:
                # Nilvera took the upload under another UUID: not what was asked; the poller will see
                raise _transport("bad_response", endpoint, ambiguous=True, http_status=resp.status_code)
            return SendResult(kind, uuid, _text(data.get("InvoiceNumber"))), {"already_submitted": False}

        return await self._call(endpoint, "POST", PATHS[endpoint], handle=handle, params=params,
                                files={"file": (f"{uuid}.xml", doc, "application/xml")}, side_effect=True,
                                fields={"uuid": uuid, "kind": kind, "xml_bytes": len(doc)}, ok=(200, 201, 409))

    async def _read(self, endpoint: str, method: str, path: str, **kw: Any) -> Any:
        return await read_retry(self.read_retry, lambda: self._call(endpoint, method, path, **kw), TransientError)

    async def _call(self, endpoint: str, method: str, path: str, *, handle: Callable, params: dict | None = None,
                    files: dict | None = None, side_effect: bool = False, fields: dict | None = None,
                    ok: tuple[int, ...] = (200,)) -> Any:
        f: dict[str, Any] = {"endpoint": endpoint, **(fields or {})}

        def request():
            return self._http.request(
                method, self.base_url + path, params=params, files=files, timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json",
                         "User-Agent": "kopru-nilvera/1"},
            )

        def answer(resp):
            if resp.status_code not in ok:
                raise _error(endpoint, resp, side_effect=side_effect)
            result, more = handle(resp)
            f.update(more)
            return result

        return await traced_call(log, "nilvera", endpoint, f, request, answer, side_effect=side_effect,
                                 errors=NilveraError, transient=TransientError, transport=_transport,
                                 on_error=_error_fields, error_type=True, chain=False)


def _error_fields(e: NilveraError, f: dict[str, Any]) -> None:
    if e.nilvera_codes:
        f["nilvera_codes"] = list(e.nilvera_codes)


_transport = transport_errors(codes.TRANSPORT, TransientError)


def _json(resp: "httpx.Response", endpoint: str, *, side_effect: bool = False) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise _transport("bad_response", endpoint, ambiguous=side_effect, http_status=resp.status_code) from None


def _json_object(resp: "httpx.Response", endpoint: str, *, side_effect: bool = False) -> dict:
    data = _json(resp, endpoint, side_effect=side_effect)
    if not isinstance(data, dict):
        raise _transport("bad_response", endpoint, ambiguous=side_effect, http_status=resp.status_code)
    return data


def _errors(resp: "httpx.Response") -> tuple[dict[str, Any], ...]:
    """Nilvera's `Errors[]` as (code, description, detail) dicts; () when the body has none."""
    try:
        body = resp.json()
    except ValueError:
        return ()
    items = body.get("Errors") if isinstance(body, dict) else None
    out = []
    for e in items if isinstance(items, list) else ():
        if isinstance(e, dict):
            out.append({"code": _int(e.get("Code")), "description": _text(e.get("Description")),
                        "detail": _text(e.get("Detail"))})
    return tuple(out)


def _first_code(errs: tuple[dict[str, Any], ...]) -> int | None:
    for e in errs:
        if e["code"] in codes.NILVERA_ERRORS:
            return e["code"]
    return next((e["code"] for e in errs if e["code"] is not None), None)


def _error(endpoint: str, resp: "httpx.Response", *, side_effect: bool,
           errs: tuple[dict[str, Any], ...] | None = None) -> NilveraError:
    """Nilvera's non-success answer -> the error to raise."""
    status = resp.status_code
    if status >= 500:
        return _transport("http_5xx", endpoint, ambiguous=side_effect, http_status=status, code=f"http_{status}")
    if status in (408, 429):
        return _transport(f"http_{status}", endpoint, ambiguous=False, http_status=status)
    if status in (401, 403):
        s = codes.TRANSPORT["unauthorized" if status == 401 else "forbidden"]
        return AuthError("unauthorized" if status == 401 else "forbidden", s.tr, s.en, endpoint=endpoint, http_status=status)
    errs = _errors(resp) if errs is None else errs
    code = _first_code(errs)
    spec = codes.error_spec(code, status)
    name = str(code) if code is not None else f"http_{status}"
    if spec.kind == TRANSIENT:
        return TransientError(name, spec.tr, spec.en, endpoint=endpoint, http_status=status, ambiguous=False,
                              nilvera_errors=errs)
    if code == 2015:
        found: list[Finding] = []
        for e in errs:
            if e["code"] == 2015:
                found += findings_from_text(e["detail"]) or (Finding(None, e["description"] or spec.en),)
        return ValidationRejected(name, spec.tr, spec.en, endpoint=endpoint, http_status=status, nilvera_errors=errs,
                                  findings=tuple(found))
    if status == 404 and endpoint in (STATUS_EINVOICE, STATUS_EARCHIVE):
        return DocumentNotFound(name if code is not None else "not_found", spec.tr, spec.en, endpoint=endpoint,
                                http_status=status, nilvera_errors=errs)
    return PermanentError(name, spec.tr, spec.en, endpoint=endpoint, http_status=status, nilvera_errors=errs,
                          reroute=spec.reroute)
