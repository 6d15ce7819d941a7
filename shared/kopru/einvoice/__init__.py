"""e-Fatura / e-Arşiv documents: UBL-TR 1.2.1 rendering, GİB validation, XAdES signing.

A pure library (no database, no network):

- `Invoice`, `Party`, `Line` (kopru.einvoice.models): the input, with GİB's rules and arithmetic;
- `kopru.einvoice.render.render(invoice, supplier) -> bytes`, `render_document(...) -> Rendered`;
- `kopru.einvoice.validate.validate(xml_bytes) -> Report`, `RULE_PACKAGE`: XSD + GİB schematron + arithmetic;
- `kopru.einvoice.sign.sign(xml_bytes, p12_bytes, password) -> bytes`, `render_signed(invoice, key, supplier)`,
  `load_signing_key`, `verify`, `test_certificate`;
- `parse_safely` (kopru.einvoice.xmlsafe): how inbound XML is read;
- `render_html(xml) -> str`, `view_link(tenant_id, einvoice_id)` (kopru.einvoice.view): the
  invoice as HTML by its own embedded XSLT, and the signed, expiring link to that page.

`render`, `validate` and `sign` are imported from their modules (`from kopru.einvoice.render
import render`): a package attribute of the same name as a submodule would turn into the
module once that submodule is imported. Everything else is also here, loaded on first
use, so importing this package is cheap (lxml, pydantic, signxml and SaxonC load only
when the code that needs them runs).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Invoice": "models", "Party": "models", "Line": "models", "Address": "models", "BillingReference": "models",
    "Totals": "models", "compute_totals": "models",
    "render_document": "render", "Rendered": "render", "amount_in_words": "render",
    "Report": "validate", "RULE_PACKAGE": "validate", "RULE_PACKAGE_VERSION": "validate",
    "warm_up": "validate", "raise_for_report": "validate",
    "sign_with_key": "sign", "render_signed": "sign", "load_signing_key": "sign",
    "SigningKey": "sign", "verify": "sign", "test_certificate": "sign", "TestCertificate": "sign",
    "parse_safely": "xmlsafe", "MAX_BYTES": "xmlsafe",
    "InternetSale": "models",
    "render_html": "view", "view_link": "view",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kopru.einvoice' has no attribute {name!r}")
    value = getattr(import_module(f"kopru.einvoice.{module}"), name)
    globals()[name] = value
    return value
