"""A Köprü function: its routes, the CloudEvent types it consumes, and how one
request is served (routing, body limits, problem+json errors, CloudEvents at POST /).

Heavy modules (pydantic models, SQLAlchemy, cloudevents) are imported by the
code paths that need them, never here: `GET /healthz` touches none of them.
"""

from __future__ import annotations

import gc
import json
import re
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from starlette.requests import ClientDisconnect
from starlette.responses import Response

from starlette.convertors import CONVERTOR_TYPES, PathConvertor


class _AnyPath(PathConvertor):
    """functions-framework serves every route through Starlette's `/{path:path}`, whose `.*`
    stops at a line feed: a path holding `%0A` got Starlette's own text/plain 404 instead of
    ours. The `path` convertor takes any character, so such a path reaches the function's
    router (a 404 problem+json, or an id that does not parse). Registered before
    functions-framework builds its routes: it executes the function module first."""

    regex = "(?s:.*)"


CONVERTOR_TYPES["path"] = _AnyPath()

from kopru.errors import KopruError, negotiate_language, validation_error
from kopru.events import current_source, current_traceparent
from kopru.logs import get_logger, tenant_id_var, event_id_var, trace_id_var
from kopru import metrics, tracing  # light: what every request touches (no OpenTelemetry import)
from kopru.runtime.inputs import over_tls

if TYPE_CHECKING:
    from starlette.requests import Request

log = get_logger("kopru.runtime")

_REGISTRY: dict[str, "Function"] = {}


def _default(o: Any) -> Any:
    if isinstance(o, (uuid.UUID, Decimal)):
        return str(o)
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_default, separators=(",", ":"))  # made once, not per answer


def _path(request: "Request") -> str:
    """The request's path as `request.url.path` has it, without building the URL (a
    string and a urlsplit per request) unless the path holds what URL escapes or urlsplit
    drops (tab, CR, LF: any control character sends it the long way)."""
    path = request.scope["path"]
    if "?" in path or "#" in path or "\\" in path or not path.isprintable():
        return request.url.path
    return path


def _trusted_proxies() -> bool:
    from kopru.config import settings

    return bool(settings().trusted_proxies)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  media_type: str = "application/json") -> Response:
    data = _ENCODER.encode(body).encode()
    return Response(data, status_code=status, headers=headers, media_type=media_type)


def created(out: dict[str, Any], status: int, location: str, *, replayed_in_body: bool = False) -> Response:
    """A create's answer (201, or 202 for work that goes on): `Location` of what was made
    and, when the Idempotency-Key was seen before (`out["replayed"]`, kopru.work.idempotency),
    `Idempotent-Replayed: true` with the first answer again. `replayed` leaves the body
    unless the route's answer model documents it there (`replayed_in_body`)."""
    replayed = out.get("replayed") if replayed_in_body else out.pop("replayed", False)
    headers = {"Location": location}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(out, status, headers)


def problem_response(err: KopruError, lang: str) -> Response:
    headers = dict(err.headers)
    headers["Content-Language"] = lang
    return json_response(err.problem(lang), err.http_status, headers, "application/problem+json")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # template, e.g. "/tenants/{id}"

    @property
    def regex(self) -> re.Pattern[str]:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path)
        return re.compile(f"^{pattern}$")


@dataclass(frozen=True)
class RouteDoc:
    summary: str
    body: str | None
    auth: str
    responses: tuple[int, ...]
    scope: str | None = None  # the scope a bearer token must hold (operators pass)
    tenant: str | None = None  # where the tenant comes from: "token", "path" ({id}) or None
    operator: bool = False  # platform operators only
    public: bool = False  # no bearer token ("none": anyone; "client": the endpoint authenticates the client)
    form: str | None = None  # "module:Model" documenting a form body the handler reads itself (OAuth)
    content: str = "application/json"  # the media type of a successful answer
    # OpenAPI links from a successful answer to the operations it feeds:
    # ((name, "METHOD /path/{id}", (("id", "$response.body#/id"), ...), request body or None), ...);
    # the target may name another function: "data-export POST /exports"
    links: tuple = ()
    # query parameters: ((name, required, JSON schema, description), ...)
    query: tuple = ()
    # the body of a successful JSON answer, per status: ((status, "module:Model"), ...)
    returns: tuple = ()

    @property
    def security_scope(self) -> str | None:
        """The scope a caller needs, as the OpenAPI document lists it."""
        from kopru.auth.scopes import OPERATOR_SCOPE

        return OPERATOR_SCOPE if self.operator else self.scope


TENANT_SOURCES = ("token", "path", None)
HSTS = "max-age=31536000; includeSubDomains"  # a year: browsers keep to https for every subdomain


Handler = Callable[["Call"], Awaitable[Response | Any]]


@dataclass
class Call:
    """One HTTP call into a function: the request, its language, its caller."""

    request: "Request"
    function: "Function"
    path_params: dict[str, str]
    lang: str
    _body: bytes | None = None
    _principal: Any = None
    # the tenant this call acts in, resolved once by the runtime from the route's
    # `tenant=` (a kopru.auth.principal.TenantContext); None on platform and public routes
    tenant: Any = None

    @property
    def caller(self):
        """The verified caller of a bearer route (the runtime authenticated it before
        the handler ran); None on public routes."""
        return self._principal

    @property
    def headers(self):
        return self.request.headers

    def path_id(self, not_found: str, name: str = "id") -> uuid.UUID:
        """The path's `{id}` as a UUID; anything else is the route's own not-found code
        (404): an id that cannot exist is not found, not a validation error."""
        try:
            return uuid.UUID(self.path_params[name])
        except ValueError:
            raise KopruError(not_found) from None

    @property
    def query(self):
        return self.request.query_params

    @property
    def client_ip(self) -> str | None:
        """The caller's address: the peer's, unless the peer is a proxy KOPRU_TRUSTED_PROXIES
        names; then X-Forwarded-For read from the right, past every trusted proxy (a caller
        writes the left end of that header freely). The servers' own proxy-header handling is
        off (FORWARDED_ALLOW_IPS: none), so the peer is the connection's."""
        from kopru.runtime.inputs import client_address

        peer = self.request.client.host if self.request.client else None
        return client_address(peer, self.headers.getlist("x-forwarded-for"))

    async def body(self) -> bytes:
        if self._body is None:
            self._body = await read_body(self.request, self.function.max_body_bytes)
        return self._body

    async def json(self, model: type) -> Any:
        """The body validated by a pydantic model (strict types, unknown fields refused)."""
        ctype = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise KopruError("request.unsupported_media_type", detail="expected application/json")
        from kopru.runtime.inputs import check_idempotency_key

        check_idempotency_key(self.headers.get("idempotency-key"))
        return parse_model(model, await self.body(), self.lang)

    async def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body (OAuth2), with repeated keys refused, an
        empty one too (`scope=&scope=x`), and a key without a value treated as absent (RFC
        6749 3.1: "Parameters sent without a value MUST be treated as if they were omitted";
        "Request and response parameters MUST NOT be included more than once")."""
        from urllib.parse import parse_qsl

        ctype = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise KopruError("request.unsupported_media_type", detail="expected application/x-www-form-urlencoded")
        from kopru.runtime.inputs import check_form, check_idempotency_key

        check_idempotency_key(self.headers.get("idempotency-key"))
        try:
            pairs = parse_qsl((await self.body()).decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                              errors="strict")
        except UnicodeDecodeError:
            raise KopruError("request.invalid_unicode", detail="body is not UTF-8") from None
        check_form(pairs, self.lang)
        out: dict[str, str] = {}
        seen: set[str] = set()
        for k, v in pairs:
            if k in seen:
                from kopru.runtime.inputs import parameter_name

                raise KopruError("request.validation_failed", detail=f"{parameter_name(k)} repeated")
            seen.add(k)
            if v:
                out[k] = v
        return out

    async def principal(self):
        """The verified caller (from the bearer token); raises 401 when there is none.
        The runtime calls this once, before the handler, on every bearer route."""
        if self._principal is None:
            from kopru.auth import authenticate

            self._principal = await authenticate(self.headers.get("authorization"))
            tenant_id_var.set(str(self._principal.tenant_id) if self._principal.tenant_id else None)
        return self._principal


async def read_body(request: "Request", limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise KopruError("request.too_large", detail=f"limit is {limit} bytes")
        except ValueError:
            raise KopruError("request.validation_failed", detail="bad Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise KopruError("request.too_large", detail=f"limit is {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_model(model: type, raw: bytes, lang: str) -> Any:
    """A JSON body validated by `model`, after the checks every body passes
    (kopru.runtime.inputs: depth, UTF-8, surrogates, control characters)."""
    from pydantic import ValidationError

    from kopru.runtime.inputs import check_json

    check_json(raw, lang)
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors(include_input=False)):
            raise KopruError("request.malformed_json") from None
        raise validation_error(exc, lang) from None


@dataclass
class EventCall:
    """One CloudEvent delivered to a function."""

    event: Any  # cloudevents.http.CloudEvent
    function: "Function"

    @property
    def type(self) -> str:
        return self.event["type"]

    @property
    def tenant_id(self) -> uuid.UUID:
        raw = self.event.get("tenantid")
        try:
            return uuid.UUID(str(raw))
        except (TypeError, ValueError):
            raise KopruError("cloudevent.missing_tenant") from None

    @property
    def data(self) -> Any:
        return self.event.data

    def once(self):
        """A transaction in the event's tenant that records the event in this
        function's inbox. Yields None for a duplicate (already processed): the caller
        does nothing and the delivery is acknowledged."""
        return _inbox_transaction(self)


@asynccontextmanager
async def _inbox_transaction(ecall: "EventCall"):
    from kopru.db import tenant_transaction
    from kopru.db.engine import statement

    async with tenant_transaction(ecall.tenant_id, actor=f"event:{ecall.function.name}") as tx:
        fresh = (await tx.execute(statement("inbox_claim"), {
            "consumer": ecall.function.name, "source": str(ecall.event["source"]),
            "event_id": str(ecall.event["id"]), "tenant_id": ecall.tenant_id, "type": ecall.type})).first()
        yield tx if fresh is not None else None


EventHandler = Callable[[EventCall], Awaitable[Any]]


@dataclass
class Function:
    name: str
    max_body_bytes: int | None = None
    routes: dict[Route, Handler] = field(default_factory=dict)
    consumes: dict[str, EventHandler] = field(default_factory=dict)
    docs: dict[Route, "RouteDoc"] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,40}", self.name):
            raise ValueError(f"bad function name {self.name!r}")
        if self.max_body_bytes is None:
            from kopru.config import settings

            self.max_body_bytes = settings().max_body_bytes
        self._compiled: list[tuple[Route, re.Pattern[str], Handler]] = []
        _REGISTRY[self.name] = self

    # -- declaration -------------------------------------------------------
    def route(self, method: str, path: str, *, summary: str = "", body: str | None = None,
              auth: str = "bearer", responses: tuple[int, ...] = (200,), scope: str | None = None,
              tenant: str | None = None, operator: bool = False, public: bool = False, form: str | None = None,
              content: str = "application/json", links: dict[str, tuple] | None = None,
              query: tuple = (), returns: str | dict[int, str] | None = None,
              ) -> Callable[[Handler], Handler]:
        """Declare a route and who may call it. `body` names the request model as
        "module:Class" (imported only by the OpenAPI renderer and the handler itself).

        Every route says who may call it, exactly one of:
        - `scope="sms:send", tenant="token"|"path"`: a bearer token holding the scope
          (operators pass); the tenant is the caller's own ("token") or the `{id}` path
          parameter ("path": a tenant may only name itself, an operator must name one);
        - `operator=True` (optionally `tenant="path"`): platform operators only;
        - `public=True`: no bearer token; `auth` is then "none" (default) or "client"
          (the endpoint authenticates the OAuth client itself).
        The runtime enforces it before the handler runs and hands the handler the
        resolved tenant as `call.tenant`.

        `content` is the media type of a successful answer (documentation); `links` names
        the operations a successful answer feeds, as OpenAPI links:
        `links={"read": ("GET /sms/{id}", {"id": "$response.body#/id"})}`, with a request body
        as a third element (runtime expressions inside it are evaluated) and another function's
        operation named "<function> METHOD /path"; `query` documents
        its query parameters as `(name, required, json_schema, description)` tuples
        (`kopru.runtime.pages.QUERY` for a cursor-paged list).

        `returns` names the pydantic model of a successful JSON answer ("module:Class",
        imported only by the OpenAPI renderer), or a mapping status -> model where the
        route answers its 2xx statuses differently: every route with a JSON 2xx body
        declares one (tests/test_openapi.py walks the registry)."""
        from kopru.auth.scopes import OPERATOR_SCOPE, SCOPES

        where = f"{self.name}: {method} {path}"
        if public:
            if scope is not None or tenant is not None or operator:
                raise ValueError(f"{where}: a public route declares no scope, tenant or operator")
            if auth == "bearer":
                auth = "none"
            if auth not in ("none", "client"):
                raise ValueError(f"{where}: auth must be 'none' or 'client' on a public route")
        else:
            if auth != "bearer":
                raise ValueError(f"{where}: auth={auth!r} is a public route: say public=True")
            if operator == (scope is not None):
                raise ValueError(f"{where}: declare who may call it: scope= (with tenant=), operator=True or public=True")
            if tenant not in TENANT_SOURCES:
                raise ValueError(f"{where}: tenant must be 'token', 'path' or None")
            if scope is not None:
                if scope not in SCOPES or scope == OPERATOR_SCOPE:
                    raise ValueError(f"{where}: unknown scope {scope!r} (kopru.auth.scopes; operator routes say operator=True)")
                if tenant is None:
                    raise ValueError(f"{where}: a scoped route acts in a tenant: tenant='token' or 'path'")
            elif tenant == "token":
                raise ValueError(f"{where}: an operator has no tenant of its own: tenant='path' or None")
            if tenant == "path" and "{id}" not in path:
                raise ValueError(f"{where}: tenant='path' takes the tenant from {{id}}")

        ok = [s for s in responses if 200 <= s < 300 and s != 204]
        if isinstance(returns, str):
            answers = tuple((s, returns) for s in ok)
        else:
            answers = tuple(sorted((returns or {}).items()))
            if any(s not in ok for s, _ in answers):
                raise ValueError(f"{where}: returns= names a status that is not a declared 2xx answer with a body")
        if any(not isinstance(ref, str) or ":" not in ref for _, ref in answers):
            raise ValueError(f"{where}: returns= names a model as 'module:Class'")

        def deco(fn: Handler) -> Handler:
            r = Route(method.upper(), path)
            if r in self.routes:
                raise ValueError(f"{self.name}: route {method} {path} declared twice")
            self.routes[r] = fn
            self.docs[r] = RouteDoc(summary or (fn.__doc__ or "").strip().split("\n")[0], body, auth, responses,
                                    scope, tenant, operator, public, form, content,
                                    tuple((name, link[0], tuple(sorted(link[1].items())),
                                           link[2] if len(link) > 2 else None)
                                          for name, link in sorted((links or {}).items())),
                                    tuple(query), answers)
            self._compiled.append((r, r.regex, fn))
            return fn

        return deco

    def on_event(self, type_: str) -> Callable[[EventHandler], EventHandler]:
        def deco(fn: EventHandler) -> EventHandler:
            if type_ in self.consumes:
                raise ValueError(f"{self.name}: event type {type_} declared twice")
            self.consumes[type_] = fn
            return fn

        return deco

    # -- serving -----------------------------------------------------------
    async def __call__(self, request: "Request") -> Response:
        started = time.perf_counter()
        if _gc_phase == 0:
            _gc_first()
        response = await self._serve(request)
        if _gc_phase == 1 and request.scope["path"] != "/healthz":
            import asyncio

            asyncio.get_running_loop().call_soon(_gc_warmed)  # after this answer has gone out
        route = "event" if request.scope["path"] == "/" else request.scope.get("kopru_route", "unmatched")
        metrics.request(self.name, route, response.status_code, (time.perf_counter() - started) * 1000)
        # every answer: no MIME sniffing; and nothing cached unless the route says so (its
        # answers carry tenants' data: tax numbers, TCKNs, phone numbers, tokens)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if "cache-control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        # HSTS only on an answer that went out over TLS (RFC 6797 §7.2: never over plain HTTP)
        scheme = request.scope.get("scheme", "http")
        if (scheme == "https" or _trusted_proxies()) and over_tls(
                scheme, request.client.host if request.client else None, request.headers.getlist("x-forwarded-proto")):
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    async def _serve(self, request: "Request") -> Response:
        if not _logging_ready:
            _configure_logging()
        lang = negotiate_language(request.headers.get("accept-language"))
        method, path = request.scope["method"], _path(request)
        started = time.perf_counter()
        tenant_id_var.set(None)
        event_id_var.set(None)
        trace_id_var.set(None)
        current_traceparent.set(None)
        current_source.set(f"/kopru/{self.name}")
        try:
            if path == "/healthz" and method in ("GET", "HEAD"):
                return json_response({"status": "ok", "function": self.name})
            configure, span = tracing.configure, tracing.span
            configure(self.name)  # the OTLP exporter, on the first request and only when configured
            if path == "/" and method == "POST":
                tp = request.headers.get("ce-traceparent") or request.headers.get("traceparent")
                with span(f"{self.name} event", tp, "CONSUMER"):
                    return await self._deliver_event(request)
            with span(f"{self.name} {method}", request.headers.get("traceparent")):
                return await self._route(request, method, path, lang)
        except ClientDisconnect:
            # the caller went away mid-request: nobody to answer, nothing to log as an error
            return Response(status_code=499)
        except KopruError as err:
            if err.http_status >= 500:
                log.error("request failed", extra={"fields": {"code": err.code, "path": path}})
            return problem_response(err, lang)
        except Exception as exc:
            if _backing_service_down(exc):
                # the database (or Redis) cannot be reached: a clean 503 the caller retries,
                # logged by type only (driver messages name hosts and may quote values)
                log.warning("backing service unavailable", extra={"fields": {
                    "function": self.name, "method": method, "path": path, "error": type(exc).__name__}})
                return problem_response(KopruError("unavailable", detail="a backing service cannot be reached; "
                                                   "retry shortly", headers={"Retry-After": "5"}), lang)
            log.exception("unhandled error", extra={"fields": {"function": self.name, "method": method, "path": path}})
            return problem_response(KopruError("internal"), lang)
        finally:
            dt = (time.perf_counter() - started) * 1000
            if dt > 1000:
                log.warning("slow request", extra={"fields": {"function": self.name, "path": path, "ms": round(dt)}})

    async def _route(self, request: "Request", method: str, path: str, lang: str) -> Response:
        allowed: list[str] = []
        for route, rx, handler in self._compiled:
            m = rx.match(path)
            if not m:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            request.scope["kopru_route"] = f"{route.method} {route.path}"  # the template, never the ids
            call = Call(request, self, m.groupdict(), lang)
            await self._authorize(call, self.docs[route])
            result = await handler(call)
            return result if isinstance(result, Response) else json_response(result)
        if allowed:
            raise KopruError("request.method_not_allowed", headers={"Allow": ", ".join(sorted(set(allowed)))})
        raise KopruError("request.not_found")

    @staticmethod
    async def _authorize(call: Call, doc: RouteDoc) -> None:
        """What the route declares, enforced before its handler runs: authenticate
        once, check the scope (or the operator), resolve the tenant once."""
        if doc.public:
            return
        principal = await call.principal()
        if doc.operator:
            principal.require_operator()
        else:
            principal.require_scope(doc.scope)
        from kopru.auth.principal import resolve_tenant

        call.tenant = resolve_tenant(principal, doc.tenant, call.path_params.get("id"))
        if call.tenant is not None:
            tenant_id_var.set(str(call.tenant.tenant_id))

    def _from_openfaas(self, headers, raw: bytes):
        """The OpenFaaS connectors: cron-connector (X-Topic: cron-function, no event)
        and kafka-connector (the record with X-Kafka-* headers). Reached only after
        the sender was verified (kopru.events.ingress): the stock connectors send no
        token, so on OpenFaaS Köprü's dispatcher and ticker deliver (docs/deploy.md)."""
        if headers.get("x-topic") == "cron-function":
            from datetime import datetime, timezone

            from cloudevents.http import CloudEvent

            type_ = self._scheduled_type()
            minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
            # one id per function and minute: a tick delivered twice is one tick
            return CloudEvent({"id": f"{self.name}-{minute:%Y%m%dT%H%MZ}", "source": "/kopru/schedule",
                               "type": type_, "time": minute.isoformat()}, {"scheduled_at": minute.isoformat()})
        return _openfaas_kafka(headers, raw)

    def _scheduled_type(self) -> str:
        """The event type this function's schedule delivers (catalog `schedules`), or
        its only consumed type."""
        from kopru.events.catalog import load_catalog

        sched = load_catalog().schedules.get(self.name)
        if sched is not None and sched.type in self.consumes:
            return sched.type
        if len(self.consumes) == 1:
            return next(iter(self.consumes))
        raise KopruError("cloudevent.unsupported_type", detail="no schedule is declared for this function")

    async def _deliver_event(self, request: "Request") -> Response:
        from cloudevents.http import from_http

        from kopru.events.ingress import verify_sender

        headers = request.headers
        # who sent it, before anything of the event is read, run or trusted (tenantid)
        await verify_sender(self.name, headers)
        raw = await read_body(request, self.max_body_bytes)
        ctype = headers.get("content-type", "").lower()
        if "ce-specversion" in headers or ctype.startswith("application/cloudevents"):
            try:
                event = from_http(dict(headers), raw)
            except Exception as exc:  # the SDK raises several unrelated types
                raise KopruError("cloudevent.malformed", detail=_safe_reason(exc)) from None
        elif headers.get("x-topic"):
            event = self._from_openfaas(headers, raw)
        else:
            raise KopruError("cloudevent.malformed", detail="neither binary (ce-* headers) nor structured (application/cloudevents+json) mode")
        for attr in ("id", "source", "type", "specversion"):
            if not event.get(attr):
                raise KopruError("cloudevent.malformed", detail=f"missing required attribute {attr}")
        event_id_var.set(str(event["id"]))
        if event["type"] == PING_TYPE:
            # Knative's PingSource: its tick becomes the schedule's own event type
            event["type"] = self._scheduled_type()
        handler = self.consumes.get(event["type"])
        if handler is None:
            from kopru.events.catalog import load_catalog

            if event["type"] in load_catalog().events:
                # a KafkaSource delivers every record of its topics: other consumers'
                # types are acknowledged and ignored (a 4xx would dead-letter them)
                return Response(status_code=204, headers={"X-Kopru-Ignored": "not consumed here"})
            raise KopruError("cloudevent.unsupported_type", detail=f"{self.name} consumes: {', '.join(sorted(self.consumes)) or 'nothing'}")
        ecall = EventCall(event, self)
        if event.get("tenantid") is not None:  # a schedule's tick has none; handlers that need one ask
            tenant_id_var.set(str(ecall.tenant_id))
        from kopru.events.catalog import load_catalog, schema_errors

        if event["type"] in load_catalog().events:
            problems = schema_errors(event["type"], event.data)
            if problems:
                # not retried; the paths name fields, never their values
                raise KopruError("cloudevent.invalid_data", errors=[{"field": p} for p in problems[:20]])
        result = await handler(ecall)
        if isinstance(result, Response):
            return result
        return Response(status_code=204)


def _backing_service_down(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database or Redis cannot be reached:
    psycopg's and SQLAlchemy's OperationalError and InterfaceError (connection refused,
    server shutting down, connection lost), the pool's time-out, Redis's
    connection and time-out errors. Only modules already loaded are consulted."""
    import sys

    kinds: list[type] = []
    pg = sys.modules.get("psycopg")
    if pg is not None:
        kinds += [pg.OperationalError, pg.InterfaceError]
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is not None:
        kinds += [sa.OperationalError, sa.InterfaceError, sa.TimeoutError]
    eng = sys.modules.get("kopru.db.engine")
    if eng is not None:
        kinds.append(eng.PoolTimeout)
    rx = sys.modules.get("redis.exceptions")
    if rx is not None:
        kinds += [rx.ConnectionError, rx.TimeoutError]
    if not kinds:
        return False
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        if isinstance(cur, tuple(kinds)):
            if sa is not None and isinstance(cur, sa.DBAPIError) and pg is not None \
                    and not isinstance(cur.orig, (pg.OperationalError, pg.InterfaceError)):
                return False
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


_CE_REASONS = {
    "MissingRequiredFields": "a required attribute (id, source, type, specversion) is missing",
    "InvalidRequiredFields": "a required attribute has an invalid value",
    "InvalidStructuredJSON": "the structured-mode body is not a JSON CloudEvent",
    "DataUnmarshallerError": "the data could not be decoded",
    "InvalidHeadersFormat": "the ce-* headers are malformed",
}


def _openfaas_kafka(headers, raw: bytes):
    """OpenFaaS's kafka-connector posts the record value as the body, each Kafka
    header as X-Kafka-<name>, the key as X-Kafka-Key (base64 when X-Kafka-Key-Enc: b64).
    Our records are binary-mode CloudEvents, so the ce_ headers rebuild the event."""
    import base64
    import binascii

    from kopru.events.envelope import MalformedRecord, from_kafka

    kafka_headers = [(k[len("x-kafka-"):], v.encode()) for k, v in headers.items()
                     if k.startswith("x-kafka-") and k not in ("x-kafka-key", "x-kafka-key-enc",
                                                               "x-kafka-partition", "x-kafka-offset")]
    key = headers.get("x-kafka-key")
    key_bytes = None
    if key is not None:
        if headers.get("x-kafka-key-enc") == "b64":
            try:
                key_bytes = base64.b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                raise KopruError("cloudevent.malformed", detail="X-Kafka-Key is not valid base64") from None
        else:
            key_bytes = key.encode()
    try:
        return from_kafka(kafka_headers, key_bytes, raw)
    except MalformedRecord as exc:
        raise KopruError("cloudevent.malformed", detail=str(exc)) from None


def _safe_reason(exc: Exception) -> str:
    """Why the SDK refused the event, from its exception type only: the SDK's own
    messages can quote the payload, which may hold personal data."""
    return _CE_REASONS.get(type(exc).__name__, "unreadable CloudEvent")


# Cold start: the first real request imports psycopg, redis, PyJWT... (~120 ms of module
# code allocating hundreds of thousands of objects, none of them garbage) while the cyclic
# collector walks them again and again. In a serving process the collector is off from its
# first request (the readiness probe, as a rule) until the first request that is not a
# health check has been answered, at most GC_WARMUP_S; then (once that answer is out) the
# cycles that became garbage meanwhile are collected, what is left is frozen (gc.freeze:
# never scanned again, so later collections are shorter too) and collection resumes.
# 0: not started, 1: warming (collector off), 2: done.
_gc_phase = 0
GC_WARMUP_S = 30.0


def _gc_first() -> None:
    global _gc_phase
    if _gc_phase == 0:
        _gc_phase = 1
        if not gc.isenabled():  # someone else turned it off: leave it to them
            _gc_phase = 2
            return
        gc.disable()
        try:
            import asyncio

            asyncio.get_running_loop().call_later(GC_WARMUP_S, _gc_warmed)  # only health checks came: resume anyway
        except RuntimeError:
            pass


def _gc_warmed() -> None:
    global _gc_phase
    if _gc_phase == 1:
        _gc_phase = 2
        gc.collect()
        gc.freeze()
        gc.enable()


PING_TYPE = "dev.knative.sources.ping"
_logging_ready = False


def _configure_logging() -> None:
    """JSON logs for a function process (functions-framework sets up none of its own);
    done on the first request, not at import."""
    global _logging_ready
    from kopru.config import settings
    from kopru.logs import configure

    configure(settings().log_level)
    _logging_ready = True


def registered() -> dict[str, Function]:
    return dict(_REGISTRY)
