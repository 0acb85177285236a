"""The batch command's progress display, on stderr (stdout keeps only the summary).

- On a terminal: a live display built on ``rich.progress`` (bar, done/total, percentage,
  current rate, ETA, elapsed time), then a line of counts (ok, errors, retries, tokens, cost)
  and, while the job is held back, what holds it (``BatchStats.waiting``: a cool-down with its
  seconds left, the rate limits, a concurrency cut, retries backing off, a stop).
- Elsewhere (a CI log, ``nohup``, a pipe): the same facts as one plain line every few
  seconds (:func:`progress_line`), so that a log shows the job is alive and what it waits on.

The display reads the job's live :class:`~._batch.BatchStats` from its own thread (rich's
refresh thread, or ours for the plain lines): reading a few counters needs no lock.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.progress import Task

    from ._batch import BatchStats

__all__ = ["batch_progress", "duration", "progress_line"]

#: Seconds between two plain progress lines.
DEFAULT_INTERVAL = 5.0


def duration(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``; ``-`` for unknown."""
    if seconds is None:
        return "-"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _finished(stats: BatchStats) -> int:
    return stats.skipped + stats.duplicates + stats.written


def _counts(stats: BatchStats) -> str:
    text = (
        f"{stats.done:,} ok, {stats.failed:,} errors, {stats.retries:,} retries "
        f"({stats.rate_limited:,} x 429), tokens {stats.prompt_tokens:,} in / "
        f"{stats.completion_tokens:,} out, ${stats.cost:,.4f}"
    )
    if stats.skipped:
        text += f", {stats.skipped:,} already done"
    return text


def progress_line(stats: BatchStats) -> str:
    """One plain line: where the job is, how fast, what it waits on."""
    total = stats.total
    finished = _finished(stats)
    where = f"{finished:,}/{total:,} ({100 * finished / total:.0f}%)" if total else "reading"
    line = (
        f"batch: {where} | {_counts(stats)} | {stats.current_rate:,.1f} req/s, "
        f"ETA {duration(stats.eta)}, elapsed {duration(stats.running_time)}"
    )
    waiting = stats.waiting
    return f"{line} | {waiting}" if waiting else line


@contextlib.contextmanager
def batch_progress(
    stats: BatchStats,
    *,
    stream: TextIO | None = None,
    interval: float = DEFAULT_INTERVAL,
    live: bool | None = None,
) -> Iterator[None]:
    """Show the job's progress on ``stream`` (stderr) while the block runs: live on a
    terminal, else (or with ``live=False``) a plain line every ``interval`` seconds."""
    from rich.console import Console

    stream = stream if stream is not None else sys.stderr
    console = Console(file=stream)
    if live is None:
        live = console.is_terminal
    if live:
        with _live_display(stats, console):
            yield
        return
    stop = threading.Event()

    def lines() -> None:
        while not stop.wait(interval):
            print(progress_line(stats), file=stream, flush=True)

    thread = threading.Thread(target=lines, name="openrouter-batch-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _live_display(stats: BatchStats, console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{stats.current_rate:,.1f} req/s")

    class Eta(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"ETA {duration(stats.eta)}", style="progress.remaining")

    class Elapsed(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"elapsed {duration(stats.running_time)}", style="progress.elapsed")

    class Percent(ProgressColumn):
        def render(self, task: Task) -> Text:
            total = stats.total
            shown = f"{100 * _finished(stats) / total:.0f}%" if total else "reading"
            return Text(shown, style="progress.percentage")

    class Display(Progress):
        """The task row from rich's columns, then the counts and the waiting state."""

        def get_renderables(self) -> Iterable[RenderableType]:
            for row in self.tasks:  # (none while rich builds its Live, before add_task)
                self.update(row.id, total=stats.total or None, completed=_finished(stats))
            yield self.make_tasks_table(self.tasks)
            counts = Text(_counts(stats))
            if stats.failed:
                counts.highlight_words([f"{stats.failed:,} errors"], style="red")
            yield counts
            waiting = stats.waiting
            if waiting:
                yield Text(waiting, style="yellow")

    display = Display(
        BarColumn(bar_width=40),
        MofNCompleteColumn(),
        Percent(),
        Rate(),
        Eta(),
        Elapsed(),
        console=console,
        transient=True,
        refresh_per_second=8,
    )
    display.add_task("batch", total=None)
    return display
