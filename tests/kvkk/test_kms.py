"""Tenant keys wrapped by AWS KMS (boto3) when KOPRU_KMS_KEY_ID is set, on a moto
server over HTTP: new tenant keys are KMS ciphertext bound to the tenant by the
encryption context, the master key alone cannot open them, older master-sealed keys
keep working, and KMS is asked once per tenant per warm instance."""

from __future__ import annotations

import socket

import pytest

from kopru.db import tenant_transaction
from kopru.kvkk import find_subject
from kopru.kvkk import subjects as subj
from tests.kvkk.conftest import PHONE


@pytest.fixture
def kms(monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for k, v in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                 "AWS_DEFAULT_REGION": "eu-central-1"}.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("kms")
    key_id = client.create_key(Description="kopru tenant keys")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("KOPRU_KMS_KEY_ID", key_id)
    subj.reset_kms()
    calls = []
    real = subj._kms()
    real_kms = subj._kms

    class Counting:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(real, name)

    monkeypatch.setattr(subj, "_kms", lambda: Counting())
    yield {"client": client, "key_id": key_id, "calls": calls}
    real_kms.cache_clear()
    subj._KEY_CACHE.clear()
    from kopru.config import reset_settings

    reset_settings()  # KOPRU_KMS_KEY_ID goes with the monkeypatch: read the environment again
    server.stop()


async def test_tenant_keys_wrapped_by_kms(kms, onboard, consents_api, db):
    from kopru.auth.crypto import unseal

    old = await onboard()  # a tenant whose key was sealed by the master key, before KMS
    t = await onboard()
    r = await consents_api.record(t["token"])
    assert r.status_code == 201, r.text
    wrapped = bytes(db.execute("select wrapped_key from tenant_keys where tenant_id = %s", (str(t["id"]),)).fetchone()[0])
    assert wrapped[:1] == b"\x02" and "encrypt" in kms["calls"]
    with pytest.raises(Exception):
        unseal(wrapped, str(t["id"]).encode())  # the master key alone opens nothing
    # the KMS ciphertext is bound to its tenant: under another tenant's context KMS refuses it
    with pytest.raises(Exception):
        kms["client"].decrypt(CiphertextBlob=wrapped[1:], EncryptionContext=subj._context(old["id"]))
    # a cold instance asks KMS once, then serves from its cache
    subj._KEY_CACHE.clear()
    kms["calls"].clear()
    for _ in range(3):
        async with tenant_transaction(t["id"], actor="test") as tx:
            ref = await find_subject(tx, "phone", PHONE)
            assert ref is not None and ref.key is not None
    assert kms["calls"].count("decrypt") == 1
    # keys sealed by the master key before KMS was configured still open
    async with tenant_transaction(old["id"], actor="test") as tx:
        keys = await subj.tenant_keys(tx)
    assert len(keys.key) == 32
