"""An :class:`httpx.AsyncBaseTransport` over one :class:`aiohttp.ClientSession` (asyncio only).

httpx stays the API (requests, responses, exceptions); aiohttp does the connection pooling and
the HTTP/1.1 wire work, which is several times faster than httpcore's pool under fan-out.

Semantics kept from httpx's own transport:

* the body is passed through raw: ``auto_decompress=False``, the ``Content-Encoding`` header is
  kept, and httpx's :class:`~httpx.Response` decodes it, exactly as with httpcore;
* aiohttp adds no headers of its own (``skip_auto_headers``) apart from ``Host`` and the
  framing headers (``Content-Length`` / ``Transfer-Encoding``) it must own;
* no cookies (httpx keeps its own jar), no redirects, no proxies from the environment (the
  Session reads those itself and passes ``proxies``: an http(s) proxy that applies to a URL is
  given to aiohttp per request, worked out once per origin, so prepared requests go through it
  as well; SOCKS proxies are not supported by aiohttp and are refused);
* ``max_connections`` is enforced by a gate in front of aiohttp so that waiting for a free
  connection times out as :class:`httpx.PoolTimeout` (``timeout["pool"]``), apart from the
  ``connect`` timeout (:class:`httpx.ConnectTimeout`);
* a response body is streamed chunk by chunk as it arrives; fully read, its connection goes
  back to the pool; closed early, cancelled or failed, its connection is closed;
* every aiohttp / OS error surfaces as the matching :mod:`httpx` exception.

Besides the httpx API, :meth:`AiohttpTransport.prepare` works a request out once (URL, headers
in aiohttp's form, timeouts) and :meth:`~AiohttpTransport.send_prepared` sends it with a new body
each time: the Session's hot path, which so keeps no :class:`httpx.Request` alive per waiting call.

Not supported by aiohttp (documented caveats): a ``write`` timeout (ignored); ``max_keepalive``
beyond 0 = no keep-alive (idle connections are bounded by ``max_connections`` and expire after
``keepalive_expiry``); HTTP/2. aiohttp itself retries a request once on a fresh connection when
a reused keep-alive connection turns out dead, but only for idempotent methods (not POST).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import sys
from collections.abc import AsyncIterator, Collection, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

if TYPE_CHECKING:
    from .._proxies import ProxyMap

__all__ = ["AiohttpTransport", "PreparedRequest"]

_HTTP_11 = b"HTTP/1.1"
_HTTP_10 = b"HTTP/1.0"
_EXT_11: dict[str, Any] = {"http_version": _HTTP_11}
# Headers aiohttp adds when a request lacks them. httpx.AsyncClient always sends the first
# three and a body's Content-Type; for a request that lacks one we tell aiohttp to skip it
# (per request, as that costs aiohttp a few microseconds).
_AUTO_HEADERS: dict[bytes, str] = {
    b"accept": "Accept",
    b"accept-encoding": "Accept-Encoding",
    b"user-agent": "User-Agent",
    b"content-type": "Content-Type",
}
_AUTO_HEADER_NAMES = frozenset(_AUTO_HEADERS)
_CONTENT_TYPE_ONLY = frozenset([b"content-type"])
# aiohttp gives these a default Content-Type even without a body.
_BODY_METHODS = frozenset(["POST", "PUT", "PATCH"])
_NO_TIMEOUT: Mapping[str, float | None] = {}
# Framing headers that describe a body; aiohttp writes its own for the body it sends.
_FRAMING = ("content-length", "transfer-encoding")
_CHUNKED = ("transfer-encoding",)

if sys.version_info >= (3, 11):  # pragma: no cover - version dependent

    async def _acquire_within(sem: asyncio.Semaphore, seconds: float) -> None:
        async with asyncio.timeout(seconds):
            await sem.acquire()

else:  # pragma: no cover - version dependent

    async def _acquire_within(sem: asyncio.Semaphore, seconds: float) -> None:
        await asyncio.wait_for(sem.acquire(), seconds)


def _map_exception(exc: BaseException, *, reading: bool) -> httpx.TransportError | None:
    """The httpx exception for an aiohttp/OS error, or None to let it propagate as is.

    ``reading``: the error happened while the body was being read (after the headers).
    """
    message = str(exc) or type(exc).__name__
    # Order matters: most specific aiohttp classes first.
    if isinstance(exc, aiohttp.ServerTimeoutError):  # also asyncio.TimeoutError
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return httpx.ConnectTimeout(message)
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):  # DNS, refused, TLS, ... (an OSError)
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientPayloadError):  # truncated / malformed body
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientResponseError):  # unparsable status line / headers
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):  # reset, broken pipe, ...
        return httpx.ReadError(message) if reading else httpx.WriteError(message)
    if isinstance(exc, asyncio.TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientError):
        return httpx.ReadError(message) if reading else httpx.NetworkError(message)
    if isinstance(exc, ValueError):  # aiohttp rejects invalid header/method values
        return httpx.LocalProtocolError(message)
    return None


class _AiohttpResponseStream(httpx.AsyncByteStream):
    """The response body, chunk by chunk as it arrives. Settling (end of body, error,
    cancellation or :meth:`aclose`) releases the aiohttp response exactly once: a body read
    to its end leaves its connection in the pool, anything else closes the connection."""

    __slots__ = ("_content", "_done", "_gate", "_resp")

    def __init__(self, resp: aiohttp.ClientResponse, gate: asyncio.Semaphore) -> None:
        self._resp = resp
        self._content = resp.content
        self._gate = gate
        self._done = False

    def _settle(self, *, reuse: bool) -> None:
        if self._done:
            return
        self._done = True
        resp = self._resp
        if reuse and self._content.is_eof():
            # Fully received (perhaps not all consumed): aiohttp already put the connection
            # back in the pool when the body ended.
            resp.release()
        else:
            resp.close()  # unread bytes or a broken connection: never reuse it
        self._gate.release()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            chunk = await self._content.readany()
        except Exception as exc:
            self._settle(reuse=False)
            mapped = _map_exception(exc, reading=True)
            if mapped is None:
                raise
            raise mapped from exc
        except BaseException:  # cancelled while waiting for body bytes
            self._settle(reuse=False)
            raise
        if chunk:
            return chunk
        self._settle(reuse=True)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._settle(reuse=True)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx transport backed by a lazily created :class:`aiohttp.ClientSession`.

    The session (and its connector) is created on the first request, inside the running
    event loop, and belongs to that loop; :meth:`aclose` closes it.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_keepalive: int | None = None,
        keepalive_expiry: float = 5.0,
        connect_timeout: float | None = 5.0,
        ssl_context: ssl.SSLContext | bool | None = None,
        proxies: ProxyMap | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self._proxies = proxies
        # httpx.Proxy -> what aiohttp takes for it (URL, auth, headers), built once each.
        self._proxy_args: dict[int, _ProxyArgs] = {}
        self._max_connections = max_connections
        self._max_keepalive = max_keepalive  # not enforceable on aiohttp; see module doc
        self._keepalive_expiry = keepalive_expiry
        self._connect_timeout = connect_timeout
        self._ssl: ssl.SSLContext | bool = True if ssl_context is None else ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._gate: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # Small caches: the client talks to a handful of URLs with a handful of timeouts.
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def _open(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the transport has been closed.")
        if self._max_keepalive == 0:  # no keep-alive at all: one connection per request
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, force_close=True, ssl=self._ssl
            )
        else:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=self._keepalive_expiry,
                ssl=self._ssl,
            )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            requote_redirect_url=False,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self._connect_timeout, sock_connect=self._connect_timeout
            ),
        )
        self._gate = asyncio.Semaphore(self._max_connections)
        self._loop = asyncio.get_running_loop()
        return self._session, self._gate

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- hot path -------------------------------------------------------------------------

    def _client_timeout(self, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
        key = (connect, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            if len(self._timeouts) > 64:
                self._timeouts.clear()
            timeout = aiohttp.ClientTimeout(
                total=None, connect=connect, sock_connect=connect, sock_read=read
            )
            self._timeouts[key] = timeout
        return timeout

    def _yarl_url(self, url: httpx.URL) -> URL:
        raw = str(url)
        cached = self._urls.get(raw)
        if cached is None:
            if len(self._urls) > 256:
                self._urls.clear()
            # httpx URLs are already percent-encoded: do not let yarl requote them.
            cached = URL(raw, encoded=True)
            if cached.raw_user is not None or cached.raw_password is not None:
                # httpx turns URL credentials into an Authorization header itself;
                # aiohttp would add a second one (and refuse the request).
                cached = cached.with_user(None)
            self._urls[raw] = cached
        return cached

    def prepare(self, request: httpx.Request, *, has_body: bool) -> PreparedRequest:
        """Everything aiohttp needs from ``request`` apart from its body, worked out once.

        A caller sending many requests that differ only in their body keeps this and calls
        :meth:`send_prepared`: no :class:`httpx.Request` and no header conversion per request.
        ``request``'s own body is not sent; with ``has_body`` neither are its framing headers
        (``Content-Length``, ``Transfer-Encoding``): aiohttp frames the body it is given.
        Invalid values raise the httpx exception that sending would.
        """
        return self._prepare(request, has_body=has_body, drop=_FRAMING if has_body else ())

    def _prepare(
        self, request: httpx.Request, *, has_body: bool, drop: Collection[str]
    ) -> PreparedRequest:
        try:
            headers = request.headers
            if drop and any(name in headers for name in drop):
                headers = headers.copy()
                for name in drop:
                    headers.pop(name, None)
            raw = headers.raw
            try:  # aiohttp wants str headers (and writes them back as UTF-8)
                aio_headers = [(k.decode(), v.decode()) for k, v in raw]
            except UnicodeDecodeError:
                # Non-UTF-8 bytes (only from bytes header values): aiohttp will send them
                # UTF-8 encoded, i.e. not byte for byte -- a limit of aiohttp's str headers.
                aio_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
            missing = _AUTO_HEADER_NAMES.difference([k.lower() for k, _ in raw])
            if missing == _CONTENT_TYPE_ONLY and not has_body:
                if request.method not in _BODY_METHODS:
                    missing = frozenset()  # aiohttp adds no Content-Type to a bodiless GET
            timeout: Mapping[str, float | None] = request.extensions.get("timeout", _NO_TIMEOUT)
            if not timeout:
                timeout = {"connect": self._connect_timeout}
            # A multidict, not the list: aiohttp copies it as is, a list it converts first.
            multi = CIMultiDict(aio_headers)
            proxy = self._proxy_for(request.url) if self._proxies is not None else None
            if proxy is not None and proxy.headers and request.url.scheme == "http":
                # A request forwarded by the proxy (not tunnelled) carries the proxy's
                # headers itself: aiohttp sends proxy_headers on CONNECT only.
                multi.extend(proxy.headers)
            return PreparedRequest(
                request.method,
                self._yarl_url(request.url),
                multi,
                [_AUTO_HEADERS[k] for k in missing] if missing else None,
                self._client_timeout(timeout.get("connect"), timeout.get("read")),
                timeout.get("pool"),
                request.extensions.get("sni_hostname"),
                proxy,
            )
        except Exception as exc:
            mapped = _map_exception(exc, reading=False)
            if mapped is None:
                raise
            raise mapped from exc

    def _proxy_for(self, url: httpx.URL) -> _ProxyArgs | None:
        assert self._proxies is not None
        proxy = self._proxies.for_url(url)
        if proxy is None:
            return None
        args = self._proxy_args.get(id(proxy))
        if args is None:
            if proxy.url.scheme not in ("http", "https"):
                raise httpx.UnsupportedProtocol(
                    f"the asyncio transport cannot use a {proxy.url.scheme} proxy; pass "
                    f"transport=httpx.AsyncHTTPTransport(proxy=...) for one"
                )
            headers: CIMultiDict[str] | None = None
            if proxy.headers or proxy.auth:
                headers = CIMultiDict(proxy.headers.multi_items())
                if proxy.auth:  # as a header: aiohttp's proxy_auth= is deprecated
                    token = base64.b64encode(":".join(proxy.auth).encode()).decode()
                    headers["Proxy-Authorization"] = f"Basic {token}"
            args = _ProxyArgs(URL(str(proxy.url), encoded=True), headers, proxy)
            self._proxy_args[id(proxy)] = args
        return args

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        data: Any
        drop: Collection[str] = ()
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # a streaming body: aiohttp owns the chunked framing
            drop = _CHUNKED
        prepared = self._prepare(request, has_body=data is not None, drop=drop)
        response = await self.send_prepared(prepared, data)
        response.request = request
        return response

    async def send_prepared(self, prepared: PreparedRequest, data: Any) -> httpx.Response:
        """Send a prepared request with ``data`` as its body (bytes, an httpx byte stream, or
        None); return the response once its headers arrived, its body streaming. The
        response carries no ``request``: the caller sets one if it needs it."""
        session = self._session
        gate = self._gate
        if session is None or gate is None:
            session, gate = self._open()
        elif asyncio.get_running_loop() is not self._loop:
            raise RuntimeError(
                "This transport is bound to another event loop; "
                "create one transport per event loop."
            )

        # Wait for a free connection slot: the pool timeout.
        if gate.locked():
            pool = prepared.pool_timeout
            try:
                if pool is None:
                    await gate.acquire()
                else:
                    await _acquire_within(gate, pool)
            except asyncio.TimeoutError:
                raise httpx.PoolTimeout("Timed out waiting for a free connection") from None
        else:
            await gate.acquire()  # uncontended: returns without suspending

        try:
            proxy = prepared.proxy
            if proxy is None:
                resp = await session.request(
                    prepared.method,
                    prepared.url,
                    headers=prepared.headers,
                    data=data,
                    allow_redirects=False,
                    timeout=prepared.timeout,
                    server_hostname=prepared.server_hostname,
                    skip_auto_headers=prepared.skip_auto_headers,
                )
            else:
                resp = await session.request(
                    prepared.method,
                    prepared.url,
                    headers=prepared.headers,
                    data=data,
                    allow_redirects=False,
                    timeout=prepared.timeout,
                    server_hostname=prepared.server_hostname,
                    skip_auto_headers=prepared.skip_auto_headers,
                    proxy=proxy.url,
                    # A copy: aiohttp writes the Host of each CONNECT into it.
                    proxy_headers=CIMultiDict(proxy.headers) if proxy.headers else None,
                )
        except BaseException as exc:
            gate.release()
            if isinstance(exc, Exception):
                mapped = _map_exception(exc, reading=False)
                if mapped is not None:
                    raise mapped from exc
            raise

        version = resp.version
        if version is None or (version.major == 1 and version.minor == 1):
            extensions = _EXT_11.copy()
        else:
            extensions = {"http_version": _HTTP_10 if version.minor == 0 else _HTTP_11}
        reason = resp.reason
        if reason:
            extensions["reason_phrase"] = reason.encode("ascii", "replace")
        return httpx.Response(
            status_code=resp.status,
            headers=resp.raw_headers,
            stream=_AiohttpResponseStream(resp, gate),
            extensions=extensions,
        )


class _ProxyArgs:
    """An :class:`httpx.Proxy` in aiohttp's terms (the proxy kept alive: keyed by its id)."""

    __slots__ = ("headers", "proxy", "url")

    def __init__(self, url: URL, headers: CIMultiDict[str] | None, proxy: httpx.Proxy) -> None:
        self.url = url
        self.headers = headers
        self.proxy = proxy


class PreparedRequest:
    """A request for :meth:`AiohttpTransport.send_prepared`, in aiohttp's terms."""

    __slots__ = (
        "headers",
        "method",
        "pool_timeout",
        "proxy",
        "server_hostname",
        "skip_auto_headers",
        "timeout",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: URL,
        headers: CIMultiDict[str],
        skip_auto_headers: list[str] | None,
        timeout: aiohttp.ClientTimeout,
        pool_timeout: float | None,
        server_hostname: str | None,
        proxy: _ProxyArgs | None = None,
    ) -> None:
        self.proxy = proxy
        self.method = method
        self.url = url
        self.headers = headers
        self.skip_auto_headers = skip_auto_headers
        self.timeout = timeout
        self.pool_timeout = pool_timeout
        self.server_hostname = server_hostname
