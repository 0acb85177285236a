"""Every kind of exchange retries through the one loop (``Exchange.retry`` / ``_retry.retrying``)
and each retry is counted once: a JSON call, a stream until its headers, an upload, a
download, and a batch row (streamed or not).

The server is the loopback test server's ``/flaky/<key>/`` route: the first request of each
key is a 503 with ``Retry-After: 0``, every later one succeeds. So each call below makes exactly
two attempts, and the Session's counter (``retries_made``) and the per-call one (a map result's
``attempts``, a batch's ``retries``) must each say one retry per call, no more, no less.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from openrouter_async import Session
from openrouter_async._batch import BatchJob
from openrouter_async._chat import parse_chat_event
from openrouter_async.models import ChatRequest

from ._loopback_server import LoopbackServer, running_server

pytestmark = pytest.mark.anyio

HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def server() -> LoopbackServer:
    with running_server() as s:
        yield s  # type: ignore[misc]


def session_on(server: LoopbackServer, key: str, logger: logging.Logger) -> Session:
    return Session(base_url=server.url(f"/flaky/{key}"), api_key="sk-test", debug_logger=logger)


async def test_json_stream_upload_download_each_retry_once_through_the_loop(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("test.one_retry_loop")
    caplog.set_level(logging.DEBUG, logger=logger.name)

    async with session_on(server, "json", logger) as session:
        result = await session.send(ChatRequest(model="m/x", messages=HELLO))
        assert result.choices[0].message.content == "Hi"
        assert session.retries_made == 1

    async with session_on(server, "stream", logger) as session:
        async with session.stream(ChatRequest(model="m/x", messages=HELLO)) as chunks:
            assert len([chunk async for chunk in chunks]) == 4  # 3 and a usage chunk
        assert session.retries_made == 1

    async with session_on(server, "generic-stream", logger) as session:
        stream = await session.request_stream(
            "POST", "/chat/completions", parse_chat_event, body=b'{"stream": true}'
        )
        async with stream:
            assert len([chunk async for chunk in stream]) == 4
        assert session.retries_made == 1

    async with session_on(server, "upload", logger) as session:
        await session.files.upload(file=("notes.txt", b"hello"))
        assert session.retries_made == 1

    async with session_on(server, "download", logger) as session:
        download = await session.files.download(file_id="file-1")
        assert await download.read() == b"\x00\x01binary"
        assert session.retries_made == 1

    # One log line per retry, from the one loop, with the same wording for every kind.
    retried = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retried) == 5
    assert all("ServiceUnavailableResponseError (attempt 1," in line for line in retried)
    assert all(server.flaky_seen[key] == 2 for key in server.flaky_seen)


async def test_map_results_count_the_retry_of_their_own_call(server: LoopbackServer) -> None:
    async with Session(base_url=server.url("/flaky"), api_key="sk-test") as session:

        async def call(session: Session, key: str) -> object:
            return await session.request_json("POST", f"/{key}/chat/completions", dict, body=b"{}")

        async with session.map([f"k{i}" for i in range(6)], call=call, concurrency=3) as results:
            attempts = [result.attempts async for result in results]
        assert attempts == [2] * 6
        assert session.retries_made == 6


async def test_batch_rows_retry_whole_through_the_loop(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """A batch row (sent, or streamed and retried from its start) goes through the same loop:
    one retry per row, counted once in the job's statistics and once in the Session's."""
    for streamed in (False, True):
        source = tmp_path / f"in-{streamed}.jsonl"
        output = tmp_path / f"out-{streamed}.jsonl"
        rows = [
            {"custom_id": f"r{i}", "body": {"model": "m/x", "messages": HELLO}} for i in range(4)
        ]
        source.write_text("".join(json.dumps(row) + "\n" for row in rows))
        # One flaky key per row: the route's key is the first path segment below /flaky.
        async with Session(base_url=server.url(f"/flaky/batch-{streamed}"), api_key="k") as s:
            job = BatchJob(source, output, concurrency=1, stream=streamed)
            stats = await job.run(s)
        assert stats.done == 4
        # The key's first request failed once; every later one succeeded: one retry in all.
        assert stats.retries == 1
        assert s.retries_made == 1
