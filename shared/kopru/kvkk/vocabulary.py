"""The closed vocabularies of the KVKK area: data categories, processing purposes,
legal bases, channels and the İYS codes. Stable snake_case names: they are stored in
the database, carried by events and sent by API callers, so never rename one.

Migration 0004 (and 0022 for the purposes) repeats these lists in CHECK constraints (a migration is frozen
history and must not import live code): adding a value means a new migration too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    name: str
    tr: str
    en: str
    ref: str = ""  # the article or source it maps to


def _index(*terms: Term) -> dict[str, Term]:
    return {t.name: t for t in terms}


# Data categories, following the categories VERBİS (the data controllers' registry)
# asks controllers to declare. The special categories are KVKK Art. 6(1)'s list.
CATEGORIES = _index(
    Term("identity", "Kimlik", "Identity"),
    Term("contact", "İletişim", "Contact"),
    Term("location", "Lokasyon", "Location"),
    Term("personnel", "Özlük", "Personnel file"),
    Term("legal_transaction", "Hukuki işlem", "Legal transaction"),
    Term("customer_transaction", "Müşteri işlem", "Customer transaction"),
    Term("physical_security", "Fiziksel mekân güvenliği", "Physical premises security"),
    Term("transaction_security", "İşlem güvenliği", "Transaction security"),
    Term("risk_management", "Risk yönetimi", "Risk management"),
    Term("financial", "Finans", "Financial"),
    Term("professional_experience", "Mesleki deneyim", "Professional experience"),
    Term("marketing", "Pazarlama", "Marketing"),
    Term("audio_visual", "Görsel ve işitsel kayıtlar", "Audio-visual records"),
)
SPECIAL_CATEGORIES = _index(
    Term("race_ethnicity", "Irk ve etnik köken", "Race and ethnic origin", "KVKK md. 6(1)"),
    Term("political_opinion", "Siyasi düşünce", "Political opinion", "KVKK md. 6(1)"),
    Term("religion_belief", "Felsefi inanç, din, mezhep ve diğer inançlar", "Philosophical belief, religion, sect and other beliefs", "KVKK md. 6(1)"),
    Term("appearance", "Kılık ve kıyafet", "Dress and appearance", "KVKK md. 6(1)"),
    Term("association_membership", "Dernek üyeliği", "Association membership", "KVKK md. 6(1)"),
    Term("foundation_membership", "Vakıf üyeliği", "Foundation membership", "KVKK md. 6(1)"),
    Term("union_membership", "Sendika üyeliği", "Trade union membership", "KVKK md. 6(1)"),
    Term("health", "Sağlık bilgileri", "Health", "KVKK md. 6(1)"),
    Term("sexual_life", "Cinsel hayat", "Sexual life", "KVKK md. 6(1)"),
    Term("criminal_conviction", "Ceza mahkûmiyeti ve güvenlik tedbirleri", "Criminal convictions and security measures", "KVKK md. 6(1)"),
    Term("biometric", "Biyometrik veri", "Biometric data", "KVKK md. 6(1)"),
    Term("genetic", "Genetik veri", "Genetic data", "KVKK md. 6(1)"),
)
ALL_CATEGORIES = {**CATEGORIES, **SPECIAL_CATEGORIES}

# One consent per purpose: a request naming several is refused (consent.bundled).
PURPOSES = _index(
    Term("marketing", "Pazarlama ve ticari elektronik ileti", "Marketing and commercial electronic messages"),
    Term("transactional", "İşlemsel bildirimler", "Transactional notifications"),
    Term("service_delivery", "Ürün veya hizmetin sunulması", "Delivering the product or service"),
    Term("analytics", "Analiz ve istatistik", "Analytics and statistics"),
    Term("profiling", "Profilleme", "Profiling"),
    Term("third_party_transfer", "Yurt içinde üçüncü kişilere aktarım", "Transfer to third parties in Türkiye", "KVKK md. 8"),
    Term("cross_border_transfer", "Yurt dışına aktarım", "Transfer abroad", "KVKK md. 9"),
    # credit reports (kopru.credit, migration 0022): asking a KKB member for the person's
    # Findeks credit/cheque report, or keeping the one they shared, to assess a transaction
    Term("credit_report", "Kredi ve çek raporunun (Findeks) alınması ve değerlendirilmesi",
         "Obtaining and assessing the person's credit and cheque report (Findeks)"),
)

# Legal bases. Art. 5 covers personal data; Art. 6(3) (as amended by Law No. 7499,
# in force 1 June 2024) covers the special categories. Art. 5(2) and 6(3) use the
# Turkish alphabet for their letters, so (ç) sits between (c) and (d).
LEGAL_BASES = _index(
    Term("explicit_consent", "Açık rıza", "Explicit consent", "KVKK md. 5(1)"),
    Term("required_by_law", "Kanunlarda açıkça öngörülmesi", "Expressly provided for by law", "KVKK md. 5(2)(a)"),
    Term("vital_interest", "Fiili imkânsızlık hâlinde hayatın veya beden bütünlüğünün korunması",
         "Protecting life or bodily integrity where consent cannot be given", "KVKK md. 5(2)(b)"),
    Term("contract", "Sözleşmenin kurulması veya ifası", "Formation or performance of a contract", "KVKK md. 5(2)(c)"),
    Term("legal_obligation", "Veri sorumlusunun hukuki yükümlülüğü", "The controller's legal obligation", "KVKK md. 5(2)(ç)"),
    Term("made_public", "İlgili kişinin kendisince alenileştirilmesi", "Made public by the data subject", "KVKK md. 5(2)(d)"),
    Term("legal_claims", "Bir hakkın tesisi, kullanılması veya korunması",
         "Establishing, exercising or protecting a right", "KVKK md. 5(2)(e)"),
    Term("legitimate_interest", "Veri sorumlusunun meşru menfaati", "The controller's legitimate interest", "KVKK md. 5(2)(f)"),
    Term("special_explicit_consent", "Özel nitelikli veri: açık rıza", "Special category: explicit consent", "KVKK md. 6(3)(a)"),
    Term("special_required_by_law", "Özel nitelikli veri: kanunlarda açıkça öngörülmesi",
         "Special category: expressly provided for by law", "KVKK md. 6(3)(b)"),
    Term("special_vital_interest", "Özel nitelikli veri: fiili imkânsızlık hâlinde hayatın korunması",
         "Special category: protecting life where consent cannot be given", "KVKK md. 6(3)(c)"),
    Term("special_made_public", "Özel nitelikli veri: ilgili kişinin alenileştirmesi",
         "Special category: made public by the data subject", "KVKK md. 6(3)(ç)"),
    Term("special_legal_claims", "Özel nitelikli veri: bir hakkın tesisi, kullanılması veya korunması",
         "Special category: establishing, exercising or protecting a right", "KVKK md. 6(3)(d)"),
    Term("special_health_services", "Özel nitelikli veri: sağlık hizmetleri (sır saklama yükümlüleri)",
         "Special category: health services by persons under secrecy", "KVKK md. 6(3)(e)"),
    Term("special_employment", "Özel nitelikli veri: istihdam, iş sağlığı ve sosyal güvenlik yükümlülükleri",
         "Special category: employment, occupational health and social security obligations", "KVKK md. 6(3)(f)"),
    Term("special_nonprofit_members", "Özel nitelikli veri: vakıf, dernek ve benzeri kuruluşların üyeleri",
         "Special category: members of foundations, associations and similar non-profits", "KVKK md. 6(3)(g)"),
)
CONSENT_BASES = frozenset({"explicit_consent", "special_explicit_consent"})
SPECIAL_BASES = frozenset(n for n in LEGAL_BASES if n.startswith("special_"))

CHANNELS = ("web", "mobile", "call_center", "in_person", "email", "sms")

# İleti Yönetim Sistemi (İYS) codes, as the İYS API and the SMS providers' İYS
# endpoints (Netgsm, Verimor) accept them.
IYS_TYPES = ("MESAJ", "ARAMA", "EPOSTA")
IYS_RECIPIENT_TYPES = ("BIREYSEL", "TACIR")
IYS_SOURCES = (
    "HS_FIZIKSEL_ORTAM", "HS_ISLAK_IMZA", "HS_WEB", "HS_CAGRI_MERKEZI", "HS_SOSYAL_MEDYA", "HS_EPOSTA",
    "HS_MESAJ", "HS_MOBIL", "HS_EORTAM", "HS_ETKINLIK", "HS_2015", "HS_ATM", "HS_KARAR",
)
