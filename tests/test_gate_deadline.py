"""``timeout_ms`` bounds the call as a whole, including its wait at the Session's gate: a call
that cannot start before its deadline fails with ``RateLimitTimeoutError`` (an
``APITimeoutError``) saying it waited on the rate limit, and by what. Over loopback against
the emulator, on asyncio and trio, for JSON calls and streams."""

from __future__ import annotations

import time

import anyio
import pytest

from openrouter_async import RetryConfig, Session, errors
from openrouter_async.models import ChatRequest

pytestmark = pytest.mark.anyio

HELLO = [{"role": "user", "content": "Hello there"}]
REQUEST = ChatRequest(model="m/x", messages=HELLO)
NO_RETRY = RetryConfig.disabled()


def fault(spec: str) -> dict[str, str]:
    return {"X-Emulator-Fault": spec}


async def until_in_flight(session: Session) -> None:
    """Until a call holds a slot: the limiter has no event to wait on, so poll its state."""
    for _ in range(500):
        if session.limiter.state().in_flight:
            return
        await anyio.sleep(0.01)
    raise AssertionError("no call took a slot")


async def test_a_call_waiting_for_a_concurrency_slot_times_out_naming_it(
    emulator_url: str, api_key: str
) -> None:
    async with Session(
        base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY, max_concurrency=1
    ) as session:
        holder_started = anyio.Event()

        async def hold_the_slot() -> None:
            holder_started.set()
            await session.send(REQUEST, http_headers=fault("delay-ms=1500"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold_the_slot)
            await holder_started.wait()
            await until_in_flight(session)
            started = time.monotonic()
            with pytest.raises(errors.RateLimitTimeoutError) as caught:
                await session.send(REQUEST, timeout_ms=300)
            waited = time.monotonic() - started
            # The stream path passes the same gate.
            with pytest.raises(errors.RateLimitTimeoutError) as caught_stream:
                async with session.stream(REQUEST, timeout_ms=200) as stream:
                    async for _ in stream:
                        pass
    assert isinstance(caught.value, errors.APITimeoutError)
    assert caught.value.waited_on == "concurrency"
    assert "rate limit" in str(caught.value) and "max_concurrency=1" in str(caught.value)
    assert 0.25 <= waited < 1.2, "it fails at its deadline, not when the slot frees"
    assert caught_stream.value.waited_on == "concurrency"


async def test_a_cool_down_longer_than_the_timeout_fails_at_once(
    emulator_url: str, api_key: str
) -> None:
    async with Session(base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY) as session:
        with pytest.raises(errors.TooManyRequestsResponseError):
            await session.send(REQUEST, http_headers=fault("status=429;retry-after=30"))
        started = time.monotonic()
        with pytest.raises(errors.RateLimitTimeoutError) as caught:
            await session.send(REQUEST, timeout_ms=2000)
        assert time.monotonic() - started < 0.5, "a wait known to be too long fails at once"
        with pytest.raises(errors.RateLimitTimeoutError):
            async with session.stream(REQUEST, timeout_ms=2000) as stream:
                async for _ in stream:
                    pass
    assert caught.value.waited_on == "cool-down"
    assert "rate limit" in str(caught.value) and "cool-down" in str(caught.value)


async def test_a_request_bucket_that_lets_the_call_go_too_late_fails_at_once(
    emulator_url: str, api_key: str
) -> None:
    async with Session(
        base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY, rpm=1
    ) as session:
        await session.send(REQUEST)  # the one request of this minute
        started = time.monotonic()
        with pytest.raises(errors.RateLimitTimeoutError) as caught:
            await session.send(REQUEST, timeout_ms=1000)
        assert time.monotonic() - started < 0.5
        assert session.retries_made == 0, "a call whose time is up is never retried"
    assert caught.value.waited_on == "rpm"
    assert "rpm limit" in str(caught.value)


async def test_a_call_that_fits_its_deadline_waits_and_goes(
    emulator_url: str, api_key: str
) -> None:
    async with Session(
        base_url=emulator_url, api_key=api_key, retry_config=NO_RETRY, max_concurrency=1
    ) as session:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: session.send(REQUEST, http_headers=fault("delay-ms=200")))
            await until_in_flight(session)
            result = await session.send(REQUEST, timeout_ms=3000)
    assert result.choices
