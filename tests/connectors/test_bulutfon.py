"""Bulutfon's client on the transport: what a failed connection says about a call-and-bridge
(placed or surely not), over real sockets on loopback."""

import asyncio
import socket

import pytest

from kopru.connectors.bulutfon import BulutfonClient, TransientError


async def bridge(c: BulutfonClient):
    return await c.call_and_bridge("api-key-1", caller="902120000000", callee="905321112233", destination="1001",
                                   ref="test")


async def test_connection_refused_is_transient_and_surely_not_placed():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    async with BulutfonClient(f"http://127.0.0.1:{port}", timeout=1.0) as c:
        with pytest.raises(TransientError) as ei:
            await bridge(c)
    assert (ei.value.code, ei.value.ambiguous) == ("connection_failed", False)


async def test_a_connection_dropped_after_the_request_went_may_have_placed_the_call():
    """The request reached the server, which closed without answering: Bulutfon may have
    acted, so the call-and-bridge is ambiguous (never placed again blindly); a clean
    TransientError, never a raw httpx error (a 500)."""
    got = asyncio.Event()

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        got.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with BulutfonClient(f"http://127.0.0.1:{port}", timeout=2.0) as c:
            with pytest.raises(TransientError) as ei:
                await bridge(c)
    finally:
        server.close()
        await server.wait_closed()
    assert got.is_set() and (ei.value.code, ei.value.ambiguous) == ("timeout", True)


async def test_no_free_connection_in_time_is_surely_not_placed():
    """The pool had no connection free within the time-out (PoolTimeout): the request never
    left the process, so the click-to-call is retried, not parked as unknown."""
    import httpx

    async def hang(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=1))
    try:
        c = BulutfonClient(f"http://127.0.0.1:{port}", timeout=0.5, http=http)
        first, second = await asyncio.gather(bridge(c), bridge(c), return_exceptions=True)
    finally:
        await http.aclose()
        server.close()
        await server.wait_closed()
    outcomes = sorted((e.code, e.ambiguous) for e in (first, second))
    # one reached the server and got no answer (may have been placed); the other never got a connection
    assert outcomes == [("timeout", False), ("timeout", True)], outcomes
