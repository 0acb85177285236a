"""Resumable batch jobs: a JSONL file of chat requests in, a JSONL file of rows out.

    stats = await run_batch("requests.jsonl", "results.jsonl", concurrency=64, max_cost=5.0)

or ``openrouter-async batch requests.jsonl -o results.jsonl`` (the CLI's main job). Built on
:meth:`Session.map`: requests are read lazily, at most ``concurrency`` are in flight, each
finished call becomes one output row at once.

Input, one request per line (blank lines are ignored; a line's number counts from 1):

- a chat request body ``{"model", "messages", ...}``; its id is its ``custom_id`` (else its
  ``id``) field, which is not sent, else ``"line-<number>"``;
- OpenAI's batch format ``{"custom_id", "method": "POST", "url": "/v1/chat/completions",
  "body": {...}}`` (``/chat/completions`` and ``/api/v1/chat/completions`` too; another url
  or method is an error row for that id).

An id is a string or an integer, written back as the line has it; ``7`` and ``"7"`` are the
same id. A line without one (or with ``""``) is ``"line-<number>"``, a form no user id may
take unless it is its own line's, so that a generated id never meets a user's (see
:mod:`._batch_input`). ``model=`` sets (overrides) every body's model.

Before anything is sent the whole input is scanned (:meth:`BatchJob.check`): the lines that
cannot be sent, body keys that are not chat request parameters (a misspelled ``temprature``,
with a suggestion) and empty ids are reported in ``stats.warnings`` (the CLI prints them).

A row is always a whole answer. A body with ``"stream": true`` (or every body, with
``stream=True`` / ``--stream``) is *streamed* and its chunks are put back together into the
non-streamed answer (:mod:`._accumulate`): a long generation then never meets the whole-call
timeout, a stalled provider is caught by the idle timeout, and a stream that fails midway (a
mid-stream error event, a dropped connection) is retried whole, since none of its data has
reached anyone yet. ``stream_options`` is dropped (OpenRouter always sends the usage).

Output, one row per input line, keyed by its id (close to OpenAI's batch output)::

    {"custom_id": "req-1", "response": {"status_code": 200, "body": {<the chat result>}},
     "error": null, "attempts": 1, "latency_ms": 12.3}
    {"custom_id": 7, "response": null,
     "error": {"status_code": 400, "message": "...", "type": "BadRequestResponseError"},
     "attempts": 1, "latency_ms": 3.1}

Structured outputs: with ``schema=Cls`` (``--schema module:Class``; an attrs class, a
dataclass, a pydantic model or a TypedDict) every body asks for ``Cls`` as ``chat.parse``
does (its ``response_format`` set to the class's JSON schema, ``provider.require_parameters:
true`` unless the body sets it), and each answer is read into it: a success row carries
``"parsed"``, the first choice's instance as JSON (``null`` for a refusal); an answer that
does not fit is an error row (``"type": "StructuredOutputError"``) that keeps the answer in
``response`` (its cost is paid: nothing is lost).

Nothing is dropped silently: a line that is not JSON, not a request, or fails validation
becomes an error row (``attempts: 0``: nothing was sent); a call that failed after its
retries becomes an error row. An id that repeats an earlier line's is not sent and gets no
row (the output could not tell the two apart): the stats count it (``duplicates``).

Resuming and crash safety
-------------------------
Running the job again with the same output skips every id that already has a row, so a job
stopped in any way — Ctrl-C, ``max_cost``, an account error, SIGKILL at any moment — is
finished by running it again, and every id ends up in the output exactly once:

- Each row is one ``os.write`` of a complete line (ending in ``\\n``) on an ``O_APPEND`` file
  descriptor: no user-space buffer, so a row the job has written is in the kernel's page
  cache the moment the call returns and survives the process being killed (not a power
  failure of the machine: the file is fsync'ed once, at the end). A write cut short by
  SIGKILL can only leave a *trailing* line without its ``\\n``.
- On start, the output is read: every complete line's id is done; a trailing partial line is
  truncated away (that row is then redone). A complete line that is not a row is an error
  (:class:`BatchError`), not guessed around.
- A row is written only after its call ended, and the id set is rebuilt from the file itself,
  so a row can never appear twice. The price is at-least-once *calls*: a call that finished
  when the process was killed, before its row was written, is made again on resume.
- An exclusive ``flock`` on the output (POSIX) refuses a second job writing to the same file
  at the same time (which could duplicate rows); the kernel releases it when a job dies.

Routes: ``via="live"`` (the default) makes one call per row; ``via="batch-api"`` sends the
rows through OpenRouter's Batch API (about half the price; the batches are recorded in the job
file before the job waits on them, so a killed job resumes by polling them, never paying
twice) and ``via="auto"`` sends what the Batch API takes through it and the rest live: see
:mod:`._batch_route`.

Provenance: the job file ``OUT.jsonl.job.json`` (:mod:`._batch_provenance`) records where the
rows came from (the base URL, or ``"emulator"``; the ``model`` override; the route). A run
against another base URL or model than the rows already there is refused
(:class:`BatchError`, before any call) unless ``force=True``: answers of the emulator (or of
another model) never pass silently for real ones.

Error rows: each is *transient* (no answer: a connection failure or timeout; or 408, 429,
5xx), *final* (the API refused the request: 400, 403, 404, 413, 422...; an answer that did not
fit the schema) or *refused* (an input line that could not be sent, ``attempts: 0``). A resume
keeps them all; with ``retry_errors=True`` the transient ones are taken out of the output
first (rewritten whole, a temporary file renamed over it: a kill leaves the old file or the
new one) and redone. ``stats.error_rows`` and its parts count what the output holds after the
run, earlier runs' rows included.

A row written from the event loop thread is a small write into the page cache (microseconds);
no thread is involved per row.

Budget and account errors
-------------------------
``max_cost`` (USD, summed from each answer's ``usage.cost``; positive: ``0`` is refused, as a
cap that could only stop the job after its first answers would still spend) stops *starting*
calls once the cost of this run reaches it; calls in flight finish and are written (so the
total can pass the budget by what they cost). The requests left are counted in
``stats.not_started`` and ``stats.stopped`` says why (``stats.stopped_by``: ``"max_cost"``); a
later run (with a new budget) does them. A 401 or 402 (a bad
key, no credits) stops the job the same way without writing a row for the calls that got it:
every call would fail alike, and those ids should be redone once the account is fixed.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import orjson

from ._batch_input import Item, Scan, id_key, parse_line, read_lines, scan
from ._batch_provenance import JobFile, Target
from ._config import RetryConfig
from .errors import (
    APIStatusError,
    ChatError,
    OpenRouterError,
    PaymentRequiredResponseError,
    RequestValidationError,
    ResponseValidationError,
    UnauthorizedResponseError,
)

if TYPE_CHECKING:
    from ._limiter import Limiter
    from ._map import MapResult
    from ._session import Session

__all__ = ["DEFAULT_BATCH_RETRIES", "BatchError", "BatchJob", "BatchStats", "run_batch"]

#: Retries of a batch call when none are given: more attempts than a single call's default
#: (3), as a long job meets every transient failure there is; same back-off and Retry-After.
DEFAULT_BATCH_RETRIES = RetryConfig(max_attempts=6)

_NO_RETRIES = RetryConfig.disabled()
# An error row's kind (see the module docstring).
TRANSIENT, FINAL, REFUSED = "transient", "final", "refused"
# Errors without a status that mean "no answer came": worth another run. (A TLS failure is
# not: the next run meets the same certificate.)
_NO_ANSWER_TYPES = frozenset(
    {"APIConnectionError", "APITimeoutError", "RateLimitTimeoutError", "StreamIdleTimeoutError"}
)
# The ETA's throughput is measured over this many recent seconds.
_RATE_WINDOW = 30.0
_SHOWN_IDS = 10

# A name the tests and older callers import from here.
_parse_line = parse_line


class BatchError(Exception):
    """The job cannot run (raised before any call): the input or output cannot be used, the
    output is locked by another job or is not a batch output, or it holds rows from another
    target (see the module docstring)."""


@attrs.define(slots=True)
class BatchStats:
    """What a batch job did; updated live while it runs (read ``BatchJob.stats``)."""

    #: Requests in the input (non-blank lines), known once the job has scanned it.
    total: int = 0
    #: Success rows written by this run.
    done: int = 0
    #: Error rows written by this run (invalid input lines included).
    failed: int = 0
    #: Requests skipped because the output already has their row (a resumed job).
    skipped: int = 0
    #: Input lines whose id repeats an earlier line's (not sent, no row).
    duplicates: int = 0
    #: Requests not started because the job stopped (``stopped`` says why); a later run does
    #: them.
    not_started: int = 0
    #: Retries made (attempts beyond the first), over all calls of this run.
    retries: int = 0
    #: 429 answers seen (each attempt that got one, retried or not).
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: USD, the sum of the answers' ``usage.cost``.
    cost: float = 0.0
    #: Seconds from the start of the run to its end (or to now, while it runs).
    elapsed: float = 0.0
    #: Why the job stopped starting calls (``max_cost`` reached, 401/402), or None.
    stopped: str | None = None
    #: What stopped it: ``"max_cost"``, ``"account"`` (a 401 or 402) or ``"batch_api"`` (a
    #: batch ended before some of its requests ran, or was not taken), or None.
    stopped_by: str | None = None
    #: Bytes of a trailing partial line cut from the output when the run started (a row
    #: whose write was interrupted by a kill; it is redone).
    truncated_bytes: int = 0
    #: Line numbers of the first few duplicate ids (for the message).
    duplicate_lines: list[int] = attrs.field(factory=list)
    #: Of ``failed``: input lines this run refused without sending them (``attempts: 0``).
    refused: int = 0
    #: Error rows in the output after the run, earlier runs' included...
    error_rows: int = 0
    #: ... of which transient (no answer, 408, 429, 5xx: ``retry_errors`` redoes them)...
    transient_error_rows: int = 0
    #: ... and refused input lines (never sent); the rest are final (``final_error_rows``).
    refused_rows: int = 0
    #: The ids of the output's first few error rows (for messages).
    error_ids: list[str | int] = attrs.field(factory=list)
    #: Transient error rows taken out of the output at the start (``retry_errors``), redone.
    retried_errors: int = 0
    #: What the scan of the input found before anything was sent, one message each.
    warnings: list[str] = attrs.field(factory=list)
    #: Where this run's rows come from (recorded in the job file), once it started.
    target: Target | None = None
    #: The Batch API route (``via``, :mod:`._batch_route`): rows written from its results,
    #: batches this run submitted, their cost (part of ``cost``, at the batch price), what the
    #: same rows would have cost live, and the estimate made before submitting (``max_cost``).
    batch_api_rows: int = 0
    batch_api_batches: int = 0
    batch_api_cost: float = 0.0
    batch_api_live_cost: float = 0.0
    batch_api_estimate: float = 0.0
    _batch_api_waiting: str | None = attrs.field(default=None, repr=False)
    _started: float | None = attrs.field(default=None, repr=False)
    _finished: bool = attrs.field(default=False, repr=False)
    _limiter: Limiter | None = attrs.field(default=None, repr=False, eq=False)
    # When the latest rows were written (the ETA's recent throughput).
    _times: deque[float] = attrs.field(factory=lambda: deque(maxlen=2048), repr=False, eq=False)
    # Calls between two attempts (waiting out their back-off).
    _retrying: int = attrs.field(default=0, repr=False)

    @property
    def written(self) -> int:
        """Rows written by this run."""
        return self.done + self.failed

    @property
    def remaining(self) -> int:
        """Requests that have no row yet (0 once a job has finished all of them)."""
        return max(0, self.total - self.skipped - self.duplicates - self.done - self.failed)

    @property
    def complete(self) -> bool:
        """Every request of the input has its row (this run's or an earlier one's)."""
        return self._finished and self.remaining == 0

    @property
    def batch_api_reserved(self) -> float:
        """Of the Batch API's estimate (``max_cost``), what its rows have not cost yet: the
        live rows of ``via="auto"`` keep within the cap minus it."""
        return max(0.0, self.batch_api_estimate - self.batch_api_cost)

    @property
    def final_error_rows(self) -> int:
        """Error rows of the output that another run would not change (the API refused the
        request, or its answer did not fit the schema)."""
        return self.error_rows - self.transient_error_rows - self.refused_rows

    @property
    def running_time(self) -> float:
        """Seconds since the start (live while the job runs)."""
        if self._started is None:
            return 0.0
        if self._finished:
            return self.elapsed
        return time.monotonic() - self._started

    @property
    def requests_per_second(self) -> float:
        """Rows written per second by this run."""
        seconds = self.running_time
        return self.written / seconds if seconds > 0 else 0.0

    @property
    def current_rate(self) -> float:
        """Rows written per second lately (the last 30 s; the whole run when none were)."""
        if self._started is None:
            return 0.0
        now = time.monotonic() if not self._finished else self._started + self.elapsed
        since = max(self._started, now - _RATE_WINDOW)
        times = self._times
        if times and len(times) == times.maxlen and times[0] > since:
            since = times[0]  # (more rows than the window holds: measure over those kept)
        recent = sum(1 for moment in times if moment >= since)
        seconds = now - since
        if recent and seconds > 0:
            return recent / seconds
        return self.requests_per_second

    @property
    def eta(self) -> float | None:
        """Seconds until the rest is done (None: not known yet, or the job stopped): the
        recent throughput, capped by the Session's rate limits (``rpm``; ``tpm`` at the
        tokens a row has taken so far), plus what is left of a cool-down."""
        if self.stopped is not None:
            return None
        remaining = self.remaining
        if remaining == 0:
            return 0.0 if self.total else None
        rate = self.current_rate or math.inf
        wait = 0.0
        limiter = self._limiter
        if limiter is not None:
            state = limiter.state()
            wait = state.cool_down_remaining
            if state.rpm:
                rate = min(rate, state.rpm / 60.0)
            tokens = self.prompt_tokens + self.completion_tokens
            if state.tpm and self.done and tokens:
                rate = min(rate, state.tpm / 60.0 / (tokens / self.done))
        if rate == math.inf or rate <= 0:
            return None
        return wait + remaining / rate

    @property
    def waiting(self) -> str | None:
        """What holds the job back right now, in words (None: nothing, as far as it knows):
        a cool-down after a 429 (with its seconds left), the rate limits, a concurrency cut,
        calls backing off before a retry, or a stop letting the calls in flight finish."""
        if self._finished or self._started is None:
            return None
        if self.stopped is not None:
            return f"stopping ({self.stopped}): the calls in flight finish"
        limiter = self._limiter
        if limiter is not None:
            state = limiter.state()
            if state.cool_down_remaining > 0.05:
                left = math.ceil(state.cool_down_remaining)
                return f"cool-down: {left} s left (the API's rate limit: every call waits)"
            if state.waiting and (state.rpm or state.tpm):
                limits = " and ".join(
                    f"{value:g} {unit}/min"
                    for value, unit in ((state.rpm, "requests"), (state.tpm, "tokens"))
                    if value
                )
                return f"rate-limited: {state.waiting} calls paced at {limits}"
            if state.limit is not None and state.max_limit and state.limit < state.max_limit:
                return (
                    f"slowed down: {state.limit} of {state.max_limit} calls at a time after "
                    "429s (grows back while calls succeed)"
                )
        if self._batch_api_waiting is not None:
            return self._batch_api_waiting
        if self._retrying:
            return f"retrying: {self._retrying} calls wait out their back-off"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "not_started": self.not_started,
            "remaining": self.remaining,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "elapsed": self.elapsed,
            "requests_per_second": self.requests_per_second,
            "stopped": self.stopped,
            "stopped_by": self.stopped_by,
            "complete": self.complete,
            "refused": self.refused,
            "error_rows": self.error_rows,
            "transient_error_rows": self.transient_error_rows,
            "final_error_rows": self.final_error_rows,
            "refused_rows": self.refused_rows,
            "retried_errors": self.retried_errors,
            "target": self.target.as_json() if self.target is not None else None,
            "batch_api_rows": self.batch_api_rows,
            "batch_api_batches": self.batch_api_batches,
            "batch_api_cost": self.batch_api_cost,
            "batch_api_live_cost": self.batch_api_live_cost,
        }

    def _count_error_row(self, custom_id: str | int, kind: str) -> None:
        self.error_rows += 1
        if kind == TRANSIENT:
            self.transient_error_rows += 1
        elif kind == REFUSED:
            self.refused_rows += 1
        if len(self.error_ids) < _SHOWN_IDS:
            self.error_ids.append(custom_id)


class _NotStarted:
    """Returned by a call the job did not start (it had stopped): no row is written."""


_NOT_STARTED = _NotStarted()


class BatchJob:
    """One batch job: ``await BatchJob(input, output, ...).run(session)``.

    ``stats`` is live while it runs (a progress display reads it from any thread).

    ``force`` lets a run add rows to an output whose rows came from another target (or whose
    origin is not recorded); ``retry_errors`` redoes the output's transient error rows;
    ``target`` is what the job file records as the base URL (default: the Session's; the CLI
    passes ``"emulator"`` for its built-in emulator, whose port changes from run to run).

    ``via`` is the route (:mod:`._batch_route`): ``"live"`` (one call per row), ``"batch-api"``
    (OpenRouter's Batch API, about half the price: ``batch_size`` requests per batch at most,
    polled every ``poll_interval`` seconds at first) or ``"auto"`` (the Batch API for what it
    takes, the rest live).
    """

    def __init__(
        self,
        input_path: str | os.PathLike[str],
        output_path: str | os.PathLike[str],
        *,
        model: str | None = None,
        concurrency: int = 64,
        max_cost: float | None = None,
        retries: RetryConfig | None = None,
        stream: bool = False,
        schema: type[Any] | None = None,
        strict_schema: bool = True,
        force: bool = False,
        retry_errors: bool = False,
        target: str | None = None,
        via: str = "live",
        batch_size: int = 5000,
        poll_interval: float = 5.0,
    ) -> None:
        from ._batch_route import check_route_options

        self.via, self.batch_size, self.poll_interval = check_route_options(
            via, batch_size, poll_interval
        )
        if type(concurrency) is not int or concurrency < 1:
            raise ValueError(f"concurrency must be an integer of at least 1, got {concurrency!r}")
        if max_cost is not None and not (0 < max_cost < math.inf):
            raise ValueError(
                f"max_cost must be a positive number of USD, got {max_cost!r} (None: no cap)"
            )
        self.input_path = os.fspath(input_path)
        self.output_path = os.fspath(output_path)
        if os.path.abspath(self.input_path) == os.path.abspath(self.output_path):
            raise ValueError("the output must not be the input")
        self.model = model
        self.concurrency = concurrency
        self.max_cost = max_cost
        self.retries = retries if retries is not None else DEFAULT_BATCH_RETRIES
        #: Stream every call (and put each answer back together), not only the bodies that
        #: ask for it.
        self.stream = stream
        #: The class every answer is read into (structured outputs), or None.
        self.schema = schema
        self.strict_schema = strict_schema
        if schema is not None:
            from ._parse import response_format_for

            response_format_for(schema, strict=strict_schema)  # refused now, not per row
        self.force = force
        self.retry_errors = retry_errors
        self.target = target
        self.stats = BatchStats()
        self._fd: int | None = None
        self._done_keys: set[str] = set()
        self._scan: Scan | None = None
        self._target: Target | None = None
        self._job_file: JobFile | None = None

    # -- before anything is sent -----------------------------------------------------------

    def check(self) -> BatchStats:
        """Check the files and scan the whole input, sending nothing: raise
        :class:`BatchError` when the input cannot be read or the output cannot be written;
        else fill ``stats.total`` and ``stats.warnings`` (lines that cannot be sent, unknown
        body keys, empty ids) and return the stats. :meth:`run` does it when not done yet."""
        if self._scan is not None:
            return self.stats
        self._check_files()
        try:
            found = scan(self.input_path, self.model)
        except OSError as error:
            raise BatchError(f"cannot read the input {self.input_path}: {_reason(error)}") from None
        self._scan = found
        self.stats.total = found.total
        self.stats.warnings = found.warnings()
        if self.via != "live":
            from ._batch_route import check_input

            check_input(self)  # (BatchError: lines the Batch API cannot take)
        return self.stats

    def _check_files(self) -> None:
        source, output = self.input_path, self.output_path
        if os.path.isdir(source):
            raise BatchError(f"the input {source} is a directory, not a JSONL file")
        if not os.path.exists(source):
            raise BatchError(f"no such input file: {source}")
        try:
            with open(source, "rb"):
                pass
        except OSError as error:
            raise BatchError(f"cannot read the input {source}: {_reason(error)}") from None
        if os.path.isdir(output):
            raise BatchError(
                f"the output {output} is a directory: give the path of a file in it "
                "(-o DIR/results.jsonl)"
            )
        folder = os.path.dirname(os.path.abspath(output))
        if not os.path.isdir(folder):
            raise BatchError(f"cannot write the output {output}: no such directory {folder}")
        if os.path.exists(output):
            if os.path.samefile(source, output):
                raise BatchError("the output must not be the input")
            try:  # (opened, not changed: no O_CREAT, no O_TRUNC)
                os.close(os.open(output, os.O_WRONLY | os.O_APPEND))
            except OSError as error:
                raise BatchError(f"cannot write the output {output}: {_reason(error)}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BatchError(
                f"cannot write the output {output}: its directory {folder} is not writable "
                "(the output and its job file are written there)"
            )

    # -- the run -----------------------------------------------------------------------------

    async def run(self, session: Session) -> BatchStats:
        """Run the job on an open Session; return its statistics. Raises :class:`BatchError`
        (files, output locked or not a batch output, rows from another target) before any
        call."""
        stats = self.stats
        stats._started = time.monotonic()
        await anyio.to_thread.run_sync(self.check)
        from ._logging import redact_url

        base_url = self.target or redact_url(session.base_url).rstrip("/")
        self._target = stats.target = Target(base_url, self.model, self.via)
        stats._limiter = session.limiter
        try:
            self._fd = await anyio.to_thread.run_sync(self._open_output)
        except OSError as error:  # (what the check before could not see: a race, a full disk)
            name = error.filename or self.output_path
            raise BatchError(f"cannot write {name}: {_reason(error)}") from None
        try:
            from ._batch_route import routed_items

            # (the Batch API's share, and batches a killed run left, go on meanwhile)
            async with (
                routed_items(self, session) as items,
                session.map(items, call=self._call, concurrency=self.concurrency) as results,
            ):
                async for result in results:
                    self._record(result)
        finally:
            fd, self._fd = self._fd, None
            stats.elapsed = time.monotonic() - stats._started
            stats._finished = True
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._finish, fd)
        return stats

    def _finish(self, fd: int | None) -> None:
        try:
            _close(fd)
        finally:
            job_file, self._job_file = self._job_file, None
            if job_file is not None:
                stats = self.stats
                # (Best effort: the rows are written, and the record the next run checks was
                # written at the start; a full disk now must not turn the run into a crash.)
                with contextlib.suppress(OSError):
                    job_file.finish_run(
                        {
                            "written": stats.written,
                            "errors": stats.failed,
                            "cost": stats.cost,
                            "stopped": stats.stopped,
                        }
                    )

    # -- the output ------------------------------------------------------------------------

    def _open_output(self) -> int:
        """Open (create) the output for appending, lock it, learn the ids it has, cut a
        trailing partial line, check where its rows came from, and take out the transient
        error rows to redo (see the module docstring)."""
        fd = os.open(self.output_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _lock(fd, self.output_path)
            for left in (self._rewrite_path, JobFile(self.output_path).temporary_path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(left)  # left by a job killed while it rewrote a file: unused
            stats = self.stats
            input_keys = self._scan.keys if self._scan is not None else None
            done: set[str] = set()
            redo: set[int] = set()  # line numbers of the rows taken out
            rows = 0
            good_end = 0
            with open(fd, "rb", closefd=False) as lines:
                for number, raw in enumerate(lines, 1):
                    if not raw.endswith(b"\n"):
                        break  # the last line, cut short by a kill: redone
                    good_end += len(raw)
                    if not raw.strip():
                        continue
                    custom_id, error = _read_row(raw, self.output_path, number)
                    rows += 1
                    key = id_key(custom_id)
                    kind = None if error is None else _error_kind(error)
                    if (
                        kind == TRANSIENT
                        and self.retry_errors
                        and (input_keys is None or key in input_keys)
                    ):
                        redo.add(number)
                        continue
                    done.add(key)
                    if kind is not None:
                        stats._count_error_row(custom_id, kind)
            size = os.fstat(fd).st_size
            if size > good_end:
                os.ftruncate(fd, good_end)
                stats.truncated_bytes = size - good_end
            forced = self._check_target(rows)
            if redo:
                fd = self._without_rows(fd, redo)
                stats.retried_errors = len(redo)
            if self._job_file is not None and self._target is not None:
                self._job_file.start_run(
                    self._target, forced=forced, retry_errors=self.retry_errors
                )
        except BaseException:
            os.close(fd)
            raise
        self._done_keys = done
        return fd

    def _check_target(self, rows: int) -> bool:
        """Refuse (BatchError) to add this run's rows to rows from another target, unless
        forced; return whether it was forced. (No target known: a bare ``_open_output``.)"""
        target = self._target
        if target is None:
            return False
        job_file = JobFile(self.output_path)
        problem = job_file.load()
        if problem is not None and (rows == 0 or self.force):
            job_file.data = {}  # nothing to keep it for (no rows), or overridden
            problem = None
        if problem is None:
            problem = job_file.refusal(target, rows, self.output_path)
        forced = problem is not None
        if forced and not self.force:
            assert problem is not None
            raise BatchError(problem)
        self._job_file = job_file
        return forced

    def _without_rows(self, fd: int, numbers: set[int]) -> int:
        """The output rewritten without the rows on lines ``numbers``: a temporary file,
        locked before it is renamed over the output (so that no other job can take the new
        file between the two), then the old one closed. A kill leaves the old file or the
        new one. Returns the new file's descriptor."""
        path = self.output_path
        temporary = self._rewrite_path
        new = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            _lock(new, temporary)
            os.chmod(temporary, stat.S_IMODE(os.fstat(fd).st_mode))
            chunk = bytearray()
            with open(fd, "rb", closefd=False) as lines:
                lines.seek(0)
                for number, raw in enumerate(lines, 1):
                    if number not in numbers:
                        chunk += raw
                    if len(chunk) >= 1 << 20:
                        _write_all(new, chunk)
                        chunk.clear()
            _write_all(new, chunk)
            os.fsync(new)
            if os.name == "nt":  # (no locks there; a file cannot be replaced while open)
                os.close(fd)
            os.replace(temporary, path)
        except BaseException:
            os.close(new)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        if os.name != "nt":
            os.close(fd)
        return new

    @property
    def _rewrite_path(self) -> str:
        return self.output_path + ".retry.tmp"

    def _write(self, data: bytes) -> None:
        fd = self._fd
        assert fd is not None
        _write_all(fd, data)

    # -- the input -------------------------------------------------------------------------

    def _items(self) -> Iterator[Item]:
        """The requests still to do, read lazily. The whole input is always read, so that
        ``skipped``, ``duplicates`` and ``not_started`` add up even when the job stopped."""
        stats = self.stats
        done = self._done_keys
        seen: set[str] = set()
        for number, raw in read_lines(self.input_path):
            item = parse_line(number, raw, self.model)
            key = item.key
            if key in seen:
                stats.duplicates += 1
                if len(stats.duplicate_lines) < 10:
                    stats.duplicate_lines.append(number)
                continue
            seen.add(key)
            if key in done:
                stats.skipped += 1
            elif stats.stopped is not None:
                stats.not_started += 1
            else:
                yield item

    # -- one call --------------------------------------------------------------------------

    async def _call(self, session: Session, item: Item) -> Any:
        if self.stats.stopped is not None:
            return _NOT_STARTED
        if item.error is not None:
            raise item.error
        from ._convert import structure
        from .models import ChatRequest

        body = item.body
        assert body is not None  # (an item without a body carries its error, raised above)
        schema = self.schema
        if schema is not None:
            from ._parse import schema_body

            body = schema_body(body, schema, strict=self.strict_schema)
        request = structure(body, ChatRequest, path="body")
        stats = self.stats

        streamed = self.stream or item.stream
        backing_off = False  # (this call failed an attempt and waits for its next one)

        async def attempt() -> Any:
            nonlocal backing_off
            if backing_off:
                stats._retrying -= 1
                backing_off = False
            try:
                if streamed:
                    return await _streamed_answer(session, request)
                return await session.send(request, retries=_NO_RETRIES)
            except OpenRouterError as error:
                if isinstance(error, APIStatusError) and error.status_code == 429:
                    stats.rate_limited += 1
                stats._retrying += 1
                backing_off = True
                raise

        # The row is retried as a whole (a stream from its start) by the Session's one loop.
        try:
            response = await session.exchange.retry(attempt, self.retries)
        finally:
            if backing_off:
                stats._retrying -= 1
        # Counted here, in the worker, the moment the call ends (not when the consumer takes
        # the result): the budget check of the next call must already see this cost.
        usage = getattr(response, "usage", None)
        if usage is not None:
            stats.prompt_tokens += _number(getattr(usage, "prompt_tokens", 0))
            stats.completion_tokens += _number(getattr(usage, "completion_tokens", 0))
            stats.cost += _number(getattr(usage, "cost", 0.0))
            spent = stats.cost + stats.batch_api_reserved  # (what submitted batches will cost)
            if self.max_cost is not None and spent >= self.max_cost and not stats.stopped:
                stats.stopped = f"max_cost ${self.max_cost:g} reached"
                stats.stopped_by = "max_cost"
        if schema is not None:
            from ._parse import parse_result

            return parse_result(response, schema)  # or StructuredOutputError: an error row
        return response

    def _record(self, result: MapResult[Any]) -> None:
        """Write the row of a finished call (on the event loop, one write per row)."""
        response = result.response
        if response is _NOT_STARTED:
            self.stats.not_started += 1
            return
        stats = self.stats
        item: Item = result.request
        error = result.error
        if isinstance(error, (UnauthorizedResponseError, PaymentRequiredResponseError)):
            # The account, not this request: stop, and leave the id for a later run.
            if stats.stopped is None:
                stats.stopped = f"{error} (the account, not a request: fix it and resume)"
                stats.stopped_by = "account"
            stats.not_started += 1
            stats.retries += result.attempts - 1
            return
        attempts = 0 if isinstance(error, RequestValidationError) else result.attempts
        stats.retries += max(0, attempts - 1)
        row: dict[str, Any] = {"custom_id": item.custom_id}
        if error is None:
            from ._convert import unstructure

            row["response"] = {"status_code": 200, "body": unstructure(response)}
            if self.schema is not None:
                row["parsed"] = _parsed_json(response)
            row["error"] = None
        else:
            completion = getattr(error, "completion", None)  # an answer that did not fit
            if completion is not None and self.schema is not None:
                from ._convert import unstructure

                row["response"] = {"status_code": 200, "body": unstructure(completion)}
            else:
                row["response"] = None
            row["error"] = _error_json(error)
        row["attempts"] = attempts
        row["latency_ms"] = round(result.latency * 1000, 1)
        self._write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        stats._times.append(time.monotonic())
        if error is not None:
            stats.failed += 1
            kind = _error_kind(row["error"])
            if kind == REFUSED:
                stats.refused += 1
            stats._count_error_row(item.custom_id, kind)
            return
        stats.done += 1


async def run_batch(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    session: Session | None = None,
    model: str | None = None,
    concurrency: int = 64,
    max_cost: float | None = None,
    retries: RetryConfig | None = None,
    stream: bool = False,
    schema: type[Any] | None = None,
    strict_schema: bool = True,
    force: bool = False,
    retry_errors: bool = False,
    target: str | None = None,
    via: str = "live",
    batch_size: int = 5000,
    poll_interval: float = 5.0,
    **session_options: Any,
) -> BatchStats:
    """Run a batch job (see the module docstring) on ``session``, or on a Session made from
    ``session_options`` (``api_key=``, ``base_url=``, ...) for the job; return its stats."""
    job = BatchJob(
        input_path,
        output_path,
        model=model,
        concurrency=concurrency,
        max_cost=max_cost,
        retries=retries,
        stream=stream,
        schema=schema,
        strict_schema=strict_schema,
        force=force,
        retry_errors=retry_errors,
        target=target,
        via=via,
        batch_size=batch_size,
        poll_interval=poll_interval,
    )
    if session is not None:
        if session_options:
            raise TypeError("give session or session options, not both")
        return await job.run(session)
    from ._session import Session

    async with Session(**session_options) as own:
        return await job.run(own)


# -- helpers -------------------------------------------------------------------------------


async def _streamed_answer(session: Session, request: Any) -> Any:
    """One attempt of a streamed row: the whole stream, accumulated into a ChatResult."""
    from ._accumulate import ChatStreamAccumulator
    from ._convert import parse
    from .models import ChatResult

    accumulator = ChatStreamAccumulator()
    try:
        async with session.stream(request, retries=_NO_RETRIES) as chunks:
            async for chunk in chunks:
                accumulator.add(chunk)
    except ChatError as error:
        if error.chunk is None:
            raise
        # A mid-stream error event. Nothing of this stream reached anyone (the row is written
        # whole or not at all), so it is as retryable as the status its code names, like an
        # error body sent with status 200: raised as that.
        raise ChatError(error.error) from error
    try:
        body = accumulator.body()
    except ValueError as error:  # a stream with no chunk: an answer-less reply, not a bug
        raise ResponseValidationError(str(error)) from None
    # An answer that does not make a ChatResult is the server's fault (a row with its error),
    # never the job's end.
    return parse(body, ChatResult)


def _error_kind(error: Any) -> str:
    """An error row's kind (its ``error`` object): transient, final or refused."""
    if not isinstance(error, dict):
        return FINAL
    status, kind = error.get("status_code"), error.get("type")
    if type(status) is int:
        return TRANSIENT if status in (408, 429) or 500 <= status <= 599 else FINAL
    if kind == "RequestValidationError":
        return REFUSED
    return TRANSIENT if kind in _NO_ANSWER_TYPES else FINAL


def _read_row(raw: bytes, path: str, number: int) -> tuple[str | int, Any]:
    """A complete line of the output → (its id, its error or None); BatchError if it is not
    a row."""
    custom_id: Any = None
    row: Any = None
    try:
        row = orjson.loads(raw)
        custom_id = row["custom_id"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        pass
    if not ((type(custom_id) is str and custom_id != "") or type(custom_id) is int):
        raise BatchError(
            f"{path}:{number}: not a row of a batch output (a complete line without a valid "
            "custom_id); fix or remove it, or write to another output"
        )
    result: str | int = custom_id
    return result, row.get("error")


def _error_json(error: OpenRouterError) -> dict[str, Any]:
    status = error.status_code
    if status is None and isinstance(error, ChatError) and isinstance(error.error.code, int):
        status = error.error.code  # an error body sent with status 200: the code it names
    return {"status_code": status, "message": error.message, "type": type(error).__name__}


def _parsed_json(response: Any) -> Any:
    """The first choice's parsed instance as JSON (None: a refusal, or no choice)."""
    from ._parse import json_of

    choices = response.choices
    return json_of(choices[0].message.parsed) if choices else None


def _number(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:  # a regular file takes it whole; a short write goes on where it stopped
        written = os.write(fd, view)
        view = view[written:]


def _lock(fd: int, path: str) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (one job per output is then up to the user)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BatchError(f"{path} is being written by another batch job") from None


def _close(fd: int | None) -> None:
    if fd is None:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
