"""Other clients work against the emulator: the official ``openrouter`` SDK and ``openai``.

Each is built the way its documentation says and pointed at the session's emulator (which
validates every request body and query against the spec, so their requests are checked too):
chat, streamed chat, the model list, embeddings and the key calls. Both SDKs' sync clients;
their async clients on asyncio, and openai's on trio too (the official SDK does not run
under trio: its hooks go through ``asyncio.to_thread``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

openai = pytest.importorskip("openai")
openrouter = pytest.importorskip("openrouter")

# The official SDK warns whenever it builds its (deprecated) RateLimit model, i.e. on every
# GET /key: the spec still requires the field.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*\*\* DEPRECATED \*\*:DeprecationWarning")

PROMPT = "Tell me about the emulator"
MESSAGES = [{"role": "user", "content": PROMPT}]
# The emulator's answer: the last user message, cycled word by word to 8 tokens.
ANSWER = "Tell me about the emulator Tell me about"
EMBEDDING_MODEL = "openai/text-embedding-3-small"


def _unit(vector: list[float]) -> bool:
    return math.isclose(math.sqrt(sum(value * value for value in vector)), 1.0, rel_tol=1e-4)


# -- the official SDK -----------------------------------------------------------------------------


# The official SDK parses strictly and fails on the shapes real OpenRouter sends (which the
# session's emulator sends in its realistic mode): it asks for the spec's shapes.
STRICT_SHAPE = {"X-Emulator-Shape": "strict"}


@pytest.fixture
def official(emulator_url: str, api_key: str) -> Iterator[Any]:
    with (
        httpx.Client(headers=STRICT_SHAPE) as http,
        openrouter.OpenRouter(api_key=api_key, server_url=emulator_url, client=http) as client,
    ):
        yield client


def test_official_chat(official: Any) -> None:
    result = official.chat.send(model="openai/gpt-4", messages=MESSAGES)
    assert result.choices[0].message.content == ANSWER
    assert result.choices[0].finish_reason == "stop"
    assert result.usage.completion_tokens == 8 and result.usage.cost > 0


def test_official_chat_stream(official: Any) -> None:
    with official.chat.send(model="openai/gpt-4", messages=MESSAGES, stream=True) as events:
        chunks = list(events)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8


def test_official_models(official: Any) -> None:
    page = official.models.list()
    ids = [model.id for model in page.result.data]
    assert "openai/gpt-4" in ids and len(ids) >= 12
    count = official.models.count()
    assert count.data.count == len(ids)


def test_official_embeddings(official: Any) -> None:
    result = official.embeddings.generate(model=EMBEDDING_MODEL, input=["one", "two"])
    assert [item.index for item in result.data] == [0, 1]
    assert all(len(item.embedding) == 1536 and _unit(item.embedding) for item in result.data)
    models = official.embeddings.list_models()
    assert EMBEDDING_MODEL in {model.id for model in models.result.data}


def test_official_keys(official: Any, api_key: str) -> None:
    current = official.api_keys.get_current_key_metadata()
    assert current.data.label.startswith(api_key[:12])

    created = official.api_keys.create(name="Peer key", limit=10.0, limit_reset="monthly")
    digest = created.data.hash
    assert digest == hashlib.sha256(created.key.encode()).hexdigest()
    listed = official.api_keys.list()
    assert digest in {key.hash for key in listed.data}
    assert official.api_keys.get(hash=digest).data.name == "Peer key"
    updated = official.api_keys.update(hash=digest, name="Renamed", disabled=True)
    assert updated.data.name == "Renamed" and updated.data.disabled is True
    official.api_keys.delete(hash=digest)
    remaining = official.api_keys.list(include_disabled=True)
    assert digest not in {key.hash for key in remaining.data}


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # not trio: see the module docstring
async def test_official_async(emulator_url: str, api_key: str, anyio_backend: str) -> None:
    async with (
        httpx.AsyncClient(headers=STRICT_SHAPE) as http,
        openrouter.OpenRouter(
            api_key=api_key, server_url=emulator_url, async_client=http
        ) as client,
    ):
        result = await client.chat.send_async(model="openai/gpt-4", messages=MESSAGES)
        assert result.choices[0].message.content == ANSWER
        stream = await client.chat.send_async(model="openai/gpt-4", messages=MESSAGES, stream=True)
        async with stream as events:
            text = "".join([c.choices[0].delta.content or "" async for c in events if c.choices])
        assert text == ANSWER
        key = await client.api_keys.get_current_key_metadata_async()
        assert key.data.label.startswith(api_key[:12])


# -- openai ---------------------------------------------------------------------------------------


@pytest.fixture
def oai(emulator_url: str, api_key: str) -> Iterator[Any]:
    with openai.OpenAI(api_key=api_key, base_url=emulator_url, max_retries=0) as client:
        yield client


def test_openai_chat(oai: Any) -> None:
    completion = oai.chat.completions.create(model="openai/gpt-4", messages=MESSAGES)
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 8


def test_openai_chat_stream(oai: Any) -> None:
    stream = oai.chat.completions.create(
        model="openai/gpt-4",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream:
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8


def test_openai_tool_call(oai: Any) -> None:
    tool = {
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
    completion = oai.chat.completions.create(model="openai/gpt-4o", messages=MESSAGES, tools=[tool])
    [call] = completion.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"location":"Paris"}'


def test_openai_models(oai: Any) -> None:
    ids = [model.id for model in oai.models.list()]
    assert "openai/gpt-4" in ids and len(ids) >= 12


def test_openai_embeddings(oai: Any) -> None:
    # openai asks for base64 unless told otherwise, and decodes it: both ways give the vector.
    packed = oai.embeddings.create(model=EMBEDDING_MODEL, input=["one", "two"])
    plain = oai.embeddings.create(
        model=EMBEDDING_MODEL, input=["one", "two"], encoding_format="float"
    )
    assert [item.index for item in packed.data] == [0, 1]
    for a, b in zip(packed.data, plain.data, strict=True):
        assert len(a.embedding) == 1536 and _unit(b.embedding)
        assert all(
            math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a.embedding, b.embedding, strict=True)
        )
    assert packed.usage.prompt_tokens > 0


def test_openai_key(oai: Any, api_key: str) -> None:
    # openai has no key API; its generic request methods reach OpenRouter's.
    current = oai.get("/key", cast_to=object)
    assert current["data"]["label"].startswith(api_key[:12])
    created = oai.post("/keys", body={"name": "Peer key"}, cast_to=object)
    digest = created["data"]["hash"]
    assert oai.get(f"/keys/{digest}", cast_to=object)["data"]["name"] == "Peer key"
    assert oai.delete(f"/keys/{digest}", cast_to=object) == {"deleted": True}


@pytest.mark.anyio
async def test_openai_async(emulator_url: str, api_key: str) -> None:
    async with openai.AsyncOpenAI(api_key=api_key, base_url=emulator_url, max_retries=0) as client:
        completion = await client.chat.completions.create(model="openai/gpt-4", messages=MESSAGES)
        assert completion.choices[0].message.content == ANSWER
        stream = await client.chat.completions.create(
            model="openai/gpt-4", messages=MESSAGES, stream=True
        )
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == ANSWER
        embedded = await client.embeddings.create(model=EMBEDDING_MODEL, input="one")
        assert len(embedded.data[0].embedding) == 1536
        assert "openai/gpt-4" in [model.id async for model in client.models.list()]
