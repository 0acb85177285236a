"""The Session end to end over loopback HTTP, on asyncio and on trio."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from openrouter_async import RetryConfig, Session, Timeouts, errors
from openrouter_async._exchange import Exchange
from openrouter_async.models import ChatRequest, ChatResult, ChatStreamChunk

from ._loopback_server import JSON_BODY, running_server
from ._tasks import assert_no_task_left, count_tasks
from .conftest import EmulatorProbe

pytestmark = pytest.mark.anyio

HELLO = [{"role": "user", "content": "Hello there"}]
NO_RETRY = RetryConfig.disabled()


def fault(spec: str) -> dict[str, str]:
    return {"X-Emulator-Fault": spec}


async def wait_for_idle_streams(emulator: EmulatorProbe, *, within: float = 3.0) -> None:
    """The server saw every stream end: the client closed what it opened."""
    deadline = time.monotonic() + within
    while True:
        stats = await anyio.to_thread.run_sync(emulator.stats)
        if stats["active_streams"] == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"streams still open on the server: {stats}")
        await anyio.sleep(0.02)


async def test_send_returns_a_typed_result(emulator_url: str, api_key: str) -> None:
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        result = await session.send(ChatRequest(model="openai/gpt-4o", messages=HELLO))
    assert isinstance(result, ChatResult)
    assert result.choices[0].message.content
    assert result.usage and result.usage.total_tokens > 0


async def test_stream_yields_typed_chunks_and_the_usage_chunk(
    emulator_url: str, api_key: str
) -> None:
    request = ChatRequest(model="openai/gpt-4o", messages=HELLO, max_tokens=12)
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        whole = await session.send(request)
        chunks: list[ChatStreamChunk] = []
        async with session.stream(request) as stream:
            async for chunk in stream:
                chunks.append(chunk)
    assert all(isinstance(c, ChatStreamChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    # The usage chunk comes last, before [DONE]; as real OpenRouter does (and the emulator's
    # realistic mode), it may still carry the finishing choice.
    assert chunks[-1].usage and chunks[-1].usage.total_tokens


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, errors.BadRequestResponseError),
        (401, errors.UnauthorizedResponseError),
        (402, errors.PaymentRequiredResponseError),
        (403, errors.ForbiddenResponseError),
        (404, errors.NotFoundResponseError),
        (408, errors.RequestTimeoutResponseError),
        (413, errors.PayloadTooLargeResponseError),
        (422, errors.UnprocessableEntityResponseError),
        (429, errors.TooManyRequestsResponseError),
        (500, errors.InternalServerResponseError),
        (502, errors.BadGatewayResponseError),
        (503, errors.ServiceUnavailableResponseError),
        (524, errors.EdgeNetworkTimeoutResponseError),
        (529, errors.ProviderOverloadedResponseError),
    ],
)
async def test_http_errors_map_to_typed_classes(
    emulator_url: str, api_key: str, status: int, error_class: type[errors.APIStatusError]
) -> None:
    request = ChatRequest(model="openai/gpt-4o", messages=HELLO)
    async with Session(base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY) as session:
        with pytest.raises(error_class) as caught:
            await session.send(request, http_headers=fault(f"status={status}"))
        with pytest.raises(error_class):
            await session.open_chat_stream(request, http_headers=fault(f"status={status}"))
    error = caught.value
    assert isinstance(error, errors.OpenRouterError)
    assert error.status_code == status
    assert error.data.message and error.data.message == error.data.error.message
    assert error.data.code == status
    assert error.headers is not None and "content-type" in error.headers
    assert error.body and '"error"' in error.body


async def test_an_error_body_with_status_200_is_never_a_result(
    emulator_url: str, api_key: str
) -> None:
    async with Session(base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY) as session:
        with pytest.raises(errors.ChatError) as caught:
            await session.send(
                ChatRequest(model="m/x", messages=HELLO), http_headers=fault("error-200")
            )
    assert caught.value.error.message


async def test_an_error_body_with_status_200_on_a_stream_is_a_chat_error(
    emulator_url: str, api_key: str
) -> None:
    """OpenRouter answers a stream with a JSON error body and status 200 when the provider
    fails before the first token: the provider's message, retryable as its code says."""
    request = ChatRequest(model="m/x", messages=HELLO)
    async with Session(base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY) as session:
        with pytest.raises(errors.ChatError) as caught:
            async with session.stream(
                request, http_headers=fault("error-200=503;message=Provider down")
            ):
                pass
        assert caught.value.error.message == "Provider down"
        assert caught.value.error.code == 503
    from openrouter_async._config import DEFAULT_RETRY_CONFIG
    from openrouter_async._retry import is_retryable

    assert is_retryable(caught.value, DEFAULT_RETRY_CONFIG)  # as a 503 is


async def test_a_timeout_names_itself() -> None:
    from openrouter_async._transport_errors import translate_transport_error

    assert str(translate_transport_error(TimeoutError())) == "TimeoutError: timed out"


async def test_mid_stream_error_raises_chat_error_after_the_chunks_before_it(
    emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    received: list[ChatStreamChunk] = []
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        with pytest.raises(errors.ChatError) as caught:
            async with session.stream(
                ChatRequest(model="m/x", messages=HELLO), http_headers=fault("mid-stream-error")
            ) as stream:
                async for chunk in stream:
                    received.append(chunk)
    assert received, "chunks before the error are delivered, not dropped"
    assert caught.value.error.message
    await wait_for_idle_streams(emulator)


async def test_unauthorized_key(emulator_url: str) -> None:
    async with Session(base_url=emulator_url, api_key="sk-or-wrong") as session:
        with pytest.raises(errors.UnauthorizedResponseError) as caught:
            await session.send(ChatRequest(model="m/x", messages=HELLO))
    assert "sk-or-wrong" not in str(caught.value)


async def test_no_key_sends_no_authorization_and_gets_the_typed_401(
    emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    async with Session(base_url=emulator_url, api_key="") as session:
        assert "api_key=missing" in repr(session)
        with pytest.raises(errors.UnauthorizedResponseError) as caught:
            await session.send(ChatRequest(model="m/x", messages=HELLO))
    assert "Missing Authentication header" in caught.value.data.message


async def test_api_key_from_a_sync_or_async_callable(emulator_url: str, api_key: str) -> None:
    async def async_key() -> str:
        await anyio.lowlevel.checkpoint()
        return api_key

    for source in (lambda: api_key, async_key):
        async with Session(base_url=emulator_url, api_key=source) as session:
            result = await session.send(ChatRequest(model="m/x", messages=HELLO))
            assert result.choices


async def test_api_key_and_base_url_from_the_environment(
    emulator_url: str, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", api_key)
    monkeypatch.setenv("OPENROUTER_BASE_URL", emulator_url)
    async with Session() as session:
        assert session.base_url == emulator_url
        assert (await session.send(ChatRequest(model="m/x", messages=HELLO))).choices


async def test_connection_refused_is_our_error_not_httpx(api_key: str) -> None:
    with socket_on_closed_port() as url:
        async with Session(base_url=url, api_key=api_key, retry_config=NO_RETRY) as session:
            with pytest.raises(errors.APIConnectionError) as caught:
                await session.send(ChatRequest(model="m/x", messages=HELLO))
    assert not isinstance(caught.value, httpx.HTTPError)
    assert isinstance(caught.value.__cause__, Exception)


async def test_timeout_ms_bounds_a_slow_call(emulator_url: str, api_key: str) -> None:
    async with Session(base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY) as session:
        started = time.monotonic()
        with pytest.raises(errors.APITimeoutError):
            await session.send(
                ChatRequest(model="m/x", messages=HELLO),
                timeout_ms=200,
                http_headers=fault("delay-ms=3000"),
            )
        assert time.monotonic() - started < 2.0


async def test_stalled_stream_ends_with_idle_timeout_and_leaks_nothing(
    emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    tasks_before = count_tasks()
    async with Session(
        base_url=emulator_url, api_key=api_key, timeouts=Timeouts(stream_idle=0.4)
    ) as session:
        started = time.monotonic()
        with pytest.raises(errors.StreamIdleTimeoutError):
            async with session.stream(
                ChatRequest(model="m/x", messages=HELLO), http_headers=fault("stall")
            ) as stream:
                async for _ in stream:
                    pass
        elapsed = time.monotonic() - started
    assert elapsed < 2.0, "keep-alive comments must not reset the idle clock"
    await assert_no_task_left(tasks_before)
    await wait_for_idle_streams(emulator)


async def test_leaving_a_stream_early_cancels_the_producer_and_closes_the_response(
    emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    tasks_before = count_tasks()
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        request = ChatRequest(model="m/x", messages=HELLO)
        async with session.stream(request, http_headers=fault("tokens=5000")) as stream:
            async for _ in stream:
                break
        await assert_no_task_left(tasks_before)
        await wait_for_idle_streams(emulator)
        # The pool is healthy afterwards: the next call works on the same Session.
        assert (await session.send(request)).choices
    await assert_no_task_left(tasks_before)


async def test_cancelling_the_callers_scope_mid_stream_is_clean(
    emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    tasks_before = count_tasks()
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        with anyio.move_on_after(0.3) as scope:
            async with session.stream(
                ChatRequest(model="m/x", messages=HELLO),
                http_headers=fault("tokens=1000,token-delay-ms=20"),
            ) as stream:
                async for _ in stream:
                    pass
        assert scope.cancelled_caught
    await assert_no_task_left(tasks_before)
    await wait_for_idle_streams(emulator)


async def test_dropped_stream_raises_a_connection_error(emulator_url: str, api_key: str) -> None:
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        with pytest.raises(errors.APIConnectionError):
            async with session.stream(
                ChatRequest(model="m/x", messages=HELLO), http_headers=fault("drop")
            ) as stream:
                async for _ in stream:
                    pass


async def test_retries_retryable_statuses_then_raises(emulator_url: str, api_key: str) -> None:
    fast = RetryConfig("backoff", None, True, max_attempts=3)
    async with Session(base_url=emulator_url, api_key=api_key, retry_config=fast) as session:
        with pytest.raises(errors.ServiceUnavailableResponseError):
            await session.send(
                ChatRequest(model="m/x", messages=HELLO), http_headers=fault("status=503")
            )
        assert session.retries_made == 2
        with pytest.raises(errors.BadRequestResponseError):
            await session.send(
                ChatRequest(model="m/x", messages=HELLO), http_headers=fault("status=400")
            )
        assert session.retries_made == 2, "400 is never retried"


async def test_retry_after_is_honoured(emulator_url: str, api_key: str) -> None:
    config = RetryConfig("backoff", None, True, max_attempts=2)
    async with Session(base_url=emulator_url, api_key=api_key, retry_config=config) as session:
        started = time.monotonic()
        with pytest.raises(errors.TooManyRequestsResponseError) as caught:
            await session.send(
                ChatRequest(model="m/x", messages=HELLO),
                http_headers=fault("status=429;retry-after=1"),
            )
        assert time.monotonic() - started >= 0.9
    assert caught.value.headers is not None and caught.value.headers["retry-after"] == "1"


async def test_invalid_input_fails_before_any_request(
    emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    before = (await anyio.to_thread.run_sync(emulator.stats))["requests"]
    with pytest.raises(errors.RequestValidationError) as caught:
        ChatRequest(model="m/x", messages=[{"role": "wizard", "content": "hi"}])
    assert "messages[0]" in str(caught.value)
    with pytest.raises(errors.RequestValidationError) as caught:
        ChatRequest(model="m/x", messages=HELLO, temperature="hot")  # type: ignore[arg-type]
    assert "temperature" in str(caught.value)
    after = (await anyio.to_thread.run_sync(emulator.stats))["requests"]
    assert after == before


async def test_user_supplied_client_gets_our_headers(emulator_url: str, api_key: str) -> None:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        async with Session(
            base_url=emulator_url,
            api_key=api_key,
            client=client,
            http_referer="https://example.test/app",
            x_open_router_title="Test App",
            http_headers={"X-Custom": "1"},
        ) as session:
            await session.send(ChatRequest(model="m/x", messages=HELLO))
        assert not client.is_closed, "a client we were given is the caller's to close"
    headers = seen[0].headers
    assert headers["authorization"] == f"Bearer {api_key}"
    assert headers["http-referer"] == "https://example.test/app"
    assert headers["x-openrouter-title"] == "Test App"
    assert headers["x-custom"] == "1"


async def test_many_concurrent_calls_share_one_session(emulator_url: str, api_key: str) -> None:
    results: list[Any] = []
    async with Session(base_url=emulator_url, api_key=api_key, max_connections=8) as session:

        async def one(i: int) -> None:
            request = ChatRequest(model="m/x", messages=[{"role": "user", "content": f"n{i}"}])
            results.append(await session.send(request))

        async with anyio.create_task_group() as group:
            for i in range(64):
                group.start_soon(one, i)
    assert len(results) == 64


def socket_on_closed_port() -> Any:
    import contextlib
    import socket

    @contextlib.contextmanager
    def closed_port() -> Any:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield f"http://127.0.0.1:{port}/api/v1"

    return closed_port()


# -------------------------------------------------------- the prepared path (aiohttp transport)
# On asyncio a call with only the Session's own headers is sent as a request prepared once
# per path; the tests below put the emulator's fault header on the Session, not on the call,
# so that they exercise that path, and check it behaves as the per-call-headers path does.


async def test_calls_with_the_sessions_own_headers_build_one_request_per_path(
    emulator_url: str, api_key: str, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    build = Exchange.build_request

    async def counting(self: Exchange, method: str, path: str, *args: Any, **kw: Any) -> Any:
        built.append(path)
        return await build(self, method, path, *args, **kw)

    monkeypatch.setattr(Exchange, "build_request", counting)
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        for _ in range(3):
            assert (await session.send(ChatRequest(model="m/x", messages=HELLO))).choices
        await session.send(ChatRequest(model="m/x", messages=HELLO), http_headers={"X-A": "1"})
    # asyncio: one template for the three calls, then one request for the call with headers.
    assert len(built) == (2 if anyio_backend == "asyncio" else 4)


@pytest.mark.parametrize("status", [400, 429, 503])
async def test_errors_are_the_same_with_the_headers_on_the_session_or_on_the_call(
    emulator_url: str, api_key: str, status: int
) -> None:
    request = ChatRequest(model="m/x", messages=HELLO)
    caught: list[errors.APIStatusError] = []
    async with Session(base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY) as session:
        with pytest.raises(errors.APIStatusError) as per_call:
            await session.send(request, http_headers=fault(f"status={status}"))
        caught.append(per_call.value)
    async with Session(
        base_url=emulator_url,
        api_key=api_key,
        retry_config=NO_RETRY,
        http_headers=fault(f"status={status}"),
    ) as session:
        with pytest.raises(errors.APIStatusError) as on_session:
            await session.send(request)
        caught.append(on_session.value)
    first, second = caught
    assert type(first) is type(second)
    assert second.status_code == status
    assert second.body == first.body
    assert second.headers is not None and first.headers is not None
    assert second.headers["content-type"] == first.headers["content-type"]
    assert first.raw_response is not None and second.raw_response is not None
    sent, resent = first.raw_response.request, second.raw_response.request
    assert (resent.method, resent.url, resent.content) == (sent.method, sent.url, sent.content)
    assert dict(resent.headers) == dict(sent.headers)


async def test_retries_timeouts_and_drops_with_the_headers_on_the_session(
    emulator_url: str, api_key: str
) -> None:
    request = ChatRequest(model="m/x", messages=HELLO)
    fast = RetryConfig("backoff", None, True, max_attempts=3)
    async with Session(
        base_url=emulator_url, api_key=api_key, retry_config=fast, http_headers=fault("status=503")
    ) as session:
        with pytest.raises(errors.ServiceUnavailableResponseError):
            await session.send(request)
        assert session.retries_made == 2
    async with Session(
        base_url=emulator_url,
        api_key=api_key,
        retry_config=NO_RETRY,
        http_headers=fault("delay-ms=3000"),
    ) as session:
        started = time.monotonic()
        with pytest.raises(errors.APITimeoutError):
            await session.send(request, timeout_ms=200)
        assert time.monotonic() - started < 2.0
    async with Session(
        base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY, http_headers=fault("drop")
    ) as session:
        with pytest.raises(errors.APIConnectionError) as caught:
            await session.send(request)
        assert not isinstance(caught.value, httpx.HTTPError)
        # The broken connection left the pool: the next call gets a good one.
        assert (await session.send(request, http_headers={"X-Emulator-Fault": ""})).choices


async def test_debug_log_line_with_the_sessions_own_headers(
    emulator_url: str, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("test.openrouter.prepared")
    caplog.set_level(logging.DEBUG, logger=logger.name)
    async with Session(base_url=emulator_url, api_key=api_key, debug_logger=logger) as session:
        await session.send(ChatRequest(model="m/x", messages=HELLO))
    assert "POST " in caplog.text and "/chat/completions -> 200 in " in caplog.text
    assert api_key not in caplog.text


async def test_the_retry_log_counts_attempts(
    emulator_url: str, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    from openrouter_async import BackoffStrategy

    logger = logging.getLogger("test.openrouter.retries")
    caplog.set_level(logging.DEBUG, logger=logger.name)
    fast = RetryConfig(backoff=BackoffStrategy(initial_interval=1, max_interval=2), max_attempts=4)
    async with Session(base_url=emulator_url, api_key=api_key, debug_logger=logger) as session:
        with pytest.raises(errors.APIStatusError):
            await session.send(
                ChatRequest(model="m/x", messages=HELLO),
                http_headers=fault("status=503"),
                retries=fast,
            )
    attempts = [int(n) for n in re.findall(r"retrying after \w+ \(attempt (\d+)", caplog.text)]
    assert attempts == [1, 2, 3]


async def test_the_official_sdks_retry_spellings(emulator_url: str, api_key: str) -> None:
    """``status_codes_override=`` and ``BackoffStrategy(..., jitter_ms=)``, as the official
    SDK spells them, mean what they mean there."""
    from openrouter_async import BackoffStrategy

    config = RetryConfig("backoff", BackoffStrategy(1, 2, 1.5, 10_000, jitter_ms=1), True, ["503"])
    assert config.status_codes == ("503",) and config.backoff is not None
    request = ChatRequest(model="m/x", messages=HELLO)
    async with Session(base_url=emulator_url, api_key=api_key, retry_config=config) as session:
        with pytest.raises(errors.TooManyRequestsResponseError):
            await session.send(request, http_headers=fault("status=429;retry-after=0"))
        assert session.retries_made == 0  # 429 is not among the overriding codes
        with pytest.raises(errors.ServiceUnavailableResponseError):
            await session.send(request, http_headers=fault("status=503"))
        assert session.retries_made == 2  # 3 attempts


async def test_a_closed_session_says_so(emulator_url: str, api_key: str) -> None:
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        assert (await session.send(ChatRequest(model="m/x", messages=HELLO))).choices
    with pytest.raises(RuntimeError, match="not open"):
        await session.send(ChatRequest(model="m/x", messages=HELLO))


async def test_an_encoded_body_is_decoded_on_every_path(api_key: str) -> None:
    with running_server() as server:
        async with Session(base_url=server.base_url, api_key=api_key) as session:
            plain = await session.request_json("GET", "/gzip", dict)
            assert await session.request_json("GET", "/gzip", dict, params={"a": "1"}) == plain
    assert plain == json.loads(JSON_BODY)
