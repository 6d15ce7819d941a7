"""WhatsApp Cloud API error codes, with a Turkish and an English reason each and how each
is handled (permanent: fail with the code; transient: retried with the retry policy).

Source: Meta's "WhatsApp error codes" reference for the Cloud API (developers.facebook.com,
business-messaging/whatsapp/support/error-codes) and the Graph API error-handling page.
Errors come back synchronously as a Graph API error
`{"error": {"message", "type", "code", "error_data": {"messaging_product", "details"},
"error_subcode", "fbtrace_id"}}` or asynchronously in a `failed` status webhook
(`statuses[].errors[]: {code, title, message, error_data.details}`); Meta advises handling
by `code` (titles will be deprecated), which is what this table does.

Classification:
- throttling, 130429 (throughput), 131056 (business/consumer pair rate limit), 4 and
  80007 (app and WhatsApp-account rate limits): transient. Meta documents them as the
  request refused for a limit (HTTP 4xx), so a send answered with one was not taken and
  a retry cannot deliver it twice;
- Meta's server-side codes (`SERVER_SIDE`: 1, 2, 131000, 131016) and any answer with an
  HTTP 5xx: transient and, on a send, *ambiguous* (`maybe_taken`). Meta's error-codes page
  describes them as 1 "API Unknown: invalid request or possible server error" (HTTP 400),
  2 "API Service: temporary due to downtime or due to being overloaded" (503), 131000
  "Something went wrong: message failed to send because of an unknown error" (500),
  131016 "Service unavailable: a service is temporarily unavailable" (503). None of that
  says the message was not taken, the same page warns that errors come "synchronously as a
  Graph API response, asynchronously via webhook, or sometimes through both", and the
  Cloud API takes no idempotency key: a blind re-send may deliver the message twice, so
  the send is proven by a status webhook or parked (kopru.whatsapp.service);
- 131047 (the 24-hour window has closed: re-engagement), 131026 (undeliverable), 131050
  (the user stopped marketing messages), the 132000 series (templates), 190, 10, 200 and
  3 (access token and permissions), and the request errors: permanent (never re-sent
  either).
A code this table does not list is permanent when the HTTP status is 4xx (a request
Meta refuses is not fixed by repeating it) and transient (so ambiguous on a send) when it
is 5xx.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodeSpec:
    kind: str  # "permanent" | "transient"
    tr: str
    en: str


_THROTTLED = ("Meta bu numaradan gönderim hızını sınırladı; biraz sonra yeniden denenecek.",
              "Meta is throttling sends from this number; it will be retried shortly.")
_AUTH = ("WhatsApp erişim belirteci geçersiz, süresi dolmuş ya da bu telefon numarası için izni yok: ayarları "
         "güncelleyin.", "The WhatsApp access token is invalid, expired or lacks permission for this phone number: "
         "update the settings.")

CODES: dict[int, CodeSpec] = {
    # access token and permissions (Graph API)
    0: CodeSpec("permanent", "Kimlik doğrulama hatası (AuthException): erişim belirtecini yenileyin.",
                "Authentication error (AuthException): renew the access token."),
    3: CodeSpec("permanent", "Uygulamanın bu işlem için yetkisi yok (API method).",
                "The app lacks the capability for this call (API method)."),
    10: CodeSpec("permanent", *_AUTH),
    190: CodeSpec("permanent", *_AUTH),
    200: CodeSpec("permanent", *_AUTH),
    # throttling: the request refused for a limit (HTTP 4xx), not taken
    4: CodeSpec("transient", "Uygulamanın istek sınırı aşıldı; yeniden denenecek.",
                "The app's request limit was reached; it will be retried."),
    80007: CodeSpec("transient", "WhatsApp işletme hesabının istek sınırı aşıldı; yeniden denenecek.",
                    "The WhatsApp Business Account's rate limit was reached; it will be retried."),
    130429: CodeSpec("transient", "Gönderim hızı sınırı aşıldı (130429); yeniden denenecek.",
                     "Throughput limit reached (130429); it will be retried."),
    131056: CodeSpec("transient", "Aynı alıcıya çok kısa sürede çok fazla mesaj gönderildi (131056); biraz sonra "
                     "yeniden denenecek.", "Too many messages to the same recipient in a short time (131056); it will "
                     "be retried shortly."),
    # Meta's server-side codes (SERVER_SIDE): on a send, the message may have been taken
    1: CodeSpec("transient", "Meta'da bilinmeyen bir hata (API Unknown).", "An unknown error at Meta (API Unknown)."),
    2: CodeSpec("transient", "Meta hizmeti geçici olarak kullanılamıyor.",
                "Meta's service is temporarily unavailable."),
    131000: CodeSpec("transient", "Meta'da bilinmeyen bir hata oluştu (131000).",
                     "Something went wrong at Meta: an unknown error (131000)."),
    131016: CodeSpec("transient", "Bir Meta hizmeti geçici olarak kullanılamıyor (131016).",
                     "A Meta service is temporarily unavailable (131016)."),
    131048: CodeSpec("permanent", "Bu numaradan gönderilebilecek mesaj sayısı kısıtlandı (spam sınırı); "
                     "numaranın kalitesini WhatsApp Manager'da kontrol edin.",
                     "Sends from this number are restricted (spam rate limit); check the number's quality in "
                     "WhatsApp Manager."),
    # the conversation and the recipient
    131047: CodeSpec("permanent", "Müşterinin son mesajının üzerinden 24 saatten fazla geçti: serbest metin "
                     "gönderilemez, onaylı bir şablon gönderin (131047).",
                     "More than 24 hours have passed since the customer last wrote: free-form text cannot be sent, "
                     "send an approved template (131047)."),
    131026: CodeSpec("permanent", "Mesaj alıcıya ulaştırılamadı: numara WhatsApp kullanmıyor, uygulaması eski ya da "
                     "işletmeyi engellemiş olabilir (131026).",
                     "The message could not be delivered: the number may not use WhatsApp, have an old app or "
                     "have blocked the business (131026)."),
    131049: CodeSpec("permanent", "Meta, kullanıcı deneyimi için bu pazarlama mesajını iletmemeyi seçti (131049); "
                     "hemen yeniden göndermeyin.", "Meta chose not to deliver this marketing message to keep the "
                     "user experience healthy (131049); do not resend at once."),
    131050: CodeSpec("permanent", "Alıcı bu işletmeden pazarlama mesajı almayı durdurdu (131050).",
                     "The recipient has stopped marketing messages from this business (131050)."),
    131051: CodeSpec("permanent", "Desteklenmeyen mesaj türü.", "Unsupported message type."),
    131052: CodeSpec("permanent", "Kullanıcının gönderdiği medya indirilemedi.", "The user's media could not be "
                     "downloaded."),
    131053: CodeSpec("permanent", "Medya yüklenemedi.", "The media could not be uploaded."),
    131008: CodeSpec("permanent", "Zorunlu bir parametre eksik.", "A required parameter is missing."),
    131009: CodeSpec("permanent", "Bir parametrenin değeri geçersiz.", "A parameter value is invalid."),
    131021: CodeSpec("permanent", "Gönderen ve alıcı numara aynı.", "The sender and the recipient are the same "
                     "number."),
    131031: CodeSpec("permanent", "WhatsApp işletme hesabı kilitlendi.", "The WhatsApp Business Account is locked."),
    131042: CodeSpec("permanent", "WhatsApp hesabının ödeme ayarlarında sorun var.",
                     "There is a problem with the WhatsApp account's payment settings."),
    100: CodeSpec("permanent", "Geçersiz parametre (Graph API).", "Invalid parameter (Graph API)."),
    133010: CodeSpec("permanent", "Telefon numarası Cloud API'ye kayıtlı değil.",
                     "The phone number is not registered on the Cloud API."),
    368: CodeSpec("permanent", "Hesap politika ihlali nedeniyle geçici olarak engellendi.",
                  "The account is temporarily blocked for a policy violation."),
    # templates: the 132000 series
    132000: CodeSpec("permanent", "Şablon parametre sayısı şablondakiyle uyuşmuyor (132000).",
                     "The number of template parameters does not match the template (132000)."),
    132001: CodeSpec("permanent", "Şablon bu ad ve dilde yok ya da onaylanmamış (132001).",
                     "The template does not exist in this name and language, or is not approved (132001)."),
    132005: CodeSpec("permanent", "Parametrelerle doldurulan şablon metni çok uzun (132005).",
                     "The template text with its parameters is too long (132005)."),
    132007: CodeSpec("permanent", "Şablon içeriği WhatsApp politikasına aykırı (132007).",
                     "The template content violates WhatsApp policy (132007)."),
    132012: CodeSpec("permanent", "Şablon parametresinin biçimi uyuşmuyor (132012).",
                     "A template parameter has the wrong format (132012)."),
    132015: CodeSpec("permanent", "Şablon düşük kalite nedeniyle duraklatıldı (132015).",
                     "The template is paused for low quality (132015)."),
    132016: CodeSpec("permanent", "Şablon kalıcı olarak devre dışı bırakıldı (132016).",
                     "The template has been disabled for good (132016)."),
    132068: CodeSpec("permanent", "Akış (flow) engellendi (132068).", "The flow is blocked (132068)."),
    132069: CodeSpec("permanent", "Akış (flow) kısıtlandı (132069).", "The flow is throttled (132069)."),
}

TRANSPORT: dict[str, CodeSpec] = {
    "timeout": CodeSpec("transient", "WhatsApp Cloud API zamanında yanıt vermedi.",
                        "The WhatsApp Cloud API did not answer in time."),
    "connection": CodeSpec("transient", "WhatsApp Cloud API'ye bağlanılamadı.",
                           "Could not connect to the WhatsApp Cloud API."),
    "http_5xx": CodeSpec("transient", "WhatsApp Cloud API bir sunucu hatası döndürdü.",
                         "The WhatsApp Cloud API answered with a server error."),
    "bad_response": CodeSpec("transient", "WhatsApp Cloud API'nin yanıtı okunamadı.",
                             "The WhatsApp Cloud API's answer could not be read."),
    "http_4xx": CodeSpec("permanent", "WhatsApp Cloud API isteği reddetti.", "The WhatsApp Cloud API refused the "
                         "request."),
}

UNKNOWN_4XX = CodeSpec("permanent", "Meta isteği belgelerimizde olmayan bir kodla reddetti.",
                       "Meta refused the request with a code not in our tables.")
UNKNOWN_5XX = CodeSpec("transient", "Meta belgelerimizde olmayan bir kodla sunucu hatası döndürdü.",
                       "Meta answered a server error with a code not in our tables.")


# Meta's "something went wrong on our side" codes: whatever their HTTP status, they do not
# say the request was refused (see the module's docstring for Meta's own words).
SERVER_SIDE = frozenset({1, 2, 131000, 131016})


def maybe_taken(code: int | str | None, http_status: int | None) -> bool:
    """Whether a transient Graph error answer to a send leaves open that Meta took the
    message: any HTTP 5xx, and Meta's server-side codes. Only a 4xx naming a limit Meta
    documents (130429, 131056, 4, 80007) proves it was refused and may be sent again."""
    try:
        server_side = int(code) in SERVER_SIDE  # type: ignore[arg-type]
    except (TypeError, ValueError):
        server_side = False
    return server_side or (http_status or 0) >= 500


def spec(code: int | str | None, http_status: int | None = None) -> CodeSpec:
    """The handling of a Meta error code (`http_status` decides for one we do not list)."""
    try:
        known = CODES.get(int(code))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        known = None
    if known is not None:
        return known
    return UNKNOWN_5XX if (http_status or 0) >= 500 else UNKNOWN_4XX


def describe(code: str) -> tuple[str, str] | None:
    """(tr, en) for a code as Köprü stores it after `whatsapp.` ("131047", "timeout")."""
    if code == "proven_by_status":
        return ("Gönderimin yanıtı alınamadı ama Meta'nın durum bildirimi mesajın gönderildiğini gösterdi.",
                "The answer to the send was lost, but Meta's status webhook shows the message was sent.")
    if code in TRANSPORT:
        s = TRANSPORT[code]
        return s.tr, s.en
    if code.isdigit() and int(code) in CODES:
        s = CODES[int(code)]
        return s.tr, s.en
    return None
