"""One batch job run by many worker processes (``batch --workers/--queue``, ``batch worker``,
``batch status``): a real redis-server (tests/_redis_server.py) as the work queue and the
shared budget, the emulator as the API, asyncio and trio workers as real subprocesses (some
SIGKILLed mid-job)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openrouter_async._batch_queue import JobQueue
from openrouter_async._batch_workers import merge_parts
from openrouter_async.emulator import EmulatorConfig, serve_in_thread

from ._redis_server import RedisServer, redis_server
from .conftest import API_KEY

ROOT = Path(__file__).resolve().parents[1]
MODEL = "openai/gpt-4o-mini"
#: The fleet's shared rate in the rate test (requests per second), and the emulator's limit
#: on the key a little above it (fixed 1-second windows): a 429 means the fleet overshot.
RATE = 40
SERVER_LIMIT = 46


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with serve_in_thread(EmulatorConfig(api_keys={API_KEY}, faults="delay-ms=20")) as url:
        yield url


@pytest.fixture(scope="module")
def limited_url() -> Iterator[str]:
    config = EmulatorConfig(
        api_keys={API_KEY}, rate_limit_rpm=SERVER_LIMIT, rate_limit_window_s=1.0
    )
    with serve_in_thread(config) as url:
        yield url


@pytest.fixture
def job() -> str:
    return f"job-{uuid.uuid4().hex[:8]}"


def write_input(path: Path, count: int, start: int = 0) -> set[str]:
    with path.open("w") as lines:
        for i in range(start, start + count):
            body = {"model": MODEL, "messages": [{"role": "user", "content": f"q{i}"}]}
            lines.write(json.dumps({"custom_id": f"r{i}", **body}) + "\n")
    return {f"r{i}" for i in range(start, start + count)}


def cli(*args: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "openrouter_async.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENROUTER_API_KEY": API_KEY},
        **popen,
    )


def run(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = cli(*args)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def worker(redis: RedisServer, job: str, url: str, backend: str) -> subprocess.Popen[str]:
    return cli(
        *("batch", "worker", "--queue", redis.url, "--job", job, "--base-url", url),
        *("--backend", backend),
    )


def finish(workers: list[subprocess.Popen[str]], timeout: float = 60) -> list[dict[str, Any]]:
    reports = []
    deadline = time.monotonic() + timeout
    try:
        for process in workers:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if process.returncode == -signal.SIGKILL:
                continue
            assert process.returncode == 0, err
            reports.append({**json.loads(out.strip().splitlines()[-1]), "stderr": err})
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
    return reports


def read_output(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]  # (a corrupt line fails here)


def emulator_stats(base_url: str) -> dict[str, Any]:
    import httpx

    stats: dict[str, Any] = httpx.get(f"{base_url}/_emulator/stats", timeout=5).json()
    return stats


def test_killed_workers_lose_no_line_and_duplicate_none(
    tmp_path: Path, redis: RedisServer, api_url: str, job: str
) -> None:
    """4 workers (2 asyncio, 2 trio); 2 are SIGKILLed mid-job, a new one joins late: every
    id is in the merged output exactly once, and no line of it is corrupt."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 300)
    enqueue = ("batch", str(source), "-o", str(output), "--queue", redis.url, "--job", job)
    options = ("--workers", "0", "--rpm", "6000", "--claim-idle", "1", "--base-url", api_url)
    code, out, err = run(*enqueue, *options)
    assert code == 1 and "300 lines queued" in err  # (queued; no worker ran: not finished)
    # Idempotent: the same command again queues nothing.
    code, out, err = run(*enqueue, *options)
    assert "0 lines queued" in err
    queue = JobQueue(redis.url, job)
    assert queue.client.xlen(queue.stream) == 300

    backends = ["asyncio", "trio", "asyncio", "trio"]
    workers = [worker(redis, job, api_url, backend) for backend in backends]
    deadline = time.monotonic() + 30
    while queue.status().done < 60:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.05)
    # One asyncio worker, one trio worker: the first frozen a moment before (rows written,
    # maybe not acknowledged yet: done twice, once in the merged output), then both killed.
    workers[0].send_signal(signal.SIGSTOP)
    time.sleep(0.2)
    for victim in (workers[0], workers[1]):
        victim.send_signal(signal.SIGKILL)
    at_kill = queue.status()
    assert at_kill.done + at_kill.failed < 300, "the job ended before the kill"
    late = worker(redis, job, api_url, "trio")
    reports = finish([*workers, late])
    assert len(reports) == 3 and all(report["failed"] == 0 for report in reports)
    assert sum(report["done"] for report in reports) > 0

    code, out, err = run("batch", "status", "--queue", redis.url, "--job", job, "--merge")
    assert code == 0, err
    assert f"job {job}: 300 done, 0 failed, 0 in flight, 0 pending (of 300): finished" in out
    assert "in flight" in out.splitlines()[1]  # the table's head, then one line per worker
    assert len(out.splitlines()) >= 2 + 4
    rows = read_output(output)
    assert sorted(row["custom_id"] for row in rows) == sorted(ids)  # each exactly once
    assert all(row["error"] is None for row in rows)
    parts = sorted((tmp_path / "out.jsonl.parts").glob("*.jsonl"))
    assert len(parts) == 5  # one per worker, the killed ones' too
    status = queue.status()
    assert status.finished and status.in_flight == 0
    queue.close()


def test_the_fleet_keeps_the_shared_rate_where_local_limiters_overshoot(
    tmp_path: Path, redis: RedisServer, limited_url: str, job: str
) -> None:
    per_worker = 40
    local_lines = 60  # (1.5 s each at the rate: the 4 processes overlap even if slow to start)
    # What users do today: 4 processes, each with a local limiter at the whole rate.
    before = emulator_stats(limited_url)
    local = []
    for i in range(4):
        write_input(tmp_path / f"local{i}.jsonl", local_lines, start=i * local_lines)
        local.append(
            cli(
                *("batch", str(tmp_path / f"local{i}.jsonl"), "-o", str(tmp_path / f"l{i}.jsonl")),
                *("--rpm", str(RATE * 60), "--max-attempts", "1", "--base-url", limited_url),
            )
        )
    for process in local:
        process.communicate(timeout=60)
    after = emulator_stats(limited_url)
    overshoot = after["rate_limited"] - before["rate_limited"]
    assert overshoot > 0.2 * 4 * local_lines, f"only {overshoot} 429s without a shared budget"

    # The same 4 processes on one job and one budget.
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 4 * per_worker)
    code, _, err = run(
        *("batch", str(source), "-o", str(output), "--queue", redis.url, "--job", job),
        *("--workers", "0", "--rpm", str(RATE * 60), "--base-url", limited_url),
    )
    assert "160 lines queued" in err
    time.sleep(1.1)  # (a fresh window of the emulator's limit)
    before = emulator_stats(limited_url)
    workers = [
        worker(redis, job, limited_url, backend)
        for backend in ("asyncio", "trio", "asyncio", "trio")
    ]
    reports = finish(workers)
    after = emulator_stats(limited_url)
    requests = after["requests"] - before["requests"]
    limited = after["rate_limited"] - before["rate_limited"]
    assert limited <= 0.01 * requests, f"{limited} 429s of {requests} requests"
    assert requests - limited == len(ids)  # (each line sent once, but for its 429s)
    assert sum(report["done"] for report in reports) == len(ids)
    code, out, err = run("batch", "status", "--queue", redis.url, "--job", job, "--merge")
    assert code == 0, err
    assert f"budget batch:{job}: " in out
    assert sorted(row["custom_id"] for row in read_output(output)) == sorted(ids)


def test_local_workers_run_a_job_and_resume_it(tmp_path: Path, api_url: str) -> None:
    """``--workers N`` without ``--queue``: a private redis-server for the run. Lines that
    cannot be sent are error rows ("failed"); a repeated id is queued once."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 40)
    with source.open("a") as lines:
        lines.write('{"custom_id": "bad", "model": "m", "messages": "not a list"}\n')
        lines.write('{"custom_id": "r0", "model": "m", "messages": []}\n')  # (r0 again)
    args = ("batch", str(source), "-o", str(output), "--workers", "2", "--base-url", api_url)
    code, out, err = run(*args)
    assert code == 4, err  # done, with a final error row
    assert "40 done, 1 failed, 0 in flight, 0 pending (of 41): finished" in out
    assert "merged: 41 rows (1 errors)" in out
    rows = read_output(output)
    assert sorted(row["custom_id"] for row in rows) == sorted({*ids, "bad"})
    assert not (tmp_path / "out.jsonl.parts").exists()
    # Again: every id has its row, nothing is queued or sent.
    code, out, err = run(*args)
    assert code == 4 and "0 lines queued" in err, err
    assert len(read_output(output)) == 41


def test_one_process_shares_a_budget_with_redis_and_budget(
    tmp_path: Path, redis: RedisServer, api_url: str, job: str
) -> None:
    """``batch --redis URL --budget NAME`` without workers: the Session joins the budget."""
    from openrouter_async._budget import RedisBudget

    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 10)
    code, _, err = run(
        *("batch", str(source), "-o", str(output), "--redis", redis.url, "--budget", job),
        *("--max-cost", "1", "--rpm", "6000", "--base-url", api_url),
    )
    assert code == 0, err
    budget = RedisBudget(redis.url, name=job, max_cost=1.0)
    assert budget.state().spent > 0  # settled on the shared budget
    budget.close()


def test_the_merge_keeps_one_row_per_id_and_skips_a_cut_line(tmp_path: Path) -> None:
    output, parts = tmp_path / "out.jsonl", tmp_path / "out.jsonl.parts"
    parts.mkdir()
    row = '{{"custom_id": "{}", "response": null, "error": null}}\n'
    output.write_text(row.format("a"))
    # A worker wrote "b" and died before its ack (cut in the middle of its next row); the
    # worker that took "b" over wrote it again.
    (parts / "w1.jsonl").write_text(row.format("a") + row.format("b") + '{"custom_id": "c", "re')
    (parts / "w2.jsonl").write_text(
        row.format("b") + row.format(7).replace('"7"', "7") + row.format("c")
    )
    merged = merge_parts(str(output), str(parts))
    assert (merged.rows, merged.duplicates, merged.partial) == (4, 2, 1)
    assert [r["custom_id"] for r in read_output(output)] == ["a", "b", 7, "c"]
    # Merging again changes nothing.
    assert merge_parts(str(output), str(parts)).rows == 4
    assert [r["custom_id"] for r in read_output(output)] == ["a", "b", 7, "c"]


def test_worker_and_status_name_a_missing_job(redis: RedisServer, job: str) -> None:
    code, _, err = run("batch", "status", "--queue", redis.url, "--job", job)
    assert code == 1 and f"no batch job {job!r}" in err
    code, _, err = run("batch", "worker", "--queue", redis.url, "--job", job)
    assert code == 1 and f"no batch job {job!r}" in err
    code, _, err = run("batch", "status", "--queue", redis.url, "--job", "a{b}")
    assert code == 2 and "--job" in err
    secret = "redis://:s3cret-pw@127.0.0.1:1/0"  # (nothing listens on port 1)
    code, _, err = run("batch", "worker", "--queue", secret, "--job", job)
    assert code == 1 and "cannot reach the job's Redis" in err and "s3cret" not in err


def test_max_cost_holds_across_the_fleet(
    tmp_path: Path, redis: RedisServer, api_url: str, job: str
) -> None:
    """3 workers share one max_cost: they stop once the fleet spent it (plus what was in
    flight), and the lines left wait in the queue for a later run."""
    from openrouter_async._budget import RedisBudget

    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 200)
    max_cost = 0.0001  # (about 15 calls of the emulator's prices)
    code, _, err = run(
        *("batch", str(source), "-o", str(output), "--queue", redis.url, "--job", job),
        *("--workers", "0", "--max-cost", str(max_cost), "--concurrency", "2"),
        *("--base-url", api_url),
    )
    assert "200 lines queued" in err
    workers = [worker(redis, job, api_url, backend) for backend in ("asyncio", "trio", "trio")]
    outs = []
    for process in workers:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 3, err  # stopped by the budget
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert all(report["stopped_by"] == "max_cost" for report in outs)
    budget = RedisBudget(redis.url, name=f"batch:{job}", max_cost=max_cost)
    state = budget.state()
    budget.close()
    rows = sum(report["done"] for report in outs)
    per_call = state.spent / rows
    # Overshoot: at most the calls in flight when the cap was reached (3 workers x 2). (The
    # fleet may stop below the cap: reservations are worst-case estimates, fail closed.)
    assert 0 < state.spent <= max_cost + 6 * per_call, (state.spent, per_call)
    code, out, _ = run("batch", "status", "--queue", redis.url, "--job", job, "--merge")
    assert code == 1 and ": running" in out  # not finished: the rest waits in the queue
    assert len(read_output(output)) == rows < 200
    assert f"leases, ${state.spent:.6f} spent of ${max_cost:g}" in out


def test_workers_wait_out_a_restart_of_the_queue(tmp_path: Path, api_url: str, job: str) -> None:
    """The queue's Redis restarts mid-job (its data saved and loaded back): the workers wait
    for it, then finish the job; every id once."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 300)
    with redis_server() as server:
        queue = JobQueue(server.url, job)
        queue.client.config_set("save", "3600 1")  # (saved at shutdown, loaded at start)
        code, _, err = run(
            *("batch", str(source), "-o", str(output), "--queue", server.url, "--job", job),
            *("--workers", "0", "--concurrency", "1", "--base-url", api_url),
            # a read whose answer the restart cut off leaves its lines pending: taken over
            # after this, not after the default 30 s
            *("--claim-idle", "2"),
        )
        assert "300 lines queued" in err
        workers = [worker(server, job, api_url, backend) for backend in ("asyncio", "trio")]
        deadline = time.monotonic() + 30
        while queue.status().done < 30:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        assert not queue.status().finished
        server.stop()
        time.sleep(1.0)
        server.start()
        reports = finish(workers)
        assert len(reports) == 2
        assert all("the queue's Redis" in report["stderr"] for report in reports)
        code, _, err = run("batch", "status", "--queue", server.url, "--job", job, "--merge")
        assert code == 0, err
        queue.close()
    assert sorted(row["custom_id"] for row in read_output(output)) == sorted(ids)


def test_a_dead_workers_lines_are_found_past_the_live_ones(redis: RedisServer, job: str) -> None:
    """XAUTOCLAIM looks at a bounded part of the pending list per call: the scan goes on
    from its cursor, so lines of a dead worker behind many live ones are still taken over."""
    queue = JobQueue(redis.url, job)
    lines = [(n, b'{"model": "m", "messages": []}') for n in range(1, 501)]
    assert queue.enqueue(lines, {}) == 500
    assert queue.enqueue(lines, {}) == 0  # (queued once)
    live = queue.read("live", 400, 100)
    dead = queue.read("dead", 100, 100)
    time.sleep(0.3)
    queue.touch("live", [entry for entry, _, _ in live])  # (a live worker's lines stay its own)
    cursor, found = "0-0", []
    for _ in range(100):
        cursor, entries = queue.claim("new", 0.2, 10, cursor)
        found += entries
        if cursor == "0-0":
            break
    assert [entry for entry, _, _ in found] == [entry for entry, _, _ in dead]
    assert queue.ack("new", [(entry, False) for entry, _, _ in found]) == 100
    assert queue.ack("new", [(found[0][0], False)]) == 0  # (an entry is counted once)
    status = queue.status()
    assert (status.done, status.in_flight, status.pending) == (100, 400, 0)
    assert {worker.name: worker.in_flight for worker in status.workers} == {
        "live": 400,
        "dead": 0,
        "new": 0,
    }
    queue.delete()
    queue.close()


def test_queue_and_workers_in_one_command(
    tmp_path: Path, redis: RedisServer, api_url: str, job: str
) -> None:
    """``batch --queue URL --job NAME --workers 2``: queue, run, merge; run again: the job is
    done, nothing is queued, the workers leave at once."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 40)
    args = ("batch", str(source), "-o", str(output), "--queue", redis.url, "--job", job)
    code, out, err = run(*args, "--workers", "2", "--base-url", api_url)
    assert code == 0, err
    assert "merged: 40 rows (0 errors)" in out
    code, out, err = run(*args, "--workers", "2", "--base-url", api_url)
    assert code == 0 and "0 lines queued" in err, err
    assert sorted(row["custom_id"] for row in read_output(output)) == sorted(ids)
    queue = JobQueue(redis.url, job)
    assert queue.client.xlen(queue.stream) == 0  # (each line deleted once acknowledged)
    queue.close()


def test_workers_refuse_the_batch_api_route(tmp_path: Path) -> None:
    """--via batch-api / auto submits and polls batches from one process: with --workers it
    is refused before anything starts, not silently sent live."""
    source = tmp_path / "in.jsonl"
    source.write_text('{"custom_id": "a", "messages": [{"role": "user", "content": "x"}]}\n')
    command = [sys.executable, "-m", "openrouter_async.cli", "batch", str(source)]
    command += ["-o", str(tmp_path / "out.jsonl"), "--workers", "2", "--via", "batch-api"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2
    assert "--via batch-api/auto runs in one process" in finished.stderr
