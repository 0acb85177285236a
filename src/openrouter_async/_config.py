"""Client options: timeouts and the retry configuration, with the official SDK's names.

The official SDK spells retries as ``RetryConfig("backoff", BackoffStrategy(...), True)`` with
intervals in milliseconds; we keep that spelling (so switching SDKs is an import change) and
add what a batch job needs on top: an attempt cap, a cap on how long a ``Retry-After`` may
make us wait, and jitter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import attrs

__all__ = ["DEFAULT_RETRY_CONFIG", "BackoffStrategy", "RetryConfig", "Timeouts", "env_flag"]


def _positive(_instance: object, attribute: attrs.Attribute[float], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


@attrs.frozen
class Timeouts:
    """Finite by default, in seconds.

    - ``connect``: establishing a connection (waiting for a free pooled one is bounded by
      the call's own deadline, ``read`` or ``stream_idle``, not by this).
    - ``read``: a whole non-streaming call, from sending to the parsed body.
    - ``stream_idle``: for a stream, the wait for the response headers and then the longest
      gap between two *data* events; keep-alive comments (``: OPENROUTER PROCESSING``) do not
      reset it, so a server that only sends keep-alives is cut off.
    """

    connect: float = attrs.field(default=10.0, validator=_positive)
    """Seconds to establish a connection (the wait for a free pooled one counts against the
    call's own deadline: ``read``, or ``stream_idle`` for a stream)."""
    read: float = attrs.field(default=600.0, validator=_positive)
    """Seconds for a whole non-streaming call, from sending to the parsed body."""
    stream_idle: float = attrs.field(default=120.0, validator=_positive)
    """Seconds a stream may wait for its headers, then between two data events."""

    def with_timeout_ms(self, timeout_ms: int | float | None) -> Timeouts:
        """Apply the official SDK's single ``timeout_ms`` knob: it bounds a non-streaming
        call as a whole and, for a stream, the header wait and each gap between data events."""
        if timeout_ms is None:
            return self
        if timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be positive, got {timeout_ms!r}")
        seconds = timeout_ms / 1000.0
        return attrs.evolve(self, read=seconds, stream_idle=seconds)


@attrs.frozen
class BackoffStrategy:
    """Exponential back-off, in milliseconds (the official SDK's fields and units)."""

    initial_interval: int = 500
    """The first wait before jitter, in milliseconds (a ``Retry-After`` replaces the back-off)."""
    max_interval: int = 60_000
    """The longest single wait before jitter, in milliseconds."""
    exponent: float = 1.5
    """The growth factor from one wait to the next."""
    max_elapsed_time: int = 3_600_000
    """Retrying stops once this many milliseconds have passed (0: no limit)."""
    jitter_ms: int | None = None
    """The official SDK's additive jitter: a random ``[0, jitter_ms]`` added to each wait.
    When given, it replaces :attr:`RetryConfig.jitter`'s full jitter."""


@attrs.frozen
class RetryConfig:
    """When and how to retry a call.

    ``RetryConfig("none", None, False)`` (or :meth:`disabled`) turns retries off. Retried:
    connection errors and timeouts (when ``retry_connection_errors``), and the statuses in
    ``status_codes`` (``"5XX"`` matches any 5xx). Never retried: 400/401/402/403/404/422, and a
    stream once data has reached the caller. ``Retry-After`` / ``retry-after-ms`` is honoured
    up to ``max_retry_after_ms``; a longer demand raises at once instead of stalling a job.
    Waits are jittered ("full jitter") so that a fleet of workers does not retry in lockstep.
    """

    strategy: Literal["backoff", "none"] = "backoff"
    """``"backoff"`` to retry, ``"none"`` not to."""
    backoff: BackoffStrategy | None = attrs.field(factory=BackoffStrategy)
    """The waits between attempts."""
    retry_connection_errors: bool = True
    """Retry connection errors and timeouts too, not only the ``status_codes``."""
    status_codes_override: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple), repr=False
    )
    """The official SDK's name for :attr:`status_codes`: when given, it replaces them."""
    max_attempts: int = attrs.field(default=3, kw_only=True)
    """Attempts in all, the first one included (keyword only)."""
    status_codes: tuple[str, ...] = attrs.field(
        default=("408", "409", "429", "5XX"), kw_only=True, converter=tuple
    )
    """HTTP statuses to retry, ``"5XX"`` for a whole family (keyword only)."""
    max_retry_after_ms: int = attrs.field(default=120_000, kw_only=True)
    """The longest ``Retry-After`` honoured; a longer one raises at once (keyword only)."""
    jitter: bool = attrs.field(default=True, kw_only=True)
    """Draw each wait at random below its back-off value ("full jitter"; keyword only)."""

    def __attrs_post_init__(self) -> None:
        if self.status_codes_override is not None:
            object.__setattr__(self, "status_codes", self.status_codes_override)

    @classmethod
    def disabled(cls) -> RetryConfig:
        """No retries: ``RetryConfig("none", None, False)``."""
        return cls("none", None, False)

    @property
    def enabled(self) -> bool:
        """Whether a failed call may be retried at all."""
        return self.strategy != "none" and self.max_attempts > 1

    def retries_status(self, status: int) -> bool:
        """Whether an answer with this HTTP status is retried."""
        if status in (400, 401, 402, 403, 404, 422):
            return False
        text = str(status)
        family = f"{text[0]}XX"
        return any(code in (text, family) for code in self.status_codes)


DEFAULT_RETRY_CONFIG = RetryConfig()


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    value = (environ if environ is not None else os.environ).get(name, "")
    return value.strip().lower() in ("1", "true", "yes", "on")
