"""Raw httpx (``AsyncClient``, dict results via ``resp.json()``) on asyncio or trio,
optionally over the httpx-aiohttp transport (``--scenario fanout-aiohttp-transport``).

Streams use httpx's documented way, on its default transport (httpcore):
``async with client.stream("POST", ...)`` + ``aiter_lines()``, and ``orjson.loads`` per
``data:`` line."""

from __future__ import annotations

import argparse
from typing import Any

import _common as c
import httpx


def _fanout(args: argparse.Namespace, transport: str) -> dict[str, Any]:
    url = args.url + "/chat/completions"
    payload = {"model": c.MODEL, "messages": c.MESSAGES}
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )

    async def main() -> dict[str, Any]:
        if transport == "aiohttp":
            from httpx_aiohttp import AiohttpTransport

            client = httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=60)
        else:
            client = httpx.AsyncClient(limits=limits, timeout=60)
        async with client:

            async def call() -> object:
                r = await client.post(url, json=payload)
                r.raise_for_status()
                return r.json()["choices"][0]["message"]["content"]

            return await c.timed_fanout(args.backend, call, args)

    return c.run_backend(args.backend, main)


def stream(args: argparse.Namespace) -> dict[str, Any]:
    import orjson

    url = args.url + "/chat/completions"
    payload = {"model": c.MODEL, "messages": c.MESSAGES, "stream": True}

    async def main() -> dict[str, Any]:
        # Built as httpx's docs show: a default AsyncClient (httpcore transport, default
        # limits and timeouts).
        async with httpx.AsyncClient() as client:
            r = await client.post(url, json={"model": c.MODEL, "messages": c.MESSAGES})
            c.check(r.json()["choices"][0]["message"]["content"])  # warm-up: open the connection
            chunks = 0
            loads = orjson.loads
            with c.Timer() as t:
                for _ in range(args.n):
                    async with client.stream("POST", url, json=payload) as resp:
                        resp.raise_for_status()
                        async for line in resp.aiter_lines():
                            if not line.startswith("data: "):
                                continue
                            data = line[6:]
                            if data == "[DONE]":
                                break
                            obj = loads(data)
                            if obj["choices"] and obj["choices"][0]["delta"].get("content"):
                                chunks += 1
            return c.result(chunks, t, streams=args.n)

    return c.run_backend(args.backend, main)


if __name__ == "__main__":
    c.main(
        {
            "fanout": lambda a: _fanout(a, "httpcore"),
            "fanout-1024-slow": lambda a: _fanout(a, "httpcore"),
            "fanout-aiohttp-transport": lambda a: _fanout(a, "aiohttp"),
            "stream": stream,
        }
    )
