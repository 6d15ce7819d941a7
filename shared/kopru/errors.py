"""One error model for every route: RFC 9457 problem details with a stable code.

A `KopruError` carries a code from `CATALOG`; the runtime renders it as
`application/problem+json` in Turkish by default, in English when the caller's
Accept-Language prefers it. Codes are part of the API: never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROBLEM_BASE = "https://docs.kopru.dev/problems/"


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    tr: str
    en: str


CATALOG: dict[str, ErrorSpec] = {
    # request shape
    "request.malformed_json": ErrorSpec(400, "İstek gövdesi geçerli bir JSON değil.", "The request body is not valid JSON."),
    "request.validation_failed": ErrorSpec(422, "İstek alanları doğrulanamadı.", "The request fields failed validation."),
    "request.too_large": ErrorSpec(413, "İstek gövdesi izin verilen boyutu aşıyor.", "The request body exceeds the allowed size."),
    "request.unsupported_media_type": ErrorSpec(415, "Bu içerik türü desteklenmiyor.", "This content type is not supported."),
    "request.not_found": ErrorSpec(404, "İstenen adres bulunamadı.", "The requested route does not exist."),
    "request.invalid_cursor": ErrorSpec(400, "Sayfa imleci (cursor) geçersiz: yalnızca bu listenin bir önceki sayfasının verdiği next_cursor kullanılabilir.", "Invalid page cursor: use only the next_cursor that the previous page of this list gave."),
    "request.method_not_allowed": ErrorSpec(405, "Bu adres bu yöntemi desteklemiyor.", "This route does not support this method."),
    "request.control_characters": ErrorSpec(422, "Metin alanlarında kontrol karakteri (NUL ve benzerleri) olamaz; yalnızca sekme ve satır sonu kullanılabilir.", "Text fields cannot hold control characters (NUL and the like); only tab and line breaks are allowed."),
    "request.invalid_unicode": ErrorSpec(400, "İstek geçerli UTF-8/Unicode değil (eşlenmemiş vekil karakter ya da bozuk bayt).", "The request is not valid UTF-8/Unicode (a lone surrogate or a malformed byte)."),
    "request.too_deep": ErrorSpec(400, "JSON gövdesi izin verilenden daha derin iç içe (en çok 32 düzey).", "The JSON body is nested deeper than allowed (at most 32 levels)."),
    "request.idempotency_key_invalid": ErrorSpec(400, "Idempotency-Key geçersiz: 1-100 yazdırılabilir ASCII karakter olmalı.", "Invalid Idempotency-Key: it must be 1 to 100 printable ASCII characters."),
    # cloudevents
    "cloudevent.malformed": ErrorSpec(400, "Geçerli bir CloudEvent değil.", "Not a valid CloudEvent."),
    "cloudevent.unsupported_type": ErrorSpec(400, "Bu fonksiyon bu olay türünü işlemiyor.", "This function does not consume this event type."),
    "cloudevent.invalid_data": ErrorSpec(400, "Olay verisi şemasına uymuyor.", "The event data does not match its schema."),
    "cloudevent.missing_tenant": ErrorSpec(400, "Olayda tenantid uzantısı yok.", "The event has no tenantid extension."),
    "cloudevent.unauthenticated": ErrorSpec(401, "Olay ya da zamanlama tetiği doğrulanabilir bir göndericiden gelmiyor: geçerli bir gönderici belirteci (Bearer) gerekli.", "The event or schedule tick does not come from a sender that can be verified: a valid sender token (Bearer) is required."),
    # auth
    "auth.missing_token": ErrorSpec(401, "Kimlik doğrulama gerekli.", "Authentication is required."),
    "auth.invalid_token": ErrorSpec(401, "Erişim belirteci geçersiz.", "The access token is invalid."),
    "auth.token_expired": ErrorSpec(401, "Erişim belirtecinin süresi dolmuş.", "The access token has expired."),
    "auth.token_revoked": ErrorSpec(401, "Erişim belirteci iptal edilmiş.", "The access token has been revoked."),
    "auth.forbidden": ErrorSpec(403, "Bu işlem için yetkiniz yok.", "You are not allowed to do this."),
    "auth.insufficient_scope": ErrorSpec(403, "Belirtecin kapsamı bu işlem için yetersiz.", "The token's scope does not allow this."),
    "auth.rate_limited": ErrorSpec(429, "Çok fazla istek; lütfen biraz sonra tekrar deneyin.", "Too many requests; try again shortly."),
    "auth.unknown_scope": ErrorSpec(422, "Bilinmeyen kapsam istendi.", "An unknown scope was requested."),
    "auth.scope_not_held": ErrorSpec(403, "Sahip olmadığınız bir kapsamı başka bir istemciye veremezsiniz.",
                                     "You cannot grant a scope you do not hold yourself."),
    "auth.client_not_found": ErrorSpec(404, "API istemcisi bulunamadı.", "API client not found."),
    # tenants
    "tenant.not_found": ErrorSpec(404, "Kiracı bulunamadı.", "Tenant not found."),
    "tenant.tax_number_invalid": ErrorSpec(422, "Vergi numarası geçersiz: VKN 10, TCKN 11 haneli olmalı ve kontrol hanesi tutmalı.", "Invalid tax number: a VKN has 10 digits, a TCKN 11, and the check digits must match."),
    "tenant.subdomain_invalid": ErrorSpec(422, "Alt alan adı geçersiz: küçük harf, rakam ve tire; 3-63 karakter.", "Invalid subdomain: lowercase letters, digits and hyphens; 3-63 characters."),
    "tenant.subdomain_reserved": ErrorSpec(409, "Bu alt alan adı ayrılmış; başka bir ad seçin.", "This subdomain is reserved; choose another."),
    "tenant.subdomain_taken": ErrorSpec(409, "Bu alt alan adı kullanımda.", "This subdomain is already taken."),
    "tenant.plan_limit": ErrorSpec(409, "Paketinizin sınırına ulaşıldı.", "Your plan's limit has been reached."),
    "tenant.admin_email_invalid": ErrorSpec(422, "Yönetici e-posta adresi geçersiz.", "The admin e-mail address is invalid."),
    "tenant.admin_password_weak": ErrorSpec(422, "Yönetici parolası en az 12 karakter olmalı ve e-posta adresini içermemeli.", "The admin password must have at least 12 characters and not contain the e-mail address."),
    # kvkk: data subjects
    "subject.identifier_missing": ErrorSpec(422, "İlgili kişi için telefon, e-posta ya da TCKN'den en az biri gerekli.", "At least one of phone, e-mail or TCKN is required for the data subject."),
    "subject.phone_invalid": ErrorSpec(422, "Telefon numarası geçersiz.", "The phone number is not valid."),
    "subject.email_invalid": ErrorSpec(422, "E-posta adresi geçersiz.", "The e-mail address is not valid."),
    "subject.tckn_invalid": ErrorSpec(422, "T.C. kimlik numarası geçersiz: 11 hane olmalı ve kontrol haneleri tutmalı.", "Invalid Turkish ID number: it has 11 digits and its check digits must match."),
    "subject.identifiers_conflict": ErrorSpec(409, "Verilen tanımlayıcılar farklı ilgili kişilere ait; tahmin yerine reddedildi. Tanımlayıcıları ayrı ayrı gönderin.", "The identifiers belong to different data subjects; refused rather than guessed. Send them separately."),
    "subject.not_found": ErrorSpec(404, "İlgili kişi bulunamadı.", "Data subject not found."),
    "subject.query_invalid": ErrorSpec(422, "subject parametresi bir telefon numarası, e-posta adresi ya da TCKN olmalı.", "The subject parameter must be a phone number, an e-mail address or a TCKN."),
    # kvkk: consents
    "consent.purpose_unknown": ErrorSpec(422, "Bilinmeyen işleme amacı.", "Unknown processing purpose."),
    "consent.legal_basis_unknown": ErrorSpec(422, "Bilinmeyen hukuki sebep; KVKK md. 5 ve 6'daki sebeplerden biri olmalı.", "Unknown legal basis; it must be one of the bases in KVKK Art. 5 and 6."),
    "consent.bundled": ErrorSpec(422, "Her amaç için ayrı rıza alınmalı; birden çok amacı birleştiren rıza kaydedilmez.", "Consent is recorded one purpose at a time; a consent bundling several purposes is refused."),
    "consent.data_category_unknown": ErrorSpec(422, "Bilinmeyen kişisel veri kategorisi.", "Unknown personal data category."),
    "consent.text_missing": ErrorSpec(422, "Gösterilen rıza metni boş olamaz.", "The consent text shown must not be empty."),
    "consent.special_category_basis": ErrorSpec(422, "Özel nitelikli kişisel veri için KVKK md. 6 kapsamında bir hukuki sebep gerekir.", "Special categories of personal data need a legal basis under KVKK Art. 6."),
    "consent.iys_requires_consent": ErrorSpec(422, "İYS kaydı yalnız açık rızaya (onaya) dayanabilir.", "An İYS record can only rest on explicit consent."),
    "consent.iys_address_missing": ErrorSpec(422, "İYS izin türü için gereken adres yok: MESAJ ve ARAMA telefon, EPOSTA e-posta ister.", "The İYS consent type needs its address: MESAJ and ARAMA need a phone, EPOSTA an e-mail."),
    "consent.not_found": ErrorSpec(404, "Rıza kaydı bulunamadı.", "Consent not found."),
    "consent.already_withdrawn": ErrorSpec(409, "Bu rıza zaten geri alınmış.", "This consent has already been withdrawn."),
    "sms.report_push_forbidden": ErrorSpec(403, "Rapor bildirim adresi geçersiz: Netgsm paneline Köprü'nün verdiği adresi girin.", "Invalid report push address: enter the address Köprü gave in the Netgsm panel."),
    "kvkk.request_not_found": ErrorSpec(404, "Başvuru bulunamadı.", "Application not found."),
    "kvkk.request_open": ErrorSpec(409, "Bu ilgili kişi için aynı türde açık bir başvuru zaten var; onun sonucunu bekleyin.", "An application of this kind is already open for this data subject; wait for its outcome."),
    "kvkk.subject_erased": ErrorSpec(409, "Bu ilgili kişinin verileri silinmiş; yalnız yasal saklama yükümlülüğü kapsamındaki kayıtlar kalmıştır.", "This data subject's data has been erased; only records under a legal hold remain."),
    "kvkk.link_invalid": ErrorSpec(403, "İndirme bağlantısı geçersiz ya da süresi dolmuş; başvurunun durumundan yeni bağlantı alın.", "The download link is invalid or has expired; get a new one from the application's status."),
    "kvkk.export_gone": ErrorSpec(410, "Dışa aktarım dosyası saklama süresi dolduğu için imha edildi.", "The export file was destroyed when its retention ended."),
    "kvkk.breach_not_found": ErrorSpec(404, "İhlal kaydı bulunamadı.", "Breach record not found."),
    "kvkk.breach_invalid": ErrorSpec(422, "İhlal kaydı eksik ya da tutarsız.", "The breach record is incomplete or inconsistent."),
    # sms
    "sms.not_found": ErrorSpec(404, "SMS bulunamadı.", "SMS not found."),
    "sms.invalid_number": ErrorSpec(422, "Alıcı numarası geçerli bir cep telefonu numarası değil.", "The recipient is not a valid mobile number."),
    "sms.iys_no_consent": ErrorSpec(422, "Ticari ileti için bu numaraya ait geçerli bir İYS (MESAJ) onayı yok; gönderilmedi.", "No active İYS (MESAJ) consent for this number: the commercial message was not sent."),
    "sms.recipient_type_required": ErrorSpec(422, "Ticari iletilerde recipient_type (BIREYSEL ya da TACIR) zorunludur.", "Commercial messages need recipient_type (BIREYSEL or TACIR)."),
    "sms.scheduled_at_out_of_range": ErrorSpec(422, "scheduled_at en çok bir dakika geçmişte ve en çok 365 gün ileride olabilir (saat dilimi belirtilmeli).", "scheduled_at must be at most one minute in the past and at most 365 days ahead (with a time zone)."),
    "sms.otp_invalid": ErrorSpec(422, "OTP mesajı tek SMS olmalı, Türkçe karakter içermemeli ve zamanlanamaz.", "An OTP must fit one SMS, use no Turkish letters and cannot be scheduled."),
    "sms.not_configured": ErrorSpec(409, "Netgsm ayarları yapılmamış.", "Netgsm is not configured for this tenant."),
    "sms.idempotency_conflict": ErrorSpec(409, "Bu Idempotency-Key başka bir istekle kullanılmış.", "This Idempotency-Key was used for a different request."),
    "netgsm.credentials_invalid": ErrorSpec(422, "Netgsm kullanıcı adı ya da şifresi hatalı.", "The Netgsm user code or password is wrong."),
    "netgsm.unavailable": ErrorSpec(503, "Netgsm'e şu an ulaşılamıyor; daha sonra deneyin.", "Netgsm cannot be reached now; try again later."),
    "sms.message_too_long": ErrorSpec(422, "Mesaj Netgsm'in izin verdiği uzunluğu aşıyor (en çok 6 parça).", "The message is longer than Netgsm accepts (at most 6 parts)."),
    # e-invoice: the input (kopru.einvoice.models)
    "einvoice.number_invalid": ErrorSpec(422, "Fatura numarası geçersiz: 3 karakterlik seri (büyük harf/rakam), 4 haneli yıl ve 9 haneli sıra olmalı (ABC2026000000001).", "Invalid invoice number: a 3-character series (capital letters/digits), a 4-digit year and a 9-digit sequence (ABC2026000000001)."),
    "einvoice.number_year_mismatch": ErrorSpec(422, "Fatura numarasındaki yıl düzenleme tarihinin yılı olmalı.", "The year in the invoice number must be the year of the issue date."),
    "einvoice.number_missing": ErrorSpec(422, "Belge için fatura numarası gerekli.", "The document needs an invoice number."),
    "einvoice.vkn_invalid": ErrorSpec(422, "Vergi kimlik numarası geçersiz: 10 hane olmalı ve kontrol hanesi tutmalı.", "Invalid tax number (VKN): it has 10 digits and its check digit must match."),
    "einvoice.tckn_invalid": ErrorSpec(422, "T.C. kimlik numarası geçersiz: 11 hane olmalı ve kontrol haneleri tutmalı.", "Invalid Turkish ID number (TCKN): it has 11 digits and its check digits must match."),
    "einvoice.party_identity_invalid": ErrorSpec(422, "Taraf ya VKN, unvan ve vergi dairesiyle ya da TCKN, ad ve soyadla verilmeli.", "A party is given either by VKN, name and tax office, or by TCKN, first name and family name."),
    "einvoice.supplier_missing": ErrorSpec(422, "Satıcı (düzenleyen) bilgisi yok.", "The supplier (issuer) is missing."),
    "einvoice.unit_code_invalid": ErrorSpec(422, "Birim kodu GİB'in kabul ettiği UN/ECE kodlarından biri olmalı (adet: C62, kilogram: KGM, litre: LTR, saat: HUR…).", "The unit code must be one of the UN/ECE codes GİB accepts (piece: C62, kilogram: KGM, litre: LTR, hour: HUR…)."),
    "einvoice.kdv_rate_invalid": ErrorSpec(422, "KDV oranı 0 ile 100 arasında, en çok 2 ondalıklı bir yüzde olmalı.", "The KDV rate must be a percentage between 0 and 100 with at most 2 decimals."),
    "einvoice.discount_conflict": ErrorSpec(422, "Bir satırda iskonto oranı ya da iskonto tutarından yalnız biri verilebilir.", "A line takes either a discount rate or a discount amount, not both."),
    "einvoice.discount_invalid": ErrorSpec(422, "İskonto tutarı en çok 2 ondalıklı olmalı ve satır tutarını aşmamalı.", "A discount amount has at most 2 decimals and cannot exceed the line amount."),
    "einvoice.currency_invalid": ErrorSpec(422, "Para birimi GİB listesindeki ISO 4217 kodlarından biri olmalı (TRY, USD, EUR…).", "The currency must be an ISO 4217 code from GİB's list (TRY, USD, EUR…)."),
    "einvoice.exchange_rate_missing": ErrorSpec(422, "Para birimi TRY değilse döviz kuru zorunlu.", "An exchange rate is required when the currency is not TRY."),
    "einvoice.exchange_rate_unexpected": ErrorSpec(422, "TRY faturada döviz kuru verilmez.", "A TRY invoice takes no exchange rate."),
    "einvoice.exchange_rate_invalid": ErrorSpec(422, "Döviz kuru sıfırdan büyük olmalı ve noktadan sonra en çok 6 hane içermeli.", "The exchange rate must be positive with at most 6 decimals."),
    "einvoice.iade_profile_invalid": ErrorSpec(422, "İade faturası yalnız TEMELFATURA ya da EARSIVFATURA senaryosunda düzenlenebilir; TICARIFATURA'da iade faturası olmaz.", "A return (IADE) invoice is issued under TEMELFATURA or EARSIVFATURA only; TICARIFATURA has no IADE invoices."),
    "einvoice.billing_reference_missing": ErrorSpec(422, "İade faturasında iade edilen faturanın numarası ve tarihi (billing_reference) zorunlu.", "A return (IADE) invoice needs the number and date of the invoice returned (billing_reference)."),
    "einvoice.withholding_code_invalid": ErrorSpec(422, "Tevkifat kodu GİB'in 6xx/8xx listesinde yok.", "The withholding code is not in GİB's 6xx/8xx list."),
    "einvoice.withholding_rate_invalid": ErrorSpec(422, "Bu tevkifat kodu için bu oran GİB listesinde yok.", "GİB's list does not allow this withholding rate for this code."),
    "einvoice.withholding_rate_required": ErrorSpec(422, "Bu tevkifat kodu için GİB birden çok oran tanımlıyor; withholding_rate ile oranı seçin.", "GİB defines several rates for this withholding code; choose one with withholding_rate."),
    "einvoice.withholding_type_mismatch": ErrorSpec(422, "Tevkifatlı satır yalnız TEVKIFAT (ya da IADE) tipindeki faturada olabilir.", "A line with withholding belongs on a TEVKIFAT (or IADE) invoice only."),
    "einvoice.withholding_missing": ErrorSpec(422, "TEVKIFAT tipindeki faturada en az bir satırda tevkifat kodu olmalı.", "A TEVKIFAT invoice needs a withholding code on at least one line."),
    "einvoice.exemption_code_invalid": ErrorSpec(422, "KDV istisna/muafiyet kodu GİB listesinde yok.", "The KDV exemption reason code is not in GİB's list."),
    "einvoice.exemption_missing": ErrorSpec(422, "KDV'si 0 olan satırda istisna kodu ve açıklaması birlikte verilmeli.", "A line with 0 % KDV needs an exemption code together with its reason."),
    "einvoice.exemption_unexpected": ErrorSpec(422, "KDV'si sıfırdan büyük satıra istisna kodu verilmez (özel matrah hariç).", "A line with KDV above 0 takes no exemption code (except special base, OZELMATRAH)."),
    "einvoice.exemption_type_mismatch": ErrorSpec(422, "Bu istisna kodu bu fatura tipiyle kullanılamaz (istisna kodları ISTISNA, 7xx IHRACKAYITLI, 8xx OZELMATRAH ister).", "This exemption code does not go with this invoice type (exemption codes need ISTISNA, 7xx IHRACKAYITLI, 8xx OZELMATRAH)."),
    "einvoice.note_invalid": ErrorSpec(422, "Notlar boş olamaz ve her biri en çok 1000 karakter olmalı.", "Notes cannot be empty and each has at most 1000 characters."),
    "einvoice.customer_missing": ErrorSpec(422, "Alıcı (customer) zorunlu; yalnız IHRACAT faturasında alıcı gümrük idaresidir ve verilmez.", "The customer is required; only an IHRACAT invoice takes none (its customer is the customs authority)."),
    "einvoice.export_fields_unexpected": ErrorSpec(422, "Yabancı alıcı (buyer), teslim şartı, GTİP, kap ve gönderilme şekli yalnız IHRACAT faturasında verilir.", "The foreign buyer, delivery terms, GTİP, package and transport mode belong on an IHRACAT invoice only."),
    "einvoice.export_customer_unexpected": ErrorSpec(422, "IHRACAT faturasının alıcısı gümrük idaresidir (VKN 1460415308) ve Köprü tarafından doldurulur; customer verilmez, yabancı alıcı buyer alanına yazılır.", "An IHRACAT invoice is addressed to the customs authority (VKN 1460415308), filled in by Köprü: give no customer, and the foreign buyer as buyer."),
    "einvoice.export_buyer_missing": ErrorSpec(422, "IHRACAT faturasında yabancı alıcı (buyer: adı ve adresi) zorunlu.", "An IHRACAT invoice needs the foreign buyer (buyer: name and address)."),
    "einvoice.export_buyer_country_invalid": ErrorSpec(422, "Yabancı alıcının ülke kodu GİB listesindeki ISO 3166 kodlarından biri olmalı ve TR olmamalı.", "The foreign buyer's country code must be an ISO 3166 code from GİB's list, and not TR."),
    "einvoice.export_type_invalid": ErrorSpec(422, "IHRACAT faturasının tipi ISTISNA olmalı.", "An IHRACAT invoice must be of type ISTISNA."),
    "einvoice.export_exemption_invalid": ErrorSpec(422, "IHRACAT faturasında her satırın KDV'si 0 ve istisna kodu 301 (11/1-a Mal ihracatı) olmalı.", "Every line of an IHRACAT invoice has 0 % KDV with exemption code 301 (11/1-a export of goods)."),
    "einvoice.delivery_terms_missing": ErrorSpec(422, "IHRACAT faturasında her satırda teslim şartı (INCOTERMS: EXW, FCA, FOB, CIF…) zorunlu.", "Every line of an IHRACAT invoice needs its delivery terms (INCOTERMS: EXW, FCA, FOB, CIF…)."),
    "einvoice.delivery_terms_invalid": ErrorSpec(422, "Teslim şartı GİB listesindeki INCOTERMS kodlarından biri olmalı (EXW, FCA, FOB, CIF, DAP…).", "The delivery terms must be an INCOTERMS code from GİB's list (EXW, FCA, FOB, CIF, DAP…)."),
    "einvoice.gtip_missing": ErrorSpec(422, "IHRACAT faturasında her satırda GTİP kodu zorunlu.", "Every line of an IHRACAT invoice needs its GTİP (customs tariff) code."),
    "einvoice.gtip_invalid": ErrorSpec(422, "GTİP kodu 12 haneli bir sayı olmalı.", "The GTİP code must be 12 digits."),
    "einvoice.package_missing": ErrorSpec(422, "IHRACAT faturasında her satırda kap bilgisi (kap cinsi ve adedi) zorunlu.", "Every line of an IHRACAT invoice needs its package (type and count)."),
    "einvoice.package_type_invalid": ErrorSpec(422, "Kap cinsi GİB listesindeki UN/ECE kodlarından biri olmalı (BX kutu, CT karton, PK paket, PX palet…).", "The package type must be a UN/ECE code from GİB's list (BX box, CT carton, PK package, PX pallet…)."),
    "einvoice.transport_mode_missing": ErrorSpec(422, "IHRACAT faturasında her satırda gönderilme şekli zorunlu.", "Every line of an IHRACAT invoice needs its transport mode."),
    "einvoice.transport_mode_invalid": ErrorSpec(422, "Gönderilme şekli GİB listesindeki kodlardan biri olmalı (1 deniz, 2 demiryolu, 3 karayolu, 4 hava, 5 posta…).", "The transport mode must be a code from GİB's list (1 sea, 2 rail, 3 road, 4 air, 5 post…)."),
    # e-invoice: documents (kopru.einvoice.validate / sign)
    "einvoice.internet_sale_profile_invalid": ErrorSpec(422, "İnternet satışı bilgisi yalnız e-Arşiv faturasında (EARSIVFATURA) verilir.", "Internet-sale data belongs on an e-Arşiv invoice (EARSIVFATURA) only."),
    "einvoice.internet_sale_website_invalid": ErrorSpec(422, "Satışın yapıldığı web adresi http:// ya da https:// ile başlayan geçerli bir adres olmalı.", "The web address of the sale must be a valid address starting with http:// or https://."),
    "einvoice.internet_sale_agent_missing": ErrorSpec(422, "Ödeme şekli ODEMEARACISI ise ödeme aracısının adı (payment_agent, örn. iyzico) zorunlu.", "With payment type ODEMEARACISI the payment intermediary's name (payment_agent, e.g. iyzico) is required."),
    "einvoice.internet_sale_payment_date_missing": ErrorSpec(422, "Kart, EFT/havale ya da ödeme aracısıyla yapılan internet satışında ödeme tarihi zorunlu.", "An internet sale paid by card, bank transfer or a payment intermediary needs its payment date."),
    "einvoice.internet_sale_carrier_invalid": ErrorSpec(422, "Taşıyıcının kimlik numarası geçerli bir VKN (10 hane) ya da TCKN (11 hane) olmalı.", "The carrier's identifier must be a valid VKN (10 digits) or TCKN (11 digits)."),
    "einvoice.internet_sale_carrier_incomplete": ErrorSpec(422, "Taşıyıcı bilgisi adı ve VKN/TCKN'si birlikte, gönderim tarihiyle verilmeli.", "The carrier is given by its name and VKN/TCKN together, with the shipment date."),
    "einvoice.xslt_invalid": ErrorSpec(422, "Belgedeki görüntüleme şablonu (XSLT) okunamadı ya da dosya/ağ erişimi denediği için çalıştırılmadı.", "The document's display stylesheet (XSLT) could not be read, or was not run because it tried to reach files or the network."),
    "einvoice.view_link_invalid": ErrorSpec(403, "Fatura görüntüleme bağlantısı geçersiz.", "The invoice view link is invalid."),
    "einvoice.view_link_expired": ErrorSpec(410, "Fatura görüntüleme bağlantısının süresi dolmuş; satıcıdan yeni bağlantı isteyin.", "The invoice view link has expired; ask the seller for a new one."),
    "einvoice.invalid": ErrorSpec(422, "Belge GİB'in XSD, şematron ya da hesap kontrollerinden geçmedi; bulgulara bakın.", "The document fails GİB's XSD, schematron or arithmetic checks; see the findings."),
    "einvoice.xml_too_large": ErrorSpec(413, "XML belgesi izin verilen boyutu (5 MiB) aşıyor.", "The XML document exceeds the allowed size (5 MiB)."),
    "einvoice.xml_malformed": ErrorSpec(422, "XML iyi biçimli değil ya da UTF-8/UTF-16 değil.", "The XML is not well-formed, or not UTF-8/UTF-16."),
    "einvoice.xml_dtd_forbidden": ErrorSpec(422, "DOCTYPE (DTD) içeren XML kabul edilmez.", "XML with a DOCTYPE (DTD) is refused."),
    "einvoice.xml_entity_forbidden": ErrorSpec(422, "Varlık (ENTITY) tanımı içeren XML kabul edilmez.", "XML declaring entities (ENTITY) is refused."),
    "einvoice.xml_not_ubl_tr": ErrorSpec(422, "Belge bir UBL-TR belgesi değil (imzalanacak belge bir Invoice olmalı).", "The document is not a UBL-TR document (a document to sign must be an Invoice)."),
    "einvoice.already_signed": ErrorSpec(409, "Belge zaten imzalı.", "The document is already signed."),
    "einvoice.certificate_invalid": ErrorSpec(422, "İmza sertifikası (PKCS#12) okunamadı: dosya ya da parola hatalı, ya da RSA anahtarı yok.", "The signing certificate (PKCS#12) could not be read: wrong file or password, or no RSA key."),
    "einvoice.certificate_expired": ErrorSpec(422, "İmza sertifikasının geçerlilik süresi dışında.", "The signing certificate is outside its validity period."),
    "einvoice.signature_invalid": ErrorSpec(422, "Belgenin imzası doğrulanamadı: belge imzadan sonra değişmiş ya da imza güvenilen sertifikayla atılmamış.", "The document's signature does not verify: the document changed after signing, or it was not signed with the trusted certificate."),
    # e-invoice: issuing and submitting (kopru.einvoice.service)
    "einvoice.not_found": ErrorSpec(404, "Fatura bulunamadı.", "Invoice not found."),
    "einvoice.not_configured": ErrorSpec(409, "e-Fatura entegrasyonu (Nilvera API anahtarı, seri, adres) tanımlı değil.", "The e-invoice integration (Nilvera API key, series, address) is not set up."),
    "einvoice.number_taken": ErrorSpec(409, "Bu fatura numarası daha önce kullanılmış.", "This invoice number has been used before."),
    "einvoice.uuid_taken": ErrorSpec(409, "Bu ETTN (UUID) ile daha önce fatura düzenlenmiş.", "An invoice with this ETTN (UUID) was issued before."),
    "einvoice.series_exhausted": ErrorSpec(409, "Bu seride bu yıl için numara kalmadı.", "This series has no numbers left for this year."),
    "einvoice.idempotency_conflict": ErrorSpec(409, "Bu Idempotency-Key başka bir istekle kullanılmış.", "This Idempotency-Key was used with a different request."),
    "einvoice.buyer_not_registered": ErrorSpec(422, "Alıcı e-Fatura mükellefi değil: TEMELFATURA/TICARIFATURA gönderilemez; EARSIVFATURA düzenleyin.", "The buyer is not a registered e-Fatura user: TEMELFATURA/TICARIFATURA cannot be sent; issue an EARSIVFATURA."),
    "einvoice.buyer_registered": ErrorSpec(422, "Alıcı e-Fatura mükellefi: e-Arşiv faturası düzenlenemez; TEMELFATURA ya da TICARIFATURA düzenleyin.", "The buyer is a registered e-Fatura user: no e-Arşiv invoice; issue a TEMELFATURA or TICARIFATURA."),
    "einvoice.certificate_missing": ErrorSpec(409, "İmza sertifikası (mali mühür, PKCS#12) yüklenmemiş.", "No signing certificate (mali mühür, PKCS#12) has been uploaded."),
    "nilvera.credentials_invalid": ErrorSpec(422, "Nilvera API anahtarı kabul edilmedi.", "The Nilvera API key was refused."),
    "nilvera.account_mismatch": ErrorSpec(422, "Nilvera API anahtarı başka bir firmanın hesabına ait: anahtarın firmasının vergi numarası kiracının VKN'si olmalı.", "The Nilvera API key belongs to another company's account: the key's company must have the tenant's tax number (VKN)."),
    "nilvera.unavailable": ErrorSpec(503, "Nilvera'ya şu anda ulaşılamıyor; daha sonra yeniden denenecek.", "Nilvera cannot be reached right now; it will be retried."),
    # the integration core (kopru.work)
    "request.idempotency_conflict": ErrorSpec(409, "Bu Idempotency-Key başka bir istekle kullanılmış.", "This Idempotency-Key was used for a different request."),
    # payments (iyzico)
    "payment.not_configured": ErrorSpec(409, "iyzico ayarları yapılmamış.", "iyzico is not configured for this tenant."),
    "payment.not_found": ErrorSpec(404, "Ödeme bulunamadı.", "Payment not found."),
    "payment.basket_mismatch": ErrorSpec(422, "Sepet kalemlerinin toplamı amount'a eşit olmalı ve kalem kimlikleri tekrarlanmamalı.", "The basket items must sum to amount, and item ids must not repeat."),
    "payment.invalid_amount": ErrorSpec(422, "Tutar sıfırdan büyük, en çok iki ondalık basamaklı olmalı; paid_amount amount'tan küçük olamaz.", "An amount must be above zero with at most two decimal places; paid_amount cannot be below amount."),
    "payment.invalid_ip": ErrorSpec(422, "Alıcının IP adresi geçerli bir IPv4 ya da IPv6 adresi değil.", "The buyer's IP is not a valid IPv4 or IPv6 address."),
    "payment.callback_forbidden": ErrorSpec(403, "Ödeme dönüş adresi geçersiz.", "Invalid payment callback address."),
    "payment.notification_forbidden": ErrorSpec(403, "iyzico bildirimi doğrulanamadı (adres ya da X-IYZ-SIGNATURE-V3 imzası geçersiz).", "The iyzico notification could not be verified (invalid address or X-IYZ-SIGNATURE-V3 signature)."),
    "payment.notification_replayed": ErrorSpec(409, "Bu iyzico bildirimi daha önce alındı; yeniden işlenmedi.", "This iyzico notification was received before; it was not processed again."),
    "payment.not_refundable": ErrorSpec(409, "Yalnızca başarılı (ya da kısmen iade edilmiş) bir ödeme iade edilebilir.", "Only a successful (or partly refunded) payment can be refunded."),
    "payment.refund_exceeds": ErrorSpec(422, "İade tutarı, ödenen ve henüz iade edilmemiş tutarı aşıyor.", "The refund is more than what was paid and not yet refunded."),
    "payment.not_cancellable": ErrorSpec(409, "Yalnızca başarılı ve hiç iade edilmemiş bir ödeme iptal edilebilir.", "Only a successful payment with no refund can be cancelled."),
    "payment.expired": ErrorSpec(410, "Ödeme formunun süresi doldu; ödeme yapılmadı.", "The payment form expired; nothing was paid."),
    "payment.declined": ErrorSpec(422, "Ödeme iyzico tarafından reddedildi.", "The payment was declined by iyzico."),
    "payment.mismatch": ErrorSpec(409, "iyzico'nun bildirdiği ödeme istenenle (tutar, para birimi ya da sipariş) uyuşmuyor; operatör incelemeli.", "The payment iyzico reports does not match what was asked (amount, currency or order); an operator must look."),
    "payment.card_invalid": ErrorSpec(422, "Kart numarası geçerli değil.", "The card number is not valid."),
    "payment.threeds_failed": ErrorSpec(422, "3-D Secure doğrulaması başarısız oldu (banka kart sahibini doğrulamadı); ödeme alınmadı.", "3-D Secure failed (the bank did not authenticate the cardholder); nothing was charged."),
    "payment.threeds_lost": ErrorSpec(503, "3-D Secure başlatıldı ama bankanın sayfası bize ulaşmadı; ödeme alınmadı, yeniden deneyin.", "3-D Secure was started but the bank's page never reached us; nothing was charged, try again."),
    "payment.card_gone": ErrorSpec(409, "Kart bilgisi saklanmadığı için 3-D Secure yeniden başlatılamaz; ödemeyi yeniden başlatın.", "3-D Secure cannot be started again because the card is never kept; start the payment again."),
    "payment.failed": ErrorSpec(422, "Ödeme başarısız oldu.", "The payment failed."),
    "chain.einvoice_not_configured": ErrorSpec(409, "Ödeme için fatura kesilmedi: Nilvera (e-Fatura / e-Arşiv) ayarları yapılmamış.", "No invoice was issued for the payment: Nilvera (e-Fatura / e-Arşiv) is not configured."),
    "chain.no_phone": ErrorSpec(422, "Fatura bağlantısı SMS ile gönderilmedi: alıcının telefon numarası yok.", "The invoice link was not texted: the buyer gave no phone number."),
    "chain.payment_not_paid": ErrorSpec(409, "Fatura kesilmedi: ödeme başarılı değil.", "No invoice was issued: the payment did not succeed."),
    "chain.invoice_refused": ErrorSpec(422, "Ödemenin bilgileriyle geçerli bir fatura oluşturulamadı; faturayı elle düzenleyin.", "A valid invoice could not be made from the payment's data; issue it by hand."),
    "invoice.return_manual": ErrorSpec(409, "İade faturaya Köprü tarafından yansıtılmadı: nihai tüketiciye kesilen e-Arşiv faturada tam iade faturanın entegratörde iptaliyle, kısmi iade satıcının düzenleyeceği gider pusulasıyla belgelenir; e-Fatura alıcısı ise iade faturasını kendisi düzenler. Bu adımı siz yapmalısınız.", "Köprü did not reflect the refund on the invoice: for an e-Arşiv invoice to a final consumer a full return is documented by cancelling the invoice at the integrator and a partial one by the seller's expense slip (gider pusulası); an e-Fatura buyer issues the return invoice itself. This step is yours."),
    "iyzico.unavailable": ErrorSpec(503, "iyzico'ya şu anda ulaşılamıyor; daha sonra yeniden denenecek.", "iyzico cannot be reached right now; it will be retried."),
    "iyzico.credentials_invalid": ErrorSpec(422, "iyzico API anahtarı ya da gizli anahtarı kabul edilmedi.", "The iyzico API key or secret key was refused."),
    # vehicles (kopru.vehicles, Arvento)
    "arvento.auth_failed": ErrorSpec(422, "Arvento kullanıcı adı ya da şifresi kabul edilmedi.", "Arvento refused the user name or password."),
    "arvento.rate_limited": ErrorSpec(429, "Arvento hesabı için istek sınırı (yaklaşık 30 saniyede bir istek) dolu; biraz sonra yeniden deneyin.", "The Arvento account's request limit (about one request per 30 seconds) is in use; try again shortly."),
    "arvento.unavailable": ErrorSpec(503, "Arvento'ya şu anda ulaşılamıyor; daha sonra yeniden denenecek.", "Arvento cannot be reached right now; it will be retried."),
    "arvento.session_invalid": ErrorSpec(503, "Arvento oturumu geçersiz (süresi doldu ya da başka bir giriş onu kapattı); yeniden giriş yapılacak.", "The Arvento session is no longer valid (it expired or another login ended it); a new login will be made."),
    "arvento.refused": ErrorSpec(422, "Arvento isteği reddetti (sözleşmenizde bu servis olmayabilir).", "Arvento refused the request (your contract may not include this service)."),
    "vehicle.not_found": ErrorSpec(404, "Araç bulunamadı.", "Vehicle not found."),
    "vehicle.locate_target_invalid": ErrorSpec(422, "Araç tam olarak bir yolla belirtilmeli: vehicle_id ya da plate.", "Name the vehicle exactly one way: vehicle_id or plate."),
    "geofence.not_found": ErrorSpec(404, "Bölge (geofence) bulunamadı.", "Geofence not found."),
    "geofence.shape_invalid": ErrorSpec(422, "Bölge tam olarak bir şekille verilmeli: circle (merkez ve yarıçap) ya da polygon (köşeler).", "A geofence has exactly one shape: circle (centre and radius) or polygon (corners)."),
    "geofence.polygon_invalid": ErrorSpec(422, "Çokgen geçersiz: en az 3 farklı köşe, sıfırdan büyük alan, kesişmeyen kenarlar ve 180. meridyeni aşmayan bir bölge olmalı.", "Invalid polygon: it needs at least 3 distinct corners, a non-zero area, no crossing edges, and must not span the antimeridian."),
    "integration.unknown_provider": ErrorSpec(404, "Böyle bir entegrasyon sağlayıcısı yok.", "There is no such integration provider."),
    "integration.not_configured": ErrorSpec(404, "Bu sağlayıcı için ayar yapılmamış.", "This provider is not configured for the tenant."),
    "integration.no_dev_endpoint": ErrorSpec(503, "Yerel geliştirme verisi kullanılıyor ve sağlayıcının simülatör adresi yok: gerçek sağlayıcıya gidilmez. kopru dev'i başlatın ya da adresi verin.", "Local development data is in use and the provider has no simulator URL: the real provider is never called. Start kopru dev or set its URL."),
    "work.outcome_unknown": ErrorSpec(409, "Sağlayıcının yanıtı kayboldu ve sağlayıcıda iz bulunamadı; iki kez göndermemek için işlem operatör kararına bırakıldı.", "The provider's answer was lost and the provider shows no trace of it; parked for an operator rather than risk sending twice."),
    "work.not_found": ErrorSpec(404, "Böyle bir dış çağrı kaydı yok.", "There is no such outward call."),
    # outbound webhooks (kopru.webhooks)
    "webhook.endpoint_not_found": ErrorSpec(404, "Webhook uç noktası bulunamadı.", "Webhook endpoint not found."),
    "webhook.delivery_not_found": ErrorSpec(404, "Webhook teslimatı bulunamadı.", "Webhook delivery not found."),
    "webhook.url_invalid": ErrorSpec(422, "Webhook adresi geçersiz: kullanıcı adı/parola ve parça (#) içermeyen, en çok 2048 karakterlik mutlak bir http(s) adresi olmalı.", "Invalid webhook URL: it must be an absolute http(s) URL of at most 2048 characters with no user name, password or fragment (#)."),
    "webhook.url_https_required": ErrorSpec(422, "Webhook adresi https olmalı.", "A webhook URL must use https."),
    "webhook.url_forbidden": ErrorSpec(422, "Webhook adresi yerel, özel, bağlantı-yerel ya da bulut üst veri (metadata) ağına çıkıyor; bu adreslere gönderim yapılmaz.", "The webhook URL leads to a loopback, private, link-local or cloud metadata address; nothing is sent there."),
    "webhook.event_type_unknown": ErrorSpec(422, "Olay türü webhook ile gönderilebilen türlerden biri değil (events/catalog.json); '*' kabul edilmez, türleri tek tek yazın.", "The event type is not one that webhooks deliver (events/catalog.json); '*' is not accepted, list the types one by one."),
    "webhook.personal_data_undeclared": ErrorSpec(422, "Bu olay türü bir ilgili kişinin kimliğini taşıyor: uç nokta personal_data: true ve bir amaçla (purpose) kaydedilmeli (KVKK md. 8, üçüncü kişiye aktarım).", "This event type carries a data subject's id: register the endpoint with personal_data: true and a purpose (KVKK art. 8, disclosure to a third party)."),
    "webhook.purpose_required": ErrorSpec(422, "Kişisel veri alan bir uç noktanın amacı (purpose) yazılmalı.", "An endpoint that receives personal data needs a purpose."),
    "webhook.filter_invalid": ErrorSpec(422, "Filtre geçersiz: CloudEvents Subscriptions API lehçeleri (exact, prefix, suffix, all, any, not) ve type, source, subject ya da data.<alan> öznitelikleri kullanılabilir.", "Invalid filter: use the CloudEvents Subscriptions API dialects (exact, prefix, suffix, all, any, not) over type, source, subject or data.<field>."),
    "webhook.endpoint_disabled": ErrorSpec(409, "Webhook uç noktası devre dışı; önce etkinleştirin.", "The webhook endpoint is disabled; enable it first."),
    "webhook.since_invalid": ErrorSpec(422, "since, saat dilimi içeren bir ISO 8601 zamanı olmalı ve en çok 30 gün önceye gidebilir.", "since must be an ISO 8601 time with a zone, at most 30 days back."),
    "webhook.unavailable": ErrorSpec(503, "Webhook alıcısına şu anda ulaşılamadı; takvime göre yeniden denenecek.", "The webhook receiver could not be reached right now; it will be retried on schedule."),
    "webhook.address_forbidden": ErrorSpec(422, "Alıcının adı yerel, özel, bağlantı-yerel ya da üst veri adresine çözüldü; istek gönderilmedi.", "The receiver's name resolved to a loopback, private, link-local or metadata address; nothing was sent."),
    "webhook.dns_failed": ErrorSpec(503, "Alıcının alan adı çözülemedi.", "The receiver's host name could not be resolved."),
    "webhook.timeout": ErrorSpec(504, "Alıcı 15 saniye içinde yanıt vermedi.", "The receiver did not answer within 15 seconds."),
    "webhook.connection_failed": ErrorSpec(503, "Alıcıya bağlanılamadı (bağlantı ya da TLS hatası).", "Could not connect to the receiver (connection or TLS error)."),
    "webhook.http_error": ErrorSpec(502, "Alıcı 2xx dışında bir durum koduyla yanıt verdi.", "The receiver answered with a status other than 2xx."),
    "webhook.endpoint_gone": ErrorSpec(410, "Alıcı 410 Gone yanıtı verdi; uç nokta devre dışı bırakıldı.", "The receiver answered 410 Gone; the endpoint was disabled."),
    "webhook.endpoint_failing": ErrorSpec(409, "Uç nokta 5 gündür hiçbir teslimatı kabul etmedi; devre dışı bırakıldı.", "The endpoint accepted no delivery for 5 days; it was disabled."),
    "webhook.endpoint_deleted": ErrorSpec(404, "Teslimatın uç noktası silindi.", "The delivery's endpoint was deleted."),
    # workflows
    "workflow.not_found": ErrorSpec(404, "İş akışı bulunamadı.", "Workflow not found."),
    "workflow.trigger_unknown": ErrorSpec(422, "Tetikleyici, iş akışlarının dinlediği olay türlerinden biri değil (GET /workflows/actions).", "The trigger is not one of the event types workflows listen to (GET /workflows/actions)."),
    "workflow.filter_invalid": ErrorSpec(422, "Tetikleyici filtresi geçersiz: CloudEvents Subscriptions API lehçeleri (exact, prefix, suffix, all, any, not) ve type, source, subject, id ya da data.<alan> öznitelikleri kullanılabilir.", "Invalid trigger filter: use the CloudEvents Subscriptions API dialects (exact, prefix, suffix, all, any, not) over type, source, subject, id or data.<field>."),
    "workflow.condition_invalid": ErrorSpec(422, "Tetikleyici koşulu geçerli bir JMESPath ifadesi değil (en çok 500 karakter).", "The trigger condition is not a valid JMESPath expression (at most 500 characters)."),
    "workflow.action_unknown": ErrorSpec(422, "Adımın eylemi eylem kaydında yok (GET /workflows/actions).", "The step's action is not in the actions registry (GET /workflows/actions)."),
    "workflow.scope_missing": ErrorSpec(403, "Bu iş akışını kaydeden istemcinin, adımlardan birinin gerektirdiği kapsamı yok.", "The client saving this workflow lacks the scope one of its steps needs."),
    "workflow.mapping_invalid": ErrorSpec(422, "Adımın girdi eşlemesi geçersiz: bilinmeyen alan, derlenmeyen JMESPath ifadesi ya da tetikleyici olayın örneğinden eylemin zorunlu alanlarını vermeyen bir eşleme.", "The step's input mapping is invalid: an unknown field, a JMESPath expression that does not compile, or a mapping that does not give the action's required fields from a sample of the trigger's event."),
    "workflow.mapping_failed": ErrorSpec(422, "Adımın girdisi bu olaydan çıkarılamadı ya da eylem onu kabul etmedi.", "The step's input could not be made from this event, or the action refused it."),
    "workflow.recipient_invalid": ErrorSpec(422, "SMS adımı alıcıyı tam olarak bir yolla belirtmeli: to_subject, to_payment_buyer ya da to_call_caller (iş akışına telefon numarası yazılmaz).", "An SMS step names its recipient exactly one way: to_subject, to_payment_buyer or to_call_caller (no phone number is typed into a workflow)."),
    "workflow.resume_expired": ErrorSpec(409, "Adım, tekrar anahtarının saklandığı 24 saat içinde sürdürülemedi; daha önce yapılıp yapılmadığı bilinmiyor. Sağlayıcıda kontrol edip çalışmayı yeniden deneyin.", "The step could not be resumed within the 24 hours its Idempotency-Key is kept; whether it already happened is unknown. Check at the provider, then retry the run."),
    "workflow.run_not_found": ErrorSpec(404, "Bu iş akışında böyle bir çalışma yok.", "This workflow has no such run."),
    "workflow.run_not_failed": ErrorSpec(409, "Yalnız başarısız olmuş bir çalışma yeniden denenebilir.", "Only a failed run can be retried."),
    "workflow.recipient_missing": ErrorSpec(422, "Alıcının (ödemenin alıcısı ya da ilgili kişi) telefon numarası yok; SMS gönderilemedi.", "The recipient (the payment's buyer or the data subject) has no phone number; no SMS was sent."),
    "workflow.endpoint_invalid": ErrorSpec(422, "webhook.call adımı kiracının etkin bir webhook uç noktasını (sabit bir kimlikle) göstermeli.", "A webhook.call step must name one of the tenant's enabled webhook endpoints (by a constant id)."),
    "workflow.sample_invalid": ErrorSpec(422, "Örnek olay verisi, tetikleyici olay türünün şemasına uymuyor.", "The sample event data does not match the trigger event type's schema."),
    # credit reports (kopru.credit)
    "credit.not_found": ErrorSpec(404, "Kredi raporu bulunamadı.", "Credit report not found."),
    "credit.not_configured": ErrorSpec(409, "Kredi raporu sağlayıcısı (KKB üyesi iş ortağı) ayarları yapılmamış.", "The credit report provider (a KKB-member partner) is not configured for this tenant."),
    "credit.no_consent": ErrorSpec(422, "Bu kişinin kredi raporu amacı (credit_report) için geçerli bir açık rızası yok (hiç alınmamış, geri alınmış ya da süresi dolmuş); rapor istenmedi.", "This person has no active explicit consent for the credit_report purpose (never given, withdrawn or expired); no report was requested."),
    "credit.consent_mismatch": ErrorSpec(422, "Verilen rıza bu kişinin kredi raporu amacı için geçerli bir açık rızası değil.", "The consent given is not an active explicit consent of this person for the credit_report purpose."),
    "credit.identity_invalid": ErrorSpec(422, "Kimlik numarası geçersiz: VKN 10, TCKN 11 haneli olmalı ve kontrol haneleri tutmalı.", "Invalid identity number: a VKN has 10 digits, a TCKN 11, and the check digits must match."),
    "credit.subject_required": ErrorSpec(422, "VKN için rızayı veren kişi (subject) belirtilmeli: raporu istenen işletmenin sahibi ya da yetkilisi.", "A VKN needs the person who gave the consent (subject): the owner or authorised person of the business asked about."),
    "credit.subject_mismatch": ErrorSpec(409, "Belirtilen kişi ile raporu istenen TCKN farklı kişilere ait.", "The subject given and the TCKN asked about belong to different people."),
    "credit.subject_tckn_missing": ErrorSpec(422, "İlgili kişinin kayıtlı bir TCKN'si yok; kredi raporu istenemedi (rızayı TCKN ile kaydedin).", "The data subject has no TCKN on record; no credit report was asked for (record the consent with the TCKN)."),
    "credit.identity_unknown": ErrorSpec(422, "Kredi bürosu bu kimlik numarasıyla kayıtlı bir kişi ya da işletme bulamadı.", "The credit bureau knows no person or business with this identity number."),
    "credit.partner_no_consent": ErrorSpec(422, "İş ortağı, kişinin raporun paylaşılmasına kendi kanalında onay vermediğini bildirdi; rapor alınmadı.", "The partner says the person has not approved sharing the report on its side; no report was obtained."),
    "credit.partner_refused": ErrorSpec(422, "İş ortağı isteği reddetti.", "The partner refused the request."),
    "credit.content_gone": ErrorSpec(410, "Raporun içeriği silindi (rıza geri alındı, kişi silindi ya da saklama süresi doldu); yalnız alındığı bilgisi kalır.", "The report's content is gone (consent withdrawn, subject erased or retention over); only the fact that it was obtained remains."),
    "credit.pdf_invalid": ErrorSpec(422, "Yüklenen dosya okunabilir bir PDF değil (%PDF- başlığı, çapraz başvuru tablosu ya da sayfalar okunamadı).", "The uploaded file is not a readable PDF (its %PDF- header, cross-reference table or pages could not be read)."),
    "credit.pdf_encrypted": ErrorSpec(422, "Parola korumalı (şifreli) PDF kabul edilmez; raporu korumasız yükleyin.", "A password-protected (encrypted) PDF is not accepted; upload the report unprotected."),
    "credit.pdf_too_large": ErrorSpec(413, "PDF dosyası izin verilen boyutu aşıyor (en çok 4 MiB).", "The PDF exceeds the allowed size (at most 4 MiB)."),
    "credit_partner.unavailable": ErrorSpec(503, "Kredi raporu iş ortağına şu an ulaşılamıyor (ya da istek sınırı aşıldı); yeniden denenecek.", "The credit report partner cannot be reached right now (or its rate limit was hit); it will be retried."),
    "credit_partner.credentials_invalid": ErrorSpec(422, "İş ortağı API anahtarını kabul etmedi.", "The partner refused the API key."),
    # calls (Bulutfon: kopru.calls, kopru.connectors.bulutfon)
    "calls.not_configured": ErrorSpec(409, "Bulutfon ayarları yapılmamış.", "Bulutfon is not configured for this tenant."),
    "calls.webhook_forbidden": ErrorSpec(403, "Web kancası adresi geçersiz: Bulutfon paneline Köprü'nün verdiği adresi girin.", "Invalid webhook address: enter the address Köprü gave in the Bulutfon panel."),
    "calls.webhook_unauthorized": ErrorSpec(401, "Web kancasının HTTP Basic kimlik bilgileri, Bulutfon ayarlarında verilenlerle uyuşmuyor.", "The webhook's HTTP Basic credentials do not match those given in the Bulutfon settings."),
    "calls.webhook_invalid": ErrorSpec(422, "Web kancası Bulutfon'un belgelediği biçimde değil (event_type, uuid, caller, callee, direction, timestamp).", "The webhook is not in the shape Bulutfon documents (event_type, uuid, caller, callee, direction, timestamp)."),
    "calls.invalid_number": ErrorSpec(422, "Aranacak numara geçerli bir telefon numarası değil.", "The number to call is not a valid phone number."),
    "calls.destination_invalid": ErrorSpec(422, "Hedef bir menü (2 hane), grup (3 hane) ya da dahili (4 hane) olmalı.", "The destination must be a menu (2 digits), a group (3) or an extension (4)."),
    "calls.line_invalid": ErrorSpec(422, "Santral numarası yalnız rakamlardan oluşmalı (ör. 908508850000).", "The PBX number must be digits only (e.g. 908508850000)."),
    "calls.not_found": ErrorSpec(404, "Arama kaydı bulunamadı.", "Call record not found."),
    "calls.bridge_not_found": ErrorSpec(404, "Arama isteği bulunamadı.", "Call request not found."),
    "calls.caller_unknown": ErrorSpec(422, "Aramanın karşı tarafının numarası bilinmiyor (gizli numara ya da dahili).", "The call's other party has no known number (withheld, or an extension)."),
    "calls.recipient_invalid": ErrorSpec(422, "to_subject ya da to_call_caller'dan tam olarak biri verilmeli (iş akışına telefon numarası yazılmaz).", "Give exactly one of to_subject or to_call_caller (no phone number is typed into a workflow)."),
    "bulutfon.credentials_invalid": ErrorSpec(422, "Bulutfon API anahtarı geçersiz.", "The Bulutfon API key is not valid."),
    "bulutfon.unavailable": ErrorSpec(503, "Bulutfon'a şu an ulaşılamıyor; daha sonra yeniden denenecek.", "Bulutfon cannot be reached now; it will be retried."),
    "bulutfon.rejected": ErrorSpec(422, "Bulutfon isteği reddetti (numara, hedef ya da santral numarası geçersiz).", "Bulutfon refused the request (the number, the destination or the PBX number is not valid)."),
    "bulutfon.bridge_refused": ErrorSpec(422, "Bulutfon aramayı başlatmadı.", "Bulutfon did not start the call."),
    "bulutfon.not_found": ErrorSpec(404, "Bulutfon'da böyle bir kayıt yok.", "Bulutfon has no such record."),
    "bulutfon.reconcile_pending": ErrorSpec(503, "Yanıtı kaybolan arama Bulutfon'un arama kayıtlarında aranıyor; daha sonra yeniden sorulacak.", "The call whose answer was lost is being looked for among Bulutfon's call records; asked again later."),
    # WhatsApp Business (Meta's WhatsApp Cloud API)
    "whatsapp.not_configured": ErrorSpec(409, "WhatsApp Business ayarları yapılmamış.", "WhatsApp Business is not configured for this tenant."),
    "whatsapp.not_found": ErrorSpec(404, "WhatsApp mesajı bulunamadı.", "WhatsApp message not found."),
    "whatsapp.invalid_number": ErrorSpec(422, "Alıcı numarası geçerli bir telefon numarası değil.", "The recipient is not a valid phone number."),
    "whatsapp.content_invalid": ErrorSpec(422, "Mesaj tam olarak bir içerik taşımalı: text (boş olmayan metin) ya da template (onaylı şablon ve parametreleri).", "A message carries exactly one content: text (a non-blank text) or template (an approved template and its parameters)."),
    "whatsapp.window_closed": ErrorSpec(422, "Müşterinin son mesajının üzerinden 24 saatten fazla geçti (ya da hiç yazmadı): serbest metin gönderilmez; onaylı bir şablon gönderin. Hiçbir şey gönderilmedi.", "More than 24 hours have passed since the customer last wrote (or they never did): free-form text is not sent; send an approved template. Nothing was sent."),
    "whatsapp.consent_missing": ErrorSpec(422, "Ticari ileti için bu numaraya ait geçerli bir İYS (MESAJ) onayı yok; gönderilmedi.", "No active İYS (MESAJ) consent for this number: the commercial message was not sent."),
    "whatsapp.credentials_invalid": ErrorSpec(422, "WhatsApp erişim belirteci geçersiz ya da bu telefon numarası kimliğini göremiyor.", "The WhatsApp access token is invalid or cannot see this phone number id."),
    "whatsapp.unavailable": ErrorSpec(503, "WhatsApp Cloud API'ye şu an ulaşılamıyor ya da gönderim hızı sınırlandı; daha sonra yeniden denenecek.", "The WhatsApp Cloud API cannot be reached now or is throttling sends; it will be retried later."),
    "whatsapp.webhook_forbidden": ErrorSpec(403, "WhatsApp webhook adresi geçersiz: Meta uygulamasına Köprü'nün verdiği adresi girin.", "Invalid WhatsApp webhook address: enter the address Köprü gave in the Meta app."),
    "whatsapp.signature_missing": ErrorSpec(401, "WhatsApp bildiriminde X-Hub-Signature-256 imzası yok; işlenmedi.", "The WhatsApp notification has no X-Hub-Signature-256 signature; nothing was applied."),
    "whatsapp.signature_invalid": ErrorSpec(403, "WhatsApp bildiriminin X-Hub-Signature-256 imzası uygulama gizli anahtarıyla tutmuyor; işlenmedi.", "The WhatsApp notification's X-Hub-Signature-256 does not match the app secret; nothing was applied."),
    "whatsapp.verify_token_invalid": ErrorSpec(403, "Webhook doğrulama isteğinin hub.mode ya da hub.verify_token değeri tutmuyor.", "The webhook verification request's hub.mode or hub.verify_token does not match."),
    "whatsapp.send_unproven": ErrorSpec(409, "WhatsApp gönderiminin yanıtı Meta'nın mesajı alıp almadığını göstermedi (yanıt kayboldu ya da bir sunucu hatasıydı) ve Meta'dan bu mesajı anan bir durum bildirimi gelmedi; iki kez göndermemek için operatör kararına bırakıldı.", "The WhatsApp send's answer did not show whether Meta took the message (it was lost, or a server error) and no status webhook from Meta named it; parked for an operator rather than risk sending twice."),
    # platform
    "internal": ErrorSpec(500, "Beklenmeyen bir hata oluştu; kayıt altına alındı.", "An unexpected error occurred; it has been logged."),
    "unavailable": ErrorSpec(503, "Hizmet geçici olarak kullanılamıyor.", "The service is temporarily unavailable."),
}


@dataclass
class KopruError(Exception):
    """An expected failure with a stable code; rendered as problem+json."""

    code: str
    detail: str | None = None  # extra, language-neutral detail (never personal data)
    errors: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # overrides the catalog's status when set

    def __post_init__(self) -> None:
        if self.code not in CATALOG:
            raise ValueError(f"unknown error code {self.code!r}: add it to kopru.errors.CATALOG")
        super().__init__(self.code)

    @property
    def http_status(self) -> int:
        return self.status or CATALOG[self.code].status

    def problem(self, lang: str) -> dict[str, Any]:
        spec = CATALOG[self.code]
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": spec.en if lang == "en" else spec.tr,
            "status": self.http_status,
            "code": self.code,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        return body


def negotiate_language(accept_language: str | None) -> str:
    """'tr' unless Accept-Language ranks an English tag above every Turkish one."""
    if not accept_language:
        return "tr"
    best: dict[str, float] = {}
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        primary = tag.split("-")[0]
        if primary in ("tr", "en"):
            best[primary] = max(best.get(primary, 0.0), q)
    if best.get("en", 0.0) > best.get("tr", 0.0):
        return "en"
    return "tr"


# Field-level messages for the pydantic error types callers meet most often.
FIELD_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("Bu alan zorunlu.", "This field is required."),
    "extra_forbidden": ("Bilinmeyen alan; kaldırın.", "Unknown field; remove it."),
    "string_type": ("Metin olmalı.", "Must be a string."),
    "int_type": ("Tam sayı olmalı.", "Must be an integer."),
    "int_parsing": ("Tam sayı olmalı.", "Must be an integer."),
    "bool_type": ("true ya da false olmalı.", "Must be true or false."),
    "dict_type": ("Nesne olmalı.", "Must be an object."),
    "model_type": ("Nesne olmalı.", "Must be an object."),
    "list_type": ("Liste olmalı.", "Must be a list."),
    "string_too_short": ("Çok kısa.", "Too short."),
    "string_too_long": ("Çok uzun.", "Too long."),
    "string_pattern_mismatch": ("Biçimi geçersiz.", "Invalid format."),
    "literal_error": ("İzin verilen değerlerden biri olmalı.", "Must be one of the allowed values."),
    "enum": ("İzin verilen değerlerden biri olmalı.", "Must be one of the allowed values."),
    "uuid_parsing": ("Geçerli bir UUID olmalı.", "Must be a valid UUID."),
    "uuid_type": ("Geçerli bir UUID olmalı.", "Must be a valid UUID."),
    "value_error": ("Değer geçersiz.", "Invalid value."),
}


def validation_error(exc: Any, lang: str) -> KopruError:
    """Turn a pydantic ValidationError into request.validation_failed with per-field errors.

    The rejected input is never echoed back (it may be personal data)."""
    errors = []
    domain_codes: list[str] = []
    for e in exc.errors(include_input=False, include_url=False, include_context=False):
        tr, en = FIELD_MESSAGES.get(e["type"], ("Değer geçersiz.", "Invalid value."))
        item: dict[str, Any] = {"field": ".".join(str(p) for p in e["loc"]), "type": e["type"]}
        if e["type"] == "value_error":
            # our own validators raise ValueError("<catalog code>"): surface that code
            code = str(e.get("msg", "")).removeprefix("Value error, ")
            if code in CATALOG:
                domain_codes.append(code)
                item["code"] = code
                tr, en = CATALOG[code].tr, CATALOG[code].en
        item["message"] = en if lang == "en" else tr
        errors.append(item)
    if len(errors) == 1 and domain_codes:
        # a single domain rule broken: answer with that rule's own code and status
        return KopruError(domain_codes[0], errors=errors)
    return KopruError("request.validation_failed", errors=errors)
