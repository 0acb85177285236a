# ruff: noqa: RUF001  (the report prints multiplication signs and micro signs on purpose)
"""Run every benchmark client side by side against the canned loopback server.

    uv run python benchmarks/run.py                 # full run, 3 interleaved rounds
    uv run python benchmarks/run.py --quick         # ~1-minute smoke run, 1 round
    uv run python benchmarks/run.py --only fanout stream
    uv run python benchmarks/run.py --only peers --quick
    uv run python benchmarks/run.py --exclude openrouter-sdk

Each client runs in its own fresh interpreter (``benchmarks/clients/*.py``) and prints
one JSON line; each scenario gets its own canned-server subprocess; rounds are
interleaved (round 1: A, B, C ...; round 2: A, B, C ...); the table shows medians.
Results go to ``benchmarks/results/<timestamp>.json`` (and ``.md``); see README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _server_proc import start_server  # noqa: E402

CLIENTS_DIR = HERE / "clients"
RESULTS_DIR = HERE / "results"
ROOT = HERE.parent
CLIENT_TIMEOUT = 240.0


# ------------------------------------------------------------------------- definitions


@dataclasses.dataclass(frozen=True)
class Client:
    key: str  # unique within a scenario; used by --only/--exclude
    label: str
    script: str = ""  # benchmarks/clients/<script>
    backend: str = "asyncio"
    n: int = 0  # requests/streams per round (full run)
    quick_n: int = 0
    scenario_arg: str = ""  # --scenario passed to the script (default: the scenario key)
    module: str = ""  # import scenario only
    src: str = ""  # another checkout's src/ to import openrouter_async from (--baseline)

    @property
    def ours(self) -> bool:
        return self.key == "ours" or self.key.startswith("ours-")


@dataclasses.dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    unit: str  # "req/s", "chunks/s" (higher is better) or "ms" (lower is better)
    clients: tuple[Client, ...]
    concurrency: int = 1
    delay_ms: float = 0.0
    chunks: int = 20000
    warmup: int = -1  # -1: the client's default
    n: int = 0  # requests (streams) per client per round; a client may override
    quick_n: int = 0
    # Caps (seconds) on each client's timed phase and warm-up: (full run, --quick).
    max_seconds: tuple[float, float] = (0.0, 0.0)
    warmup_seconds: tuple[float, float] = (0.0, 0.0)

    @property
    def lower_is_better(self) -> bool:
        return self.unit == "ms"


@dataclasses.dataclass(frozen=True)
class Target:
    scenario: str
    client: str
    kind: str  # "ratio" (>= value x peer), "min" (>= value), "max" (< value)
    value: float
    peer: str = ""

    def describe(self, scen: Scenario, labels: dict[str, str]) -> str:
        if self.kind == "ratio":
            return f"≥ {self.value:g}× {labels.get(self.peer, self.peer)}"
        if self.kind == "min":
            return f"≥ {self.value:,.0f} {scen.unit}"
        return f"< {self.value:g} {scen.unit}"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        key="fanout",
        title="fan-out: non-streaming chat, 64 in flight, typed results where the client has them",
        unit="req/s",
        concurrency=64,
        n=5000,
        quick_n=2000,
        max_seconds=(4.0, 2.0),
        warmup_seconds=(2.5, 1.5),
        clients=(
            Client("aiohttp", "raw aiohttp (dicts)", "raw_aiohttp.py"),
            Client("httpx-asyncio", "raw httpx, asyncio (dicts)", "raw_httpx.py"),
            Client("httpx-trio", "raw httpx, trio (dicts)", "raw_httpx.py", backend="trio"),
            Client(
                "httpx-aiohttp",
                "httpx + httpx-aiohttp transport (dicts)",
                "raw_httpx.py",
                scenario_arg="fanout-aiohttp-transport",
            ),
            Client("openai", "openai AsyncOpenAI", "openai_sdk.py"),
            Client("openai-trio", "openai AsyncOpenAI on trio", "openai_sdk.py", backend="trio"),
            Client("openrouter-sdk", "official openrouter SDK (send_async)", "openrouter_sdk.py"),
            Client(
                "openrouter-sdk-trio",
                "official openrouter SDK on trio",
                "openrouter_sdk.py",
                backend="trio",
            ),
            Client("ours-asyncio", "openrouter_async, asyncio", "ours.py"),
            Client("ours-trio", "openrouter_async, trio", "ours.py", backend="trio"),
        ),
    ),
    Scenario(
        key="fanout-1024-slow",
        title="fan-out against a slow server: 100 ms per answer, 1,024 in flight",
        unit="req/s",
        concurrency=1024,
        delay_ms=100.0,
        warmup=1024,
        n=10000,
        quick_n=4000,
        max_seconds=(4.0, 2.0),
        warmup_seconds=(2.5, 1.5),
        clients=(
            Client("aiohttp", "raw aiohttp (dicts)", "raw_aiohttp.py"),
            Client("openai", "openai AsyncOpenAI", "openai_sdk.py"),
            Client("ours-asyncio", "openrouter_async, asyncio", "ours.py"),
            Client("ours-trio", "openrouter_async, trio", "ours.py", backend="trio"),
        ),
    ),
    Scenario(
        key="stream",
        title="one streamed response of 20,000 chunks, each decoded to a typed chunk",
        unit="chunks/s",
        chunks=20000,
        n=1,
        quick_n=1,
        clients=(
            Client("aiohttp", "raw aiohttp (line split + json.loads)", "raw_aiohttp.py"),
            Client(
                "httpx-asyncio",
                "raw httpx, asyncio (client.stream + aiter_lines + orjson.loads)",
                "raw_httpx.py",
            ),
            Client(
                "httpx-trio",
                "raw httpx, trio (client.stream + aiter_lines + orjson.loads)",
                "raw_httpx.py",
                backend="trio",
            ),
            Client("openai", "openai AsyncOpenAI (stream=True)", "openai_sdk.py"),
            Client("ours-asyncio", "openrouter_async, asyncio", "ours.py"),
            Client("ours-trio", "openrouter_async, trio", "ours.py", backend="trio"),
        ),
    ),
    Scenario(
        key="sync-stream",
        title="sync facade: one streamed response of 20,000 chunks, each decoded to a typed chunk",
        unit="chunks/s",
        chunks=20000,
        n=1,
        quick_n=1,
        clients=(
            Client("openai-sync", "openai.OpenAI (sync, stream=True)", "openai_sdk.py"),
            Client(
                "ours-sync", "openrouter_async OpenRouter (sync facade, stream=True)", "ours.py"
            ),
        ),
    ),
    Scenario(
        key="sync-seq",
        title="sync facade: sequential non-streaming calls",
        unit="req/s",
        n=2000,
        quick_n=500,
        max_seconds=(4.0, 2.0),
        warmup_seconds=(2.0, 1.0),
        clients=(
            Client("openai-sync", "openai.OpenAI (sync)", "openai_sdk.py"),
            Client(
                "openrouter-sdk-sync", "official openrouter SDK (sync send)", "openrouter_sdk.py"
            ),
            Client("ours-sync", "openrouter_async OpenRouter (sync facade)", "ours.py"),
        ),
    ),
    Scenario(
        key="import",
        title="import time: wall time of `python -c 'import X'` minus `python -c pass`",
        unit="ms",
        clients=(
            Client("openai", "import openai", module="openai", n=3, quick_n=3),
            Client(
                "openrouter-sdk",
                "import openrouter (official SDK)",
                module="openrouter",
                n=3,
                quick_n=3,
            ),
            Client("ours", "import openrouter_async", module="openrouter_async", n=3, quick_n=3),
        ),
    ),
)

TARGETS: tuple[Target, ...] = (
    Target("fanout", "ours-asyncio", "ratio", 0.6, "aiohttp"),
    Target("fanout", "ours-asyncio", "ratio", 4.0, "openai"),
    Target("fanout", "ours-trio", "ratio", 2.0, "httpx-trio"),
    Target("fanout-1024-slow", "ours-asyncio", "min", 3000.0),
    Target("stream", "ours-asyncio", "ratio", 0.5, "httpx-asyncio"),
    Target("stream", "ours-asyncio", "ratio", 4.0, "openai"),
    Target("stream", "ours-trio", "ratio", 4.0, "openai"),
    Target("sync-stream", "ours-sync", "ratio", 5.0, "openai-sync"),
    Target("sync-seq", "ours-sync", "ratio", 2.5, "openai-sync"),
    Target("import", "ours", "max", 30.0),
)


# ------------------------------------------------------------------------- selection


def _matches(name: str, key: str) -> bool:
    return key == name or key.startswith(name + "-")


def select(only: list[str], exclude: list[str]) -> list[Scenario]:
    scen_keys = {s.key for s in SCENARIOS}
    only_scen = [n for n in only if n in scen_keys]
    only_client = [n for n in only if n not in scen_keys]
    out = []
    for s in SCENARIOS:
        if only_scen and s.key not in only_scen:
            continue
        if s.key in exclude:
            continue
        clients = []
        for c in s.clients:
            if only_client and not any(
                (n == "peers" and not c.ours) or _matches(n, c.key) for n in only_client
            ):
                continue
            if any((n == "peers" and not c.ours) or _matches(n, c.key) for n in exclude):
                continue
            clients.append(c)
        if clients:
            out.append(dataclasses.replace(s, clients=tuple(clients)))
    return out


# ------------------------------------------------------------------------- running


def child_env(pycache: str) -> dict[str, str]:
    env = dict(os.environ)
    # Bytecode: the sandbox sets PYTHONDONTWRITEBYTECODE and ships no .pyc files, which
    # would make every fresh interpreter recompile openai/pydantic from source. Cache the
    # bytecode in a private directory instead (never in the source tree or the venv).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(var, None)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def with_baseline(scenarios: list[Scenario], checkout: Path) -> list[Scenario]:
    """Each of our rows twice: this tree and ``checkout`` (another worktree, e.g. the commit
    before a change), interleaved in the same rounds so both see the same machine."""
    rev = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    out = []
    for s in scenarios:
        clients: list[Client] = []
        for c in s.clients:
            clients.append(c)
            if c.ours:
                twin = dataclasses.replace(
                    c,
                    key=f"{c.key}-baseline",
                    label=f"{c.label} @ {rev or checkout.name} (baseline)",
                    src=str(checkout / "src"),
                )
                clients.append(twin)
        out.append(dataclasses.replace(s, clients=tuple(clients)))
    return out


def env_for(c: Client, env: dict[str, str]) -> dict[str, str]:
    if not c.src:
        return env
    own = dict(env)
    own["PYTHONPATH"] = env["PYTHONPATH"].replace(str(ROOT / "src"), c.src, 1)
    return own


def run_client(scen: Scenario, c: Client, url: str, quick: bool, env: dict[str, str]) -> dict:
    env = env_for(c, env)
    n = (c.quick_n or scen.quick_n) if quick else (c.n or scen.n)
    cmd = [
        sys.executable,
        str(CLIENTS_DIR / c.script),
        "--scenario",
        c.scenario_arg or scen.key,
        "--url",
        url,
        "--n",
        str(n),
        "--concurrency",
        str(max(scen.concurrency, 1)),
        "--backend",
        c.backend,
        "--warmup",
        str(scen.warmup),
        "--max-seconds",
        str(scen.max_seconds[1 if quick else 0]),
        "--warmup-seconds",
        str(scen.warmup_seconds[1 if quick else 0]),
    ]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=env,
            timeout=CLIENT_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {CLIENT_TIMEOUT:.0f}s"}
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        err = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"ok": False, "error": err[:300], "stderr": proc.stderr[-3000:]}
    try:
        out = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        return {"ok": False, "error": f"bad JSON from client: {e}"}
    out["process_wall_seconds"] = wall
    if proc.returncode != 0 and out.get("ok"):
        out = {"ok": False, "error": f"exit code {proc.returncode}", "stderr": proc.stderr[-3000:]}
    return out


def _timed_run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(
        cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=120
    )
    return time.perf_counter() - t0, p


def _importtime_cumulative_ms(stderr: str, module: str) -> float | None:
    # "import time: self [us] | cumulative | imported package"; the top-level line for
    # `module` has no indentation in the last column.
    found = None
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        if len(parts) != 3:
            continue
        name = parts[2].rstrip()
        if name.strip() == module and not name[1:].startswith(" "):
            try:
                found = int(parts[1].strip()) / 1000.0
            except ValueError:
                pass
    return found


def run_import(c: Client, quick: bool, env: dict[str, str]) -> dict:
    env = env_for(c, env)
    reps = c.quick_n if quick else c.n
    py = sys.executable
    base_cmd = [py, "-c", "pass"]
    cmd = [py, "-c", f"import {c.module}"]
    ok, prime = _timed_run(cmd, env)  # prime the bytecode cache
    del ok
    if prime.returncode != 0:
        err = (prime.stderr.strip().splitlines() or ["failed"])[-1]
        return {"ok": False, "error": err[:300]}
    deltas = []
    for _ in range(reps):
        b, _p = _timed_run(base_cmd, env)
        w, p = _timed_run(cmd, env)
        if p.returncode != 0:
            return {"ok": False, "error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
        deltas.append((w - b) * 1000.0)
    _, it = _timed_run([py, "-X", "importtime", "-c", f"import {c.module}"], env)
    value = statistics.median(deltas)
    return {
        "ok": True,
        "rate": value,  # "rate" is the headline figure; here: milliseconds (lower is better)
        "ms": value,
        "samples_ms": deltas,
        "importtime_cumulative_ms": _importtime_cumulative_ms(it.stderr, c.module),
    }


def fmt_value(v: float, unit: str) -> str:
    if unit == "ms":
        return f"{v:,.0f} ms" if v >= 10 else f"{v:.1f} ms"
    return f"{v:,.0f}"


def _median_ok(rounds: list[dict]) -> float | None:
    vals = [r["rate"] for r in rounds if r.get("ok")]
    return statistics.median(vals) if vals else None


def _ratio(scen: Scenario, ours: float, peer: float) -> float:
    # Always "how many times better ours is": rate ratio, or time ratio inverted.
    return peer / ours if scen.lower_is_better else ours / peer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds (default 3; 1 with --quick)"
    )
    ap.add_argument("--quick", action="store_true", help="fewer requests, 1 round (~1 minute)")
    ap.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="NAME",
        help="scenario keys and/or client keys (prefix match on '-': 'ours', "
        "'openai', 'httpx'); 'peers' = every client but ours",
    )
    ap.add_argument(
        "--exclude",
        nargs="+",
        default=[],
        metavar="NAME",
        help="scenario or client keys to skip (same matching as --only)",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="also run our rows from another checkout (e.g. `git worktree add ../base HEAD~3`), "
        "interleaved with this tree's: before/after in one run",
    )
    ap.add_argument("--list", action="store_true", help="list scenarios and clients and exit")
    ap.add_argument("--no-save", action="store_true", help="don't write benchmarks/results/")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="override every scenario's cap on a timed phase (0: no cap; e.g. 30 to see "
        "httpx's steady state after its slow start)",
    )
    args = ap.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)

    scenarios = select(args.only, args.exclude)
    if args.baseline is not None:
        scenarios = with_baseline(scenarios, args.baseline.resolve())
    if args.max_seconds is not None:
        cap = (args.max_seconds, args.max_seconds)
        scenarios = [
            dataclasses.replace(s, max_seconds=cap) if s.key != "import" else s for s in scenarios
        ]
    if args.list:
        for s in SCENARIOS:
            print(f"{s.key}: {s.title}")
            for c in s.clients:
                print(
                    f"    {c.key:22} {c.label}  (n={c.n or s.n}, quick n={c.quick_n or s.quick_n})"
                )
        return 0
    if not scenarios:
        print("nothing selected; see --list", file=sys.stderr)
        return 2

    pycache = os.path.join(tempfile.gettempdir(), "openrouter_async_bench_pycache")
    env = child_env(pycache)
    started = time.perf_counter()
    results: dict[str, dict[str, list[dict]]] = {}
    for scen in scenarios:
        results[scen.key] = {c.key: [] for c in scen.clients}
        if scen.key == "import":
            for r in range(rounds):
                for c in scen.clients:
                    res = run_import(c, args.quick, env)
                    results[scen.key][c.key].append(res)
                    _progress(scen, r, rounds, c, res)
            continue
        with start_server(delay_ms=scen.delay_ms, chunks=scen.chunks) as (_proc, url):
            for r in range(rounds):
                for c in scen.clients:
                    res = run_client(scen, c, url, args.quick, env)
                    results[scen.key][c.key].append(res)
                    _progress(scen, r, rounds, c, res)
    elapsed = time.perf_counter() - started

    report = render(scenarios, results, rounds, args.quick, elapsed)
    print(report)
    if not args.no_save:
        RESULTS_DIR.mkdir(exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        doc = {
            "meta": meta(rounds, args.quick, elapsed),
            "scenarios": {
                s.key: {
                    "title": s.title,
                    "unit": s.unit,
                    "concurrency": s.concurrency,
                    "delay_ms": s.delay_ms,
                    "clients": {
                        c.key: {
                            "label": c.label,
                            "n": (c.quick_n or s.quick_n) if args.quick else (c.n or s.n),
                            "max_seconds": s.max_seconds[1 if args.quick else 0],
                            "backend": c.backend,
                            "median": _median_ok(results[s.key][c.key]),
                            "rounds": results[s.key][c.key],
                        }
                        for c in s.clients
                    },
                }
                for s in scenarios
            },
            "targets": target_rows(scenarios, results),
        }
        path = RESULTS_DIR / f"{stamp}{'-quick' if args.quick else ''}.json"
        path.write_text(json.dumps(doc, indent=2))
        path.with_suffix(".md").write_text(report + "\n")
        print(f"\nwrote {path.relative_to(ROOT)} (and .md)")
    return 0


def _progress(scen: Scenario, r: int, rounds: int, c: Client, res: dict) -> None:
    if res.get("ok"):
        extra = ""
        if "cpu_seconds" in res and res.get("count"):
            extra = f"  (client CPU {res['cpu_seconds'] / res['count'] * 1e6:,.0f} µs/unit)"
        msg = f"{fmt_value(res['rate'], scen.unit)} {'' if scen.unit == 'ms' else scen.unit}{extra}"
    else:
        msg = f"n/a ({res.get('error')})"
    print(f"[{scen.key} {r + 1}/{rounds}] {c.key}: {msg}", file=sys.stderr, flush=True)


def meta(rounds: int, quick: bool, elapsed: float) -> dict[str, Any]:
    from importlib import metadata

    versions = {}
    for dist in (
        "openrouter-async",
        "aiohttp",
        "httpx",
        "httpx-aiohttp",
        "openai",
        "openrouter",
        "anyio",
        "trio",
        "orjson",
        "pydantic",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except OSError:
        rev = ""
    return {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "rounds": rounds,
        "quick": quick,
        "elapsed_seconds": elapsed,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "git": rev,
        "versions": versions,
    }


def target_rows(scenarios: list[Scenario], results: dict) -> list[dict]:
    rows = []
    by_key = {s.key: s for s in scenarios}
    # Each target also applies to our row's --baseline twin, if the run has one.
    targets = [
        dataclasses.replace(t, client=key)
        for t in TARGETS
        for key in (t.client, f"{t.client}-baseline")
    ]
    for t in targets:
        scen = by_key.get(t.scenario)
        if scen is None or t.client not in results[t.scenario]:
            continue
        labels = {c.key: c.label for c in scen.clients}
        ours = _median_ok(results[t.scenario][t.client])
        row: dict[str, Any] = {
            "scenario": t.scenario,
            "client": t.client,
            "target": t.describe(scen, labels),
            "measured": None,
            "pass": None,
        }
        if ours is not None:
            if t.kind == "ratio":
                peer_rounds = results[t.scenario].get(t.peer)
                peer = _median_ok(peer_rounds) if peer_rounds else None
                if peer:
                    ratio = _ratio(scen, ours, peer)
                    row["measured"] = f"{ratio:.2f}×"
                    row["pass"] = ratio >= t.value
                else:
                    row["measured"] = "peer n/a"
            elif t.kind == "min":
                row["measured"] = f"{fmt_value(ours, scen.unit)} {scen.unit}"
                row["pass"] = ours >= t.value
            else:
                row["measured"] = fmt_value(ours, scen.unit)
                row["pass"] = ours < t.value
        rows.append(row)
    return rows


def render(
    scenarios: list[Scenario], results: dict, rounds: int, quick: bool, elapsed: float
) -> str:
    out: list[str] = []
    m = meta(rounds, quick, elapsed)
    out.append(
        f"# openrouter-async benchmarks ({'quick, ' if quick else ''}{rounds} round"
        f"{'s' if rounds != 1 else ''}, median; {m['cpus']} CPUs, Python {m['python']}, "
        f"{elapsed:.0f} s)"
    )
    if m["loadavg"]:
        out.append("")
        out.append(
            f"Load average at the end: {', '.join(f'{x:.2f}' for x in m['loadavg'])} "
            "(other processes on the machine skew every figure)."
        )
    for scen in scenarios:
        res = results[scen.key]
        out.append("")
        extra = []
        if scen.concurrency > 1:
            extra.append(f"{scen.concurrency} in flight")
        if scen.delay_ms:
            extra.append(f"server delay {scen.delay_ms:g} ms")
        out.append(f"## {scen.key}: {scen.title}" + (f" ({', '.join(extra)})" if extra else ""))
        out.append("")
        better = "lower is better" if scen.lower_is_better else "higher is better"
        if scen.key == "import":
            out.append(f"| client | median ({better}) | samples | -X importtime cumulative |")
            out.append("|---|---:|---|---:|")
        else:
            out.append(
                f"| client | n | {scen.unit} (median, {better}) | rounds | client CPU µs/unit |"
            )
            out.append("|---|---:|---:|---|---:|")
        any_capped = False
        for c in scen.clients:
            rs = res[c.key]
            med = _median_ok(rs)
            label = f"**{c.label}**" if c.ours else c.label
            if med is None:
                err = next((r.get("error") for r in rs if not r.get("ok")), "no result")
                err = str(err).replace("|", "/").replace("\n", " ")[:160]
                if scen.key == "import":
                    out.append(f"| {label} | n/a (error: {err}) | | |")
                else:
                    out.append(f"| {label} | | n/a (error: {err}) | | |")
                continue
            per_round = ", ".join(
                fmt_value(r["rate"], scen.unit) if r.get("ok") else "err" for r in rs
            )
            if scen.key == "import":
                samples = ", ".join(f"{x:.0f}" for r in rs if r.get("ok") for x in r["samples_ms"])
                its = [r.get("importtime_cumulative_ms") for r in rs if r.get("ok")]
                its = [x for x in its if x is not None]
                it_s = f"{statistics.median(its):,.0f} ms" if its else "?"
                out.append(f"| {label} | {fmt_value(med, 'ms')} | {samples} | {it_s} |")
            else:
                counts = [r["count"] for r in rs if r.get("ok")]
                capped = any(r.get("capped") for r in rs if r.get("ok"))
                n = f"{int(statistics.median(counts)):,}{'*' if capped else ''}"
                any_capped = any_capped or capped
                cpus = [
                    r["cpu_seconds"] / r["count"] * 1e6
                    for r in rs
                    if r.get("ok") and r.get("count")
                ]
                cpu = f"{statistics.median(cpus):,.0f}" if cpus else ""
                out.append(f"| {label} | {n} | {fmt_value(med, scen.unit)} | {per_round} | {cpu} |")
        if any_capped:
            cap = scen.max_seconds[1 if quick else 0]
            out.append("")
            out.append(
                f"\\* stopped at the {cap:g} s cap before the full count (median count "
                "shown); the rate is completed / elapsed."
            )
        # Ratios of each of our rows to each peer row.
        ours_rows = [c for c in scen.clients if c.ours and _median_ok(res[c.key]) is not None]
        peers = [c for c in scen.clients if not c.ours]
        if ours_rows and peers:
            out.append("")
            out.append(
                "Ours relative to each peer (× = times better"
                + (", i.e. peer time / our time" if scen.lower_is_better else "")
                + "):"
            )
            out.append("")
            out.append("| | " + " | ".join(p.key for p in peers) + " |")
            out.append("|---|" + "---:|" * len(peers))
            for oc in ours_rows:
                ours = _median_ok(res[oc.key])
                cells = []
                for p in peers:
                    pm = _median_ok(res[p.key])
                    cells.append(f"{_ratio(scen, ours, pm):.2f}×" if pm and ours else "n/a")
                out.append(f"| {oc.key} | " + " | ".join(cells) + " |")
    trows = target_rows(scenarios, results)
    if trows:
        out.append("")
        out.append("## Targets")
        out.append("")
        out.append("| scenario | ours | target | measured | |")
        out.append("|---|---|---|---:|---|")
        for r in trows:
            mark = {True: "✅ pass", False: "❌ miss", None: "n/a"}[r["pass"]]
            out.append(
                f"| {r['scenario']} | {r['client']} | {r['target']} | "
                f"{r['measured'] or 'n/a'} | {mark} |"
            )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
