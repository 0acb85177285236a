"""Which proxy, if any, a request goes through: httpx's rules, for our own transports.

* ``proxy=`` (a URL or an :class:`httpx.Proxy`) sends every request through that proxy;
* otherwise, with ``trust_env`` (the default), ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY``
  and ``NO_PROXY`` (either case) apply exactly as httpx reads them
  (``httpx._utils.get_environment_proxies``: ``NO_PROXY=*`` turns them all off, a host entry
  covers its subdomains, ``localhost`` and IP addresses match as written);
* with ``trust_env=False`` the environment is not read.

The environment is read once, when the Session opens its transport (as httpx reads it when a
client is built). :func:`proxy_map` returns ``None`` when no proxy can apply: then the
transports take no proxy path at all and the hot path is the same as without this module.
"""

from __future__ import annotations

import httpx

__all__ = ["ProxyMap", "ProxyTypes", "proxy_map"]

ProxyTypes = str | httpx.URL | httpx.Proxy


class ProxyMap:
    """URL -> the :class:`httpx.Proxy` to use, or ``None`` for a direct connection;
    answered once per origin (a Session talks to one or two)."""

    __slots__ = ("_by_origin", "_patterns")

    def __init__(self, patterns: dict[str, httpx.Proxy | None]) -> None:
        from httpx._utils import URLPattern  # httpx's own matcher: the same precedence

        # Most specific pattern first, as httpx sorts its mounts.
        self._patterns = sorted((URLPattern(key), proxy) for key, proxy in patterns.items())
        self._by_origin: dict[tuple[bytes, bytes, int | None], httpx.Proxy | None] = {}

    def for_url(self, url: httpx.URL) -> httpx.Proxy | None:
        origin = (url.raw_scheme, url.raw_host, url.port)
        try:
            return self._by_origin[origin]
        except KeyError:
            pass
        found: httpx.Proxy | None = None
        for pattern, proxy in self._patterns:
            if pattern.matches(url):
                found = proxy
                break
        if len(self._by_origin) > 64:
            self._by_origin.clear()
        self._by_origin[origin] = found
        return found


def proxy_map(proxy: ProxyTypes | None, *, trust_env: bool) -> ProxyMap | None:
    """The proxies that apply, or ``None`` when every request goes direct."""
    if proxy is not None:
        return ProxyMap({"all://": as_proxy(proxy)})
    if not trust_env:
        return None
    from httpx._utils import get_environment_proxies

    patterns = {
        key: None if url is None else httpx.Proxy(url=url)
        for key, url in get_environment_proxies().items()
    }
    if not any(patterns.values()):
        return None
    return ProxyMap(patterns)


def as_proxy(proxy: ProxyTypes) -> httpx.Proxy:
    """``proxy`` as an :class:`httpx.Proxy` (credentials in its URL move to ``.auth``);
    raises ``ValueError`` for a scheme httpx cannot proxy through."""
    if isinstance(proxy, httpx.Proxy):
        return proxy
    return httpx.Proxy(url=proxy)
