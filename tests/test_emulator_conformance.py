"""The emulator's answers conform to the official spec, as Stoplight Prism sees them.

``prism proxy`` (see ``_prism.py``) stands between a plain httpx client and a served emulator:
it validates every request against the spec, forwards it, and validates the emulator's answer
against the operation's response for the status it came with (a status the operation does not
list is a violation too). Each case below asserts that Prism found nothing on either side.

Every route the emulator serves that the spec describes is driven, at least once: the routes
come from the app itself (``EmulatorApp``'s route table), so a route added to the emulator
without a case here fails ``test_every_served_route_is_driven``. Routes the spec does not
describe (``POST /completions``, the emulator's ``/_emulator/*``) are left out.

Prism reads a ``text/event-stream`` body as one string and validates it against the spec's
per-event schema (an object with ``data``), so a stream always draws one response violation
(``_prism.SSE_BODY_VIOLATION``) and nothing else; the stream cases accept exactly that one and
validate each event's ``data`` against the same schema themselves.

Set-up calls (creating the key a ``GET /keys/{hash}`` reads, ...) go straight to the emulator;
only the call under test goes through Prism.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from openrouter_async._sse import SSEDecoder
from openrouter_async.emulator import EmulatorApp, EmulatorConfig, create_app, serve_in_thread

from ._prism import (
    ROUTE_NOT_FOUND,
    SSE_BODY_VIOLATION,
    prism_proxy,
    request_violations,
    violation_messages,
)
from .spec_validation import SKIP_REASON, SPEC_AVAILABLE, SPEC_PATH, load_spec

pytestmark = pytest.mark.skipif(not SPEC_AVAILABLE, reason=SKIP_REASON)

KEY = "sk-or-v1-conformance-0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
USER = [{"role": "user", "content": "What is the capital of France?"}]
SEEDED_GENERATION = "gen-3bhGkxlo4XFrqiabUM7NDtwDzWwG"
SEEDED_GUARDRAIL_KEY_HASH = "c56454edb818d6b14bc0d61c46025f1450b0f4012d12304ab40aacb519fcbc93"
SEEDED_CODE = "auth_code_abc123def456"
SEEDED_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
RESPONSES_TOOL = {
    "type": "function",
    "name": "calculator",
    "description": "Performs arithmetic calculations",
    "parameters": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
}
#: Prism's request violation for a request without ``Authorization: Bearer ...``.
NO_AUTH = ("[Error] request: Invalid security scheme used",)
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

Route = tuple[str, str]  # ("GET", "/keys/{hash}"): the spec's method and path template


# -- which routes ---------------------------------------------------------------------------------


def spec_operations() -> set[Route]:
    return {
        (method.upper(), template)
        for template, item in load_spec()["paths"].items()
        for method in item
        if method in _METHODS
    }


def served_routes(app: EmulatorApp) -> set[Route]:
    """Every (method, spec path) the app routes (its own ``/_emulator/*`` routes included)."""
    routes = getattr(app, "routes", None)
    if routes is None:  # no public listing (yet): the private route table
        routes = [route for by_method in app._exact.values() for route in by_method.values()]
        routes += app._patterns
    return {(route.method, route.spec_path or route.path) for route in routes}


@functools.cache
def served_spec_routes() -> frozenset[Route]:
    """The routes the emulator serves that the spec describes (what this module drives)."""
    if not SPEC_AVAILABLE:
        return frozenset()
    return frozenset(served_routes(create_app()) & spec_operations())


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> EmulatorApp:
    # Request validation on: the emulator also refuses (400) a request that breaks the spec.
    # Strict shapes (realistic=False): this module checks the emulator against the spec.
    return create_app(
        EmulatorConfig(api_keys={KEY}, validate_requests=True, spec_path=SPEC_PATH, realistic=False)
    )


@pytest.fixture(scope="module")
def upstream(app: EmulatorApp) -> Iterator[str]:
    with serve_in_thread(app=app) as url:  # http://127.0.0.1:<port>/api/v1
        yield url


@pytest.fixture(scope="module")
def proxy_url(upstream: str) -> Iterator[str]:
    with prism_proxy(upstream) as url:
        yield url


@dataclass
class Clients:
    #: Through Prism (no /api/v1 prefix), authenticated.
    proxy: httpx.Client
    #: Through Prism, without credentials.
    anonymous: httpx.Client
    #: Straight to the emulator, authenticated: for set-up.
    direct: httpx.Client


@pytest.fixture(scope="module")
def clients(proxy_url: str, upstream: str) -> Iterator[Clients]:
    with (
        httpx.Client(base_url=proxy_url, headers=AUTH, timeout=30) as proxy,
        httpx.Client(base_url=proxy_url, timeout=30) as anonymous,
        httpx.Client(base_url=upstream, headers=AUTH, timeout=30) as direct,
    ):
        yield Clients(proxy, anonymous, direct)


# -- the cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    route: Route
    label: str
    call: Callable[[Clients], httpx.Response]
    status: int = 200
    stream: bool = False
    #: What Prism may say of the *request* (deliberately broken ones only; default: nothing).
    request_violations: tuple[str, ...] = ()
    #: A known divergence from the spec (the case is a strict xfail, with this reason).
    known: str | None = None

    @property
    def id(self) -> str:
        return f"{self.route[0]} {self.route[1]} [{self.label}]"


CASES: list[Case] = []


def case(
    method: str,
    template: str,
    label: str = "ok",
    *,
    status: int = 200,
    stream: bool = False,
    request_violations: tuple[str, ...] = (),
    known: str | None = None,
) -> Callable[[Callable[[Clients], httpx.Response]], Callable[[Clients], httpx.Response]]:
    def register(call: Callable[[Clients], httpx.Response]) -> Callable[[Clients], httpx.Response]:
        route = (method, template)
        CASES.append(Case(route, label, call, status, stream, request_violations, known))
        return call

    return register


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _new_key(c: Clients, name: str = "conformance") -> tuple[str, str]:
    """(hash, secret) of a key created straight on the emulator."""
    created = c.direct.post("/keys", json={"name": name})
    assert created.status_code == 201, created.text
    return created.json()["data"]["hash"], created.json()["key"]


def _guarded_key(c: Clients) -> dict[str, str]:
    """Auth headers of a new key whose guardrail allows openai/gpt-4o-mini only."""
    digest, secret = _new_key(c, "guarded")
    guardrail = c.direct.post(
        "/guardrails", json={"name": "Mini only", "allowed_models": ["openai/gpt-4o-mini"]}
    ).json()["data"]["id"]
    assigned = c.direct.post(
        f"/guardrails/{guardrail}/assignments/keys", json={"key_hashes": [digest]}
    )
    assert assigned.status_code == 200, assigned.text
    return {"Authorization": f"Bearer {secret}"}


def _new_guardrail(c: Clients) -> str:
    created = c.direct.post("/guardrails", json={"name": "Conformance guardrail"})
    assert created.status_code == 201, created.text
    guardrail_id: str = created.json()["data"]["id"]
    return guardrail_id


# chat


@case("POST", "/chat/completions")
def _chat(c: Clients) -> httpx.Response:
    return c.proxy.post("/chat/completions", json={"model": "openai/gpt-4", "messages": USER})


@case("POST", "/chat/completions", "stream", stream=True)
def _chat_stream(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "messages": USER, "stream": True}
    return c.proxy.post("/chat/completions", json=body, headers={"Accept": "text/event-stream"})


@case("POST", "/chat/completions", "tool call")
def _chat_tool(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4o", "messages": USER, "tools": [CHAT_TOOL]}
    return c.proxy.post("/chat/completions", json=body)


@case("POST", "/chat/completions", "tool call, stream", stream=True)
def _chat_tool_stream(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4o", "messages": USER, "tools": [CHAT_TOOL], "stream": True}
    return c.proxy.post("/chat/completions", json=body, headers={"Accept": "text/event-stream"})


@case("POST", "/chat/completions", "tool result, json_schema, max_tokens")
def _chat_tool_result(c: Clients) -> httpx.Response:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
    }
    messages = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C"},
    ]
    response_format = {
        "type": "json_schema",
        "json_schema": {
            "name": "weather",
            "schema": {"type": "object", "properties": {"summary": {"type": "string"}}},
        },
    }
    body = {
        "model": "openai/gpt-4o",
        "messages": messages,
        "response_format": response_format,
        "max_tokens": 3,
    }
    return c.proxy.post("/chat/completions", json=body)


@case("POST", "/chat/completions", "mid-stream error", stream=True)
def _chat_mid_stream_error(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "messages": USER, "stream": True}
    headers = {"Accept": "text/event-stream", "X-Emulator-Fault": "mid-stream-error=2"}
    return c.proxy.post("/chat/completions", json=body, headers=headers)


@case("POST", "/chat/completions", "429", status=429)
def _chat_429(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "messages": USER}
    headers = {"X-Emulator-Fault": "status=429;retry-after=1"}
    return c.proxy.post("/chat/completions", json=body, headers=headers)


@case("POST", "/chat/completions", "402", status=402)
def _chat_402(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "messages": USER}
    return c.proxy.post("/chat/completions", json=body, headers={"X-Emulator-Fault": "status=402"})


@case("POST", "/chat/completions", "400", status=400)
def _chat_400(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "messages": USER}
    return c.proxy.post("/chat/completions", json=body, headers={"X-Emulator-Fault": "status=400"})


@case("POST", "/chat/completions", "401", status=401, request_violations=NO_AUTH)
def _chat_401(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "messages": USER}
    return c.anonymous.post("/chat/completions", json=body)


@case("POST", "/chat/completions", "403 guardrail", status=403)
def _chat_403(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "messages": USER}
    return c.proxy.post("/chat/completions", json=body, headers=_guarded_key(c))


@case("POST", "/chat/completions", "404 no provider left", status=404)
def _chat_404(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "messages": USER, "provider": {"only": ["mistral"]}}
    return c.proxy.post("/chat/completions", json=body)


# responses


@case("POST", "/responses")
def _responses(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "input": "What is the capital of France?"}
    return c.proxy.post("/responses", json=body)


@case("POST", "/responses", "message items, reasoning, tool")
def _responses_tool(c: Clients) -> httpx.Response:
    body = {
        "model": "openai/gpt-4",
        "input": [{"role": "user", "content": "Calculate 25 * 47"}],
        "reasoning": {"summary": "auto", "effort": "low"},
        "tools": [RESPONSES_TOOL],
    }
    return c.proxy.post("/responses", json=body)


@case("POST", "/responses", "max_output_tokens (incomplete)")
def _responses_incomplete(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "input": "Count to ten", "max_output_tokens": 16}
    return c.proxy.post("/responses", json=body, headers={"X-Emulator-Fault": "tokens=40"})


@case("POST", "/responses", "stream", stream=True)
def _responses_stream(c: Clients) -> httpx.Response:
    body = {
        "model": "openai/gpt-4o",
        "input": "Write a haiku about coding.",
        "reasoning": {"effort": "low", "summary": "auto"},
        "stream": True,
    }
    return c.proxy.post("/responses", json=body, headers={"Accept": "text/event-stream"})


@case("POST", "/responses", "tool, stream", stream=True)
def _responses_tool_stream(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "input": "2+2?", "tools": [RESPONSES_TOOL], "stream": True}
    return c.proxy.post("/responses", json=body, headers={"Accept": "text/event-stream"})


@case("POST", "/responses", "mid-stream error", stream=True)
def _responses_failed(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "input": "Hi", "stream": True}
    headers = {"Accept": "text/event-stream", "X-Emulator-Fault": "mid-stream-error=2"}
    return c.proxy.post("/responses", json=body, headers=headers)


@case("POST", "/responses", "403 guardrail", status=403)
def _responses_403(c: Clients) -> httpx.Response:
    body = {"model": "openai/gpt-4", "input": "Hi"}
    return c.proxy.post("/responses", json=body, headers=_guarded_key(c))


# embeddings


@case("POST", "/embeddings")
def _embeddings(c: Clients) -> httpx.Response:
    body = {"model": "openai/text-embedding-3-small", "input": "The quick brown fox"}
    return c.proxy.post("/embeddings", json=body)


@case("POST", "/embeddings", "batch, dimensions")
def _embeddings_batch(c: Clients) -> httpx.Response:
    body = {
        "model": "openai/text-embedding-3-small",
        "input": ["First sentence", "Second sentence"],
        "dimensions": 64,
        "encoding_format": "float",
    }
    return c.proxy.post("/embeddings", json=body)


@case("POST", "/embeddings", "base64")
def _embeddings_base64(c: Clients) -> httpx.Response:
    body = {"model": "openai/text-embedding-ada-002", "input": "x", "encoding_format": "base64"}
    return c.proxy.post("/embeddings", json=body)


@case("POST", "/embeddings", "404 unknown model", status=404)
def _embeddings_404(c: Clients) -> httpx.Response:
    return c.proxy.post("/embeddings", json={"model": "nobody/nothing", "input": "x"})


# The spec lists no 403 for POST /embeddings: a guardrail's refusal there is a 404 (no endpoint
# left for this key), one of the statuses it lists.
@case("POST", "/embeddings", "404 guardrail", status=404)
def _embeddings_guardrail_404(c: Clients) -> httpx.Response:
    body = {"model": "openai/text-embedding-3-small", "input": "x"}
    return c.proxy.post("/embeddings", json=body, headers=_guarded_key(c))


@case("GET", "/embeddings/models")
def _embedding_models(c: Clients) -> httpx.Response:
    return c.proxy.get("/embeddings/models")


# the catalogue


@case("GET", "/models")
def _models(c: Clients) -> httpx.Response:
    return c.proxy.get("/models")


@case("GET", "/models", "filters, page")
def _models_filtered(c: Clients) -> httpx.Response:
    return c.proxy.get("/models", params={"category": "programming", "limit": 2})


@case("GET", "/models", "all output modalities")
def _models_all(c: Clients) -> httpx.Response:
    return c.proxy.get("/models", params={"output_modalities": "all"})


@case("GET", "/models/count")
def _models_count(c: Clients) -> httpx.Response:
    return c.proxy.get("/models/count")


@case("GET", "/models/user")
def _models_user(c: Clients) -> httpx.Response:
    return c.proxy.get("/models/user")


@case("GET", "/models/user", "401", status=401, request_violations=NO_AUTH)
def _models_user_401(c: Clients) -> httpx.Response:
    return c.anonymous.get("/models/user")


@case("GET", "/model/{author}/{slug}")
def _model(c: Clients) -> httpx.Response:
    return c.proxy.get("/model/openai/gpt-4")


@case("GET", "/model/{author}/{slug}", "404", status=404)
def _model_404(c: Clients) -> httpx.Response:
    return c.proxy.get("/model/nobody/nothing")


@case("GET", "/models/{author}/{slug}/endpoints")
def _endpoints(c: Clients) -> httpx.Response:
    return c.proxy.get("/models/openai/gpt-4/endpoints")


@case("GET", "/models/{author}/{slug}/endpoints", "404", status=404)
def _endpoints_404(c: Clients) -> httpx.Response:
    return c.proxy.get("/models/nobody/nothing/endpoints")


@case("GET", "/endpoints/zdr")
def _zdr(c: Clients) -> httpx.Response:
    return c.proxy.get("/endpoints/zdr")


@case("GET", "/providers")
def _providers(c: Clients) -> httpx.Response:
    return c.proxy.get("/providers")


# keys, credits


@case("GET", "/keys")
def _keys(c: Clients) -> httpx.Response:
    return c.proxy.get("/keys", params={"include_disabled": "true", "offset": 0})


@case("POST", "/keys", status=201)
def _create_key(c: Clients) -> httpx.Response:
    body = {
        "name": "Production API Key",
        "limit": 100.0,
        "limit_reset": "monthly",
        "include_byok_in_limit": True,
        "expires_at": "2099-12-31T23:59:59Z",
    }
    return c.proxy.post("/keys", json=body)


@case("GET", "/keys/{hash}")
def _get_key(c: Clients) -> httpx.Response:
    digest, _ = _new_key(c)
    return c.proxy.get(f"/keys/{digest}")


@case("GET", "/keys/{hash}", "404", status=404)
def _get_key_404(c: Clients) -> httpx.Response:
    return c.proxy.get(f"/keys/{'0' * 64}")


@case("PATCH", "/keys/{hash}")
def _update_key(c: Clients) -> httpx.Response:
    digest, _ = _new_key(c)
    body = {"name": "Renamed", "disabled": True, "limit": 150.0, "limit_reset": "daily"}
    return c.proxy.patch(f"/keys/{digest}", json=body)


@case("DELETE", "/keys/{hash}")
def _delete_key(c: Clients) -> httpx.Response:
    digest, _ = _new_key(c)
    return c.proxy.delete(f"/keys/{digest}")


@case("DELETE", "/keys/{hash}", "404", status=404)
def _delete_key_404(c: Clients) -> httpx.Response:
    return c.proxy.delete(f"/keys/{'0' * 64}")


@case("GET", "/key")
def _current_key(c: Clients) -> httpx.Response:
    _, secret = _new_key(c)
    c.direct.post(
        "/chat/completions",
        json={"model": "openai/gpt-4", "messages": USER},
        headers={"Authorization": f"Bearer {secret}"},
    )
    return c.proxy.get("/key", headers={"Authorization": f"Bearer {secret}"})


@case("GET", "/key", "401", status=401, request_violations=NO_AUTH)
def _current_key_401(c: Clients) -> httpx.Response:
    return c.anonymous.get("/key")


@case("GET", "/credits")
def _credits(c: Clients) -> httpx.Response:
    return c.proxy.get("/credits")


# The spec retired this operation (deprecated: no request body, 410 Gone, "will never return
# a 200"); the emulator deliberately still serves the product description's charge, so the
# request (with the body the product description sends) breaks the spec; the 200 does not
# (the spec gives it no content to check).
@case(
    "POST",
    "/credits/coinbase",
    request_violations=(
        "[Error] request: No supported content types, but request included a non-empty body",
    ),
)
def _coinbase(c: Clients) -> httpx.Response:
    body = {"amount": 100, "sender": "0x1234567890123456789012345678901234567890", "chain_id": 1}
    return c.proxy.post("/credits/coinbase", json=body)


# generations, activity


@case("GET", "/generation")
def _generation(c: Clients) -> httpx.Response:
    made = c.direct.post("/chat/completions", json={"model": "openai/gpt-4", "messages": USER})
    return c.proxy.get("/generation", params={"id": made.headers["x-generation-id"]})


@case("GET", "/generation", "seeded, streamed")
def _generation_seeded(c: Clients) -> httpx.Response:
    return c.proxy.get("/generation", params={"id": SEEDED_GENERATION})


@case("GET", "/generation", "404", status=404)
def _generation_404(c: Clients) -> httpx.Response:
    return c.proxy.get("/generation", params={"id": "gen-nope"})


@case("GET", "/activity")
def _activity(c: Clients) -> httpx.Response:
    c.direct.post("/chat/completions", json={"model": "openai/gpt-4", "messages": USER})
    return c.proxy.get("/activity")


@case("GET", "/activity", "date, key hash")
def _activity_filtered(c: Clients) -> httpx.Response:
    params = {"date": "2025-01-15", "api_key_hash": _sha256(KEY)}
    return c.proxy.get("/activity", params=params)


@case("GET", "/activity", "seeded date, by workspace")
def _activity_by_workspace(c: Clients) -> httpx.Response:
    return c.proxy.get("/activity", params={"date": "2025-01-15", "group_by": "workspace"})


# guardrails


@case("GET", "/guardrails")
def _guardrails(c: Clients) -> httpx.Response:
    _new_guardrail(c)
    return c.proxy.get("/guardrails", params={"offset": 0, "limit": 10})


@case("POST", "/guardrails", status=201)
def _create_guardrail(c: Clients) -> httpx.Response:
    body = {
        "name": "Production Guardrail",
        "description": "Limit production API usage",
        "limit_usd": 100.0,
        "reset_interval": "monthly",
        "allowed_providers": ["openai", "anthropic"],
        "allowed_models": ["openai/gpt-4", "anthropic/claude-3.5-sonnet"],
        "enforce_zdr": True,
    }
    return c.proxy.post("/guardrails", json=body)


@case("GET", "/guardrails/{id}")
def _get_guardrail(c: Clients) -> httpx.Response:
    return c.proxy.get(f"/guardrails/{_new_guardrail(c)}")


@case("GET", "/guardrails/{id}", "404", status=404)
def _get_guardrail_404(c: Clients) -> httpx.Response:
    return c.proxy.get("/guardrails/00000000-0000-4000-8000-000000000000")


@case("PATCH", "/guardrails/{id}")
def _update_guardrail(c: Clients) -> httpx.Response:
    body = {"name": "Updated", "limit_usd": 150.0, "ignored_providers": ["azure"]}
    return c.proxy.patch(f"/guardrails/{_new_guardrail(c)}", json=body)


@case("DELETE", "/guardrails/{id}")
def _delete_guardrail(c: Clients) -> httpx.Response:
    return c.proxy.delete(f"/guardrails/{_new_guardrail(c)}")


@case("POST", "/guardrails/{id}/assignments/keys")
def _assign_keys(c: Clients) -> httpx.Response:
    digest, _ = _new_key(c)
    body = {"key_hashes": [digest, SEEDED_GUARDRAIL_KEY_HASH]}
    return c.proxy.post(f"/guardrails/{_new_guardrail(c)}/assignments/keys", json=body)


@case("GET", "/guardrails/{id}/assignments/keys")
def _guardrail_key_assignments(c: Clients) -> httpx.Response:
    guardrail_id = _new_guardrail(c)
    digest, _ = _new_key(c)
    c.direct.post(f"/guardrails/{guardrail_id}/assignments/keys", json={"key_hashes": [digest]})
    return c.proxy.get(f"/guardrails/{guardrail_id}/assignments/keys")


@case("POST", "/guardrails/{id}/assignments/keys/remove")
def _unassign_keys(c: Clients) -> httpx.Response:
    guardrail_id = _new_guardrail(c)
    digest, _ = _new_key(c)
    c.direct.post(f"/guardrails/{guardrail_id}/assignments/keys", json={"key_hashes": [digest]})
    body = {"key_hashes": [digest]}
    return c.proxy.post(f"/guardrails/{guardrail_id}/assignments/keys/remove", json=body)


@case("GET", "/guardrails/assignments/keys")
def _key_assignments(c: Clients) -> httpx.Response:
    guardrail_id = _new_guardrail(c)
    digest, _ = _new_key(c)
    c.direct.post(f"/guardrails/{guardrail_id}/assignments/keys", json={"key_hashes": [digest]})
    return c.proxy.get("/guardrails/assignments/keys")


@case("POST", "/guardrails/{id}/assignments/members")
def _assign_members(c: Clients) -> httpx.Response:
    body = {"member_user_ids": ["user_abc123", "user_def456"]}
    return c.proxy.post(f"/guardrails/{_new_guardrail(c)}/assignments/members", json=body)


@case("GET", "/guardrails/{id}/assignments/members")
def _guardrail_member_assignments(c: Clients) -> httpx.Response:
    guardrail_id = _new_guardrail(c)
    body = {"member_user_ids": ["user_abc123"]}
    c.direct.post(f"/guardrails/{guardrail_id}/assignments/members", json=body)
    return c.proxy.get(f"/guardrails/{guardrail_id}/assignments/members")


@case("POST", "/guardrails/{id}/assignments/members/remove")
def _unassign_members(c: Clients) -> httpx.Response:
    guardrail_id = _new_guardrail(c)
    body = {"member_user_ids": ["user_abc123"]}
    c.direct.post(f"/guardrails/{guardrail_id}/assignments/members", json=body)
    return c.proxy.post(f"/guardrails/{guardrail_id}/assignments/members/remove", json=body)


@case("GET", "/guardrails/assignments/members")
def _member_assignments(c: Clients) -> httpx.Response:
    guardrail_id = _new_guardrail(c)
    body = {"member_user_ids": ["user_xyz789"]}
    c.direct.post(f"/guardrails/{guardrail_id}/assignments/members", json=body)
    return c.proxy.get("/guardrails/assignments/members", params={"limit": 5})


# OAuth


def _challenge(verifier: str) -> str:
    import base64

    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


VERIFIER = "a-verifier-of-the-conformance-test-0123456789-abcdefgh"


@case("POST", "/auth/keys/code")
def _create_code(c: Clients) -> httpx.Response:
    body = {
        "callback_url": "https://myapp.com/auth/callback",
        "code_challenge": _challenge(VERIFIER),
        "code_challenge_method": "S256",
        "limit": 100.0,
    }
    return c.proxy.post("/auth/keys/code", json=body)


@case("POST", "/auth/keys")
def _exchange_code(c: Clients) -> httpx.Response:
    code = c.direct.post(
        "/auth/keys/code",
        json={
            "callback_url": "https://myapp.com/auth/callback",
            "code_challenge": _challenge(VERIFIER),
            "code_challenge_method": "S256",
        },
    ).json()["data"]["id"]
    body = {"code": code, "code_verifier": VERIFIER, "code_challenge_method": "S256"}
    return c.proxy.post("/auth/keys", json=body)


@case("POST", "/auth/keys", "seeded code")
def _exchange_seeded_code(c: Clients) -> httpx.Response:
    body = {"code": SEEDED_CODE, "code_verifier": SEEDED_VERIFIER, "code_challenge_method": "S256"}
    return c.proxy.post("/auth/keys", json=body)


@case("POST", "/auth/keys", "403 wrong verifier", status=403)
def _exchange_code_403(c: Clients) -> httpx.Response:
    body = {"code": SEEDED_CODE, "code_verifier": "not-it", "code_challenge_method": "S256"}
    return c.proxy.post("/auth/keys", json=body)


# -- the tests ------------------------------------------------------------------------------------


@functools.cache
def _event_validator(template: str) -> Any:
    """The spec's schema of one event of the operation's ``text/event-stream`` answer."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    base = "urn:openrouter-openapi"
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    escaped = template.replace("~", "~0").replace("/", "~1")
    pointer = f"/paths/{escaped}/post/responses/200/content/text~1event-stream/schema"
    return Draft202012Validator(
        {"$ref": f"{base}#{pointer}"}, registry=Registry().with_resource(base, resource)
    )


def _stream_problems(template: str, raw: bytes) -> list[str]:
    """Each SSE event's ``data``, as ``{"data": ...}``, against the operation's event schema."""
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    problems = ["the stream ended inside an event"] if decoder.has_pending else []
    validator = _event_validator(template)
    for number, event in enumerate(events):
        if event.data == "[DONE]":
            continue
        for error in validator.iter_errors({"data": orjson.loads(event.data)}):
            where = ".".join(str(part) for part in error.absolute_path)
            problems.append(f"event {number}: {where}: {error.message[:300]}")
    return problems


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(c, marks=[pytest.mark.xfail(strict=True, reason=c.known)] if c.known else [])
        for c in CASES
    ],
    ids=[c.id for c in CASES],
)
def test_prism_finds_no_violation(check: Case, clients: Clients) -> None:
    response = check.call(clients)
    assert response.status_code == check.status, response.text[:2000]
    assert request_violations(response) == list(check.request_violations)
    answers = violation_messages(response, "response")
    if check.stream:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert answers == [SSE_BODY_VIOLATION]
        assert _stream_problems(check.route[1], response.content) == []
    else:
        assert answers == []


def test_every_served_route_is_driven() -> None:
    driven = {c.route for c in CASES}
    served = served_spec_routes()
    assert sorted(served - driven) == [], "served routes of the spec without a case here"
    assert sorted(driven - served) == [], "cases for routes the emulator does not serve"


def test_routes_served_and_in_the_spec() -> None:
    """What the emulator covers of the spec (printed with ``-s``)."""
    operations = spec_operations()
    served = served_spec_routes()
    assert len(served) >= 30  # a sanity check of the route table's reading
    extra = sorted(served_routes(create_app()) - operations)
    print(f"\nemulator routes in the spec: {len(served)} of {len(operations)} operations")
    print(f"emulator routes outside the spec: {', '.join(' '.join(r) for r in extra)}")


# -- the harness sees what it should ------------------------------------------------------------


def test_the_proxy_reports_a_broken_answer(clients: Clients) -> None:
    # The error-200 fault answers 200 with OpenRouter's error body, which is no ChatResult:
    # proof that Prism does validate the emulator's answers here.
    body = {"model": "openai/gpt-4", "messages": USER}
    response = clients.proxy.post(
        "/chat/completions", json=body, headers={"X-Emulator-Fault": "error-200"}
    )
    assert response.status_code == 200 and "error" in response.json()
    assert request_violations(response) == []
    answers = violation_messages(response, "response")
    assert any("must have required property 'choices'" in item for item in answers), answers


def test_the_proxy_reports_a_route_outside_the_spec(clients: Clients) -> None:
    # POST /completions is served by the emulator but not described by the spec: forwarded,
    # with Prism's warning on the request side.
    body = {"model": "openai/gpt-3.5-turbo-instruct", "prompt": "Once upon"}
    response = clients.proxy.post("/completions", json=body)
    assert response.status_code == 200
    assert request_violations(response) == [f"[Warning] request: {ROUTE_NOT_FOUND}"]


def test_broken_events_are_reported() -> None:
    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    raw = b"data: " + orjson.dumps({**chunk, "choices": "none"}) + b"\n\ndata: [DONE]\n\n"
    [problem] = _stream_problems("/chat/completions", raw)
    assert problem.startswith("event 0: data.choices:")
    assert _stream_problems("/chat/completions", b"data: {") != []


# -- the Batch API (not in the spec: checked against the spec with the codegen overlay) ---------
#
# The overlay (tools/codegen/overlay.yaml) describes `/batches` from the official SDK's models;
# a second `prism proxy` validates these routes against the spec with the overlay merged in,
# as the generator sees it (`python -m tools.codegen --write-spec`).

BATCH_CHAT = [
    {"custom_id": "one", "body": {"messages": USER}},
    {"custom_id": "two", "body": {"messages": USER, "tools": [CHAT_TOOL]}},
]
BATCH_BODIES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "chat": ("/v1/chat/completions", BATCH_CHAT),
    "embeddings": (
        "/v1/embeddings",
        [{"custom_id": "e", "body": {"input": ["one", "two"]}}],
    ),
    "responses": ("/v1/responses", [{"custom_id": "r", "body": {"input": "Hi"}}]),
    "messages": (
        "/v1/messages",
        [{"custom_id": "m", "body": {"max_tokens": 8, "messages": USER}}],
    ),
    "failing request": ("/v1/embeddings", [{"custom_id": "x", "body": {"input": "no"}}]),
    "invalid batch": ("/v1/chat/completions", [{"custom_id": "s", "body": {"stream": True}}]),
}
BATCH_MODELS = {"/v1/embeddings": "openai/text-embedding-3-small"}


@pytest.fixture(scope="module")
def overlay_spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tools.codegen.cli import write_merged_spec

    target = tmp_path_factory.mktemp("overlay") / "openrouter.overlay.json"
    write_merged_spec(SPEC_PATH, target)
    return target


@pytest.fixture(scope="module")
def batch_clients(upstream: str, overlay_spec: Any) -> Iterator[Clients]:
    with (
        prism_proxy(upstream, spec=overlay_spec) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=30) as proxy,
        httpx.Client(base_url=url, timeout=30) as anonymous,
        httpx.Client(base_url=upstream, headers=AUTH, timeout=30) as direct,
    ):
        yield Clients(proxy, anonymous, direct)


def _new_batch(c: Clients, kind: str = "chat") -> str:
    endpoint, requests = BATCH_BODIES[kind]
    model = BATCH_MODELS.get(endpoint, "openai/gpt-4o-mini")
    if kind == "failing request":
        model = "openai/gpt-4o-mini"  # a chat model cannot embed: one failed result
    body = {"endpoint": endpoint, "model": model, "requests": requests}
    created = c.direct.post("/batches", json=body)
    assert created.status_code == 202, created.text
    batch_id: str = created.json()["id"]
    return batch_id


def _ended_batch(c: Clients, kind: str) -> str:
    import time

    batch_id = _new_batch(c, kind)
    for _ in range(600):
        if c.direct.get(f"/batches/{batch_id}").json()["status"] in (
            "completed",
            "failed",
            "expired",
            "cancelled",
        ):
            return batch_id
        time.sleep(0.01)
    raise AssertionError(f"batch {batch_id} did not end")


BATCH_CASES: list[Case] = []


def batch_case(
    method: str,
    template: str,
    label: str = "ok",
    *,
    status: int = 200,
    request_violations: tuple[str, ...] = (),
) -> Callable[[Callable[[Clients], httpx.Response]], Callable[[Clients], httpx.Response]]:
    def register(call: Callable[[Clients], httpx.Response]) -> Callable[[Clients], httpx.Response]:
        BATCH_CASES.append(Case((method, template), label, call, status, False, request_violations))
        return call

    return register


@batch_case("POST", "/batches", status=202)
def _batch_create(c: Clients) -> httpx.Response:
    endpoint, requests = BATCH_BODIES["chat"]
    body = {
        "endpoint": endpoint,
        "model": "openai/gpt-4o-mini",
        "callback_url": "https://example.com/hook",
        "completion_window": "24h",
        "provider": {"only": ["openai"], "allow_fallbacks": True},
        "requests": requests,
    }
    return c.proxy.post("/batches", json=body)


@batch_case("POST", "/batches", "400 repeated custom_id", status=400)
def _batch_create_400(c: Clients) -> httpx.Response:
    requests = [{"custom_id": "a", "body": {"messages": USER}}] * 2
    body = {"endpoint": "/v1/chat/completions", "model": "openai/gpt-4", "requests": requests}
    return c.proxy.post("/batches", json=body)


@batch_case("POST", "/batches", "401", status=401, request_violations=NO_AUTH)
def _batch_create_401(c: Clients) -> httpx.Response:
    body = {"endpoint": "/v1/chat/completions", "model": "openai/gpt-4", "requests": BATCH_CHAT}
    return c.anonymous.post("/batches", json=body)


@batch_case("GET", "/batches")
def _batch_list(c: Clients) -> httpx.Response:
    _new_batch(c)
    return c.proxy.get("/batches")


@batch_case("GET", "/batches", "filters, page")
def _batch_list_filtered(c: Clients) -> httpx.Response:
    _ended_batch(c, "chat")
    _ended_batch(c, "chat")
    params = {"limit": 1, "status": "completed", "created_after": "2020-01-01T00:00:00Z"}
    first = c.direct.get("/batches", params=params).json()
    return c.proxy.get("/batches", params={**params, "after": first["last_id"]})


@batch_case("GET", "/batches/{id}", "validating")
def _batch_get_validating(c: Clients) -> httpx.Response:
    return c.proxy.get(f"/batches/{_new_batch(c)}")


for _kind in BATCH_BODIES:

    def _batch_get_ended(c: Clients, kind: str = _kind) -> httpx.Response:
        return c.proxy.get(f"/batches/{_ended_batch(c, kind)}")

    batch_case("GET", "/batches/{id}", f"ended: {_kind}")(_batch_get_ended)


@batch_case("GET", "/batches/{id}", "cancelled")
def _batch_get_cancelled(c: Clients) -> httpx.Response:
    batch_id = _new_batch(c)
    ended = c.direct.post(f"/_emulator/batches/{batch_id}/finish", json={"status": "cancelled"})
    assert ended.status_code == 200, ended.text
    return c.proxy.get(f"/batches/{batch_id}")


@batch_case("GET", "/batches/{id}", "404", status=404)
def _batch_get_404(c: Clients) -> httpx.Response:
    return c.proxy.get("/batches/batch_00000000ffffffffffffffff")


@batch_case("DELETE", "/batches/{id}")
def _batch_delete(c: Clients) -> httpx.Response:
    return c.proxy.delete(f"/batches/{_ended_batch(c, 'chat')}")


@batch_case("DELETE", "/batches/{id}", "409 still running", status=409)
def _batch_delete_409(c: Clients) -> httpx.Response:
    return c.proxy.delete(f"/batches/{_new_batch(c)}")


@batch_case("DELETE", "/batches/{id}", "404", status=404)
def _batch_delete_404(c: Clients) -> httpx.Response:
    return c.proxy.delete("/batches/batch_00000000ffffffffffffffff")


@pytest.mark.parametrize("check", BATCH_CASES, ids=[c.id for c in BATCH_CASES])
def test_prism_finds_no_violation_in_batches(check: Case, batch_clients: Clients) -> None:
    response = check.call(batch_clients)
    assert response.status_code == check.status, response.text[:2000]
    assert request_violations(response) == list(check.request_violations)
    assert violation_messages(response, "response") == []


def test_every_batch_route_is_driven(overlay_spec: Any) -> None:
    """Every Batch API route the emulator serves (described by the overlay only) has a case
    above (``POST /completions``, the overlay's other addition, is checked outside the spec:
    ``test_the_proxy_reports_a_route_outside_the_spec``)."""
    merged = orjson.loads(overlay_spec.read_bytes())
    overlay_only = {
        (method.upper(), template)
        for template, item in merged["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
        and operation.get("x-openrouter-async-overlay")
        and template.startswith("/batches")
    } - spec_operations()
    served = served_routes(create_app()) & overlay_only
    assert {("GET", "/batches"), ("DELETE", "/batches/{id}")} <= served
    assert sorted(served - {c.route for c in BATCH_CASES}) == []


def test_the_batch_proxy_validates_the_results(batch_clients: Clients) -> None:
    # A batch created in realistic mode answers like real OpenRouter: its chat results lack
    # the spec's required `system_fingerprint`. Prism must see that deep in `results`.
    endpoint, requests = BATCH_BODIES["chat"]
    body = {"endpoint": endpoint, "model": "openai/gpt-4o-mini", "requests": requests}
    created = batch_clients.direct.post(
        "/batches", json=body, headers={"X-Emulator-Shape": "realistic"}
    )
    batch_id = created.json()["id"]
    import time

    for _ in range(600):
        if batch_clients.direct.get(f"/batches/{batch_id}").json()["status"] == "completed":
            break
        time.sleep(0.01)
    response = batch_clients.proxy.get(f"/batches/{batch_id}")
    assert response.status_code == 200
    # Every alternative of the result's body fails, so Prism may write "Too many
    # violations! [...]" instead of a JSON list: the raw header is read.
    reported = response.headers.get("sl-violations", "")
    assert '"response","body","results"' in reported, reported[:500]
