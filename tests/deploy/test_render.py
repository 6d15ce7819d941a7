"""`kopru deploy render knative|openfaas [--check]`: the committed files are what the
code renders; a change of a function's triggers without re-rendering fails the
check; the renderer derives everything from the registry and the catalog."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from kopru_tools.deploy import RenderError, differences, make_plan, render, write
from kopru_tools.cli import main
from kopru.runtime.registry import FunctionInfo
from tests.deploy.conftest import fixture_catalog_dir
from tests.deploy.schemas import REPO


@pytest.mark.parametrize("target", ["knative", "openfaas"])
def test_check_passes_on_the_committed_files(target, capsys):
    assert main(["deploy", "render", target, "--check"]) == 0, capsys.readouterr().err
    assert "current" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["knative", "openfaas"])
def test_rendering_is_deterministic(target, fixture_registry, fixture_catalog):
    a = render(target, fixture_registry, fixture_catalog).files
    reordered = dict(reversed(list(fixture_registry.items())))
    b = render(target, reordered, fixture_catalog).files
    assert a == b


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    # a separate process: the fixture functions are real modules, loaded by the registry
    return subprocess.run([sys.executable, "-m", "kopru_tools.cli", "deploy", "render", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


PROBE = '''from kopru.runtime import Function

fn = Function("deploy-probe")


@fn.on_event("kopru.tenant.onboarded.v1")
async def onboarded(call):
    return None


async def handle(request):
    return await fn(request)
'''


@pytest.fixture
def trees(tmp_path):
    """Copies of functions/ and events/ to change."""
    functions = tmp_path / "functions"
    shutil.copytree(REPO / "functions", functions, ignore=shutil.ignore_patterns("__pycache__"))
    events = tmp_path / "events"
    shutil.copytree(REPO / "events", events)
    return functions, events


def test_unchanged_copies_pass_the_check(trees):
    functions, events = trees
    for target in ("knative", "openfaas"):
        r = _cli(target, "--check", "--functions", str(functions), "--events", str(events))
        assert r.returncode == 0, r.stderr


def test_a_new_consumer_without_rendering_fails_the_check(trees):
    functions, events = trees
    (functions / "deploy_probe").mkdir()
    (functions / "deploy_probe" / "main.py").write_text(PROBE, encoding="utf-8")
    catalog = json.loads((events / "catalog.json").read_text(encoding="utf-8"))
    catalog["events"]["kopru.tenant.onboarded.v1"]["consumers"].append("deploy-probe")
    (events / "catalog.json").write_text(json.dumps(catalog, indent=2), encoding="utf-8")

    r = _cli("knative", "--check", "--functions", str(functions), "--events", str(events))
    assert r.returncode == 1
    assert "infra/knative/functions/deploy-probe.yaml: missing" in r.stderr
    assert "infra/knative/kafka/topics.yaml: differs" in r.stderr  # its dead-letter topic
    assert "run `kopru deploy render knative`" in r.stderr
    r = _cli("openfaas", "--check", "--functions", str(functions), "--events", str(events))
    assert r.returncode == 1
    assert "stack.yml: differs" in r.stderr


def test_a_trigger_in_code_that_the_catalog_lacks_is_refused(trees):
    functions, events = trees
    (functions / "deploy_probe").mkdir()
    (functions / "deploy_probe" / "main.py").write_text(PROBE, encoding="utf-8")
    r = _cli("knative", "--check", "--functions", str(functions), "--events", str(events))
    assert r.returncode == 2
    assert ("deploy-probe consumes kopru.tenant.onboarded.v1 in code, but events/catalog.json does not list "
            "deploy-probe among its consumers") in r.stderr


def test_a_catalog_consumer_the_code_lacks_is_refused(fixture_registry, fixture_catalog):
    reg = dict(fixture_registry)
    reg["sms-send"] = replace(reg["sms-send"], consumes=("kopru.sms.requested.v1",))
    with pytest.raises(RenderError, match="lists sms-send as a consumer of kopru.tenant.onboarded.v1, "
                                          "but sms-send declares no"):
        make_plan(reg, fixture_catalog)


def test_a_schedule_whose_type_the_function_does_not_consume_is_refused(fixture_registry, fixture_catalog):
    reg = dict(fixture_registry)
    reg["retention-purge"] = replace(reg["retention-purge"], consumes=())
    with pytest.raises(RenderError, match="schedules retention-purge with kopru.retention.tick.v1"):
        make_plan(reg, fixture_catalog)


def test_a_schedule_renders_only_for_an_existing_function(fixture_registry, fixture_catalog):
    present = render("knative", fixture_registry, fixture_catalog)
    assert "kind: PingSource" in present.files["infra/knative/functions/retention-purge.yaml"]
    scheduled = ("retention-purge", "sms-report", "einvoice-status", "payment", "webhooks-retry", "workflows-resume",
                 "credit-recover", "calls", "vehicles", "whatsapp-sweep")
    reg = {k: v for k, v in fixture_registry.items() if k not in scheduled}
    absent = render("knative", reg, fixture_catalog)
    assert set(absent.plan.skipped_schedules) == set(scheduled)
    assert not any("PingSource" in text for text in absent.files.values())
    stack = yaml.safe_load(render("openfaas", reg, fixture_catalog).files["stack.yml"])
    assert "retention-purge" not in stack["functions"]
    # the repository's own catalog schedules the purge, and the function exists
    from kopru.events.catalog import load_catalog

    assert "retention-purge" in load_catalog().schedules
    assert render("knative").plan.skipped_schedules == ()
    assert "kind: PingSource" in render("knative").files["infra/knative/functions/retention-purge.yaml"]


def test_openfaas_triggers(fixture_registry, fixture_catalog):
    stack = yaml.safe_load(render("openfaas", fixture_registry, fixture_catalog).files["stack.yml"])
    assert stack["version"] == "1.0" and stack["provider"]["name"] == "openfaas"
    fns = stack["functions"]
    assert set(fns) == set(fixture_registry)
    # no `topic` annotation: the connectors cannot send a sender token, Köprü's
    # dispatcher and ticker deliver (kopru_tools.deploy.openfaas)
    assert not any("topic" in f["annotations"] or "schedule" in f["annotations"] for f in fns.values())
    assert fns["sms-send"]["annotations"]["kopru.dev/event-topics"] == "kopru.sms,kopru.tenant"
    purge = fns["retention-purge"]["annotations"]
    # 03:00 in Istanbul (UTC+3 all year) is 00:00 UTC
    assert (purge["kopru.dev/schedule"], purge["kopru.dev/schedule-timezone"], purge["kopru.dev/schedule-utc"]) == (
        "0 3 * * *", "Europe/Istanbul", "0 0 * * *")
    assert not any(k.startswith("kopru.dev/") for k in fns["token"]["annotations"])
    for name, f in fns.items():
        assert f["lang"] == "dockerfile" and f["handler"] == "./infra/docker"
        assert f["environment"]["FUNCTION_SOURCE"] == f"functions/{fixture_registry[name].folder}/main.py"
        assert f["secrets"] == ["kopru-secrets"]
        labels = f["labels"]
        assert all(isinstance(v, str) for v in labels.values())
        assert labels["com.openfaas.scale.min"] == "1" and labels["com.openfaas.scale.zero"] == "true"
        assert int(labels["com.openfaas.scale.max"]) >= 1 and int(labels["com.openfaas.scale.target"]) > 0
        assert f["annotations"]["com.openfaas.health.http.path"] == "/healthz"


def test_a_consumer_and_schedule_at_once_is_refused_on_openfaas(fixture_registry, fixture_catalog):
    reg = dict(fixture_registry)
    reg["sms-send"] = replace(reg["sms-send"], consumes=reg["sms-send"].consumes + ("kopru.retention.tick.v1",))
    cat = replace(fixture_catalog, schedules={**fixture_catalog.schedules,
                                              "sms-send": replace(fixture_catalog.schedules["retention-purge"],
                                                                  function="sms-send")})
    render("knative", reg, cat)  # Knative has a PingSource and a KafkaSource side by side
    with pytest.raises(RenderError, match="either by Kafka or by a schedule"):
        render("openfaas", reg, cat)


def test_write_renders_and_removes_stale_files(tmp_path, fixture_registry, fixture_catalog):
    r = render("knative", fixture_registry, fixture_catalog)
    written = write(r, tmp_path)
    assert sorted(written) == sorted(r.files)
    assert differences(r, tmp_path) == []
    assert write(r, tmp_path) == []
    reg = {k: v for k, v in fixture_registry.items() if k != "sms-send"}
    r2 = render("knative", reg, fixture_catalog)
    assert "infra/knative/functions/sms-send.yaml: not rendered any more (stale)" in differences(r2, tmp_path)
    write(r2, tmp_path)
    assert not (tmp_path / "infra/knative/functions/sms-send.yaml").exists()
    assert differences(r2, tmp_path) == []


def test_cli_writes_under_root(tmp_path, capsys):
    assert main(["deploy", "render", "openfaas", "--root", str(tmp_path)]) == 0
    assert "wrote stack.yml" in capsys.readouterr().out
    assert (tmp_path / "stack.yml").read_text(encoding="utf-8") == (REPO / "stack.yml").read_text(encoding="utf-8")
    assert main(["deploy", "render", "openfaas", "--root", str(tmp_path), "--image", "r.example/k:1", "--check"]) == 1
    assert "stack.yml: differs" in capsys.readouterr().err


def test_catalog_schedules_are_validated(tmp_path):
    from kopru.events.catalog import load_catalog

    events = fixture_catalog_dir(tmp_path)
    raw = json.loads((events / "catalog.json").read_text(encoding="utf-8"))
    raw["schedules"]["retention-purge"]["cron"] = "0 27 * * *"
    (events / "catalog.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match="not a five-field numeric cron expression"):
        load_catalog(events)


def test_fixture_function_needs_no_renderer_change(fixture_registry, fixture_catalog):
    """A function the renderer has never heard of gets every object from its
    declaration alone."""
    reg = dict(fixture_registry)
    reg["breach-notice"] = FunctionInfo(name="breach-notice", source=REPO / "functions" / "breach_notice" / "main.py",
                                        routes=(("POST", "/breaches"),), consumes=())
    r = render("knative", reg, fixture_catalog)
    (svc,) = yaml.safe_load_all(r.files["infra/knative/functions/breach-notice.yaml"])
    env = {e["name"]: e["value"] for e in svc["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"FUNCTION_TARGET": "handle", "FUNCTION_SOURCE": "functions/breach_notice/main.py"}
    stack = yaml.safe_load(render("openfaas", reg, fixture_catalog).files["stack.yml"])
    assert stack["functions"]["breach-notice"]["environment"]["FUNCTION_SOURCE"] == "functions/breach_notice/main.py"
