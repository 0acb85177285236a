"""The ``openrouter-async`` command.

    openrouter-async chat "Explain quantum computing"   # streams the answer
    openrouter-async emulator --port 8080               # a local OpenRouter

Without ``OPENROUTER_API_KEY`` (and without ``--base-url`` / ``OPENROUTER_BASE_URL``), ``chat``
starts the built-in emulator on loopback and talks to it, so the command works anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

__all__ = ["main"]

_EMULATOR_KEY = "sk-or-emulator"


@contextlib.contextmanager
def _target(base_url: str | None) -> Iterator[tuple[str, str, bool]]:
    """Yield (base_url, api_key, emulated): the real API when a key is set, else the emulator."""
    key = os.environ.get("OPENROUTER_API_KEY")
    url = base_url or os.environ.get("OPENROUTER_BASE_URL")
    if key or url:
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
                    print(result.choices[0].message.content)
                    return 0
                with client.chat.send(model=args.model, messages=messages, stream=True) as events:
                    for event in events:
                        if event.choices and event.choices[0].delta.content:
                            print(event.choices[0].delta.content, end="", flush=True)
                print()
        except OpenRouterError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from .emulator import main as emulator_main

    argv = ["--host", args.host, "--port", str(args.port)]
    for option in ("seed", "faults", "fault_seed", "rate_limit_rpm", "rate_limit_concurrency"):
        value = getattr(args, option)
        if value is not None:
            argv += [f"--{option.replace('_', '-')}", str(value)]
    if args.strict_models:
        argv.append("--strict-models")
    return emulator_main(argv) or 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openrouter-async",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    chat = commands.add_parser("chat", help="send one chat message and stream the answer")
    chat.add_argument("prompt", nargs="+", help="the user message")
    chat.add_argument("--model", default="openai/gpt-4o-mini")
    chat.add_argument("--system", default=None, help="a system message")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    chat.add_argument("--base-url", default=None, help="API base URL (default: OpenRouter)")
    chat.set_defaults(run=_chat)

    emulator = commands.add_parser("emulator", help="serve a local OpenRouter emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8080)
    emulator.add_argument(
        "--seed", metavar="FILE", help="seed keys, credits and guardrails (JSON or YAML)"
    )
    emulator.add_argument(
        "--faults", help="faults for every generation request (X-Emulator-Fault grammar)"
    )
    emulator.add_argument("--fault-seed", type=int, metavar="N", help="seed of random faults")
    emulator.add_argument("--rate-limit-rpm", type=int, metavar="N", help="requests/min per key")
    emulator.add_argument(
        "--rate-limit-concurrency", type=int, metavar="N", help="concurrent requests per key"
    )
    emulator.add_argument(
        "--strict-models", action="store_true", help="refuse models not in the catalogue"
    )
    emulator.set_defaults(run=_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
