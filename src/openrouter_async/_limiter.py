"""The Session's rate-limit-aware gate, shared by every call made through it.

* **Concurrency cap** — an anyio ``CapacityLimiter`` whose size may move (adaptive, below).
* **Requests per minute / tokens per minute** — continuously refilled buckets. A call
  *reserves* its cost (the balance may go negative) and sleeps until the balance it left
  behind is paid back: callers are served in order of arrival, and a call larger than the
  bucket still passes, after the wait it implies. The RPM bucket holds one request by default
  (pure pacing, no burst): a server counting requests in a sliding window never sees more than
  the rate. Tokens are estimated before the call (prompt bytes / 4 + ``max_tokens``) and
  corrected from ``usage`` after it.
* **Global cool-down** — when any call gets a 429, every call of the Session waits out its
  ``Retry-After`` before sending (not only the one that was hit): one 429 does not become a
  burst of 429s from the other workers. A whole-second ``Retry-After`` is refined by
  ``X-RateLimit-Reset`` (milliseconds) when that falls within its rounding.
  ``X-RateLimit-Remaining: 0`` with ``X-RateLimit-Reset`` starts a cool-down until the reset,
  before the server has to refuse.
* **Adaptive concurrency** — a 429 halves the concurrency limit (at most once per cool-down),
  and it grows back by one after as many successes in a row as the current limit (additive
  increase, multiplicative decrease), never above the configured cap.

* **Within the call's timeout** — the wait at the gate counts against the call's deadline: a
  call that cannot pass in time raises :class:`~openrouter_async.errors.RateLimitTimeoutError`
  (an ``APITimeoutError``) naming what held it, at once when the wait is known (a cool-down, a
  bucket), at its deadline when it waited for a slot.

* **A budget shared by the fleet** (``budget=RedisBudget(...)``, see ``_budget.py``): passed
  after the Session's own slot and before its own buckets, so that many Sessions in many
  processes together keep to one rate, concurrency and cost. Its cool-down (a 429 seen by any
  worker) is mirrored here, and a 429 or a spent quota seen here is sent to the fleet.

Its state is observable: :meth:`Limiter.state` (limit, in flight, waiting, cool-down left).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from ._budget_gate import BudgetGate, Ticket
from ._retry import rate_limit_reset_wait, retry_after_from_headers
from .errors import RateLimitTimeoutError

if TYPE_CHECKING:
    from ._budget import RedisBudget

__all__ = ["Limiter", "LimiterState", "estimate_tokens", "used_cost", "used_tokens"]


@attrs.frozen
class LimiterState:
    """A snapshot of the gate."""

    limit: int | None  #: the concurrency limit now (None: no cap)
    max_limit: int | None  #: the configured cap
    in_flight: int  #: calls holding a slot
    waiting: int  #: calls waiting for a slot, a bucket or the cool-down
    cool_down_remaining: float  #: seconds every call still waits before sending
    rate_limited: int  #: 429 answers seen
    rpm: float | None
    tpm: float | None


class _Bucket:
    """A continuously refilled bucket; ``reserve(cost)`` returns how long to wait."""

    def __init__(self, per_minute: float, burst: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, burst)
        self.balance = self.capacity
        self.stamp = time.monotonic()

    def reserve(self, cost: float) -> float:
        now = time.monotonic()
        self.balance = min(self.capacity, self.balance + (now - self.stamp) * self.rate)
        self.stamp = now
        self.balance -= cost
        return 0.0 if self.balance >= 0 else -self.balance / self.rate

    def refund(self, amount: float) -> None:
        self.balance = min(self.capacity, self.balance + amount)


class Limiter:
    """See the module docstring. Built by the Session from its ``max_concurrency=``,
    ``rpm=``, ``tpm=`` and ``adaptive_concurrency=`` options."""

    def __init__(
        self,
        *,
        max_concurrency: int | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        adaptive: bool = True,
        rpm_burst: float = 1.0,
        max_cool_down: float = 120.0,
        budget: RedisBudget | None = None,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        self.max_limit = max_concurrency
        self.adaptive = adaptive and max_concurrency is not None
        self._slots = anyio.CapacityLimiter(max_concurrency) if max_concurrency else None
        self._rpm = _Bucket(rpm, rpm_burst) if rpm else None
        self._tpm = _Bucket(tpm, tpm / 60.0) if tpm else None
        self.rpm = rpm
        self._own_tpm = tpm
        #: The fleet's budget (None: this Session's limits only).
        self.budget = budget
        self._budget: BudgetGate | None = None
        if budget is not None:
            self._budget = BudgetGate(
                budget,
                on_cool_down=self._fleet_cool_down,
                # Redis unreachable with on_unavailable="local": the budget's figures, here.
                fallback=functools.partial(
                    Limiter,
                    max_concurrency=budget.max_concurrency,
                    rpm=budget.rpm,
                    tpm=budget.tpm,
                    adaptive=False,
                    rpm_burst=budget.rpm_burst,
                ),
            )
        #: The longest global cool-down a 429 or a reset header may impose (seconds).
        self.max_cool_down = max_cool_down
        self._cool_until = 0.0
        self._cut_until = 0.0  # no second adaptive cut within one cool-down
        self._successes = 0
        self._waiting = 0
        self.rate_limited = 0

    @property
    def tpm(self) -> float | None:
        """Tokens per minute the gate counts calls against: the Session's own limit, else
        its budget's (``math.inf`` when only the budget's ``max_cost`` needs the estimate).
        When set, every JSON call's tokens are estimated before it is sent."""
        if self._own_tpm is not None:
            return self._own_tpm
        budget = self.budget
        if budget is not None and budget.tpm is not None:
            return budget.tpm
        if budget is not None and budget.max_cost is not None:
            return math.inf
        return None

    @property
    def gated(self) -> bool:
        """Whether calls take slots or tokens (a cap, rpm or tpm is configured, or a
        budget)."""
        return (
            self._slots is not None
            or self._rpm is not None
            or self._tpm is not None
            or self._budget is not None
        )

    @property
    def engaged(self) -> bool:
        """Whether a call must pass :meth:`acquire` (gated, or a cool-down is running)."""
        return self.gated or self.cooling

    @property
    def cooling(self) -> bool:
        """Whether a cool-down is running (calls wait before sending)."""
        return self._cool_until > 0 and self._cool_until > time.monotonic()

    # -- around a call ---------------------------------------------------------------------

    async def acquire(
        self, estimated_tokens: int = 0, *, within: float | None = None
    ) -> object | None:
        """Wait for the cool-down, a slot, and the buckets; return the permit to hand to
        :meth:`release` (a permit of its own, not the task's: one task may hold several), or
        None when nothing is gated (the call only waited out a cool-down).

        ``within`` (seconds, the call's timeout) bounds the wait: a call that cannot pass the
        gate in time raises :class:`RateLimitTimeoutError` naming what held it — at once when
        the wait is known to be longer (a cool-down, a bucket), after ``within`` when it waits
        for a free slot."""
        deadline = math.inf if within is None else time.monotonic() + within
        if not self.gated:
            await self.wait_cool_down(deadline, within)
            return None
        budget = self._budget
        permit = object() if budget is None else budget.ticket(estimated_tokens)
        self._waiting += 1
        try:
            if budget is not None:
                self._fleet_cool_down(until=budget.fleet_cool_until())
            await self.wait_cool_down(deadline, within)
            slots = self._slots
            if slots is not None:
                if within is None:
                    await slots.acquire_on_behalf_of(permit)
                else:
                    await self._take_slot(slots, permit, deadline, within)
            try:
                if budget is not None:
                    assert isinstance(permit, Ticket)
                    await budget.acquire(permit, deadline, within)
                wait, held_by = 0.0, ""
                rpm, tpm = self._rpm, self._tpm
                if rpm is not None:
                    wait, held_by = rpm.reserve(1), "rpm"
                if tpm is not None and estimated_tokens:
                    tokens_wait = tpm.reserve(estimated_tokens)
                    if tokens_wait > wait:
                        wait, held_by = tokens_wait, "tpm"
                if wait > 0:
                    if time.monotonic() + wait > deadline:
                        # Known now to be too late: give the reservations back, fail at once.
                        if rpm is not None:
                            rpm.refund(1)
                        if tpm is not None and estimated_tokens:
                            tpm.refund(estimated_tokens)
                        raise self._too_late(held_by, wait, within)
                    await anyio.sleep(wait)
                if budget is not None:
                    self._fleet_cool_down(until=budget.fleet_cool_until())
                await self.wait_cool_down(deadline, within)
            except BaseException:
                if slots is not None:
                    slots.release_on_behalf_of(permit)
                if budget is not None:
                    assert isinstance(permit, Ticket)
                    budget.give_back(permit)
                raise
        finally:
            self._waiting -= 1
        return permit

    async def _take_slot(
        self, slots: anyio.CapacityLimiter, permit: object, deadline: float, within: float
    ) -> None:
        try:
            slots.acquire_on_behalf_of_nowait(permit)  # a free slot: no cancel scope
            return
        except anyio.WouldBlock:
            pass
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())) as scope:
            await slots.acquire_on_behalf_of(permit)
        if scope.cancelled_caught:
            limit = int(slots.total_tokens)
            raise RateLimitTimeoutError(
                f"the call waited at the rate limit for its whole {within:g}s timeout: all "
                f"{limit} concurrency slots of the Session (max_concurrency={self.max_limit}) "
                "stayed taken",
                waited_on="concurrency",
            )

    def _too_late(self, held_by: str, wait: float, within: float | None) -> Exception:
        limit = f" within its {within:g}s timeout" if within is not None else ""
        if held_by == "cool-down":
            why = f"its cool-down (after a 429 or a spent quota) has {wait:.2f}s left"
        else:
            rate = self.rpm if held_by == "rpm" else self._own_tpm
            unit = "requests" if held_by == "rpm" else "tokens"
            why = f"the {held_by} limit ({rate:g} {unit}/min) lets it go in {wait:.2f}s"
        return RateLimitTimeoutError(
            f"the call cannot start{limit}: it waits at the rate limit, and {why}",
            waited_on=held_by,
        )

    def release(
        self,
        permit: object | None,
        *,
        status: int | None,
        headers: Mapping[str, str] | None = None,
        estimated_tokens: int = 0,
        used_tokens: int | None = None,
        used_cost: float | None = None,
    ) -> None:
        """Account for a finished attempt: give back its permit (if it took one), and learn
        from its status (a 429 starts the global cool-down, for its Retry-After), the
        server's rate-limit headers and the tokens it really used (and, for a budget, what
        it cost: ``usage.cost``)."""
        if permit is not None and self._slots is not None:
            self._slots.release_on_behalf_of(permit)
        if self._budget is not None and isinstance(permit, Ticket):
            self._budget.release(
                permit, status=status, used_tokens=used_tokens, used_cost=used_cost
            )
        if self._tpm is not None and used_tokens is not None and estimated_tokens:
            self._tpm.refund(estimated_tokens - used_tokens)
        if status == 429:
            self.on_rate_limited(retry_after_from_headers(headers))
        elif status is not None and status < 400:
            self._on_success()
        if headers is not None:
            self._learn(headers)

    async def wait_cool_down(self, deadline: float = math.inf, within: float | None = None) -> None:
        """Wait until no cool-down runs; one ending after ``deadline`` (``time.monotonic``)
        raises :class:`RateLimitTimeoutError` at once."""
        while True:
            now = time.monotonic()
            left = self._cool_until - now
            if left <= 0:
                return
            if now + left > deadline:
                raise self._too_late("cool-down", left, within)
            await anyio.sleep(left)

    # -- what the answers teach ------------------------------------------------------------

    def on_rate_limited(self, retry_after: float | None) -> None:
        self.rate_limited += 1
        now = time.monotonic()
        wait = min(1.0 if retry_after is None else retry_after, self.max_cool_down)
        self._cool_until = max(self._cool_until, now + wait)
        if self._budget is not None:
            self._budget.cool_down(wait)  # every worker of the fleet waits too
        self._successes = 0
        if self.adaptive and self._slots is not None and now >= self._cut_until:
            limit = int(self._slots.total_tokens)
            self._slots.total_tokens = max(1, limit // 2)
            self._cut_until = self._cool_until

    def _on_success(self) -> None:
        if not self.adaptive or self._slots is None or self.max_limit is None:
            return
        self._successes += 1
        limit = int(self._slots.total_tokens)
        if self._successes >= limit and limit < self.max_limit:
            self._slots.total_tokens = limit + 1
            self._successes = 0

    def _learn(self, headers: Mapping[str, str]) -> None:
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is None:
            return
        try:
            if float(remaining) > 0:
                return
        except ValueError:
            return
        wait = rate_limit_reset_wait(headers)
        if wait is not None:
            wait = min(wait, self.max_cool_down)
            self._cool_until = max(self._cool_until, time.monotonic() + wait)
            if self._budget is not None:
                self._budget.cool_down(wait)

    def _fleet_cool_down(self, seconds: float = 0.0, *, until: float = 0.0) -> None:
        """The fleet's cool-down (seen on Redis), honoured here too; not counted as a 429
        of this Session's."""
        if seconds > 0:
            until = max(until, time.monotonic() + min(seconds, self.max_cool_down))
        if until > self._cool_until:
            self._cool_until = until

    # -- observing -------------------------------------------------------------------------

    def state(self) -> LimiterState:
        slots = self._slots
        return LimiterState(
            limit=int(slots.total_tokens) if slots is not None else None,
            max_limit=self.max_limit,
            in_flight=int(slots.borrowed_tokens) if slots is not None else 0,
            waiting=self._waiting,
            cool_down_remaining=max(0.0, self._cool_until - time.monotonic()),
            rate_limited=self.rate_limited,
            rpm=self.rpm,
            tpm=self._own_tpm,
        )


def estimate_tokens(body: bytes | None) -> int:
    """A cheap estimate before the call: prompt bytes / 4 plus the requested ``max_tokens``
    (or 256 when absent), read without parsing the whole body."""
    if not body:
        return 1
    estimate = len(body) // 4
    marker = body.find(b'"max_tokens":')
    if marker < 0:
        marker = body.find(b'"max_completion_tokens":')
    if marker >= 0:
        start = body.index(b":", marker) + 1
        end = start
        while end < len(body) and body[end : end + 1] in b" 0123456789":
            end += 1
        try:
            return estimate + int(body[start:end])
        except ValueError:
            pass
    return estimate + 256


def used_tokens(result: Any) -> int | None:
    usage = getattr(result, "usage", None)
    total = getattr(usage, "total_tokens", None)
    return total if isinstance(total, int) and not math.isnan(total) else None


def used_cost(result: Any) -> float | None:
    """What the call cost (dollars), from the ``usage.cost`` OpenRouter reports."""
    usage = getattr(result, "usage", None)
    cost = getattr(usage, "cost", None)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost):
        return None
    return float(cost)
