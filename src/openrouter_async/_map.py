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
take requests from it, call, and send results to a second channel; the consumer (this async
generator) receives them. The tasks live in the Session's task group (the actor that owns the
connection pool), under a cancel scope of their own, so that the generator never yields inside
a task group (which trio forbids) and leaving the generator — cancellation of the consumer,
``break`` followed by ``aclose()``, garbage collection — cancels exactly this map's tasks.

A window bounds how far the input may run ahead of what the consumer has taken
(``4 * concurrency``): with ``ordered=True`` a slow early request holds later results back, and
the window keeps that buffer bounded too.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._retry import RETRY_COUNTER
from .errors import OpenRouterError

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["MapResult", "map_requests"]

R = TypeVar("R")

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
    consumer, instead of letting it crash the Session's task group."""

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


async def map_requests(
    session: Session,
    requests: Iterable[Any] | AsyncIterable[Any],
    *,
    call: Call | None = None,
    ordered: bool = False,
    concurrency: int = 64,
) -> AsyncIterator[MapResult[Any]]:
    """The generator behind :meth:`Session.map` (see the module docstring)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    task_group = session._task_group
    if task_group is None:
        raise RuntimeError("this Session is not open: use `async with Session(...) as session:`")
    run = call or send_chat
    window = anyio.Semaphore(4 * concurrency)
    work_send, work_receive = anyio.create_memory_object_stream[tuple[int, Any]](concurrency)
    results_send, results_receive = anyio.create_memory_object_stream[Any](math.inf)
    scope = anyio.CancelScope()

    async def produce(
        send: MemoryObjectSendStream[tuple[int, Any]], failures: MemoryObjectSendStream[Any]
    ) -> None:
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

    async def work(
        receive: MemoryObjectReceiveStream[tuple[int, Any]],
        send: MemoryObjectSendStream[Any],
    ) -> None:
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

    async def runner() -> None:
        with scope:
            async with anyio.create_task_group() as group:
                group.start_soon(produce, work_send, results_send.clone())
                for _ in range(concurrency):
                    group.start_soon(work, work_receive.clone(), results_send.clone())
                work_receive.close()
                results_send.close()

    task_group.start_soon(runner)
    pending: dict[int, MapResult[Any]] = {}
    next_index = 0
    try:
        async with results_receive:
            async for item in results_receive:
                if isinstance(item, _Failed):
                    raise item.error
                if not ordered:
                    window.release()
                    yield item
                    continue
                pending[item.index] = item
                while next_index in pending:
                    ready = pending.pop(next_index)
                    next_index += 1
                    window.release()
                    yield ready
    finally:
        scope.cancel()


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
