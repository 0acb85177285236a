"""``Session.map`` and the facade's ``map``, against the emulator over loopback."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from openrouter_async import OpenRouter, RetryConfig, Session
from openrouter_async.errors import BadRequestResponseError, ServiceUnavailableResponseError

from ._tasks import assert_no_task_left, count_tasks

pytestmark = pytest.mark.anyio

HELLO = [{"role": "user", "content": "Hello"}]


def bodies(n: int, **extra: Any) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"model": "openai/gpt-4", "messages": [{"role": "user", "content": f"#{i}"}], **extra}


async def test_every_request_gets_one_result(emulator_url: str, api_key: str) -> None:
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        results = [r async for r in session.map(bodies(50), concurrency=8)]
    assert sorted(r.index for r in results) == list(range(50))
    assert all(r.ok and r.response is not None and r.attempts == 1 for r in results)
    assert all(r.latency > 0 for r in results)
    assert results[0].request["messages"][0]["content"].startswith("#")


async def test_ordered_results_follow_the_input(emulator_url: str, api_key: str) -> None:
    async with Session(api_key=api_key, base_url=emulator_url) as session:
        indexes = [
            r.index
            async for r in session.map(bodies(30), ordered=True, concurrency=6, call=_slow_on_zero)
        ]
    assert indexes == list(range(30))


async def _slow_on_zero(session: Session, body: dict[str, Any]) -> Any:
    if body["messages"][0]["content"] == "#0":
        await anyio.sleep(0.2)  # the first finishes last; ordered mode still yields it first
    return await session.chat.send(**body)


async def test_a_failure_is_a_result_not_the_end(emulator_url: str, api_key: str) -> None:
    def mixed() -> Iterator[Any]:
        for i, body in enumerate(bodies(12)):
            yield {"model": "", "messages": []} if i % 4 == 0 else body

    async with Session(
        api_key=api_key, base_url=emulator_url, retry_config=RetryConfig.disabled()
    ) as session:
        results = [r async for r in session.map(mixed(), concurrency=4)]
    failed = [r for r in results if not r.ok]
    assert len(results) == 12 and len(failed) == 3
    assert all(isinstance(r.error, BadRequestResponseError) for r in failed)


async def test_retries_are_counted_per_result(emulator_url: str, api_key: str) -> None:
    async def flaky(session: Session, body: Any) -> Any:
        if body["messages"][0]["content"] == "#1":
            # the emulator fails the first try of this one (fault header), then succeeds
            return await session.chat.send(**body, http_headers={"X-Emulator-Fault": "status=503"})
        return await session.chat.send(**body)

    config = RetryConfig("backoff", None, True, max_attempts=3)
    async with Session(api_key=api_key, base_url=emulator_url, retry_config=config) as session:
        results = {r.index: r async for r in session.map(bodies(4), call=flaky)}
    assert results[0].attempts == 1
    assert results[1].attempts == 3
    assert isinstance(results[1].error, ServiceUnavailableResponseError)


async def test_async_input_and_early_exit_cancel_cleanly(emulator_url: str, api_key: str) -> None:
    async def endless() -> AsyncIterator[dict[str, Any]]:
        i = 0
        while True:
            yield {"model": "openai/gpt-4", "messages": [{"role": "user", "content": f"{i}"}]}
            i += 1

    async with Session(api_key=api_key, base_url=emulator_url) as session:
        before = count_tasks()
        results = session.map(endless(), concurrency=16)
        taken = 0
        async for _ in results:
            taken += 1
            if taken == 100:
                break
        await results.aclose()  # type: ignore[attr-defined]
        await assert_no_task_left(before)
    assert taken == 100


async def test_an_input_error_reaches_the_consumer(emulator_url: str, api_key: str) -> None:
    def broken() -> Iterator[dict[str, Any]]:
        yield from bodies(3)
        raise ValueError("bad input line")

    async with Session(api_key=api_key, base_url=emulator_url) as session:
        with pytest.raises(ValueError, match="bad input line"):
            async for _ in session.map(broken()):
                pass
        # the Session survives it
        assert (await session.chat.send(model="openai/gpt-4", messages=HELLO)).choices


def test_the_facade_map_from_threads(emulator_url: str, api_key: str) -> None:
    with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        counts: list[int] = []

        def run() -> None:
            with client.map(bodies(25), concurrency=5) as results:
                counts.append(sum(1 for r in results if r.ok))

        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert counts == [25, 25, 25]
        # stopping early cancels the rest
        with client.map(bodies(10_000), concurrency=8) as results:
            first = next(iter(results))
        assert first.ok
