"""iyzico's `errorCode`s, each with a Turkish and an English reason and what it means for
the caller (its class), and the names of the endpoints (used in errors, logs, spans and
the simulator's failure injection).

Classes:
- DECLINED: the bank (or iyzico's fraud check) refused the card; the payment failed and
  will not succeed by sending it again. The buyer may try another card (a new payment).
- PERMANENT: iyzico refused the request (a validation or business rule); fix the request.
- AUTH: the merchant's API key or secret key was refused.
- TRANSIENT: worth retrying later (rate limit, iyzico's own system error).
- NOT_FOUND: iyzico has no such payment for this merchant.

Sources:
- Bank codes (10xxx) with iyzico's Turkish text and error group: iyzico's "Banka Hataları"
  page (its GitBook, github.com/iyzico-kurtulussahin/iyzico.gitbook
  `sss/teknik-sorular/hata-kodlari/banka-hatalari/README.md`; the same table is on
  https://docs.iyzico.com/ek-bilgiler/hata-kodlari). The English texts follow
  https://docs.iyzico.com/en/add-ons/error-codes/bank-error-codes where it has the code,
  else they are ours.
- 1000 "Geçersiz imza", 1001 "Api bilgileri bulunamadı", 5062, 5184, 9000: the same GitBook's
  `sss/teknik-sorular/hata-kodlari/validasyon-hatalari.md`; 1, 2, 3, 8, 11, 12, 15, 23, 24:
  https://docs.iyzico.com/en/add-ons/error-codes ("General Error Codes").
- 6000/6001: https://docs.iyzico.com/en/advanced/fraud-notifications ("reserved for fraud
  protection: 6001 black list, 6000 fraud engine rejections").
- 50000 "Request Limit Exceeded": https://docs.iyzico.com/en/getting-started/preliminaries/limiters.
- 5086, 5093, 5115: named only by a third-party client (hex.pm `iyzico` 1.6.5,
  lib/util/error_handler.ex: 5086 "unowned", 5093 "excessive funds", 5115 "unavailable");
  iyzico's own texts for them are not in any source read. Köprü uses them for "no such
  payment", "refund over the refundable amount" and "not possible in the payment's state";
  the texts are ours, and the simulator answers with them (see its docstring).

Nothing here imports an HTTP client.
"""

from __future__ import annotations

from dataclasses import dataclass

# endpoints
CF_INITIALIZE = "checkoutform.initialize"
CF_RETRIEVE = "checkoutform.retrieve"
TDS_INITIALIZE = "threeds.initialize"
TDS_AUTH = "threeds.auth"
DETAIL = "payment.detail"
CANCEL = "payment.cancel"
REFUND = "payment.refund"
ENDPOINTS = (CF_INITIALIZE, CF_RETRIEVE, TDS_INITIALIZE, TDS_AUTH, DETAIL, CANCEL, REFUND)
SIDE_EFFECTS = frozenset({CF_INITIALIZE, TDS_INITIALIZE, TDS_AUTH, CANCEL, REFUND})

# classes
DECLINED = "declined"
PERMANENT = "permanent"
AUTH = "auth"
TRANSIENT = "transient"
NOT_FOUND = "not_found"


@dataclass(frozen=True)
class CodeSpec:
    kind: str
    tr: str
    en: str
    group: str | None = None  # iyzico's errorGroup, where documented


def _d(tr: str, en: str, group: str) -> CodeSpec:
    return CodeSpec(DECLINED, tr, en, group)


def _p(tr: str, en: str, group: str | None = None) -> CodeSpec:
    return CodeSpec(PERMANENT, tr, en, group)


BANK: dict[str, CodeSpec] = {
    "10005": _d("İşlem onaylanmadı.", "Transaction not approved (do not honour).", "DO_NOT_HONOUR"),
    "10012": _d("Geçersiz işlem.", "Invalid transaction.", "INVALID_TRANSACTION"),
    "10034": _d("Dolandırıcılık şüphesi.", "Suspected fraud: the bank did not permit the transaction.", "FRAUD_SUSPECT"),
    "10041": _d("Kayıp kart, karta el koyunuz.", "Lost card, pick up the card.", "LOST_CARD"),
    "10043": _d("Çalıntı kart, karta el koyunuz.", "Stolen card, pick up the card.", "STOLEN_CARD"),
    "10051": _d("Kart limiti yetersiz, yetersiz bakiye.", "Insufficient card limit, insufficient balance.",
                "NOT_SUFFICIENT_FUNDS"),
    "10054": _d("Vadesi dolmuş kart.", "Expired card.", "EXPIRED_CARD"),
    "10057": _d("Kart sahibi bu işlemi yapamaz.", "The cardholder may not perform this transaction.",
                "NOT_PERMITTED_TO_CARDHOLDER"),
    "10058": _d("Terminalin bu işlemi yapmaya yetkisi yok.", "The terminal is not permitted to perform this transaction.",
                "NOT_PERMITTED_TO_TERMINAL"),
    "10084": _d("CVC2 bilgisi hatalı.", "Invalid CVC2.", "INVALID_CVC2"),
    "10093": _d("Kartınız e-ticaret işlemlerine kapalıdır. Bankanızı arayınız.",
                "The card is closed to e-commerce transactions; call the bank.", "RESTRICTED_BY_LAW"),
    "10201": _d("Kart, işleme izin vermedi.", "The card did not permit the transaction.", "CARD_NOT_PERMITTED"),
    "10202": _d("Ödeme işlemi esnasında genel bir hata oluştu.", "A general error occurred during the payment.", "UNKNOWN"),
    "10204": _d("Ödeme işlemi esnasında genel bir hata oluştu.", "A general error occurred during the payment.", "UNKNOWN"),
    "10206": _d("CVC uzunluğu geçersiz.", "Invalid CVC length.", "INVALID_CVC2_LENGTH"),
    "10207": _d("Bankanızdan onay alınız.", "Refer to the card issuer for approval.", "REFER_TO_CARD_ISSUER"),
    "10208": _d("Üye işyeri kategori kodu hatalı.", "Invalid merchant category code.", "INVALID_MERCHANT_OR_SP"),
    "10209": _d("Bloke statülü kart.", "Blocked card.", "BLOCKED_CARD"),
    "10210": _d("Hatalı CAVV bilgisi.", "Invalid CAVV.", "INVALID_CAVV"),
    "10211": _d("Hatalı ECI bilgisi.", "Invalid ECI.", "INVALID_ECI"),
    "10212": _d("CVC2 yanlış girme deneme sayısı aşıldı.", "Too many wrong CVC2 attempts.", "CVC2_MAX_ATTEMPT"),
    "10213": _d("BIN bulunamadı.", "BIN not found.", "BIN_NOT_FOUND"),
    # the bank could not be reached or timed out: this payment failed (nothing was charged);
    # the buyer may simply try again later, as a new payment
    "10214": _d("İletişim veya sistem hatası.", "Communication or system error at the bank.",
                "COMMUNICATION_OR_SYSTEM_ERROR"),
    "10215": _d("Geçersiz kart numarası.", "Invalid card number.", "INVALID_CARD_NUMBER"),
    "10216": _d("Bankası bulunamadı.", "No such card issuer.", "NO_SUCH_ISSUER"),
    "10217": _d("Banka kartları sadece 3D Secure işleminde kullanılabilir.", "Debit cards can be used with 3-D Secure only.",
                "DEBIT_CARDS_REQUIRES_3DS"),
    "10218": _d("Banka kartları ile taksit yapılamaz.", "No instalments with debit cards.",
                "DEBIT_CARDS_INSTALLMENT_NOT_ALLOWED"),
    "10219": _d("Bankaya gönderilen istek zaman aşımına uğradı.", "The request to the bank timed out.", "REQUEST_TIMEOUT"),
    "10220": _d("Ödeme alınamadı.", "The payment was declined.", "DECLINED"),
    "10221": _d("Terminal yurtdışı kartlara kapalı.", "The terminal does not accept foreign cards.",
                "NOT_PERMITTED_TO_FOREIGN_CARD"),
    "10222": _d("Terminal taksitli işleme kapalı.", "The terminal does not accept instalments.",
                "NOT_PERMITTED_TO_INSTALLMENT"),
    "10225": _d("Kısıtlı kart.", "Restricted card.", "RESTRICTED_CARD"),
    "10228": _d("Banka veya terminal işlem yapamıyor.", "The issuer or switch is inoperative.",
                "ISSUER_OR_SWITCH_INOPERATIVE"),
    "10229": _d("Son kullanma tarihi geçersiz.", "Invalid expiry date.", "INVALID_EXPIRE_YEAR_MONTH"),
    "10230": _d("İstek bankadan hata aldı.", "The request was blocked by the bank.", "REQUEST_BLOCKED_BY_BANK"),
    "10232": _d("Geçersiz tutar.", "Invalid amount.", "INVALID_AMOUNT"),
    "10233": _d("Geçersiz kart tipi.", "Invalid card type.", "INVALID_CARD_TYPE"),
    "10236": _d("Ödeme işlemi esnasında genel bir hata oluştu.", "A general error occurred during the payment.", "UNKNOWN"),
    # iyzico's own fraud check (not the bank): a refusal of this card all the same
    "6000": _d("Ödeme isteği dolandırıcılık kontrolünden geçemedi.", "The payment request did not pass the fraud check.",
               "FRAUD"),
    "6001": _d("Ödeme isteği dolandırıcılık kontrolünden geçemedi (kara liste).",
               "The payment request did not pass the fraud check (black list).", "FRAUD"),
    "5184": _d("Yerli kartlar ile döviz ödemesi yapılamaz.", "Turkish cards cannot pay in a foreign currency.", None),
}

OTHER: dict[str, CodeSpec] = {
    "1": CodeSpec(TRANSIENT, "iyzico'da sistem hatası oluştu.", "A system error occurred at iyzico."),
    "2": CodeSpec(TRANSIENT, "iyzico'da sistem hatası oluştu.", "A system error occurred at iyzico."),
    "3": _p("E-posta gönderilmesi zorunludur.", "An e-mail address is required."),
    "8": _p("Kimlik numarası gönderilmesi zorunludur.", "An identity number is required."),
    "11": _p("Geçersiz istek.", "Invalid request."),
    "12": _p("Kart numarası geçersizdir.", "Invalid card number."),
    "15": _p("CVC geçersizdir.", "Invalid CVC."),
    "23": _p("Callback URL gönderilmesi zorunludur.", "A callback URL is required."),
    "24": _p("Zorunlu bir alan gönderilmedi.", "A mandatory field is missing."),
    "1000": CodeSpec(AUTH, "Geçersiz imza: gizli anahtar (secret key) ya da istek imzası hatalı.",
                     "Invalid signature: the secret key or the request signature is wrong."),
    "1001": CodeSpec(AUTH, "API bilgileri bulunamadı: API anahtarı bu ortamda (canlı/sandbox) kayıtlı değil.",
                     "API credentials not found: the API key is not registered in this environment (live/sandbox)."),
    "5062": _p("Gönderilen tutar tüm kırılımların toplam tutarına eşit olmalıdır.",
               "The price must equal the sum of the basket items' prices."),
    "5086": CodeSpec(NOT_FOUND, "iyzico'da bu üye işyerine ait böyle bir ödeme yok.",
                     "iyzico has no such payment for this merchant."),
    "5093": _p("İade tutarı, ödemenin iade edilebilir tutarını aşıyor.",
               "The refund amount exceeds what remains refundable on the payment."),
    "5115": _p("Ödemenin durumu bu işleme izin vermiyor (ödenmemiş, iptal edilmiş ya da iade edilmiş).",
               "The payment's state does not allow this (not paid, cancelled or refunded)."),
    "9000": _p("Üye işyeri hesabı geçici olarak işlem yapamıyor; iyzico ile iletişime geçin.",
               "The merchant account cannot transact at the moment; contact iyzico."),
    "50000": CodeSpec(TRANSIENT, "iyzico istek sınırı aşıldı.", "iyzico's request limit was exceeded."),
}

CODES: dict[str, CodeSpec] = {**BANK, **OTHER}
NOT_FOUND_CODES = frozenset(c for c, s in CODES.items() if s.kind == NOT_FOUND)
RATE_LIMITED = "50000"

# Outcomes that are not an iyzico errorCode (HTTP, transport, signatures). Codes are
# "iyzico.<name>".
TRANSPORT: dict[str, CodeSpec] = {
    "timeout": CodeSpec(TRANSIENT, "iyzico zamanında yanıt vermedi.", "iyzico did not answer in time."),
    "connection": CodeSpec(TRANSIENT, "iyzico'ya bağlanılamadı.", "Could not connect to iyzico."),
    "bad_response": CodeSpec(TRANSIENT, "iyzico'nun yanıtı okunamadı.", "iyzico's answer could not be read."),
    "http_5xx": CodeSpec(TRANSIENT, "iyzico sunucu hatası döndürdü.", "iyzico answered with a server error."),
    "http_429": CodeSpec(TRANSIENT, "iyzico istek sınırına ulaşıldı.", "iyzico's request limit was reached."),
    "http_408": CodeSpec(TRANSIENT, "iyzico isteği zaman aşımıyla kapattı.", "iyzico closed the request on a time-out."),
    "http_401": CodeSpec(AUTH, "iyzico API anahtarını reddetti.", "iyzico refused the API key."),
    "http_403": CodeSpec(AUTH, "iyzico API anahtarının bu işlem için yetkisi yok.", "The iyzico API key may not do this."),
    "http_4xx": _p("iyzico isteği reddetti.", "iyzico refused the request."),
    "failure": _p("iyzico isteği başarısız saydı (hata kodu yok).", "iyzico reported a failure without an error code."),
    "unknown_code": _p("iyzico isteği reddetti; kod tablolarımızda yok.", "iyzico refused the request with a code not in our tables."),
    "signature_mismatch": CodeSpec(TRANSIENT, "iyzico yanıtının imzası doğrulanamadı; ödeme yeniden sorgulanmalı.",
                                   "The signature of iyzico's answer did not verify; retrieve the payment again."),
    "bad_signature": _p("iyzico bildiriminin imzası eksik ya da geçersiz.",
                        "The iyzico notification's signature is missing or invalid."),
}


def spec(code: str | int | None) -> CodeSpec | None:
    """The spec of an iyzico errorCode ("10051", 10051) or of a transport outcome
    ("timeout", "http_5xx"; also "http_500"...), or None."""
    if code is None:
        return None
    c = str(code).strip()
    if c.startswith("iyzico."):
        c = c[len("iyzico."):]
    if c in CODES:
        return CODES[c]
    if c in TRANSPORT:
        return TRANSPORT[c]
    if c.startswith("http_5") and c[5:].isdigit():
        return TRANSPORT["http_5xx"]
    return None


def is_bank_code(code: str | int | None) -> bool:
    s = spec(code) if code is not None and str(code) in CODES else None
    return s is not None and s.kind == DECLINED
