"""``stream=flag`` with a ``flag: bool`` known only at run time, on every surface.

Not a test that runs: ``uv run mypy --strict tests/typing/stream_flag_typing.py`` checks it.
Each ``_: T = expr`` line pins the type a call yields: the union of the result and the stream
(not ``Any``, which would accept a wrong annotation too, and not an error). The literal forms
keep their narrow types, and the extras (``extra_body`` and co.) type-check on every method.
"""

from __future__ import annotations

from openrouter_async import AsyncStream, OpenRouter, Session, SyncStream
from openrouter_async.models import ChatResult, ChatStreamChunk

MESSAGES = [{"role": "user", "content": "Hello!"}]


def sync_facade(client: OpenRouter, flag: bool) -> None:
    either: ChatResult | SyncStream[ChatStreamChunk] = client.chat.send(
        model="openai/gpt-4o", messages=MESSAGES, stream=flag
    )
    if isinstance(either, ChatResult):
        result: ChatResult = either
        print(result.id)
    else:
        with either as events:
            for event in events:
                chunk: ChatStreamChunk = event
                print(chunk.id)
    streamed: SyncStream[ChatStreamChunk] = client.chat.send(
        model="openai/gpt-4o", messages=MESSAGES, stream=True
    )
    print(streamed)
    plain: ChatResult = client.chat.send(model="openai/gpt-4o", messages=MESSAGES)
    unstreamed: ChatResult = client.chat.send(
        model="openai/gpt-4o",
        messages=MESSAGES,
        stream=False,
        transforms=["middle-out"],
        preset="my-preset",
        usage={"include": True},
        n=1,
        web_search_options={"search_context_size": "medium"},
        extra_body={"new_param": [1, 2]},
        extra_query={"debug": True},
        extra_headers={"X-Trace": "1"},
    )
    print(plain, unstreamed)


async def async_facade(client: OpenRouter, flag: bool) -> None:
    either: ChatResult | AsyncStream[ChatStreamChunk] = await client.chat.send_async(
        model="openai/gpt-4o", messages=MESSAGES, stream=flag, extra_body={"x": 1}
    )
    if isinstance(either, AsyncStream):
        async with either as events:
            async for event in events:
                chunk: ChatStreamChunk = event
                print(chunk.id)


async def session_group(session: Session, flag: bool) -> None:
    either: ChatResult | AsyncStream[ChatStreamChunk] = await session.chat.send(
        model="openai/gpt-4o", messages=MESSAGES, stream=flag, extra_query={"a": "b"}
    )
    print(either)
