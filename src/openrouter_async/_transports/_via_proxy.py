"""Requests through a proxy on the h11 pool: httpx's own transport (httpcore), per proxy.

httpcore speaks every kind of proxy httpx does (absolute-form requests to an HTTP proxy,
``CONNECT`` tunnels for https targets, TLS to an ``https://`` proxy, SOCKS with ``socksio``),
on trio as on asyncio. Only proxied requests come here, so the direct path keeps the h11
pool's speed; a proxied one pays httpcore's cost, which is small next to the proxy hop.
"""

from __future__ import annotations

import ssl

import httpx

__all__ = ["ProxyTransports"]


class ProxyTransports:
    """One :class:`httpx.AsyncHTTPTransport` per proxy, created on first use."""

    __slots__ = ("_limits", "_ssl_context", "_transports")

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int,
        max_keepalive: int | None,
        keepalive_expiry: float,
    ) -> None:
        self._ssl_context = ssl_context
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=keepalive_expiry,
        )
        self._transports: dict[str, httpx.AsyncHTTPTransport] = {}

    def get(self, proxy: httpx.Proxy) -> httpx.AsyncHTTPTransport:
        key = repr((str(proxy.url), proxy.auth, list(proxy.headers.raw), id(proxy.ssl_context)))
        transport = self._transports.get(key)
        if transport is None:
            # No context of ours means the system store, as on the direct path (httpx's own
            # default, certifi, would trust another set of CAs through a proxy).
            verify = self._ssl_context or ssl.create_default_context()
            transport = httpx.AsyncHTTPTransport(
                verify=verify, proxy=proxy, limits=self._limits, trust_env=False
            )
            self._transports[key] = transport
        return transport

    async def aclose(self) -> None:
        transports = list(self._transports.values())
        self._transports.clear()
        for transport in transports:
            await transport.aclose()
