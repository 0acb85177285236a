"""Spawn :mod:`benchmarks.canned_server` in its own process.

from _server_proc import start_server          # or: from benchmarks._server_proc import ...
with start_server(delay_ms=0, chunks=20000) as (proc, base_url):
    ...  # base_url == "http://127.0.0.1:PORT/api/v1"
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

SERVER_SCRIPT = Path(__file__).resolve().with_name("canned_server.py")


@contextlib.contextmanager
def start_server(
    delay_ms: float = 0.0,
    chunks: int = 20000,
    *,
    host: str = "127.0.0.1",
    startup_timeout: float = 20.0,
    python: str | None = None,
    stats: bool = False,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start the canned server on a free port; yield ``(process, base_url)``; stop it."""
    cmd = [
        python or sys.executable,
        str(SERVER_SCRIPT),
        "--host",
        host,
        "--port",
        "0",
        "--delay-ms",
        str(delay_ms),
        "--chunks",
        str(chunks),
        "--print-port",
    ]
    if stats:
        cmd.append("--stats")
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    try:
        port = _read_port(proc, startup_timeout)
        yield proc, f"http://{host}:{port}/api/v1"
    finally:
        _stop(proc)


def _read_port(proc: subprocess.Popen[bytes], timeout: float) -> int:
    assert proc.stdout is not None
    result: list[int] = []

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("PORT "):
                result.append(int(line.split()[1]))
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        _stop(proc)
        raise RuntimeError(
            f"canned server did not report its port within {timeout}s (rc={proc.poll()})"
        )
    return result[0]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
