"""A credit-report partner simulator that is **NOT KKB and NOT Findeks**: it speaks the
KKB-member partner contract `kopru.connectors.credit_partner` documents (Köprü's own
contract; KKB publishes no API) and answers made-up reports, every one saying so.

    sim = NotKkbCreditSimulator()
    sim.add_account("api-key", "MUSTERI-1")                # a tenant's account at the partner
    sim.add_identity("10000000146", score=1520, bounced_count=0)   # else made up from the number
    sim.forget_identity("10000000078")                     # -> 404 IDENTITY_UNKNOWN
    sim.deny_consent("10000000146")                        # -> 403 CONSENT_NOT_FOUND
    sim.fail_next(http_status=503)                         # next call: 503, nothing taken
    sim.fail_next(http_status=500, taken=True)             # taken (a report made), then 500
    sim.fail_next(drop=True)                               # taken, then the connection drops
    sim.rate_limit(per_minute=2)                           # the third in a minute: 429 + Retry-After
    with serve(sim) as base_url: ...

Like the contract says, and no more: Bearer key and X-Customer-Code checked (401); TCKN and
VKN check digits (400 INVALID_REQUEST); a report made per POST (no idempotency key: a
repeated POST makes, and would bill, a second report); the look-up by client_reference
lists what was made under it. Scores run 1-1900 with Findeks' five risk bands; the cheque
report has karşılıksız (bounced) cheque counts and amounts and a cheque index.

`GET /_simulator/calls` (read-only) lists what it received, identity numbers masked.
Test data in memory; it logs nothing.
"""

from __future__ import annotations

import re

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopru_tools.simulators.common import Dropped, Simulator, control, runner
from kopru_tools.simulators.common import quiet_serve as serve, quiet_start as start  # noqa: F401  (re-exported)

NAME = "credit-not-kkb"
NOTICE = ("NOT KKB / NOT Findeks: Köprü's credit-partner simulator; every figure in this answer is made up "
          "and says nothing about any real person or business.")
ENDPOINTS = ("ping", "report.create", "report.find")


def mask(number: str | None) -> str | None:
    if not number:
        return None
    return number[:2] + "*" * max(0, len(number) - 4) + number[-2:]


@dataclass
class Identity:
    score: int
    bounced_count: int = 0
    bounced_amount: str = "0.00"
    consent: bool = True


@dataclass
class SimCall:
    endpoint: str
    customer: str | None
    http_status: int
    code: str | None = None
    client_reference: str | None = None
    subject: str | None = None  # masked


@dataclass
class _Made:
    customer: str
    doc: dict[str, Any] = field(repr=False)


class NotKkbCreditSimulator(Simulator):
    def __init__(self, *, known_by_default: bool = True) -> None:
        """`known_by_default`: any valid TCKN/VKN is a known identity with made-up figures
        derived from the number (stable between calls), unless forgotten."""
        self.known_by_default = known_by_default
        self._accounts: dict[str, str] = {}
        self._identities: dict[str, Identity] = {}
        self._unknown: set[str] = set()
        super().__init__([
            Route("/v1/ping", self._ping, methods=["GET"]),
            Route("/v1/credit-reports", self._create, methods=["POST"]),
            Route("/v1/credit-reports", self._find, methods=["GET"]),
            Route("/_simulator/fail-next", self._control_fail_next, methods=["POST"]),
        ])

    def _reset_state(self) -> None:
        """Forget reports, calls, failures and the rate limit (accounts and identities stay): `reset()`."""
        super()._reset_state()
        self._made: list[_Made] = []
        self._window: list[float] = []
        self._per_minute: int | None = None
        self._ids = itertools.count(1)

    # -- configuration and inspection ---------------------------------------------------------

    def add_account(self, api_key: str, customer_code: str) -> None:
        with self._lock:
            self._accounts[api_key] = customer_code

    def add_identity(self, number: str, *, score: int, bounced_count: int = 0, bounced_amount: str = "0.00") -> None:
        if not 1 <= score <= 1900:
            raise ValueError("score runs 1-1900")
        with self._lock:
            self._identities[number] = Identity(score, bounced_count, bounced_amount)
            self._unknown.discard(number)

    def forget_identity(self, number: str) -> None:
        with self._lock:
            self._unknown.add(number)

    def deny_consent(self, number: str) -> None:
        with self._lock:
            ident = self._identities.get(number) or self._made_up(number)
            ident.consent = False
            self._identities[number] = ident

    def rate_limit(self, per_minute: int | None) -> None:
        with self._lock:
            self._per_minute, self._window = per_minute, []

    def fail_next(self, http_status: int | None = None, *, times: int = 1, endpoint: str | None = None,
                  taken: bool = False, drop: bool = False, delay: float = 0.0) -> None:
        """The next `times` calls (to `endpoint`, one of ENDPOINTS; any when None): answered
        `http_status` (5xx, 429) with nothing made, or with the report made first (`taken`);
        `drop`: made, then the connection is closed mid-answer; only `delay`: made and
        answered `delay` seconds late."""
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError("unknown endpoint")
        self._inject(endpoint, times, http_status=http_status, taken=taken, drop=drop, delay=delay)

    def reports(self, client_reference: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m.doc) for m in self._made
                    if client_reference is None or m.doc["client_reference"] == client_reference]

    # -- the API -----------------------------------------------------------------------------------

    def _answer(self, call: SimCall, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        call.http_status = status
        self._note(call)
        return JSONResponse({**body, "simulator": NAME, "notice": NOTICE}, status,
                            headers={"X-Simulator": f"{NAME} (NOT KKB, NOT Findeks)", **(headers or {})})

    def _error(self, call: SimCall, status: int, code: str, message: str, headers=None):
        call.code = code
        return self._answer(call, status, {"error": {"code": code, "message": message}}, headers)

    def _auth(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else None
        with self._lock:
            customer = self._accounts.get(key or "")
        if customer is None or request.headers.get("x-customer-code") != customer:
            return None
        return customer

    def _caller(self, endpoint: str, request: Request) -> tuple[SimCall, Response | None]:
        """The call as it arrived, and its 401 answer when the key or customer code is unknown."""
        call = SimCall(endpoint, None, 0)
        call.customer = self._auth(request)
        if call.customer is None:
            return call, self._error(call, 401, "UNAUTHORIZED", "unknown API key or customer code")
        return call, None

    def _limited(self) -> bool:
        with self._lock:
            if self._per_minute is None:
                return False
            now = time.monotonic()
            self._window = [t for t in self._window if now - t < 60]
            if len(self._window) >= self._per_minute:
                return True
            self._window.append(now)
            return False

    async def _ping(self, request: Request) -> Response:
        call, early = self._caller("ping", request)
        if early is not None:
            return early
        customer = call.customer
        return self._answer(call, 200, {"customer_code": customer})

    def _made_up(self, number: str) -> Identity:
        h = int.from_bytes(hashlib.sha256(f"{NAME}:{number}".encode()).digest()[:8], "big")
        score = 1 + h % 1900
        bounced = 0 if score >= 1100 else (h >> 16) % 4
        return Identity(score, bounced, f"{bounced * ((h >> 24) % 50_000 + 1_000)}.00")

    def _identity(self, number: str) -> Identity | None:
        with self._lock:
            if number in self._unknown:
                return None
            ident = self._identities.get(number)
        if ident is None and self.known_by_default:
            ident = self._made_up(number)
        return ident

    def _report(self, customer: str, ref: str, scheme: str, number: str, ident: Identity) -> dict[str, Any]:
        from kopru.connectors.credit_partner import BANDS

        band = next(b for b in BANDS if b[0] <= ident.score <= b[1])
        seq = next(self._ids)
        paid = 12 + seq % 30
        doc = {
            "report_id": f"SIM-NOT-KKB-{seq:08d}",
            "client_reference": ref,
            "produced_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "product": "individual" if scheme == "TCKN" else "commercial",
            "subject": {"type": scheme, "number_masked": mask(number)},
            "score": {"value": ident.score, "min": 1, "max": 1900, "band": band[2],
                      "band_tr": band[3], "band_en": band[4]},
            "cheque_report": {
                "cheque_index": min(1900, ident.score + 50) if ident.bounced_count == 0 else max(1, ident.score // 2),
                "presented_last_12_months": paid + ident.bounced_count,
                "paid_last_12_months": paid,
                "bounced_count": ident.bounced_count,            # karşılıksız çek adedi
                "bounced_amount": ident.bounced_amount,          # karşılıksız çek tutarı (TRY)
                "bounced_paid_later_count": 0,                   # sonradan ödenen karşılıksız çek
                "bounced_unpaid_count": ident.bounced_count,     # henüz ödenmemiş karşılıksız çek
                "blank_leaves": 20,                              # kullanılabilir boş çek yaprağı
                "currency": "TRY",
            },
            "credit_summary": {"open_accounts": 1 + seq % 5, "overdue_accounts": 1 if ident.score < 700 else 0,
                               "max_delay_days": 90 if ident.score < 700 else 0, "currency": "TRY"},
            "inquiries_last_12_months": seq % 7,
        }
        with self._lock:
            self._made.append(_Made(customer, doc))
        return doc

    async def _create(self, request: Request) -> Response:
        from kopru.tenancy.identifiers import tckn_valid, vkn_valid

        call, early = self._caller("report.create", request)
        if early is not None:
            return early
        customer = call.customer
        try:
            b = await request.json()
            ref, subj, consent = b["client_reference"], b["subject"], b["consent"]
            scheme, number = subj["type"], subj["number"]
            if not (isinstance(ref, str) and 1 <= len(ref) <= 100 and isinstance(number, str)
                    and isinstance(consent, dict) and consent.get("reference")):
                raise ValueError
            # the contract's whole consent proof: when it was given (ISO 8601) and the text's SHA-256
            from datetime import datetime

            datetime.fromisoformat(consent["granted_at"])
            if not re.fullmatch(r"[0-9a-f]{64}", consent["text_sha256"]):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self._error(call, 400, "INVALID_REQUEST", "client_reference, subject and consent are required")
        call.client_reference, call.subject = ref, mask(number)
        if not ((scheme == "TCKN" and tckn_valid(number)) or (scheme == "VKN" and vkn_valid(number))):
            return self._error(call, 400, "INVALID_REQUEST", "subject.number fails its check digits")
        if self._limited():
            return self._error(call, 429, "RATE_LIMITED", "too many requests", {"Retry-After": "60"})
        failure = self._take_failure("report.create")
        if failure is not None and not failure.taken and not failure.drop and failure.http_status:
            code = "RATE_LIMITED" if failure.http_status == 429 else "INTERNAL"
            return self._error(call, failure.http_status, code, "simulated failure; nothing was made",
                               {"Retry-After": "1"} if failure.http_status == 429 else None)
        ident = self._identity(number)
        if ident is None:
            return self._error(call, 404, "IDENTITY_UNKNOWN", "no person or business with this number")
        if not ident.consent:
            return self._error(call, 403, "CONSENT_NOT_FOUND", "the person has not approved sharing the report")
        doc = self._report(customer, ref, scheme, number, ident)
        if failure is not None:
            await self._delay(failure)
            if failure.drop:
                call.http_status = 200
                self._note(call)
                return Dropped(b'{"report_id": "')
            if failure.http_status:
                return self._error(call, failure.http_status, "INTERNAL", "simulated failure after the report was made")
        return self._answer(call, 201, doc)

    async def _find(self, request: Request) -> Response:
        call, early = self._caller("report.find", request)
        if early is not None:
            return early
        customer = call.customer
        ref = request.query_params.get("client_reference")
        if not ref:
            return self._error(call, 400, "INVALID_REQUEST", "client_reference is required")
        call.client_reference = ref
        failure = self._take_failure("report.find")
        if failure is not None and failure.http_status:
            return self._error(call, failure.http_status, "INTERNAL", "simulated failure")
        with self._lock:
            items = [dict(m.doc) for m in self._made if m.customer == customer and m.doc["client_reference"] == ref]
        return self._answer(call, 200, {"items": items})

    def _inspection(self) -> dict[str, Any]:
        """Every call received, in order (no keys, no bodies; numbers masked), and what this is."""
        return {"simulator": NAME, "notice": NOTICE, **super()._inspection()}

    async def _control_fail_next(self, request: Request) -> Response:
        """Dev control: {"http_status": 500, "endpoint": "report.create", "times": 1, "taken": false,
        "drop": false, "delay": 0}."""
        def act(b: Any) -> None:
            if not isinstance(b, dict):
                raise ValueError
            status = b.get("http_status")
            self.fail_next(int(status) if status is not None else None, times=int(b.get("times", 1)),
                           endpoint=b.get("endpoint"), taken=bool(b.get("taken", False)),
                           drop=bool(b.get("drop", False)), delay=float(b.get("delay", 0)))

        return await control(request, act, "bad control request")


DEV_API_KEY = "kopru-dev-credit"
DEV_CUSTOMER = "KOPRU-DEV"


def dev_simulator() -> NotKkbCreditSimulator:
    """The simulator for `kopru dev`: one account (API key kopru-dev-credit, customer code
    KOPRU-DEV); every valid TCKN/VKN gets made-up figures."""
    sim = NotKkbCreditSimulator()
    sim.add_account(DEV_API_KEY, DEV_CUSTOMER)
    return sim


main = runner(dev_simulator, "credit-not-kkb-simulator", 8095)  # python -m kopru_tools.simulators.credit_not_kkb


if __name__ == "__main__":
    main()
