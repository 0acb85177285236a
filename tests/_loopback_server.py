"""A tiny, misbehaving-on-demand HTTP/1.1 server on 127.0.0.1, run in a background thread.

Raw asyncio streams (no framework) so that every wire behaviour is under the test's control.
It counts connections and requests so tests can assert on keep-alive reuse, pool limits and
connections being closed.

Routes (query parameters in brackets):

* ``/json``                  200, a small JSON body with Content-Length
* ``/echo``                  200, JSON: the request's method, headers and body (chunked uploads
                             are de-chunked)
* ``/stream[?n=&delay=]``    200, chunked: ``n`` chunks ``chunk-<i>\\n``, ``delay`` s apart
* ``/slow-headers[?delay=]`` waits ``delay`` s before answering like ``/json``
* ``/slow-body[?delay=]``    headers and a first chunk, then waits ``delay`` s, then the rest
* ``/hold[?delay=]``         like ``/slow-headers``; tracks the peak of concurrent requests
* ``/drop-mid-body``         promises 1000 bytes, sends 10, closes the connection
* ``/close-idle[?after=]``   answers like ``/json``, then closes the connection ``after`` s later
                             (a keep-alive connection the server drops while it is idle)
* ``/stale``                 answers the first request of a connection; any later request on
                             the same connection is met with a close and no response
* ``/no-response``           closes the connection without answering
* ``/gzip``                  a gzip-encoded JSON body (``Content-Encoding: gzip``)
* ``/big[?size=]``           ``size`` bytes of ``x`` with Content-Length
* ``/no-read``               reads the request head, never the body, never answers
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

JSON_BODY = json.dumps({"id": "gen-1", "object": "chat.completion", "ok": True}).encode()


@dataclass
class Stats:
    """Counters, written by the server thread and read by the tests (ints: GIL-atomic)."""

    connections_opened: int = 0
    connections_closed: int = 0
    requests: int = 0
    active: int = 0
    peak_active: int = 0
    paths: list[str] = field(default_factory=list)

    @property
    def connections_open(self) -> int:
        return self.connections_opened - self.connections_closed


class LoopbackServer:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.stats = Stats()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="loopback-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loopback server did not start")

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._stopped is not None:
            loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        async with self._server:
            await self._stopped.wait()
            for writer in list(self._writers):
                writer.transport.abort()

    # -- connection -----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats = self.stats
        stats.connections_opened += 1
        self._writers.add(writer)
        served = 0
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                stats.requests += 1
                parts = urlsplit(target)
                stats.paths.append(parts.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                served += 1
                keep_open = await self._dispatch(
                    reader, writer, method, parts.path, query, headers, body, served
                )
                if not keep_open:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        except asyncio.CancelledError:  # server shutdown
            return
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            stats.connections_closed += 1

    async def _dispatch(
        self,
        r: asyncio.StreamReader,
        w: asyncio.StreamWriter,
        method: str,
        path: str,
        q: dict[str, str],
        headers: list[tuple[str, str]],
        body: bytes,
        served: int,
    ) -> bool:
        """Answer one request; False closes the connection."""
        if path == "/json":
            await _send(w, 200, JSON_BODY)
        elif path == "/echo":
            doc = {"method": method, "headers": headers, "body": body.decode("latin-1")}
            await _send(w, 200, json.dumps(doc).encode())
        elif path == "/stream":
            n = int(q.get("n", "5"))
            delay = float(q.get("delay", "0.05"))
            w.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for i in range(n):
                data = f"chunk-{i}\n".encode()
                w.write(b"%x\r\n%s\r\n" % (len(data), data))
                await w.drain()
                if i < n - 1:
                    await _sleep_watching(r, delay)
            w.write(b"0\r\n\r\n")
            await w.drain()
        elif path in ("/slow-headers", "/hold"):
            stats = self.stats
            stats.active += 1
            stats.peak_active = max(stats.peak_active, stats.active)
            try:
                await _sleep_watching(r, float(q.get("delay", "1")))
            finally:
                stats.active -= 1
            await _send(w, 200, JSON_BODY)
        elif path == "/slow-body":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789")
            await w.drain()
            await _sleep_watching(r, float(q.get("delay", "1")))
            w.write(b"abcdefghij")
            await w.drain()
        elif path == "/drop-mid-body":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
            await w.drain()
            return False
        elif path == "/close-idle":
            await _send(w, 200, JSON_BODY)
            after = float(q.get("after", "0.05"))
            assert self._loop is not None
            self._loop.call_later(after, w.transport.close)
        elif path == "/stale":
            if served > 1:
                return False  # the keep-alive connection "expired" as the request came in
            await _send(w, 200, JSON_BODY)
        elif path == "/no-response":
            return False
        elif path == "/gzip":
            await _send(w, 200, gzip.compress(JSON_BODY), [("Content-Encoding", "gzip")])
        elif path == "/big":
            await _send(w, 200, b"x" * int(q.get("size", "1000000")))
        else:
            await _send(w, 404, b'{"error":"not found"}')
        return True


async def _sleep_watching(r: asyncio.StreamReader, delay: float) -> None:
    """Sleep, but notice a client that hangs up meanwhile (a real server would too)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    while True:
        if r.at_eof() or r.exception() is not None:
            raise ConnectionResetError("client went away")
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, 0.01))


async def _send(
    w: asyncio.StreamWriter,
    status: int,
    body: bytes,
    extra: list[tuple[str, str]] | None = None,
) -> None:
    reason = {200: "OK", 404: "Not Found"}.get(status, "Whatever")
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in extra or ()]
    head.append(f"Content-Length: {len(body)}")
    w.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await w.drain()


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed the connection
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    if target.startswith("/no-read"):
        # Never read the request body: the client's send buffer fills up (write timeouts).
        await _sleep_watching(reader, 30)
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    lower = {k.lower(): v for k, v in headers}
    if lower.get("transfer-encoding", "").lower() == "chunked":
        pieces = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            pieces.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(pieces)
    else:
        body = await reader.readexactly(int(lower.get("content-length", "0")))
    return method, target, headers, body


@contextlib.contextmanager
def running_server(ssl_context: ssl.SSLContext | None = None) -> Iterator[LoopbackServer]:
    server = LoopbackServer(ssl_context)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def self_signed_certificate(directory: str) -> tuple[str, str]:
    """(cert.pem, key.pem) for 127.0.0.1 / localhost, made with the openssl CLI."""
    import os
    import subprocess

    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key
