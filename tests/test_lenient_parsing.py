"""Be liberal in what you accept from the server: the lenient pass of ``_convert.parse``.

A response body the strict parse refuses is read again leniently (``_lenient.py``): missing or
null required fields read None, a value of an unexpected type reads None and is kept in
``model_extra`` (logged at DEBUG, type only), bad list items are read leniently or kept as they
came, union values go by their tag. ``structure()`` (user input) and construction stay strict.
Real bodies come from the recorded traffic in ``../shared/realtraffic`` (skipped without it).
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import types
from pathlib import Path
from typing import Any

import orjson
import pytest

from openrouter_async._convert import parse, structure, unstructure
from openrouter_async.errors import RequestValidationError, ResponseValidationError
from openrouter_async.models import (
    ChatAssistantMessage,
    ChatResult,
    ChatStreamChunk,
    ChatToolCall,
    ChatUsage,
    ModelsListResponse,
    ReasoningDetailText,
    StreamEvents,
)

ROOT = Path(__file__).resolve().parents[1]
REALTRAFFIC = ROOT.parent / "shared" / "realtraffic"
needs_corpus = pytest.mark.skipif(
    not (REALTRAFFIC / "index.json").exists(),
    reason=f"the recorded OpenRouter traffic is not at {REALTRAFFIC}",
)

RESULT: dict[str, Any] = {
    "id": "gen-1",
    "object": "chat.completion",
    "created": 1735317796,
    "model": "openai/gpt-4o",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant"}}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}
CHUNK: dict[str, Any] = {
    "id": "gen-2",
    "object": "chat.completion.chunk",
    "created": 1735317796,
    "model": "openai/gpt-4o",
    "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
}


def with_message(**message: Any) -> dict[str, Any]:
    body = copy.deepcopy(RESULT)
    body["choices"][0]["message"].update(message)
    return body


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="openrouter_async")
    return caplog


# -- real bodies ----------------------------------------------------------------------------


def corpus(predicate: Any, limit: int = 3) -> list[tuple[str, bytes]]:
    """Up to ``limit`` recorded bodies (file name, bytes) whose index entry and text match."""
    found = []
    for entry in json.loads((REALTRAFFIC / "index.json").read_text()):
        if entry["status"] != 200:
            continue
        raw = (REALTRAFFIC / entry["file"]).read_bytes()
        if predicate(entry, raw):
            found.append((entry["file"], raw))
            if len(found) == limit:
                break
    assert found, "no recorded body matches"
    return found


def sse_data(raw: bytes) -> list[bytes]:
    lines = raw.decode().splitlines()
    return [line[5:].strip().encode() for line in lines if line.startswith("data:")][:-1]


@needs_corpus
def test_recorded_usage_chunks_without_upstream_costs_parse() -> None:
    def usage_without_upstream(entry: dict[str, Any], raw: bytes) -> bool:
        return (
            entry["content_type"].startswith("text/event-stream")
            and entry["path"].endswith("/chat/completions")
            and b'"cost_details"' in raw
            and b"upstream_inference_completions_cost" not in raw
        )

    for name, raw in corpus(usage_without_upstream):
        chunks = [parse(line, ChatStreamChunk) for line in sse_data(raw)]
        usages = [c.usage for c in chunks if c.usage is not None]
        assert usages, name
        details = usages[-1].cost_details
        assert details is not None, name
        assert details.upstream_inference_completions_cost is None, name
        assert usages[-1].total_tokens, name
        with pytest.raises(RequestValidationError):  # the strict parse still says what is off
            structure(orjson.loads(sse_data(raw)[-1]), ChatStreamChunk)


@needs_corpus
def test_recorded_model_catalogues_missing_fields_parse() -> None:
    def catalogue_without(key: bytes) -> Any:
        return lambda entry, raw: entry["path"].endswith("/models") and key not in raw

    for key in (b'"links"', b'"canonical_slug"'):
        for name, raw in corpus(catalogue_without(key), limit=2):
            listed = parse(raw, ModelsListResponse)
            assert listed.data, name
            expected = orjson.loads(raw)["data"]
            assert [m.id for m in listed.data] == [m["id"] for m in expected], name
            first = listed.data[0]
            assert first.links is None or key != b'"links"', name
            assert first.canonical_slug is None or key != b'"canonical_slug"', name
            assert first.pricing is not None and first.pricing.prompt is not None, name


@needs_corpus
def test_a_recorded_tool_call_without_arguments_parses() -> None:
    def call_without_arguments(entry: dict[str, Any], raw: bytes) -> bool:
        if not entry["content_type"].startswith("application/json"):
            return False
        if b'"tool_calls"' not in raw or not entry["path"].endswith("/chat/completions"):
            return False
        body = orjson.loads(raw)
        calls = (body.get("choices") or [{}])[0].get("message", {}).get("tool_calls") or []
        return any("arguments" not in call.get("function", {}) for call in calls)

    for name, raw in corpus(call_without_arguments):
        result = parse(raw, ChatResult)
        assert result.choices and result.choices[0].message, name
        calls = result.choices[0].message.tool_calls
        assert calls and calls[0].function is not None, name
        assert calls[0].function.name, name
        assert calls[0].function.arguments is None, name


# -- the rules, on small bodies -------------------------------------------------------------


def test_a_body_that_matches_the_spec_takes_the_strict_path(
    debug_log: pytest.LogCaptureFixture,
) -> None:
    result = parse(orjson.dumps(RESULT), ChatResult)
    assert result.usage is not None and result.usage.total_tokens == 12
    assert result.system_fingerprint is None  # required and nullable: absent reads None
    assert not debug_log.records  # nothing was read leniently


def test_missing_or_null_required_fields_read_none(debug_log: pytest.LogCaptureFixture) -> None:
    body = {**RESULT, "id": None}
    del body["created"]
    result = parse(orjson.dumps(body), ChatResult)
    assert (result.id, result.created, result.model) == (None, None, "openai/gpt-4o")
    assert result.model_extra is None
    # required fields are always written back (None as null); optional None ones are not
    out = unstructure(result)
    assert out["id"] is None and out["created"] is None
    assert "system_fingerprint" in out and "service_tier" not in out
    assert "first at created" in debug_log.text
    with pytest.raises(RequestValidationError) as info:
        structure(body, ChatResult)
    assert info.value.path == "created"


def test_null_optional_fields_are_accepted_strictly(debug_log: pytest.LogCaptureFixture) -> None:
    chunk = parse(
        orjson.dumps({**CHUNK, "system_fingerprint": None, "usage": None}), ChatStreamChunk
    )
    assert chunk.system_fingerprint is None and chunk.usage is None
    assert not debug_log.records


def test_a_wrong_typed_value_reads_none_and_is_kept_in_model_extra(
    debug_log: pytest.LogCaptureFixture,
) -> None:
    secret = "s3cr3t-value-that-must-not-be-logged"
    body = copy.deepcopy(RESULT)
    body["usage"]["total_tokens"] = secret
    body["choices"][0]["index"] = [1, 2]
    result = parse(orjson.dumps(body), ChatResult)
    assert result.usage is not None
    assert result.usage.total_tokens is None
    assert result.usage.model_extra == {"total_tokens": secret}
    assert result.usage.prompt_tokens == 10
    assert result.choices and result.choices[0].index is None
    assert result.choices[0].model_extra == {"index": [1, 2]}
    # the raw value round-trips: unstructure gives the body back as it came
    assert unstructure(result)["usage"] == body["usage"]
    assert unstructure(result)["choices"][0]["index"] == [1, 2]
    lines = [r.getMessage() for r in debug_log.records if r.name == "openrouter_async"]
    usage_line = next(line for line in lines if "usage.total_tokens" in line)
    assert "ChatUsage.total_tokens" in usage_line
    assert "expected integer, got string" in usage_line
    assert "model_extra" in usage_line
    assert all(secret not in line for line in lines)


def test_list_items_objects_are_read_leniently_others_kept(
    debug_log: pytest.LogCaptureFixture,
) -> None:
    body = copy.deepcopy(RESULT)
    body["choices"] = ["oops", {"finish_reason": "stop", "message": {"content": "x"}}, 7]
    result = parse(orjson.dumps(body), ChatResult)
    assert result.choices is not None
    assert result.choices[0] == "oops" and result.choices[2] == 7  # kept as they came
    second = result.choices[1]
    assert not isinstance(second, str | int)
    assert second.index is None and second.message is not None
    assert second.message.content == "x"
    assert unstructure(result)["choices"][0] == "oops"
    assert "item kept as received" in debug_log.text


def test_a_union_member_is_read_leniently_by_its_tag() -> None:
    details = [{"type": "reasoning.text", "text": 5}, {"type": "reasoning.summary", "summary": "s"}]
    result = parse(with_message(reasoning_details=details), ChatResult)
    assert result.choices and result.choices[0].message
    read = result.choices[0].message.reasoning_details
    assert read is not None
    assert isinstance(read[0], ReasoningDetailText)
    assert read[0].text is None and read[0].model_extra == {"text": 5}
    assert type(read[1]).__name__ == "ReasoningDetailSummary"


def test_an_unknown_tag_in_a_list_is_kept_as_it_came() -> None:
    new_kind = {"type": "reasoning.hologram", "data": {"x": 1}}
    result = parse(with_message(reasoning_details=[new_kind]), ChatResult)
    assert result.choices and result.choices[0].message
    assert result.choices[0].message.reasoning_details == [new_kind]
    sent = unstructure(result.choices[0].message)
    assert sent["reasoning_details"] == [new_kind]


def test_a_tool_call_without_arguments() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather"}}
    result = parse(with_message(content=None, tool_calls=[call]), ChatResult)
    assert result.choices and result.choices[0].message
    calls = result.choices[0].message.tool_calls
    assert calls and calls[0].function and calls[0].function.name == "get_weather"
    assert calls[0].function.arguments is None


def test_top_level_union_goes_by_its_tag_only() -> None:
    event = parse({"type": "response.output_text.delta", "delta": "Hi"}, StreamEvents)
    assert type(event).__name__ == "TextDeltaEvent"
    assert getattr(event, "delta", None) == "Hi"
    with pytest.raises(ResponseValidationError):
        parse({"type": "response.hologram", "delta": "Hi"}, StreamEvents)
    with pytest.raises(ResponseValidationError):
        parse({"delta": "Hi"}, StreamEvents)


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"null", b'"text"', b"12", b"{"])
def test_nothing_usable_is_still_refused(raw: bytes) -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse(raw, ChatResult, status_code=200)
    assert info.value.body == raw.decode()
    with pytest.raises(ResponseValidationError):
        parse(raw, ChatStreamChunk)


def test_construction_and_structure_stay_strict() -> None:
    with pytest.raises(RequestValidationError) as info:
        ChatUsage(prompt_tokens=1, completion_tokens=1, total_tokens="x")  # type: ignore[arg-type]
    assert info.value.path == "total_tokens"
    with pytest.raises(RequestValidationError) as info:  # required, not nullable: no None
        ChatToolCall(id=None, function={"name": "f", "arguments": "{}"})  # type: ignore[arg-type]
    assert info.value.path == "id"
    with pytest.raises(RequestValidationError) as info:
        ChatUsage(prompt_tokens=None, completion_tokens=1, total_tokens=1)
    assert info.value.path == "prompt_tokens"
    # optional fields default to None and None is "not given": not sent
    usage = ChatUsage(prompt_tokens=1, completion_tokens=1, total_tokens=2, cost=None)
    assert usage.cost is None and usage.cost_details is None
    assert unstructure(usage) == {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    assert repr(usage) == "ChatUsage(completion_tokens=1, prompt_tokens=1, total_tokens=2)"
    message = ChatAssistantMessage(content=None, tool_calls=[])
    assert unstructure(message) == {"role": "assistant", "tool_calls": []}
    with pytest.raises(RequestValidationError):
        structure({**RESULT, "usage": {"total_tokens": "x"}}, ChatResult)


# -- the generator's output on synthetic schemas --------------------------------------------

SYNTHETIC: dict[str, Any] = {
    "Holder": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"$ref": "#/components/schemas/Shape"},
            "pet": {"$ref": "#/components/schemas/Pet"},
            "pets": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}},
            "scores": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
    "Alpha": {
        "type": "object",
        "required": ["alpha"],
        "properties": {"alpha": {"type": "string"}, "shared": {"type": "integer"}},
    },
    "Beta": {
        "type": "object",
        "required": ["beta"],
        "properties": {"beta": {"type": "string"}, "shared": {"type": "integer"}},
    },
    "Shape": {
        "anyOf": [{"$ref": "#/components/schemas/Alpha"}, {"$ref": "#/components/schemas/Beta"}]
    },
    "Cat": {
        "type": "object",
        "required": ["type", "lives"],
        "properties": {"type": {"const": "cat"}, "lives": {"type": "integer"}},
    },
    "Dog": {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"const": "dog"}, "good": {"type": "boolean"}},
    },
    "Pet": {
        "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
        "discriminator": {
            "propertyName": "type",
            "mapping": {"cat": "#/components/schemas/Cat", "dog": "#/components/schemas/Dog"},
        },
    },
}


@pytest.fixture(scope="module")
def synthetic() -> Any:
    """A generated module whose classes are all response-style (as if a response held them)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tools.codegen.emit import ModuleEmitter
    from tools.codegen.ir import Builder

    builder = Builder(copy.deepcopy(SYNTHETIC))
    builder.build(["Holder"])
    responsive = frozenset(builder.reachable_classes(["Holder"]))
    assert responsive == {"Holder", "Alpha", "Beta", "Cat", "Dog"}
    source = ModuleEmitter(builder, module_doc="test", response_style=responsive).render()
    name = "openrouter_async.models._synthetic_lenient"
    module = types.ModuleType(name)
    module.__package__ = "openrouter_async.models"
    sys.modules[name] = module
    exec(compile(source, name, "exec"), module.__dict__)
    return module


def test_a_union_without_tag_goes_by_the_greatest_overlap(synthetic: Any) -> None:
    holder = parse({"name": "h", "shape": {"beta": 5, "shared": 1}}, synthetic.Holder)
    assert type(holder.shape) is synthetic.Beta
    assert holder.shape.beta is None and holder.shape.shared == 1
    assert holder.shape.model_extra == {"beta": 5}
    # nothing in common with any alternative: the field reads None, the value is kept
    holder = parse({"name": "h", "shape": {"gamma": 1}}, synthetic.Holder)
    assert holder.shape is None and holder.model_extra == {"shape": {"gamma": 1}}


def test_an_unknown_tag_in_a_field_reads_none_and_is_kept(synthetic: Any) -> None:
    holder = parse({"name": "h", "pet": {"type": "axolotl"}}, synthetic.Holder)
    assert holder.pet is None and holder.model_extra == {"pet": {"type": "axolotl"}}
    assert unstructure(holder) == {"name": "h", "pet": {"type": "axolotl"}}
    holder = parse({"name": "h", "pet": {"type": "cat", "lives": "nine"}}, synthetic.Holder)
    assert type(holder.pet) is synthetic.Cat
    assert holder.pet.lives is None and holder.pet.model_extra == {"lives": "nine"}


def test_lists_and_maps_in_generated_code(synthetic: Any) -> None:
    holder = parse(
        {
            "name": 3,
            "pets": [{"type": "dog", "good": "very"}, {"type": "fish"}, "rex"],
            "scores": {"a": 1, "b": "two"},
        },
        synthetic.Holder,
    )
    assert holder.name is None and holder.model_extra == {"name": 3}
    assert holder.pets is not None
    dog, fish, rex = holder.pets
    assert type(dog) is synthetic.Dog and dog.good is None and dog.model_extra == {"good": "very"}
    assert (fish, rex) == ({"type": "fish"}, "rex")
    assert holder.scores == {"a": 1, "b": "two"}  # a bad map value is kept as it came
    assert unstructure(holder)["pets"] == [
        {"type": "dog", "good": "very"},
        {"type": "fish"},
        "rex",
    ]
    # the generated types say so: T | None everywhere, required ones without a default
    hints = synthetic.Holder.__annotations__
    assert hints["name"] == "str | None" and hints["pets"] == "list[Pet] | None"
    with pytest.raises(TypeError):
        synthetic.Holder()  # name is required
