"""Request bodies of the payment function and the iyzico integration settings.

Money is `Decimal` with at most two places (kuruş); iyzico takes `price` and `paidPrice`
as decimal strings and requires the basket items to sum to `price` exactly, so that is
checked here (422 `payment.basket_mismatch`) before anything is sent."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, WithJsonSchema, ConfigDict, Field, field_validator, model_validator

MAX_AMOUNT = Decimal("1000000000")
INSTALLMENTS = (1, 2, 3, 4, 6, 9, 12)


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _money(v: Decimal) -> Decimal:
    if not v.is_finite() or v <= 0 or v >= MAX_AMOUNT:
        raise ValueError("payment.invalid_amount")
    exp = v.as_tuple().exponent
    if isinstance(exp, int) and exp < -2:
        raise ValueError("payment.invalid_amount")
    return v


def _decimal_string(v):
    # money travels as a decimal string, as iyzico takes it: a JSON number may already be a
    # binary float's approximation
    if isinstance(v, Decimal):
        return v
    if not isinstance(v, str):
        raise ValueError("request.validation_failed")
    from decimal import InvalidOperation

    try:
        return Decimal(v)
    except InvalidOperation:
        raise ValueError("payment.invalid_amount") from None


Money = Annotated[Decimal, BeforeValidator(_decimal_string), AfterValidator(_money),
                  WithJsonSchema({"type": "string", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$", "examples": ["150.00"]})]
Text100 = Field(min_length=1, max_length=100)


class Item(_Base):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="the tenant's item id")
    name: str = Field(min_length=1, max_length=200, description="what is sold (not personal data)")
    category: str = Field(min_length=1, max_length=100)
    type: Literal["PHYSICAL", "VIRTUAL"] = "PHYSICAL"
    price: Money = Field(description="the line's price, at most two decimal places")


class Address(_Base):
    contact_name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=500)
    city: str = Text100
    country: str = Field("Turkey", min_length=1, max_length=100)
    zip_code: Optional[str] = Field(None, max_length=20)


class Buyer(_Base):
    name: str = Text100
    surname: str = Text100
    identity_number: str = Field(pattern=r"^[0-9]{11}$",
                                 description="TCKN (11 digits); iyzico requires it. Kept encrypted under the subject key")
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: Optional[str] = Field(None, max_length=20, pattern=r"^\+[1-9][0-9]{7,14}$",
                                 description="E.164, e.g. +905321234567 (for the invoice SMS)")
    address: str = Field(min_length=1, max_length=500)
    district: Optional[str] = Field(None, min_length=1, max_length=100, description="ilçe (for the invoice)")
    city: str = Text100
    country: str = Field("Turkey", min_length=1, max_length=100)
    zip_code: Optional[str] = Field(None, max_length=20)
    ip: str = Field(min_length=2, max_length=45, description="the payer's IP address, as iyzico requires")

    @field_validator("ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            raise ValueError("payment.invalid_ip") from None


class PaymentIn(_Base):
    """A hosted-checkout payment: iyzico's page takes the card; Köprü never sees it."""

    amount: Money = Field(description="the basket's total (iyzico `price`): the items must sum to it")
    paid_amount: Optional[Money] = Field(None, description="what the payer pays (iyzico `paidPrice`), >= amount; "
                                                             "default: amount")
    currency: Literal["TRY", "USD", "EUR", "GBP"] = "TRY"
    items: list[Item] = Field(min_length=1, max_length=100)
    buyer: Buyer
    billing_address: Optional[Address] = Field(None, description="default: the buyer's name and address")
    shipping_address: Optional[Address] = Field(None, description="default: the billing address (physical goods)")
    return_url: str = Field(min_length=8, max_length=1000, pattern=r"^https?://[^\s]+$",
                            description="where the payer's browser is sent when iyzico is done, with "
                                        "?payment_id=&status= added")
    installments: Optional[list[Literal[1, 2, 3, 4, 6, 9, 12]]] = Field(None, min_length=1, max_length=7)
    locale: Literal["tr", "en"] = "tr"

    @model_validator(mode="after")
    def _sums(self) -> "PaymentIn":
        if sum((i.price for i in self.items), Decimal(0)) != self.amount:
            raise ValueError("payment.basket_mismatch")
        if self.paid_amount is not None and self.paid_amount < self.amount:
            raise ValueError("payment.invalid_amount")
        if len({i.id for i in self.items}) != len(self.items):
            raise ValueError("payment.basket_mismatch")
        return self


class Card(BaseModel):
    """A card for a direct 3-D Secure payment: passed to iyzico once, in memory, never
    stored, logged or echoed (errors name the field, never the value)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, hide_input_in_errors=True)

    holder_name: str = Field(min_length=2, max_length=100, repr=False)
    number: str = Field(pattern=r"^[0-9]{12,19}$", repr=False)
    expire_month: str = Field(pattern=r"^(0[1-9]|1[0-2])$", repr=False)
    expire_year: str = Field(pattern=r"^20[0-9]{2}$", repr=False)
    cvc: str = Field(pattern=r"^[0-9]{3,4}$", repr=False)

    @field_validator("number")
    @classmethod
    def _luhn(cls, v: str) -> str:
        total = 0
        for i, ch in enumerate(reversed(v)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10:
            raise ValueError("payment.card_invalid")
        return v


class ThreeDSPaymentIn(PaymentIn):
    """A direct 3-D Secure payment: the card goes to iyzico (never kept); the answer carries
    the bank's page to show the payer, whose bank posts back to Köprü."""

    card: Card


class RefundIn(_Base):
    amount: Money = Field(description="how much to give back, at most what was paid and not yet refunded")
    reason: Optional[Literal["double_payment", "buyer_request", "fraud", "other"]] = None


class IyzicoSettingsIn(_Base):
    """The tenant's iyzico merchant keys (checked against iyzico with a signed read) and
    the chain it opts in to. Keys are sealed by the master key and never returned."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, str_strip_whitespace=True)

    api_key: str = Field(min_length=8, max_length=256)
    secret_key: str = Field(min_length=8, max_length=256)
    invoice: bool = Field(False, description="issue the e-Arşiv / e-Fatura invoice for each successful payment "
                                             "(needs Nilvera)")
    invoice_sms: bool = Field(False, description="text the buyer a link to the invoice once it is accepted "
                                                 "(needs Netgsm and the buyer's phone)")
    website: Optional[str] = Field(None, max_length=255, pattern=r"^https?://[^\s]+$",
                                   description="the web address of the sale (GİB e-Arşiv internet sale)")
    kdv_rate: Literal[0, 1, 10, 20] = Field(20, description="the KDV rate basket prices include (for the invoice)")
    carrier_name: Optional[str] = Field(None, max_length=200, description="the shipping company's name")
    carrier_tax_number: Optional[str] = Field(None, pattern=r"^([0-9]{10}|[0-9]{11})$",
                                              description="the carrier's VKN (10) or TCKN (11)")

    @field_validator("carrier_tax_number")
    @classmethod
    def _carrier(cls, v: Optional[str]) -> Optional[str]:
        # refused when saved, not when the first invoice is made: the same rule the invoice applies
        from kopru.tenancy.identifiers import tax_number_kind

        if v is not None and tax_number_kind(v) is None:
            raise ValueError("einvoice.internet_sale_carrier_invalid")
        return v


class CallbackForm(_Base):
    """What iyzico's page posts back through the payer's browser (never trusted on its
    own: the payment is retrieved from iyzico)."""

    token: Optional[str] = Field(None, max_length=200, description="hosted checkout form")
    status: Optional[str] = Field(None, max_length=50, description="3-D Secure: the bank's answer")
    paymentId: Optional[str] = Field(None, max_length=64)
    conversationId: Optional[str] = Field(None, max_length=64)
    conversationData: Optional[str] = Field(None, max_length=2000)
    mdStatus: Optional[str] = Field(None, max_length=4)
    signature: Optional[str] = Field(None, max_length=128)


# -- answers (what the payment routes answer; kopru.answers) --------------------------------

from datetime import datetime as _datetime  # noqa: E402
from uuid import UUID as _UUID  # noqa: E402

from kopru.answers import Money as Amount, Out, Words, absent  # noqa: E402

PaymentStatus = Literal["initializing", "pending", "succeeded", "failed", "cancelled", "refunded",
                        "partially_refunded", "unknown"]


class PaymentHistoryEntry(Out):
    status: PaymentStatus
    code: Optional[str]
    at: _datetime
    words: Words = absent("the code in Turkish and English, when it is a catalog code")


class PaymentRefund(Out):
    """A refund of a payment, as the payment lists it."""

    id: _UUID
    amount: Amount
    status: Literal["requested", "succeeded", "failed", "unknown"]
    error_code: Optional[str]
    error: Optional[Words]
    created_at: _datetime


class RefundOut(Out):
    """A refund (POST /payments/{id}/refunds answers it, 202)."""

    id: _UUID
    payment_id: _UUID
    amount: Amount
    status: Literal["requested", "succeeded", "failed", "unknown"]
    error_code: Optional[str]
    error: Optional[Words]
    created_at: _datetime


class PaymentOut(Out):
    """GET /payments/{id} (and what starting or cancelling one answers): ids, amounts,
    status, history and refunds; never the buyer."""

    id: _UUID
    status: PaymentStatus
    currency: Literal["TRY", "USD", "EUR", "GBP"]
    amount: Amount
    paid_amount: Amount
    refunded_amount: Amount
    error_code: Optional[str]
    error: Optional[Words]
    iyzico_payment_id: Optional[str]
    invoice_id: Optional[_UUID] = Field(description="the invoice the payment chain issued for it")
    created_at: _datetime
    paid_at: Optional[_datetime]
    history: list[PaymentHistoryEntry]
    refunds: list[PaymentRefund]
    payment_page_url: Optional[str] = absent("while pending: iyzico's page to send the "
                                                                       "payer to")
    token_expires_at: Optional[_datetime] = absent("while pending: when that page expires")


class ThreeDSPaymentOut(PaymentOut):
    """POST /payments/3ds: the payment, and the bank's 3-D Secure page to show the payer."""

    threeds_html: Optional[str] = Field(description="the bank's page (HTML); null on a repeat with the same "
                                                    "Idempotency-Key (the card is not kept) or when iyzico refused")


class NotificationTaken(Out):
    """POST /payments/notifications: whether the notification named a payment of ours, and
    its status after settling it."""

    matched: bool
    payment_id: _UUID = absent("when matched")
    status: PaymentStatus = absent("when matched")


class IyzicoSettingsOut(Out):
    """GET/PUT /tenants/{id}/integrations/iyzico: the settings as stored, never the keys."""

    provider: Literal["iyzico"]
    configured: Literal[True]
    invoice: bool
    invoice_sms: bool
    website: Optional[str]
    kdv_rate: Literal[0, 1, 10, 20]
    carrier_name: Optional[str]
    carrier_tax_number: Optional[str]
    secrets_set: list[Literal["api_key", "secret_key"]]
    notification_url: str = Field(description="the merchant-notification URL to set in iyzico's panel")


class IyzicoChecked(Out):
    """POST /tenants/{id}/integrations/iyzico/test."""

    provider: Literal["iyzico"]
    ok: Literal[True]
