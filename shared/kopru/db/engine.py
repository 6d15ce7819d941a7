"""Engines, the tenant-scoped transaction, and migrations.

The application engine is SQLAlchemy's synchronous engine on psycopg (a QueuePool),
and every statement runs in a worker thread of the engine's own; handlers
see an awaitable connection (`AsyncConn`: execute, exec_driver_sql, scalar,
scalars, begin_nested, run_sync). SQLAlchemy's asyncio extension would cost a cold
start its import (it pulls sqlalchemy.orm and greenlet: about 7 MiB and a third of
SQLAlchemy's import time) for no gain here: a transaction's statements are
sequential, and a thread hop costs about what a greenlet switch into the async
driver does. A transaction first takes one of the pool's slots in the event loop
(an asyncio semaphore as large as the pool), so a worker thread never waits for a
pooled connection and statements of open transactions always find a thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from kopru.config import settings
from kopru.logs import get_logger

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.engine import Connection, Engine

log = get_logger("kopru.db")

_urls_lock = threading.Lock()
_urls: tuple[str, str | None] | None = None
_engine_lock = threading.Lock()
_app_engine: "Engine | None" = None
POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT = 5, 10, 30.0
_executor: "ThreadPoolExecutor | None" = None
_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = weakref.WeakKeyDictionary()


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
    url = settings().relay_database_url
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


def _engine() -> "Engine":
    global _app_engine
    eng = _app_engine
    if eng is None:
        with _engine_lock:
            if _app_engine is None:
                from sqlalchemy import create_engine

                app_url, _ = database_urls()
                _app_engine = create_engine(
                    app_url,
                    pool_size=POOL_SIZE,
                    max_overflow=MAX_OVERFLOW,
                    pool_timeout=POOL_TIMEOUT,
                    pool_recycle=1800,
                    # statements are prepared server-side after a few uses (psycopg's default)
                )
            eng = _app_engine
    return eng


async def _ensure_engine() -> "Engine":
    if _app_engine is None:
        # first use: embedded start-up, migrations and the engine are blocking work
        return await _run(_engine)
    return _app_engine


def _threads() -> "ThreadPoolExecutor":
    global _executor
    if _executor is None:
        with _engine_lock:
            if _executor is None:
                from concurrent.futures import ThreadPoolExecutor

                _executor = ThreadPoolExecutor(POOL_SIZE + MAX_OVERFLOW, thread_name_prefix="kopru-db")
    return _executor


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in one of the engine's threads (with this task's context variables).
    Not abandoned on cancellation: the caller waits for the thread before the
    cancellation goes on, so a connection is never used by two threads at once and
    always goes back to the pool."""
    fut = asyncio.get_running_loop().run_in_executor(_threads(), contextvars.copy_context().run, fn, *args)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        while not fut.done():
            try:
                await asyncio.wait((fut,))
            except asyncio.CancelledError:
                pass
        if not fut.cancelled():
            fut.exception()  # retrieved: the cancellation is what goes on
        raise


async def _take_slot() -> asyncio.Semaphore:
    """One of the pool's connections for this transaction, waited for in the event
    loop (a thread never blocks in the pool); SQLAlchemy's pool TimeoutError after
    POOL_TIMEOUT seconds, as the pool itself would raise."""
    loop = asyncio.get_running_loop()
    sem = _slots.get(loop)
    if sem is None:
        sem = _slots[loop] = asyncio.Semaphore(POOL_SIZE + MAX_OVERFLOW)
    if not sem.locked():
        await sem.acquire()
        return sem
    try:
        await asyncio.wait_for(sem.acquire(), POOL_TIMEOUT)
    except asyncio.TimeoutError:
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        raise PoolTimeout(f"no database connection free within {POOL_TIMEOUT:.0f} s "
                          f"(pool_size {POOL_SIZE} + max_overflow {MAX_OVERFLOW})") from None
    return sem


async def dispose() -> None:
    global _app_engine
    eng, _app_engine = _app_engine, None
    if eng is not None:
        await _run(eng.dispose)


class AsyncConn:
    """The awaitable face of one pooled connection inside a transaction: the part of
    SQLAlchemy's AsyncConnection that Köprü uses, each call run in a worker thread.
    Results are psycopg client-side cursors (every row already received), so reading
    them in the event loop does no I/O."""

    __slots__ = ("sync_connection",)

    def __init__(self, sync_connection: "Connection"):
        self.sync_connection = sync_connection

    async def execute(self, statement: Any, parameters: Any = None, *, execution_options: Any = None):
        return await _run(partial(self.sync_connection.execute, statement, parameters,
                                  execution_options=execution_options))

    async def exec_driver_sql(self, statement: str, parameters: Any = None, execution_options: Any = None):
        return await _run(self.sync_connection.exec_driver_sql, statement, parameters, execution_options)

    async def scalar(self, statement: Any, parameters: Any = None, *, execution_options: Any = None):
        return (await self.execute(statement, parameters, execution_options=execution_options)).scalar()

    async def scalars(self, statement: Any, parameters: Any = None, *, execution_options: Any = None):
        return (await self.execute(statement, parameters, execution_options=execution_options)).scalars()

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(sync_connection, *args) in a worker thread."""
        return await _run(fn, self.sync_connection, *args)

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[Any]:
        """A SAVEPOINT: released when the block ends, rolled back (and the error
        raised again) when it raises; the enclosing transaction goes on."""
        sp = await _run(self.sync_connection.begin_nested)
        try:
            yield sp
        except BaseException:
            await _run(_end, sp, False)
            raise
        await _run(_end, sp, True)


def _end(trans: Any, ok: bool) -> None:
    if not trans.is_active:
        return
    if ok:
        trans.commit()
    else:
        trans.rollback()


def _connect(eng: "Engine", tenant_id: uuid.UUID | None, actor: str | None = None) -> "Connection":
    """Check a connection out, begin, and (for a tenant) scope it, with the actor the
    audit log's writer reads (`app.actor`): one thread hop."""
    conn = eng.connect()
    try:
        conn.begin()
        if tenant_id is not None:
            conn.execute(_set_tenant_actor(), {"tid": str(tenant_id), "actor": actor or ""})
    except BaseException:
        conn.close()
        raise
    return conn


def _finish(conn: "Connection", ok: bool) -> None:
    """Commit (ok) or roll back, and give the connection back to the pool."""
    try:
        trans = conn.get_transaction()
        if trans is not None:
            _end(trans, ok)
    finally:
        conn.close()


@asynccontextmanager
async def _transaction(tenant_id: uuid.UUID | None, actor: str | None = None) -> AsyncIterator[AsyncConn]:
    eng = await _ensure_engine()
    slot = await _take_slot()
    try:
        conn = await _run(_connect, eng, tenant_id, actor)
        try:
            yield AsyncConn(conn)
        except BaseException:
            await _run(_finish, conn, False)
            raise
        await _run(_finish, conn, True)
    finally:
        slot.release()


OutboxWriter = Callable[..., Any]
_OUTBOX_WRITER: OutboxWriter | None = None


def set_outbox_writer(writer: OutboxWriter) -> None:
    """Called by kopru.events at import: how `TenantTx.emit` writes an event."""
    global _OUTBOX_WRITER
    _OUTBOX_WRITER = writer


@dataclass
class TenantTx:
    """A transaction in which RLS shows one tenant's rows and nothing else."""

    conn: AsyncConn
    tenant_id: uuid.UUID
    actor: str

    async def execute(self, statement: Any, params: Any = None):
        return await self.conn.execute(statement, params)

    async def emit(self, type_: str, data: dict[str, Any], *, subject: str | None = None,
                   source: str | None = None) -> str:
        """Write an event to the outbox in this transaction; returns its id. The writer
        (catalog and schema checks, the CloudEvent extensions) is kopru.events', which
        registers it when imported: the arrow runs events -> db, never back."""
        if _OUTBOX_WRITER is None:
            raise RuntimeError("no outbox writer: import kopru.events (kopru.runtime does) before emitting")
        return await _OUTBOX_WRITER(self, type_, data, subject=subject, source=source)

    async def audit(self, action: str, target: str | None = None, details: dict[str, Any] | None = None) -> int:
        """Append to the tenant's audit chain (kopru.db.auditlog: the database assigns seq,
        time and actor, the application MACs the entry); returns its seq."""
        from kopru.db.auditlog import append

        return await append(self.conn, self.tenant_id, self.actor, action, target, details or {})


_SET_TENANT = None
_SET_TENANT_ACTOR = None
_STATEMENTS: dict[str, Any] = {}


def statement(name: str):
    """Hot-path statements, built once per process: building a SQLAlchemy construct
    costs more than executing its cached SQL."""
    st = _STATEMENTS.get(name)
    if st is None:
        from sqlalchemy.dialects.postgresql import insert

        from kopru.db.schema import inbox, outbox

        _STATEMENTS.update({
            "outbox_insert": outbox.insert(),
            "inbox_claim": insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id),
        })
        st = _STATEMENTS[name]
    return st


def _set_tenant():
    global _SET_TENANT
    if _SET_TENANT is None:
        from sqlalchemy import text

        _SET_TENANT = text("select set_config('app.tenant_id', :tid, true)")
    return _SET_TENANT


def _set_tenant_actor():
    global _SET_TENANT_ACTOR
    if _SET_TENANT_ACTOR is None:
        from sqlalchemy import text

        _SET_TENANT_ACTOR = text("select set_config('app.tenant_id', :tid, true), set_config('app.actor', :actor, true)")
    return _SET_TENANT_ACTOR


async def enter_tenant(conn: AsyncConn, tenant_id: uuid.UUID) -> None:
    """Scope the rest of this transaction to one tenant (a bound parameter, local to
    the transaction: the pooled connection forgets it at commit or rollback)."""
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a UUID")
    await conn.execute(_set_tenant(), {"tid": str(tenant_id)})


@asynccontextmanager
async def tenant_transaction(tenant_id: uuid.UUID, *, actor: str) -> AsyncIterator[TenantTx]:
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a UUID")
    if not actor:
        raise ValueError("a tenant transaction needs its actor (the audit log names it)")
    async with _transaction(tenant_id, actor) as conn:
        yield TenantTx(conn, tenant_id, actor)


@asynccontextmanager
async def platform_transaction() -> AsyncIterator[AsyncConn]:
    """A transaction with no tenant set: RLS hides every tenant row; only the
    platform tables (directories, signing keys, platform clients) are reachable."""
    async with _transaction(None) as conn:
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


def head_revision() -> str:
    """The newest migration's revision (what `migrate` brings a database to)."""
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def migrate() -> None:
    """Apply migrations as the owner role (a separate step in production: a Job)."""
    s = settings()
    if s.database_url:
        if not s.database_owner_url:
            raise SystemExit("DATABASE_OWNER_URL is required to run migrations")
        _run_migrations(_driver(s.database_owner_url))
    else:
        database_urls()  # embedded: bootstrap includes migrations
