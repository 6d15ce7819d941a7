"""Nilvera's and GİB's codes, each with a Turkish and an English reason, and what each
means for the caller: for an API answer, permanent / transient / already submitted; for
an invoice's status, its outcome (pending, delivered, accepted, rejected, failed,
duplicate), whether it is final, and whether the document may be sent again.

Sources (see client.py for the whole list):
- GİB envelope status codes and what to do for each: Nilvera's "KOD LİSTELERİ / GİB
  Detaylı Durum Kodları" (https://developer.nilvera.com/kod-listeleri; a copy, printed
  2024-12-23, is github.com/montarist/nilvera-api `docs/KOD LİSTELERİ _ Nilvera API v1.pdf`),
  which says for each code whether to wait, resend (the same ETTN is allowed) or not
  resend (1163).
- Nilvera API error codes: https://developer.nilvera.com/hata-kodlari (400/404 examples
  and the 404 list) and Odoo's `addons/l10n_tr_nilvera/const.py`
  (`NILVERA_ERROR_CODE_MESSAGES`, grouped by the HTTP status they come with: 404 3xxx,
  409 1xxx, 422 2xxx). The Turkish texts for the 409/422 codes are ours: neither source
  has them in Turkish.
- Status and answer enums: Nilvera's OpenAPI documents (github.com/montarist/nilvera-api
  `docs/einvoice.swagger.json`, `docs/earchive.swagger.json`): `StatusCode` unknown /
  waiting / succeed / error, `AnswerCode` unknown / waitingForApproval / approved /
  rejected / documentAnsweredAutomatically, `EnvelopeDetail.GIBCode`.

Nothing here imports an HTTP client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# document kinds (Nilvera's two APIs)
EINVOICE = "einvoice"  # e-Fatura: to a registered buyer, through GİB's envelope system
EARCHIVE = "earchive"  # e-Arşiv: to everyone else, reported to GİB by the integrator
KINDS = (EINVOICE, EARCHIVE)

# endpoints (names used in errors, logs, spans and the simulator's failure injection)
COMPANY = "company"
TAXPAYER = "taxpayer"
SEND_EINVOICE = "einvoice.send"
SEND_EARCHIVE = "earchive.send"
STATUS_EINVOICE = "einvoice.status"
STATUS_EARCHIVE = "earchive.status"
ENDPOINTS = (COMPANY, TAXPAYER, SEND_EINVOICE, SEND_EARCHIVE, STATUS_EINVOICE, STATUS_EARCHIVE)

# outcomes of an invoice (Status.outcome)
PENDING = "pending"  # with the integrator or GİB, or waiting for the buyer's system
DELIVERED = "delivered"  # GİB 1300 (e-Fatura) / created and signed (e-Arşiv); TICARIFATURA waits for the answer
ACCEPTED = "accepted"  # TICARIFATURA: KABUL (or accepted automatically after the answer window)
REJECTED = "rejected"  # TICARIFATURA: RED
FAILED = "failed"  # GİB or the integrator refused the document
DUPLICATE = "duplicate"  # GİB 1163: an invoice with this ETTN is already registered at GİB
CANCELLED = "cancelled"  # e-Arşiv cancelled at the integrator

# may the document be sent again (Status.resend; None when the question does not arise)
RESEND_AS_IS = "as_is"  # the same document, same ETTN, may simply be sent again
RESEND_AFTER_FIX = "after_fix"  # fix the document; the same ETTN may be used again
RESEND_NEVER = "never"  # do not send it again

# TICARIFATURA answers
KABUL = "KABUL"
RED = "RED"
ANSWER_CODES = {  # Nilvera AnswerCode -> (answer, automatic)
    "approved": (KABUL, False),
    "rejected": (RED, False),
    "documentAnsweredAutomatically": (KABUL, True),
}
ANSWER_WINDOW_DAYS = 8  # GİB: the buyer answers a TICARIFATURA within 8 days (issue #6); Odoo's note says 7


@dataclass(frozen=True)
class StatusSpec:
    outcome: str
    final: bool
    tr: str
    en: str
    resend: str | None = None


def _fail(tr: str, en: str, resend: str) -> StatusSpec:
    return StatusSpec(FAILED, True, tr, en, resend)


_RESEND_TR = " Fatura yeniden gönderilmeli (aynı ETTN ile yeniden gönderime izin verilir)."
_RESEND_EN = " Send the invoice again (the same ETTN is allowed)."
_FIX_TR = " Belge düzeltilip yeniden gönderilmeli (aynı ETTN ile yeniden gönderime izin verilir)."
_FIX_EN = " Fix the document and send it again (the same ETTN is allowed)."

# GİB envelope status codes (EnvelopeInfo.GIBCode on Nilvera's e-Fatura status)
GIB_STATUS: dict[int, StatusSpec] = {
    1000: StatusSpec(PENDING, False, "Zarf kuyruğa eklendi; GİB'e iletildi, durum güncellemesi bekleniyor.",
                     "Envelope queued at GİB; waiting for the status to change."),
    1100: StatusSpec(PENDING, False, "Zarf işleniyor.", "Envelope being processed at GİB."),
    1110: _fail("Zip dosyası değil." + _RESEND_TR, "Not a zip file." + _RESEND_EN, RESEND_AS_IS),
    1111: _fail("Zarf ID uzunluğu geçersiz." + _RESEND_TR, "Invalid envelope ID length." + _RESEND_EN, RESEND_AS_IS),
    1120: _fail("Zarf arşivden kopyalanamadı." + _RESEND_TR, "The envelope could not be copied from the archive." + _RESEND_EN,
                RESEND_AS_IS),
    1130: _fail("Zip açılamadı." + _RESEND_TR, "The zip could not be opened." + _RESEND_EN, RESEND_AS_IS),
    1131: _fail("Zip bir dosya içermeli." + _RESEND_TR, "The zip must contain one file." + _RESEND_EN, RESEND_AS_IS),
    1132: _fail("XML dosyası değil." + _RESEND_TR, "Not an XML file." + _RESEND_EN, RESEND_AS_IS),
    1133: _fail("Zarf ID ve XML dosyasının adı aynı olmalı." + _RESEND_TR,
                "The envelope ID and the XML file name must match." + _RESEND_EN, RESEND_AS_IS),
    1140: _fail("Doküman ayrıştırılamadı." + _FIX_TR, "The document could not be parsed." + _FIX_EN, RESEND_AFTER_FIX),
    1141: _fail("Zarf ID yok." + _RESEND_TR, "No envelope ID." + _RESEND_EN, RESEND_AS_IS),
    1142: _fail("Zarf ID ve zip dosyası adı aynı olmalı." + _RESEND_TR,
                "The envelope ID and the zip file name must match." + _RESEND_EN, RESEND_AS_IS),
    1143: _fail("Geçersiz versiyon." + _FIX_TR, "Invalid version." + _FIX_EN, RESEND_AFTER_FIX),
    1150: _fail("Schematron kontrol sonucu hatalı: GİB'in belirlediği standartlarda olması gereken bilgiler yanlış."
                + _FIX_TR,
                "GİB's schematron check failed: data GİB's rules require is wrong." + _FIX_EN, RESEND_AFTER_FIX),
    1160: _fail("XML şema kontrolünden geçemedi." + _FIX_TR, "The XML failed GİB's schema (XSD) check." + _FIX_EN,
                RESEND_AFTER_FIX),
    1161: _fail("İmza sahibi TCKN/VKN alınamadı." + _RESEND_TR, "The signer's TCKN/VKN could not be read." + _RESEND_EN,
                RESEND_AS_IS),
    1162: _fail("İmza kaydedilemedi." + _RESEND_TR, "The signature could not be stored." + _RESEND_EN, RESEND_AS_IS),
    1163: StatusSpec(DUPLICATE, True,
                     "Gönderilen zarf sistemde daha önce kayıtlı olan bir faturayı içermektedir; fatura yeniden gönderilmemeli.",
                     "The envelope contains an invoice already registered at GİB; do not send it again.", RESEND_NEVER),
    1170: _fail("Yetki kontrol edilemedi." + _RESEND_TR, "Authorisation could not be checked." + _RESEND_EN, RESEND_AS_IS),
    1171: _fail("Gönderici birim yetkisi yok (gönderici birim etiketinde GB yerine PK tanımlanmış olabilir).",
                "No sender-unit authority (a PK alias may be set where the GB alias belongs).", RESEND_AFTER_FIX),
    1172: _fail("Posta kutusu yetkisi yok (posta kutusu etiketinde PK yerine GB tanımlanmış olabilir).",
                "No mailbox authority (a GB alias may be set where the PK alias belongs).", RESEND_AFTER_FIX),
    1175: _fail("İmza yetkisi kontrol edilemedi." + _RESEND_TR, "The signing authority could not be checked." + _RESEND_EN,
                RESEND_AS_IS),
    1176: _fail("İmza sahibi yetkisiz." + _FIX_TR, "The signer is not authorised." + _FIX_EN, RESEND_AFTER_FIX),
    1177: _fail("Geçersiz imza." + _FIX_TR, "Invalid signature." + _FIX_EN, RESEND_AFTER_FIX),
    1180: _fail("Adres kontrol edilemedi." + _RESEND_TR, "The address could not be checked." + _RESEND_EN, RESEND_AS_IS),
    1181: _fail("Adres bulunamadı: etiket ile VKN eşleşmiyor." + _FIX_TR,
                "Address not found: the alias and the VKN do not match." + _FIX_EN, RESEND_AFTER_FIX),
    1182: _fail("Kullanıcı eklenemedi." + _RESEND_TR, "The user could not be added." + _RESEND_EN, RESEND_AS_IS),
    1183: _fail("Kullanıcı silinemedi." + _RESEND_TR, "The user could not be deleted." + _RESEND_EN, RESEND_AS_IS),
    1190: _fail("Sistem yanıtı hazırlanamadı." + _RESEND_TR, "GİB could not prepare its system response." + _RESEND_EN,
                RESEND_AS_IS),
    1195: _fail("GİB sistem hatası." + _RESEND_TR, "GİB system error." + _RESEND_EN, RESEND_AS_IS),
    1200: StatusSpec(PENDING, False, "Zarf başarıyla işlendi; alıcıya iletiliyor.",
                     "Envelope processed; being passed to the buyer."),
    1210: StatusSpec(PENDING, False, "Doküman bulunan adrese gönderilemedi; 1215, 1220, 1230 ya da 1300 bekleniyor.",
                     "Not yet delivered to the buyer's address; waiting for 1215, 1220, 1230 or 1300."),
    1215: _fail("Doküman gönderimi başarısız; tekrar gönderme sonlandı." + _RESEND_TR,
                "Delivery failed and GİB stopped retrying." + _RESEND_EN, RESEND_AS_IS),
    1220: StatusSpec(PENDING, False,
                     "Hedeften sistem yanıtı gelmedi: alıcı zarfı aldı ama işlediğini bildirmedi; 1230 ya da 1300 bekleniyor.",
                     "No system response from the buyer yet: it received the envelope but has not confirmed it; "
                     "waiting for 1230 or 1300."),
    1230: _fail("Hedeften sistem yanıtı başarısız geldi: alıcının sistemi faturayı işleyemedi." + _RESEND_TR,
                "The buyer's system answered that it could not process the invoice." + _RESEND_EN, RESEND_AS_IS),
    1300: StatusSpec(DELIVERED, True, "Başarıyla tamamlandı: fatura GİB üzerinden alıcıya ulaştı.",
                     "Completed: the invoice reached the buyer through GİB."),
}
QUEUED_CODE, PROCESSING_CODE, SUCCESS_CODE = 1000, 1100, 1300
SCHEMATRON_CODE, SCHEMA_CODE, DUPLICATE_CODE = 1150, 1160, 1163

# Nilvera's own status (InvoiceStatus.Code / StatusCode) when no GİB code says more
NILVERA_STATUS: dict[str, StatusSpec] = {
    "waiting": StatusSpec(PENDING, False, "Fatura entegratörde sırada.", "Queued at the integrator."),
    "unknown": StatusSpec(PENDING, False, "Faturanın durumu henüz belli değil.", "The invoice's status is not known yet."),
    "succeed": StatusSpec(DELIVERED, True, "Fatura başarıyla iletildi.", "The invoice was delivered."),
    "error": _fail("Entegratör faturayı iletemedi." + _FIX_TR, "The integrator could not deliver the invoice." + _FIX_EN,
                   RESEND_AFTER_FIX),
}
EARCHIVE_DELIVERED = StatusSpec(DELIVERED, True, "e-Arşiv faturası oluşturuldu ve imzalandı; GİB'e raporlanır.",
                                "e-Arşiv invoice created and signed; it is reported to GİB.")
EARCHIVE_CANCELLED = StatusSpec(CANCELLED, True, "e-Arşiv faturası iptal edildi.", "The e-Arşiv invoice was cancelled.")
AWAITING_ANSWER = StatusSpec(DELIVERED, False, "Ticari fatura alıcıya ulaştı; alıcının KABUL ya da RED yanıtı bekleniyor.",
                             "The commercial invoice reached the buyer; waiting for its KABUL or RED answer.")
ANSWERS: dict[str, StatusSpec] = {
    KABUL: StatusSpec(ACCEPTED, True, "Alıcı ticari faturayı kabul etti (KABUL).", "The buyer accepted the commercial invoice (KABUL)."),
    RED: StatusSpec(REJECTED, True, "Alıcı ticari faturayı reddetti (RED).", "The buyer rejected the commercial invoice (RED).",
                    RESEND_NEVER),
}
ANSWERED_AUTOMATICALLY = StatusSpec(ACCEPTED, True, "Yanıt süresi doldu; ticari fatura otomatik olarak kabul edildi.",
                                    "The answer window ended; the commercial invoice was accepted automatically.")


def gib_status(code: int | str | None) -> StatusSpec | None:
    """The spec of a GİB status code, or None when it is not one we know."""
    try:
        return GIB_STATUS.get(int(code))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


# -- Nilvera API errors (Errors[].Code in a 4xx body) ---------------------------------------

PERMANENT, TRANSIENT, ALREADY = "permanent", "transient", "already_submitted"


@dataclass(frozen=True)
class ErrorSpec:
    kind: str  # PERMANENT | TRANSIENT | ALREADY
    tr: str
    en: str
    reroute: bool = False  # the buyer's e-Fatura registration is not what the sender assumed


def _p(tr: str, en: str, reroute: bool = False) -> ErrorSpec:
    return ErrorSpec(PERMANENT, tr, en, reroute)


NILVERA_ERRORS: dict[int, ErrorSpec] = {
    # 409 Conflict: "the request is already in the system"
    1000: _p("Gönderilen vergi numarası firmayla eşleşmiyor.", "The tax number sent does not match the company."),
    1001: ErrorSpec(ALREADY, "Bu UUID (ETTN) sistemde zaten kayıtlı: fatura daha önce gönderilmiş.",
                    "This UUID (ETTN) is already registered: the invoice was submitted before."),
    1004: ErrorSpec(ALREADY, "Bu e-fatura daha önce eklenmiş.", "This e-invoice was added before."),
    1005: _p("Bu fatura numarası (seri) daha önce kullanılmış.", "This invoice number (series) was used before."),
    1015: ErrorSpec(ALREADY, "Kayıt daha önce eklenmiş.", "The record was added before."),
    # 422 Unprocessable: valid request, refused by a business rule
    2000: _p("Yeterli kontörünüz bulunmuyor.", "Not enough credits."),
    2004: ErrorSpec(TRANSIENT, "Kayıt oluşturulamadı; yeniden denenecek.", "The record could not be created; will be retried."),
    2015: _p("Şema/şematron hatası: belge UBL-TR şema ya da şematron kontrolünden geçemedi.",
             "Schema/schematron error: the document failed the UBL-TR schema or schematron check."),
    2024: _p("Belge senaryosu e-Arşiv olmalı.", "The document scenario must be e-Arşiv.", True),
    2025: _p("Alıcı e-Fatura mükellefi; e-Arşiv faturası gönderilemez.",
             "The buyer is a registered e-Fatura user; an e-Arşiv invoice cannot be sent.", True),
    2051: _p("Gönderici e-Fatura mükellefi değil.", "The sender is not a registered e-Fatura user."),
    2052: _p("Alıcının etiketi kullanımda değil.", "The buyer's alias is not in use.", True),
    2053: _p("Alıcı e-Fatura mükellefi oldu.", "The buyer has become a registered e-Fatura user.", True),
    2054: _p("Alıcı e-Fatura mükellefi değil.", "The buyer is not a registered e-Fatura user.", True),
    2057: ErrorSpec(TRANSIENT, "e-Fatura etiketleri alınırken hata oluştu; yeniden denenecek.",
                    "An error occurred while fetching e-Fatura aliases; will be retried."),
    2059: _p("e-Fatura senaryosu KAMU olmalı.", "The e-Fatura scenario must be KAMU (public sector)."),
    2060: _p("Fatura senaryosu e-Arşiv faturası olmalı.", "The invoice scenario must be e-Arşiv.", True),
    2061: _p("e-Fatura senaryosu KAMU olmamalı.", "The e-Fatura scenario must not be KAMU (public sector)."),
    2063: _p("Senaryo e-Arşiv faturası olduğu için e-Fatura olarak gönderilemez.",
             "The scenario is e-Arşiv, so it cannot be sent as an e-Fatura.", True),
    2065: _p("e-Fatura seri alanı boş olamaz.", "The e-Fatura series cannot be empty."),
    2075: _p("Kontör paketinizin süresi dolmuş.", "The credit package has expired."),
    2078: _p("Kontör paketinizde yeterli kontör yok.", "The credit package does not have enough credits."),
    2100: _p("Seri ile belge yılı uyuşmuyor.", "The series and the document year do not match."),
    # 404 Not Found
    3000: _p("Alıcıya ait etiket bulunamadı.", "The buyer's alias was not found.", True),
    3001: _p("Göndericiye ait etiket bulunamadı.", "The sender's alias was not found."),
    3002: _p("Etiket sistemde kayıtlı değil.", "The alias is not registered.", True),
    3003: _p("Belge sistemde bulunamadı.", "The document was not found."),
    3004: _p("Kayıt sistemde bulunamadı.", "The record was not found."),
    3005: _p("Doküman içeriği boş.", "The document content is empty."),
    3009: _p("Seri firmaya tanımlı değil.", "The series is not defined for the company."),
    3010: _p("Şablon bulunamadı.", "Template not found."),
    3017: _p("Bu koda sahip paketiniz yok.", "No package with this code."),
    3030: _p("API bulunamadı.", "API not found."),
}
DUPLICATE_ERRORS = frozenset(c for c, s in NILVERA_ERRORS.items() if s.kind == ALREADY)
NOT_FOUND_ERRORS = frozenset({3003, 3004})

# Outcomes that are not a Nilvera error code: HTTP status, time-out, connection, bad body.
TRANSPORT: dict[str, ErrorSpec] = {
    "timeout": ErrorSpec(TRANSIENT, "Nilvera zamanında yanıt vermedi.", "Nilvera did not answer in time."),
    "connection": ErrorSpec(TRANSIENT, "Nilvera'ya bağlanılamadı.", "Could not connect to Nilvera."),
    "bad_response": ErrorSpec(TRANSIENT, "Nilvera'nın yanıtı okunamadı.", "Nilvera's answer could not be read."),
    "http_5xx": ErrorSpec(TRANSIENT, "Nilvera sunucu hatası döndürdü.", "Nilvera answered with a server error."),
    "http_429": ErrorSpec(TRANSIENT, "Nilvera istek sınırına ulaşıldı.", "Nilvera's request limit was reached."),
    "http_408": ErrorSpec(TRANSIENT, "Nilvera isteği zaman aşımıyla kapattı.", "Nilvera closed the request on a time-out."),
    "unauthorized": _p("Nilvera API anahtarı geçersiz.", "The Nilvera API key was refused."),
    "forbidden": _p("Nilvera API anahtarının bu işlem için yetkisi yok.", "The Nilvera API key has no right to do this."),
    "not_found": _p("Nilvera'da böyle bir belge yok.", "Nilvera has no such document."),
    "http_4xx": _p("Nilvera isteği reddetti.", "Nilvera refused the request."),
}
ALREADY_SUBMITTED = ErrorSpec(ALREADY, "Bu UUID (ETTN) ile fatura daha önce gönderilmiş; yeniden oluşturulmadı.",
                              "An invoice with this UUID (ETTN) was submitted before; nothing new was created.")


def error_spec(code: int | None, http_status: int) -> ErrorSpec:
    """What a 4xx answer means: its first documented Nilvera code, else its HTTP status."""
    if code is not None and code in NILVERA_ERRORS:
        return NILVERA_ERRORS[code]
    if http_status == 409:
        return ALREADY_SUBMITTED  # Nilvera documents 409 as "the request is already in the system"
    if http_status == 404:
        return TRANSPORT["not_found"]
    return TRANSPORT["http_4xx"]


# -- validation findings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing a validator (or GİB) found wrong with a document. `source` says which
    check: "xsd" (schema), "schematron", "arithmetic"... Messages may quote the document,
    so findings are never logged."""

    rule: str | None
    message: str
    location: str | None = None
    severity: str = "error"
    source: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity.lower() in ("error", "fatal", "critical")

    @property
    def is_schema(self) -> bool:
        """Whether this is an XSD (schema) finding rather than a schematron one."""
        s = (self.source or "").lower()
        r = (self.rule or "").lower()
        return ("xsd" in s or ("schema" in s and "schematron" not in s) or r.startswith(("xsd", "cvc-"))
                or s == "xml")


# One finding per line: "RULE: message (at LOCATION)". This is the form the simulator writes
# into a status' DetailDescription; GİB's and Nilvera's real texts are free text, which
# parses as one finding per line with no rule.
_LINE = re.compile(r"^(?P<rule>[A-Za-z0-9_.\-:/#\[\]]{1,80}?): (?P<message>.*?)(?: \(at (?P<location>[^()]*)\))?$")


def findings_to_text(findings) -> str:
    lines = []
    for f in findings:
        msg = " ".join(str(f.message).split())
        line = f"{f.rule}: {msg}" if f.rule else msg
        if f.location:
            line += f" (at {f.location})"
        lines.append(line)
    return "\n".join(lines)


def findings_from_text(text: str | None, *, source: str | None = None) -> tuple[Finding, ...]:
    out = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m and " " not in m.group("rule"):
            out.append(Finding(m.group("rule"), m.group("message"), m.group("location"), "error", source))
        else:
            out.append(Finding(None, line, None, "error", source))
    return tuple(out)
