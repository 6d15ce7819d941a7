"""The personal-data register: every table and column that holds personal data,
with its data category, the data subject it belongs to, how long it is kept and
what erasure does to it.

Export, erasure and the retention purge walk this one register, so a table cannot
be forgotten by one of them. `tests/kvkk/test_register.py` compares it with the
live database: a column whose name suggests personal data (`looks_personal`) must
be registered here or explained in `NOT_PERSONAL`, and every registered column
must exist.

Conventions:
- `SubjectLink.column` names the column holding the subject's id; `None` means the
  row itself is the subject (its `id`). `SubjectLink.where` is an SQL predicate over
  the row for tables whose rows are personal only sometimes (a tenant is a person
  when its tax number is a TCKN).
- `Retention.anchor` is an SQL expression over the row from which `days` run; when
  it has passed, the purpose has ended and the erasure action applies, except for
  a column under a legal hold, which is kept for the hold's years after that.
- Erasure `shred` is crypto-shredding: the column is AES-GCM ciphertext under the
  subject's data key, and `kopru.kvkk.subjects.destroy_subject_key` makes every copy
  unreadable at once (the row, events, exports, backups).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Literal

from kopru.kvkk.vocabulary import ALL_CATEGORIES

SubjectKind = Literal["customer", "user", "tenant"]
Action = Literal["delete", "anonymise", "shred", "keep"]


@dataclass(frozen=True)
class LegalHold:
    """Another law that makes the controller keep the data (KVKK Art. 7 does not apply
    while it runs)."""

    name: str
    law: str
    years: int
    reason: str


@dataclass(frozen=True)
class Erasure:
    action: Action
    hold: LegalHold | None = None

    def __post_init__(self) -> None:
        if (self.action == "keep") != (self.hold is not None):
            raise ValueError("erasure 'keep' needs a legal hold, and only 'keep' takes one")


DELETE = Erasure("delete")
ANONYMISE = Erasure("anonymise")  # set to NULL (or a neutral value) in place; the row stays
SHRED = Erasure("shred")


def keep(hold: LegalHold) -> Erasure:
    return Erasure("keep", hold)


@dataclass(frozen=True)
class SubjectLink:
    kind: SubjectKind
    column: str | None = None  # None: the row is the subject
    where: str | None = None  # SQL: the row holds personal data only when this holds


@dataclass(frozen=True)
class Retention:
    """How long rows are kept. When `anchor` + `days` has passed, the retention purge
    applies `expire`: "delete" removes the row; "clear" clears the columns that no
    legal hold keeps (the row stays) and removes the row once the longest hold has
    also run out."""

    rule: str
    description: str
    days: int | None = None
    anchor: str | None = None  # SQL over the row; None: kept until the subject's erasure
    expire: Literal["delete", "clear"] = "clear"


@dataclass(frozen=True)
class PersonalColumn:
    name: str
    category: str
    erasure: Erasure
    note: str = ""
    # for `*_enc` columns: the field name its ciphertext is bound to (AES-GCM aad with
    # the subject id), formatted with the row's columns: "sms_body", "consents.ip:{id}"
    field: str | None = None
    # the column holds the key of an object in the export store, not the data itself:
    # erasure and the purge delete the object, then clear the column
    store_object: bool = False

    def __post_init__(self) -> None:
        if self.category not in ALL_CATEGORIES:
            raise ValueError(f"{self.name}: unknown data category {self.category!r}")


@dataclass(frozen=True)
class Disclosure:
    """A third party the rows' data goes to (KVKK md. 10(1)(c), 11(1)(ç), 11(1)(f)):
    who, why, which rows (`where`, SQL) and when (`at`, SQL), and whether it has an API
    through which an erasure can be passed on."""

    recipient: str
    purpose: str
    where: str
    at: str
    erasure_api: str | None = None
    note: str = ""


@dataclass(frozen=True)
class PersonalTable:
    name: str
    subject: SubjectLink
    retention: Retention
    columns: tuple[PersonalColumn, ...]
    note: str = ""
    disclosures: tuple[Disclosure, ...] = ()

    @property
    def link(self) -> str:
        """The column that holds the subject's id."""
        return self.subject.column or "id"

    @property
    def holds(self) -> tuple[LegalHold, ...]:
        return tuple({c.erasure.hold.name: c.erasure.hold for c in self.columns if c.erasure.hold}.values())


# -- legal holds -------------------------------------------------------------------

COMMERCIAL_BOOKS = LegalHold(
    "commercial_books", "TTK md. 82; VUK md. 253", 10,
    "Ticari defterler ve belgeler 10 yıl saklanır / commercial books and records are kept for 10 years",
)
CONSENT_PROOF = LegalHold(
    "commercial_message_consent_proof",
    "6563 sayılı Kanun; Ticari İletişim ve Ticari Elektronik İletiler Hakkında Yönetmelik", 3,
    "Onay kayıtları, onayın geçerliliği sona erdikten sonra 3 yıl saklanır / consent records are kept "
    "for 3 years after the consent ends",
)
# credit reports (kopru.credit): the fact that a report was obtained, on which consent and when,
# not its content, is kept as evidence that the processing was lawful (KVKK md. 5(1), 12) until
# a claim about it is time-barred (TBK md. 72: at most 10 years from the act; md. 146)
CREDIT_INQUIRY_PROOF = LegalHold(
    "credit_inquiry_proof", "KVKK md. 5(1), 12(1); TBK md. 72, 146", 10,
    "Raporun hangi açık rızaya dayanarak, ne zaman ve kimden alındığı (içeriği değil), işlemenin hukuka uygun "
    "olduğunun kanıtı olarak zamanaşımı süresince (10 yıl) saklanır / that a report was obtained, on which explicit "
    "consent, when and from whom (not its content) is kept as proof of lawful processing for the limitation period "
    "(10 years)",
)
HOLDS = {h.name: h for h in (COMMERCIAL_BOOKS, CONSENT_PROOF, CREDIT_INQUIRY_PROOF)}


# -- the register ------------------------------------------------------------------

REGISTER: tuple[PersonalTable, ...] = (
    PersonalTable(
        "data_subjects",
        SubjectLink("customer"),
        Retention("subject_until_erased",
                  "Kept while the tenant processes the person's data; removed by an erasure application "
                  "(KVKK md. 7, 11) or once nothing of the subject remains."),
        (
            PersonalColumn("phone_enc", "contact", SHRED, "E.164, under the subject key", field="phone"),
            PersonalColumn("email_enc", "contact", SHRED, "NFC + casefold, under the subject key", field="email"),
            PersonalColumn("tckn_enc", "identity", SHRED, "under the subject key", field="tckn"),
            PersonalColumn("phone_bidx", "contact", ANONYMISE, "keyed blind index; cleared with the key"),
            PersonalColumn("email_bidx", "contact", ANONYMISE, "keyed blind index; cleared with the key"),
            PersonalColumn("tckn_bidx", "identity", ANONYMISE, "keyed blind index; cleared with the key"),
        ),
        note="The tenant's customers: the people it texts and invoices.",
    ),
    PersonalTable(
        "consents",
        SubjectLink("customer", "subject_id"),
        Retention("consent_validity",
                  "Valid until expires_at (granted_at + retention_days) or withdrawal; the record proving "
                  "it is then kept under the commercial-message consent hold.",
                  days=0, anchor="coalesce(withdrawn_at, expires_at)"),
        (
            PersonalColumn("ip_enc", "transaction_security", SHRED, "the request's IP, under the subject key",
                           field="consents.ip:{id}"),
            PersonalColumn("user_agent_enc", "transaction_security", SHRED, "under the subject key",
                           field="consents.user_agent:{id}"),
            PersonalColumn("purpose", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("legal_basis", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("data_categories", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("channel", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("iys_type", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("iys_recipient_type", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("iys_source", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("text_sha256", "marketing", keep(CONSENT_PROOF), "the text itself is not personal"),
            PersonalColumn("granted_at", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("expires_at", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("withdrawn_at", "marketing", keep(CONSENT_PROOF)),
            PersonalColumn("withdrawal_channel", "marketing", keep(CONSENT_PROOF)),
        ),
        note="The consent ledger: never deleted by the application role; grants and withdrawals are proof.",
    ),
    PersonalTable(
        "sms_messages",
        SubjectLink("customer", "subject_id"),
        Retention("sms_90_days", "A message (its text and its delivery record) is kept 90 days for the tenant's "
                  "support and Netgsm billing disputes, then destroyed; an erasure shreds the text at once.",
                  days=90, anchor="created_at", expire="delete"),
        (
            PersonalColumn("body_enc", "contact", SHRED, "the message text, under the subject key", field="sms_body"),
        ),
        note="The recipient is the subject (data_subjects); the number is not stored here.",
        disclosures=(
            Disclosure("Netgsm İletişim ve Bilgi Teknolojileri A.Ş.",
                       "SMS gönderimi (telefon numarası ve mesaj metni) / SMS delivery (number and text)",
                       where="netgsm_jobid is not null", at="updated_at", erasure_api=None,
                       note="Netgsm has no erasure API; its copy is kept under its own retention as an "
                            "electronic communications operator (5809 s. Kanun). Ask it in writing."),
        ),
    ),
    PersonalTable(
        "whatsapp_messages",
        SubjectLink("customer", "subject_id"),
        Retention("whatsapp_90_days", "A WhatsApp message (its text or template parameters and its status record) "
                  "is kept 90 days for the tenant's support and Meta billing disputes, then destroyed; an erasure "
                  "shreds the content at once.", days=90, anchor="created_at", expire="delete"),
        (
            PersonalColumn("content_enc", "contact", SHRED, "the text or the template's parameters, under the "
                           "subject key", field="whatsapp_content:{id}"),
        ),
        note="The recipient is the subject (data_subjects); the number is not stored here.",
        disclosures=(
            Disclosure("Meta Platforms Ireland Ltd. (WhatsApp Business Platform, Cloud API)",
                       "WhatsApp mesajı gönderimi (telefon numarası ve mesaj içeriği) / WhatsApp message delivery "
                       "(number and content)", where="wamid is not null", at="updated_at", erasure_api=None,
                       note="Meta keeps Cloud API messages for up to 30 days to provide the service; there is no "
                            "erasure API. A transfer abroad (KVKK md. 9): the tenant's explicit consent or "
                            "standard contract."),
        ),
    ),
    PersonalTable(
        "whatsapp_inbound",
        SubjectLink("customer", "subject_id"),
        Retention("whatsapp_inbound_90_days", "That a customer wrote on WhatsApp (when, which kind of message; never "
                  "its content) is kept 90 days, then deleted.", days=90, anchor="created_at", expire="delete"),
        (
            PersonalColumn("sent_at", "customer_transaction", DELETE, "when the customer wrote"),
            PersonalColumn("type", "customer_transaction", DELETE, "text, image, button...: not the content"),
        ),
        note="The sender's WhatsApp number is kept as the subject's phone (data_subjects, under the subject key); "
             "the message content is not stored.",
    ),
    PersonalTable(
        "whatsapp_windows",
        SubjectLink("customer", "subject_id"),
        Retention("whatsapp_window", "The customer's last message time opens Meta's 24-hour window for free-form "
                  "replies; it is deleted a day after the window closed.", days=2, anchor="last_inbound_at",
                  expire="delete"),
        (
            PersonalColumn("last_inbound_at", "customer_transaction", DELETE, "when the customer last wrote"),
        ),
    ),
    PersonalTable(
        "einvoices",
        SubjectLink("customer", "subject_id", where="customer_scheme = 'TCKN'"),
        Retention("invoice_books", "An issued invoice is a commercial record: kept 10 years from the end of the "
                  "year it was issued (VUK md. 253, TTK md. 82), whatever the buyer asks; an erasure keeps it "
                  "(and says until when); the retention purge removes it after that.",
                  days=0, anchor="make_timestamptz(extract(year from issue_date)::int + 1, 1, 1, 0, 0, 0, "
                                 "'Europe/Istanbul')", expire="clear"),
        (
            PersonalColumn("customer_tax_number", "identity", keep(COMMERCIAL_BOOKS), "a person buyer's TCKN"),
            PersonalColumn("customer_name", "identity", keep(COMMERCIAL_BOOKS), "a person buyer's name"),
            PersonalColumn("receiver_alias", "contact", keep(COMMERCIAL_BOOKS),
                           "the buyer's e-Fatura mailbox alias (can name a sole trader)"),
            PersonalColumn("xml", "customer_transaction", keep(COMMERCIAL_BOOKS),
                           "the signed UBL-TR document: buyer's identity, address and what was bought"),
        ),
        note="Not encrypted under the subject key on purpose: the invoice must survive the buyer's erasure. "
             "A company buyer (VKN) is not a data subject; a person (TCKN) is linked by subject_id.",
        disclosures=(
            Disclosure("Nilvera (e-Fatura özel entegratörü) / Gelir İdaresi Başkanlığı",
                       "e-Fatura / e-Arşiv düzenleme ve GİB'e iletim (VUK 509 sıra no.lu Tebliğ) / "
                       "issuing the invoice and passing it to GİB",
                       where="submitted_at is not null", at="submitted_at", erasure_api=None,
                       note="Invoices at the integrator and GİB are kept under the same legal retention; "
                            "there is no erasure to pass on."),
        ),
    ),
    PersonalTable(
        "payments",
        SubjectLink("customer", "subject_id"),
        Retention("payment_books", "A payment is a commercial record: what was bought, for how much and when is "
                  "kept 10 years from the end of the year it was made (VUK md. 253, TTK md. 82); the buyer's "
                  "identity and contact details are under the subject key and go with an erasure.",
                  days=0, anchor="make_timestamptz(extract(year from created_at)::int + 1, 1, 1, 0, 0, 0, "
                                 "'Europe/Istanbul')", expire="clear"),
        (
            PersonalColumn("buyer_enc", "identity", SHRED,
                           "name, TCKN, e-mail, phone, addresses and IP as sent to iyzico, under the subject key",
                           field="payments.buyer:{id}"),
            PersonalColumn("basket", "customer_transaction", keep(COMMERCIAL_BOOKS), "what the buyer bought"),
            PersonalColumn("amount", "customer_transaction", keep(COMMERCIAL_BOOKS)),
            PersonalColumn("paid_amount", "customer_transaction", keep(COMMERCIAL_BOOKS)),
        ),
        note="Card data never reaches Köprü (iyzico's hosted checkout form).",
        disclosures=(
            Disclosure("iyzi Ödeme ve Elektronik Para Hizmetleri A.Ş. (iyzico)",
                       "Ödeme hizmeti: alıcının adı, TCKN, e-posta, telefon, adresleri ve IP'si (6493 sayılı Kanun) / "
                       "payment processing: the buyer's name, TCKN, e-mail, phone, addresses and IP",
                       where="iyzico_token is not null", at="created_at", erasure_api=None,
                       note="iyzico keeps payment records under its own legal obligations as a payment "
                            "institution (6493 sayılı Kanun); there is no erasure API. Ask it in writing."),
        ),
    ),
    PersonalTable(
        "webhook_deliveries",
        SubjectLink("customer", "subject_id"),
        Retention("webhook_log_30_days", "A delivery to a tenant's webhook endpoint (what was sent, when, its "
                  "answer) is kept 30 days for the tenant's troubleshooting and replays, then deleted.",
                  days=30, anchor="created_at", expire="delete"),
        (
            PersonalColumn("body", "customer_transaction", DELETE,
                           "the event's data as sent: ids and codes (a subject id, a payment id), no names"),
        ),
        note="subject_id is set only for endpoints registered with personal_data: true (and a purpose); "
             "host and purpose say where it went and why.",
        disclosures=(
            Disclosure("Kiracının kaydettiği webhook alıcısı (kayıttaki host) / the webhook receiver the tenant "
                       "registered (the record's host)",
                       "Kiracının uç noktada beyan ettiği amaç (kayıttaki purpose) / the purpose the tenant declared "
                       "for the endpoint (the record's purpose)",
                       where="personal_data and first_attempt_at is not null", at="first_attempt_at",
                       erasure_api=None,
                       note="The receiver is the tenant's own choice (its system or a processor it uses); Köprü "
                            "has no way to erase there: the tenant passes the erasure on."),
        ),
    ),
    # -- calls (Bulutfon) ---------------------------------------------------------------
    PersonalTable(
        "call_records",
        SubjectLink("customer", "subject_id"),
        Retention("calls_180_days", "A call record (who called whom, when, the recording's link) is kept 180 days "
                  "for the tenant's customer follow-up and Bulutfon billing questions, then deleted; an erasure of "
                  "the caller clears the numbers and the recording link at once.",
                  days=180, anchor="coalesce(call_time, created_at)", expire="delete"),
        (
            PersonalColumn("caller_enc", "contact", SHRED, "the caller's number as Bulutfon gave it, under the "
                           "outside party's subject key", field="calls.caller:{id}"),
            PersonalColumn("callee_enc", "contact", SHRED, "the number called, under the subject key",
                           field="calls.callee:{id}"),
            PersonalColumn("recording_url_enc", "customer_transaction", SHRED,
                           "the link to the call's recording (the voice is at Bulutfon), under the subject key",
                           field="calls.recording:{id}"),
        ),
        note="The subject is the outside party (caller of an incoming call, callee of an outgoing one); an "
             "extension-to-extension call has none and no numbers are kept. The call flow keeps menus, groups and "
             "extensions only.",
        disclosures=(
            Disclosure("Bulutfon (Bulut Bilişim ve İletişim Teknolojileri)",
                       "Bulut santral hizmeti: arama kayıtları ve ses kayıtları Bulutfon'da tutulur / cloud PBX: "
                       "the call records and recordings are held at Bulutfon",
                       where="true", at="coalesce(call_time, created_at)", erasure_api=None,
                       note="Bulutfon's API has no erasure of a call record; the tenant asks Bulutfon (or deletes "
                            "the recording in its panel)."),
        ),
    ),
    PersonalTable(
        "call_bridges",
        SubjectLink("customer", "subject_id"),
        Retention("call_requests_180_days", "A click-to-call request is kept 180 days, then deleted.",
                  days=180, anchor="created_at", expire="delete"),
        (
            PersonalColumn("callee_enc", "contact", SHRED, "the number called (E.164), under the subject key",
                           field="calls.callee:{id}"),
        ),
        disclosures=(
            Disclosure("Bulutfon (Bulut Bilişim ve İletişim Teknolojileri)",
                       "Tıkla-ara: aranacak numara Bulutfon'a iletilir / click-to-call: the number is sent to Bulutfon",
                       where="status in ('placed', 'unknown')", at="updated_at", erasure_api=None,
                       note="Bulutfon keeps its call records; there is no erasure API."),
        ),
    ),
    PersonalTable(
        "workflow_runs",
        SubjectLink("customer", "subject_id"),
        Retention("workflow_runs_90_days", "A workflow run (the event that started it, what each step made) is kept "
                  "90 days after it ended for the tenant's troubleshooting, then deleted; a run still going is kept.",
                  days=90, anchor="finished_at", expire="delete"),
        (
            PersonalColumn("event", "customer_transaction", DELETE,
                           "the triggering event as the catalog has it: ids and codes, the subject's id among them"),
        ),
        note="subject_id is the subject the event named (data.subject_id). The steps hold no number or address "
             "(kopru.workflows.actions: a person to text is a data subject, `to_subject`), so a workflow's "
             "definition holds no personal data of its own; the results are the ids the steps made.",
    ),
    PersonalTable(
        "credit_reports",
        SubjectLink("customer", "subject_id"),
        Retention("credit_report_180_days",
                  "A credit report (the partner's, or the Findeks PDF the person shared) serves the assessment it "
                  "was asked for: its content is cleared 180 days after the request, at once when the consent "
                  "is withdrawn (kopru.consent.withdrawn.v1) and shredded by an erasure; that it was obtained, on "
                  "which consent, when and from whom is kept under the credit-inquiry hold.",
                  days=180, anchor="requested_at", expire="clear"),
        (
            PersonalColumn("identity_enc", "identity", SHRED, "the TCKN/VKN asked about, under the subject key",
                           field="credit_reports.identity:{id}"),
            PersonalColumn("report_enc", "financial", SHRED,
                           "the report (score, risk band, cheque report, credit summary) or the upload's facts, "
                           "under the subject key", field="credit_reports.report:{id}"),
            PersonalColumn("document_enc", "financial", SHRED, "the uploaded Findeks PDF (base64), under the subject key",
                           field="credit_reports.document:{id}"),
            PersonalColumn("partner_report_id", "financial", ANONYMISE, "the partner's id of the report: cleared with it"),
            PersonalColumn("consent_id", "legal_transaction", keep(CREDIT_INQUIRY_PROOF)),
            PersonalColumn("consent_granted_at", "legal_transaction", keep(CREDIT_INQUIRY_PROOF)),
            PersonalColumn("consent_text_sha256", "legal_transaction", keep(CREDIT_INQUIRY_PROOF),
                           "names the consent text's version; the text itself is not personal"),
            PersonalColumn("source", "legal_transaction", keep(CREDIT_INQUIRY_PROOF), "partner or upload"),
            PersonalColumn("provider", "legal_transaction", keep(CREDIT_INQUIRY_PROOF)),
            PersonalColumn("scheme", "legal_transaction", keep(CREDIT_INQUIRY_PROOF), "TCKN or VKN, not the number"),
            PersonalColumn("status", "legal_transaction", keep(CREDIT_INQUIRY_PROOF)),
            PersonalColumn("requested_at", "legal_transaction", keep(CREDIT_INQUIRY_PROOF)),
            PersonalColumn("obtained_at", "legal_transaction", keep(CREDIT_INQUIRY_PROOF)),
        ),
        note="Reports on the tenant's counterparties, each resting on one credit_report consent of the person.",
        disclosures=(
            Disclosure("Kiracının KKB üyesi iş ortağı (kredi raporu sağlayıcısı) ve Kredi Kayıt Bürosu / the "
                       "tenant's KKB-member partner (credit report provider) and Kredi Kayıt Bürosu",
                       "Kredi ve çek raporunun alınması: kimlik numarası ve rıza kaydının kimliği / obtaining the "
                       "credit and cheque report: the identity number and the consent's reference",
                       where="source = 'partner'", at="requested_at", erasure_api=None,
                       note="The partner and KKB keep the inquiry under their own legal obligations (5411 sayılı "
                            "Bankacılık Kanunu md. 73/4); there is no erasure API. Ask the partner in writing."),
        ),
    ),
    # vehicles (kopru.vehicles, Arvento): positions are personal once a driver is linked
    PersonalTable(
        "vehicle_positions",
        SubjectLink("customer", "subject_id", where="subject_id is not null"),
        Retention("vehicle_positions_90_days", "Each announced change of a vehicle's position is kept 90 days for the "
                  "tenant's route and delivery questions, then deleted; with a driver linked it is the driver's "
                  "location data, erased with the driver.", days=90, anchor="created_at", expire="delete"),
        (
            PersonalColumn("latitude", "location", DELETE, "the vehicle's position when the driver was linked"),
            PersonalColumn("longitude", "location", DELETE),
        ),
        note="subject_id is the driver linked to the vehicle when the position was recorded (null: no driver, not "
             "personal).",
    ),
    PersonalTable(
        "vehicles",
        SubjectLink("customer", "driver_subject_id", where="driver_subject_id is not null"),
        Retention("vehicle_last_position_90_days", "A vehicle's last known position is kept while it is tracked; "
                  "when it has not changed for 90 days it is cleared (the next poll stores a fresh one).",
                  days=90, anchor="position_at", expire="clear"),
        (
            PersonalColumn("latitude", "location", ANONYMISE, "the last position, the driver's while linked"),
            PersonalColumn("longitude", "location", ANONYMISE),
        ),
        note="The vehicle itself (node, plate) stays; a driver whose subject was erased is unlinked by the next poll.",
    ),
    PersonalTable(
        "subject_requests",
        SubjectLink("customer", "subject_id"),
        Retention("export_link", "An export is the subject's data in one file: it is deleted as soon as its "
                  "link expires (7 days by default); the application record stays as proof it was answered.",
                  days=0, anchor="link_expires_at", expire="clear"),
        (
            PersonalColumn("object_key", "identity", Erasure("delete"),
                           "the export document in the object store", store_object=True),
        ),
        note="The subject's own applications (KVKK md. 11, 13): access (export) and erasure.",
    ),
    PersonalTable(
        "users",
        SubjectLink("user"),
        Retention("staff_account", "The tenant's own staff accounts: kept while the account exists."),
        (
            PersonalColumn("email", "contact", DELETE),
            PersonalColumn("email_fold", "contact", DELETE),
            PersonalColumn("password_hash", "transaction_security", DELETE, "argon2id; never returned"),
        ),
    ),
    PersonalTable(
        "tenants",
        SubjectLink("tenant", where="tax_number_kind = 'TCKN'"),
        Retention("tenant_contract", "Kept while the tenant is a customer; then under the commercial-books hold."),
        (
            PersonalColumn("tax_number", "identity", keep(COMMERCIAL_BOOKS), "a sole trader's TCKN"),
            PersonalColumn("name", "identity", keep(COMMERCIAL_BOOKS), "a sole trader's trade name carries their name"),
        ),
        note="Personal only for sole traders (tax_number_kind = 'TCKN'); a company's VKN and name are not.",
    ),
)

# Columns whose names look personal but are not, and why.
NOT_PERSONAL: dict[tuple[str, str], str] = {
    ("api_clients", "name"): "a label the tenant gives an API client",
    ("platform_clients", "name"): "a label for an operator client",
    ("signing_keys", "private_key_enc"): "token-signing key material, sealed by the master key",
    ("refresh_tokens", "successor_enc"): "the refresh token that replaced this one, sealed by the master key, "
                                         "kept until it is used itself (the grace's answer): a secret",
    ("sms_messages", "recipient_type"): "BIREYSEL or TACIR: İYS's class of recipient, not who it is",
    ("tenant_integrations", "secret_enc"): "the tenant's Netgsm API password, sealed by the master key: a secret",
    ("einvoices", "customer_scheme"): "'VKN' or 'TCKN': says which invoice rows are personal, not whose",
    ("payment_refunds", "origin_ip"): "the address of the tenant's server that asked for the refund, not a person's",
    ("destruction_records", "table_name"): "which table a purge batch destroyed rows of",
    ("webhook_endpoints", "secret_enc"): "the endpoint's signing secrets (whsec_), sealed by the master key: a secret",
    ("tenants", "tax_number_kind"): "'VKN' or 'TCKN': says which tenant rows are personal, not whose",
    ("workflows", "name"): "a label the tenant gives a workflow",
    ("arvento_sessions", "session_enc"): "the tenant's Arvento session id, sealed by the master key: a secret",
    ("geofences", "name"): "a label the tenant gives an area",
    ("whatsapp_messages", "template_name"): "the name of one of the tenant's approved WhatsApp templates",
    ("whatsapp_status_history", "message_id"): "the id of a whatsapp_messages row, not a message's content",
}

_PERSONAL_TOKENS = (
    "phone", "msisdn", "gsm", "mobile", "email", "mail", "tckn", "national", "name", "surname", "address",
    "ip", "user_agent", "agent", "body", "message", "iban", "card", "pan", "birth", "dob", "gender",
    "passport", "tax_number", "recipient", "password", "location", "geo", "latitude", "longitude",
)
_PERSONAL = re.compile(r"(?:^|_)(?:%s)(?:_|$)" % "|".join(sorted(_PERSONAL_TOKENS, key=len, reverse=True)))


def looks_personal(column: str) -> bool:
    """A column whose name suggests personal data: a personal word as one of its
    underscore-separated parts, or any `*_enc` (encrypted) column."""
    c = column.lower()
    return c.endswith("_enc") or bool(_PERSONAL.search(c))


def table(name: str) -> PersonalTable | None:
    for t in REGISTER:
        if t.name == name:
            return t
    return None


def registered_columns() -> Iterator[tuple[PersonalTable, PersonalColumn]]:
    for t in REGISTER:
        for c in t.columns:
            yield t, c


def is_registered(table_name: str, column: str) -> bool:
    t = table(table_name)
    return t is not None and any(c.name == column for c in t.columns)
