"""The edges of a stream's life, over loopback, on asyncio and trio: named SSE events,
compressed event streams, streams abandoned without ``with`` (closed when collected, never
breaking the exit of their Session or client), a client used across ``os.fork()``, and a
closed client that stays closed."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest

from openrouter_async import ChatError, OpenRouter, Session
from openrouter_async._chat import parse_chat_event
from openrouter_async._streams import AsyncStream
from openrouter_async.errors import ClientClosedError
from openrouter_async.models import ChatRequest

from ._loopback_server import LoopbackServer, running_server
from ._tasks import assert_no_task_left, count_tasks

HELLO = [{"role": "user", "content": "hi"}]
REQUEST = ChatRequest(model="m/x", messages=HELLO)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with running_server() as running:
        yield running


def sse_url(server: LoopbackServer, **options: object) -> str:
    """A base URL whose every path answers the ``/sse/`` stream with these options."""
    query = "&".join(f"{key}={value}" for key, value in options.items()) or "n=5"
    return server.url(f"/sse/{query}")


def contents(chunks: list[Any]) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


async def wait_until(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await anyio.sleep(0.01)


def wait_until_sync(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.01)


# -- named events, id and retry --------------------------------------------------------------------


@pytest.mark.anyio
async def test_named_events_are_skipped_and_id_retry_fields_accepted(
    server: LoopbackServer,
) -> None:
    """`event: ping`, `event: openrouter.metadata` and an unknown name (even with data that is
    not JSON) between the chunks, `id:` and `retry:` on them: the chunks arrive, nothing
    else does, and the stream ends cleanly with its usage chunk."""
    url = sse_url(server, n=5, named=1)
    async with Session(api_key="k", base_url=url) as session:
        async with session.stream(REQUEST) as stream:
            chunks = [chunk async for chunk in stream]
    assert contents(chunks) == [f"c{i}" for i in range(5)]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 6
    # The same through the facade's generated operation (its own event parser).
    async with OpenRouter(api_key="k", base_url=url) as client:
        stream = await client.chat.send_async(model="m/x", messages=HELLO, stream=True)
        async with stream as events:
            chunks = [chunk async for chunk in events]
    assert contents(chunks) == [f"c{i}" for i in range(5)]


@pytest.mark.anyio
async def test_a_responses_stream_keeps_events_named_after_their_type(
    server: LoopbackServer,
) -> None:
    """The Responses API names each event after its `type` (`event: response.created`):
    those are its events and are kept; `ping` and `openrouter.metadata` are not."""
    url = sse_url(server, kind="responses", n=3, named=1)
    async with OpenRouter(api_key="k", base_url=url) as client:
        stream = await client.responses.send_async(model="m/x", input="hi", stream=True)
        async with stream as events:
            types = [event.type async for event in events]
    assert types == ["response.created"] + ["response.output_text.delta"] * 3 + [
        "response.completed"
    ]


@pytest.mark.anyio
async def test_a_named_event_carrying_an_error_is_raised_not_skipped(
    server: LoopbackServer,
) -> None:
    async with Session(api_key="k", base_url=sse_url(server, n=4, named_error=1)) as session:
        received: list[Any] = []
        with pytest.raises(ChatError, match="provider fell over"):
            async with session.stream(REQUEST) as stream:
                async for chunk in stream:
                    received.append(chunk)
    # the chunks before the error event were delivered, none after it
    assert contents(received) == ["c0", "c1"]


# -- read-ahead inside ``async with`` --------------------------------------------------------------


@pytest.mark.anyio
async def test_inside_async_with_a_producer_reads_ahead_and_the_callers_error_stays_unwrapped(
    server: LoopbackServer,
) -> None:
    """Inside the block a producer task of the stream's own fills a bounded channel while the
    consumer works; leaving the block by the caller's own exception joins the producer and
    raises that exception as it is (never an ExceptionGroup), on asyncio and trio."""
    tasks_before = count_tasks()
    # One event per write, 20 ms apart: the producer is still reading when the body runs.
    async with Session(api_key="k", base_url=sse_url(server, n=20, delay=0.02)) as session:
        with pytest.raises(LookupError, match="the caller's own"):
            async with session.stream(REQUEST) as stream:
                async for _ in stream:
                    assert count_tasks() > tasks_before, "no producer reads ahead"
                    raise LookupError("the caller's own")
        await assert_no_task_left(tasks_before)
        # Without ``async with`` the consumer's task reads: no producer, no task group.
        opened = await session.request_stream(
            "POST", "/chat/completions", parse_chat_event, body=b"{}"
        )
        received = [chunk async for chunk in opened]
        assert contents(received) == [f"c{i}" for i in range(20)]
    await assert_no_task_left(tasks_before)


# -- compressed event streams ----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_event_stream_is_decoded_as_it_arrives(
    server: LoopbackServer, encoding: str
) -> None:
    """Sent in several compressed writes, with a pause after the first chunk: the first
    chunk is decoded and delivered before the rest of the body exists."""
    url = sse_url(server, n=6, encoding=encoding, delay=0.6)
    async with Session(api_key="k", base_url=url) as session:
        started = time.monotonic()
        async with session.stream(REQUEST) as stream:
            assert stream.headers["content-encoding"] == encoding
            first = await stream.__anext__()
            first_after = time.monotonic() - started
            rest = [chunk async for chunk in stream]
    assert contents([first, *rest]) == [f"c{i}" for i in range(6)]
    assert rest[-1].usage is not None
    assert first_after < 0.45, first_after  # incremental: not after the whole body


def test_a_compressed_event_stream_through_the_sync_facade(server: LoopbackServer) -> None:
    for backend in ("asyncio", "trio"):
        url = sse_url(server, n=3, encoding="gzip", named=1)
        with OpenRouter(api_key="k", base_url=url, backend=backend) as client:
            with client.chat.send(model="m/x", messages=HELLO, stream=True) as events:
                assert contents(list(events)) == ["c0", "c1", "c2"]


# -- abandoned streams -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_abandoned_stream_is_closed_when_collected_and_the_client_exits_cleanly(
    server: LoopbackServer,
) -> None:
    """`break` out of a stream iterated without `async with`, then drop it: the connection
    is closed once it is collected, and leaving `async with OpenRouter(...)` works (it used
    to raise "Attempted to exit a cancel scope that isn't the current task's...")."""
    stats = server.stats
    opened = stats.connections_opened
    async with OpenRouter(api_key="k", base_url=sse_url(server, n=50, hold=1)) as client:
        stream = await client.chat.send_async(model="m/x", messages=HELLO, stream=True)
        async for _chunk in stream:
            break
        assert stats.connections_opened == opened + 1
        assert stats.connections_open >= 1
        del stream, _chunk
        gc.collect()
        await wait_until(lambda: stats.connections_closed >= opened + 1)
    # A second one, kept referenced but abandoned: closed when the client exits.
    async with OpenRouter(api_key="k", base_url=sse_url(server, n=50, hold=1)) as client:
        kept = await client.chat.send_async(model="m/x", messages=HELLO, stream=True)
        async for _ in kept:
            break
    assert kept.response.is_closed
    await wait_until(lambda: stats.connections_open == 0)


@pytest.mark.anyio
async def test_an_abandoned_session_stream_and_a_stream_read_from_two_tasks(
    server: LoopbackServer,
) -> None:
    """A stream opened with open_chat_stream, read partly from one task and then from another
    (as the sync facade does between portal calls), then abandoned: the Session exits."""
    async with Session(api_key="k", base_url=sse_url(server, n=20, batch=1)) as session:
        stream = await session.open_chat_stream(REQUEST)
        got: list[Any] = []

        async def read_two() -> None:
            for _ in range(2):
                got.append(await stream.__anext__())

        async with anyio.create_task_group() as group:
            group.start_soon(read_two)
        async with anyio.create_task_group() as group:
            group.start_soon(read_two)
        assert contents(got) == ["c0", "c1", "c2", "c3"]
    assert stream.response.is_closed


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("where", ["thread", "running-loop"])
def test_an_abandoned_sync_stream_is_closed_when_collected(
    server: LoopbackServer, backend: str, where: str
) -> None:
    """The sync twin: collected in the caller's thread, it closes its connection from the
    portal's loop without a portal call (the caller's thread never blocks on it)."""
    stats = server.stats

    def work() -> None:
        opened = stats.connections_opened
        url = sse_url(server, n=50, hold=1)
        with OpenRouter(api_key="k", base_url=url, backend=backend) as client:
            stream = client.chat.send(model="m/x", messages=HELLO, stream=True)
            for _chunk in stream:
                break
            del stream, _chunk
            gc.collect()
            wait_until_sync(lambda: stats.connections_closed >= opened + 1)
            # The client still works after that, and its exit is clean.
            with client.chat.send(model="m/x", messages=HELLO, stream=True) as events:
                for _ in events:
                    break

    if where == "thread":
        failures: list[BaseException] = []

        def run() -> None:
            try:
                work()
            except BaseException as error:  # reported by the test's own thread
                failures.append(error)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(30)
        assert not thread.is_alive()
        if failures:
            raise failures[0]
    else:

        async def notebook_cell() -> None:
            work()

        asyncio.run(notebook_cell())
    wait_until_sync(lambda: stats.connections_open == 0)


def test_collecting_a_stream_after_its_event_loop_ended_never_raises() -> None:
    """`__del__` may run anywhere, even after the loop that opened the stream is gone: it
    schedules nothing that can fail loudly (the test config turns unraisable errors into
    failures)."""

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield b"data: {}\n\n"

    streams: list[AsyncStream[Any]] = []
    for backend in ("asyncio", "trio"):

        async def open_one() -> None:
            streams.append(AsyncStream(httpx.Response(200, stream=Body()), dict, idle_timeout=1))

        anyio.run(open_one, backend=backend)
    assert not any(stream.response.is_closed for stream in streams)
    streams.clear()
    gc.collect()


# -- fork ------------------------------------------------------------------------------------------

FORK_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from openrouter_async import OpenRouter
    from openrouter_async.errors import ClientClosedError

    url, key, backend = sys.argv[1:4]
    client = OpenRouter(api_key=key, base_url=url, backend=backend)
    messages = [{"role": "user", "content": "hi"}]
    assert client.chat.send(model="m/x", messages=messages).choices
    open_stream = client.chat.send(model="m/x", messages=messages, stream=True)
    pid = os.fork()
    if pid == 0:  # the child: never allowed to hang
        signal.alarm(20)
        code = 0
        try:
            try:
                next(iter(open_stream))  # the parent's stream: refused at once
                code = 3
            except ClientClosedError as error:
                assert "fork" in str(error), error
            result = client.chat.send(model="m/x", messages=messages)
            assert result.choices, result
            with client.chat.send(model="m/x", messages=messages, stream=True) as events:
                assert list(events)
            client.close()
        except BaseException as error:
            print("child failed:", repr(error), file=sys.stderr, flush=True)
            code = code or 2
        os._exit(code)
    # The parent carries on with its own portal, pool and stream.
    assert list(open_stream)
    assert client.chat.send(model="m/x", messages=messages).choices
    client.close()
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is not available here")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_client_used_before_fork_works_in_the_child(
    emulator_url: str, api_key: str, backend: str
) -> None:
    """The fork happens in a subprocess of its own (forking pytest itself, with its threads,
    would be unsafe); the child makes calls and exits with a code, the parent waits for it."""
    arguments = [emulator_url, api_key, backend]
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORK_SCRIPT, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]


# -- a closed client stays closed ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_closed_client_stays_closed(emulator_url: str, api_key: str, backend: str) -> None:
    with OpenRouter(api_key=api_key, base_url=emulator_url, backend=backend) as client:
        assert client.chat.send(model="m/x", messages=HELLO).choices
    with pytest.raises(ClientClosedError, match="closed"):
        client.chat.send(model="m/x", messages=HELLO)
    with pytest.raises(RuntimeError):  # httpx's class for the same mistake
        client.models.list()
    with pytest.raises(ClientClosedError):
        client.__enter__()
    client.close()  # idempotent

    # Never entered: starts on the first call, works until close(), closed after that.
    lazy = OpenRouter(api_key=api_key, base_url=emulator_url, backend=backend)
    assert lazy.chat.send(model="m/x", messages=HELLO).choices
    lazy.close()
    with pytest.raises(ClientClosedError):
        lazy.chat.send(model="m/x", messages=HELLO)
    portal_threads = [t for t in threading.enumerate() if t.name == "openrouter-async-portal"]
    assert not portal_threads  # no call silently started a new one


@pytest.mark.anyio
async def test_a_client_closed_by_its_async_block_stays_closed(
    emulator_url: str, api_key: str
) -> None:
    async with OpenRouter(api_key=api_key, base_url=emulator_url) as client:
        assert (await client.chat.send_async(model="m/x", messages=HELLO)).choices
    with pytest.raises(ClientClosedError, match="closed"):
        await client.chat.send_async(model="m/x", messages=HELLO)
    with pytest.raises(ClientClosedError):
        async with client:
            pass
