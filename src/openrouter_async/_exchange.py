"""The exchange: the one path every request of the client takes.

Three kinds of exchange, each build → gate → deadline → send → decode, retried by one loop
(:meth:`Exchange.retry`, on ``_retry.retrying``):

* :meth:`Exchange.json` — a JSON answer parsed into its model (most operations, chat);
* :meth:`Exchange.stream` — an event stream, retried until its headers arrived, never after;
* :meth:`Exchange.raw` — multipart uploads, binary downloads and empty answers.

Everything above — the Session's chat shortcuts, the generated operations (through
``_operations.call``), ``map()``, batch jobs — calls these and nothing else of this module.
Nothing here imports the generated code or the Session: the layers are
``_exchange`` (this) ← ``_operations`` ← ``resources/*`` (generated) ← ``_session`` / ``_client``.

What it owns: the HTTP client and its pool (the transport chosen for the running backend, see
``_transports``), the headers sent with every request, the limiter (the gate), the retry
policy and its counter, the debug log.

The hot path, kept lean because a fan-out holds thousands of calls waiting at once and the
cyclic GC walks every object each of them keeps alive (``benchmarks/gc_census.py``): on our
own transport a JSON call without per-call headers or query is sent *prepared* (once per
method and path, then only a new body), the gate is passed inline (no context manager), the
first attempt is awaited directly (the retry controller is built only after a failure), and
later attempts are a ``partial``, not a closure.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import httpx
import orjson
import sniffio

from ._binary import BinaryResponse
from ._decode import decode_json, raise_error_body
from ._headers import check_headers, check_value
from ._limiter import Limiter, estimate_tokens, used_cost, used_tokens
from ._logging import redact_url
from ._options import ClientOptions, ViewDefaults, remember_credentials
from ._proxies import proxy_map
from ._redaction import remember_secret
from ._redirects import REDIRECT_STATUSES, follow_redirects
from ._retry import is_retryable, retrying
from ._sse import ServerSentEvent
from ._streams import AsyncStream, Skip, StreamHelpers
from ._tls import ssl_context
from ._transport_errors import translate_transport_error
from .errors import (
    APIStatusError,
    OpenRouterError,
    RequestInfo,
    ResponseValidationError,
    error_for_status,
)

if TYPE_CHECKING:
    from ._config import RetryConfig
    from ._transports import PreparingTransport

__all__ = ["Exchange", "ExchangeView", "Form"]

T = TypeVar("T")

#: A multipart body: its text fields, and its parts as httpx takes ``files=``.
Form = tuple[dict[str, str], list[tuple[str, Any]]]

_asyncio_timeout: Callable[[float], AbstractAsyncContextManager[Any]] | None = getattr(
    asyncio, "timeout", None
)

# Entries in the per-path caches of the hot path (URLs, prepared requests).
_CACHE_SIZE = 256


class Exchange:
    """The core of one Session: open it with ``async with exchange.running():``."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.base_url = options.base_url
        self.timeouts = options.timeouts
        self.retry_config = options.retry_config
        self.logger = options.logger
        #: the rate-limit-aware gate every exchange passes (see _limiter.py); with no cap,
        #: rpm or tpm it only keeps the global cool-down after a 429
        self.limiter = Limiter(
            max_concurrency=options.max_concurrency,
            rpm=options.rpm,
            tpm=options.tpm,
            adaptive=options.adaptive_concurrency,
            # A Retry-After beyond the retry policy's cap raises the call at once; it must
            # not hold every other call of the Session for that long either.
            max_cool_down=options.retry_config.max_retry_after_ms / 1000.0,
            # A budget shared by the fleet on Redis (see _budget.py), passed before the above.
            budget=options.budget,
        )
        #: retries made by this Session's exchanges (each also counted per task, see
        #: ``_retry.RETRY_COUNTER``)
        self.retries_made = 0
        self.backend: str | None = None
        self._api_key = options.api_key
        self._dynamic_auth = callable(options.api_key)
        self._checked_key: object = None  # the last key from a key callable, checked
        self._client: httpx.AsyncClient | None = None
        # Our own transport, called directly (see _send_hop); None with a client given to us.
        self._transport: httpx.AsyncBaseTransport | None = None
        # The same when it takes prepared requests, and those, per (method, path, has body).
        self._preparing: PreparingTransport | None = None
        self._prepared: dict[tuple[str, str, bool], Any] = {}
        self._request_headers: httpx.Headers | None = None
        self._urls: dict[str, httpx.URL] = {}
        self._timeout_extension: dict[str, float | None] = {}
        # Streams handed out and perhaps not closed yet: closed when the exchange closes.
        self._streams: weakref.WeakSet[AsyncStream[Any]] = weakref.WeakSet()

    @property
    def is_open(self) -> bool:
        return self._client is not None

    # -- lifecycle -------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Exchange]:
        """Open the HTTP client for the running backend; close it, and every stream still
        open, on the way out (shielded: a cancelled task still closes its connections)."""
        if self._client is not None:
            raise RuntimeError("this Session is already open")
        options = self.options
        self.backend = sniffio.current_async_library()
        headers = httpx.Headers(options.headers)
        if isinstance(self._api_key, str):  # a fixed key is settled once
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._request_headers = headers
        connect = self.timeouts.connect
        self._timeout_extension = {"connect": connect, "read": None, "write": None, "pool": None}
        self._client = options.client or self._make_client()
        try:
            yield self
        finally:
            client, self._client = self._client, None
            self._transport = self._preparing = None
            try:
                for stream in list(self._streams):  # abandoned, not collected yet
                    await stream.aclose()
                self._streams.clear()
            finally:
                if client is not options.client:
                    with anyio.CancelScope(shield=True):
                        await client.aclose()

    def _make_client(self) -> httpx.AsyncClient:
        from ._transports import PreparingTransport, make_transport

        options = self.options
        timeouts = self.timeouts
        transport = options.transport
        if transport is None:
            # Proxies and CA settings are worked out once, as httpx does per client. With
            # none applying (the usual case) both are None and the transport runs exactly as
            # without them: no per-request proxy look-up at all.
            transport = make_transport(
                self.backend or "asyncio",
                max_connections=options.max_connections,
                max_keepalive=options.max_keepalive_connections,
                keepalive_expiry=options.keepalive_expiry,
                connect_timeout=timeouts.connect,
                ssl_context=ssl_context(options.verify, trust_env=options.trust_env),
                proxies=proxy_map(options.proxy, trust_env=options.trust_env),
            )
        self._transport = transport
        # Prepared requests belong to one transport; one given to us is only ever called
        # through the httpx API.
        self._prepared = {}
        self._preparing = None
        if options.transport is None and isinstance(transport, PreparingTransport):
            self._preparing = transport
        # Reads are bounded by our own deadlines (a whole call, or the stream idle clock),
        # which work the same on every transport; httpx only bounds connecting.
        timeout = httpx.Timeout(connect=timeouts.connect, read=None, write=None, pool=None)
        return httpx.AsyncClient(transport=transport, timeout=timeout)

    # -- the three exchanges ---------------------------------------------------------------

    async def json(
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
        base_url: str | None = None,
    ) -> T:
        """One JSON operation: send, retry as configured, map errors, parse the body.

        The first attempt is awaited here, not through the retry loop: a thousand calls
        waiting at once each hold their frames, and the cyclic GC walks them all. After a
        failure the loop takes over with that first error (``_retry.retrying``).
        """
        deadline = self.timeouts.with_timeout_ms(timeout_ms).read
        config = retries if retries is not None else self.retry_config
        try:
            return await self._json_attempt(
                method, path, response_type, body, params, http_headers, deadline, base_url
            )
        except OpenRouterError as error:
            if not config.enabled or not is_retryable(error, config):
                raise
            first_error = error
        # tenacity awaits a partial of a coroutine function (it awaits only what is one).
        attempt = functools.partial(
            self._json_attempt,
            method,
            path,
            response_type,
            body,
            params,
            http_headers,
            deadline,
            base_url,
        )
        return await retrying(
            attempt, config, first_error=first_error, on_retry=self._count_retry, logger=self.logger
        )

    async def stream(
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
        base_url: str | None = None,
        sentinel: str | None = "[DONE]",
        helpers: StreamHelpers | None = None,
    ) -> AsyncStream[T]:
        """Open a streaming operation; retried only until the headers arrive (no data has
        reached the caller yet), never after. ``parse_event`` returns ``SKIP`` for an event
        to drop (see ``_events.py``); ``helpers``, the stream kind's ``text_stream`` and
        ``get_final_completion()``."""
        idle = self.timeouts.with_timeout_ms(timeout_ms).stream_idle

        async def attempt() -> AsyncStream[T]:
            response = await self._open(
                method, path, body, params, http_headers, None, "text/event-stream", idle, base_url
            )
            if response.headers.get("content-type", "").startswith("application/json"):
                await self._refuse_json_stream(response, idle)
            stream = AsyncStream(response, parse_event, idle_timeout=idle, sentinel=sentinel)
            if helpers is not None:  # text_stream, get_final_completion() (_streams.py)
                stream.set_helpers(helpers)
            self._streams.add(stream)  # closed with the Session if still open then
            return stream

        return await self.retry(attempt, retries)

    async def raw(
        self,
        method: str,
        path: str,
        *,
        result: type[Any] | None = None,
        binary: bool = False,
        body: bytes | None = None,
        form: Form | None = None,
        params: Mapping[str, Any] | None = None,
        accept: str | None = None,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        base_url: str | None = None,
        deliver: Callable[[httpx.Response, float, float], Awaitable[Any]] | None = None,
    ) -> Any:
        """A multipart upload (``form``), a binary download (``binary``: a
        :class:`BinaryResponse` whose body is read when asked) or an answer that is empty or
        JSON (``result``: its model, or None). The request is built again for each attempt: a
        multipart body is re-rendered, so a retry sends it whole again.

        ``deliver(response, started, deadline)``, when given, makes the answer instead, from
        the response whose headers arrived (a raw response: ``_raw.py``), within the attempt
        (``started``: ``time.monotonic()`` when it began)."""
        timeouts = self.timeouts.with_timeout_ms(timeout_ms)

        async def attempt() -> Any:
            started = time.monotonic()
            response = await self._open(
                method, path, body, params, http_headers, form, accept, timeouts.read, base_url
            )
            if deliver is not None:
                return await deliver(response, started, timeouts.read)
            if binary:
                return BinaryResponse(response, idle_timeout=timeouts.stream_idle)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            if result is None:
                return None
            return decode_json(response, content, result)

        return await self.retry(attempt, retries)

    async def retry(
        self, attempt: Callable[[], Awaitable[T]], retries: RetryConfig | None = None
    ) -> T:
        """Run ``attempt`` under the retry policy (``retries``, else the Session's): the one
        loop, counted in :attr:`retries_made` and per task, logged to the debug logger. A
        batch row streamed as a whole is retried through here too."""
        config = retries if retries is not None else self.retry_config
        return await retrying(attempt, config, on_retry=self._count_retry, logger=self.logger)

    def _count_retry(self) -> None:
        self.retries_made += 1

    def view(self, defaults: ViewDefaults) -> ExchangeView:
        """This exchange with other defaults for each call (``with_options(...)``)."""
        return ExchangeView(self, defaults)

    # -- one JSON attempt (the hot path) ---------------------------------------------------

    async def _json_attempt(
        self,
        method: str,
        path: str,
        response_type: type[T],
        body: bytes | None,
        params: Mapping[str, Any] | None,
        http_headers: Mapping[str, str] | None,
        deadline: float,
        base_url: str | None = None,
    ) -> T:
        """One attempt of a JSON operation, within its whole-call deadline."""
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
            if preparing is not None and (
                self._dynamic_auth or params or http_headers or base_url is not None
            ):
                preparing = None  # headers, a query or a server of this call's own
            request: httpx.Request | None = None
            started = time.perf_counter() if self.logger is not None else 0.0
            try:
                async with self._deadline(deadline):
                    if preparing is not None:
                        response = await self._send_prepared(preparing, method, path, body)
                    else:
                        request = await self.build_request(
                            method, path, body, params, http_headers, base_url=base_url
                        )
                        response = await self._send(request)
                    content = await _read_body(response)
            except (TimeoutError, httpx.HTTPError, OSError) as error:
                failure = translate_transport_error(error)
                url = (base_url or self.base_url) + path if request is None else str(request.url)
                failure.request_info = RequestInfo(method, redact_url(url))
                raise failure from error
            status = response.status_code
            if request is None and (self.logger is not None or status >= 400):
                # Sent prepared: a request built only now, for a log line or an error
                # (its raw_response.request).
                request = await self.build_request(
                    method, path, body, params, http_headers, base_url=base_url
                )
                response.request = request
            if self.logger is not None:
                assert request is not None
                self._log_exchange(request, status, started)
            parsed = decode_json(response, content, response_type)
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
                    used_cost=used_cost(result) if estimate else None,
                )

    async def _send_prepared(
        self, preparing: PreparingTransport, method: str, path: str, body: bytes | None
    ) -> httpx.Response:
        """Send with the Session's fixed headers, prepared once per method and path: no
        httpx.Request per call, whose objects would stay alive, and be walked by the cyclic
        GC, for as long as the call waits."""
        key = (method, path, body is not None)
        prepared = self._prepared.get(key)
        if prepared is None:
            if len(self._prepared) >= _CACHE_SIZE:  # paths with ids in them: stay bounded
                self._prepared.clear()
            template = await self.build_request(method, path, None, None, None)
            prepared = self._prepared[key] = preparing.prepare(template, has_body=body is not None)
        response = await preparing.send_prepared(prepared, body)
        if response.status_code in REDIRECT_STATUSES:
            # Rare: only now a request of its own, for the redirect policy to follow.
            request = await self.build_request(method, path, body, None, None)
            response.request = request
            response = await follow_redirects(self._send_hop, request, response, logger=self.logger)
        return response

    # -- streams, uploads, downloads: the gate and the headers -----------------------------

    async def _open(
        self,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, Any] | None,
        http_headers: Mapping[str, str] | None,
        form: Form | None,
        accept: str | None,
        within: float,
        base_url: str | None = None,
    ) -> httpx.Response:
        """Pass the gate, send, and return the response once its headers arrived (its body
        still to read); an error status is raised as its typed error, its body read first.

        The exchange holds its slot at the gate until the headers; the wait at the gate
        counts against ``within`` (RateLimitTimeoutError when it cannot start in time)."""
        request = await self.build_request(
            method, path, body, params, http_headers, accept=accept, form=form, base_url=base_url
        )
        limiter = self.limiter
        permit: object | None = None
        if limiter.engaged:
            waiting_since = time.monotonic()
            permit = await limiter.acquire(within=within)
            within -= time.monotonic() - waiting_since
        status: int | None = None
        headers: Any = None
        try:
            response = await self._headers_of(request, within)
            status, headers = response.status_code, response.headers
            return response
        except APIStatusError as error:
            status, headers = error.status_code, error.headers
            raise
        finally:
            if permit is not None or status == 429:
                limiter.release(permit, status=status, headers=headers)

    async def _headers_of(self, request: httpx.Request, within: float) -> httpx.Response:
        started = time.perf_counter() if self.logger is not None else 0.0
        try:
            with anyio.fail_after(within):
                response = await self._send(request)
        except (TimeoutError, httpx.HTTPError, OSError) as error:
            failure = translate_transport_error(error)
            failure.request_info = RequestInfo(request.method, redact_url(str(request.url)))
            raise failure from error
        if self.logger is not None:
            self._log_exchange(request, response.status_code, started)
        if response.status_code >= 400:
            try:
                with anyio.fail_after(within):
                    content = await response.aread()
            except (TimeoutError, httpx.HTTPError, OSError):
                content = b""
            finally:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
            raise error_for_status(
                response.status_code, content, headers=response.headers, raw_response=response
            )
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
        raise_error_body(data)
        raise ResponseValidationError(
            "expected an event stream, got a JSON body",
            body=content.decode("utf-8", "replace"),
            status_code=response.status_code,
        )

    # -- building and sending --------------------------------------------------------------

    async def build_request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, Any] | None,
        http_headers: Mapping[str, str] | None,
        *,
        accept: str | None = None,
        form: Form | None = None,
        base_url: str | None = None,
    ) -> httpx.Request:
        """The request as it goes out: the Session's headers (the key from a key callable
        asked now), this call's, and the URL (parsed once per path, on the Session's server;
        ``base_url``: this call's own server)."""
        headers = self._request_headers
        if headers is None or self._client is None:
            raise RuntimeError(
                "this Session is not open: use `async with Session(...) as session:`"
            )
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
                remember_credentials(http_headers)
                headers.update(http_headers)
        if params or base_url is not None:
            url: httpx.URL | str = (base_url or self.base_url) + path
        else:
            # Parsing a URL costs more than the rest of building the request: once per path.
            cached = self._urls.get(path)
            if cached is None:
                if len(self._urls) >= _CACHE_SIZE:  # paths with ids in them: stay bounded
                    self._urls.clear()
                cached = self._urls[path] = httpx.URL(self.base_url + path)
            url = cached
        request = httpx.Request(
            method,
            url,
            headers=headers,
            params=params,
            content=body,
            extensions={"timeout": self._timeout_extension},
        )
        if form is not None:
            return _with_form(request, form)
        return request

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

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, following redirects as ``_redirects.py`` says."""
        response = await self._send_hop(request)
        if response.status_code in REDIRECT_STATUSES:
            return await follow_redirects(self._send_hop, request, response, logger=self.logger)
        return response

    async def _send_hop(self, request: httpx.Request) -> httpx.Response:
        """Send one request, following no redirect (each hop of one goes through here).

        On our own transport directly: the AsyncClient layer above it (auth flows, redirects,
        cookie jar, event hooks) does nothing for this API and costs as much as the transport
        itself under fan-out. A client given to us is used as it is."""
        transport = self._transport
        if transport is None:
            client = self._client
            if client is None:
                raise RuntimeError("this Session is closed")
            return await client.send(request, stream=True)
        response = await transport.handle_async_request(request)
        response.request = request
        return response

    def _deadline(self, seconds: float) -> AbstractAsyncContextManager[Any]:
        """A whole-call deadline raising TimeoutError. On asyncio (3.11+) the loop's own
        ``asyncio.timeout``: a fraction of the objects of an anyio cancel scope, which
        matters when a thousand calls wait at once (the cyclic GC walks them all)."""
        if self.backend == "asyncio" and _asyncio_timeout is not None:
            return _asyncio_timeout(seconds)
        return _async_scope(anyio.fail_after(seconds))

    def _log_exchange(self, request: httpx.Request, status: int, started: float) -> None:
        assert self.logger is not None
        self.logger.debug(
            "%s %s -> %d in %.1f ms",
            request.method,
            redact_url(str(request.url)),
            status,
            (time.perf_counter() - started) * 1000,
        )


class ExchangeView:
    """An :class:`Exchange` seen with other per-call defaults (``with_options(...)``): the
    same pool, gate, counters and lifetime, only a call's timeout, retry policy, headers and
    server default to the view's. What a call passes itself still wins."""

    def __init__(self, exchange: Exchange, defaults: ViewDefaults) -> None:
        self.parent = exchange
        self.defaults = defaults
        self.retry_config = defaults.retries or exchange.retry_config
        self.timeouts = exchange.timeouts.with_timeout_ms(defaults.timeout_ms)
        self.base_url = defaults.base_url or exchange.base_url

    def view(self, defaults: ViewDefaults) -> ExchangeView:
        """A view of the same exchange with these defaults over this view's."""
        mine = self.defaults
        headers = {**(mine.headers or {}), **(defaults.headers or {})}
        return ExchangeView(
            self.parent,
            ViewDefaults(
                timeout_ms=defaults.timeout_ms
                if defaults.timeout_ms is not None
                else mine.timeout_ms,
                retries=defaults.retries or mine.retries,
                headers=headers or None,
                base_url=defaults.base_url or mine.base_url,
            ),
        )

    @property
    def limiter(self) -> Limiter:
        return self.parent.limiter

    @property
    def retries_made(self) -> int:
        return self.parent.retries_made

    @property
    def backend(self) -> str | None:
        return self.parent.backend

    @property
    def is_open(self) -> bool:
        return self.parent.is_open

    def _call(self, options: dict[str, Any]) -> dict[str, Any]:
        """A call's options over the view's defaults."""
        defaults = self.defaults
        if options.get("timeout_ms") is None:
            options["timeout_ms"] = defaults.timeout_ms
        if options.get("retries") is None:
            options["retries"] = defaults.retries
        if defaults.headers:
            options["http_headers"] = {**defaults.headers, **(options.get("http_headers") or {})}
        if options.get("base_url") is None:
            options["base_url"] = defaults.base_url
        return options

    async def json(self, method: str, path: str, response_type: type[T], **options: Any) -> T:
        return await self.parent.json(method, path, response_type, **self._call(options))

    async def stream(
        self,
        method: str,
        path: str,
        parse_event: Callable[[ServerSentEvent], T | Skip],
        **options: Any,
    ) -> AsyncStream[T]:
        return await self.parent.stream(method, path, parse_event, **self._call(options))

    async def raw(self, method: str, path: str, **options: Any) -> Any:
        return await self.parent.raw(method, path, **self._call(options))

    async def retry(
        self, attempt: Callable[[], Awaitable[T]], retries: RetryConfig | None = None
    ) -> T:
        return await self.parent.retry(attempt, retries or self.defaults.retries)


async def _read_body(response: httpx.Response) -> bytes:
    try:
        if "content-encoding" in response.headers:
            return await response.aread()
        # Joined straight from the transport's chunks: Response.aread runs each one through
        # decoder layers that have nothing to do here.
        stream: Any = response.stream
        return b"".join([chunk async for chunk in stream])
    finally:
        await response.aclose()


def _with_form(request: httpx.Request, form: Form) -> httpx.Request:
    """``request`` with a streamed multipart body instead of its empty one (httpx renders the
    parts; file parts are read chunk by chunk as the body is sent)."""
    data, files = form
    encoded = httpx.Request("POST", "http://multipart.invalid/", data=data, files=files)
    headers = request.headers.copy()
    for name in ("Content-Type", "Content-Length", "Transfer-Encoding"):
        headers.pop(name, None)
        if name in encoded.headers:
            headers[name] = encoded.headers[name]
    return httpx.Request(
        request.method,
        request.url,
        headers=headers,
        stream=encoded.stream,
        extensions=request.extensions,
    )


@asynccontextmanager
async def _async_scope(scope: AbstractContextManager[Any]) -> AsyncIterator[None]:
    with scope:
        yield
