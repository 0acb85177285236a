"""The ``openrouter-async`` command.

    openrouter-async batch requests.jsonl -o results.jsonl   # a resumable batch job
    openrouter-async batch in.jsonl -o out.jsonl --schema myapp.models:City  # structured
    openrouter-async chat "Explain quantum computing"        # streams the answer
    openrouter-async emulator --port 8080                    # a local OpenRouter

Without ``OPENROUTER_API_KEY`` (and without ``--base-url`` / ``OPENROUTER_BASE_URL``), ``batch``
and ``chat`` start the built-in emulator on loopback and talk to it, so they work anywhere
(``--emulator`` forces it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ._batch import BatchStats

__all__ = ["main"]

_EMULATOR_KEY = "sk-or-emulator"


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

    from ._batch import BatchError, BatchJob
    from ._session import Session

    try:
        schema = _load_class(args.schema) if args.schema else None
        job = BatchJob(
            args.input,
            args.output,
            model=args.model,
            concurrency=args.concurrency,
            max_cost=args.max_cost,
            stream=args.stream,
            schema=schema,
            strict_schema=not args.loose_schema,
        )
    except ValueError as error:  # RequestValidationError too: a class with no JSON schema
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not os.path.isfile(args.input):
        print(f"error: no such input file: {args.input}", file=sys.stderr)
        return 1
    with _target(args.base_url, emulator=args.emulator) as (base_url, api_key, emulated):
        if emulated:
            print(f"(using the built-in emulator at {base_url})", file=sys.stderr)
        # The Session's cap is the job's concurrency, so that it adapts: halved on a 429,
        # grown back while calls succeed.
        options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "max_concurrency": args.concurrency,
            "rpm": args.rpm,
            "tpm": args.tpm,
        }

        async def run() -> BatchStats:
            async with Session(**options) as session:
                return await job.run(session)

        from rich.console import Console
        from rich.live import Live

        console = Console()
        live: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if console.is_terminal:
            live = Live(
                get_renderable=lambda: _progress(job.stats),
                console=console,
                refresh_per_second=8,
                transient=True,
            )
        try:
            with live:
                stats = anyio.run(run, backend=args.backend)
        except (BatchError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except BaseException as error:
            if not _interrupted(error):
                raise
            print(
                f"interrupted: {job.stats.written} rows written to {args.output}; "
                "run the same command again to resume",
                file=sys.stderr,
            )
            return 130
    print(_summary(stats, args.output))
    if stats.stopped is not None and stats.remaining:
        return 3 if stats.stopped.startswith("max_cost") else 1
    return 0


def _interrupted(error: BaseException) -> bool:
    """Ctrl-C, possibly inside exception groups (trio raises it in whichever task runs)."""
    if isinstance(error, KeyboardInterrupt):
        return True
    inner: Sequence[BaseException] = getattr(error, "exceptions", None) or ()
    return bool(inner) and all(_interrupted(e) for e in inner)


def _progress(stats: BatchStats) -> RenderableType:
    """The live display: bar, done/total, rate, ETA; errors, retries, tokens, cost."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    finished = stats.skipped + stats.duplicates + stats.written
    total = stats.total
    eta = stats.eta
    bar = Table.grid(padding=(0, 2))
    bar.add_row(
        ProgressBar(total=max(total, 1), completed=finished, width=40),
        f"{finished:,}/{total:,} ({100 * finished / total:.0f}%)" if total else "reading...",
        f"{stats.requests_per_second:,.0f} req/s",
        f"ETA {_duration(eta)}",
        f"elapsed {_duration(stats.running_time)}",
    )
    line = (
        f"[green]{stats.done:,} ok[/]  "
        + (f"[red]{stats.failed:,} errors[/]  " if stats.failed else "0 errors  ")
        + f"{stats.retries:,} retries ({stats.rate_limited:,} x 429)  "
        + f"tokens {stats.prompt_tokens:,} in / {stats.completion_tokens:,} out  "
        + f"${stats.cost:,.4f}"
    )
    if stats.skipped:
        line += f"  ({stats.skipped:,} already done)"
    if stats.stopped:
        line += f"\n[yellow]stopping: {stats.stopped}[/]"
    return Group(bar, Text.from_markup(line))


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
    if not stats.complete:
        lines.append("  run the same command again to resume")
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


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
        description="Send every request of INPUT (JSONL: chat bodies, or OpenAI batch lines "
        "{custom_id, method, url, body}) and write one row per request to OUTPUT. Re-running "
        "with the same OUTPUT resumes: ids that have a row are skipped.",
    )
    batch.add_argument("input", metavar="INPUT.jsonl", help="one request per line")
    batch.add_argument(
        "-o", "--output", required=True, metavar="OUTPUT.jsonl", help="one row per request"
    )
    batch.add_argument("--model", default=None, help="set (override) every request's model")
    batch.add_argument(
        "--concurrency",
        type=int,
        default=64,
        metavar="N",
        help="calls in flight at most (default 64); halved on a 429, grown back after",
    )
    batch.add_argument(
        "--rpm", type=float, default=None, metavar="R", help="requests per minute (paced)"
    )
    batch.add_argument(
        "--tpm",
        type=float,
        default=None,
        metavar="T",
        help="tokens per minute (estimated before each call, corrected from its usage)",
    )
    batch.add_argument(
        "--max-cost",
        type=float,
        default=None,
        metavar="USD",
        help="stop starting calls once this run has cost this much (resume later)",
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
    batch.add_argument("--emulator", action="store_true", help="run against the built-in emulator")
    batch.add_argument("--base-url", default=None, help="API base URL (default: OpenRouter)")
    batch.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
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
    args = _parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
