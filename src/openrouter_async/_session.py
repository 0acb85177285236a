"""The Session: one per event loop, the actor every call goes through.

It owns a task group, the HTTP client (and under it the connection pool of the transport
chosen for the running backend), the auth and attribution headers, the timeouts, the retry
policy and the debug log. Callers hand it requests — frozen attrs value objects — and get
typed results back, or, for streams, an :class:`AsyncStream` of typed chunks.

    async with Session(api_key=...) as session:
        result = await session.send(ChatRequest(model=..., messages=[...]))
        async with session.stream(ChatRequest(..., stream=True)) as chunks:
            async for chunk in chunks: ...
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio
import httpx
import orjson
import sniffio

from . import _convert
from ._config import DEFAULT_RETRY_CONFIG, RetryConfig, Timeouts
from ._groups import SessionGroups
from ._headers import check_header, check_headers, check_value
from ._limiter import Limiter, estimate_tokens, used_tokens
from ._logging import debug_logger_from_env, redact_url
from ._proxies import ProxyTypes, as_proxy, proxy_map
from ._redaction import remember_secret
from ._redirects import REDIRECT_STATUSES, follow_redirects
from ._retry import (
    call_with_retries,
    is_retryable,
    retry_after_failure,
)
from ._sse import ServerSentEvent
from ._streams import SKIP, AsyncStream, Skip
from ._tls import VerifyTypes, ssl_context
from ._transport_errors import translate_transport_error
from ._version import __version__
from .errors import (
    APIStatusError,
    ChatError,
    ErrorDetails,
    OpenRouterError,
    RequestValidationError,
    ResponseValidationError,
    error_for_status,
)

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ._map import MapResult
    from ._transports import PreparingTransport
    from .models import ChatRequest, ChatResult, ChatStreamChunk

__all__ = ["DEFAULT_BASE_URL", "ApiKey", "Session"]

T = TypeVar("T")

_asyncio_timeout: Callable[[float], AbstractAsyncContextManager[Any]] | None = getattr(
    asyncio, "timeout", None
)

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

# Entries in the per-path caches of the hot path (URLs, prepared requests).
_CACHE_SIZE = 256

#: An API key, or a function returning one (sync or async), called for every request so that
#: a rotated key is picked up without rebuilding the Session.
ApiKey = str | Callable[[], str] | Callable[[], Awaitable[str]]


class Session(SessionGroups):
    """An async OpenRouter session; use it as ``async with Session(...) as session``.

    Options carry the official SDK's names where it has one (``server_url``, ``timeout_ms``,
    ``retry_config``, ``http_headers``, ``debug_logger``, ``http_referer``,
    ``x_open_router_title``). ``client=`` takes your own ``httpx.AsyncClient`` (then its pool,
    timeouts and transport are yours; we only add our headers per request) and ``transport=``
    your own httpx transport; otherwise the fastest transport for the running backend is used.

    Rate limits (``session.limiter``, see ``_limiter.py``): ``max_concurrency`` caps the calls
    in flight (adapted down on 429s and back up while calls succeed, unless
    ``adaptive_concurrency=False``), ``rpm`` / ``tpm`` pace requests and tokens per minute.
    Whatever is configured, a 429 makes every call of the Session wait out its Retry-After.

    The network, as httpx has it: ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` /
    ``NO_PROXY`` and ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are honoured unless
    ``trust_env=False``; ``proxy=`` (a URL or an ``httpx.Proxy``) sends everything through one
    proxy; ``verify=`` is a CA bundle path, an ``ssl.SSLContext``, or ``False``. Redirects are
    followed as ``_redirects.py`` says (never carrying the key to another host). With a
    ``client=`` or ``transport=`` of your own, set the proxy and TLS there (giving ``proxy=`` or
    ``verify=`` too is an error). Header values that cannot be sent are refused here, before
    any request (``HeaderValueError``).
    """

    def __init__(
        self,
        *,
        api_key: ApiKey | None = None,
        base_url: str | None = None,
        server_url: str | None = None,
        timeout_ms: int | float | None = None,
        timeouts: Timeouts | None = None,
        retry_config: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        http_referer: str | None = None,
        x_open_router_title: str | None = None,
        debug_logger: logging.Logger | None = None,
        max_connections: int = 100,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float = 30.0,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        adaptive_concurrency: bool = True,
        proxy: ProxyTypes | None = None,
        trust_env: bool = True,
        verify: VerifyTypes = True,
    ) -> None:
        if base_url is not None and server_url is not None and base_url != server_url:
            raise ValueError("give base_url or server_url, not both")
        url = base_url or server_url or os.environ.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
        if client is not None and transport is not None:
            raise ValueError("give client or transport, not both")
        if (client is not None or transport is not None) and (
            proxy is not None or verify is not True
        ):
            # Never silently dropped: the proxy and TLS settings belong to the pool, and a
            # client or transport of the caller's own has its pool already.
            given = "client" if client is not None else "transport"
            raise ValueError(
                f"proxy= and verify= configure the Session's own pool: with {given}=, set "
                f"them on that {given} (httpx.AsyncHTTPTransport(proxy=..., verify=...))"
            )
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError(f"max_connections must be an int, got {max_connections!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections!r}")
        if api_key is not None and not isinstance(api_key, str) and not callable(api_key):
            raise TypeError(
                "api_key must be a string, or a function returning one (sync or async), "
                f"got {type(api_key).__name__}"  # the type only: it may be a key anyway
            )
        self.base_url = url.rstrip("/")
        # An empty key (the product description passes os.getenv(..., "")) means none given.
        self._api_key: ApiKey | None = api_key or os.environ.get("OPENROUTER_API_KEY") or None
        if isinstance(self._api_key, str):
            check_header("Authorization", self._api_key, label="the API key")
            remember_secret(self._api_key)  # masked in every error text from now on
        self._proxy = as_proxy(proxy) if proxy is not None else None  # ValueError when bad
        self._trust_env = trust_env
        if isinstance(verify, (str, os.PathLike)) and not os.path.exists(verify):
            raise ValueError(f"verify={os.fspath(verify)!r}: no such CA bundle file or directory")
        self._verify = verify
        self.timeouts = (timeouts or Timeouts()).with_timeout_ms(timeout_ms)
        self.retry_config = retry_config if retry_config is not None else DEFAULT_RETRY_CONFIG
        self._logger = debug_logger if debug_logger is not None else debug_logger_from_env()
        self._max_connections = max_connections
        self._max_keepalive = max_keepalive_connections
        self._keepalive_expiry = keepalive_expiry
        self._user_client = client
        self._user_transport = transport
        self._client: httpx.AsyncClient | None = None
        # Our own transport, called directly on the hot path (see _send_http).
        self._transport: httpx.AsyncBaseTransport | None = None
        # The same when it takes prepared requests, and those, per (method, path, has body):
        # see _json_once.
        self._preparing: PreparingTransport | None = None
        self._prepared: dict[tuple[str, str, bool], Any] = {}
        self._request_headers: httpx.Headers | None = None
        self._urls: dict[str, httpx.URL] = {}
        #: the rate-limit-aware gate every call passes (see _limiter.py); with no cap, rpm or
        #: tpm it only keeps the global cool-down after a 429
        self.limiter = Limiter(
            max_concurrency=max_concurrency,
            rpm=rpm,
            tpm=tpm,
            adaptive=adaptive_concurrency,
            # A Retry-After beyond the retry policy's cap raises the call at once; it must
            # not hold every other call of the Session for that long either.
            max_cool_down=self.retry_config.max_retry_after_ms / 1000.0,
        )
        self._groups: dict[str, Any] = {}  # session.<group> objects, built on first use
        self._timeout_extension: dict[str, float | None] = {}
        self._task_group: TaskGroup | None = None
        self._backend: str | None = None
        self._static_auth: str | None = None
        self._dynamic_auth = False
        self._checked_key: object = None  # the last key from a key callable, checked
        self.retries_made = 0
        # Streams handed out and perhaps not closed yet: closed when the Session closes.
        self._streams: weakref.WeakSet[AsyncStream[Any]] = weakref.WeakSet()

        headers = {
            "Accept": "application/json",
            # Sent explicitly (httpx's client would add it): the aiohttp transport then has no
            # automatic header to suppress, which is its slow path.
            "Accept-Encoding": "gzip, deflate",
            "Content-Type": "application/json",
            "User-Agent": f"openrouter-async/{__version__}",
        }
        referer = http_referer or os.environ.get("OPENROUTER_HTTP_REFERER")
        title = x_open_router_title or os.environ.get("OPENROUTER_X_TITLE")
        if referer:
            headers["HTTP-Referer"] = referer
        if title:
            headers["X-OpenRouter-Title"] = title
        if http_headers:
            headers.update(http_headers)
        # Once here, so that no call pays for it; per-call headers are checked per call.
        if referer:
            check_header("HTTP-Referer", referer, label="http_referer")
        if title:
            check_header("X-OpenRouter-Title", title, label="x_open_router_title")
        if http_headers:
            check_headers(http_headers)
            _remember_credentials(http_headers)
        self._base_headers = headers

    def __repr__(self) -> str:
        # Never the key: only whether one is configured.
        key = "set" if self._api_key else "missing"
        state = "open" if self._client is not None else "closed"
        return f"<Session {redact_url(self.base_url)} api_key={key} {state}>"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        if self._client is not None:
            raise RuntimeError("this Session is already open")
        self._backend = sniffio.current_async_library()
        # A fixed key (or none at all) is settled once; only a callable is asked per request.
        self._static_auth = f"Bearer {self._api_key}" if isinstance(self._api_key, str) else None
        self._dynamic_auth = callable(self._api_key)
        headers = httpx.Headers(self._base_headers)
        if self._static_auth is not None:
            headers["Authorization"] = self._static_auth
        self._request_headers = headers
        connect = self.timeouts.connect
        self._timeout_extension = {"connect": connect, "read": None, "write": None, "pool": None}
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            self._client = self._user_client or self._make_client()
        except BaseException:
            await task_group.__aexit__(None, None, None)
            self._task_group = None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        client, self._client = self._client, None
        self._transport = None
        task_group, self._task_group = self._task_group, None
        try:
            for stream in list(self._streams):  # abandoned, not collected yet: close them
                await stream.aclose()
            self._streams.clear()
            if task_group is not None:
                # Background work of the session ends with it. The caller's exception is not
                # handed to the task group (anyio would wrap it in an ExceptionGroup).
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
        finally:
            if client is not None and client is not self._user_client:
                with anyio.CancelScope(shield=True):
                    await client.aclose()
        return None

    def _make_client(self) -> httpx.AsyncClient:
        from ._transports import PreparingTransport, make_transport

        timeouts = self.timeouts
        transport = self._user_transport
        if transport is None:
            # Proxies and CA settings are worked out once per Session, as httpx does per
            # client. With none applying (the usual case) both are None and the transport
            # runs exactly as without them: no per-request proxy look-up at all.
            transport = make_transport(
                self._backend or "asyncio",
                max_connections=self._max_connections,
                max_keepalive=self._max_keepalive,
                keepalive_expiry=self._keepalive_expiry,
                connect_timeout=timeouts.connect,
                ssl_context=ssl_context(self._verify, trust_env=self._trust_env),
                proxies=proxy_map(self._proxy, trust_env=self._trust_env),
            )
        self._transport = transport
        # Prepared requests belong to one transport; one given to us is only ever called
        # through the httpx API.
        self._prepared = {}
        self._preparing = None
        if self._user_transport is None and isinstance(transport, PreparingTransport):
            self._preparing = transport
        # Reads are bounded by our own deadlines (a whole call, or the stream idle clock),
        # which work the same on every transport; httpx only bounds connecting.
        timeout = httpx.Timeout(connect=timeouts.connect, read=None, write=None, pool=None)
        return httpx.AsyncClient(transport=transport, timeout=timeout)

    @property
    def backend(self) -> str | None:
        """``"asyncio"`` or ``"trio"`` once open."""
        return self._backend

    # -- chat ------------------------------------------------------------------------------

    async def send(
        self,
        request: ChatRequest,
        *,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """Send a non-streaming chat request; return the typed :class:`ChatResult`.

        ``extra_body`` / ``extra_query`` / ``extra_headers`` are merged into what is sent
        after the request was validated (openai-python's semantics)."""
        from .models import ChatResult

        body, params, http_headers = _chat_with_extras(
            "send", request, http_headers, extra_body, extra_query, extra_headers
        )
        return await self.request_json(
            "POST",
            "/chat/completions",
            ChatResult,
            body=body,
            params=params,
            timeout_ms=timeout_ms,
            retries=retries,
            http_headers=http_headers,
        )

    def stream(
        self,
        request: ChatRequest,
        *,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> _StreamContext[ChatStreamChunk]:
        """Open a streaming chat request: ``async with session.stream(req) as chunks:``.

        ``stream=True`` is set on the request if it was not. HTTP errors raise when the block
        is entered; a mid-stream error event raises :class:`ChatError` from the iteration.
        """
        return _StreamContext(
            self.open_chat_stream(
                request,
                timeout_ms=timeout_ms,
                retries=retries,
                http_headers=http_headers,
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
            )
        )

    async def open_chat_stream(
        self,
        request: ChatRequest,
        *,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> AsyncStream[ChatStreamChunk]:
        """Send a streaming chat request and return the stream once its headers arrived."""
        body, params, http_headers = _chat_with_extras(
            "stream", request, http_headers, extra_body, extra_query, extra_headers
        )
        return await self.request_stream(
            "POST",
            "/chat/completions",
            parse_chat_event,
            body=body,
            params=params,
            timeout_ms=timeout_ms,
            retries=retries,
            http_headers=http_headers,
        )

    # -- generic operations (the generated API builds on these) ----------------------------

    async def request_json(
        self,
        method: str,
        path: str,
        response_type: type[T],
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
    ) -> T:
        """One JSON operation: send, retry as configured, map errors, parse the body.

        The first attempt is awaited directly, not through a retry controller: a thousand
        calls waiting at once each hold their frames, and the cyclic GC walks them all. For
        the same reason the later attempts are a ``partial``, not a closure: a closure would
        give every waiting call's frame a cell per captured name.
        """
        deadline = self.timeouts.with_timeout_ms(timeout_ms).read
        config = retries if retries is not None else self.retry_config
        try:
            return await self._json_once(
                method, path, response_type, body, params, http_headers, deadline
            )
        except OpenRouterError as error:
            if not config.enabled or not is_retryable(error, config):
                raise
            first_error = error
        # tenacity awaits a partial of a coroutine function (it awaits only what is one).
        attempt = functools.partial(
            self._json_once, method, path, response_type, body, params, http_headers, deadline
        )
        return await retry_after_failure(
            first_error,
            attempt,
            config,
            logger=self._logger,
            on_retry=self._count_retry,
        )

    async def request_stream(
        self,
        method: str,
        path: str,
        parse_event: Callable[[ServerSentEvent], T | Skip],
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        sentinel: str | None = "[DONE]",
    ) -> AsyncStream[T]:
        """Open a streaming operation; retried only until the headers arrive (no data has
        reached the caller yet), never after. ``parse_event`` returns ``SKIP`` for an event
        to drop (see :func:`parse_chat_event`)."""
        idle = self.timeouts.with_timeout_ms(timeout_ms).stream_idle
        config = retries if retries is not None else self.retry_config

        async def attempt() -> AsyncStream[T]:
            request = await self._build_request(
                method, path, body, params, http_headers, accept="text/event-stream"
            )
            # A stream passes the gate like any call; it holds its slot until the headers,
            # and the wait there counts against the header wait.
            async with self._gate(idle) as left:
                response = await self._open(request, idle if left is None else left, events=True)
            stream = AsyncStream(response, parse_event, idle_timeout=idle, sentinel=sentinel)
            self._streams.add(stream)  # closed with the Session if still open then
            return stream

        if not config.enabled:
            return await attempt()
        return await call_with_retries(
            attempt, config, logger=self._logger, on_retry=self._count_retry
        )

    # -- the wire --------------------------------------------------------------------------

    @asynccontextmanager
    async def _gate(self, within: float | None = None) -> AsyncIterator[float | None]:
        """Pass the rate-limit gate for one exchange that is not a JSON call (streams,
        uploads, downloads): wait out a cool-down, take a slot and the buckets' tokens,
        and account for the answer (a 429 starts the global cool-down).

        ``within`` is the exchange's deadline in seconds: the wait here counts against it
        (RateLimitTimeoutError when it cannot start in time), and what is left is yielded."""
        limiter = self.limiter
        permit: object | None = None
        if limiter.engaged:
            waiting_since = time.monotonic()
            permit = await limiter.acquire(within=within)
            if within is not None:
                within -= time.monotonic() - waiting_since
        status: int | None = None
        headers: Any = None
        try:
            yield within
            status = 200
        except APIStatusError as error:
            status, headers = error.status_code, error.headers
            raise
        finally:
            if permit is not None or status == 429:
                limiter.release(permit, status=status, headers=headers)

    def _deadline(self, seconds: float) -> AbstractAsyncContextManager[Any]:
        """A whole-call deadline raising TimeoutError. On asyncio (3.11+) the loop's own
        ``asyncio.timeout``: a fraction of the objects of an anyio cancel scope, which
        matters when a thousand calls wait at once (the cyclic GC walks them all)."""
        if self._backend == "asyncio" and _asyncio_timeout is not None:
            return _asyncio_timeout(seconds)
        return _async_scope(anyio.fail_after(seconds))

    def _count_retry(self) -> None:
        self.retries_made += 1

    def _require_client(self) -> httpx.AsyncClient:
        client = self._client
        if client is None:
            raise RuntimeError(
                "this Session is not open: use `async with Session(...) as session:`"
            )
        return client

    async def _authorization(self) -> str | None:
        """The Authorization value from a key callable (sync or async), called per request so
        that a rotated key is picked up. Without a key no header is sent: public endpoints
        work, and the others answer 401 (UnauthorizedResponseError)."""
        key = self._api_key
        if callable(key):
            produced = key()
            key = await produced if inspect.isawaitable(produced) else produced
            if key and key is not self._checked_key:  # a new key: check and mask it once
                check_value("Authorization", key, label="the API key returned by api_key()")
                remember_secret(key)
                self._checked_key = key
        return f"Bearer {key}" if key else None

    async def _build_request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, Any] | None,
        http_headers: Mapping[str, str] | None,
        *,
        accept: str | None = None,
    ) -> httpx.Request:
        headers = self._request_headers
        if headers is None:
            self._require_client()
            raise AssertionError("unreachable: an open Session has its headers")
        if self._dynamic_auth or accept is not None or http_headers:
            headers = headers.copy()
            if self._dynamic_auth:
                authorization = await self._authorization()
                if authorization is not None:
                    headers["Authorization"] = authorization
            if accept is not None:
                headers["Accept"] = accept
            if http_headers:
                check_headers(http_headers)  # before httpx (or a transport) trips over them
                _remember_credentials(http_headers)
                headers.update(http_headers)
        if params:
            url: httpx.URL | str = self.base_url + path
        else:
            # Parsing a URL costs more than the rest of building the request: once per path.
            cached = self._urls.get(path)
            if cached is None:
                if len(self._urls) >= _CACHE_SIZE:  # paths with ids in them: stay bounded
                    self._urls.clear()
                cached = self._urls[path] = httpx.URL(self.base_url + path)
            url = cached
        return httpx.Request(
            method,
            url,
            headers=headers,
            params=params,
            content=body,
            extensions={"timeout": self._timeout_extension},
        )

    async def _send_http(self, request: httpx.Request) -> httpx.Response:
        """Send on our own transport directly when we built it: the AsyncClient layer above it
        (auth flows, redirects, cookie jar, event hooks) does nothing for this API and costs
        as much as the transport itself under fan-out. A client given to us is used as is."""
        response = await self._send_hop(request)
        if response.status_code in REDIRECT_STATUSES:
            return await follow_redirects(self._send_hop, request, response, logger=self._logger)
        return response

    async def _send_hop(self, request: httpx.Request) -> httpx.Response:
        """Send one request, following no redirect (each hop of one goes through here)."""
        transport = self._transport
        if transport is None or self._user_client is not None:
            return await self._require_client().send(request, stream=True)
        response = await transport.handle_async_request(request)
        response.request = request
        return response

    async def _json_once(
        self,
        method: str,
        path: str,
        response_type: type[T],
        body: bytes | None,
        params: Mapping[str, Any] | None,
        http_headers: Mapping[str, str] | None,
        deadline: float,
    ) -> T:
        """One attempt of a JSON operation, within its whole-call deadline.

        On our own transport, a request with the Session's fixed headers and no query is sent
        prepared (once per method and path): no httpx.Request per call, whose objects would
        stay alive, and be walked by the cyclic GC, for as long as the call waits.
        """
        # The gate inline, not as a context manager: that would be two more objects alive
        # per waiting call, walked by the cyclic GC (see benchmarks/gc_census.py).
        limiter = self.limiter
        estimate = 0
        permit: object | None = None
        if limiter.engaged:
            estimate = estimate_tokens(body) if limiter.tpm else 0
            # The wait at the gate counts against the call's deadline (RateLimitTimeoutError
            # when it cannot start in time); only the rest is left for the exchange.
            waiting_since = time.monotonic()
            permit = await limiter.acquire(estimate, within=deadline)
            deadline -= time.monotonic() - waiting_since
        status: int | None = None
        response: Any = None
        result: Any = None
        try:
            preparing = self._preparing
            if self._transport is None or self._dynamic_auth or params or http_headers:
                preparing = None  # closed (the usual path says so), or headers or a query per call
            request: httpx.Request | None = None
            prepared: Any = None
            if preparing is None:
                request = await self._build_request(method, path, body, params, http_headers)
            started = time.perf_counter() if self._logger is not None else 0.0
            try:
                if preparing is not None:
                    key = (method, path, body is not None)
                    prepared = self._prepared.get(key)
                    if prepared is None:
                        if len(self._prepared) >= _CACHE_SIZE:
                            self._prepared.clear()
                        template = await self._build_request(method, path, None, None, None)
                        prepared = preparing.prepare(template, has_body=body is not None)
                        self._prepared[key] = prepared
                async with self._deadline(deadline):
                    if preparing is not None:
                        response = await preparing.send_prepared(prepared, body)
                        if response.status_code in REDIRECT_STATUSES:
                            # Rare: only now a request of its own, for the policy to follow.
                            request = await self._build_request(
                                method, path, body, params, http_headers
                            )
                            response.request = request
                            response = await follow_redirects(
                                self._send_hop, request, response, logger=self._logger
                            )
                    else:
                        assert request is not None
                        response = await self._send_http(request)
                    try:
                        if "content-encoding" in response.headers:
                            content = await response.aread()
                        else:
                            # Joined straight from the transport's chunks: Response.aread runs
                            # each one through decoder layers that have nothing to do here.
                            stream: Any = response.stream
                            content = b"".join([chunk async for chunk in stream])
                    finally:
                        await response.aclose()
            except TimeoutError as error:
                raise translate_transport_error(error) from error
            except (httpx.HTTPError, OSError) as error:
                raise translate_transport_error(error) from error
            if request is None and (self._logger is not None or response.status_code >= 400):
                # Only now, and only for a log line or an error (raw_response.request).
                request = await self._build_request(method, path, body, params, http_headers)
                response.request = request
            if self._logger is not None:
                assert request is not None
                self._log_exchange(request, response.status_code, started)
            status = response.status_code
            parsed = self._decode(response, content, response_type)
            result = parsed  # for the token count in `finally`
            return parsed
        finally:
            if permit is not None or status == 429:
                limiter.release(
                    permit,
                    status=status,
                    headers=response.headers if response is not None else None,
                    estimated_tokens=estimate,
                    used_tokens=used_tokens(result) if estimate else None,
                )

    async def _open(
        self, request: httpx.Request, deadline: float, *, events: bool = False
    ) -> httpx.Response:
        started = time.perf_counter() if self._logger is not None else 0.0
        try:
            with anyio.fail_after(deadline):
                response = await self._send_http(request)
        except TimeoutError as error:
            raise translate_transport_error(error) from error
        except (httpx.HTTPError, OSError) as error:
            raise translate_transport_error(error) from error
        if self._logger is not None:
            self._log_exchange(request, response.status_code, started)
        if response.status_code >= 400:
            try:
                with anyio.fail_after(deadline):
                    content = await response.aread()
            except (TimeoutError, httpx.HTTPError, OSError):
                content = b""
            finally:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
            raise error_for_status(
                response.status_code, content, headers=response.headers, raw_response=response
            )
        if events and response.headers.get("content-type", "").startswith("application/json"):
            await self._refuse_json_stream(response, deadline)
        return response

    async def _refuse_json_stream(self, response: httpx.Response, deadline: float) -> None:
        """A stream answered with a JSON body instead of events: OpenRouter's ``{"error":
        ...}`` sent with status 200 (a provider failed before the first token). Raised as the
        :class:`ChatError` it is, retryable as its code says, rather than read as an empty
        stream. Any other JSON body is a :class:`ResponseValidationError` (not a stream)."""
        try:
            with anyio.fail_after(deadline):
                content = await response.aread()
        except (TimeoutError, httpx.HTTPError, OSError) as error:
            raise translate_transport_error(error) from error
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            data = None
        _raise_error_body(data)
        raise ResponseValidationError(
            "expected an event stream, got a JSON body",
            body=content.decode("utf-8", "replace"),
            status_code=response.status_code,
        )

    def _decode(self, response: httpx.Response, content: bytes, response_type: type[T]) -> T:
        status = response.status_code
        if status >= 400:
            raise error_for_status(status, content, headers=response.headers, raw_response=response)
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError as error:
            raise ResponseValidationError(
                f"the response body is not JSON: {error}",
                body=content.decode("utf-8", "replace"),
                status_code=status,
            ) from None
        if not _has_error_field(response_type):
            # OpenRouter may answer 200 with an error body (a provider failed after the
            # headers went out): never parse it as a result.
            _raise_error_body(data)
        try:
            return _convert.parse(data, response_type, status_code=status)
        except ResponseValidationError as error:
            error.body = content.decode("utf-8", "replace")
            raise

    def _log_exchange(self, request: httpx.Request, status: int, started: float) -> None:
        assert self._logger is not None
        self._logger.debug(
            "%s %s -> %d in %.1f ms",
            request.method,
            redact_url(str(request.url)),
            status,
            (time.perf_counter() - started) * 1000,
        )

    # -- fan-out -----------------------------------------------------------------------------

    def map(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        call: Callable[[Session, Any], Awaitable[Any]] | None = None,
        ordered: bool = False,
        concurrency: int = 64,
    ) -> AsyncIterator[MapResult[Any]]:
        """Send many requests with at most ``concurrency`` in flight; yield a
        :class:`MapResult` per request as each finishes (in input order with ``ordered=True``).

        ``requests`` may be any iterable or async iterable, read lazily. By default each
        request is a chat request (a :class:`ChatRequest` or a dict body) sent with
        :meth:`send`; pass ``call=`` (``async (session, request) -> result``) for any other
        operation. A failed call is a result with ``.error``, never the end of the map.
        Leaving the loop early: ``aclose()`` the returned iterator (or let it be collected)
        to cancel the calls in flight; cancelling the consumer cancels them too.
        """
        from ._map import map_requests

        return map_requests(self, requests, call=call, ordered=ordered, concurrency=concurrency)


def _chat_with_extras(
    kind: Literal["send", "stream"],
    request: ChatRequest,
    http_headers: Mapping[str, str] | None,
    extra_body: Mapping[str, Any] | None,
    extra_query: Mapping[str, Any] | None,
    extra_headers: Mapping[str, str] | None,
) -> tuple[bytes | None, Mapping[str, Any] | None, Mapping[str, str] | None]:
    """(body, query, headers) of :meth:`Session.send` / :meth:`Session.stream`: the request's
    JSON, with openai-style extras merged in after it was validated (none: as it is)."""
    body: bytes | None = _chat_body(request, stream=kind == "stream")
    if extra_body is None and extra_query is None and extra_headers is None:
        return body, None, http_headers
    from ._operations import with_extras

    return with_extras(
        kind,
        body,
        http_headers,
        extra_body=extra_body,
        extra_query=extra_query,
        extra_headers=extra_headers,
    )


def _remember_credentials(headers: Mapping[str, str]) -> None:
    """A key given as a header of its own (``Authorization: Bearer ...``) is masked in error
    texts like ``api_key`` is."""
    for name, value in headers.items():
        if name.lower() in ("authorization", "x-api-key", "api-key"):
            remember_secret(value)
            remember_secret(value.partition(" ")[2])


def _has_error_field(response_type: object) -> bool:
    """Whether the result model has an ``error`` field of its own (a Responses API result
    carries ``error: null`` or the failure): then an ``error`` key is not an error body."""
    fields = getattr(response_type, "__attrs_attrs__", None)  # attrs' fields, by name
    return fields is not None and hasattr(fields, "error")


@asynccontextmanager
async def _async_scope(scope: AbstractContextManager[Any]) -> AsyncIterator[None]:
    with scope:
        yield


def _chat_body(request: ChatRequest, *, stream: bool) -> bytes:
    """The JSON body of a chat request, checked for the mode it is sent in.

    A non-streaming call refuses ``stream=True``; a streaming one sends ``"stream": true``
    whatever the request says (set on the plain dict: rebuilding the request with
    ``attrs.evolve`` would validate it all over again).
    """
    from .models import ChatRequest

    if not isinstance(request, ChatRequest):
        raise RequestValidationError(
            f"expected a ChatRequest, got {type(request).__name__}", path="request"
        )
    if not stream:
        if request.stream is True:
            raise RequestValidationError(
                "stream=True: use Session.stream() for a streaming request", path="stream"
            )
        return _convert.dumps(request)
    if request.stream is True:
        return _convert.dumps(request)
    body = _convert.unstructure(request)
    body["stream"] = True
    return _convert.dumps(body)


def event_data(event: ServerSentEvent) -> Any:
    """The JSON data of one SSE event; a mid-stream error (an ``error`` object in an event
    that is not a typed event of its own, as OpenRouter sends it) is raised as ChatError."""
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError as error:
        raise ResponseValidationError(
            f"a stream event is not JSON: {error}", body=event.data
        ) from None
    if type(data) is dict and "type" not in data:
        _raise_error_body(data, chunk=data)
    return data


def _raise_error_body(data: Any, *, chunk: Any = None) -> None:
    """OpenRouter's ``{"error": {...}}`` in an answer that succeeded at the HTTP level (a
    body, or a stream event: then ``chunk``) is raised as :class:`ChatError`."""
    if type(data) is dict and data.get("error") is not None:
        raise ChatError(ErrorDetails.from_json(data["error"]), chunk=chunk)


# Named events. OpenRouter's chat streams are unnamed ``data:`` events (every recorded real
# stream is), but the server, a gateway or a proxy may add events of their own: ``ping``,
# ``openrouter.metadata``, anything new. The rule, per kind of stream:
# * a stream whose chunks carry no type (chat, completions): an event named anything but the
#   default (``message``) is not a chunk, and is dropped;
# * a stream whose events say their ``type`` in the data (Responses API, Messages, images):
#   an event named after its own type (``event: response.created`` with ``"type":
#   "response.created"``, as the Responses API and Anthropic send them) is one of its events;
#   any other named event is dropped.
# Never dropped: a named event carrying an ``error`` object (raised as ChatError), so that a
# failure is never mistaken for noise.


def parse_chat_event(event: ServerSentEvent) -> ChatStreamChunk | Skip:
    """One SSE event of a chat stream → a typed chunk, ``SKIP`` for a named event that is
    not a chunk, or the mid-stream error raised."""
    from .models import ChatStreamChunk

    name = event.event
    if name is not None and name != "message":
        return skip_named_event(event)
    return _convert.parse(event_data(event), ChatStreamChunk)


def skip_named_event(event: ServerSentEvent) -> Skip:
    """``SKIP`` for a named event of a stream whose chunks carry no type; an ``error``
    object in it is raised as :class:`ChatError` instead."""
    if "error" in event.data:
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return SKIP
        _raise_error_body(data, chunk=data)
    return SKIP


def typed_event_data(event: ServerSentEvent) -> Any:
    """The JSON data of an event of a stream whose events carry their ``type``, or ``SKIP``
    for a named event that is none of them (its name is not its data's type)."""
    name = event.event
    if name is None or name == "message":
        return event_data(event)
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return SKIP
    if type(data) is dict:
        if data.get("type") == name:
            return data
        _raise_error_body(data, chunk=data)
    return SKIP


class _StreamContext(Generic[T]):
    """What :meth:`Session.stream` returns: ``async with`` opens the request and the stream."""

    def __init__(self, opening: Awaitable[AsyncStream[T]]) -> None:
        self._opening = opening
        self._stream: AsyncStream[T] | None = None

    async def __aenter__(self) -> AsyncStream[T]:
        stream = await self._opening
        self._stream = stream
        return await stream.__aenter__()  # read ahead; this block's exit joins the producer

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.__aexit__(exc_type, exc, tb)
        return None
