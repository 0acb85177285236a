"""The edges of HTTP (issue 12, point 5): redirects, proxies, TLS, header values, redaction.

Every async test runs on asyncio (the aiohttp transport) and trio (the h11 pool), against
real loopback servers: ``_loopback_server.py`` as the API, ``_proxy_server.py`` as a forward
proxy that counts what went through it, and a TLS server with a throwaway CA (trustme).
"""

from __future__ import annotations

import json
import logging
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx
import pytest

from openrouter_async import BackoffStrategy, OpenRouter, RetryConfig, Session, errors
from openrouter_async._chat import parse_chat_event
from openrouter_async.models import ChatRequest

from ._loopback_server import LoopbackServer, running_server
from ._proxy_server import ProxyServer, running_proxy
from .conftest import API_KEY

trustme = pytest.importorskip("trustme")

pytestmark = pytest.mark.anyio

KEY = "sk-or-v1-edge-" + "0123456789abcdef" * 3
NO_RETRY = RetryConfig("none")
RETRY = RetryConfig("backoff", None, True, max_attempts=3)
_PROXY_VARS = [
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    for name in (base, base.lower())
]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with running_server() as s:
        yield s


@pytest.fixture
def other_server() -> Iterator[LoopbackServer]:
    with running_server() as s:
        yield s


@pytest.fixture
def proxy() -> Iterator[ProxyServer]:
    with running_proxy() as p:
        yield p


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variables from the machine running the tests."""
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def session(base_url: str, **options: Any) -> Session:
    options.setdefault("api_key", KEY)
    options.setdefault("retry_config", NO_RETRY)
    return Session(base_url=base_url, **options)


def echo_path(**query: Any) -> str:
    return "/redirect?" + urlencode(query)


async def post_echo(s: Session, path: str, *, per_call: bool = False) -> dict[str, Any]:
    """POST a JSON body to ``path``; ``per_call`` adds a per-call header, which takes the
    Session off its prepared fast path (so both paths are exercised)."""
    headers = {"X-Per-Call": "1"} if per_call else None
    result: dict[str, Any] = await s.request_json(
        "POST", path, dict, body=b'{"q":1}', http_headers=headers
    )
    return result


def header(doc: dict[str, Any], name: str) -> str | None:
    for key, value in doc["headers"]:
        if key.lower() == name.lower():
            return str(value)
    return None


# -- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("per_call", [False, True], ids=["prepared", "built"])
async def test_redirect_same_origin_keeps_method_body_and_key(
    server: LoopbackServer, status: int, per_call: bool
) -> None:
    async with session(server.base_url) as s:
        doc = await post_echo(s, echo_path(status=status, to="/echo"), per_call=per_call)
        assert s.retries_made == 0
    assert doc["method"] == "POST"
    assert doc["body"] == '{"q":1}'
    assert header(doc, "Authorization") == f"Bearer {KEY}"
    assert server.stats.paths == ["/redirect", "/echo"]


@pytest.mark.parametrize("where", ["port", "host"])
async def test_redirect_to_another_origin_never_carries_the_key(
    server: LoopbackServer, other_server: LoopbackServer, where: str
) -> None:
    target = (
        other_server.url("/echo")
        if where == "port"
        else f"http://localhost:{server.port}/echo"  # same port, another host name
    )
    async with session(server.base_url, http_headers={"X-Api-Key": KEY}) as s:
        doc = await post_echo(s, echo_path(status=307, to=target))
    assert doc["method"] == "POST" and doc["body"] == '{"q":1}'
    assert header(doc, "Authorization") is None
    assert header(doc, "X-Api-Key") is None
    assert header(doc, "Host") == httpx.URL(target).netloc.decode()
    assert KEY not in json.dumps(doc)


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_redirect_that_would_turn_a_post_into_a_get_is_a_typed_error(
    server: LoopbackServer, status: int
) -> None:
    async with session(server.base_url, retry_config=RETRY) as s:
        with pytest.raises(errors.APIRedirectError) as caught:
            await post_echo(s, echo_path(status=status, to="/echo"))
        assert s.retries_made == 0
    error = caught.value
    assert "redirect" in str(error) and "not JSON" not in str(error)
    assert error.status_code == status
    assert error.location == server.url("/echo")
    assert server.url("/echo") in str(error)
    assert server.stats.paths == ["/redirect"], "not followed"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_get_redirects_are_followed_as_get(server: LoopbackServer, status: int) -> None:
    async with session(server.base_url) as s:
        doc = await s.request_json("GET", echo_path(status=status, to="/echo"), dict)
    assert doc["method"] == "GET"
    assert header(doc, "Authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/redirect-loop", "redirect loop"),
        ("/redirect-chain", "too many redirects"),
        (echo_path(status=307), "without a Location"),
        (echo_path(status=308, to="ftp://127.0.0.1/x"), "not http(s)"),
        (echo_path(status=307, to="http://[::1"), "invalid Location"),
    ],
    ids=["loop", "too-many", "no-location", "not-http", "invalid"],
)
async def test_redirects_that_cannot_be_followed_are_typed_errors(
    server: LoopbackServer, path: str, what: str
) -> None:
    async with session(server.base_url, retry_config=RETRY) as s:
        with pytest.raises(errors.APIRedirectError) as caught:
            await s.request_json("GET", path, dict)
        assert s.retries_made == 0
    message = str(caught.value)
    assert what in message and "redirect" in message
    assert "not JSON" not in message
    if what == "too many redirects":
        assert server.stats.requests == 21  # the first request and 20 hops


async def test_redirect_error_redacts_where_it_points(server: LoopbackServer) -> None:
    target = f"http://user:pw@127.0.0.1:1/x?key={KEY}"
    async with session(server.base_url) as s:
        with pytest.raises(errors.APIRedirectError) as caught:
            await post_echo(s, echo_path(status=302, to=target))
    text = str(caught.value) + repr(caught.value) + str(caught.value.location)
    assert KEY not in text and "pw@" not in text
    assert "127.0.0.1:1/x" in text


async def test_stream_follows_a_redirect_and_refuses_a_post_to_get_one(
    server: LoopbackServer,
) -> None:
    async with session(server.base_url) as s:
        stream = await s.request_stream(
            "POST", echo_path(status=307, to="/sse/n=2/x"), parse_chat_event, body=b"{}"
        )
        async with stream:
            texts = [c.choices[0].delta.content async for c in stream if c.choices]
        assert texts[:2] == ["c0", "c1"]
        with pytest.raises(errors.APIRedirectError, match="redirect"):
            await s.request_stream(
                "POST", echo_path(status=303, to="/sse/n=2/x"), parse_chat_event, body=b"{}"
            )


async def test_redirect_hops_do_not_pass_the_rate_limit_gate_again(
    server: LoopbackServer,
) -> None:
    # One request a minute: a hop that queued at the gate again would wait for a minute.
    async with session(server.base_url, rpm=1, max_concurrency=1) as s:
        with anyio.fail_after(10):
            doc = await post_echo(s, echo_path(status=307, to="/redirect?status=308&to=/echo"))
    assert doc["method"] == "POST"
    assert server.stats.paths == ["/redirect", "/redirect", "/echo"]


# -- proxies -----------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
async def test_proxy_from_the_environment_is_used(
    server: LoopbackServer, proxy: ProxyServer, clean_env: pytest.MonkeyPatch, variable: str
) -> None:
    clean_env.setenv(variable, proxy.url)
    async with session(server.base_url) as s:
        doc = await post_echo(s, "/echo")
        assert doc["body"] == '{"q":1}'
        assert header(doc, "Authorization") == f"Bearer {KEY}"
        stream = await s.request_stream("POST", "/sse/n=3/x", parse_chat_event, body=b"{}")
        async with stream:
            chunks = [c async for c in stream]
        assert len(chunks) == 4
    assert proxy.stats.forwarded == 2
    assert server.stats.requests == 2


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
async def test_no_proxy_bypasses_the_proxy(
    server: LoopbackServer, proxy: ProxyServer, clean_env: pytest.MonkeyPatch, no_proxy: str
) -> None:
    clean_env.setenv("HTTP_PROXY", proxy.url)
    clean_env.setenv("NO_PROXY", no_proxy)
    async with session(server.base_url) as s:
        await post_echo(s, "/echo")
    assert proxy.stats.total == 0
    assert server.stats.requests == 1


async def test_trust_env_false_ignores_proxy_variables(
    server: LoopbackServer, proxy: ProxyServer, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("HTTP_PROXY", proxy.url)
    clean_env.setenv("ALL_PROXY", proxy.url)
    async with session(server.base_url, trust_env=False) as s:
        await post_echo(s, "/echo")
    assert proxy.stats.total == 0


@pytest.mark.parametrize("form", ["url", "httpx.Proxy"])
async def test_explicit_proxy_option(
    server: LoopbackServer, proxy: ProxyServer, clean_env: pytest.MonkeyPatch, form: str
) -> None:
    clean_env.setenv("NO_PROXY", "*")  # an explicit proxy= wins over the environment
    option: Any = (
        f"http://user:secret@127.0.0.1:{proxy.port}"
        if form == "url"
        else httpx.Proxy(proxy.url, auth=("user", "secret"))
    )
    async with session(server.base_url, proxy=option) as s:
        doc = await post_echo(s, "/echo")
    assert proxy.stats.forwarded == 1
    assert header(doc, "Proxy-Authorization") is None, "not passed on to the server"
    assert proxy.stats.proxy_authorization == ["Basic dXNlcjpzZWNyZXQ="]


async def test_https_through_a_proxy_is_tunnelled(
    tls_server: LoopbackServer,
    ca_path: str,
    proxy: ProxyServer,
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("HTTPS_PROXY", proxy.url)
    async with session(tls_server.base_url, verify=ca_path) as s:
        doc = await post_echo(s, "/echo")
        assert header(doc, "Authorization") == f"Bearer {KEY}"
    assert proxy.stats.tunnels == 1 and proxy.stats.forwarded == 0
    assert proxy.stats.targets == [f"127.0.0.1:{tls_server.port}"]


def test_facade_goes_through_the_proxy_option(
    emulator_url: str, proxy: ProxyServer, clean_env: pytest.MonkeyPatch
) -> None:
    with OpenRouter(api_key=API_KEY, server_url=emulator_url, proxy=proxy.url) as client:
        result = client.chat.send(model="m/x", messages=[{"role": "user", "content": "hi"}])
    assert result.choices
    assert proxy.stats.forwarded == 1


def test_facade_rejects_a_bad_proxy_at_construction() -> None:
    with pytest.raises(ValueError, match="proxy"):
        OpenRouter(api_key=KEY, proxy="gopher://127.0.0.1:1")


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> Any:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_path(ca: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def tls_server(ca: Any) -> Iterator[LoopbackServer]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    with running_server(ctx) as s:
        yield s


async def test_untrusted_certificate_fails_with_a_certificate_error(
    tls_server: LoopbackServer,
) -> None:
    retrying = RetryConfig("backoff", BackoffStrategy(1, 10, 1.0, 1000), True, max_attempts=3)
    async with session(tls_server.base_url, retry_config=retrying) as s:
        with pytest.raises(errors.TLSVerificationError) as caught:
            await post_echo(s, "/echo")
        assert s.retries_made == 0, "a certificate failure is never retried"
    assert isinstance(caught.value, errors.APIConnectionError)
    assert "certificate" in str(caught.value).lower()
    assert not isinstance(caught.value, errors.APITimeoutError)


def _hashed_dir(ca_path: str, directory: Path) -> str:
    """A c_rehash-style directory holding the CA (``<subject hash>.0``)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to name a hashed CA directory")
    digest = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", ca_path],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    shutil.copy(ca_path, directory / f"{digest}.0")
    return str(directory)


@pytest.mark.parametrize(
    "how", ["verify=path", "verify=dir", "verify=SSLContext", "SSL_CERT_FILE", "SSL_CERT_DIR"]
)
async def test_a_private_ca_can_be_trusted(
    tls_server: LoopbackServer,
    ca_path: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    options: dict[str, Any] = {}
    if how == "verify=path":
        options["verify"] = ca_path
    elif how == "verify=dir":
        options["verify"] = _hashed_dir(ca_path, tmp_path)
    elif how == "verify=SSLContext":
        options["verify"] = ssl.create_default_context(cafile=ca_path)
    elif how == "SSL_CERT_FILE":
        monkeypatch.setenv("SSL_CERT_FILE", ca_path)
    else:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.setenv("SSL_CERT_DIR", _hashed_dir(ca_path, tmp_path))
    async with session(tls_server.base_url, **options) as s:
        doc = await post_echo(s, "/echo")
    assert doc["method"] == "POST"


async def test_verify_false_accepts_any_certificate(tls_server: LoopbackServer) -> None:
    async with session(tls_server.base_url, verify=False) as s:
        assert (await post_echo(s, "/echo"))["method"] == "POST"


async def test_trust_env_false_ignores_ssl_cert_file(
    tls_server: LoopbackServer, ca_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_path)
    async with session(tls_server.base_url, trust_env=False) as s:
        with pytest.raises(errors.APIConnectionError, match="certificate"):
            await post_echo(s, "/echo")


def test_verify_path_that_does_not_exist_is_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CA bundle"):
        Session(api_key=KEY, verify=str(tmp_path / "missing.pem"))


# -- header values -----------------------------------------------------------------------

BAD_OPTIONS = [
    ({"api_key": KEY + "\u200b"}, "Authorization", "U+200B"),
    ({"api_key": KEY + "\n"}, "Authorization", "line feed"),
    ({"api_key": " " + KEY}, "Authorization", "whitespace"),
    ({"http_referer": "https://a.example\r\nX-Evil: 1"}, "HTTP-Referer", "carriage return"),
    ({"x_open_router_title": "My app\x00"}, "X-OpenRouter-Title", "NUL"),
    ({"x_open_router_title": "Caf\u00e9"}, "X-OpenRouter-Title", "U+00E9"),
    ({"http_headers": {"X-Team": "a\x7fb"}}, "X-Team", "U+007F"),
    ({"http_headers": {"X Team": "a"}}, "X Team", "invalid header name"),
]


@pytest.mark.parametrize(("options", "name", "why"), BAD_OPTIONS)
@pytest.mark.parametrize("make", [Session, OpenRouter])
def test_bad_header_options_are_refused_at_construction(
    options: dict[str, Any], name: str, why: str, make: Any
) -> None:
    options = {"api_key": KEY, **options}
    with pytest.raises(errors.HeaderValueError) as caught:
        make(base_url="http://127.0.0.1:1", **options)
    error = caught.value
    assert isinstance(error, errors.RequestValidationError)
    assert error.header == name and name in str(error) and why in str(error)
    assert KEY not in str(error) and KEY not in repr(error)


@pytest.mark.parametrize(
    "headers",
    [{"X-Trace": "a\r\nb"}, {"X-Trace": "zero\u200bwidth"}, {"Bad:Name": "x"}],
    ids=["crlf", "zwsp", "name"],
)
async def test_bad_per_call_headers_are_refused_before_sending(
    server: LoopbackServer, headers: dict[str, str]
) -> None:
    async with session(server.base_url, retry_config=RETRY) as s:
        with pytest.raises(errors.HeaderValueError):
            await s.request_json("POST", "/echo", dict, body=b"{}", http_headers=headers)
        with pytest.raises(errors.HeaderValueError):
            await s.request_stream(
                "POST", "/sse/n=1/x", parse_chat_event, body=b"{}", http_headers=headers
            )
        with pytest.raises(errors.HeaderValueError):
            await s.send(
                ChatRequest(model="m/x", messages=[{"role": "user", "content": "hi"}]),
                http_headers=headers,
            )
        with pytest.raises(errors.HeaderValueError):  # extra_headers reach us as these
            await s.send(
                ChatRequest(model="m/x", messages=[{"role": "user", "content": "hi"}]),
                extra_headers=headers,
            )
        assert s.retries_made == 0
    assert server.stats.requests == 0


async def test_bad_key_from_a_key_callable_is_refused_when_called(
    server: LoopbackServer,
) -> None:
    calls = 0

    async def key() -> str:
        nonlocal calls
        calls += 1
        return KEY + "\u200b"

    s = session(server.base_url, api_key=key, retry_config=RETRY)  # not called yet
    assert calls == 0
    async with s:
        with pytest.raises(errors.HeaderValueError) as caught:
            await post_echo(s, "/echo")
        assert s.retries_made == 0
    assert "U+200B" in str(caught.value) and KEY not in str(caught.value)
    assert server.stats.requests == 0


# -- redaction ---------------------------------------------------------------------------


def _texts(error: errors.OpenRouterError) -> list[str]:
    texts = [str(error), repr(error), error.message, error.body or "", str(error.headers)]
    if isinstance(error, errors.APIStatusError):
        texts.append(repr(error.data))
        texts.append(json.dumps(error.data.metadata))
    raw = error.raw_response
    if raw is not None:
        texts += [repr(raw), str(raw.headers), raw.text]
    if isinstance(error, errors.ChatError):
        texts += [repr(error.error), json.dumps(error.chunk)]
    return texts


@pytest.mark.parametrize("key_kind", ["str", "callable"])
async def test_a_key_echoed_by_the_server_is_redacted_everywhere(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture, key_kind: str
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = KEY + key_kind  # a key this test alone uses
    api_key: Any = secret if key_kind == "str" else (lambda: secret)
    texts: list[str] = []
    async with session(
        server.base_url,
        api_key=api_key,
        debug_logger=logging.getLogger("test.edges"),
        retry_config=RetryConfig("backoff", None, True, max_attempts=2),
    ) as s:
        texts.append(repr(s))
        with pytest.raises(errors.UnauthorizedResponseError) as status_error:
            await post_echo(s, "/echo-key")
        with pytest.raises(errors.UnauthorizedResponseError) as stream_error:
            await s.request_stream("POST", "/echo-key", parse_chat_event, body=b"{}")
        with pytest.raises(errors.ChatError) as body_error:  # an error body sent with 200
            await post_echo(s, "/echo-key?status=200")
        for caught in (status_error, stream_error, body_error):
            texts += _texts(caught.value)
    assert "Invalid key Bearer ***" in str(status_error.value)
    assert status_error.value.headers is not None
    assert status_error.value.headers["x-echo"] == "Bearer ***"
    assert "-> 401" in caplog.text, "the debug logger saw the exchanges"
    texts.append(caplog.text)
    for text in texts:
        assert secret not in text


def test_anything_shaped_like_an_openrouter_key_is_redacted() -> None:
    # A key no Session was given (another one, echoed back): masked by its shape alone.
    stranger = "sk-or-v1-" + "f" * 64
    body = json.dumps({"error": {"message": f"key {stranger} revoked", "metadata": {stranger: 1}}})
    headers = httpx.Headers({"X-Key": stranger, "Content-Type": "application/json"})
    raw = httpx.Response(403, headers=headers, content=body.encode())
    error = errors.error_for_status(403, body.encode(), headers=headers, raw_response=raw)
    for text in _texts(error):
        assert stranger not in text
    assert "sk-or-***" in str(error)
    assert error.data.message == "key sk-or-*** revoked"


def test_redaction_module_keeps_short_values_and_masks_remembered_ones() -> None:
    from openrouter_async._redaction import redact, remember_secret

    remember_secret("abc")  # too short to mask safely
    assert redact("abc abc") == "abc abc"
    remember_secret("tok-" + "9" * 20)
    assert redact("x tok-" + "9" * 20 + " y") == "x *** y"


def test_proxy_or_verify_with_a_client_of_ones_own_is_refused_not_dropped() -> None:
    transport = httpx.AsyncHTTPTransport()
    with pytest.raises(ValueError, match="proxy= and verify="):
        Session(api_key=KEY, transport=transport, proxy="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="with client="):
        Session(api_key=KEY, client=httpx.AsyncClient(), verify=False)
    Session(api_key=KEY, transport=transport)  # alone, fine
