# ruff: noqa: RUF001  (the report prints multiplication signs on purpose)
"""Structured outputs: our ``chat.parse`` into an attrs class against openai-python's
``client.chat.completions.parse()`` into a pydantic model, on the canned server.

    uv run python benchmarks/bench_parse.py                # 3 interleaved rounds (~1 min)
    uv run python benchmarks/bench_parse.py --rounds 5 --n 4000
    uv run python benchmarks/bench_parse.py --quick        # 1 round, fewer requests

The canned server (``canned_server.py``, in its own process, as ``run.py`` starts it)
answers every chat call with the same ``chat.completion``; here its ``content`` is a JSON
document of a city (nested list of landmarks, numbers, a boolean), set before it starts.
Both clients send the class's strict JSON schema as ``response_format`` and read the answer
into the class: ours into attrs classes (``session.chat.parse`` / ``client.chat.parse``),
openai's into the same classes as pydantic models (``AsyncOpenAI.chat.completions.parse`` /
``OpenAI.chat.completions.parse``), each client in a fresh interpreter, rounds interleaved,
medians reported with their ratio, as ``run.py`` does:

* ``fanout``: 64 calls in flight (asyncio), requests/s;
* ``sync-seq``: sequential calls on the sync API, requests/s.

A third row, ours with ``chat.send`` and the content left as text, shows what parsing adds.

The driver and the timing are ``clients/_common.py``'s (the warm-up opens the connections
and builds what is built once, such as our cached response format).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "clients"))

CITY = {
    "name": "Paris",
    "country": "France",
    "population": 2102650,
    "area_km2": 105.4,
    "capital": True,
    "landmarks": [
        {"name": "Eiffel Tower", "year": 1889, "tags": ["iron", "tower"]},
        {"name": "Louvre", "year": 1793, "tags": ["museum"]},
        {"name": "Notre-Dame", "year": 1345, "tags": ["cathedral", "gothic"]},
    ],
}

# The canned server with the city as its content: its answers are built from CHAT_RESULT
# when it starts serving.
SERVER = f"""
import json, sys
sys.path.insert(0, {str(HERE)!r})
import canned_server
canned_server.CHAT_RESULT["choices"][0]["message"]["content"] = {json.dumps(json.dumps(CITY))}
canned_server.CHAT_RESULT["choices"][0]["message"]["refusal"] = None
canned_server.main(sys.argv[1:])
"""


# -- the clients (run in a fresh interpreter: `bench_parse.py --client ours --scenario ...`) --


@attrs.frozen
class Landmark:
    name: str
    year: int
    tags: list[str]


@attrs.frozen
class City:
    """(At module level: its annotations are strings, resolved in the module's namespace.)"""

    name: str
    country: str
    population: int
    area_km2: float
    capital: bool
    landmarks: list[Landmark]


def _pydantic_classes() -> Any:
    import pydantic

    class Landmark(pydantic.BaseModel):
        name: str
        year: int
        tags: list[str]

    class City(pydantic.BaseModel):
        name: str
        country: str
        population: int
        area_km2: float
        capital: bool
        landmarks: list[Landmark]

    return City


def _answer(parsed: Any) -> str:
    """What ``_common.check`` expects, once the parsed city is the right one."""
    import _common as c

    if parsed.name != "Paris" or parsed.landmarks[2].year != 1345:
        raise AssertionError(f"unexpected answer {parsed!r}")
    return c.EXPECTED


def ours(args: argparse.Namespace) -> dict[str, Any]:
    import _common as c

    city = City
    if args.scenario == "sync-seq":
        from openrouter_async import OpenRouter

        with OpenRouter(server_url=args.url, api_key="x") as client:

            def call() -> object:
                r = client.chat.parse(model=c.MODEL, messages=c.MESSAGES, response_format=city)
                return _answer(r.choices[0].message.parsed)

            return c.timed_sync_seq(call, args)

    from openrouter_async import Session

    async def main() -> dict[str, Any]:
        async with Session(
            base_url=args.url, api_key="x", max_connections=args.concurrency
        ) as session:

            async def call() -> object:
                r = await session.chat.parse(
                    model=c.MODEL, messages=c.MESSAGES, response_format=city
                )
                return _answer(r.choices[0].message.parsed)

            return await c.timed_fanout(args.backend, call, args)

    return c.run_backend(args.backend, main)


def ours_send(args: argparse.Namespace) -> dict[str, Any]:
    """For reference: the same request (schema and all) with ``chat.send``, the content
    left as text: what reading the answer into the class adds."""
    import _common as c

    from openrouter_async._json_schema import schema_for

    schema = schema_for(City, strict=True)
    fmt = {"type": "json_schema", "json_schema": {"name": "City", "schema": schema, "strict": True}}
    kw = {"response_format": fmt, "provider": {"require_parameters": True}}
    if args.scenario == "sync-seq":
        from openrouter_async import OpenRouter

        with OpenRouter(server_url=args.url, api_key="x") as client:

            def call() -> object:
                r = client.chat.send(model=c.MODEL, messages=c.MESSAGES, **kw)
                return c.EXPECTED if r.choices[0].message.content.startswith("{") else None

            return c.timed_sync_seq(call, args)

    from openrouter_async import Session

    async def main() -> dict[str, Any]:
        async with Session(
            base_url=args.url, api_key="x", max_connections=args.concurrency
        ) as session:

            async def call() -> object:
                r = await session.chat.send(model=c.MODEL, messages=c.MESSAGES, **kw)
                return c.EXPECTED if r.choices[0].message.content.startswith("{") else None

            return await c.timed_fanout(args.backend, call, args)

    return c.run_backend(args.backend, main)


def openai_sdk(args: argparse.Namespace) -> dict[str, Any]:
    import _common as c
    import httpx
    import openai

    city = _pydantic_classes()
    if args.scenario == "sync-seq":
        with openai.OpenAI(base_url=args.url, api_key="x", max_retries=0) as client:

            def call() -> object:
                r = client.chat.completions.parse(
                    model=c.MODEL, messages=c.MESSAGES, response_format=city
                )
                return _answer(r.choices[0].message.parsed)

            return c.timed_sync_seq(call, args)

    async def main() -> dict[str, Any]:
        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        http_client = openai.DefaultAsyncHttpxClient(limits=limits)
        async with openai.AsyncOpenAI(
            base_url=args.url, api_key="x", max_retries=0, http_client=http_client
        ) as client:

            async def call() -> object:
                r = await client.chat.completions.parse(
                    model=c.MODEL, messages=c.MESSAGES, response_format=city
                )
                return _answer(r.choices[0].message.parsed)

            return await c.timed_fanout(args.backend, call, args)

    return c.run_backend(args.backend, main)


CLIENTS = {"ours": ours, "openai": openai_sdk, "ours-send": ours_send}
LABELS = {
    "ours": "ours: chat.parse → attrs",
    "ours-send": "(ours: chat.send, content unparsed, for reference)",
    "openai": "openai: chat.completions.parse → pydantic",
}


def client_main(argv: list[str]) -> None:
    import _common as c

    key = argv[argv.index("--client") + 1]
    rest = [a for i, a in enumerate(argv) if a != "--client" and argv[i - 1] != "--client"]
    args = c.parse_args(rest)
    try:
        out = CLIENTS[key](args)
    except Exception as error:
        out = {"ok": False, "error": c.describe(error)[:500]}
    c.emit(out)


# -- the runner ------------------------------------------------------------------------------


def run_client(key: str, scenario: str, url: str, n: int, concurrency: int) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--client",
        key,
        "--scenario",
        scenario,
        "--url",
        url,
        "--n",
        str(n),
        "--concurrency",
        str(concurrency),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"ok": False, "error": (done.stderr or "no output").strip()[-500:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=3000, help="fan-out requests per run")
    parser.add_argument("--sync-n", type=int, default=1000, help="sync requests per run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="1 round, a quarter of the calls")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.n, args.sync_n = 1, args.n // 4, args.sync_n // 4

    import _server_proc

    scenarios = [("fanout", args.n, args.concurrency), ("sync-seq", args.sync_n, 1)]
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    errors: dict[tuple[str, str], str] = {}
    server = Path(tempfile.mkdtemp(prefix="bench-parse-")) / "parse_server.py"
    server.write_text(SERVER, encoding="utf-8")
    original = _server_proc.SERVER_SCRIPT
    _server_proc.SERVER_SCRIPT = server
    try:
        for scenario, n, concurrency in scenarios:
            with _server_proc.start_server(delay_ms=0, chunks=1) as (_, url):
                for round_number in range(args.rounds):
                    for key in CLIENTS:
                        out = run_client(key, scenario, url, n, concurrency)
                        if out.get("ok"):
                            rates.setdefault((scenario, key), []).append(out["rate"])
                            per_call = out["cpu_seconds"] / max(out["count"], 1) * 1e6
                            cpu.setdefault((scenario, key), []).append(per_call)
                        else:
                            errors[(scenario, key)] = str(out.get("error"))
                        print(
                            f"round {round_number + 1} {scenario:9} {key:9}"
                            f" {out.get('rate', 0):>9,.0f} req/s {out.get('error', '')}",
                            file=sys.stderr,
                        )
    finally:
        _server_proc.SERVER_SCRIPT = original
        server.unlink(missing_ok=True)
        server.parent.rmdir()

    print(f"\n## chat.parse vs openai's parse ({args.rounds} rounds, medians)\n")
    print("| scenario | client | req/s | client CPU µs/call | vs openai |")
    print("|---|---|---:|---:|---:|")
    for scenario, _, concurrency in scenarios:
        peer = rates.get((scenario, "openai"))
        for key in CLIENTS:
            title = f"{scenario} ({concurrency} in flight)" if concurrency > 1 else scenario
            if (scenario, key) in errors and (scenario, key) not in rates:
                print(f"| {title} | {LABELS[key]} | n/a ({errors[(scenario, key)]}) | | |")
                continue
            rate = statistics.median(rates[(scenario, key)])
            per_call = statistics.median(cpu[(scenario, key)])
            ratio = f"{rate / statistics.median(peer):.2f}×" if peer else ""
            print(f"| {title} | {LABELS[key]} | {rate:,.0f} | {per_call:,.0f} | {ratio} |")


if __name__ == "__main__":
    if "--client" in sys.argv:
        client_main(sys.argv[1:])
    else:
        main()
