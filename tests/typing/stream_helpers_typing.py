"""The stream helpers as users write them: ``text_stream``, ``until_done()``,
``get_final_completion()``, on the Session, the facade's async methods and the sync facade.

Not a test that runs: ``uv run mypy --strict tests/typing/stream_helpers_typing.py`` checks
it. ``assert_type`` pins what is exact today. ``get_final_completion()`` is typed through the
chunk type (``_streams.ChunkOf``): a chunk type declared ``ChunkOf[R]`` makes it return an
``R`` (checked below on a chunk type of our own); until the generated ``ChatStreamChunk``
is declared ``ChunkOf[ChatResult]`` it returns ``Any``, so the lines annotated
``: ChatResult`` type-check either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from typing_extensions import assert_type

from openrouter_async import AsyncStream, ChatStreamAccumulator, OpenRouter, Session, SyncStream
from openrouter_async._streams import ChunkOf
from openrouter_async.models import ChatRequest, ChatResult, ChatStreamChunk

MESSAGES = [{"role": "user", "content": "Hello!"}]


async def session_chat(session: Session) -> None:
    stream = await session.chat.send(model="openai/gpt-4o", messages=MESSAGES, stream=True)
    async with stream:
        texts = stream.text_stream
        assert_type(texts, AsyncIterator[str])
        async for text in texts:
            assert_type(text, str)
            print(text, end="")
        await stream.until_done()
        final: ChatResult = await stream.get_final_completion()
    print(final.choices)
    request = ChatRequest(model="openai/gpt-4o", messages=MESSAGES)
    async with session.stream(request) as chunks:
        first = await chunks.__anext__()
        assert_type(first, ChatStreamChunk)
        whole: ChatResult = await chunks.get_final_completion()
    print(whole.usage)


async def async_facade(client: OpenRouter) -> None:
    stream: AsyncStream[ChatStreamChunk] = await client.chat.send_async(
        model="openai/gpt-4o", messages=MESSAGES, stream=True
    )
    text = "".join([piece async for piece in stream.text_stream])
    result: ChatResult = await stream.get_final_completion()
    print(text, result.id)


def sync_facade(client: OpenRouter) -> None:
    with client.chat.send(model="openai/gpt-4o", messages=MESSAGES, stream=True) as stream:
        assert_type(stream, SyncStream[ChatStreamChunk])
        texts = stream.text_stream
        assert_type(texts, Iterator[str])
        for text in texts:
            print(text, end="")
        stream.until_done()
        final: ChatResult = stream.get_final_completion()
    print(final.choices)


def accumulate_by_hand(chunks: list[ChatStreamChunk]) -> ChatResult:
    accumulator = ChatStreamAccumulator()
    for chunk in chunks:
        accumulator.add(chunk)
    accumulator.extend(chunks[:0])
    assert_type(accumulator.body(), dict[str, Any])
    return assert_type(accumulator.result(), ChatResult)


# -- how get_final_completion() gets its type --------------------------------------------------


class Answer:
    text = ""


class Piece(ChunkOf[Answer]):
    """A chunk type declared as a piece of an ``Answer``."""


class Other:
    """A chunk type that declares nothing."""


async def typed_by_the_chunk(pieces: AsyncStream[Piece], others: AsyncStream[Other]) -> None:
    assert_type(await pieces.get_final_completion(), Answer)
    anything = await others.get_final_completion()  # Any: nothing says what it would be
    print(anything)
    widened: AsyncStream[object] = pieces  # streams only hand chunks out: covariant
    print(widened)


def typed_by_the_chunk_sync(pieces: SyncStream[Piece]) -> str:
    return assert_type(pieces.get_final_completion(), Answer).text


async def real_chat_streams(session: Session, client: OpenRouter) -> tuple[ChatResult, ...]:
    # The generated ChatStreamChunk is a ChunkOf[ChatResult]: the final completion is typed.
    stream = await session.chat.send(model="m/x", messages=MESSAGES, stream=True)
    async with stream:
        final: ChatResult = await stream.get_final_completion()
    with client.chat.send(model="m/x", messages=MESSAGES, stream=True) as sync_stream:
        sync_final: ChatResult = sync_stream.get_final_completion()
    return final, sync_final
