"""Pydantic-compatible model methods (issue 14, point 7), a documented subset: ``model_dump``
(``mode``, ``include``, ``exclude``, ``by_alias``, ``exclude_unset``, ``exclude_none``),
``model_dump_json(indent=)``, ``model_validate`` / ``model_validate_json``, ``model_copy``,
``model_json_schema``, ``model_fields`` / ``model_fields_set``. On results the emulator really
sent, and on request models; outputs asserted exactly."""

from __future__ import annotations

import ast
import copy
import datetime
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest

import openrouter_async.models as models_package
from openrouter_async import OpenRouter, Session, _convert
from openrouter_async._model import _field_names
from openrouter_async.errors import RequestValidationError
from openrouter_async.models import (
    ChatAssistantMessage,
    ChatRequest,
    ChatResult,
    ChatUsage,
    ObservabilityDatadogDestinationConfig,
)

from .conftest import API_KEY

ROOT = Path(__file__).resolve().parents[1]
MODEL = "openai/gpt-4o-mini"
HELLO = [{"role": "user", "content": "Hello"}]
ANSWER = "Hello Hello Hello Hello"  # the emulator's answer to max_tokens=4

# The parts of the emulator's (realistic) answer that do not change from call to call.
CHOICES = [
    {
        "finish_reason": "stop",
        "index": 0,
        "logprobs": None,
        "message": {"content": ANSWER, "reasoning": None, "refusal": None, "role": "assistant"},
        "native_finish_reason": "stop",  # not in the spec: kept in the choice's model_extra
    }
]
USAGE = {
    "completion_tokens": 4,
    "completion_tokens_details": {"audio_tokens": 0, "reasoning_tokens": 0, "image_tokens": 0},
    "cost": 3.15e-06,
    "cost_details": {
        "upstream_inference_completions_cost": 2.4e-06,
        "upstream_inference_cost": None,
        "upstream_inference_prompt_cost": 7.5e-07,
    },
    "is_byok": False,
    "prompt_tokens": 5,
    "prompt_tokens_details": {
        "audio_tokens": 0,
        "cache_write_tokens": 0,
        "cached_tokens": 0,
        "video_tokens": 0,
    },
    "total_tokens": 9,
}


def full_dump(result: ChatResult) -> dict[str, Any]:
    return {
        "choices": CHOICES,
        "created": result.created,
        "id": result.id,
        "model": MODEL,
        "object": "chat.completion",
        "system_fingerprint": None,
        "usage": USAGE,
        "provider": "OpenAI",  # not in the spec: model_extra
    }


async def a_result(emulator_url: str) -> ChatResult:
    async with Session(api_key=API_KEY, server_url=emulator_url) as session:
        return await session.send(ChatRequest(model=MODEL, messages=HELLO, max_tokens=4))


# -- model_dump ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_default_output_is_unchanged(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    assert isinstance(result.id, str) and result.id.startswith("gen-")
    assert result.model_dump() == full_dump(result)
    assert list(result.model_dump()) == list(full_dump(result))
    assert result.model_dump() == _convert.unstructure(result)
    explicit = result.model_dump(
        mode="python", by_alias=True, exclude_unset=True, exclude_none=False
    )
    assert explicit == full_dump(result)
    assert result.model_dump_json() == _convert.dumps(result).decode()
    assert json.loads(result.model_dump_json()) == full_dump(result)


@pytest.mark.anyio
async def test_exclude_none_drops_nulls_at_every_depth(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    lean_usage = {**USAGE, "cost_details": dict(USAGE["cost_details"])}  # type: ignore[dict-item]
    del lean_usage["cost_details"]["upstream_inference_cost"]
    assert result.model_dump(exclude_none=True) == {
        "choices": [
            {
                "finish_reason": "stop",
                "index": 0,
                "message": {"content": ANSWER, "role": "assistant"},
                "native_finish_reason": "stop",
            }
        ],
        "created": result.created,
        "id": result.id,
        "model": MODEL,
        "object": "chat.completion",
        "usage": lean_usage,
        "provider": "OpenAI",
    }
    # not inside free-form values, as pydantic's: a JSON schema's "default": null stays
    parameters = {"type": "object", "properties": {"x": {"type": "string", "default": None}}}
    request = ChatRequest(
        model=MODEL,
        messages=HELLO,
        temperature=None,
        tools=[{"type": "function", "function": {"name": "f", "parameters": parameters}}],
        model_extra={"dropped": None},
    )
    assert request.model_dump()["temperature"] is None  # sent as null
    assert request.model_dump(exclude_none=True) == {
        "messages": HELLO,
        "model": MODEL,
        "tools": [{"function": {"name": "f", "parameters": parameters}, "type": "function"}],
    }


@pytest.mark.anyio
async def test_include_and_exclude(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    assert result.model_dump(include={"id", "model"}) == {"id": result.id, "model": MODEL}
    assert result.model_dump(include=["provider", "object"]) == {
        "object": "chat.completion",
        "provider": "OpenAI",
    }
    assert result.model_dump(exclude={"choices", "usage", "provider", "created", "id"}) == {
        "model": MODEL,
        "object": "chat.completion",
        "system_fingerprint": None,
    }
    # pydantic's nested form: list items by index or "__all__"
    assert result.model_dump(
        include={"choices": {0: {"message": {"content"}}}, "usage": {"total_tokens": True}}
    ) == {"choices": [{"message": {"content": ANSWER}}], "usage": {"total_tokens": 9}}
    assert result.model_dump(
        include={"choices": {"__all__": {"index", "native_finish_reason"}}}
    ) == {"choices": [{"index": 0, "native_finish_reason": "stop"}]}
    assert result.model_dump(
        exclude={"choices": {"__all__": {"message", "logprobs"}}, "usage": True, "id": False},
        include={"choices", "usage", "id"},
    ) == {
        "choices": [{"finish_reason": "stop", "index": 0, "native_finish_reason": "stop"}],
        "id": result.id,
    }
    assert result.model_dump(include=set()) == {}
    with pytest.raises(TypeError, match="include takes a set of field names"):
        result.model_dump(include="id")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exclude takes a set of field names"):
        result.model_dump(exclude=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode must be 'python' or 'json', got 'xml'"):
        result.model_dump(mode="xml")


def test_by_alias_false_gives_the_python_names() -> None:
    body = {"apiKey": "k-1", "headers": {"X-A": "b"}, "mlApp": "my-app", "site": "x"}
    config = ObservabilityDatadogDestinationConfig.model_validate(body)
    assert config.api_key == "k-1" and config.ml_app == "my-app"
    assert config.model_extra == {"site": "x"}
    assert config.model_dump() == body
    assert config.model_dump(by_alias=False) == {
        "api_key": "k-1",
        "headers": {"X-A": "b"},
        "ml_app": "my-app",
        "site": "x",  # a model_extra key has no other name
    }
    assert json.loads(config.model_dump_json(by_alias=False, exclude={"headers"})) == {
        "api_key": "k-1",
        "ml_app": "my-app",
        "site": "x",
    }
    # include / exclude take the Python name (pydantic's) or the JSON name
    assert config.model_dump(include={"api_key"}) == {"apiKey": "k-1"}
    assert config.model_dump(include={"mlApp"}, by_alias=False) == {"ml_app": "my-app"}
    assert config.model_dump(exclude={"api_key", "mlApp", "headers"}) == {"site": "x"}
    assert config.model_dump(exclude_unset=False, by_alias=False) == {
        "api_key": "k-1",
        "headers": {"X-A": "b"},
        "ml_app": "my-app",
        "url": None,
        "site": "x",
    }
    field = ObservabilityDatadogDestinationConfig.model_fields["api_key"]
    assert (field.name, field.alias, field.is_required()) == ("api_key", "apiKey", True)
    assert config.model_copy(update={"apiKey": "k-2"}).model_dump()["apiKey"] == "k-2"


@pytest.mark.anyio
async def test_exclude_unset_false_writes_every_field(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    everything = result.model_dump(exclude_unset=False)
    assert list(everything) == [
        "choices",
        "created",
        "id",
        "model",
        "object",
        "openrouter_metadata",
        "service_tier",
        "system_fingerprint",
        "usage",
        "provider",
    ]
    assert everything["openrouter_metadata"] is None and everything["service_tier"] is None
    assert everything["choices"][0]["message"] == {
        "audio": None,
        "content": ANSWER,
        "images": None,
        "model": None,
        "name": None,
        "reasoning": None,
        "reasoning_details": None,
        "refusal": None,
        "role": "assistant",
        "tool_calls": None,
    }
    request = ChatRequest(model=MODEL, messages=HELLO)
    assert request.model_dump() == {"messages": HELLO, "model": MODEL}
    dumped = request.model_dump(exclude_unset=False)
    assert list(dumped) == [name for name, _ in _field_names(ChatRequest)]
    assert dumped["temperature"] is None
    assert dumped["messages"] == [{"content": "Hello", "name": None, "role": "user"}]  # nested too
    assert sum(value is not None for value in dumped.values()) == 2


def test_mode_json_makes_every_value_json() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    request = ChatRequest(
        model=MODEL, messages=HELLO, model_extra={"when": when, "tags": ("a", "b")}
    )
    python = request.model_dump()
    assert python["when"] is when and python["tags"] == ("a", "b")
    assert request.model_dump(mode="json") == {
        "messages": HELLO,
        "model": MODEL,
        "when": "2026-01-02T03:04:05+00:00",
        "tags": ["a", "b"],
    }
    assert request.model_dump(mode="json", include={"when"}) == {
        "when": "2026-01-02T03:04:05+00:00"
    }
    assert json.loads(request.model_dump_json(indent=3))["when"] == "2026-01-02T03:04:05+00:00"


# -- model_dump_json ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_dump_json_indent(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    compact = result.model_dump_json(include={"id", "model"})
    assert compact == f'{{"id":"{result.id}","model":"{MODEL}"}}'
    assert result.model_dump_json(indent=2, include={"id", "choices"}) == (
        "{\n"
        '  "choices": [\n'
        "    {\n"
        '      "finish_reason": "stop",\n'
        '      "index": 0,\n'
        '      "logprobs": null,\n'
        '      "message": {\n'
        f'        "content": "{ANSWER}",\n'
        '        "reasoning": null,\n'
        '        "refusal": null,\n'
        '        "role": "assistant"\n'
        "      },\n"
        '      "native_finish_reason": "stop"\n'
        "    }\n"
        "  ],\n"
        f'  "id": "{result.id}"\n'
        "}"
    )
    four = result.model_dump_json(indent=4, exclude_none=True, include={"id", "usage"})
    assert four == json.dumps(
        {"id": result.id, "usage": json.loads(result.model_dump_json(exclude_none=True))["usage"]},
        indent=4,
    )
    assert four.startswith('{\n    "id": ')
    assert json.loads(result.model_dump_json(indent=2)) == full_dump(result)
    message = ChatAssistantMessage(content="héllo ✓")
    assert message.model_dump_json(indent=1) == '{\n "content": "héllo ✓",\n "role": "assistant"\n}'


# -- model_validate -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_validate_round_trips_with_extras(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    again = ChatResult.model_validate(result.model_dump())
    assert again == result and again.model_dump() == full_dump(result)
    assert again.model_extra == {"provider": "OpenAI"}
    assert again.choices is not None and again.choices[0].model_extra == {
        "native_finish_reason": "stop"
    }
    assert again.usage is not None and again.usage.completion_tokens_details is not None
    assert again.usage.completion_tokens_details.model_extra == {"image_tokens": 0}
    from_json = ChatResult.model_validate_json(result.model_dump_json(indent=2))
    assert from_json == result and from_json.model_dump() == full_dump(result)
    assert ChatResult.model_validate_json(result.model_dump_json().encode()) == result
    assert ChatResult.model_validate(result) is result  # an instance passes, as pydantic's


@pytest.mark.anyio
async def test_validate_reads_as_leniently_as_a_response(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    data = {**result.model_dump(), "created": "yesterday", "brand_new": {"x": 1}}
    read = ChatResult.model_validate(data)
    assert read.created is None  # an off-type value: the field reads None ...
    assert read.model_extra == {"created": "yesterday", "provider": "OpenAI", "brand_new": {"x": 1}}
    assert read.model_dump() == data  # ... and it is kept, so it dumps back as it came
    assert ChatResult.model_validate(read.model_dump()) == read
    with pytest.raises(RequestValidationError) as caught:
        ChatResult.model_validate(data, strict=True)
    assert caught.value.path == "created"
    assert str(caught.value) == "created: expected integer, got string 'yesterday'"
    with pytest.raises(RequestValidationError, match=r"^invalid JSON: "):
        ChatResult.model_validate_json("{not json")
    with pytest.raises(RequestValidationError, match=r"^expected object, got array$"):
        ChatResult.model_validate_json("[1, 2]")
    with pytest.raises(RequestValidationError, match="expected object, got array"):
        ChatResult.model_validate([1, 2])
    assert isinstance(caught.value, ValueError)  # as pydantic's ValidationError


def test_validate_requests_strictly() -> None:
    request = ChatRequest(model=MODEL, messages=HELLO, temperature=0.5, model_extra={"x": 1})
    assert ChatRequest.model_validate(request.model_dump()) == request
    assert ChatRequest.model_validate_json(request.model_dump_json()) == request
    with pytest.raises(RequestValidationError) as caught:
        ChatRequest.model_validate({"model": MODEL, "messages": [{"role": "wizard"}]})
    assert caught.value.path == "messages[0].role"
    with pytest.raises(RequestValidationError) as caught:
        ChatRequest.model_validate({"messages": HELLO, "temperature": "hot"})
    assert str(caught.value) == "temperature: expected number, got string 'hot'"


# -- model_copy, copy, pickle -------------------------------------------------------------


@pytest.mark.anyio
async def test_copy_updates_and_stays_frozen(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    changed = result.model_copy(update={"id": "gen-other", "note": "mine"})
    assert changed.id == "gen-other" and result.id != "gen-other"
    assert changed.model_dump() == {**full_dump(result), "id": "gen-other", "note": "mine"}
    assert result.model_dump() == full_dump(result)  # the original is untouched
    assert changed.model_extra == {"provider": "OpenAI", "note": "mine"}  # as extra="allow"
    assert result.model_extra == {"provider": "OpenAI"}
    assert changed.choices is not None and result.choices is not None
    assert changed.choices[0] is result.choices[0], "a shallow copy shares nested models"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        changed.id = "x"  # type: ignore[misc]
    deep = result.model_copy(deep=True)
    assert deep == result and deep.model_dump() == full_dump(result)
    assert deep.choices is not None and deep.choices[0] is not result.choices[0]
    # update values are checked and converted as the constructor does (pydantic's are not)
    usage = result.model_copy(
        update={"usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    ).usage
    assert isinstance(usage, ChatUsage) and usage.total_tokens == 3
    with pytest.raises(RequestValidationError) as caught:
        result.model_copy(update={"created": "today"})
    assert str(caught.value) == "created: expected integer, got string 'today'"
    assert result.model_copy(update={"model_extra": None}).model_extra is None


@pytest.mark.anyio
async def test_copy_keeps_what_was_given_as_null(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    assert result.choices is not None and result.choices[0].message is not None
    message = result.choices[0].message
    dumped = {"content": ANSWER, "reasoning": None, "refusal": None, "role": "assistant"}
    assert message.model_dump() == dumped
    assert message.model_copy().model_dump() == dumped
    assert message.model_copy(update={"content": "Bye"}).model_dump() == {
        **dumped,
        "content": "Bye",
    }
    # a field updated to None is as given by keyword: not sent (a nullable request-only one is)
    assert message.model_copy(update={"refusal": None}).model_dump() == {
        "content": ANSWER,
        "reasoning": None,
        "role": "assistant",
    }
    assert copy.copy(message).model_dump() == dumped
    assert copy.deepcopy(message).model_dump() == dumped
    assert pickle.loads(pickle.dumps(message)).model_dump() == dumped
    assert pickle.loads(pickle.dumps(result)).model_dump() == full_dump(result)
    # a leniently read result copies too (attrs.evolve would run the constructor's checks)
    odd = ChatResult.model_validate({**result.model_dump(), "created": "yesterday"})
    assert odd.model_copy(update={"id": "x"}).model_dump()["created"] == "yesterday"
    fixed = odd.model_copy(update={"created": 5})  # replaces the value kept for it
    assert fixed.created == 5 and fixed.model_extra == {"provider": "OpenAI"}


@pytest.mark.anyio
async def test_a_copied_request_is_sent(emulator_url: str, anyio_backend: str) -> None:
    request = ChatRequest(model=MODEL, messages=HELLO, max_tokens=4)
    shorter = request.model_copy(update={"max_tokens": 2})
    assert shorter.model_dump() == {"max_tokens": 2, "messages": HELLO, "model": MODEL}
    assert request.max_tokens == 4
    async with Session(api_key=API_KEY, server_url=emulator_url) as session:
        result = await session.send(shorter)
    assert result.choices and result.choices[0].message
    assert result.choices[0].message.content == "Hello Hello"
    with pytest.raises(RequestValidationError) as caught:
        request.model_copy(update={"messages": [{"role": "wizard", "content": "x"}]})
    assert caught.value.path.startswith("messages[0]")


# -- model_json_schema, model_fields --------------------------------------------------------


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if "$ref" in value else set()
        for item in value.values():
            found |= _refs(item)
        return found
    if isinstance(value, list):
        return set().union(*(_refs(item) for item in value)) if value else set()
    return set()


@pytest.mark.anyio
async def test_json_schema_of_a_result(emulator_url: str) -> None:
    schema = ChatResult.model_json_schema()
    assert schema["title"] == "ChatResult" and schema["type"] == "object"
    assert schema["description"] == "Chat completion response"
    assert schema["required"] == ["choices", "created", "id", "model", "system_fingerprint"]
    assert list(schema["properties"]) == [name for name, _ in _field_names(ChatResult)]
    assert schema["additionalProperties"] is True
    assert schema["properties"]["choices"] == {
        "anyOf": [{"type": "array", "items": {"$ref": "#/$defs/ChatChoice"}}, {"type": "null"}]
    }
    assert schema["properties"]["object"] == {
        "anyOf": [{"const": "chat.completion", "type": "string"}, {"type": "null"}],
        "default": "chat.completion",
    }
    assert schema["properties"]["service_tier"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    assert schema["$defs"]["ChatChoice"]["properties"]["finish_reason"] == {
        "anyOf": [
            {"enum": ["tool_calls", "stop", "length", "content_filter", "error"], "type": "string"},
            {"type": "string"},  # enums are open
            {"type": "null"},
        ]
    }
    assert {ref.rsplit("/", 1)[1] for ref in _refs(schema)} == set(schema["$defs"])
    json.dumps(schema)  # plain JSON
    jsonschema.Draft202012Validator.check_schema(schema)
    result = await a_result(emulator_url)
    jsonschema.validate(result.model_dump(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**result.model_dump(), "created": "yesterday"}, schema)
    custom = ChatResult.model_json_schema(ref_template="#/components/schemas/{model}")
    assert custom["properties"]["usage"]["anyOf"][0] == {"$ref": "#/components/schemas/ChatUsage"}


def test_json_schema_of_a_request() -> None:
    schema = ChatRequest.model_json_schema()
    assert schema["required"] == ["messages"]
    assert schema["properties"]["temperature"] == {"anyOf": [{"type": "number"}, {"type": "null"}]}
    assert schema["properties"]["messages"] == {
        "type": "array",
        "items": {
            "anyOf": [
                {"$ref": "#/$defs/ChatSystemMessage"},
                {"$ref": "#/$defs/ChatUserMessage"},
                {"$ref": "#/$defs/ChatDeveloperMessage"},
                {"$ref": "#/$defs/ChatAssistantMessage"},
                {"$ref": "#/$defs/ChatToolMessage"},
            ]
        },
    }
    assert schema["$defs"]["ChatUserMessage"]["properties"]["role"] == {
        "const": "user",
        "type": "string",
        "default": "user",
    }
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(ChatRequest(model=MODEL, messages=HELLO, max_tokens=4).model_dump(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"messages": HELLO, "temperature": "hot"}, schema)
    datadog = ObservabilityDatadogDestinationConfig.model_json_schema()
    assert list(datadog["properties"]) == ["apiKey", "headers", "mlApp", "url"]
    assert datadog["properties"]["headers"] == {
        "anyOf": [{"type": "object", "additionalProperties": {"type": "string"}}, {"type": "null"}],
        "default": None,
    }
    by_name = ObservabilityDatadogDestinationConfig.model_json_schema(by_alias=False)
    assert list(by_name["properties"]) == ["api_key", "headers", "ml_app", "url"]
    assert by_name["required"] == ["api_key", "ml_app"]


@pytest.mark.anyio
async def test_model_fields_and_fields_set(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    fields = ChatResult.model_fields
    assert list(fields) == [name for name, _ in _field_names(ChatResult)]
    assert fields["choices"].is_required() and not fields["usage"].is_required()
    assert fields["usage"].default is None and fields["object"].default == "chat.completion"
    assert fields["usage"].annotation == ChatUsage | None
    assert result.model_fields is fields  # on an instance too
    assert result.model_fields_set == {
        "choices",
        "created",
        "id",
        "model",
        "object",
        "system_fingerprint",
        "usage",
        "provider",
    }
    request = ChatRequest(model=MODEL, messages=HELLO, model_extra={"x": 1})
    assert request.model_fields_set == {"model", "messages", "x"}
    assert ChatRequest.model_fields["temperature"].is_required() is False


def test_on_the_sync_facade(emulator_url: str) -> None:
    with OpenRouter(api_key=API_KEY, server_url=emulator_url) as client:
        result = client.chat.send(model=MODEL, messages=HELLO, max_tokens=4)
    assert result.model_dump() == full_dump(result)
    assert ChatResult.model_validate_json(result.model_dump_json(indent=2)) == result
    assert result.model_dump(mode="json", exclude_none=True, include={"id", "model"}) == {
        "id": result.id,
        "model": MODEL,
    }


# -- the JSON names, for every generated class ------------------------------------------


def _json_names_in_source() -> dict[tuple[str, str], dict[str, str]]:
    """(module, class) -> {Python name: JSON name} from the generated source: a field whose
    JSON name differs says so in its docstring (``JSON name: ``apiKey``.``)."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for path in sorted((ROOT / "src" / "openrouter_async" / "models").glob("_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = f"openrouter_async.models.{path.stem}"
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            names: dict[str, str] = {}
            body = node.body
            for index, item in enumerate(body):
                if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                    continue
                name = item.target.id
                wire = name
                following = body[index + 1] if index + 1 < len(body) else None
                if (
                    isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)
                    and "JSON name: ``" in following.value.value
                ):
                    wire = following.value.value.split("JSON name: ``", 1)[1].split("``", 1)[0]
                if name != "model_extra":
                    names[name] = wire
            found[(module, node.name)] = names
    return found


def test_json_names_of_every_generated_class() -> None:
    """``_model._field_names`` reads the JSON names from the generated unstructure code: it
    must agree, for every class, with the generated docstrings, with the lenient-parse tables
    (response-style classes) and with the generator's naming rule."""
    sys.path.insert(0, str(ROOT))
    try:
        from tools.codegen.ir import snake
    finally:
        sys.path.remove(str(ROOT))
    from openrouter_async._lenient import _tables

    for name in models_package.__all__:
        getattr(models_package, name)
    source = _json_names_in_source()
    tables = _tables()
    modules = {module for module, _ in source}
    # (other tests register classes of synthetic modules: the generated ones only)
    classes = [cls for cls in _convert._UNSTRUCTURE if cls.__module__ in modules]
    assert len(classes) > 700
    differing = 0
    for cls in classes:
        names = _field_names(cls)
        assert dict(names) == source[(cls.__module__, cls.__name__)], cls.__name__
        for python, wire in names:
            if python != wire:
                differing += 1
                assert snake(wire).rstrip("_") == python.rstrip("_"), (cls.__name__, wire)
        table = tables.get(cls)
        if table is not None:
            assert [(entry[1].__self__.__name__, entry[0]) for entry in table] == list(names)
    assert differing >= 80  # apiKey, mlApp, _shape, 01ai, aion-labs...
