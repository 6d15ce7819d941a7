"""Operator actions that run as the owner role (CLI, jobs): never from a handler."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any


def _owner_engine():
    from kopru.db.engine import owner_engine

    return owner_engine("operator actions")


def create_platform_client(name: str) -> tuple[str, str]:
    from kopru.auth.crypto import hash_secret, new_client_id, new_client_secret
    from kopru.auth.principal import OPERATOR_SCOPE
    from kopru.db.schema import client_directory, platform_clients

    client_id, secret = new_client_id(), new_client_secret()
    eng = _owner_engine()
    with eng.begin() as conn:
        conn.execute(client_directory.insert().values(client_id=client_id, tenant_id=None))
        conn.execute(platform_clients.insert().values(
            client_id=client_id, name=name, secret_hash=hash_secret(secret), scopes=[OPERATOR_SCOPE]))
    eng.dispose()
    return client_id, secret


MIN_GIVEN_SECRET = 43  # secrets.token_urlsafe(32): 256 bits


def ensure_platform_client(client_id: str, secret: str, name: str = "operator") -> None:
    """Register a given operator id/secret (KOPRU_OPERATOR_CLIENT_ID/SECRET) if absent. The
    secret must be at least as long as a minted one's random part (43 characters): the token
    endpoint never locks a client out for wrong secrets (kopru.auth.oauth), so it rests on
    a secret nobody can guess."""
    if len(secret) < MIN_GIVEN_SECRET:
        raise SystemExit(f"KOPRU_OPERATOR_CLIENT_SECRET must be at least {MIN_GIVEN_SECRET} characters "
                         "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    from sqlalchemy import select

    from kopru.auth.crypto import hash_secret
    from kopru.auth.principal import OPERATOR_SCOPE
    from kopru.db.schema import client_directory, platform_clients

    eng = _owner_engine()
    with eng.begin() as conn:
        row = conn.execute(select(platform_clients.c.secret_hash).where(platform_clients.c.client_id == client_id)).first()
        if row is None:
            conn.execute(client_directory.insert().values(client_id=client_id, tenant_id=None))
            conn.execute(platform_clients.insert().values(
                client_id=client_id, name=name, secret_hash=hash_secret(secret), scopes=[OPERATOR_SCOPE]))
        elif bytes(row.secret_hash) != hash_secret(secret):
            conn.execute(platform_clients.update().where(platform_clients.c.client_id == client_id)
                         .values(secret_hash=hash_secret(secret), revoked_at=None))
    eng.dispose()


def rotate_signing_key(alg: str = "ES256", *, immediate: bool = False) -> dict[str, Any]:
    """Add the next key; it is published now and signs after PUBLISH_AHEAD (or now,
    when there is no key yet or `immediate`). The previous key retires then and stays
    published until its last token expired."""
    from sqlalchemy import select

    from kopru.auth.keys import LEEWAY_SECONDS, PUBLISH_AHEAD, generate
    from kopru.config import settings
    from kopru.db.schema import signing_keys as sk

    now = datetime.now(timezone.utc)
    kid, jwk, sealed = generate(alg)
    eng = _owner_engine()
    with eng.begin() as conn:
        current = conn.execute(
            select(sk.c.kid).where(sk.c.retired_at.is_(None)).order_by(sk.c.signs_from.desc())
        ).scalars().all()
        starts = now if (immediate or not current) else now + PUBLISH_AHEAD
        conn.execute(sk.insert().values(kid=kid, alg=alg, public_jwk=jwk, private_key_enc=sealed, signs_from=starts))
        expires = starts + timedelta(seconds=settings().access_token_ttl + LEEWAY_SECONDS)
        for old in current:
            conn.execute(sk.update().where(sk.c.kid == old).values(retired_at=starts, expires_at=expires))
    eng.dispose()
    return {"kid": kid, "alg": alg, "signs_from": starts.isoformat(), "retired": current}


def ensure_signing_key() -> None:
    from sqlalchemy import func, select

    from kopru.db.schema import signing_keys as sk

    eng = _owner_engine()
    with eng.connect() as conn:
        n = conn.execute(select(func.count()).select_from(sk).where(sk.c.retired_at.is_(None))).scalar()
    eng.dispose()
    if not n:
        rotate_signing_key(immediate=True)


def _tenant_conn(conn, tenant_id):
    from sqlalchemy import text

    conn.execute(text("select set_config('app.tenant_id', :tid, true)"), {"tid": str(tenant_id)})


def create_tenant_client_admin(tenant_id, name: str, scopes: list[str] | None = None) -> tuple[str, str]:
    """An API client for a tenant, created by an operator (owner role, tenant set by RLS)."""
    from sqlalchemy import select

    from kopru.auth.clients import DEFAULT_TENANT_SCOPES, TENANT_SCOPES
    from kopru.auth.crypto import hash_secret, new_client_id, new_client_secret
    from kopru.db.schema import api_clients, client_directory, tenants

    wanted = sorted(set(scopes)) if scopes else list(DEFAULT_TENANT_SCOPES)
    if not set(wanted) <= TENANT_SCOPES:
        raise SystemExit(f"unknown scopes: {sorted(set(wanted) - TENANT_SCOPES)}")
    cid, secret = new_client_id(), new_client_secret()
    eng = _owner_engine()
    with eng.begin() as conn:
        _tenant_conn(conn, tenant_id)
        if conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is None:
            raise SystemExit(f"no tenant {tenant_id}")
        conn.execute(client_directory.insert().values(client_id=cid, tenant_id=tenant_id))
        conn.execute(api_clients.insert().values(client_id=cid, tenant_id=tenant_id, name=name,
                                                 secret_hash=hash_secret(secret), scopes=wanted))
    eng.dispose()
    return cid, secret


def list_clients_admin(tenant_id=None) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from kopru.db.schema import api_clients as ac, platform_clients as pc

    eng = _owner_engine()
    with eng.begin() as conn:
        if tenant_id is None:
            rows = conn.execute(select(pc.c.client_id, pc.c.name, pc.c.scopes, pc.c.created_at, pc.c.revoked_at)).all()
        else:
            _tenant_conn(conn, tenant_id)
            rows = conn.execute(select(ac.c.client_id, ac.c.name, ac.c.scopes, ac.c.created_at, ac.c.revoked_at)).all()
    eng.dispose()
    return [{"client_id": r.client_id, "name": r.name, "scopes": list(r.scopes), "created_at": r.created_at.isoformat(),
             "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None} for r in rows]


def revoke_client_admin(client_id: str) -> bool:
    from sqlalchemy import func, select, update

    from kopru.db.schema import api_clients as ac, client_directory as cd, platform_clients as pc, refresh_tokens as rt

    eng = _owner_engine()
    with eng.begin() as conn:
        entry = conn.execute(select(cd.c.tenant_id).where(cd.c.client_id == client_id)).first()
        if entry is None:
            return False
        if entry.tenant_id is None:
            n = conn.execute(update(pc).where(pc.c.client_id == client_id).values(revoked_at=func.now())).rowcount
        else:
            _tenant_conn(conn, entry.tenant_id)
            n = conn.execute(update(ac).where(ac.c.client_id == client_id).values(revoked_at=func.now())).rowcount
            conn.execute(update(rt).where(rt.c.client_id == client_id).where(rt.c.revoked_at.is_(None))
                         .values(revoked_at=func.now()))
    eng.dispose()
    from kopru.auth.clients import forget_client

    forget_client(client_id)  # this process; others within KOPRU_CLIENT_CACHE_TTL
    return bool(n)
