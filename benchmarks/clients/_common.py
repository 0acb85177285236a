"""Shared plumbing for the benchmark client scripts.

Every client script is run by ``benchmarks/run.py`` in a fresh interpreter:

    python benchmarks/clients/<client>.py --scenario fanout --url URL --n 5000 --concurrency 64 \
        [--backend asyncio|trio]

and prints exactly one JSON line on stdout, e.g.::

    {"ok": true, "count": 5000, "seconds": 0.43, "rate": 11600.0, "cpu_seconds": 0.41, ...}

or ``{"ok": false, "error": "ImportError: ..."}`` when the client cannot run.
The timed phase excludes interpreter start-up, imports, client construction and a
warm-up (which opens the connections and triggers any lazy imports); it covers only
the measured requests, and ends after ``--n`` requests or ``--max-seconds``, whichever
comes first (so one slow client cannot blow the time budget). CPU seconds are this
(client) process's user+system time over the same phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

MODEL = "openai/gpt-4o"
MESSAGES = [{"role": "user", "content": "hi"}]
EXPECTED = "Hello!"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--scenario", required=True)
    p.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:PORT/api/v1")
    p.add_argument("--n", type=int, default=1000, help="requests (or streams) to time")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    p.add_argument("--warmup", type=int, default=-1, help="warm-up requests (-1: automatic)")
    p.add_argument("--max-seconds", type=float, default=0, help="cap on the timed phase (0: none)")
    p.add_argument("--warmup-seconds", type=float, default=0, help="cap on the warm-up (0: none)")
    return p.parse_args(argv)


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


class Timer:
    """Wall and CPU time of the measured phase."""

    def __enter__(self) -> Timer:
        self.cpu0 = time.process_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu_seconds = time.process_time() - self.cpu0


def result(count: int, timer: Timer, **extra: Any) -> dict[str, Any]:
    return {
        "ok": True,
        "count": count,
        "seconds": timer.seconds,
        "rate": count / timer.seconds if timer.seconds > 0 else 0.0,
        "cpu_seconds": timer.cpu_seconds,
        **extra,
    }


def check(content: object) -> None:
    if content != EXPECTED:
        raise AssertionError(f"unexpected content {content!r}")


# ----------------------------------------------------------------------------- fan-out
# N worker tasks share one counter (no per-request task, no semaphore): the same
# driver for every client so that only the client differs. A phase ends after ``n``
# requests or at ``deadline`` (no new request starts after it), whichever comes first;
# the rate is completed requests / elapsed time.


async def fanout_asyncio(
    call: Callable[[], Awaitable[object]], n: int, concurrency: int, deadline: float
) -> int:
    remaining = n
    done = 0
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal remaining, done
        while remaining > 0 and clock() < deadline:
            remaining -= 1
            check(await call())
            done += 1

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return done


async def fanout_trio(
    call: Callable[[], Awaitable[object]], n: int, concurrency: int, deadline: float
) -> int:
    import trio

    remaining = n
    done = 0
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal remaining, done
        while remaining > 0 and clock() < deadline:
            remaining -= 1
            check(await call())
            done += 1

    async with trio.open_nursery() as nursery:
        for _ in range(min(concurrency, n)):
            nursery.start_soon(worker)
    return done


async def fanout(
    backend: str, call: Callable[[], Awaitable[object]], n: int, conc: int, seconds: float
) -> int:
    deadline = time.perf_counter() + (seconds if seconds > 0 else float("inf"))
    if backend == "trio":
        return await fanout_trio(call, n, conc, deadline)
    return await fanout_asyncio(call, n, conc, deadline)


async def timed_fanout(
    backend: str,
    call: Callable[[], Awaitable[object]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    warm = args.warmup if args.warmup >= 0 else min(args.n, 2 * args.concurrency)
    warm_done = 0
    if warm:
        warm_done = await fanout(backend, call, warm, args.concurrency, args.warmup_seconds)
    with Timer() as t:
        done = await fanout(backend, call, args.n, args.concurrency, args.max_seconds)
    return result(done, t, concurrency=args.concurrency, warmup=warm_done, capped=done < args.n)


def timed_sync_seq(call: Callable[[], object], args: argparse.Namespace) -> dict[str, Any]:
    warm = args.warmup if args.warmup >= 0 else min(args.n, 50)
    clock = time.perf_counter
    deadline = clock() + (args.warmup_seconds if args.warmup_seconds > 0 else float("inf"))
    warm_done = 0
    while warm_done < warm and clock() < deadline:
        check(call())
        warm_done += 1
    done = 0
    with Timer() as t:
        deadline = clock() + (args.max_seconds if args.max_seconds > 0 else float("inf"))
        while done < args.n and clock() < deadline:
            check(call())
            done += 1
    return result(done, t, warmup=warm_done, capped=done < args.n)


def run_backend(backend: str, fn: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    if backend == "trio":
        import trio

        return trio.run(fn)
    return asyncio.run(fn())


def describe(e: BaseException) -> str:
    """``Type: message``; for exception groups, the first leaf (and how many there were)."""
    prefix = ""
    while True:
        subs = getattr(e, "exceptions", None)  # (Base)ExceptionGroup, also the 3.10 backport
        if not isinstance(subs, (list, tuple)) or not subs:
            break
        prefix += f"{type(e).__name__}({len(subs)} sub-exceptions) -> "
        e = subs[0]
    return f"{prefix}{type(e).__name__}: {e}"


def main(scenarios: dict[str, Callable[[argparse.Namespace], dict[str, Any]]]) -> None:
    """Dispatch ``--scenario`` to a handler; always print one JSON line."""
    args = parse_args()
    try:
        handler = scenarios.get(args.scenario)
        if handler is None:
            raise ValueError(f"scenario {args.scenario!r} not supported by this client")
        out = handler(args)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        tb = traceback.format_exc()
        emit({"ok": False, "error": describe(e)[:500], "traceback": tb[-4000:]})
        return
    emit(out)
