"""``Session.map()`` memory: a lazily generated input of 1,000,000 requests, stopped early.

The emulator runs in its own process (no rate limit). A fresh client interpreter per backend
(asyncio, trio) opens ``Session(max_concurrency=64)``, maps a *generator* of 1,000,000
``ChatRequest`` objects (each built only when the map pulls it), breaks after 50,000 results,
``aclose()``s the map, and reports its own peak RSS (``resource.getrusage(RUSAGE_SELF)
.ru_maxrss``), the RSS before the map started (after imports and opening the Session), and how
many requests the generator had produced by then (what the map read ahead). Target: peak RSS
< 150 MB.

    uv run python benchmarks/bench_map_memory.py                 # asyncio and trio
    uv run python benchmarks/bench_map_memory.py --stop 10000 --backend trio
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def rss_now_mb() -> float:
    """The current RSS (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def serve_main() -> None:
    import anyio

    from openrouter_async.emulator import serve

    async def main() -> None:
        async with serve(port=0) as url:
            print("URL", url, flush=True)
            await anyio.sleep_forever()

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass


def client_main(backend: str, url: str, total: int, stop: int, concurrency: int) -> None:
    import anyio

    from openrouter_async import Session
    from openrouter_async.models import ChatRequest

    produced = 0

    def requests() -> Any:
        nonlocal produced
        for i in range(total):
            produced += 1
            yield ChatRequest(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": f"Hello {i}"}]
            )

    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {"backend": backend, "rss_after_imports_mb": rss_now_mb()}
        async with Session(
            base_url=url,
            api_key="sk-bench",
            max_concurrency=concurrency,
            max_connections=concurrency,
        ) as session:
            out["rss_before_map_mb"] = rss_now_mb()
            out["peak_before_map_mb"] = peak_rss_mb()
            ok = failed = 0
            started = time.perf_counter()
            results = session.map(requests(), concurrency=concurrency)
            samples = []
            async for result in results:
                if result.ok:
                    ok += 1
                else:
                    failed += 1
                if (ok + failed) % 10_000 == 0:
                    samples.append(round(rss_now_mb(), 1))
                if ok + failed >= stop:
                    break
            produced_at_break = produced
            await results.aclose()  # type: ignore[attr-defined]
            elapsed = time.perf_counter() - started
            out |= {
                "results": ok + failed,
                "failed": failed,
                "seconds": elapsed,
                "rate": (ok + failed) / elapsed,
                "produced_at_break": produced_at_break,
                "produced_after_aclose": produced,
                "rss_every_10k_mb": samples,
                "rss_after_aclose_mb": rss_now_mb(),
            }
        out["peak_rss_mb"] = peak_rss_mb()
        return out

    print(json.dumps(anyio.run(run, backend=backend)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=1_000_000, help="input size (lazy)")
    parser.add_argument("--stop", type=int, default=50_000, help="break after this many results")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--backend", nargs="*", default=["asyncio", "trio"])
    args = parser.parse_args()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["NO_PROXY"] = "127.0.0.1,localhost"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().split()
        assert line and line[0] == "URL", line
        url = line[1]
        print(
            "| backend | RSS before map | peak RSS | RSS after aclose | results | "
            "read ahead at break | req/s | target |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for backend in args.backend:
            cmd = [
                sys.executable,
                __file__,
                "--client",
                backend,
                url,
                str(args.total),
                str(args.stop),
                str(args.concurrency),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
            if proc.returncode != 0:
                print(f"| {backend} | error: {proc.stderr[-500:]!r} |")
                continue
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            print(
                f"| {backend} | {out['rss_before_map_mb']:.1f} MB | {out['peak_rss_mb']:.1f} MB | "
                f"{out['rss_after_aclose_mb']:.1f} MB | {out['results']:,} "
                f"({out['failed']} failed) | {out['produced_at_break'] - out['results']:,} "
                f"| {out['rate']:,.0f} | "
                f"< 150 MB: {'met' if out['peak_rss_mb'] < 150 else '**missed**'} |",
                flush=True,
            )
            print("    " + json.dumps(out), file=sys.stderr, flush=True)
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_main()
    elif len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
