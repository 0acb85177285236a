"""``with_options(...)`` views, openai's ``max_retries=`` / ``timeout=``, and the official SDK's
remaining options (``server=``, ``url_params=``, ``x_open_router_categories=``, per-call
``server_url=`` / ``http_referer=`` / ``x_open_router_title=`` / ``x_open_router_categories=``
and the environment variables it reads).

Headers are read back from the loopback server's ``/echo`` (it answers any path below it with
the request it got); retries from its ``/flaky/<key>/`` route (the first request per key is a
503 with ``Retry-After: 0``, the next ones succeed).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from openrouter_async import OpenRouter, RetryConfig, Session, errors

from ._loopback_server import LoopbackServer, running_server
from .conftest import API_KEY

HELLO = [{"role": "user", "content": "Hello"}]
_keys = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with running_server() as s:
        yield s


def flaky(server: LoopbackServer) -> str:
    """A base URL whose first request fails with a retryable 503, the next ones succeed."""
    return server.url(f"/flaky/with-options-{next(_keys)}")


def headers_of(result: Any) -> dict[str, str]:
    """The request headers ``/echo`` saw, from the (leniently parsed) result of any call."""
    doc = result if isinstance(result, dict) else result.model_extra
    return {str(k).lower(): str(v) for k, v in doc["headers"]}


def path_of(result: Any) -> str:
    doc = result if isinstance(result, dict) else result.model_extra
    return str(doc["path"])


@pytest.fixture
def no_attribution_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "OPENROUTER_HTTP_REFERER",
        "OPENROUTER_X_OPEN_ROUTER_TITLE",
        "OPENROUTER_X_OPEN_ROUTER_CATEGORIES",
        "OPENROUTER_X_TITLE",
        "OPENROUTER_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- the constructor: openai's spellings and the official SDK's options ---------------------


def test_max_retries_and_timeout_on_the_constructor() -> None:
    client = OpenRouter(api_key=API_KEY, max_retries=0, timeout=2.5)
    assert client.options.retry_config.max_attempts == 1
    assert not client.options.retry_config.enabled
    assert client.options.timeouts.read == 2.5 and client.options.timeouts.stream_idle == 2.5
    assert OpenRouter(max_retries=5).options.retry_config.max_attempts == 6
    # max_retries counts on top of a retry_config given with it
    given = RetryConfig("backoff", None, False, max_attempts=2)
    combined = OpenRouter(retry_config=given, max_retries=4).options.retry_config
    assert combined.max_attempts == 5 and combined.retry_connection_errors is False
    # turning retries on from a disabled policy
    assert OpenRouter(
        retry_config=RetryConfig.disabled(), max_retries=2
    ).options.retry_config.enabled


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"max_retries": "2"}, ValueError, "max_retries"),
        ({"max_retries": True}, ValueError, "max_retries"),
        ({"timeout": "30"}, TypeError, "timeout"),
        ({"timeout": 0}, ValueError, "timeout_ms"),
        ({"timeout": 3, "timeout_ms": 3000}, ValueError, "timeout"),
        ({"server": "staging"}, ValueError, "production"),
        ({"server": "production", "server_url": "http://127.0.0.1:1"}, ValueError, "server"),
        ({"url_params": {"v": "1"}}, ValueError, "server_url"),
        ({"server_url": "http://127.0.0.1:1/{version}"}, ValueError, "url_params"),
        ({"x_open_router_categories": 3}, TypeError, "x_open_router_categories"),
        ({"x_open_router_categories": "a\nb"}, errors.HeaderValueError, "x_open_router_categories"),
    ],
)
def test_bad_options_are_refused_naming_them(
    options: dict[str, Any], error: type[Exception], names: str, no_attribution_env: Any
) -> None:
    with pytest.raises(error, match=names):
        OpenRouter(**options)
    with pytest.raises(error, match=names):
        Session(**options)


def test_named_server_and_url_params(no_attribution_env: Any) -> None:
    assert OpenRouter(server="production").base_url == "https://openrouter.ai/api/v1"
    templated = OpenRouter(
        server_url="http://127.0.0.1:9/{region}/v{n}", url_params={"region": "eu", "n": "2"}
    )
    assert templated.base_url == "http://127.0.0.1:9/eu/v2"


@pytest.mark.anyio
async def test_attribution_headers_from_options_and_environment(
    server: LoopbackServer, no_attribution_env: pytest.MonkeyPatch
) -> None:
    no_attribution_env.setenv("OPENROUTER_HTTP_REFERER", "https://env.example")
    no_attribution_env.setenv("OPENROUTER_X_OPEN_ROUTER_TITLE", "Env title")
    no_attribution_env.setenv("OPENROUTER_X_OPEN_ROUTER_CATEGORIES", "cli-agent")
    async with Session(api_key=API_KEY, server_url=server.url("/echo")) as s:
        seen = headers_of(await s.models.list())
    assert seen["http-referer"] == "https://env.example"
    assert seen["x-openrouter-title"] == "Env title"
    assert seen["x-openrouter-categories"] == "cli-agent"
    async with Session(
        api_key=API_KEY,
        server_url=server.url("/echo"),
        http_referer="https://opt.example",
        x_open_router_title="Opt title",
        x_open_router_categories="cloud-agent,cli-agent",
    ) as s:
        seen = headers_of(await s.models.list())
    assert seen["http-referer"] == "https://opt.example"
    assert seen["x-openrouter-title"] == "Opt title"
    assert seen["x-openrouter-categories"] == "cloud-agent,cli-agent"


# -- per call -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_per_call_server_url_and_attribution(
    server: LoopbackServer, emulator_url: str, no_attribution_env: Any
) -> None:
    async with Session(
        api_key=API_KEY, server_url=emulator_url, http_referer="https://c.example"
    ) as s:
        listed = await s.models.list(
            server_url=server.url("/echo"),
            http_referer="https://call.example",
            x_open_router_title="Call title",
            x_open_router_categories="cli-agent",
        )
        assert path_of(listed) == "/echo/models"
        seen = headers_of(listed)
        assert seen["http-referer"] == "https://call.example"
        assert seen["x-openrouter-title"] == "Call title"
        assert seen["x-openrouter-categories"] == "cli-agent"
        assert seen["authorization"] == f"Bearer {API_KEY}"
        # a streamed call on another server, and the Session's own server otherwise
        async with await s.chat.send(
            model="m/x", messages=HELLO, stream=True, server_url=server.url("/sse/n=3")
        ) as events:
            assert len([chunk async for chunk in events]) == 4  # 3 and a usage chunk
        assert (await s.models.list()).data, "the Session's own server (the emulator)"
        with pytest.raises(errors.RequestValidationError, match="server_url"):
            await s.models.list(server_url="ftp://nowhere")
        with pytest.raises(errors.RequestValidationError, match="x_open_router_title"):
            await s.models.list(x_open_router_title=3)  # type: ignore[arg-type]


def test_per_call_options_on_the_sync_facade(
    server: LoopbackServer, no_attribution_env: Any
) -> None:
    with OpenRouter(api_key=API_KEY, server_url="http://127.0.0.1:9") as client:
        listed = client.models.list(server_url=server.url("/echo"), x_open_router_categories="x")
    assert headers_of(listed)["x-openrouter-categories"] == "x"


# -- with_options ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_session_view_overrides_and_shares(
    server: LoopbackServer, no_attribution_env: Any
) -> None:
    async with Session(
        api_key=API_KEY, server_url=server.url("/echo"), http_headers={"X-Base": "1"}
    ) as s:
        view = s.with_options(http_headers={"X-View": "2"}, timeout=7, max_retries=0)
        assert view.timeouts.read == 7 and view.retry_config.max_attempts == 1
        assert s.timeouts.read == 600 and s.retry_config.max_attempts == 3
        seen = headers_of(await view.models.list(http_headers={"X-Call": "3"}))
        assert (seen["x-base"], seen["x-view"], seen["x-call"]) == ("1", "2", "3")
        assert "x-view" not in headers_of(await s.models.list())
        # a view of a view: the newer override wins, the rest is kept
        deeper = view.with_options(timeout_ms=1500, http_headers={"X-View": "again"})
        assert deeper.timeouts.read == 1.5 and deeper.retry_config.max_attempts == 1
        assert headers_of(await deeper.models.list())["x-view"] == "again"
        # the same gate and counters
        assert view.limiter is s.limiter and view.backend == s.backend
        with pytest.raises(RuntimeError, match="lifetime"):
            async with view:
                pass


@pytest.mark.anyio
async def test_session_view_retry_policy(server: LoopbackServer) -> None:
    async with Session(api_key=API_KEY, server_url=flaky(server)) as s:
        with pytest.raises(errors.ServiceUnavailableResponseError):
            await s.with_options(max_retries=0).chat.send(model="m/x", messages=HELLO)
        assert s.retries_made == 0
    async with Session(api_key=API_KEY, server_url=flaky(server), max_retries=0) as s:
        result = await s.with_options(max_retries=1).chat.send(model="m/x", messages=HELLO)
        assert result.choices and s.retries_made == 1, "the view's retry counted on the Session"
    # the view's server, with the Session's hand-written send (a ChatRequest)
    async with Session(api_key=API_KEY, server_url="http://127.0.0.1:9") as s:
        from openrouter_async.models import ChatRequest

        result = await s.with_options(server_url=flaky(server)).send(
            ChatRequest(model="m/x", messages=HELLO)
        )
        assert result.choices and s.retries_made == 1


@pytest.mark.anyio
async def test_async_facade_view(server: LoopbackServer) -> None:
    async with OpenRouter(api_key=API_KEY, server_url=flaky(server)) as client:
        strict = client.with_options(max_retries=0)
        with pytest.raises(errors.ServiceUnavailableResponseError):
            await strict.chat.send_async(model="m/x", messages=HELLO)
        async with strict:  # a view's block opens and closes nothing
            pass
        assert (await client.chat.send_async(model="m/x", messages=HELLO)).choices
        assert client.session.retries_made == 0, "the view failed the first request: no retry"


def sync_view_calls(server: LoopbackServer) -> None:
    with OpenRouter(api_key=API_KEY, server_url=flaky(server)) as client:
        strict = client.with_options(max_retries=0)
        with pytest.raises(errors.ServiceUnavailableResponseError):
            strict.chat.send(model="m/x", messages=HELLO)
        with strict:  # closes nothing
            pass
        strict.close()
        assert client.chat.send(model="m/x", messages=HELLO).choices
        echo = client.with_options(server_url=server.url("/echo"), http_headers={"X-V": "1"})
        assert headers_of(echo.models.list())["x-v"] == "1"
    with pytest.raises(errors.ClientClosedError):
        strict.chat.send(model="m/x", messages=HELLO)


def test_sync_facade_view_from_a_thread(server: LoopbackServer) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            sync_view_calls(server)
        except BaseException as error:  # reported below
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive() and failures == []


def test_sync_facade_view_inside_a_running_asyncio_loop(server: LoopbackServer) -> None:
    async def notebook_cell() -> None:
        sync_view_calls(server)

    asyncio.run(notebook_cell())


def test_view_retries_with_the_root_when_the_root_retries(server: LoopbackServer) -> None:
    with OpenRouter(api_key=API_KEY, server_url=flaky(server), max_retries=0) as client:
        assert client.with_options(max_retries=2).chat.send(model="m/x", messages=HELLO).choices


def test_bad_view_options_are_refused_before_any_call() -> None:
    client = OpenRouter(api_key=API_KEY)
    with pytest.raises(ValueError, match="max_retries"):
        client.with_options(max_retries=-2)
    with pytest.raises(TypeError, match="unexpected option"):
        client.with_options(rpm=3)  # type: ignore[call-arg]
    with pytest.raises(errors.HeaderValueError):
        client.with_options(http_headers={"X-Bad": "a\r\nb"})
    with pytest.raises(ValueError, match="server_url"):
        client.with_options(server_url="nope")
    client.close()
