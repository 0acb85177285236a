"""A fast, canned, loopback HTTP/1.1 server that imitates the OpenRouter chat API.

It exists only for the benchmarks: every response is precomputed bytes, so the
server costs as little CPU as possible and the clients under test dominate the
measurement. It is a raw :class:`asyncio.Protocol` (no framework), keep-alive,
``Content-Length`` bodies for JSON and ``Transfer-Encoding: chunked`` for streams.

Routes (the path prefix is ignored; the clients use ``http://127.0.0.1:PORT/api/v1``):

* ``POST .../chat/completions`` -- if the request body contains ``"stream": true``
  the reply is ``text/event-stream`` with ``--chunks`` ``chat.completion.chunk``
  events (``delta.content == "tok"``), a usage chunk with ``"choices": []`` and
  ``data: [DONE]``; otherwise a fixed ``chat.completion`` JSON document, sent after
  ``--delay-ms`` milliseconds (a timer, not a blocking sleep, so any number of
  waits overlap).
* ``GET .../models`` -- a tiny model list.
* anything else -- 404 with a JSON error body.

Run: ``uv run python benchmarks/canned_server.py --port 0 --delay-ms 0 --chunks 20000``.
Once listening it prints ``PORT <n>`` on stdout (and flushes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
import sys
from typing import cast

# --------------------------------------------------------------------------- bodies

CREATED = 1_700_000_000
MODEL = "openai/gpt-4o"

CHAT_RESULT = {
    "id": "gen-canned-0001",
    "object": "chat.completion",
    "created": CREATED,
    "model": MODEL,
    "provider": "OpenAI",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!"},
            "finish_reason": "stop",
            "native_finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "system_fingerprint": None,
    "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10},
}

MODELS_LIST = {
    "data": [
        {
            "id": MODEL,
            "canonical_slug": MODEL,
            "name": "OpenAI: GPT-4o",
            "created": CREATED,
            "description": "Canned model for benchmarks.",
            "context_length": 128000,
            "architecture": {
                "modality": "text->text",
                "input_modalities": ["text"],
                "output_modalities": ["text"],
                "tokenizer": "GPT",
                "instruct_type": None,
            },
            "pricing": {"prompt": "0.0000025", "completion": "0.00001"},
            "top_provider": {
                "context_length": 128000,
                "max_completion_tokens": 16384,
                "is_moderated": True,
            },
            "per_request_limits": None,
            "supported_parameters": ["max_tokens", "temperature", "stream"],
        }
    ]
}

NOT_FOUND = {"error": {"code": 404, "message": "Not Found"}}


def _compact(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _json_response(status: str, body: bytes, *, close: bool = False) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n"
        "\r\n"
    )
    return head.encode() + body


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def build_stream_response(chunks: int) -> bytes:
    """The whole chunked ``text/event-stream`` response, one HTTP chunk per SSE event."""
    head = (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/event-stream\r\n"
        b"Cache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"Connection: keep-alive\r\n"
        b"\r\n"
    )

    def chunk_obj(choices: list[object], **extra: object) -> dict[str, object]:
        return {
            "id": "gen-canned-stream-0001",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "provider": "OpenAI",
            "choices": choices,
            **extra,
        }

    first = _compact(
        chunk_obj(
            [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "tok"},
                    "finish_reason": None,
                    "native_finish_reason": None,
                    "logprobs": None,
                }
            ]
        )
    )
    middle = _compact(
        chunk_obj(
            [
                {
                    "index": 0,
                    "delta": {"content": "tok"},
                    "finish_reason": None,
                    "native_finish_reason": None,
                    "logprobs": None,
                }
            ]
        )
    )
    last = _compact(
        chunk_obj(
            [
                {
                    "index": 0,
                    "delta": {"content": "tok"},
                    "finish_reason": "stop",
                    "native_finish_reason": "stop",
                    "logprobs": None,
                }
            ]
        )
    )
    usage = _compact(
        chunk_obj(
            [],
            usage={
                "prompt_tokens": 8,
                "completion_tokens": chunks,
                "total_tokens": 8 + chunks,
            },
        )
    )
    events: list[bytes] = []
    for i in range(chunks):
        body = first if i == 0 else (last if i == chunks - 1 else middle)
        events.append(_http_chunk(b"data: " + body + b"\n\n"))
    events.append(_http_chunk(b"data: " + usage + b"\n\n"))
    events.append(_http_chunk(b"data: [DONE]\n\n"))
    events.append(b"0\r\n\r\n")
    return head + b"".join(events)


# --------------------------------------------------------------------------- protocol

_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
_MAX_HEAD = 64 * 1024


class _Responses:
    def __init__(self, chunks: int) -> None:
        self.chat = _json_response("200 OK", _compact(CHAT_RESULT))
        self.chat_close = _json_response("200 OK", _compact(CHAT_RESULT), close=True)
        self.models = _json_response("200 OK", _compact(MODELS_LIST))
        self.models_close = _json_response("200 OK", _compact(MODELS_LIST), close=True)
        self.not_found = _json_response("404 Not Found", _compact(NOT_FOUND))
        self.not_found_close = _json_response("404 Not Found", _compact(NOT_FOUND), close=True)
        self.bad_request = _json_response(
            "400 Bad Request", b'{"error":{"code":400,"message":"Bad Request"}}', close=True
        )
        self.stream = build_stream_response(chunks)


class Stats:
    connections = 0
    open_connections = 0
    max_open_connections = 0
    requests = 0


class CannedProtocol(asyncio.Protocol):
    """One connection. Requests are handled strictly one after another (no pipelining
    of responses: the next request is parsed only after the previous one is answered)."""

    __slots__ = ("_buf", "_busy", "_closed", "_delay", "_loop", "_r", "_transport")

    def __init__(self, responses: _Responses, delay: float) -> None:
        self._r = responses
        self._delay = delay
        self._buf = bytearray()
        self._busy = False
        self._closed = False
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, but is one).
        self._transport = cast(asyncio.Transport, transport)
        Stats.connections += 1
        Stats.open_connections += 1
        Stats.max_open_connections = max(Stats.max_open_connections, Stats.open_connections)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def connection_lost(self, exc: Exception | None) -> None:
        Stats.open_connections -= 1
        self._closed = True
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._busy:
            self._process()

    # -- parsing ----------------------------------------------------------------

    def _process(self) -> None:
        while not self._busy and not self._closed and self._buf:
            parsed = self._parse_one()
            if parsed is None:
                return
            method, path, body, close = parsed
            self._dispatch(method, path, body, close)

    def _parse_one(self) -> tuple[bytes, bytes, bytes, bool] | None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD:
                self._fail()
            return None
        head = bytes(buf[:end])
        lines = head.split(b"\r\n")
        try:
            method, path, version = lines[0].split(b" ", 2)
        except ValueError:
            self._fail()
            return None
        content_length = 0
        chunked = False
        close = version.strip().upper() == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    content_length = int(value.strip())
                except ValueError:
                    self._fail()
                    return None
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                v = value.strip().lower()
                if v == b"close":
                    close = True
                elif v == b"keep-alive":
                    close = False
        start = end + 4
        if chunked:
            result = _parse_chunked(buf, start)
            if result is None:
                return None
            if result is False:
                self._fail()
                return None
            body, consumed_to = result
            del buf[:consumed_to]
        else:
            if len(buf) - start < content_length:
                return None
            body = bytes(buf[start : start + content_length])
            del buf[: start + content_length]
        return method, path, body, close

    def _fail(self) -> None:
        if self._transport is not None:
            self._transport.write(self._r.bad_request)
            self._transport.close()
        self._closed = True
        self._buf.clear()

    # -- routing ----------------------------------------------------------------

    def _dispatch(self, method: bytes, path: bytes, body: bytes, close: bool) -> None:
        Stats.requests += 1
        path = path.split(b"?", 1)[0].rstrip(b"/")
        r = self._r
        if method == b"POST" and path.endswith(b"/chat/completions"):
            if _STREAM_RE.search(body):
                # A stream response is keep-alive framed; close afterwards if asked.
                self._send(r.stream, close)
            elif self._delay > 0:
                self._busy = True
                self._loop.call_later(self._delay, self._delayed, close)
            else:
                self._send(r.chat_close if close else r.chat, close)
        elif method == b"GET" and path.endswith(b"/models"):
            self._send(r.models_close if close else r.models, close)
        else:
            self._send(r.not_found_close if close else r.not_found, close)

    def _delayed(self, close: bool) -> None:
        self._busy = False
        if self._closed:
            return
        self._send(self._r.chat_close if close else self._r.chat, close)
        self._process()

    def _send(self, data: bytes, close: bool) -> None:
        t = self._transport
        if t is None:
            return
        t.write(data)
        if close:
            self._closed = True
            t.close()


def _parse_chunked(buf: bytearray, pos: int) -> tuple[bytes, int] | bool | None:
    """Decode a chunked body starting at ``pos``. None: incomplete; False: malformed."""
    parts: list[bytes] = []
    n = len(buf)
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_field = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            return False
        pos = eol + 2
        if size == 0:
            # Trailers (possibly none), terminated by an empty line.
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return b"".join(parts), eol + 2
                pos = eol + 2
        if n < pos + size + 2:
            return None
        parts.append(bytes(buf[pos : pos + size]))
        pos += size + 2


# --------------------------------------------------------------------------- main


async def serve(host: str, port: int, delay_ms: float, chunks: int, stats: bool = False) -> None:
    loop = asyncio.get_running_loop()
    responses = _Responses(chunks)
    delay = delay_ms / 1000.0
    server = await loop.create_server(
        lambda: CannedProtocol(responses, delay),
        host,
        port,
        backlog=4096,
        reuse_address=True,
    )
    actual = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {actual}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    async with server:
        await stop.wait()
    if stats:
        sys.stderr.write(
            f"canned_server: {Stats.requests} requests, {Stats.connections} connections "
            f"(max {Stats.max_open_connections} open at once)\n"
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--delay-ms", type=float, default=0.0, help="delay before non-stream replies")
    p.add_argument("--chunks", type=int, default=20000, help="chunks per streamed response")
    p.add_argument(
        "--print-port",
        action="store_true",
        help="accepted for compatibility; 'PORT <n>' is always printed once listening",
    )
    p.add_argument(
        "--stats", action="store_true", help="print request/connection counts to stderr on exit"
    )
    args = p.parse_args(argv)
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.delay_ms, args.chunks, args.stats))
    else:
        uvloop.run(serve(args.host, args.port, args.delay_ms, args.chunks, args.stats))


if __name__ == "__main__":
    main()
