"""Netgsm REST v2 response codes and delivery-report statuses, with a Turkish and an
English reason each, and how each code is handled (success, permanent, transient).

Sources (read 2025; Netgsm's own pages at https://www.netgsm.com.tr/dokuman/ are the
reference these are generated from):
- Netgsm's official Node client `@netgsm/sms` (github.com/netgsm/netgsm-sms-js,
  `src/enums.ts` at 1.1.11: `SendSmsErrorCode`, `SendOtpSmsErrorCode`,
  `ReportErrorCode`, `MsgHeaderErrorCode`, `SmsStatus`) and its `openapi.json`.
- Netgsm's official Python client (github.com/netgsm/netgsm-sms-python,
  `netgsm/exceptions/api_exception.py`: the per-endpoint code tables).

A code means different things on different endpoints (40 is "header not defined" on
send but "no messages" on inbox; 50 is "İYS not allowed" on send but "check the
number" on OTP; 60 is "no records" on report), so every table is per endpoint.

Classification is the one issue 5 fixes for sending: 00 success; 20, 30, 40, 50, 51,
70, 85 permanent; 80, 100, 101 transient. The other endpoints follow the same
reasoning (auth/parameter problems permanent; limits and system errors transient).
A code Netgsm has not documented is treated as transient: it is retried and then
dead-lettered, where a person can look at it and replay it, rather than failing the
message for good on a guess. (A non-00 code means Netgsm did not take the request, so
retrying it cannot send twice.)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

SUCCESS = "00"

# endpoints
SEND = "send"
OTP = "otp"
REPORT = "report"
MSGHEADER = "msgheader"


@dataclass(frozen=True)
class CodeSpec:
    kind: str  # "ok" | "permanent" | "transient" | "empty" (report: no records)
    tr: str
    en: str


_AUTH = CodeSpec(
    "permanent",
    "Geçersiz kullanıcı kodu ya da parola, veya API erişim izni yok (IP kısıtı varsa istek izinsiz bir IP'den gelmiş olabilir).",
    "Invalid usercode or password, or no API access (with an IP restriction, the request may come from an unauthorised IP).",
)
_PARAMS = CodeSpec(
    "permanent",
    "Hatalı istek: parametrelerden biri hatalı ya da zorunlu bir alan eksik.",
    "Invalid request: a parameter is wrong or a required field is missing.",
)
_SYSTEM = CodeSpec("transient", "Netgsm sistem hatası; daha sonra yeniden denenecek.", "Netgsm system error; will be retried later.")
_HEADER_UNDEFINED = CodeSpec(
    "permanent", "Mesaj başlığı (gönderici adı) sistemde tanımlı değil.",
    "The message header (sender name) is not registered with Netgsm.",
)

CODES: dict[str, dict[str, CodeSpec]] = {
    # POST /sms/rest/v2/send
    SEND: {
        "00": CodeSpec("ok", "Gönderim Netgsm tarafından kabul edildi.", "Accepted by Netgsm for sending."),
        "20": CodeSpec(
            "permanent",
            "Mesaj metninde bir sorun var ya da standart azami karakter sayısı aşıldı.",
            "The message text has a problem or exceeds the standard maximum length.",
        ),
        "30": _AUTH,
        "40": _HEADER_UNDEFINED,
        "50": CodeSpec(
            "permanent", "Bu abone hesabıyla İYS kontrollü gönderim yapılamıyor.",
            "This Netgsm account cannot make İYS-checked (commercial) sends.",
        ),
        "51": CodeSpec(
            "permanent", "Aboneliğinize ait İYS marka bilgisi bulunamadı.",
            "No İYS brand is registered for this Netgsm account.",
        ),
        "70": _PARAMS,
        "80": CodeSpec("transient", "Gönderim sınırı aşıldı; daha sonra yeniden denenecek.", "Sending limit exceeded; will be retried later."),
        "85": CodeSpec(
            "permanent",
            "Mükerrer gönderim sınırı aşıldı: aynı numaraya 1 dakika içinde 20'den fazla görev oluşturulamaz.",
            "Duplicate-send limit exceeded: no more than 20 jobs to the same number within one minute.",
        ),
        "100": _SYSTEM,
        "101": _SYSTEM,
    },
    # POST /sms/rest/v2/otp
    OTP: {
        "00": CodeSpec("ok", "OTP gönderimi Netgsm tarafından kabul edildi.", "OTP accepted by Netgsm for sending."),
        "20": CodeSpec(
            "permanent",
            "OTP metninde bir sorun var ya da azami uzunluk aşıldı (OTP tek SMS boyunda olmalı, Türkçe karakter içermemeli).",
            "The OTP text has a problem or is too long (one SMS at most, no Turkish letters).",
        ),
        "30": _AUTH,
        "40": _HEADER_UNDEFINED,
        "41": CodeSpec("permanent", "Mesaj başlığı sistemde geçerli değil.", "The message header is not valid for OTP."),
        "50": CodeSpec("permanent", "Alıcı numarası hatalı; numarayı kontrol edin.", "The recipient number was refused; check the number."),
        "51": CodeSpec("permanent", "Alıcı numarası hatalı; numarayı kontrol edin.", "The recipient number was refused; check the number."),
        "52": CodeSpec("permanent", "Alıcı numarası hatalı; numarayı kontrol edin.", "The recipient number was refused; check the number."),
        "60": CodeSpec("permanent", "Hesapta OTP SMS paketi ya da kredisi yok.", "The account has no OTP SMS package or credit."),
        "70": _PARAMS,
        "80": CodeSpec("transient", "Sorgulama sınırı aşıldı; daha sonra yeniden denenecek.", "Rate limit exceeded; will be retried later."),
        "100": _SYSTEM,
        "101": _SYSTEM,
    },
    # POST /sms/rest/v2/report
    REPORT: {
        "00": CodeSpec("ok", "Rapor alındı.", "Report received."),
        "30": _AUTH,
        "60": CodeSpec("empty", "Arama kriterlerine uyan kayıt yok.", "No records match the query."),
        "70": _PARAMS,
        "80": CodeSpec(
            "transient", "Rapor sorgu sınırı aşıldı (dakikada 10 sorgu); daha sonra yeniden denenecek.",
            "Report query limit exceeded (10 per minute); will be retried later.",
        ),
        "100": _SYSTEM,
        "101": _SYSTEM,
        "110": _SYSTEM,
    },
    # GET /sms/rest/v2/msgheader
    MSGHEADER: {
        "00": CodeSpec("ok", "Başlıklar listelendi.", "Headers listed."),
        "30": _AUTH,
        "70": _PARAMS,
        "100": _SYSTEM,
        "101": _SYSTEM,
    },
}

UNKNOWN_CODE = CodeSpec(
    "transient",
    "Netgsm belgelenmemiş bir kod döndürdü; yeniden denenecek, sonra incelemeye ayrılacak.",
    "Netgsm returned an undocumented code; it will be retried, then set aside for review.",
)

# Outcomes that are not a Netgsm code: HTTP status, time-out, connection, bad body.
TRANSPORT: dict[str, CodeSpec] = {
    "timeout": CodeSpec("transient", "Netgsm zamanında yanıt vermedi.", "Netgsm did not answer in time."),
    "connection": CodeSpec("transient", "Netgsm'e bağlanılamadı.", "Could not connect to Netgsm."),
    "bad_response": CodeSpec("transient", "Netgsm'in yanıtı okunamadı.", "Netgsm's answer could not be read."),
    "http_5xx": CodeSpec("transient", "Netgsm sunucu hatası döndürdü.", "Netgsm answered with a server error."),
    "http_429": CodeSpec("transient", "Netgsm istek sınırına ulaşıldı.", "Netgsm's request limit was reached."),
    "http_408": CodeSpec("transient", "Netgsm isteği zaman aşımıyla kapattı.", "Netgsm closed the request on a time-out."),
    "http_4xx": CodeSpec("permanent", "Netgsm isteği reddetti.", "Netgsm refused the request."),
}


def normalise(code: object) -> str:
    """Netgsm's code as a string, "00" for success whatever its spelling ("0", 0)."""
    s = str(code).strip() if code is not None else ""
    return SUCCESS if s.isdigit() and int(s) == 0 else s


def spec(endpoint: str, code: str) -> CodeSpec:
    return CODES[endpoint].get(code, UNKNOWN_CODE)


class ReportStatus(IntEnum):
    """Delivery status of one message in a report (`status` in `/sms/rest/v2/report`),
    as `SmsStatus` in Netgsm's official client. UNKNOWN (-1) stands for any value Netgsm
    has not documented; the raw value is kept next to it."""

    UNKNOWN = -1
    PENDING = 0
    DELIVERED = 1
    EXPIRED = 2
    INVALID_NUMBER = 3
    NOT_SENT = 4
    REJECTED = 11
    ERROR = 12
    DUPLICATE = 13
    NO_CREDIT = 14
    BLACKLISTED = 15
    IYS_REJECTED = 16
    IYS_ERROR = 17

    @classmethod
    def parse(cls, value: object) -> "ReportStatus":
        try:
            return cls(int(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return cls.UNKNOWN

    @property
    def outcome(self) -> str:
        """What the message's own status becomes: pending, delivered or failed."""
        if self in (ReportStatus.PENDING, ReportStatus.UNKNOWN):
            return "pending"
        return "delivered" if self is ReportStatus.DELIVERED else "failed"

    @property
    def final(self) -> bool:
        return self.outcome != "pending"

    @property
    def iys(self) -> bool:
        return self in (ReportStatus.IYS_REJECTED, ReportStatus.IYS_ERROR)

    @property
    def tr(self) -> str:
        return _STATUS_TEXT[self][0]

    @property
    def en(self) -> str:
        return _STATUS_TEXT[self][1]


_STATUS_TEXT: dict[ReportStatus, tuple[str, str]] = {
    ReportStatus.UNKNOWN: ("Netgsm belgelenmemiş bir durum bildirdi.", "Netgsm reported an undocumented status."),
    ReportStatus.PENDING: ("İletilmeyi bekliyor.", "Waiting to be delivered."),
    ReportStatus.DELIVERED: ("İletildi.", "Delivered."),
    ReportStatus.EXPIRED: ("Geçerlilik süresi içinde iletilemedi.", "Expired before it could be delivered."),
    ReportStatus.INVALID_NUMBER: ("Numara hatalı ya da kısıtlı.", "Invalid or restricted number."),
    ReportStatus.NOT_SENT: ("Operatöre gönderilemedi.", "Not sent to the operator."),
    ReportStatus.REJECTED: ("Operatör kabul etmedi.", "Rejected by the operator."),
    ReportStatus.ERROR: ("İletim hatası.", "Delivery error."),
    ReportStatus.DUPLICATE: ("Mükerrer gönderim.", "Duplicate message."),
    ReportStatus.NO_CREDIT: ("Yetersiz kredi.", "Insufficient credit."),
    ReportStatus.BLACKLISTED: ("Numara kara listede.", "The number is blacklisted."),
    ReportStatus.IYS_REJECTED: ("İYS kontrolünde reddedildi: alıcının ticari ileti izni yok.", "Rejected by the İYS check: the recipient has no commercial-message consent."),
    ReportStatus.IYS_ERROR: ("İYS kontrolü sırasında hata oluştu.", "The İYS check failed with an error."),
}
