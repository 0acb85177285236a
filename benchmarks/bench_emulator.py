"""How fast the emulator serves, next to bare ASGI servers, all measured the same way.

    uv run python benchmarks/bench_emulator.py                 # 3 interleaved rounds, ~30 s
    uv run python benchmarks/bench_emulator.py --rounds 5
    uv run python benchmarks/bench_emulator.py --quick         # 1 round, shorter phases
    uv run python benchmarks/bench_emulator.py --only emulator --profile /tmp/emu.prof
    uv run --with 'uvicorn[standard]' python benchmarks/bench_emulator.py  # + uvicorn rows

Servers (each in its own process, a fresh one per round):

* ``emulator``: ``openrouter-async emulator --port 0`` (hypercorn on asyncio, the defaults:
  any key accepted, no request validation);
* ``hypercorn-bare``: a bare ASGI app (reads the body, answers precomputed bytes; streams
  precomputed chunks in 16 KiB writes, as the emulator batches them) under hypercorn, with
  the emulator's own hypercorn settings: the ceiling of the emulator's server;
* ``uvicorn-bare`` and ``emulator-uvicorn`` (the emulator's app under uvicorn), when uvicorn
  is importable: what another ASGI server does with the same apps.

Scenarios, each run by a fresh client process (raw aiohttp on asyncio):

* ``chat``: non-streaming chat completions with 64 in flight: requests/s (target for the
  emulator: >= 3,000 on the 2-core reference machine);
* ``stream``: a streamed chat completion at the fastest setting (``X-Emulator-Fault:
  tokens=100000``, no token delay): content chunks/s (target >= 50,000). The client only
  counts ``data:`` events in the raw bytes, so that it costs as little as possible.

Rounds are interleaved (round 1: every server, round 2: every server ...) and the table shows
medians, with each round's figure next to them. ``server CPU`` is the server process's CPU
time over the whole client run (warm-up included) divided by the requests or chunks of that
run. ``--profile FILE`` runs the emulator under cProfile (one round; rates are then
meaningless) and prints the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
MODEL = "openai/gpt-4o"
MESSAGES = [{"role": "user", "content": "Tell me something about benchmarks"}]
AUTH = {"Authorization": "Bearer sk-or-v1-bench"}
FLUSH_BYTES = 16 * 1024
TARGETS = {"chat": 3000.0, "stream": 50000.0}
#: The source tree the servers import (``--src``: e.g. an exported older revision).
SRC = ROOT / "src"


# -- the servers (run as ``bench_emulator.py --serve NAME``) -------------------------------------


def _bare_app() -> Any:
    """A bare ASGI app: the emulator's answer shapes, precomputed, no work per request."""
    import orjson

    completion = orjson.dumps(
        {
            "id": "gen-1700000000-emu000000001",
            "provider": "OpenAI",
            "model": MODEL,
            "object": "chat.completion",
            "created": 1700000000,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "native_finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": "Tell me something about benchmarks Tell me something",
                        "refusal": None,
                        "reasoning": None,
                    },
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17},
        }
    )
    chunk = (
        b'data: {"id":"gen-1700000000-emu000000001","provider":"OpenAI","model":"'
        + MODEL.encode()
        + b'","object":"chat.completion.chunk","created":1700000000,"choices":[{"index":0,'
        b'"delta":{"content":" about"},"finish_reason":null,"native_finish_reason":null}]}\n\n'
    )
    finish = chunk.replace(b'"content":" about"},"finish_reason":null', b'},"finish_reason":"stop"')
    tail = finish + b'data: {"choices":[]}\n\ndata: [DONE]\n\n'
    json_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(completion)).encode()),
    ]
    sse_headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if b'"stream":true' not in body.replace(b" ", b""):
            await send({"type": "http.response.start", "status": 200, "headers": json_headers})
            await send({"type": "http.response.body", "body": completion})
            return
        tokens = 8
        for name, value in scope["headers"]:
            if name == b"x-emulator-fault" and value.startswith(b"tokens="):
                tokens = int(value[7:])
        await send({"type": "http.response.start", "status": 200, "headers": sse_headers})
        per_write = max(1, FLUSH_BYTES // len(chunk))
        batch = chunk * per_write
        sent = 0
        while sent < tokens:
            count = min(per_write, tokens - sent)
            data = batch if count == per_write else chunk * count
            await send({"type": "http.response.body", "body": data, "more_body": True})
            sent += count
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    return app


def _announce(sock: Any) -> None:
    host, port = sock.getsockname()[:2]
    print(f"LISTENING http://{host}:{port}/api/v1", flush=True)


def _serve_hypercorn(app: Any) -> None:
    import anyio

    from openrouter_async.emulator._server import _backend_options, _bind, _hypercorn_config

    sock = _bind("127.0.0.1", 0)
    _announce(sock)
    config = _hypercorn_config(sock.detach(), log_to_stderr=False)

    async def main() -> None:
        from hypercorn.asyncio import serve

        stop = anyio.Event()

        async def wait_for_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    stop.set()
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_for_signal)
            await serve(app, config, shutdown_trigger=stop.wait, mode="asgi")
            tg.cancel_scope.cancel()

    # The same event loop as the emulator's (uvloop when installed): the same ceiling.
    anyio.run(main, backend_options=_backend_options("asyncio", "auto"))


def _serve_uvicorn(app: Any) -> None:
    import uvicorn

    from openrouter_async.emulator._server import _bind

    sock = _bind("127.0.0.1", 0)
    _announce(sock)
    config = uvicorn.Config(
        app, access_log=False, log_level="warning", timeout_keep_alive=300, backlog=1024
    )
    try:
        asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))
    except KeyboardInterrupt:  # uvicorn re-raises the signal that stopped it
        pass


def serve(name: str, profile: str | None) -> None:
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        if name == "emulator":
            from openrouter_async.cli import main as cli_main

            # Exactly `openrouter-async emulator --port 0`; it prints its URL when ready.
            cli_main(["emulator", "--port", "0"])
        elif name == "emulator-stdloop":
            from openrouter_async.cli import main as cli_main

            cli_main(["emulator", "--port", "0", "--loop", "asyncio"])
        elif name == "hypercorn-bare":
            _serve_hypercorn(_bare_app())
        elif name == "uvicorn-bare":
            _serve_uvicorn(_bare_app())
        elif name == "emulator-uvicorn":
            from openrouter_async.emulator import create_app

            _serve_uvicorn(create_app())
        else:
            raise SystemExit(f"unknown server {name!r}")
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)


# -- the clients (run as ``bench_emulator.py --client SCENARIO``) ---------------------------------


async def _chat_client(url: str, n: int, concurrency: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    endpoint = url + "/chat/completions"
    payload = {"model": MODEL, "messages": MESSAGES}
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, headers=AUTH) as session:

        async def call() -> None:
            async with session.post(endpoint, json=payload) as response:
                response.raise_for_status()
                data = await response.json()
            if not data["choices"][0]["message"]["content"]:
                raise AssertionError("empty answer")

        async def phase(count: int, deadline: float) -> int:
            remaining, done = count, 0

            async def worker() -> None:
                nonlocal remaining, done
                while remaining > 0 and time.perf_counter() < deadline:
                    remaining -= 1
                    await call()
                    done += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return done

        warm = await phase(2 * concurrency, time.perf_counter() + 5)
        cpu, start = time.process_time(), time.perf_counter()
        done = await phase(n, start + seconds)
        elapsed = time.perf_counter() - start
        return {
            "count": done,
            "warmup": warm,
            "seconds": elapsed,
            "rate": done / elapsed,
            "client_cpu_us": (time.process_time() - cpu) / max(done, 1) * 1e6,
        }


async def _stream_client(url: str, tokens: int, streams: int) -> dict[str, Any]:
    import aiohttp

    endpoint = url + "/chat/completions"
    payload = {"model": MODEL, "messages": MESSAGES, "stream": True}
    async with aiohttp.ClientSession(headers=AUTH) as session:

        async def one(count: int) -> int:
            headers = {"X-Emulator-Fault": f"tokens={count}"}
            events = 0
            tail = last = b""
            async with session.post(endpoint, json=payload, headers=headers) as response:
                response.raise_for_status()
                async for data in response.content.iter_any():
                    # The tail kept from the last read is shorter than b"data: ": an event
                    # split between two reads is counted once, in the read that completes it.
                    block = tail + data
                    events += block.count(b"data: ")
                    tail = block[-5:]
                    last = (last + data)[-16:]
            if not last.endswith(b"data: [DONE]\n\n"):
                raise AssertionError(f"the stream did not end with [DONE]: {last!r}")
            # The content chunks, then the finish chunk, the usage chunk and [DONE].
            if events != count + 3:
                raise AssertionError(f"{events} events for {count} tokens")
            return events

        await one(1000)  # warm-up: the connection, the server's code paths
        cpu, start = time.process_time(), time.perf_counter()
        events = 0
        for _ in range(streams):
            events += await one(tokens)
        elapsed = time.perf_counter() - start
        content = streams * tokens
        return {
            "count": content,
            "events": events,
            "warmup": 1000,
            "seconds": elapsed,
            "rate": content / elapsed,
            "client_cpu_us": (time.process_time() - cpu) / content * 1e6,
        }


def client(args: argparse.Namespace) -> None:
    if args.client == "chat":
        coro = _chat_client(args.url, args.n, args.concurrency, args.seconds)
    else:
        coro = _stream_client(args.url, args.tokens, args.streams)
    try:
        result = {"ok": True, **asyncio.run(coro)}
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)


# -- the runner -----------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(name: str, profile: str | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    argv = [sys.executable, str(HERE), "--serve", name]
    if profile:
        argv += ["--profile-out", profile]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=_env(), text=True
    )
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:  # to the end: a full pipe would block the server
        assert process.stdout is not None
        for line in process.stdout:
            for word in line.split():
                if word.startswith("http://") and not found:
                    found.append(word)
                    ready.set()
        ready.set()  # the server exited

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ready.wait(60)
    try:
        if not found:
            raise RuntimeError(f"{name} did not start (exit code {process.poll()})")
        yield process, found[0]
    finally:
        process.send_signal(signal.SIGTERM)  # every server here stops gracefully on it
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)


def run_client(scenario: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, str(HERE), "--client", scenario, "--url", url]
    argv += ["--n", str(args.n), "--seconds", str(args.seconds)]
    argv += ["--concurrency", str(args.concurrency)]
    argv += ["--tokens", str(args.tokens), "--streams", str(args.streams)]
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=300)
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"ok": False, "error": done.stderr.strip()[-500:] or f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _servers(only: list[str] | None) -> list[str]:
    names = ["emulator", "emulator-stdloop", "hypercorn-bare"]
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        print("(uvicorn is not installed: `uv run --with uvicorn ...` adds its rows)")
    else:
        names += ["uvicorn-bare", "emulator-uvicorn"]
    return [name for name in names if not only or name in only]


def main_runner(args: argparse.Namespace) -> None:
    names = _servers(args.only)
    scenarios = [s for s in ("chat", "stream") if not args.scenario or s in args.scenario]
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    rounds = 1 if args.profile else args.rounds
    for number in range(1, rounds + 1):
        for name in names:
            profile = args.profile if args.profile and name == "emulator" else None
            with server(name, profile) as (process, url):
                for scenario in scenarios:
                    before = _cpu_seconds(process.pid)
                    result = run_client(scenario, url, args)
                    after = _cpu_seconds(process.pid)
                    if result.get("ok") and before is not None and after is not None:
                        total = result["count"] + result["warmup"]
                        result["server_cpu_us"] = (after - before) / total * 1e6
                    results.setdefault((name, scenario), []).append(result)
                    shown = f"{result['rate']:,.0f}/s" if result.get("ok") else result["error"]
                    print(f"round {number}: {name:17} {scenario:6} {shown}", flush=True)
    print()
    print(report(results, names, scenarios, rounds))
    if args.profile:
        import pstats

        print(f"\ncProfile of the emulator ({args.profile}), by own time:")
        stats = pstats.Stats(args.profile)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)


def report(
    results: dict[tuple[str, str], list[dict[str, Any]]],
    names: list[str],
    scenarios: list[str],
    rounds: int,
) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"{rounds} round(s), medians; {os.cpu_count()} CPUs, load {load:.2f} at the end; "
        + ", ".join(_versions()),
        "",
        "| server | scenario | rate | per round | server CPU | client CPU | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario in scenarios:
        unit = "req/s" if scenario == "chat" else "chunks/s"
        per = "µs/req" if scenario == "chat" else "µs/chunk"
        for name in names:
            runs = results.get((name, scenario), [])
            good = [run for run in runs if run.get("ok")]
            if not good:
                error = runs[0]["error"] if runs else "not run"
                lines.append(f"| {name} | {scenario} | n/a ({error}) | | | | |")
                continue
            rate = statistics.median(run["rate"] for run in good)
            each = ", ".join(f"{run['rate']:,.0f}" for run in good)
            cpus = [run["server_cpu_us"] for run in good if "server_cpu_us" in run]
            server_cpu = f"{statistics.median(cpus):.1f} {per}" if cpus else "?"
            client_cpu = f"{statistics.median(run['client_cpu_us'] for run in good):.1f} {per}"
            target = ""
            if name == "emulator":
                verdict = "met" if rate >= TARGETS[scenario] else "MISSED"
                target = f"≥ {TARGETS[scenario]:,.0f}: {verdict}"
            lines.append(
                f"| {name} | {scenario} | {rate:,.0f} {unit} | {each} | {server_cpu} | "
                f"{client_cpu} | {target} |"
            )
    return "\n".join(lines)


def _versions() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("hypercorn", "h11", "anyio", "uvicorn", "httptools", "uvloop", "aiohttp"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round, shorter phases")
    parser.add_argument("--only", nargs="+", help="servers to run (emulator, hypercorn-bare ...)")
    parser.add_argument("--scenario", nargs="+", choices=["chat", "stream"])
    parser.add_argument("--profile", metavar="FILE", help="cProfile the emulator into FILE")
    parser.add_argument("--n", type=int, default=20000, help="chat: requests per round (cap)")
    parser.add_argument("--seconds", type=float, default=4.0, help="chat: timed phase (cap)")
    parser.add_argument("--tokens", type=int, default=100000, help="stream: chunks per stream")
    parser.add_argument("--streams", type=int, default=2, help="stream: streams per round")
    parser.add_argument("--concurrency", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--src", type=Path, help="the source tree to serve (default: src/)")
    # Internal: this file is also the server and the client of the benchmark.
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=["chat", "stream"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.src is not None:
        global SRC
        SRC = args.src.resolve()
    if args.serve:
        serve(args.serve, args.profile_out)
    elif args.client:
        client(args)
    else:
        if args.quick:
            args.rounds, args.seconds, args.streams = 1, 2.0, 1
        main_runner(args)


if __name__ == "__main__":
    main()
