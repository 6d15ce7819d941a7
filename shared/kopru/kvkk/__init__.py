"""KVKK (Law 6698): the personal-data register, data subjects with envelope
encryption and blind indexes, the consent ledger and the audit chain's verifier and anchors.

Other areas import from here only. Importing this package is cheap: the heavy
modules (SQLAlchemy, phonenumbers, cryptography) load when a call needs them.
"""

from kopru.kvkk.consents import active_consent, consent_history, record_consent, withdraw_consent
from kopru.kvkk.identifiers import InvalidIdentifier, detect, mask, normalise
from kopru.kvkk.register import NOT_PERSONAL, REGISTER, looks_personal
from kopru.kvkk.subjects import (
    decrypt_subject, destroy_subject_key, find_or_create_subject, find_subject, get_subject, subject_key,
)

__all__ = [
    "InvalidIdentifier",
    "NOT_PERSONAL",
    "REGISTER",
    "active_consent",
    "consent_history",
    "decrypt_subject",
    "destroy_subject_key",
    "detect",
    "find_or_create_subject",
    "find_subject",
    "get_subject",
    "looks_personal",
    "mask",
    "normalise",
    "record_consent",
    "subject_key",
    "withdraw_consent",
]
