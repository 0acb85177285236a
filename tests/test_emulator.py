"""The OpenRouter emulator, driven with plain httpx over loopback HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import orjson
import pytest

from openrouter_async._sse import ServerSentEvent, SSEDecoder
from openrouter_async.emulator import (
    EmulatorConfig,
    create_app,
    run_emulator,
    serve_in_thread,
)
from openrouter_async.emulator._chat import example_value
from openrouter_async.emulator._faults import Faults, FaultSyntaxError, parse_faults
from openrouter_async.emulator._spec import find_spec

AUTH = {"Authorization": "Bearer test-key"}
USER = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1},
            },
            "required": ["location"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}, "precise": {"type": "boolean"}},
            "required": ["timezone", "precise"],
        },
    },
}


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_thread() as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as client:
        yield client


def chat(client: httpx.Client, *, fault: str | None = None, **body: Any) -> httpx.Response:
    body.setdefault("model", "openai/gpt-4o-mini")
    body.setdefault("messages", USER)
    headers = {"X-Emulator-Fault": fault} if fault else {}
    return client.post("/chat/completions", json=body, headers=headers)


def sse_events(raw: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    assert not decoder.has_pending, "the stream ended inside an event"
    return events


def sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    events = sse_events(raw)
    assert events[-1].data == "[DONE]"
    return [orjson.loads(event.data) for event in events[:-1]]


def streamed_content(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"]
    )


def stats(client: httpx.Client) -> dict[str, int]:
    response = client.get("/_emulator/stats")
    assert response.status_code == 200
    result: dict[str, int] = response.json()
    return result


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- serving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_in_thread(backend: str) -> None:
    with serve_in_thread(backend=backend) as url:  # type: ignore[arg-type]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v1")
        port = httpx.URL(url).port
        assert port
        with httpx.Client(base_url=url, headers=AUTH) as client:
            response = chat(client)
            assert response.status_code == 200
            assert response.json()["object"] == "chat.completion"
    # Shut down: nothing listens on the port any more.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_serve_in_thread_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError), serve_in_thread(backend="curio"):  # type: ignore[arg-type]
        pass


def test_serve_in_thread_on_a_given_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with serve_in_thread(port=port) as url:
        assert url == f"http://127.0.0.1:{port}/api/v1"
        with httpx.Client(base_url=url, headers=AUTH) as client:
            assert chat(client).status_code == 200


@pytest.mark.anyio
async def test_run_emulator(anyio_backend: str) -> None:
    app = create_app()
    async with run_emulator(app=app) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
            response = await client.post(
                "/chat/completions",
                json={"model": "m", "messages": USER, "stream": True, "max_tokens": 5},
            )
            assert response.status_code == 200
            chunks = sse_chunks(response.content)
            assert streamed_content(chunks) == "What is the capital of"
            # A stream left open when the emulator stops does not block the shutdown.
            async with client.stream(
                "POST",
                "/chat/completions",
                json={"model": "m", "messages": USER, "stream": True},
                headers={"X-Emulator-Fault": "stall"},
            ) as stalled:
                chunks = stalled.aiter_raw()
                await chunks.__anext__()
                assert app.state.stats.active_streams == 1
                started = time.monotonic()
                # Leave the emulator while the stream is open, from inside the client.
    assert time.monotonic() - started < 3
    assert app.state.stats.active_streams == 0


@pytest.mark.anyio
async def test_run_emulator_propagates_errors_and_cancellation(anyio_backend: str) -> None:
    with pytest.raises(KeyError, match="boom"):
        async with run_emulator():
            raise KeyError("boom")
    with anyio.move_on_after(0.2) as scope:
        async with run_emulator():
            await anyio.sleep(10)
    assert scope.cancelled_caught


@pytest.mark.anyio
async def test_run_emulator_shutdown_with_open_stream(anyio_backend: str) -> None:
    app = create_app()
    async with httpx.AsyncClient(headers=AUTH, timeout=10) as client:
        async with run_emulator(app=app) as url:
            response = await client.send(
                client.build_request(
                    "POST",
                    url + "/chat/completions",
                    json={"model": "m", "messages": USER, "stream": True},
                    headers={"X-Emulator-Fault": "tokens=100000,token-delay-ms=50"},
                ),
                stream=True,
            )
            chunks = response.aiter_raw()
            await chunks.__anext__()
            started = time.monotonic()
        assert time.monotonic() - started < 3
        assert app.state.stats.active_streams == 0
        assert app.state.stats.streams_dropped == 1
        with pytest.raises(httpx.RemoteProtocolError):
            async for _ in chunks:
                pass
        await response.aclose()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_thread_shutdown_with_open_stream_is_prompt(backend: str) -> None:
    app = create_app()
    with httpx.Client(headers=AUTH) as client:
        with serve_in_thread(backend=backend, app=app) as url:  # type: ignore[arg-type]
            response = client.send(
                client.build_request(
                    "POST",
                    url + "/chat/completions",
                    json={"model": "m", "messages": USER, "stream": True},
                    headers={"X-Emulator-Fault": "stall=60"},
                ),
                stream=True,
            )
            chunks = response.iter_raw()
            next(chunks)  # keep the iterator: dropping it would close the response
            started = time.monotonic()
        assert time.monotonic() - started < 3
        assert app.state.stats.active_streams == 0
        response.close()


def test_main_cli() -> None:
    code = (
        "import sys; from openrouter_async.emulator import main; "
        "sys.exit(main(['--port', '0', '--api-key', 'k1']))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        url = line.split()[2]
        with httpx.Client(base_url=url) as client:
            ok = client.post(
                "/chat/completions",
                json={"model": "m", "messages": USER},
                headers={"Authorization": "Bearer k1"},
            )
            assert ok.status_code == 200
            denied = client.post(
                "/chat/completions",
                json={"model": "m", "messages": USER},
                headers={"Authorization": "Bearer other"},
            )
            assert denied.status_code == 401
        if sys.platform == "win32":
            process.terminate()
        else:
            process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- routing, auth, validation -----------------------------------------------------------------


def test_missing_auth(client: httpx.Client) -> None:
    response = client.post(
        "/chat/completions", json={"model": "m", "messages": USER}, headers={"Authorization": ""}
    )
    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "message": "Missing Authentication header"}}
    for header in ("Basic abc", "Bearer", "bearer"):
        response = client.post(
            "/chat/completions",
            json={"model": "m", "messages": USER},
            headers={"Authorization": header},
        )
        assert response.status_code == 401


def test_api_keys() -> None:
    with (
        serve_in_thread(EmulatorConfig(api_keys={"good"})) as url,
        httpx.Client(base_url=url) as client,
    ):
        body = {"model": "m", "messages": USER}
        assert (
            client.post(
                "/chat/completions", json=body, headers={"Authorization": "Bearer good"}
            ).status_code
            == 200
        )
        bad = client.post("/chat/completions", json=body, headers={"Authorization": "Bearer bad"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == 401
        assert isinstance(bad.json()["error"]["message"], str)


def test_not_found_and_method_not_allowed(client: httpx.Client) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404
    response = client.get("/chat/completions")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert client.get("/../../elsewhere").status_code == 404


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        (b"{not json", "Invalid JSON"),
        (b"[1, 2]", "JSON object"),
        (orjson.dumps({"messages": USER}), "model"),
        (orjson.dumps({"model": "m"}), "messages"),
        (orjson.dumps({"model": "m", "messages": []}), "messages"),
    ],
)
def test_bad_requests(client: httpx.Client, content: bytes, message_part: str) -> None:
    response = client.post(
        "/chat/completions", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400
    assert message_part in error["message"]


def test_default_model() -> None:
    with (
        serve_in_thread(EmulatorConfig(default_model="openrouter/auto")) as url,
        httpx.Client(base_url=url, headers=AUTH) as client,
    ):
        response = client.post("/chat/completions", json={"messages": USER})
        assert response.status_code == 200
        assert response.json()["model"] == "openrouter/auto"


def test_models_list_gives_the_model(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json={"models": ["a/b", "c/d"], "messages": USER})
    assert response.json()["model"] == "a/b"


# -- answers ---------------------------------------------------------------------------------


def test_completion(client: httpx.Client) -> None:
    response = chat(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    result = response.json()
    assert result["id"].startswith("gen-")
    assert response.headers["x-generation-id"] == result["id"]
    assert result["object"] == "chat.completion"
    assert result["model"] == "openai/gpt-4o-mini"
    assert isinstance(result["created"], int)
    (choice,) = result["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "What is the capital of France? What is"
    usage = result["usage"]
    assert usage["completion_tokens"] == 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost"] > 0
    # Deterministic (but a new generation id each time).
    again = chat(client).json()
    assert again["choices"] == result["choices"]
    assert again["id"] != result["id"]


def test_max_tokens(client: httpx.Client) -> None:
    result = chat(client, max_tokens=3).json()
    assert result["choices"][0]["message"]["content"] == "What is the"
    assert result["usage"]["completion_tokens"] == 3
    result = chat(client, max_completion_tokens=20, max_tokens=3).json()
    assert result["usage"]["completion_tokens"] == 20
    # Bigger than the answer the tokens fault asks for: "length".
    result = chat(client, fault="tokens=50", max_tokens=10).json()
    assert result["usage"]["completion_tokens"] == 10
    assert result["choices"][0]["finish_reason"] == "length"


def test_content_parts_and_empty_prompt(client: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Bonjour"}]},
    ]
    content = chat(client, messages=messages, max_tokens=2).json()["choices"][0]["message"]
    assert content["content"] == "Bonjour Bonjour"
    empty = chat(client, messages=[{"role": "user", "content": ""}]).json()
    assert empty["choices"][0]["message"]["content"].startswith("Hello from the")


def test_stream_framing(client: httpx.Client) -> None:
    response = chat(client, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    generation_id = response.headers["x-generation-id"]
    raw = response.content
    assert raw.startswith(b": OPENROUTER PROCESSING\n\n")
    assert raw.endswith(b"data: [DONE]\n\n")
    chunks = sse_chunks(raw)
    for chunk in chunks:
        assert chunk["id"] == generation_id
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "openai/gpt-4o-mini"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content_chunks = chunks[:-2]
    assert len(content_chunks) == 8
    assert all(c["choices"][0]["finish_reason"] is None for c in content_chunks)
    final, usage_chunk = chunks[-2:]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 8
    assert set(usage_chunk["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
    # The stream carries exactly the non-streamed answer.
    assert streamed_content(chunks) == chat(client).json()["choices"][0]["message"]["content"]


def test_stream_keepalive_comments_interleaved(client: httpx.Client) -> None:
    raw = chat(client, stream=True, fault="tokens=100").content
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    assert decoder.comments == 1 + 100 // 32
    assert len(events) == 100 + 3
    assert streamed_content(sse_chunks(raw)).count(" ") == 99


def test_big_stream(client: httpx.Client) -> None:
    started = time.monotonic()
    with client.stream(
        "POST",
        "/chat/completions",
        json={"model": "m", "messages": USER, "stream": True},
        headers={"X-Emulator-Fault": "tokens=100000"},
    ) as response:
        decoder = SSEDecoder()
        count = 0
        last: list[ServerSentEvent] = []
        for data in response.iter_raw():
            events = decoder.feed(data)
            count += len(events)
            last = (last + events)[-3:]
    assert count == 100_000 + 3
    assert last[-1].data == "[DONE]"
    assert orjson.loads(last[-2].data)["usage"]["completion_tokens"] == 100_000
    assert time.monotonic() - started < 20


def test_tool_call(client: httpx.Client) -> None:
    result = chat(client, tools=[WEATHER_TOOL, TIME_TOOL]).json()
    (choice,) = result["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    (call,) = message["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"location": "Paris"}

    named = chat(
        client,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    ).json()
    (call,) = named["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "get_time"
    assert orjson.loads(call["function"]["arguments"]) == {
        "timezone": "Europe/Paris",
        "precise": True,
    }

    none = chat(client, tools=[WEATHER_TOOL], tool_choice="none").json()
    assert none["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in none["choices"][0]["message"]


def test_tool_call_stream(client: httpx.Client) -> None:
    expected = chat(client, tools=[WEATHER_TOOL]).json()["choices"][0]["message"]["tool_calls"]
    chunks = sse_chunks(chat(client, tools=[WEATHER_TOOL], stream=True).content)
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["index"] == 0
    assert first["id"].startswith("call_")
    assert first["type"] == "function"
    assert first["function"]["name"] == "get_weather"
    arguments = "".join(
        call["function"].get("arguments", "")
        for chunk in chunks
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls", ())
    )
    assert arguments == expected[0]["function"]["arguments"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []


def test_tool_result_answer(client: httpx.Client) -> None:
    messages = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees and sunny"},
    ]
    result = chat(client, messages=messages, tools=[WEATHER_TOOL]).json()
    choice = result["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == "The get_weather tool returned: 22 degrees and sunny"
    streamed = streamed_content(sse_chunks(chat(client, messages=messages, stream=True).content))
    assert streamed == choice["message"]["content"]


def test_response_format(client: httpx.Client) -> None:
    result = chat(client, response_format={"type": "json_object"}).json()
    assert orjson.loads(result["choices"][0]["message"]["content"]) == {
        "answer": "What is the capital of France?"
    }
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "population": {"type": "integer", "minimum": 1000},
            "tags": {"type": "array", "items": {"type": "string"}},
            "coastal": {"type": "boolean"},
            "kind": {"enum": ["capital", "town"]},
        },
        "required": ["city"],
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}
    result = chat(client, response_format=response_format).json()
    content = orjson.loads(result["choices"][0]["message"]["content"])
    assert content == {
        "city": "Paris",
        "population": 1000,
        "tags": ["example tags"],
        "coastal": True,
        "kind": "capital",
    }
    streamed = streamed_content(
        sse_chunks(chat(client, response_format=response_format, stream=True).content)
    )
    assert orjson.loads(streamed) == content


def test_example_value() -> None:
    assert example_value({"type": "number", "maximum": 0.5}, all_properties=False) == 0.5
    assert (
        example_value({"anyOf": [{"type": "null"}, {"type": "integer"}]}, all_properties=False) == 1
    )
    assert example_value({"type": ["null", "string"], "format": "date"}, all_properties=False) == (
        "2024-01-01"
    )
    assert example_value({"const": 3}, all_properties=False) == 3
    assert example_value({"default": "x"}, all_properties=False) == "x"
    assert example_value(
        {"type": "array", "minItems": 2, "items": {"type": "integer"}}, all_properties=False
    ) == [1, 1]
    assert example_value(
        {"properties": {"a": {"type": "string"}, "b": {}}, "required": ["b"]},
        all_properties=False,
    ) == {"b": "example b"}


# -- faults ----------------------------------------------------------------------------------


def test_parse_faults() -> None:
    assert parse_faults(None) == Faults()
    assert parse_faults("  ") == Faults()
    assert not parse_faults("").any
    faults = parse_faults("status=429;retry-after=2, Token-Delay-Ms=5 ,tokens=10")
    assert faults == Faults(status=429, retry_after="2", token_delay_ms=5, tokens=10)
    assert faults.any
    assert parse_faults("stall").stall == 30.0
    assert parse_faults("stall=0.5").stall == 0.5
    assert parse_faults("mid-stream-error").mid_stream_error == 2
    assert parse_faults("mid-stream-error=0;code=503;message=boom") == Faults(
        mid_stream_error=0, error_code=503, message="boom"
    )
    assert parse_faults("drop=5").drop == 5
    assert parse_faults("error-200=429") == Faults(error_200=True, error_code=429)
    for bad in (
        "explode",
        "status",
        "status=200",
        "status=abc",
        "tokens=0",
        "tokens=100001",
        "stall=-1",
        "drop;after=2",
        "status=429;retry=2",
        "delay-ms=1;x",
    ):
        with pytest.raises(FaultSyntaxError):
            parse_faults(bad)


def test_invalid_fault_header(client: httpx.Client) -> None:
    response = chat(client, fault="explode")
    assert response.status_code == 400
    assert "X-Emulator-Fault" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "status", [400, 401, 402, 403, 404, 408, 413, 422, 429, 500, 502, 503, 524, 529]
)
def test_status_faults(client: httpx.Client, status: int) -> None:
    response = chat(client, fault=f"status={status}")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert isinstance(error["message"], str) and error["message"]
    if status in (502, 529):
        assert error["metadata"]["provider_name"] == "Emulator"
    # Streaming requests fail the same way, before any event.
    response = chat(client, fault=f"status={status}", stream=True)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"


def test_status_fault_retry_after_and_message(client: httpx.Client) -> None:
    response = chat(client, fault="status=429;retry-after=2;message=slow down")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"error": {"code": 429, "message": "slow down"}}


def test_error_200(client: httpx.Client) -> None:
    for stream in (False, True):
        response = chat(client, fault="error-200", stream=stream)
        assert response.status_code == 200
        assert response.json()["error"]["code"] == 502
    response = chat(client, fault="error-200=429;message=Rate limited upstream")
    assert response.json()["error"] == {"code": 429, "message": "Rate limited upstream"}


def test_delay(client: httpx.Client) -> None:
    started = time.monotonic()
    assert chat(client, fault="delay-ms=300").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert chat(client, fault="delay-ms=200,status=503").status_code == 503
    assert time.monotonic() - started >= 0.2


def test_token_delay(client: httpx.Client) -> None:
    arrivals: list[float] = []
    started = time.monotonic()
    with client.stream(
        "POST",
        "/chat/completions",
        json={"model": "m", "messages": USER, "stream": True},
        headers={"X-Emulator-Fault": "tokens=5,token-delay-ms=100"},
    ) as response:
        decoder = SSEDecoder()
        for data in response.iter_raw():
            for _ in decoder.feed(data):
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 5 + 3
    assert arrivals[4] >= 0.4  # one delay between two chunks
    assert arrivals[0] < arrivals[4] - 0.3  # but none before the first
    assert chat(client, fault="tokens=3,token-delay-ms=100").status_code == 200
    assert time.monotonic() - started >= 0.7


def test_stall(client: httpx.Client) -> None:
    started = time.monotonic()
    response = chat(client, fault="stall=0.3", stream=True)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    decoder = SSEDecoder()
    assert decoder.feed(response.content) == []
    assert decoder.comments >= 4
    assert set(response.content.split(b"\n\n")) == {b": OPENROUTER PROCESSING", b""}
    # Not streaming: headers, then nothing, then the connection is cut.
    with pytest.raises(httpx.RemoteProtocolError):
        chat(client, fault="stall=0.2")


def test_stall_times_out_a_reader(client: httpx.Client) -> None:
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            "/chat/completions",
            json={"model": "m", "messages": USER},
            headers={"X-Emulator-Fault": "stall"},
            timeout=httpx.Timeout(5, read=0.2),
        )
    assert time.monotonic() - started < 2
    assert wait_for(lambda: stats(client)["active_requests"] == 0)


def test_mid_stream_error(client: httpx.Client) -> None:
    response = chat(client, fault="mid-stream-error", stream=True)
    assert response.status_code == 200
    events = sse_events(response.content)
    assert "[DONE]" not in [e.data for e in events]
    chunks = [orjson.loads(e.data) for e in events]
    assert len(chunks) == 3
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "error"]
    assert "error" not in chunks[0]
    error_chunk = chunks[-1]
    assert error_chunk["error"] == {"code": 502, "message": "Provider disconnected"}
    assert error_chunk["object"] == "chat.completion.chunk"
    assert error_chunk["choices"][0]["delta"] == {"content": ""}

    custom = sse_events(chat(client, fault="mid-stream-error=0;code=503", stream=True).content)
    assert len(custom) == 1
    assert orjson.loads(custom[0].data)["error"]["code"] == 503
    # Not streaming: a 200 with an error body.
    result = chat(client, fault="mid-stream-error")
    assert result.status_code == 200
    assert result.json()["error"]["code"] == 502


def test_drop(client: httpx.Client) -> None:
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream(
            "POST",
            "/chat/completions",
            json={"model": "m", "messages": USER, "stream": True},
            headers={"X-Emulator-Fault": "drop=3"},
        ) as response:
            assert response.status_code == 200
            for data in response.iter_raw():
                received += data
    events = SSEDecoder().feed(bytes(received))
    assert len(events) == 3
    with pytest.raises(httpx.RemoteProtocolError):
        chat(client, fault="drop")
    assert wait_for(lambda: stats(client)["active_requests"] == 0)


def test_faults_combine(client: httpx.Client) -> None:
    started = time.monotonic()
    response = chat(client, fault="delay-ms=100, tokens=40, token-delay-ms=1", stream=True)
    assert time.monotonic() - started >= 0.14
    assert len(sse_chunks(response.content)) == 42


# -- stats -----------------------------------------------------------------------------------


def test_stats_and_reset(client: httpx.Client) -> None:
    app = create_app()
    with serve_in_thread(app=app) as url, httpx.Client(base_url=url, headers=AUTH) as client:
        assert stats(client)["requests"] == 0
        chat(client)
        chat(client, stream=True)
        chat(client, fault="status=500")
        current = stats(client)
        assert current["requests"] == 3
        assert current["errors"] == 1
        assert current["streams_started"] == current["streams_completed"] == 1
        assert current["active_streams"] == current["active_requests"] == 0
        if sys.platform.startswith("linux"):
            assert current["active_connections"] == 1  # this client's one connection
        reset = client.post("/_emulator/reset").json()
        assert reset["requests"] == reset["streams_completed"] == reset["errors"] == 0
        assert app.state.stats.requests == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_client_closing_a_stream_early(backend: str) -> None:
    with serve_in_thread(backend=backend) as url:  # type: ignore[arg-type]
        with httpx.Client(base_url=url, headers=AUTH) as watcher:
            with (
                httpx.Client(base_url=url, headers=AUTH) as client,
                client.stream(
                    "POST",
                    "/chat/completions",
                    json={"model": "m", "messages": USER, "stream": True},
                    headers={"X-Emulator-Fault": "tokens=100000,token-delay-ms=20"},
                ) as response,
            ):
                chunks = response.iter_raw()
                next(chunks)  # keep the iterator: dropping it would close the response
                assert stats(watcher)["active_streams"] == 1
                if sys.platform.startswith("linux"):
                    assert stats(watcher)["active_connections"] == 2
            # The client closed the stream (and its connection) before the end.
            assert wait_for(lambda: stats(watcher)["active_streams"] == 0, timeout=2)
            current = stats(watcher)
            assert current["streams_disconnected"] == 1
            assert current["streams_completed"] == 0
            assert current["active_requests"] == 0
            if sys.platform.startswith("linux"):
                assert wait_for(lambda: stats(watcher)["active_connections"] == 1, timeout=2)


@pytest.mark.anyio
async def test_client_closing_a_stream_early_async(anyio_backend: str) -> None:
    app = create_app()
    async with run_emulator(app=app) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
            for _ in range(3):
                async with client.stream(
                    "POST",
                    "/chat/completions",
                    json={"model": "m", "messages": USER, "stream": True},
                    headers={"X-Emulator-Fault": "tokens=100000,token-delay-ms=10"},
                ) as response:
                    async for _ in response.aiter_raw():
                        break
            with anyio.fail_after(2):
                while app.state.stats.active_streams:  # noqa: ASYNC110 - polling a counter
                    await anyio.sleep(0.01)
            assert app.state.stats.streams_disconnected == 3
            assert app.state.stats.active_requests == 0


# -- the responses follow the OpenAPI spec -----------------------------------------------------


@pytest.fixture(scope="module")
def validators() -> Callable[[str], Any]:
    pytest.importorskip("jsonschema")
    pytest.importorskip("yaml")
    if find_spec() is None:
        pytest.skip("the OpenRouter OpenAPI spec is not available")
    from openrouter_async.emulator._spec import schema_validator

    return schema_validator


ERROR_SCHEMAS = {
    400: "BadRequestResponse",
    401: "UnauthorizedResponse",
    402: "PaymentRequiredResponse",
    403: "ForbiddenResponse",
    404: "NotFoundResponse",
    408: "RequestTimeoutResponse",
    413: "PayloadTooLargeResponse",
    422: "UnprocessableEntityResponse",
    429: "TooManyRequestsResponse",
    500: "InternalServerResponse",
    502: "BadGatewayResponse",
    503: "ServiceUnavailableResponse",
    524: "EdgeNetworkTimeoutResponse",
    529: "ProviderOverloadedResponse",
}

REQUESTS: list[dict[str, Any]] = [
    {},
    {"max_tokens": 2},
    {"tools": [WEATHER_TOOL, TIME_TOOL]},
    {"response_format": {"type": "json_object"}},
    {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        }
    },
]


def test_responses_match_the_spec(client: httpx.Client, validators: Callable[[str], Any]) -> None:
    result_validator = validators("ChatResult")
    chunk_validator = validators("ChatStreamChunk")
    for body in REQUESTS:
        result_validator.validate(chat(client, **body).json())
        for chunk in sse_chunks(chat(client, stream=True, **body).content):
            chunk_validator.validate(chunk)
    for event in sse_events(chat(client, stream=True, fault="mid-stream-error").content):
        chunk_validator.validate(orjson.loads(event.data))
    for status, schema in ERROR_SCHEMAS.items():
        validators(schema).validate(chat(client, fault=f"status={status}").json())


def test_request_validation(validators: Callable[[str], Any]) -> None:
    config = EmulatorConfig(validate_requests=True)
    with serve_in_thread(config) as url, httpx.Client(base_url=url, headers=AUTH) as client:
        ok = chat(client, tools=[WEATHER_TOOL], temperature=0.5)
        assert ok.status_code == 200
        bad = chat(client, temperature="hot")
        assert bad.status_code == 400
        message = bad.json()["error"]["message"]
        assert "temperature" in message and "hot" in message
        assert chat(client, messages=[{"role": "wizard", "content": "x"}]).status_code == 400
        assert chat(client, stream="yes").status_code == 400


def test_request_validation_with_missing_spec(tmp_path: Any) -> None:
    config = EmulatorConfig(validate_requests=True, spec_path=os.fspath(tmp_path / "none.yaml"))
    with pytest.raises(RuntimeError), serve_in_thread(config):
        pass
