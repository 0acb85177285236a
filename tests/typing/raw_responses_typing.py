"""User-style code on raw responses, checked by ``mypy --strict`` (not run)."""

from __future__ import annotations

from datetime import timedelta

from openrouter_async import OpenRouter, Session
from openrouter_async.errors import OpenRouterError
from openrouter_async.models import ChatResult, ChatStreamChunk

HELLO = [{"role": "user", "content": "Hello"}]


async def on_the_session(session: Session) -> None:
    raw = await session.chat.with_raw_response.send(model="m", messages=HELLO)
    status: int = raw.status_code
    elapsed: timedelta = raw.elapsed
    generation: str | None = raw.generation_id
    result: ChatResult = raw.parse()
    request_id: str | None = result._request_id
    streamed = await session.chat.with_raw_response.send(model="m", messages=HELLO, stream=True)
    async with streamed.parse() as stream:
        async for chunk in stream:
            typed: ChatStreamChunk = chunk
    async with session.chat.with_streaming_response.send(model="m", messages=HELLO) as response:
        later: ChatResult = await response.parse()
        async for line in response.iter_lines():
            text: str = line
    try:
        await session.models.list()
    except OpenRouterError as error:
        if error.request is not None:
            where: str = error.request.url
    print(status, elapsed, generation, request_id, typed, later, text, where)


def on_the_facade(client: OpenRouter) -> None:
    raw = client.chat.with_raw_response.send(model="m", messages=HELLO, stream=True)
    with raw.parse() as stream:
        for chunk in stream:
            typed: ChatStreamChunk = chunk
    with client.chat.with_streaming_response.send(model="m", messages=HELLO) as response:
        result: ChatResult = response.parse()
    print(typed, result)


async def on_the_facade_async(client: OpenRouter) -> None:
    raw = await client.chat.with_raw_response.send_async(model="m", messages=HELLO)
    result: ChatResult = raw.parse()
    print(result)
