"""Structured outputs at scale: ``map(..., call=parse_into(Cls))`` on the Session (asyncio and
trio) and the facade, and batch jobs with ``schema=`` / ``openrouter-async batch --schema
module:Class``, against the emulator (which answers a ``json_schema`` response format with a
document valid against the schema)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import attrs
import pydantic
import pytest

from openrouter_async import OpenRouter, Session
from openrouter_async._batch import BatchJob, run_batch
from openrouter_async._map import parse_into
from openrouter_async._parse import ParsedChatResult, StructuredOutputError
from openrouter_async.cli import main
from openrouter_async.errors import RequestValidationError
from openrouter_async.models import ChatRequest


@attrs.frozen
class Place:
    city: str
    country: str
    population: int


@dataclasses.dataclass
class Tagged:
    label: str
    tags: list[str]


class Pet(pydantic.BaseModel):
    name: str
    legs: int = 4


PARIS = Place(city="Paris", country="France", population=1)


def chat(i: int, **extra: Any) -> dict[str, Any]:
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": f"#{i}"}]}
    return body | extra


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def rows_of(path: Path) -> dict[Any, dict[str, Any]]:
    return {row["custom_id"]: row for row in map(json.loads, path.read_text().splitlines())}


# -- map -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_map_parses_every_answer(emulator_url: str, api_key: str) -> None:
    requests: list[Any] = [chat(i) for i in range(20)]
    requests[3] = ChatRequest(model="m/x", messages=[{"role": "user", "content": "typed"}])
    requests[7] = chat(7, max_tokens=3)  # cut off: not JSON
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        async with session.map(requests, call=parse_into(Place), concurrency=6) as results:
            found = {result.index: result async for result in results}
    assert sorted(found) == list(range(20))
    for index, result in found.items():
        if index == 7:
            assert isinstance(result.error, StructuredOutputError)
            assert 'finish_reason "length"' in str(result.error)
            continue
        assert result.ok, result.error
        assert isinstance(result.response, ParsedChatResult)
        assert result.response.choices[0].message.parsed == PARIS


def test_parse_into_refuses_a_class_with_no_schema_at_once() -> None:
    with pytest.raises(RequestValidationError) as caught:
        parse_into(int)
    assert caught.value.path == "response_format"


def test_the_facade_map_parses(emulator_url: str, api_key: str) -> None:
    def run() -> list[Any]:
        with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
            bodies = (chat(i) for i in range(8))
            with client.map(bodies, call=parse_into(Pet), concurrency=3) as results:
                return [result.response.choices[0].message.parsed for result in results]

    assert run() == [Pet(name="Ada Lovelace", legs=1)] * 8

    async def notebook_cell() -> list[Any]:
        return run()

    assert asyncio.run(notebook_cell()) == [Pet(name="Ada Lovelace", legs=1)] * 8


# -- batch jobs ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_batch_with_a_schema_writes_parsed_rows(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            chat(1, custom_id="a"),
            chat(2, custom_id="b", stream=True),  # streamed, put back together, parsed
            chat(3, custom_id="c", provider={"require_parameters": False, "sort": "price"}),
            # the class's format replaces a body's own
            chat(4, custom_id="d", response_format={"type": "json_object"}),
            chat(5, custom_id="cut", max_tokens=3),
        ],
    )
    output = tmp_path / "out.jsonl"
    stats = await run_batch(source, output, schema=Tagged, base_url=emulator_url, api_key=api_key)
    assert (stats.done, stats.failed, stats.total) == (4, 1, 5)
    rows = rows_of(output)
    expected = {"label": "example label", "tags": ["example tags"]}
    for key in "abcd":
        row = rows[key]
        assert row["error"] is None
        assert row["parsed"] == expected
        body = row["response"]["body"]
        assert json.loads(body["choices"][0]["message"]["content"]) == expected
    cut = rows["cut"]
    assert cut["error"]["type"] == "StructuredOutputError"
    assert "is not JSON" in cut["error"]["message"]
    assert "parsed" not in cut
    # the answer is kept: it was paid for
    assert cut["response"]["body"]["choices"][0]["finish_reason"] == "length"
    assert stats.cost > 0

    again = await run_batch(source, output, schema=Tagged, base_url=emulator_url, api_key=api_key)
    assert (again.skipped, again.done, again.failed) == (5, 0, 0)


def test_a_batch_job_refuses_a_class_with_no_schema(tmp_path: Path) -> None:
    with pytest.raises(RequestValidationError):
        BatchJob(tmp_path / "in.jsonl", tmp_path / "out.jsonl", schema=dict)


# -- the CLI -------------------------------------------------------------------------------

MODULE = '''
from __future__ import annotations

import attrs


@attrs.frozen
class Landmark:
    name: str
    year: int


@attrs.frozen
class City:
    """A city and its landmarks."""

    city: str
    landmarks: list[Landmark]
    nickname: str | None = None
'''


@pytest.mark.parametrize("form", ["module", "file"])
def test_the_cli_batch_takes_a_schema(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emulator_url: str,
    api_key: str,
    form: str,
) -> None:
    name = f"cli_schemas_{form}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENROUTER_API_KEY", api_key)
    source = write_lines(tmp_path / "in.jsonl", [chat(i) for i in range(3)])
    spec = f"{name}:City" if form == "module" else f"./{name}.py:City"
    code = main(
        ["batch", str(source), "-o", "out.jsonl", "--base-url", emulator_url, "--schema", spec]
    )
    assert code == 0, capsys.readouterr().err
    rows = rows_of(tmp_path / "out.jsonl")
    assert sorted(rows) == ["line-1", "line-2", "line-3"]  # lines without an id
    for row in rows.values():
        assert row["parsed"] == {
            "city": "Paris",
            "landmarks": [{"name": "Ada Lovelace", "year": 1}],
            "nickname": "Ada Lovelace",  # ("name" is in it)
        }
    assert "complete: 3 ok, 0 errors" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "takes module:Class"),
        ("no_such_module_here:City", "cannot import 'no_such_module_here'"),
        ("json:NoSuchClass", "json has no 'NoSuchClass'"),
        ("./missing.py:City", "no such file"),
        ("json:JSONDecoder", "response_format takes a class"),
    ],
)
def test_the_cli_refuses_a_bad_schema_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(1)])
    output = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(output), "--schema", spec]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()
