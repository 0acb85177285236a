"""Options are checked when they are built: a wrong one raises a ValueError/TypeError naming the
option and what it accepts, before any request (issue 14, point 8). Integer status codes and
``"5XX"`` families are accepted, as the official SDK writes them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openrouter_async import BackoffStrategy, OpenRouter, RetryConfig, Session, Timeouts
from openrouter_async.models import ChatRequest

from .conftest import API_KEY

BAD: dict[str, tuple[Callable[[], object], type[Exception], str]] = {
    "strategy": (lambda: RetryConfig("exponential"), ValueError, "'backoff' or 'none'"),
    "max_attempts=0": (lambda: RetryConfig(max_attempts=0), ValueError, "at least 1"),
    "max_attempts str": (lambda: RetryConfig(max_attempts="3"), TypeError, "max_attempts"),  # type: ignore[arg-type]
    "status 600": (lambda: RetryConfig(status_codes=(600,)), ValueError, "HTTP statuses"),
    "status word": (lambda: RetryConfig(status_codes=("server",)), ValueError, "'5XX'"),
    "override": (
        lambda: RetryConfig("backoff", None, True, ("oops",)),
        ValueError,
        "HTTP statuses",
    ),
    "backoff type": (lambda: RetryConfig("backoff", 500), TypeError, "BackoffStrategy"),  # type: ignore[arg-type]
    "connection flag": (
        lambda: RetryConfig("backoff", None, "yes"),  # type: ignore[arg-type]
        TypeError,
        "retry_connection_errors",
    ),
    "negative interval": (lambda: BackoffStrategy(-1), ValueError, "initial_interval"),
    "interval str": (lambda: BackoffStrategy("500"), TypeError, "initial_interval"),  # type: ignore[arg-type]
    "negative retry-after cap": (
        lambda: RetryConfig(max_retry_after_ms=-5),
        ValueError,
        "max_retry_after_ms",
    ),
    "timeouts str": (lambda: Timeouts(read="3"), TypeError, "read must be a number"),  # type: ignore[arg-type]
    "timeouts zero": (lambda: Timeouts(connect=0), ValueError, "connect must be above 0"),
    "api_key int": (lambda: Session(api_key=123), TypeError, "api_key must be a string"),  # type: ignore[arg-type]
    "timeout_ms str": (
        lambda: Session(api_key="k", timeout_ms="30"),  # type: ignore[arg-type]
        TypeError,
        "timeout_ms",
    ),
    "timeout_ms negative": (lambda: Session(api_key="k", timeout_ms=-1), ValueError, "timeout_ms"),
    "max_connections str": (
        lambda: Session(api_key="k", max_connections="5"),  # type: ignore[arg-type]
        TypeError,
        "max_connections",
    ),
    "rpm zero": (lambda: Session(api_key="k", rpm=0), ValueError, "rpm"),
    "tpm negative": (lambda: Session(api_key="k", tpm=-1), ValueError, "tpm"),
    "facade api_key": (lambda: OpenRouter(api_key=b"sk"), TypeError, "api_key"),  # type: ignore[arg-type]
    "facade retry": (
        lambda: OpenRouter(api_key="k", retry_config=RetryConfig(max_attempts=-1)),
        ValueError,
        "max_attempts",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_option_is_refused_when_built_naming_it(case: str) -> None:
    make, error, words = BAD[case]
    with pytest.raises(error, match=words):
        make()


def test_status_codes_take_ints_strings_and_families() -> None:
    config = RetryConfig(status_codes=(503, "429", "5xx"))
    assert config.status_codes == ("503", "429", "5XX")
    assert config.retries_status(503) and config.retries_status(429)
    assert RetryConfig(status_codes=(503,)).retries_status(503), "an int code matches"
    assert not RetryConfig(status_codes=(503,)).retries_status(502)
    assert RetryConfig(status_codes="5XX").status_codes == ("5XX",), "one string is one code"
    assert RetryConfig("backoff", None, True, (502, 504)).status_codes == ("502", "504")


def test_good_options_still_build() -> None:
    RetryConfig("backoff", BackoffStrategy(500, 60_000, 1.5, 30_000), True)
    RetryConfig("none", None, False)
    RetryConfig(max_attempts=1)
    BackoffStrategy(0, 0, 1.0, 0, jitter_ms=0)
    Session(api_key=lambda: "k", timeout_ms=1.5, max_connections=1, rpm=0.5)


@pytest.mark.anyio
async def test_a_bad_per_call_timeout_is_refused_before_sending(emulator_url: str) -> None:
    request = ChatRequest(model="m/x", messages=[{"role": "user", "content": "hi"}])
    async with Session(base_url=emulator_url, api_key=API_KEY) as session:
        with pytest.raises(TypeError, match="timeout_ms"):
            await session.send(request, timeout_ms="30")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout_ms"):
            await session.send(request, timeout_ms=0)
        assert session.limiter.state().in_flight == 0 and session.retries_made == 0
        assert (await session.send(request, timeout_ms=5000)).choices  # a good one goes
