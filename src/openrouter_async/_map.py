"""``Session.map``: fan a stream of requests out over a bounded number of concurrent calls.

    async for result in session.map(requests, concurrency=64):
        if result.ok: use(result.index, result.response)
        else:         log(result.index, result.error)

Requests are pulled lazily from any iterable or async iterable, so an input of millions of
lines costs the memory of the calls in flight, not of the input. Each result carries its index,
the request as given, the response or the error, the number of attempts and the latency. One
failure never stops the rest: an API error becomes that request's result. An error of the
*input* itself (the user's generator raising) ends the map and is raised to the consumer.

How it runs: a producer task reads the input into a small channel; ``concurrency`` worker tasks
take requests from it, call, and send results to a second channel; the consumer receives them.
The producer and the workers are one task group of the map's own, under a cancel scope of its
own. Where that task group runs is the one choice, and the caller makes it:

* ``async with session.map(requests) as results: async for result in results:`` — in the
  caller's scope: the ``async with`` opens and closes the map's task group (trio's rule: a
  task group belongs to a block, and nothing yields from inside one to code outside it).
  Leaving the block, by any way, cancels and joins exactly this map's tasks. Preferred.
* ``async for result in session.map(requests):`` — kept because it is what users write. A
  plain ``async for`` has no block to own a task group, and a generator may not yield from
  inside one, so the map's task group is started, on the first result asked for, in the
  Session's own group (opened by ``async with Session``: trio's "service nursery" pattern),
  from a method (the map is an iterator object, not a generator). ``aclose()``, leaving the
  Session, a failure of the input or garbage collection cancel exactly this map's tasks.

A window bounds how far the input may run ahead of what the consumer has taken
(``4 * concurrency``): with ``ordered=True`` a slow early request holds later results back, and
the window keeps that buffer bounded too.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._retry import RETRY_COUNTER
from .errors import OpenRouterError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ._parse import ParsedChatResult
    from ._session import Session

__all__ = ["MapResult", "MapRun", "SyncMap", "parse_into"]

R = TypeVar("R")
T = TypeVar("T")

#: A request → one call on the Session (the default sends chat requests).
Call = Callable[["Session", Any], Awaitable[Any]]


@attrs.frozen(slots=True)
class MapResult(Generic[R]):
    """The outcome of one request of :meth:`Session.map`."""

    index: int  #: position in the input (0-based)
    request: Any  #: the request as given
    response: R | None  #: the result, or None when the call failed
    error: OpenRouterError | None  #: the error, or None when the call succeeded
    attempts: int  #: 1 + the retries this call made
    latency: float  #: seconds from the start of the call to its result

    @property
    def ok(self) -> bool:
        return self.error is None


class _Failed:
    """Carries an exception that must end the map (the user's input iterable or ``call``
    raising something that is not an API error: a bug, not a failed request) to the
    consumer, instead of letting it crash the map's task group."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def send_chat(session: Session, request: Any) -> Any:
    """The default call: a ChatRequest, or a chat request body (a dict), sent as chat."""
    from ._convert import structure
    from .models import ChatRequest

    if not isinstance(request, ChatRequest):
        if not isinstance(request, Mapping):
            from .errors import RequestValidationError

            raise RequestValidationError(
                f"expected a ChatRequest or a mapping, got {type(request).__name__}",
                path="request",
            )
        request = structure(dict(request), ChatRequest, path="")
    return await session.send(request)


def parse_into(
    cls: type[T], *, strict: bool = True
) -> Callable[[Session, Any], Awaitable[ParsedChatResult[T]]]:
    """A ``call=`` for :meth:`Session.map` (and the facade's ``map``) that sends each chat
    request (a ``ChatRequest`` or a dict body) asking for ``cls``, as ``chat.parse`` does,
    and reads the answer into it: each result's ``response`` is a ``ParsedChatResult``
    (``response.choices[0].message.parsed``); an answer that does not fit is that
    request's ``error`` (a ``StructuredOutputError``), never the end of the map.

        async for result in session.map(requests, call=parse_into(City)):
            ...

    The class is checked here (its schema built), before any call."""
    from ._parse import response_format_for

    response_format_for(cls, strict=strict)

    async def call(session: Session, request: Any) -> ParsedChatResult[T]:
        from ._convert import structure, unstructure
        from ._parse import parse_result, schema_body
        from .errors import RequestValidationError
        from .models import ChatRequest

        if isinstance(request, ChatRequest):
            body = unstructure(request)
        elif isinstance(request, Mapping):
            body = request
        else:
            raise RequestValidationError(
                f"expected a ChatRequest or a mapping, got {type(request).__name__}",
                path="request",
            )
        chat = structure(schema_body(body, cls, strict=strict), ChatRequest, path="")
        return parse_result(await session.send(chat), cls)

    return call


class MapRun(Generic[R]):
    """What :meth:`Session.map` returns: the results as an async iterator, in one of two
    shapes (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        call: Call | None,
        ordered: bool,
        concurrency: int,
        service: TaskGroup | None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise TypeError(f"concurrency must be an int, got {concurrency!r}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._session = session
        self._requests = requests
        self._run_call = call or send_chat
        self._ordered = ordered
        self._concurrency = concurrency
        self._service = service
        # Made on the event loop when the map starts (it may be built in another thread: the
        # facade's map is).
        self._window: anyio.Semaphore | None = None
        self._results_send: MemoryObjectSendStream[Any] | None = None
        self._results: MemoryObjectReceiveStream[Any] | None = None
        self._scope: anyio.CancelScope | None = None  # this map's tasks, wherever they run
        self._started = False
        self._exit_stack: AsyncExitStack | None = None
        self._pending: dict[int, MapResult[Any]] = {}
        self._ready: list[MapResult[Any]] = []  # in order, taken from _pending
        self._next_index = 0

    # -- the structured shape: ``async with session.map(...) as results`` -------------------

    async def __aenter__(self) -> MapRun[R]:
        if self._started:
            raise RuntimeError("this map is already running")
        stack = AsyncExitStack()
        await stack.enter_async_context(self._in_caller_scope())
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
            await stack.aclose()
        return None

    def _start(self) -> None:
        self._started = True
        self._window = anyio.Semaphore(4 * self._concurrency)
        self._results_send, self._results = anyio.create_memory_object_stream[Any](math.inf)
        self._scope = anyio.CancelScope()

    @asynccontextmanager
    async def _in_caller_scope(self) -> AsyncIterator[None]:
        self._start()
        caught: BaseException | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._run)
            try:
                yield
            except BaseException as error:
                caught = error  # raised as it is below, not wrapped in an ExceptionGroup
            finally:
                self._stop()
        if caught is not None:
            raise caught

    # -- iteration (both shapes) ------------------------------------------------------------

    def __aiter__(self) -> MapRun[R]:
        return self

    async def __anext__(self) -> MapResult[R]:
        if self._ready:
            return self._ready.pop(0)
        if not self._started:
            # ``async for`` without ``async with``: the map's task group runs in a task of the
            # Session's own group (a service nursery, opened by ``async with Session``),
            # started here, from a method, never from inside a generator.
            service = self._service
            if service is None:
                raise RuntimeError(
                    "this Session is not open: use `async with Session(...) as session:`"
                )
            self._start()
            service.start_soon(self._run)
        results = self._results
        if results is None:
            raise StopAsyncIteration
        window = self._window
        assert window is not None
        while True:
            try:
                item = await results.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise StopAsyncIteration from None
            except BaseException:
                self._stop()
                raise
            if isinstance(item, _Failed):
                self._stop()
                raise item.error
            if not self._ordered:
                window.release()
                return item  # type: ignore[no-any-return]
            self._pending[item.index] = item
            while self._next_index in self._pending:
                self._ready.append(self._pending.pop(self._next_index))
                self._next_index += 1
                window.release()
            if self._ready:
                return self._ready.pop(0)

    async def aclose(self) -> None:
        """Stop the map: cancel its calls in flight. Idempotent."""
        self._stop()

    def _stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        if self._results is not None:
            self._results.close()

    def __del__(self) -> None:
        # Dropped while running without ``async with``: its tasks must not run on in the
        # Session's group. Cancelling a scope only marks it (no await, no thread switch).
        try:
            scope = self._scope
            if scope is not None and self._exit_stack is None and not scope.cancel_called:
                scope.cancel()
        except Exception:
            pass

    # -- the tasks -----------------------------------------------------------------------

    async def _run(self) -> None:
        """The producer and the workers, in a task group of their own under this map's
        cancel scope; the results go to the consumer through a channel."""
        concurrency = self._concurrency
        results_send, scope = self._results_send, self._scope
        assert results_send is not None and scope is not None
        self._results_send = None
        work_send, work_receive = anyio.create_memory_object_stream[tuple[int, Any]](concurrency)
        with scope:
            async with results_send, anyio.create_task_group() as group:
                group.start_soon(self._produce, work_send, results_send.clone())
                for _ in range(concurrency):
                    group.start_soon(self._work, work_receive.clone(), results_send.clone())
                work_receive.close()

    async def _produce(
        self, send: MemoryObjectSendStream[tuple[int, Any]], failures: MemoryObjectSendStream[Any]
    ) -> None:
        requests = self._requests
        window = self._window
        assert window is not None
        async with send, failures:
            index = 0
            try:
                if isinstance(requests, AsyncIterable):
                    async for request in requests:
                        await window.acquire()
                        await send.send((index, request))
                        index += 1
                else:
                    for request in requests:
                        await window.acquire()
                        await send.send((index, request))
                        index += 1
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as error:  # the input failed: end the map, tell the consumer
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    failures.send_nowait(_Failed(error))

    async def _work(
        self,
        receive: MemoryObjectReceiveStream[tuple[int, Any]],
        send: MemoryObjectSendStream[Any],
    ) -> None:
        session = self._session
        run = self._run_call
        async with receive, send:
            async for index, request in receive:
                counter = [0]
                RETRY_COUNTER.set(counter)
                started = time.perf_counter()
                response: Any = None
                failure: OpenRouterError | None = None
                try:
                    response = await run(session, request)
                except anyio.get_cancelled_exc_class():
                    raise
                except OpenRouterError as error:
                    failure = error
                except Exception as error:
                    response, failure = _Failed(error), None
                elapsed = time.perf_counter() - started
                item = (
                    response
                    if isinstance(response, _Failed)
                    else MapResult(index, request, response, failure, 1 + counter[0], elapsed)
                )
                try:
                    send.send_nowait(item)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the consumer has gone (its exit is cancelling us right now)
                if isinstance(item, _Failed):
                    return


class SyncMap(Generic[R]):
    """The facade's ``map``: a plain iterator over the results, one portal round trip each
    (a round trip costs microseconds; a call, milliseconds)."""

    def __init__(self, results: AsyncIterator[MapResult[R]], portal: Any) -> None:
        self._results = results
        self._portal = portal
        self._done = False

    def __iter__(self) -> SyncMap[R]:
        return self

    def __next__(self) -> MapResult[R]:
        if self._done:
            raise StopIteration
        try:
            result: MapResult[R] = self._portal.call(self._results.__anext__)
        except StopAsyncIteration:
            self._done = True
            raise StopIteration from None
        return result

    def close(self) -> None:
        """Stop the map: cancel its calls in flight."""
        if not self._done:
            self._done = True
            aclose = getattr(self._results, "aclose", None)
            if aclose is not None:
                self._portal.call(aclose)

    def __enter__(self) -> SyncMap[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
