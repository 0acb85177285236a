"""The batch job at scale: 20,000 requests with ~5% injected faults, against the emulator
running in a process of its own.

    uv run python benchmarks/bench_batch.py                     # 20,000 requests, asyncio
    uv run python benchmarks/bench_batch.py --backend trio --requests 5000 --concurrency 64

Faults (the emulator's ``--faults`` with probabilities, seeded): 500, 502, 503, 429 with
``Retry-After`` (``--retry-after``, 0.05 s by default: the Session answers a 429 with a
cool-down of *all* its calls, so random 429s with a long Retry-After measure the cool-down,
not the job), a connection dropped before the headers, a connection dropped halfway through
the body or the stream, and a mid-stream error event. Every other row asks for
``"stream": true``: the job streams it and writes the whole answer, so a stream that fails
midway is retried whole (a non-streamed row meets ``mid-stream-error`` as an error body sent
with status 200, OpenRouter's other way of failing after the headers).

Reports the time and rate, the rows, that every id is in the output exactly once and every
line parses, that every row is a success (every retryable fault recovered), and how the
job's retry count matches the faults the emulator injected.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx

from openrouter_async import Session
from openrouter_async._batch import BatchJob, BatchStats

FAULTS = (
    "status=500;p=0.01,status=502;p=0.005,status=503;p=0.005,"
    "status=429;retry-after={retry_after};p=0.01,drop-before-headers;p=0.005,drop;p=0.005,"
    "mid-stream-error;p=0.01"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def emulator_process(faults: str, seed: int) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "openrouter_async.cli",
        "emulator",
        "--port",
        str(port),
        "--faults",
        faults,
        "--fault-seed",
        str(seed),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/_emulator/stats", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def write_input(path: Path, n: int) -> None:
    models = [
        "openai/gpt-4o-mini",
        "anthropic/claude-3.5-sonnet",
        "meta-llama/llama-3.1-8b-instruct",
    ]
    with path.open("w") as f:
        for i in range(n):
            body = {
                "model": models[i % len(models)],
                "messages": [{"role": "user", "content": f"Request number {i}: say hello."}],
            }
            if i % 4 < 2:  # half of the rows streamed
                body["stream"] = True
            if i % 2:  # half in OpenAI's batch format
                line = {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions"}
                line["body"] = body
            else:
                line = {"custom_id": f"r{i}", **body}
            f.write(json.dumps(line) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument(
        "--retry-after",
        default="0.05",
        help="Retry-After of the injected 429s, in seconds (default 0.05: a 429 pauses every "
        "call of the Session for that long, so 1 s at 1.5%% caps the job near 66 req/s)",
    )
    parser.add_argument("--faults", default=None, help="override the whole fault string")
    parser.add_argument("--fault-seed", type=int, default=20261126)
    args = parser.parse_args()
    args.faults = args.faults or FAULTS.format(retry_after=args.retry_after)

    with (
        tempfile.TemporaryDirectory() as tmp,
        emulator_process(args.faults, args.fault_seed) as url,
    ):
        source, output = Path(tmp, "in.jsonl"), Path(tmp, "out.jsonl")
        write_input(source, args.requests)
        job = BatchJob(source, output, concurrency=args.concurrency)

        async def run() -> BatchStats:
            async with Session(api_key="sk-or-bench", base_url=url) as session:
                return await job.run(session)

        started = time.perf_counter()
        stats = anyio.run(run, backend=args.backend)
        seconds = time.perf_counter() - started
        served = httpx.get(f"{url}/_emulator/stats", timeout=5).json()

        lines = output.read_bytes().splitlines()
        rows = [json.loads(line) for line in lines]  # every line parses
        counts = Counter(row["custom_id"] for row in rows)
        expected = {f"r{i}" for i in range(args.requests)}
        failed = [row for row in rows if row["error"] is not None]
        once = set(counts) == expected and all(n == 1 for n in counts.values())

    print(f"backend {args.backend}, concurrency {args.concurrency}, faults {args.faults!r}")
    print(
        f"{args.requests:,} requests in {seconds:.2f} s ({args.requests / seconds:,.0f} req/s); "
        f"job stats: {stats.done:,} ok, {stats.failed:,} failed, {stats.retries:,} retries, "
        f"{stats.rate_limited:,} x 429, cost ${stats.cost:.4f}"
    )
    print(
        f"emulator: {served['requests']:,} requests, {served['faulted']:,} faulted "
        f"({100 * served['faulted'] / max(served['requests'], 1):.1f}%), "
        f"{served['connections_dropped']:,} dropped before headers"
    )
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in served.get("faults", {}).items())
    print(f"faults by kind: {kinds}")
    print(f"rows {len(rows):,}; every id exactly once: {once}; error rows: {len(failed)}")
    # Each fault costs one attempt that the job retries; a connection dropped before any
    # response byte can instead be replayed by the transport (a stale keep-alive connection).
    recovered = (
        not failed
        and stats.done == args.requests
        and served["requests"] == args.requests + served["faulted"]
        and served["faulted"] - served["connections_dropped"] <= stats.retries <= served["faulted"]
    )
    print(f"every retryable fault recovered: {recovered}")
    if failed:
        print("first error rows:", *failed[:5], sep="\n  ")
    return 0 if once and recovered else 1


if __name__ == "__main__":
    os.environ.pop("OPENROUTER_BASE_URL", None)
    sys.exit(main())
