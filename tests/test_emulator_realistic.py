"""The emulator's realistic mode (``EmulatorConfig.realistic``, ``X-Emulator-Shape``): a raw
httpx client sees what real OpenRouter sends where it departs from the spec (fields left out
and added, whitespace before a JSON body, named SSE events), and a strict emulator sends none
of it. ``test_evidence_matches_the_corpus`` derives the tables of
``openrouter_async.emulator._realistic`` again from the recorded real responses in
``../shared/realtraffic`` (skipped where that corpus is absent)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from openrouter_async.emulator import EmulatorConfig, serve_in_thread
from openrouter_async.emulator import _realistic as realistic
from openrouter_async.emulator._server import add_config_options, config_from_options

pytest_plugins = ["pytester"]

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "realtraffic"
KEY = "sk-or-v1-realistic-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
USER = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
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
NO_ARGUMENTS = {
    "type": "function",
    "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
}
STRICT = {"X-Emulator-Shape": "strict"}
REALISTIC = {"X-Emulator-Shape": "realistic"}


@pytest.fixture(scope="module")
def lifelike_url() -> Iterator[str]:
    with serve_in_thread(EmulatorConfig(api_keys={KEY}, realistic=True)) as url:
        yield url


@pytest.fixture(scope="module")
def strict_url() -> Iterator[str]:
    with serve_in_thread(EmulatorConfig(api_keys={KEY})) as url:
        yield url


async def _post(
    url: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{url}{path}", json=body, headers={**AUTH, **(headers or {})})


def _chat(model: str = "openai/gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": USER, **extra}


def _events(text: str) -> list[tuple[str | None, str | None, list[str]]]:
    """(event name, data, comments) of each block of an event stream, parsed by hand."""
    blocks = []
    for block in text.split("\n\n"):
        if not block:
            continue
        name: str | None = None
        data: list[str] = []
        comments: list[str] = []
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].lstrip(" "))
        blocks.append((name, "\n".join(data) if data else None, comments))
    return blocks


def _chunks(text: str) -> list[dict[str, Any]]:
    """The JSON of the unnamed ``data:`` events (what a client parses as chunks)."""
    return [
        orjson.loads(data)
        for name, data, _ in _events(text)
        if name is None and data is not None and data != "[DONE]"
    ]


# -- non-streamed JSON ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_realistic_chat_result_pads_omits_and_adds(lifelike_url: str) -> None:
    response = await _post(lifelike_url, "/chat/completions", _chat("anthropic/claude-3.5-haiku"))
    assert response.status_code == 200
    assert response.content.startswith(realistic.PADDING + b"{")
    result = orjson.loads(response.content)  # JSON allows the leading whitespace
    assert "system_fingerprint" not in result  # required by the spec
    (choice,) = result["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["native_finish_reason"] == "end_turn"  # Anthropic's own word
    assert "logprobs" in choice and choice["logprobs"] is None
    usage = result["usage"]
    assert usage["completion_tokens_details"]["image_tokens"] == 0  # not in the spec
    assert usage["prompt_tokens_details"]["cache_write_tokens"] == 0
    assert usage["cost_details"]["upstream_inference_prompt_cost"] >= 0  # kept when not streamed


@pytest.mark.anyio
async def test_strict_chat_result_follows_the_spec(strict_url: str) -> None:
    response = await _post(strict_url, "/chat/completions", _chat("anthropic/claude-3.5-haiku"))
    assert response.content.startswith(b"{")
    result = response.json()
    assert "system_fingerprint" in result and result["system_fingerprint"] is None
    (choice,) = result["choices"]
    assert choice["native_finish_reason"] == "stop"
    assert "logprobs" not in choice
    assert "image_tokens" not in result["usage"]["completion_tokens_details"]


@pytest.mark.anyio
async def test_realistic_tool_call_without_arguments_has_none(
    lifelike_url: str, strict_url: str
) -> None:
    body = _chat(tools=[NO_ARGUMENTS])
    lifelike = orjson.loads((await _post(lifelike_url, "/chat/completions", body)).content)
    (call,) = lifelike["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": "now"}  # no "arguments", which the spec requires
    assert call["index"] == 0  # not in the spec
    with_arguments = await _post(lifelike_url, "/chat/completions", _chat(tools=[WEATHER]))
    (call,) = orjson.loads(with_arguments.content)["choices"][0]["message"]["tool_calls"]
    assert orjson.loads(call["function"]["arguments"]) == {"location": "Paris"}
    strict = (await _post(strict_url, "/chat/completions", body)).json()
    (call,) = strict["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": "now", "arguments": "{}"}
    assert "index" not in call


@pytest.mark.anyio
async def test_a_slow_answer_sends_whitespace_while_it_is_generated(lifelike_url: str) -> None:
    # The headers and whitespace come at once; more whitespace every 100 ms; then the JSON.
    arrivals: list[tuple[float, bytes]] = []
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream(
            "POST",
            f"{lifelike_url}/chat/completions",
            json=_chat(),
            headers={**AUTH, "X-Emulator-Fault": "ttft-ms=600"},
        ) as response,
    ):
        started = time.perf_counter()
        assert response.status_code == 200
        assert "content-length" not in response.headers  # chunked: the size is not known yet
        async for part in response.aiter_raw():
            arrivals.append((time.perf_counter() - started, part))
    body = b"".join(part for _, part in arrivals)
    padding, _, rest = body.partition(b"{")
    assert padding and padding == realistic.PADDING * (len(padding) // len(realistic.PADDING))
    assert len(padding) // len(realistic.PADDING) >= 3
    assert orjson.loads(b"{" + rest)["object"] == "chat.completion"
    first_at, first = arrivals[0]
    assert first.startswith(realistic.PADDING) and b"{" not in first
    assert arrivals[-1][0] - first_at >= 0.4  # whitespace long before the answer


@pytest.mark.anyio
async def test_strict_slow_answer_is_plain_json(strict_url: str) -> None:
    response = await _post(
        strict_url, "/chat/completions", _chat(), headers={"X-Emulator-Fault": "ttft-ms=150"}
    )
    assert response.content.startswith(b"{")
    assert response.headers["content-length"] == str(len(response.content))


@pytest.mark.anyio
async def test_faults_of_a_non_streamed_answer_keep_working_when_realistic(
    lifelike_url: str,
) -> None:
    error = await _post(
        lifelike_url,
        "/chat/completions",
        _chat(),
        headers={"X-Emulator-Fault": "mid-stream-error,ttft-ms=150"},
    )
    assert error.status_code == 200  # the headers went out before the error happened
    assert error.content.startswith(realistic.PADDING)
    assert orjson.loads(error.content)["error"]["code"] == 502
    cut = await _post(
        lifelike_url, "/chat/completions", _chat(), headers={"X-Emulator-Fault": "malformed-json"}
    )
    assert cut.content.startswith(realistic.PADDING)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(cut.content)
    for fault in ("drop", "drop,ttft-ms=150"):
        with pytest.raises(httpx.RemoteProtocolError):
            await _post(
                lifelike_url, "/chat/completions", _chat(), headers={"X-Emulator-Fault": fault}
            )


@pytest.mark.anyio
async def test_realistic_embeddings_carry_provider_and_padding(
    lifelike_url: str, strict_url: str
) -> None:
    body = {"model": "openai/text-embedding-3-small", "input": "Paris"}
    lifelike = await _post(lifelike_url, "/embeddings", body)
    assert lifelike.content.startswith(realistic.PADDING)
    assert orjson.loads(lifelike.content)["provider"] == "OpenAI"
    strict = await _post(strict_url, "/embeddings", body)
    assert "provider" not in strict.json()


# -- streams ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_realistic_stream_names_events_and_drops_costs(lifelike_url: str) -> None:
    response = await _post(
        lifelike_url, "/chat/completions", _chat("google/gemini-2.5-flash", stream=True)
    )
    events = _events(response.text)
    # Three keep-alive comments open the stream, as in real ones, then a named ping.
    comments = [line for _, _, lines in events[:3] for line in lines]
    assert comments == [": OPENROUTER PROCESSING"] * 3
    names = [name for name, _, _ in events if name is not None]
    assert names == ["ping", "openrouter.metadata"]
    first_data = next(i for i, (name, data, _) in enumerate(events) if data and name is None)
    assert events[first_data - 1][0] == "ping"
    assert events[first_data + 1][0] == "openrouter.metadata"  # between two chunks
    chunks = _chunks(response.text)
    assert all("system_fingerprint" in c and c["system_fingerprint"] is None for c in chunks)
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in chunks)
    *_, finish, last = chunks
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert finish["choices"][0]["native_finish_reason"] == "STOP"
    assert last["choices"] == finish["choices"]  # the usage chunk repeats the finish choice
    assert last["usage"]["cost_details"] == {
        "upstream_inference_cost": None,
        "input_audio_cache_read_tokens": None,
    }
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks[:-1]).startswith("What")
    assert response.text.endswith("data: [DONE]\n\n")


@pytest.mark.anyio
async def test_strict_stream_has_no_named_events(strict_url: str) -> None:
    response = await _post(strict_url, "/chat/completions", _chat(stream=True))
    events = _events(response.text)
    assert [name for name, _, _ in events if name is not None] == []
    chunks = _chunks(response.text)
    assert all("system_fingerprint" not in c for c in chunks)
    assert chunks[-1]["choices"] == []
    assert set(chunks[-1]["usage"]["cost_details"]) >= {
        "upstream_inference_prompt_cost",
        "upstream_inference_completions_cost",
    }


@pytest.mark.anyio
async def test_realistic_tool_call_stream(lifelike_url: str) -> None:
    response = await _post(lifelike_url, "/chat/completions", _chat(tools=[WEATHER], stream=True))
    chunks = _chunks(response.text)
    arguments = "".join(
        call["function"].get("arguments", "")
        for chunk in chunks[:-2]
        for call in chunk["choices"][0]["delta"]["tool_calls"]
    )
    assert orjson.loads(arguments) == {"location": "Paris"}
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.anyio
async def test_other_streams_get_the_named_events_too(lifelike_url: str) -> None:
    response = await _post(
        lifelike_url, "/responses", {"model": "openai/gpt-4o-mini", "input": "Hi", "stream": True}
    )
    names = [name for name, _, _ in _events(response.text) if name is not None]
    assert names == ["ping", "openrouter.metadata"]
    kinds = [chunk["type"] for chunk in _chunks(response.text)]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


def test_realistic_on_a_trio_server() -> None:
    # The padding and the named events go through the ASGI server as any write does: the
    # same on hypercorn's trio worker as on its asyncio one.
    config = EmulatorConfig(api_keys={KEY}, realistic=True)
    with serve_in_thread(config, backend="trio") as url, httpx.Client(headers=AUTH) as client:
        slow = client.post(
            f"{url}/chat/completions", json=_chat(), headers={"X-Emulator-Fault": "ttft-ms=250"}
        )
        assert slow.content.startswith(realistic.PADDING * 2)
        assert orjson.loads(slow.content)["object"] == "chat.completion"
        stream = client.post(f"{url}/chat/completions", json=_chat(stream=True))
        names = [name for name, _, _ in _events(stream.text) if name is not None]
        assert names == ["ping", "openrouter.metadata"]


# -- the catalogue --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_realistic_catalogue_lacks_what_real_ones_lack(lifelike_url: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        page = (await client.get(f"{lifelike_url}/models")).json()
    assert "total_count" not in page and "links" not in page
    models = page["data"]
    assert len(models) >= 2
    for model in models:
        assert not {"links", "supported_voices", "knowledge_cutoff"} & set(model)
        assert {"input_modalities", "output_modalities"} <= set(model["architecture"])
    alternate = {"canonical_slug", "supported_parameters", "default_parameters"}
    assert alternate <= set(models[0])
    assert not alternate & set(models[1])


@pytest.mark.anyio
async def test_strict_catalogue_has_every_required_field(strict_url: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        page = (await client.get(f"{strict_url}/models")).json()
    assert {"total_count", "links"} <= set(page)
    required = {"canonical_slug", "supported_parameters", "links", "supported_voices"}
    assert all(required <= set(model) for model in page["data"])


# -- choosing the shape -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_header_chooses_the_shape_of_one_request(
    lifelike_url: str, strict_url: str
) -> None:
    strict = await _post(lifelike_url, "/chat/completions", _chat(), headers=STRICT)
    assert strict.content.startswith(b"{") and "system_fingerprint" in strict.json()
    lifelike = await _post(strict_url, "/chat/completions", _chat(), headers=REALISTIC)
    assert lifelike.content.startswith(realistic.PADDING)
    async with httpx.AsyncClient(timeout=10) as client:
        page = (await client.get(f"{strict_url}/models", headers=REALISTIC)).json()
    assert "total_count" not in page
    bad = await _post(strict_url, "/chat/completions", _chat(), headers={"X-Emulator-Shape": "x"})
    assert bad.status_code == 400
    assert "X-Emulator-Shape" in bad.json()["error"]["message"]


def test_the_command_line_flag() -> None:
    parser = argparse.ArgumentParser()
    add_config_options(parser)
    assert config_from_options(parser.parse_args(["--realistic"]))["realistic"] is True
    assert config_from_options(parser.parse_args([]))["realistic"] is False
    assert EmulatorConfig().realistic is False  # the plain emulator follows the spec


PLUGIN_TEST = """
import httpx

def test_realistic(openrouter_emulator):
    assert openrouter_emulator.config.realistic
    response = httpx.post(
        f"{openrouter_emulator.base_url}/chat/completions",
        json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": f"Bearer {openrouter_emulator.api_key}"},
    )
    assert response.content.startswith(b"\\n")
"""


def test_the_pytest_plugin_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nopenrouter_emulator_realistic = true\n")
    pytester.makepyfile(test_project=PLUGIN_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# -- the evidence ---------------------------------------------------------------------------------


def _key_paths(value: Any, prefix: str = "") -> Iterator[str]:
    """``a.b[].c`` for every key under ``value`` (``[]``: any item of a list)."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from _key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            yield from _key_paths(item, f"{prefix}[]")


def _paths(bodies: Iterable[Any]) -> set[str]:
    return {path for body in bodies for path in _key_paths(body)}


def _parent(path: str) -> str:
    head, _, _ = path.rpartition(".")
    return head.removesuffix("[]")  # "data[].id" is where "data" is


def _recorded() -> dict[str, list[set[str]]]:
    """The key paths of each recorded body, by kind (a stream: all of its chunks)."""
    index = orjson.loads((CORPUS / "index.json").read_bytes())
    kinds: dict[str, list[set[str]]] = {
        "chat.completion": [],
        "chat.completion.chunk": [],
        "models": [],
        "embeddings": [],
    }
    for entry in index:
        if entry["status"] != 200:
            continue
        raw = (CORPUS / entry["file"]).read_bytes()
        if entry["path"] == "/api/v1/chat/completions":
            if "event-stream" in entry["content_type"]:
                kinds["chat.completion.chunk"].append(_paths(_chunks(raw.decode())))
            elif "choices" in (body := orjson.loads(raw)):
                kinds["chat.completion"].append(_paths([body]))
        elif entry["path"] == "/api/v1/models":
            kinds["models"].append(_paths([orjson.loads(raw)]))
        elif entry["path"] == "/api/v1/embeddings":
            kinds["embeddings"].append(_paths([orjson.loads(raw)]))
    return kinds


def _strict_paths(url: str) -> dict[str, set[str]]:
    """The key paths the strict emulator sends, by kind."""
    plain, tool = _chat(), _chat(tools=[WEATHER])
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        results = [client.post("/chat/completions", json=body).json() for body in (plain, tool)]
        streams = [
            _chunks(client.post("/chat/completions", json={**body, "stream": True}).text)
            for body in (plain, tool)
        ]
        catalogue = client.get("/models").json()
    return {
        "chat.completion": _paths(results),
        "chat.completion.chunk": _paths(chunk for stream in streams for chunk in stream),
        "models": _paths([catalogue]),
    }


@pytest.mark.skipif(not CORPUS.exists(), reason=f"the recorded corpus is absent: {CORPUS}")
def test_evidence_matches_the_corpus(strict_url: str) -> None:
    # The derivation behind _realistic's tables: every field the strict emulator sends that
    # some recorded body lacks (where its parent is present) is either left out (OMITTED) or
    # kept on purpose (KEPT), with the counts the corpus gives; ADDED's counts hold as well.
    recorded = _recorded()
    for kind, sent in _strict_paths(strict_url).items():
        derived: dict[str, tuple[int, int]] = {}
        for path in sorted(sent):
            parent = _parent(path)
            seen = [keys for keys in recorded[kind] if not parent or parent in keys]
            lacking = sum(1 for keys in seen if path not in keys)
            if lacking:
                derived[path] = (lacking, len(seen))
        tables = {**realistic.OMITTED.get(kind, {}), **realistic.KEPT.get(kind, {})}
        assert {path: (e.count, e.seen) for path, e in tables.items()} == derived, kind
    for kind, added in realistic.ADDED.items():
        for path, evidence in added.items():
            parent = _parent(path)
            seen = [keys for keys in recorded[kind] if not parent or parent in keys]
            having = sum(1 for keys in seen if path in keys)
            assert (having, len(seen)) == (evidence.count, evidence.seen), (kind, path)
    # The padding: only whole units of it, before JSON bodies.
    padded = 0
    for entry in orjson.loads((CORPUS / "index.json").read_bytes()):
        raw = (CORPUS / entry["file"]).read_bytes()
        if "json" in entry["content_type"] and raw[:1].isspace():
            padding = raw[: len(raw) - len(raw.lstrip())]
            assert padding == realistic.PADDING * (len(padding) // len(realistic.PADDING))
            padded += 1
    assert padded == 1058
