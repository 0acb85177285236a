"""Streams of server-sent events: pulled by the consumer, read ahead through a bounded memory
channel inside ``async with``.

An :class:`AsyncStream` wraps a response whose headers have arrived (HTTP errors were raised
before it was built). Its core is a pull step (:meth:`AsyncStream.next_batch`): read the next
network chunk, decode its SSE events, parse them into typed chunks.

* **Inside ``async with stream:``** (and ``async with session.stream(...)``) the stream runs
  that step in a producer task, in a task group of its own opened and closed by an ``async
  with`` in :meth:`AsyncStream.reading_ahead` (which the block enters), and hands the batches
  over through a bounded memory channel: the network is read while the consumer works on the
  previous batch, and a slow consumer stops the reading when the channel is full
  (back-pressure). Leaving the block cancels exactly this producer and closes exactly this
  response; a failure reaches the consumer as the typed error, never as an ExceptionGroup (the
  producer hands it over through the channel).
* **Iterated without ``async with``** (or by the sync facade, whose portal calls are each a
  task of their own), the consumer's task runs the step itself: no task group is entered, so
  none can be left open by hand, the stream can be abandoned after a ``break`` or read from
  task to task, and leaving the caller's ``async with Session``/``OpenRouter`` always works.

Both ways:

* The idle timeout is one cancel scope per step, around the reads that step needs: keep-alive
  comments (``: OPENROUTER PROCESSING``) produce no event, so they do not restart the clock,
  and time spent in the consumer's loop body is never counted as server idleness.
* Chunks go out in batches (all the events decoded from one network read): one channel
  hand-off, or one portal round trip for the sync facade, per batch, not per chunk.
* A failure mid-stream (an error event, a dropped connection, the idle timeout) is raised
  from the iteration as the typed error, after the chunks that came before it.
* Closing: leaving ``async with``, ``aclose()``, reaching the end, or an error closes the
  response. A stream that is dropped unclosed is closed when it is garbage collected: its
  ``__del__`` schedules ``response.aclose()`` on the event loop that opened it (thread-safe,
  never blocking, never raising), which closes the connection.
* A compressed body (``Content-Encoding: gzip`` / ``deflate``, or any coding httpx knows) is
  decoded incrementally, as httpx decodes a compressed JSON body.

Events with an ``event:`` name are filtered by the event parser (see
:func:`openrouter_async._events.parse_chat_event`): it returns :data:`SKIP` for an event the
stream's chunk type cannot represent, and such an event is dropped.

Helpers (openai-python's and anthropic's names): ``stream.text_stream`` (the text deltas
only), ``stream.until_done()`` (read the rest), ``stream.get_final_completion()`` (the whole
answer put back together). The core knows nothing of chat: the code that opens a stream gives
it :class:`StreamHelpers` (how to read a chunk's text, how to put chunks back together), as
the operation knows its event type. Accumulation happens as chunks are read, one call per
network read (not per chunk), so the answer is there however the stream was consumed: by
``async for``, by ``text_stream`` or by the helper itself.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import AsyncGeneratorType, TracebackType
from typing import Any, Final, Generic, Protocol, TypeVar, overload

import anyio
import httpx
import sniffio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._sse import ServerSentEvent, SSEDecoder
from ._transport_errors import translate_transport_error
from .errors import APIConnectionError, StreamIdleTimeoutError

__all__ = ["SKIP", "Accumulator", "AsyncStream", "ChunkOf", "Skip", "StreamHelpers", "SyncStream"]

# Covariant: a stream only hands chunks out (and so a stream of ChatStreamChunk is a stream of
# ChunkOf[ChatResult], which is how get_final_completion() gets its type).
T_co = TypeVar("T_co", covariant=True)
R = TypeVar("R")
F = TypeVar("F")
F_co = TypeVar("F_co", covariant=True)
C_contra = TypeVar("C_contra", contravariant=True)


class Skip:
    """The type of :data:`SKIP`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SKIP"


#: What an event parser returns for an event the stream drops (a named event its chunk type
#: does not describe: ``ping``, ``openrouter.metadata``, anything new).
SKIP: Final = Skip()


class ChunkOf(Generic[F]):
    """The base of a chunk type whose stream is put back together into an ``F``: it gives
    ``get_final_completion()`` its type (``class ChatStreamChunk(..., ChunkOf[ChatResult])``
    makes it return a ``ChatResult`` on an ``AsyncStream[ChatStreamChunk]``). A type-level
    link only: it has no state and no behaviour."""

    __slots__ = ()


class Accumulator(Protocol[C_contra, F_co]):
    """Puts a stream's chunks back together: every chunk read is given to :meth:`extend`, in
    order, one network read's batch at a time; :meth:`result` is the whole answer so far."""

    def extend(self, chunks: Iterable[C_contra], /) -> None: ...

    def result(self) -> F_co: ...


class StreamHelpers:
    """What a stream's helpers know about its events, given by the code that opens it.

    ``kind``: what the stream is, for the errors of a helper it does not have (``"chat"``,
    ``"responses"``, an operation's name). ``text``: a chunk's text delta (``None`` or
    ``""``: none). ``accumulator``: makes the stream's :class:`Accumulator` (one per stream).
    """

    __slots__ = ("accumulator", "kind", "text")

    def __init__(
        self,
        kind: str,
        *,
        text: Callable[[Any], str | None] | None = None,
        accumulator: Callable[[], Accumulator[Any, Any]] | None = None,
    ) -> None:
        self.kind = kind
        self.text = text
        self.accumulator = accumulator

    def __repr__(self) -> str:
        return f"<StreamHelpers {self.kind}>"


class _NoResult:
    __slots__ = ()


#: ``get_final_completion()`` has not put the answer together yet.
_NO_RESULT: Final = _NoResult()

#: How many batches may wait in the channel before the producer stops reading the socket.
_CHANNEL_BATCHES = 16

#: Tasks closing the responses of collected streams (asyncio keeps only weak references).
_closing: set[Any] = set()


class AsyncStream(Generic[T_co]):
    """An open stream: ``async with stream as chunks: async for chunk in chunks: ...``.

    Leaving the block (normally, by ``break``, an exception or a cancellation) closes the
    HTTP response. Iterating without ``async with`` works too: the response is closed when the
    iteration ends, and, if the loop is left early, when the stream is garbage collected (or
    its Session closes) — prefer the block, which closes it at once.
    """

    def __init__(
        self,
        response: httpx.Response,
        parse_event: Callable[[ServerSentEvent], T_co | Skip],
        *,
        idle_timeout: float,
        sentinel: str | None = "[DONE]",
    ) -> None:
        self.response = response
        self._parse_event = parse_event
        self._idle_timeout = idle_timeout
        self._sentinel = sentinel
        self._decoder = SSEDecoder()
        self._source: AsyncIterator[bytes] | None = None
        self._batch: Iterator[T_co] = iter(())
        self._error: BaseException | None = None  # raised once the chunks before it are out
        self._done = False  # nothing more to read: the end, an error, or closed
        self._reading = False
        self._last: object = None  # the last chunk read: a terminal event ends without [DONE]
        # Inside ``async with``: its exit, the producer's scope and the channel it fills.
        self._exit_stack: AsyncExitStack | None = None
        self._producer_scope: anyio.CancelScope | None = None
        self._receive: MemoryObjectReceiveStream[list[T_co] | BaseException] | None = None
        # How to reach this stream's event loop from any thread, for the close on collection.
        self._close_soon = _thread_safe_closer()
        # The helpers (text_stream, get_final_completion), given by the code that opened it.
        self._helpers: StreamHelpers | None = None
        self._accumulator: Accumulator[T_co, Any] | None = None
        self._accumulator_error: Exception | None = None  # its own bug: the helper's to raise
        self._final: Any = _NO_RESULT
        self._failure: Exception | None = None  # the error the stream ended with, kept

    def set_helpers(self, helpers: StreamHelpers) -> None:
        """Give this stream its helpers (for the code that opens it, before it is read)."""
        if self._source is not None or self._done:
            raise RuntimeError("a stream's helpers are set before it is read")
        self._helpers = helpers
        factory = helpers.accumulator
        self._accumulator = factory() if factory is not None else None

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def status_code(self) -> int:
        return self.response.status_code

    def __repr__(self) -> str:
        state = "closed" if self.response.is_closed else "open"
        return f"<AsyncStream {self.status_code} {state}>"

    async def __aenter__(self) -> AsyncStream[T_co]:
        """Start reading ahead (see :meth:`reading_ahead`); this block's exit joins the
        producer and closes the response."""
        if self._exit_stack is not None:
            raise RuntimeError("this stream is already entered")
        stack = AsyncExitStack()
        await stack.enter_async_context(self.reading_ahead())
        self._exit_stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            await stack.aclose()  # the caller's exception propagates from here as it is
        return None

    @asynccontextmanager
    async def reading_ahead(self) -> AsyncIterator[AsyncStream[T_co]]:
        """The producer's scope: a task group opened and closed by this ``async with``, its
        one task sending batches into a bounded channel that :meth:`__anext__` reads."""
        if self._done:
            yield self
            await self.aclose()
            return
        send, receive = anyio.create_memory_object_stream[list[T_co] | BaseException](
            _CHANNEL_BATCHES
        )
        caught: BaseException | None = None
        try:
            async with anyio.create_task_group() as task_group:
                self._producer_scope = task_group.cancel_scope
                task_group.start_soon(self._read_ahead, send)
                self._receive = receive
                try:
                    yield self
                except BaseException as error:
                    # The caller's own exception is not left to the task group (anyio and trio
                    # would wrap it in an ExceptionGroup): it is raised again as it is, below.
                    caught = error
                finally:
                    task_group.cancel_scope.cancel()
        finally:
            self._producer_scope = None
            self._receive = None
            receive.close()
            await self.aclose()
        if caught is not None:
            raise caught

    async def aclose(self) -> None:
        """Close the response (the connection, unless the body was read to its end); the
        iteration then ends. Idempotent, and complete even in a cancelled task. Inside
        ``async with`` it stops the producer too (the block's exit then joins it)."""
        self._done = True
        self._batch = iter(())
        self._error = None
        if self._producer_scope is not None:
            self._producer_scope.cancel()
        await self._release()

    async def _read_ahead(self, send: MemoryObjectSendStream[list[T_co] | BaseException]) -> None:
        """The producer of ``async with``: pull steps into the channel until the end, or until
        an error, which goes through the channel too (after the chunks before it)."""
        # One idle scope for the whole stream, its deadline moved forward at each step and
        # lifted while the consumer is waited for: a new scope per step costs a tenth of the
        # chunks/s on trio (the stream benchmark, 20,000 chunks).
        async with send:
            with anyio.CancelScope() as idle:
                while True:
                    try:
                        batch = await self.next_batch(idle)
                    except anyio.get_cancelled_exc_class():
                        raise
                    except Exception as error:
                        idle.deadline = math.inf
                        await send.send(error)
                        return
                    if batch is None:
                        return
                    idle.deadline = math.inf  # a slow consumer is not a quiet server
                    await send.send(batch)
            if idle.cancelled_caught:  # its own deadline, not the block's exit
                self._failure = timeout = self._idle_error()
                await send.send(timeout)

    def __aiter__(self) -> AsyncIterator[T_co]:
        return self

    async def __anext__(self) -> T_co:
        for chunk in self._batch:
            return chunk
        batch = await self._take_batch()
        if batch is None:
            raise StopAsyncIteration
        self._batch = chunks = iter(batch)
        return next(chunks)

    async def _take_batch(self) -> list[T_co] | None:
        """The consumer's next batch: from the producer inside ``async with``, else read."""
        receive = self._receive
        if receive is None:
            return await self.next_batch()
        try:
            item = await receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    # -- helpers ---------------------------------------------------------------------------

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text deltas of the rest of the stream, as strings (chunks without text, such as
        tool call deltas or the usage chunk, give none): ``async for text in
        stream.text_stream: print(text, end="")``. Chat: the content of the first choice
        (``index`` 0); Responses: ``response.output_text.delta``; Messages: ``text_delta``;
        completions: the first choice's ``text``. It reads the same stream as ``async for``:
        what one has handed out the other does not, and ``get_final_completion()`` sees it
        all. A ``TypeError`` on a stream without text deltas."""
        return _AsyncTexts(self, self._text_of())

    async def until_done(self) -> None:
        """Read the rest of the stream, to its end (which closes it), without handing the
        chunks out: the helpers have seen them. Raises the stream's error as iterating does
        (again, if it was raised already)."""
        self._batch = iter(())
        while await self._take_batch() is not None:
            pass
        failure = self._failure
        if failure is not None:
            raise failure

    @overload
    async def get_final_completion(self: AsyncStream[ChunkOf[F]]) -> F: ...

    @overload
    async def get_final_completion(self) -> Any: ...

    async def get_final_completion(self) -> Any:
        """The whole answer put back together (chat: the ``ChatResult`` the same call returns
        without ``stream=True``): reads the rest of the stream first, as :meth:`until_done`;
        the chunks already handed out count, however they were read. The same object on
        every call. After the stream was closed before its end, the answer as far as it had
        been received (an unfinished choice has ``finish_reason`` None); an error the stream
        ended with is raised instead (again, on every call). A ``TypeError`` on a stream that
        is not put back together (only chat streams are)."""
        self._check_final()
        if self._final is _NO_RESULT:
            await self.until_done()
        return self._finish()

    def _text_of(self) -> Callable[[Any], str | None]:
        helpers = self._helpers
        text = helpers.text if helpers is not None else None
        if text is None:
            raise TypeError(f"text_stream: {self._no_helper('have no text deltas')}")
        return text

    def _check_final(self) -> None:
        """Before anything is read: a TypeError if this stream is not put back together."""
        if self._accumulator is None and self._accumulator_error is None:
            raise TypeError(
                "get_final_completion: "
                + self._no_helper("are not put back together")
                + " (chat streams are)"
            )

    def _no_helper(self, what: str) -> str:
        helpers = self._helpers
        if helpers is None:
            return f"this stream was opened without helpers: its events {what}; iterate it"
        return f"the events of a {helpers.kind} stream {what}; iterate it"

    def _finish(self) -> Any:
        """The accumulated answer, put together once (the stream was read to its end or
        closed: nothing is added any more)."""
        final = self._final
        if final is _NO_RESULT:
            accumulator = self._accumulator
            if accumulator is None:  # it failed while the stream was read: its bug, raised
                raise self._accumulator_error or TypeError("this stream has no accumulator")
            final = self._final = accumulator.result()
        return final

    async def next_batch(self, idle: anyio.CancelScope | None = None) -> list[T_co] | None:
        """The chunks of the next network read that has any (at least one), or None at the
        end.

        Raises the stream's error (mid-stream error event, idle timeout, dropped connection)
        once every chunk received before it has been delivered. A cancellation while waiting
        for the server closes the stream (the transport drops a half-read connection).

        ``idle``: the producer's one idle scope (see :meth:`_read_ahead`), moved forward here
        instead of a scope per step.
        """
        error = self._error
        if error is not None:
            self._error = None
            if isinstance(error, Exception):
                self._failure = error
            raise error
        if self._done:
            return None
        if self._reading:
            raise RuntimeError("this stream is already being read by another task")
        self._reading = True
        try:
            batch = await self._read_batch(idle)
        except BaseException as failure:
            self._done = True
            await self._release()
            if isinstance(failure, httpx.HTTPError):
                translated = translate_transport_error(failure, streaming=True)
                self._failure = translated
                raise translated from failure
            if isinstance(failure, Exception):  # not a cancellation: the stream's own error
                self._failure = failure
            raise
        finally:
            self._reading = False
        accumulator = self._accumulator
        if accumulator is not None and batch is not None:
            try:
                accumulator.extend(batch)
            except Exception as bug:  # never the iteration's failure: the helper raises it
                self._accumulator = None
                self._accumulator_error = bug
        if self._done:  # the sentinel, the end of the body, or an error after this batch
            await self._release()
        return batch

    async def _read_batch(self, idle: anyio.CancelScope | None) -> list[T_co] | None:
        if idle is not None:  # the producer's scope: it turns its expiry into the error
            idle.deadline = anyio.current_time() + self._idle_timeout
            return await self._read_events()
        with anyio.CancelScope(deadline=anyio.current_time() + self._idle_timeout):
            return await self._read_events()
        # Only reached when the scope's own deadline cancelled the reads.
        raise self._idle_error()

    def _idle_error(self) -> StreamIdleTimeoutError:
        return StreamIdleTimeoutError(
            f"no data from the server for {self._idle_timeout:g}s "
            "(keep-alive comments do not count)"
        )

    async def _read_events(self) -> list[T_co] | None:
        """Read until one network read gave chunks (or the end): the pull step itself."""
        source = self._source
        if source is None:
            source = self._source = _body_chunks(self.response)
        decoder = self._decoder
        parse_event = self._parse_event
        sentinel = self._sentinel
        batch: list[T_co] = []
        while not batch:
            try:
                raw = await source.__anext__()
            except StopAsyncIteration:
                self._done = True
                decoder.flush()  # an unterminated event is discarded (the SSE rules)
                if sentinel is not None and not _is_terminal(self._last):
                    raise APIConnectionError(
                        f"the stream ended before its {sentinel} sentinel"
                    ) from None
                return None
            for event in decoder.feed(raw):
                if event.data == sentinel:
                    self._done = True
                    return batch or None
                try:
                    chunk = parse_event(event)
                except Exception as error:
                    self._done = True
                    if not batch:
                        raise
                    self._error = error  # deliver the chunks that came before it first
                    return batch
                if chunk is not SKIP:
                    batch.append(chunk)  # type: ignore[arg-type]  # SKIP filtered out
        self._last = batch[-1]
        return batch

    async def _release(self) -> None:
        source, self._source = self._source, None
        with anyio.CancelScope(shield=True):
            if isinstance(source, AsyncGeneratorType):  # httpx's decoding generator
                await source.aclose()
            await self.response.aclose()

    def __del__(self) -> None:
        # Dropped without being closed (a `break` out of a loop without `async with`): close
        # the connection from the event loop that opened it. Never await, block or raise here:
        # this runs in whatever thread the collector runs in.
        try:
            response = self.response
            if not response.is_closed:
                close_soon = self._close_soon
                if close_soon is not None:
                    close_soon(response)
        except Exception:
            pass


class _AsyncTexts:
    """``AsyncStream.text_stream``: the stream's own batches, their chunks' text handed out."""

    __slots__ = ("_stream", "_text")

    def __init__(self, stream: AsyncStream[Any], text: Callable[[Any], str | None]) -> None:
        self._stream = stream
        self._text = text

    def __aiter__(self) -> _AsyncTexts:
        return self

    async def __anext__(self) -> str:
        stream = self._stream
        text = self._text
        while True:
            for chunk in stream._batch:  # the stream's iterator: what is handed out is gone
                piece = text(chunk)
                if piece:
                    return piece
            batch = await stream._take_batch()
            if batch is None:
                raise StopAsyncIteration
            stream._batch = iter(batch)


#: Typed events after which a stream is complete even without its ``[DONE]``: OpenRouter sends
#: one after them, but the Responses API (as OpenAI serves it) and Anthropic's Messages stream
#: end with these events and nothing after.
_TERMINAL_EVENTS = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "message_stop"}
)


def _is_terminal(chunk: object) -> bool:
    return getattr(chunk, "type", None) in _TERMINAL_EVENTS


def _body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive: raw from the transport, or through httpx's decoders
    when it is compressed (they decode incrementally, one network chunk at a time)."""
    if "content-encoding" in response.headers:
        return response.aiter_bytes()
    stream: Any = response.stream
    iterator: AsyncIterator[bytes] = stream.__aiter__()
    return iterator


def _thread_safe_closer() -> Callable[[httpx.Response], object] | None:
    """A function that starts closing a response in the current event loop, callable from
    any thread without blocking (None outside an event loop)."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None
    if library == "asyncio":
        loop = asyncio.get_running_loop()

        def close_in_loop(response: httpx.Response) -> None:
            loop.call_soon_threadsafe(_close_in_asyncio, loop, response)

        return close_in_loop
    if library == "trio":
        import trio

        token = trio.lowlevel.current_trio_token()

        def close_in_run(response: httpx.Response) -> None:
            token.run_sync_soon(_close_in_trio, response)

        return close_in_run
    return None


def _close_in_asyncio(loop: asyncio.AbstractEventLoop, response: httpx.Response) -> None:
    try:
        task = loop.create_task(_close_quietly(response))
        _closing.add(task)
        task.add_done_callback(_closing.discard)
    except Exception:
        pass


def _close_in_trio(response: httpx.Response) -> None:
    try:
        import trio

        trio.lowlevel.spawn_system_task(_close_quietly, response)
    except Exception:
        pass


async def _close_quietly(response: httpx.Response) -> None:
    try:
        await response.aclose()
    except Exception:
        pass


class _Caller(Protocol):
    def call(self, function: Callable[[], Awaitable[R]], /) -> R: ...


class SyncStream(Generic[T_co]):
    """The sync facade's twin of :class:`AsyncStream`, driven through the portal thread.

    ``with response as event_stream: for event in event_stream: ...``. Each portal round trip
    fetches the chunks of one network read, not one chunk. Abandoned without ``with``, it is
    closed when collected (by its :class:`AsyncStream`, without a portal call).
    """

    def __init__(self, stream: AsyncStream[T_co], portal: _Caller) -> None:
        self._stream = stream
        self._portal = portal
        self._batch: Iterator[T_co] = iter(())
        self._finished = False

    @property
    def headers(self) -> httpx.Headers:
        return self._stream.headers

    @property
    def status_code(self) -> int:
        return self._stream.status_code

    def __repr__(self) -> str:
        return repr(self._stream).replace("<AsyncStream", "<SyncStream", 1)

    def __enter__(self) -> SyncStream[T_co]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the response; the iteration then ends. Idempotent."""
        self._batch = iter(())
        self._finished = True
        if not self._stream.response.is_closed:
            self._portal.call(self._stream.aclose)

    def __iter__(self) -> Iterator[T_co]:
        return self

    def __next__(self) -> T_co:
        for chunk in self._batch:
            return chunk
        batch = self._next_batch()
        if batch is None:
            raise StopIteration
        self._batch = chunks = iter(batch)
        return next(chunks)

    def _next_batch(self) -> list[T_co] | None:
        if self._finished:
            return None
        try:
            batch = self._portal.call(self._stream.next_batch)
        except BaseException:
            self._finished = True
            raise
        if batch is None:
            self._finished = True
        return batch

    # -- helpers: as AsyncStream's ----------------------------------------------------------

    @property
    def text_stream(self) -> Iterator[str]:
        """The text deltas of the rest of the stream (see :attr:`AsyncStream.text_stream`):
        ``for text in stream.text_stream: print(text, end="")``."""
        return self._texts(self._stream._text_of())

    def _texts(self, text: Callable[[Any], str | None]) -> Iterator[str]:
        while True:
            for chunk in self._batch:  # shared with __next__: what is handed out is gone
                piece = text(chunk)
                if piece:
                    yield piece
            batch = self._next_batch()
            if batch is None:
                return
            self._batch = iter(batch)

    def until_done(self) -> None:
        """Read the rest of the stream to its end (see :meth:`AsyncStream.until_done`)."""
        self._batch = iter(())
        while self._next_batch() is not None:
            pass
        failure = self._stream._failure
        if failure is not None:
            raise failure

    @overload
    def get_final_completion(self: SyncStream[ChunkOf[F]]) -> F: ...

    @overload
    def get_final_completion(self) -> Any: ...

    def get_final_completion(self) -> Any:
        """The whole answer put back together (see :meth:`AsyncStream.get_final_completion`):
        chat: the ``ChatResult`` the same call returns without ``stream=True``."""
        stream = self._stream
        stream._check_final()
        if stream._final is _NO_RESULT:
            self.until_done()
        return stream._finish()
