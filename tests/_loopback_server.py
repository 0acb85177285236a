"""A tiny, misbehaving-on-demand HTTP/1.1 server on 127.0.0.1, run in a background thread.

Raw asyncio streams (no framework) so that every wire behaviour is under the test's control.
It counts connections and requests so tests can assert on keep-alive reuse, pool limits and
connections being closed.

Routes (query parameters in brackets):

* ``/json``                  200, a small JSON body with Content-Length
* ``/echo``                  200, JSON: the request's method, path, headers and body (chunked
                             uploads are de-chunked); any path below it too (``/echo/models``),
                             so that a client's base URL can point there
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
* ``/redirect[?status=&to=]`` answers ``status`` (307) with ``Location: to`` (none without
                             ``to``); ``/redirect-loop`` points at itself; ``/redirect-chain[?n=]``
                             at ``/redirect-chain?n=<n+1>``, without end
* ``/echo-key[?status=]``    ``status`` (401) whose error body and ``X-Echo`` header repeat the
                             Authorization header (a server echoing the key back)
* ``/flaky/<key>/...``       the first request per ``key`` answers 503 (``Retry-After: 0``); the
                             later ones: bytes for a path ending in ``/content``, a file object
                             for one ending in ``/files``, a 3-chunk
                             chat stream for a body with ``"stream": true``, else a chat result
* ``/sse/<options>/...``     a chat event stream (any path below it, so that a client's base URL
                             can point there); options ``key=value`` joined by ``&``: ``n`` chunks
                             (5), ``named=1`` events named ``ping`` / ``openrouter.metadata`` /
                             unknown between them and ``id:``/``retry:`` fields, ``named_error=1``
                             an ``event: error`` with an error object before the second chunk,
                             ``kind=responses``
                             Responses API events named after their type, ``encoding=gzip|deflate``
                             compressed in one flushed block per event, ``batch`` events per write
                             (1), ``delay`` s after the first event (0), ``hold=1`` never ending
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
from urllib.parse import parse_qs, parse_qsl, urlsplit

JSON_BODY = json.dumps({"id": "gen-1", "object": "chat.completion", "ok": True}).encode()
CHAT_BODY = json.dumps(
    {
        "id": "gen-2",
        "object": "chat.completion",
        "created": 1,
        "model": "m/x",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hi"},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()


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
        self.flaky_seen: dict[str, int] = {}  # /flaky/<key>/: requests seen per key
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

    async def _flaky(
        self, r: asyncio.StreamReader, w: asyncio.StreamWriter, path: str, body: bytes
    ) -> None:
        """``/flaky/<key>/...``: the first request of each key gets a 503, later ones the
        answer the rest of the path asks for (see the module docstring)."""
        key = path.split("/")[2]
        self.flaky_seen[key] = seen = self.flaky_seen.get(key, 0) + 1
        if seen == 1:
            error = b'{"error": {"code": 503, "message": "try again"}}'
            await _send(w, 503, error, [("Retry-After", "0")])
        elif path.endswith("/content"):
            await _send(w, 200, b"\x00\x01binary", [("Content-Type", "application/octet-stream")])
        elif path.endswith("/files"):
            await _send(w, 200, b'{"_shape": "openrouter", "id": "file-1", "type": "file"}')
        elif b'"stream":true' in body.replace(b" ", b""):
            await _send_sse(r, w, {"n": "3"})
        else:
            await _send(w, 200, CHAT_BODY)

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
        elif path == "/echo" or path.startswith("/echo/"):
            doc = {
                "method": method,
                "path": path,
                "headers": headers,
                "body": body.decode("latin-1"),
            }
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
        elif path.startswith("/sse/"):
            await _send_sse(r, w, dict(parse_qsl(path.split("/")[2])))
        elif path.startswith("/flaky/"):
            await self._flaky(r, w, path, body)
        elif path == "/big":
            await _send(w, 200, b"x" * int(q.get("size", "1000000")))
        elif path == "/redirect":
            location = [("Location", q["to"])] if "to" in q else []
            await _send(w, int(q.get("status", "307")), b"", location)
        elif path == "/redirect-loop":
            await _send(w, 307, b"", [("Location", "/redirect-loop")])
        elif path == "/redirect-chain":
            location = f"/redirect-chain?n={int(q.get('n', '0')) + 1}"
            await _send(w, 307, b"", [("Location", location)])
        elif path == "/echo-key":
            auth = dict((k.lower(), v) for k, v in headers).get("authorization", "")
            error = {"message": f"Invalid key {auth}", "code": 401, "metadata": {"raw": auth}}
            doc = {"error": error}
            status = int(q.get("status", "401"))
            await _send(w, status, json.dumps(doc).encode(), [("X-Echo", auth)])
        else:
            await _send(w, 404, b'{"error":"not found"}')
        return True


def sse_events(options: dict[str, str]) -> list[bytes]:
    """The events of an ``/sse/`` stream, each a complete ``text/event-stream`` block."""
    n = int(options.get("n", "5"))
    named = options.get("named") == "1"
    events: list[bytes] = [b": OPENROUTER PROCESSING\n\n"]
    if options.get("kind") == "responses":
        types = ["response.created"] + ["response.output_text.delta"] * n
        types.append("response.completed")
        for i, kind in enumerate(types):
            data: dict[str, object] = {"type": kind, "sequence_number": i}
            if kind == "response.output_text.delta":
                data.update(item_id="msg_1", output_index=0, content_index=0, delta=f"t{i}")
                data["logprobs"] = []
            else:
                data["response"] = _responses_result(kind)
            events.append(b"event: %s\ndata: %s\n\n" % (kind.encode(), json.dumps(data).encode()))
            if named and i == 0:
                events.append(b"event: ping\ndata: {}\n\n")
                events.append(b'event: openrouter.metadata\ndata: {"provider":"X"}\n\n')
        return events
    for i in range(n):
        chunk = {
            "id": "gen-sse",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m/x",
            "choices": [{"index": 0, "delta": {"content": f"c{i}"}, "finish_reason": None}],
        }
        fields = b"id: %d\nretry: 1500\n" % i if named else b""
        events.append(fields + b"data: " + json.dumps(chunk).encode() + b"\n\n")
        if options.get("named_error") == "1" and i == 1:
            error = {"error": {"message": "provider fell over", "code": 502}}
            events.append(b"event: error\ndata: " + json.dumps(error).encode() + b"\n\n")
        if named:
            events.append(b"event: ping\ndata: {}\n\n")
            events.append(b'event: openrouter.metadata\ndata: {"provider":"X","n":%d}\n\n' % i)
            events.append(b"event: something-new\ndata: not even JSON\n\n")
    usage = {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1}
    final = {
        "id": "gen-sse",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m/x",
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}],
        "usage": usage,
    }
    events.append(b"data: " + json.dumps(final).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def _responses_result(kind: str) -> dict[str, object]:
    done = kind == "response.completed"
    return {
        "id": "resp-1",
        "object": "response",
        "created_at": 1,
        "model": "m/x",
        "status": "completed" if done else "in_progress",
        "output": [],
        "error": None,
        "incomplete_details": None,
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "temperature": None,
        "top_p": None,
        "metadata": {},
        "instructions": None,
    }


async def _send_sse(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, options: dict[str, str]
) -> None:
    """An ``/sse/`` answer (see the module docstring), chunked, compressed on demand."""
    import zlib

    events = sse_events(options)
    encoding = options.get("encoding")
    compressor = None
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    if encoding in ("gzip", "deflate"):
        wbits = 31 if encoding == "gzip" else 15
        compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
        head += f"Content-Encoding: {encoding}\r\n"
    w.write((head + "\r\n").encode())
    batch = int(options.get("batch", "1"))
    delay = float(options.get("delay", "0"))

    def emit(data: bytes) -> None:
        if data:
            w.write(b"%x\r\n%s\r\n" % (len(data), data))

    for start in range(0, len(events), batch):
        data = b"".join(events[start : start + batch])
        if compressor is not None:
            # A sync flush per write: each write decodes on its own, as a live stream must.
            data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        emit(data)
        await w.drain()
        if delay and start <= 1 < start + batch:  # after the first chunk
            await _sleep_watching(r, delay)
    if options.get("hold") == "1":
        await _sleep_watching(r, 30)
    if compressor is not None:
        emit(compressor.flush())
    w.write(b"0\r\n\r\n")
    await w.drain()


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
