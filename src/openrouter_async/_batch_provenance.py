"""Where a batch output's rows came from: the *job file* next to the output.

``results.jsonl`` stays one JSONL file with one row per id (its readers need not know about
any of this); ``results.jsonl.job.json`` records the job::

    {"format": 1,
     "target": {"base_url": "emulator", "model": null, "route": "live"},
     "runs": [{"started": "2025-06-01T12:00:00+00:00", "target": {...}, "forced": false,
               "retry_errors": false, "finished": "...", "written": 52, "errors": 2,
               "cost": 0.0046, "stopped": null}]}

- ``target`` is where the rows come from: ``base_url`` (the API's base URL, credentials
  redacted, or ``"emulator"`` for the CLI's built-in emulator, whose port changes from run to
  run), ``model`` (the ``--model`` every request was set to, or ``null``: each line's own) and
  ``route`` (``"live"``: one call per row; ``"batch-api"`` / ``"auto"``: through OpenRouter's
  Batch API, see :mod:`._batch_route`; each such row also says ``"route": "batch-api"``). A
  run that would add rows from another ``base_url`` or ``model`` than the rows already there
  is refused unless forced; the route may change (the same API and models, another way to
  reach them).
- ``runs`` is the history (the last 100 runs): who wrote what, and which runs were forced.

The file is replaced whole (a temporary file renamed over it) while the job holds the output's
lock, so it is never half-written. Keys this version does not know are kept as they are, so
that a later job can add its own state here: the Batch API route keeps its batches under
``"batch_api"`` (``{"batches": [{"id", "state", "endpoint", "model", "custom_ids", "nonce",
...}]}``), recorded before each batch is submitted and again with its id, so that a resumed
job polls them instead of paying for them twice.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import attrs
import orjson

__all__ = ["EMULATOR", "JOB_FILE_SUFFIX", "JobFile", "Target"]

JOB_FILE_SUFFIX = ".job.json"
#: The ``base_url`` recorded for the CLI's built-in emulator.
EMULATOR = "emulator"
FORMAT = 1
_KEPT_RUNS = 100


@attrs.frozen
class Target:
    """Where a run's rows come from (see the module docstring)."""

    base_url: str
    model: str | None = None
    route: str = "live"

    def as_json(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model, "route": self.route}

    @classmethod
    def from_json(cls, data: Any) -> Target | None:
        if not isinstance(data, dict) or not isinstance(data.get("base_url"), str):
            return None
        model = data.get("model")
        route = data.get("route")
        return cls(
            data["base_url"],
            model if isinstance(model, str) else None,
            route if isinstance(route, str) else "live",
        )

    def describe(self) -> str:
        where = "the built-in emulator" if self.base_url == EMULATOR else self.base_url
        model = f"--model {self.model}" if self.model else "each line's model"
        return f"{where} ({model}; route: {self.route})"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class JobFile:
    """The job file of one output (read, checked and rewritten by the job that holds the
    output's lock)."""

    def __init__(self, output_path: str) -> None:
        self.path = output_path + JOB_FILE_SUFFIX
        #: Where the file is written before it is renamed over the old one.
        self.temporary_path = self.path + ".tmp"
        self.data: dict[str, Any] = {}

    def load(self) -> str | None:
        """Read the file (absent: nothing recorded); return why it cannot be used, or None."""
        try:
            with open(self.path, "rb") as file:
                raw = file.read()
        except FileNotFoundError:
            self.data = {}
            return None
        except OSError as error:
            return f"cannot read the job file {self.path}: {error.strerror or error}"
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            return f"{self.path} is not a batch job file (not a JSON object): fix or remove it"
        self.data = data
        return None

    @property
    def target(self) -> Target | None:
        """The target of the rows already written, as recorded."""
        return Target.from_json(self.data.get("target"))

    def refusal(self, target: Target, rows: int, output: str) -> str | None:
        """Why ``target`` must not add rows to an output that has ``rows`` (None: it may)."""
        if rows == 0:
            return None  # nothing to mix with (a file left by a job that wrote nothing)
        recorded = self.target
        rows_text = f"{output} has {rows:,} row{'' if rows == 1 else 's'}"
        how = (
            f"write to another output (-o), delete {output} and {self.path} to start over, "
            "or pass --force (force=True) to keep those rows and add this run's"
        )
        if recorded is None:
            return (
                f"{rows_text} but no job file ({self.path}) saying where they came from (an "
                f"older version wrote them, or the file was removed), so this run against "
                f"{target.describe()} cannot tell whether it would mix answers: {how}"
            )
        if recorded.base_url != target.base_url:
            return (
                f"{rows_text} from {_where(recorded)}, and this run is against "
                f"{_where(target)}: resuming would mix the two in one output; {how}"
            )
        if recorded.model != target.model:
            return (
                f"{rows_text} made with {_model(recorded)}, and this run has "
                f"{_model(target)}: resuming would mix the two in one output; {how}"
            )
        return None

    def start_run(self, target: Target, *, forced: bool, retry_errors: bool) -> None:
        data = self.data
        data["format"] = FORMAT
        data["target"] = target.as_json()
        runs = data.get("runs")
        if not isinstance(runs, list):
            runs = []
        runs.append(
            {
                "started": _now(),
                "target": target.as_json(),
                "forced": forced,
                "retry_errors": retry_errors,
                "finished": None,
            }
        )
        data["runs"] = runs[-_KEPT_RUNS:]
        self.write()

    def finish_run(self, summary: dict[str, Any]) -> None:
        runs = self.data.get("runs")
        if not isinstance(runs, list) or not runs or not isinstance(runs[-1], dict):
            return
        runs[-1].update(summary, finished=_now())
        self.write()

    def write(self) -> None:
        """Replace the file whole: write a temporary file, then rename it over the old one."""
        temporary = self.temporary_path
        data = orjson.dumps(self.data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)


def _where(target: Target) -> str:
    return "the built-in emulator" if target.base_url == EMULATOR else target.base_url


def _model(target: Target) -> str:
    return f"--model {target.model}" if target.model else "no --model (each line's model)"
