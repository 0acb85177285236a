"""A rate and cost budget shared on Redis (``RedisBudget``): against a real redis-server
(tests/_redis_server.py) and the emulator, on asyncio and trio, across Sessions of one process
and across worker processes (one of them SIGKILLed).

Run as a module (``python -m tests.test_budget rate|hold ...``) it is the worker process of
the multi-process tests.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from openrouter_async import OpenRouter, RetryConfig, Session, errors
from openrouter_async._budget import (
    BudgetExhaustedError,
    BudgetUnavailableError,
    RedisBudget,
)
from openrouter_async.emulator import EmulatorConfig, serve_in_thread
from openrouter_async.models import ChatRequest

from ._redis_server import RedisServer, redis_server
from .conftest import API_KEY

ROOT = Path(__file__).resolve().parents[1]
NO_RETRY = RetryConfig.disabled()
MODEL = "openai/gpt-4"
#: The shared rate of the rate tests (requests per second), and the emulator's own limit a
#: little above it (per key, in fixed 1-second windows): 429s would mean the fleet overshot.
RATE = 50
SERVER_LIMIT = 56


def request(i: int, **extra: Any) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}], **extra)


def fault(spec: str) -> dict[str, str]:
    return {"X-Emulator-Fault": spec}


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def name() -> str:
    """A budget of its own for each test, on the shared server."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def limited_url() -> Iterator[str]:
    """An emulator of this module's own, limiting the key to SERVER_LIMIT requests a second."""
    config = EmulatorConfig(
        api_keys={API_KEY}, rate_limit_rpm=SERVER_LIMIT, rate_limit_window_s=1.0
    )
    with serve_in_thread(config) as url:
        yield url


def emulator_stats(base_url: str) -> dict[str, Any]:
    import httpx

    response = httpx.get(f"{base_url}/_emulator/stats", timeout=5)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def redis_client(server: RedisServer) -> Any:
    import redis

    return redis.Redis.from_url(server.url)


def round_trips(server: RedisServer) -> tuple[int, int]:
    """Script calls and Redis commands (those the scripts ran included) since the last reset
    of the server's statistics."""
    stats = redis_client(server).info("commandstats")
    scripts = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))
    commands = sum(
        value["calls"]
        for key, value in stats.items()
        if key not in ("cmdstat_info", "cmdstat_config", "cmdstat_hello", "cmdstat_client")
    )
    return scripts, commands


async def state_of(budget: RedisBudget) -> Any:
    return await anyio.to_thread.run_sync(budget.state)


# -- the budget's options ------------------------------------------------------------------


def test_options_are_checked_naming_the_field(redis: RedisServer) -> None:
    with pytest.raises(ValueError, match="rpm"):
        RedisBudget(redis.url, name="x", rpm=0)
    with pytest.raises(TypeError, match="max_concurrency"):
        RedisBudget(redis.url, name="x", max_concurrency=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        RedisBudget(redis.url, name="a{b}")  # a hash tag of its own would split its keys
    with pytest.raises(ValueError, match="on_unavailable"):
        RedisBudget(redis.url, name="x", on_unavailable="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="url"):
        RedisBudget("http://localhost:6379", name="x")
    with pytest.raises(TypeError, match="budget"):
        Session(api_key=API_KEY, budget="redis://localhost")  # type: ignore[arg-type]


def test_the_password_stays_out_of_reprs_and_errors() -> None:
    budget = RedisBudget(
        "redis://:s3cret-pw@127.0.0.1:1/0", name="x", rpm=60, timeout=0.2, retry_interval=0.1
    )
    assert "s3cret-pw" not in repr(budget) and "***@127.0.0.1:1" in repr(budget)
    with pytest.raises(BudgetUnavailableError) as caught:
        budget.state()
    assert "s3cret-pw" not in str(caught.value)


def test_a_budget_pickles_into_a_worker_of_its_own(redis: RedisServer, name: str) -> None:
    budget = RedisBudget(redis.url, name=name, rpm=120, max_cost=2.0, max_concurrency=3)
    copy = pickle.loads(pickle.dumps(budget))
    assert (copy.name, copy.rpm, copy.max_cost, copy.max_concurrency) == (name, 120, 2.0, 3)
    assert copy.agent() is not budget.agent()  # a holder of its own
    assert copy.state().spent == 0.0


# -- rates held across Sessions and processes ----------------------------------------------


@pytest.mark.anyio
async def test_three_sessions_keep_one_shared_rate(
    anyio_backend: str, redis: RedisServer, name: str, limited_url: str
) -> None:
    per_session = 20
    # One budget object per Session: three holders, as three processes would be.
    budgets = [
        RedisBudget(
            redis.url,
            name=name,
            rpm=RATE * 60,
            tpm=10_000_000,
            max_cost=100.0,
            max_concurrency=32,
        )
        for _ in range(3)
    ]
    before = emulator_stats(limited_url)
    redis_client(redis).config_resetstat()
    finished: list[float] = []

    async def worker(budget: RedisBudget) -> None:
        async with Session(
            api_key=API_KEY, base_url=limited_url, budget=budget, retry_config=NO_RETRY
        ) as session:
            requests = (request(i, max_tokens=5) for i in range(per_session))
            async for result in session.map(requests, concurrency=16):
                assert result.ok, result.error
                finished.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        for budget in budgets:
            tg.start_soon(worker, budget)
    for budget in budgets:
        await anyio.to_thread.run_sync(budget.close)  # settles what is left: counted below
    after = emulator_stats(limited_url)
    total = 3 * per_session
    rate = (total - 1) / (max(finished) - min(finished))
    assert 0.9 * RATE <= rate <= 1.1 * RATE, f"{rate:.1f} req/s for a budget of {RATE}"
    assert after["requests"] - before["requests"] == total
    assert after["rate_limited"] == before["rate_limited"], "the server never had to refuse"
    scripts, commands = round_trips(redis)
    # Measured 0.37 script calls (4.7 Redis commands, those the scripts run included) per
    # request here: slots in batches of ceil(RATE * window) = 5, leases mostly reused in the
    # process, settlements carried by the permit calls or sent every 0.5 s.
    assert scripts / total < 0.6, f"{scripts} script calls for {total} requests"
    assert commands / total < 10, f"{commands} Redis commands for {total} requests"


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_budget", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_worker_processes_keep_one_shared_rate(
    redis: RedisServer, name: str, limited_url: str
) -> None:
    """Three worker processes (two on asyncio, one on trio) share the budget's rate."""
    per_worker = 30
    backends = ["asyncio", "trio", "asyncio"]
    redis_client(redis).config_resetstat()
    before = emulator_stats(limited_url)
    workers = [
        _spawn("rate", redis.url, name, limited_url, backend, str(RATE * 60), str(per_worker))
        for backend in backends
    ]
    try:
        for worker in workers:  # each imported everything and built its Session
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = []
        for worker in workers:
            out, _ = worker.communicate(timeout=60)
            assert worker.returncode == 0
            reports.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    after = emulator_stats(limited_url)
    finished = sorted(t for report in reports for t in report["finished"])
    total = len(backends) * per_worker
    assert len(finished) == total and not any(report["errors"] for report in reports)
    rate = (total - 1) / (finished[-1] - finished[0])
    assert 0.9 * RATE <= rate <= 1.1 * RATE, f"{rate:.1f} req/s for a budget of {RATE}"
    assert after["requests"] - before["requests"] == total
    assert after["rate_limited"] == before["rate_limited"], "the server never had to refuse"
    scripts, _ = round_trips(redis)
    # Measured 0.29 script calls per request (three processes, 50 requests a second).
    assert scripts / total < 0.5, f"{scripts} script calls for {total} requests"


# -- tokens and cost -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_tokens_are_reserved_before_the_call_and_settled_after(
    anyio_backend: str, redis: RedisServer, name: str, emulator_url: str
) -> None:
    # 400 tokens a second, a bucket of one second: a call estimated at ~380 tokens passes at
    # once and leaves the bucket nearly empty for everyone else until it is settled.
    budgets = [RedisBudget(redis.url, name=name, tpm=24_000) for _ in range(2)]
    async with (
        Session(api_key=API_KEY, base_url=emulator_url, budget=budgets[0]) as first,
        Session(api_key=API_KEY, base_url=emulator_url, budget=budgets[1]) as second,
    ):
        answers = 5
        big = request(0, max_tokens=350)

        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: first.send(big, http_headers=fault(f"tokens={answers},delay-ms=700"))
            )
            for _ in range(100):  # until the first call holds its reservation
                await anyio.sleep(0.01)
                reserved = (await state_of(budgets[0])).tokens_ahead
                if reserved > 0:
                    break
            assert reserved > 300, "the estimate is reserved before the call is sent"
            started = time.monotonic()
            small = await second.send(
                request(1, max_tokens=150), http_headers=fault(f"tokens={answers}")
            )
            waited = time.monotonic() - started
        # The other Session's reservation held this one back (by ~0.4 s), on the fleet's
        # bucket: the second call's estimate did not fit in what was left.
        assert 0.2 < waited < 0.9, waited
        assert small.usage is not None and small.usage.total_tokens < 20
        # Both settled from usage: ~15 tokens used each, the rest refunded to the fleet.
        for _ in range(50):
            left = (await state_of(budgets[0])).tokens_ahead
            if left < 60:
                break
            await anyio.sleep(0.02)
        assert left < 60, f"{left:.0f} tokens still reserved after both calls settled"


@pytest.mark.anyio
async def test_max_cost_fails_closed_across_sessions(
    anyio_backend: str, redis: RedisServer, name: str, emulator_url: str
) -> None:
    per_call = 0.00075  # the emulator's price of one of these calls (5 + 10 tokens)
    max_cost = 2.5 * per_call
    budgets = [RedisBudget(redis.url, name=name, max_cost=max_cost) for _ in range(2)]
    before = emulator_stats(emulator_url)
    spent = 0.0
    async with (
        Session(
            api_key=API_KEY, base_url=emulator_url, budget=budgets[0], retry_config=NO_RETRY
        ) as first,
        Session(
            api_key=API_KEY, base_url=emulator_url, budget=budgets[1], retry_config=NO_RETRY
        ) as second,
    ):
        sessions = [first, second]
        refused: list[BudgetExhaustedError] = []
        for i in range(8):  # alternating between the Sessions, one call at a time
            try:
                result = await sessions[i % 2].send(request(i, max_tokens=10))
            except BudgetExhaustedError as error:
                refused.append(error)
                continue
            assert result.usage is not None and result.usage.cost is not None
            spent += result.usage.cost
        # Concurrent calls of both Sessions, once the budget is spent: none starts.
        async with anyio.create_task_group() as tg:
            for session in sessions:
                tg.start_soon(_expect_refusal, session)
    sent = emulator_stats(emulator_url)["requests"] - before["requests"]
    assert 2 <= round(spent / per_call) == sent, "no refused call reached the server"
    assert spent <= max_cost + per_call, "overshot by at most the call in flight"
    assert len(refused) == 8 - sent and {e.budget for e in refused} == {name}
    assert "max_cost" in str(refused[0]) and refused[0].max_cost == max_cost
    for budget in budgets:
        await anyio.to_thread.run_sync(budget.close)
    fleet = await state_of(budgets[0])
    assert fleet.spent == pytest.approx(spent) and fleet.reserved == pytest.approx(0.0)
    assert fleet.remaining == 0.0


async def _expect_refusal(session: Session) -> None:
    with pytest.raises(BudgetExhaustedError):
        await session.send(request(99, max_tokens=10))


@pytest.mark.anyio
async def test_a_fan_out_stops_at_max_cost_within_what_was_in_flight(
    anyio_backend: str, redis: RedisServer, name: str, emulator_url: str
) -> None:
    per_call, concurrency = 0.00075, 4
    max_cost = 6 * per_call
    budgets = [
        RedisBudget(redis.url, name=name, max_cost=max_cost, cost_per_token=per_call / 15)
        for _ in range(2)
    ]
    spent: list[float] = []
    refused = 0

    async def fan_out(budget: RedisBudget) -> None:
        nonlocal refused
        async with Session(
            api_key=API_KEY, base_url=emulator_url, budget=budget, retry_config=NO_RETRY
        ) as session:
            requests = (request(i, max_tokens=10) for i in range(15))
            async for result in session.map(requests, concurrency=concurrency):
                if result.ok:
                    assert result.response is not None and result.response.usage is not None
                    spent.append(result.response.usage.cost or 0.0)
                else:
                    assert isinstance(result.error, BudgetExhaustedError), result.error
                    refused += 1

    async with anyio.create_task_group() as tg:
        for budget in budgets:
            tg.start_soon(fan_out, budget)
    # cost_per_token makes each reservation worth a whole call or more (the estimate counts
    # the prompt's bytes): at most the spend of the calls that were in flight at the cap.
    assert sum(spent) <= max_cost + 2 * concurrency * per_call
    assert len(spent) + refused == 30 and refused >= 20
    for budget in budgets:
        await anyio.to_thread.run_sync(budget.close)
    assert (await state_of(budgets[0])).spent == pytest.approx(sum(spent))


# -- leases --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_leases_of_a_sigkilled_worker_come_back_within_the_ttl(
    anyio_backend: str, redis: RedisServer, name: str, emulator_url: str
) -> None:
    ttl = 0.6
    budget = RedisBudget(
        redis.url,
        name=name,
        max_concurrency=2,
        lease_ttl=ttl,
        max_cost=10.0,
        cost_per_token=1e-6,
    )
    # A server that accepts connections and never answers: the worker's two calls hang.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.listen(16)
        sink_url = f"http://127.0.0.1:{sink.getsockname()[1]}/api/v1"
        worker = _spawn("hold", redis.url, name, sink_url, anyio_backend, str(ttl))
        try:
            fleet = None
            for _ in range(300):
                fleet = await state_of(budget)
                if fleet.in_flight == 2:
                    break
                await anyio.sleep(0.02)
            assert fleet is not None and fleet.in_flight == 2, fleet
            assert fleet.reserved > 0, "the worker's cost is reserved before its calls"
            reserved = fleet.reserved
            await anyio.sleep(2 * ttl)  # renewed while its calls run
            assert (await state_of(budget)).in_flight == 2
            worker.send_signal(signal.SIGKILL)
            worker.wait(5)
            killed = time.monotonic()
            async with Session(
                api_key=API_KEY, base_url=emulator_url, budget=budget, retry_config=NO_RETRY
            ) as session:
                async with anyio.create_task_group() as tg:  # both leases, once reaped
                    for i in range(2):
                        tg.start_soon(lambda i=i: session.send(request(i, max_tokens=5)))
            back_after = time.monotonic() - killed
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert back_after < ttl + 0.5, f"the leases came back {back_after:.2f}s after the kill"
    await anyio.to_thread.run_sync(budget.close)
    fleet = await state_of(budget)
    # What the dead worker had reserved counts as spent (it may have been charged).
    assert fleet.spent >= reserved and fleet.in_flight == 0 and fleet.reserved < 1e-9


@pytest.mark.anyio
async def test_a_worker_reaped_while_alive_settles_exactly_and_goes_on(
    anyio_backend: str, redis: RedisServer, name: str, emulator_url: str
) -> None:
    """A process that stalls past its lease_ttl (here: its expiry moved to the past) is
    reaped like a dead one — its lease freed, its reservation counted as spent; when it comes
    back, its calls settle what they really cost and it goes on under a new holder."""
    budget = RedisBudget(redis.url, name=name, max_concurrency=1, max_cost=1.0, cost_per_token=1e-4)
    costs: list[float] = []
    async with Session(
        api_key=API_KEY, base_url=emulator_url, budget=budget, retry_config=NO_RETRY
    ) as session:

        async def stalled_call() -> None:
            result = await session.send(
                request(0, max_tokens=10), http_headers=fault("delay-ms=500")
            )
            assert result.usage is not None and result.usage.cost is not None
            costs.append(result.usage.cost)

        async with anyio.create_task_group() as tg:
            tg.start_soon(stalled_call)
            for _ in range(100):
                fleet = await state_of(budget)
                if fleet.in_flight == 1:
                    break
                await anyio.sleep(0.01)
            holder = budget.agent().holder
            redis_client(redis).zadd("{" + name + "}:holders", {holder: 0})  # expired
            reaped = await state_of(budget)  # any script reaps it
            assert reaped.in_flight == 0 and reaped.reserved == 0.0
            assert reaped.spent == pytest.approx(fleet.reserved), "fail closed: counted spent"
        result = await session.send(request(1, max_tokens=10))
        assert result.usage is not None and result.usage.cost is not None
        costs.append(result.usage.cost)
    assert budget.agent().holder != holder
    await anyio.to_thread.run_sync(budget.close)
    fleet = await state_of(budget)
    assert fleet.spent == pytest.approx(sum(costs)) and fleet.in_flight == 0


# -- cool-downs ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_429_in_one_session_cools_the_others(
    anyio_backend: str, redis: RedisServer, name: str, emulator_url: str
) -> None:
    budgets = [RedisBudget(redis.url, name=name, rpm=6000) for _ in range(2)]
    async with (
        Session(
            api_key=API_KEY, base_url=emulator_url, budget=budgets[0], retry_config=NO_RETRY
        ) as hit,
        Session(
            api_key=API_KEY, base_url=emulator_url, budget=budgets[1], retry_config=NO_RETRY
        ) as other,
    ):
        with pytest.raises(errors.TooManyRequestsResponseError):
            await hit.send(request(0), http_headers=fault("status=429;retry-after=1"))
        seen = time.monotonic()
        for _ in range(100):  # on Redis within a round trip of the 429
            if (await state_of(budgets[1])).cool_down_remaining > 0:
                break
            await anyio.sleep(0.005)
        assert time.monotonic() - seen < 0.2
        started = time.monotonic()
        await other.send(request(1, max_tokens=5))
        waited = time.monotonic() - started
        # The other Session (another holder, as another process would be) waited out the
        # rest of the Retry-After before sending.
        assert 0.6 < waited < 1.3, waited
        assert other.limiter.state().rate_limited == 0, "it never got a 429 itself"


# -- Redis unreachable ---------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.anyio
async def test_unreachable_redis_fails_closed_by_default(
    anyio_backend: str, emulator_url: str
) -> None:
    budget = RedisBudget(f"redis://127.0.0.1:{_closed_port()}/0", name="down", max_cost=1.0)
    before = emulator_stats(emulator_url)
    async with Session(
        api_key=API_KEY, base_url=emulator_url, budget=budget, retry_config=NO_RETRY
    ) as session:
        started = time.monotonic()
        with pytest.raises(BudgetUnavailableError) as caught:
            await session.send(request(0))
        with pytest.raises(BudgetUnavailableError):  # at once while it stays down
            await session.send(request(1))
        assert time.monotonic() - started < 1.0
    assert "unreachable" in str(caught.value) and "on_unavailable='fail'" in str(caught.value)
    assert emulator_stats(emulator_url)["requests"] == before["requests"], "nothing was sent"


@pytest.mark.anyio
async def test_unreachable_redis_falls_back_to_local_limits_and_recovers(
    anyio_backend: str, name: str, emulator_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="openrouter_async.budget")
    with redis_server() as server:
        budget = RedisBudget(
            server.url,
            name=name,
            rpm=1200,  # 20 a second: paced locally too, while Redis is away
            max_cost=1.0,
            on_unavailable="local",
            retry_interval=0.2,
        )
        async with Session(
            api_key=API_KEY, base_url=emulator_url, budget=budget, retry_config=NO_RETRY
        ) as session:
            await session.send(request(0, max_tokens=10))  # through Redis: headroom seen
            # Settled on this server, whose data a restart loses (no persistence): the fleet's
            # spend counted below starts after it.
            await anyio.to_thread.run_sync(budget.flush)
            await anyio.to_thread.run_sync(server.stop)
            started = time.monotonic()
            for i in range(5):
                await session.send(request(i, max_tokens=10))
            paced = time.monotonic() - started
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
            assert "local limiter" in warnings[0].getMessage()
            assert paced >= 4 / 20 - 0.02, "the budget's rpm held locally"
            await anyio.to_thread.run_sync(server.start)
            await anyio.sleep(0.3)  # past retry_interval: Redis is tried again
            trips = budget.round_trips
            await session.send(request(9, max_tokens=10))
            assert budget.round_trips > trips, "back on the shared budget"
        await anyio.to_thread.run_sync(budget.close)
        fleet = budget.state()
    assert any("answers again" in r.getMessage() for r in caplog.records)
    # The spend made while Redis was away reached it once it was back: 6 calls since.
    assert fleet.spent == pytest.approx(6 * 0.00075)


# -- the facade ----------------------------------------------------------------------------


def test_the_facade_takes_a_budget_from_a_thread_and_from_a_running_loop(
    redis: RedisServer, name: str, emulator_url: str
) -> None:
    budget = RedisBudget(redis.url, name=name, rpm=6000, max_cost=1.0, max_concurrency=4)
    hello = [{"role": "user", "content": "Hello"}]
    with OpenRouter(api_key=API_KEY, server_url=emulator_url, budget=budget) as client:
        costs = [client.chat.send(model=MODEL, messages=hello, max_tokens=10).usage.cost]

    async def notebook_cell() -> None:
        with OpenRouter(api_key=API_KEY, server_url=emulator_url, budget=budget) as client:
            costs.append(client.chat.send(model=MODEL, messages=hello, max_tokens=10).usage.cost)

    import asyncio

    asyncio.run(notebook_cell())
    budget.close()
    assert budget.state().spent == pytest.approx(sum(c or 0.0 for c in costs))


# -- the worker processes of the tests above -----------------------------------------------


async def _rate_worker(
    url: str, budget_name: str, base_url: str, rpm: float, count: int
) -> dict[str, Any]:
    budget = RedisBudget(
        url, name=budget_name, rpm=rpm, tpm=10_000_000, max_cost=100.0, max_concurrency=32
    )
    finished: list[float] = []
    errors_seen = 0
    async with Session(
        api_key=API_KEY, base_url=base_url, budget=budget, retry_config=NO_RETRY
    ) as session:
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        requests = (request(i, max_tokens=5) for i in range(count))
        async for result in session.map(requests, concurrency=16):
            if result.ok:
                finished.append(time.time())
            else:
                errors_seen += 1
    await anyio.to_thread.run_sync(budget.close)
    return {"finished": finished, "errors": errors_seen, "round_trips": budget.round_trips}


async def _hold_worker(url: str, budget_name: str, base_url: str, ttl: float) -> None:
    budget = RedisBudget(
        url,
        name=budget_name,
        max_concurrency=2,
        lease_ttl=ttl,
        max_cost=10.0,
        cost_per_token=1e-6,
    )
    async with Session(
        api_key=API_KEY, base_url=base_url, budget=budget, retry_config=NO_RETRY, timeout=300
    ) as session:
        async with anyio.create_task_group() as tg:
            for i in range(2):
                tg.start_soon(lambda i=i: session.send(request(i)))


def _main(argv: list[str]) -> None:
    mode, url, budget_name, base_url, backend, *rest = argv
    if mode == "rate":
        report = anyio.run(
            _rate_worker, url, budget_name, base_url, float(rest[0]), int(rest[1]), backend=backend
        )
        print(json.dumps(report), flush=True)
    else:
        anyio.run(_hold_worker, url, budget_name, base_url, float(rest[0]), backend=backend)


if __name__ == "__main__":
    _main(sys.argv[1:])
