"""Batch jobs (``run_batch`` / ``openrouter-async batch``) against the emulator over loopback:
input formats, error rows, resuming, SIGKILL at random moments, injected faults, a budget."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openrouter_async import BackoffStrategy, RetryConfig, Session
from openrouter_async._batch import BatchError, BatchJob, _parse_line, run_batch
from openrouter_async.cli import main
from openrouter_async.emulator import EmulatorConfig, serve_in_thread

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "batch_input.jsonl"
FAST_RETRIES = RetryConfig(
    backoff=BackoffStrategy(initial_interval=5, max_interval=50), max_attempts=8
)


def chat(i: int, **extra: Any) -> dict[str, Any]:
    return {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": f"#{i}"}]} | (
        extra
    )


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def rows_of(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "the output ends with a partial line"
    return [json.loads(line) for line in text.splitlines()]


def by_id(path: Path) -> dict[Any, dict[str, Any]]:
    rows = rows_of(path)
    counts = Counter(row["custom_id"] for row in rows)
    assert [key for key, n in counts.items() if n > 1] == [], "an id appears twice"
    return {row["custom_id"]: row for row in rows}


def plain(n: int) -> list[dict[str, Any]]:
    return [chat(i, custom_id=f"r{i}") for i in range(n)]


# -- input formats, rows, ids ------------------------------------------------------------------


@pytest.mark.anyio
async def test_both_formats_error_rows_and_ids(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            chat(1, custom_id="plain-custom-id"),  # line 1
            chat(2, id="plain-id"),  # line 2
            chat(3),  # line 3: keyed by its line number, "line-3"
            "",  # line 4: blank, ignored (line numbers still count it)
            {  # line 5
                "custom_id": "openai-1",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": chat(5, stream=True),  # stream is dropped: a row is a whole answer
            },
            {"custom_id": 77, "method": "POST", "url": "/chat/completions", "body": chat(6)},
            {"custom_id": "embed", "method": "POST", "url": "/v1/embeddings", "body": {}},
            '{"custom_id": "cut", "model": "x", "messages": [',  # line 8: not JSON
            "[1, 2, 3]",  # line 9: not an object
            {"custom_id": "no-messages", "model": "openai/gpt-4o-mini"},  # invalid request
            {"custom_id": "get", "method": "GET", "url": "/v1/chat/completions", "body": chat(1)},
            {"custom_id": "api-400", "model": "", "messages": []},  # the API refuses it
            {"custom_id": 1.5, "model": "m", "messages": []},  # line 13: a bad id
        ],
    )
    out = tmp_path / "out.jsonl"
    stats = await run_batch(
        source, out, api_key=api_key, base_url=emulator_url, concurrency=4, retries=FAST_RETRIES
    )
    rows = by_id(out)
    assert set(rows) == {"plain-custom-id", "plain-id", "line-3", "openai-1", 77, "embed"}.union(
        {"line-8", "line-9", "no-messages", "get", "api-400", "line-13"}
    )
    for key, text in [("plain-custom-id", "#1"), ("plain-id", "#2"), ("line-3", "#3"), (77, "#6")]:
        row = rows[key]
        assert row["error"] is None and row["attempts"] == 1 and row["latency_ms"] > 0
        assert row["response"]["status_code"] == 200
        body = row["response"]["body"]
        assert text in body["choices"][0]["message"]["content"]
        assert body["usage"]["completion_tokens"] > 0
    assert rows["openai-1"]["error"] is None
    expectations = {
        "embed": "unsupported url",
        "line-8": "not JSON",
        "line-9": "not a JSON object",
        "no-messages": "messages",
        "get": "unsupported method",
        "line-13": "custom_id",
    }
    for key, message in expectations.items():
        row = rows[key]
        assert row["response"] is None and row["attempts"] == 0, row
        assert row["error"]["type"] == "RequestValidationError"
        assert message in row["error"]["message"]
        assert row["error"]["status_code"] is None
    assert rows["api-400"]["error"]["status_code"] == 400
    assert rows["api-400"]["error"]["type"] == "BadRequestResponseError"
    assert rows["api-400"]["attempts"] == 1
    assert (stats.total, stats.done, stats.failed, stats.skipped) == (12, 5, 7, 0)
    assert stats.complete and stats.remaining == 0 and stats.stopped is None
    assert stats.prompt_tokens > 0 and stats.completion_tokens > 0 and stats.cost > 0


def test_ids_are_not_sent_and_stream_is_the_items() -> None:
    line = chat(1, custom_id="a", id="b", stream=True, stream_options={"include_usage": True})
    item = _parse_line(4, json.dumps(line).encode(), None)
    assert item.custom_id == "a" and item.body is not None and item.stream
    assert not {"custom_id", "id", "stream", "stream_options"} & set(item.body)
    item = _parse_line(4, json.dumps(chat(1, id="b")).encode(), "openai/gpt-4o")
    assert item.custom_id == "b" and item.body == chat(1, model="openai/gpt-4o")
    assert not item.stream


@pytest.mark.anyio
async def test_streamed_rows_are_whole_answers_like_plain_ones(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    """A streamed row holds the same answer as the same request not streamed."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    lines = [
        chat(0, custom_id="plain"),
        chat(0, custom_id="streamed", stream=True),
        chat(1, custom_id="tools-plain", tools=tools),
        chat(1, custom_id="tools-streamed", tools=tools, stream=True),
    ]
    out = tmp_path / "out.jsonl"
    stats = await run_batch(
        write_lines(tmp_path / "in.jsonl", lines), out, api_key=api_key, base_url=emulator_url
    )
    assert (stats.done, stats.failed) == (4, 0)
    rows = by_id(out)

    def answer(custom_id: str) -> dict[str, Any]:
        body = rows[custom_id]["response"]["body"]
        assert body["object"] == "chat.completion" and body["usage"]["cost"] > 0
        choice = body["choices"][0]
        # A call without arguments: "{}" streamed; left out when not streamed, as real
        # OpenRouter sometimes does (the emulator's realistic mode).
        calls = [
            {
                "name": call["function"]["name"],
                "arguments": call["function"].get("arguments") or "{}",
            }
            for call in choice["message"].get("tool_calls", [])
        ]
        return {
            "content": choice["message"]["content"],
            "finish_reason": choice["finish_reason"],
            "tool_calls": calls,
            "tokens": body["usage"]["completion_tokens"],
        }

    assert answer("streamed") == answer("plain")
    assert answer("streamed")["content"]
    assert answer("tools-streamed") == answer("tools-plain")
    assert answer("tools-streamed")["tool_calls"], "the emulator calls the tool"
    calls = rows["tools-streamed"]["response"]["body"]["choices"][0]["message"]["tool_calls"]
    assert all(
        call["id"] and isinstance(json.loads(call["function"]["arguments"]), dict) for call in calls
    )


@pytest.mark.anyio
async def test_model_option_sets_every_model(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            {"messages": [{"role": "user", "content": "no model"}]},
            chat(1),
            {"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": chat(2)},
        ],
    )
    out = tmp_path / "out.jsonl"
    await run_batch(source, out, api_key=api_key, base_url=emulator_url, model="openai/gpt-4o")
    rows = rows_of(out)
    assert len(rows) == 3
    assert {row["response"]["body"]["model"] for row in rows} == {"openai/gpt-4o"}


@pytest.mark.anyio
async def test_duplicate_ids_are_counted_not_sent(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [*plain(3), chat(9, custom_id="r1")])
    out = tmp_path / "out.jsonl"
    stats = await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    assert set(by_id(out)) == {"r0", "r1", "r2"}
    answer = by_id(out)["r1"]["response"]["body"]["choices"][0]["message"]["content"]
    assert answer.startswith("#1")  # the first line with the id, not the repeat
    assert (stats.duplicates, stats.duplicate_lines, stats.remaining) == (1, [4], 0)


# -- resuming ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_resume_skips_finished_ids_and_cuts_a_partial_row(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", plain(40))
    out = tmp_path / "out.jsonl"
    first = await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    assert first.done == 40
    # Keep 25 rows, as if the job had been killed, with a row cut short at the end.
    lines = out.read_bytes().splitlines(keepends=True)
    kept = lines[:25]
    out.write_bytes(b"".join(kept) + lines[30][:17])
    kept_ids = {json.loads(line)["custom_id"] for line in kept}
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        job = BatchJob(source, out, concurrency=8)
        second = await job.run(session)
    assert (second.skipped, second.done, second.failed, second.truncated_bytes) == (25, 15, 0, 17)
    rows = by_id(out)
    assert set(rows) == {f"r{i}" for i in range(40)}
    assert all(row["error"] is None for row in rows.values())
    assert [json.loads(line)["custom_id"] for line in kept] == [
        row["custom_id"] for row in rows_of(out)[:25]
    ]  # what was there stays as it was
    assert kept_ids.isdisjoint({row["custom_id"] for row in rows_of(out)[25:]})
    third = await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    assert (third.skipped, third.written, third.complete) == (40, 0, True)


def test_a_second_job_on_the_same_output_is_refused(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", plain(2))
    out = tmp_path / "out.jsonl"
    first = BatchJob(source, out)
    fd = first._open_output()
    try:
        with pytest.raises(BatchError, match="another batch job"):
            BatchJob(source, out)._open_output()
    finally:
        os.close(fd)
    os.close(BatchJob(source, out)._open_output())  # free again


def test_an_output_that_is_not_rows_is_refused(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", plain(2))
    out = tmp_path / "out.jsonl"
    out.write_text('{"custom_id": "r0", "response": null}\nhello\n')
    with pytest.raises(BatchError, match=r"out\.jsonl:2: not a row"):
        BatchJob(source, out)._open_output()
    assert out.read_text().endswith("hello\n")  # nothing was cut
    with pytest.raises(ValueError, match="must not be the input"):
        BatchJob(source, source)


# -- SIGKILL at random moments, then resume --------------------------------------------------------


@pytest.fixture(scope="module")
def slow_emulator_url() -> Iterator[str]:
    with serve_in_thread(EmulatorConfig(faults="delay-ms=25")) as url:
        yield url


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_killed_at_random_moments_then_resumed(
    tmp_path: Path, slow_emulator_url: str, backend: str
) -> None:
    n = 1000
    # A third of the rows streamed: a kill also lands in the middle of streams.
    source = write_lines(
        tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}", stream=i % 3 == 0) for i in range(n)]
    )
    out = tmp_path / "out.jsonl"
    command = [
        sys.executable,
        "-m",
        "openrouter_async.cli",
        "batch",
        str(source),
        "-o",
        str(out),
        "--base-url",
        slow_emulator_url,
        "--concurrency",
        "16",
        "--backend",
        backend,
    ]
    env = {**os.environ, "OPENROUTER_API_KEY": "sk-or-test"}
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    note = f"(random seed {seed})"
    kills_mid_job = 0
    for kill in range(4):
        before = out.stat().st_size if out.exists() else 0
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            if kill % 2 == 0:
                # Any moment: while it starts, reads the output, or runs.
                time.sleep(rng.uniform(0.0, 0.8))
            else:
                # Some time after it started writing rows: surely mid-job.
                deadline = time.monotonic() + 15
                while (out.stat().st_size if out.exists() else 0) <= before:
                    assert time.monotonic() < deadline, f"no progress {note}"
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.0, 0.2))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        data = out.read_bytes() if out.exists() else b""
        complete = data[: data.rfind(b"\n") + 1]
        ids = [json.loads(line)["custom_id"] for line in complete.splitlines()]  # all parse
        assert len(ids) == len(set(ids)), f"an id twice after kill {kill} {note}"
        kills_mid_job += 0 < len(ids) < n
    assert kills_mid_job >= 2, note
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert "complete" in finished.stdout
    rows = by_id(out)  # every line parses, no id twice
    assert set(rows) == {f"r{i}" for i in range(n)}, note
    assert all(row["error"] is None for row in rows.values())


# -- faults: every retryable failure is recovered -------------------------------------------------

FAULTS = (
    "status=500;p=0.015,status=503;p=0.01,status=429;retry-after=0.02;p=0.015,"
    "drop-before-headers;p=0.005,drop;p=0.005,mid-stream-error;p=0.02"
)


@pytest.fixture(scope="module")
def faulty_emulator_url() -> Iterator[str]:
    with serve_in_thread(EmulatorConfig(faults=FAULTS, fault_seed=20261126)) as url:
        yield url


@pytest.mark.anyio
async def test_injected_faults_are_all_recovered_and_counted(
    tmp_path: Path, faulty_emulator_url: str
) -> None:
    n = 300
    # Every other row streamed: a mid-stream error or a drop mid-stream is retried whole.
    source = write_lines(
        tmp_path / "in.jsonl",
        [chat(i, custom_id=f"r{i}", stream=i % 2 == 0) for i in range(n)],
    )
    out = tmp_path / "out.jsonl"
    stats_url = f"{faulty_emulator_url}/_emulator"
    async with httpx.AsyncClient() as probe:
        (await probe.post(f"{stats_url}/reset", json={"seed": 7})).raise_for_status()
    stats = await run_batch(
        source,
        out,
        api_key="sk-or-test",
        base_url=faulty_emulator_url,
        concurrency=32,
        retries=FAST_RETRIES,
    )
    async with httpx.AsyncClient() as probe:
        served = (await probe.get(f"{stats_url}/stats")).json()
    rows = by_id(out)
    assert set(rows) == {f"r{i}" for i in range(n)}
    assert all(row["error"] is None for row in rows.values()), [
        row["error"] for row in rows.values() if row["error"]
    ]
    assert (stats.done, stats.failed, stats.complete) == (n, 0, True)
    # Every injected fault cost one attempt, retried by the job; except that a connection
    # dropped before any response byte may look like a stale keep-alive connection, which a
    # transport replays on a fresh one by itself (the trio pool does).
    assert served["faulted"] > 5
    assert served["requests"] == n + served["faulted"]
    assert stats.retries == sum(row["attempts"] - 1 for row in rows.values())
    assert served["faulted"] - served["connections_dropped"] <= stats.retries <= served["faulted"]
    assert stats.rate_limited > 0
    # Streams failed midway among them, and were retried whole.
    assert served["faults"].get("mid-stream-error", 0) > 0, served["faults"]


# -- a budget ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_max_cost_stops_starting_calls_and_a_resume_finishes(
    tmp_path: Path, emulator_url: str, api_key: str
) -> None:
    n = 60
    source = write_lines(tmp_path / "in.jsonl", plain(n))
    out = tmp_path / "out.jsonl"
    stats = await run_batch(
        source, out, api_key=api_key, base_url=emulator_url, concurrency=4, max_cost=1e-9
    )
    assert stats.stopped is not None and stats.stopped.startswith("max_cost")
    assert 1 <= stats.done <= 4  # the first answer's cost ends it; those in flight finish
    assert stats.not_started == stats.remaining == n - stats.done
    assert not stats.complete
    assert len(by_id(out)) == stats.done
    rest = await run_batch(source, out, api_key=api_key, base_url=emulator_url)
    assert (rest.skipped, rest.done, rest.complete) == (stats.done, n - stats.done, True)
    assert len(by_id(out)) == n


@pytest.mark.anyio
async def test_a_bad_key_stops_the_job_without_rows(tmp_path: Path, emulator_url: str) -> None:
    source = write_lines(tmp_path / "in.jsonl", plain(20))
    out = tmp_path / "out.jsonl"
    stats = await run_batch(
        source, out, api_key="sk-or-wrong", base_url=emulator_url, concurrency=2
    )
    assert stats.stopped is not None and "401" in stats.stopped
    assert (stats.written, stats.remaining, stats.not_started) == (0, 20, 20)
    assert out.read_text() == ""


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_runs_the_example_on_the_emulator_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_BASE_URL", raising=False)
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(EXAMPLE), "-o", str(out), "--concurrency", "8"]) == 0
    captured = capsys.readouterr()
    assert "built-in emulator" in captured.err
    total = sum(1 for line in EXAMPLE.read_text().splitlines() if line.strip())
    rows = by_id(out)
    assert len(rows) == total
    failed = [row for row in rows.values() if row["error"]]
    assert len(failed) == 2  # the invalid line and the embeddings line
    assert f"complete: {total - 2} ok, 2 errors" in captured.out
    assert "\x1b[" not in captured.out  # not a terminal: no live display
    assert main(["batch", str(EXAMPLE), "-o", str(out), "--emulator", "--backend", "trio"]) == 0
    assert f"0 ok, 0 errors, {total} already done" in capsys.readouterr().out


def test_cli_max_cost_exit_code_and_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    source = write_lines(tmp_path / "in.jsonl", plain(30))
    out = tmp_path / "out.jsonl"
    argv = ["batch", str(source), "-o", str(out), "--emulator", "--model", "openai/gpt-4o"]
    assert main([*argv, "--concurrency", "1", "--max-cost", "0.000000001"]) == 3
    assert "run the same command again to resume" in capsys.readouterr().out
    assert len(rows_of(out)) == 1
    assert main([*argv, "--rpm", "6000"]) == 0
    assert {row["response"]["body"]["model"] for row in rows_of(out)} == {"openai/gpt-4o"}


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(tmp_path / "missing.jsonl"), "-o", str(out), "--emulator"]) == 1
    assert "no such input file" in capsys.readouterr().err
    source = write_lines(tmp_path / "in.jsonl", plain(1))
    assert main(["batch", str(source), "-o", str(source), "--emulator"]) == 2
