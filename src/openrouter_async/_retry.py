"""The retry policy, on tenacity, sleeping with anyio so that it runs on asyncio and trio:
what is retried (:func:`is_retryable`), how long to wait (the server's ``Retry-After``, else
jittered exponential back-off) and the one loop, :func:`retrying`."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ._config import RetryConfig
from .errors import (
    APIConnectionError,
    APIStatusError,
    ChatError,
    OpenRouterError,
    RateLimitTimeoutError,
    TLSVerificationError,
)

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "RETRY_COUNTER",
    "is_retryable",
    "retry_after_from_headers",
    "retry_after_seconds",
    "rate_limit_reset_wait",
    "retrying",
]

T = TypeVar("T")

#: Set by a caller that wants to know how many retries its calls made (``Session.map`` sets a
#: fresh ``[0]`` in each worker task; context variables are per task on asyncio and trio).
RETRY_COUNTER: ContextVar[list[int] | None] = ContextVar("openrouter_retries", default=None)


def _count(on_retry: Callable[[], None] | None) -> None:
    if on_retry is not None:
        on_retry()
    counter = RETRY_COUNTER.get()
    if counter is not None:
        counter[0] += 1


def retry_after_seconds(error: BaseException) -> float | None:
    """The server's demanded wait (``retry-after-ms``, then ``Retry-After`` seconds or date)."""
    return retry_after_from_headers(getattr(error, "headers", None))


def rate_limit_reset_wait(headers: Any) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (epoch milliseconds, as OpenRouter sends it; epoch
    seconds tolerated), or None when absent, unreadable or not in the next five minutes."""
    raw = headers.get("x-ratelimit-reset") if headers is not None else None
    if raw is None:
        return None
    try:
        reset_at = float(raw)
    except ValueError:
        return None
    seconds = reset_at / 1000.0 if reset_at > 1e11 else reset_at
    wait = seconds - time.time()
    return wait if 0 < wait < 300 else None


def retry_after_from_headers(headers: Any) -> float | None:
    """``retry-after-ms``, then ``Retry-After`` (seconds or an HTTP date), from headers.

    ``Retry-After`` in seconds is a whole number, rounded up: up to a second longer than the
    server needs. When ``X-RateLimit-Reset`` (milliseconds) falls within that rounding, it
    is the same moment said precisely, and is used instead: a fan-out cooling down after a
    429 resumes when the window reopens, not up to a second later.
    """
    seconds = _retry_after(headers)
    if seconds is None or headers.get("retry-after-ms") is not None:
        return seconds
    reset = rate_limit_reset_wait(headers)
    if reset is not None and seconds - 1.0 <= reset <= seconds:
        return reset
    return seconds


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def is_retryable(error: BaseException, config: RetryConfig) -> bool:
    if isinstance(error, APIStatusError):
        headers = error.headers
        should = headers.get("x-should-retry") if headers is not None else None
        if should == "true":
            return True
        if should == "false":
            return False
        if not config.retries_status(error.status_code):
            return False
        demanded = retry_after_seconds(error)
        # A demand beyond the cap raises at once rather than stalling the whole job.
        return demanded is None or demanded * 1000 <= config.max_retry_after_ms
    if isinstance(error, RateLimitTimeoutError):
        return False  # the call's time ran out at our own gate: another attempt waits there too
    if isinstance(error, TLSVerificationError):
        return False  # the next attempt would meet the same certificate
    if isinstance(error, APIConnectionError):
        return config.retry_connection_errors
    if isinstance(error, ChatError) and error.chunk is None:
        # An {"error": ...} body sent with status 200 (OpenRouter does this when a provider
        # fails after the headers went out): as retryable as the status its code names.
        code = error.error.code
        return isinstance(code, int) and config.retries_status(code)
    return False


def _wait(config: RetryConfig) -> Callable[[tenacity.RetryCallState], float]:
    """Back-off after the attempt that just failed: the server's demand when it made one,
    else the configured exponential back-off (jittered)."""
    backoff = config.backoff

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if error is not None:
            demanded = retry_after_seconds(error)
            if demanded is not None:
                return demanded
        if backoff is None:
            return 0.0
        ceiling = min(
            backoff.max_interval,
            backoff.initial_interval * backoff.exponent ** (state.attempt_number - 1),
        )
        if backoff.jitter_ms is not None:  # the official SDK's additive jitter
            return (ceiling + random.uniform(0, backoff.jitter_ms)) / 1000.0
        return (random.uniform(0, ceiling) if config.jitter else ceiling) / 1000.0

    return wait


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    config: RetryConfig,
    *,
    first_error: OpenRouterError | None = None,
    on_retry: Callable[[], None] | None = None,
    logger: logging.Logger | None = None,
) -> T:
    """The retry loop: run ``attempt`` and retry it as ``config`` says; the last error is
    re-raised as it is. Every retried exchange of the client comes through here (see
    ``Exchange.retry``): the policy is built here, each retry counted and logged here.

    The first attempt runs outside tenacity: almost every call succeeds at once, and a fan-out
    of thousands of calls should not pay for a retry controller each. A caller that made that
    first attempt itself (the JSON hot path, see ``Exchange.json``) passes its ``first_error``.
    """
    if first_error is None:
        try:
            return await attempt()
        except OpenRouterError as error:
            if not config.enabled or not is_retryable(error, config):
                raise
            first_error = error
    # Imported on the first retry only: most programs never retry, and every import counts
    # towards the time to the first call.
    import tenacity

    def before_sleep(state: tenacity.RetryCallState) -> None:
        _count(on_retry)
        if logger is not None:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            logger.debug(
                "retrying after %s (attempt %d, waiting %.3fs)",
                type(error).__name__,
                state.attempt_number,
                wait,
            )

    failed = [first_error]

    async def again() -> T:
        if failed:  # tenacity's first attempt is the one that failed already: replayed
            raise failed.pop()
        return await attempt()

    max_elapsed = (config.backoff.max_elapsed_time if config.backoff else 0) / 1000.0
    stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(config.max_attempts)
    if max_elapsed > 0:
        stop = stop | tenacity.stop_after_delay(max_elapsed)
    controller = tenacity.AsyncRetrying(
        stop=stop,
        wait=_wait(config),
        retry=tenacity.retry_if_exception(lambda e: is_retryable(e, config)),
        sleep=anyio.sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    return await controller(again)
