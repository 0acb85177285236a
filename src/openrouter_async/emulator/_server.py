"""Serving the emulator with hypercorn (imported lazily): in a daemon thread, in the caller's
task group, or from the command line.

The listening socket is bound here, before hypercorn starts (``port=0`` picks a free port and
the socket tells which), and handed to hypercorn as ``fd://<n>``: the URL is known and valid
before the first request, never guessed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.lowlevel

from ._app import API_PREFIX, EmulatorApp, EmulatorConfig

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from hypercorn.config import Config

__all__ = ["main", "run_emulator", "serve", "serve_in_thread"]

Backend = Literal["asyncio", "trio"]

# Not under "openrouter_async": the client's debug log (OPENROUTER_DEBUG) is that logger, and
# a built-in emulator's server messages are not the client's requests.
logger = logging.getLogger("openrouter_emulator")

_BACKLOG = 1024


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{API_PREFIX}"


def _hypercorn_config(fd: int, *, log_to_stderr: bool) -> Config:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{fd}"]
    config.accesslog = None
    config.errorlog = "-" if log_to_stderr else logging.getLogger("openrouter_emulator.server")
    config.backlog = _BACKLOG
    # Streams end within ~50 ms of a shutdown (EmulatorState.closing); this is a safety net.
    config.graceful_timeout = 2.0
    # Longer than any client pool keeps an idle connection, so a client never reuses a
    # connection the emulator is closing at the same moment.
    config.keep_alive_timeout = 300.0
    return config


async def _serve(
    app: EmulatorApp,
    fd: int,
    stop: Callable[[], Awaitable[Any]],
    backend: Backend,
    *,
    log_to_stderr: bool = False,
) -> None:
    """Serve ``app`` on the listening socket ``fd`` (hypercorn takes ownership of it) until
    ``stop()`` returns, then shut down gracefully."""
    config = _hypercorn_config(fd, log_to_stderr=log_to_stderr)

    async def shutdown_trigger() -> None:
        await stop()
        app.state.closing = True

    # Hypercorn wraps the descriptor right after the lifespan startup; if it fails before,
    # the descriptor is still ours to close.
    started = False

    def mark_started() -> None:
        nonlocal started
        started = True

    app.add_startup_hook(mark_started)
    try:
        if backend == "trio":
            from hypercorn.trio import serve as trio_serve

            await trio_serve(app, config, shutdown_trigger=shutdown_trigger, mode="asgi")  # type: ignore[arg-type]
        else:
            from hypercorn.asyncio import serve as asyncio_serve

            await asyncio_serve(app, config, shutdown_trigger=shutdown_trigger, mode="asgi")  # type: ignore[arg-type]
    finally:
        app.remove_startup_hook(mark_started)
        if not started:
            os.close(fd)


def _current_backend() -> Backend:
    if "trio" in sys.modules:
        import trio

        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return "trio"
    return "asyncio"


def _threadsafe_setter(event: anyio.Event, backend: Backend) -> Callable[[], None]:
    """A function that sets ``event`` from any thread (a no-op once the loop has ended)."""
    if backend == "trio":
        import trio

        token = trio.lowlevel.current_trio_token()

        def set_trio() -> None:
            try:
                token.run_sync_soon(event.set)
            except trio.RunFinishedError:
                pass

        return set_trio
    loop = asyncio.get_running_loop()

    def set_asyncio() -> None:
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # the loop is closed
            pass

    return set_asyncio


@contextmanager
def serve_in_thread(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    backend: Backend = "asyncio",
    app: EmulatorApp | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[str]:
    """Run the emulator in a daemon thread with its own event loop (asyncio or trio).

    Yields the base URL (``http://127.0.0.1:<port>/api/v1``) once the server is ready; shuts
    it down (gracefully: open streams are ended) and joins the thread on exit. Pass ``app``
    (from :func:`create_app`) to keep a handle on its state.
    """
    if backend not in ("asyncio", "trio"):
        raise ValueError(f"unknown backend {backend!r}")
    served = app if app is not None else EmulatorApp(config)
    sock = _bind(host, port)
    url = _base_url(sock)
    fd = sock.detach()
    ready = threading.Event()
    failures: list[BaseException] = []
    stoppers: list[Callable[[], None]] = []

    async def serve() -> None:
        stop = anyio.Event()
        stoppers.append(_threadsafe_setter(stop, backend))
        served.add_startup_hook(ready.set)
        try:
            await _serve(served, fd, stop.wait, backend)
        finally:
            served.remove_startup_hook(ready.set)

    def run() -> None:
        try:
            anyio.run(serve, backend=backend, backend_options=_backend_options(backend, "auto"))
        except BaseException as exc:
            failures.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name=f"openrouter-emulator:{url}", daemon=True)
    thread.start()
    if not ready.wait(startup_timeout):
        if stoppers:
            stoppers[0]()
        raise TimeoutError(f"the emulator did not start within {startup_timeout} s")
    if failures:
        raise RuntimeError("the emulator failed to start") from failures[0]
    try:
        yield url
    finally:
        if stoppers:
            stoppers[0]()
        thread.join(30)
        if thread.is_alive():
            logger.warning("the emulator thread did not stop within 30 s")
        elif failures:
            logger.error("the emulator stopped with an error", exc_info=failures[0])


@asynccontextmanager
async def serve(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    app: EmulatorApp | None = None,
    task_group: TaskGroup | None = None,
) -> AsyncIterator[str]:
    """Serve the emulator with hypercorn in the current event loop (asyncio or trio,
    detected), for the duration of the ``async with`` block::

        async with serve() as base_url:              # a task group of its own
            ...
        async with anyio.create_task_group() as tg:
            async with serve(task_group=tg) as base_url:  # the server task runs in tg
                ...

    Yields the base URL (``http://127.0.0.1:<port>/api/v1``) once the server accepts
    connections; on exit, shuts it down gracefully (open streams are ended within ~50 ms)
    and waits until its task has ended: nothing is left running. An exception of the block
    propagates as is (not wrapped in an exception group); a failure of the server cancels
    the block (it is a task of the task group) and propagates. Pass ``app`` (from
    :func:`create_app`) to keep a handle on its state.
    """
    served = app if app is not None else EmulatorApp(config)
    backend = _current_backend()
    sock = _bind(host, port)
    url = _base_url(sock)
    fd = sock.detach()
    stop = anyio.Event()
    ready = anyio.Event()
    stopped = anyio.Event()

    async def run() -> None:
        # Cancelling hypercorn (on asyncio) skips its shutdown, leaving the listening socket
        # open: the server runs shielded, and a cancellation asks it to stop instead.
        done = anyio.Event()

        async def shielded() -> None:
            with anyio.CancelScope(shield=True):
                try:
                    await _serve(served, fd, stop.wait, backend)
                finally:
                    done.set()

        try:
            async with anyio.create_task_group() as inner:
                inner.start_soon(shielded)
                try:
                    await done.wait()
                finally:
                    stop.set()
                    with anyio.CancelScope(shield=True):
                        await done.wait()
        finally:
            stopped.set()
            ready.set()

    served.add_startup_hook(ready.set)
    try:
        if task_group is None:
            failure: Exception | None = None
            async with anyio.create_task_group() as own:
                own.start_soon(run, name=f"openrouter-emulator:{url}")
                await ready.wait()
                try:
                    if stopped.is_set():
                        await anyio.lowlevel.checkpoint()  # its failure cancels us first
                        raise RuntimeError("the emulator stopped before it was ready")
                    yield url
                except Exception as exc:
                    # Re-raised below, after a graceful shutdown, rather than wrapped in an
                    # exception group by the task group.
                    failure = exc
                finally:
                    stop.set()
            if failure is not None:
                raise failure
        else:
            task_group.start_soon(run, name=f"openrouter-emulator:{url}")
            try:
                await ready.wait()
                if stopped.is_set():
                    await anyio.lowlevel.checkpoint()  # its failure cancels us first
                    raise RuntimeError("the emulator stopped before it was ready")
                yield url
            finally:
                stop.set()
                # Wait for the server task even when the block was cancelled: leaving the
                # block means the server is gone.
                with anyio.CancelScope(shield=True):
                    with anyio.move_on_after(30):
                        await stopped.wait()
    finally:
        served.remove_startup_hook(ready.set)


@asynccontextmanager
async def run_emulator(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    app: EmulatorApp | None = None,
) -> AsyncIterator[str]:
    """:func:`serve` in a task group of its own (the original name)."""
    async with serve(config, host=host, port=port, app=app) as url:
        yield url


async def _wait_for_signal() -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                return
    except NotImplementedError:  # asyncio on Windows: Ctrl-C raises KeyboardInterrupt
        await anyio.sleep_forever()


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """The command-line options of the behaviours (shared with ``openrouter-async
    emulator``)."""
    parser.add_argument(
        "--seed",
        metavar="FILE",
        help="seed keys, credits and guardrails from a JSON or YAML file",
    )
    parser.add_argument(
        "--faults",
        metavar="FAULTS",
        help="faults for every generation request (X-Emulator-Fault grammar, e.g. "
        "'status=503;p=0.05,drop=3;p=0.01')",
    )
    parser.add_argument(
        "--fault-seed", type=int, metavar="N", help="seed of the random faults (reproducible)"
    )
    parser.add_argument(
        "--rate-limit-rpm", type=int, metavar="N", help="per-key generation requests per minute"
    )
    parser.add_argument(
        "--rate-limit-concurrency",
        type=int,
        metavar="N",
        help="per-key concurrent generation requests",
    )
    parser.add_argument(
        "--strict-models",
        action="store_true",
        help="refuse models the catalogue does not have (400), as OpenRouter does",
    )
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="answer as real OpenRouter does where it departs from the spec (fields left out "
        "or added, whitespace before slow JSON, named SSE events); default: the spec exactly",
    )


def config_from_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`EmulatorConfig` fields given by :func:`add_config_options`' options."""
    return {
        "seed_file": getattr(args, "seed", None),
        "faults": getattr(args, "faults", None),
        "fault_seed": getattr(args, "fault_seed", None),
        "rate_limit_rpm": getattr(args, "rate_limit_rpm", None),
        "rate_limit_concurrency": getattr(args, "rate_limit_concurrency", None),
        "strict_models": bool(getattr(args, "strict_models", False)),
        "realistic": bool(getattr(args, "realistic", False)),
    }


def _backend_options(backend: Backend, loop: str) -> dict[str, Any]:
    """The event loop of a served emulator: under asyncio, uvloop when it is installed
    (``--loop auto``, the default) or asked for, since its event loop and socket writes cost
    a fraction of the standard loop's, and the emulator's own process is what a benchmark
    against it must not be limited by."""
    if backend != "asyncio" or loop == "asyncio":
        return {}
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if loop == "uvloop":
            raise
        return {}
    return {"use_uvloop": True}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of the served emulator: ``python -m openrouter_async.emulator`` and
    ``openrouter-async emulator`` are one command with one set of options."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (8080; 0: any free port)")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="asyncio's event loop: uvloop when installed (auto), or the standard one",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        help="accepted API key (repeatable; default: any non-empty key)",
    )
    parser.add_argument(
        "--validate-requests",
        action="store_true",
        help="validate request bodies against the OpenAPI spec (needs jsonschema, pyyaml)",
    )
    parser.add_argument("--spec-path", help="the OpenRouter OpenAPI spec (YAML)")
    parser.add_argument("--default-model", help="model used when a request names none")
    add_config_options(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """``openrouter-async emulator [--host H] [--port P] ...``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="openrouter-async emulator",
        description="Serve a local emulator of the OpenRouter API (/api/v1/...).",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Serve the emulator the parsed options of :func:`add_arguments` describe."""
    try:
        config = EmulatorConfig(
            api_keys=set(args.api_key) if args.api_key else None,
            validate_requests=args.validate_requests,
            spec_path=args.spec_path,
            default_model=args.default_model,
            **config_from_options(args),
        )
        app = EmulatorApp(config)
    except (OSError, ValueError) as exc:
        print(f"openrouter-async emulator: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"openrouter-async emulator: cannot listen on {args.host}:{args.port}: {exc}")
        return 1
    url = _base_url(sock)
    fd = sock.detach()
    app.add_startup_hook(lambda: print(f"OpenRouter emulator: {url} (Ctrl-C to stop)", flush=True))
    try:
        anyio.run(
            _serve,
            app,
            fd,
            _wait_for_signal,
            args.backend,
            backend=args.backend,
            backend_options=_backend_options(args.backend, args.loop),
        )
    except KeyboardInterrupt:
        pass
    return 0
