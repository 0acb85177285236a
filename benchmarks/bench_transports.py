"""Micro-benchmark of the HTTP transports under httpx, against the canned loopback server.

N POSTs with a small JSON body, C in flight, each response body read in full; throughput in
requests/second, the median of R interleaved rounds (every case runs once per round, in turn,
so that drift on the machine hits all cases alike).

asyncio cases:
  aiohttp-raw          aiohttp.ClientSession.post + read (the ceiling)
  httpx-default        httpx.AsyncClient with its own pool (httpcore)
  httpx+httpx_aiohttp  httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport())
  httpx+ours           httpx.AsyncClient(transport=AiohttpTransport()) via build_request + send
  ours-direct          AiohttpTransport.handle_async_request(httpx.Request(...)) + aread
  httpx_aiohttp-direct the same, on httpx_aiohttp.AiohttpTransport (transport vs transport)
  *-direct-lean        the same, the body read by iterating response.stream, not aread()
  ours(h11)-direct     AnyioH11Transport on asyncio, for reference (asyncio uses aiohttp)
trio cases:
  httpx-default        httpx.AsyncClient with its own pool (httpcore over anyio)
  httpx+ours           httpx.AsyncClient(transport=AnyioH11Transport()) via build_request + send
  ours-direct          AnyioH11Transport.handle_async_request(httpx.Request(...)) + aread

Run: ``uv run python benchmarks/bench_transports.py [-n 5000] [-c 64] [-r 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _server_proc import start_server

from openrouter_async._transports._h11pool import AnyioH11Transport

BODY = (
    b'{"model":"openai/gpt-4o","messages":[{"role":"user","content":"Say hello"}],'
    b'"max_tokens":16,"temperature":0.2}'
)
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-or-bench"}
LIMIT = 100  # pool size for every client (>= concurrency)

# A case: (backend, name, factory). The factory receives (url, n, concurrency) and returns
# an awaitable that performs the n requests and returns their total response bytes.
Runner = Callable[[str, int, int], Awaitable[int]]


async def _fan_out_asyncio(n: int, concurrency: int, one: Callable[[], Awaitable[int]]) -> int:
    remaining = n
    total = 0

    async def worker() -> None:
        nonlocal remaining, total
        while remaining > 0:
            remaining -= 1
            total += await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


async def _fan_out_anyio(n: int, concurrency: int, one: Callable[[], Awaitable[int]]) -> int:
    import anyio

    remaining = n
    total = 0

    async def worker() -> None:
        nonlocal remaining, total
        while remaining > 0:
            remaining -= 1
            total += await one()

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return total


# --------------------------------------------------------------------------- asyncio cases


async def aiohttp_raw(url: str, n: int, c: int) -> int:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=LIMIT)) as session:

        async def one() -> int:
            async with session.post(url, data=BODY, headers=HEADERS) as r:
                return len(await r.read())

        return await _fan_out_asyncio(n, c, one)


async def _httpx_client_run(client: httpx.AsyncClient, url: str, n: int, c: int) -> int:
    async with client:

        async def one() -> int:
            request = client.build_request("POST", url, content=BODY, headers=HEADERS)
            response = await client.send(request)
            return len(response.content)

        return await _fan_out_asyncio(n, c, one)


async def httpx_default(url: str, n: int, c: int) -> int:
    limits = httpx.Limits(max_connections=LIMIT, max_keepalive_connections=LIMIT)
    return await _httpx_client_run(httpx.AsyncClient(limits=limits), url, n, c)


async def httpx_httpx_aiohttp(url: str, n: int, c: int) -> int:
    import httpx_aiohttp

    limits = httpx.Limits(max_connections=LIMIT, max_keepalive_connections=LIMIT)
    transport = httpx_aiohttp.AiohttpTransport(limits=limits)
    return await _httpx_client_run(httpx.AsyncClient(transport=transport), url, n, c)


def _our_aiohttp() -> httpx.AsyncBaseTransport:
    from openrouter_async._transports._aiohttp import AiohttpTransport

    return AiohttpTransport(max_connections=LIMIT, keepalive_expiry=30.0)


async def httpx_ours_aiohttp(url: str, n: int, c: int) -> int:
    return await _httpx_client_run(httpx.AsyncClient(transport=_our_aiohttp()), url, n, c)


async def _direct_run(
    transport: httpx.AsyncBaseTransport, url: str, n: int, c: int, *, lean: bool = False
) -> int:
    # What a Session can do without AsyncClient: a prebuilt URL and header list, the
    # standard timeout extension, the transport called directly. ``lean``: the body is read by
    # iterating response.stream (what aread() does, minus httpx's decoder/chunker layers;
    # valid when there is no Content-Encoding).
    u = httpx.URL(url)
    headers = httpx.Headers(
        {
            **HEADERS,
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": "openrouter-async-bench",
        }
    )
    timeout = httpx.Timeout(60.0).as_dict()
    fan_out = _fan_out_asyncio if _running_asyncio() else _fan_out_anyio
    async with transport:

        async def one() -> int:
            request = httpx.Request(
                "POST", u, content=BODY, headers=headers, extensions={"timeout": timeout}
            )
            response = await transport.handle_async_request(request)
            try:
                if lean:
                    body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
                else:
                    body = await response.aread()
            finally:
                await response.aclose()
            return len(body)

        return await fan_out(n, c, one)


def _running_asyncio() -> bool:
    import sniffio

    return sniffio.current_async_library() == "asyncio"


async def ours_aiohttp_direct(url: str, n: int, c: int) -> int:
    return await _direct_run(_our_aiohttp(), url, n, c)


async def ours_aiohttp_direct_lean(url: str, n: int, c: int) -> int:
    return await _direct_run(_our_aiohttp(), url, n, c, lean=True)


async def httpx_aiohttp_direct(url: str, n: int, c: int) -> int:
    import httpx_aiohttp

    limits = httpx.Limits(max_connections=LIMIT, max_keepalive_connections=LIMIT)
    return await _direct_run(httpx_aiohttp.AiohttpTransport(limits=limits), url, n, c)


async def httpx_aiohttp_direct_lean(url: str, n: int, c: int) -> int:
    import httpx_aiohttp

    limits = httpx.Limits(max_connections=LIMIT, max_keepalive_connections=LIMIT)
    transport = httpx_aiohttp.AiohttpTransport(limits=limits)
    return await _direct_run(transport, url, n, c, lean=True)


# --------------------------------------------------------------------------- trio cases


async def _httpx_client_run_anyio(client: httpx.AsyncClient, url: str, n: int, c: int) -> int:
    async with client:

        async def one() -> int:
            request = client.build_request("POST", url, content=BODY, headers=HEADERS)
            response = await client.send(request)
            return len(response.content)

        return await _fan_out_anyio(n, c, one)


async def trio_httpx_default(url: str, n: int, c: int) -> int:
    limits = httpx.Limits(max_connections=LIMIT, max_keepalive_connections=LIMIT)
    return await _httpx_client_run_anyio(httpx.AsyncClient(limits=limits), url, n, c)


def _our_h11() -> httpx.AsyncBaseTransport:
    return AnyioH11Transport(max_connections=LIMIT, keepalive_expiry=30.0)


async def trio_httpx_ours(url: str, n: int, c: int) -> int:
    return await _httpx_client_run_anyio(httpx.AsyncClient(transport=_our_h11()), url, n, c)


async def trio_ours_direct(url: str, n: int, c: int) -> int:
    return await _direct_run(_our_h11(), url, n, c)


async def trio_ours_direct_lean(url: str, n: int, c: int) -> int:
    return await _direct_run(_our_h11(), url, n, c, lean=True)


# asyncio also gets the h11 pool, for reference (it is not what asyncio uses).
async def asyncio_h11_direct(url: str, n: int, c: int) -> int:
    return await _direct_run(_our_h11(), url, n, c)


CASES: list[tuple[str, str, Runner]] = [
    ("asyncio", "aiohttp-raw", aiohttp_raw),
    ("asyncio", "httpx-default", httpx_default),
    ("asyncio", "httpx+httpx_aiohttp", httpx_httpx_aiohttp),
    ("asyncio", "httpx+ours(aiohttp)", httpx_ours_aiohttp),
    ("asyncio", "ours(aiohttp)-direct", ours_aiohttp_direct),
    ("asyncio", "httpx_aiohttp-direct", httpx_aiohttp_direct),
    ("asyncio", "ours(aiohttp)-direct-lean", ours_aiohttp_direct_lean),
    ("asyncio", "httpx_aiohttp-direct-lean", httpx_aiohttp_direct_lean),
    ("asyncio", "ours(h11)-direct", asyncio_h11_direct),
    ("trio", "httpx-default", trio_httpx_default),
    ("trio", "httpx+ours(h11)", trio_httpx_ours),
    ("trio", "ours(h11)-direct", trio_ours_direct),
    ("trio", "ours(h11)-direct-lean", trio_ours_direct_lean),
]


def _run(backend: str, fn: Runner, url: str, n: int, c: int) -> tuple[float, float, int]:
    """(wall seconds, client CPU seconds, response bytes) for n requests."""

    async def main() -> tuple[float, float, int]:
        await fn(url, min(n, 200), c)  # warm-up: connections, caches, imports
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        total = await fn(url, n, c)
        return time.perf_counter() - t0, time.process_time() - c0, total

    if backend == "asyncio":
        return asyncio.run(main())
    import trio

    result: tuple[float, float, int] = trio.run(main)
    return result


def _pin(server_pid: int) -> str:
    """Server on one CPU, this process on another: steadier numbers on a small machine."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return "not pinned (1 CPU)"
        os.sched_setaffinity(server_pid, {cpus[0]})
        os.sched_setaffinity(0, {cpus[1]})
        return f"server on CPU {cpus[0]}, client on CPU {cpus[1]}"
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return "not pinned"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("-n", "--requests", type=int, default=5000)
    p.add_argument("-c", "--concurrency", type=int, default=64)
    p.add_argument("-r", "--rounds", type=int, default=3)
    p.add_argument("-k", "--only", default="", help="substring filter on 'backend name'")
    p.add_argument("--no-pin", action="store_true", help="do not pin server/client to CPUs")
    args = p.parse_args(argv)
    cases = [case for case in CASES if args.only in f"{case[0]} {case[1]}"]
    rates: dict[tuple[str, str], list[float]] = {(b, name): [] for b, name, _ in cases}
    cpus: dict[tuple[str, str], list[float]] = {(b, name): [] for b, name, _ in cases}
    with start_server(delay_ms=0) as (proc, base_url):
        pinning = "not pinned" if args.no_pin else _pin(proc.pid)
        url = base_url + "/chat/completions"
        for rnd in range(args.rounds):
            for backend, name, fn in cases:
                elapsed, cpu, total = _run(backend, fn, url, args.requests, args.concurrency)
                assert total > 0
                rate = args.requests / elapsed
                rates[(backend, name)].append(rate)
                cpus[(backend, name)].append(cpu / args.requests * 1e6)
                print(
                    f"round {rnd + 1}: {backend:7} {name:26} {rate:9.0f} req/s "
                    f"{cpu / args.requests * 1e6:7.1f} us CPU/req",
                    flush=True,
                )
    print()
    print(
        f"N={args.requests} POSTs, {args.concurrency} in flight, median of {args.rounds} "
        f"interleaved rounds; {pinning}; Python {sys.version.split()[0]}"
    )
    print("| backend | case | req/s | client CPU us/req | x aiohttp-raw | x httpx-default |")
    print("|---|---|---:|---:|---:|---:|")
    medians = {key: statistics.median(v) for key, v in rates.items()}
    for (backend, name), med in medians.items():
        raw = medians.get(("asyncio", "aiohttp-raw"))
        default = medians.get((backend, "httpx-default"))
        rel_raw = f"{med / raw:.2f}" if raw else "-"
        rel_def = f"{med / default:.2f}" if default else "-"
        cpu_med = statistics.median(cpus[(backend, name)])
        print(f"| {backend} | {name} | {med:,.0f} | {cpu_med:.0f} | {rel_raw} | {rel_def} |")


if __name__ == "__main__":
    main()
