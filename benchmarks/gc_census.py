"""Where the cyclic GC's time goes in a fan-out: one client, in this process, instrumented.

With many calls in flight, every GC-tracked object a waiting call holds (frames, tasks,
handles, request objects, ...) survives the young collections and is walked by every older
one, so the objects kept alive per in-flight call decide the GC's share of the CPU. This runs
one client script's fan-out against the canned server and reports, for the timed phase:

* the rate and the CPU per request (as ``run.py`` does, without the process isolation);
* the collections per generation and the CPU they took (``gc.callbacks``);
* the GC-tracked objects alive per in-flight call, by type, counted once mid-phase as the
  difference from the count before the phase (asyncio only).

Run: ``uv run python benchmarks/gc_census.py [ours|raw_aiohttp|...] [--concurrency 1024]
[--delay-ms 100] [--n 10000] [--top 25] [--backend trio]``. The census (asyncio only) takes a
moment and slows that one round a little; ``--no-census`` leaves it out.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import importlib
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "clients"))
sys.path.append(str(HERE.parent / "src"))  # last: PYTHONPATH=<another tree>/src compares

import _common  # noqa: E402
from _server_proc import start_server  # noqa: E402


def count_by_type() -> collections.Counter[str]:
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("client", nargs="?", default="ours", help="a script in benchmarks/clients")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=1024)
    p.add_argument("--delay-ms", type=float, default=100.0)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    p.add_argument("--no-census", action="store_true", help="skip counting objects")
    args = p.parse_args()

    client = importlib.import_module(args.client)
    gen_counts = [0, 0, 0]
    gen_cpu = [0.0, 0.0, 0.0]
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        else:
            gen_counts[info["generation"]] += 1
            gen_cpu[info["generation"]] += time.thread_time() - started[0]

    census: dict[str, Any] = {}
    timed_fanout = _common.fanout

    async def instrumented(
        backend: str, call: Callable[[], Awaitable[object]], n: int, conc: int, seconds: float
    ) -> int:
        if n != args.n:  # the warm-up
            return await timed_fanout(backend, call, n, conc, seconds)
        sampler = None
        if backend == "asyncio" and not args.no_census:
            census["before"] = count_by_type()

            async def sample() -> None:
                # Half of the delay in: every worker is waiting on a response.
                await asyncio.sleep(args.delay_ms / 2000 + 0.3)
                census["during"] = count_by_type()

            sampler = asyncio.ensure_future(sample())
        gc.callbacks.append(on_gc)
        try:
            return await timed_fanout(backend, call, n, conc, seconds)
        finally:
            gc.callbacks.remove(on_gc)
            if sampler is not None:
                await sampler

    _common.fanout = instrumented
    with start_server(delay_ms=args.delay_ms) as (_proc, url):
        namespace = argparse.Namespace(
            scenario="fanout",
            url=url,
            n=args.n,
            concurrency=args.concurrency,
            backend=args.backend,
            warmup=-1,
            max_seconds=0,
            warmup_seconds=0,
        )
        out = client.fanout(namespace)
    count = out["count"]
    cpu_per_request = out["cpu_seconds"] / count * 1e6
    print(f"{args.client}: {out['rate']:,.0f} req/s, {cpu_per_request:.0f} µs CPU/req")
    gc_cpu = sum(gen_cpu)
    print(
        "gc: collections gen0/1/2 = {}/{}/{}, CPU {:.3f} s ({:.0f} µs/req)".format(
            *gen_counts, gc_cpu, gc_cpu / count * 1e6
        )
    )
    if "during" in census:
        delta = census["during"] - census["before"]
        per_call = sum(delta.values()) / args.concurrency
        print(f"tracked objects per in-flight call: {per_call:.1f}")
        for name, n in delta.most_common(args.top):
            print(f"  {n / args.concurrency:6.2f}  {name}")


if __name__ == "__main__":
    main()
