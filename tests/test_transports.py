"""The transports under httpx, against a real loopback server.

Every test runs on asyncio and trio (the ``anyio_backend`` fixture); the aiohttp transport only
exists on asyncio, the h11 pool runs on both.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest

from openrouter_async._transports import PreparingTransport, detect_backend, make_transport
from openrouter_async._transports._h11pool import AnyioH11Transport

try:
    from ._loopback_server import (
        JSON_BODY,
        LoopbackServer,
        running_server,
        self_signed_certificate,
    )
except ImportError:  # tests/ is not a package
    from _loopback_server import (  # type: ignore[no-redef]
        JSON_BODY,
        LoopbackServer,
        running_server,
        self_signed_certificate,
    )

pytestmark = pytest.mark.anyio

TransportFactory = Callable[..., httpx.AsyncBaseTransport]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with running_server() as s:
        yield s


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to make a certificate")
    return self_signed_certificate(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def tls_server(certificate: tuple[str, str]) -> Iterator[LoopbackServer]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    with running_server(ctx) as s:
        yield s


@pytest.fixture
def client_tls_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certificate[0])
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


@pytest.fixture(params=["aiohttp", "h11"])
def kind(request: pytest.FixtureRequest, anyio_backend: str) -> str:
    if request.param == "aiohttp" and anyio_backend != "asyncio":
        pytest.skip("the aiohttp transport runs on asyncio only")
    return str(request.param)


@pytest.fixture
def make(kind: str) -> TransportFactory:
    def factory(**kw: Any) -> httpx.AsyncBaseTransport:
        options: dict[str, Any] = {
            "max_connections": 10,
            "max_keepalive": None,
            "keepalive_expiry": 5.0,
            "connect_timeout": 5.0,
        }
        options.update(kw)
        if kind == "aiohttp":
            from openrouter_async._transports._aiohttp import AiohttpTransport

            return AiohttpTransport(**options)
        return AnyioH11Transport(**options)

    return factory


async def wait_until(predicate: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await anyio.sleep(0.01)


def task_count() -> int:
    return len(anyio.get_running_tasks())


# --------------------------------------------------------------------------- the seam


async def test_detect_backend(anyio_backend: str) -> None:
    assert detect_backend() == anyio_backend


async def test_make_transport_per_backend(anyio_backend: str) -> None:
    transport = make_transport(
        anyio_backend,
        max_connections=4,
        max_keepalive=None,
        keepalive_expiry=5.0,
        connect_timeout=5.0,
    )
    try:
        if anyio_backend == "asyncio":
            from openrouter_async._transports._aiohttp import AiohttpTransport

            assert isinstance(transport, AiohttpTransport)
        else:
            assert isinstance(transport, AnyioH11Transport)
    finally:
        await transport.aclose()


def test_detect_backend_outside_async_code() -> None:
    with pytest.raises(RuntimeError):
        detect_backend()


def test_make_transport_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="curio"):
        make_transport(
            "curio", max_connections=1, max_keepalive=None, keepalive_expiry=1, connect_timeout=1
        )


def test_aiohttp_is_imported_lazily() -> None:
    code = (
        "import sys, openrouter_async._transports as t; "
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported eagerly'; "
        "t.make_transport('trio', max_connections=1, max_keepalive=None, "
        "keepalive_expiry=1, connect_timeout=1); "
        "assert 'aiohttp' not in sys.modules; "
        "t.make_transport('asyncio', max_connections=1, max_keepalive=None, "
        "keepalive_expiry=1, connect_timeout=1); "
        "assert 'aiohttp' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- basics


async def test_json_roundtrip(server: LoopbackServer, make: TransportFactory) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        response = await client.get(server.url("/json"))
    assert response.status_code == 200
    assert response.content == JSON_BODY
    assert response.json()["ok"] is True
    assert response.headers["content-type"] == "application/json"
    assert response.http_version == "HTTP/1.1"
    assert response.reason_phrase == "OK"


async def test_direct_transport_call(server: LoopbackServer, make: TransportFactory) -> None:
    async with make() as transport:
        request = httpx.Request("GET", server.url("/json"))
        response = await transport.handle_async_request(request)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
    assert response.status_code == 200
    assert body == JSON_BODY


async def test_request_headers_and_body_pass_through(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        request = client.build_request(
            "POST",
            server.url("/echo"),
            content=b'{"a":1}',
            headers={"Content-Type": "application/json", "X-Title": "t"},
        )
        response = await client.send(request)
    doc = response.json()
    assert doc["method"] == "POST"
    assert doc["body"] == '{"a":1}'
    received = {k.lower(): v for k, v in doc["headers"]}
    sent = {k.lower(): v for k, v in request.headers.items()}
    # The transport adds nothing and drops nothing.
    assert received == sent


async def test_bare_request_gets_no_extra_headers(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with make() as transport:
        request = httpx.Request("POST", server.url("/echo"), content=b"xyz")
        response = await transport.handle_async_request(request)
        doc = httpx.Response(200, content=await response.aread()).json()
        await response.aclose()
    received = {k.lower() for k, _ in doc["headers"]}
    assert received == {"host", "content-length"}
    assert doc["body"] == "xyz"


async def test_streaming_upload(server: LoopbackServer, make: TransportFactory) -> None:
    async def body() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"part{i};".encode()
            await anyio.sleep(0.01)

    async with httpx.AsyncClient(transport=make()) as client:
        response = await client.post(server.url("/echo"), content=body())
    assert response.json()["body"] == "part0;part1;part2;"


async def test_content_encoding_is_decoded_by_httpx(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        response = await client.get(server.url("/gzip"))
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == JSON_BODY


async def test_large_body(server: LoopbackServer, make: TransportFactory) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        response = await client.get(server.url("/big?size=3000000"))
    assert len(response.content) == 3_000_000


async def test_https(
    tls_server: LoopbackServer, make: TransportFactory, client_tls_context: ssl.SSLContext
) -> None:
    async with httpx.AsyncClient(transport=make(ssl_context=client_tls_context)) as client:
        for _ in range(3):
            response = await client.post(tls_server.url("/echo"), content=b"{}")
            assert response.json()["body"] == "{}"
        async with client.stream("GET", tls_server.url("/stream?n=3&delay=0.01")) as response:
            chunks = [chunk async for chunk in response.aiter_raw()]
        # Closed early: the TLS connection is dropped, not reused.
        async with client.stream("GET", tls_server.url("/stream?n=50&delay=0.05")) as response:
            assert response.status_code == 200
        response = await client.get(tls_server.url("/json"))
        assert response.status_code == 200
    assert b"".join(chunks) == b"chunk-0\nchunk-1\nchunk-2\n"
    assert tls_server.stats.connections_opened == 2


async def test_https_rejects_untrusted_certificate(
    tls_server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(tls_server.url("/json"))


# --------------------------------------------------------------------------- pooling


async def test_keepalive_reuse(server: LoopbackServer, make: TransportFactory) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        for _ in range(10):
            response = await client.post(server.url("/json"), content=b"{}")
            assert response.status_code == 200
    assert server.stats.requests == 10
    assert server.stats.connections_opened == 1


async def test_pool_limit_honoured(server: LoopbackServer, make: TransportFactory) -> None:
    statuses: list[int] = []
    async with httpx.AsyncClient(transport=make(max_connections=2)) as client:

        async def one() -> None:
            response = await client.get(server.url("/hold?delay=0.15"))
            statuses.append(response.status_code)

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(one)
    assert statuses == [200] * 6
    assert server.stats.peak_active == 2
    assert server.stats.connections_opened == 2


async def test_pool_timeout(server: LoopbackServer, make: TransportFactory) -> None:
    async with httpx.AsyncClient(transport=make(max_connections=1)) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.get, server.url("/hold?delay=0.5"))
            await wait_until(lambda: server.stats.active == 1)
            with pytest.raises(httpx.PoolTimeout):
                await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=0.1))
        # The slot comes back once the first response is done.
        response = await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=0.5))
        assert response.status_code == 200


async def test_keepalive_expiry(server: LoopbackServer, make: TransportFactory) -> None:
    async with httpx.AsyncClient(transport=make(keepalive_expiry=0.1)) as client:
        await client.get(server.url("/json"))
        await anyio.sleep(0.3)
        await client.get(server.url("/json"))
    assert server.stats.connections_opened == 2


async def test_h11_max_keepalive(server: LoopbackServer, anyio_backend: str) -> None:
    transport = AnyioH11Transport(max_connections=5, max_keepalive=1)
    async with httpx.AsyncClient(transport=transport) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(client.get, server.url("/hold?delay=0.1"))
        await wait_until(lambda: server.stats.connections_open == 1)
        await client.get(server.url("/json"))
    assert server.stats.connections_opened == 3


async def test_max_keepalive_zero_means_no_reuse(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make(max_keepalive=0)) as client:
        for _ in range(3):
            assert (await client.get(server.url("/json"))).status_code == 200
    assert server.stats.connections_opened == 3


async def test_idle_connection_closed_by_server_is_replaced(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        await client.post(server.url("/close-idle?after=0.02"), content=b"{}")
        await wait_until(lambda: server.stats.connections_closed == 1)
        await anyio.sleep(0.05)
        response = await client.post(server.url("/json"), content=b"{}")
    assert response.status_code == 200
    assert server.stats.connections_opened == 2
    assert server.stats.requests == 2  # the dead connection was not even tried


# --------------------------------------------------------------------------- streaming


async def test_streaming_is_incremental(server: LoopbackServer, make: TransportFactory) -> None:
    arrivals: list[tuple[float, bytes]] = []
    async with httpx.AsyncClient(transport=make()) as client:
        async with client.stream("GET", server.url("/stream?n=3&delay=0.3")) as response:
            start = time.monotonic()
            async for chunk in response.aiter_raw():
                arrivals.append((time.monotonic() - start, chunk))
    assert b"".join(c for _, c in arrivals) == b"chunk-0\nchunk-1\nchunk-2\n"
    # Each chunk was delivered when it arrived, not when the body was complete.
    assert len(arrivals) == 3
    assert arrivals[-1][0] - arrivals[0][0] > 0.45


async def test_streamed_body_read_to_end_is_reused(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        for _ in range(3):
            async with client.stream("GET", server.url("/stream?n=3&delay=0")) as response:
                await response.aread()
    assert server.stats.connections_opened == 1


async def test_early_close_of_stream_closes_connection(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make(max_connections=1)) as client:
        tasks_before = task_count()
        async with client.stream("GET", server.url("/stream?n=20&delay=0.1")) as response:
            assert response.status_code == 200  # headers only: the body is left unread
        await wait_until(lambda: server.stats.connections_closed == 1)
        await anyio.sleep(0.05)
        assert task_count() == tasks_before
        # The slot was released: the single-connection pool serves the next request.
        response = await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=1))
        assert response.status_code == 200
    assert server.stats.connections_opened == 2


async def test_closing_unread_but_fully_received_body_keeps_connection(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        async with client.stream("GET", server.url("/json")) as response:
            assert response.status_code == 200
            await anyio.sleep(0.05)  # let the (small) body arrive behind the headers
        response = await client.get(server.url("/json"))
        assert response.content == JSON_BODY
    assert server.stats.connections_opened == 1


async def test_partly_read_stream_closed_early(
    server: LoopbackServer, make: TransportFactory
) -> None:
    # Straight on the transport: its stream is a plain async iterator (no generator to
    # finalize), the way a Session reading SSE would use it.
    transport = make(max_connections=1)
    async with transport:
        tasks_before = task_count()
        request = httpx.Request("GET", server.url("/stream?n=20&delay=0.1"))
        response = await transport.handle_async_request(request)
        iterator = response.stream.__aiter__()  # type: ignore[union-attr]
        assert (await iterator.__anext__()).startswith(b"chunk-0")
        await response.aclose()
        await wait_until(lambda: server.stats.connections_closed == 1)
        assert task_count() == tasks_before
        request = httpx.Request("GET", server.url("/json"), extensions={"timeout": {"pool": 1}})
        response = await transport.handle_async_request(request)
        assert await response.aread() == JSON_BODY
        await response.aclose()
    assert server.stats.connections_opened == 2


# --------------------------------------------------------------------------- cancellation


async def test_cancel_while_waiting_for_headers(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make(max_connections=1)) as client:
        tasks_before = task_count()
        with anyio.move_on_after(0.2) as scope:
            await client.get(server.url("/slow-headers?delay=5"))
        assert scope.cancelled_caught
        await wait_until(lambda: server.stats.connections_closed == 1)
        await anyio.sleep(0.05)
        assert task_count() == tasks_before
        response = await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=1))
        assert response.status_code == 200


async def test_cancel_while_reading_body(server: LoopbackServer, make: TransportFactory) -> None:
    async with httpx.AsyncClient(transport=make(max_connections=1)) as client:
        tasks_before = task_count()
        with anyio.move_on_after(0.3) as scope:
            async with client.stream("GET", server.url("/slow-body?delay=5")) as response:
                await response.aread()
        assert scope.cancelled_caught
        await wait_until(lambda: server.stats.connections_closed == 1)
        await anyio.sleep(0.05)
        assert task_count() == tasks_before
        response = await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=1))
        assert response.status_code == 200


async def test_cancel_while_waiting_for_pool(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make(max_connections=1)) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.get, server.url("/hold?delay=0.3"))
            await wait_until(lambda: server.stats.active == 1)
            with anyio.move_on_after(0.05):
                await client.get(server.url("/json"))
        response = await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=1))
        assert response.status_code == 200
    assert server.stats.connections_opened == 1


# --------------------------------------------------------------------------- errors


async def test_read_timeout_waiting_for_headers(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make(max_connections=1)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(
                server.url("/slow-headers?delay=3"), timeout=httpx.Timeout(5, read=0.2)
            )
        response = await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=1))
        assert response.status_code == 200


async def test_read_timeout_in_body(server: LoopbackServer, make: TransportFactory) -> None:
    async with httpx.AsyncClient(transport=make(max_connections=1)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url("/slow-body?delay=3"), timeout=httpx.Timeout(5, read=0.2))
        await wait_until(lambda: server.stats.connections_closed == 1)
        response = await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=1))
        assert response.status_code == 200


async def test_connect_error_on_closed_port(make: TransportFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with httpx.AsyncClient(transport=make()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/json")


async def test_connect_timeout(make: TransportFactory) -> None:
    # A listening socket whose accept queue is full: the kernel drops further SYNs.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):
                filler = socket.socket()
                filler.setblocking(False)
                fillers.append(filler)
                try:
                    filler.connect(("127.0.0.1", port))
                except BlockingIOError:
                    pass
            with socket.socket() as probe:
                probe.settimeout(0.3)
                try:
                    probe.connect(("127.0.0.1", port))
                except OSError:
                    pass
                else:
                    pytest.skip("this kernel accepts connections beyond the backlog")
            async with httpx.AsyncClient(transport=make()) as client:
                with pytest.raises(httpx.ConnectTimeout):
                    await client.get(
                        f"http://127.0.0.1:{port}/json", timeout=httpx.Timeout(5, connect=0.3)
                    )
        finally:
            for filler in fillers:
                filler.close()


async def test_h11_write_timeout(server: LoopbackServer, anyio_backend: str) -> None:
    # (aiohttp has no write timeout.)
    async with httpx.AsyncClient(transport=AnyioH11Transport(max_connections=1)) as client:
        with pytest.raises(httpx.WriteTimeout):
            await client.post(
                server.url("/no-read"),
                content=b"x" * (64 * 1024 * 1024),
                timeout=httpx.Timeout(5, write=0.3),
            )
        response = await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=1))
        assert response.status_code == 200


async def test_server_drops_connection_mid_body(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make(max_connections=1)) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.get(server.url("/drop-mid-body"))
        response = await client.get(server.url("/json"), timeout=httpx.Timeout(5, pool=1))
        assert response.status_code == 200


async def test_no_response_on_fresh_connection_is_not_retried(
    server: LoopbackServer, make: TransportFactory
) -> None:
    async with httpx.AsyncClient(transport=make()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(server.url("/no-response"), content=b"{}")
    assert server.stats.requests == 1


async def test_stale_keepalive_connection_retried_once(
    server: LoopbackServer, make: TransportFactory, kind: str
) -> None:
    # aiohttp retries a stale keep-alive connection for idempotent methods only; the h11
    # pool retries any request whose body can be replayed.
    method = "PUT" if kind == "aiohttp" else "POST"
    async with httpx.AsyncClient(transport=make()) as client:
        first = await client.request(method, server.url("/stale"), content=b"{}")
        second = await client.request(method, server.url("/stale"), content=b"{}")
    assert first.status_code == second.status_code == 200
    assert server.stats.connections_opened == 2
    assert server.stats.requests == 3  # one attempt on the stale connection, one retry


async def test_h11_streaming_body_on_stale_connection_is_not_retried(
    server: LoopbackServer, anyio_backend: str
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"{}"

    async with httpx.AsyncClient(transport=AnyioH11Transport()) as client:
        await client.post(server.url("/stale"), content=b"{}")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(server.url("/stale"), content=body())
    assert server.stats.requests == 2


async def test_unsupported_scheme(make: TransportFactory) -> None:
    async with make() as transport:
        with pytest.raises(httpx.UnsupportedProtocol):
            await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))


async def test_closed_transport_refuses_requests(
    server: LoopbackServer, make: TransportFactory
) -> None:
    transport = make()
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(server.url("/json"))
    await wait_until(lambda: server.stats.connections_closed == 1)
    with pytest.raises(RuntimeError):
        await transport.handle_async_request(httpx.Request("GET", server.url("/json")))


# --------------------------------------------------------------------------- prepared requests


@pytest.fixture
def aiohttp_transport(anyio_backend: str) -> Any:
    if anyio_backend != "asyncio":
        pytest.skip("the aiohttp transport runs on asyncio only")
    from openrouter_async._transports._aiohttp import AiohttpTransport

    return AiohttpTransport(max_connections=2)


async def echo(transport: Any, prepared: Any, body: bytes | None) -> dict[str, Any]:
    response = await transport.send_prepared(prepared, body)
    try:
        return dict(json.loads(await response.aread()))
    finally:
        await response.aclose()


def received_headers(doc: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in doc["headers"]}


async def test_only_the_aiohttp_transport_takes_prepared_requests(
    aiohttp_transport: Any,
) -> None:
    assert isinstance(aiohttp_transport, PreparingTransport)
    assert not isinstance(AnyioH11Transport(), PreparingTransport)


async def test_prepared_request_sends_what_the_request_would(
    server: LoopbackServer, aiohttp_transport: Any
) -> None:
    headers = {"Content-Type": "application/json", "X-Title": "t", "Accept": "*/*"}
    url = server.url("/echo")
    async with aiohttp_transport as transport:
        prepared = transport.prepare(httpx.Request("POST", url, headers=headers), has_body=True)
        for body in (b'{"a":1}', b'{"a":12345}'):
            request = httpx.Request("POST", url, headers=headers, content=body)
            response = await transport.handle_async_request(request)
            whole = json.loads(await response.aread())
            await response.aclose()
            doc = await echo(transport, prepared, body)
            # Same headers, the template's Content-Length (0) replaced by the body's own.
            assert received_headers(doc) == received_headers(whole)
            assert received_headers(doc)["content-length"] == str(len(body))
            assert doc["body"] == body.decode()
    assert server.stats.connections_opened == 1


async def test_prepared_request_without_a_body(
    server: LoopbackServer, aiohttp_transport: Any
) -> None:
    url = server.url("/echo")
    async with aiohttp_transport as transport:
        get = transport.prepare(httpx.Request("GET", url), has_body=False)
        post = transport.prepare(httpx.Request("POST", url), has_body=False)
        got, posted = await echo(transport, get, None), await echo(transport, post, None)
    assert set(received_headers(got)) == {"host"}
    assert received_headers(posted) == {"host": f"127.0.0.1:{server.port}", "content-length": "0"}
    assert got["method"] == "GET" and posted["method"] == "POST"


async def test_prepared_response_has_no_request_and_releases_its_slot(
    server: LoopbackServer, aiohttp_transport: Any
) -> None:
    async with aiohttp_transport as transport:
        prepared = transport.prepare(httpx.Request("GET", server.url("/json")), has_body=False)
        for _ in range(5):  # more than max_connections: every slot comes back
            response = await transport.send_prepared(prepared, None)
            with pytest.raises(RuntimeError):
                response.request  # noqa: B018 - the caller sets one if it needs it
            assert await response.aread() == JSON_BODY
            await response.aclose()
    assert server.stats.connections_opened == 1


async def test_prepared_request_fails_as_the_request_would(
    server: LoopbackServer, aiohttp_transport: Any
) -> None:
    request = httpx.Request("GET", server.url("/json"), headers={"X-Bad": "a\r\nb: c"})
    async with aiohttp_transport as transport:
        with pytest.raises(httpx.LocalProtocolError):
            await transport.handle_async_request(request)
        prepared = transport.prepare(request, has_body=False)
        with pytest.raises(httpx.LocalProtocolError):
            await transport.send_prepared(prepared, None)
