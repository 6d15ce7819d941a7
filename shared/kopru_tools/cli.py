"""The `kopru` command."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _settings():
    from kopru.config import settings

    return settings()


DEV_JSON = "dev.json"
OPERATOR_JSON = "operator.json"  # kopru dev's operator client, 0600 in the data dir (dev only)
# Each provider kopru dev simulates when its base URL is not set: (the variable, the simulator
# module with its dev_simulator(), what a person needs to know to use it). One line per provider.
DEV_SIMULATORS = {
    "netgsm": ("NETGSM_BASE_URL", "kopru_tools.simulators.netgsm", "user kopru-dev / kopru-dev, header KOPRU"),
    "nilvera": ("NILVERA_BASE_URL", "kopru_tools.simulators.nilvera", "API key kopru-dev-nilvera"),
    "iyzico": ("IYZICO_BASE_URL", "kopru_tools.simulators.iyzico", "API key kopru-dev-iyzico / kopru-dev-iyzico-secret"),
    "credit_partner": ("CREDIT_PARTNER_BASE_URL", "kopru_tools.simulators.credit_not_kkb", "NOT KKB/Findeks: API key kopru-dev-credit, customer KOPRU-DEV"),
    "bulutfon": ("BULUTFON_BASE_URL", "kopru_tools.simulators.bulutfon", "API key kopru-dev-bulutfon, number 908508850000, extensions 1001/1002"),
    "arvento": ("ARVENTO_BASE_URL", "kopru_tools.simulators.arvento", "user kopru-dev / kopru-dev-arvento, 3 vehicles driving"),
    "whatsapp": ("WHATSAPP_BASE_URL", "kopru_tools.simulators.whatsapp",
                 "phone number id 100000000000001, token kopru-dev-whatsapp, app secret kopru-dev-whatsapp-secret; "
                 "POST /_simulator/webhook sets the callback URL, /_simulator/inbound makes a customer write"),
}
DEV_URLS = {name: env for name, (env, _, _) in DEV_SIMULATORS.items()}


def _write_dev_json(data_dir, gateway: str, simulated: set[str]) -> None:
    """<data dir>/dev.json while `kopru dev` runs: the gateway and each provider's base
    URL (a simulator's with its read-only inspection route), for the CLI and for people."""
    import json

    from kopru.config import settings

    providers = {}
    for name, env in DEV_URLS.items():
        url = getattr(settings(), f"{name}_base_url")
        providers[name] = {"base_url": url, "simulator": name in simulated,
                           **({"calls": url.rstrip("/") + "/_simulator/calls"} if name in simulated else {})}
    tmp = data_dir / (DEV_JSON + ".tmp")
    tmp.write_text(json.dumps({"gateway": gateway, "pid": os.getpid(), "providers": providers}, indent=2))
    tmp.replace(data_dir / DEV_JSON)


def _use_dev_json() -> None:
    """A command run beside `kopru dev` reaches the providers it serves: their base URLs
    from <data dir>/dev.json (unless set explicitly). Without it, the connectors refuse
    production on embedded data (integration.no_dev_endpoint): never a fall-back."""
    import json

    from kopru.config import reset_settings, settings

    path = settings().data_dir / DEV_JSON
    try:
        dev = json.loads(path.read_text())
        os.kill(int(dev["pid"]), 0)  # still running?
    except (OSError, ValueError, KeyError, TypeError):
        return
    changed = False
    for name, env in DEV_URLS.items():
        url = (dev.get("providers") or {}).get(name, {}).get("base_url")
        if url and not getattr(settings(), f"{name}_base_url"):
            os.environ[env] = url  # the settings the functions and clients read, set for this process
            changed = True
    if changed:
        reset_settings()


def _dev(args: argparse.Namespace) -> int:
    import uvicorn

    from kopru import admin
    from kopru.config import settings
    from kopru.db import database_urls
    from kopru.db import embedded
    from kopru.logs import configure
    from kopru_tools.gateway import build_gateway

    configure(settings().log_level)
    import contextlib

    from kopru_tools.simulators.common import serve as serve_loopback

    s = settings()
    # the port first: nothing is started, and no client minted, for a port that is taken
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((args.host, args.port))
        except OSError:
            print(f"error: {args.host}:{args.port} is in use; choose another with --port", file=sys.stderr)
            return 2
    if not os.environ.get("KOPRU_PUBLIC_URL"):
        # links Köprü hands out (exports, Netgsm's report push) point at this gateway
        os.environ["KOPRU_PUBLIC_URL"] = f"http://{args.host}:{args.port}"
    if not os.environ.get("KOPRU_WEBHOOKS_ALLOW_PRIVATE"):
        # webhook receivers on a laptop are on loopback (production refuses private addresses)
        os.environ["KOPRU_WEBHOOKS_ALLOW_PRIVATE"] = "1"
    if not os.environ.get("KOPRU_METRICS"):
        os.environ["KOPRU_METRICS"] = "1"  # recorded, and served at the gateway's /metrics
    if os.environ["KOPRU_METRICS"].strip().lower() in ("1", "true", "yes", "on"):
        from kopru_tools.metrics import setup as setup_metrics

        setup_metrics()
    if not os.environ.get("KOPRU_ISSUER"):
        # the tokens' iss is the URL the token function answers at, its metadata beneath it
        os.environ["KOPRU_ISSUER"] = os.environ["KOPRU_PUBLIC_URL"].rstrip("/") + "/function/token"
    simulators = contextlib.ExitStack()
    try:
        database_urls()  # embedded PostgreSQL, roles, migrations (or the external server)
        if s.redis_url is None:
            os.environ["REDIS_URL"] = embedded.redis_url(s.data_dir)
        admin.ensure_signing_key()
        # a provider with no real base URL configured: its simulator, on loopback, speaks its protocol
        simulated: set[str] = set()
        for name, (env, module, told) in DEV_SIMULATORS.items():
            if getattr(s, f"{name}_base_url"):
                continue
            simulated.add(name)
            import importlib

            sim = importlib.import_module(module).dev_simulator()
            url = os.environ[env] = simulators.enter_context(serve_loopback(sim))
            print(f"{name} simulator at {url} ({told})", flush=True)
        from kopru.config import reset_settings

        reset_settings()  # the functions in this process read the simulators' URLs (and REDIS_URL) from settings
        cid, secret = s.operator_client_id, s.operator_client_secret
        kept = s.data_dir / OPERATOR_JSON
        if cid and secret:
            admin.ensure_platform_client(cid, secret)
        elif kept.exists():  # the one minted on the first start, kept beside the dev database
            cid, secret = (lambda d: (d["client_id"], d["client_secret"]))(json.loads(kept.read_text()))
            admin.ensure_platform_client(cid, secret)
            print(f"operator client: KOPRU_OPERATOR_CLIENT_ID={cid} (its secret is in {kept})", flush=True)
        else:
            cid, secret = admin.create_platform_client("dev operator")
            fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"client_id": cid, "client_secret": secret}, f)
            print(f"operator client (shown once, kept in {kept}): KOPRU_OPERATOR_CLIENT_ID={cid} "
                  f"KOPRU_OPERATOR_CLIENT_SECRET={secret}", flush=True)
        gateway = build_gateway()
        # X-Forwarded-For is Köprü's to judge (KOPRU_TRUSTED_PROXIES), not the server's
        config = uvicorn.Config(gateway, host=args.host, port=args.port, log_level="warning", lifespan="on",
                                proxy_headers=False)

        class Server(uvicorn.Server):
            # our own Ctrl-C handling: uvicorn's re-raises the signal after its shutdown,
            # which would tear the event loop (relay, dispatcher) down mid-flight
            def capture_signals(self):
                import contextlib

                return contextlib.nullcontext()

        server = Server(config)

        async def serve() -> None:
            import asyncio

            from kopru_tools.eventing import start_eventing

            import signal

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.02)
            if not server.started:
                await task
                return
            stop = asyncio.Event()
            eventing, mode = await start_eventing(gateway.apps, stop)
            _write_dev_json(s.data_dir, f"http://{args.host}:{args.port}", simulated)
            print(f"kopru dev ready at http://{args.host}:{args.port} "
                  f"(functions: {', '.join(sorted(gateway.apps))}; events: {mode})", flush=True)
            try:
                await task
            finally:
                stop.set()
                await eventing()

        import asyncio

        asyncio.run(serve())
        print("kopru dev stopped", flush=True)
        return 0 if server.started else 1
    finally:
        (s.data_dir / DEV_JSON).unlink(missing_ok=True)
        simulators.close()
        embedded.stop_redis()
        if s.embedded and not args.keep_running:
            embedded.stop_postgres()


def _migrate(args: argparse.Namespace) -> int:
    from kopru.db import migrate

    migrate()
    if getattr(args, "json", False):
        from kopru.db.engine import head_revision

        print(json.dumps({"migrated": True, "revision": head_revision()}))
    else:
        print("migrations applied")
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    from kopru.admin import rotate_signing_key

    print(json.dumps(rotate_signing_key(args.alg, immediate=args.immediate)))
    return 0


def _epochs_rotate(args: argparse.Namespace) -> int:
    """One key-epoch rotation (kopru.kvkk.epochs): exit 1 when it could not finish or an epoch
    due for destruction is still held by live rows."""
    import asyncio
    from datetime import datetime

    from kopru.kvkk.rotation import rotate

    now = None
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            now = None
        if now is None or now.tzinfo is None:
            print("--now must be an ISO 8601 time with its zone (e.g. 2027-01-01T03:00:00+03:00)", file=sys.stderr)
            return 2

    async def run():
        from kopru.db import dispose

        try:
            return await rotate(now, batch=args.batch)
        finally:
            await dispose()

    rep = asyncio.run(run())
    print(json.dumps(rep.as_dict(), ensure_ascii=False, indent=1))
    return 0 if rep.complete and not rep.waiting and not rep.unreadable else 1


def _epochs_list(args: argparse.Namespace) -> int:
    from kopru.kvkk.epochs import destruction_due, key_store

    store = key_store()
    for e in store.epochs():
        print(json.dumps({**e.as_dict(), "destruction_due": destruction_due(e).isoformat(), "store": store.describe()}))
    return 0


def _client_create(args: argparse.Namespace) -> int:
    import uuid

    from kopru import admin

    if args.platform == bool(args.tenant):
        print("say either --platform or --tenant TENANT_ID", file=sys.stderr)
        return 2
    if args.platform:
        cid, secret = admin.create_platform_client(args.name)
    else:
        cid, secret = admin.create_tenant_client_admin(uuid.UUID(args.tenant), args.name, args.scope)
    print(json.dumps({"client_id": cid, "client_secret": secret}))
    return 0


def _client_list(args: argparse.Namespace) -> int:
    import uuid

    from kopru import admin

    for c in admin.list_clients_admin(uuid.UUID(args.tenant) if args.tenant else None):
        print(json.dumps(c))
    return 0


def _client_revoke(args: argparse.Namespace) -> int:
    from kopru import admin

    if not admin.revoke_client_admin(args.client_id):
        print(f"no client {args.client_id}", file=sys.stderr)
        return 1
    import asyncio

    from kopru.auth.limits import cut_off

    asyncio.run(cut_off("client", args.client_id))  # its access tokens stop now, not at their expiry
    print(json.dumps({"revoked": args.client_id}))
    return 0


def _topics_apply(args: argparse.Namespace) -> int:
    import asyncio

    from kopru.events.topics import apply

    bootstrap = args.bootstrap or _settings().kafka_bootstrap_servers
    if not bootstrap:
        print("KAFKA_BOOTSTRAP_SERVERS (or --bootstrap) is required", file=sys.stderr)
        return 2
    created = asyncio.run(apply(bootstrap, args.replication))
    print(json.dumps({"created": created}))
    return 0


def _relay(args: argparse.Namespace) -> int:
    import asyncio

    from kopru.events.relay import KafkaPublisher, Relay
    from kopru.logs import configure

    configure(_settings().log_level)
    bootstrap = _settings().kafka_bootstrap_servers
    if not bootstrap:
        print("KAFKA_BOOTSTRAP_SERVERS is required", file=sys.stderr)
        return 2

    async def run() -> None:
        if args.once:
            pub = KafkaPublisher(bootstrap)
            await pub.start()
            relay = Relay(pub)
            try:
                while await relay.run_once():
                    pass
            finally:
                await relay.dispose()
                await pub.stop()
            return
        from kopru.events.supervisor import supervise

        stop = _stop_on_signals()
        pub = KafkaPublisher(bootstrap)
        relay = Relay(pub)

        async def loop(health) -> None:
            if not pub.started:
                await pub.start()  # a broker down at start-up: restarted with backoff
            await relay.run(stop, health=health)

        async with _health_endpoint(args):
            try:
                await supervise("relay", loop, stop)
            finally:
                await relay.dispose()
                await pub.stop()

    asyncio.run(run())
    return 0


def _health_endpoint(args: argparse.Namespace):
    """Readiness (GET /readyz) and liveness (GET /healthz) of the supervised loops on
    --health-host:--health-port (127.0.0.1:8081 by default; port 0 turns it off)."""
    import contextlib

    @contextlib.asynccontextmanager
    async def serve():
        if not args.health_port:
            yield None
            return
        from kopru.events.supervisor import serve_health

        server = await serve_health(args.health_host, args.health_port)
        addr = server.sockets[0].getsockname()
        print(json.dumps({"health": f"http://{addr[0]}:{addr[1]}/readyz"}), flush=True)
        try:
            yield server
        finally:
            server.close()
            await server.wait_closed()

    return serve()


def _stop_on_signals():
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _dispatch(args: argparse.Namespace) -> int:
    import asyncio

    import httpx

    from kopru.events.catalog import load_catalog
    from kopru.events.dispatcher import http_sender, run_dispatcher
    from kopru.logs import configure

    configure(_settings().log_level)
    bootstrap = _settings().kafka_bootstrap_servers
    if not bootstrap:
        print("KAFKA_BOOTSTRAP_SERVERS is required", file=sys.stderr)
        return 2
    template = _settings().sink_template
    explicit = dict(s.split("=", 1) for s in args.sink or [])
    names = args.function or list(load_catalog().consumers())

    async def run() -> None:
        stop = _stop_on_signals()
        async with _health_endpoint(args), httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
            sinks = {}
            for name in names:
                url = explicit.get(name) or template.format(name=name)
                sinks[name] = (http_sender(client, url, name), url)
            await run_dispatcher(bootstrap, sinks, stop)

    asyncio.run(run())
    return 0


def _sms_poll(args: argparse.Namespace) -> int:
    import asyncio

    from kopru.sms.service import poll_reports

    async def run():
        from kopru.db import dispose

        try:
            return await poll_reports()
        finally:
            await dispose()

    print(json.dumps(asyncio.run(run())))
    return 0


def _functions(args: argparse.Namespace) -> int:
    from kopru.runtime.registry import functions

    for f in functions().values():
        print(json.dumps({"name": f.name, "source": str(f.source), "routes": f.routes, "consumes": f.consumes}))
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from kopru_tools.openapi import OPENAPI_PATH, render_text

    text = render_text()
    if args.check:
        if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text(encoding="utf-8") != text:
            print(f"{OPENAPI_PATH} is stale: run `kopru openapi`", file=sys.stderr)
            return 1
        return 0
    OPENAPI_PATH.parent.mkdir(parents=True, exist_ok=True)
    OPENAPI_PATH.write_text(text, encoding="utf-8")
    print(json.dumps({"wrote": str(OPENAPI_PATH)}) if getattr(args, "json", False) else f"wrote {OPENAPI_PATH}")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kopru.config import REPO_ROOT
    from kopru_tools.deploy import RenderError, default_settings, differences, render, write

    registry = catalog = None
    if args.functions:
        from kopru.runtime.registry import functions

        registry = functions(Path(args.functions).resolve())
    if args.events:
        from kopru.events.catalog import load_catalog

        catalog = load_catalog(Path(args.events).resolve())
    root = Path(args.root).resolve() if args.root else REPO_ROOT
    try:
        rendered = render(args.target, registry, catalog, default_settings(args.image))
    except RenderError as exc:
        print(f"kopru deploy render {args.target}: {exc}", file=sys.stderr)
        return 2
    for fn in rendered.plan.skipped_schedules:
        print(f"note: events/catalog.json schedules {fn}, which is not in the registry: nothing rendered for it",
              file=sys.stderr)
    if args.check:
        stale = differences(rendered, root)
        if stale:
            print(f"deployment files are stale; run `kopru deploy render {args.target}`:", file=sys.stderr)
            for line in stale:
                print(f"  {line}", file=sys.stderr)
            return 1
        print(json.dumps({"target": args.target, "files": len(rendered.files), "stale": []})
              if getattr(args, "json", False) else f"{args.target}: {len(rendered.files)} file(s) current")
        return 0
    changed = write(rendered, root)
    if getattr(args, "json", False):
        print(json.dumps({"target": args.target, "files": len(rendered.files),
                          "wrote": [str(r) for r in changed if (root / r).exists()],
                          "removed": [str(r) for r in changed if not (root / r).exists()]}))
        return 0
    for rel in changed:
        print(f"wrote {rel}" if (root / rel).exists() else f"removed {rel}")
    if not changed:
        print(f"{args.target}: {len(rendered.files)} file(s) already current")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    """Exit 0: every chain verified (MACs, continuity, the latest anchor); 1: any
    finding, each said in Turkish and English; 2: bad arguments."""
    import uuid

    from kopru.kvkk.audit import verify

    try:
        tenant = uuid.UUID(args.tenant) if args.tenant else None
    except ValueError:
        print("--tenant must be a tenant id (UUID)", file=sys.stderr)
        return 2
    result = verify(tenant, anchors=not args.no_anchors)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, default=str))
    else:
        a = result.anchor
        print(f"son çapa / last anchor: {a['name']} ({a['at']}, {a['chains']} zincir / chains)" if a else
              ("çapa denetlenmedi / anchors not checked" if args.no_anchors else
               "henüz çapa yok / no anchor written yet (kopru audit anchor)"))
        for f in result.findings:
            print(f"  [{f.kind}] {f.tr} / {f.en}")
        for rep in result.reports:
            state = "sağlam / intact" if rep.ok else f"{len(rep.findings) + rep.more_findings} bulgu / finding(s)"
            print(f"{rep.tenant_id}: {state}; {rep.entries} kayıt / entries ({rep.keyed} MAC), "
                  f"baş / head {rep.head_seq}, çapa / anchored {rep.anchored_seq}")
            for f in rep.findings:
                print(f"  seq {f.seq} [{f.kind}] {f.tr} / {f.en}")
    if not result.ok:
        broken = sum(1 for r in result.reports if not r.ok)
        print(f"denetim kaydında bulgu var / audit log findings: {broken} of {len(result.reports)} chain(s)"
              f"{', anchors' if result.findings else ''}", file=sys.stderr)
        return 1
    return 0


def _audit_anchor(args: argparse.Namespace) -> int:
    """Write every chain's head outside PostgreSQL; exit 1 when a chain no longer holds
    the head anchored before (it keeps that head, and verify keeps finding it)."""
    import asyncio

    from kopru.kvkk.anchor import anchor

    async def run():
        from kopru.db import dispose

        try:
            return await anchor()
        finally:
            await dispose()

    res = asyncio.run(run())
    if args.json:
        print(json.dumps(res.as_dict()))
    else:
        print(f"çapa yazıldı / anchored: {res.name} ({res.chains} zincir / chains)")
        for tid, kind in res.problems.items():
            print(f"  {tid}: [{kind}] önceki çapayla tutarsız / not consistent with the previous anchor")
    return 1 if res.problems else 0


def _purge(args: argparse.Namespace) -> int:
    import asyncio
    import uuid

    from kopru.kvkk.purge import purge

    try:
        tenant = uuid.UUID(args.tenant) if args.tenant else None
    except ValueError:
        print("--tenant must be a tenant id (UUID)", file=sys.stderr)
        return 2

    async def run():
        from kopru.db import dispose

        try:
            return await purge(dry_run=args.dry_run, tenant_id=tenant, batch=args.batch)
        finally:
            await dispose()

    report = asyncio.run(run())
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    return 0


def _breach(args: argparse.Namespace) -> int:
    import uuid
    from datetime import datetime

    from pydantic import ValidationError

    from kopru.errors import KopruError
    from kopru.kvkk import breach

    def out(b):
        if args.json:
            print(json.dumps(b, default=str, ensure_ascii=False, indent=1))
        else:
            print(breach.render_notification(b), end="")
            state = "bildirildi" if b["reported_at"] else f"kalan süre: {b['hours_left']} saat"
            print(f"\n# ihlal {b['id']}: son gün {b['deadline_at'].isoformat()} ({state})", file=sys.stderr)

    try:
        if args.breach_cmd == "record":
            raw = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
            out(breach.record_breach(breach.BreachIn.model_validate_json(raw)))
        elif args.breach_cmd == "show":
            out(breach.get_breach(uuid.UUID(args.id)))
        elif args.breach_cmd == "reported":
            at = datetime.fromisoformat(args.at) if args.at else None
            out(breach.mark_reported(uuid.UUID(args.id), at, args.delay_reason))
        else:
            for b in breach.list_breaches():
                print(json.dumps({k: b[k] for k in ("id", "discovered_at", "deadline_at", "reported_at", "late")},
                                 default=str))
    except ValidationError as exc:
        for e in exc.errors(include_input=False, include_url=False):
            print(f"{'.'.join(str(x) for x in e['loc']) or '(body)'}: {e['msg']}", file=sys.stderr)
        return 2
    except KopruError as exc:
        from kopru.errors import CATALOG

        print(f"error: {exc.code}: {CATALOG[exc.code].en}{': ' + exc.detail if exc.detail else ''}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # an unreadable file, an id that is not a UUID
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _einvoice_print_findings(findings, out) -> None:
    for f in findings:
        where = f" [satır/line {f['line']}]" if f.get("line") else ""
        print(f"{f['severity'].upper():7} {f['rule']}{where}: {f['message_tr']}", file=out)
        print(f"        (en) {f['message_en']}", file=out)
        if f.get("location"):
            print(f"        at {f['location']}", file=out)


def _einvoice_render(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from kopru.einvoice.models import Invoice
    from kopru.errors import CATALOG, FIELD_MESSAGES, KopruError

    raw = sys.stdin.buffer.read() if args.input == "-" else open(args.input, "rb").read()
    try:
        invoice = Invoice.model_validate_json(raw)
    except ValidationError as exc:
        for e in exc.errors(include_input=False, include_url=False, include_context=False):
            code = str(e.get("msg", "")).removeprefix("Value error, ")
            tr, en = (CATALOG[code].tr, CATALOG[code].en) if code in CATALOG else \
                FIELD_MESSAGES.get(e["type"], ("Değer geçersiz.", "Invalid value."))
            name = code if code in CATALOG else e["type"]
            print(f"{'.'.join(str(x) for x in e['loc']) or '(invoice)'}: {name}: {tr} / {en}", file=sys.stderr)
        return 2
    try:
        if args.p12 or args.test_certificate:
            from kopru.einvoice.sign import load_signing_key, render_signed, test_certificate

            if args.test_certificate:
                tc = test_certificate()
                key = load_signing_key(tc.p12, tc.password)
            else:
                from kopru.config import environment_value

                password = (environment_value(args.password_env) or "") if args.password_env else ""
                key = load_signing_key(open(args.p12, "rb").read(), password.encode() or None)
            xml = render_signed(invoice, key).xml
        else:
            from kopru.einvoice.render import render

            xml = render(invoice)
    except KopruError as exc:
        print(f"{exc.code}: {CATALOG[exc.code].tr} / {CATALOG[exc.code].en}", file=sys.stderr)
        return 2
    if not args.no_validate:
        from kopru.einvoice.validate import validate

        report = validate(xml)
        problems = [f for f in report.findings if f["severity"] != "info"]
        _einvoice_print_findings(problems, sys.stderr)
        if not report.valid:
            print(f"invalid: {len(report.errors)} error(s); nothing written ({report.rule_package['validator']} "
                  f"{report.rule_package['validator_version']})", file=sys.stderr)
            return 1
    sys.stdout.buffer.write(xml)
    sys.stdout.buffer.flush()
    return 0


def _einvoice_validate(args: argparse.Namespace) -> int:
    from kopru.einvoice.validate import RULE_PACKAGE_VERSION, validate
    from kopru.einvoice.xmlsafe import MAX_BYTES

    if args.file == "-":
        data = sys.stdin.buffer.read(MAX_BYTES + 1)
    else:
        with open(args.file, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)  # validate refuses anything longer
    report = validate(data, kind=args.kind)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    else:
        shown = [f for f in report.findings if args.verbose or f["severity"] != "info"]
        state = "GEÇERLİ / VALID" if report.valid else "GEÇERSİZ / INVALID"
        print(f"{args.file}: {state}: {len(report.errors)} error(s), {len(report.warnings)} warning(s) "
              f"[{report.kind or '-'} {report.profile or ''} {report.type or ''}] "
              f"({RULE_PACKAGE_VERSION}, {report.duration_ms:.1f} ms)")
        _einvoice_print_findings(shown, sys.stdout)
    return 0 if report.valid else 1


def _work(args: argparse.Namespace) -> int:
    """`kopru work parked|settle|resend`: an operator's verdict on side effects parked
    `unknown` (the provider's answer was lost and it showed no single trace of them)."""
    import asyncio
    import re
    import uuid

    from kopru.errors import KopruError
    from kopru.providers import effect
    from kopru.work import outward
    from kopru.work.sweep import tenant_ids

    async def run() -> int:
        from kopru.db import dispose

        try:
            if args.work_cmd == "parked":
                tenants = [uuid.UUID(args.tenant)] if args.tenant else await tenant_ids()
                for tid in tenants:
                    for item in await outward.parked(tid):
                        print(json.dumps(item, ensure_ascii=False))
                return 0
            tid = uuid.UUID(args.tenant)
            actor = "operator:cli"
            if args.work_cmd == "settle" and args.failed and not re.fullmatch(r"[a-z0-9_.]{1,64}", args.failed):
                raise KopruError("request.validation_failed", detail="--failed: a code of a-z, 0-9, _ and .")
            if args.work_cmd == "settle" and args.sent and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", args.sent):
                raise KopruError("request.validation_failed", detail="--sent: the provider's id, 1-64 characters")
            if args.work_cmd == "resend":
                ok = await outward.reopen(tid, args.provider, args.operation, args.ref, actor=actor)
            else:
                eff = effect(tid, args.provider, args.operation, args.ref)
                verdict = (outward.Outcome.ok(args.sent, "settled") if args.sent
                           else outward.Outcome.failed(args.failed))
                ok = await outward.settle(tid, eff, verdict, actor=actor)
            print(json.dumps({"changed": ok}))
            return 0 if ok else 1
        finally:
            await dispose()

    try:
        return asyncio.run(run())
    except ValueError:
        raise KopruError("work.not_found", detail="tenant and ref are UUIDs") from None


def _einvoice_poll(args: argparse.Namespace) -> int:
    import asyncio

    from kopru.einvoice.service import poll_statuses

    async def run():
        from kopru.db import dispose

        try:
            return await poll_statuses()
        finally:
            await dispose()

    print(json.dumps(asyncio.run(run())))
    return 0


def _einvoice_users_import(args: argparse.Namespace) -> int:
    import asyncio

    from kopru.einvoice.service import forget_cached_users, import_users

    out = import_users(args.file)

    async def forget():
        from kopru import redis as kredis

        try:
            return await forget_cached_users()
        finally:
            for c in list(kredis._clients.values()):
                await c.aclose()
            kredis._clients.clear()

    out["cache_cleared"] = asyncio.run(forget())
    print(json.dumps(out))
    return 0


def _events_token(args: argparse.Namespace) -> int:
    from kopru.events.ingress import issue
    from kopru.runtime.registry import functions

    if args.function not in functions():
        print(f"no function named {args.function!r} (kopru functions lists them)", file=sys.stderr)
        return 2
    if args.ttl is not None and not 1 <= args.ttl <= 86400:
        print("--ttl must be between 1 and 86400 seconds", file=sys.stderr)
        return 2
    token = issue(args.function, "operator", args.ttl)
    print(json.dumps({"function": args.function, "token": token}) if getattr(args, "json", False) else token)
    return 0


def _events_tick(args: argparse.Namespace) -> int:
    """The schedule ticker outside `kopru dev` (OpenFaaS: the cron-connector sends no
    sender token), posting each scheduled function's tick to its URL with one."""
    import asyncio

    import httpx

    from kopru.events.catalog import load_catalog
    from kopru.events.dispatcher import http_sender
    from kopru.events.schedule import run_schedules
    from kopru.logs import configure

    configure(_settings().log_level)
    template = _settings().sink_template

    async def run() -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
            senders = {name: http_sender(client, template.format(name=name), name, "schedule")
                       for name in load_catalog().schedules}
            await run_schedules(senders, _stop_on_signals())

    asyncio.run(run())
    return 0


# The environment each command reads (kopru.config is the only reader; these are its names).
_DATABASE = ("DATABASE_URL", "DATABASE_OWNER_URL", "KOPRU_MASTER_KEY", "KOPRU_DATA_DIR")
_PROVIDERS = ("NETGSM_BASE_URL", "NILVERA_BASE_URL", "IYZICO_BASE_URL",
              "CREDIT_PARTNER_BASE_URL")  # credit reports (kopru.credit)
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "dev": _DATABASE + ("REDIS_URL", "PORT", "KOPRU_PUBLIC_URL", "KOPRU_ISSUER", "KOPRU_OPERATOR_CLIENT_ID",
                        "KOPRU_OPERATOR_CLIENT_SECRET", "KOPRU_LOG_LEVEL", "KOPRU_WEBHOOKS_ALLOW_PRIVATE", "KOPRU_METRICS",
                        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") + _PROVIDERS + (
        "NETGSM_SIM_USERCODE", "NETGSM_SIM_PASSWORD", "NETGSM_SIM_MSGHEADERS", "NETGSM_SIM_DELIVER_AFTER",
        "NILVERA_SIM_API_KEY", "NILVERA_SIM_VKN", "NILVERA_SIM_TAXPAYERS", "NILVERA_SIM_ANSWER", "IYZICO_SIM_PAY_AFTER"),
    "db": _DATABASE,
    "keys": _DATABASE,
    "client": _DATABASE,
    "functions": (),
    "sms": _DATABASE + ("REDIS_URL", "NETGSM_BASE_URL"),
    "work": _DATABASE + _PROVIDERS,
    "topics": ("KAFKA_BOOTSTRAP_SERVERS",),
    "relay": _DATABASE + ("KAFKA_BOOTSTRAP_SERVERS", "KOPRU_HEALTH_HOST", "KOPRU_HEALTH_PORT"),
    "dispatch": ("KAFKA_BOOTSTRAP_SERVERS", "KOPRU_SINK_TEMPLATE", "KOPRU_MASTER_KEY", "KOPRU_HEALTH_HOST",
                 "KOPRU_HEALTH_PORT"),
    "events": ("KOPRU_MASTER_KEY", "KOPRU_EVENT_TOKEN_TTL", "KOPRU_SINK_TEMPLATE"),
    "openapi": (),
    "deploy": (),
    "audit": _DATABASE,
    "einvoice": _DATABASE + ("REDIS_URL", "NILVERA_BASE_URL"),
    "purge": _DATABASE + ("KOPRU_PURGE_BATCH", "KOPRU_PURGE_BATCH_MS", "KOPRU_PURGE_BUDGET_S", "KOPRU_EXPORT_STORE"),
    "kvkk": _DATABASE,
}
GROUPS = {
    "db": "the database: apply migrations",
    "keys": "token signing keys: rotate",
    "client": "API clients: create, list, revoke",
    "sms": "SMS: poll Netgsm's delivery reports",
    "topics": "Kafka topics: create the catalog's topics",
    "events": "CloudEvents: sender tokens, schedule ticks",
    "deploy": "deployment manifests: render Knative or OpenFaaS files",
    "audit": "the audit log: verify its keyed chains against their anchors, anchor their heads",
    "einvoice": "e-invoices: render, validate, poll Nilvera, import GİB's user list",
    "kvkk": "KVKK registers: breaches",
}


def _describe(parser: argparse.ArgumentParser, env: tuple[str, ...]) -> None:
    """Every (sub)command: its help as its description, and the environment it reads as
    its epilog, down the whole tree."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("environment: " + ", ".join(env) if env else "environment: none") + \
        ("\n(with no DATABASE_URL: kopru dev's embedded PostgreSQL under KOPRU_DATA_DIR; "
         "a running kopru dev lends its simulators through <data dir>/dev.json)" if "DATABASE_URL" in env else "")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                if not child.description:
                    child.description = helps.get(name)
                _describe(child, env)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kopru", description="Köprü's command line: run it locally (kopru dev), "
                                "operate it (clients, keys, migrations, relays), render its documents")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    _build(sub)
    for name, child in sub.choices.items():
        child.description = child.description or next(
            (a.help for a in sub._choices_actions if a.dest == name), None)
        _describe(child, ENVIRONMENT.get(name, _DATABASE))
    _json_everywhere(sub)
    return p


# commands that serve until stopped (their output is the JSON log) or write a document
# (the document is the output): no --json
_NO_JSON = {("dev",), ("relay",), ("dispatch",), ("events", "tick"), ("einvoice", "render")}
# commands whose result is text by default; --json makes it one JSON document
_TEXT = {("db", "migrate"), ("openapi",), ("deploy", "render"), ("events", "token")}


def _json_everywhere(sub, prefix: tuple[str, ...] = ()) -> None:
    """Every command that prints a result takes --json (scripts need not know which ones
    print JSON anyway: most print one JSON document or JSON lines; on those it changes
    nothing)."""
    for name, child in sub.choices.items():
        path = prefix + (name,)
        inner = [a for a in child._actions if isinstance(a, argparse._SubParsersAction)]
        if inner:
            _json_everywhere(inner[0], path)
            continue
        if path in _NO_JSON or any("--json" in a.option_strings for a in child._actions):
            continue
        child.add_argument("--json", action="store_true",
                           help="the result as JSON" + ("" if path in _TEXT else " (the default: it prints JSON)"))


def _build(sub) -> None:

    d = sub.add_parser("dev", help="run every function in one process on embedded parts")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=_settings().port)
    d.add_argument("--keep-running", action="store_true", help="leave the embedded PostgreSQL running on exit")
    d.set_defaults(func=_dev)

    db = sub.add_parser("db", help=GROUPS["db"]).add_subparsers(dest="db_cmd", required=True)
    db.add_parser("migrate", help="apply migrations as the owner role").set_defaults(func=_migrate)

    keys = sub.add_parser("keys", help=GROUPS["keys"]).add_subparsers(dest="keys_cmd", required=True)
    kr = keys.add_parser("rotate", help="publish the next signing key")
    kr.add_argument("--alg", choices=["ES256", "EdDSA", "RS256"], default="ES256",
                    help="the new key's algorithm (default ES256: what mainstream JWT verifiers accept)")
    kr.add_argument("--immediate", action="store_true", help="sign with it now (first key, or an emergency)")
    kr.set_defaults(func=_keys_rotate)
    ke = keys.add_parser("epochs", help="the subject keys' key epochs (kopru.kvkk.epochs)") \
        .add_subparsers(dest="epochs_cmd", required=True)
    ker = ke.add_parser("rotate", help="new epoch when due, re-seal live subject keys, destroy expired epoch keys "
                                       "(the retention-purge tick does this daily)")
    ker.add_argument("--now", help="the time to act at (ISO 8601 with zone; default: now)")
    ker.add_argument("--batch", type=int, default=500, help="rows per transaction")
    ker.set_defaults(func=_epochs_rotate)
    ke.add_parser("list", help="every epoch of KOPRU_KEY_STORE, one JSON line each").set_defaults(func=_epochs_list)

    client = sub.add_parser("client", help=GROUPS["client"]).add_subparsers(dest="client_cmd", required=True)
    cc = client.add_parser("create", help="create an API client (its secret is printed once)")
    cc.add_argument("--platform", action="store_true", help="a platform operator client")
    cc.add_argument("--tenant", help="the tenant id, for a tenant's client")
    cc.add_argument("--name", required=True)
    cc.add_argument("--scope", action="append", help="repeatable; default: every tenant scope")
    cc.set_defaults(func=_client_create)
    cl = client.add_parser("list", help="platform clients, or a tenant's with --tenant")
    cl.add_argument("--tenant")
    cl.set_defaults(func=_client_list)
    cr = client.add_parser("revoke", help="revoke a client (and its refresh tokens)")
    cr.add_argument("client_id")
    cr.set_defaults(func=_client_revoke)

    sub.add_parser("functions", help="list the registered functions").set_defaults(func=_functions)

    sms = sub.add_parser("sms", help=GROUPS["sms"]).add_subparsers(dest="sms_cmd", required=True)
    sms.add_parser("poll-reports", help="move sent SMS to delivered/failed from Netgsm's reports (run on a schedule)") \
        .set_defaults(func=_sms_poll)

    wk = sub.add_parser("work", help="side effects parked unknown: list them, record a verdict, or send again") \
        .add_subparsers(dest="work_cmd", required=True)
    wp = wk.add_parser("parked", help="every effect parked unknown (ids and codes only), one JSON line each")
    wp.add_argument("--tenant")
    ws = wk.add_parser("settle", help="record what the provider says happened (audited)")
    wr = wk.add_parser("resend", help="it never reached the provider: owed again, sent by the next sweep (audited)")
    for x in (ws, wr):
        x.add_argument("--tenant", required=True)
        x.add_argument("--provider", required=True)
        x.add_argument("--operation", required=True)
        x.add_argument("--ref", required=True, help="our reference (the SMS or invoice id)")
    verdict = ws.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--sent", metavar="PROVIDER_ID", help="it went out: the provider's id for it (a Netgsm jobid)")
    verdict.add_argument("--failed", metavar="CODE", help="it did not: the code to record")
    for x in wk.choices.values():
        x.set_defaults(func=_work)

    tp = sub.add_parser("topics", help=GROUPS["topics"]).add_subparsers(dest="topics_cmd", required=True)
    ta = tp.add_parser("apply", help="create the catalog's topics (and dead-letter topics) on the broker")
    ta.add_argument("--bootstrap")
    ta.add_argument("--replication", type=int, default=1)
    ta.set_defaults(func=_topics_apply)

    rl = sub.add_parser("relay", help="publish the outbox to Kafka (KAFKA_BOOTSTRAP_SERVERS)")
    rl.add_argument("--once", action="store_true", help="drain what is pending, then exit (for a scheduled job)")
    rl.set_defaults(func=_relay)

    dp = sub.add_parser("dispatch", help="deliver Kafka records to the functions, as KafkaSource does")
    dp.add_argument("--function", action="append", help="only these consuming functions (default: all)")
    dp.add_argument("--sink", action="append", help="NAME=URL (default: $KOPRU_SINK_TEMPLATE)")
    dp.set_defaults(func=_dispatch)
    for x in (rl, dp):
        x.add_argument("--health-host", default=_settings().health_host,
                       help="address of the readiness endpoint (default $KOPRU_HEALTH_HOST or 127.0.0.1)")
        x.add_argument("--health-port", type=int, default=_settings().health_port,
                       help="port of GET /readyz and /healthz (default $KOPRU_HEALTH_PORT or 8081; 0: none)")

    evs = sub.add_parser("events", help=GROUPS["events"]).add_subparsers(dest="events_cmd", required=True)
    et = evs.add_parser("token", help="print a sender token for POST / of a function (kopru.events.ingress)")
    et.add_argument("--function", required=True)
    et.add_argument("--ttl", type=int, help="lifetime in seconds (default: KOPRU_EVENT_TOKEN_TTL, 300)")
    et.set_defaults(func=_events_token)
    evs.add_parser("tick", help="tick the catalog's schedules, posting to $KOPRU_SINK_TEMPLATE with sender tokens "
                   "(OpenFaaS: instead of the cron-connector)").set_defaults(func=_events_tick)

    oa = sub.add_parser("openapi", help="render docs/openapi.json from the registry")
    oa.add_argument("--check", action="store_true", help="exit 1 when the committed file is stale")
    oa.set_defaults(func=_openapi)

    dep = sub.add_parser("deploy", help=GROUPS["deploy"]).add_subparsers(dest="deploy_cmd", required=True)
    dr = dep.add_parser("render", help="render infra/knative/ or stack.yml from the registry and the catalog")
    dr.add_argument("target", choices=["knative", "openfaas"])
    dr.add_argument("--check", action="store_true", help="exit 1 (and list them) when the files on disk differ")
    dr.add_argument("--image", help="the image every workload runs (default: registry.example.com/kopru:<version>)")
    dr.add_argument("--functions", help=argparse.SUPPRESS)  # another functions/ folder (tests)
    dr.add_argument("--events", help=argparse.SUPPRESS)  # another events/ catalog folder (tests)
    dr.add_argument("--root", help=argparse.SUPPRESS)  # write/compare under another root (tests)
    dr.set_defaults(func=_deploy)

    au = sub.add_parser("audit", help=GROUPS["audit"]).add_subparsers(dest="audit_cmd", required=True)
    av = au.add_parser("verify", help="check the audit chains (MACs, continuity) against the latest anchor; "
                                      "exit 1 on any finding")
    av.add_argument("--tenant", help="one tenant id (default: every tenant)")
    av.add_argument("--json", action="store_true", help="the findings as one JSON document")
    av.add_argument("--no-anchors", action="store_true", help="the chains alone, without the anchor store")
    av.set_defaults(func=_audit_verify)
    aa = au.add_parser("anchor", help="write every audit chain's head outside PostgreSQL (KOPRU_AUDIT_ANCHOR_STORE)")
    aa.add_argument("--json", action="store_true")
    aa.set_defaults(func=_audit_anchor)

    ei = sub.add_parser("einvoice", help=GROUPS["einvoice"]).add_subparsers(dest="einvoice_cmd", required=True)
    er = ei.add_parser("render", help="render an invoice (JSON, with its `supplier`) as UBL-TR XML on stdout")
    er.add_argument("input", help="the invoice as JSON (kopru.einvoice.models.Invoice), or - for standard input")
    er.add_argument("--no-validate", action="store_true", help="write the XML without validating it first")
    er.add_argument("--p12", help="sign with this PKCS#12 (XAdES-BES)")
    er.add_argument("--password-env", help="name of the environment variable holding the PKCS#12 password")
    er.add_argument("--test-certificate", action="store_true", help="sign with a throw-away self-signed certificate")
    er.set_defaults(func=_einvoice_render)
    ev = ei.add_parser("validate", help="validate a UBL-TR file: UBL 2.1 XSD, GİB schematron, arithmetic")
    ev.add_argument("file", help="the XML file, or - for standard input")
    ev.add_argument("--kind", choices=["fatura", "earsiv", "irsaliye", "irsaliye-yaniti", "uygulama-yaniti", "zarf"],
                    help="the document kind (default: from the root element and cbc:ProfileID)")
    ev.add_argument("--json", action="store_true", help="the report as JSON")
    ev.add_argument("--verbose", "-v", action="store_true", help="also list informational findings")
    ev.set_defaults(func=_einvoice_validate)
    ei.add_parser("poll", help="move submitted invoices on from Nilvera's status (run on a schedule)") \
        .set_defaults(func=_einvoice_poll)
    eu = ei.add_parser("users", help="GİB's registered e-Fatura user list").add_subparsers(dest="users_cmd", required=True)
    eui = eu.add_parser("import", help="import the list from a CSV: identifier,title,alias,first_created")
    eui.add_argument("file")
    eui.set_defaults(func=_einvoice_users_import)

    pg = sub.add_parser("purge", help="run the retention purge now (what the retention-purge schedule does)")
    pg.add_argument("--dry-run", action="store_true", help="count what is due per rule and tenant; change nothing")
    pg.add_argument("--tenant", help="one tenant id (default: every tenant)")
    pg.add_argument("--batch", type=int, help="rows per batch (default KOPRU_PURGE_BATCH or 2000)")
    pg.set_defaults(func=_purge)

    kv = sub.add_parser("kvkk", help=GROUPS["kvkk"]).add_subparsers(dest="kvkk_cmd", required=True)
    br = kv.add_parser("breach", help="the breach register: record, show, list, mark reported (72-hour deadline)") \
        .add_subparsers(dest="breach_cmd", required=True)
    brr = br.add_parser("record", help="record a breach from a JSON file (see kopru.kvkk.breach.BreachIn)")
    brr.add_argument("--file", required=True, help="the breach as JSON, or - for standard input")
    brs = br.add_parser("show", help="render the Board notification (Turkish) of a breach")
    brs.add_argument("id")
    brp = br.add_parser("reported", help="record that the Board was notified")
    brp.add_argument("id")
    brp.add_argument("--at", help="when (ISO 8601 with zone; default now)")
    brp.add_argument("--delay-reason", help="required when past the 72-hour deadline")
    br.add_parser("list", help="every breach, with its deadline")
    for x in (brr, brs, brp):
        x.add_argument("--json", action="store_true", help="the record as JSON instead of the notification text")
    for x in br.choices.values():
        x.set_defaults(func=_breach)



def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func is not _dev:
        _use_dev_json()
    from kopru.errors import KopruError

    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except KopruError as exc:  # a refusal with its code, not a traceback
        from kopru.errors import CATALOG

        spec = CATALOG.get(exc.code)
        print(f"{exc.code}: {spec.en if spec else ''}{' (' + exc.detail + ')' if exc.detail else ''}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
