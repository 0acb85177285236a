"""The ``openrouter-async`` command.

    openrouter-async batch requests.jsonl -o results.jsonl   # a resumable batch job
    openrouter-async batch in.jsonl -o out.jsonl --schema myapp.models:City  # structured
    openrouter-async chat "Explain quantum computing"        # streams the answer
    openrouter-async emulator --port 8080                    # a local OpenRouter

Without ``OPENROUTER_API_KEY`` (and without ``--base-url`` / ``OPENROUTER_BASE_URL``), ``batch``
and ``chat`` start the built-in emulator on loopback and talk to it, so they work anywhere
(``--emulator`` forces it).

``batch`` exits with a status that says how the job went (``EXIT_*`` below; the table is in
``openrouter-async batch --help``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._batch import BatchStats

__all__ = ["main"]

_EMULATOR_KEY = "sk-or-emulator"

#: ``batch`` exit statuses (:func:`exit_status`).
EXIT_OK = 0
EXIT_CANNOT_START = 1
EXIT_USAGE = 2
EXIT_MAX_COST = 3
EXIT_FINAL_ERRORS = 4
EXIT_TRANSIENT_ERRORS = 5
EXIT_ACCOUNT = 6
EXIT_BATCH_API = 7
EXIT_INTERRUPTED = 130
_BATCH_EXIT_STATUS = """\
exit status:
    0    every request has its row, and every row is an answer (input lines that could not
         be sent aside: they were reported before anything was sent, and have error rows)
    1    the job could not start, nothing was sent: a file cannot be used, the output is
         being written by another job, or it holds rows from another target (--force)
    2    a bad option
    3    stopped at --max-cost; run again (with a new cap) to do the rest
    4    done, but the output has final error rows (the API refused those requests)
    5    done, but the output has transient error rows (no answer, 408, 429, 5xx): run again
         with --retry-errors
    6    stopped by an account error (401 a bad key, 402 no credits): fix it, run again
    7    --via batch-api/auto: a batch ended (expired, cancelled) before some of its
         requests ran, or the Batch API did not take one; run again to submit those
    130  interrupted (Ctrl-C); run again to resume
"""


@contextlib.contextmanager
def _target(base_url: str | None, *, emulator: bool = False) -> Iterator[tuple[str, str, bool]]:
    """Yield (base_url, api_key, emulated): the real API when a key is set, else (or with
    ``emulator``) the built-in emulator."""
    key = os.environ.get("OPENROUTER_API_KEY")
    url = base_url or os.environ.get("OPENROUTER_BASE_URL")
    if (key or url) and not emulator:
        yield url or "https://openrouter.ai/api/v1", key or _EMULATOR_KEY, False
        return
    from .emulator import serve_in_thread

    with serve_in_thread() as emulator_url:
        yield emulator_url, _EMULATOR_KEY, True


def _chat(args: argparse.Namespace) -> int:
    from . import OpenRouter
    from .errors import OpenRouterError

    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": " ".join(args.prompt)})
    with _target(args.base_url) as (base_url, api_key, emulated):
        if emulated:
            print(
                f"(no OPENROUTER_API_KEY: using the built-in emulator at {base_url})",
                file=sys.stderr,
            )
        try:
            with OpenRouter(api_key=api_key, server_url=base_url) as client:
                if args.no_stream:
                    result = client.chat.send(model=args.model, messages=messages)
                    message = result.choices[0].message if result.choices else None
                    print(message.content if message is not None else None)
                    return 0
                with client.chat.send(model=args.model, messages=messages, stream=True) as events:
                    for event in events:
                        delta = event.choices[0].delta if event.choices else None
                        if delta is not None and delta.content:
                            print(delta.content, end="", flush=True)
                print()
        except OpenRouterError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


def _load_class(spec: str) -> Any:
    """``module:Class`` (or ``path/to/file.py:Class``; ``Outer.Inner`` for a nested class)
    → the class. The current directory is importable, as ``python -m`` makes it."""
    import importlib
    import importlib.util

    module_name, sep, qualname = spec.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"--schema takes module:Class, got {spec!r}")
    if module_name.endswith(".py") or os.sep in module_name:
        path = os.path.abspath(module_name)
        if not os.path.isfile(path):
            raise ValueError(f"--schema: no such file: {module_name}")
        name = os.path.splitext(os.path.basename(path))[0]
        loaded = importlib.util.spec_from_file_location(name, path)
        if loaded is None or loaded.loader is None:
            raise ValueError(f"--schema: cannot import {module_name}")
        module = importlib.util.module_from_spec(loaded)
        sys.modules[name] = module  # (its classes' annotations are resolved through it)
        loaded.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(f"--schema: cannot import {module_name!r}: {error}") from None
    target: Any = module
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"--schema: {module_name} has no {qualname!r}") from None
    return target


def _batch(args: argparse.Namespace) -> int:
    import anyio
    import attrs

    from ._batch_workers import budget_options, run_fleet

    if args.workers is not None or args.queue is not None:
        return run_fleet(args)  # many worker processes on one job
    from ._batch import DEFAULT_BATCH_RETRIES, BatchError, BatchJob
    from ._batch_progress import batch_progress
    from ._batch_provenance import EMULATOR
    from ._batch_route import route_options
    from ._session import Session

    try:
        schema = _load_class(args.schema) if args.schema else None
        job = BatchJob(
            args.input,
            args.output,
            model=args.model,
            concurrency=args.concurrency,
            max_cost=args.max_cost,
            retries=attrs.evolve(DEFAULT_BATCH_RETRIES, max_attempts=args.max_attempts),
            stream=args.stream,
            schema=schema,
            strict_schema=not args.loose_schema,
            force=args.force,
            retry_errors=args.retry_errors,
            **route_options(args),  # --via, --batch-size, --poll-interval
        )
    except ValueError as error:  # RequestValidationError too: a class with no JSON schema
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    # Before anything is started or sent: the files, and every line of the input.
    try:
        job.check()
    except BatchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CANNOT_START
    for warning in job.stats.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    with _target(args.base_url, emulator=args.emulator) as (base_url, api_key, emulated):
        if emulated:
            print(f"(using the built-in emulator at {base_url})", file=sys.stderr)
            job.target = EMULATOR
        # The Session's cap is the job's concurrency, so that it adapts: halved on a 429,
        # grown back while calls succeed.
        options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "max_concurrency": args.concurrency,
            "rpm": args.rpm,
            "tpm": args.tpm,
        }
        options.update(budget_options(args))  # --redis URL --budget NAME: shared limits

        async def run() -> BatchStats:
            async with Session(**options) as session:
                return await job.run(session)

        try:
            with batch_progress(job.stats, interval=args.progress_interval):
                stats = anyio.run(run, backend=args.backend)
        except (BatchError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_CANNOT_START
        except BaseException as error:
            if not _interrupted(error):
                raise
            print(
                f"interrupted: {job.stats.written} rows written to {args.output}; "
                "run the same command again to resume",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
    print(_summary(stats, args.output))
    return exit_status(stats)


def exit_status(stats: BatchStats) -> int:
    """The ``batch`` command's exit status for a job that ran (``EXIT_*``)."""
    if stats.stopped is not None and stats.remaining:
        if stats.stopped_by == "batch_api":
            return EXIT_BATCH_API
        return EXIT_MAX_COST if stats.stopped_by == "max_cost" else EXIT_ACCOUNT
    if stats.transient_error_rows:
        return EXIT_TRANSIENT_ERRORS
    if stats.final_error_rows:
        return EXIT_FINAL_ERRORS
    return EXIT_OK


def _interrupted(error: BaseException) -> bool:
    """Ctrl-C, possibly inside exception groups (trio raises it in whichever task runs)."""
    if isinstance(error, KeyboardInterrupt):
        return True
    inner: Sequence[BaseException] = getattr(error, "exceptions", None) or ()
    return bool(inner) and all(_interrupted(e) for e in inner)


def _summary(stats: BatchStats, output: str) -> str:
    if stats.complete:
        head = f"batch: {output} complete"
    else:
        head = f"batch: stopped ({stats.stopped}); {stats.remaining:,} requests left"
    lines = [
        f"{head}: {stats.done:,} ok, {stats.failed:,} errors, "
        f"{stats.skipped:,} already done (of {stats.total:,})",
        f"  {stats.retries:,} retries ({stats.rate_limited:,} x 429), tokens "
        f"{stats.prompt_tokens:,} prompt / {stats.completion_tokens:,} completion, "
        f"cost ${stats.cost:.6f}, {stats.requests_per_second:,.1f} req/s, "
        f"{stats.elapsed:.2f} s",
    ]
    from ._batch_route import route_summary

    lines.extend(route_summary(stats))
    if stats.retried_errors:
        lines.append(
            f"  retried {stats.retried_errors:,} transient error rows of an earlier run "
            "(--retry-errors)"
        )
    if stats.error_rows:
        parts = []
        if stats.transient_error_rows:
            parts.append(
                f"{stats.transient_error_rows:,} transient (no answer, 408, 429, 5xx: run "
                "again with --retry-errors to redo them)"
            )
        if stats.final_error_rows:
            parts.append(f"{stats.final_error_rows:,} final (the API refused the request)")
        if stats.refused_rows:
            parts.append(f"{stats.refused_rows:,} input lines that could not be sent")
        ids = ", ".join(str(custom_id) for custom_id in stats.error_ids)
        more = ", ..." if stats.error_rows > len(stats.error_ids) else ""
        lines.append(f"  {stats.error_rows:,} error rows in {output}: " + "; ".join(parts))
        lines.append(
            f"  their ids: {ids}{more}; list them with: jq -c 'select(.error)' {_quoted(output)}"
        )
    if stats.duplicates:
        where = ", ".join(str(n) for n in stats.duplicate_lines)
        lines.append(
            f"  warning: {stats.duplicates:,} lines repeat an earlier line's id "
            f"(lines {where}{', ...' if stats.duplicates > len(stats.duplicate_lines) else ''})"
            ": not sent, no row"
        )
    if stats.truncated_bytes:
        lines.append(
            f"  (cut a partial last row of {stats.truncated_bytes} bytes left by an "
            "interrupted run; it was redone)"
        )
    if stats.target is not None:
        lines.append(f"  rows from {stats.target.describe()}, recorded in {output}.job.json")
    if not stats.complete:
        lines.append("  run the same command again to resume")
    return "\n".join(lines)


def _quoted(path: str) -> str:
    import shlex

    return shlex.quote(path)


def _positive(kind: type[int] | type[float], what: str) -> Any:
    """An argparse type: a positive (finite) number, else a clean usage error."""

    def convert(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (0 < value < math.inf):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    convert.__name__ = what  # (what argparse names in its own messages)
    return convert


#: Attempts per request of the batch command (``_batch.DEFAULT_BATCH_RETRIES``'s; not
#: imported from there, so that ``chat`` does not load the batch job).
DEFAULT_MAX_ATTEMPTS = 6


def _emulator(args: argparse.Namespace) -> int:
    from .emulator._server import run

    return run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openrouter-async",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    batch = commands.add_parser(
        "batch",
        help="run a JSONL file of chat requests, resumably",
        description="Send every request of INPUT (JSONL: chat bodies, or OpenAI batch lines\n"
        "{custom_id, method, url, body}) and write one row per request to OUTPUT.\n"
        "Re-running with the same OUTPUT resumes: ids that have a row are skipped.\n"
        "OUTPUT.job.json records where the rows came from; a run against another\n"
        "base URL or --model is refused (--force). Progress goes to stderr, the\n"
        "summary to stdout.",
        epilog=_BATCH_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument("input", metavar="INPUT.jsonl", help="one request per line")
    batch.add_argument(
        "-o", "--output", required=True, metavar="OUTPUT.jsonl", help="one row per request"
    )
    batch.add_argument("--model", default=None, help="set (override) every request's model")
    batch.add_argument(
        "--concurrency",
        type=_positive(int, "a positive integer"),
        default=64,
        metavar="N",
        help="calls in flight at most (default 64); halved on a 429, grown back after",
    )
    batch.add_argument(
        "--rpm",
        type=_positive(float, "a positive number"),
        default=None,
        metavar="R",
        help="requests per minute (paced)",
    )
    batch.add_argument(
        "--tpm",
        type=_positive(float, "a positive number"),
        default=None,
        metavar="T",
        help="tokens per minute (estimated before each call, corrected from its usage)",
    )
    batch.add_argument(
        "--max-cost",
        type=_positive(float, "a positive amount of USD (no --max-cost: no cap)"),
        default=None,
        metavar="USD",
        help="stop starting calls once this run has cost this much (resume later); "
        "calls in flight finish, so the total may pass it by what they cost",
    )
    batch.add_argument(
        "--max-attempts",
        type=_positive(int, "a positive integer"),
        default=DEFAULT_MAX_ATTEMPTS,
        metavar="N",
        help=f"attempts per request, retries included (default {DEFAULT_MAX_ATTEMPTS})",
    )
    batch.add_argument(
        "--retry-errors",
        action="store_true",
        help="redo the output's transient error rows (no answer, 408, 429, 5xx); final "
        "ones (400, 403, 404...) are kept",
    )
    batch.add_argument(
        "--force",
        action="store_true",
        help="add rows to an output whose rows came from another base URL or --model (or "
        "whose job file is missing)",
    )
    batch.add_argument(
        "--stream",
        action="store_true",
        help="stream every call (each row is still the whole answer); bodies with "
        '"stream": true are always streamed',
    )
    batch.add_argument(
        "--schema",
        default=None,
        metavar="MODULE:CLASS",
        help="structured outputs: ask every request for this class's JSON schema (an attrs "
        "class, dataclass, pydantic model or TypedDict; module:Class or file.py:Class) and "
        'write each answer read into it as the row\'s "parsed"',
    )
    batch.add_argument(
        "--loose-schema",
        action="store_true",
        help="with --schema: a plain JSON schema (fields with defaults not required) "
        "instead of a strict one",
    )
    batch.add_argument(
        "--progress-interval",
        type=_positive(float, "a positive number of seconds"),
        default=5.0,
        metavar="S",
        help="when stderr is not a terminal: a progress line every S seconds (default 5)",
    )
    batch.add_argument("--emulator", action="store_true", help="run against the built-in emulator")
    batch.add_argument("--base-url", default=None, help="API base URL (default: OpenRouter)")
    batch.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    from ._batch_route import add_route_arguments

    add_route_arguments(batch)  # --via live|batch-api|auto, --batch-size, --poll-interval
    from ._batch_queue import add_batch_arguments

    add_batch_arguments(batch)  # --workers, --queue/--job, --redis/--budget
    batch.set_defaults(run=_batch)

    chat = commands.add_parser("chat", help="send one chat message and stream the answer")
    chat.add_argument("prompt", nargs="+", help="the user message")
    chat.add_argument("--model", default="openai/gpt-4o-mini")
    chat.add_argument("--system", default=None, help="a system message")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    chat.add_argument("--base-url", default=None, help="API base URL (default: OpenRouter)")
    chat.set_defaults(run=_chat)

    emulator = commands.add_parser(
        "emulator",
        help="serve a local OpenRouter emulator",
        description="Serve a local emulator of the OpenRouter API (/api/v1/...).",
    )
    from .emulator._server import add_arguments

    add_arguments(emulator)
    emulator.set_defaults(run=_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["batch"] and words[1:2] in (["worker"], ["status"]):
        from ._batch_workers import main as fleet_main  # (its own subcommands)

        return fleet_main(words[1:])
    args = _parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
