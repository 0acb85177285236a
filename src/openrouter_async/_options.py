"""The options of a client, checked once: :class:`ClientOptions`, shared by every Session built
from them (the facade builds one for its portal thread and one for ``async with``).

The keywords carry the official SDK's names where it has one (``server_url``, ``timeout_ms``,
``retry_config``, ``http_headers``, ``debug_logger``, ``http_referer``,
``x_open_router_title``); :class:`OptionArgs` lists them, and ``Session(...)`` and
``OpenRouter(...)`` both take them, so the list exists once. Everything read from the
environment (``OPENROUTER_API_KEY``, ``OPENROUTER_BASE_URL``, ``OPENROUTER_HTTP_REFERER``,
``OPENROUTER_X_TITLE``, ``OPENROUTER_DEBUG``) is read here, when the options are built.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

import attrs
import httpx

from ._config import DEFAULT_RETRY_CONFIG, RetryConfig, Timeouts
from ._headers import check_header, check_headers
from ._logging import debug_logger_from_env
from ._proxies import ProxyTypes, as_proxy
from ._redaction import remember_secret
from ._tls import VerifyTypes
from ._version import __version__

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DEFAULT_BASE_URL", "ApiKey", "ClientOptions", "OptionArgs"]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

#: An API key, or a function returning one (sync or async), called for every request so that
#: a rotated key is picked up without rebuilding the Session.
ApiKey = str | Callable[[], str] | Callable[[], Awaitable[str]]


class OptionArgs(TypedDict, total=False):
    """The keyword options of ``Session(...)`` and ``OpenRouter(...)``."""

    api_key: ApiKey | None
    base_url: str | None
    server_url: str | None  #: the official SDK's name for ``base_url``
    timeout_ms: int | float | None
    timeouts: Timeouts | None
    retry_config: RetryConfig | None
    http_headers: Mapping[str, str] | None
    http_referer: str | None
    x_open_router_title: str | None
    debug_logger: logging.Logger | None
    max_connections: int
    max_keepalive_connections: int | None
    keepalive_expiry: float
    client: httpx.AsyncClient | None
    transport: httpx.AsyncBaseTransport | None
    max_concurrency: int | None
    rpm: float | None
    tpm: float | None
    adaptive_concurrency: bool
    proxy: ProxyTypes | None
    trust_env: bool
    verify: VerifyTypes


@attrs.frozen(kw_only=True)
class ClientOptions:
    """What a Session is built from, validated; build it with :meth:`from_args`."""

    base_url: str
    api_key: ApiKey | None = attrs.field(repr=False)
    timeouts: Timeouts
    retry_config: RetryConfig
    #: sent with every request (auth excepted): ours, the attribution ones, ``http_headers``
    headers: Mapping[str, str]
    logger: logging.Logger | None
    max_connections: int
    max_keepalive_connections: int | None
    keepalive_expiry: float
    client: httpx.AsyncClient | None
    transport: httpx.AsyncBaseTransport | None
    max_concurrency: int | None
    rpm: float | None
    tpm: float | None
    adaptive_concurrency: bool
    proxy: httpx.Proxy | None
    trust_env: bool
    verify: str | os.PathLike[str] | ssl.SSLContext | bool

    @classmethod
    def from_args(cls, **args: Unpack[OptionArgs]) -> ClientOptions:
        """Check every option (naming it when it is wrong) and read the environment."""
        unknown = set(args) - set(OptionArgs.__annotations__)
        if unknown:  # as a signature would: a misspelt option is not ignored
            raise TypeError(f"unexpected option(s): {', '.join(sorted(unknown))}")
        api_key = args.get("api_key")
        base_url, server_url = args.get("base_url"), args.get("server_url")
        client, transport = args.get("client"), args.get("transport")
        proxy, verify = args.get("proxy"), args.get("verify", True)
        max_connections = args.get("max_connections", 100)
        trust_env = args.get("trust_env", True)
        retry_config = args.get("retry_config")
        if base_url is not None and server_url is not None and base_url != server_url:
            raise ValueError("give base_url or server_url, not both")
        url = base_url or server_url or os.environ.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
        if client is not None and transport is not None:
            raise ValueError("give client or transport, not both")
        if (client is not None or transport is not None) and (
            proxy is not None or verify is not True
        ):
            # Never silently dropped: the proxy and TLS settings belong to the pool, and a
            # client or transport of the caller's own has its pool already.
            given = "client" if client is not None else "transport"
            raise ValueError(
                f"proxy= and verify= configure the Session's own pool: with {given}=, set "
                f"them on that {given} (httpx.AsyncHTTPTransport(proxy=..., verify=...))"
            )
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError(f"max_connections must be an int, got {max_connections!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections!r}")
        if api_key is not None and not isinstance(api_key, str) and not callable(api_key):
            raise TypeError(
                "api_key must be a string, or a function returning one (sync or async), "
                f"got {type(api_key).__name__}"  # the type only: it may be a key anyway
            )
        # An empty key (the product description passes os.getenv(..., "")) means none given.
        key: ApiKey | None = api_key or os.environ.get("OPENROUTER_API_KEY") or None
        if isinstance(key, str):
            check_header("Authorization", key, label="the API key")
            remember_secret(key)  # masked in every error text from now on
        if isinstance(verify, (str, os.PathLike)) and not os.path.exists(verify):
            raise ValueError(f"verify={os.fspath(verify)!r}: no such CA bundle file or directory")
        retry = retry_config if retry_config is not None else DEFAULT_RETRY_CONFIG
        return cls(
            base_url=url.rstrip("/"),
            api_key=key,
            timeouts=(args.get("timeouts") or Timeouts()).with_timeout_ms(args.get("timeout_ms")),
            retry_config=retry,
            headers=_base_headers(
                args.get("http_headers"), args.get("http_referer"), args.get("x_open_router_title")
            ),
            logger=args.get("debug_logger") or debug_logger_from_env(),
            max_connections=max_connections,
            max_keepalive_connections=args.get("max_keepalive_connections"),
            keepalive_expiry=args.get("keepalive_expiry", 30.0),
            client=client,
            transport=transport,
            max_concurrency=args.get("max_concurrency"),
            rpm=args.get("rpm"),
            tpm=args.get("tpm"),
            adaptive_concurrency=args.get("adaptive_concurrency", True),
            proxy=as_proxy(proxy) if proxy is not None else None,  # ValueError when bad
            trust_env=trust_env,
            verify=verify,
        )


def _base_headers(
    http_headers: Mapping[str, str] | None, referer: str | None, title: str | None
) -> dict[str, str]:
    headers = {
        "Accept": "application/json",
        # Sent explicitly (httpx's client would add it): the aiohttp transport then has no
        # automatic header to suppress, which is its slow path.
        "Accept-Encoding": "gzip, deflate",
        "Content-Type": "application/json",
        "User-Agent": f"openrouter-async/{__version__}",
    }
    referer = referer or os.environ.get("OPENROUTER_HTTP_REFERER")
    title = title or os.environ.get("OPENROUTER_X_TITLE")
    # Checked once here, so that no call pays for it; per-call headers are checked per call.
    if referer:
        check_header("HTTP-Referer", referer, label="http_referer")
        headers["HTTP-Referer"] = referer
    if title:
        check_header("X-OpenRouter-Title", title, label="x_open_router_title")
        headers["X-OpenRouter-Title"] = title
    if http_headers:
        check_headers(http_headers)
        remember_credentials(http_headers)
        headers.update(http_headers)
    return headers


def remember_credentials(headers: Mapping[str, Any]) -> None:
    """A key given as a header of its own (``Authorization: Bearer ...``) is masked in error
    texts like ``api_key`` is."""
    for name, value in headers.items():
        if name.lower() in ("authorization", "x-api-key", "api-key") and isinstance(value, str):
            remember_secret(value)
            remember_secret(value.partition(" ")[2])
