"""Pydantic-compatible model methods (a documented subset): ``model_dump`` with ``mode``,
``include``, ``exclude``, ``exclude_none``; ``model_dump_json(indent=)``; ``model_validate`` /
``model_validate_json``; ``model_copy``. On results the emulator really sent."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from openrouter_async import OpenRouter, Session
from openrouter_async.errors import ResponseValidationError
from openrouter_async.models import ChatRequest, ChatResult

from .conftest import API_KEY

HELLO = [{"role": "user", "content": "Hello"}]


async def a_result(emulator_url: str) -> ChatResult:
    async with Session(api_key=API_KEY, server_url=emulator_url) as s:
        return await s.send(ChatRequest(model="m/x", messages=HELLO))


def has_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(item is None or has_none(item) for item in value.values())
    if isinstance(value, list):
        return any(has_none(item) for item in value)
    return False


@pytest.mark.anyio
async def test_dump_options(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    full = result.model_dump()
    assert full == result.model_dump(mode="python", by_alias=True, exclude_unset=True)
    assert has_none(full), "a realistic answer holds nulls (e.g. refusal, system_fingerprint)"
    lean = result.model_dump(exclude_none=True)
    assert not has_none(lean)
    assert lean["choices"][0]["message"]["content"] == full["choices"][0]["message"]["content"]
    assert set(result.model_dump(include={"id", "model"})) == {"id", "model"}
    assert "choices" not in result.model_dump(exclude={"choices"})
    assert set(result.model_dump(exclude={"choices"})) == set(full) - {"choices"}
    assert json.loads(json.dumps(result.model_dump(mode="json"))) == result.model_dump(mode="json")
    with pytest.raises(TypeError, match="by_alias"):
        result.model_dump(by_alias=False)
    with pytest.raises(TypeError, match="exclude_unset"):
        result.model_dump(exclude_unset=False)
    with pytest.raises(TypeError, match="include"):
        result.model_dump(include="id")
    with pytest.raises(ValueError, match="mode"):
        result.model_dump(mode="xml")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_dump_json_indent_and_filters(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    compact = result.model_dump_json()
    assert "\n" not in compact and json.loads(compact) == result.model_dump()
    pretty = result.model_dump_json(indent=2)
    assert pretty.startswith('{\n  "') and json.loads(pretty) == result.model_dump()
    assert json.loads(result.model_dump_json(indent=4, exclude_none=True, include={"id"})) == {
        "id": result.id
    }


@pytest.mark.anyio
async def test_validate_round_trips_with_extras(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    assert ChatResult.model_validate(result.model_dump()) == result
    assert ChatResult.model_validate_json(result.model_dump_json()) == result
    assert ChatResult.model_validate(result) is result
    data = {**result.model_dump(), "brand_new_field": {"x": 1}, "created": "not a number"}
    read = ChatResult.model_validate(data)
    assert read.model_extra is not None and read.model_extra["brand_new_field"] == {"x": 1}
    assert read.created is None and read.model_extra["created"] == "not a number"
    assert read.model_dump()["brand_new_field"] == {"x": 1}
    with pytest.raises(ResponseValidationError):
        ChatResult.model_validate_json("[1, 2]")
    with pytest.raises(ResponseValidationError):
        ChatResult.model_validate_json("{not json")


@pytest.mark.anyio
async def test_copy(emulator_url: str) -> None:
    result = await a_result(emulator_url)
    changed = result.model_copy(update={"id": "gen-other"})
    assert changed.id == "gen-other" and result.id != "gen-other"
    assert changed.choices and result.choices
    assert changed.choices[0] is result.choices[0], "a shallow copy shares nested models"
    deep = result.model_copy(deep=True)
    assert deep == result and deep.choices and deep.choices[0] is not result.choices[0]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        changed.id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.model_copy(update={"no_such_field": 1})


def test_on_the_sync_facade_and_on_requests(emulator_url: str) -> None:
    with OpenRouter(api_key=API_KEY, server_url=emulator_url) as client:
        result = client.chat.send(model="m/x", messages=HELLO)
    assert ChatResult.model_validate_json(result.model_dump_json(indent=2)) == result
    request = ChatRequest(model="m/x", messages=HELLO, temperature=None)
    assert request.model_dump(exclude_none=True) == {
        "messages": [{"content": "Hello", "role": "user"}],
        "model": "m/x",
    }
    assert ChatRequest.model_validate(request.model_dump()).model == "m/x"
