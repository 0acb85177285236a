"""The generated chat models and the converter: the semantics the client relies on."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openrouter_async import _convert
from openrouter_async._convert import dumps, loads, parse, structure, unstructure
from openrouter_async._model import Model
from openrouter_async._unset import UNSET
from openrouter_async.errors import (
    OpenRouterError,
    RequestValidationError,
    ResponseValidationError,
)
from openrouter_async.models import (
    AutoRouterPlugin,
    BashServerTool,
    ChatAssistantMessage,
    ChatContentAudio,
    ChatContentFile,
    ChatContentImage,
    ChatContentText,
    ChatContentVideo,
    ChatDeveloperMessage,
    ChatFormatGrammarConfig,
    ChatFormatJsonObjectConfig,
    ChatFormatJsonSchemaConfig,
    ChatFormatPythonConfig,
    ChatFormatTextConfig,
    ChatFunctionToolFunction,
    ChatMessages,
    ChatNamedToolChoice,
    ChatRequest,
    ChatResult,
    ChatServerToolChoice,
    ChatStreamChunk,
    ChatStreamChunkError,
    ChatStreamingResponse,
    ChatSystemMessage,
    ChatToolCall,
    ChatToolMessage,
    ChatUsage,
    ChatUserMessage,
    ChatWebSearchShorthand,
    ContainerReferenceEnvironment,
    FileParserPlugin,
    Legacy_ChatContentVideo,
    ModerationPlugin,
    OpenRouterWebSearchServerTool,
    PercentileLatencyCutoffs,
    ProviderPreferences,
    ProviderSortConfig,
    ReasoningDetailEncrypted,
    ReasoningDetailSummary,
    ReasoningDetailText,
    ResponseHealingPlugin,
    WebSearchPlugin,
    _chat,
)

USER = {"role": "user", "content": "hi"}

CHUNK: dict[str, Any] = {
    "id": "gen-1",
    "object": "chat.completion.chunk",
    "created": 1735317796,
    "model": "openai/gpt-4o",
    "choices": [
        {"index": 0, "delta": {"role": "assistant", "content": "Hello"}, "finish_reason": None}
    ],
}

RESULT: dict[str, Any] = {
    "id": "gen-2",
    "object": "chat.completion",
    "created": 1735317796,
    "model": "openai/gpt-4o",
    "system_fingerprint": None,
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Paris."},
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}

TOOL_RESULT: dict[str, Any] = {
    **RESULT,
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
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
        }
    ],
}


def body(request: ChatRequest) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(dumps(request))
    return data


def raises_at(where: str, fn: Any, *args: Any, **kwargs: Any) -> RequestValidationError:
    """Call ``fn``; it must raise RequestValidationError whose path is ``where``."""
    with pytest.raises(RequestValidationError) as info:
        fn(*args, **kwargs)
    assert info.value.path == where, str(info.value)
    return info.value


# -- classes --------------------------------------------------------------------------------


def test_classes_are_frozen_slotted_attrs_models_with_docstrings() -> None:
    for cls in (ChatRequest, ChatResult, ChatStreamChunk, ChatStreamChunkError, ChatUsage):
        assert attrs.has(cls)
        assert issubclass(cls, Model)
        assert "__slots__" in cls.__dict__
        assert cls.__doc__
        assert attrs.fields(cls)[-1].name == "model_extra"
        assert all(a.kw_only for a in attrs.fields(cls))
    assert ChatRequest.__doc__ == "Chat completion request parameters"
    user = ChatUserMessage(content="hi")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        user.content = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        user.__dict__  # noqa: B018  (slotted: no instance dict)


def test_inline_object_schemas_are_named_after_their_place() -> None:
    chunk = parse({**CHUNK, "error": {"code": 429, "message": "slow down"}}, ChatStreamChunk)
    assert type(chunk.error) is ChatStreamChunkError
    assert _chat.ChatStreamChunkErrorMetadata.__name__ == "ChatStreamChunkErrorMetadata"


def test_required_fields_have_no_default_and_const_discriminators_default() -> None:
    with pytest.raises(TypeError):
        ChatRequest()  # type: ignore[call-arg]
    assert ChatUserMessage(content="hi").role == "user"
    assert ChatToolCall(id="c", function={"name": "f", "arguments": "{}"}).type == "function"


def test_repr_leaves_unset_out_and_equality_is_by_value() -> None:
    a = ChatUserMessage(content="hi")
    assert repr(a) == "ChatUserMessage(content='hi', role='user')"
    assert a == ChatUserMessage(content="hi", role="user")
    assert a != ChatUserMessage(content="ho")
    assert a != {"role": "user", "content": "hi"}
    assert hash(a) == hash(ChatUserMessage(content="hi"))
    assert len({a, ChatUserMessage(content="hi")}) == 1


def test_pickle_copy_and_evolve() -> None:
    request = ChatRequest(model="m", messages=[USER], temperature=0.5, model_extra={"x": 1})
    assert pickle.loads(pickle.dumps(request)) == request
    assert copy.deepcopy(request) == request
    evolved = attrs.evolve(request, stream=True)
    assert evolved.stream is True
    assert evolved.messages == request.messages
    assert body(evolved)["stream"] is True


# -- UNSET / None ---------------------------------------------------------------------------


def test_fields_not_given_are_not_sent() -> None:
    request = ChatRequest(model="openai/gpt-4o", messages=[USER])
    assert request.temperature is UNSET
    assert not request.temperature  # UNSET is falsy
    assert body(request) == {"model": "openai/gpt-4o", "messages": [USER]}
    assert unstructure(request) == {"model": "openai/gpt-4o", "messages": [USER]}


def test_none_is_sent_as_null_where_the_spec_allows_it() -> None:
    request = ChatRequest(
        messages=[USER], temperature=None, stop=None, provider=None, reasoning_effort=None
    )
    assert body(request) == {
        "messages": [USER],
        "temperature": None,
        "stop": None,
        "provider": None,
        "reasoning_effort": None,
    }
    # A class a response can hold (the assistant message) has no UNSET: None means "not
    # given" there, so an optional field that is None is not sent.
    assistant = ChatAssistantMessage(content=None, tool_calls=[])
    assert unstructure(assistant) == {"role": "assistant", "tool_calls": []}


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"stream": None}, "stream"),
        ({"model": None}, "model"),
        ({"user": None}, "user"),
        ({"tools": None}, "tools"),
        ({"messages": None}, "messages"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
        ({"plugins": [{"id": "web", "max_results": None}]}, "plugins[0].max_results"),
    ],
)
def test_none_for_a_non_nullable_field_is_an_error_naming_it(
    kwargs: dict[str, Any], path: str
) -> None:
    kwargs.setdefault("messages", [USER])
    error = raises_at(path, ChatRequest, **kwargs)
    assert "null" in error.reason
    raises_at(path, structure, kwargs, ChatRequest)


# -- unknown fields --------------------------------------------------------------------------


def test_unknown_response_fields_are_kept_reachable_and_round_tripped() -> None:
    data = {
        **RESULT,
        "provider": "OpenAI",
        "choices": [{**RESULT["choices"][0], "native_finish_reason": "end_turn"}],
    }
    result = parse(orjson.dumps(data), ChatResult)
    assert result.model_extra == {"provider": "OpenAI"}
    assert result.provider == "OpenAI"  # through Model.__getattr__
    assert result.choices[0].native_finish_reason == "end_turn"
    with pytest.raises(AttributeError):
        result.no_such_field  # noqa: B018
    assert unstructure(result) == data
    assert orjson.loads(dumps(result)) == data


def test_model_extra_on_a_request_is_merged_into_the_body() -> None:
    request = ChatRequest(
        model="m",
        messages=[ChatUserMessage(content="hi", model_extra={"cache": True})],
        model_extra={"transforms": ["middle-out"]},
    )
    assert body(request) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi", "cache": True}],
        "transforms": ["middle-out"],
    }
    # the keyword-argument spelling in plain data, and unknown keys in nested dicts
    built = structure(
        {"model": "m", "messages": [{**USER, "x": 1}], "model_extra": {"y": 2}}, ChatRequest
    )
    assert built.model_extra == {"y": 2}
    assert built.messages[0].model_extra == {"x": 1}
    assert body(built) == {"model": "m", "messages": [{**USER, "x": 1}], "y": 2}


def test_unset_values_in_plain_data_count_as_absent() -> None:
    built = structure({"messages": [USER], "temperature": UNSET, "seed": UNSET}, ChatRequest)
    assert built.temperature is UNSET
    assert built.model_extra is None
    assert body(built) == {"messages": [USER]}


def test_unknown_finish_reason_and_enum_values_pass_through() -> None:
    data = {**CHUNK, "choices": [{**CHUNK["choices"][0], "finish_reason": "brand_new_reason"}]}
    chunk = parse(orjson.dumps(data), ChatStreamChunk)
    assert chunk.choices[0].finish_reason == "brand_new_reason"
    assert type(chunk.choices[0].finish_reason) is str
    request = ChatRequest(messages=[USER], service_tier="hyperspeed", modalities=["smell"])
    assert body(request)["service_tier"] == "hyperspeed"
    assert body(request)["modalities"] == ["smell"]


@pytest.mark.parametrize("code", [429, "rate_limit_exceeded"])
def test_error_code_accepts_a_number_or_a_string(code: int | str) -> None:
    data = {
        **CHUNK,
        "choices": [],
        "error": {"code": code, "message": "slow", "metadata": {"error_type": "new_type"}},
    }
    chunk = parse(orjson.dumps(data), ChatStreamChunk)
    assert isinstance(chunk.error, ChatStreamChunkError)
    assert chunk.error.code == code
    assert chunk.error.metadata
    assert chunk.error.metadata.error_type == "new_type"
    # Neither a number nor a string: read leniently, the value kept in model_extra.
    odd = parse({**data, "error": {"code": 1.5, "message": "x"}}, ChatStreamChunk)
    assert odd.error is not None
    assert (odd.error.code, odd.error.message, odd.error.model_extra) == (None, "x", {"code": 1.5})
    with pytest.raises(RequestValidationError):
        structure({**data, "error": {"code": 1.5, "message": "x"}}, ChatStreamChunk)


def test_streaming_response_envelope() -> None:
    envelope = parse({"data": CHUNK}, ChatStreamingResponse)
    assert isinstance(envelope.data, ChatStreamChunk)
    assert envelope.data.choices[0].delta.content == "Hello"


# -- unions ----------------------------------------------------------------------------------


def test_messages_are_dispatched_by_role() -> None:
    request = ChatRequest(
        messages=[
            {"role": "system", "content": "s"},
            {"role": "developer", "content": [{"type": "text", "text": "d"}]},
            USER,
            {"role": "assistant", "content": "a"},
            {"role": "tool", "content": "t", "tool_call_id": "c"},
        ]
    )
    assert [type(m) for m in request.messages] == [
        ChatSystemMessage,
        ChatDeveloperMessage,
        ChatUserMessage,
        ChatAssistantMessage,
        ChatToolMessage,
    ]
    assert structure({"role": "tool", "content": "t", "tool_call_id": "c"}, ChatMessages) == (
        ChatToolMessage(content="t", tool_call_id="c")
    )


def test_unknown_discriminator_value_names_path_and_allowed_values() -> None:
    error = raises_at(
        "messages[1].role", ChatRequest, messages=[USER, {"role": "robot", "content": "x"}]
    )
    assert "'robot'" in error.reason
    for role in ("assistant", "developer", "system", "tool", "user"):
        assert repr(role) in error.reason
    error = raises_at("messages[0].role", ChatRequest, messages=[{"content": "x"}])
    assert "missing" in error.reason
    error = raises_at(
        "messages[0].content[0].type",
        ChatRequest,
        messages=[{"role": "user", "content": [{"type": "hologram"}]}],
    )
    assert "'image_url'" in error.reason
    raises_at("plugins[0].id", ChatRequest, messages=[USER], plugins=[{"id": "nope"}])
    raises_at("response_format.type", ChatRequest, messages=[USER], response_format={"type": "x"})


def test_content_parts_are_dispatched_by_type() -> None:
    parts = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;..."}},
        {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
        {"type": "input_video", "video_url": {"url": "https://x/v.mp4"}},
    ]
    message = ChatUserMessage(content=parts)
    assert isinstance(message.content, list)
    assert [type(p) for p in message.content] == [
        ChatContentText,
        ChatContentImage,
        ChatContentAudio,
        ChatContentFile,
        ChatContentVideo,
        Legacy_ChatContentVideo,
    ]
    image = message.content[1]
    assert isinstance(image, ChatContentImage)
    assert image.image_url.detail == "high"
    assert unstructure(message) == {"role": "user", "content": parts}


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({"type": "text"}, ChatFormatTextConfig),
        ({"type": "json_object"}, ChatFormatJsonObjectConfig),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            ChatFormatJsonSchemaConfig,
        ),
        ({"type": "grammar", "grammar": "root ::= 'a'"}, ChatFormatGrammarConfig),
        ({"type": "python"}, ChatFormatPythonConfig),
    ],
)
def test_response_formats_are_dispatched_by_type(data: dict[str, Any], cls: type) -> None:
    request = ChatRequest(messages=[USER], response_format=data)
    assert type(request.response_format) is cls
    assert body(request)["response_format"] == data


def test_plugins_are_dispatched_by_id() -> None:
    request = ChatRequest(
        messages=[USER],
        plugins=[
            {"id": "web", "max_results": 3, "engine": "exa"},
            {"id": "file-parser", "pdf": {"engine": "mistral-ocr"}},
            {"id": "response-healing"},
            {"id": "moderation"},
            {"id": "auto-router", "allowed_models": ["a/b"]},
        ],
    )
    assert [type(p) for p in request.plugins or ()] == [
        WebSearchPlugin,
        FileParserPlugin,
        ResponseHealingPlugin,
        ModerationPlugin,
        AutoRouterPlugin,
    ]


def test_tools_and_tool_choice_without_discriminator() -> None:
    request = ChatRequest(
        messages=[USER],
        tools=[
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
            },
            {"type": "openrouter:web_search", "parameters": {"max_results": 2}},
            {"type": "web_search_preview"},
            {
                "type": "openrouter:bash",
                "parameters": {
                    "environment": {"type": "container_reference", "container_id": "c1"}
                },
            },
        ],
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    tools = request.tools or []
    assert [type(t) for t in tools] == [
        ChatFunctionToolFunction,
        OpenRouterWebSearchServerTool,
        ChatWebSearchShorthand,
        BashServerTool,
    ]
    bash = tools[3]
    assert isinstance(bash, BashServerTool)
    assert bash.parameters and isinstance(
        bash.parameters.environment, ContainerReferenceEnvironment
    )
    assert type(request.tool_choice) is ChatNamedToolChoice
    # a string choice, and an object whose type matches no named alternative: the open one
    assert ChatRequest(messages=[USER], tool_choice="required").tool_choice == "required"
    server = ChatRequest(messages=[USER], tool_choice={"type": "openrouter:datetime"})
    assert type(server.tool_choice) is ChatServerToolChoice
    raises_at("tools[0].type", ChatRequest, messages=[USER], tools=[{"type": "mystery"}])
    raises_at("tool_choice", ChatRequest, messages=[USER], tool_choice=3)


def test_unions_dispatch_on_json_type() -> None:
    assert ChatRequest(messages=[USER], stop="x").stop == "x"
    assert ChatRequest(messages=[USER], stop=("x", "y")).stop == ["x", "y"]
    raises_at("stop", ChatRequest, messages=[USER], stop=3)
    raises_at("stop[1]", ChatRequest, messages=[USER], stop=["a", 3])
    provider = ProviderPreferences(
        sort="price", preferred_max_latency={"p50": 1.5}, preferred_min_throughput=30
    )
    assert provider.sort == "price"
    assert isinstance(provider.preferred_max_latency, PercentileLatencyCutoffs)
    assert provider.preferred_min_throughput == 30
    assert isinstance(ProviderPreferences(sort={"by": "latency"}).sort, ProviderSortConfig)
    raises_at("sort", ProviderPreferences, sort=["price"])


def test_reasoning_details_in_responses_are_dispatched_by_type() -> None:
    message = {
        "role": "assistant",
        "content": "42",
        "reasoning_details": [
            {"type": "reasoning.text", "text": "think", "format": "anthropic-claude-v1"},
            {"type": "reasoning.summary", "summary": "s"},
            {"type": "reasoning.encrypted", "data": "xx", "format": "some-new-format"},
        ],
    }
    data = {**RESULT, "choices": [{**RESULT["choices"][0], "message": message}]}
    result = parse(orjson.dumps(data), ChatResult)
    details = result.choices[0].message.reasoning_details
    assert [type(d) for d in details or ()] == [
        ReasoningDetailText,
        ReasoningDetailSummary,
        ReasoningDetailEncrypted,
    ]
    newer = {
        **data,
        "choices": [
            {
                **data["choices"][0],
                "message": {**message, "reasoning_details": [{"type": "reasoning.new"}]},
            }
        ],
    }
    # A response with a kind of detail this client does not know keeps it as it came...
    kept = parse(newer, ChatResult)
    assert kept.choices and kept.choices[0].message
    assert kept.choices[0].message.reasoning_details == [{"type": "reasoning.new"}]
    # ... while the strict structure() (user input) names it.
    with pytest.raises(RequestValidationError) as info:
        structure(newer, ChatResult)
    assert info.value.path == "choices[0].message.reasoning_details[0].type"
    assert "'reasoning.text'" in str(info.value)


# -- mixtures of dicts and objects -----------------------------------------------------------


def test_dicts_and_model_objects_mix_at_any_depth() -> None:
    request = ChatRequest(
        model="m",
        messages=(
            {"role": "system", "content": "be brief"},
            ChatUserMessage(
                content=[
                    ChatContentText(text="look"),
                    {"type": "image_url", "image_url": {"url": "u"}},
                ]
            ),
            {
                "role": "user",
                "content": [ChatContentText(text="and"), {"type": "text", "text": "this"}],
            },
        ),
        provider=ProviderPreferences(order=("anthropic", "openai"), sort={"by": "price"}),
        plugins=[WebSearchPlugin(max_results=2), {"id": "moderation"}],
    )
    assert isinstance(request.messages, list)
    assert isinstance(request.messages[0], ChatSystemMessage)
    user = request.messages[1]
    assert isinstance(user, ChatUserMessage) and isinstance(user.content, list)
    assert isinstance(user.content[1], ChatContentImage)
    assert body(request) == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "u"}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "text", "text": "and"}, {"type": "text", "text": "this"}],
            },
        ],
        "provider": {"order": ["anthropic", "openai"], "sort": {"by": "price"}},
        "plugins": [{"id": "web", "max_results": 2}, {"id": "moderation"}],
    }
    # structure() accepts the same mixture, and passes model objects through unchanged
    again = structure(unstructure(request), ChatRequest)
    assert again == request
    message = request.messages[1]
    assert structure(message, ChatMessages) is message
    assert structure({"model": "m", "messages": [message]}, ChatRequest).messages[0] is message


def test_construction_converts_nested_dicts_to_models() -> None:
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    assert request.messages == [ChatUserMessage(content="hi")]
    assert type(request.messages[0]) is ChatUserMessage
    call = ChatToolCall(id="c", function={"name": "f", "arguments": "{}"})
    assert type(call.function).__name__ == "ChatToolCallFunction"
    raises_at("function.name", ChatToolCall, id="c", function={"arguments": "{}"})


def test_a_model_of_another_class_is_accepted_by_its_json_shape() -> None:
    text = _chat.PredictionContentText(text="guess")
    request = ChatRequest(messages=[{"role": "user", "content": [text]}])
    part = request.messages[0].content[0]  # type: ignore[index]
    assert type(part) is ChatContentText and part.text == "guess"


# -- wrong primitive types --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "path", "expected"),
    [
        ({"temperature": "hot"}, "temperature", "number"),
        ({"temperature": True}, "temperature", "number"),
        ({"max_tokens": 1.5}, "max_tokens", "integer"),
        ({"max_tokens": "100"}, "max_tokens", "integer"),
        ({"max_tokens": False}, "max_tokens", "integer"),
        ({"stream": 1}, "stream", "boolean"),
        ({"model": 5}, "model", "string"),
        ({"messages": "hi"}, "messages", "array"),
        ({"messages": ["hi"]}, "messages[0]", "object"),
        ({"logit_bias": {"1": "x"}}, "logit_bias.1", "number"),
        ({"metadata": {"k": 1}}, "metadata.k", "string"),
        ({"provider": {"zdr": "yes"}}, "provider.zdr", "boolean"),
        ({"provider": {"order": [1]}}, "provider.order[0]", "string"),
        (
            {"messages": [{"role": "tool", "content": "x", "tool_call_id": 7}]},
            "messages[0].tool_call_id",
            "string",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]},
            "tools[0].function.strict",
            "boolean",
        ),
    ],
)
def test_wrong_primitive_types_name_the_field(
    kwargs: dict[str, Any], path: str, expected: str
) -> None:
    kwargs.setdefault("messages", [USER])
    error = raises_at(path, ChatRequest, **kwargs)
    assert f"expected {expected}" in error.reason
    assert isinstance(error, OpenRouterError) and isinstance(error, ValueError)
    raises_at(path, structure, kwargs, ChatRequest)
    raises_at(f"request.{path}", structure, kwargs, ChatRequest, path="request")


def test_ints_are_accepted_for_numbers_and_int_keys_for_maps() -> None:
    request = ChatRequest(messages=[USER], temperature=1, top_p=0, logit_bias={50256: -100})
    assert body(request) == {
        "messages": [USER],
        "temperature": 1,
        "top_p": 0,
        "logit_bias": {"50256": -100},
    }


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        ChatRequest(messages=[USER], temprature=1)  # type: ignore[call-arg]


# -- tool calling round trip ------------------------------------------------------------------


def test_tool_calling_round_trip() -> None:
    result = parse(orjson.dumps(TOOL_RESULT), ChatResult)
    message = result.choices[0].message
    assert isinstance(message, ChatAssistantMessage)
    assert message.content is None
    assert message.tool_calls and message.tool_calls[0].function.name == "get_weather"
    assert result.choices[0].native_finish_reason == "tool_calls"
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    messages.append(message)
    messages.append({"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'})
    request = ChatRequest(model="openai/gpt-4o", messages=messages)
    assert request.messages[1] is message
    sent = body(request)
    # The message goes back as it came, explicit nulls included (nulls_given)...
    received = TOOL_RESULT["choices"][0]["message"]
    assert sent["messages"][1] == received
    # ...while the same message built by keywords sends no null it was not given.
    built = ChatAssistantMessage(content=None, tool_calls=message.tool_calls)
    assert "content" not in body(ChatRequest(model="m", messages=[built]))["messages"][0]
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"temp": 21}',
    }


# -- the converter API -------------------------------------------------------------------------


def test_parse_accepts_bytes_str_and_decoded_data() -> None:
    raw = orjson.dumps(CHUNK)
    for data in (raw, raw.decode(), bytearray(raw), CHUNK):
        chunk = parse(data, ChatStreamChunk)
        assert chunk.choices[0].delta.content == "Hello"
        assert chunk.choices[0].delta.reasoning is None  # not sent: None on a response
        assert chunk.choices[0].finish_reason is None


@pytest.mark.parametrize(
    "raw",
    # Nothing usable: not JSON, or not an object (an object missing fields reads leniently).
    [b"", b"{", b"not json", b"[]", b"null", b'"text"', b"5", b"\xff\xfe"],
)
def test_parse_failures_are_response_validation_errors_with_the_body(raw: bytes) -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse(raw, ChatResult, status_code=200)
    assert info.value.body == raw.decode("utf-8", "replace")
    assert info.value.status_code == 200


def test_parse_reports_what_it_refuses_and_structure_the_path_of_a_wrong_shape() -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse(b"[1]", ChatResult)
    assert str(info.value) == "invalid ChatResult: expected object, got array"
    assert info.value.body == "[1]"
    data = {**RESULT, "choices": [{**RESULT["choices"][0], "index": "zero"}]}
    with pytest.raises(RequestValidationError) as raised:
        structure(data, ChatResult)
    assert raised.value.path == "choices[0].index"
    assert raised.value.reason == "expected integer, got string 'zero'"


def test_parse_of_deeply_nested_garbage_keeps_it_as_it_came() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = {"role": "user", "content": [deep]}
    result = parse(
        {**RESULT, "choices": [{"index": 0, "finish_reason": None, "message": deep}]},
        ChatResult,
    )
    assert result.choices and result.choices[0].message
    # no content part has these keys: the item is kept as it came, not walked
    assert result.choices[0].message.content == deep["content"]
    with pytest.raises(RequestValidationError):
        structure(deep, ChatResult)


def test_structure_errors_and_typing_constructs() -> None:
    messages = structure([USER, ChatSystemMessage(content="s")], list[ChatMessages])
    assert [type(m) for m in messages] == [ChatUserMessage, ChatSystemMessage]
    assert structure(None, ChatUsage | None) is None
    error = raises_at(
        "body.messages[1]", structure, [USER, 3], list[ChatMessages], path="body.messages"
    )
    assert "expected object" in error.reason


def test_unstructure_and_dumps_walk_plain_containers() -> None:
    data = {"messages": [ChatUserMessage(content="hi")], "n": (1, 2)}
    assert unstructure(data) == {"messages": [USER], "n": [1, 2]}
    assert orjson.loads(dumps(data)) == {"messages": [USER], "n": [1, 2]}
    assert loads(dumps([ChatUserMessage(content="hi")])) == [USER]
    # a model inside an Any-typed field (tool parameters) is serialised too
    request = ChatRequest(messages=[USER], model_extra={"echo": ChatUserMessage(content="x")})
    assert body(request)["echo"] == {"role": "user", "content": "x"}
    with pytest.raises(RequestValidationError):
        dumps({"x": object()})
    with pytest.raises(ResponseValidationError):
        loads(b"{")


def test_cattrs_converter_has_the_generated_hooks() -> None:
    converter = _convert.converter
    assert converter is _convert.converter  # built once
    result = converter.structure(RESULT, ChatResult)
    assert isinstance(result, ChatResult)
    assert converter.unstructure(result) == RESULT
    assert type(converter.structure(USER, ChatMessages)) is ChatUserMessage
    with pytest.raises(RequestValidationError):
        converter.structure({"role": "nope"}, ChatMessages)


# -- properties --------------------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8)
)
_extra_keys = st.text(min_size=1, max_size=8).filter(lambda k: k not in _chat._K_ChatStreamChunk)


@settings(max_examples=150, deadline=None)
@given(
    content=st.text(max_size=30),
    finish=st.one_of(st.none(), st.sampled_from(["stop", "length", "x-new"])),
    extras=st.dictionaries(_extra_keys, _json_scalars, max_size=3),
    usage=st.booleans(),
    index=st.integers(0, 2**31),
)
def test_chunks_round_trip_losslessly(
    content: str, finish: str | None, extras: dict[str, Any], usage: bool, index: int
) -> None:
    data: dict[str, Any] = {
        **CHUNK,
        **extras,
        "choices": [{"index": index, "delta": {"content": content}, "finish_reason": finish}],
    }
    if usage:
        data["usage"] = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "cost": 0.5}
    chunk = parse(orjson.dumps(data), ChatStreamChunk)
    assert chunk.choices[0].delta.content == content
    assert (chunk.model_extra or {}) == extras
    assert unstructure(chunk) == data


@settings(max_examples=100, deadline=None)
@given(
    temperature=st.one_of(st.none(), st.floats(0, 2), st.integers(0, 2)),
    max_tokens=st.one_of(st.none(), st.integers(1, 10**6)),
    stop=st.one_of(st.none(), st.text(max_size=5), st.lists(st.text(max_size=5), max_size=4)),
    seed=st.one_of(st.none(), st.integers(-(2**31), 2**31)),
)
def test_requests_round_trip_through_structure(
    temperature: float | None, max_tokens: int | None, stop: Any, seed: int | None
) -> None:
    kwargs = {"temperature": temperature, "max_tokens": max_tokens, "stop": stop, "seed": seed}
    request = ChatRequest(model="m", messages=[USER], **kwargs)
    sent = body(request)
    assert sent == {"model": "m", "messages": [USER], **kwargs}
    assert structure(sent, ChatRequest) == request


# -- static typing -----------------------------------------------------------------------------

TYPED_SNIPPET = """
from openrouter_async.models import ChatRequest, ChatResult, ChatUserMessage

messages = [{"role": "user", "content": "hi"}]
ok = ChatRequest(model="m", messages=messages, temperature=1, stop=("a", "b"))
mixed = ChatRequest(messages=[ChatUserMessage(content="x"), {"role": "system", "content": "s"}])

def follow_up(result: ChatResult) -> ChatRequest:
    assert result.choices is not None
    message = result.choices[0].message
    assert message is not None
    return ChatRequest(messages=[*messages, message])

reveal_type(ok.messages[0])
bad = ChatRequest(model="m", messages=messages, temperature="hot")
"""


def test_mypy_sees_the_input_each_field_accepts(tmp_path: Any) -> None:
    """The converters are typed: dicts are fine for nested models, wrong primitives are not."""
    mypy_api = pytest.importorskip("mypy.api")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(TYPED_SNIPPET)
    out, _, status = mypy_api.run(["--strict", "--no-error-summary", str(snippet)])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1, out
    assert 'Argument "temperature" to "ChatRequest" has incompatible type "str"' in errors[0]
    assert "ChatUserMessage" in out and "ChatAssistantMessage" in out  # the revealed union
    assert status == 1


def test_a_required_nullable_field_that_is_absent_reads_as_null() -> None:
    """Servers omit ``system_fingerprint`` although the spec requires it (nullable)."""
    from openrouter_async._convert import parse as parse_result
    from openrouter_async.models import ChatResult as Result

    body = {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m/x",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi"},
            }
        ],
    }
    result = parse_result(body, Result)
    assert result.system_fingerprint is None
    assert result.model_extra is None


def test_model_dump_is_the_json_the_model_stands_for() -> None:
    """``model_dump()`` / ``model_dump_json()``, as pydantic models (the official SDK's and
    openai's) have: fields not given left out, unknown fields kept, nested models as dicts."""
    import json

    from openrouter_async._convert import parse
    from openrouter_async.models import ChatResult

    body = {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1,
        "model": "openai/gpt-4o",
        "system_fingerprint": None,
        "provider": "OpenAI",  # not in the spec: kept
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hi"},
            }
        ],
    }
    result = parse(json.dumps(body).encode(), ChatResult)
    assert result.model_dump() == body
    assert json.loads(result.model_dump_json()) == body
