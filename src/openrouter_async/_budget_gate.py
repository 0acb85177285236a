"""One Session's side of a shared :class:`~openrouter_async._budget.RedisBudget`: the calls
waiting at its gate, granted by Redis in batches.

Calls queue here in order of arrival. One of them at a time — the *leader* — asks Redis for
the calls at the head of the queue in one script call (at most ``budget.batch_size``:
``window`` seconds of the fleet's rate), from a worker thread (redis-py's sync client: it
serves asyncio and trio alike); each granted call then sleeps until its own slot in the
fleet's schedule, and the leader hands over to the next call still waiting. A Session that
holds grants more than ``window`` ahead asks for no more until then: a busy Session asks Redis
about once per ``window``, whatever its rate. Finished calls are settled by the budget's
thread (``_budget.Agent``), in batches too.

With ``max_concurrency`` and a rate, a call takes its slot first and its lease only when the
slot comes (a second phase, ahead of the calls waiting for slots): a lease is held while a
call runs, not while it sleeps until its slot. A finished call's lease serves the process's
next call without a round trip.

Measured on the development machine (2 cores, loopback redis-server 6.2): one permit round
trip — thread hop, EVALSHA, the script — takes 161 µs on asyncio and 179 µs on trio, against
103 µs for the same script call from a plain thread (a bare thread hop: 39 / 49 µs; PING:
25 µs). Batching makes it rare: four processes sharing 200 req/s made 0.07 script calls per
request with rpm alone, 0.08 with tpm, max_cost and 64 leases too.

A call that cannot start in time fails as the local gate's do, with
:class:`~openrouter_async.errors.RateLimitTimeoutError` naming what held it (``"rpm"``,
``"tpm"``, ``"concurrency"``, ``"cool-down"``); a spent budget raises
:class:`~openrouter_async._budget.BudgetExhaustedError`; an unreachable Redis raises
:class:`~openrouter_async._budget.BudgetUnavailableError` or falls back to a local limiter
with the budget's figures (``on_unavailable``).
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

import anyio
import anyio.to_thread

from ._budget import (
    COOLING,
    LEASE,
    NO_LEASE,
    RATE,
    SLOT,
    SLOT_AND_LEASE,
    SPENT,
    TOKENS,
    Agent,
    CallArgs,
    RedisBudget,
    Reply,
    Unavailable,
)
from .errors import RateLimitTimeoutError

__all__ = ["BudgetGate", "LocalGate", "Ticket"]

_NO_WAIT_LIMIT_US = 1e15

# A ticket's states.
_IDLE, _QUEUED, _GRANTED, _FAILED, _LOCAL = range(5)


class LocalGate(Protocol):
    """The local limiter a budget falls back to when Redis is unreachable (a ``Limiter``)."""

    async def acquire(
        self, estimated_tokens: int = 0, *, within: float | None = None
    ) -> object | None: ...

    def release(
        self,
        permit: object | None,
        *,
        status: int | None,
        estimated_tokens: int = 0,
        used_tokens: int | None = None,
    ) -> None: ...


class Ticket:
    """One call at the gate: what it asked for, and what the budget granted it. It is also
    the call's permit at the local gate (a slot is borrowed on its behalf)."""

    __slots__ = (
        "cost",
        "deadline",
        "done",
        "error",
        "event",
        "holder",
        "lease",
        "lease_holder",
        "lease_since",
        "local",
        "local_permit",
        "phase",
        "repace",
        "reserved_cost",
        "reserved_tokens",
        "start_at",
        "started",
        "state",
        "tokens",
        "within",
    )

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens  #: the estimate of the call's tokens
        self.cost = 0.0  #: the estimate of its cost (dollars)
        self.deadline = math.inf
        self.within: float | None = None
        self.state = _IDLE
        self.phase = SLOT  #: what it waits for: its slot (SLOT), then a lease (LEASE)
        self.event: anyio.Event | None = None
        self.error: BaseException | None = None
        self.start_at = 0.0  #: its slot (time.monotonic)
        self.started = 0.0  #: when it passed the gate
        self.holder: str | None = None  #: the holder its reservations were granted to
        self.lease = False  #: it holds a lease of the fleet's concurrency
        self.lease_holder: str | None = None
        self.lease_since = 0.0  #: when that lease was taken from Redis
        self.reserved_tokens = 0
        self.reserved_cost = 0.0
        self.repace = False  #: it needs a fresh slot only (after a cool-down)
        self.local = False  #: it passed the local fallback (Redis unreachable)
        self.local_permit: object | None = None
        self.done = False


class BudgetGate:
    """See the module docstring. Built by the Limiter of a Session given ``budget=``."""

    def __init__(
        self,
        budget: RedisBudget,
        *,
        on_cool_down: Callable[[float], None],
        fallback: Callable[[], LocalGate],
    ) -> None:
        self.budget = budget
        self._on_cool_down = on_cool_down  # mirrors the fleet's cool-down at the local gate
        self._make_fallback = fallback
        self._fallback: LocalGate | None = None
        self._queue: deque[Ticket] = deque()
        self._leading = False
        # No round trip for slots before _next_fetch, nor for leases before _next_lease.
        self._next_fetch = 0.0
        self._next_lease = 0.0
        self._held_by = "concurrency"  # why the last round trip left calls waiting
        self._wake_leader: anyio.Event | None = None
        self._threads: anyio.CapacityLimiter | None = None
        # With rates, a call takes its slot first and its lease when the slot comes (a lease
        # is not held while the call sleeps); without, both at once.
        self._lease_apart = budget.max_concurrency is not None and bool(budget.rpm or budget.tpm)
        # How often to ask again for a lease when the fleet holds them all: a quarter of the
        # calls' mean duration (a lease frees about that often), within [10 ms, 250 ms].
        self._lease_poll = budget.lease_poll
        self._call_time: float | None = None
        # The slots granted here and not come yet (sorted): their calls will want leases.
        self._upcoming: list[float] = []

    def ticket(self, estimated_tokens: int) -> Ticket:
        return Ticket(estimated_tokens)

    def fleet_cool_until(self) -> float:
        """The end of the fleet's cool-down as last seen (time.monotonic)."""
        return self.budget.agent().cool_until

    def cool_down(self, seconds: float) -> None:
        """A 429 (or a spent quota) seen by this Session: the whole fleet waits."""
        self.budget.agent().cool_down(seconds)

    # -- passing the gate ------------------------------------------------------------------

    async def acquire(self, ticket: Ticket, deadline: float, within: float | None) -> None:
        """Wait until the budget lets the call start (``deadline``: time.monotonic)."""
        budget = self.budget
        agent = budget.agent()
        ticket.deadline, ticket.within = deadline, within
        if budget.max_cost is not None:
            ticket.cost = ticket.tokens * agent.price
        try:
            while True:
                await self._obtain(agent, ticket)
                if ticket.state == _LOCAL:
                    await self._pass_locally(agent, ticket)
                    return
                delay = ticket.start_at - time.monotonic()
                if delay > 0:
                    await anyio.sleep(delay)
                cool = agent.cool_until - time.monotonic()
                if cool <= 0 or not budget.rpm:
                    break
                # A cool-down began while the call waited for its slot: wait it out, then take
                # a fresh slot, so that the fleet resumes at its pace rather than in a burst.
                if time.monotonic() + cool > deadline:
                    raise self._too_late("cool-down", cool, within)
                await anyio.sleep(cool)
                ticket.repace = True
            if self._lease_apart and not ticket.lease:
                ticket.phase = LEASE  # its slot came: now a lease, for as long as it runs
                self._drop_upcoming(ticket)
                await self._obtain(agent, ticket)
                if ticket.state == _LOCAL:
                    await self._pass_locally(agent, ticket)
                    return
            ticket.started = time.monotonic()
        except BaseException:
            self._drop_upcoming(ticket)
            self.give_back(ticket)
            raise

    def _drop_upcoming(self, ticket: Ticket) -> None:
        if self._lease_apart and ticket.phase == SLOT and ticket.state == _GRANTED:
            upcoming = self._upcoming
            index = bisect.bisect_left(upcoming, ticket.start_at)
            if index < len(upcoming) and upcoming[index] == ticket.start_at:
                del upcoming[index]

    async def _obtain(self, agent: Agent, ticket: Ticket) -> None:
        ticket.state = _IDLE  # (again: a fresh slot after a cool-down, or the lease)
        if agent.is_down():
            self._unavailable([ticket], None)
            if ticket.state == _FAILED:
                assert ticket.error is not None
                raise ticket.error
            return
        ticket.state = _QUEUED
        queue = self._queue
        if ticket.phase == LEASE:
            # Its slot came: ahead of every call that waits for one.
            queue.appendleft(ticket)
            if self._wake_leader is not None:
                self._wake_leader.set()
        elif ticket.repace:
            # It waited its turn already: ahead of the calls waiting for a slot, behind
            # those waiting for a lease.
            ahead = 0
            while ahead < len(queue) and queue[ahead].phase == LEASE:
                ahead += 1
            queue.insert(ahead, ticket)
        else:
            queue.append(ticket)
        try:
            while ticket.state == _QUEUED:
                if not self._leading:
                    await self._lead(agent, ticket)
                    continue
                left = ticket.deadline - time.monotonic()
                if left <= 0:
                    raise self._too_late(self._held_by, None, ticket.within)
                event = ticket.event = anyio.Event()
                with anyio.move_on_after(left):
                    await event.wait()
            if ticket.state == _FAILED:
                assert ticket.error is not None
                raise ticket.error
        finally:
            ticket.event = None
            if ticket.state == _QUEUED:
                ticket.state = _IDLE
                queue.remove(ticket)
            if not self._leading:
                self._hand_over()

    async def _lead(self, agent: Agent, own: Ticket) -> None:
        """One round trip (or none, when idle leases suffice) for the calls at the head of
        the queue."""
        self._leading = True
        try:
            batch = await self._paced_batch(agent, own)
            if not batch or agent.is_down():
                if batch:
                    self._unavailable(batch, None)
                return
            now = time.monotonic()
            calls = [self._args(ticket, now) for ticket in batch]
            if calls[0][2] == LEASE and not agent.fleet_full:
                # Spare leases for the calls whose slots come within half a window: they
                # wait here idle (returned after lease_linger if unused), not a round trip each.
                soon = bisect.bisect_right(self._upcoming, now + self.budget.window / 2)
                calls += [(0, -1.0, LEASE, 0.0)] * min(soon, self.budget.batch_size)
            if self._threads is None:
                self._threads = anyio.CapacityLimiter(1)
            try:
                reply = await anyio.to_thread.run_sync(agent.call, calls, limiter=self._threads)
            except Unavailable as error:
                agent.mark_down(error)
                self._unavailable(batch, error)
                return
            self._apply(agent, reply, batch, calls)
        finally:
            self._leading = False
            self._wake_leader = None

    async def _paced_batch(self, agent: Agent, own: Ticket) -> list[Ticket]:
        """Wait until a round trip is due, then the calls it is for: those waiting for a
        lease first (given idle leases on the spot), then — unless this Session holds enough
        slots for a window ahead — those waiting for a slot."""
        queue = self._queue
        while True:
            now = time.monotonic()
            if not queue:
                return []
            head = queue[0]
            if head.phase == LEASE:
                due = self._next_lease if not agent.idle else now
            else:
                due = self._next_fetch
            if due <= now:
                break
            # Slots held for a window ahead, a cool-down, or no lease free: wait (a lease
            # freed here, or a call whose slot came, wakes the leader early).
            wake = self._wake_leader = anyio.Event()
            with anyio.move_on_after(max(0.0, min(due, own.deadline) - now)):
                await wake.wait()
            self._wake_leader = None
            if time.monotonic() >= own.deadline:
                raise self._too_late(self._held_by, None, own.within)
        budget = self.budget
        batch: list[Ticket] = []
        slots_due = self._next_fetch <= now
        for ticket in list(itertools.islice(queue, budget.batch_size)):
            needs_lease = budget.max_concurrency is not None and not ticket.lease
            if needs_lease and (ticket.phase == LEASE or not self._lease_apart):
                taken = agent.take_idle_lease()  # left by a finished call: no round trip
                if taken is not None:
                    ticket.lease = True
                    ticket.lease_holder, ticket.lease_since = taken
                    # No round trip for it: it took its slot already, or there is nothing
                    # else to ask — as long as the fleet's cool-down was read a moment ago.
                    fresh = now - agent.last_sent < budget.window
                    if ticket.phase == LEASE or (
                        budget.max_cost is None and not ticket.repace and fresh
                    ):
                        ticket.start_at = now
                        self._resolve(ticket, _GRANTED)
                        continue
            if ticket.phase == LEASE or slots_due:
                batch.append(ticket)
        return batch

    def _args(self, ticket: Ticket, now: float) -> CallArgs:
        budget = self.budget
        if math.isfinite(ticket.deadline):
            max_wait = max(0.0, (ticket.deadline - now) * 1e6)
        else:
            max_wait = _NO_WAIT_LIMIT_US
        if ticket.phase == LEASE:
            return (0, -1.0, LEASE, max_wait)
        kind = SLOT
        if budget.max_concurrency is not None and not self._lease_apart and not ticket.lease:
            kind = SLOT_AND_LEASE
        if ticket.repace:
            return (0, -1.0, kind, max_wait)
        return (
            ticket.tokens if budget.tpm else 0,
            ticket.cost if budget.max_cost is not None else 0.0,
            kind,
            max_wait,
        )

    def _apply(
        self, agent: Agent, reply: Reply, batch: Sequence[Ticket], calls: Sequence[CallArgs]
    ) -> None:
        budget = self.budget
        now = time.monotonic()
        for ticket, call, wait in zip(batch, calls, reply.waits, strict=False):  # granted: a prefix
            tokens, cost, kind, _ = call
            if ticket.state != _QUEUED:  # it gave up while the grant was on its way
                agent.settle(
                    reply.holder,
                    reserved=max(cost, 0.0),
                    tokens=-tokens,
                    lease=kind != SLOT,
                    lease_holder=reply.holder,
                    lease_since=reply.received,
                )
                continue
            if kind != LEASE and not ticket.repace:
                ticket.holder = reply.holder
                ticket.reserved_tokens, ticket.reserved_cost = tokens, max(cost, 0.0)
            if kind != SLOT:
                ticket.lease, ticket.lease_holder = True, reply.holder
                ticket.lease_since = reply.received
            ticket.start_at = reply.received + wait
            if kind != LEASE:
                self._next_fetch = max(self._next_fetch, ticket.start_at - budget.window)
                if self._lease_apart:
                    bisect.insort(self._upcoming, ticket.start_at)
            self._resolve(ticket, _GRANTED)
        for _spare in range(reply.granted - len(batch)):
            agent.settle(None, lease=True, lease_holder=reply.holder, lease_since=reply.received)
        status = reply.status
        if status == COOLING:
            self._held_by = "cool-down"
            self._on_cool_down(reply.cool_down)
            self._next_fetch = max(self._next_fetch, now + reply.cool_down)
            self._next_lease = max(self._next_lease, now + reply.cool_down)
            for ticket in list(self._queue):
                if ticket.deadline < now + reply.cool_down:
                    self._resolve(
                        ticket, _FAILED, self._too_late("cool-down", reply.cool_down, ticket.within)
                    )
        elif status == SPENT:
            for ticket in list(self._queue):
                if ticket.phase != LEASE and not ticket.repace:
                    self._resolve(
                        ticket, _FAILED, budget.exhausted_error(reply.spent, reply.reserved)
                    )
        elif status == NO_LEASE:
            self._held_by = "concurrency"
            self._next_lease = max(self._next_lease, now + self._lease_poll)
            if not self._lease_apart:
                self._next_fetch = max(self._next_fetch, now + self._lease_poll)
        elif status in (RATE, TOKENS):
            refused = batch[reply.granted]
            held_by = "rpm" if status == RATE else "tpm"
            self._resolve(refused, _FAILED, self._too_late(held_by, reply.wait, refused.within))

    def _unavailable(self, tickets: Sequence[Ticket], error: Unavailable | None) -> None:
        budget = self.budget
        for ticket in tickets:
            if budget.on_unavailable == "local":
                self._resolve(ticket, _LOCAL)
            else:
                cause = error.__cause__ if error is not None else None
                self._resolve(ticket, _FAILED, budget.unavailable_error(cause))

    def _resolve(self, ticket: Ticket, state: int, error: BaseException | None = None) -> None:
        if ticket.state == _QUEUED:
            self._queue.remove(ticket)
        elif ticket.state != _IDLE:
            return
        ticket.state, ticket.error = state, error
        if ticket.event is not None:
            ticket.event.set()

    def _hand_over(self) -> None:
        """The next call still waiting leads the next round trip."""
        for ticket in self._queue:
            if ticket.event is not None:
                ticket.event.set()
                return

    async def _pass_locally(self, agent: Agent, ticket: Ticket) -> None:
        agent.reserve_locally(ticket.cost)  # the headroom last seen, or fail closed
        ticket.local = True
        fallback = self._fallback
        if fallback is None:
            fallback = self._fallback = self._make_fallback()
        within = ticket.deadline - time.monotonic() if math.isfinite(ticket.deadline) else None
        ticket.local_permit = await fallback.acquire(
            ticket.tokens if self.budget.tpm else 0,
            within=None if within is None else max(0.0, within),
        )

    # -- after the call --------------------------------------------------------------------

    def release(
        self,
        ticket: Ticket,
        *,
        status: int | None,
        used_tokens: int | None,
        used_cost: float | None,
    ) -> None:
        """Settle the call: what it really used and spent (from ``usage``), its lease back."""
        if ticket.done:
            return
        ticket.done = True
        agent = self.budget.agent()
        if used_cost is not None and used_tokens:
            agent.learn_price(used_cost, used_tokens)
        if used_cost is not None:
            spent = used_cost
        elif status is not None and status >= 400:
            spent = 0.0  # refused: not charged
        elif used_tokens is not None and agent.price:
            spent = used_tokens * agent.price
        else:
            spent = ticket.cost  # unknown (a stream, a dropped connection): its estimate
        if ticket.local:
            self._release_locally(agent, ticket, spent, used_tokens)
            return
        tokens = 0
        if ticket.reserved_tokens and used_tokens is not None:
            tokens = used_tokens - ticket.reserved_tokens
        agent.settle(
            ticket.holder,
            reserved=ticket.reserved_cost,
            spent=spent if self.budget.max_cost is not None else 0.0,
            tokens=tokens,
            lease=ticket.lease,
            lease_holder=ticket.lease_holder,
            lease_since=ticket.lease_since,
        )
        if ticket.lease:
            duration = time.monotonic() - ticket.started
            mean = self._call_time
            mean = self._call_time = duration if mean is None else 0.8 * mean + 0.2 * duration
            self._lease_poll = min(0.25, max(0.01, mean / 4))
            if self._wake_leader is not None:
                self._wake_leader.set()

    def give_back(self, ticket: Ticket) -> None:
        """The call never started: return what it was granted."""
        if ticket.done:
            return
        ticket.done = True
        agent = self.budget.agent()
        if ticket.local:
            self._release_locally(agent, ticket, 0.0, None)
            return
        if ticket.lease or ticket.reserved_cost or ticket.reserved_tokens:
            agent.settle(
                ticket.holder,
                reserved=ticket.reserved_cost,
                tokens=-ticket.reserved_tokens,
                lease=ticket.lease,
                lease_holder=ticket.lease_holder,
                lease_since=ticket.lease_since,
            )
            if ticket.lease and self._wake_leader is not None:
                self._wake_leader.set()

    def _release_locally(
        self, agent: Agent, ticket: Ticket, spent: float, used_tokens: int | None
    ) -> None:
        if self._fallback is not None:
            self._fallback.release(
                ticket.local_permit,
                status=None,
                estimated_tokens=ticket.tokens if self.budget.tpm else 0,
                used_tokens=used_tokens,
            )
        agent.settle_locally(ticket.cost, spent if self.budget.max_cost is not None else 0.0)

    # -- errors ----------------------------------------------------------------------------

    def _too_late(self, held_by: str, wait: float | None, within: float | None) -> Exception:
        budget = self.budget
        limit = f" within its {within:g}s timeout" if within is not None else ""
        if held_by == "concurrency":
            why = (
                f"all {budget.max_concurrency} leases of the fleet (max_concurrency="
                f"{budget.max_concurrency}) stayed taken"
            )
        elif held_by == "cool-down":
            left = f" has {wait:.2f}s left" if wait is not None else " went on"
            why = f"the fleet's cool-down (after a 429 seen by one of its workers){left}"
        else:
            rate = budget.rpm if held_by == "rpm" else budget.tpm
            unit = "requests" if held_by == "rpm" else "tokens"
            after = f" in {wait:.2f}s" if wait is not None else " later"
            why = f"the fleet's {held_by} limit ({rate:g} {unit}/min) lets it go{after}"
        return RateLimitTimeoutError(
            f"the call cannot start{limit}: it waits at the rate limit of the shared budget "
            f"{budget.name!r}, and {why}",
            waited_on=held_by,
        )
