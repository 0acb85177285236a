"""What ``dumps(ChatRequest(...))`` sends is valid per the official spec's ChatRequest schema.

The bodies are checked with a JSON Schema (Draft 2020-12) validator over the whole OpenAPI
document (``tests/spec_validation.py``). The module is skipped where ../shared is absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openrouter_async._convert import dumps, parse, structure
from openrouter_async.models import (
    AnthropicCacheControlDirective,
    ChatAssistantMessage,
    ChatContentImage,
    ChatContentText,
    ChatFormatJsonSchemaConfig,
    ChatJsonSchemaConfig,
    ChatNamedToolChoice,
    ChatRequest,
    ChatResult,
    ChatSystemMessage,
    ChatToolMessage,
    ChatUserMessage,
    FileParserPlugin,
    ProviderPreferences,
    WebSearchPlugin,
)

from .spec_validation import SKIP_REASON, SPEC_AVAILABLE, validate, validate_chat_request

pytestmark = pytest.mark.skipif(not SPEC_AVAILABLE, reason=SKIP_REASON)

USER = {"role": "user", "content": "What is the capital of France?"}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": True,
    },
}


def tool_round_trip() -> ChatRequest:
    response = {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1735317796,
        "model": "openai/gpt-4o",
        "provider": "OpenAI",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "native_finish_reason": "tool_calls",
                "logprobs": None,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "reasoning": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
    }
    result = parse(orjson.dumps(response), ChatResult)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    messages.append(result.choices[0].message)
    messages.append({"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'})
    return ChatRequest(model="openai/gpt-4o", messages=messages, tools=[WEATHER_TOOL])


CASES: dict[str, Callable[[], ChatRequest]] = {
    "simple": lambda: ChatRequest(model="openai/gpt-4o", messages=[USER]),
    "spec-example": lambda: ChatRequest(
        model="openai/gpt-4",
        messages=[{"role": "system", "content": "You are a helpful assistant."}, USER],
        temperature=0.7,
        max_tokens=150,
    ),
    "streaming": lambda: ChatRequest(
        model="openai/gpt-4o",
        messages=[USER],
        stream=True,
        stream_options={"include_usage": True},
    ),
    "sampling-parameters": lambda: ChatRequest(
        model="m",
        messages=[USER],
        temperature=1,
        top_p=0.9,
        top_k=40,
        top_a=0.1,
        min_p=0.05,
        frequency_penalty=-0.5,
        presence_penalty=0.5,
        repetition_penalty=1.1,
        seed=42,
        max_completion_tokens=256,
        stop=["\n\n", "END"],
        logit_bias={50256: -100, "198": 5.5},
        logprobs=True,
        top_logprobs=5,
        user="user-123",
        session_id="session-1",
        metadata={"run": "nightly"},
        service_tier="flex",
        parallel_tool_calls=False,
    ),
    "nulls-where-allowed": lambda: ChatRequest(
        model="m",
        messages=[USER],
        temperature=None,
        stop=None,
        seed=None,
        provider=None,
        reasoning_effort=None,
        max_tokens=None,
    ),
    "model-fallbacks": lambda: ChatRequest(
        models=["anthropic/claude-sonnet-4", "openai/gpt-4o"], messages=[USER]
    ),
    "tools-and-tool-choice": lambda: ChatRequest(
        model="openai/gpt-4o",
        messages=[USER],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    ),
    "tool-choice-strings": lambda: ChatRequest(
        model="m", messages=[USER], tools=[WEATHER_TOOL], tool_choice="required"
    ),
    "tool-choice-objects": lambda: ChatRequest(
        model="m",
        messages=[USER],
        tools=[WEATHER_TOOL],
        tool_choice=ChatNamedToolChoice(function={"name": "get_weather"}),
    ),
    "server-tools": lambda: ChatRequest(
        model="m",
        messages=[USER],
        tools=[
            {"type": "openrouter:web_search", "parameters": {"max_results": 3, "engine": "exa"}},
            {"type": "openrouter:datetime", "parameters": {"timezone": "Europe/Paris"}},
            {"type": "web_search_preview", "search_context_size": "low"},
            {
                "type": "openrouter:bash",
                "parameters": {"environment": {"type": "container_auto"}},
            },
        ],
        tool_choice="auto",
    ),
    "response-format-json-schema": lambda: ChatRequest(
        model="openai/gpt-4o",
        messages=[USER],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "capital",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            },
        },
    ),
    "response-format-objects": lambda: ChatRequest(
        model="m",
        messages=[USER],
        response_format=ChatFormatJsonSchemaConfig(
            json_schema=ChatJsonSchemaConfig(name="x", schema={"type": "object"})
        ),
    ),
    "response-format-json-object": lambda: ChatRequest(
        model="m", messages=[USER], response_format={"type": "json_object"}
    ),
    "provider-preferences": lambda: ChatRequest(
        model="m",
        messages=[USER],
        provider={"zdr": True, "sort": "price", "order": ["anthropic", "openai"]},
    ),
    "provider-preferences-full": lambda: ChatRequest(
        model="m",
        messages=[USER],
        provider=ProviderPreferences(
            allow_fallbacks=False,
            require_parameters=True,
            data_collection="deny",
            only=["Anthropic", "some-new-provider"],
            ignore=["Together"],
            quantizations=["fp8", "bf16"],
            sort={"by": "throughput", "partition": "none"},
            max_price={"prompt": "1", "completion": "2"},
            preferred_max_latency={"p50": 1.5, "p90": 3},
            preferred_min_throughput=50,
            enforce_distillable_text=None,
        ),
    ),
    "plugins": lambda: ChatRequest(
        model="m",
        messages=[USER],
        plugins=[
            {"id": "web", "max_results": 3, "search_prompt": "Sources:"},
            FileParserPlugin(pdf={"engine": "pdf-text"}),
            {"id": "response-healing"},
            {"id": "context-compression", "engine": "middle-out"},
            WebSearchPlugin(engine="native", max_uses=2),
        ],
    ),
    "multimodal-content-parts": lambda: ChatRequest(
        model="google/gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe these."},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}},
                    ChatContentImage(image_url={"url": "data:image/png;base64,AAAA"}),
                    {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
                    {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:..."}},
                    {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
                    ChatContentText(
                        text="cached", cache_control=AnthropicCacheControlDirective(ttl="1h")
                    ),
                ],
            }
        ],
        modalities=["text", "image"],
    ),
    "model-objects": lambda: ChatRequest(
        model="m",
        messages=[
            ChatSystemMessage(content=[ChatContentText(text="Be terse.")]),
            ChatUserMessage(content="hi", name="ann"),
            ChatAssistantMessage(content="hello"),
            ChatToolMessage(content="42", tool_call_id="call_9"),
        ],
    ),
    "reasoning": lambda: ChatRequest(
        model="m",
        messages=[{"role": "developer", "content": "Think."}, USER],
        reasoning={"effort": "high", "summary": "concise"},
    ),
    "reasoning-effort-shorthand": lambda: ChatRequest(
        model="m", messages=[USER], reasoning_effort="minimal"
    ),
    "prediction-and-caching": lambda: ChatRequest(
        model="m",
        messages=[USER],
        prediction={"type": "content", "content": "Paris"},
        cache_control={"type": "ephemeral"},
        prompt_cache_key="k",
    ),
    "trace-and-debug": lambda: ChatRequest(
        model="m",
        messages=[USER],
        trace={"trace_id": "t1", "custom": "kept"},
        debug={"echo_upstream_body": True},
        stream=True,
    ),
    "tool-round-trip": tool_round_trip,
    "from-structure": lambda: structure(
        {"model": "m", "messages": [USER], "temperature": 0.2, "stream": False}, ChatRequest
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_request_body_is_valid_per_the_spec(name: str) -> None:
    body = orjson.loads(dumps(CASES[name]()))
    validate_chat_request(body)


def test_the_validator_rejects_invalid_bodies() -> None:
    import jsonschema

    for bad in (
        {"model": "m"},
        {"messages": "hi"},
        {"messages": [{"role": "robot", "content": "x"}]},
        {"messages": [USER], "temperature": "hot"},
        {"messages": [USER], "provider": {"zdr": True, "unknown": 1}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate_chat_request(bad)


def test_the_tool_round_trip_body() -> None:
    body = orjson.loads(dumps(tool_round_trip()))
    assistant = body["messages"][1]
    assert assistant["tool_calls"][0]["id"] == "call_1"
    validate(assistant, "ChatAssistantMessage")
    validate(body["messages"][2], "ChatToolMessage")


_text = st.text(max_size=20)
_content_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, _text),
    st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, _text),
)
_message = st.one_of(
    st.builds(lambda c: {"role": "system", "content": c}, _text),
    st.builds(
        lambda c: {"role": "user", "content": c},
        st.one_of(_text, st.lists(_content_part, max_size=3)),
    ),
    st.builds(lambda c: {"role": "assistant", "content": c}, st.one_of(st.none(), _text)),
    st.builds(lambda c, i: {"role": "tool", "content": c, "tool_call_id": i}, _text, _text),
)


@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(_message, min_size=1, max_size=4),
    temperature=st.one_of(st.none(), st.floats(0, 2, allow_nan=False)),
    stream=st.booleans(),
    stop=st.one_of(st.none(), _text, st.lists(_text, max_size=4)),
)
def test_generated_requests_are_valid_per_the_spec(
    messages: list[dict[str, Any]], temperature: float | None, stream: bool, stop: Any
) -> None:
    request = ChatRequest(
        model="m", messages=messages, temperature=temperature, stream=stream, stop=stop
    )
    body = orjson.loads(dumps(request))
    assert body["messages"] == messages
    validate_chat_request(body)
