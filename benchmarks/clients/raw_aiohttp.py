"""Raw aiohttp: the ceiling. JSON bodies decoded to dicts with ``resp.json()``;
streams parsed line by line with ``json.loads`` per ``data:`` event."""

from __future__ import annotations

import argparse
import json
from typing import Any

import _common as c
import aiohttp


def _session(conc: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc, limit_per_host=0))


def fanout(args: argparse.Namespace) -> dict[str, Any]:
    url = args.url + "/chat/completions"
    payload = {"model": c.MODEL, "messages": c.MESSAGES}

    async def main() -> dict[str, Any]:
        async with _session(args.concurrency) as s:

            async def call() -> object:
                async with s.post(url, json=payload) as r:
                    r.raise_for_status()
                    data = await r.json()
                return data["choices"][0]["message"]["content"]

            return await c.timed_fanout("asyncio", call, args)

    return c.run_backend("asyncio", main)


def stream(args: argparse.Namespace) -> dict[str, Any]:
    url = args.url + "/chat/completions"
    payload = {"model": c.MODEL, "messages": c.MESSAGES, "stream": True}

    async def main() -> dict[str, Any]:
        async with _session(4) as s:
            async with s.post(url, json={"model": c.MODEL, "messages": c.MESSAGES}) as r:
                await r.read()  # warm-up: open the connection
            chunks = 0
            with c.Timer() as t:
                for _ in range(args.n):
                    async with s.post(url, json=payload) as r:
                        r.raise_for_status()
                        async for line in r.content:
                            if not line.startswith(b"data: "):
                                continue
                            data = line[6:].rstrip()
                            if data == b"[DONE]":
                                break
                            obj = json.loads(data)
                            if obj["choices"] and obj["choices"][0]["delta"].get("content"):
                                chunks += 1
            return c.result(chunks, t, streams=args.n)

    return c.run_backend("asyncio", main)


if __name__ == "__main__":
    c.main({"fanout": fanout, "fanout-1024-slow": fanout, "stream": stream})
