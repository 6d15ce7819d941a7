"""Engines, the tenant-scoped transaction, and migrations."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator

from kopru.config import settings
from kopru.logs import get_logger

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = get_logger("kopru.db")

_urls_lock = threading.Lock()
_urls: tuple[str, str | None] | None = None
_engines: dict[int, "AsyncEngine"] = {}


def database_urls() -> tuple[str, str | None]:
    """(application URL, owner URL). With no DATABASE_URL, starts the embedded
    PostgreSQL, creates the roles and applies migrations, once per process."""
    global _urls
    with _urls_lock:
        if _urls is None:
            s = settings()
            if s.database_url:
                _urls = (_driver(s.database_url), _driver(s.database_owner_url) if s.database_owner_url else None)
            else:
                from kopru.db import embedded

                app, owner = embedded.bootstrap(embedded.postgres_superuser_uri(s.data_dir))
                _run_migrations(owner)
                _urls = (app, owner)
        return _urls


def relay_database_url() -> str:
    """The outbox relay's role (reads every tenant's pending outbox rows, nothing else)."""
    url = os.environ.get("RELAY_DATABASE_URL")
    if url:
        return _driver(url)
    if settings().database_url:
        raise RuntimeError("RELAY_DATABASE_URL is required when DATABASE_URL is set")
    from kopru.db import embedded

    return embedded.relay_url(database_urls()[0])


def _driver(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _engine() -> "AsyncEngine":
    loop = asyncio.get_running_loop()
    eng = _engines.get(id(loop))
    if eng is None:
        from sqlalchemy.ext.asyncio import create_async_engine

        app_url, _ = database_urls()
        eng = create_async_engine(
            app_url,
            pool_size=5,
            max_overflow=10,
            pool_recycle=1800,
            # statements are prepared server-side after a few uses (psycopg's default)
        )
        _engines.clear()  # engines of a finished loop can't be reused
        _engines[id(loop)] = eng
    return eng


async def _ensure_engine() -> "AsyncEngine":
    if _urls is None:
        # first use: embedded start-up and migrations are blocking work
        await asyncio.to_thread(database_urls)
    return _engine()


async def dispose() -> None:
    for eng in list(_engines.values()):
        await eng.dispose()
    _engines.clear()


@dataclass
class TenantTx:
    """A transaction in which RLS shows one tenant's rows and nothing else."""

    conn: "AsyncConnection"
    tenant_id: uuid.UUID
    actor: str

    async def execute(self, statement: Any, params: Any = None):
        return await self.conn.execute(statement, params)

    async def emit(self, type_: str, data: dict[str, Any], *, subject: str | None = None,
                   source: str | None = None) -> str:
        """Write an event to the outbox in this transaction; returns its id."""
        from kopru.events import write_outbox

        return await write_outbox(self, type_, data, subject=subject, source=source)

    async def audit(self, action: str, target: str | None = None, details: dict[str, Any] | None = None) -> None:
        """Append to the tenant's audit log (the application role may only insert)."""
        await self.conn.execute(statement("audit_insert"), {
            "tenant_id": self.tenant_id, "actor": self.actor, "action": action, "target": target,
            "details": details or {}})


_SET_TENANT = None
_STATEMENTS: dict[str, Any] = {}


def statement(name: str):
    """Hot-path statements, built once per process: building a SQLAlchemy construct
    costs more than executing its cached SQL."""
    st = _STATEMENTS.get(name)
    if st is None:
        from sqlalchemy.dialects.postgresql import insert

        from kopru.db.schema import audit_log, inbox, outbox

        _STATEMENTS.update({
            "audit_insert": audit_log.insert(),
            "outbox_insert": outbox.insert(),
            "inbox_claim": insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id),
        })
        st = _STATEMENTS[name]
    return st


async def enter_tenant(conn: "AsyncConnection", tenant_id: uuid.UUID) -> None:
    """Scope the rest of this transaction to one tenant (a bound parameter, local to
    the transaction: the pooled connection forgets it at commit or rollback)."""
    global _SET_TENANT
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a UUID")
    if _SET_TENANT is None:
        from sqlalchemy import text

        _SET_TENANT = text("select set_config('app.tenant_id', :tid, true)")
    await conn.execute(_SET_TENANT, {"tid": str(tenant_id)})


@asynccontextmanager
async def tenant_transaction(tenant_id: uuid.UUID, *, actor: str) -> AsyncIterator[TenantTx]:
    eng = await _ensure_engine()
    async with eng.begin() as conn:
        await enter_tenant(conn, tenant_id)
        yield TenantTx(conn, tenant_id, actor)


def scoped(principal, tenant_id: uuid.UUID | None = None):
    """The caller's tenant transaction: a tenant principal gets its own tenant only;
    a platform operator must name one (see Principal.tenant_for)."""
    return tenant_transaction(principal.tenant_for(tenant_id), actor=principal.subject)


@asynccontextmanager
async def platform_transaction() -> AsyncIterator["AsyncConnection"]:
    """A transaction with no tenant set: RLS hides every tenant row; only the
    platform tables (directories, signing keys, platform clients) are reachable."""
    eng = await _ensure_engine()
    async with eng.begin() as conn:
        yield conn


# -- migrations ----------------------------------------------------------------

def _run_migrations(owner_url: str) -> None:
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    here = Path(__file__).parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(here))
    cfg.attributes["url"] = owner_url
    command.upgrade(cfg, "head")


def migrate() -> None:
    """Apply migrations as the owner role (a separate step in production: a Job)."""
    s = settings()
    if s.database_url:
        if not s.database_owner_url:
            raise SystemExit("DATABASE_OWNER_URL is required to run migrations")
        _run_migrations(_driver(s.database_owner_url))
    else:
        database_urls()  # embedded: bootstrap includes migrations
