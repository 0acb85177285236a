"""The OpenRouter facade: sync from plain threads and from inside a running loop; async on
asyncio and trio."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from openrouter_async import OpenRouter, errors
from openrouter_async.models import ChatAssistantMessage, ChatResult

from .conftest import EmulatorProbe
from .test_session import HELLO, wait_for_idle_streams


def test_sync_send_and_stream(emulator_url: str, api_key: str) -> None:
    with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        result = client.chat.send(model="openai/gpt-4o", messages=HELLO, temperature=0.7)
        assert isinstance(result, ChatResult)
        response = client.chat.send(model="openai/gpt-4o", messages=HELLO, stream=True)
        with response as event_stream:
            text = "".join(
                event.choices[0].delta.content or "" for event in event_stream if event.choices
            )
    assert text == result.choices[0].message.content


def test_sync_calls_from_many_threads_at_once(emulator_url: str, api_key: str) -> None:
    with OpenRouter(api_key=api_key, server_url=emulator_url) as client:

        def work(i: int) -> str:
            result = client.chat.send(model="m/x", messages=[{"role": "user", "content": f"{i}"}])
            return str(result.choices[0].message.content)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(work, range(40)))
    assert len(answers) == 40 and all(answers)


def test_sync_calls_from_inside_a_running_asyncio_loop(emulator_url: str, api_key: str) -> None:
    """A notebook cell runs inside a loop: sync calls must still work there."""

    async def notebook_cell() -> str:
        with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
            result = client.chat.send(model="m/x", messages=HELLO)
            with client.chat.send(model="m/x", messages=HELLO, stream=True) as events:
                chunks = list(events)
        assert chunks
        return str(result.choices[0].message.content)

    assert asyncio.run(notebook_cell())


def test_sync_without_with_block_starts_lazily_and_closes(emulator_url: str, api_key: str) -> None:
    client = OpenRouter(api_key=api_key, server_url=emulator_url)
    try:
        assert client.chat.send(model="m/x", messages=HELLO).choices
    finally:
        client.close()
    portal_threads = [t for t in threading.enumerate() if t.name == "openrouter-async-portal"]
    assert not portal_threads


def test_sync_portal_on_trio(emulator_url: str, api_key: str) -> None:
    with OpenRouter(api_key=api_key, server_url=emulator_url, backend="trio") as client:
        assert client.chat.send(model="m/x", messages=HELLO).choices
        with client.chat.send(model="m/x", messages=HELLO, stream=True) as events:
            assert list(events)


def test_sync_stream_left_early_is_closed(
    emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        with client.chat.send(
            model="m/x",
            messages=HELLO,
            stream=True,
            http_headers={"X-Emulator-Fault": "tokens=5000"},
        ) as events:
            for _ in events:
                break
    asyncio.run(wait_for_idle_streams(emulator))


def test_sync_stream_without_with_is_closed_by_its_error(
    emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    """Iterated without ``with``, a stream whose iteration raises closes itself: nothing
    else would (the caller holds no block to leave)."""
    with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        events = client.chat.send(
            model="m/x",
            messages=HELLO,
            stream=True,
            retries=None,
            http_headers={"X-Emulator-Fault": "malformed-json=1,token-delay-ms=10,tokens=500"},
        )
        with pytest.raises(errors.ResponseValidationError):
            for _ in events:
                pass
        asyncio.run(wait_for_idle_streams(emulator))


def test_sync_errors_are_typed(emulator_url: str) -> None:
    with OpenRouter(api_key="sk-or-bad", server_url=emulator_url) as client:
        with pytest.raises(errors.UnauthorizedResponseError) as caught:
            client.chat.send(model="m/x", messages=HELLO)
    assert caught.value.data.message


def test_unknown_argument_is_named_before_sending(emulator_url: str, api_key: str) -> None:
    with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        # Every field is in the signature: a typo is a TypeError naming it (and a mypy error).
        with pytest.raises(TypeError, match=r"temprature"):
            client.chat.send(model="m/x", messages=HELLO, temprature=0.2)


def test_tool_call_round_trip_with_model_objects_and_dicts(emulator_url: str, api_key: str) -> None:
    tools = [
        {
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
    ]
    messages: list[object] = [{"role": "user", "content": "Weather in Paris?"}]
    with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        first = client.chat.send(model="m/x", messages=messages, tools=tools, tool_choice="auto")
        message = first.choices[0].message
        assert isinstance(message, ChatAssistantMessage) and message.tool_calls
        call = message.tool_calls[0]
        messages.append(message)
        messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"t": 22}'})
        final = client.chat.send(model="m/x", messages=messages, tools=tools)
    assert final.choices[0].message.content


@pytest.mark.anyio
async def test_async_facade(emulator_url: str, api_key: str) -> None:
    async with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        result = await client.chat.send_async(model="m/x", messages=HELLO)
        assert result.choices[0].message.content
        response = await client.chat.send_async(model="m/x", messages=HELLO, stream=True)
        async with response as event_stream:
            events = [event async for event in event_stream]
    assert events


@pytest.mark.anyio
async def test_async_call_without_async_with_explains(emulator_url: str, api_key: str) -> None:
    client = OpenRouter(api_key=api_key, server_url=emulator_url)
    with pytest.raises(RuntimeError, match="async with"):
        await client.chat.send_async(model="m/x", messages=HELLO)
