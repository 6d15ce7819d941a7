"""`kopru client …` and `kopru keys rotate`, run in process against the test database."""

import json

from kopru_tools.cli import main
from tests.helpers import grant


async def test_client_create_list_revoke(client, onboard, capsys):
    import asyncio

    t = await onboard()
    assert await asyncio.to_thread(main, ["client", "create", "--tenant", str(t["id"]), "--name", "cli",
                                          "--scope", "sms:send"]) == 0
    made = json.loads(capsys.readouterr().out)
    tok = await grant(client, made["client_id"], made["client_secret"])
    assert tok["scope"] == "sms:send"
    assert await asyncio.to_thread(main, ["client", "list", "--tenant", str(t["id"])]) == 0
    listed = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert {c["client_id"] for c in listed} == {t["client_id"], made["client_id"]}
    assert await asyncio.to_thread(main, ["client", "revoke", made["client_id"]]) == 0
    r = await client("token").post("/oauth2/token", data={"grant_type": "client_credentials"},
                                   auth=(made["client_id"], made["client_secret"]))
    assert r.status_code == 401
    assert await asyncio.to_thread(main, ["client", "revoke", "kc_nope"]) == 1
    assert await asyncio.to_thread(main, ["client", "create", "--name", "x"]) == 2


def test_dev_json_points_the_cli_at_kopru_devs_simulators_and_production_is_never_a_fallback(
        services, monkeypatch, tmp_path):
    """With kopru dev's embedded data, a provider without a URL is refused, never
    production; a running `kopru dev` lends the CLI its simulators through dev.json; a
    stale dev.json (its process gone) lends nothing."""
    import os
    import subprocess
    import sys

    import pytest

    from kopru.config import reset_settings, settings
    from kopru.connectors import netgsm, nilvera
    from kopru.errors import KopruError
    from kopru_tools.cli import _use_dev_json

    data = tmp_path / "data"
    data.mkdir()
    for env in ("NETGSM_BASE_URL", "NILVERA_BASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("KOPRU_DATA_DIR", str(data))
    reset_settings()
    try:
        assert settings().embedded
        for make in (lambda: netgsm.NetgsmClient(), lambda: nilvera.NilveraClient("k" * 16)):
            with pytest.raises(KopruError) as e:
                make()
            assert e.value.code == "integration.no_dev_endpoint" and e.value.http_status == 503
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        dev = {"gateway": "http://127.0.0.1:18080", "pid": int(dead.stdout), "providers": {
            "netgsm": {"base_url": "http://127.0.0.1:18081", "simulator": True},
            "nilvera": {"base_url": "http://127.0.0.1:18082", "simulator": True}}}
        (data / "dev.json").write_text(json.dumps(dev))
        _use_dev_json()
        assert "NETGSM_BASE_URL" not in os.environ  # its process is gone: nothing lent
        (data / "dev.json").write_text(json.dumps({**dev, "pid": os.getpid()}))
        _use_dev_json()
        assert netgsm.NetgsmClient().base_url == "http://127.0.0.1:18081"
        assert settings().nilvera_base_url == "http://127.0.0.1:18082"
        # an operator's real database: the providers' own production URLs
        monkeypatch.delenv("NETGSM_BASE_URL")
        monkeypatch.setenv("DATABASE_URL", "postgresql://kopru@db.invalid/kopru")
        reset_settings()
        assert netgsm.base_url_from_env() == netgsm.DEFAULT_BASE_URL
    finally:
        monkeypatch.undo()
        reset_settings()


def _walk(parser, path=()):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                assert helps.get(name), f"kopru {' '.join(path + (name,))}: no help line in its parent's list"
                yield from _walk(child, path + (name,))


def test_every_subcommand_has_a_description_and_its_environment():
    """Walk the whole argparse tree: every command and subcommand is listed with a help line,
    has a description in its own --help, and names the environment it reads; and every
    variable named is one kopru.config reads."""
    import re

    from kopru_tools.cli import build_parser
    from tests.conftest import REPO

    config = (REPO / "shared" / "kopru" / "config.py").read_text(encoding="utf-8")
    seen = 0
    for path, parser in _walk(build_parser()):
        if not path:
            continue
        seen += 1
        text = parser.format_help()
        assert parser.description and parser.description in text, f"kopru {' '.join(path)}: no description"
        m = re.search(r"^environment: (.*)$", text, re.M)
        assert m, f"kopru {' '.join(path)}: no environment in --help"
        for name in filter(None, (n.strip() for n in m.group(1).split(","))):
            if name != "none":
                assert f'"{name}"' in config, f"kopru {' '.join(path)}: {name} is not read by kopru.config"
    assert seen >= 40


def test_every_command_that_prints_a_result_takes_json(capsys):
    """`--json` works on every command with a result (servers and document writers aside);
    the ones that print text by default print one JSON document with it."""
    import argparse
    import json

    from kopru_tools.cli import _NO_JSON, build_parser, main

    def leaves(parser, prefix=()):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, child in a.choices.items():
                    inner = [x for x in child._actions if isinstance(x, argparse._SubParsersAction)]
                    yield from (leaves(child, prefix + (name,)) if inner else [(prefix + (name,), child)])

    seen = 0
    for path, child in leaves(build_parser()):
        takes = any("--json" in a.option_strings for a in child._actions)
        assert takes != (path in _NO_JSON), f"kopru {' '.join(path)}: --json"
        seen += 1
    assert seen >= 25
    capsys.readouterr()
    assert main(["events", "token", "--function", "sms-send", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["function"] == "sms-send" and got["token"].count(".") == 2
    assert main(["deploy", "render", "knative", "--check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target"] == "knative" and out["stale"] == [] and out["files"] > 10
