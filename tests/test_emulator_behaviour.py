"""The emulator's behaviours beyond its routes: serving in the caller's task group, rate
limits, random faults with a seed and the fault kinds that break connections, chat that
behaves like OpenRouter (structured outputs, tools, fallback models, provider preferences),
guardrails enforced, seeding from a file. Each test serves a real emulator in its own event
loop (asyncio and trio) and talks to it over loopback HTTP with httpx.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from openrouter_async._sse import SSEDecoder
from openrouter_async.emulator import EmulatorApp, EmulatorConfig, create_app, serve
from openrouter_async.emulator._faults import FaultSyntaxError, parse_fault_plan, parse_faults

pytestmark = pytest.mark.anyio

KEY = "sk-or-v1-behaviour-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
USER = [{"role": "user", "content": "What is the capital of France?"}]


class Emulator:
    def __init__(self, app: EmulatorApp, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    async def chat(
        self, fault: str | None = None, key: str | None = None, **body: Any
    ) -> httpx.Response:
        body.setdefault("model", "openai/gpt-4o-mini")
        body.setdefault("messages", USER)
        headers = {"X-Emulator-Fault": fault} if fault else {}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return await self.client.post("/chat/completions", json=body, headers=headers)

    async def generation(self, response: httpx.Response) -> dict[str, Any]:
        found = await self.client.get(
            "/generation", params={"id": response.headers["x-generation-id"]}
        )
        assert found.status_code == 200, found.text
        data: dict[str, Any] = found.json()["data"]
        return data


@asynccontextmanager
async def emulator(**config: Any) -> AsyncIterator[Emulator]:
    app = create_app(EmulatorConfig(**config))
    async with (
        serve(app=app) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as client,
    ):
        yield Emulator(app, client)


def sse_data(raw: bytes) -> list[str]:
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    assert not decoder.has_pending
    return [event.data for event in events]


def content_of(response: httpx.Response) -> str:
    return str(response.json()["choices"][0]["message"]["content"])


def streamed_content(raw: bytes) -> str:
    data = sse_data(raw)
    assert data[-1] == "[DONE]"
    return "".join(
        choice["delta"].get("content") or ""
        for chunk in map(orjson.loads, data[:-1])
        for choice in chunk["choices"]
    )


# -- serving in the caller's task group -----------------------------------------------------


def _port(url: str) -> int:
    port = httpx.URL(url).port
    assert port is not None
    return port


def _closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


async def test_serve_in_the_callers_task_group(anyio_backend: str) -> None:
    before = {task.id for task in anyio.get_running_tasks()}
    async with anyio.create_task_group() as tg:
        async with serve(task_group=tg) as url:
            names = [task.name for task in anyio.get_running_tasks()]
            assert any(str(name).startswith("openrouter-emulator:") for name in names)
            async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
                response = await client.post(
                    "/chat/completions", json={"model": "openai/gpt-4o", "messages": USER}
                )
                assert response.status_code == 200
        # Left the block: the server task has ended, inside the still-open task group.
        assert {task.id for task in anyio.get_running_tasks()} == before
    assert _closed(_port(url))


async def test_serve_stops_when_the_task_group_is_cancelled(anyio_backend: str) -> None:
    app = create_app()
    before = len(anyio.get_running_tasks())
    async with anyio.create_task_group() as tg:
        async with serve(app=app, task_group=tg) as url:
            tg.cancel_scope.cancel()
            await anyio.sleep(10)  # cancelled at once
    assert _closed(_port(url))
    assert len(anyio.get_running_tasks()) == before
    async with serve(app=app) as url:  # its own task group; the app can be served again
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
            assert (await client.get("/models/count")).status_code == 200
    assert len(anyio.get_running_tasks()) == before


# -- rate limits ----------------------------------------------------------------------------


async def test_requests_per_window(anyio_backend: str) -> None:
    async with emulator(rate_limit_rpm=2, rate_limit_window_s=0.5) as emu:
        first, second = await emu.chat(), await emu.chat(stream=True)
        assert first.status_code == second.status_code == 200
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "1"
        assert second.headers["x-ratelimit-remaining"] == "0"
        reset_ms = int(first.headers["x-ratelimit-reset"])
        assert time.time() * 1000 < reset_ms <= time.time() * 1000 + 600

        refused = await emu.chat()
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == 429 and "Rate limit exceeded" in error["message"]
        assert error["metadata"]["headers"] == {
            "X-RateLimit-Limit": "2",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset_ms),
        }
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["x-ratelimit-remaining"] == "0"
        # The limit is per key: another key has its own window.
        assert (await emu.chat(key="sk-or-v1-another-key")).status_code == 200
        # Other routes are not limited.
        assert (await emu.client.get("/credits")).status_code == 200
        key = (await emu.client.get("/key")).json()["data"]
        assert key["rate_limit"]["requests"] == 2 and key["rate_limit"]["interval"] == "0.5s"

        await anyio.sleep(max(0.0, reset_ms / 1000 - time.time()) + 0.02)
        again = await emu.chat()
        assert again.status_code == 200 and again.headers["x-ratelimit-remaining"] == "1"
        assert emu.app.state.stats.rate_limited == 1


async def test_concurrent_requests(anyio_backend: str) -> None:
    async with emulator(rate_limit_concurrency=1) as emu:
        async with emu.client.stream(
            "POST",
            "/chat/completions",
            json={"model": "openai/gpt-4o", "messages": USER, "stream": True},
            headers={"X-Emulator-Fault": "stall=10"},
        ) as stalled:
            assert stalled.headers["x-ratelimit-limit"] == "1"
            assert stalled.headers["x-ratelimit-remaining"] == "0"
            refused = await emu.chat()
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert "concurrent" in refused.json()["error"]["message"]
        # The stream is closed: its slot is free again once the emulator notices.
        with anyio.fail_after(3):
            while (response := await emu.chat()).status_code == 429:  # noqa: ASYNC110
                await anyio.sleep(0.02)
        assert response.status_code == 200


async def test_no_rate_limit_headers_by_default(anyio_backend: str) -> None:
    async with emulator() as emu:
        response = await emu.chat()
        assert "x-ratelimit-limit" not in response.headers


# -- faults with probabilities and a seed ---------------------------------------------------


def test_fault_grammar() -> None:
    plan = parse_fault_plan("status=503;p=0.25, drop=3;p=5%, none;p=0.1, ttft-ms=100")
    assert [item.probability for item in plan.items] == [0.25, 0.05, 0.1, 1.0]
    assert parse_faults("status=500;p=0").status is None
    assert parse_faults("status=500;p=1").status == 500
    assert parse_faults("tokens=3,none").any is False
    faults = parse_faults("drop-mid-event=4,malformed-json,drop-before-headers,ttft-ms=5")
    assert (faults.drop, faults.drop_mid_event, faults.malformed_json) == (4, True, 2)
    assert faults.drop_before_headers and faults.ttft_ms == 5
    for bad in ("status=500;p=2", "status=500;p=x", "drop-before-headers=1", "none=1"):
        with pytest.raises(FaultSyntaxError):
            parse_fault_plan(bad)
    with pytest.raises(ValueError, match=r"EmulatorConfig\.faults"):
        create_app(EmulatorConfig(faults="explode"))


async def _statuses(emu: Emulator, count: int) -> list[int]:
    return [(await emu.chat(max_tokens=1)).status_code for _ in range(count)]


async def test_random_faults_are_reproducible(anyio_backend: str) -> None:
    config = {"faults": "status=503;p=0.5,status=429;p=0.2", "fault_seed": 1234}
    async with emulator(**config) as emu:
        first = await _statuses(emu, 24)
        assert {200, 503} <= set(first) and set(first) <= {200, 429, 503}
        assert emu.app.state.stats.faulted == sum(status != 200 for status in first)
        # Reset re-seeds: the same sequence again.
        await emu.client.post("/_emulator/reset")
        assert await _statuses(emu, 24) == first
        # Another seed, another sequence; back to the first seed by asking for it.
        await emu.client.post("/_emulator/reset", json={"seed": 99})
        assert await _statuses(emu, 24) != first
        await emu.client.post("/_emulator/reset", json={"seed": 1234})
        assert await _statuses(emu, 24) == first
        # The header's "none" clears the configured faults for one request.
        assert [(await emu.chat(fault="none")).status_code for _ in range(8)] == [200] * 8
    async with emulator(**config) as fresh:  # a new emulator with the same seed
        assert await _statuses(fresh, 24) == first


async def test_header_faults_with_a_probability(anyio_backend: str) -> None:
    async with emulator(fault_seed=5) as emu:
        header = "error-200;p=0.5"
        bodies = [(await emu.chat(fault=header)).json() for _ in range(16)]
        errors = ["error" in body for body in bodies]
        assert any(errors) and not all(errors)
        await emu.client.post("/_emulator/reset")
        assert ["error" in (await emu.chat(fault=header)).json() for _ in range(16)] == errors


async def test_drop_before_headers(anyio_backend: str) -> None:
    async with emulator() as emu:
        with pytest.raises(httpx.RemoteProtocolError):
            await emu.chat(fault="drop-before-headers")
        with pytest.raises(httpx.RemoteProtocolError):
            await emu.chat(fault="drop-before-headers", stream=True)
        assert (await emu.chat()).status_code == 200  # the server is fine
        stats = (await emu.client.get("/_emulator/stats")).json()
        assert stats["connections_dropped"] == 2 and stats["active_requests"] == 0


async def test_drop_mid_event(anyio_backend: str) -> None:
    async with emulator() as emu:
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            async with emu.client.stream(
                "POST",
                "/chat/completions",
                json={"model": "openai/gpt-4o", "messages": USER, "stream": True},
                headers={"X-Emulator-Fault": "drop-mid-event=3"},
            ) as response:
                async for chunk in response.aiter_raw():
                    received += chunk
        decoder = SSEDecoder()
        events = decoder.feed(bytes(received))
        assert decoder.has_pending  # cut inside an event
        assert len([e for e in events if e.data.startswith("{")]) == 3


async def test_malformed_json(anyio_backend: str) -> None:
    async with emulator() as emu:
        response = await emu.chat(fault="malformed-json")
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)

        streamed = await emu.chat(fault="malformed-json=1", stream=True, max_tokens=4)
        data = sse_data(streamed.content)
        assert data[-1] == "[DONE]"
        broken = []
        for index, item in enumerate(data[:-1]):
            try:
                json.loads(item)
            except json.JSONDecodeError:
                broken.append(index)
        assert broken == [1]  # after one content chunk; the stream then goes on
        good = [orjson.loads(item) for index, item in enumerate(data[:-1]) if index != 1]
        text = "".join(c["delta"].get("content") or "" for g in good for c in g["choices"])
        assert text == "What is the capital"


async def test_time_to_first_token(anyio_backend: str) -> None:
    async with emulator() as emu:
        started = time.monotonic()
        async with emu.client.stream(
            "POST",
            "/chat/completions",
            json={"model": "openai/gpt-4o", "messages": USER, "stream": True},
            headers={"X-Emulator-Fault": "ttft-ms=300"},
        ) as response:
            headers_after = time.monotonic() - started
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        total = time.monotonic() - started
        assert headers_after < 0.25 <= 0.29 <= total
        assert streamed_content(raw)
        started = time.monotonic()
        assert (await emu.chat(fault="ttft-ms=200")).status_code == 200
        assert time.monotonic() - started >= 0.19


# -- chat like OpenRouter ---------------------------------------------------------------------


SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4}$"},
            "short": {"type": "string", "maxLength": 3},
            "long": {"type": "string", "minLength": 30},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "step": {"type": "integer", "minimum": 7, "multipleOf": 5},
            "tags": {
                "type": "array",
                "items": {"enum": ["a", "b", "c"]},
                "minItems": 3,
                "uniqueItems": True,
            },
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
            "map": {"type": "object", "additionalProperties": {"type": "integer"}},
            "maybe": {"type": ["null", "boolean"]},
        },
        "required": ["code", "tags"],
        "additionalProperties": False,
    },
    {  # the shape pydantic produces: $defs, $ref, anyOf with null, allOf
        "$defs": {
            "City": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "population": {"type": "integer", "exclusiveMinimum": 1000},
                },
                "required": ["name", "population"],
            },
            "Tree": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Tree"}},
                },
                "required": ["value"],
            },
        },
        "type": "object",
        "properties": {
            "capital": {"$ref": "#/$defs/City"},
            "neighbours": {"type": "array", "items": {"$ref": "#/$defs/City"}, "minItems": 2},
            "note": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date"}]},
            "tree": {"$ref": "#/$defs/Tree"},
            "both": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "number", "maximum": -3}}, "required": ["b"]},
                ]
            },
        },
        "required": ["capital", "neighbours", "note", "tree", "both"],
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_json_schema_output_validates(anyio_backend: str, schema: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "strict": True, "schema": schema},
    }
    async with emulator() as emu:
        response = await emu.chat(response_format=response_format)
        content = json.loads(content_of(response))
        jsonschema.Draft202012Validator(schema).validate(content)
        again = json.loads(content_of(await emu.chat(response_format=response_format)))
        assert again == content  # deterministic
        streamed = await emu.chat(response_format=response_format, stream=True)
        assert json.loads(streamed_content(streamed.content)) == content
        plain = await emu.chat(response_format={"type": "json_object"})
        assert isinstance(json.loads(content_of(plain)), dict)


async def test_tool_calls_are_deterministic_and_valid(anyio_backend: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    parameters = SCHEMAS[0]
    tools = [
        {"type": "function", "function": {"name": "lookup", "parameters": parameters}},
        {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
    ]
    async with emulator() as emu:
        calls = []
        for _ in range(2):
            message = (await emu.chat(tools=tools)).json()["choices"][0]["message"]
            calls.append(message["tool_calls"][0]["function"])
        assert calls[0] == calls[1] and calls[0]["name"] == "lookup"
        jsonschema.Draft202012Validator(parameters).validate(json.loads(calls[0]["arguments"]))
        chosen = {"type": "function", "function": {"name": "other"}}
        message = (await emu.chat(tools=tools, tool_choice=chosen)).json()["choices"][0]
        assert message["message"]["tool_calls"][0]["function"]["name"] == "other"
        assert message["finish_reason"] == "tool_calls"


async def test_models_fallback(anyio_backend: str) -> None:
    async with emulator() as emu:
        response = await emu.chat(
            model="nobody/unknown", models=["nobody/else", "anthropic/claude-3-haiku"]
        )
        assert response.status_code == 200
        assert response.json()["model"] == "anthropic/claude-3-haiku"
        assert response.json()["provider"] == "Anthropic"
        generation = await emu.generation(response)
        assert generation["model"] == "anthropic/claude-3-haiku"
        only_models = await emu.chat(model=None, models=["openai/gpt-4", "openai/gpt-4o"])
        assert only_models.json()["model"] == "openai/gpt-4"
        # Lenient by default: an unknown model alone is served by "Emulator".
        alone = await emu.chat(model="nobody/unknown")
        assert alone.status_code == 200 and alone.json()["provider"] == "Emulator"
        # A primary whose providers are all excluded falls back too.
        fallback = await emu.chat(
            model="openai/gpt-4o",
            models=["meta-llama/llama-3.1-70b-instruct"],
            provider={"only": ["deepinfra"]},
        )
        assert fallback.json()["model"] == "meta-llama/llama-3.1-70b-instruct"
        assert fallback.json()["provider"] == "DeepInfra"
    async with emulator(strict_models=True) as strict:
        refused = await strict.chat(model="nobody/unknown")
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == "nobody/unknown is not a valid model ID"
        served = await strict.chat(model="nobody/unknown", models=["openai/gpt-4o"])
        assert served.json()["model"] == "openai/gpt-4o"


async def _provider(emu: Emulator, model: str, **preferences: Any) -> str | int:
    response = await emu.chat(model=model, provider=preferences)
    if response.status_code != 200:
        assert response.json()["error"]["code"] == response.status_code
        return response.status_code
    provider: str = response.json()["provider"]
    generation = await emu.generation(response)
    assert generation["provider_name"] == provider
    return provider


async def test_provider_preferences(anyio_backend: str) -> None:
    gpt = "openai/gpt-4o"  # endpoints: OpenAI, Azure
    llama = "meta-llama/llama-3.1-70b-instruct"  # DeepInfra, Together, Fireworks
    async with emulator() as emu:
        assert (await emu.chat(model=gpt)).json()["provider"] == "OpenAI"
        assert await _provider(emu, gpt, order=["azure", "openai"]) == "Azure"
        assert await _provider(emu, gpt, order=["Groq", "Azure"]) == "Azure"
        assert await _provider(emu, gpt, order=["groq"]) == "OpenAI"  # fallbacks allowed
        assert await _provider(emu, gpt, order=["groq"], allow_fallbacks=False) == 404
        assert await _provider(emu, gpt, only=["openai"]) == "OpenAI"
        assert await _provider(emu, gpt, ignore=["OpenAI"]) == "Azure"
        assert await _provider(emu, gpt, only=["groq"]) == 404
        assert await _provider(emu, gpt, zdr=True) == "Azure"  # OpenAI keeps data
        assert await _provider(emu, gpt, data_collection="deny") == "Azure"
        assert await _provider(emu, gpt, require_parameters=True) == "OpenAI"
        response = await emu.chat(model=gpt, top_k=5, provider={"require_parameters": True})
        assert response.status_code == 404
        assert await _provider(emu, gpt, max_price={"prompt": 1}) == 404
        assert await _provider(emu, llama, quantizations=["fp8"]) == "DeepInfra"
        assert await _provider(emu, gpt, quantizations=["fp8"]) == 404
        # sort: by the statistics the endpoints route publishes.
        listing = await emu.client.get(f"/models/{llama}/endpoints")
        endpoints = listing.json()["data"]["endpoints"]
        fastest = max(endpoints, key=lambda e: e["throughput_last_30m"]["p50"])
        quickest = min(endpoints, key=lambda e: e["latency_last_30m"]["p50"])
        assert await _provider(emu, llama, sort="throughput") == fastest["provider_name"]
        assert await _provider(emu, llama, sort={"by": "latency"}) == quickest["provider_name"]
        assert await _provider(emu, llama, sort="price") == "DeepInfra"
        # Streams report the provider too.
        streamed = await emu.chat(model=gpt, stream=True, provider={"order": ["azure"]})
        first = orjson.loads(sse_data(streamed.content)[0])
        assert first["provider"] == "Azure"


# -- guardrails ---------------------------------------------------------------------------------


async def test_guardrails_are_enforced(anyio_backend: str) -> None:
    async with emulator() as emu:
        created = await emu.client.post("/keys", json={"name": "guarded"})
        guarded_key = created.json()["key"]
        guarded_hash = created.json()["data"]["hash"]

        async def guardrail(**fields: Any) -> str:
            body = {"name": f"g{len(fields)}", **fields}
            guardrail_id: str = (await emu.client.post("/guardrails", json=body)).json()["data"][
                "id"
            ]
            assigned = await emu.client.post(
                f"/guardrails/{guardrail_id}/assignments/keys",
                json={"key_hashes": [guarded_hash]},
            )
            assert assigned.status_code == 200
            return guardrail_id

        await guardrail(allowed_models=["openai/gpt-4o-mini"])
        assert (await emu.chat(key=guarded_key, model="openai/gpt-4o-mini")).status_code == 200
        refused = await emu.chat(key=guarded_key, model="openai/gpt-4")
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == 403 and "guardrail" in error["message"]
        # Fallback models the guardrail allows are used.
        allowed = await emu.chat(
            key=guarded_key, model="openai/gpt-4", models=["openai/gpt-4o-mini"]
        )
        assert allowed.json()["model"] == "openai/gpt-4o-mini"
        # Other keys are not concerned.
        assert (await emu.chat(model="openai/gpt-4")).status_code == 200

        await guardrail(allowed_providers=["azure"])  # replaces the previous assignment
        assert (await emu.chat(key=guarded_key, model="openai/gpt-4")).json()["provider"] == (
            "Azure"
        )
        only_openai = await emu.chat(key=guarded_key, model="openai/gpt-3.5-turbo-instruct")
        assert only_openai.status_code == 403
        completions = await emu.client.post(
            "/completions",
            json={"model": "openai/gpt-3.5-turbo-instruct", "prompt": "Hi"},
            headers={"Authorization": f"Bearer {guarded_key}"},
        )
        assert completions.status_code == 403

        await guardrail(ignored_models=["openai/gpt-4"], enforce_zdr=True)
        assert (await emu.chat(key=guarded_key, model="openai/gpt-4")).status_code == 403
        zdr = await emu.chat(key=guarded_key, model="openai/gpt-4o")
        assert zdr.json()["provider"] == "Azure"  # the zero-data-retention endpoint

        # The budget counts what the key spent since the emulator started: a fresh key.
        created = await emu.client.post("/keys", json={"name": "budgeted"})
        guarded_key = created.json()["key"]
        guarded_hash = created.json()["data"]["hash"]
        budget_id = await guardrail(limit_usd=1e-9)
        assert (await emu.chat(key=guarded_key)).status_code == 200
        spent = await emu.chat(key=guarded_key)
        assert spent.status_code == 402 and spent.json()["error"]["code"] == 402
        await emu.client.post(
            f"/guardrails/{budget_id}/assignments/keys/remove",
            json={"key_hashes": [guarded_hash]},
        )
        assert (await emu.chat(key=guarded_key)).status_code == 200


# -- seeding --------------------------------------------------------------------------------------

SEED = {
    "credits": 250,
    "guardrails": [
        {"name": "Cheap", "allowed_models": ["openai/gpt-4o-mini"], "limit_usd": 5},
        {"id": "gr-fixed", "name": "Anthropic only", "allowed_providers": ["anthropic"]},
    ],
    "keys": [
        {"key": "sk-or-v1-seeded-ci", "name": "CI", "limit": 2.5, "usage": 1, "guardrail": "Cheap"},
        {"key": KEY, "name": "Renamed default", "guardrail": "gr-fixed"},
        {"hash": "ab" * 32, "name": "Nobody's", "disabled": True},
    ],
}


async def test_seed_from_python(anyio_backend: str) -> None:
    async with emulator(api_keys={KEY}, seed_data=SEED) as emu:
        credits = (await emu.client.get("/credits")).json()["data"]
        assert credits["total_credits"] == 250
        ci = await emu.client.get("/key", headers={"Authorization": "Bearer sk-or-v1-seeded-ci"})
        assert ci.status_code == 200
        assert ci.json()["data"]["limit"] == 2.5 and ci.json()["data"]["usage"] == 1
        keys = (await emu.client.get("/keys", params={"include_disabled": "true"})).json()
        names = {key["name"] for key in keys["data"]}
        assert {"CI", "Renamed default", "Nobody's"} <= names
        guardrails = (await emu.client.get("/guardrails")).json()["data"]
        assert {"Cheap", "Anthropic only"} <= {g["name"] for g in guardrails}
        assert (await emu.chat(key="sk-or-v1-seeded-ci", model="openai/gpt-4")).status_code == 403
        # The default key is under "Anthropic only".
        assert (await emu.chat(model="openai/gpt-4")).status_code == 403
        assert (await emu.chat(model="anthropic/claude-3-opus")).status_code == 200
        emu.app.state.store.seed({"credits": 300})
        assert (await emu.client.get("/credits")).json()["data"]["total_credits"] == 300


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_seed_file_and_errors(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"seed{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(SEED))
    else:
        yaml = pytest.importorskip("yaml")
        path.write_text(yaml.safe_dump(SEED))
    app = create_app(EmulatorConfig(seed_file=path))
    store = app.state.store
    assert store.total_credits == 250
    ci = next(key for key in store.keys.values() if key.name == "CI")
    assert store.guardrail_of(ci) is not None
    assert store.guardrail_of(ci)["name"] == "Cheap"  # type: ignore[index]
    for bad, message in [
        ({"credit": 1}, "unknown section"),
        ({"keys": [{"name": "x"}]}, "needs key"),
        ({"keys": [{"key": "k", "limt": 1}]}, "unknown field"),
        ({"keys": [{"key": "k", "guardrail": "nope"}]}, "no guardrail"),
        ({"guardrails": [{"name": "g", "limit_usd": -1}]}, "limit_usd"),
    ]:
        with pytest.raises(ValueError, match=message):
            create_app(EmulatorConfig(seed_data=bad))


def test_cli_seed_rate_limit_and_faults(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"keys": [{"key": "sk-or-v1-cli", "name": "From the CLI"}]}))
    code = "import sys; from openrouter_async.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["emulator", "--port", "0", "--seed", str(path), "--rate-limit-rpm", "2"]
    argv += ["--faults", "status=503;p=0.5", "--fault-seed", "3", "--strict-models"]
    process = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line + (process.stderr.read() if process.stderr else "")
        url = line.split()[2]
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer sk-or-v1-cli"}) as c:
            names = [key["name"] for key in c.get("/keys").json()["data"]]
            assert "From the CLI" in names
            statuses = [
                c.post("/chat/completions", json={"model": model, "messages": USER}).status_code
                for model in ("openai/gpt-4o", "nobody/unknown", "openai/gpt-4o")
            ]
            assert statuses[0] in (200, 503) and statuses[1:] == [400, 429]
    finally:
        process.terminate()
        process.wait(10)
