"""Stream helpers: ``stream.text_stream``, ``stream.until_done()`` and
``stream.get_final_completion()`` (the ``ChatResult`` put back together), on asyncio and trio,
through the Session (``session.chat.send(stream=True)``, ``session.stream(request)``) and the
sync facade (from a plain thread and from inside a running asyncio loop).

The final answer of a stream is checked against the same request not streamed, against the
emulator (deterministic; ``X-Emulator-Shape`` asks for the spec's shape or for real
OpenRouter's), and, for what the emulator never sends (``n`` > 1, refusals, reasoning and its
details, logprobs, parallel tool calls, annotations), against a stream and the answer it
stands for served by a loopback server (``_replay_server``), and against every chat stream
of the recorded real traffic (``../shared/realtraffic``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from openrouter_async import ChatError, OpenRouter, Session
from openrouter_async._accumulate import ChatStreamAccumulator
from openrouter_async._chat import parse_chat_event
from openrouter_async._streams import StreamHelpers
from openrouter_async.errors import ResponseValidationError
from openrouter_async.models import ChatRequest, ChatResult, ChatStreamChunk

from ._replay_server import ENTRY_HEADER, RecordedResponse, ReplayServer, running_replay_server
from .conftest import EmulatorProbe

pytestmark = pytest.mark.anyio

HELLO = [{"role": "user", "content": "say hello there"}]
MODEL = "openai/gpt-4o-mini"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        },
    }
]
STRICT = {"X-Emulator-Shape": "strict"}


def fault(value: str, **headers: str) -> dict[str, str]:
    return {"X-Emulator-Fault": value, **headers}


def comparable(result: ChatResult, *, strict: bool) -> dict[str, Any]:
    """``result`` as JSON, without what differs between two calls (the generation id, the
    tool call ids: numbered per request) and without what the emulator, as real OpenRouter,
    answers differently when streaming: in the spec's shape (``strict``), a non-streamed tool
    call has no ``index`` (real ones have it, and so does ours); in real OpenRouter's shape,
    a stream's usage chunk has other ``cost_details`` than the non-streamed usage."""
    data = result.model_dump(mode="json")
    data.pop("id")
    for choice in data["choices"]:
        for call in choice["message"].get("tool_calls") or ():
            call.pop("id")
            if strict:
                call.pop("index", None)
    if not strict:
        data["usage"].pop("cost_details")
    return data


def content_of(chunks: list[ChatStreamChunk]) -> str:
    return "".join(
        c.choices[0].delta.content
        for c in chunks
        if c.choices and c.choices[0].delta is not None and c.choices[0].delta.content
    )


# -- the final answer is the non-streamed one -----------------------------------------------------


@pytest.mark.parametrize("shape", ["strict", "realistic"])
@pytest.mark.parametrize("tools", [None, TOOLS], ids=["text", "tool-call"])
async def test_the_final_completion_is_the_answer_not_streamed(
    emulator_url: str, api_key: str, shape: str, tools: list[Any] | None
) -> None:
    """Field by field, through the generated operation and through ``session.stream``."""
    headers = {"X-Emulator-Shape": shape}
    options: dict[str, Any] = {"tools": tools} if tools else {}
    strict = shape == "strict"
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        plain = await session.chat.send(
            model=MODEL, messages=HELLO, http_headers=headers, **options
        )
        stream = await session.chat.send(
            model=MODEL, messages=HELLO, stream=True, http_headers=headers, **options
        )
        final = await stream.get_final_completion()
        assert isinstance(final, ChatResult)
        assert stream.response.is_closed  # read to its end
        assert comparable(final, strict=strict) == comparable(plain, strict=strict)
        if strict and not tools:  # nothing differs but the id: the models compare equal
            assert final.model_copy(update={"id": plain.id}) == plain
        request = ChatRequest(model=MODEL, messages=HELLO, **options)
        async with session.stream(request, http_headers=headers) as chunks:
            streamed = await chunks.get_final_completion()
        assert comparable(streamed, strict=strict) == comparable(plain, strict=strict)
    assert (final.choices[0].message.tool_calls is not None) == bool(tools)
    assert final.usage is not None and final.usage.total_tokens == plain.usage.total_tokens


async def test_a_long_answer_across_many_reads(emulator_url: str, api_key: str) -> None:
    """2,000 chunks (many network reads, batches handed over by the producer inside
    ``async with``): the whole content comes back, as iterated."""
    headers = fault("tokens=2000", **STRICT)
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        plain = await session.chat.send(model=MODEL, messages=HELLO, http_headers=headers)
        stream = await session.chat.send(
            model=MODEL, messages=HELLO, stream=True, http_headers=headers
        )
        async with stream:
            chunks = [chunk async for chunk in stream]
            final = await stream.get_final_completion()
    assert (
        content_of(chunks) == final.choices[0].message.content == plain.choices[0].message.content
    )
    assert final.usage is not None and final.usage.completion_tokens == 2000


# -- text_stream, until_done, the same object ----------------------------------------------------


async def test_text_stream_gives_the_content_deltas_and_the_answer_stays(
    emulator_url: str, api_key: str
) -> None:
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        plain = await session.chat.send(model=MODEL, messages=HELLO)
        stream = await session.chat.send(model=MODEL, messages=HELLO, stream=True)
        async with stream:
            texts = [text async for text in stream.text_stream]
        assert texts and all(isinstance(text, str) and text for text in texts)
        assert "".join(texts) == plain.choices[0].message.content
        final = await stream.get_final_completion()  # after the block: nothing left to read
        assert final.choices[0].message.content == "".join(texts)
        assert await stream.get_final_completion() is final

        # A tool call streams no text: text_stream gives nothing, the call is in the answer.
        stream = await session.chat.send(model=MODEL, messages=HELLO, stream=True, tools=TOOLS)
        assert [text async for text in stream.text_stream] == []
        calls = (await stream.get_final_completion()).choices[0].message.tool_calls
        assert calls and calls[0].function is not None
        assert json.loads(calls[0].function.arguments or "") == {"location": "Paris"}


async def test_the_helpers_and_the_iteration_share_one_stream(
    emulator_url: str, api_key: str
) -> None:
    """Chunks handed out by ``async for`` are not handed out again by ``text_stream``, and
    the final answer has them all, however the stream was read; called twice, the same
    object; ``until_done`` at the end does nothing."""
    headers = fault("tokens=30")
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        plain = await session.chat.send(model=MODEL, messages=HELLO, http_headers=headers)
        whole = plain.choices[0].message.content
        assert whole
        for entered in (False, True):
            stream = await session.chat.send(
                model=MODEL, messages=HELLO, stream=True, http_headers=headers
            )
            if entered:
                await stream.__aenter__()
            first = [await stream.__anext__() for _ in range(3)]
            rest = [text async for text in stream.text_stream]
            assert content_of(first) + "".join(rest) == whole
            await stream.until_done()
            final = await stream.get_final_completion()
            assert await stream.get_final_completion() is final
            assert final.choices[0].message.content == whole
            assert final.choices[0].finish_reason == "stop"
            if entered:
                await stream.__aexit__(None, None, None)
            assert stream.response.is_closed

        # until_done() reads the rest without handing it out; the answer has it.
        stream = await session.chat.send(
            model=MODEL, messages=HELLO, stream=True, http_headers=headers
        )
        await stream.__anext__()
        await stream.until_done()
        assert stream.response.is_closed
        assert [chunk async for chunk in stream] == []
        assert (await stream.get_final_completion()).choices[0].message.content == whole


async def test_a_stream_closed_early_gives_what_it_received(
    emulator_url: str, api_key: str
) -> None:
    """Left after three chunks: the answer so far (a prefix, no finish reason), the same
    object every time. Closed before any chunk: there is no answer, a typed error says so."""
    headers = fault("tokens=500,token-delay-ms=1", **STRICT)
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        stream = await session.chat.send(
            model=MODEL, messages=HELLO, stream=True, http_headers=headers
        )
        received = []
        async with stream:
            async for chunk in stream:
                received.append(chunk)
                if len(received) == 3:
                    break
        assert stream.response.is_closed
        partial = await stream.get_final_completion()
        assert await stream.get_final_completion() is partial
        content = partial.choices[0].message.content
        assert content and content.startswith(content_of(received))
        assert partial.choices[0].finish_reason is None
        assert partial.usage is None  # the usage chunk never came

        stream = await session.chat.send(model=MODEL, messages=HELLO, stream=True)
        await stream.aclose()
        with pytest.raises(ResponseValidationError, match="before its first chunk"):
            await stream.get_final_completion()


@pytest.mark.parametrize("entered", [False, True], ids=["bare", "async-with"])
async def test_an_error_mid_stream_is_raised_by_every_helper(
    emulator_url: str, api_key: str, emulator: EmulatorProbe, entered: bool
) -> None:
    """The chunks before it are handed out; then the error, from ``text_stream``, and again
    from ``until_done()`` and ``get_final_completion()`` (never a partial answer)."""
    headers = fault("mid-stream-error=4;message=provider fell over")
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        stream = await session.chat.send(
            model=MODEL, messages=HELLO, stream=True, http_headers=headers
        )
        texts: list[str] = []
        with pytest.raises(ChatError, match="provider fell over"):
            if entered:
                async with stream:
                    async for text in stream.text_stream:
                        texts.append(text)
            else:
                async for text in stream.text_stream:
                    texts.append(text)
        assert len(texts) == 4
        with pytest.raises(ChatError, match="provider fell over"):
            await stream.until_done()
        for _ in range(2):
            with pytest.raises(ChatError, match="provider fell over"):
                await stream.get_final_completion()

        # Straight to the helper: the same error.
        stream = await session.chat.send(
            model=MODEL, messages=HELLO, stream=True, http_headers=headers
        )
        with pytest.raises(ChatError, match="provider fell over"):
            await stream.get_final_completion()
        assert stream.response.is_closed

        # A connection dropped mid-stream: the transport error, from the helper too.
        stream = await session.chat.send(
            model=MODEL, messages=HELLO, stream=True, http_headers=fault("drop=3")
        )
        with pytest.raises(Exception) as dropped:
            await stream.get_final_completion()
        assert not isinstance(dropped.value, ChatError)
        with pytest.raises(type(dropped.value)):
            await stream.get_final_completion()


# -- other streams ----------------------------------------------------------------------------


async def test_responses_and_completions_streams_have_text_and_no_final_completion(
    emulator_url: str, api_key: str
) -> None:
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        plain = await session.beta.responses.send(model=MODEL, input="say hello there")
        stream = await session.beta.responses.send(
            model=MODEL, input="say hello there", stream=True
        )
        texts = [text async for text in stream.text_stream]
        assert "".join(texts) == plain.output_text  # type: ignore[attr-defined]
        with pytest.raises(TypeError, match="responses stream"):
            await stream.get_final_completion()

        legacy = await session.completions.generate(model=MODEL, prompt="say hello there")
        stream = await session.completions.generate(
            model=MODEL, prompt="say hello there", stream=True
        )
        async with stream:
            texts = [text async for text in stream.text_stream]
        assert texts and "".join(texts) == legacy.choices[0].text
        with pytest.raises(TypeError, match="completions stream"):
            await stream.get_final_completion()

        # A stream opened by method and path has no helpers, and says so.
        opened = await session.request_stream(
            "POST",
            "/chat/completions",
            parse_chat_event,
            body=orjson.dumps({"model": MODEL, "messages": HELLO, "stream": True}),
        )
        with pytest.raises(TypeError, match="without helpers"):
            opened.text_stream  # noqa: B018
        with pytest.raises(TypeError, match="without helpers"):
            await opened.get_final_completion()
        await opened.until_done()  # it still reads to the end
        assert opened.response.is_closed


class _Broken:
    """An accumulator with a bug (a user's own, given through StreamHelpers)."""

    def extend(self, chunks: Any) -> None:
        raise LookupError("the accumulator's own bug")

    def result(self) -> None:
        raise AssertionError("never asked for")


async def test_an_accumulator_that_fails_never_breaks_the_iteration(
    emulator_url: str, api_key: str
) -> None:
    """Its error is the helper's to raise; reading the stream goes on. Helpers are given
    before the stream is read, never after."""
    body = orjson.dumps({"model": MODEL, "messages": HELLO, "stream": True})
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        opened = await session.request_stream(
            "POST", "/chat/completions", parse_chat_event, body=body
        )
        opened.set_helpers(StreamHelpers("custom", accumulator=_Broken))
        chunks = [chunk async for chunk in opened]
        assert content_of(chunks)
        for _ in range(2):
            with pytest.raises(LookupError, match="own bug"):
                await opened.get_final_completion()
        with pytest.raises(TypeError, match="custom stream have no text deltas"):
            opened.text_stream  # noqa: B018
        with pytest.raises(RuntimeError, match="before it is read"):
            opened.set_helpers(StreamHelpers("late"))


# -- what the emulator never sends: a served stream and the answer it stands for ---------------

_HEAD = {
    "id": "gen-7",
    "provider": "Anthropic",
    "model": "anthropic/claude-x",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "system_fingerprint": "fp_7",
    "service_tier": "default",
}


def _chunk(*choices: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**_HEAD, "choices": list(choices), **extra}


def _logprob(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.5, "bytes": None, "top_logprobs": []}


def _choice(index: int, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> Any:
    return {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None} | extra


#: Three choices (n=3), interleaved as providers send them: reasoning with its details then
#: text with logprobs and an annotation (0), a refusal (1), two parallel tool calls (2).
MULTI_CHUNKS = [
    _chunk(
        _choice(
            0,
            {
                "role": "assistant",
                "content": "",
                "reasoning": "Let me",
                "reasoning_details": [
                    {
                        "type": "reasoning.text",
                        "text": "Let me",
                        "format": "anthropic-claude-v1",
                        "index": 0,
                    }
                ],
            },
            native_finish_reason=None,
        ),
        _choice(1, {"role": "assistant", "content": ""}, native_finish_reason=None),
        _choice(
            2,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ],
            },
            native_finish_reason=None,
        ),
    ),
    _chunk(
        _choice(
            0,
            {
                "content": "",
                "reasoning": " think.",
                "reasoning_details": [
                    {"type": "reasoning.text", "text": " think.", "index": 0},
                ],
            },
        ),
        _choice(1, {"refusal": "I can't"}),
        _choice(
            2,
            {
                "tool_calls": [
                    {"index": 0, "function": {"arguments": '{"location":'}},
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"zone":'},
                    },
                ]
            },
        ),
    ),
    _chunk(
        _choice(
            0,
            {
                "content": "",
                "reasoning_details": [
                    {"type": "reasoning.text", "text": "", "signature": "sig-1", "index": 0},
                ],
            },
        ),
        _choice(1, {"refusal": " help with that."}),
        _choice(
            2,
            {
                "tool_calls": [
                    {"index": 1, "function": {"arguments": '"UTC"}'}},
                    {"index": 0, "function": {"arguments": '"Paris"}'}},
                ]
            },
        ),
    ),
    _chunk(
        {
            "index": 0,
            "delta": {"content": "Hello"},
            "finish_reason": None,
            "logprobs": {"content": [_logprob("Hello")], "refusal": None},
        },
    ),
    _chunk(
        {
            "index": 0,
            "delta": {
                "content": " world",
                "annotations": [
                    {"type": "url_citation", "url_citation": {"url": "https://example.com"}}
                ],
            },
            "finish_reason": None,
            "logprobs": {"content": [_logprob(" world")], "refusal": None},
        },
    ),
    _chunk(
        _choice(0, {"content": ""}, "stop", native_finish_reason="end_turn"),
        _choice(1, {"content": ""}, "stop", native_finish_reason="refusal"),
        _choice(2, {"content": ""}, "tool_calls", native_finish_reason="tool_use"),
    ),
    _chunk(usage={"prompt_tokens": 9, "completion_tokens": 21, "total_tokens": 30, "cost": 0.5}),
]

#: What the same call answers without streaming (OpenRouter's shape: every message has its
#: refusal and reasoning, every choice its logprobs and native_finish_reason).
MULTI_ANSWER = {
    **{key: value for key, value in _HEAD.items() if key != "object"},
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "native_finish_reason": "end_turn",
            "logprobs": {"content": [_logprob("Hello"), _logprob(" world")], "refusal": None},
            "message": {
                "role": "assistant",
                "content": "Hello world",
                "refusal": None,
                "reasoning": "Let me think.",
                "reasoning_details": [
                    {
                        "type": "reasoning.text",
                        "text": "Let me think.",
                        "signature": "sig-1",
                        "format": "anthropic-claude-v1",
                        "index": 0,
                    }
                ],
                "annotations": [
                    {"type": "url_citation", "url_citation": {"url": "https://example.com"}}
                ],
            },
        },
        {
            "index": 1,
            "finish_reason": "stop",
            "native_finish_reason": "refusal",
            "logprobs": None,
            "message": {
                "role": "assistant",
                "content": "",
                "refusal": "I can't help with that.",
                "reasoning": None,
            },
        },
        {
            "index": 2,
            "finish_reason": "tool_calls",
            "native_finish_reason": "tool_use",
            "logprobs": None,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "reasoning": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                    },
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"zone":"UTC"}'},
                    },
                ],
            },
        },
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 21, "total_tokens": 30, "cost": 0.5},
}

#: An Anthropic Messages stream (``messages.create(stream=True)``), events named by type.
MESSAGES_EVENTS = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "anthropic/claude-x",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 0},
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " there"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def _sse(chunks: list[dict[str, Any]]) -> bytes:
    events = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
    return b": OPENROUTER PROCESSING\n\n" + events + b"data: [DONE]\n\n"


SERVED = [
    RecordedResponse(200, "text/event-stream", _sse(MULTI_CHUNKS)),
    RecordedResponse(200, "application/json", orjson.dumps(MULTI_ANSWER)),
    RecordedResponse(
        200,
        "text/event-stream",
        b"".join(
            b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
            for name, data in MESSAGES_EVENTS
        ),
    ),
]


@pytest.fixture(scope="module")
def served() -> Iterator[ReplayServer]:
    with running_replay_server(SERVED) as server:
        yield server


async def test_choices_refusals_reasoning_logprobs_and_parallel_calls_come_back(
    served: ReplayServer,
) -> None:
    """The served stream, put back together, is the answer it stands for: the same model,
    and the same JSON (explicit nulls included)."""
    async with Session(api_key="k", base_url=served.base_url_for(1)) as session:
        plain = await session.chat.send(model="anthropic/claude-x", messages=HELLO, n=3)
    async with Session(api_key="k", base_url=served.base_url_for(0)) as session:
        stream = await session.chat.send(
            model="anthropic/claude-x", messages=HELLO, n=3, stream=True
        )
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_completion()
        async with session.stream(ChatRequest(model="m", messages=HELLO)) as chunks:
            again = await chunks.get_final_completion()
    assert texts == ["Hello", " world"]  # the first choice's content only
    assert final == plain == again
    assert final.model_dump(mode="json") == plain.model_dump(mode="json") == MULTI_ANSWER
    assert [choice.message.refusal for choice in final.choices or ()] == [
        None,
        "I can't help with that.",
        None,
    ]


async def test_the_accumulator_is_public_and_builds_the_same_answer(
    served: ReplayServer,
) -> None:
    """``ChatStreamAccumulator`` by hand: chunk by chunk, the same ``ChatResult``; an empty
    one has no answer."""
    accumulator = ChatStreamAccumulator()
    async with Session(api_key="k", base_url=served.base_url_for(0)) as session:
        async with session.stream(ChatRequest(model="m", messages=HELLO)) as chunks:
            async for chunk in chunks:
                accumulator.add(chunk)
    result = accumulator.result()
    assert isinstance(result, ChatResult)
    assert result.model_dump(mode="json") == MULTI_ANSWER
    assert accumulator.body() == MULTI_ANSWER
    with pytest.raises(ResponseValidationError):
        ChatStreamAccumulator().result()


async def test_a_messages_stream_has_its_text_deltas(served: ReplayServer) -> None:
    async with Session(api_key="k", base_url=served.base_url_for(2)) as session:
        stream = await session.messages.create(
            model="anthropic/claude-x", messages=HELLO, max_tokens=10, stream=True
        )
        async with stream:
            assert [text async for text in stream.text_stream] == ["Hi", " there"]
        with pytest.raises(TypeError, match="messages stream"):
            await stream.get_final_completion()


# -- the sync facade ------------------------------------------------------------------------------


def _in(where: str, body: Callable[[], None]) -> None:
    """Run ``body`` in a plain thread, or inside a running asyncio loop (a notebook cell)."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            if where == "thread":
                body()
            else:

                async def cell() -> None:
                    body()

                asyncio.run(cell())
        except BaseException as error:  # reported by the test's own thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if failures:
        raise failures[0]


@pytest.mark.parametrize("where", ["thread", "running-loop"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_sync_facade_has_the_same_helpers(
    emulator_url: str, api_key: str, where: str, backend: str
) -> None:
    def body() -> None:
        with OpenRouter(api_key=api_key, server_url=emulator_url, backend=backend) as client:
            for tools in (None, TOOLS):
                options: dict[str, Any] = {"tools": tools} if tools else {}
                plain = client.chat.send(
                    model=MODEL, messages=HELLO, http_headers=STRICT, **options
                )
                with client.chat.send(
                    model=MODEL, messages=HELLO, stream=True, http_headers=STRICT, **options
                ) as stream:
                    texts = list(stream.text_stream)
                    final = stream.get_final_completion()
                assert stream.get_final_completion() is final
                assert comparable(final, strict=True) == comparable(plain, strict=True)
                assert "".join(texts) == (plain.choices[0].message.content or "")

            # Iterated first, then the helper; until_done in between.
            stream = client.chat.send(model=MODEL, messages=HELLO, stream=True)
            first = [next(stream), next(stream)]
            stream.until_done()
            final = stream.get_final_completion()
            assert (final.choices[0].message.content or "").startswith(content_of(first))
            assert final.choices[0].finish_reason == "stop"

            # Closed early: what was received.
            with client.chat.send(
                model=MODEL,
                messages=HELLO,
                stream=True,
                http_headers=fault("tokens=300,token-delay-ms=2"),
            ) as stream:
                next(stream)
            assert stream.get_final_completion().choices[0].finish_reason is None

            # An error mid-stream, from every helper.
            stream = client.chat.send(
                model=MODEL,
                messages=HELLO,
                stream=True,
                http_headers=fault("mid-stream-error=3;message=provider fell over"),
            )
            texts = []
            with pytest.raises(ChatError, match="provider fell over"):
                for text in stream.text_stream:
                    texts.append(text)
            assert len(texts) == 3
            with pytest.raises(ChatError, match="provider fell over"):
                stream.until_done()
            with pytest.raises(ChatError, match="provider fell over"):
                stream.get_final_completion()

    _in(where, body)


# -- the recorded real traffic ------------------------------------------------------------------

REALTRAFFIC = Path(__file__).resolve().parents[2] / "shared" / "realtraffic"


def _recorded_chat_streams() -> list[Path]:
    if not (REALTRAFFIC / "index.json").exists():
        return []
    index = json.loads((REALTRAFFIC / "index.json").read_text(encoding="utf-8"))
    return [
        REALTRAFFIC / entry["file"]
        for entry in index
        if entry["file"].endswith(".sse")
        and entry["path"].endswith("/chat/completions")
        and entry["status"] == 200
    ]


def _expected(body: bytes) -> dict[str, Any]:
    """What the recorded stream says, read from its raw JSON (not through our models): the
    text of each choice, its tool calls, its finish reason, the usage, the error event."""
    choices: dict[int, dict[str, Any]] = {}
    usage = error = None
    for line in body.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        try:
            data = json.loads(line[5:])
        except ValueError:
            continue
        if data.get("error"):
            error = data["error"]
        usage = data.get("usage") or usage
        for choice in data.get("choices") or ():
            state = choices.setdefault(
                choice.get("index") or 0,
                {"content": "", "reasoning": "", "calls": {}, "finish": None},
            )
            delta = choice.get("delta") or {}
            state["content"] += delta.get("content") or ""
            state["reasoning"] += delta.get("reasoning") or ""
            for call in delta.get("tool_calls") or ():
                merged = state["calls"].setdefault(call.get("index", 0), {"name": "", "args": ""})
                function = call.get("function") or {}
                merged["name"] = function.get("name") or merged["name"]
                merged["args"] += function.get("arguments") or ""
            state["finish"] = choice.get("finish_reason") or state["finish"]
    return {"choices": choices, "usage": usage, "error": error}


async def test_every_recorded_chat_stream_comes_back_whole() -> None:
    paths = _recorded_chat_streams()
    if not paths:
        pytest.skip("the recorded traffic (../shared/realtraffic) is not here")
    bodies = [path.read_bytes() for path in paths]
    responses = [RecordedResponse(200, "text/event-stream", body) for body in bodies]
    checked = errors = 0
    with running_replay_server(responses) as server:
        async with Session(api_key="k", base_url=server.base_url, max_retries=0) as session:
            for n, body in enumerate(bodies):
                expected = _expected(body)
                stream = await session.chat.send(
                    model="m", messages=HELLO, stream=True, http_headers={ENTRY_HEADER: str(n)}
                )
                if expected["error"] is not None:
                    with pytest.raises(ChatError):
                        await stream.get_final_completion()
                    errors += 1
                    continue
                final = await stream.get_final_completion()
                got = {
                    choice.index: {
                        "content": choice.message.content or "",
                        "reasoning": choice.message.reasoning or "",
                        "calls": {
                            i: {"name": c.function.name, "args": c.function.arguments}
                            for i, c in enumerate(choice.message.tool_calls or ())
                            if c.function is not None
                        },
                        "finish": choice.finish_reason,
                    }
                    for choice in final.choices or ()
                }
                want = {
                    index: {**state, "calls": dict(enumerate(state["calls"].values()))}
                    for index, state in expected["choices"].items()
                }
                assert got == want, paths[n].name
                if expected["usage"] is not None:
                    assert final.usage is not None, paths[n].name
                    assert final.usage.total_tokens == expected["usage"]["total_tokens"]
                checked += 1
    assert checked > 250 and errors > 0
