"""Raw httpx (``AsyncClient``, dict results via ``resp.json()``) on asyncio or trio,
optionally over the httpx-aiohttp transport (``--scenario fanout-aiohttp-transport``)."""

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


if __name__ == "__main__":
    c.main(
        {
            "fanout": lambda a: _fanout(a, "httpcore"),
            "fanout-1024-slow": lambda a: _fanout(a, "httpcore"),
            "fanout-aiohttp-transport": lambda a: _fanout(a, "aiohttp"),
        }
    )
