"""Rate-limited fan-out: how close each client gets to a server's per-key request limit.

The built-in emulator runs in its own process with ``EmulatorConfig(rate_limit_rpm=200,
rate_limit_window_s=1)``: 200 generation requests per key per window of 1 s (12,000 per
minute). The emulator's window is a *fixed* window per key (``emulator/_limits.py``): it opens
with the key's first request and lasts ``rate_limit_window_s``; request 201 inside it gets 429
with ``Retry-After`` (whole seconds, at least 1) and ``X-RateLimit-*`` headers. A refused
request does not count.

Each client sends N (4,000) non-streaming chat requests, in a fresh interpreter, against a fresh
emulator (so every client starts with an empty window and zeroed counters):

* ``ours-asyncio`` / ``ours-trio``: ``Session(rpm=RPM, max_concurrency=64)`` + ``session.map``;
* ``openai``: ``AsyncOpenAI(base_url=..., api_key=...)`` (default retries: 2, honouring
  ``Retry-After``), ``asyncio.gather`` + a semaphore of 64;
* ``openrouter-sdk``: the official SDK, ``chat.send_async`` (default retries: ``5XX`` and
  connection errors only, so a 429 is a failure), ``asyncio.gather`` + a semaphore of 64.

Per client: wall time (ideal N / 200 = 20 s), the 429 answers the server gave (the
``rate_limited`` counter of ``GET /api/v1/_emulator/stats``, before/after), the requests it
received, and the requests that ended in an error. Rounds are interleaved; medians.

    uv run python benchmarks/bench_ratelimit.py                    # 2 rounds, N = 4,000
    uv run python benchmarks/bench_ratelimit.py --rounds 3 --only ours-asyncio openai
    uv run python benchmarks/bench_ratelimit.py --n 1000 --rounds 1   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Hello"}]
CLIENTS = ("ours-asyncio", "ours-trio", "openai", "openrouter-sdk")
PER_WINDOW = 200
WINDOW_S = 1.0


# -- the server ------------------------------------------------------------------------------


def serve_main(per_window: int, window: float) -> None:
    """Child process: serve the emulator on a free port, print ``URL <url>``, run until
    killed."""
    import anyio

    from openrouter_async.emulator import EmulatorConfig, serve

    async def main() -> None:
        config = EmulatorConfig(rate_limit_rpm=per_window, rate_limit_window_s=window)
        async with serve(config, port=0) as url:
            print("URL", url, flush=True)
            await anyio.sleep_forever()

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass


class Emulator:
    def __init__(self, per_window: int, window: float, extra_env: dict[str, str]) -> None:
        cmd = [sys.executable, __file__, "--serve", str(per_window), str(window)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=extra_env, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "URL":
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.url = line[1]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_emulator/stats", timeout=10) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the clients (each in a fresh interpreter) -----------------------------------------------


def client_main(name: str, url: str, n: int, concurrency: int, rpm: float) -> None:
    key = f"sk-bench-{name}-{os.getpid()}"
    errors: dict[str, int] = {}

    def failed(error: BaseException) -> None:
        label = type(error).__name__
        status = getattr(error, "status_code", None)
        if status is not None:
            label += f" {status}"
        errors[label] = errors.get(label, 0) + 1

    if name.startswith("ours"):
        from openrouter_async import Session
        from openrouter_async.models import ChatRequest

        backend = name.split("-", 1)[1]
        import anyio

        async def run() -> dict[str, Any]:
            requests = (ChatRequest(model=MODEL, messages=MESSAGES) for _ in range(n))
            ok = attempts = 0
            async with Session(
                base_url=url,
                api_key=key,
                rpm=rpm,
                max_concurrency=concurrency,
                max_connections=concurrency,
            ) as session:
                started = time.perf_counter()
                async for result in session.map(requests, concurrency=concurrency):
                    attempts += result.attempts
                    if result.ok:
                        ok += 1
                    else:
                        assert result.error is not None
                        failed(result.error)
                elapsed = time.perf_counter() - started
                state = session.limiter.state()
            return {
                "ok": ok,
                "seconds": elapsed,
                "attempts": attempts,
                "client_429": state.rate_limited,
                "final_limit": state.limit,
            }

        out = anyio.run(run, backend=backend)
    else:
        import asyncio

        async def run() -> dict[str, Any]:
            import httpx

            limits = httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            )
            if name == "openai":
                from openai import AsyncOpenAI, DefaultAsyncHttpxClient

                client: Any = AsyncOpenAI(
                    base_url=url, api_key=key, http_client=DefaultAsyncHttpxClient(limits=limits)
                )

                async def call() -> object:
                    r = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
                    return r.choices[0].message.content

            else:
                from openrouter import OpenRouter

                client = OpenRouter(
                    api_key=key,
                    server_url=url,
                    async_client=httpx.AsyncClient(limits=limits, timeout=60),
                )

                async def call() -> object:
                    r = await client.chat.send_async(model=MODEL, messages=MESSAGES)
                    return r.choices[0].message.content

            semaphore = asyncio.Semaphore(concurrency)

            async def one() -> bool:
                async with semaphore:
                    try:
                        await call()
                    except Exception as error:
                        failed(error)
                        return False
                    return True

            started = time.perf_counter()
            outcomes = await asyncio.gather(*(one() for _ in range(n)))
            elapsed = time.perf_counter() - started
            return {"ok": sum(outcomes), "seconds": elapsed}

        out = asyncio.run(run())
    out["errors"] = errors
    out["cpu"] = time.process_time()
    print(json.dumps(out), flush=True)


# -- the runner ------------------------------------------------------------------------------


def run_one(name: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    emulator = Emulator(args.per_window, args.window, env)
    try:
        before = emulator.stats()
        cpu_before = emulator.cpu_seconds()
        cmd = [
            sys.executable,
            __file__,
            "--client",
            name,
            emulator.url,
            str(args.n),
            str(args.concurrency),
            str(args.rpm),
        ]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
        total = time.perf_counter() - started
        after = emulator.stats()
        server_cpu = emulator.cpu_seconds() - cpu_before
    finally:
        emulator.close()
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"client": name, "error": (proc.stderr or proc.stdout)[-2000:], "process_s": total}
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["client"] = name
    out["server_429"] = after["rate_limited"] - before["rate_limited"]
    out["server_requests"] = after["requests"] - before["requests"]
    out["server_errors"] = after["errors"] - before["errors"]
    out["failed"] = args.n - out["ok"]
    out["server_cpu"] = server_cpu
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="requests per client (4,000)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--per-window", type=int, default=PER_WINDOW, help="server limit (200)")
    parser.add_argument("--window", type=float, default=WINDOW_S, help="server window, s (1)")
    parser.add_argument(
        "--rpm", type=float, default=None, help="ours: Session(rpm=) (default: the server's)"
    )
    parser.add_argument("--only", nargs="*", default=None, choices=CLIENTS)
    parser.add_argument("--timeout", type=float, default=600.0, help="per client run, s")
    parser.add_argument("--json", type=Path, default=None, help="write the rounds here")
    args = parser.parse_args()
    if args.rpm is None:
        args.rpm = args.per_window * 60.0 / args.window
    clients = args.only or list(CLIENTS)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.setdefault(
        "PYTHONPYCACHEPREFIX",
        str(Path(os.environ.get("TMPDIR", "/tmp")) / "openrouter_async_bench_pycache"),
    )
    ideal = args.n * args.window / args.per_window
    print(
        f"server: {args.per_window} requests per {args.window:g} s window per key (fixed window); "
        f"N = {args.n}; ideal {ideal:.1f} s; ours rpm={args.rpm:g}; "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
    for round_no in range(1, args.rounds + 1):
        for name in clients:
            out = run_one(name, args, env)
            rows[name].append(out)
            if "error" in out:
                print(f"round {round_no} {name}: ERROR {out['error'][-400:]}", flush=True)
                continue
            print(
                f"round {round_no} {name:15} {out['seconds']:7.2f} s  429s {out['server_429']:6}  "
                f"failed {out['failed']:5}  server requests {out['server_requests']:6}  "
                f"client CPU {out['cpu']:.1f} s  server CPU {out['server_cpu']:.1f} s  "
                f"errors {out['errors']}"
                + (
                    f"  attempts {out['attempts']}  final limit {out['final_limit']}"
                    if "attempts" in out
                    else ""
                ),
                flush=True,
            )
    print()
    print(
        f"| client | wall (median) | rounds | x ideal ({ideal:.0f} s) | 429s | failed | "
        "requests sent | client CPU |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, outs in rows.items():
        good = [o for o in outs if "error" not in o]
        if not good:
            print(f"| {name} | n/a | | | | | | |")
            continue

        def med(key: str, good: list[dict[str, Any]] = good) -> float:
            return statistics.median(o[key] for o in good)

        print(
            f"| {name} | {med('seconds'):.1f} s | "
            + ", ".join(f"{o['seconds']:.1f}" for o in good)
            + f" | {med('seconds') / ideal:.2f}x | {med('server_429'):g} "
            f"({100 * med('server_429') / args.n:.1f} %) | {med('failed'):g} | "
            f"{med('server_requests'):g} | {med('cpu'):.1f} s |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": None}, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_main(int(sys.argv[2]), float(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(
            sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
        )
    else:
        main()
