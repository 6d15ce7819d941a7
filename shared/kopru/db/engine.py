"""The one way to PostgreSQL for data: the tenant-scoped transaction on psycopg 3's
native async connections, and migrations.

A small pool per event loop (`Pool`: at most POOL_SIZE + MAX_OVERFLOW connections, POOL_SIZE
kept idle, waited for in the loop) hands a transaction one `psycopg.AsyncConnection`
(autocommit off in effect: the transaction sends its own BEGIN/COMMIT). Statements go in
pipeline mode: BEGIN and `set_config('app.tenant_id', .., true)`/`app.actor` go out with
the first statement in one round trip, a statement whose answer is read waits for it
(that Sync also leaves pipeline mode; the next statement enters it again, no I/O), and
writes nobody reads (the outbox row, the audit seal: `AsyncConn.queue`) travel with the
next statement or the COMMIT, which otherwise goes alone. No thread hop, no greenlet.

`execute` takes plain SQL (psycopg's `%(name)s` placeholders; a dict goes as jsonb),
which is how hot paths are written (no SQLAlchemy imported), or a SQLAlchemy Core
construct, compiled once per construct shape with SQLAlchemy's psycopg dialect (its
bind and result processing applied) and cached; either returns a `Result` with every
row already received (rows: tuple + attribute + `_mapping`). Database errors are
psycopg's own (`psycopg.errors.UniqueViolation`, `psycopg.IntegrityError`...), never
wrapped. Alembic migrations (SQLAlchemy) run as the owner role, outside this path.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from operator import itemgetter
from time import monotonic
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from kopru.config import settings
from kopru.logs import get_logger

if TYPE_CHECKING:
    import psycopg

log = get_logger("kopru.db")

_urls_lock = threading.Lock()
_urls: tuple[str, str | None] | None = None
POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT = 5, 10, 30.0


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


def libpq_url(url: str) -> str:
    """A URL of database_urls() as libpq (psycopg.connect) takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# -- the pool ------------------------------------------------------------------------

_IDLE = 0  # libpq's PQTRANS_IDLE (psycopg.pq.TransactionStatus.IDLE), read without an enum per check


class PoolTimeout(TimeoutError):
    """No connection came free within POOL_TIMEOUT seconds (the runtime answers 503, as
    for a database it cannot reach)."""


def _adapters():
    """psycopg's adapters plus a dict (and list of dicts) sent as jsonb: plain SQL passes a
    JSON document as it is, as SQLAlchemy's JSONB type did."""
    global _ADAPTERS
    if _ADAPTERS is None:
        import psycopg
        from psycopg.adapt import AdaptersMap
        from psycopg.types.json import JsonbDumper

        m = AdaptersMap(psycopg.adapters)
        m.register_dumper(dict, JsonbDumper)
        _ADAPTERS = m
    return _ADAPTERS


_ADAPTERS = None


class Pool:
    """A small pool of psycopg AsyncConnections for one event loop: at most `size` +
    `overflow` open at once (waited for in the loop, PoolTimeout after `timeout` s), up
    to `size` kept idle for `recycle` s. A connection that comes back broken, or not
    idle, is closed, and so is every idle one (a server restart breaks them all, as
    SQLAlchemy's pool invalidated them)."""

    def __init__(self, url: str, size: int = POOL_SIZE, overflow: int = MAX_OVERFLOW,
                 timeout: float = POOL_TIMEOUT, recycle: float = 1800.0):
        self.url, self.size, self.timeout, self.recycle = libpq_url(url), size, timeout, recycle
        self.limit = size + overflow
        self._idle: list[tuple[float, Any]] = []
        self._sem = asyncio.Semaphore(self.limit)
        self.closed = False

    async def get(self) -> "psycopg.AsyncConnection":
        import psycopg

        if self._sem.locked():
            try:
                await asyncio.wait_for(self._sem.acquire(), self.timeout)
            except asyncio.TimeoutError:
                raise PoolTimeout(f"no database connection free within {self.timeout:.0f} s "
                                  f"({self.limit} at most)") from None
        else:
            await self._sem.acquire()
        try:
            now = monotonic()
            while self._idle:
                at, conn = self._idle.pop()
                if conn.closed or conn.broken or now - at > self.recycle:
                    await _close(conn)
                    continue
                return conn
            # UTF8 named: result column names are decoded as such (_names)
            return await psycopg.AsyncConnection.connect(self.url, autocommit=True, context=_adapters(),
                                                         client_encoding="UTF8")
        except BaseException:
            self._sem.release()
            raise

    async def put(self, conn: "psycopg.AsyncConnection", discard: bool = False) -> None:
        """Back to the pool (`discard`: closed instead, e.g. after a cancelled statement)."""
        try:
            if conn.broken:
                await _close(conn)
                await self.clear()
            elif discard or conn.closed or self.closed or len(self._idle) >= self.size \
                    or conn.pgconn.transaction_status != _IDLE:
                await _close(conn)
            else:
                self._idle.append((monotonic(), conn))
        finally:
            self._sem.release()

    async def clear(self) -> None:
        idle, self._idle = self._idle, []
        for _, conn in idle:
            await _close(conn)

    async def close(self) -> None:
        self.closed = True
        await self.clear()


async def _close(conn: Any) -> None:
    try:
        await conn.close()
    except Exception:  # closing a dead connection: nothing more to do
        pass


_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool]" = weakref.WeakKeyDictionary()
_pool_lock = threading.Lock()


async def _pool() -> Pool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        if _urls is None:
            # first use: the embedded start-up and migrations are blocking work
            await asyncio.to_thread(database_urls)
        with _pool_lock:
            pool = _pools.get(loop)
            if pool is None:
                pool = _pools[loop] = Pool(database_urls()[0])
    return pool


async def dispose() -> None:
    """Close this event loop's pooled connections (the next transaction opens new ones)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()


# -- statements ----------------------------------------------------------------------

class NoResultFound(LookupError):
    """one()/scalar_one() found no row."""


class MultipleResultsFound(LookupError):
    """one()/one_or_none()/scalar_one() found more than one row."""


class Row(tuple):
    """A result row: a tuple, with each column also an attribute (`row.id`), `_mapping`
    (column name -> value), `_asdict()`, `_fields` and `_t`, like SQLAlchemy's Row."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self))

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self))

    @property
    def _t(self) -> tuple:
        return tuple(self)

    def _tuple(self) -> tuple:
        return tuple(self)

    def __repr__(self) -> str:
        return "Row(" + ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self)) + ")"


_ROW_CLASSES: dict[tuple[str, ...], type] = {}


def _row_class(fields: tuple[str, ...]) -> type:
    cls = _ROW_CLASSES.get(fields)
    if cls is None:
        ns: dict[str, Any] = {"__slots__": (), "_fields": fields}
        for i, name in enumerate(fields):
            if name.isidentifier() and not name.startswith("__") and name not in ns:
                ns[name] = property(itemgetter(i))
        cls = _ROW_CLASSES[fields] = type("Row", (Row,), ns)
    return cls


class Result:
    """What a statement returned, all rows already received (reading it does no I/O):
    the part of SQLAlchemy's Result the code uses."""

    __slots__ = ("_rows", "_pos", "_keys", "rowcount")

    def __init__(self, rows: list, keys: tuple[str, ...], rowcount: int):
        self._rows, self._keys, self.rowcount, self._pos = rows, keys, rowcount, 0

    def _take(self) -> list:
        rows, self._pos = self._rows[self._pos:], len(self._rows)
        return rows

    def keys(self) -> list[str]:
        return list(self._keys)

    def __iter__(self):
        return iter(self._take())

    def all(self) -> list:
        return self._take()

    fetchall = all

    def fetchone(self):
        if self._pos < len(self._rows):
            self._pos += 1
            return self._rows[self._pos - 1]
        return None

    def fetchmany(self, size: int = 1) -> list:
        rows = self._rows[self._pos:self._pos + size]
        self._pos += len(rows)
        return rows

    def first(self):
        rows = self._take()
        return rows[0] if rows else None

    def one_or_none(self):
        rows = self._take()
        if len(rows) > 1:
            raise MultipleResultsFound("more than one row where one was expected")
        return rows[0] if rows else None

    def one(self):
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("no row where one was expected")
        return row

    def scalar(self):
        row = self.first()
        return None if row is None else row[0]

    def scalar_one(self):
        return self.one()[0]

    def scalar_one_or_none(self):
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self) -> "Result":
        return Result([r[0] for r in self._take()], self._keys[:1], self.rowcount)

    def tuples(self) -> "Result":
        return self

    def unique(self) -> "Result":
        """Duplicate rows dropped, first seen kept (rows must be hashable)."""
        seen: set = set()
        self._rows = [r for r in self._rows[self._pos:] if not (r in seen or seen.add(r))]
        self._pos = 0
        return self

    def mappings(self) -> "Result":
        return Result([dict(zip(self._keys, r)) for r in self._take()], self._keys, self.rowcount)


_TUPLES = (2, 9, 12)  # ExecStatus TUPLES_OK, SINGLE_TUPLE, TUPLES_CHUNK: the statement returned rows
_NAMES: dict[tuple[bytes, ...], tuple[str, ...]] = {}


def _names(res: Any) -> tuple[str, ...]:
    """The result's column names, read from the PGresult (psycopg's `description` makes a
    Column object per column per statement; the names are all the Result needs)."""
    raw = tuple(res.fname(i) for i in range(res.nfields))
    names = _NAMES.get(raw)
    if names is None:
        names = _NAMES[raw] = tuple(n.decode("utf-8") for n in raw)  # client_encoding is UTF8 (the pool's)
        if len(_NAMES) > 4096:
            _NAMES.clear()
    return names


def _result(cur: Any, procs: list | None = None, keys: tuple[str, ...] | None = None) -> Result:
    res = cur.pgresult
    if res is None or not (res.nfields or res.status in _TUPLES):
        return Result([], (), cur.rowcount)
    names = keys or _names(res)
    cls = _row_class(names)
    if procs:
        pairs = [(i, p) for i, p in enumerate(procs) if p is not None]
        rows = []
        for r in cur._tx.load_rows(0, res.ntuples, list):
            for i, p in pairs:
                r[i] = p(r[i])
            rows.append(cls(r))
    else:
        rows = cur._tx.load_rows(0, res.ntuples, cls)  # each row made once, as the Row class
    return Result(rows, names, cur.rowcount)


class _Compiled:
    """A SQLAlchemy construct compiled once for the psycopg dialect: the SQL, how to turn
    a statement's parameters into psycopg's, and its result columns' processors."""

    __slots__ = ("compiled", "sql", "keys", "procs", "expands")

    def __init__(self, compiled: Any):
        self.compiled = compiled
        self.sql = compiled.string
        self.expands = bool(compiled.literal_execute_params or compiled.post_compile_params)
        rc = compiled._result_columns
        self.keys = tuple(c.keyname for c in rc) if rc else None
        self.procs: dict[tuple, list | None] = {}


_DIALECT = None
_COMPILED: dict[Any, _Compiled] = {}
_COMPILED_MAX = 2000


def _dialect():
    global _DIALECT
    if _DIALECT is None:
        from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

        d = PGDialect_psycopg()
        d.server_version_info = (16, 0)  # compile-time choices only (RETURNING, ON CONFLICT): 13+ has them all
        _DIALECT = d
    return _DIALECT


def _compile(statement: Any, params: Any) -> tuple[str, Any, "_Compiled"]:
    """(SQL, psycopg parameters, compiled) for a SQLAlchemy construct; compiled once per
    construct shape and parameter names (the same key SQLAlchemy's own cache uses)."""
    d = _dialect()
    many = isinstance(params, (list, tuple)) and len(params) > 1
    plist = params if isinstance(params, (list, tuple)) else ([params] if params else [])
    column_keys = sorted(plist[0]) if plist else []
    cache: dict = _COMPILED if len(_COMPILED) < _COMPILED_MAX else {}
    ck = statement._generate_cache_key()
    entry = None
    if ck is not None:
        key = (ck[0], tuple(column_keys), many)
        entry = _COMPILED.get(key)
        if entry is None:
            entry = _Compiled(statement._compiler(d, cache_key=ck, column_keys=column_keys, for_executemany=many))
            cache[key] = entry
        extracted, collected = ck[1], ck[2] if len(ck) > 2 else None
    else:
        entry = _Compiled(statement._compiler(d, cache_key=None, column_keys=column_keys, for_executemany=many))
        extracted = collected = None
    c = entry.compiled
    kw: dict[str, Any] = {"escape_names": False, "extracted_parameters": extracted}
    if collected is not None:
        kw["_collected_params"] = collected
    if plist:
        cparams = [c.construct_params(m, _group_number=i, **kw) for i, m in enumerate(plist)]
    else:
        cparams = [c.construct_params(**kw)]
    procs = c._bind_processors
    sql = entry.sql
    if entry.expands:
        st = c._process_parameters_for_postcompile(cparams[0])
        sql = st.statement
        procs = {**procs, **st.processors}
        cparams = [st.parameters]
    escaped = c.escaped_bind_names
    out = [{(escaped.get(k, k) if escaped else k): (procs[k](v) if k in procs else v) for k, v in cp.items()}
           for cp in cparams]
    return sql, (out if many else out[0]), entry


def _result_procs(entry: "_Compiled", cur: Any) -> list | None:
    desc = cur.description
    if not desc or entry.keys is None or len(entry.keys) != len(desc):
        return None
    codes = tuple(x.type_code for x in desc)
    procs = entry.procs.get(codes, False)
    if procs is False:
        d = _dialect()
        got = [rc.type._cached_result_processor(d, code)
               for rc, code in zip(entry.compiled._result_columns, codes)]
        procs = entry.procs[codes] = got if any(got) else None
    return procs


def _prepare(statement: Any, params: Any) -> tuple[str, Any, "_Compiled | None"]:
    if isinstance(statement, str):
        return statement, params, None
    if hasattr(statement, "_generate_cache_key"):
        sql, p, entry = _compile(statement, params)
        return sql, p, entry
    raise TypeError(f"cannot execute {type(statement).__name__}: plain SQL (str) or a SQLAlchemy construct")


# -- the transaction -------------------------------------------------------------------

_SET_TENANT_ACTOR = "select set_config('app.tenant_id', %s, true), set_config('app.actor', %s, true)"
_SET_TENANT = "select set_config('app.tenant_id', %s, true)"


class AsyncConn:
    """One pooled connection inside one transaction, statements sent in psycopg's pipeline
    mode: BEGIN and the tenant's set_config go out with the first statement (one round
    trip), a statement whose answer is read waits for it (and leaves pipeline mode),
    writes that need no answer (`queue`) go out with the next statement or the COMMIT.

    `execute(statement, params)` takes plain SQL with psycopg's placeholders (`%(name)s`
    with a dict, `%s` with a tuple; a list of dicts runs it once per dict), or a
    SQLAlchemy Core construct (compiled once per shape for the psycopg dialect, its
    bind and result types applied), and returns a `Result` with every row received."""

    __slots__ = ("raw", "_scope", "_pipe", "_pipe_cm", "_begun", "_savepoints")

    def __init__(self, raw: Any, scope: tuple | None):
        self.raw = raw
        self._scope = scope  # (sql, params) sent after BEGIN, or None
        self._pipe = self._pipe_cm = None
        self._begun = False
        self._savepoints = 0

    async def _send(self, statement: Any, params: Any):
        """Send a statement in pipeline mode (entered here when the connection is out
        of it: a local switch, no I/O), after BEGIN and the scope on first use."""
        if self._pipe_cm is None:
            self._pipe_cm = self.raw.pipeline()
            self._pipe = await self._pipe_cm.__aenter__()
        if not self._begun:
            self._begun = True
            await self.raw.execute("begin")
            if self._scope is not None:
                await self.raw.execute(*self._scope)
        sql, p, entry = _prepare(statement, params)
        cur = self.raw.cursor()
        if isinstance(p, list) and p and isinstance(p[0], dict):  # a list of dicts: once per dict
            await cur.executemany(sql, p)
        else:
            await cur.execute(sql, p)
        return cur, entry

    async def _flush(self) -> None:
        """Send what is pending and read every answer, leaving pipeline mode with the
        same Sync (the next statement enters it again; a COMMIT with nothing pending
        then goes alone, as a hand-written transaction sends it)."""
        cm, self._pipe, self._pipe_cm = self._pipe_cm, None, None
        await cm.__aexit__(None, None, None)

    async def execute(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Result:
        cur, entry = await self._send(statement, parameters)
        await self._flush()
        if entry is None:
            return _result(cur)
        return _result(cur, _result_procs(entry, cur), entry.keys)

    async def queue(self, statement: Any, parameters: Any = None) -> None:
        """Send a statement whose answer nobody reads: its result (or error) arrives with
        the next statement's or the commit's."""
        await self._send(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None, execution_options: Any = None) -> Result:
        return await self.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None, *, execution_options: Any = None):
        return (await self.execute(statement, parameters)).scalar()

    async def scalars(self, statement: Any, parameters: Any = None, *, execution_options: Any = None):
        return (await self.execute(statement, parameters)).scalars()

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator["AsyncConn"]:
        """A SAVEPOINT: released when the block ends, rolled back (and the error raised
        again) when it raises; the enclosing transaction goes on."""
        self._savepoints += 1
        name = f"kopru_sp_{self._savepoints}"
        await self.execute(f"savepoint {name}")
        try:
            yield self
        except BaseException:
            await self.execute(f"rollback to savepoint {name}")
            raise
        await self.execute(f"release savepoint {name}")

    async def _commit(self) -> None:
        """COMMIT: with the writes still pending when some are (one Sync sends both and
        leaves pipeline mode), else on its own. Its error, or a pending write's, is
        raised here."""
        if self._begun:
            await self.raw.execute("commit")
            if self._pipe_cm is not None:
                await self._flush()

    async def _end(self, exc: BaseException | None) -> bool:
        """Leave pipeline mode (after a rollback when exc); whether the connection is fit
        to go back to the pool."""
        if not self._begun:
            return True
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            return False  # a statement may still be running: the connection is closed, not reused
        cm, self._pipe, self._pipe_cm = self._pipe_cm, None, None
        if cm is not None:  # None: out of pipeline mode already
            try:
                await cm.__aexit__(None, None, None)
            except BaseException:
                if exc is None:
                    raise
        if exc is None:
            return True
        if self.raw.broken:
            return False
        try:
            await self.raw.execute("rollback")
            return True
        except BaseException:
            return False


class transaction:
    """A transaction on a connection of `pool` (the application's: `tenant_transaction`,
    `platform_transaction`; the relay has its own role and pool), `scope` = (SQL,
    parameters) sent right after BEGIN. `async with transaction(pool) as conn`: committed
    when the block ends, rolled back when it raises; the connection goes back to the pool
    when it is fit to (a plain class, not a generator: it is on every request's path)."""

    __slots__ = ("_pool", "_scope", "_raw", "_conn", "_wrap")

    def __init__(self, pool: "Pool | None", scope: tuple | None = None, wrap: Callable[[AsyncConn], Any] | None = None):
        self._pool, self._scope, self._wrap = pool, scope, wrap
        self._raw = self._conn = None

    async def __aenter__(self) -> Any:
        if self._pool is None:
            self._pool = await _pool()
        self._raw = await self._pool.get()
        try:
            self._conn = AsyncConn(self._raw, self._scope)
            return self._conn if self._wrap is None else self._wrap(self._conn)
        except BaseException:
            await self._pool.put(self._raw, discard=True)
            raise

    async def __aexit__(self, et: Any, exc: BaseException | None, tb: Any) -> bool:
        conn, fit = self._conn, False
        try:
            if exc is None:
                try:
                    await conn._commit()
                except BaseException as err:
                    fit = await conn._end(err)
                    raise
                fit = await conn._end(None)
            else:
                fit = await conn._end(exc)
        finally:
            await self._pool.put(self._raw, discard=not fit)
        return False


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

    async def execute(self, statement: Any, params: Any = None) -> Result:
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


# Hot-path statements in plain SQL (no SQLAlchemy on the consumer path).
_STATEMENTS: dict[str, str] = {
    "outbox_insert": "insert into outbox (tenant_id, event_id, type, source, subject, data, extensions) "
                     "values (%(tenant_id)s, %(event_id)s, %(type)s, %(source)s, %(subject)s, %(data)s, %(extensions)s)",
    "inbox_claim": "insert into inbox (consumer, source, event_id, tenant_id, type) "
                   "values (%(consumer)s, %(source)s, %(event_id)s, %(tenant_id)s, %(type)s) "
                   "on conflict do nothing returning event_id",
}


def statement(name: str) -> str:
    """A hot-path statement by name (plain SQL)."""
    return _STATEMENTS[name]


async def enter_tenant(conn: AsyncConn, tenant_id: uuid.UUID) -> None:
    """Scope the rest of this transaction to one tenant (a bound parameter, local to
    the transaction: the pooled connection forgets it at commit or rollback)."""
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a UUID")
    await conn.execute(_SET_TENANT, (str(tenant_id),))


def tenant_transaction(tenant_id: uuid.UUID, *, actor: str) -> transaction:
    """`async with tenant_transaction(tenant_id, actor=...) as tx`: a TenantTx, the
    tenant and the actor set for this transaction only."""
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a UUID")
    if not actor:
        raise ValueError("a tenant transaction needs its actor (the audit log names it)")
    return transaction(None, (_SET_TENANT_ACTOR, (str(tenant_id), actor)),
                       lambda conn: TenantTx(conn, tenant_id, actor))


def platform_transaction() -> transaction:
    """A transaction with no tenant set: RLS hides every tenant row; only the
    platform tables (directories, signing keys, platform clients) are reachable."""
    return transaction(None)


# -- the owner role: migrations and operator tools ---------------------------------------

def owner_engine(purpose: str = "operator actions"):
    """A synchronous SQLAlchemy engine on the owner role (no pool), for what runs outside
    every request and consumer: operator commands and Jobs (`kopru` CLI), audit
    verification. Never from a handler."""
    from sqlalchemy import create_engine, pool

    _, owner = database_urls()
    if owner is None:
        raise SystemExit(f"DATABASE_OWNER_URL is required for {purpose}")
    return create_engine(owner, poolclass=pool.NullPool)


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
