"""The transport seam: which :class:`httpx.AsyncBaseTransport` a Session runs on.

* asyncio -> :class:`._aiohttp.AiohttpTransport` (aiohttp's pool; aiohttp imported lazily);
* trio    -> :class:`._h11pool.AnyioH11Transport` (a small h11-over-anyio keep-alive pool),
  about 9x httpx's own pool on trio under fan-out (``benchmarks/bench_transports.py``).

Both are plain httpx transports: ``httpx.AsyncClient(transport=...)`` works, but the client
layer costs more CPU than the transport itself (cookie jar, auth/redirect machinery,
``BoundAsyncStream``); for throughput call ``transport.handle_async_request(httpx.Request(...))``
directly, with the ``"timeout"`` extension set on the request (or, on a
:class:`PreparingTransport`, prepare it once and send it with a new body each time). Response
streams are plain async iterators (no generators), so breaking out of ``response.stream``
leaves nothing to finalize.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

if TYPE_CHECKING:
    from .._proxies import ProxyMap

__all__ = ["PreparingTransport", "detect_backend", "make_transport"]


@runtime_checkable
class PreparingTransport(Protocol):
    """A transport that can also send requests prepared once and reused with another body
    each time (the aiohttp one): a caller sending many requests that differ only in their
    body skips building an :class:`httpx.Request` per request, and the transport skips
    converting it. Responses come back with their body streaming and no ``request`` set."""

    def prepare(self, request: httpx.Request, *, has_body: bool) -> Any:
        """``request`` (its body is ignored) in the transport's own terms."""
        ...

    async def send_prepared(self, prepared: Any, data: bytes | None) -> httpx.Response:
        """Send ``prepared`` with ``data`` as its body."""
        ...


def detect_backend() -> str:
    """The async library running the current task: ``"asyncio"`` or ``"trio"``.

    Asks sniffio (trio depends on it and sets it; recent anyio releases no longer require it);
    without sniffio only asyncio can be running. Raises :class:`RuntimeError` outside async code.
    """
    try:
        import sniffio
    except ImportError:  # pragma: no cover - trio (and so sniffio) is installed for the tests
        pass
    else:
        try:
            return sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            raise RuntimeError("detect_backend() must be called from async code") from None
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("detect_backend() must be called from async code") from None
    return "asyncio"


def make_transport(
    backend: str,
    *,
    max_connections: int,
    max_keepalive: int | None,
    keepalive_expiry: float,
    connect_timeout: float | None,
    ssl_context: ssl.SSLContext | None = None,
    proxies: ProxyMap | None = None,
) -> httpx.AsyncBaseTransport:
    """A new transport for ``backend`` (``"asyncio"`` or ``"trio"``); it must be used (and
    closed) on that backend, the aiohttp one in the event loop that first uses it.

    ``connect_timeout`` applies to requests that carry no ``"timeout"`` extension; the
    extension's ``connect``/``read``/``write``/``pool`` values win when present.
    ``ssl_context`` (``None``: the system's CA store) verifies https servers; ``proxies`` (see
    ``_proxies.py``; ``None``: always direct) says which requests go through a proxy.
    """
    if backend == "asyncio":
        from ._aiohttp import AiohttpTransport

        return AiohttpTransport(
            max_connections=max_connections,
            max_keepalive=max_keepalive,
            keepalive_expiry=keepalive_expiry,
            connect_timeout=connect_timeout,
            ssl_context=ssl_context,
            proxies=proxies,
        )
    if backend == "trio":
        from ._h11pool import AnyioH11Transport

        return AnyioH11Transport(
            max_connections=max_connections,
            max_keepalive=max_keepalive,
            keepalive_expiry=keepalive_expiry,
            connect_timeout=connect_timeout,
            ssl_context=ssl_context,
            proxies=proxies,
        )
    raise ValueError(f"unsupported async backend: {backend!r}")
