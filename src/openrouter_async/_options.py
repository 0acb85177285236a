"""The options of a client, checked once: :class:`ClientOptions`, shared by every Session built
from them (the facade builds one for its portal thread and one for ``async with``).

The keywords carry the official SDK's names where it has one (``server_url``, ``server``,
``url_params``, ``timeout_ms``, ``retry_config``, ``http_headers``, ``debug_logger``,
``http_referer``, ``x_open_router_title``, ``x_open_router_categories``) and take openai's
``max_retries`` and ``timeout`` (seconds) too; :class:`OptionArgs` lists them, and
``Session(...)`` and ``OpenRouter(...)`` both take them, so the list exists once. Everything
read from the environment (``OPENROUTER_API_KEY``, ``OPENROUTER_BASE_URL``,
``OPENROUTER_HTTP_REFERER``, ``OPENROUTER_X_OPEN_ROUTER_TITLE``,
``OPENROUTER_X_OPEN_ROUTER_CATEGORIES``, ``OPENROUTER_DEBUG``) is read here, when the options
are built.

:class:`ViewArgs` are what ``with_options(...)`` overrides for a view of a client.
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

    from ._budget import RedisBudget

__all__ = [
    "DEFAULT_BASE_URL",
    "SERVERS",
    "ApiKey",
    "ClientOptions",
    "OptionArgs",
    "ViewArgs",
    "attribution_headers",
    "check_base_url",
    "view_defaults",
]

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

#: The official SDK's named servers (``server="production"``).
SERVERS = {"production": DEFAULT_BASE_URL}

#: The attribution headers: option name, header, environment variable (the official SDK's).
_ATTRIBUTION = (
    ("http_referer", "HTTP-Referer", "OPENROUTER_HTTP_REFERER"),
    ("x_open_router_title", "X-OpenRouter-Title", "OPENROUTER_X_OPEN_ROUTER_TITLE"),
    ("x_open_router_categories", "X-OpenRouter-Categories", "OPENROUTER_X_OPEN_ROUTER_CATEGORIES"),
)

#: An API key, or a function returning one (sync or async), called for every request so that
#: a rotated key is picked up without rebuilding the Session.
ApiKey = str | Callable[[], str] | Callable[[], Awaitable[str]]


class OptionArgs(TypedDict, total=False):
    """The keyword options of ``Session(...)`` and ``OpenRouter(...)``."""

    api_key: ApiKey | None
    base_url: str | None
    server_url: str | None  #: the official SDK's name for ``base_url``
    server: str | None  #: a named server of the official SDK's (:data:`SERVERS`)
    url_params: Mapping[str, str] | None  #: ``{name}`` placeholders of ``server_url``
    timeout_ms: int | float | None
    timeout: int | float | None  #: openai's spelling, in seconds
    timeouts: Timeouts | None
    retry_config: RetryConfig | None
    max_retries: int | None  #: openai's spelling: retries after the first attempt
    http_headers: Mapping[str, str] | None
    http_referer: str | None
    x_open_router_title: str | None
    x_open_router_categories: str | None
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
    #: a rate, concurrency and cost budget shared with other Sessions and processes on Redis
    budget: RedisBudget | None


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
    budget: RedisBudget | None = None

    @classmethod
    def from_args(cls, **args: Unpack[OptionArgs]) -> ClientOptions:
        """Check every option (naming it when it is wrong) and read the environment."""
        unknown = set(args) - set(OptionArgs.__annotations__)
        if unknown:  # as a signature would: a misspelt option is not ignored
            raise TypeError(f"unexpected option(s): {', '.join(sorted(unknown))}")
        api_key = args.get("api_key")
        base_url = _base_url(args)
        client, transport = args.get("client"), args.get("transport")
        proxy, verify = args.get("proxy"), args.get("verify", True)
        max_connections = args.get("max_connections", 100)
        trust_env = args.get("trust_env", True)
        url = check_base_url(
            base_url or os.environ.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL, "base_url"
        )
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
        defaults = view_defaults(DEFAULT_RETRY_CONFIG, **_view_args(args))
        budget = args.get("budget")
        if budget is not None:
            from ._budget import RedisBudget

            if not isinstance(budget, RedisBudget):
                raise TypeError(f"budget must be a RedisBudget, got {type(budget).__name__}")
        return cls(
            base_url=url,
            api_key=key,
            timeouts=(args.get("timeouts") or Timeouts()).with_timeout_ms(defaults.timeout_ms),
            retry_config=defaults.retries or DEFAULT_RETRY_CONFIG,
            headers=_base_headers(args),
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
            budget=budget,
        )


def _base_url(args: OptionArgs) -> str | None:
    """``base_url`` / ``server_url`` (one name each for the same thing), or a named
    ``server``; ``url_params`` fill the ``{name}`` placeholders, as the official SDK's do."""
    base_url, server_url, server = args.get("base_url"), args.get("server_url"), args.get("server")
    if base_url is not None and server_url is not None and base_url != server_url:
        raise ValueError("give base_url or server_url, not both")
    url = base_url or server_url
    if server is not None:
        if url is not None:
            raise ValueError("give server or server_url, not both")
        if server not in SERVERS:
            raise ValueError(f"server must be one of {sorted(SERVERS)}, got {server!r}")
        url = SERVERS[server]
    url_params = args.get("url_params")
    if url_params:
        if url is None:
            raise ValueError("url_params fill in the placeholders of server_url: give both")
        for name, value in url_params.items():
            url = url.replace("{" + name + "}", str(value))
    return url


def check_base_url(url: object, label: str) -> str:
    """An http(s) URL, without its trailing slash."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"{label} must be an http(s) URL, got {url!r}")
    if "{" in url:
        raise ValueError(f"{label} has a placeholder left ({url!r}): give url_params=")
    return url.rstrip("/")


class ViewArgs(TypedDict, total=False):
    """What ``with_options(...)`` overrides; the rest of a view is its client's."""

    timeout_ms: int | float | None
    timeout: int | float | None  #: openai's spelling, in seconds
    retries: RetryConfig | None
    retry_config: RetryConfig | None  #: the constructor's name for ``retries``
    max_retries: int | None  #: openai's spelling: retries after the first attempt
    http_headers: Mapping[str, str] | None  #: merged over the client's
    server_url: str | None
    base_url: str | None


@attrs.frozen
class ViewDefaults:
    """Checked :class:`ViewArgs`: the defaults a view gives each of its calls."""

    timeout_ms: float | None = None
    retries: RetryConfig | None = None
    headers: Mapping[str, str] | None = None
    base_url: str | None = None


def view_defaults(current: RetryConfig, /, **args: Unpack[ViewArgs]) -> ViewDefaults:
    """Check the overrides of a view (or the constructor's openai spellings), each named in
    its error; ``max_retries`` applies to ``retries`` when given, else to ``current`` (the
    policy in force)."""
    unknown = set(args) - set(ViewArgs.__annotations__)
    if unknown:
        raise TypeError(f"unexpected option(s): {', '.join(sorted(unknown))}")
    timeout_ms, timeout = args.get("timeout_ms"), args.get("timeout")
    if timeout is not None:
        if timeout_ms is not None:
            raise ValueError("give timeout (seconds) or timeout_ms, not both")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(
                f"timeout takes seconds as a number, got {type(timeout).__name__} (connect, "
                "whole-call and stream idle timeouts apart: timeouts=Timeouts(...))"
            )
        timeout_ms = timeout * 1000.0
    if timeout_ms is not None:
        Timeouts().with_timeout_ms(timeout_ms)  # checks it, naming timeout_ms
    retries, retry_alias = args.get("retries"), args.get("retry_config")
    if retries is not None and retry_alias is not None and retries != retry_alias:
        raise ValueError("give retries or retry_config, not both")
    retries = retries if retries is not None else retry_alias
    if retries is not None and not isinstance(retries, RetryConfig):
        raise TypeError(f"retries must be a RetryConfig, got {type(retries).__name__}")
    max_retries = args.get("max_retries")
    if max_retries is not None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(
                f"max_retries must be an int of at least 0 (0: no retry), got {max_retries!r}"
            )
        base = retries or current
        if base.strategy == "none" and max_retries:
            base = DEFAULT_RETRY_CONFIG
        retries = attrs.evolve(base, max_attempts=max_retries + 1)
    headers = args.get("http_headers")
    if headers:
        check_headers(headers)
        remember_credentials(headers)
    base_url, server_url = args.get("base_url"), args.get("server_url")
    if base_url is not None and server_url is not None and base_url != server_url:
        raise ValueError("give base_url or server_url, not both")
    url = base_url or server_url
    return ViewDefaults(
        timeout_ms=timeout_ms,
        retries=retries,
        headers=dict(headers) if headers else None,
        base_url=check_base_url(url, "server_url") if url is not None else None,
    )


def _view_args(args: OptionArgs) -> ViewArgs:
    """The constructor's options that a view can override too."""
    view: ViewArgs = {}
    for name in ("timeout_ms", "timeout", "retry_config", "max_retries"):
        if args.get(name) is not None:
            view[name] = args[name]
    return view


def attribution_headers(values: Mapping[str, Any], *, environ: bool) -> dict[str, str]:
    """The attribution headers given as options (``http_referer=``...), per client or per
    call; a client falls back on the environment variables the official SDK reads."""
    headers: dict[str, str] = {}
    for option, header, variable in _ATTRIBUTION:
        value = values.get(option)
        if value is None and environ:
            value = os.environ.get(variable)
            if variable == "OPENROUTER_X_OPEN_ROUTER_TITLE":
                value = value or os.environ.get("OPENROUTER_X_TITLE")  # our earlier name
        if value:
            if not isinstance(value, str):
                raise TypeError(f"{option} must be a str, got {type(value).__name__}")
            check_header(header, value, label=option)
            headers[header] = value
    return headers


def _base_headers(args: OptionArgs) -> dict[str, str]:
    headers = {
        "Accept": "application/json",
        # Sent explicitly (httpx's client would add it): the aiohttp transport then has no
        # automatic header to suppress, which is its slow path.
        "Accept-Encoding": "gzip, deflate",
        "Content-Type": "application/json",
        "User-Agent": f"openrouter-async/{__version__}",
    }
    # Checked once here, so that no call pays for it; per-call headers are checked per call.
    headers.update(attribution_headers(args, environ=True))
    http_headers = args.get("http_headers")
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
