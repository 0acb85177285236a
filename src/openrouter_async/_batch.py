"""Resumable batch jobs: a JSONL file of chat requests in, a JSONL file of rows out.

    stats = await run_batch("requests.jsonl", "results.jsonl", concurrency=64, max_cost=5.0)

or ``openrouter-async batch requests.jsonl -o results.jsonl`` (the CLI's main job). Built on
:meth:`Session.map`: requests are read lazily, at most ``concurrency`` are in flight, each
finished call becomes one output row at once.

Input, one request per line (blank lines are ignored; a line's number counts from 1):

- a chat request body ``{"model", "messages", ...}``; its id is its ``custom_id`` (else its
  ``id``) field, which is not sent, else the line number;
- OpenAI's batch format ``{"custom_id", "method": "POST", "url": "/v1/chat/completions",
  "body": {...}}`` (``/chat/completions`` and ``/api/v1/chat/completions`` too; another url
  or method is an error row for that id).

An id is a string or an integer. ``model=`` sets (overrides) every body's model.

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

A row written from the event loop thread is a small write into the page cache (microseconds);
no thread is involved per row.

Budget and account errors
-------------------------
``max_cost`` (USD, summed from each answer's ``usage.cost``) stops *starting* calls once the
cost of this run reaches it; calls in flight finish and are written (so the total can pass
the budget by what they cost). The requests left are counted in ``stats.not_started`` and
``stats.stopped`` says why; a later run (with a new budget) does them. A 401 or 402 (a bad
key, no credits) stops the job the same way without writing a row for the calls that got it:
every call would fail alike, and those ids should be redone once the account is fixed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import orjson

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
    from ._map import MapResult
    from ._session import Session

__all__ = ["DEFAULT_BATCH_RETRIES", "BatchError", "BatchJob", "BatchStats", "run_batch"]

#: Retries of a batch call when none are given: more attempts than a single call's default
#: (3), as a long job meets every transient failure there is; same back-off and Retry-After.
DEFAULT_BATCH_RETRIES = RetryConfig(max_attempts=6)

_CHAT_URLS = frozenset({"/v1/chat/completions", "/chat/completions", "/api/v1/chat/completions"})
_NO_RETRIES = RetryConfig.disabled()
# Keys of a chat body that a batch row cannot honour (a row is a whole answer).
_DROPPED_KEYS = ("stream_options",)


class BatchError(Exception):
    """The job cannot run: its output is locked by another job, or is not a batch output."""


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
    #: Bytes of a trailing partial line cut from the output when the run started (a row
    #: whose write was interrupted by a kill; it is redone).
    truncated_bytes: int = 0
    #: Line numbers of the first few duplicate ids (for the message).
    duplicate_lines: list[int] = attrs.field(factory=list)
    _started: float | None = attrs.field(default=None, repr=False)
    _finished: bool = attrs.field(default=False, repr=False)

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
    def eta(self) -> float | None:
        """Seconds until the rest is done at the current rate (None: not known yet)."""
        rate = self.requests_per_second
        if rate <= 0 or self.stopped is not None:
            return None
        return self.remaining / rate

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
            "complete": self.complete,
        }


@attrs.frozen(slots=True)
class _Item:
    """One input line: its id, and the chat body to send or why it cannot be sent."""

    line: int
    custom_id: str | int
    body: dict[str, Any] | None
    error: RequestValidationError | None = None
    stream: bool = False


class _NotStarted:
    """Returned by a call the job did not start (it had stopped): no row is written."""


_NOT_STARTED = _NotStarted()


class BatchJob:
    """One batch job: ``await BatchJob(input, output, ...).run(session)``.

    ``stats`` is live while it runs (a progress display reads it from any thread).
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
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_cost is not None and max_cost < 0:
            raise ValueError("max_cost must not be negative")
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
        self.stats = BatchStats()
        self._fd: int | None = None
        self._done_ids: set[str | int] = set()

    async def run(self, session: Session) -> BatchStats:
        """Run the job on an open Session; return its statistics. Raises :class:`BatchError`
        (output locked or not a batch output) and ``OSError`` (files) before any call."""
        stats = self.stats
        stats._started = time.monotonic()
        self._fd = await anyio.to_thread.run_sync(self._open_output)
        try:
            stats.total = await anyio.to_thread.run_sync(_count_requests, self.input_path)
            async with session.map(
                self._items(), call=self._call, concurrency=self.concurrency
            ) as results:
                async for result in results:
                    self._record(result)
        finally:
            fd, self._fd = self._fd, None
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close, fd)
            stats.elapsed = time.monotonic() - stats._started
            stats._finished = True
        return stats

    # -- the output ------------------------------------------------------------------------

    def _open_output(self) -> int:
        """Open (create) the output for appending, lock it, learn the ids it has, and cut a
        trailing partial line (see the module docstring)."""
        fd = os.open(self.output_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _lock(fd, self.output_path)
            done: set[str | int] = set()
            good_end = 0
            with open(fd, "rb", closefd=False) as lines:
                for number, raw in enumerate(lines, 1):
                    if not raw.endswith(b"\n"):
                        break  # the last line, cut short by a kill: redone
                    good_end += len(raw)
                    if not raw.strip():
                        continue
                    done.add(_row_id(raw, self.output_path, number))
            size = os.fstat(fd).st_size
            if size > good_end:
                os.ftruncate(fd, good_end)
                self.stats.truncated_bytes = size - good_end
        except BaseException:
            os.close(fd)
            raise
        self._done_ids = done
        return fd

    def _write(self, data: bytes) -> None:
        fd = self._fd
        assert fd is not None
        view = memoryview(data)
        while view:  # a regular file takes it whole; a short write goes on where it stopped
            written = os.write(fd, view)
            view = view[written:]

    # -- the input -------------------------------------------------------------------------

    def _items(self) -> Iterator[_Item]:
        """The requests still to do, read lazily. The whole input is always read, so that
        ``skipped``, ``duplicates`` and ``not_started`` add up even when the job stopped."""
        stats = self.stats
        done = self._done_ids
        seen: set[str | int] = set()
        with open(self.input_path, "rb") as lines:
            for number, raw in enumerate(lines, 1):
                if number == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
                if not raw.strip():
                    continue
                item = _parse_line(number, raw, self.model)
                key = item.custom_id
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

    async def _call(self, session: Session, item: _Item) -> Any:
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

        async def attempt() -> Any:
            try:
                if streamed:
                    return await _streamed_answer(session, request)
                return await session.send(request, retries=_NO_RETRIES)
            except APIStatusError as error:
                if error.status_code == 429:
                    stats.rate_limited += 1
                raise

        # The row is retried as a whole (a stream from its start) by the Session's one loop.
        response = await session.exchange.retry(attempt, self.retries)
        # Counted here, in the worker, the moment the call ends (not when the consumer takes
        # the result): the budget check of the next call must already see this cost.
        usage = getattr(response, "usage", None)
        if usage is not None:
            stats.prompt_tokens += _number(getattr(usage, "prompt_tokens", 0))
            stats.completion_tokens += _number(getattr(usage, "completion_tokens", 0))
            stats.cost += _number(getattr(usage, "cost", 0.0))
            if self.max_cost is not None and stats.cost >= self.max_cost and not stats.stopped:
                stats.stopped = f"max_cost ${self.max_cost:g} reached"
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
        item: _Item = result.request
        error = result.error
        if isinstance(error, (UnauthorizedResponseError, PaymentRequiredResponseError)):
            # The account, not this request: stop, and leave the id for a later run.
            if stats.stopped is None:
                stats.stopped = f"{error} (the account, not a request: fix it and resume)"
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
        if error is not None:
            stats.failed += 1
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


def _parse_line(number: int, raw: bytes, model: str | None) -> _Item:
    """One input line → an item (an invalid line → an item carrying its error)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return _invalid(number, number, f"line {number} is not JSON: {error}")
    if type(data) is not dict:
        return _invalid(number, number, f"line {number} is not a JSON object")
    if "body" in data and "messages" not in data:  # OpenAI's batch format
        custom_id = data.get("custom_id", number)
        if not _valid_id(custom_id):
            return _invalid(number, number, "custom_id must be a string or an integer")
        method = data.get("method", "POST")
        if not isinstance(method, str) or method.upper() != "POST":
            return _invalid(number, custom_id, f"unsupported method {method!r}: only POST")
        url = data.get("url", "/v1/chat/completions")
        if url not in _CHAT_URLS:
            return _invalid(number, custom_id, f"unsupported url {url!r}: only chat completions")
        body = data["body"]
        if type(body) is not dict:
            return _invalid(number, custom_id, "body must be a JSON object")
    else:  # a chat body, maybe with its id
        body = data
        custom_id = body.pop("custom_id", None)
        other = body.pop("id", None)
        if custom_id is None:
            custom_id = other if other is not None else number
        if not _valid_id(custom_id):
            return _invalid(number, number, "custom_id must be a string or an integer")
    stream = body.pop("stream", None) is True
    for key in _DROPPED_KEYS:
        body.pop(key, None)
    if model:
        body["model"] = model
    return _Item(number, custom_id, body, stream=stream)


def _invalid(number: int, custom_id: str | int, message: str) -> _Item:
    return _Item(number, custom_id, None, RequestValidationError(message))


def _valid_id(value: Any) -> bool:
    return (type(value) is str and value != "") or type(value) is int


def _row_id(raw: bytes, path: str, number: int) -> str | int:
    try:
        row = orjson.loads(raw)
        custom_id = row["custom_id"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        custom_id = None
    if not _valid_id(custom_id):
        raise BatchError(
            f"{path}:{number}: not a row of a batch output (a complete line without a valid "
            "custom_id); fix or remove it, or write to another output"
        )
    result: str | int = custom_id
    return result


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


def _count_requests(path: str) -> int:
    with open(path, "rb") as lines:
        return sum(1 for raw in lines if raw.strip())


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
