import pytest

from kopru.tenancy.identifiers import subdomain_problem, tax_number_kind, tckn_valid, vkn_valid

# VKNs with valid check digits, from python-stdnum's and other published test vectors
VALID_VKN = ["4540536920", "9029589240", "3721052062", "7920586482", "1234567890", "9876543217"]


@pytest.mark.parametrize("vkn", VALID_VKN)
def test_valid_vkn(vkn):
    assert vkn_valid(vkn)
    assert tax_number_kind(vkn) == "VKN"


@pytest.mark.parametrize("vkn", VALID_VKN)
def test_every_wrong_check_digit_is_refused(vkn):
    for d in "0123456789":
        if d != vkn[-1]:
            assert not vkn_valid(vkn[:-1] + d)


@pytest.mark.parametrize("bad", ["", "123456789", "12345678901", "12345abc90", " 4540536920", "٤540536920"])
def test_malformed_vkn(bad):
    assert not vkn_valid(bad)


def test_tckn():
    assert tckn_valid("10000000146")
    assert tax_number_kind("10000000146") == "TCKN"
    assert not tckn_valid("10000000147")  # 11th digit
    assert not tckn_valid("10000000136")  # 10th digit
    assert not tckn_valid("00000000146")  # leading zero is never issued
    assert tax_number_kind("1000000014") is None


@pytest.mark.parametrize("label,code", [
    ("anadolu", None), ("a1-b2", None), ("abc", None),
    ("ab", "tenant.subdomain_invalid"), ("-abc", "tenant.subdomain_invalid"), ("abc-", "tenant.subdomain_invalid"),
    ("Anadolu", "tenant.subdomain_invalid"), ("ana_dolu", "tenant.subdomain_invalid"), ("a" * 64, "tenant.subdomain_invalid"),
    ("xn--mnchen-3ya", "tenant.subdomain_invalid"), ("kör", "tenant.subdomain_invalid"),
    ("www", "tenant.subdomain_reserved"), ("admin", "tenant.subdomain_reserved"), ("api", "tenant.subdomain_reserved"),
])
def test_subdomains(label, code):
    assert subdomain_problem(label) == code
