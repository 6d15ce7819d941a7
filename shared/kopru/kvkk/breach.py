"""The breach register (KVKK md. 12(5); Kurul kararı 2019/10): a breach is recorded
with what the Board's notification form asks, its 72-hour deadline is counted from
discovery, and the notification content is rendered in Turkish.

Operators record breaches (`kopru kvkk breach record`), as the owner role: breaches
are a platform register that handlers cannot read or write.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kopru.kvkk.vocabulary import ALL_CATEGORIES

DEADLINE = timedelta(hours=72)

SubjectGroup = Literal["customers", "employees", "users", "suppliers", "prospects", "other"]
GROUP_TR = {"customers": "Müşteriler", "employees": "Çalışanlar", "users": "Kullanıcılar",
            "suppliers": "Tedarikçiler", "prospects": "Potansiyel müşteriler", "other": "Diğer"}


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    title: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=32)
    email: str = Field(default="", max_length=254)


class BreachIn(BaseModel):
    """What the Board's breach notification form asks (Kişisel Veri İhlal Bildirim Formu)."""

    model_config = ConfigDict(extra="forbid")
    controller_tenant_id: Optional[uuid.UUID] = None
    discovered_at: datetime
    occurred_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    how_discovered: str = Field(min_length=1, max_length=4000)
    source: Literal["internal", "external"]
    description: str = Field(min_length=1, max_length=8000)
    categories: list[str] = Field(min_length=1)
    subjects_affected: int = Field(ge=0)
    records_affected: Optional[int] = Field(default=None, ge=0)
    subject_groups: list[SubjectGroup] = Field(min_length=1)
    consequences: str = Field(min_length=1, max_length=4000)
    measures_taken: str = Field(min_length=1, max_length=4000)
    measures_planned: str = Field(default="", max_length=4000)
    subjects_notified: bool = False
    notification_method: str = Field(default="", max_length=1000)
    contact: Contact
    delay_reason: str = Field(default="", max_length=4000)

    @field_validator("discovered_at", "occurred_at", "ended_at")
    @classmethod
    def _aware(cls, v: Optional[datetime]) -> Optional[datetime]:
        if v is not None and v.tzinfo is None:
            raise ValueError("kvkk.breach_invalid")  # a time without its zone is ambiguous by 3 hours
        return v

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: list[str]) -> list[str]:
        if any(c not in ALL_CATEGORIES for c in v):
            raise ValueError("consent.data_category_unknown")
        return sorted(set(v))

    @model_validator(mode="after")
    def _order(self) -> "BreachIn":
        now = datetime.now(timezone.utc)
        if self.discovered_at > now + timedelta(minutes=5):
            raise ValueError("kvkk.breach_invalid")
        if self.occurred_at and self.occurred_at > self.discovered_at:
            raise ValueError("kvkk.breach_invalid")
        if self.ended_at and self.occurred_at and self.ended_at < self.occurred_at:
            raise ValueError("kvkk.breach_invalid")
        if self.subjects_notified and not self.notification_method.strip():
            raise ValueError("kvkk.breach_invalid")
        return self

    @property
    def deadline_at(self) -> datetime:
        return self.discovered_at + DEADLINE


def _engine():
    from kopru.admin import _owner_engine

    return _owner_engine()


OPERATOR = "operator:cli"


def _audit(conn, tenant_id: uuid.UUID | None, action: str, breach_id: uuid.UUID, details: dict[str, Any]) -> None:
    """A breach of a tenant's data goes into that tenant's audit chain, in the same
    transaction (a platform-wide breach, with no controller tenant, has no chain)."""
    if tenant_id is None:
        return
    from kopru.db.auditlog import append_sync

    append_sync(conn, tenant_id, OPERATOR, action, str(breach_id), details)


def record_breach(body: BreachIn) -> dict[str, Any]:
    """Store the breach; returns its id and the Board deadline (discovery + 72 h)."""
    from kopru.db.schema import breaches

    bid = uuid.uuid4()
    details = body.model_dump(mode="json", exclude={"controller_tenant_id", "discovered_at", "occurred_at",
                                                    "ended_at"})
    eng = _engine()
    try:
        with eng.begin() as conn:
            conn.execute(breaches.insert().values(
                id=bid, controller_tenant_id=body.controller_tenant_id, occurred_at=body.occurred_at,
                discovered_at=body.discovered_at, ended_at=body.ended_at, deadline_at=body.deadline_at,
                details=details))
            _audit(conn, body.controller_tenant_id, "kvkk.breach.recorded", bid, {})
    finally:
        eng.dispose()
    return get_breach(bid)


REPORT_CLOCK_SKEW = timedelta(minutes=5)


def mark_reported(breach_id: uuid.UUID, at: datetime | None = None, delay_reason: str | None = None) -> dict[str, Any]:
    """The Board was notified at `at` (default now; with its zone: a bare wall-clock time
    is refused, not guessed). Past the deadline, a reason for the delay is required (Kurul
    kararı 2019/10: the notification explains it); a blank one is none. A report before
    the breach was discovered, or in the future, is refused. Every report is kept
    (`details.reports`, a follow-up notification included); `reported_at` stays the first,
    which is what decides whether the Board was told in time."""
    from sqlalchemy import select, update

    from kopru.db.schema import breaches
    from kopru.errors import KopruError

    now = datetime.now(timezone.utc)
    at = at or now
    if at.tzinfo is None or at.utcoffset() is None:
        raise KopruError("kvkk.breach_invalid", detail="--at needs its time zone, e.g. 2026-12-06T14:30+03:00")
    reason = (delay_reason or "").strip() or None
    if delay_reason is not None and reason is None:
        raise KopruError("kvkk.breach_invalid", detail="--delay-reason is blank")
    if at > now + REPORT_CLOCK_SKEW:
        raise KopruError("kvkk.breach_invalid", detail="the report time is in the future")
    eng = _engine()
    try:
        with eng.begin() as conn:
            row = conn.execute(select(breaches).where(breaches.c.id == breach_id).with_for_update()).first()
            if row is None:
                raise KopruError("kvkk.breach_not_found")
            if at < row.discovered_at:
                raise KopruError("kvkk.breach_invalid", detail="the report time is before the breach was discovered")
            details = dict(row.details)
            first = row.reported_at or at
            late_reason = reason or details.get("delay_reason")
            if first > row.deadline_at and not late_reason:
                raise KopruError("kvkk.breach_invalid", detail="reported after the 72-hour deadline: give --delay-reason")
            if reason:
                details["delay_reason"] = details.get("delay_reason") or reason
            details["reports"] = [*details.get("reports", []),
                                  {"at": at.isoformat(), "recorded_at": now.isoformat(),
                                   **({"delay_reason": reason} if reason else {})}]
            conn.execute(update(breaches).where(breaches.c.id == breach_id).values(
                reported_at=min(first, at), details=details))
            _audit(conn, row.controller_tenant_id, "kvkk.breach.reported", breach_id,
                   {"at": at.isoformat(), "late": min(first, at) > row.deadline_at})
    finally:
        eng.dispose()
    return get_breach(breach_id)


def get_breach(breach_id: uuid.UUID) -> dict[str, Any]:
    from sqlalchemy import select

    from kopru.db.schema import breaches, tenants
    from kopru.errors import KopruError

    eng = _engine()
    try:
        with eng.begin() as conn:
            row = conn.execute(select(breaches).where(breaches.c.id == breach_id)).first()
            if row is None:
                raise KopruError("kvkk.breach_not_found")
            controller = None
            if row.controller_tenant_id is not None:
                # the owner role passes RLS only with the tenant set
                conn.exec_driver_sql("select set_config('app.tenant_id', %(t)s, true)", {"t": str(row.controller_tenant_id)})
                t = conn.execute(select(tenants.c.name, tenants.c.verbis_no, tenants.c.tax_number)
                                 .where(tenants.c.id == row.controller_tenant_id)).first()
                controller = dict(t._mapping) if t else None
    finally:
        eng.dispose()
    return _as_dict(row, controller)


def list_breaches() -> list[dict[str, Any]]:
    from sqlalchemy import select

    from kopru.db.schema import breaches

    eng = _engine()
    try:
        with eng.begin() as conn:
            rows = conn.execute(select(breaches).order_by(breaches.c.discovered_at)).all()
    finally:
        eng.dispose()
    return [_as_dict(r, None) for r in rows]


def _as_dict(row, controller) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    left = (row.deadline_at - now).total_seconds() / 3600
    return {
        "id": str(row.id), "controller_tenant_id": str(row.controller_tenant_id) if row.controller_tenant_id else None,
        "controller": controller, "occurred_at": row.occurred_at, "discovered_at": row.discovered_at,
        "ended_at": row.ended_at, "deadline_at": row.deadline_at, "reported_at": row.reported_at,
        "hours_left": None if row.reported_at else round(left, 1),
        "late": (row.reported_at or now) > row.deadline_at, "details": dict(row.details),
    }


def _dt(v) -> str:
    from kopru.text import format_datetime

    if v is None:
        return "—"
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return format_datetime(v)


def render_notification(b: dict[str, Any]) -> str:
    """The notification's content in Turkish, in the order of the Board's form."""
    from kopru.kvkk.vocabulary import ALL_CATEGORIES, SPECIAL_CATEGORIES

    d = b["details"]
    c = b.get("controller") or {}
    special = [x for x in d["categories"] if x in SPECIAL_CATEGORIES]
    lines = [
        "KİŞİSEL VERİ İHLAL BİLDİRİMİ",
        "(6698 sayılı Kanun md. 12(5); Kişisel Verileri Koruma Kurulu'nun 24.01.2019 tarihli ve 2019/10 sayılı Kararı)",
        "",
        "1. Veri sorumlusu",
        f"   Unvanı: {c.get('name') or 'Köprü (veri işleyen sıfatıyla)'}",
        f"   VERBİS kayıt no: {c.get('verbis_no') or '—'}",
        f"   İrtibat kişisi: {d['contact']['name']}{', ' + d['contact']['title'] if d['contact'].get('title') else ''}",
        f"   Telefon / e-posta: {d['contact'].get('phone') or '—'} / {d['contact'].get('email') or '—'}",
        "",
        "2. İhlale ilişkin bilgiler",
        f"   İhlalin başlangıç tarihi: {_dt(b['occurred_at'])}",
        f"   İhlalin bitiş tarihi: {_dt(b['ended_at']) if b['ended_at'] else 'Devam ediyor / bilinmiyor'}",
        f"   İhlalin tespit tarihi: {_dt(b['discovered_at'])}",
        f"   Nasıl tespit edildi: {d['how_discovered']}",
        f"   İhlalin kaynağı: {'İç kaynaklı' if d['source'] == 'internal' else 'Dış kaynaklı'}",
        f"   Açıklama: {d['description']}",
        "",
        "3. İhlalden etkilenen kişisel veriler",
        "   Veri kategorileri: " + ", ".join(ALL_CATEGORIES[x].tr for x in d["categories"]),
        "   Özel nitelikli kişisel veri: " + (", ".join(SPECIAL_CATEGORIES[x].tr for x in special) if special else "Yok"),
        "",
        "4. Etkilenen ilgili kişiler",
        f"   İlgili kişi sayısı: {d['subjects_affected']}",
        f"   Kayıt sayısı: {d['records_affected'] if d.get('records_affected') is not None else 'Bilinmiyor'}",
        "   İlgili kişi grupları: " + ", ".join(GROUP_TR[g] for g in d["subject_groups"]),
        "",
        "5. İhlalin olası sonuçları",
        f"   {d['consequences']}",
        "",
        "6. Alınan ve alınması planlanan tedbirler",
        f"   Alınan: {d['measures_taken']}",
        f"   Planlanan: {d.get('measures_planned') or '—'}",
        "",
        "7. İlgili kişilere bildirim",
        f"   {'Yapıldı: ' + d['notification_method'] if d['subjects_notified'] else 'Henüz yapılmadı; ilgili kişiler belirlendikten sonra makul en kısa sürede doğrudan, mümkün değilse uygun yöntemlerle bildirilecektir.'}",
        "",
        "8. Bildirim süresi",
        f"   72 saatlik sürenin sonu: {_dt(b['deadline_at'])}",
        f"   Kurul'a bildirim tarihi: {_dt(b['reported_at']) if b['reported_at'] else 'Henüz bildirilmedi'}",
    ]
    if b["late"] or d.get("delay_reason"):
        lines.append(f"   Gecikme nedeni: {d.get('delay_reason') or 'BELİRTİLMELİ: 72 saat aşıldı'}")
    return "\n".join(lines) + "\n"
