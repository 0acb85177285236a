"""Reading real responses with honest types: only ``is not None`` checks, no Unset, no casts.

Not a test that runs: ``mypy --strict`` checks this file. Every response field is ``T | None``
because a server may leave any of them out (and the lenient parse then reads ``None``, see
``_lenient.py``), so the checks below are exactly what a careful caller writes — and all the
type checker asks for. Sync facade and async session alike.
"""

from __future__ import annotations

import os

from openrouter_async import OpenRouter, Session

MESSAGES = [{"role": "user", "content": "Hello!"}]


def tokens_and_content(client: OpenRouter) -> None:
    r = client.chat.send(model="openai/gpt-4o", messages=MESSAGES)
    if r.usage is not None and r.usage.total_tokens is not None:
        n: int = r.usage.total_tokens
        print(n)
    if r.choices is not None:
        c = r.choices[0].message
        if c is not None and c.content is not None:
            content: object = c.content
            print(content)


def streamed_delta(client: OpenRouter) -> None:
    with client.chat.send(model="openai/gpt-4o", messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            if chunk.choices is not None and chunk.choices[0].delta is not None:
                text = chunk.choices[0].delta.content
                if text is not None:
                    piece: str = text
                    print(piece, end="")


def model_pricing(client: OpenRouter) -> None:
    listed = client.models.list()
    if listed.data is not None and listed.data[0].pricing is not None:
        price: str | None = listed.data[0].pricing.prompt
        print(price)


async def the_same_async() -> None:
    async with OpenRouter(api_key=os.getenv("OPENROUTER_API_KEY", "")) as client:
        r = await client.chat.send_async(model="openai/gpt-4o", messages=MESSAGES)
        if r.usage is not None and r.usage.total_tokens is not None:
            n: int = r.usage.total_tokens
            print(n)
        if r.choices is not None:
            c = r.choices[0].message
            if c is not None and c.content is not None:
                print(c.content)
        stream = await client.chat.send_async(model="openai/gpt-4o", messages=MESSAGES, stream=True)
        async with stream:
            async for chunk in stream:
                if chunk.choices is not None and chunk.choices[0].delta is not None:
                    text = chunk.choices[0].delta.content
                    if text is not None:
                        piece: str = text
                        print(piece, end="")
        listed = await client.models.list_async()
        if listed.data is not None and listed.data[0].pricing is not None:
            price: str | None = listed.data[0].pricing.prompt
            print(price)


async def on_the_session() -> None:
    async with Session(api_key=os.getenv("OPENROUTER_API_KEY", "")) as session:
        r = await session.chat.send(model="openai/gpt-4o", messages=MESSAGES)
        if r.usage is not None and r.usage.total_tokens is not None:
            n: int = r.usage.total_tokens
            print(n)
        listed = await session.models.list()
        if listed.data is not None and listed.data[0].pricing is not None:
            price: str | None = listed.data[0].pricing.prompt
            print(price)
