from datetime import date, datetime, timezone
from decimal import Decimal

from kopru.text import format_amount, format_date, format_datetime, format_try, tr_casefold, tr_lower, tr_upper


def test_turkish_case_mapping_keeps_dotted_and_dotless_i_apart():
    assert tr_upper("istanbul ılgaz") == "İSTANBUL ILGAZ"
    assert tr_lower("İSTANBUL ILGAZ") == "istanbul ılgaz"
    # Python's own mapping gets both wrong: the reason this module exists
    assert "istanbul".upper() == "ISTANBUL" and tr_upper("istanbul") != "ISTANBUL"


def test_casefold_compares_turkish_names():
    assert tr_casefold("İSTANBUL") == tr_casefold("istanbul") == tr_casefold("İstanbul")
    assert tr_casefold("ISPARTA") != tr_casefold("isparta")  # I is ı in Turkish
    assert tr_casefold("Yönetici@Örnek.COM.TR") == "yönetici@örnek.com.tr"


def test_try_amounts_use_tr_grouping_and_half_up():
    assert format_try(Decimal("1234.5")) == "₺1.234,50"
    assert format_try(Decimal("1234567.005")) == "₺1.234.567,01"  # half up, not banker's
    assert format_try(Decimal("0.125")) == "₺0,13"
    assert format_try(Decimal("-42")) == "-₺42,00"
    assert format_amount(Decimal("999")) == "999,00"


def test_dates_in_business_time():
    assert format_date(date(2026, 1, 5)) == "05.01.2026"
    # 22:30 UTC on 31 Dec is already New Year in Istanbul (UTC+3)
    late = datetime(2026, 12, 31, 22, 30, tzinfo=timezone.utc)
    assert format_date(late) == "01.01.2027"
    assert format_datetime(late) == "01.01.2027 01:30"


def test_email_fold_is_not_turkish():
    from kopru.text import fold_email

    assert fold_email(" YONETICI@Firma.COM.TR ") == "yonetici@firma.com.tr"
    assert tr_casefold("YONETICI") == "yonetıcı"  # right for Turkish words, wrong for addresses
