"""XAdES-BES enveloped signatures for UBL-TR documents, with signxml.

The signature goes where GİB expects it: `ext:UBLExtensions/ext:UBLExtension/
ext:ExtensionContent/ds:Signature` (replacing the placeholder `render` writes),
RSA-SHA256 over the whole document (one Reference URI="" with the single
enveloped-signature transform GİB's schematron allows), the KeyInfo and the XAdES
SignedProperties (SigningTime, SigningCertificate) each referenced and signed.

signxml 5 writes XAdES 1.4.1's SigningCertificateV2; GİB's schematron requires
xades:SigningCertificate and validates the XAdES 1.3.2 schema, so `_UblXAdESSigner`
writes the 1.3.2 SigningCertificate (SHA-256 CertDigest + IssuerSerial) instead.

Keys come from a PKCS#12 (a tenant's upload, decrypted by the caller). A real mali
mühür lives on a smart card or HSM and never leaves it; see docs/architecture.md.
"""

from __future__ import annotations

import datetime as _dt
from base64 import b64encode
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from kopru.errors import KopruError

NS_EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NS_INV = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XADES = "http://uri.etsi.org/01903/v1.3.2#"
C14N_1_0 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"  # inclusive C14N, as GİB's samples

Password = Union[bytes, str, None]


@dataclass(frozen=True)
class SigningKey:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()


def _pw(password: Password) -> Optional[bytes]:
    return password.encode() if isinstance(password, str) else password


@lru_cache(maxsize=32)
def _load(p12: bytes, password: Optional[bytes]) -> SigningKey:
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        key, cert, extra = pkcs12.load_key_and_certificates(p12, password)
    except (ValueError, TypeError):
        raise KopruError("einvoice.certificate_invalid") from None
    if not isinstance(key, rsa.RSAPrivateKey) or cert is None:
        raise KopruError("einvoice.certificate_invalid")
    return SigningKey(key, cert, tuple(extra or ()))


def load_signing_key(p12: bytes, password: Password) -> SigningKey:
    """The RSA key and certificate of a PKCS#12 (cached per process: unwrapping a
    PKCS#12 costs its KDF iterations every time). KopruError einvoice.certificate_invalid
    for a wrong password, a broken file or a non-RSA key."""
    return _load(bytes(p12), _pw(password))


def _signer_class():
    from signxml import SignatureMethod
    from signxml.algorithms import DigestAlgorithm
    from signxml.util import ds_tag, xades_tag
    from signxml.xades import XAdESDataObjectFormat, XAdESSigner

    class _UblXAdESSigner(XAdESSigner):
        # signxml copies the document twice per signature (serialise + re-parse) and digests
        # the copy without the placeholder. We own the tree (render built it, or we parsed
        # it), so it is signed in place, and the document digest is taken with the
        # ds:Signature detached: exactly what the enveloped-signature transform removes.

        def get_root(self, data):
            if isinstance(data, etree._Element) and data.getparent() is None:
                return data
            return super().get_root(data)

        def _build_sig(self, sig_root, references, c14n_inputs, inclusive_ns_prefixes,
                       exclude_c14n_transform_element=False):
            parent = sig_root.getparent()
            if parent is None:
                return super()._build_sig(sig_root, references, c14n_inputs, inclusive_ns_prefixes,
                                          exclude_c14n_transform_element)
            index = parent.index(sig_root)
            parent.remove(sig_root)
            try:
                return super()._build_sig(sig_root, references, c14n_inputs, inclusive_ns_prefixes,
                                          exclude_c14n_transform_element)
            finally:
                parent.insert(index, sig_root)

        def __init__(self, signature_id: str, signing_time: _dt.datetime):
            super().__init__(
                signature_algorithm=SignatureMethod.RSA_SHA256,
                digest_algorithm=DigestAlgorithm.SHA256,
                c14n_algorithm=C14N_1_0,
                data_object_format=XAdESDataObjectFormat(Description="UBL-TR e-Fatura", MimeType="text/xml"),
            )
            self._signature_id = signature_id
            self._signing_time = signing_time
            # after KeyInfo exists, before the XAdES object references it: stable Ids
            self.signature_annotators.insert(1, self._set_ids)

        def _set_ids(self, sig_root, signing_settings):
            sig_root.set("Id", self._signature_id)
            self._find(sig_root, "KeyInfo").set("Id", f"KeyInfo_{self._signature_id}")

        def add_signing_time(self, signed_signature_properties, sig_root, signing_settings):
            el = etree.SubElement(signed_signature_properties, xades_tag("SigningTime"), nsmap=self.namespaces)
            el.text = self._signing_time.isoformat(timespec="seconds")

        def add_signing_certificate(self, signed_signature_properties, sig_root, signing_settings):
            # XAdES 1.3.2 SigningCertificate (GİB), SHA-256 digests, for each certificate sent
            sc = etree.SubElement(signed_signature_properties, xades_tag("SigningCertificate"), nsmap=self.namespaces)
            for cert in signing_settings.cert_chain:
                node = etree.SubElement(sc, xades_tag("Cert"), nsmap=self.namespaces)
                digest = etree.SubElement(node, xades_tag("CertDigest"), nsmap=self.namespaces)
                etree.SubElement(digest, ds_tag("DigestMethod"), nsmap=self.namespaces,
                                 Algorithm=self.digest_alg.value)
                value = etree.SubElement(digest, ds_tag("DigestValue"), nsmap=self.namespaces)
                value.text = b64encode(cert.fingerprint(hashes.SHA256())).decode()
                serial = etree.SubElement(node, xades_tag("IssuerSerial"), nsmap=self.namespaces)
                etree.SubElement(serial, ds_tag("X509IssuerName"), nsmap=self.namespaces).text = \
                    cert.issuer.rfc4514_string()
                etree.SubElement(serial, ds_tag("X509SerialNumber"), nsmap=self.namespaces).text = \
                    str(cert.serial_number)

    return _UblXAdESSigner


@lru_cache(maxsize=1)
def _signer_cls():
    return _signer_class()


def sign(xml: bytes, p12: bytes, password: Password, *, signing_time: Optional[_dt.datetime] = None) -> bytes:
    """`xml` (a UBL-TR Invoice, as `render` makes it) with a XAdES-BES enveloped
    signature by the PKCS#12's key, as UTF-8 bytes."""
    return sign_with_key(xml, load_signing_key(p12, password), signing_time=signing_time)


def sign_with_key(xml: bytes, key: SigningKey, *, signing_time: Optional[_dt.datetime] = None) -> bytes:
    """`sign` with a key already loaded (`load_signing_key`)."""
    from kopru.einvoice.xmlsafe import parse_safely

    now = _signing_time(key, signing_time)
    root = parse_safely(xml).getroot()
    if root.tag != "{" + NS_INV + "}Invoice":
        raise KopruError("einvoice.xml_not_ubl_tr")
    _place_signature(root)
    return etree.tostring(_sign_tree(root, key, now), xml_declaration=True, encoding="UTF-8")


def render_signed(invoice, key: SigningKey, supplier=None, *, ettn=None, number=None,
                  signing_time: Optional[_dt.datetime] = None):
    """Render and sign in one go, without serialising and re-parsing in between:
    `kopru.einvoice.render.Rendered` whose `xml` is the signed document."""
    from kopru.einvoice.render import Rendered, build

    now = _signing_time(key, signing_time)
    root, ettn_s, number_s, totals = build(invoice, supplier, ettn=ettn, number=number,
                                           placeholder=_placeholder())
    xml = etree.tostring(_sign_tree(root, key, now), xml_declaration=True, encoding="UTF-8")
    return Rendered(xml=xml, uuid=ettn_s, number=number_s, totals=totals)


def _signing_time(key: SigningKey, signing_time: Optional[_dt.datetime]) -> _dt.datetime:
    now = signing_time or _dt.datetime.now(_dt.timezone.utc)
    cert = key.certificate
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise KopruError("einvoice.certificate_expired")
    return now


def _placeholder() -> etree._Element:
    return etree.Element("{" + NS_DS + "}Signature", Id="placeholder", nsmap={"ds": NS_DS})


def _sign_tree(root: etree._Element, key: SigningKey, now: _dt.datetime) -> etree._Element:
    number = root.findtext("{" + NS_CBC + "}ID") or "1"
    signer = _signer_cls()(f"Signature_{number}", now)
    return signer.sign(root, key=key.key, cert=[key.certificate, *key.chain], exclude_c14n_transform_element=True,
                       always_add_key_value=True)


def _place_signature(root: etree._Element) -> None:
    """Put signxml's placeholder (`ds:Signature Id="placeholder"`) into the
    ExtensionContent: in place of render's placeholder, else into a new
    UBLExtension (creating UBLExtensions first when the document has none)."""
    ext = "{" + NS_EXT + "}"
    if root.find(f"{ext}UBLExtensions/{ext}UBLExtension/{ext}ExtensionContent/{{{NS_DS}}}Signature") is not None:
        raise KopruError("einvoice.already_signed")
    from kopru.einvoice.render import PLACEHOLDER_TAG

    sig = _placeholder()
    placeholder = root.find(f"{ext}UBLExtensions/{ext}UBLExtension/{ext}ExtensionContent/{PLACEHOLDER_TAG}")
    if placeholder is not None:
        placeholder.getparent().replace(placeholder, sig)
        return
    exts = root.find(f"{ext}UBLExtensions")
    if exts is None:
        exts = etree.Element(f"{ext}UBLExtensions")
        root.insert(0, exts)
    etree.SubElement(etree.SubElement(exts, f"{ext}UBLExtension"), f"{ext}ExtensionContent").append(sig)


# -- verification ------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    certificate: x509.Certificate
    signing_time: Optional[str]
    signed_xml: etree._Element  # the document as signed (what the signature covers)


def verify(xml: bytes, trusted: Union[x509.Certificate, bytes, str]) -> Verified:
    """Verify the XAdES signature of a UBL-TR document against one trusted
    certificate (the test certificate in dev and tests). KopruError
    einvoice.signature_invalid when the document changed after signing, the
    signature is not by that certificate, or the XAdES properties do not match."""
    from signxml.exceptions import SignXMLException
    from signxml.xades import XAdESVerifier

    from kopru.einvoice.xmlsafe import parse_safely

    if not isinstance(trusted, x509.Certificate):
        trusted = x509.load_pem_x509_certificate(trusted.encode() if isinstance(trusted, str) else trusted)
    root = parse_safely(xml).getroot()
    try:
        results = XAdESVerifier().verify(root, x509_cert=trusted)
    except SignXMLException:
        raise KopruError("einvoice.signature_invalid") from None
    whole = results[0]
    if whole.signed_xml is None or whole.signed_xml.tag != root.tag:
        # the URI="" reference must cover the whole document, not a wrapped part of it
        raise KopruError("einvoice.signature_invalid")
    props = next((r.signed_properties for r in results if hasattr(r, "signed_properties")), None)
    st = props.findtext(f"{{{NS_XADES}}}SigningTime") if props is not None else None
    return Verified(certificate=trusted, signing_time=st, signed_xml=whole.signed_xml)


# -- a test certificate ---------------------------------------------------------------


@dataclass(frozen=True)
class TestCertificate:
    p12: bytes
    password: bytes
    certificate: x509.Certificate
    certificate_pem: bytes

    __test__ = False  # not a pytest class


@lru_cache(maxsize=4)
def test_certificate(vkn: str = "1234567890", password: bytes = b"kopru-test") -> TestCertificate:
    """A self-signed RSA-2048 certificate shaped like a mali mühür (VKN in the
    subject's serialNumber), wrapped in a password-protected PKCS#12. For dev and
    tests only; made once per process and arguments."""
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "TR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Köprü Test"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, vkn),
        x509.NameAttribute(NameOID.COMMON_NAME, "Köprü Test Mali Mühür"),
    ])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    p12 = pkcs12.serialize_key_and_certificates(b"kopru-test", key, cert, None,
                                                serialization.BestAvailableEncryption(password))
    return TestCertificate(p12, password, cert, cert.public_bytes(serialization.Encoding.PEM))


test_certificate.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported into one
