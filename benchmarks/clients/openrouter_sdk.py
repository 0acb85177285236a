"""The official ``openrouter`` SDK (Speakeasy-generated; httpx + pydantic).

``client.chat.send_async(...)`` / ``client.chat.send(...)`` with ``server_url`` pointed
at the canned server and no retry configuration."""

from __future__ import annotations

import argparse
from typing import Any

import _common as c


def fanout(args: argparse.Namespace) -> dict[str, Any]:
    from openrouter import OpenRouter

    async def main() -> dict[str, Any]:
        import httpx

        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        async_client = httpx.AsyncClient(limits=limits, timeout=60)
        async with async_client:
            client = OpenRouter(api_key="x", server_url=args.url, async_client=async_client)

            async def call() -> object:
                r = await client.chat.send_async(model=c.MODEL, messages=c.MESSAGES)
                return r.choices[0].message.content

            return await c.timed_fanout(args.backend, call, args)

    return c.run_backend(args.backend, main)


def sync_seq(args: argparse.Namespace) -> dict[str, Any]:
    from openrouter import OpenRouter

    with OpenRouter(api_key="x", server_url=args.url) as client:

        def call() -> object:
            r = client.chat.send(model=c.MODEL, messages=c.MESSAGES)
            return r.choices[0].message.content

        return c.timed_sync_seq(call, args)


if __name__ == "__main__":
    c.main({"fanout": fanout, "fanout-1024-slow": fanout, "sync-seq": sync_seq})
