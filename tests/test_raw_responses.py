"""``with_raw_response`` / ``with_streaming_response`` on every group (Session, facade sync and
``_async``), ``_request_id`` / ``_generation_id`` on results, and ``.request`` on errors.

Against the emulator (its answers carry ``X-Generation-Id``) and the loopback server (a 503
then success on ``/flaky/<key>/``, a download, a port nobody listens on).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from openrouter_async import (
    AsyncStreamingResponse,
    OpenRouter,
    RawResponse,
    Session,
    StreamingResponse,
    errors,
)
from openrouter_async.models import ChatResult

from ._loopback_server import LoopbackServer, running_server
from .conftest import API_KEY

pytestmark = pytest.mark.anyio

HELLO = [{"role": "user", "content": "Hello"}]
MODEL = "openai/gpt-4o-mini"
_keys = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with running_server() as s:
        yield s


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1"


async def test_raw_response_has_status_headers_and_the_parsed_result(
    emulator_url: str, anyio_backend: str
) -> None:
    async with Session(api_key=API_KEY, server_url=emulator_url) as session:
        raw = await session.chat.with_raw_response.send(model=MODEL, messages=HELLO)
        assert isinstance(raw, RawResponse)
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("application/json")
        assert raw.http_version.startswith("HTTP/")
        assert raw.elapsed.total_seconds() > 0
        assert raw.method == "POST" and str(raw.url).endswith("/chat/completions")
        result = raw.parse()
        assert isinstance(result, ChatResult)
        assert raw.parse() is result  # parsed once
        assert raw.generation_id is not None and raw.generation_id == result.id
        assert raw.request_id is None  # OpenRouter sends no X-Request-Id
        assert raw.json()["id"] == result.id and raw.text == raw.content.decode()
        # the result itself carries the ids, as openai's carry _request_id
        assert result._generation_id == raw.generation_id
        assert result._request_id is None
        # and so does the plain call's result; nested and hand-built models have none
        plain = await session.chat.send(model=MODEL, messages=HELLO)
        assert plain._generation_id == plain.id
        assert plain.choices is not None and plain.choices[0]._generation_id is None
        assert ChatResult.model_validate(plain.model_dump())._generation_id is None


async def test_raw_response_of_a_stream_parses_to_the_stream_still_unread(
    emulator_url: str, anyio_backend: str
) -> None:
    async with Session(api_key=API_KEY, server_url=emulator_url) as session:
        raw = await session.chat.with_raw_response.send(model=MODEL, messages=HELLO, stream=True)
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert raw.generation_id is not None
        assert not raw.http_response.is_stream_consumed
        async with raw.parse() as stream:
            chunks = [chunk async for chunk in stream]
            final = await stream.get_final_completion()  # the stream helpers are there too
        assert chunks and chunks[0].id == raw.generation_id
        assert final.id == raw.generation_id and final.choices and final.choices[0].message


async def test_streaming_response_reads_the_body_only_when_asked(
    emulator_url: str, anyio_backend: str
) -> None:
    async with Session(api_key=API_KEY, server_url=emulator_url) as session:
        manager = session.chat.with_streaming_response.send(model=MODEL, messages=HELLO)
        async with manager as response:
            assert isinstance(response, AsyncStreamingResponse)
            assert response.status_code == 200 and response.generation_id is not None
            assert not response.http_response.is_stream_consumed  # nothing read yet
            result = await response.parse()
            assert isinstance(result, ChatResult) and result.id == response.generation_id
            assert await response.parse() is result
        assert response.http_response.is_closed

        async with session.chat.with_streaming_response.send(
            model=MODEL, messages=HELLO, stream=True
        ) as response:
            lines = [line async for line in response.iter_lines()]
        assert any(line.startswith("data: ") for line in lines)
        assert response.http_response.is_closed

        # left without reading: closed all the same, the connection given back
        async with session.models.with_streaming_response.list() as response:
            assert response.status_code == 200
        assert response.http_response.is_closed
        models = await session.models.with_raw_response.list()
        assert models.parse().data


async def test_raw_responses_retry_through_the_one_loop(
    server: LoopbackServer, anyio_backend: str
) -> None:
    base = server.url(f"/flaky/raw-{next(_keys)}")
    async with Session(api_key=API_KEY, server_url=base) as session:
        raw = await session.chat.with_raw_response.send(model=MODEL, messages=HELLO)
        assert raw.status_code == 200 and raw.parse().choices
        assert session.retries_made == 1
    base = server.url(f"/flaky/raw-{next(_keys)}")
    async with Session(api_key=API_KEY, server_url=base) as session:
        async with session.files.with_streaming_response.download(file_id="file-1") as response:
            download = await response.parse()
            assert await download.read() == b"\x00\x01binary"
        assert session.retries_made == 1
    base = server.url(f"/flaky/raw-{next(_keys)}")
    async with Session(api_key=API_KEY, server_url=base) as session:
        raw_download = await session.files.with_raw_response.download(file_id="file-1")
        assert raw_download.content == b"\x00\x01binary"  # read: this is the raw response
        assert await raw_download.parse().read() == b"\x00\x01binary"


async def test_an_error_body_with_status_200_is_raised_not_returned(
    emulator_url: str, anyio_backend: str
) -> None:
    async with Session(api_key=API_KEY, server_url=emulator_url, max_retries=0) as session:
        with pytest.raises(errors.ChatError):
            await session.chat.with_raw_response.send(
                model=MODEL, messages=HELLO, http_headers={"X-Emulator-Fault": "error-200=400"}
            )


async def test_errors_carry_headers_and_the_request_without_the_key(
    emulator_url: str, anyio_backend: str
) -> None:
    wrong = "sk-or-v1-" + "f" * 64
    async with Session(api_key=wrong, server_url=emulator_url) as session:
        for call in (
            session.chat.send(model=MODEL, messages=HELLO),
            session.chat.with_raw_response.send(model=MODEL, messages=HELLO),
        ):
            with pytest.raises(errors.UnauthorizedResponseError) as caught:
                await call
            error = caught.value
            assert error.headers is not None and "content-type" in error.headers
            assert error.request is not None
            assert error.request.method == "POST"
            assert error.request.url == f"{emulator_url}/chat/completions"
            assert wrong not in str(error.request) and wrong not in repr(error.request)
    # a connection failure: the request is known, whether it was sent prepared or not
    async with Session(api_key=API_KEY, server_url=_closed_port_url(), max_retries=0) as session:
        for call in (
            session.chat.send(model=MODEL, messages=HELLO),
            session.chat.send(model=MODEL, messages=HELLO, http_headers={"X-Trace": "1"}),
        ):
            with pytest.raises(errors.APIConnectionError) as failed:
                await call
            assert failed.value.request is not None
            assert failed.value.request.url.endswith("/chat/completions")


async def test_raw_response_through_a_with_options_view(
    server: LoopbackServer, anyio_backend: str
) -> None:
    async with Session(api_key=API_KEY, server_url=server.url("/echo")) as session:
        view = session.with_options(http_headers={"X-View": "yes"})
        raw = await view.chat.with_raw_response.send(model=MODEL, messages=HELLO)
        assert raw.status_code == 200
        echoed = {str(k).lower(): v for k, v in raw.json()["headers"]}
        assert echoed["x-view"] == "yes"


def _facade_round_trip(url: str) -> dict[str, Any]:
    with OpenRouter(api_key=API_KEY, server_url=url) as client:
        raw = client.chat.with_raw_response.send(model=MODEL, messages=HELLO)
        result = raw.parse()
        streamed = client.chat.with_raw_response.send(model=MODEL, messages=HELLO, stream=True)
        with streamed.parse() as stream:
            chunks = list(stream)
        with client.chat.with_streaming_response.send(model=MODEL, messages=HELLO) as response:
            assert isinstance(response, StreamingResponse)
            assert not response.http_response.is_stream_consumed
            lazily = response.parse()
        with client.chat.with_streaming_response.send(
            model=MODEL, messages=HELLO, stream=True
        ) as response:
            lines = list(response.iter_lines())
        return {
            "status": raw.status_code,
            "same": result._generation_id == raw.generation_id == result.id,
            "chunks": len(chunks),
            "lazy": isinstance(lazily, ChatResult) and lazily._generation_id is not None,
            "lines": any(line.startswith("data: ") for line in lines),
        }


def test_facade_raw_responses_from_a_plain_thread(emulator_url: str) -> None:
    box: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: box.append(_facade_round_trip(emulator_url)))
    thread.start()
    thread.join(30)
    assert box and box[0]["status"] == 200 and box[0]["same"] and box[0]["lazy"]
    assert box[0]["chunks"] > 0 and box[0]["lines"]


def test_facade_raw_responses_inside_a_running_asyncio_loop(emulator_url: str) -> None:
    async def main() -> dict[str, Any]:
        return _facade_round_trip(emulator_url)

    outcome = asyncio.run(main())
    assert outcome["status"] == 200 and outcome["same"] and outcome["lazy"]
    assert outcome["chunks"] > 0 and outcome["lines"]


async def test_facade_async_forms(emulator_url: str, anyio_backend: str) -> None:
    async with OpenRouter(api_key=API_KEY, server_url=emulator_url) as client:
        raw = await client.chat.with_raw_response.send_async(model=MODEL, messages=HELLO)
        assert raw.parse()._generation_id == raw.generation_id
        async with client.chat.with_streaming_response.send_async(
            model=MODEL, messages=HELLO
        ) as response:
            assert (await response.parse()).id == response.generation_id
