"""`kopru client …` and `kopru keys rotate`, run in process against the test database."""

import json

from kopru.runtime.cli import main
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
