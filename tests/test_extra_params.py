"""Sending what the spec forgot: ``extra_body`` / ``extra_query`` / ``extra_headers`` on every
operation (openai-python's semantics) and the OpenRouter chat parameters the overlay adds
(``transforms``, ``preset``, ``web_search_options``, ``usage``, ``n``, ...).

What arrives is read on the server side: a loopback server records each request (method,
path, query, headers, body) and answers with a small chat result or stream. The emulator,
which validates every request against the spec in the tests, must accept the new parameters.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from openrouter_async import OpenRouter, RetryConfig, Session
from openrouter_async.errors import RequestValidationError
from openrouter_async.models import ChatRequest, ChatResult

from ._loopback_server import LoopbackServer, _send

HELLO = [{"role": "user", "content": "Hello there"}]

RESULT = {
    "id": "gen-extra",
    "object": "chat.completion",
    "created": 1,
    "model": "m/x",
    "system_fingerprint": None,
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "hi"},
        }
    ],
}


#: the answer of the other operations the tests call, by the last segment of their path
OTHER_ANSWERS: dict[str, Any] = {
    "models": {"data": [], "total_count": 0, "links": {"next": None}},
    "transcriptions": {"text": "hi"},
}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class RecordingServer(LoopbackServer):
    """Records every request; answers a chat result, or an event stream when the JSON body
    asks for one, or ``{}`` to anything else."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Seen] = []
        self._seen_lock = threading.Lock()

    @property
    def last(self) -> Seen:
        with self._seen_lock:
            return self.seen[-1]

    async def _dispatch(
        self,
        r: asyncio.StreamReader,
        w: asyncio.StreamWriter,
        method: str,
        path: str,
        q: dict[str, str],
        headers: list[tuple[str, str]],
        body: bytes,
        served: int,
    ) -> bool:
        with self._seen_lock:
            self.seen.append(Seen(method, path, q, {k.lower(): v for k, v in headers}, body))
        streaming = False
        if body.startswith(b"{"):
            streaming = json.loads(body).get("stream") is True
        if streaming:
            chunk = {
                "id": "gen-extra",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m/x",
                "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
            }
            events = b"data: %s\n\ndata: [DONE]\n\n" % json.dumps(chunk).encode()
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                f"Content-Length: {len(events)}\r\n\r\n"
            )
            w.write(head.encode() + events)
            await w.drain()
        elif path.endswith("/chat/completions"):
            await _send(w, 200, json.dumps(RESULT).encode())
        else:
            await _send(w, 200, json.dumps(OTHER_ANSWERS.get(path.rsplit("/", 1)[-1], {})).encode())
        return True


@pytest.fixture(scope="module")
def recorder() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def session_for(server: RecordingServer, **options: Any) -> Session:
    return Session(
        base_url=server.base_url,
        api_key="sk-or-v1-extra-test",
        retry_config=RetryConfig.disabled(),
        http_referer="https://ours.example",
        **options,
    )


# -- extra_body / extra_query / extra_headers on a generated operation ------------------------


@pytest.mark.anyio
async def test_extras_arrive_as_sent_and_override_known_ones(recorder: RecordingServer) -> None:
    async with session_for(recorder) as session:
        result = await session.chat.send(
            model="m/x",
            messages=HELLO,
            temperature=0.5,
            extra_body={"temperature": 0.9, "brand_new": {"nested": [1, 2]}, "top_k": None},
            extra_query={"trace": True, "tags": ["a", "b"]},
            extra_headers={"X-Extra": "yes", "HTTP-Referer": "https://theirs.example"},
        )
    assert isinstance(result, ChatResult) and result.id == "gen-extra"
    seen = recorder.last
    body = seen.json()
    assert body["temperature"] == 0.9  # the extra overrides the known field
    assert body["brand_new"] == {"nested": [1, 2]}
    assert body["top_k"] is None  # None is sent as null in a JSON body
    assert body["messages"] == HELLO and body["model"] == "m/x"
    assert seen.query["trace"] == "true"  # (a list repeats the parameter: see below)
    assert seen.headers["x-extra"] == "yes"
    assert seen.headers["http-referer"] == "https://theirs.example"  # after ours
    assert seen.headers["authorization"] == "Bearer sk-or-v1-extra-test"


@pytest.mark.anyio
async def test_known_fields_are_validated_before_the_extras(recorder: RecordingServer) -> None:
    before = len(recorder.seen)
    async with session_for(recorder) as session:
        with pytest.raises(RequestValidationError) as caught:
            await session.chat.send(
                model="m/x",
                messages=HELLO,
                temperature="hot",  # type: ignore[call-overload]
                extra_body={"temperature": 0.5},
            )
    assert caught.value.path == "temperature"
    assert len(recorder.seen) == before  # nothing was sent


@pytest.mark.anyio
async def test_bad_extras_are_refused_naming_them(recorder: RecordingServer) -> None:
    before = len(recorder.seen)
    async with session_for(recorder) as session:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"extra_body": ["not", "a", "mapping"]}, "extra_body"),
            ({"extra_body": {"x": object()}}, "extra_body"),
            ({"extra_body": {"stream": True}}, "extra_body.stream"),
            ({"extra_query": {"when": object()}}, "extra_query.when"),
            ({"extra_headers": {"X-Count": 3}}, "extra_headers.X-Count"),
        ]
        for extras, path in cases:
            with pytest.raises(RequestValidationError) as caught:
                await session.chat.send(model="m/x", messages=HELLO, **extras)
            assert caught.value.path == path, extras
    assert len(recorder.seen) == before


@pytest.mark.anyio
async def test_extras_on_a_stream(recorder: RecordingServer) -> None:
    async with session_for(recorder) as session:
        stream = await session.chat.send(
            model="m/x",
            messages=HELLO,
            stream=True,
            extra_body={"transforms": ["middle-out"], "custom": 1},
            extra_query={"q": "1"},
            extra_headers={"X-Extra": "stream"},
        )
        async with stream as events:
            chunks = [event async for event in events]
    assert chunks and chunks[0].choices[0].delta.content == "hi"
    seen = recorder.last
    assert seen.json()["stream"] is True and seen.json()["custom"] == 1
    assert seen.json()["transforms"] == ["middle-out"]
    assert seen.query == {"q": "1"} and seen.headers["x-extra"] == "stream"


@pytest.mark.anyio
async def test_extras_on_an_operation_without_a_body(recorder: RecordingServer) -> None:
    """A GET with query parameters of its own; ``extra_body`` becomes the JSON body there, as
    openai-python sends it, and ``None`` in ``extra_query`` removes a known parameter."""
    async with session_for(recorder) as session:
        await session.models.list(
            category="programming",
            extra_query={"category": None, "supported_parameters": "tools", "x": 1},
        )
        listed = recorder.last
        await session.models.list(extra_body={"why": "not"})
        with_body = recorder.last
    assert listed.method == "GET" and listed.path.endswith("/models")
    assert listed.query == {"supported_parameters": "tools", "x": "1"}
    assert listed.body == b""
    assert with_body.json() == {"why": "not"}


@pytest.mark.anyio
async def test_extra_body_on_a_multipart_upload(recorder: RecordingServer) -> None:
    async with session_for(recorder) as session:
        await session.stt.create_transcription_multipart(
            file=("a.wav", b"RIFF....WAVEfmt "),
            model="openai/whisper-1",
            extra_body={"model": "other/model", "prompt_hint": "names", "opts": {"a": 1}},
        )
    seen = recorder.last
    assert seen.headers["content-type"].startswith("multipart/form-data")
    text = seen.body.decode("latin-1")
    assert 'name="model"\r\n\r\nother/model\r\n' in text
    assert "openai/whisper-1" not in text  # overridden
    assert 'name="prompt_hint"\r\n\r\nnames\r\n' in text
    assert 'name="opts[a]"\r\n\r\n1\r\n' in text
    assert 'filename="a.wav"' in text


# -- the typed parameters the overlay adds -------------------------------------------------


NEW_PARAMS: dict[str, Any] = {
    "transforms": ["middle-out"],
    "preset": "@preset/comedian",
    "usage": {"include": True},
    "n": 1,
    "web_search_options": {
        "search_context_size": "medium",
        "user_location": {"type": "approximate", "approximate": {"city": "Paris"}},
    },
    "verbosity": "low",
    "structured_outputs": True,
    "include_reasoning": False,
}


@pytest.mark.anyio
async def test_new_typed_chat_params_are_sent_with_their_wire_names(
    recorder: RecordingServer,
) -> None:
    async with session_for(recorder) as session:
        await session.chat.send(model="m/x", messages=HELLO, **NEW_PARAMS)
    body = recorder.last.json()
    for name, value in NEW_PARAMS.items():
        assert body[name] == value, name


@pytest.mark.anyio
async def test_new_typed_chat_params_are_type_checked(recorder: RecordingServer) -> None:
    before = len(recorder.seen)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"transforms": "middle-out"}, "transforms"),
        ({"preset": 7}, "preset"),
        ({"n": "1"}, "n"),
        ({"usage": {"include": "yes"}}, "usage.include"),
        (
            {"web_search_options": {"search_context_size": 3}},
            "web_search_options.search_context_size",
        ),
    ]
    async with session_for(recorder) as session:
        for kwargs, path in cases:
            with pytest.raises(RequestValidationError) as caught:
                await session.chat.send(model="m/x", messages=HELLO, **kwargs)
            assert caught.value.path == path
            assert path.split(".")[0] in str(caught.value)
    assert len(recorder.seen) == before


@pytest.mark.anyio
async def test_the_emulator_accepts_the_new_params(emulator_url: str, api_key: str) -> None:
    """The tests' emulator validates every request against the spec: the overlay's fields
    must be ones the spec allows (its ChatRequest takes additional properties)."""
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        result = await session.chat.send(
            model="openai/gpt-4o", messages=HELLO, **NEW_PARAMS, extra_body={"x_custom": 1}
        )
        assert result.choices[0].message.content
        stream = await session.chat.send(
            model="openai/gpt-4o", messages=HELLO, stream=True, transforms=[], n=1
        )
        async with stream as events:
            assert [event async for event in events]


# -- the Session's hand-written send / stream -------------------------------------------------


@pytest.mark.anyio
async def test_session_send_and_stream_take_the_extras(recorder: RecordingServer) -> None:
    request = ChatRequest(model="m/x", messages=HELLO, temperature=0.1)
    async with session_for(recorder) as session:
        await session.send(
            request,
            extra_body={"temperature": 1.5, "preset": "p"},
            extra_query={"a": "b"},
            extra_headers={"X-Extra": "send"},
        )
        sent = recorder.last
        async with session.stream(
            request, extra_body={"custom": True}, extra_headers={"X-Extra": "stream"}
        ) as events:
            assert [event async for event in events]
        streamed = recorder.last
        with pytest.raises(RequestValidationError) as caught:
            await session.send(request, extra_body={"stream": True})
        assert caught.value.path == "extra_body.stream"
    assert sent.json()["temperature"] == 1.5 and sent.json()["preset"] == "p"
    assert sent.query == {"a": "b"} and sent.headers["x-extra"] == "send"
    assert streamed.json()["stream"] is True and streamed.json()["custom"] is True
    assert streamed.headers["x-extra"] == "stream"


# -- the sync facade and its _async twins ---------------------------------------------------


def _facade_calls(client: OpenRouter, recorder: RecordingServer) -> None:
    client.chat.send(
        model="m/x",
        messages=HELLO,
        transforms=["middle-out"],
        preset="x",
        usage={"include": True},
        n=1,
        web_search_options={"search_context_size": "high"},
        extra_body={"temperature": 0.3},
        extra_query={"k": "v"},
        extra_headers={"X-Facade": "sync"},
    )
    seen = recorder.last
    body = seen.json()
    assert body["transforms"] == ["middle-out"] and body["preset"] == "x"
    assert body["usage"] == {"include": True} and body["n"] == 1
    assert body["web_search_options"] == {"search_context_size": "high"}
    assert body["temperature"] == 0.3
    assert seen.query == {"k": "v"} and seen.headers["x-facade"] == "sync"
    flag = True
    with client.chat.send(
        model="m/x", messages=HELLO, stream=flag, extra_body={"custom": "s"}
    ) as events:
        assert list(events)
    assert recorder.last.json()["custom"] == "s"


def test_sync_facade_from_a_plain_thread(recorder: RecordingServer) -> None:
    with OpenRouter(api_key="sk-or-v1-extra-test", server_url=recorder.base_url) as client:
        errors: list[BaseException] = []

        def work() -> None:
            try:
                _facade_calls(client, recorder)
            except BaseException as error:  # reported in the main thread
                errors.append(error)

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(30)
        assert not errors, errors


def test_sync_facade_inside_a_running_loop(recorder: RecordingServer) -> None:
    async def notebook_cell() -> None:
        with OpenRouter(api_key="sk-or-v1-extra-test", server_url=recorder.base_url) as client:
            _facade_calls(client, recorder)
            with pytest.raises(RequestValidationError) as caught:
                client.chat.send(model="m/x", messages=HELLO, n="one")  # type: ignore[call-overload]
            assert caught.value.path == "n"

    asyncio.run(notebook_cell())


@pytest.mark.anyio
async def test_facade_async_twin(recorder: RecordingServer) -> None:
    async with OpenRouter(api_key="sk-or-v1-extra-test", server_url=recorder.base_url) as client:
        await client.chat.send_async(
            model="m/x",
            messages=HELLO,
            preset="y",
            extra_body={"z": [1]},
            extra_headers={"X-Facade": "async"},
        )
    seen = recorder.last
    assert seen.json()["preset"] == "y" and seen.json()["z"] == [1]
    assert seen.headers["x-facade"] == "async"


@pytest.mark.anyio
async def test_a_list_repeats_the_query_parameter(anyio_backend: str) -> None:
    """A sequence in the query is the parameter repeated (OpenAPI's default ``form`` style
    with ``explode``; what the official SDK and httpx send), for a known parameter
    (``batch.list(status=[...])``) and in ``extra_query``; seen on the wire by httpx's own
    test transport."""
    import httpx

    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.query.decode())
        return httpx.Response(200, json={"object": "list", "data": [], "has_more": False})

    transport = httpx.MockTransport(answer)
    async with Session(api_key="sk-or-v1-extra-test", transport=transport) as session:
        await session.batch.list(status=["completed", "failed"], extra_query={"tag": ["a", "b"]})
    assert seen == ["status=completed&status=failed&tag=a&tag=b"]
