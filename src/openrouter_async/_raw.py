"""Raw responses: an operation's answer with its status and headers, as openai's
``with_raw_response`` / ``with_streaming_response`` give it.

``group.with_raw_response.send(...)`` runs the same generated method, with the same checks,
through the same exchange (gate, deadlines, the one retry loop, typed errors), on a runner
whose exchange hands back the response instead of only its result: :class:`RawResponse`,
whose body was read (and, for JSON, parsed: a 200 carrying ``{"error": ...}`` is raised, and
retried, as on the plain call), with ``.parse()`` giving what the plain call returns.
``with_streaming_response`` gives a :class:`StreamingResponse` instead, inside a ``with``
block, whose body is read only when asked (``read()``, ``iter_bytes()``, ``iter_lines()``,
``parse()``). Streams and downloads are never read ahead: their ``parse()`` is the stream or
the download, as the plain call returns it.

The generated wrapper classes (``AsyncChatWithRawResponse``...) bind each method of a group
built on such a runner and retype it with :func:`raw_async` & co, which cost nothing at run
time: the runner makes the difference, the functions only tell the type checker.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import anyio
import httpx
import orjson

from ._binary import BinaryResponse, SyncBinaryResponse
from ._decode import decode_json
from ._streams import AsyncStream, SyncStream

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    from ._exchange import Exchange, ExchangeView
    from ._operations import FacadeRunner, SessionRunner
    from ._portal import PortalThread

    P = ParamSpec("P")

__all__ = [
    "AsyncStreamingResponse",
    "AsyncStreamingResponseManager",
    "RawResponse",
    "StreamingResponse",
    "StreamingResponseManager",
    "raw_async",
    "raw_client",
    "raw_session",
    "raw_sync",
    "streaming_async",
    "streaming_sync",
]

R = TypeVar("R")
_NOT_YET: Any = object()


class _ResponseInfo:
    """What every raw response tells without reading its body."""

    __slots__ = ("_ended", "_started", "http_response")

    def __init__(self, response: httpx.Response, started: float) -> None:
        #: the ``httpx.Response`` itself
        self.http_response = response
        self._started = started  # (time.monotonic() when the attempt began)
        self._ended: float | None = None

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    @property
    def http_version(self) -> str:
        return self.http_response.http_version

    @property
    def elapsed(self) -> timedelta:
        """From sending the request (the attempt that answered) to the end of the body, or
        until now while the body is still being read."""
        ended = self._ended if self._ended is not None else time.monotonic()
        return timedelta(seconds=ended - self._started)

    @property
    def url(self) -> httpx.URL:
        return self.http_response.url

    @property
    def method(self) -> str:
        return self.http_response.request.method

    @property
    def generation_id(self) -> str | None:
        """``X-Generation-Id``: the call's id at OpenRouter (``generations.get(id=...)``)."""
        value: str | None = self.headers.get("x-generation-id")
        return value

    @property
    def request_id(self) -> str | None:
        """``X-Request-Id``, when the server sent one."""
        value: str | None = self.headers.get("x-request-id")
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.status_code}]>"


class RawResponse(_ResponseInfo, Generic[R]):
    """An answer with its status and headers; ``.parse()`` is what the plain call returns.

    The body was read (``.content``, ``.text``, ``.json()``) unless the operation streams or
    downloads: then ``.parse()`` is the stream or download, its body still to read.
    """

    __slots__ = ("_parse", "_parsed")

    def __init__(self, response: httpx.Response, parse: Callable[[], R], started: float) -> None:
        super().__init__(response, started)
        self._parse = parse
        self._parsed: R = _NOT_YET

    def parsing_with(self, then: Callable[[Any], Any]) -> None:
        """Pass what ``parse()`` gives through ``then`` first (a list's first page)."""
        inner = self._parse
        self._parse = lambda: then(inner())

    def parse(self) -> R:
        """The typed result (the same object every time)."""
        if self._parsed is _NOT_YET:
            self._parsed = self._parse()
        return self._parsed

    @property
    def content(self) -> bytes:
        return self.http_response.content

    @property
    def text(self) -> str:
        return self.http_response.text

    def json(self) -> Any:
        return orjson.loads(self.http_response.content)


class AsyncStreamingResponse(_ResponseInfo, Generic[R]):
    """An answer whose body is read only when asked, inside ``async with`` (which closes
    it): ``await read()`` / ``text()`` / ``json()``, ``iter_bytes()`` / ``iter_text()`` /
    ``iter_lines()``, or ``await parse()`` for what the plain call returns."""

    __slots__ = ("_idle", "_parse", "_parsed")

    def __init__(
        self,
        response: httpx.Response,
        parse: Callable[[], Awaitable[R]],
        idle: float,
        started: float,
    ) -> None:
        super().__init__(response, started)
        self._parse = parse
        self._parsed: R = _NOT_YET
        self._idle = idle

    def parsing_with(self, then: Callable[[Any], Any]) -> None:
        """Pass what ``parse()`` gives through ``then`` first (a list's first page)."""
        inner = self._parse

        async def parse() -> Any:
            return then(await inner())

        self._parse = parse

    async def parse(self) -> R:
        """The typed result, the body read for it (the same object every time)."""
        if self._parsed is _NOT_YET:
            self._parsed = await self._parse()
        return self._parsed

    async def read(self) -> bytes:
        """The whole body (each wait for data bounded by the stream idle timeout)."""
        if not self.http_response.is_stream_consumed:
            with anyio.fail_after(self._idle):  # (a download: see BinaryResponse for chunks)
                await self.http_response.aread()
        return self.http_response.content

    async def text(self) -> str:
        await self.read()
        return self.http_response.text

    async def json(self) -> Any:
        return orjson.loads(await self.read())

    async def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in self.http_response.aiter_bytes(chunk_size):
            yield chunk

    async def iter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        async for chunk in self.http_response.aiter_text(chunk_size):
            yield chunk

    async def iter_lines(self) -> AsyncIterator[str]:
        async for line in self.http_response.aiter_lines():
            yield line

    async def close(self) -> None:
        parsed = self._parsed
        if isinstance(parsed, (AsyncStream, BinaryResponse)):
            await parsed.aclose()
        await self.http_response.aclose()
        if self._ended is None:
            self._ended = time.monotonic()


class AsyncStreamingResponseManager(Generic[R]):
    """``async with group.with_streaming_response.op(...) as response:`` — the request is
    sent on entering, the response closed on leaving."""

    __slots__ = ("_call", "_response")

    def __init__(self, call: Callable[[], Awaitable[AsyncStreamingResponse[R]]]) -> None:
        self._call = call
        self._response: AsyncStreamingResponse[R] | None = None

    async def __aenter__(self) -> AsyncStreamingResponse[R]:
        self._response = await self._call()
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            with anyio.CancelScope(shield=True):
                await self._response.close()


class StreamingResponse(_ResponseInfo, Generic[R]):
    """:class:`AsyncStreamingResponse` on the sync facade: the same, each read run in the
    portal thread."""

    __slots__ = ("_async", "_portal")

    def __init__(self, response: AsyncStreamingResponse[Any], portal: PortalThread) -> None:
        super().__init__(response.http_response, response._started)
        self._async = response
        self._portal = portal

    @property
    def elapsed(self) -> timedelta:
        return self._async.elapsed

    def parse(self) -> R:
        parsed: R = _to_sync(self._portal.call(self._async.parse), self._portal)
        return parsed

    def parsing_with(self, then: Callable[[Any], Any]) -> None:
        self._async.parsing_with(then)

    def read(self) -> bytes:
        return self._portal.call(self._async.read)

    def text(self) -> str:
        return self._portal.call(self._async.text)

    def json(self) -> Any:
        return self._portal.call(self._async.json)

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return self._iterate(functools.partial(self._async.iter_bytes, chunk_size))

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        return self._iterate(functools.partial(self._async.iter_text, chunk_size))

    def iter_lines(self) -> Iterator[str]:
        return self._iterate(self._async.iter_lines)

    def _iterate(self, chunks: Callable[[], AsyncIterator[Any]]) -> Iterator[Any]:
        iterator = chunks()
        while True:
            try:
                yield self._portal.call(iterator.__anext__)
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self._portal.call(self._async.close)


class StreamingResponseManager(Generic[R]):
    """``with client.group.with_streaming_response.op(...) as response:``."""

    __slots__ = ("_call", "_response")

    def __init__(self, call: Callable[[], StreamingResponse[R]]) -> None:
        self._call = call
        self._response: StreamingResponse[R] | None = None

    def __enter__(self) -> StreamingResponse[R]:
        self._response = self._call()
        return self._response

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            self._response.close()


# -- the runners the wrapper classes bind their groups to ----------------------------------


class RawExchange:
    """An exchange (or a ``with_options`` view of one) that answers with the response:
    what ``_operations.call`` runs on for ``with_raw_response`` / ``with_streaming_response``.
    """

    __slots__ = ("_exchange", "_streaming")

    def __init__(self, exchange: Exchange | ExchangeView, *, streaming: bool) -> None:
        self._exchange = exchange
        self._streaming = streaming

    async def json(self, method: str, path: str, response_type: type[Any], **options: Any) -> Any:
        return await self.raw(method, path, result=response_type, **options)

    async def raw(
        self,
        method: str,
        path: str,
        *,
        result: type[Any] | None = None,
        binary: bool = False,
        **options: Any,
    ) -> Any:
        exchange = self._exchange
        idle = exchange.timeouts.with_timeout_ms(options.get("timeout_ms")).stream_idle
        if self._streaming:

            async def deliver(response: httpx.Response, started: float, within: float) -> Any:
                async def parse() -> Any:
                    if binary:
                        return BinaryResponse(response, idle_timeout=idle)
                    with anyio.fail_after(within):
                        content = await response.aread()
                    return None if result is None else decode_json(response, content, result)

                return AsyncStreamingResponse(response, parse, idle, started)

        else:

            async def deliver(response: httpx.Response, started: float, within: float) -> Any:
                try:
                    with anyio.fail_after(within):
                        content = await response.aread()
                finally:
                    with anyio.CancelScope(shield=True):
                        await response.aclose()
                parsed: Any
                if binary:  # a download over the body already read
                    copy = httpx.Response(
                        response.status_code,
                        headers=response.headers,
                        content=content,
                        request=response.request,
                    )
                    parsed = BinaryResponse(copy, idle_timeout=idle)
                else:
                    # parsed now, within the retry loop: an error body is raised as on the
                    # plain call, and retried as it would be
                    parsed = None if result is None else decode_json(response, content, result)
                raw: RawResponse[Any] = RawResponse(response, lambda: parsed, started)
                raw._ended = time.monotonic()
                return raw

        return await exchange.raw(method, path, deliver=deliver, **options)

    async def stream(
        self, method: str, path: str, parse_event: Callable[..., Any], **options: Any
    ) -> Any:
        started = time.monotonic()
        stream: AsyncStream[Any] = await self._exchange.stream(method, path, parse_event, **options)
        if not self._streaming:
            return RawResponse(stream.response, lambda: stream, started)

        async def parse() -> Any:
            return stream

        idle = self._exchange.timeouts.with_timeout_ms(options.get("timeout_ms")).stream_idle
        response: AsyncStreamingResponse[Any] = AsyncStreamingResponse(
            stream.response, parse, idle, started
        )
        response._parsed = stream  # closed with the response
        return response

    def __getattr__(self, name: str) -> Any:  # the rest (retry, limiter...) as the exchange's
        return getattr(self._exchange, name)


class RawRunner:
    """A Session (or a view) seen through a :class:`RawExchange`."""

    __slots__ = ("exchange",)

    def __init__(self, session: Any, *, streaming: bool) -> None:
        self.exchange = RawExchange(session.exchange, streaming=streaming)


class RawFacadeRunner:
    """The facade seen through raw runners: both of its Sessions, sync and ``_async``."""

    __slots__ = ("_client", "_streaming")

    def __init__(self, client: Any, *, streaming: bool) -> None:
        self._client = client
        self._streaming = streaming

    def _sync(self) -> tuple[PortalThread, RawRunner]:
        portal, session = self._client._sync()
        return portal, RawRunner(session, streaming=self._streaming)

    def _session_async(self) -> RawRunner:
        return RawRunner(self._client._session_async(), streaming=self._streaming)


def to_sync(result: Any, portal: PortalThread) -> Any:
    """A result of the async core as the sync facade hands it out."""
    if isinstance(result, AsyncStream):
        return SyncStream(result, portal)
    if isinstance(result, BinaryResponse):
        return SyncBinaryResponse(result, portal.portal)
    if isinstance(result, RawResponse):
        parse = result._parse
        sync = RawResponse(result.http_response, lambda: to_sync(parse(), portal), result._started)
        sync._ended = result._ended
        return sync
    if isinstance(result, AsyncStreamingResponse):
        return StreamingResponse(result, portal)
    return result


_to_sync = to_sync


def raw_session(session: SessionRunner, *, streaming: bool) -> SessionRunner:
    """``session`` (a Session or a view) as a runner whose calls answer raw."""
    # (a SessionRunner in all but its exchange's declared type)
    return cast("SessionRunner", RawRunner(session, streaming=streaming))


def raw_client(client: FacadeRunner, *, streaming: bool) -> FacadeRunner:
    """The facade as a runner whose calls answer raw, sync and ``_async``."""
    return cast("FacadeRunner", RawFacadeRunner(client, streaming=streaming))


# -- what the generated wrapper classes retype their methods with ---------------------------


def raw_async(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[RawResponse[R]]]:
    """``method`` (of a group on a :class:`RawRunner`) typed as what it returns there."""
    return method  # type: ignore[return-value]


def raw_sync(method: Callable[P, R]) -> Callable[P, RawResponse[R]]:
    return method  # type: ignore[return-value]


def streaming_async(
    method: Callable[P, Awaitable[R]],
) -> Callable[P, AsyncStreamingResponseManager[R]]:
    """``method`` (of a group on a streaming :class:`RawRunner`) as a context manager."""

    def start(*args: P.args, **kwargs: P.kwargs) -> AsyncStreamingResponseManager[R]:
        return AsyncStreamingResponseManager(functools.partial(method, *args, **kwargs))  # type: ignore[arg-type]

    return start


def streaming_sync(method: Callable[P, R]) -> Callable[P, StreamingResponseManager[R]]:
    def start(*args: P.args, **kwargs: P.kwargs) -> StreamingResponseManager[R]:
        return StreamingResponseManager(functools.partial(method, *args, **kwargs))  # type: ignore[arg-type]

    return start
