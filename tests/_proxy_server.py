"""A small forward HTTP proxy on 127.0.0.1, run in a background thread, for the proxy tests.

* an absolute-form request (``GET http://host:port/path HTTP/1.1``) is forwarded to its
  target in origin form, and the response relayed back as it arrives (framing kept, so event
  streams stay incremental);
* ``CONNECT host:port`` is answered ``200`` and tunnelled byte for byte (TLS to the target
  runs through it);
* it counts both, records the targets and any ``Proxy-Authorization`` it was sent, so a test
  can prove that traffic went through it (and that none did, when it must not).

Raw asyncio streams, like ``_loopback_server.py``. Only loopback targets are accepted: no test
traffic can leave the machine through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ProxyStats:
    forwarded: int = 0
    """Absolute-form requests forwarded."""
    tunnels: int = 0
    """CONNECT tunnels opened."""
    targets: list[str] = field(default_factory=list)
    proxy_authorization: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.forwarded + self.tunnels


class ProxyServer:
    def __init__(self) -> None:
        self.stats = ProxyStats()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="proxy-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy server did not start")

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

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(p.strip() for p in ln.split(":", 1)) for ln in lines[1:] if ln]
                for name, value in headers:
                    if name.lower() == "proxy-authorization":
                        self.stats.proxy_authorization.append(value)
                if method == "CONNECT":
                    await self._tunnel(reader, writer, target)
                    return
                await self._forward(reader, writer, method, target, headers)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _tunnel(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str
    ) -> None:
        host, _, port = target.rpartition(":")
        if host.strip("[]") not in _LOOPBACK:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        self.stats.tunnels += 1
        self.stats.targets.append(target)
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            up_writer.transport.abort()

    async def _forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: list[tuple[str, ...]],
    ) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or parts.hostname not in _LOOPBACK:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        self.stats.forwarded += 1
        self.stats.targets.append(target)
        lower = {h[0].lower(): h[1] for h in headers}
        body = await _read_body(reader, lower)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        kept = [
            (name, value)
            for name, value in headers
            if name.lower() not in ("proxy-authorization", "proxy-connection", "transfer-encoding")
            and name.lower() != "content-length"
        ]
        kept.append(("Content-Length", str(len(body))))
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            request = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in kept)
            up_writer.write(request.encode("latin-1") + b"\r\n" + body)
            await up_writer.drain()
            await _relay_response(up_reader, writer, head_only=method == "HEAD")
        finally:
            up_writer.transport.abort()


async def _read_body(reader: asyncio.StreamReader, lower: dict[str, str]) -> bytes:
    if lower.get("transfer-encoding", "").lower() == "chunked":
        pieces = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(pieces)
            pieces.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return await reader.readexactly(int(lower.get("content-length", "0")))


async def _relay_response(
    up: asyncio.StreamReader, down: asyncio.StreamWriter, *, head_only: bool
) -> None:
    """Copy one response, framing and all, as it arrives."""
    head = await up.readuntil(b"\r\n\r\n")
    down.write(head)
    await down.drain()
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    lower = {
        k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
    }
    if head_only or status in (204, 304) or 100 <= status < 200:
        return
    if lower.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await up.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            data = await up.readexactly(size + 2)
            down.write(size_line + data)
            await down.drain()
            if size == 0:
                return
    length = int(lower.get("content-length", "0"))
    if length:
        down.write(await up.readexactly(length))
        await down.drain()


@contextlib.contextmanager
def running_proxy() -> Iterator[ProxyServer]:
    proxy = ProxyServer()
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
