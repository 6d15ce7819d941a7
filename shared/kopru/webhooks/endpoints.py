"""A tenant's webhook endpoints: register (the secret answered once), read, list, change,
disable/enable, delete, rotate the secret.

Which event types an endpoint may take is the catalog's word: the types whose consumers
include the `webhooks` function (events/catalog.json). `*` is not accepted: a type added to
the catalog later must not start flowing to a receiver nobody chose it for, and a type
that names a data subject (its schema has `subject_id`) may go only to an endpoint
registered with `personal_data: true` and a `purpose` (a disclosure to a third party under
KVKK, recorded per delivery and shown in the subject's export).

The signing secret is `whsec_` + base64 of 32 random bytes (the Standard Webhooks format),
sealed under the master key with the tenant and endpoint as associated data; it is in the
answer of the create and of a rotation, and never again. After a rotation the old secret
signs beside the new one (two `v1,` signatures in `webhook-signature`) for
`ROTATION_WINDOW`, so a receiver can switch keys without dropping a delivery.
"""

from __future__ import annotations

import base64
import json
import secrets as _secrets
import uuid
from datetime import timedelta
from typing import Any

from kopru.errors import KopruError

ROTATION_WINDOW = timedelta(hours=24)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(_secrets.token_bytes(32)).decode()


def _aad(tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> bytes:
    return f"{tenant_id}:webhook:{endpoint_id}".encode()


def seal_secrets(tenant_id: uuid.UUID, endpoint_id: uuid.UUID, current: str, previous: str | None) -> bytes:
    from kopru.auth.crypto import seal

    return seal(json.dumps({"current": current, "previous": previous}).encode(), aad=_aad(tenant_id, endpoint_id))


def open_secrets(tenant_id: uuid.UUID, endpoint_id: uuid.UUID, blob: bytes) -> dict[str, str | None]:
    from kopru.auth.crypto import unseal

    return json.loads(unseal(bytes(blob), aad=_aad(tenant_id, endpoint_id)))


def view(row) -> dict[str, Any]:
    """An endpoint as the tenant sees it: never its secret."""
    return {"id": str(row.id), "url": row.url, "description": row.description, "event_types": list(row.event_types),
            "filter": row.filter, "personal_data": row.personal_data, "purpose": row.purpose,
            "enabled": row.enabled, "disabled_reason": row.disabled_reason, "failing_since": row.failing_since,
            "previous_secret_until": row.previous_secret_until, "created_at": row.created_at,
            "updated_at": row.updated_at}


def _filter(value: list[dict[str, Any]] | None):
    """The `filter` column's parameter: the list as jsonb, none as a JSON null (as the
    SQLAlchemy JSONB column sent it)."""
    from psycopg.types.json import Jsonb

    return Jsonb(value)


async def _row(tx, endpoint_id: uuid.UUID, *, lock: bool = False):
    row = (await tx.execute("select * from webhook_endpoints where id = %(id)s" + (" for update" if lock else ""),
                            {"id": endpoint_id})).first()
    if row is None:
        raise KopruError("webhook.endpoint_not_found")
    return row


async def create(ctx, body, idempotency_key: str | None) -> dict[str, Any]:
    """Register an endpoint; the answer carries its secret, once (a repeat of the same
    Idempotency-Key answers the same endpoint with `secret: null`)."""
    from kopru.webhooks.guard import check_resolves
    from kopru.work import idempotency

    await check_resolves(body.url)
    material = body.model_dump(mode="json")
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, "POST /webhooks/endpoints", idempotency_key, material)
        if slot.replay is not None:
            row = await _row(tx, uuid.UUID(slot.replay[1]["id"]))
            return {**view(row), "secret": None, "replayed": True}
        endpoint_id = uuid.uuid4()
        secret = new_secret()
        await tx.conn.queue(
            "insert into webhook_endpoints (id, tenant_id, url, description, event_types, filter, personal_data, "
            "purpose, enabled, secret_enc) values (%(id)s, %(tid)s, %(url)s, %(description)s, %(event_types)s, "
            "%(filter)s, %(personal_data)s, %(purpose)s, true, %(secret_enc)s)",
            {"id": endpoint_id, "tid": tx.tenant_id, "url": body.url, "description": body.description,
             "event_types": list(body.event_types), "filter": _filter(body.filter or None),
             "personal_data": body.personal_data, "purpose": body.purpose,
             "secret_enc": seal_secrets(tx.tenant_id, endpoint_id, secret, None)})
        await tx.audit("webhook.endpoint_created", target=str(endpoint_id),
                       details={"event_types": list(body.event_types), "personal_data": body.personal_data})
        await slot.save(201, {"id": str(endpoint_id)})
        row = await _row(tx, endpoint_id)
    return {**view(row), "secret": secret}


async def read(ctx, endpoint_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.transaction() as tx:
        return view(await _row(tx, endpoint_id))


async def listing(ctx, limit: int, cursor: str | None) -> dict[str, Any]:
    """The tenant's endpoints in the order they were registered (kopru.pages)."""

    from kopru import pages

    scope = f"webhook_endpoints:{ctx.tenant_id}"
    q, params = pages.keyset_sql("select * from webhook_endpoints where true", {}, "created_at", "id", scope, cursor, limit,
                                 key_type=uuid.UUID)
    async with ctx.transaction() as tx:
        rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.created_at, r.id))
    return {"endpoints": [view(r) for r in rows], "next_cursor": pages.encode(scope, *last) if last else None}


async def change(ctx, endpoint_id: uuid.UUID, patch) -> dict[str, Any]:
    """PATCH: the fields given; `enabled: true` enables a disabled endpoint again (its
    failure clock restarts), `false` disables it."""
    from kopru.webhooks.guard import check_resolves
    from kopru.webhooks.types import check_personal as _personal

    given = patch.model_dump(exclude_unset=True)
    if given.get("url") is not None:
        await check_resolves(given["url"])
    async with ctx.transaction() as tx:
        row = await _row(tx, endpoint_id, lock=True)
        values: dict[str, Any] = {}
        for k in ("url", "description", "event_types", "personal_data", "purpose"):
            if given.get(k) is not None:
                values[k] = given[k]
        if "filter" in given:
            values["filter"] = given["filter"] or None
        personal = values.get("personal_data", row.personal_data)
        try:
            _personal(personal, values.get("purpose", row.purpose),
                      values.get("event_types", list(row.event_types)))
        except ValueError as err:
            raise KopruError(str(err)) from None
        if given.get("enabled") is True and not row.enabled:
            values.update(enabled=True, disabled_reason=None, failing_since=None)
        elif given.get("enabled") is False and row.enabled:
            values.update(enabled=False, disabled_reason="manual")
        if values:  # the names are this function's own (above), the values parameters
            sets = ", ".join(f"{k} = %({k})s" for k in values)
            params = {**values, "filter": _filter(values["filter"])} if "filter" in values else dict(values)
            await tx.conn.queue(f"update webhook_endpoints set {sets}, updated_at = now() where id = %(id)s",
                                {**params, "id": endpoint_id})
            await tx.audit("webhook.endpoint_changed", target=str(endpoint_id), details={"fields": sorted(values)})
        return view(await _row(tx, endpoint_id))


async def delete(ctx, endpoint_id: uuid.UUID) -> None:
    """The endpoint goes; its delivery log stays (for its retention) without it."""
    async with ctx.transaction() as tx:
        await _row(tx, endpoint_id, lock=True)
        await tx.conn.queue("delete from webhook_endpoints where id = %(id)s", {"id": endpoint_id})
        await tx.audit("webhook.endpoint_deleted", target=str(endpoint_id), details={})


async def rotate(ctx, endpoint_id: uuid.UUID) -> dict[str, Any]:
    """A new secret, answered once; the current one keeps signing beside it until
    `previous_secret_until` (ROTATION_WINDOW)."""
    async with ctx.transaction() as tx:
        row = await _row(tx, endpoint_id, lock=True)
        current = open_secrets(tx.tenant_id, endpoint_id, row.secret_enc)["current"]
        secret = new_secret()
        await tx.conn.queue(
            "update webhook_endpoints set secret_enc = %(secret_enc)s, previous_secret_until = now() + %(window)s, "
            "updated_at = now() where id = %(id)s",
            {"id": endpoint_id, "secret_enc": seal_secrets(tx.tenant_id, endpoint_id, secret, current),
             "window": ROTATION_WINDOW})
        await tx.audit("webhook.secret_rotated", target=str(endpoint_id), details={})
        row = await _row(tx, endpoint_id)
    return {**view(row), "secret": secret}
