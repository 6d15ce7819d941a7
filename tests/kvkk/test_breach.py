"""The breach register: 72 hours from discovery, the Board's form in Turkish, a late
notification needs its reason, bad records refused (library and `kopru kvkk breach`)."""

from __future__ import annotations

import io
import json
import uuid
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from kopru.errors import KopruError
from kopru.kvkk import breach
from kopru_tools.cli import main


def body(**over) -> dict:
    b = {
        "discovered_at": "2026-11-20T09:15:00+03:00",
        "occurred_at": "2026-11-19T23:40:00+03:00",
        "how_discovered": "Erişim kayıtlarında olağandışı toplu sorgu alarmı",
        "source": "external",
        "description": "Sızdırılmış bir API anahtarıyla SMS gönderim kayıtları sorgulandı.",
        "categories": ["contact", "customer_transaction"],
        "subjects_affected": 1250,
        "records_affected": 3400,
        "subject_groups": ["customers"],
        "consequences": "Telefon numaralarının istenmeyen aramalar için kullanılması riski.",
        "measures_taken": "Anahtar iptal edildi, tüm istemci sırları yenilendi.",
        "measures_planned": "İstemci başına IP kısıtı.",
        "contact": {"name": "Ayşe Yılmaz", "title": "KVKK irtibat kişisi", "email": "kvkk@anadolu.com.tr"},
    }
    b.update(over)
    return b


async def test_deadline_is_72_hours_from_discovery_and_the_form_is_rendered_in_turkish(services, onboard, db):
    t = await onboard()
    b = breach.record_breach(breach.BreachIn.model_validate({**body(), "controller_tenant_id": str(t["id"])}))
    assert b["deadline_at"] - b["discovered_at"] == timedelta(hours=72)
    assert b["deadline_at"] == datetime(2026, 11, 23, 6, 15, tzinfo=timezone.utc)
    assert b["late"] is True and b["reported_at"] is None  # today is past 23 November
    text = breach.render_notification(b)
    for heading in ("KİŞİSEL VERİ İHLAL BİLDİRİMİ", "1. Veri sorumlusu", "2. İhlale ilişkin bilgiler",
                    "3. İhlalden etkilenen kişisel veriler", "4. Etkilenen ilgili kişiler", "5. İhlalin olası sonuçları",
                    "6. Alınan ve alınması planlanan tedbirler", "7. İlgili kişilere bildirim", "8. Bildirim süresi"):
        assert heading in text
    assert t["tenant"]["name"] in text and "Dış kaynaklı" in text and "İletişim, Müşteri işlem" in text
    assert "İlgili kişi sayısı: 1250" in text and "Müşteriler" in text
    assert "72 saatlik sürenin sonu: 23.11.2026 09:15" in text  # shown in Istanbul time
    assert "Gecikme nedeni: BELİRTİLMELİ" in text
    # reported late: only with a reason, which the notification then carries
    with pytest.raises(KopruError):
        breach.mark_reported(uuid.UUID(b["id"]))
    done = breach.mark_reported(uuid.UUID(b["id"]), delay_reason="Etkilenen kişilerin tespiti 4 gün sürdü.")
    assert done["reported_at"] is not None and done["hours_left"] is None
    assert "Gecikme nedeni: Etkilenen kişilerin tespiti 4 gün sürdü." in breach.render_notification(done)
    # both acts are in the controller tenant's audit chain (the refused report is not), and it verifies
    rows = db.execute("select action, actor, target from audit_log where tenant_id = %s and target = %s order by seq",
                      (str(t["id"]), b["id"])).fetchall()
    assert rows == [("kvkk.breach.recorded", "operator:cli", b["id"]), ("kvkk.breach.reported", "operator:cli", b["id"])]
    from kopru.kvkk.audit import verify

    assert verify(t["id"], anchors=False).ok


def test_reported_in_time_needs_no_reason(services):
    now = datetime.now(timezone.utc)
    b = breach.record_breach(breach.BreachIn.model_validate(body(
        discovered_at=(now - timedelta(hours=5)).isoformat(), occurred_at=(now - timedelta(hours=9)).isoformat())))
    assert 66 <= b["hours_left"] <= 67 and b["late"] is False
    done = breach.mark_reported(uuid.UUID(b["id"]))
    assert done["late"] is False and "Gecikme nedeni" not in breach.render_notification(done)
    assert "Köprü (veri işleyen sıfatıyla)" in breach.render_notification(done)


@pytest.mark.parametrize("over", [
    {"occurred_at": "2026-11-21T00:00:00+03:00"},                 # after its discovery
    {"discovered_at": "2026-11-20T09:15:00"},                      # no time zone
    {"discovered_at": (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()},  # in the future
    {"categories": ["contact", "shoe_size"]},
    {"categories": []},
    {"subjects_affected": -1},
    {"subject_groups": ["aliens"]},
    {"subjects_notified": True},                                   # notified, but how?
    {"source": "both"},
    {"ended_at": "2026-11-01T00:00:00+03:00"},                     # ends before it began
])
def test_bad_breach_records_are_refused(over):
    with pytest.raises(ValidationError):
        breach.BreachIn.model_validate(body(**over))


def test_cli_record_show_list(services, tmp_path):
    f = tmp_path / "breach.json"
    f.write_text(json.dumps(body(), ensure_ascii=False), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(["kvkk", "breach", "record", "--file", str(f), "--json"]) == 0
    rec = json.loads(out.getvalue())
    assert rec["deadline_at"].startswith("2026-11-23")
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert main(["kvkk", "breach", "show", rec["id"]]) == 0
    assert out.getvalue().startswith("KİŞİSEL VERİ İHLAL BİLDİRİMİ")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["kvkk", "breach", "list"]) == 0
    assert rec["id"] in out.getvalue()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(body(categories=["shoe_size"])), encoding="utf-8")
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["kvkk", "breach", "record", "--file", str(bad)]) == 2
    assert "categories" in err.getvalue()
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with redirect_stderr(io.StringIO()):
        assert main(["kvkk", "breach", "record", "--file", str(tmp_path / "broken.json")]) == 2
    for argv in (["record", "--file", str(tmp_path / "missing.json")], ["show", str(uuid.uuid4())], ["show", "nope"]):
        err = io.StringIO()
        with redirect_stderr(err):
            assert main(["kvkk", "breach", *argv]) == 2, argv
        assert err.getvalue().startswith("error: ") and "Traceback" not in err.getvalue()
    assert "kvkk.breach_not_found" in _stderr_of(["show", str(uuid.uuid4())])


def _stderr_of(argv) -> str:
    err = io.StringIO()
    with redirect_stderr(err):
        main(["kvkk", "breach", *argv])
    return err.getvalue()


def test_cli_reported_refuses_what_it_cannot_keep_honestly_and_keeps_every_report(services):
    """`kopru kvkk breach reported`: a time without its zone, a blank delay reason, a report
    before the breach was discovered, a report in the future: each a clear error, nothing
    written, no traceback. A second report is kept beside the first, which stays the one
    that decides whether the Board was told in time."""
    now = datetime.now(timezone.utc)
    b = breach.record_breach(breach.BreachIn.model_validate(body(
        discovered_at=(now - timedelta(hours=100)).isoformat(), occurred_at=(now - timedelta(hours=101)).isoformat())))
    bid = b["id"]
    at_late = (now - timedelta(hours=2)).isoformat()
    for argv, says in (
            (["--at", (now - timedelta(hours=2)).replace(tzinfo=None).isoformat(), "--delay-reason", "x"], "time zone"),
            (["--at", at_late, "--delay-reason", "   "], "blank"),
            (["--at", (now - timedelta(hours=101)).isoformat(), "--delay-reason", "x"], "before the breach was discovered"),
            (["--at", (now + timedelta(hours=1)).isoformat(), "--delay-reason", "x"], "in the future"),
            (["--at", at_late], "72-hour deadline")):
        err = _stderr_of(["reported", bid, *argv])
        assert err.startswith("error: kvkk.breach_invalid") and says in err and "Traceback" not in err, (argv, err)
        assert breach.get_breach(uuid.UUID(bid))["reported_at"] is None  # nothing written
    first = (now - timedelta(hours=3)).replace(microsecond=0)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main(["kvkk", "breach", "reported", bid, "--at", first.isoformat(),
                     "--delay-reason", "Etkilenenlerin tespiti sürdü."]) == 0
        assert main(["kvkk", "breach", "reported", bid, "--at", (now - timedelta(minutes=5)).isoformat()]) == 0
    got = breach.get_breach(uuid.UUID(bid))
    assert got["reported_at"] == first and got["late"] is True
    assert [r.get("delay_reason") for r in got["details"]["reports"]] == ["Etkilenenlerin tespiti sürdü.", None]
    assert got["details"]["delay_reason"] == "Etkilenenlerin tespiti sürdü."
