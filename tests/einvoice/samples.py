"""Invoices for the e-invoice tests: one builder, the cases issue 6 asks for."""

from __future__ import annotations

import copy
from typing import Any

SUPPLIER_VKN = "1234567018"
CUSTOMER_VKN = "1234567026"
BUYER_TCKN = "10000000146"

SUPPLIER: dict[str, Any] = {
    "vkn": SUPPLIER_VKN, "name": "Köprü Yazılım Ltd. Şti.", "tax_office": "Beşiktaş",
    "address": {"street": "Barbaros Bulvarı No: 1", "district": "Beşiktaş", "city": "İstanbul",
                "postal_code": "34353", "country": "Türkiye"},
    "email": "fatura@kopru.example", "phone": "+902120000000",
}
CUSTOMER: dict[str, Any] = {
    "vkn": CUSTOMER_VKN, "name": "Alıcı Ticaret A.Ş.", "tax_office": "Kadıköy",
    "address": {"street": "Moda Cad. 5", "district": "Kadıköy", "city": "İstanbul", "postal_code": "34710"},
}
PERSON: dict[str, Any] = {
    "tckn": BUYER_TCKN, "first_name": "Ayşe", "family_name": "Yılmaz",
    "address": {"district": "Çankaya", "city": "Ankara"},
}


def line(**kw: Any) -> dict[str, Any]:
    base = {"name": "Danışmanlık hizmeti", "quantity": "1", "unit_code": "C62", "unit_price": "100.00",
            "kdv_rate": "20"}
    base.update(kw)
    return base


def invoice(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "profile": "TEMELFATURA", "type": "SATIS", "number": "KPR2026000000001",
        "issue_date": "2026-11-20", "issue_time": "14:30:00",
        "customer": copy.deepcopy(CUSTOMER), "supplier": copy.deepcopy(SUPPLIER),
        "lines": [line()],
    }
    base.update(kw)
    return base


CASES: dict[str, dict[str, Any]] = {
    "temel_satis": invoice(lines=[line(quantity="2", unit_price="150.00")]),
    "ticari_satis": invoice(profile="TICARIFATURA", number="KPR2026000000002",
                            lines=[line(name="Yazılım lisansı", quantity="3", unit_price="1250.00")]),
    "satis_rates_discount": invoice(number="KPR2026000000003", lines=[
        line(name="Ekmek", quantity="10", unit_code="C62", unit_price="12.50", kdv_rate="1"),
        line(name="Kitap", quantity="2", unit_code="C62", unit_price="240.00", kdv_rate="10", discount_rate="15"),
        line(name="Dizüstü bilgisayar", quantity="1", unit_code="C62", unit_price="32000.00", kdv_rate="20",
             discount_amount="1500.00"),
        line(name="Kablo", quantity="12.5", unit_code="MTR", unit_price="18.40", kdv_rate="20"),
    ]),
    "tevkifat": invoice(type="TEVKIFAT", number="KPR2026000000004", lines=[
        line(name="Temizlik hizmeti", quantity="1", unit_code="MON", unit_price="10000.00", kdv_rate="20",
             withholding_code="606"),
        line(name="Yapım işi", quantity="1", unit_code="C62", unit_price="5000.00", kdv_rate="20",
             withholding_code="603", withholding_rate="70"),
    ]),
    "istisna": invoice(type="ISTISNA", number="KPR2026000000005", lines=[
        line(name="İhraç edilen mal", quantity="100", unit_code="KGM", unit_price="45.00", kdv_rate="0",
             exemption_code="301", exemption_reason="11/1-a Mal ihracatı"),
    ]),
    "iade": invoice(type="IADE", number="KPR2026000000006",
                    billing_reference={"number": "KPR2026000000001", "date": "2026-11-10"},
                    lines=[line(name="İade edilen ürün", quantity="1", unit_price="150.00")]),
    "usd": invoice(number="KPR2026000000007", currency="USD", exchange_rate="34.5678",
                   lines=[line(name="Consulting", quantity="8", unit_code="HUR", unit_price="125.00")]),
    "earsiv_tckn": invoice(profile="EARSIVFATURA", number="ARS2026000000001", customer=copy.deepcopy(PERSON),
                           lines=[line(name="Kulaklık", quantity="1", unit_price="899.90")]),
}


def ten_lines() -> dict[str, Any]:
    """The 10-line invoice of the benchmark."""
    rates = ["20", "20", "10", "20", "1", "20", "10", "20", "20", "20"]
    return invoice(number="KPR2026000000099", lines=[
        line(name=f"Kalem {i + 1}", quantity=str(i + 1), unit_price=f"{100 + 7 * i}.50", kdv_rate=rates[i],
             **({"discount_rate": "10"} if i % 3 == 0 else {}))
        for i in range(10)
    ])


# IHRACAT: the foreign buyer and each line's export data; the customs authority is filled in
EXPORT_BUYER: dict[str, Any] = {
    "name": "Müller Handels GmbH", "tax_id": "DE123456789",
    "address": {"street": "Lessingstraße 102", "city": "Berlin", "postal_code": "13158", "country_code": "DE",
                "country": "Almanya"},
}


def export_line(**kw: Any) -> dict[str, Any]:
    base = line(name="Pamuklu tişört", quantity="500", unit_code="C62", unit_price="4.25", kdv_rate="0",
                exemption_code="301", exemption_reason="11/1-a Mal ihracatı", delivery_terms="FOB",
                gtip="610910000011", package={"type_code": "CT", "quantity": 20, "id": "KPR-1"},
                transport_mode="3")
    base.update(kw)
    return base


def export_invoice(**kw: Any) -> dict[str, Any]:
    base = invoice(profile="IHRACAT", type="ISTISNA", number="KPR2026000000008", currency="EUR",
                   exchange_rate="37.1234", buyer=copy.deepcopy(EXPORT_BUYER),
                   lines=[export_line(), export_line(name="Örme kazak", quantity="120", unit_price="11.90",
                                                     gtip="611020100011", delivery_terms="FOB",
                                                     package={"type_code": "CT", "quantity": 6})])
    base.pop("customer")
    base.update(kw)
    return base


CASES["ihracat"] = export_invoice()
