"""Binary downloads (file content, speech audio, video): the body is streamed, never buffered
by us before the caller asks for it.

An operation returning bytes gives back a :class:`BinaryResponse` once the headers arrived
(HTTP errors are raised before that). Read it with ``await r.read()`` for a small body, or
``async for chunk in r.iter_bytes()`` / ``await r.save(path)`` to keep memory flat. Use it as a
context manager, or read it to the end, so that its connection is released: ``async with``
closes it whatever happens. The sync facade hands out a :class:`SyncBinaryResponse` with the
same methods, driven through the portal.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from ._transport_errors import translate_transport_error
from .errors import StreamIdleTimeoutError

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

__all__ = ["BinaryResponse", "SyncBinaryResponse"]


class BinaryResponse:
    """A streamed binary body: ``async with await client.files.download_async(...) as r:``."""

    def __init__(self, response: httpx.Response, *, idle_timeout: float) -> None:
        self._response = response
        self._idle_timeout = idle_timeout
        self._closed = False

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str | None:
        value: str | None = self._response.headers.get("content-type")
        return value

    def __repr__(self) -> str:
        return f"<BinaryResponse {self.status_code} {self.content_type or ''}>".replace(" >", ">")

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        """The body chunk by chunk as it arrives; the connection is released at the end."""
        stream: Any = self._response.stream
        iterator = stream.__aiter__()
        try:
            while True:
                try:
                    with anyio.fail_after(self._idle_timeout):
                        chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise StreamIdleTimeoutError(
                        f"no data for {self._idle_timeout:g} s while downloading"
                    ) from None
                except (httpx.HTTPError, OSError) as error:
                    raise translate_transport_error(error) from error
                if chunk:
                    yield chunk
        finally:
            await self.aclose()

    async def read(self) -> bytes:
        """The whole body (joined once from the received chunks)."""
        return b"".join([chunk async for chunk in self.iter_bytes()])

    async def save(self, path: str | os.PathLike[str]) -> int:
        """Write the body to ``path`` as it arrives; return the number of bytes written."""
        written = 0
        async with await anyio.open_file(path, "wb") as handle:
            async for chunk in self.iter_bytes():
                await handle.write(chunk)
                written += len(chunk)
        return written

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            with anyio.CancelScope(shield=True):
                await self._response.aclose()

    async def __aenter__(self) -> BinaryResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class SyncBinaryResponse:
    """The sync facade's :class:`BinaryResponse`: ``with client.files.download(...) as r:``."""

    def __init__(self, response: BinaryResponse, portal: BlockingPortal) -> None:
        self._response = response
        self._portal = portal

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str | None:
        return self._response.content_type

    def __repr__(self) -> str:
        return repr(self._response)

    def iter_bytes(self) -> Iterator[bytes]:
        """The body chunk by chunk, each fetched through the portal."""
        iterator = self._response.iter_bytes()
        try:
            while True:
                try:
                    yield self._portal.call(iterator.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            self._portal.call(iterator.aclose)

    def read(self) -> bytes:
        return self._portal.call(self._response.read)

    def save(self, path: str | os.PathLike[str]) -> int:
        return self._portal.call(self._response.save, path)

    def close(self) -> None:
        self._portal.call(self._response.aclose)

    def __enter__(self) -> SyncBinaryResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
