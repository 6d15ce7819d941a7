"""Fixtures for the deployment tests: the committed manifests, a fixture registry
and catalog with the kinds of function the repository does not have yet (a Kafka
consumer, a scheduled function), and faas-cli built from its Go module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from kopru.runtime.registry import FunctionInfo, functions
from tests.deploy.schemas import REPO, load_docs

FAAS_CLI = REPO / "scripts" / "faas-cli"


@pytest.fixture(scope="session")
def knative_files() -> dict[str, list[dict]]:
    """infra/knative/**.yaml as committed: path -> documents."""
    root = REPO / "infra" / "knative"
    files = {p.relative_to(REPO).as_posix(): load_docs(p) for p in sorted(root.rglob("*.yaml"))}
    assert files, "infra/knative/ is empty: run `kopru deploy render knative`"
    return files


@pytest.fixture(scope="session")
def knative_docs(knative_files) -> list[dict]:
    return [d for docs in knative_files.values() for d in docs]


def fixture_catalog_dir(tmp: Path) -> Path:
    """The repository's catalog plus an SMS topic (one type consumed by sms-send, one
    consumed by webhooks only, as in the repository) and the retention purge's schedule."""
    events = tmp / "events"
    shutil.copytree(REPO / "events", events)
    raw = json.loads((events / "catalog.json").read_text(encoding="utf-8"))
    raw["topics"]["kopru.sms"] = {"partitions": 12, "retention_ms": 1209600000}
    raw["events"]["kopru.sms.requested.v1"] = {"topic": "kopru.sms", "producer": "sms-send",
                                               "consumers": ["sms-send"]}
    raw["events"]["kopru.sms.sent.v1"] = {"topic": "kopru.sms", "producer": "sms-send", "consumers": ["webhooks"]}
    raw["events"]["kopru.tenant.onboarded.v1"]["consumers"] = ["sms-send"]
    raw.setdefault("schedules", {})["retention-purge"] = {"cron": "0 3 * * *", "type": "kopru.retention.tick.v1"}
    (events / "catalog.json").write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return events


@pytest.fixture(scope="session")
def fixture_catalog(tmp_path_factory):
    from kopru.events.catalog import load_catalog

    return load_catalog(fixture_catalog_dir(tmp_path_factory.mktemp("catalog")))


@pytest.fixture(scope="session")
def fixture_registry() -> dict[str, FunctionInfo]:
    """The real functions plus two that do not exist yet, declared as the registry
    would report them."""
    reg = dict(functions())
    reg["sms-send"] = FunctionInfo(
        name="sms-send", source=REPO / "functions" / "sms_send" / "main.py",
        routes=(("POST", "/sms"), ("GET", "/sms/{id}")),
        consumes=("kopru.sms.requested.v1", "kopru.tenant.onboarded.v1"))
    reg["retention-purge"] = FunctionInfo(
        name="retention-purge", source=REPO / "functions" / "retention_purge" / "main.py",
        routes=(), consumes=("kopru.retention.tick.v1",))
    return reg


def clean_env(**extra: str) -> dict[str, str]:
    """A minimal environment: faas-cli substitutes ${VAR} from it, so the test
    session's own variables (KAFKA_BOOTSTRAP_SERVERS…) must not leak in."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "KOPRU_CACHE_DIR", "GOPATH", "GOMODCACHE", "GOCACHE",
                                      "GOPROXY", "GOFLAGS", "GOTOOLCHAIN") if k in os.environ}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def faas_cli() -> Path:
    """scripts/faas-cli, with its binary built (once, cached). Fails, never skips,
    when Go or the build is missing."""
    started = time.monotonic()
    r = subprocess.run([str(FAAS_CLI), "version", "--warn-update=false"], capture_output=True, text=True,
                       timeout=1200, env=clean_env())
    if r.returncode != 0 or "0.13.14" not in r.stdout:
        pytest.fail(f"faas-cli could not be built or run (exit {r.returncode}):\n{r.stderr[-3000:]}")
    took = time.monotonic() - started
    if took > 5:
        print(f"\nfaas-cli built in {took:.0f}s")
    return FAAS_CLI


def run_faas_cli(faas_cli: Path, *args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(faas_cli), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=clean_env(**env))
