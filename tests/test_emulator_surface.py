"""The emulator's surface beyond chat (the product description's routes), driven with plain
httpx over loopback HTTP.

Every JSON answer of a route the spec describes is validated against the spec's response
schema for that operation and status (JSON Schema 2020-12, the spec registered whole, as in
``tests/spec_validation.py``); the routes the spec does not describe (``/completions``, the
deprecated ``/credits/coinbase``) are checked by hand. One emulator serves this module, with
request validation on: every request here is also checked against the spec.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import struct
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import orjson
import pytest

from openrouter_async._sse import SSEDecoder
from openrouter_async.emulator import EmulatorApp, EmulatorConfig, create_app, serve_in_thread

from .spec_validation import SPEC_AVAILABLE, SPEC_PATH, load_spec

KEY = "sk-or-v1-surface-0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
EXAMPLE_HASH = "f01d52606dc8f0a8303a7b5cc3fa07109c2e346cec7c0a16b40de462992ce943"
GUARDRAIL_EXAMPLE_HASH = "c56454edb818d6b14bc0d61c46025f1450b0f4012d12304ab40aacb519fcbc93"
EXAMPLE_GENERATION = "gen-3bhGkxlo4XFrqiabUM7NDtwDzWwG"
EXAMPLE_CODE = "auth_code_abc123def456"
EXAMPLE_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
USER = [{"role": "user", "content": "What is the capital of France?"}]
_BASE = "urn:openrouter-openapi"


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> EmulatorApp:
    return create_app(
        EmulatorConfig(
            api_keys={KEY},
            validate_requests=SPEC_AVAILABLE,
            spec_path=SPEC_PATH if SPEC_AVAILABLE else None,
        )
    )


@pytest.fixture(scope="module")
def base_url(app: EmulatorApp) -> Iterator[str]:
    with serve_in_thread(app=app) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as client:
        yield client


@functools.cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(_BASE, resource)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@functools.cache
def _validator(pointer: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"{_BASE}#{pointer}"}, registry=_registry())


def _validate(body: Any, pointer: str) -> None:
    import jsonschema.exceptions

    errors = list(_validator(pointer).iter_errors(body))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        assert best is not None
        raise best


def check(response: httpx.Response, method: str, template: str, status: int = 200) -> Any:
    """Assert the status; validate the JSON body against the spec's schema for ``method
    template`` and that status; return the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if SPEC_AVAILABLE:
        operation = load_spec()["paths"][template][method.lower()]
        assert str(status) in operation["responses"], f"the spec has no {status} here"
        pointer = (
            f"/paths/{_escape(template)}/{method.lower()}/responses/{status}/content/"
            "application~1json/schema"
        )
        _validate(body, pointer)
    return body


def check_component(body: Any, schema: str) -> None:
    if SPEC_AVAILABLE:
        _validate(body, f"/components/schemas/{schema}")


def events(raw: bytes) -> list[str]:
    """The ``data`` of each event of a complete SSE body."""
    decoder = SSEDecoder()
    found = decoder.feed(raw)
    assert not decoder.has_pending, "the stream ended inside an event"
    return [event.data for event in found]


def chat(client: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("model", "openai/gpt-4")
    body.setdefault("messages", USER)
    response = client.post("/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- the catalogue ------------------------------------------------------------------------------


def test_models_list_count_and_filters(client: httpx.Client, base_url: str) -> None:
    body = check(client.get("/models"), "GET", "/models")
    ids = [model["id"] for model in body["data"]]
    for wanted in ("openai/gpt-4", "openai/gpt-3.5-turbo-instruct", "anthropic/claude-3.5-sonnet"):
        assert wanted in ids
    assert {model_id.split("/")[0] for model_id in ids} >= {
        "openai",
        "anthropic",
        "google",
        "meta-llama",
        "mistralai",
    }
    assert len(ids) >= 12 and body["total_count"] == len(ids)
    assert body["links"]["next"] is None
    assert "openai/text-embedding-ada-002" not in ids  # text models by default
    gpt4 = next(model for model in body["data"] if model["id"] == "openai/gpt-4")
    assert float(gpt4["pricing"]["prompt"]) > 0 and gpt4["context_length"] == 8191

    count = check(client.get("/models/count"), "GET", "/models/count")
    assert count["data"]["count"] == len(ids)

    programming = check(client.get("/models", params={"category": "programming"}), "GET", "/models")
    programming_ids = {model["id"] for model in programming["data"]}
    assert "openai/gpt-4" in programming_ids and "anthropic/claude-3.5-sonnet" in programming_ids
    assert "anthropic/claude-3-haiku" not in programming_ids
    assert len(programming_ids) < len(ids)

    tools = client.get("/models", params={"supported_parameters": "tools,top_k"}).json()
    assert tools["data"] and all(
        {"tools", "top_k"} <= set(model["supported_parameters"]) for model in tools["data"]
    )
    everything = client.get("/models", params={"output_modalities": "all"}).json()
    assert "openai/text-embedding-ada-002" in {model["id"] for model in everything["data"]}

    page = check(client.get("/models", params={"limit": 5}), "GET", "/models")
    assert len(page["data"]) == 5 and page["total_count"] == len(ids)
    assert page["links"]["next"] is not None
    following = client.get(page["links"]["next"].removeprefix("/api/v1")).json()
    assert {m["id"] for m in following["data"]}.isdisjoint({m["id"] for m in page["data"]})

    user = check(client.get("/models/user"), "GET", "/models/user")
    assert user["data"]
    unauthenticated = httpx.get(f"{base_url}/models/user")
    check(unauthenticated, "GET", "/models/user", 401)


def test_model_endpoints_providers(client: httpx.Client) -> None:
    model = check(client.get("/model/openai/gpt-4"), "GET", "/model/{author}/{slug}")
    assert model["data"]["id"] == "openai/gpt-4"
    check(client.get("/model/nobody/nothing"), "GET", "/model/{author}/{slug}", 404)

    endpoints = check(
        client.get("/models/openai/gpt-4/endpoints"), "GET", "/models/{author}/{slug}/endpoints"
    )["data"]
    assert endpoints["id"] == "openai/gpt-4" and endpoints["name"]
    assert {e["provider_name"] for e in endpoints["endpoints"]} == {"OpenAI", "Azure"}
    assert all(e["latency_last_30m"]["p50"] > 0 for e in endpoints["endpoints"])
    check(
        client.get("/models/nobody/nothing/endpoints"),
        "GET",
        "/models/{author}/{slug}/endpoints",
        404,
    )

    zdr = check(client.get("/endpoints/zdr"), "GET", "/endpoints/zdr")["data"]
    assert zdr and "OpenAI" not in {e["provider_name"] for e in zdr}

    providers = check(client.get("/providers"), "GET", "/providers")["data"]
    slugs = {provider["slug"] for provider in providers}
    assert {"openai", "anthropic", "mistral"} <= slugs
    assert all(provider["privacy_policy_url"] for provider in providers)


# -- completions, responses, embeddings ------------------------------------------------------------


def _check_completion(body: dict[str, Any], choices: int = 1) -> None:
    assert body["id"].startswith("gen-") and body["object"] == "text_completion"
    assert isinstance(body["created"], int) and body["model"] and body["provider"]
    assert len(body["choices"]) == choices
    for index, choice in enumerate(body["choices"]):
        assert choice["index"] == index and isinstance(choice["text"], str)
        assert choice["logprobs"] is None and choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost"] > 0


def test_completions(client: httpx.Client) -> None:
    request = {
        "model": "openai/gpt-3.5-turbo-instruct",
        "prompt": "Once upon a time in a land far away,",
        "max_tokens": 20,
        "temperature": 0.8,
        "stream": False,
    }
    response = client.post("/completions", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    _check_completion(body)
    assert body["choices"][0]["text"].startswith("Once upon a time")
    assert body["usage"]["completion_tokens"] == 20
    assert body["choices"][0]["finish_reason"] == "stop"
    assert response.headers["x-generation-id"] == body["id"]

    several = client.post("/completions", json={**request, "prompt": ["One two", "Three four"]})
    _check_completion(several.json(), choices=2)
    stopped = client.post("/completions", json={**request, "stop": ["land"]}).json()
    assert stopped["choices"][0]["text"] == "Once upon a time in a "

    raw = client.post("/completions", json={**request, "stream": True})
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.content.startswith(b": OPENROUTER PROCESSING\n\n")
    data = events(raw.content)
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(item) for item in data[:-1]]
    assert all(chunk["object"] == "text_completion" for chunk in chunks)
    finish, last = chunks[-2], chunks[-1]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 20
    streamed = "".join(c["choices"][0]["text"] for c in chunks[:-1] if c["choices"])
    assert streamed == body["choices"][0]["text"]

    broken = client.post(
        "/completions",
        json={**request, "stream": True},
        headers={"X-Emulator-Fault": "mid-stream-error=3"},
    )
    broken_events = events(broken.content)
    assert broken_events[-1] != "[DONE]"
    assert orjson.loads(broken_events[-1])["error"]["code"] == 502

    limited = client.post("/completions", json=request, headers={"X-Emulator-Fault": "status=429"})
    assert limited.status_code == 429
    check_component(limited.json(), "TooManyRequestsResponse")
    missing = client.post("/completions", json={"model": "openai/gpt-3.5-turbo-instruct"})
    assert missing.status_code == 400 and "prompt" in missing.json()["error"]["message"]


RESPONSES_TOOL = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Performs arithmetic calculations",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}


def test_responses(client: httpx.Client) -> None:
    request = {
        "model": "anthropic/claude-3.5-sonnet",
        "input": [{"role": "user", "content": "What is the capital of France?"}],
        "service_tier": "auto",
        "stream": False,
    }
    body = check(client.post("/responses", json=request), "POST", "/responses")
    assert body["status"] == "completed" and body["object"] == "response"
    message = body["output"][-1]
    assert message["type"] == "message"
    text = message["content"][0]["text"]
    assert text.startswith("What is the capital") and body["output_text"] == text
    assert body["usage"]["output_tokens"] == 8

    # The product description's second example: a chat-style tool, reasoning on.
    tooled = check(
        client.post(
            "/responses",
            json={
                "model": "openai/gpt-4",
                "input": [{"role": "user", "content": "Calculate 25 * 47"}],
                "reasoning": {"summary": "auto", "enabled": True},
                "tools": [RESPONSES_TOOL],
                "temperature": 0.5,
            },
        ),
        "POST",
        "/responses",
    )
    kinds = [item["type"] for item in tooled["output"]]
    assert kinds == ["reasoning", "function_call"]
    call = tooled["output"][1]
    assert call["name"] == "calculator" and orjson.loads(call["arguments"]) == {
        "expression": "example expression"
    }
    assert tooled["usage"]["output_tokens_details"]["reasoning_tokens"] > 0
    assert tooled["tools"][0]["name"] == "calculator"

    cut = check(
        client.post(
            "/responses",
            json={**request, "max_output_tokens": 3},
            headers={"X-Emulator-Fault": "tokens=10"},
        ),
        "POST",
        "/responses",
    )
    assert cut["status"] == "incomplete"
    assert cut["incomplete_details"] == {"reason": "max_output_tokens"}


def test_responses_stream(client: httpx.Client) -> None:
    request = {
        "model": "openai/gpt-4o",
        "input": "Write a haiku about coding.",
        "reasoning": {"effort": "low", "summary": "auto"},
        "stream": True,
    }
    raw = client.post("/responses", json=request)
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/event-stream")
    data = events(raw.content)
    assert data[-1] == "[DONE]"
    stream = [orjson.loads(item) for item in data[:-1]]
    for event in stream:
        check_component(event, "StreamEvents")
    kinds = [event["type"] for event in stream]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in kinds
    assert [event["sequence_number"] for event in stream] == list(range(len(stream)))
    deltas = "".join(e["delta"] for e in stream if e["type"] == "response.output_text.delta")
    assert deltas and kinds.count("response.output_text.delta") == 8
    completed = stream[-1]["response"]
    assert completed["output_text"] == deltas
    check_component(completed, "OpenResponsesResult")

    tooled = client.post(
        "/responses",
        json={"model": "openai/gpt-4", "input": "2+2?", "tools": [RESPONSES_TOOL], "stream": True},
    )
    tool_events = [orjson.loads(item) for item in events(tooled.content)[:-1]]
    for event in tool_events:
        check_component(event, "StreamEvents")
    arguments = "".join(
        e["delta"] for e in tool_events if e["type"] == "response.function_call_arguments.delta"
    )
    done = next(e for e in tool_events if e["type"] == "response.function_call_arguments.done")
    assert arguments == done["arguments"] and done["name"] == "calculator"

    failing = client.post(
        "/responses", json=request, headers={"X-Emulator-Fault": "mid-stream-error=2"}
    )
    failed = [orjson.loads(item) for item in events(failing.content)]
    for event in failed:
        check_component(event, "StreamEvents")
    assert [event["type"] for event in failed[-2:]] == ["error", "response.failed"]


def test_embeddings(client: httpx.Client) -> None:
    sentence = "The quick brown fox jumps over the lazy dog."
    model = "openai/text-embedding-ada-002"
    first = check(
        client.post("/embeddings", json={"input": sentence, "model": model}), "POST", "/embeddings"
    )
    vector = first["data"][0]["embedding"]
    assert len(vector) == 1536
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-4)
    again = client.post("/embeddings", json={"input": sentence, "model": model}).json()
    assert again["data"][0]["embedding"] == vector  # deterministic

    batch = check(
        client.post(
            "/embeddings",
            json={
                "input": ["First sentence", "Second sentence", sentence],
                "model": model,
                "encoding_format": "float",
            },
        ),
        "POST",
        "/embeddings",
    )
    assert [item["index"] for item in batch["data"]] == [0, 1, 2]
    assert batch["data"][2]["embedding"] == vector
    assert batch["data"][0]["embedding"] != batch["data"][1]["embedding"]
    assert batch["usage"]["prompt_tokens"] > 0

    encoded = client.post(
        "/embeddings", json={"input": sentence, "model": model, "encoding_format": "base64"}
    ).json()["data"][0]["embedding"]
    decoded = struct.unpack("<1536f", base64.b64decode(encoded))
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(decoded, vector, strict=True))

    short = client.post(
        "/embeddings",
        json={"input": sentence, "model": "openai/text-embedding-3-small", "dimensions": 256},
    ).json()
    assert len(short["data"][0]["embedding"]) == 256
    check(
        client.post("/embeddings", json={"input": "x", "model": "nobody/nothing"}),
        "POST",
        "/embeddings",
        404,
    )
    check(
        client.post("/embeddings", json={"input": "x", "model": "openai/gpt-4"}),
        "POST",
        "/embeddings",
        400,
    )

    models = check(client.get("/embeddings/models"), "GET", "/embeddings/models")
    ids = {model["id"] for model in models["data"]}
    assert model in ids and "openai/gpt-4" not in ids


# -- keys, credits, generations, activity ----------------------------------------------------------


def test_keys_lifecycle(client: httpx.Client, base_url: str) -> None:
    listed = check(
        client.get("/keys", params={"include_disabled": "false", "offset": "0"}), "GET", "/keys"
    )
    hashes = {key["hash"] for key in listed["data"]}
    assert {sha256(KEY), EXAMPLE_HASH, GUARDRAIL_EXAMPLE_HASH} <= hashes

    created = check(
        client.post(
            "/keys",
            json={
                "name": "Production API Key",
                "limit": 100.0,
                "limit_reset": "monthly",
                "include_byok_in_limit": True,
            },
        ),
        "POST",
        "/keys",
        201,
    )
    secret, digest = created["key"], created["data"]["hash"]
    assert secret.startswith("sk-or-v1-") and digest == sha256(secret)
    assert created["data"]["usage"] == 0 and created["data"]["limit_remaining"] == 100

    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=10
    ) as holder:
        current = check(holder.get("/key"), "GET", "/key")["data"]
        assert current["label"] == created["data"]["label"] and current["usage"] == 0
        cost = chat(holder).json()["usage"]["cost"]
        after = check(holder.get("/key"), "GET", "/key")["data"]
        assert math.isclose(after["usage"], cost) and math.isclose(after["usage_daily"], cost)
        assert math.isclose(after["limit_remaining"], 100 - cost)
        listed_key = check(client.get(f"/keys/{digest}"), "GET", "/keys/{hash}")["data"]
        assert math.isclose(listed_key["usage"], cost)

        updated = check(
            client.patch(f"/keys/{digest}", json={"name": "Renamed", "disabled": True}),
            "PATCH",
            "/keys/{hash}",
        )["data"]
        assert updated["name"] == "Renamed" and updated["disabled"] and updated["updated_at"]
        check(holder.get("/key"), "GET", "/key", 401)
        enabled = {key["hash"] for key in client.get("/keys").json()["data"]}
        assert digest not in enabled
        everything = client.get("/keys", params={"include_disabled": "true"}).json()["data"]
        assert digest in {key["hash"] for key in everything}
        client.patch(f"/keys/{digest}", json={"disabled": False})
        check(holder.get("/key"), "GET", "/key")

        deleted = check(client.delete(f"/keys/{digest}"), "DELETE", "/keys/{hash}")
        assert deleted == {"deleted": True}
        check(holder.get("/key"), "GET", "/key", 401)
    gone = check(client.delete(f"/keys/{digest}"), "DELETE", "/keys/{hash}", 404)
    assert gone["error"]["code"] == 404 and gone["error"]["message"]
    check(client.get(f"/keys/{digest}"), "GET", "/keys/{hash}", 404)


def test_example_key_hash_updates_and_deletes(base_url: str) -> None:
    # A fresh emulator: the module's one keeps the seeded key for the other tests.
    with (
        serve_in_thread(EmulatorConfig(api_keys={KEY})) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=10) as client,
    ):
        updated = client.patch(
            f"/keys/{EXAMPLE_HASH}",
            json={"name": "Updated Key Name", "limit": 150.0, "disabled": False},
        )
        assert updated.status_code == 200 and updated.json()["data"]["limit"] == 150
        assert client.delete(f"/keys/{EXAMPLE_HASH}").json() == {"deleted": True}
        assert client.delete(f"/keys/{EXAMPLE_HASH}").status_code == 404


def test_key_limit_is_enforced(client: httpx.Client, base_url: str) -> None:
    secret = client.post("/keys", json={"name": "tiny", "limit": 1e-9}).json()["key"]
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {secret}"}) as holder:
        chat(holder)
        refused = holder.post("/chat/completions", json={"model": "openai/gpt-4", "messages": USER})
        assert refused.status_code == 402
        check_component(refused.json(), "PaymentRequiredResponse")


def test_credits_grow_with_spending(client: httpx.Client) -> None:
    before = check(client.get("/credits"), "GET", "/credits")["data"]
    assert before["total_credits"] == 100
    cost = chat(client).json()["usage"]["cost"]
    completion = client.post(
        "/completions", json={"model": "openai/gpt-3.5-turbo-instruct", "prompt": "Hi"}
    ).json()["usage"]["cost"]
    after = check(client.get("/credits"), "GET", "/credits")["data"]
    assert math.isclose(after["total_usage"], before["total_usage"] + cost + completion)


def test_coinbase_charge(client: httpx.Client) -> None:
    charge = client.post(
        "/credits/coinbase",
        json={"amount": 100, "sender": "0x1234567890123456789012345678901234567890", "chain_id": 1},
    )
    assert charge.status_code == 200, charge.text
    data = charge.json()["data"]
    assert set(data) == {"id", "created_at", "expires_at", "web3_data"}
    assert data["expires_at"] > data["created_at"]
    intent = data["web3_data"]["transfer_intent"]
    assert intent["metadata"]["chain_id"] == 1
    assert intent["metadata"]["sender"] == "0x1234567890123456789012345678901234567890"
    assert intent["call_data"]["recipient_amount"] == "100.00"
    bad = client.post(
        "/credits/coinbase",
        json={"amount": 100, "sender": "0x1234567890123456789012345678901234567890", "chain_id": 5},
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 400


def test_generations_are_recorded(client: httpx.Client) -> None:
    response = chat(client, model="anthropic/claude-3.5-sonnet", max_tokens=5)
    generation_id = response.headers["x-generation-id"]
    found = check(client.get("/generation", params={"id": generation_id}), "GET", "/generation")
    data = found["data"]
    assert data["id"] == generation_id and data["model"] == "anthropic/claude-3.5-sonnet"
    assert data["provider_name"] == "Anthropic" and data["finish_reason"] == "stop"
    assert data["tokens_completion"] == 5 and data["tokens_prompt"] > 0
    assert math.isclose(data["total_cost"], response.json()["usage"]["cost"])
    assert data["latency"] is not None and data["streamed"] is False

    stream = client.post(
        "/chat/completions",
        json={"model": "openai/gpt-4", "messages": USER, "stream": True},
    )
    streamed = client.get("/generation", params={"id": stream.headers["x-generation-id"]}).json()
    assert streamed["data"]["streamed"] is True

    responses_id = client.post("/responses", json={"model": "openai/gpt-4", "input": "Hi"}).json()[
        "id"
    ]
    assert client.get("/generation", params={"id": responses_id}).status_code == 200

    seeded = check(
        client.get("/generation", params={"id": EXAMPLE_GENERATION}), "GET", "/generation"
    )["data"]
    assert seeded["model"] == "openai/gpt-4" and seeded["provider_name"] == "OpenAI"
    check(client.get("/generation", params={"id": "gen-nope"}), "GET", "/generation", 404)
    assert client.get("/generation").status_code == 400


def test_activity(client: httpx.Client) -> None:
    seeded = check(client.get("/activity", params={"date": "2025-01-15"}), "GET", "/activity")
    assert seeded["data"] and all(item["date"] == "2025-01-15" for item in seeded["data"])
    gpt4 = next(item for item in seeded["data"] if item["model"] == "openai/gpt-4")
    assert gpt4["requests"] >= 2 and gpt4["provider_name"] == "OpenAI"

    chat(client, model="mistralai/mistral-large")
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    rows = check(client.get("/activity", params={"date": today}), "GET", "/activity")["data"]
    mistral = next(item for item in rows if item["model"] == "mistralai/mistral-large")
    assert mistral["requests"] >= 1 and mistral["usage"] > 0 and mistral["completion_tokens"] > 0
    mine = client.get("/activity", params={"api_key_hash": sha256(KEY)}).json()["data"]
    assert mine and all(item["date"] == today for item in mine)
    grouped = check(client.get("/activity", params={"group_by": "workspace"}), "GET", "/activity")[
        "data"
    ]
    assert all("workspace_id" in item for item in grouped)
    check(client.get("/activity", params={"date": "15/01/2025"}), "GET", "/activity", 400)


# -- guardrails -----------------------------------------------------------------------------------


def test_guardrail_crud_and_assignments(client: httpx.Client) -> None:
    created = check(
        client.post(
            "/guardrails",
            json={
                "name": "Production Guardrail",
                "description": "Limit production API usage",
                "limit_usd": 100.0,
                "reset_interval": "monthly",
                "allowed_providers": ["openai", "anthropic"],
                "allowed_models": ["openai/gpt-4", "anthropic/claude-3.5-sonnet"],
                "enforce_zdr": True,
            },
        ),
        "POST",
        "/guardrails",
        201,
    )["data"]
    guardrail_id = created["id"]
    assert created["enforce_zdr_openai"] is True and created["limit_usd"] == 100
    listed = check(client.get("/guardrails"), "GET", "/guardrails")
    assert guardrail_id in {g["id"] for g in listed["data"]} and listed["total_count"] >= 1
    check(client.get(f"/guardrails/{guardrail_id}"), "GET", "/guardrails/{id}")

    assigned = check(
        client.post(
            f"/guardrails/{guardrail_id}/assignments/keys",
            json={"key_hashes": [GUARDRAIL_EXAMPLE_HASH, sha256(KEY)]},
        ),
        "POST",
        "/guardrails/{id}/assignments/keys",
    )
    assert assigned == {"assigned_count": 2}
    again = client.post(
        f"/guardrails/{guardrail_id}/assignments/keys", json={"key_hashes": [sha256(KEY)]}
    ).json()
    assert again == {"assigned_count": 0}
    unknown = client.post(
        f"/guardrails/{guardrail_id}/assignments/keys", json={"key_hashes": ["0" * 64]}
    )
    check(unknown, "POST", "/guardrails/{id}/assignments/keys", 404)
    keys = check(
        client.get(f"/guardrails/{guardrail_id}/assignments/keys"),
        "GET",
        "/guardrails/{id}/assignments/keys",
    )
    assert keys["total_count"] == 2
    assert {a["key_hash"] for a in keys["data"]} == {GUARDRAIL_EXAMPLE_HASH, sha256(KEY)}

    members = check(
        client.post(
            f"/guardrails/{guardrail_id}/assignments/members",
            json={"member_user_ids": ["user_abc123", "user_def456"]},
        ),
        "POST",
        "/guardrails/{id}/assignments/members",
    )
    assert members == {"assigned_count": 2}
    listed_members = check(
        client.get(f"/guardrails/{guardrail_id}/assignments/members"),
        "GET",
        "/guardrails/{id}/assignments/members",
    )
    assert {m["user_id"] for m in listed_members["data"]} == {"user_abc123", "user_def456"}
    every_key = check(
        client.get("/guardrails/assignments/keys"), "GET", "/guardrails/assignments/keys"
    )
    assert every_key["total_count"] >= 2
    every_member = check(
        client.get("/guardrails/assignments/members", params={"limit": 1}),
        "GET",
        "/guardrails/assignments/members",
    )
    assert len(every_member["data"]) == 1 and every_member["total_count"] >= 2

    # A key holds one guardrail: assigning it elsewhere moves it.
    other = client.post("/guardrails", json={"name": "Other"}).json()["data"]["id"]
    client.post(f"/guardrails/{other}/assignments/keys", json={"key_hashes": [sha256(KEY)]})
    remaining = client.get(f"/guardrails/{guardrail_id}/assignments/keys").json()["data"]
    assert {a["key_hash"] for a in remaining} == {GUARDRAIL_EXAMPLE_HASH}

    removed = check(
        client.post(
            f"/guardrails/{guardrail_id}/assignments/keys/remove",
            json={"key_hashes": [GUARDRAIL_EXAMPLE_HASH]},
        ),
        "POST",
        "/guardrails/{id}/assignments/keys/remove",
    )
    assert removed == {"unassigned_count": 1}
    removed_members = check(
        client.post(
            f"/guardrails/{guardrail_id}/assignments/members/remove",
            json={"member_user_ids": ["user_abc123", "user_nobody"]},
        ),
        "POST",
        "/guardrails/{id}/assignments/members/remove",
    )
    assert removed_members == {"unassigned_count": 1}

    updated = check(
        client.patch(
            f"/guardrails/{guardrail_id}",
            json={"limit_usd": 150.0, "name": "Updated Production Guardrail"},
        ),
        "PATCH",
        "/guardrails/{id}",
    )["data"]
    assert updated["limit_usd"] == 150 and updated["name"] == "Updated Production Guardrail"
    assert updated["updated_at"] and updated["description"] == "Limit production API usage"

    for gid in (guardrail_id, other):
        deleted = check(client.delete(f"/guardrails/{gid}"), "DELETE", "/guardrails/{id}")
        assert deleted == {"deleted": True}
    check(client.get(f"/guardrails/{guardrail_id}"), "GET", "/guardrails/{id}", 404)
    check(client.delete(f"/guardrails/{guardrail_id}"), "DELETE", "/guardrails/{id}", 404)
    left = client.get("/guardrails/assignments/members").json()["data"]
    assert guardrail_id not in {m["guardrail_id"] for m in left}


# -- OAuth ----------------------------------------------------------------------------------------


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_oauth_pkce(client: httpx.Client, base_url: str) -> None:
    verifier = "a-verifier-of-the-test-0123456789-abcdefghijklmnop"
    code = check(
        client.post(
            "/auth/keys/code",
            json={
                "callback_url": "https://myapp.com/auth/callback",
                "code_challenge": _challenge(verifier),
                "code_challenge_method": "S256",
                "limit": 100.0,
            },
        ),
        "POST",
        "/auth/keys/code",
    )["data"]
    assert code["id"] and isinstance(code["app_id"], int) and code["created_at"]

    with httpx.Client(base_url=base_url, timeout=10) as app:  # the app has no key yet
        wrong = app.post(
            "/auth/keys",
            json={"code": code["id"], "code_verifier": "not-it", "code_challenge_method": "S256"},
        )
        check(wrong, "POST", "/auth/keys", 403)
        missing = app.post("/auth/keys", json={"code": code["id"]})
        check(missing, "POST", "/auth/keys", 400)
        right = check(
            app.post(
                "/auth/keys",
                json={
                    "code": code["id"],
                    "code_verifier": verifier,
                    "code_challenge_method": "S256",
                },
            ),
            "POST",
            "/auth/keys",
        )
        assert right["key"].startswith("sk-or-v1-") and right["user_id"]
        used = app.post("/auth/keys", json={"code": code["id"], "code_verifier": verifier})
        check(used, "POST", "/auth/keys", 403)

        holder = {"Authorization": f"Bearer {right['key']}"}
        current = check(app.get("/key", headers=holder), "GET", "/key")["data"]
        assert current["limit"] == 100

        # The product description's exchange, against the seeded code.
        example = {
            "code": EXAMPLE_CODE,
            "code_verifier": EXAMPLE_VERIFIER,
            "code_challenge_method": "S256",
        }
        check(app.post("/auth/keys", json=example), "POST", "/auth/keys")
        check(
            app.post("/auth/keys", json={**example, "code_verifier": verifier}),
            "POST",
            "/auth/keys",
            403,
        )

    plain = client.post(
        "/auth/keys/code",
        json={"callback_url": "http://localhost:3000/cb", "code_challenge": "plain-secret"},
    ).json()["data"]["id"]
    exchanged = client.post("/auth/keys", json={"code": plain, "code_verifier": "plain-secret"})
    assert exchanged.status_code == 200


# -- validation and the seeded state ------------------------------------------------------------


@pytest.mark.skipif(not SPEC_AVAILABLE, reason="the OpenAPI spec is not available")
def test_requests_are_validated_against_the_spec(client: httpx.Client) -> None:
    bad_key = client.post("/keys", json={"name": 5})
    assert bad_key.status_code == 400 and "name" in bad_key.json()["error"]["message"]
    bad_limit = client.get("/models", params={"limit": "many"})
    assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["error"]["message"]
    assert client.get("/models", params={"category": "cooking"}).status_code == 400
    assert client.post("/guardrails", json={"description": "no name"}).status_code == 400
    assert client.post("/embeddings", json={"input": ""}).status_code == 400


def test_unseeded_state(app: EmulatorApp) -> None:
    bare = create_app(EmulatorConfig(api_keys={KEY}, seed_examples=False))
    assert set(bare.state.store.keys) == {sha256(KEY)}
    store = bare.state.store
    assert not store.generations and not store.auth_codes and not store.guardrails
    assert EXAMPLE_HASH in app.state.store.keys
