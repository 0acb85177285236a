"""The Session's rate-limit-aware gate, against an emulator that enforces per-key limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from openrouter_async import RetryConfig, Session
from openrouter_async._limiter import Limiter, estimate_tokens
from openrouter_async.emulator import EmulatorConfig, serve_in_thread

from .conftest import API_KEY

#: 30 requests per 1-second window per key (a sliding window at the server)
LIMIT_PER_SECOND = 30


@pytest.fixture(scope="module")
def limited_url() -> Iterator[str]:
    config = EmulatorConfig(
        api_keys=[API_KEY],
        rate_limit_rpm=LIMIT_PER_SECOND,
        rate_limit_window_s=1.0,
    )
    with serve_in_thread(config) as url:
        yield url


def bodies(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"model": "openai/gpt-4", "messages": [{"role": "user", "content": f"{i}"}]}


@pytest.mark.anyio
async def test_rpm_pacing_stays_under_the_server_limit(limited_url: str) -> None:
    async with Session(
        api_key=API_KEY,
        base_url=limited_url,
        rpm=LIMIT_PER_SECOND * 60 * 0.9,
        retry_config=RetryConfig.disabled(),
    ) as session:
        started = time.monotonic()
        results = [r async for r in session.map(bodies(45), concurrency=32)]
        elapsed = time.monotonic() - started
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    # 45 requests at 27/s: about 1.6 s of pacing, and not one 429
    assert 1.3 < elapsed < 4.0
    assert session.limiter.state().rate_limited == 0


@pytest.mark.anyio
async def test_a_429_cools_every_worker_down(limited_url: str) -> None:
    async with Session(
        api_key=API_KEY,
        base_url=limited_url,
        max_concurrency=32,
        retry_config=RetryConfig("backoff", None, True, max_attempts=6),
    ) as session:
        results = [r async for r in session.map(bodies(90), concurrency=32)]
        state = session.limiter.state()
    failed = [r.error for r in results if not r.ok]
    assert not failed, failed[:3]
    retried = sum(r.attempts - 1 for r in results)
    detail = f"429s={state.rate_limited} retries={retried} limit={state.limit}"
    assert state.rate_limited > 0, detail  # the limit was hit...
    # ...but the cool-down held the other workers back: fewer 429s than requests (without
    # it, 32 workers against 30/s see most of 90 requests refused at least once)
    assert state.rate_limited < 60, detail
    assert retried >= state.rate_limited, detail  # every 429 was retried
    assert state.limit is not None and state.limit < 32, detail  # adaptive: cut on 429


@pytest.mark.anyio
async def test_cool_down_is_global_and_observable() -> None:
    limiter = Limiter(max_concurrency=4)
    limiter.on_rate_limited(0.3)
    assert limiter.cooling and limiter.state().cool_down_remaining > 0.2
    assert limiter.state().limit == 2
    permits: list[object] = []

    async def take() -> None:
        permits.append(await limiter.acquire())

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for _ in range(2):
            group.start_soon(take)
    assert time.monotonic() - started >= 0.25  # both waited out the cool-down
    assert limiter.state().in_flight == 2
    with anyio.move_on_after(0.1) as third:
        await limiter.acquire()  # the halved limit (2) is taken: this one waits
    assert third.cancelled_caught and limiter.state().waiting == 0
    for permit in permits:
        limiter.release(permit, status=200)
    assert limiter.state().in_flight == 0


@pytest.mark.anyio
async def test_tpm_reserves_the_estimate_and_learns_from_headers() -> None:
    limiter = Limiter(tpm=60_000)  # 1,000 tokens/s, a 1-second bucket
    body = b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":500}'
    estimate = estimate_tokens(body)
    assert 500 < estimate < 600
    started = time.monotonic()
    for _ in range(3):
        permit = await limiter.acquire(estimate)
        limiter.release(permit, status=200, estimated_tokens=estimate, used_tokens=estimate)
    # 1,000 in the bucket, ~1,600 asked: about 0.6 s of waiting
    assert 0.4 < time.monotonic() - started < 1.5
    reset_ms = (time.time() + 0.3) * 1000
    limiter.release(
        None, status=200, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": f"{reset_ms}"}
    )
    assert limiter.cooling


def test_a_rounded_retry_after_is_refined_by_the_reset_header() -> None:
    """Retry-After in whole seconds rounds up; X-RateLimit-Reset (ms) says the same moment
    precisely, and wins when it falls within that rounding (and only then)."""
    from openrouter_async._retry import retry_after_from_headers

    def headers(retry_after: str, reset_in: float) -> dict[str, str]:
        return {
            "retry-after": retry_after,
            "x-ratelimit-reset": str(int((time.time() + reset_in) * 1000)),
        }

    refined = retry_after_from_headers(headers("1", 0.25))
    assert refined is not None and 0.2 < refined <= 0.25
    assert retry_after_from_headers(headers("5", 0.25)) == 5.0  # not the same moment
    assert retry_after_from_headers(headers("1", 30)) == 1.0  # the server asks for less
    assert retry_after_from_headers({"retry-after-ms": "1500", "x-ratelimit-reset": "1"}) == 1.5
    assert retry_after_from_headers({"retry-after": "2"}) == 2.0

    limiter = Limiter(max_concurrency=8)
    limiter.release(None, status=429, headers=headers("1", 0.2))
    assert 0.1 < limiter.state().cool_down_remaining <= 0.2


def test_the_cool_down_is_capped_like_the_retry_after_a_call_honours() -> None:
    """A Retry-After beyond the retry policy's cap raises the call at once; the global
    cool-down does not hold the Session's other calls for longer than that cap either."""
    limiter = Limiter(max_concurrency=4, max_cool_down=2.0)
    limiter.on_rate_limited(3600.0)
    assert 1.5 < limiter.state().cool_down_remaining <= 2.0
    session = Session(api_key="sk-or-x", retry_config=RetryConfig(max_retry_after_ms=500))
    assert session.limiter.max_cool_down == 0.5
