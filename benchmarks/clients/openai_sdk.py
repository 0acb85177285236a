"""The ``openai`` SDK (``AsyncOpenAI`` / ``OpenAI``, ``max_retries=0``), pydantic results."""

from __future__ import annotations

import argparse
from typing import Any

import _common as c


def _limits(conc: int) -> Any:
    import httpx

    # The SDK's default pool allows 1000 connections; size it like everybody else's.
    return httpx.Limits(max_connections=max(conc, 1), max_keepalive_connections=max(conc, 1))


def fanout(args: argparse.Namespace) -> dict[str, Any]:
    import openai

    async def main() -> dict[str, Any]:
        http_client = openai.DefaultAsyncHttpxClient(limits=_limits(args.concurrency))
        async with openai.AsyncOpenAI(
            base_url=args.url, api_key="x", max_retries=0, http_client=http_client
        ) as client:

            async def call() -> object:
                r = await client.chat.completions.create(model=c.MODEL, messages=c.MESSAGES)
                return r.choices[0].message.content

            return await c.timed_fanout(args.backend, call, args)

    return c.run_backend(args.backend, main)


def stream(args: argparse.Namespace) -> dict[str, Any]:
    import openai

    async def main() -> dict[str, Any]:
        async with openai.AsyncOpenAI(base_url=args.url, api_key="x", max_retries=0) as client:
            check = await client.chat.completions.create(model=c.MODEL, messages=c.MESSAGES)
            c.check(check.choices[0].message.content)
            chunks = 0
            with c.Timer() as t:
                for _ in range(args.n):
                    s = await client.chat.completions.create(
                        model=c.MODEL,
                        messages=c.MESSAGES,
                        stream=True,
                        stream_options={"include_usage": True},
                    )
                    async with s:
                        async for chunk in s:
                            if chunk.choices and chunk.choices[0].delta.content:
                                chunks += 1
            return c.result(chunks, t, streams=args.n)

    return c.run_backend(args.backend, main)


def sync_seq(args: argparse.Namespace) -> dict[str, Any]:
    import openai

    with openai.OpenAI(base_url=args.url, api_key="x", max_retries=0) as client:

        def call() -> object:
            r = client.chat.completions.create(model=c.MODEL, messages=c.MESSAGES)
            return r.choices[0].message.content

        return c.timed_sync_seq(call, args)


def sync_stream(args: argparse.Namespace) -> dict[str, Any]:
    import openai

    with openai.OpenAI(base_url=args.url, api_key="x", max_retries=0) as client:
        r = client.chat.completions.create(model=c.MODEL, messages=c.MESSAGES)
        c.check(r.choices[0].message.content)  # warm-up: open the connection
        chunks = 0
        with c.Timer() as t:
            for _ in range(args.n):
                s = client.chat.completions.create(
                    model=c.MODEL,
                    messages=c.MESSAGES,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                with s:
                    for chunk in s:
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
