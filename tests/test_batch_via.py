"""The batch job's routes (issue 16, point 3): ``--via live|batch-api|auto``, against an
emulator of this module's own whose batches take a few seconds.

- the acceptance test: a 2,000-row job ``--via batch-api`` run by the CLI in a subprocess,
  SIGKILLed twice while its batches are in progress, then resumed: every id exactly once, no
  corrupt line, no batch submitted twice (the emulator's ``batches_created``), the cost at the
  batch price; the same with ``--via auto`` on a mixed input (streamed rows, a line the job
  cannot send);
- through ``run_batch`` on asyncio and trio: rows and statistics, the auto split, the budget
  estimated before submitting, a run cancelled mid-wait resumed by polling the same batches,
  a record left between the request and its answer adopted, refusals before anything is sent.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from openrouter_async import Session
from openrouter_async._batch import BatchError, BatchJob, run_batch
from openrouter_async._batch_route import BATCH_PRICE_FACTOR
from openrouter_async.emulator import serve_in_thread

from .conftest import API_KEY, emulator_config_for_tests

MODEL = "openai/gpt-4o-mini"
#: the emulator's pace: a batch validates for 0.4 s, then runs one request every 3 ms (a
#: 500-request batch takes about 2 s)
VALIDATION_S = 0.4
PER_REQUEST_S = 0.003
POLL_S = 0.1


def paced_emulator() -> Any:
    config = dataclasses.replace(
        emulator_config_for_tests(),
        batch_validation_seconds=VALIDATION_S,
        batch_seconds_per_request=PER_REQUEST_S,
    )
    return serve_in_thread(config)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with paced_emulator() as served:
        yield served


@pytest.fixture
def own_url() -> Iterator[str]:
    """An emulator of the test's own: no batch of another test in its list."""
    with paced_emulator() as served:
        yield served


def created(url: str) -> int:
    found: int = httpx.get(f"{url}/_emulator/stats", timeout=5).json()["batches_created"]
    return found


def chat(i: int, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"Say {i}"}]} | extra


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def rows_of(path: Path) -> dict[str, dict[str, Any]]:
    """The output's rows by id (as text); fails on a corrupt line or an id twice."""
    rows: dict[str, dict[str, Any]] = {}
    data = path.read_bytes()
    assert not data or data.endswith(b"\n")
    for line in data.splitlines():
        row = json.loads(line)
        key = str(row["custom_id"])
        assert key not in rows, f"{key} twice"
        rows[key] = row
    return rows


def job_batches(out: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(f"{out}.job.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    found: list[dict[str, Any]] = data.get("batch_api", {}).get("batches", [])
    return found


def write_job_file(out: Path, url: str, entry: dict[str, Any]) -> None:
    """A job file with one batch record (what a killed run leaves)."""
    target = {"base_url": url.rstrip("/"), "model": None, "route": "batch-api"}
    data = {"format": 1, "target": target, "runs": [], "batch_api": {"batches": [entry]}}
    Path(f"{out}.job.json").write_text(json.dumps(data))


def row_cost(row: dict[str, Any]) -> float:
    cost: float = row["response"]["body"]["usage"]["cost"]
    return cost


# -- the acceptance test: the CLI killed twice mid-batch, then resumed ----------------------------


def wait_for(what: Callable[[], bool], process: subprocess.Popen[bytes], why: str) -> None:
    deadline = time.monotonic() + 30
    while not what():
        assert process.poll() is None, f"the job ended before {why}"
        assert time.monotonic() < deadline, f"timed out waiting for {why}"
        time.sleep(0.01)


def submitted(out: Path, at_least: int) -> Callable[[], bool]:
    return lambda: sum(1 for b in job_batches(out) if b.get("id")) >= at_least


def killed_twice_then_resumed(
    url: str, source: Path, out: Path, via: str, batches: int
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the job, SIGKILL it once some batches are submitted, resume it, SIGKILL it again
    once every batch is submitted (some still running), resume it to the end; return the last
    run and how many batches the emulator created meanwhile."""
    command = [
        *(sys.executable, "-m", "openrouter_async.cli", "batch", str(source), "-o", str(out)),
        *("--via", via, "--batch-size", "500", "--poll-interval", str(POLL_S)),
        *("--base-url", url, "--concurrency", "16"),
    ]
    env = {**os.environ, "OPENROUTER_API_KEY": API_KEY}
    before = created(url)
    for why, condition in (
        ("two batches were submitted", submitted(out, 2)),
        ("every batch was submitted", submitted(out, batches)),
    ):
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for(condition, process, why)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        # Killed while batches were in progress: some recorded batch has no rows yet.
        assert any(b["state"] != "written" for b in job_batches(out)), why
        rows_of(out) if out.exists() else None  # no corrupt line, no id twice
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    return finished, created(url) - before


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_batch_api_job_killed_twice_and_resumed(tmp_path: Path, own_url: str) -> None:
    url = own_url
    n = 2000
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(n)])
    out = tmp_path / "out.jsonl"
    finished, made = killed_twice_then_resumed(url, source, out, "batch-api", batches=4)
    assert finished.returncode == 0, finished.stderr
    assert "complete" in finished.stdout and "at the batch price" in finished.stdout
    rows = rows_of(out)
    assert set(rows) == {f"r{i}" for i in range(n)}  # every id exactly once
    assert all(row["error"] is None and row["route"] == "batch-api" for row in rows.values())
    # No batch submitted twice: 2,000 rows at 500 a batch are 4 batches, over three runs.
    # (A kill before a POST reached the API leaves a record without an id: its rows were
    # submitted by the next run.)
    recorded = [b for b in job_batches(out) if b["id"] is not None]
    assert made == 4 and len({b["id"] for b in recorded}) == 4
    assert all(b["state"] == "written" and b["status"] == "completed" for b in recorded)
    assert sorted(k for b in recorded for k in b["custom_ids"]) == sorted(rows)
    assert len({row["batch_id"] for row in rows.values()}) == 4
    job = json.loads(Path(f"{out}.job.json").read_text())
    assert job["target"]["route"] == "batch-api"
    # The cost at the batch price: each answer's cost is the live one's times the factor.
    with httpx.Client() as http:
        live = http.post(
            f"{url}/chat/completions",
            json=chat(7),
            headers={"Authorization": f"Bearer {API_KEY}"},
        ).json()
    assert math.isclose(row_cost(rows["r7"]), live["usage"]["cost"] * BATCH_PRICE_FACTOR)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_auto_job_on_a_mixed_input_killed_twice_and_resumed(tmp_path: Path, own_url: str) -> None:
    url = own_url
    n = 2000
    lines: list[dict[str, Any]] = []
    for i in range(n):
        if i % 40 == 0:  # an endpoint the job does not send: an error row, nothing sent
            lines.append({"custom_id": f"r{i}", "url": "/v1/completions", "body": {"prompt": "x"}})
        elif i % 10 == 0:  # streamed rows go live
            lines.append(chat(i, custom_id=f"r{i}", stream=True))
        else:
            lines.append(chat(i, custom_id=f"r{i}"))
    source = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    batched = sum(1 for i in range(n) if i % 10)  # 1,800 rows: 4 batches of at most 500
    finished, made = killed_twice_then_resumed(url, source, out, "auto", batches=4)
    assert finished.returncode == 0, finished.stderr  # (the refused lines aside: exit 0)
    assert "at the batch price" in finished.stdout
    rows = rows_of(out)
    assert set(rows) == {f"r{i}" for i in range(n)}
    for i in range(n):
        row = rows[f"r{i}"]
        if i % 40 == 0:
            assert row["error"]["type"] == "RequestValidationError" and row["attempts"] == 0
        elif i % 10 == 0:
            assert row["error"] is None and "route" not in row  # live
        else:
            assert row["error"] is None and row["route"] == "batch-api"
    recorded = [b for b in job_batches(out) if b["id"] is not None]
    assert made == 4 and len({b["id"] for b in recorded}) == 4
    assert sum(len(b["custom_ids"]) for b in recorded) == batched


# -- through run_batch, on both loops ------------------------------------------------------------


@pytest.mark.anyio
async def test_batch_api_rows_and_their_cost(tmp_path: Path, url: str, anyio_backend: str) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [chat(i, custom_id=i if i % 2 else f"r{i}", max_tokens=8) for i in range(12)],
    )
    before = created(url)
    async with Session(api_key=API_KEY, server_url=url) as session:
        stats = await run_batch(
            source,
            tmp_path / "out.jsonl",
            session=session,
            via="batch-api",
            batch_size=5,
            poll_interval=POLL_S,
        )
        live = await run_batch(source, tmp_path / "live.jsonl", session=session)
    assert created(url) - before == 3  # 12 rows, 5 a batch
    assert stats.complete and stats.done == 12 and stats.batch_api_rows == 12
    assert stats.batch_api_batches == 3 and stats.target is not None
    assert stats.target.route == "batch-api"
    # At the batch price; and what the same rows cost live is what they did cost live.
    assert math.isclose(stats.cost, live.cost * BATCH_PRICE_FACTOR)
    assert math.isclose(stats.batch_api_cost, stats.cost)
    assert math.isclose(stats.batch_api_live_cost, live.cost)
    assert live.batch_api_rows == 0
    rows = rows_of(tmp_path / "out.jsonl")
    live_rows = rows_of(tmp_path / "live.jsonl")
    assert set(rows) == set(live_rows)
    assert rows["3"]["custom_id"] == 3 and rows["r2"]["custom_id"] == "r2"  # ids as given
    for key, row in rows.items():  # the same row format as live rows, plus the route
        assert set(row) == set(live_rows[key]) | {"route", "batch_id"}
        body, live_body = row["response"]["body"], live_rows[key]["response"]["body"]
        assert body["choices"] == live_body["choices"]


@pytest.mark.anyio
async def test_auto_sends_what_the_batch_api_takes_and_the_rest_live(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    lines = [
        chat(0, custom_id="plain"),
        chat(1, custom_id="streamed", stream=True),
        {
            "custom_id": "inline-image",
            "model": MODEL,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "?"}, image]}],
        },
        {"custom_id": "no-model", "messages": [{"role": "user", "content": "hi"}]},
        {"custom_id": "legacy", "url": "/v1/completions", "body": {"prompt": "x"}},
        {
            "custom_id": "openai-format",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": chat(5),
        },
    ]
    source = write_lines(tmp_path / "in.jsonl", lines)
    before = created(url)
    async with Session(api_key=API_KEY, server_url=url) as session:
        stats = await run_batch(
            source, tmp_path / "out.jsonl", session=session, via="auto", poll_interval=POLL_S
        )
    assert created(url) - before == 1
    rows = rows_of(tmp_path / "out.jsonl")
    assert set(rows) == {"plain", "streamed", "inline-image", "no-model", "legacy", "openai-format"}
    via_batch = {key for key, row in rows.items() if row.get("route") == "batch-api"}
    assert via_batch == {"plain", "openai-format"}
    assert rows["legacy"]["error"]["type"] == "RequestValidationError"
    assert all(rows[key]["error"] is None for key in ("streamed", "inline-image"))
    assert "route" not in rows["no-model"]  # live (whatever the API then says of it)
    assert stats.batch_api_rows == 2 and stats.refused == 1


@pytest.mark.anyio
async def test_batch_api_refuses_lines_it_cannot_take_before_sending(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [chat(0), chat(1, plugins=[{"id": "web"}]), chat(2, model=f"{MODEL}:online")],
    )
    before = created(url)
    async with Session(api_key=API_KEY, server_url=url) as session:
        with pytest.raises(BatchError) as refused:
            await run_batch(source, tmp_path / "out.jsonl", session=session, via="batch-api")
    message = str(refused.value)
    assert "line 2: the web search plugin" in message and "line 3: web search" in message
    assert "--via auto" in message and "nothing was sent" in message
    assert created(url) == before and not (tmp_path / "out.jsonl").exists()


def test_bad_route_options_are_refused(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(0)])
    for options, name in (
        ({"via": "batch"}, "via"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 5001}, "batch_size"),
        ({"poll_interval": 0}, "poll_interval"),
    ):
        with pytest.raises(ValueError, match=name):
            BatchJob(source, tmp_path / "out.jsonl", **options)


@pytest.mark.anyio
async def test_max_cost_is_estimated_before_submitting(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}", max_tokens=100) for i in range(20)]
    )
    out = tmp_path / "out.jsonl"
    # gpt-4o-mini in the emulator: $0.15 / $0.60 per million tokens; a row is estimated at
    # about (20 prompt + 100 completion tokens) at half price: ~$0.0000315.
    before = created(url)
    async with Session(api_key=API_KEY, server_url=url) as session:
        stats = await run_batch(
            source, out, session=session, via="batch-api", max_cost=0.0002, poll_interval=POLL_S
        )
        assert stats.stopped_by == "max_cost" and not stats.complete
        assert 0 < stats.batch_api_rows < 20 and stats.batch_api_estimate <= 0.0002
        assert stats.not_started == 20 - stats.batch_api_rows
        assert stats.cost <= 0.0002  # estimated, and the answers cost no more
        first = stats.batch_api_rows
        again = await run_batch(source, out, session=session, via="batch-api", poll_interval=POLL_S)
    assert again.complete and again.skipped == first and again.batch_api_rows == 20 - first
    assert created(url) - before == 2
    assert set(rows_of(out)) == {f"r{i}" for i in range(20)}


@pytest.mark.anyio
async def test_a_run_stopped_while_waiting_resumes_by_polling_the_same_batches(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(30)])
    out = tmp_path / "out.jsonl"
    before = created(url)
    async with Session(api_key=API_KEY, server_url=url) as session:
        with anyio.move_on_after(0.2):  # (validation alone takes 0.4 s: nothing is done)
            await run_batch(
                source, out, session=session, via="batch-api", batch_size=10, poll_interval=POLL_S
            )
        recorded = job_batches(out)
        assert len(recorded) == 3 and all(b["state"] == "submitted" for b in recorded)
        assert created(url) - before == 3 and out.read_bytes() == b""
        # Resumed with --via live: the recorded batches are still polled, never sent again.
        stats = await run_batch(source, out, session=session, poll_interval=POLL_S)
    assert stats.complete and stats.batch_api_rows == 30 and stats.batch_api_batches == 0
    assert created(url) - before == 3
    assert all(row["route"] == "batch-api" for row in rows_of(out).values())


@pytest.mark.anyio
async def test_a_batch_killed_between_request_and_answer_is_adopted(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(7)])
    out = tmp_path / "out.jsonl"
    async with Session(api_key=API_KEY, server_url=url) as session:
        # What a kill right after POST /batches leaves: the batch exists, the job file has
        # only the record made before the request.
        made = await session.batch.create_batches(
            endpoint="/v1/chat/completions",
            model=MODEL,
            requests=[{"custom_id": f"r{i}#n0nce", "body": chat(i)} for i in range(7)],
        )
        entry = {
            "nonce": "n0nce",
            "id": None,
            "state": "submitting",
            "endpoint": "/v1/chat/completions",
            "model": MODEL,
            "custom_ids": [f"r{i}" for i in range(7)],
            "recorded": time.time(),
        }
        write_job_file(out, url, entry)
        before = created(url)
        stats = await run_batch(source, out, session=session, via="batch-api", poll_interval=POLL_S)
    assert created(url) == before  # adopted, not submitted again
    assert stats.complete and stats.batch_api_rows == 7
    [recorded] = job_batches(out)
    assert recorded["id"] == made.id and recorded.get("adopted") is True
    assert {row["batch_id"] for row in rows_of(out).values()} == {made.id}


@pytest.mark.anyio
async def test_an_adopted_batch_that_is_not_the_jobs_writes_no_row(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(7)])
    out = tmp_path / "out.jsonl"
    async with Session(api_key=API_KEY, server_url=url) as session:
        # Another job's batch, alike in the list (endpoint, model, count, time), its
        # custom_ids without this record's nonce: found, then refused by its results.
        await session.batch.create_batches(
            endpoint="/v1/chat/completions",
            model=MODEL,
            requests=[{"custom_id": f"r{i}", "body": chat(i + 100)} for i in range(7)],
        )
        entry = {
            "id": None,
            "state": "submitting",
            "endpoint": "/v1/chat/completions",
            "model": MODEL,
            "custom_ids": [f"r{i}" for i in range(7)],
            "recorded": time.time(),
            "nonce": "mine",
        }
        write_job_file(out, url, entry)
        stats = await run_batch(source, out, session=session, via="batch-api", poll_interval=POLL_S)
        assert stats.stopped_by == "batch_api" and "not this job's" in (stats.stopped or "")
        assert stats.not_started == 7 and out.read_bytes() == b""
        again = await run_batch(source, out, session=session, via="batch-api", poll_interval=POLL_S)
    assert again.complete and again.batch_api_rows == 7
    rows = rows_of(out)
    assert rows["r3"]["response"]["body"]["choices"][0]["message"]["content"].startswith("Say 3")


@pytest.mark.anyio
async def test_embeddings_responses_and_messages_lines_go_through_the_batch_api(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    def line(custom_id: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}

    lines = [
        chat(0, custom_id="chat"),
        line("embed-1", "/v1/embeddings", {"model": "openai/text-embedding-3-small", "input": "a"}),
        line("embed-2", "/embeddings", {"model": "openai/text-embedding-3-small", "input": "b"}),
        line("respond", "/v1/responses", {"model": MODEL, "input": "Say hello"}),
        line(
            "message",
            "/v1/messages",
            {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]},
        ),
    ]
    source = write_lines(tmp_path / "in.jsonl", lines)
    before = created(url)
    async with Session(api_key=API_KEY, server_url=url) as session:
        job = BatchJob(source, tmp_path / "out.jsonl", via="auto", poll_interval=POLL_S)
        assert job.check().warnings == []  # (live, those lines could not be sent)
        stats = await job.run(session)
        live = await run_batch(source, tmp_path / "live.jsonl", session=session)
    assert created(url) - before == 4  # one endpoint and one model per batch
    assert stats.complete and stats.batch_api_rows == 5 and stats.failed == 0
    rows = rows_of(tmp_path / "out.jsonl")
    assert rows["embed-1"]["response"]["body"]["data"][0]["embedding"]
    assert rows["respond"]["response"]["body"]["object"] == "response"
    assert rows["message"]["response"]["body"]["type"] == "message"
    assert stats.prompt_tokens > 0 and stats.completion_tokens > 0
    assert live.refused == 4  # the live route sends chat requests only


@pytest.mark.anyio
async def test_a_cancelled_batch_leaves_its_rows_to_the_next_run(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(6)])
    out = tmp_path / "out.jsonl"
    before = created(url)
    async with Session(api_key=API_KEY, server_url=url) as session:

        async def cancel_it() -> None:
            with anyio.fail_after(10):
                while True:
                    recorded = await anyio.to_thread.run_sync(job_batches, out)
                    if recorded and recorded[0].get("id"):
                        break
                    await anyio.sleep(0.01)
            async with httpx.AsyncClient() as http:
                answer = await http.post(
                    f"{url}/_emulator/batches/{recorded[0]['id']}/finish",
                    json={"status": "cancelled"},
                )
                assert answer.status_code == 200

        async with anyio.create_task_group() as group:
            group.start_soon(cancel_it)
            stats = await run_batch(
                source, out, session=session, via="batch-api", poll_interval=POLL_S
            )
        # Cancelled while validating: nothing ran, nothing was charged, no row.
        assert stats.stopped_by == "batch_api" and "cancelled" in (stats.stopped or "")
        assert stats.not_started == 6 and stats.written == 0
        from openrouter_async.cli import EXIT_BATCH_API, exit_status

        assert exit_status(stats) == EXIT_BATCH_API
        again = await run_batch(source, out, session=session, via="batch-api", poll_interval=POLL_S)
    assert again.complete and again.batch_api_rows == 6
    assert created(url) - before == 2
    assert [b["status"] for b in job_batches(out)] == ["cancelled", "completed"]


@pytest.mark.anyio
async def test_a_recorded_batch_the_api_does_not_know_is_submitted_again(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    # What a job run against the CLI's built-in emulator leaves after a kill: the next run's
    # emulator (another one) does not know the batch.
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(3)])
    out = tmp_path / "out.jsonl"
    entry = {
        "id": "batch_00009999deadbeefdeadbeef",
        "state": "submitted",
        "endpoint": "/v1/chat/completions",
        "model": MODEL,
        "custom_ids": ["r0", "r1", "r2"],
        "recorded": time.time(),
        "nonce": "gone",
    }
    write_job_file(out, url, entry)
    async with Session(api_key=API_KEY, server_url=url) as session:
        stats = await run_batch(source, out, session=session, via="batch-api", poll_interval=POLL_S)
        assert stats.stopped_by == "batch_api" and "not known to the API" in (stats.stopped or "")
        assert stats.not_started == 3 and stats.written == 0
        again = await run_batch(source, out, session=session, via="batch-api", poll_interval=POLL_S)
    assert again.complete and again.batch_api_rows == 3
    assert [b["status"] for b in job_batches(out)] == ["not found", "completed"]


def test_the_cli_refuses_a_batch_api_input_it_cannot_send(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from openrouter_async.cli import EXIT_CANNOT_START, main

    monkeypatch.setenv("OPENROUTER_API_KEY", API_KEY)
    source = write_lines(tmp_path / "in.jsonl", [chat(0), chat(1, provider={"zdr": True})])
    out = tmp_path / "out.jsonl"
    before = created(url)
    code = main(["batch", str(source), "-o", str(out), "--via", "batch-api", "--base-url", url])
    assert code == EXIT_CANNOT_START
    err = capsys.readouterr().err
    assert "line 2: zero data retention" in err and "--via auto" in err
    assert created(url) == before and not out.exists()
    with pytest.raises(SystemExit) as usage:
        main(["batch", str(source), "-o", str(out), "--via", "batch"])
    assert usage.value.code == 2 and "invalid choice: 'batch'" in capsys.readouterr().err


@pytest.mark.anyio
async def test_the_progress_says_what_the_batch_api_is_doing(
    tmp_path: Path, url: str, anyio_backend: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat(i, custom_id=f"r{i}") for i in range(50)])
    job = BatchJob(source, tmp_path / "out.jsonl", via="batch-api", poll_interval=0.05)
    seen: list[str] = []
    async with Session(api_key=API_KEY, server_url=url) as session:

        async def watch() -> None:
            while not job.stats.complete:
                waiting = job.stats.waiting
                if waiting and waiting not in seen:
                    seen.append(waiting)
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            await job.run(session)
    assert any(text.startswith("Batch API: 1 batch validating, 0 of 50") for text in seen), seen
    assert any("in_progress" in text for text in seen), seen
    assert job.stats.waiting is None  # (done)
