"""The amount payable in Turkish words (num2words lang="tr", Turkish upper case)."""

from decimal import Decimal

import pytest

from kopru.einvoice.render import amount_in_words


@pytest.mark.parametrize("amount,words", [
    ("1234.56", "YALNIZ: BİNİKİYÜZOTUZDÖRT TÜRK LİRASI ELLİALTI KURUŞ"),
    ("100", "YALNIZ: YÜZ TÜRK LİRASI SIFIR KURUŞ"),
    ("0.50", "YALNIZ: SIFIR TÜRK LİRASI ELLİ KURUŞ"),
    ("1001.01", "YALNIZ: BİNBİR TÜRK LİRASI BİR KURUŞ"),
    ("2500000.99", "YALNIZ: İKİMİLYONBEŞYÜZBİN TÜRK LİRASI DOKSANDOKUZ KURUŞ"),
    ("61.96", "YALNIZ: ALTMIŞBİR TÜRK LİRASI DOKSANALTI KURUŞ"),  # ı stays I, i becomes İ
    ("10.005", "YALNIZ: ON TÜRK LİRASI BİR KURUŞ"),  # rounded half-up first
])
def test_try(amount, words):
    assert amount_in_words(Decimal(amount)) == words


def test_other_currencies():
    assert amount_in_words(Decimal("1200"), "USD") == "YALNIZ: BİNİKİYÜZ ABD DOLARI SIFIR SENT"
    assert amount_in_words(Decimal("15.25"), "EUR") == "YALNIZ: ONBEŞ AVRO YİRMİBEŞ SENT"
    assert amount_in_words(Decimal("3"), "JPY") == "YALNIZ: ÜÇ JPY SIFIR JPY/100"
