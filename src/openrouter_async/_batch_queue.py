"""The work queue of a batch job run by many workers: a Redis Stream and its consumer group.

One job ``NAME`` is four keys under the hash tag ``{batch:NAME}`` (one Redis Cluster slot,
so that the ack script may touch them all):

- ``{batch:NAME}:lines`` — the stream: one entry per input line, with the explicit id
  ``<line number>-0`` and the fields ``n`` (the line number) and ``raw`` (its bytes). Explicit,
  increasing ids make the enqueue idempotent: Redis refuses an id not above the stream's last
  one (its last-generated id, kept when entries are deleted), so a second ``batch --queue``
  for the job (or one resuming an enqueue cut short) adds only the lines past the last one
  there — never a line twice. An entry is deleted once acknowledged (its row is durable), so
  the stream holds only the lines still to do.
- ``{batch:NAME}:meta`` — a hash: the job's settings (JSON, the first enqueuer's win),
  ``total`` and ``enqueued`` (``1`` once every line is in the stream).
- ``{batch:NAME}:done`` / ``:failed`` — hashes, rows per worker (consumer) name, counted by
  the ack script only for an entry that ``XACK`` really took out of the pending list (so a
  line done twice — its worker died after writing its row, before the ack — counts once).

The consumer group ``workers`` hands each line to one worker (``XREADGROUP``); the line stays
in the group's pending list until the worker ``XACK``\\ s it, after its row is fsync'ed in the
worker's part file. A worker that dies leaves its lines pending; another takes them over with
``XAUTOCLAIM`` once they have been idle ``claim_idle`` seconds (a live worker resets the idle
time of its lines in flight with ``XCLAIM ... JUSTID`` every ``claim_idle / 3``).

redis-py's sync client, called from worker threads by the async side (it serves asyncio and
trio alike, as in :mod:`._budget`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import redis

__all__ = [
    "DEFAULT_CLAIM_IDLE",
    "GROUP",
    "JobQueue",
    "QueueError",
    "QueueStatus",
    "WorkerStatus",
    "add_batch_arguments",
]

GROUP = "workers"
#: Seconds a line stays with a silent worker before another takes it over.
DEFAULT_CLAIM_IDLE = 30.0
_CHUNK = 1000  # lines per pipeline when enqueuing

# Acknowledge entries, count each one XACK really removed, and delete it from the stream (its
# row is durable: the stream then holds only the lines still to do). KEYS: stream, done,
# failed; ARGV: group, consumer, then pairs of entry id and "1" for an error row / "0".
_ACK = """
local acked = 0
for i = 3, #ARGV, 2 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    acked = acked + 1
    if ARGV[i + 1] == '1' then
      redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
    else
      redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
    end
  end
end
return acked
"""


class QueueError(Exception):
    """The job's queue cannot be used (no redis client, Redis unreachable)."""


def unreachable() -> tuple[type[BaseException], ...]:
    """What redis-py raises when the server cannot be reached."""
    import redis

    return (redis.ConnectionError, redis.TimeoutError)


def check_job_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ValueError(f"--job: a non-empty name of at most 200 characters, got {name!r}")
    if "{" in name or "}" in name or not name.isprintable():
        raise ValueError(f"--job: no braces or control characters in the name, got {name!r}")
    return name


@attrs.frozen
class WorkerStatus:
    name: str
    done: int
    failed: int
    in_flight: int  #: lines delivered to it and not acknowledged
    idle: float  #: seconds since it last talked to the group


@attrs.frozen
class QueueStatus:
    job: str
    total: int
    enqueued: bool
    workers: tuple[WorkerStatus, ...]

    @property
    def done(self) -> int:
        return sum(worker.done for worker in self.workers)

    @property
    def failed(self) -> int:
        return sum(worker.failed for worker in self.workers)

    @property
    def in_flight(self) -> int:
        return sum(worker.in_flight for worker in self.workers)

    @property
    def pending(self) -> int:
        """Lines no worker has taken yet."""
        return max(0, self.total - self.done - self.failed - self.in_flight)

    @property
    def finished(self) -> bool:
        return self.enqueued and self.done + self.failed >= self.total


class JobQueue:
    """The queue of job ``name`` on the Redis at ``url`` (see the module docstring)."""

    def __init__(self, url: str, job: str, *, timeout: float = 5.0) -> None:
        try:
            import redis as redis_module
        except ImportError:
            raise QueueError(
                "a job on Redis needs the redis client: pip install 'openrouter-async[redis]'"
            ) from None

        self.job = check_job_name(job)
        self.url = url
        self.client: redis.Redis = redis_module.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        tag = "{batch:" + job + "}"
        self.stream = f"{tag}:lines"
        self.meta = f"{tag}:meta"
        self.done_key = f"{tag}:done"
        self.failed_key = f"{tag}:failed"
        self._ack = self.client.register_script(_ACK)

    def close(self) -> None:
        self.client.close()

    # -- the enqueuer ------------------------------------------------------------------------

    def settings(self) -> dict[str, Any] | None:
        raw = self.client.hget(self.meta, "settings")
        if raw is None:
            return None
        loaded: dict[str, Any] = json.loads(raw)
        return loaded

    def enqueue(self, lines: Iterable[tuple[int, bytes]], settings: dict[str, Any]) -> int:
        """Add the lines past the stream's last one (see the module docstring) and create
        the group; store ``settings`` unless the job has some already. Returns the lines
        added by this call (0 for a job already enqueued)."""
        import redis as redis_module

        client = self.client
        client.hsetnx(self.meta, "settings", json.dumps(settings))
        try:
            client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis_module.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        if client.hget(self.meta, "enqueued") == b"1":
            return 0
        # (The stream's last id, kept when entries are deleted: where a cut enqueue goes on.)
        info: Any = client.xinfo_stream(self.stream)
        after = int(_text(info["last-generated-id"]).split("-")[0])
        added = total = 0
        pipe = client.pipeline(transaction=False)
        for number, raw in lines:
            total += 1
            if number <= after:
                continue
            pipe.xadd(self.stream, {"n": number, "raw": raw}, id=f"{number}-0")
            if len(pipe) >= _CHUNK:
                added += _count_added(pipe.execute(raise_on_error=False))
        added += _count_added(pipe.execute(raise_on_error=False))
        client.hset(self.meta, mapping={"total": total, "enqueued": 1})
        return added

    # -- a worker ----------------------------------------------------------------------------

    def read(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, int, bytes]]:
        """New lines for ``consumer`` (up to ``count``; waits up to ``block_ms``)."""
        reply: Any = self.client.xreadgroup(
            GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        found: list[tuple[str, int, bytes]] = []
        for _stream, entries in reply or ():
            found.extend(_entries(entries))
        return found

    def claim(
        self, consumer: str, idle: float, count: int, start: str = "0-0"
    ) -> tuple[str, list[tuple[str, int, bytes]]]:
        """Lines idle for ``idle`` seconds in other workers' hands (dead ones'), now this
        consumer's: up to ``count``, scanning the pending list from ``start``. Returns where
        the next scan goes on (``"0-0"``: the whole list was scanned) and the lines."""
        reply: Any = self.client.xautoclaim(
            self.stream,
            GROUP,
            consumer,
            min_idle_time=int(idle * 1000),
            start_id=start,
            count=count,
        )
        return _text(reply[0]), list(_entries(reply[1]))

    def touch(self, consumer: str, ids: list[str]) -> None:
        """Reset the idle time of this consumer's lines in flight (not claimed by others)."""
        if ids:
            entries: list[Any] = list(ids)
            self.client.xclaim(self.stream, GROUP, consumer, 0, entries, justid=True)

    def ack(self, consumer: str, rows: list[tuple[str, bool]]) -> int:
        """Acknowledge entries whose rows are durable (id, is an error row); count them."""
        if not rows:
            return 0
        args: list[Any] = [GROUP, consumer]
        for entry, failed in rows:
            args += [entry, "1" if failed else "0"]
        acked: int = self._ack(keys=[self.stream, self.done_key, self.failed_key], args=args)
        return acked

    def unfinished(self) -> int:
        """Lines not acknowledged yet, taken or not (-1: the enqueue is not done)."""
        meta = self.client.hmget(self.meta, ["enqueued", "total"])
        if meta[0] != b"1":
            return -1
        return max(0, int(meta[1] or 0) - self._acked_total())

    def _acked_total(self) -> int:
        pipe = self.client.pipeline(transaction=False)
        pipe.hvals(self.done_key)
        pipe.hvals(self.failed_key)
        done, failed = pipe.execute()
        return sum(int(v) for v in done) + sum(int(v) for v in failed)

    # -- status ------------------------------------------------------------------------------

    def status(self) -> QueueStatus:
        client = self.client
        meta: Any = client.hgetall(self.meta)
        if not meta:
            raise LookupError(f"no batch job {self.job!r} on this Redis")
        done_counts: Any = client.hgetall(self.done_key)
        failed_counts: Any = client.hgetall(self.failed_key)
        done = {_text(k): int(v) for k, v in done_counts.items()}
        failed = {_text(k): int(v) for k, v in failed_counts.items()}
        consumers: Any = []
        if client.exists(self.stream):
            consumers = client.xinfo_consumers(self.stream, GROUP)
        workers: dict[str, WorkerStatus] = {}
        for consumer in consumers:
            name = _text(consumer["name"])
            workers[name] = WorkerStatus(
                name,
                done.get(name, 0),
                failed.get(name, 0),
                int(consumer["pending"]),
                int(consumer["idle"]) / 1000,
            )
        for name in set(done) | set(failed):
            if name not in workers:
                workers[name] = WorkerStatus(name, done.get(name, 0), failed.get(name, 0), 0, 0)
        return QueueStatus(
            self.job,
            int(meta.get(b"total", 0)),
            meta.get(b"enqueued") == b"1",
            tuple(sorted(workers.values(), key=lambda worker: worker.name)),
        )

    def delete(self) -> None:
        """Forget the job (its stream, counts and settings)."""
        self.client.delete(self.stream, self.meta, self.done_key, self.failed_key)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(entries: Any) -> Iterator[tuple[str, int, bytes]]:
    for entry_id, fields in entries:
        if not fields:  # (an entry deleted meanwhile)
            continue
        yield _text(entry_id), int(fields[b"n"]), bytes(fields[b"raw"])


def _count_added(replies: list[Any]) -> int:
    # (An id not above the stream's last: another enqueuer added that line. Not an error.)
    return sum(1 for reply in replies if not isinstance(reply, Exception))


def add_batch_arguments(batch: argparse.ArgumentParser) -> None:
    """The fleet options of ``batch`` (:mod:`._batch_workers`; here, so that the CLI
    parser does not load the batch job)."""
    fleet = batch.add_argument_group("many workers (Redis)")
    fleet.add_argument(
        "--workers", type=int, default=None, metavar="N", help="start N local worker processes"
    )
    fleet.add_argument(
        "--queue",
        default=None,
        metavar="URL",
        help="the job's work queue on this Redis (a stream): workers anywhere join it with "
        "'batch worker --queue URL --job NAME'",
    )
    fleet.add_argument("--job", default=None, metavar="NAME", help="the job's name on --queue")
    fleet.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="share --rpm/--tpm/--max-cost/--concurrency with every process naming --budget "
        "on this Redis (default with --queue: the queue's Redis)",
    )
    fleet.add_argument("--budget", default=None, metavar="NAME", help="the shared budget's name")
    fleet.add_argument(
        "--claim-idle",
        type=float,
        default=DEFAULT_CLAIM_IDLE,
        metavar="S",
        help="take over a dead worker's lines once idle this long (default 30 s)",
    )
