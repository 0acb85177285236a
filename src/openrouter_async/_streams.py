"""Streams of server-sent events, delivered through a bounded memory channel.

An :class:`AsyncStream` wraps a response whose headers have arrived (HTTP errors were raised
before it was built). Entering it starts a producer task, in a task group the stream owns, that
reads bytes, decodes SSE, parses each event into a typed chunk and sends the chunks into a
bounded channel. The caller's loop receives them; when the caller is slow the producer blocks
(back-pressure) and stops reading the socket.

Why a task group per stream rather than the Session's: leaving the ``async with`` block must
cancel exactly this producer and close exactly this response, and a failure in the producer
must reach exactly this consumer — as the typed error, never as an ExceptionGroup. The producer
therefore catches its own errors and hands them over through the channel.

Chunks travel in batches (all the events decoded from one network read): a channel hand-off
costs a task switch, and a 20,000-chunk stream should not pay 20,000 of them.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._sse import ServerSentEvent, SSEDecoder
from ._transport_errors import translate_transport_error
from .errors import APIConnectionError, OpenRouterError, StreamIdleTimeoutError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from anyio.from_thread import BlockingPortal

__all__ = ["AsyncStream", "SyncStream"]

T = TypeVar("T")

#: How many batches may wait in the channel before the producer stops reading the socket.
_CHANNEL_BATCHES = 16


class AsyncStream(Generic[T]):
    """An open stream: ``async with stream as chunks: async for chunk in chunks: ...``.

    Leaving the block early cancels the producer and closes the HTTP connection. Iterating
    without ``async with`` works too (the stream enters itself), but then the response is only
    closed when the iteration ends: prefer the block.
    """

    def __init__(
        self,
        response: httpx.Response,
        parse_event: Callable[[ServerSentEvent], T],
        *,
        idle_timeout: float,
        sentinel: str | None = "[DONE]",
    ) -> None:
        self.response = response
        self._parse_event = parse_event
        self._idle_timeout = idle_timeout
        self._sentinel = sentinel
        self._task_group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[list[T]] | None = None
        self._error: BaseException | None = None
        self._batch: Iterator[T] = iter(())
        self._entered = False
        self._auto_entered = False
        self._closed = False

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def status_code(self) -> int:
        return self.response.status_code

    async def __aenter__(self) -> AsyncStream[T]:
        if self._entered:
            raise RuntimeError("a stream can be entered only once")
        self._entered = True
        send, receive = anyio.create_memory_object_stream[list[T]](_CHANNEL_BATCHES)
        self._receive = receive
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._produce, send)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose(exc_type, exc, tb)
        return None

    async def aclose(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """Stop the producer and close the response. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._task_group is not None:
                self._task_group.cancel_scope.cancel()
                # The caller's own exception (if any) is not handed to the task group: anyio
                # would wrap it in an ExceptionGroup. It propagates from our __aexit__ as is.
                await self._task_group.__aexit__(None, None, None)
        finally:
            if self._receive is not None:
                self._receive.close()
            with anyio.CancelScope(shield=True):
                await self.response.aclose()

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            for chunk in self._batch:
                return chunk
            if self._closed:
                raise StopAsyncIteration
            try:
                batch = await self.next_batch()
            except BaseException:
                if self._auto_entered:
                    await self.aclose()
                raise
            if batch is None:
                if self._auto_entered:
                    await self.aclose()
                raise StopAsyncIteration
            self._batch = iter(batch)

    async def next_batch(self) -> list[T] | None:
        """The next chunks that have arrived (at least one), or None at the end.

        Raises the stream's error (mid-stream error event, idle timeout, dropped connection)
        once every chunk received before it has been delivered.
        """
        if self._receive is None:
            # Iterated without ``async with``: enter now, close when the iteration ends.
            self._auto_entered = True
            await self.__aenter__()
        assert self._receive is not None
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self._error is not None:
                error, self._error = self._error, None
                raise error from None
            return None

    async def _produce(self, send: MemoryObjectSendStream[list[T]]) -> None:
        async with send:
            try:
                await self._pump(send)
            except anyio.get_cancelled_exc_class():
                raise
            except OpenRouterError as error:
                self._error = error
            except httpx.HTTPError as error:
                self._error = translate_transport_error(error, streaming=True)
            except Exception as error:
                self._error = error

    async def _pump(self, send: MemoryObjectSendStream[list[T]]) -> None:
        decoder = SSEDecoder()
        parse_event = self._parse_event
        sentinel = self._sentinel
        idle = self._idle_timeout
        with anyio.CancelScope(deadline=anyio.current_time() + idle) as idle_scope:
            async for raw in self.response.aiter_raw():
                events = decoder.feed(raw)
                if not events:
                    continue  # keep-alive comments, or half an event: no reset of the idle clock
                batch: list[T] = []
                done = False
                try:
                    for event in events:
                        if event.data == sentinel:
                            done = True
                            break
                        batch.append(parse_event(event))
                except Exception:
                    # An error event: deliver the chunks that came before it, then raise.
                    if batch:
                        idle_scope.deadline = math.inf
                        await send.send(batch)
                    raise
                if batch:
                    # Time spent waiting for a slow consumer is not server idleness.
                    idle_scope.deadline = math.inf
                    await send.send(batch)
                if done:
                    return
                idle_scope.deadline = anyio.current_time() + idle
            for event in decoder.flush():
                if event.data == sentinel:
                    return
                await send.send([parse_event(event)])
        if idle_scope.cancelled_caught:
            raise StreamIdleTimeoutError(
                f"no data from the server for {idle:g}s (keep-alive comments do not count)"
            )
        if sentinel is not None:
            raise APIConnectionError(f"the stream ended before its {sentinel} sentinel")


class SyncStream(Generic[T]):
    """The sync facade's twin of :class:`AsyncStream`, driven through a blocking portal.

    ``with response as event_stream: for event in event_stream: ...``. Each portal round trip
    fetches every chunk that has already arrived, not one chunk.
    """

    def __init__(self, stream: AsyncStream[T], portal: BlockingPortal) -> None:
        self._stream = stream
        self._portal = portal
        self._context: Any = None
        self._batch: Iterator[T] = iter(())
        self._finished = False
        self._auto_entered = False

    @property
    def headers(self) -> httpx.Headers:
        return self._stream.headers

    @property
    def status_code(self) -> int:
        return self._stream.status_code

    def __enter__(self) -> SyncStream[T]:
        self._context = self._portal.wrap_async_context_manager(self._stream)
        self._context.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(exc_type, exc, tb)

    def close(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            context.__exit__(exc_type, exc, tb)
        elif not self._finished:
            self._finished = True
            self._portal.call(self._stream.aclose)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        while True:
            for chunk in self._batch:
                return chunk
            if self._finished:
                raise StopIteration
            if self._context is None:
                # Iterated without ``with``: entered here, and closed here when the iteration
                # ends, normally or with the stream's error (nothing else would close it).
                self.__enter__()
                self._auto_entered = True
            try:
                batch = self._portal.call(self._stream.next_batch)
            except BaseException:
                if self._auto_entered:
                    self._finished = True
                    self.close()
                raise
            if batch is None:
                self._finished = True
                self.close()
                raise StopIteration
            self._batch = iter(batch)
