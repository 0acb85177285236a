"""A loopback HTTP/1.1 server that answers with responses the real OpenRouter sent.

It serves the recorded corpus of ``../shared/realtraffic`` (see its README): each request is
answered with one recorded entry's status, content type and body bytes, exactly as recorded
(the whitespace padding OpenRouter sends before a slow JSON answer included). The entry is
chosen by something a client sends anyway, never by a hook inside the client:

* the path: ``/replay/<n>/api/v1/...`` — give a client ``base_url_for(n)`` and its normal path
  is appended;
* or, for one client that replays many entries over one connection pool, the
  ``X-Replay-Entry: <n>`` header, which a caller passes as an ordinary per-call
  ``http_headers=`` option.

Event streams are sent with chunked transfer encoding, cut at seeded random byte offsets
(within lines, and always at least once inside a multi-byte UTF-8 sequence when the body has
one), so the client's SSE decoder sees the same events split the way any network may split
them. Padded JSON bodies are chunked too, the padding first, as OpenRouter streams them while
it waits for the model; other JSON bodies carry a Content-Length.

What each request looked like (method, target, headers, body) is kept in ``received`` so a
test can check that the client sent the call that was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ._loopback_server import _read_request

ENTRY_HEADER = "X-Replay-Entry"

#: Recorded response headers that describe the recorded framing, not the body we send.
_FRAMING_HEADERS = frozenset(
    {"content-type", "content-length", "transfer-encoding", "content-encoding", "connection"}
)


@dataclass(frozen=True)
class RecordedResponse:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    target: str
    """The request target with the ``/replay/<n>`` prefix removed."""
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass
class _Counters:
    requests: int = 0
    sse_pieces: int = 0
    utf8_cuts: int = 0
    connections: int = 0


@dataclass
class ReplayServer:
    responses: Sequence[RecordedResponse]
    seed: int = 12
    port: int = 0
    received: dict[int, list[ReceivedRequest]] = field(default_factory=dict)
    counters: _Counters = field(default_factory=_Counters)
    _loop: asyncio.AbstractEventLoop | None = None
    _stopped: asyncio.Event | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    # -- addresses ------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url_for(self, n: int) -> str:
        """The API base URL that replays entry ``n`` for every call made through it."""
        return f"{self.origin}/replay/{n}/api/v1"

    @property
    def base_url(self) -> str:
        """The API base URL for calls that name their entry in ``X-Replay-Entry``."""
        return f"{self.origin}/api/v1"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="replay-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("replay server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stopped.wait()
            for writer in list(self._writers):
                writer.transport.abort()

    # -- connections ----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.connections += 1
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                self.counters.requests += 1
                n, target = self._route(target, headers)
                if n is None or not 0 <= n < len(self.responses):
                    await _write_whole(writer, 404, "application/json", b'{"error":"no entry"}')
                    continue
                self.received.setdefault(n, []).append(
                    ReceivedRequest(method, target, tuple(headers), body)
                )
                await self._answer(writer, n, self.responses[n])
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        except asyncio.CancelledError:  # server shutdown
            return
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    @staticmethod
    def _route(target: str, headers: list[tuple[str, str]]) -> tuple[int | None, str]:
        if target.startswith("/replay/"):
            number, _, rest = target[len("/replay/") :].partition("/")
            return (int(number) if number.isdigit() else None), "/" + rest
        for name, value in headers:
            if name.lower() == ENTRY_HEADER.lower():
                return (int(value) if value.isdigit() else None), target
        return None, target

    async def _answer(self, w: asyncio.StreamWriter, n: int, response: RecordedResponse) -> None:
        body = response.body
        if response.content_type.startswith("text/event-stream"):
            pieces = self.cut_stream(n, body)
            self.counters.sse_pieces += len(pieces)
            await _write_chunked(w, response, pieces)
        elif body[:1].isspace():
            start = len(body) - len(body.lstrip())
            await _write_chunked(w, response, [body[:start], body[start:]])
        else:
            await _write_whole(w, response.status, response.content_type, body, response.headers)

    def cut_stream(self, n: int, body: bytes) -> list[bytes]:
        """``body`` cut at seeded random offsets (the same cuts for the same entry and seed),
        one of them inside a multi-byte UTF-8 sequence when there is one."""
        rng = random.Random(self.seed * 1_000_003 + n)
        cuts = {rng.randrange(1, len(body)) for _ in range(min(len(body) - 1, rng.randint(3, 24)))}
        # A continuation byte (0b10xxxxxx) starts no character: cutting before it splits one.
        continuation = [i for i in range(1, len(body)) if body[i] & 0xC0 == 0x80]
        if continuation:
            cuts.add(rng.choice(continuation))
            self.counters.utf8_cuts += 1
        bounds = [0, *sorted(cuts), len(body)]
        return [body[a:b] for a, b in itertools.pairwise(bounds) if b > a]


async def _write_chunked(
    w: asyncio.StreamWriter, response: RecordedResponse, pieces: Sequence[bytes]
) -> None:
    w.write(_head(response.status, response.content_type, response.headers, None))
    for piece in pieces:
        w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        await w.drain()
        # Let the bytes leave before the next piece, so the client tends to read them apart.
        await asyncio.sleep(0)
    w.write(b"0\r\n\r\n")
    await w.drain()


async def _write_whole(
    w: asyncio.StreamWriter,
    status: int,
    content_type: str,
    body: bytes,
    headers: Sequence[tuple[str, str]] = (),
) -> None:
    w.write(_head(status, content_type, headers, len(body)) + body)
    await w.drain()


def _head(
    status: int, content_type: str, headers: Sequence[tuple[str, str]], length: int | None
) -> bytes:
    lines = [f"HTTP/1.1 {status} Recorded", f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _FRAMING_HEADERS]
    lines.append("Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@contextlib.contextmanager
def running_replay_server(
    responses: Sequence[RecordedResponse], seed: int = 12
) -> Iterator[ReplayServer]:
    server = ReplayServer(responses, seed=seed)
    server.start()
    try:
        yield server
    finally:
        server.stop()
