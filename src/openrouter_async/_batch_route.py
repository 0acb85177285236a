"""The Batch API route of a batch job (``via="batch-api"`` / ``"auto"``; ``--via``).

A job's rows can be reached two ways: *live* (one call per row, :meth:`Session.map`) or
through OpenRouter's *Batch API* (``POST /batches``, polled until the batch ends; about half
the per-token price, results within 24 h, most in minutes). The route is chosen per job:

- ``"live"`` (the default): every row is a call;
- ``"batch-api"``: every row goes through the Batch API (a body with ``"stream": true`` too: a
  row is a whole answer either way). A row the Batch API cannot take (no model, a base64 or
  ``data:`` image or audio, web search, ``provider.zdr``) refuses the job before anything is
  sent (:class:`BatchError`, naming the lines: use ``"auto"`` for those);
- ``"auto"``: what the Batch API takes goes through it, the rest live (streamed rows, what it
  cannot take, input lines that cannot be sent at all).

Submitting: rows are grouped by model (one model and one endpoint per batch) in input order,
at most ``batch_size`` (5,000, the API's limit) per batch and under 190 MB of JSON (the
limit is 200 MB). Integer ids are sent as their text (the API takes strings) and written back
as the line has them.

Never paying twice: the job file (``OUT.jsonl.job.json``, :mod:`._batch_provenance`) holds,
under ``"batch_api"``, every batch of the job with the ids it carries. A batch is recorded
*before* it is submitted (``"state": "submitting"``), then with its id the moment the API
answers (``"submitted"``), then ``"written"`` once its rows are in the output. A resumed job
(after a kill, whatever the route asked for now) polls the batches recorded as submitted and
never submits their ids again; a batch still ``"submitting"`` (killed between the request and
its answer) is looked for in ``GET /batches`` (same endpoint, model and request count,
created since) and adopted when found, else (the request never arrived) submitted again.

Waiting: each unfinished batch is polled, every ``poll_interval`` seconds at first, the wait
growing by half after each poll that saw no progress, up to 60 s. Results come with the
batch's terminal status; its rows are then written (one ``os.write`` each, as live rows are),
in the same format as live rows plus ``"route": "batch-api"`` and ``"batch_id"``.

- ``completed``: one row per result (an error result is an error row, its status as the API
  gives it: ``retry_errors`` redoes the transient ones, live or through a new batch);
- ``failed`` (the API refused the batch): an error row per request, the API's message;
- ``expired`` / ``cancelled``: the requests that ran have their rows; those that did not run
  get none (nothing was charged) and the job says to run it again, which submits them anew;
- a 404 on polling (the batch was deleted; or it was made by the CLI's built-in emulator of
  an earlier run, which forgot it): no row, the job stops, a later run submits those rows;
- a 402 on polling (results held until credits cover them): the job stops as on a 401/402
  live (``stopped_by: "account"``), the batch stays recorded, a later run fetches it; a 410
  (results no longer kept): an error row per request (status 410).

The budget: with ``max_cost``, the rows to submit are estimated first, at the batch price
(prompt: its JSON's bytes / 4 tokens; completion: its ``max_tokens`` or
``max_completion_tokens``, else 256; each model's price from ``GET /models``, times
:data:`BATCH_PRICE_FACTOR`): only the rows that fit under what is left of the cap are
submitted, in input order; the rest are not started (``stopped_by: "max_cost"``) for a later
run. A model without a known price cannot be estimated: the job refuses to start.

Statistics: ``stats.batch_api_rows`` / ``batch_api_cost`` (the Batch API's share of
``stats.cost``, at the batch price) and ``batch_api_live_cost``, what the same rows would have
cost live (``usage.cost`` / :data:`BATCH_PRICE_FACTOR`).
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import attrs
import orjson

from ._batch_input import Item, parse_line, read_lines
from ._config import RetryConfig
from .errors import (
    OpenRouterError,
    PaymentRequiredResponseError,
    UnauthorizedResponseError,
)

if TYPE_CHECKING:
    from ._batch import BatchJob
    from ._session import Session

__all__ = [
    "BATCH_PRICE_FACTOR",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
    "ROUTES",
    "add_route_arguments",
    "check_input",
    "check_route_options",
    "route_options",
    "route_summary",
    "routed_items",
]

#: The routes a job may take (``via=``).
ROUTES = ("live", "batch-api", "auto")
#: The Batch API's limits per batch: 5,000 requests and 200 MB (we stay under 190 MB of JSON:
#: the rest of the body, and the API's own count, need room).
MAX_BATCH_REQUESTS = 5000
MAX_BATCH_BYTES = 190_000_000
#: What a batch costs relative to the same calls live: OpenRouter's docs say "typically 50%".
BATCH_PRICE_FACTOR = 0.5
#: The endpoint the job's chat bodies go to.
CHAT_ENDPOINT = "/v1/chat/completions"
#: The other endpoints a batch may target, by the urls a line may give for them.
_OTHER_URLS = {
    f"{prefix}/{name}": f"/v1/{name}"
    for name in ("embeddings", "responses", "messages")
    for prefix in ("/v1", "", "/api/v1")
}
#: The job file's key for this route's state.
STATE_KEY = "batch_api"
_MAX_POLL_INTERVAL = 60.0
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# The tokens an answer is assumed to take when a body sets no limit (as the rate limiter
# estimates it).
_DEFAULT_COMPLETION_TOKENS = 256
_SHOWN = 5
#: What one batch has in common: (endpoint, model).
Batchable = tuple[str, str]
_ONCE = RetryConfig.disabled()
# Polls of one batch in a row that got no answer (after the Session's retries) before the job
# stops (the batch stays recorded for a later run).
_POLL_FAILURES = 5


def check_route_options(via: str, batch_size: int, poll_interval: float) -> tuple[str, int, float]:
    """The route's options, checked (ValueError naming the option)."""
    if via not in ROUTES:
        raise ValueError(f"via must be one of {', '.join(map(repr, ROUTES))}, got {via!r}")
    if type(batch_size) is not int or not 1 <= batch_size <= MAX_BATCH_REQUESTS:
        raise ValueError(
            f"batch_size must be an integer from 1 to {MAX_BATCH_REQUESTS:,} (the Batch API's "
            f"limit), got {batch_size!r}"
        )
    if isinstance(poll_interval, bool) or not (
        isinstance(poll_interval, (int, float)) and 0 < poll_interval < math.inf
    ):
        raise ValueError(
            f"poll_interval must be a positive number of seconds, got {poll_interval!r}"
        )
    return via, batch_size, float(poll_interval)


def other_endpoints(path: str, model: str | None) -> dict[int, tuple[str, dict[str, Any]]]:
    """The lines in OpenAI's batch format for an endpoint the Batch API takes besides chat
    (embeddings, responses, messages): line number → (endpoint, body). The live route does
    not send them (an error row); the Batch API routes do."""
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for number, raw in read_lines(path):
        if b'"url"' not in raw:
            continue  # (cheap: most lines are chat bodies)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(data, dict) or "messages" in data:
            continue
        endpoint = _OTHER_URLS.get(data.get("url"))  # type: ignore[arg-type]
        body = data.get("body")
        method = data.get("method", "POST")
        if endpoint is None or type(body) is not dict:
            continue
        if not isinstance(method, str) or method.upper() != "POST":
            continue
        if model:
            body["model"] = model
        found[number] = (endpoint, body)
    return found


def converted(item: Item, others: dict[int, tuple[str, dict[str, Any]]]) -> Item:
    """The item of a line the Batch API routes send to another endpoint (else as it is)."""
    other = others.get(item.line)
    if other is None or item.error is None or item.body is not None:
        return item
    if not str(item.error).startswith("unsupported url"):
        return item  # (its id was refused: the line stays an error row)
    return attrs.evolve(item, body=other[1], error=None)


def check_input(job: BatchJob) -> None:
    """For the Batch API routes, before anything is sent: the scan's warnings again, counting
    the lines for embeddings / responses / messages as sendable; and for ``"batch-api"``, refuse
    (BatchError) an input with lines the Batch API cannot take."""
    from ._batch import BatchError
    from ._batch_input import Scan
    from ._convert import structure
    from .errors import RequestValidationError
    from .models import ChatRequest

    others = other_endpoints(job.input_path, job.model)
    if not others and job.via == "auto":
        return  # (the scan's warnings hold)
    found = Scan()
    items: list[Item] = []
    for number, raw in read_lines(job.input_path):
        item = converted(parse_line(number, raw, job.model), others)
        if item.body is not None and item.error is None and item.line not in others:
            try:
                structure(item.body, ChatRequest, path="body")
            except RequestValidationError as error:
                item = attrs.evolve(item, error=error)
        found.add(item)
        items.append(item)
    job.stats.warnings = found.warnings()
    if job.via == "batch-api":
        refused = refusals(items)
        if refused:
            raise BatchError(refusal_message(refused))


# -- what the Batch API takes ------------------------------------------------------------------


def unsupported(body: dict[str, Any]) -> str | None:
    """Why the Batch API cannot take this chat body (None: it can). From OpenRouter's guide:
    one model per batch, URL-only media, no web search, no zero data retention."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "no model (a batch runs on one named model)"
    if model.endswith(":online"):
        return f"web search ({model!r}) is not available in a batch"
    plugins = body.get("plugins")
    if isinstance(plugins, list) and any(
        isinstance(plugin, dict) and plugin.get("id") == "web" for plugin in plugins
    ):
        return "the web search plugin is not available in a batch"
    if body.get("web_search_options") is not None:
        return "web_search_options is not available in a batch"
    provider = body.get("provider")
    if isinstance(provider, dict) and provider.get("zdr") is True:
        return "zero data retention (provider.zdr) is not available in a batch"
    if _inline_media(body.get("messages")) or _inline_media(body.get("input")):
        return "base64 / data: media are refused in a batch (URLs only)"
    return None


def _inline_media(value: Any) -> bool:
    """Whether a body's messages (or input) carry media as data, not as a URL: a ``data:``
    URL where a URL or file goes, a ``base64`` source, audio input (always data). Text is not
    looked at (a message may well start with "data:")."""
    if isinstance(value, list):
        return any(_inline_media(part) for part in value)
    if not isinstance(value, dict):
        return False
    if value.get("type") in ("input_audio", "base64"):
        return True
    for key, part in value.items():
        if isinstance(part, str):
            if key in _MEDIA_KEYS and part.startswith("data:"):
                return True
        elif _inline_media(part):
            return True
    return False


_MEDIA_KEYS = frozenset({"url", "image_url", "file_data", "file_url", "audio_url", "video_url"})


def refusals(items: Iterable[Item]) -> list[tuple[int, str]]:
    """(line, why) of the sendable lines the Batch API cannot take (for ``"batch-api"``)."""
    return [
        (item.line, problem)
        for item in items
        if item.body is not None
        and item.error is None
        and (problem := unsupported(item.body)) is not None
    ]


def refusal_message(found: list[tuple[int, str]]) -> str:
    shown = "".join(f"\n  line {line}: {why}" for line, why in found[:_SHOWN])
    more = f" (and {len(found) - _SHOWN:,} more)" if len(found) > _SHOWN else ""
    return (
        f"--via batch-api: {len(found):,} line{'' if len(found) == 1 else 's'} the Batch API "
        f"cannot take{more}:{shown}\nuse --via auto (those go live, the rest through the "
        "Batch API) or --via live; nothing was sent"
    )


# -- the job file's record ---------------------------------------------------------------------


class _Record:
    """One batch of the job, as the job file keeps it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @property
    def id(self) -> str | None:
        value = self.data.get("id")
        return value if isinstance(value, str) else None

    @property
    def state(self) -> str:
        value = self.data.get("state")
        return value if isinstance(value, str) else "submitting"

    @property
    def nonce(self) -> str | None:
        value = self.data.get("nonce")
        return value if isinstance(value, str) and value else None

    def sent_id(self, key: str) -> str:
        """The custom_id sent for the row ``key``."""
        nonce = self.nonce
        return f"{key}#{nonce}" if nonce else key

    def key_of(self, sent: Any) -> str | None:
        """The row id of a result's custom_id (None: not one this batch sent)."""
        if not isinstance(sent, str):
            return None
        nonce = self.nonce
        if nonce is None:
            return sent
        key, mark, found = sent.rpartition("#")
        return key if mark and found == nonce else None

    @property
    def keys(self) -> list[str]:
        value = self.data.get("custom_ids")
        return [key for key in value if isinstance(key, str)] if isinstance(value, list) else []


# -- the route ---------------------------------------------------------------------------------


class _Route:
    def __init__(self, job: BatchJob, session: Session) -> None:
        self.job = job
        self.session = session
        self.stats = job.stats
        job_file = job._job_file
        self.job_file = job_file
        state = job_file.data.get(STATE_KEY) if job_file is not None else None
        if not isinstance(state, dict):
            state = {}
        batches = state.get("batches")
        if not isinstance(batches, list):
            batches = []
        state["batches"] = [entry for entry in batches if isinstance(entry, dict)]
        self.state: dict[str, Any] = state
        #: id key → the item still to do
        self.todo: dict[str, Item] = {}
        # Batches being polled, by id → their record; how many rows they still owe.
        self.polling: dict[str, _Record] = {}
        self.progress: dict[str, tuple[str, int, int]] = {}
        #: id key → the endpoint of an item that is not a chat request
        self.endpoints: dict[str, str] = {}

    @property
    def records(self) -> list[_Record]:
        return [_Record(entry) for entry in self.state["batches"]]

    def pending_keys(self) -> set[str]:
        """Ids held by recorded batches whose rows are not written yet."""
        keys: set[str] = set()
        for record in self.records:
            if record.state != "written":
                keys.update(record.keys)
        return keys

    async def save(self) -> None:
        job_file = self.job_file
        if job_file is None:
            return
        job_file.data[STATE_KEY] = self.state
        # On the event loop, not in a thread: the records change on the loop (a thread could
        # serialize them halfway through a change, or two writes race on the temporary file);
        # a few writes per batch, each a small file and its fsync.
        job_file.write()
        await anyio.lowlevel.checkpoint()

    # -- plan --------------------------------------------------------------------------------

    def plan(self, items: list[Item], via: str) -> tuple[list[Item], list[Item]]:
        """(the items to submit, the items to send live); items held by a recorded batch are
        in neither (they are polled)."""
        pending = self.pending_keys()
        stream_all = self.job.stream
        others = other_endpoints(self.job.input_path, self.job.model)
        submit: list[Item] = []
        live: list[Item] = []
        for item in items:
            if item.key in pending:
                self.todo[item.key] = item
                continue
            if item.line in others and via != "live":
                item = converted(item, others)
                if item.error is None:
                    self.endpoints[item.key] = others[item.line][0]
                    submit.append(item)
                    continue
            body = item.body
            if item.error is not None or body is None:
                live.append(item)  # (its refused row, written by the live path: no call)
            elif via == "batch-api":
                submit.append(item)
            elif via == "auto" and not (item.stream or stream_all) and unsupported(body) is None:
                submit.append(item)
            else:
                live.append(item)
        for item in submit:
            self.todo[item.key] = item
        return submit, live

    def body_of(self, item: Item) -> dict[str, Any]:
        body = item.body
        assert body is not None
        schema = self.job.schema
        if schema is not None and item.key not in self.endpoints:
            from ._parse import schema_body

            body = schema_body(body, schema, strict=self.job.strict_schema)
        return body

    def chunks(self, items: list[Item]) -> Iterator[tuple[Batchable, list[tuple[Item, bytes]]]]:
        """((endpoint, model), [(item, its body's JSON)]) per batch to submit: one endpoint
        and one model each, in input order, within the size limits."""
        by_model: dict[Batchable, list[tuple[Item, bytes]]] = {}
        for item in items:
            body = self.body_of(item)
            where = (self.endpoints.get(item.key, CHAT_ENDPOINT), str(body["model"]))
            by_model.setdefault(where, []).append((item, orjson.dumps(body)))
        size = self.job.batch_size
        for model, rows in by_model.items():
            chunk: list[tuple[Item, bytes]] = []
            weight = 0
            for row in rows:
                cost = len(row[1]) + 64
                if chunk and (len(chunk) >= size or weight + cost > MAX_BATCH_BYTES):
                    yield model, chunk
                    chunk, weight = [], 0
                chunk.append(row)
                weight += cost
            if chunk:
                yield model, chunk

    async def within_budget(
        self, chunks: list[tuple[Batchable, list[tuple[Item, bytes]]]]
    ) -> list[tuple[Batchable, list[tuple[Item, bytes]]]]:
        """The chunks cut to what ``max_cost`` leaves (estimated at the batch price)."""
        job = self.job
        if job.max_cost is None or not chunks:
            return chunks
        prices = await self.prices({model for (_, model), _ in chunks})
        left = job.max_cost - self.stats.cost
        kept: list[tuple[Batchable, list[tuple[Item, bytes]]]] = []
        cut = 0
        estimate = 0.0
        for (endpoint, model), rows in chunks:
            prompt_price, completion_price = prices[model]
            fits: list[tuple[Item, bytes]] = []
            for row in rows:
                body = row[0].body or {}
                out = body.get(
                    "max_tokens", body.get("max_completion_tokens", body.get("max_output_tokens"))
                )
                completion = out if isinstance(out, int) and out > 0 else None
                if endpoint == "/v1/embeddings":
                    completion = 0  # (an embedding has no output tokens)
                row_cost = BATCH_PRICE_FACTOR * (
                    len(row[1]) / 4 * prompt_price
                    + (_DEFAULT_COMPLETION_TOKENS if completion is None else completion)
                    * completion_price
                )
                if cut or estimate + row_cost > left:
                    cut += 1
                    continue
                estimate += row_cost
                fits.append(row)
            if fits:
                kept.append(((endpoint, model), fits))
        self.stats.batch_api_estimate = estimate
        if cut:
            stats = self.stats
            stats.not_started += cut
            sent = {item.key for _, rows in kept for item, _ in rows}
            for _model, rows in chunks:
                for item, _ in rows:
                    if item.key not in sent:
                        self.todo.pop(item.key, None)
            if stats.stopped is None:
                stats.stopped = (
                    f"max_cost ${job.max_cost:g} reached: the Batch API rows are estimated at "
                    f"${estimate:.6f} for those submitted, {cut:,} more would pass the cap"
                )
                stats.stopped_by = "max_cost"
        return kept

    async def prices(self, models: set[str]) -> dict[str, tuple[float, float]]:
        """Each model's (prompt, completion) price in USD per token, from ``GET /models``."""
        from ._batch import BatchError

        found: dict[str, tuple[float, float]] = {}
        page = await self.session.models.list()
        for model in page.data or ():
            pricing = getattr(model, "pricing", None)
            if model.id in models and pricing is not None:
                with contextlib.suppress(TypeError, ValueError):
                    found[model.id] = (float(pricing.prompt), float(pricing.completion))
        missing = sorted(models - set(found))
        if missing:
            raise BatchError(
                f"cannot estimate the Batch API cost for --max-cost: no price for "
                f"{', '.join(missing)} in GET /models; nothing was sent"
            )
        return found

    # -- submit -------------------------------------------------------------------------------

    async def submit(self, where: Batchable, rows: list[tuple[Item, bytes]]) -> str | None:
        """Submit one batch (recorded before and after); its id, or None when the API did
        not take it (the job then stops: ``stats.stopped``)."""
        entry: dict[str, Any] = {
            "id": None,
            "state": "submitting",
            "endpoint": where[0],
            "model": where[1],
            "custom_ids": [item.key for item, _ in rows],
            "recorded": time.time(),
            # Sent with every custom_id (``<id>#<nonce>``): the proof that a batch found in
            # the list after a kill (adopted) is this one.
            "nonce": secrets.token_hex(6),
        }
        self.state["batches"].append(entry)
        await self.save()  # before the request: a kill now leaves a trace to look for
        record = _Record(entry)
        requests = [
            {"custom_id": record.sent_id(item.key), "body": orjson.loads(raw)} for item, raw in rows
        ]
        attempts = max(1, self.job.retries.max_attempts)
        # Not the Session's retries: a POST that timed out may have been stored, and sending
        # it again would pay twice. A failure with no answer, or a 5xx, is looked for in the
        # list of batches (adopted when found) before it is sent again; a 429 is not stored.
        for attempt in range(1, attempts + 1):
            try:
                with anyio.CancelScope(shield=True):  # an id the API gave must reach the record
                    created = await self.session.batch.create_batches(
                        endpoint=where[0], model=where[1], requests=requests, retries=_ONCE
                    )
                    batch_id = created.id
                    assert batch_id is not None
                    entry.update(id=batch_id, state="submitted", created_at=created.created_at)
                    await self.save()
                assert batch_id is not None
                self.stats.batch_api_batches += 1
                self.polling[batch_id] = record
                return batch_id
            except (UnauthorizedResponseError, PaymentRequiredResponseError):
                raise
            except OpenRouterError as error:
                status = error.status_code
                retryable = status is None or status in (408, 429) or status >= 500
                if not retryable or attempt == attempts:
                    await self.refused(record, rows, error)
                    return None
            await anyio.sleep(min(30.0, 0.5 * 2**attempt))
            if status != 429 and await self.adopt(record):
                self.stats.batch_api_batches += 1
                return record.id
        return None  # (not reached: the last attempt returns)

    async def refused(self, record: _Record, rows: list[tuple[Item, bytes]], error: Any) -> None:
        """The API did not take a batch: no rows (a later run submits them again), and the
        job stops saying why."""
        record.data.update(state="written", status=f"not taken: {error}")
        await self.save()
        stats = self.stats
        stats.not_started += len(rows)
        for item, _ in rows:
            self.todo.pop(item.key, None)
        if stats.stopped is None:
            stats.stopped = f"the Batch API did not take a batch of {len(rows):,} rows: {error}"
            stats.stopped_by = "batch_api"

    async def adopt(self, record: _Record) -> bool:
        """Find the batch of a record left ``submitting`` (see the module docstring)."""
        data = record.data
        since = data.get("recorded")
        since = since - 5 if isinstance(since, (int, float)) else 0
        claimed = {other.id for other in self.records if other.id}
        page = await self.session.batch.list(limit=100)
        for batch in page.data or ():
            if batch.created_at is not None and batch.created_at < since:
                break  # (newest first: the rest are older)
            counts = batch.request_counts
            if (
                batch.id not in claimed
                and batch.endpoint == data.get("endpoint")
                and batch.model == data.get("model")
                and counts is not None
                and counts.total == len(record.keys)
            ):
                data.update(id=batch.id, state="submitted", adopted=True)
                await self.save()
                assert batch.id is not None
                self.polling[batch.id] = record
                return True
        return False

    # -- poll ---------------------------------------------------------------------------------

    async def poll(self, batch_id: str, record: _Record) -> None:
        interval = self.job.poll_interval
        last: tuple[str | None, int] = (None, -1)
        failures = 0
        while True:
            try:
                batch = await self.session.batch.get_batches(id=batch_id)
            except OpenRouterError as error:
                # No answer, or a 408/429/5xx, after the Session's retries: the batch goes on
                # without us; poll again later, and after a few such failures stop the job
                # (the batch stays recorded: a later run polls it).
                status = error.status_code
                if not (status is None or status in (408, 429) or status >= 500):
                    await self.poll_failed(batch_id, record, error)
                    return
                failures += 1
                if failures >= _POLL_FAILURES:
                    self.stop_polling(batch_id, record, error)
                    return
                interval = min(_MAX_POLL_INTERVAL, interval * 1.5)
                await anyio.sleep(interval)
                continue
            failures = 0
            counts = batch.request_counts
            done = (counts.completed or 0) + (counts.failed or 0) if counts is not None else 0
            total = counts.total if counts is not None and counts.total else len(record.keys)
            self.progress[batch_id] = (str(batch.status), done, total)
            self.update_waiting()
            if batch.status in _TERMINAL:
                await self.write_batch(batch_id, record, batch)
                self.progress.pop(batch_id, None)
                self.update_waiting()
                return
            seen = (batch.status, done)
            interval = (
                self.job.poll_interval if seen != last else min(_MAX_POLL_INTERVAL, interval * 1.5)
            )
            last = seen
            await anyio.sleep(interval)

    async def poll_failed(self, batch_id: str, record: _Record, error: OpenRouterError) -> None:
        """A poll refused for good: 401/402 stop the job (the batch stays recorded), 410 (the
        results are gone) makes error rows, 404 (the batch is unknown) leaves its rows to a
        later run; anything else stops polling this batch."""
        if isinstance(error, (UnauthorizedResponseError, PaymentRequiredResponseError)):
            self.stop_account(error)
        elif error.status_code == 410:
            await self.write_all_failed(record, batch_id, 410, error.message)
        elif error.status_code == 404:
            await self.lost(batch_id, record)
        else:
            self.stop_polling(batch_id, record, error)

    def stop_polling(self, batch_id: str, record: _Record, error: OpenRouterError) -> None:
        left = sum(1 for key in record.keys if self.todo.pop(key, None) is not None)
        stats = self.stats
        stats.not_started += left
        self.progress.pop(batch_id, None)
        self.update_waiting()
        if stats.stopped is None:
            stats.stopped = (
                f"cannot poll batch {batch_id} ({error}): it stays recorded, run the job again "
                f"to fetch its {left:,} rows"
            )
            stats.stopped_by = "batch_api"

    def update_waiting(self) -> None:
        if not self.progress:
            self.stats._batch_api_waiting = None
            return
        done = sum(done for _, done, _ in self.progress.values())
        total = sum(total for _, _, total in self.progress.values())
        statuses = sorted({status for status, _, _ in self.progress.values()})
        count = len(self.progress)
        self.stats._batch_api_waiting = (
            f"Batch API: {count} batch{'' if count == 1 else 'es'} {'/'.join(statuses)}, "
            f"{done:,} of {total:,} requests done (results come when a batch ends)"
        )

    def stop_account(self, error: OpenRouterError) -> None:
        stats = self.stats
        if stats.stopped is None:
            stats.stopped = f"{error} (the account, not a request: fix it and resume)"
            stats.stopped_by = "account"

    # -- rows ----------------------------------------------------------------------------------

    async def write_batch(self, batch_id: str, record: _Record, batch: Any) -> None:
        status = batch.status
        if status == "failed":
            message = batch.error.message if batch.error is not None else None
            await self.write_all_failed(
                record, batch_id, 400, f"the Batch API refused batch {batch_id}: {message}"
            )
            return
        missing = 0
        results = batch.results or []
        keys = [record.key_of(result.custom_id) for result in results]
        if results and any(key is None for key in keys):
            await self.not_ours(batch_id, record)
            return
        for key, result in zip(keys, results, strict=True):
            assert key is not None
            error = result.error
            kinds = (getattr(error, "type", None), getattr(error, "error_type", None))
            if (
                error is not None
                and status in ("expired", "cancelled")
                and any(isinstance(kind, str) and kind.startswith("batch_") for kind in kinds)
            ):
                missing += 1  # never ran, never charged: a later run submits it anew
                continue
            chat = record.data.get("endpoint", CHAT_ENDPOINT) == CHAT_ENDPOINT
            self.write_result(batch_id, key, result, chat=chat)
        if status in ("expired", "cancelled"):
            stats = self.stats
            left = missing + len(set(record.keys) - set(keys))
            if left:
                stats.not_started += left
                if stats.stopped is None:
                    stats.stopped = (
                        f"batch {batch_id} {status}: {left:,} of its requests did not run; "
                        "run the job again to submit them anew"
                    )
                    stats.stopped_by = "batch_api"
        record.data["state"] = "written"
        record.data["status"] = status
        await self.save()

    async def lost(self, batch_id: str, record: _Record) -> None:
        """A recorded batch the API does not know (deleted; or the CLI's built-in emulator,
        which forgets its batches when it stops): no row from it; the job stops, and a later
        run submits its rows again."""
        record.data.update(state="written", status="not found")
        await self.save()
        left = sum(1 for key in record.keys if self.todo.pop(key, None) is not None)
        stats = self.stats
        stats.not_started += left
        if stats.stopped is None:
            stats.stopped = (
                f"batch {batch_id} is not known to the API (404: deleted, or made by another "
                f"emulator): run again to submit its {left:,} rows"
            )
            stats.stopped_by = "batch_api"

    async def not_ours(self, batch_id: str, record: _Record) -> None:
        """An adopted batch whose results are not this job's (another job's batch looked the
        same in the list): no row from it; the job stops, a later run submits the rows."""
        record.data.update(state="written", status="adopted by mistake: not this job's")
        await self.save()
        left = sum(1 for key in record.keys if self.todo.pop(key, None) is not None)
        stats = self.stats
        stats.not_started += left
        if stats.stopped is None:
            stats.stopped = (
                f"batch {batch_id}, found in the list after a kill, is not this job's: "
                f"run again to submit its {left:,} rows"
            )
            stats.stopped_by = "batch_api"

    async def write_all_failed(
        self, record: _Record, batch_id: str, status: int, message: str
    ) -> None:
        for key in record.keys:
            self.write_row(
                key,
                batch_id,
                None,
                {"status_code": status, "message": message, "type": _error_type(status)},
            )
        record.data["state"] = "written"
        record.data["status"] = "failed" if status == 400 else f"gone ({status})"
        await self.save()

    def write_result(self, batch_id: str, key: str, result: Any, *, chat: bool = True) -> None:
        from ._convert import unstructure

        response = result.response
        if result.error is not None or response is None:
            error = result.error
            code = getattr(response, "status_code", None) if response is not None else None
            found = _error_status(error) if code is None or code < 400 else code
            self.write_row(
                key,
                batch_id,
                None,
                {
                    "status_code": found,
                    "message": getattr(error, "message", None) or "the request failed",
                    "type": _error_type(found),
                },
            )
            return
        body = response.body
        usage = getattr(body, "usage", None)
        row_extra: dict[str, Any] = {}
        error_json: dict[str, Any] | None = None
        schema = self.job.schema
        if schema is not None and chat:
            from ._batch import _error_json, _parsed_json
            from ._parse import parse_result

            try:
                row_extra["parsed"] = _parsed_json(parse_result(body, schema))
            except OpenRouterError as error:
                error_json = _error_json(error)
                row_extra.pop("parsed", None)
        self.count_usage(usage)
        self.write_row(
            key,
            batch_id,
            {"status_code": response.status_code or 200, "body": unstructure(body)},
            error_json,
            row_extra,
        )

    def count_usage(self, usage: Any) -> None:
        from ._batch import _number

        if usage is None:
            return
        stats = self.stats
        # (chat and embeddings: prompt/completion tokens; responses and messages: input/output)
        stats.prompt_tokens += _number(getattr(usage, "prompt_tokens", None)) or _number(
            getattr(usage, "input_tokens", None)
        )
        stats.completion_tokens += _number(getattr(usage, "completion_tokens", None)) or _number(
            getattr(usage, "output_tokens", None)
        )
        cost = _number(getattr(usage, "cost", 0.0))
        stats.cost += cost
        stats.batch_api_cost += cost
        stats.batch_api_live_cost += cost / BATCH_PRICE_FACTOR

    def write_row(
        self,
        key: str,
        batch_id: str,
        response: dict[str, Any] | None,
        error: dict[str, Any] | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        from ._batch import _error_kind

        item = self.todo.pop(key, None)
        if item is None:
            return  # (a row already written, or an id no longer in the input)
        stats = self.stats
        row: dict[str, Any] = {"custom_id": item.custom_id, "response": response}
        if extra and error is None:
            row.update(extra)
        row["error"] = error
        row["attempts"] = 1
        row["latency_ms"] = None
        row["route"] = "batch-api"
        row["batch_id"] = batch_id
        self.job._write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        stats._times.append(time.monotonic())
        stats.batch_api_rows += 1
        if error is not None:
            stats.failed += 1
            stats._count_error_row(item.custom_id, _error_kind(error))
        else:
            stats.done += 1

    # -- the whole route -----------------------------------------------------------------------

    async def run(self, submit: list[Item]) -> None:
        async with anyio.create_task_group() as group:
            for record in self.records:
                if record.state == "written":
                    continue
                if not any(key in self.todo for key in record.keys):
                    record.data["state"] = "written"  # (every row of it is there already)
                    continue
                if record.state == "submitting" and not await self.adopt(record):
                    # The request never reached the API: its ids are submitted again.
                    record.data["state"] = "written"
                    record.data["status"] = "never submitted"
                    for key in record.keys:
                        item = self.todo.get(key)
                        if item is not None:
                            submit.append(item)
                    continue
                if record.id is not None and record.id not in self.polling:
                    self.polling[record.id] = record
            for batch_id, record in list(self.polling.items()):
                group.start_soon(self.poll, batch_id, record)
            if self.stats.stopped is not None:
                self.stats.not_started += len(submit)
                return
            chunks = await self.within_budget(list(self.chunks(submit)))
            for where, rows in chunks:
                if self.stats.stopped is not None and self.stats.stopped_by == "account":
                    self.stats.not_started += len(rows)
                    continue
                try:
                    new_id = await self.submit(where, rows)
                except (UnauthorizedResponseError, PaymentRequiredResponseError) as error:
                    self.stop_account(error)
                    self.state["batches"][-1]["state"] = "written"
                    self.state["batches"][-1]["status"] = "refused"
                    await self.save()
                    self.stats.not_started += len(rows)
                    continue
                if new_id is not None:
                    group.start_soon(self.poll, new_id, self.polling[new_id])


def _error_status(error: Any) -> int | None:
    code = getattr(error, "code", None)
    return code if isinstance(code, int) else None


def _error_type(status: int | None) -> str:
    from .errors import _BY_STATUS

    found = _BY_STATUS.get(status) if status is not None else None
    return found.__name__ if found is not None else "BatchRequestError"


@contextlib.asynccontextmanager
async def routed_items(job: BatchJob, session: Session) -> AsyncIterator[Iterator[Item]]:
    """The items the job sends live; the Batch API's share (and every batch a killed run left
    recorded) is submitted, polled and written meanwhile, by a task this waits for on exit."""
    job_file = job._job_file
    state = job_file.data.get(STATE_KEY) if job_file is not None else None
    batches = state.get("batches") if isinstance(state, dict) else None
    # (a batch a killed run left unwritten is polled whatever the route asked for now)
    pending = isinstance(batches, list) and any(
        isinstance(entry, dict) and entry.get("state") != "written" for entry in batches
    )
    if job.via == "live" and not pending:
        yield job._items()  # today's behaviour: read lazily, one call per row
        return
    route = _Route(job, session)

    def plan() -> tuple[list[Item], list[Item]]:
        # (the whole input is read at once here: the Batch API's rows are grouped into
        # batches before any is submitted)
        return route.plan(list(job._items()), job.via)

    submit, live = await anyio.to_thread.run_sync(plan)
    async with anyio.create_task_group() as group:
        group.start_soon(route.run, submit)
        yield iter(live)


# -- the command line ---------------------------------------------------------------------------


def add_route_arguments(parser: Any) -> None:
    """``batch``'s route options (``argparse``)."""
    from .cli import _positive

    parser.add_argument(
        "--via",
        choices=ROUTES,
        default="live",
        help="how rows are sent: live (one call each, the default), batch-api (OpenRouter's "
        "Batch API: about half the price, results within 24 h; a killed job resumes by "
        "polling the same batches) or auto (the Batch API for what it takes, the rest live)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive(int, "a positive integer"),
        default=MAX_BATCH_REQUESTS,
        metavar="N",
        help=f"with --via batch-api/auto: requests per batch at most (default and limit "
        f"{MAX_BATCH_REQUESTS:,})",
    )
    parser.add_argument(
        "--poll-interval",
        type=_positive(float, "a positive number of seconds"),
        default=5.0,
        metavar="S",
        help="with --via batch-api/auto: seconds between polls of a batch at first (growing "
        f"by half while nothing changes, up to {_MAX_POLL_INTERVAL:g} s; default 5)",
    )


def route_options(args: Any) -> dict[str, Any]:
    """The BatchJob options of ``add_route_arguments``' arguments."""
    return {
        "via": getattr(args, "via", "live"),
        "batch_size": getattr(args, "batch_size", MAX_BATCH_REQUESTS),
        "poll_interval": getattr(args, "poll_interval", 5.0),
    }


def route_summary(stats: Any) -> list[str]:
    """The summary's lines about the Batch API (none when it was not used)."""
    if not (stats.batch_api_rows or stats.batch_api_batches):
        return []
    saved = stats.batch_api_live_cost - stats.batch_api_cost
    batches = stats.batch_api_batches
    return [
        f"  Batch API: {stats.batch_api_rows:,} rows ({batches:,} batch"
        f"{'' if batches == 1 else 'es'} submitted by this run), "
        f"${stats.batch_api_cost:.6f} at the batch price",
        f"    live, the same rows would have cost ${stats.batch_api_live_cost:.6f} "
        f"(${saved:.6f} saved)",
    ]
