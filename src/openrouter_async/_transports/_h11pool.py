"""A small HTTP/1.1 keep-alive connection pool: :mod:`h11` over :mod:`anyio` (trio and asyncio).

:class:`AnyioH11Transport` is an :class:`httpx.AsyncBaseTransport`:

* at most ``max_connections`` connections (open or being opened) at a time, enforced by an
  anyio semaphore; waiting for one is bounded by ``timeout["pool"]`` -> :class:`httpx.PoolTimeout`;
* idle connections are kept per origin and reused last-in first-out (the warmest socket first),
  expire after ``keepalive_expiry`` seconds idle, at most ``max_keepalive`` are kept;
* an idle connection the server closed (EOF, or anything else readable on an idle socket) is
  detected before reuse and replaced;
* a request that fails on a *reused* connection before any byte of the response arrived (the
  server closed the keep-alive connection while we were sending) is retried once, on a fresh
  connection, when its body can be replayed (standard client behaviour);
* the response body is streamed event by event; read to the end, the connection goes back to
  the pool; closed early, failed or cancelled, the connection is closed, never reused;
* timeouts from ``request.extensions["timeout"]`` (``connect``/``read``/``write``/``pool``) via
  anyio cancel scopes, mapped to the httpx timeout exceptions; every network, TLS and protocol
  error surfaces as the matching httpx exception;
* with ``proxies`` (see ``_proxies.py``), a request whose URL a proxy applies to goes through
  httpx's own transport for that proxy (``_via_proxy.py``); without, there is no proxy path.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import h11
import httpx

if TYPE_CHECKING:
    from .._proxies import ProxyMap
    from ._via_proxy import ProxyTransports

__all__ = ["AnyioH11Transport"]

_READ_SIZE = 64 * 1024
_NO_TIMEOUT: Mapping[str, float | None] = {}
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_HTTP_11 = b"HTTP/1.1"

# Errors of a broken socket: peer reset, broken pipe, TLS failure, closed under us.
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
)

Origin = tuple[bytes, str, int]


class _Stale(Exception):
    """A reused connection failed before any response byte arrived: retry on a fresh one."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__("stale keep-alive connection")
        self.cause = cause


def _socket_is_readable(sock: socket.socket | None) -> bool:
    """True when an idle socket has something to read: EOF (the server closed it), stray
    bytes, or an error -- in every case the connection must not be reused."""
    if sock is None:
        return True
    try:
        fd = sock.fileno()
    except OSError:  # pragma: no cover - defensive
        return True
    if fd < 0:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - Windows
        return bool(readable)
    except (OSError, ValueError):  # pragma: no cover - defensive
        return True


class _Connection:
    """One HTTP/1.1 connection: a byte stream and its h11 state machine."""

    __slots__ = ("closed", "h11", "idle_since", "origin", "sock", "stream")

    def __init__(self, origin: Origin, stream: anyio.abc.ByteStream) -> None:
        self.origin = origin
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.closed = False
        self.sock: socket.socket | None = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)

    def is_dead(self) -> bool:
        return self.closed or _socket_is_readable(self.sock)

    async def aclose(self) -> None:
        """Close now, without waiting for the peer; safe (and complete) even when the
        calling task is being cancelled."""
        if not self.closed:
            self.closed = True
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(self.stream)


class _H11ResponseStream(httpx.AsyncByteStream):
    """The response body, read event by event from h11; :meth:`aclose` settles the
    connection (back to the pool when the body was read to its end, closed otherwise)."""

    __slots__ = ("_conn", "_done", "_ended", "_pool", "_read_timeout")

    def __init__(
        self, pool: AnyioH11Transport, conn: _Connection, read_timeout: float | None
    ) -> None:
        self._pool = pool
        self._conn = conn
        self._read_timeout = read_timeout
        self._done = False
        self._ended = False  # EndOfMessage seen while data was still to be handed out

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        conn = self._conn
        h = conn.h11
        # Everything already received goes out as one chunk: a server that sends one HTTP
        # chunk per SSE event would otherwise cost the consumer one hand-off per event.
        parts: list[bytes] = []
        try:
            while not self._ended:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    if parts:
                        return b"".join(parts)
                    h.receive_data(await _receive(conn.stream, self._read_timeout))
                    continue
                if type(event) is h11.Data:
                    parts.append(event.data)
                    continue
                if type(event) is h11.EndOfMessage:
                    if parts:
                        self._ended = True
                        return b"".join(parts)
                    break
                # ConnectionClosed / PAUSED cannot happen mid-body without an h11 error.
                raise httpx.RemoteProtocolError(f"unexpected event while reading body: {event!r}")
        except BaseException as exc:
            await self._settle(reuse=False)
            if isinstance(exc, Exception):
                mapped = _map_read_error(exc)
                if mapped is not exc:
                    raise mapped from exc
            raise
        await self._settle(reuse=True)
        raise StopAsyncIteration

    async def _settle(self, *, reuse: bool) -> None:
        if self._done:
            return
        self._done = True
        await self._pool._release(self._conn, reuse=reuse)

    async def aclose(self) -> None:
        if self._done:
            return
        if self._ended:  # the whole body was received; only its hand-out was pending
            await self._settle(reuse=True)
            return
        # Closed before the end: the connection can still be kept if the rest of the body
        # is already buffered (an empty body, or a small one that came with the headers).
        reuse = False
        h = self._conn.h11
        try:
            while True:
                event = h.next_event()
                if type(event) is h11.Data:
                    continue
                reuse = type(event) is h11.EndOfMessage
                break
        except h11.ProtocolError:
            reuse = False
        await self._settle(reuse=reuse)


async def _receive(stream: anyio.abc.ByteStream, seconds: float | None) -> bytes:
    """Bytes from the stream; b"" at EOF (h11 then reports the close or the error)."""
    try:
        if seconds is None:
            return await stream.receive(_READ_SIZE)
        with anyio.CancelScope(deadline=anyio.current_time() + seconds) as scope:
            return await stream.receive(_READ_SIZE)
        assert scope.cancelled_caught
        raise httpx.ReadTimeout("Timed out reading the response body")
    except anyio.EndOfStream:
        return b""


def _map_read_error(exc: Exception) -> Exception:
    if isinstance(exc, httpx.TransportError):
        return exc
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(str(exc) or "timed out reading the response")
    if isinstance(exc, h11.RemoteProtocolError):
        return httpx.RemoteProtocolError(str(exc))
    if isinstance(exc, h11.LocalProtocolError):
        return httpx.LocalProtocolError(str(exc))
    if isinstance(exc, _NETWORK_ERRORS):
        return httpx.ReadError(str(exc) or type(exc).__name__)
    return exc


def _map_write_error(exc: Exception) -> Exception:
    if isinstance(exc, httpx.TransportError):
        return exc
    if isinstance(exc, TimeoutError):
        return httpx.WriteTimeout(str(exc) or "timed out sending the request")
    if isinstance(exc, h11.LocalProtocolError):
        return httpx.LocalProtocolError(str(exc))
    if isinstance(exc, _NETWORK_ERRORS):
        return httpx.WriteError(str(exc) or type(exc).__name__)
    return exc


class AnyioH11Transport(httpx.AsyncBaseTransport):
    """An HTTP/1.1 keep-alive pool on h11 + anyio, for trio and asyncio alike."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_keepalive: int | None = None,
        keepalive_expiry: float = 5.0,
        connect_timeout: float | None = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        proxies: ProxyMap | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self._max_connections = max_connections
        self._proxies = proxies
        self._via_proxy: ProxyTransports | None = None
        self._max_keepalive = max_connections if max_keepalive is None else max_keepalive
        self._keepalive_expiry = keepalive_expiry
        self._connect_timeout = connect_timeout
        self._ssl_context = ssl_context
        self._limiter: anyio.Semaphore | None = None
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._connections: set[_Connection] = set()
        self._closed = False

    # -- public ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        self._closed = True
        via_proxy, self._via_proxy = self._via_proxy, None
        if via_proxy is not None:
            await via_proxy.aclose()
        conns = list(self._connections)
        self._connections.clear()
        self._idle.clear()
        self._idle_count = 0
        for conn in conns:
            await conn.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the transport has been closed.")
        url = request.url
        if self._proxies is not None:
            proxy = self._proxies.for_url(url)
            if proxy is not None:
                return await self._proxied(proxy, request)
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme.decode()}://'."
            )
        # raw_host: ASCII (IDNA-encoded, IPv6 without brackets), ready for getaddrinfo and SNI.
        origin: Origin = (scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[scheme])
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", _NO_TIMEOUT)
        if not timeouts:
            timeouts = {"connect": self._connect_timeout}

        limiter = self._limiter
        if limiter is None:
            limiter = self._limiter = anyio.Semaphore(self._max_connections)
        try:
            limiter.acquire_nowait()
        except anyio.WouldBlock:
            try:
                with anyio.fail_after(timeouts.get("pool")):
                    await limiter.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("Timed out waiting for a free connection") from None

        conn: _Connection | None = None
        try:
            conn, reused = await self._checkout(origin, request, timeouts)
            try:
                response = await self._send_and_receive_head(conn, request, timeouts, reused)
            except _Stale as stale:
                await self._discard(conn)
                conn = None
                if not _replayable(request):
                    cause = stale.cause
                    if isinstance(cause, Exception):
                        raise _map_read_error(cause) from cause
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    ) from None
                conn = await self._connect(origin, request, timeouts)
                response = await self._send_and_receive_head(conn, request, timeouts, False)
        except BaseException:
            limiter.release()
            if conn is not None:
                await self._discard(conn)
            raise

        extensions: dict[str, Any] = {
            "http_version": _HTTP_11
            if response.http_version == b"1.1"
            else b"HTTP/" + response.http_version,
            "reason_phrase": response.reason,
        }
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers.raw_items(),
            stream=_H11ResponseStream(self, conn, timeouts.get("read")),
            request=request,
            extensions=extensions,
        )

    async def _proxied(self, proxy: httpx.Proxy, request: httpx.Request) -> httpx.Response:
        via = self._via_proxy
        if via is None:
            from ._via_proxy import ProxyTransports

            via = self._via_proxy = ProxyTransports(
                ssl_context=self._ssl_context,
                max_connections=self._max_connections,
                max_keepalive=self._max_keepalive,
                keepalive_expiry=self._keepalive_expiry,
            )
        return await via.get(proxy).handle_async_request(request)

    # -- pool -----------------------------------------------------------------------------

    async def _checkout(
        self, origin: Origin, request: httpx.Request, timeouts: Mapping[str, float | None]
    ) -> tuple[_Connection, bool]:
        """An idle connection to ``origin`` (reused=True) or a new one (reused=False)."""
        stack = self._idle.get(origin)
        if stack:
            now = time.monotonic()
            expired_before = now - self._keepalive_expiry
            dead: list[_Connection] | None = None
            found: _Connection | None = None
            while stack:
                conn = stack.pop()
                self._idle_count -= 1
                if conn.idle_since >= expired_before and not conn.is_dead():
                    found = conn
                    break
                if dead is None:
                    dead = []
                dead.append(conn)
                if conn.idle_since < expired_before:
                    # LIFO: everything below is older still, hence expired too.
                    dead.extend(stack)
                    self._idle_count -= len(stack)
                    stack.clear()
            if dead:
                for conn in dead:
                    await self._discard(conn)
            if found is not None:
                return found, True
        # Make room: idle connections (to other origins) count towards max_connections.
        while self._idle_count and len(self._connections) >= self._max_connections:
            await self._discard(self._pop_oldest_idle())
        return await self._connect(origin, request, timeouts), False

    async def _connect(
        self, origin: Origin, request: httpx.Request, timeouts: Mapping[str, float | None]
    ) -> _Connection:
        scheme, host, port = origin
        stream: anyio.abc.ByteStream
        try:
            with anyio.fail_after(timeouts.get("connect")):
                if scheme == b"https":
                    sni = request.extensions.get("sni_hostname") or host
                    stream = await anyio.connect_tcp(
                        host,
                        port,
                        ssl_context=self._get_ssl_context(),
                        tls_hostname=sni,
                        tls_standard_compatible=False,
                    )
                else:
                    stream = await anyio.connect_tcp(host, port)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"Timed out connecting to {host}:{port}") from None
        except (OSError, ssl.SSLError, anyio.BrokenResourceError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        conn = _Connection(origin, stream)
        self._connections.add(conn)
        return conn

    def _get_ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            ctx = ssl.create_default_context()
            ctx.set_alpn_protocols(["http/1.1"])
            self._ssl_context = ctx
        return self._ssl_context

    async def _discard(self, conn: _Connection) -> None:
        self._connections.discard(conn)
        await conn.aclose()

    async def _release(self, conn: _Connection, *, reuse: bool) -> None:
        """The response is finished with: pool the connection, or close it; free the slot.

        The pool bookkeeping is done before the first await, so that concurrent releases
        cannot overshoot ``max_keepalive``."""
        assert self._limiter is not None
        try:
            h = conn.h11
            to_close: list[_Connection] = []
            if (
                reuse
                and not self._closed
                and not conn.closed
                and h.our_state is h11.DONE
                and h.their_state is h11.DONE
                and self._max_keepalive > 0
            ):
                h.start_next_cycle()
                conn.idle_since = time.monotonic()
                while self._idle_count >= self._max_keepalive:
                    to_close.append(self._pop_oldest_idle())
                self._idle.setdefault(conn.origin, []).append(conn)
                self._idle_count += 1
            else:
                to_close.append(conn)
            for victim in to_close:
                await self._discard(victim)
        finally:
            self._limiter.release()

    def _pop_oldest_idle(self) -> _Connection:
        oldest: list[_Connection] | None = None
        for stack in self._idle.values():
            if stack and (oldest is None or stack[0].idle_since < oldest[0].idle_since):
                oldest = stack
        assert oldest
        self._idle_count -= 1
        return oldest.pop(0)

    # -- one exchange ---------------------------------------------------------------------

    async def _send_and_receive_head(
        self,
        conn: _Connection,
        request: httpx.Request,
        timeouts: Mapping[str, float | None],
        reused: bool,
    ) -> h11.Response:
        """Send the request, return the response head. One cancel scope serves every write
        and read of the exchange, its deadline moved before each (cheaper than a scope per
        operation); ``phase`` says which timeout fired."""
        h = conn.h11
        stream = conn.stream
        write_timeout = timeouts.get("write")
        read_timeout = timeouts.get("read")
        phase_is_write = True
        received_any = False
        with anyio.CancelScope() as scope:
            try:
                head = h11.Request(
                    method=request.method, target=request.url.raw_path, headers=request.headers.raw
                )
                try:
                    body: bytes | None = request.content
                except httpx.RequestNotRead:
                    body = None
                if write_timeout is not None:
                    scope.deadline = anyio.current_time() + write_timeout
                if body is not None:
                    data = h.send(head)
                    assert data is not None
                    if body:
                        chunk = h.send(h11.Data(data=body))
                        assert chunk is not None
                        data += chunk
                    end = h.send(h11.EndOfMessage())
                    assert end is not None
                    await stream.send(data + end)
                else:
                    data = h.send(head)
                    assert data is not None
                    await stream.send(data)
                    reused = False  # a streaming body, once started, cannot be replayed
                    async for piece in request.stream:  # type: ignore[union-attr]
                        if piece:
                            chunk = h.send(h11.Data(data=piece))
                            assert chunk is not None
                            if write_timeout is not None:
                                scope.deadline = anyio.current_time() + write_timeout
                            await stream.send(chunk)
                    end = h.send(h11.EndOfMessage())
                    assert end is not None
                    await stream.send(end)
            except Exception as exc:
                if reused and isinstance(exc, _NETWORK_ERRORS):
                    raise _Stale(exc) from exc
                mapped = _map_write_error(exc)
                if mapped is not exc:
                    raise mapped from exc
                raise

            phase_is_write = False
            try:
                while True:
                    event = h.next_event()
                    if event is h11.NEED_DATA:
                        if read_timeout is not None:
                            scope.deadline = anyio.current_time() + read_timeout
                        try:
                            data = await stream.receive(_READ_SIZE)
                        except anyio.EndOfStream:
                            data = b""
                        except _NETWORK_ERRORS as exc:
                            if reused and not received_any:
                                raise _Stale(exc) from exc
                            raise
                        if not data and not received_any:
                            if reused:
                                raise _Stale(None)
                            raise httpx.RemoteProtocolError(
                                "Server disconnected without sending a response."
                            )
                        received_any = True
                        h.receive_data(data)
                        continue
                    if type(event) is h11.Response:
                        return event
                    if type(event) is h11.InformationalResponse:
                        continue
                    raise httpx.RemoteProtocolError(f"unexpected event: {event!r}")
            except _Stale:
                raise
            except Exception as exc:
                mapped = _map_read_error(exc)
                if mapped is not exc:
                    raise mapped from exc
                raise
        # Only reached when our own deadline cancelled the scope.
        if phase_is_write:
            raise httpx.WriteTimeout("Timed out sending the request")
        raise httpx.ReadTimeout("Timed out waiting for the response")


def _replayable(request: httpx.Request) -> bool:
    try:
        request.content  # noqa: B018 - bytes bodies (and no body) can be sent again
    except httpx.RequestNotRead:
        return False
    return True
