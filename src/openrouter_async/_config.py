"""Client options: timeouts and the retry configuration, with the official SDK's names.

The official SDK spells retries as ``RetryConfig("backoff", BackoffStrategy(...), True)`` with
intervals in milliseconds; we keep that spelling (so switching SDKs is an import change) and
add what a batch job needs on top: an attempt cap, a cap on how long a ``Retry-After`` may
make us wait, and jitter.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

__all__ = ["DEFAULT_RETRY_CONFIG", "BackoffStrategy", "RetryConfig", "Timeouts", "env_flag"]


# Every option is checked when it is built, naming the option and what it accepts: a wrong
# value found only at the first retry (or never: RetryConfig(status_codes=(503,)) used to match
# nothing) is worse than none.


def check_number(name: str, value: object, *, minimum: float = 0.0, strict: bool = True) -> None:
    """``value`` is an int or float (not a bool), above ``minimum`` (``strict``) or at least it;
    else a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if value != value or (value <= minimum if strict else value < minimum):  # NaN too
        bound = "above" if strict else "at least"
        raise ValueError(f"{name} must be {bound} {minimum:g}, got {value!r}")


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        check_number(attribute.name, value)


def _at_least_zero(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        check_number(attribute.name, value, strict=False)


def _flag(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be True or False, got {value!r}")


_STATUS_CODE = re.compile(r"[1-5]([0-9]{2}|XX)")


def _status_code(code: object) -> str:
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
        return str(code)
    if isinstance(code, str) and _STATUS_CODE.fullmatch(code.upper()):
        return code.upper()
    raise ValueError(
        f"status codes are HTTP statuses: an int (503), a string ('503') or a family "
        f"('5XX'); got {code!r}"
    )


def _status_codes(codes: object) -> tuple[str, ...]:
    """Ints or strings, ``"5XX"`` for a family, as the official SDK writes them; one string is
    one code (``"5XX"``, not the letters of it)."""
    if isinstance(codes, (str, int)):
        codes = (codes,)
    if not isinstance(codes, Iterable):
        raise TypeError(f"status_codes must be a sequence of HTTP statuses, got {codes!r}")
    return tuple(_status_code(code) for code in codes)


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
        check_number("timeout_ms (milliseconds)", timeout_ms)
        seconds = timeout_ms / 1000.0
        return attrs.evolve(self, read=seconds, stream_idle=seconds)


@attrs.frozen
class BackoffStrategy:
    """Exponential back-off, in milliseconds (the official SDK's fields and units)."""

    initial_interval: int = attrs.field(default=500, validator=_at_least_zero)
    """The first wait before jitter, in milliseconds (a ``Retry-After`` replaces the back-off)."""
    max_interval: int = attrs.field(default=60_000, validator=_at_least_zero)
    """The longest single wait before jitter, in milliseconds."""
    exponent: float = attrs.field(default=1.5, validator=_at_least_zero)
    """The growth factor from one wait to the next."""
    max_elapsed_time: int = attrs.field(default=3_600_000, validator=_at_least_zero)
    """Retrying stops once this many milliseconds have passed (0: no limit)."""
    jitter_ms: int | None = attrs.field(default=None, validator=_at_least_zero)
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

    strategy: Literal["backoff", "none"] = attrs.field(default="backoff")
    """``"backoff"`` to retry, ``"none"`` not to."""
    backoff: BackoffStrategy | None = attrs.field(factory=BackoffStrategy)
    """The waits between attempts."""
    retry_connection_errors: bool = attrs.field(default=True, validator=_flag)
    """Retry connection errors and timeouts too, not only the ``status_codes``."""
    status_codes_override: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_status_codes), repr=False
    )
    """The official SDK's name for :attr:`status_codes`: when given, it replaces them."""
    max_attempts: int = attrs.field(default=3, kw_only=True)
    """Attempts in all, the first one included (keyword only)."""
    status_codes: tuple[str, ...] = attrs.field(
        default=("408", "409", "429", "5XX"), kw_only=True, converter=_status_codes
    )
    """HTTP statuses to retry, ``"5XX"`` for a whole family (keyword only)."""
    max_retry_after_ms: int = attrs.field(default=120_000, kw_only=True, validator=_at_least_zero)
    """The longest ``Retry-After`` honoured; a longer one raises at once (keyword only)."""
    jitter: bool = attrs.field(default=True, kw_only=True, validator=_flag)
    """Draw each wait at random below its back-off value ("full jitter"; keyword only)."""

    @strategy.validator
    def _check_strategy(self, _attribute: attrs.Attribute[str], value: object) -> None:
        if value not in ("backoff", "none"):
            raise ValueError(f"strategy must be 'backoff' or 'none', got {value!r}")

    @backoff.validator
    def _check_backoff(self, _attribute: attrs.Attribute[object], value: object) -> None:
        if value is not None and not isinstance(value, BackoffStrategy):
            raise TypeError(f"backoff must be a BackoffStrategy or None, got {value!r}")

    @max_attempts.validator
    def _check_attempts(self, _attribute: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"max_attempts must be an int, got {value!r}")
        if value < 1:
            raise ValueError(
                f"max_attempts counts the first attempt too: at least 1 (1: no retry), "
                f"got {value!r}"
            )

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
