"""The generated API against the emulator: streaming operations other than chat go through the
same stream machinery (both backends and the sync facade), and calls move server state."""

from __future__ import annotations

import pytest

from openrouter_async import AsyncStream, OpenRouter, Session, SyncStream
from openrouter_async.models import CompletionsResponse, OpenResponsesResult


@pytest.mark.anyio
async def test_completions_and_responses_stream_on_the_session(
    emulator_url: str, api_key: str
) -> None:
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        whole = await session.completions.generate(
            model="openai/gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=20
        )
        assert isinstance(whole, CompletionsResponse)
        stream = await session.completions.generate(
            model="openai/gpt-3.5-turbo-instruct",
            prompt="Once upon a time",
            max_tokens=20,
            stream=True,
        )
        assert isinstance(stream, AsyncStream)
        async with stream as chunks:
            text = "".join([c.choices[0].text async for c in chunks if c.choices])
        assert text == whole.choices[0].text
        events = await session.responses.send(
            model="openai/gpt-4", input=[{"role": "user", "content": "Hi"}], stream=True
        )
        async with events as event_stream:
            kinds = [getattr(event, "type", None) async for event in event_stream]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
        assert "response.output_text.delta" in kinds


def test_streams_and_state_through_the_sync_facade(emulator_url: str, api_key: str) -> None:
    with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        before = client.credits.get_credits().data.total_usage
        stream = client.completions.generate(
            model="openai/gpt-3.5-turbo-instruct", prompt="Hello", stream=True
        )
        assert isinstance(stream, SyncStream)
        with stream as chunks:
            assert any(c.choices and c.choices[0].text for c in chunks)
        result = client.beta.responses.send(
            model="openai/gpt-4", input=[{"role": "user", "content": "Hi"}]
        )
        assert isinstance(result, OpenResponsesResult)
        assert client.credits.get_credits().data.total_usage > before
        created = client.api_keys.create(name="from a test", limit=5.0)
        fetched = client.api_keys.get(hash=created.data.hash)
        assert fetched.data.name == "from a test"
        assert client.api_keys.delete(hash=created.data.hash).deleted is True
