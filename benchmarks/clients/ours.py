"""openrouter_async (this project): ``Session`` on asyncio or trio, and the sync facade
(``OpenRouter``: sequential calls and streams)."""

from __future__ import annotations

import argparse
from typing import Any

import _common as c


def fanout(args: argparse.Namespace) -> dict[str, Any]:
    from openrouter_async import Session
    from openrouter_async.models import ChatRequest

    async def main() -> dict[str, Any]:
        async with Session(
            base_url=args.url, api_key="x", max_connections=args.concurrency
        ) as session:

            async def call() -> object:
                r = await session.send(ChatRequest(model=c.MODEL, messages=c.MESSAGES))
                return r.choices[0].message.content

            return await c.timed_fanout(args.backend, call, args)

    return c.run_backend(args.backend, main)


def stream(args: argparse.Namespace) -> dict[str, Any]:
    from openrouter_async import Session
    from openrouter_async.models import ChatRequest

    async def main() -> dict[str, Any]:
        async with Session(base_url=args.url, api_key="x", max_connections=4) as session:
            r = await session.send(ChatRequest(model=c.MODEL, messages=c.MESSAGES))
            c.check(r.choices[0].message.content)
            chunks = 0
            with c.Timer() as t:
                for _ in range(args.n):
                    req = ChatRequest(model=c.MODEL, messages=c.MESSAGES, stream=True)
                    async with session.stream(req) as it:
                        async for chunk in it:
                            if chunk.choices and chunk.choices[0].delta.content:
                                chunks += 1
            return c.result(chunks, t, streams=args.n)

    return c.run_backend(args.backend, main)


def sync_seq(args: argparse.Namespace) -> dict[str, Any]:
    from openrouter_async import OpenRouter

    with OpenRouter(server_url=args.url, api_key="x") as client:

        def call() -> object:
            r = client.chat.send(model=c.MODEL, messages=c.MESSAGES)
            return r.choices[0].message.content

        return c.timed_sync_seq(call, args)


def sync_stream(args: argparse.Namespace) -> dict[str, Any]:
    from openrouter_async import OpenRouter

    # As the README shows: `with client.chat.send(..., stream=True) as events: for event in ...`
    with OpenRouter(server_url=args.url, api_key="x") as client:
        r = client.chat.send(model=c.MODEL, messages=c.MESSAGES)
        c.check(r.choices[0].message.content)  # warm-up: start the portal, open the connection
        chunks = 0
        with c.Timer() as t:
            for _ in range(args.n):
                with client.chat.send(model=c.MODEL, messages=c.MESSAGES, stream=True) as events:
                    for chunk in events:
                        if chunk.choices and chunk.choices[0].delta.content:
                            chunks += 1
        return c.result(chunks, t, streams=args.n)


if __name__ == "__main__":
    c.main(
        {
            "fanout": fanout,
            "fanout-1024-slow": fanout,
            "stream": stream,
            "sync-seq": sync_seq,
            "sync-stream": sync_stream,
        }
    )
