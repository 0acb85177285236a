"""The generated API's other wire shapes, against Prism (the official spec mocked on loopback):
multipart uploads streamed from a path, binary downloads, a non-streaming result used as a
one-event stream, per-call security, and bad input refused before anything is sent."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from openrouter_async import OpenRouter, RetryConfig, Session, operations
from openrouter_async._binary import BinaryResponse
from openrouter_async.errors import RequestValidationError, ResponseValidationError

from .spec_validation import SKIP_REASON, SPEC_AVAILABLE

pytestmark = pytest.mark.skipif(not SPEC_AVAILABLE, reason=SKIP_REASON)


class Recorder(httpx.AsyncBaseTransport):
    """Keeps every request that reached the network (and its body, read as it was sent)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        self.bodies.append(body)
        self.requests.append(request)
        sent = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        return await self.inner.handle_async_request(sent)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def session(prism_url: str) -> AsyncIterator[tuple[Session, Recorder]]:
    recorder = Recorder()
    async with Session(
        base_url=prism_url,
        api_key="sk-or-v1-wire",
        transport=recorder,
        retry_config=RetryConfig.disabled(),
    ) as opened:
        yield opened, recorder


@pytest.mark.anyio
async def test_multipart_upload_from_a_path(
    session: tuple[Session, Recorder], tmp_path: Path
) -> None:
    opened, recorder = session
    audio = tmp_path / "speech.wav"
    audio.write_bytes(b"RIFF" + bytes(range(256)) * 64)
    result = await opened.stt.create_transcription_multipart(
        file=audio, model="openai/whisper-large-v3", language="en"
    )
    assert result.text
    request = recorder.requests[-1]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = recorder.bodies[-1]
    assert b'filename="speech.wav"' in body
    assert audio.read_bytes() in body
    assert b'name="model"' in body and b"openai/whisper-large-v3" in body


@pytest.mark.anyio
async def test_binary_download_streams_and_saves(
    session: tuple[Session, Recorder], tmp_path: Path
) -> None:
    opened, recorder = session
    speech = await opened.tts.create_speech(input="Hello", model="openai/gpt-4o-mini-tts")
    assert isinstance(speech, BinaryResponse)
    assert recorder.requests[-1].headers["accept"] == "audio/*"
    target = tmp_path / "out.mp3"
    async with speech:
        written = await speech.save(target)
    assert written == target.stat().st_size > 0
    content = await opened.files.download(file_id="file-abc123")
    async with content:
        chunks = [chunk async for chunk in content.iter_bytes()]
    assert b"".join(chunks)


def test_sync_download_and_upload(prism_url: str, tmp_path: Path) -> None:
    with OpenRouter(api_key="sk-or-v1-wire", server_url=prism_url) as client:
        with client.tts.create_speech(input="Hi", model="openai/gpt-4o-mini-tts") as speech:
            assert speech.read()
        result = client.stt.create_transcription_multipart(
            file=("clip.wav", b"RIFF...."), model="openai/whisper-large-v3"
        )
        assert result.text


def test_a_non_streaming_result_is_a_one_event_stream(prism_url: str) -> None:
    """The product description's Beta Responses example, with stream=False."""
    with OpenRouter(api_key="sk-or-v1-wire", server_url=prism_url) as client:
        response = client.beta.responses.send(
            model="anthropic/claude-3.5-sonnet",
            input=[{"role": "user", "content": "What is the capital of France?"}],
            service_tier="auto",
            stream=False,
        )
        with response as event_stream:
            events = list(event_stream)
        assert events == [response]


@pytest.mark.anyio
async def test_security_replaces_the_key_for_one_call(session: tuple[Session, Recorder]) -> None:
    opened, recorder = session
    # (The spec's example for this route lacks required fields, so parsing it fails: only the
    # request matters here.)
    with contextlib.suppress(ResponseValidationError):
        await opened.models.list_for_user(
            security=operations.ListModelsUserSecurity(bearer="tok-1")
        )
    assert recorder.requests[-1].headers["authorization"] == "Bearer tok-1"
    # An empty bearer (``os.getenv("OPENROUTER_BEARER", "")``) means "none given".
    with contextlib.suppress(ResponseValidationError):
        await opened.models.list_for_user(security=operations.ListModelsUserSecurity(bearer=""))
    assert recorder.requests[-1].headers["authorization"] == "Bearer sk-or-v1-wire"
    assert "tok-1" not in repr(operations.ListModelsUserSecurity(bearer="tok-1"))


@pytest.mark.anyio
async def test_bad_input_is_refused_before_sending(session: tuple[Session, Recorder]) -> None:
    opened, recorder = session
    with pytest.raises(RequestValidationError, match="non-empty") as caught:
        await opened.guardrails.get(id="  ")
    assert caught.value.path == "id"
    with pytest.raises(RequestValidationError) as caught:
        await opened.guardrails.create(name=42)  # type: ignore[arg-type]
    assert caught.value.path == "name"
    with pytest.raises(RequestValidationError, match="no such file"):
        await opened.files.upload(file=Path("/nonexistent/file.pdf"))
    assert recorder.requests == []


@pytest.mark.anyio
async def test_path_parameters_are_escaped(session: tuple[Session, Recorder]) -> None:
    opened, recorder = session
    await opened.endpoints.list(author="openai", slug="gpt-4o")
    assert recorder.requests[-1].url.path.endswith("/models/openai/gpt-4o/endpoints")
    with pytest.raises(Exception):  # noqa: B017 - Prism 404s the unknown path; we only look
        await opened.guardrails.get(id="a/b c")
    assert recorder.requests[-1].url.raw_path.endswith(b"/guardrails/a%2Fb%20c")


def test_methods_carry_the_spec_documentation() -> None:
    client = OpenRouter(api_key="x", server_url="http://127.0.0.1:9")
    doc = client.guardrails.create.__doc__ or ""
    assert "POST /guardrails" in doc
    assert "limit_usd:" in doc  # every argument is described
    assert "retries:" in doc
    assert (client.guardrails.create_async.__doc__ or "").startswith(doc.split("\n")[0])
    assert "Guardrails" in (type(client.guardrails).__doc__ or "")


@pytest.mark.anyio
async def test_chat_style_function_tools_are_sent_in_the_responses_shape(
    session: tuple[Session, Recorder],
) -> None:
    """The product description's Responses example passes a Chat Completions-style tool."""
    opened, recorder = session
    parameters = {"type": "object", "properties": {"expression": {"type": "string"}}}
    await opened.responses.send(
        model="openai/gpt-4",
        input=[{"role": "user", "content": "Calculate 25 * 47"}],
        tools=[
            {
                "type": "function",
                "function": {"name": "calculator", "description": "d", "parameters": parameters},
            }
        ],
    )
    sent = json.loads(recorder.bodies[-1])
    assert sent["tools"] == [
        {"type": "function", "name": "calculator", "description": "d", "parameters": parameters}
    ]
