"""Structured outputs into the caller's own classes: the JSON schema of a Python type, a
JSON document read back into it, a partial document, and ``chat.parse`` / ``stream_parse``
end to end against the emulator (which answers a ``json_schema`` response format with a
document valid against the schema) — on the Session (asyncio and trio) and the facade."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import enum
import itertools
import json
import pickle
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, Optional, TypedDict

import attrs
import jsonschema
import pydantic
import pytest
from typing_extensions import NotRequired, Required

from openrouter_async import OpenRouter, RetryConfig, Session
from openrouter_async._json_schema import SchemaMismatch, partial_json, schema_for, value_of
from openrouter_async._parse import (
    AsyncParsedStream,
    ContentDeltaEvent,
    ContentDoneEvent,
    ParsedChatMessage,
    ParsedChatResult,
    ParsedChoice,
    RefusalDoneEvent,
    StructuredOutputError,
    _StreamState,
    parse_result,
)
from openrouter_async.emulator._instances import example_value
from openrouter_async.errors import RequestValidationError, ResponseValidationError
from openrouter_async.models import ChatResult, ChatStreamChunk, ProviderPreferences

from ._loopback_server import LoopbackServer, running_server
from .conftest import EmulatorProbe
from .test_session import wait_for_idle_streams

ASK = [{"role": "user", "content": "Tell me about a city"}]
NO_RETRY = RetryConfig.disabled()


# -- the user's classes (module level: their annotations name each other) -------------------


class Size(enum.Enum):
    """How big."""

    SMALL = "small"
    LARGE = "large"


@attrs.frozen
class Address:
    """Where someone lives."""

    city: str
    zip_code: str | None = None


@attrs.define
class Person:
    """A person."""

    name: str = attrs.field(metadata={"description": "Full name"})
    age: int
    """Years since birth."""
    tags: list[str] = attrs.Factory(list)
    address: Address | None = None
    size: Size = Size.SMALL
    kind: Literal["human", "robot"] = "human"
    friends: list[Person] = attrs.Factory(list)


@attrs.frozen
class Checked:
    score: int = attrs.field(validator=attrs.validators.ge(0))


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0
    label: str = dataclasses.field(default="origin", metadata={"description": "A name"})


@dataclasses.dataclass
class Shape:
    """A polygon."""

    points: list[Point]
    closed: bool


class Movie(TypedDict):
    """A film."""

    title: str
    year: int
    rating: NotRequired[float]


class Partial(TypedDict, total=False):
    a: Required[int]
    b: str


class Pet(pydantic.BaseModel):
    """A pet."""

    name: str = pydantic.Field(description="What it answers to")
    legs: int = 4
    owner: Optional[Owner] = None  # noqa: UP045 (pydantic reads the annotation itself)


class Owner(pydantic.BaseModel):
    name: str


Pet.model_rebuild()


@attrs.frozen
class Everything:
    when: datetime.datetime
    day: datetime.date
    key: uuid.UUID
    pair: tuple[int, str]
    many: tuple[int, ...]
    unique: frozenset[str]
    scores: dict[str, float]
    seq: Sequence[int]
    mapping: Mapping[str, Point]
    either: int | str
    note: Annotated[str, "A short note"]
    pet: Pet
    movie: Movie


# -- schema_for --------------------------------------------------------------------------------


def test_an_attrs_class_has_a_strict_schema() -> None:
    schema = schema_for(Person, strict=True)
    assert schema["type"] == "object"
    assert schema["description"] == "A person."
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name", "age", "tags", "address", "size", "kind", "friends"]
    props = schema["properties"]
    assert props["name"] == {"type": "string", "description": "Full name"}
    assert props["age"] == {"type": "integer", "description": "Years since birth."}
    # a field with a default is required too, and may be null (null means "the default")
    assert props["tags"] == {"anyOf": [{"type": "array", "items": {"type": "string"}}, NULL]}
    assert props["address"] == {"anyOf": [{"$ref": "#/$defs/Address"}, NULL]}
    assert props["size"]["anyOf"][0] == {
        "description": "How big.",
        "type": "string",
        "enum": ["small", "large"],
    }
    assert props["kind"]["anyOf"][0] == {"type": "string", "enum": ["human", "robot"]}
    assert props["friends"]["anyOf"][0] == {"type": "array", "items": {"$ref": "#/$defs/Person"}}
    address = schema["$defs"]["Address"]
    assert address["description"] == "Where someone lives."
    assert address["required"] == ["city", "zip_code"]
    assert address["additionalProperties"] is False
    # it refers to itself: the root is in $defs too
    assert schema["$defs"]["Person"]["properties"] == props
    assert "default" not in json.dumps(schema)


NULL = {"type": "null"}


def test_without_strict_fields_with_defaults_are_optional_and_carry_the_default() -> None:
    schema = schema_for(Person, strict=False)
    assert schema["required"] == ["name", "age"]
    props = schema["properties"]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}  # a factory
    assert props["size"]["default"] == "small"
    assert props["kind"]["default"] == "human"
    assert props["address"]["default"] is None
    assert schema_for(Point, strict=False)["properties"]["label"] == {
        "type": "string",
        "default": "origin",
        "description": "A name",
    }


def test_dataclasses_and_typed_dicts() -> None:
    shape = schema_for(Shape, strict=True)
    assert shape["description"] == "A polygon."
    assert shape["properties"]["points"] == {"type": "array", "items": {"$ref": "#/$defs/Point"}}
    point = shape["$defs"]["Point"]
    assert point["required"] == ["x", "y", "label"]
    assert "description" not in point  # dataclasses' generated docstring is not a description
    movie = schema_for(Movie, strict=True)
    assert movie["description"] == "A film."
    assert movie["required"] == ["title", "year", "rating"]
    assert movie["properties"]["rating"] == {"anyOf": [{"type": "number"}, NULL]}
    assert schema_for(Movie, strict=False)["required"] == ["title", "year"]
    assert schema_for(Partial, strict=False)["required"] == ["a"]


def test_a_pydantic_model_uses_its_own_schema_made_strict() -> None:
    strict = schema_for(Pet, strict=True)
    assert strict["description"] == "A pet."
    assert strict["required"] == ["name", "legs", "owner"]
    assert strict["additionalProperties"] is False
    assert strict["properties"]["name"]["description"] == "What it answers to"
    assert strict["properties"]["legs"]["anyOf"] == [{"type": "integer"}, NULL]
    assert strict["properties"]["owner"] == {"anyOf": [{"$ref": "#/$defs/Owner"}, NULL]}
    assert strict["$defs"]["Owner"]["additionalProperties"] is False
    assert "default" not in json.dumps(strict)
    plain = schema_for(Pet, strict=False)
    assert plain == Pet.model_json_schema()


def test_more_types() -> None:
    schema = schema_for(Everything, strict=True)
    props = schema["properties"]
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["day"] == {"type": "string", "format": "date"}
    assert props["key"] == {"type": "string", "format": "uuid"}
    assert props["pair"] == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    }
    assert props["many"] == {"type": "array", "items": {"type": "integer"}}
    assert props["unique"] == {"type": "array", "items": {"type": "string"}}
    assert props["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["seq"] == {"type": "array", "items": {"type": "integer"}}
    assert props["mapping"] == {"type": "object", "additionalProperties": {"$ref": "#/$defs/Point"}}
    assert props["either"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["note"] == {"type": "string", "description": "A short note"}
    assert props["pet"] == {"$ref": "#/$defs/Pet"}
    assert set(schema["$defs"]) == {"Point", "Pet", "Owner", "Movie"}
    assert schema_for(list[int], strict=True) == {"type": "array", "items": {"type": "integer"}}
    assert schema_for(Optional[str], strict=True) == {"anyOf": [{"type": "string"}, NULL]}  # noqa: UP045


@pytest.mark.parametrize("tp", [bytes, complex, dict[int, str], "Person"])
def test_a_type_with_no_json_form_is_a_type_error(tp: Any) -> None:
    with pytest.raises(TypeError):
        schema_for(tp, strict=True)


@pytest.mark.parametrize("cls", [Person, Point, Shape, Movie, Partial, Pet, Everything])
@pytest.mark.parametrize("strict", [True, False])
def test_every_schema_is_valid_and_its_instances_read_back(cls: Any, strict: bool) -> None:
    """The schema is valid JSON schema; the emulator's instance of it is valid against it
    and reads back into the class."""
    schema = schema_for(cls, strict=strict)
    jsonschema.Draft202012Validator.check_schema(schema)
    instance = example_value(schema, all_properties=True)
    jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)
    value = value_of(cls, instance)
    if isinstance(cls, type) and not issubclass(cls, dict):
        assert isinstance(value, cls)


def _strict_rules(schema: Any) -> Iterator[str]:
    """Where a schema breaks OpenAI's strict structured-output rules."""
    if isinstance(schema, dict):
        if "properties" in schema:
            if schema.get("additionalProperties") is not False:
                yield "additionalProperties"
            if schema.get("required") != list(schema["properties"]):
                yield "required"
        if "$ref" in schema and len(schema) > 1:
            yield "$ref with siblings"
        for key in ("default", "oneOf"):
            if key in schema:
                yield key
        for value in schema.values():
            yield from _strict_rules(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _strict_rules(item)


@pytest.mark.parametrize("cls", [Person, Point, Shape, Movie, Partial, Pet, Everything])
def test_strict_schemas_follow_the_strict_rules(cls: Any) -> None:
    assert list(_strict_rules(schema_for(cls, strict=True))) == []


# -- value_of ------------------------------------------------------------------------------


def test_a_document_is_read_into_the_class_null_meaning_the_default() -> None:
    person = value_of(
        Person,
        {
            "name": "Ada",
            "age": 36,
            "tags": None,
            "address": {"city": "London", "zip_code": None},
            "size": "large",
            "kind": None,
            "friends": [{"name": "Charles", "age": 45, "unknown": 1}],
        },
    )
    assert person == Person(
        name="Ada",
        age=36,
        address=Address(city="London"),
        size=Size.LARGE,
        friends=[Person(name="Charles", age=45)],
    )
    assert value_of(Movie, {"title": "M", "year": 1931, "rating": None}) == {
        "title": "M",
        "year": 1931,
    }
    assert value_of(Pet, {"name": "Rex", "legs": None, "owner": {"name": "Ada"}}) == Pet(
        name="Rex", owner=Owner(name="Ada")
    )
    every = value_of(
        Everything,
        {
            "when": "2024-01-01T10:00:00Z",
            "day": "2024-01-02",
            "key": "00000000-0000-4000-8000-000000000000",
            "pair": [1, "a"],
            "many": [1, 2.0],
            "unique": ["a", "a"],
            "scores": {"x": 1},
            "seq": [],
            "mapping": {"p": {"x": 1, "y": None, "label": "p"}},
            "either": "s",
            "note": "n",
            "pet": {"name": "Rex"},
            "movie": {"title": "M", "year": 1931},
        },
    )
    assert every.when == datetime.datetime(2024, 1, 1, 10, tzinfo=datetime.timezone.utc)
    assert every.day == datetime.date(2024, 1, 2)
    assert every.pair == (1, "a") and every.many == (1, 2) and every.unique == frozenset("a")
    assert every.scores == {"x": 1.0} and isinstance(every.scores["x"], float)
    assert every.mapping == {"p": Point(x=1.0, y=0.0, label="p")}


@pytest.mark.parametrize(
    ("cls", "data", "path", "reason"),
    [
        (Person, {"name": 1, "age": 2}, "name", "expected a string, got number 1"),
        (Person, {"age": 2}, "name", "missing"),
        (Person, {"name": "a", "age": True}, "age", "expected an integer, got boolean True"),
        (Person, {"name": "a", "age": 1.5}, "age", "expected an integer, got number 1.5"),
        (Person, {"name": "a", "age": 1, "size": "huge"}, "size", "expected one of 'small'"),
        (Person, {"name": "a", "age": 1, "friends": [{"name": "b"}]}, "friends[0].age", "missing"),
        (Person, ["not", "an", "object"], "", "expected an object (Person), got array"),
        (Shape, {"points": [{"x": "1"}], "closed": True}, "points[0].x", "expected a number"),
        (Movie, {"title": "M"}, "year", "missing"),
        (Checked, {"score": -1}, "", "Checked refused it"),
        (Pet, {"name": 3}, "name", "Input should be a valid string"),
        (Everything, {"when": "yesterday"}, "when", "not a datetime"),
    ],
)
def test_a_document_that_does_not_fit_names_where(
    cls: Any, data: Any, path: str, reason: str
) -> None:
    with pytest.raises(SchemaMismatch) as caught:
        value_of(cls, data)
    assert caught.value.path == path
    assert caught.value.reason.startswith(reason), caught.value.reason


# -- partial_json ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("", None),
        ("  ", None),
        ("{", {}),
        ('{"na', {}),
        ('{"name"', {}),
        ('{"name": ', {}),
        ('{"name": "Ad', {"name": "Ad"}),
        ('{"name": "A\\', {"name": "A"}),
        ('{"name": "A\\u00', {"name": "A"}),
        ('{"name": "A\\u00e9', {"name": "Aé"}),
        ('{"name": "Ada", "age": 3', {"name": "Ada", "age": 3}),
        ('{"age": -', {}),
        ('{"age": 1.', {"age": 1}),
        ('{"age": 1e', {"age": 1}),
        ('{"ok": tr', {}),
        ('{"ok": true', {"ok": True}),
        ('{"ok": null, ', {"ok": None}),
        ('{"a": [1, 2', {"a": [1, 2]}),
        ('{"a": [{"b": "c"}, {"d', {"a": [{"b": "c"}, {}]}),
        ('{"a": {"b": {}}}', {"a": {"b": {}}}),
        ('{"a": 1} trailing', {"a": 1}),
        ('"str', "str"),
        ("[", []),
        ("12", 12),
        ("not json", None),
        ("}", None),
    ],
)
def test_a_cut_document_reads_as_far_as_it_goes(text: str, value: Any) -> None:
    assert partial_json(text) == value


def test_every_prefix_of_a_document_reads_as_a_growing_value() -> None:
    document = json.dumps(
        {"name": 'Ada "L"\n', "n": [1, -2.5e3, True, None, {"x": []}], "o": {"é": "ü"}}
    )
    for end in range(len(document) + 1):
        partial_json(document[:end])  # never raises
    assert partial_json(document) == json.loads(document)


# -- parse_result and the stream state on hand-made bodies (refusals, content parts) ---------


def _result(message: dict[str, Any], finish_reason: str = "stop") -> ChatResult:
    return ChatResult.model_validate(
        {
            "id": "gen-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m/x",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        }
    )


def test_a_refusal_leaves_parsed_none() -> None:
    result = parse_result(
        _result({"role": "assistant", "content": None, "refusal": "I can't help with that"}),
        Person,
    )
    message = result.choices[0].message
    assert message.refusal == "I can't help with that"
    assert message.parsed is None


def test_no_content_leaves_parsed_none_and_content_parts_are_read() -> None:
    empty = parse_result(_result({"role": "assistant", "content": None}), Address)
    assert empty.choices[0].message.parsed is None
    parts = _result(
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": '{"city": '},
                {"type": "text", "text": '"Paris", "zip_code": null}'},
            ],
        }
    )
    assert parse_result(parts, Address).choices[0].message.parsed == Address(city="Paris")
    fenced = _result({"role": "assistant", "content": '```json\n{"city": "Rome"}\n```'})
    assert parse_result(fenced, Address).choices[0].message.parsed == Address(city="Rome")


def test_the_parsed_result_is_the_chat_result() -> None:
    plain = _result({"role": "assistant", "content": '{"city": "Oslo", "zip_code": "0150"}'})
    parsed = parse_result(plain, Address)
    assert isinstance(parsed, ParsedChatResult) and isinstance(parsed, ChatResult)
    assert isinstance(parsed.choices[0], ParsedChoice)
    assert isinstance(parsed.choices[0].message, ParsedChatMessage)
    assert parsed.model_dump() == plain.model_dump()
    assert parsed.model_dump_json() == plain.model_dump_json()
    assert parsed.choices[0].message.parsed == Address(city="Oslo", zip_code="0150")
    assert "parsed=Address(city='Oslo', zip_code='0150')" in repr(parsed)
    assert parsed == parse_result(plain, Address)
    assert parsed.id == "gen-1" and parsed.model == "m/x"
    for copied in (copy.copy(parsed), copy.deepcopy(parsed), pickle.loads(pickle.dumps(parsed))):
        assert copied == parsed
        assert copied.choices[0].message.parsed == Address(city="Oslo", zip_code="0150")


def test_a_stream_with_a_refusal_ends_with_refusal_done() -> None:
    state = _StreamState(Person)
    events: list[Any] = []
    for piece in ("I can't", " do that"):
        events += state.events(_chunk({"refusal": piece}))
    events += state.events(_chunk({}, finish_reason="stop"))
    assert [e.type for e in events if e.type != "chunk"] == [
        "refusal.delta",
        "refusal.delta",
        "refusal.done",
    ]
    done = events[-1]
    assert isinstance(done, RefusalDoneEvent) and done.refusal == "I can't do that"
    final = state.final()
    assert final.choices[0].message.refusal == "I can't do that"
    assert final.choices[0].message.parsed is None


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> ChatStreamChunk:
    return ChatStreamChunk.model_validate(
        {
            "id": "gen-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m/x",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
    )


# -- chat.parse on the Session, against the emulator ---------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (Address, Address(city="Paris", zip_code="example zip_code")),
        (Shape, Shape(points=[Point(x=1.5, y=1.5, label="example label")], closed=True)),
        (Pet, Pet(name="Ada Lovelace", legs=1, owner=Owner(name="Ada Lovelace"))),
        (Movie, {"title": "example title", "year": 1, "rating": 1.5}),
    ],
    ids=["attrs", "dataclass", "pydantic", "typeddict"],
)
async def test_parse_into_each_kind_of_class(
    emulator_url: str, api_key: str, cls: Any, expected: Any
) -> None:
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        result = await session.chat.parse(model="openai/gpt-4o", messages=ASK, response_format=cls)
    assert isinstance(result, ChatResult)
    message = result.choices[0].message
    assert message.parsed == expected
    assert json.loads(str(message.content)) == json.loads(str(message.content))  # raw text kept
    assert result.choices[0].finish_reason == "stop"


@pytest.fixture(scope="module")
def echo_server() -> Iterator[LoopbackServer]:
    with running_server() as server:
        yield server


def _sent(result: ChatResult) -> dict[str, Any]:
    """The request body the loopback ``/echo`` route saw (kept in the result's model_extra:
    its answer is no chat result, so it reads as one with every field unknown)."""
    assert result.model_extra is not None
    body: dict[str, Any] = json.loads(result.model_extra["body"])
    return body


@pytest.mark.anyio
async def test_what_parse_sends(echo_server: LoopbackServer, api_key: str) -> None:
    async with Session(base_url=echo_server.url("/echo"), api_key=api_key) as session:
        result = await session.chat.parse(
            model="m/x", messages=ASK, response_format=Address, temperature=0.5
        )
        assert result.choices == []
        body = _sent(result)
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {
                "name": "Address",
                "schema": schema_for(Address, strict=True),
                "strict": True,
            },
        }
        assert body["provider"] == {"require_parameters": True}
        assert body["temperature"] == 0.5 and "stream" not in body

        loose = await session.chat.parse(
            model="m/x",
            messages=ASK,
            response_format=Address,
            strict=False,
            provider={"require_parameters": False, "order": ["a"]},
        )
        body = _sent(loose)
        assert body["response_format"]["json_schema"]["strict"] is False
        assert body["response_format"]["json_schema"]["schema"]["required"] == ["city"]
        assert body["provider"] == {"require_parameters": False, "order": ["a"]}

        merged = await session.chat.parse(
            model="m/x",
            messages=ASK,
            response_format=Address,
            provider=ProviderPreferences(sort="price"),
        )
        assert _sent(merged)["provider"] == {"sort": "price", "require_parameters": True}


@pytest.mark.anyio
async def test_an_answer_that_does_not_fit_raises_with_the_raw_content(
    emulator_url: str, api_key: str
) -> None:
    # The emulator answers the schema it is sent: another one than the class's, here.
    other = {
        "type": "json_schema",
        "json_schema": {
            "name": "Other",
            "schema": {
                "type": "object",
                "properties": {"city": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        with pytest.raises(StructuredOutputError) as caught:
            await session.chat.parse(
                model="m/x",
                messages=ASK,
                response_format=Address,
                extra_body={"response_format": other},
            )
    error = caught.value
    assert isinstance(error, ResponseValidationError)
    assert error.content == '{"city":1}'
    assert error.path == "city"
    assert "does not fit Address at city: expected a string, got number 1" in str(error)
    assert isinstance(error.completion, ChatResult)
    assert error.completion.choices[0].message.content == error.content


@pytest.mark.anyio
async def test_a_cut_answer_says_so(emulator_url: str, api_key: str) -> None:
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        with pytest.raises(StructuredOutputError) as caught:
            await session.chat.parse(model="m/x", messages=ASK, response_format=Shape, max_tokens=3)
    assert "is not JSON" in str(caught.value)
    assert 'finish_reason "length"' in str(caught.value)
    assert caught.value.content and caught.value.path == ""


@pytest.mark.anyio
async def test_bad_arguments_are_refused_before_anything_is_sent(api_key: str) -> None:
    # Nothing listens there: a request would be a connection error.
    async with Session(base_url="http://127.0.0.1:9/api/v1", api_key=api_key) as session:
        for response_format in ({"type": "json_object"}, int, list[Address], "Address"):
            with pytest.raises(RequestValidationError) as caught:
                await session.chat.parse(
                    model="m/x",
                    messages=ASK,
                    response_format=response_format,  # type: ignore[arg-type]
                )
            assert caught.value.path == "response_format"
        with pytest.raises(RequestValidationError) as caught:
            await session.chat.parse(
                model="m/x", messages=ASK, response_format=Address, stream=True
            )
        assert caught.value.path == "stream"
        with pytest.raises(RequestValidationError) as caught:
            session.chat.stream_parse(model="m/x", messages=ASK, response_format=bytes)
        assert caught.value.path == "response_format"
        with pytest.raises(RequestValidationError) as caught:
            await session.chat.parse(
                model="m/x", messages=ASK, response_format=Address, temperature="hot"
            )
        assert caught.value.path == "temperature"


# -- streamed ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stream_parse_gives_partial_documents_then_the_instance(
    emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        plain = await session.chat.parse(model="m/x", messages=ASK, response_format=Person)
        stream = session.chat.stream_parse(model="m/x", messages=ASK, response_format=Person)
        assert isinstance(stream, AsyncParsedStream)
        async with stream:
            events = [event async for event in stream]
            final = await stream.get_final_completion()
    kinds = [event.type for event in events]
    assert kinds[0] == "chunk" and kinds.count("content.done") == 1
    deltas = [event for event in events if isinstance(event, ContentDeltaEvent)]
    assert len(deltas) > 3
    assert (
        "".join(d.delta for d in deltas) == deltas[-1].snapshot == plain.choices[0].message.content
    )
    partials = [d.parsed for d in deltas]
    assert all(isinstance(p, dict) for p in partials[1:])
    assert partials[-1] == json.loads(deltas[-1].snapshot)
    # each partial document has at least the keys of the one before
    for before, after in itertools.pairwise(partials[1:]):
        assert set(before) <= set(after)
    done = next(event for event in events if isinstance(event, ContentDoneEvent))
    assert done.parsed == plain.choices[0].message.parsed
    assert isinstance(final, ParsedChatResult)
    assert final.choices[0].message.parsed == plain.choices[0].message.parsed
    assert final.choices[0].message.content == plain.choices[0].message.content
    assert final.usage is not None
    await wait_for_idle_streams(emulator)


@pytest.mark.anyio
async def test_leaving_a_parsed_stream_early_closes_it(
    emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        async with session.chat.stream_parse(
            model="m/x",
            messages=ASK,
            response_format=Person,
            http_headers={"X-Emulator-Fault": "token-delay-ms=20"},
        ) as stream:
            async for event in stream:
                if event.type == "content.delta":
                    break
        await wait_for_idle_streams(emulator)
        assert [event async for event in stream] == []  # closed: nothing more
        unopened = session.chat.stream_parse(model="m/x", messages=ASK, response_format=Person)
        with pytest.raises(RuntimeError, match="async with"):
            await unopened.__anext__()


@pytest.mark.anyio
async def test_a_streamed_answer_that_does_not_fit_raises(emulator_url: str, api_key: str) -> None:
    other = {
        "type": "json_schema",
        "json_schema": {"name": "Other", "schema": {"type": "object", "properties": {}}},
    }
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        async with session.chat.stream_parse(
            model="m/x",
            messages=ASK,
            response_format=Address,
            extra_body={"response_format": other},
        ) as stream:
            with pytest.raises(StructuredOutputError) as caught:
                await stream.get_final_completion()
    assert caught.value.content == "{}"
    assert caught.value.path == "city"
    assert isinstance(caught.value.completion, ChatResult)


# -- the sync facade -----------------------------------------------------------------------


def _facade_round(client: OpenRouter) -> tuple[Any, Any, Any]:
    result = client.chat.parse(model="m/x", messages=ASK, response_format=Pet)
    with client.chat.stream_parse(model="m/x", messages=ASK, response_format=Address) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert {"chunk", "content.delta", "content.done"} <= kinds
    return result.choices[0].message.parsed, final.choices[0].message.parsed, final


def test_the_facade_parses_from_a_plain_thread(emulator_url: str, api_key: str) -> None:
    with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        pet, address, final = _facade_round(client)
    assert pet == Pet(name="Ada Lovelace", legs=1, owner=Owner(name="Ada Lovelace"))
    assert address == Address(city="Paris", zip_code="example zip_code")
    assert isinstance(final, ParsedChatResult)


def test_the_facade_parses_from_inside_a_running_asyncio_loop(
    emulator_url: str, api_key: str
) -> None:
    async def notebook_cell() -> tuple[Any, Any, Any]:
        with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
            return _facade_round(client)

    pet, address, _ = asyncio.run(notebook_cell())
    assert pet.name == "Ada Lovelace" and address.city == "Paris"


@pytest.mark.anyio
async def test_the_facade_parses_async(emulator_url: str, api_key: str) -> None:
    async with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        result = await client.chat.parse_async(model="m/x", messages=ASK, response_format=Movie)
        assert result.choices[0].message.parsed == {
            "title": "example title",
            "year": 1,
            "rating": 1.5,
        }
        async with client.chat.stream_parse_async(
            model="m/x", messages=ASK, response_format=Point
        ) as stream:
            final = await stream.get_final_completion()
    assert final.choices[0].message.parsed == Point(x=1.5, y=1.5, label="example label")
