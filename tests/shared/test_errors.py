import pytest

from kopru.errors import CATALOG, KopruError, negotiate_language


@pytest.mark.parametrize("header,lang", [
    (None, "tr"), ("", "tr"), ("tr-TR", "tr"), ("en", "en"), ("en-US,en;q=0.9", "en"),
    ("tr;q=0.8, en;q=0.9", "en"), ("en;q=0.5, tr", "tr"), ("de-DE", "tr"), ("en;q=bogus", "tr"),
])
def test_language_negotiation(header, lang):
    assert negotiate_language(header) == lang


def test_every_code_has_both_languages_and_a_4xx_or_5xx():
    for code, spec in CATALOG.items():
        assert spec.tr and spec.en and spec.tr != spec.en, code
        assert 400 <= spec.status < 600, code


def test_problem_body_is_rfc9457():
    err = KopruError("tenant.subdomain_taken")
    tr, en = err.problem("tr"), err.problem("en")
    assert tr["status"] == en["status"] == 409
    assert tr["code"] == "tenant.subdomain_taken" and tr["type"].endswith("/tenant.subdomain_taken")
    assert tr["title"] != en["title"]


def test_unknown_codes_are_a_programming_error():
    with pytest.raises(ValueError):
        KopruError("no.such.code")
