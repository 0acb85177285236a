"""A batch job users can trust with real money (issue 16, points 4-6), against the emulator:

- provenance and resume: the job file records where the rows came from; a run against another
  target (the emulator, then a real key; another ``--model``) is refused unless forced;
  ``--retry-errors`` redoes transient error rows and keeps final ones; the exit status says
  how the job went and the summary how to list the error rows;
- honest progress: waiting states (a cool-down with its seconds left, the rate limits) and an
  ETA that counts them; plain progress lines when stderr is not a terminal;
- clean errors before anything is sent: bad options, files that cannot be used, ids (generated
  ``line-<n>`` ids never collide with a user's; ``7`` and ``"7"`` are one id; ``""``), and
  misspelled body keys.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from openrouter_async import BackoffStrategy, RetryConfig, Session
from openrouter_async._batch import BatchError, BatchJob, BatchStats, _error_kind, run_batch
from openrouter_async._batch_progress import _live_display, batch_progress, progress_line
from openrouter_async._limiter import Limiter
from openrouter_async.cli import (
    DEFAULT_MAX_ATTEMPTS,
    EXIT_ACCOUNT,
    EXIT_CANNOT_START,
    EXIT_FINAL_ERRORS,
    EXIT_OK,
    EXIT_TRANSIENT_ERRORS,
    exit_status,
    main,
)
from openrouter_async.emulator import EmulatorConfig, serve_in_thread

from .conftest import EmulatorProbe

ROOT = Path(__file__).resolve().parents[1]
ONE_ATTEMPT = RetryConfig(max_attempts=1)
FAST_RETRIES = RetryConfig(
    backoff=BackoffStrategy(initial_interval=5, max_interval=20), max_attempts=3
)


def chat(i: int, **extra: Any) -> dict[str, Any]:
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": f"#{i}"}]}
    return body | extra


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def rows_of(path: Path) -> dict[Any, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    ids = [row["custom_id"] for row in rows]
    assert len(ids) == len(set(ids)), "an id appears twice"
    return {row["custom_id"]: row for row in rows}


def sidecar(output: Path) -> Path:
    """The job file of an output."""
    return output.with_name(output.name + ".job.json")


def job_file(output: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(sidecar(output).read_text())
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_BASE_URL", raising=False)


# == 4. provenance and resume ==================================================================


@pytest.mark.anyio
async def test_the_job_file_records_where_the_rows_came_from(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(5)])
    out = tmp_path / "out.jsonl"
    stats = await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    assert stats.complete and stats.done == 5
    # The output stays rows only, one per id: the provenance is in the file beside it.
    assert set(rows_of(out)) == {f"r{i}" for i in range(5)}
    recorded = job_file(out)
    target = {"base_url": emulator_url.rstrip("/"), "model": None, "route": "live"}
    assert recorded["target"] == target
    (run,) = recorded["runs"]
    assert run["target"] == target and run["forced"] is False and run["retry_errors"] is False
    assert (run["written"], run["errors"], run["stopped"]) == (5, 0, None)
    assert run["finished"] is not None and run["cost"] == pytest.approx(stats.cost)
    assert stats.target is not None and stats.target.base_url == target["base_url"]
    again = await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    assert again.skipped == 5 and len(job_file(out)["runs"]) == 2


@pytest.mark.anyio
async def test_resuming_against_another_target_is_refused_unless_forced(
    tmp_path: Path, emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(6)])
    out = tmp_path / "out.jsonl"
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        # The CLI's built-in emulator (recorded as "emulator"); stopped after 3 rows.
        first = BatchJob(source, out, target="emulator", concurrency=1, max_cost=1e-9)
        await first.run(session)
        written = out.read_bytes()
        assert 1 <= len(written.splitlines()) < 6
        sent = emulator.stats()["requests"]
        # Now "a real key": another base URL. Refused before any call, the output untouched.
        with pytest.raises(BatchError) as refused:
            await BatchJob(source, out).run(session)
        message = str(refused.value)
        assert "from the built-in emulator" in message and emulator_url.rstrip("/") in message
        assert "--force" in message and "another output" in message
        assert out.read_bytes() == written and emulator.stats()["requests"] == sent
        # Another --model: refused the same way.
        with pytest.raises(BatchError, match=r"made with no --model .* this run has --model m/x"):
            await BatchJob(source, out, target="emulator", model="m/x").run(session)
        # Forced: the run goes on, and the job file says it was forced.
        forced = await BatchJob(source, out, force=True).run(session)
        assert forced.complete and forced.skipped == len(written.splitlines())
    runs = job_file(out)["runs"]
    assert [run["target"]["base_url"] for run in runs] == ["emulator", emulator_url.rstrip("/")]
    assert [run["forced"] for run in runs] == [False, True]
    assert job_file(out)["target"]["base_url"] == emulator_url.rstrip("/")


@pytest.mark.anyio
async def test_rows_whose_origin_is_not_recorded_are_refused_unless_forced(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(3)])
    out = tmp_path / "out.jsonl"
    await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    sidecar(out).unlink()  # as an older version left it
    with pytest.raises(BatchError, match=r"has 3 rows but no job file"):
        await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    stats = await run_batch(source, out, api_key=api_key, base_url=emulator_url, force=True)
    assert stats.skipped == 3 and job_file(out)["runs"][-1]["forced"] is True
    # An empty output (a job that wrote nothing) has nothing to mix with: never refused.
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    sidecar(empty).write_text('{"target": {"base_url": "elsewhere"}}')
    assert (await run_batch(source, empty, api_key=api_key, base_url=emulator_url)).done == 3


def test_the_emulator_then_a_real_key_is_refused(
    tmp_path: Path,
    no_key: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emulator_url: str,
    api_key: str,
) -> None:
    """The issue's first case: a job run without a key writes the emulator's answers; run
    again with a key, it must not report them as done."""
    source = write_lines(tmp_path / "in.jsonl", [chat(i) for i in range(4)])
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(out)]) == EXIT_OK
    assert "rows from the built-in emulator" in capsys.readouterr().out
    written = out.read_bytes()
    monkeypatch.setenv("OPENROUTER_API_KEY", api_key)
    argv = ["batch", str(source), "-o", str(out), "--base-url", emulator_url]
    assert main(argv) == EXIT_CANNOT_START
    captured = capsys.readouterr()
    assert "has 4 rows from the built-in emulator" in captured.err
    assert "already done" not in captured.out
    assert out.read_bytes() == written
    assert main([*argv, "--force"]) == EXIT_OK
    assert "4 already done" in capsys.readouterr().out


@pytest.mark.anyio
async def test_retry_errors_redoes_transient_rows_and_keeps_final_ones(
    tmp_path: Path, api_key: str
) -> None:
    """The issue's second case: a job run while the network was down writes error rows;
    they stay on a plain resume (and the status says so), and ``retry_errors`` redoes them,
    keeping the final ones."""
    n = 8
    lines = [chat(i, custom_id=f"r{i}") for i in range(n)]
    # No provider the API may use: a 404, once the API answers.
    lines.append(chat(99, custom_id="no-such-model", provider={"only": ["no-such-provider"]}))
    source = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/api/v1"
    # 1. The network is down: nothing listens there.
    down = await run_batch(source, out, api_key=api_key, base_url=base_url, retries=FAST_RETRIES)
    assert (down.done, down.failed, down.transient_error_rows) == (0, n + 1, n + 1)
    assert exit_status(down) == EXIT_TRANSIENT_ERRORS
    assert {row["error"]["type"] for row in rows_of(out).values()} == {"APIConnectionError"}
    with serve_in_thread(EmulatorConfig(), port=port) as url:
        assert url == base_url
        # 2. Back up; a plain resume keeps the error rows, and says so.
        kept = await run_batch(source, out, api_key=api_key, base_url=base_url)
        assert (kept.skipped, kept.written, kept.transient_error_rows) == (n + 1, 0, n + 1)
        assert exit_status(kept) == EXIT_TRANSIENT_ERRORS
        # 3. --retry-errors: every transient row is redone; the unknown model is final (404).
        redone = await run_batch(source, out, api_key=api_key, base_url=base_url, retry_errors=True)
        assert (redone.retried_errors, redone.done, redone.failed) == (n + 1, n, 1)
        assert (redone.transient_error_rows, redone.final_error_rows) == (0, 1)
        assert exit_status(redone) == EXIT_FINAL_ERRORS
        rows = rows_of(out)
        assert set(rows) == {f"r{i}" for i in range(n)} | {"no-such-model"}
        assert rows["no-such-model"]["error"]["status_code"] == 404
        assert all(rows[f"r{i}"]["error"] is None for i in range(n))
        final_row = out.read_text().splitlines()
        # 4. Again: the final row is kept as it is, and nothing is sent.
        again = await run_batch(source, out, api_key=api_key, base_url=base_url, retry_errors=True)
        assert (again.retried_errors, again.skipped, again.written) == (0, n + 1, 0)
        assert out.read_text().splitlines() == final_row
        assert exit_status(again) == EXIT_FINAL_ERRORS
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl", "out.jsonl", "out.jsonl.job.json"]
    assert [run["retry_errors"] for run in job_file(out)["runs"]] == [False, False, True, True]


@pytest.mark.anyio
async def test_retry_errors_rewrites_only_the_transient_rows(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    """The rows that stay are byte for byte what they were, in their order; a 503 (a server
    error) is transient, a 400 final, an input line that could not be sent is kept."""
    lines: list[Any] = [chat(i, custom_id=f"r{i}") for i in range(6)]
    lines += [{"custom_id": "bad", "model": "openai/gpt-4o-mini"}, "not json"]
    source = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        await BatchJob(source, out, concurrency=1).run(session)
    before = out.read_text().splitlines()
    # Make r1 and r4 server errors, r2 a final 400, as an earlier run could have left them.
    edited = []
    for line in before:
        row = json.loads(line)
        if row["custom_id"] in ("r1", "r4", "r2"):
            status = 400 if row["custom_id"] == "r2" else 503
            row["response"] = None
            row["error"] = {"status_code": status, "message": "x", "type": "APIStatusError"}
        edited.append(json.dumps(row, separators=(",", ":")))
    out.write_text("".join(line + "\n" for line in edited))
    # What a job killed while it rewrote the output (or its job file) leaves: not used.
    stale = [out.with_name("out.jsonl.retry.tmp"), out.with_name("out.jsonl.job.json.tmp")]
    for path in stale:
        path.write_text('{"custom_id": "r1", "response": null, "error": null}\n')
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        stats = await BatchJob(source, out, retry_errors=True).run(session)
    assert not any(path.exists() for path in stale)
    assert (stats.retried_errors, stats.done, stats.skipped) == (2, 2, 6)
    assert (stats.error_rows, stats.final_error_rows, stats.refused_rows) == (3, 1, 2)
    after = out.read_text().splitlines()
    kept = [line for line in edited if json.loads(line)["custom_id"] not in ("r1", "r4")]
    assert after[: len(kept)] == kept
    assert {json.loads(line)["custom_id"] for line in after[len(kept) :]} == {"r1", "r4"}


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"status_code": None, "type": "APIConnectionError"}, "transient"),
        ({"status_code": None, "type": "APITimeoutError"}, "transient"),
        ({"status_code": None, "type": "StreamIdleTimeoutError"}, "transient"),
        ({"status_code": None, "type": "RateLimitTimeoutError"}, "transient"),
        ({"status_code": 408, "type": "RequestTimeoutResponseError"}, "transient"),
        ({"status_code": 429, "type": "TooManyRequestsResponseError"}, "transient"),
        ({"status_code": 500, "type": "InternalServerResponseError"}, "transient"),
        ({"status_code": 502, "type": "ChatError"}, "transient"),  # a mid-stream error
        ({"status_code": 529, "type": "ProviderOverloadedResponseError"}, "transient"),
        ({"status_code": 400, "type": "BadRequestResponseError"}, "final"),
        ({"status_code": 401, "type": "UnauthorizedResponseError"}, "final"),
        ({"status_code": 402, "type": "PaymentRequiredResponseError"}, "final"),
        ({"status_code": 403, "type": "ForbiddenResponseError"}, "final"),
        ({"status_code": 404, "type": "NotFoundResponseError"}, "final"),
        ({"status_code": 422, "type": "UnprocessableEntityResponseError"}, "final"),
        ({"status_code": None, "type": "TLSVerificationError"}, "final"),
        ({"status_code": 200, "type": "StructuredOutputError"}, "final"),
        ({"status_code": None, "type": "RequestValidationError"}, "refused"),
    ],
)
def test_which_error_rows_are_transient(error: dict[str, Any], kind: str) -> None:
    assert _error_kind(error | {"message": "..."}) == kind


def test_exit_statuses_and_how_to_list_the_error_rows(
    tmp_path: Path,
    no_key: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emulator_url: str,
    api_key: str,
) -> None:
    ok = write_lines(tmp_path / "ok.jsonl", [chat(1), chat(2), "not json"])
    assert main(["batch", str(ok), "-o", str(tmp_path / "ok-out.jsonl")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 input lines that could not be sent" in out and "their ids: line-3" in out
    # A request the API refuses: a final error row.
    final = write_lines(tmp_path / "final.jsonl", [chat(1), chat(2, model="")])
    output = tmp_path / "final out.jsonl"
    assert main(["batch", str(final), "-o", str(output)]) == EXIT_FINAL_ERRORS
    out = capsys.readouterr().out
    assert "1 error rows in" in out and "1 final (the API refused the request)" in out
    assert f"list them with: jq -c 'select(.error)' '{output}'" in out
    assert "their ids: line-2" in out
    # No answer at all (nothing listens there), one attempt per row: transient error rows.
    monkeypatch.setenv("OPENROUTER_API_KEY", api_key)
    port = free_port()
    down = tmp_path / "down.jsonl"
    argv = ["batch", str(final), "-o", str(down), "--base-url", f"http://127.0.0.1:{port}/api/v1"]
    assert main([*argv, "--max-attempts", "1"]) == EXIT_TRANSIENT_ERRORS
    out = capsys.readouterr().out
    assert "2 transient (no answer, 408, 429, 5xx: run again with --retry-errors" in out
    with serve_in_thread(EmulatorConfig(), port=port):
        assert main(argv) == EXIT_TRANSIENT_ERRORS  # a plain resume keeps them
        assert "2 already done" in capsys.readouterr().out
        assert main([*argv, "--retry-errors"]) == EXIT_FINAL_ERRORS
        out = capsys.readouterr().out
        assert "retried 2 transient error rows" in out and "1 final" in out
    # A bad key: the job stops, no rows.
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-wrong")
    bad = tmp_path / "bad.jsonl"
    assert main(["batch", str(ok), "-o", str(bad), "--base-url", emulator_url]) == EXIT_ACCOUNT
    assert "401" in capsys.readouterr().out
    assert DEFAULT_MAX_ATTEMPTS == 6  # the same as the library's DEFAULT_BATCH_RETRIES


# == 5. honest progress ========================================================================


@pytest.fixture(scope="module")
def limited_emulator_url() -> Iterator[str]:
    """5 requests per 2-second window: the job meets the API's rate limit, and cools down."""
    with serve_in_thread(EmulatorConfig(rate_limit_rpm=5, rate_limit_window_s=2.0)) as url:
        yield url


@pytest.mark.anyio
async def test_a_cool_down_shows_with_its_seconds_and_counts_in_the_eta(
    tmp_path: Path, limited_emulator_url: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(12)])
    out = tmp_path / "out.jsonl"
    job = BatchJob(source, out, concurrency=4, retries=RetryConfig(max_attempts=10))
    seen: list[tuple[str | None, float | None, int]] = []

    async def watch() -> None:
        while not job.stats.complete:
            seen.append((job.stats.waiting, job.stats.eta, job.stats.remaining))
            await anyio.sleep(0.02)

    async with Session(api_key="sk-or-test", base_url=limited_emulator_url) as session:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch)
            stats = await job.run(session)
    assert stats.complete and stats.done == 12
    cooling = [
        (waiting, eta, left) for waiting, eta, left in seen if waiting and "cool-down" in waiting
    ]
    assert cooling, seen
    assert all(
        waiting.endswith("(the API's rate limit: every call waits)") for waiting, _, _ in cooling
    )
    assert any(
        waiting.startswith(("cool-down: 1 s left", "cool-down: 2 s left"))
        for waiting, _, _ in cooling
    )
    # While it cools down, the ETA is never "0:00" with rows left: it counts the wait.
    etas = [eta for _, eta, left in cooling if left]
    assert all(eta is not None and eta > 0 for eta in etas), etas
    assert max(eta for eta in etas if eta is not None) >= 1.0, etas
    assert stats.waiting is None  # (finished)


@pytest.mark.anyio
async def test_the_eta_follows_the_rpm_limit_from_the_start(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(8)])
    out = tmp_path / "out.jsonl"
    job = BatchJob(source, out, concurrency=4)
    seen: list[tuple[str | None, float | None, int]] = []

    async def watch() -> None:
        while not job.stats.complete:
            seen.append((job.stats.waiting, job.stats.eta, job.stats.remaining))
            await anyio.sleep(0.05)

    # 300 a minute: 5 a second, so 8 rows take about 1.4 s (the first goes at once).
    async with Session(api_key=api_key, base_url=emulator_url, rpm=300) as session:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch)
            await job.run(session)
    paced = [(eta, left) for waiting, eta, left in seen if waiting and "rate-limited" in waiting]
    assert paced and all("300 requests/min" in w for w, _, _ in seen if w and "rate-limited" in w)
    # The ETA is the rate limit's: never below what 5 a second needs for the rows left.
    for eta, left in paced:
        assert eta is not None and eta >= left / 5 - 0.05, (eta, left)


def _stats_in_a_cool_down(seconds: float) -> BatchStats:
    limiter = Limiter(max_concurrency=8, rpm=120)
    limiter.on_rate_limited(seconds)  # a 429 with Retry-After: every call waits
    stats = BatchStats(total=200, done=150, failed=3, skipped=20, retries=7, rate_limited=2)
    stats._started = time.monotonic() - 60
    stats._limiter = limiter
    return stats


def test_the_live_display_shows_the_wait_and_the_eta() -> None:
    from rich.console import Console

    stats = _stats_in_a_cool_down(41.7)
    console = Console(file=io.StringIO(), force_terminal=True, width=160, record=True)
    display = _live_display(stats, console)
    console.print(display.get_renderable())
    text = console.export_text()
    assert "173/200" in text and "86%" in text  # skipped + written of the total
    assert "150 ok, 3 errors, 7 retries (2 x 429)" in text and "20 already done" in text
    assert "cool-down: 42 s left" in text
    # 27 rows left at 2 a second (rpm 120, below the 2.5 a second seen) after the 41.7 s of
    # cool-down: 55.2 s.
    assert "2.5 req/s" in text and "ETA 0:55" in text and "elapsed 1:00" in text


def test_plain_progress_lines_carry_the_same_facts() -> None:
    stats = _stats_in_a_cool_down(41.7)
    line = progress_line(stats)
    assert line.startswith("batch: 173/200 (86%) | 150 ok, 3 errors")
    assert "ETA 0:55" in line and line.endswith(
        "| cool-down: 42 s left (the API's rate limit: every call waits)"
    )
    stream = io.StringIO()
    with batch_progress(stats, stream=stream, interval=0.05):
        time.sleep(0.3)
    printed = stream.getvalue().splitlines()
    assert len(printed) >= 2 and all(line.startswith("batch: 173/200") for line in printed)
    assert "\x1b[" not in stream.getvalue()


def test_the_cli_prints_progress_lines_on_stderr_when_not_a_terminal(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i) for i in range(10)])
    out = tmp_path / "out.jsonl"
    command = [
        *(sys.executable, "-m", "openrouter_async.cli", "batch", str(source), "-o", str(out)),
        *("--base-url", emulator_url, "--rpm", "300", "--progress-interval", "0.4"),
    ]
    done = subprocess.run(
        command,
        env={**os.environ, "OPENROUTER_API_KEY": api_key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_OK, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("batch: ")]
    assert len(lines) >= 2, done.stderr
    assert all(" req/s, ETA " in line for line in lines)
    assert any("rate-limited" in line and "300 requests/min" in line for line in lines)
    # stdout is the summary only: no progress lines, no terminal codes.
    assert done.stdout.startswith(f"batch: {out} complete: 10 ok")
    assert " | " not in done.stdout and "\x1b[" not in done.stdout + done.stderr


# == 6. clean errors before anything is sent ===================================================


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--rpm", "0", "argument --rpm: must be a positive number, got '0'"),
        ("--rpm", "-3", "argument --rpm: must be a positive number, got '-3'"),
        ("--tpm", "-1", "argument --tpm: must be a positive number, got '-1'"),
        ("--rpm", "nan", "argument --rpm: must be a positive number, got 'nan'"),
        ("--max-cost", "0", "argument --max-cost: must be a positive amount of USD"),
        ("--max-cost", "-1", "argument --max-cost: must be a positive amount of USD"),
        ("--max-cost", "inf", "argument --max-cost: must be a positive amount of USD"),
        ("--concurrency", "-5", "argument --concurrency: must be a positive integer"),
        ("--concurrency", "0", "argument --concurrency: must be a positive integer"),
        ("--concurrency", "2.5", "argument --concurrency: expected a positive integer"),
        ("--max-attempts", "0", "argument --max-attempts: must be a positive integer"),
        ("--progress-interval", "0", "argument --progress-interval: must be a positive"),
    ],
)
def test_bad_options_are_refused_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(1)])
    out = tmp_path / "out.jsonl"
    with pytest.raises(SystemExit) as exited:
        main(["batch", str(source), "-o", str(out), "--emulator", option, value])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_bad_option_is_a_clean_error_not_a_traceback(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(1)])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "openrouter_async.cli",
            "batch",
            str(source),
            "-o",
            "x",
            "--rpm",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "--rpm: must be a positive number" in done.stderr


def test_max_cost_zero_is_refused_from_python_too(tmp_path: Path) -> None:
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="max_cost must be a positive number of USD"):
            BatchJob(tmp_path / "in.jsonl", tmp_path / "out.jsonl", max_cost=bad)


def _unreadable(tmp_path: Path) -> Path:
    path = write_lines(tmp_path / "secret.jsonl", [chat(1)])
    path.chmod(0)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing input", "no such input file"),
        ("directory input", "is a directory, not a JSONL file"),
        ("unreadable input", "cannot read the input"),
        ("input that fails to read", "cannot read the input /proc/self/mem: input/output error"),
        ("directory output", "is a directory: give the path of a file in it"),
        ("output in a missing directory", "cannot write the output"),
        ("output under a file", "cannot write the output"),
        ("unwritable output", "cannot write the output"),
        ("output is the input", "must not be the input"),
    ],
)
def test_files_that_cannot_be_used_are_refused_before_anything(
    tmp_path: Path,
    no_key: None,
    capsys: pytest.CaptureFixture[str],
    case: str,
    message: str,
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(1)])
    out = tmp_path / "out.jsonl"
    if case in ("unreadable input", "unwritable output") and os.geteuid() == 0:
        pytest.skip("root reads and writes whatever the permissions say")
    if case == "missing input":
        source = tmp_path / "missing.jsonl"
    elif case == "directory input":
        source = tmp_path
    elif case == "unreadable input":
        source = _unreadable(tmp_path)
    elif case == "input that fails to read":
        if not os.path.exists("/proc/self/mem"):
            pytest.skip("Linux's /proc")
        source = Path("/proc/self/mem")  # (a read at offset 0 fails, even for root)
    elif case == "directory output":
        out = tmp_path
    elif case == "output in a missing directory":
        out = tmp_path / "no" / "such" / "out.jsonl"
    elif case == "output under a file":
        out = source / "out.jsonl"
    elif case == "unwritable output":
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        out = folder / "out.jsonl"
    elif case == "output is the input":
        out = tmp_path / "link.jsonl"
        out.symlink_to(source)
    code = main(["batch", str(source), "-o", str(out)])
    captured = capsys.readouterr()
    assert code in (EXIT_CANNOT_START, 2), captured
    assert message in captured.err, captured.err
    assert "built-in emulator" not in captured.err  # nothing was started, nothing sent
    assert "Traceback" not in captured.err


@pytest.mark.anyio
async def test_generated_ids_never_collide_with_user_ids(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            chat(1, custom_id=3),  # line 1: the integer 3, not line 3's id
            chat(2, custom_id="line-3"),  # line 2: refused: the form of another line's id
            chat(3),  # line 3: "line-3"
            chat(4, custom_id="line-4"),  # line 4: its own id, as it would be generated
            chat(5, custom_id=""),  # line 5: empty: "line-5"
            {"custom_id": None, "method": "POST", "url": "/chat/completions", "body": chat(6)},
            chat(7, custom_id=True),  # line 7: refused
            chat(8, custom_id="  "),  # line 8: blanks: "line-8"
        ],
    )
    out = tmp_path / "out.jsonl"
    stats = await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    rows = rows_of(out)
    assert set(rows) == {3, "line-2", "line-3", "line-4", "line-5", "line-6", "line-7", "line-8"}
    assert (
        rows[3]["error"] is None
        and "#1" in rows[3]["response"]["body"]["choices"][0]["message"]["content"]
    )
    assert rows["line-3"]["error"] is None
    assert "#3" in rows["line-3"]["response"]["body"]["choices"][0]["message"]["content"]
    assert "form of a generated id" in rows["line-2"]["error"]["message"]
    assert "got a boolean True" in rows["line-7"]["error"]["message"]
    assert all(rows[key]["error"] is None for key in ("line-4", "line-5", "line-6", "line-8"))
    assert (stats.duplicates, stats.refused, stats.done) == (0, 2, 6)
    assert any('empty custom_id: their rows are keyed "line-<number>"' in w for w in stats.warnings)
    assert any("2 input lines cannot be sent" in w for w in stats.warnings)


@pytest.mark.anyio
async def test_integer_and_string_ids_are_one_id(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [chat(1, custom_id=7), chat(2, custom_id="7"), chat(3, custom_id="x"), chat(4, id=8)],
    )
    out = tmp_path / "out.jsonl"
    stats = await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    rows = rows_of(out)
    assert set(rows) == {7, "x", 8}  # written back as each line has it
    assert (stats.duplicates, stats.duplicate_lines) == (1, [2])
    # A resume matches ids by their text too: "8" and 7 are done.
    write_lines(source, [chat(1, custom_id="7"), chat(4, custom_id="8"), chat(5, custom_id=9)])
    again = await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    assert (again.skipped, again.done) == (2, 1)
    assert set(rows_of(out)) == {7, "x", 8, 9}


def test_misspelled_body_keys_are_warned_about_before_anything(
    tmp_path: Path, no_key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            chat(1, temprature=0.2),
            chat(2, temprature=0.3, max_token=5),
            chat(3, transforms=["middle-out"], top_k=3, custom_id="a"),  # all known
            {"custom_id": "b", "body": chat(4, frobnicate=True)},
        ],
    )
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(out)]) == EXIT_OK
    err = capsys.readouterr().err
    assert (
        "warning: body key 'temprature' (did you mean 'temperature'?) is not a chat request "
        "parameter, on 2 lines (1, 2)" in err
    )
    assert "body key 'max_token' (did you mean 'max_tokens'?)" in err
    assert "body key 'frobnicate' is not a chat request parameter, on 1 line (4)" in err
    assert "transforms" not in err and "top_k" not in err
    # Reported before anything was started or sent.
    assert err.index("temprature") < err.index("(using the built-in emulator")


def test_lines_that_cannot_be_sent_are_reported_before_anything(
    tmp_path: Path, no_key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [chat(1), "{oops", {"custom_id": "m", "model": "openai/gpt-4o-mini"}, chat(4)],
    )
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "-o", str(out)]) == EXIT_OK
    err = capsys.readouterr().err
    head = err[: err.index("(using the built-in emulator")]
    assert "warning: 2 input lines cannot be sent (each gets an error row, attempts 0):" in head
    assert "\n  line 2 is not JSON" in head and "\n  line 3: body.messages" in head
    assert set(rows_of(out)) == {"line-1", "line-2", "m", "line-4"}


def test_the_readme_main_job_still_runs_on_a_fresh_machine(tmp_path: Path) -> None:
    """README.md's first command, in a scratch directory with a copy of examples/ and no
    key (the docs tests run it too; this one also checks what it leaves behind)."""
    import shutil

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPENROUTER_")}
    command = [
        *(sys.executable, "-m", "openrouter_async.cli", "batch"),
        *("examples/batch_input.jsonl", "-o", "results.jsonl"),
    ]
    for _ in range(2):  # the second run resumes: nothing left to do
        done = subprocess.run(
            command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "batch: results.jsonl complete" in done.stdout
    assert "52 already done (of 52)" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "examples",
        "results.jsonl",
        "results.jsonl.job.json",
    ]
    with contextlib.suppress(FileNotFoundError):
        assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 52
