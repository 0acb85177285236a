"""A rate and cost budget shared by every process of a fleet, on a Redis server.

``Session(budget=RedisBudget(url, name="nightly", rpm=..., tpm=..., max_cost=...,
max_concurrency=...))`` (and ``OpenRouter(budget=...)``): every Session of every process that
names the same budget on the same Redis shares its limits. The Session's gate
(``_limiter.Limiter``, through ``_budget_gate.BudgetGate``) passes the budget before its own
buckets.

* **Rates** (``rpm``, ``tpm``) are GCRA — continuously refilled buckets kept as one
  "theoretical arrival time" each — checked and reserved by one Lua script on the server's
  clock (``TIME``). Every call gets its own time slot in the fleet's schedule, so N workers
  together send at the budget's rate, not N times it.
* **Tokens and cost are reserved before the call** (tokens estimated from the prompt and
  ``max_tokens``; cost from ``cost_per_token`` when given, else from the highest price per
  token this process has seen in ``usage.cost``) and **settled after it** from ``usage`` /
  ``usage.cost``. ``max_cost`` fails closed: no call starts once the fleet's spent + reserved
  cost reaches it (:class:`BudgetExhaustedError`), so the fleet overshoots by at most what the
  calls already in flight spend beyond their estimate.
* **Fleet-wide concurrency** (``max_concurrency``) is leases held per process (a *holder*)
  whose expiry (``lease_ttl``) is renewed while the process holds any: a SIGKILLed worker's
  leases come back by themselves within ``lease_ttl``, and what it had reserved is counted as
  spent (it may have been charged).
* **A 429 seen by any worker cools every worker down**: its ``Retry-After`` (refined by
  ``X-RateLimit-Reset``, as the local limiter does) becomes a key with an expiry that every
  permit call reads.
* **Few round trips**: a Session takes the slots of the calls waiting at its gate in one
  call (at most ``window`` seconds of the fleet's rate at a time); a finished call's lease
  waits in the process for the next call (up to ``lease_linger``, 1 s; at once back to Redis
  when the fleet has none free); one thread per process settles finished calls and renews the
  holder in batches (every ``5 * window``, and with every permit call; at once for a
  cool-down, or when the budget is nearly spent).
* **asyncio and trio**: redis-py's asyncio client does not run on trio, so the sync client
  runs in worker threads (``anyio.to_thread``, one at a time per Session); batching keeps the
  thread hops few. See the measurements in ``_budget_gate``.
* **When Redis is unreachable** (``on_unavailable``): ``"fail"`` (the default) raises
  :class:`BudgetUnavailableError` before anything is sent; ``"local"`` falls back to a local
  limiter with the budget's figures, per Session (so N processes may then send N times the
  rate), logs one warning per outage, and lets the process spend at most the headroom it last
  saw (none if it never reached Redis). Redis is tried again every ``retry_interval``.

A budget is identified by its ``name`` on its Redis: its spend is cumulative until
:meth:`RedisBudget.reset`. Its keys are hash-tagged ``{name}`` (one Redis Cluster slot). Every
process should give the same limits; each script call carries the caller's.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import re
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit

import attrs

from ._budget_scripts import EXCHANGE, STATE, keys
from ._redaction import remember_secret
from .errors import OpenRouterError

if TYPE_CHECKING:
    import redis
    import redis.cluster

__all__ = [
    "BudgetExhaustedError",
    "BudgetState",
    "BudgetUnavailableError",
    "OnUnavailable",
    "RedisBudget",
]

logger = logging.getLogger("openrouter_async.budget")

#: What a budget does when Redis cannot be reached (see the module docstring).
OnUnavailable = Literal["fail", "local"]

# The script's statuses (see _budget_scripts.EXCHANGE).
GRANTED, COOLING, SPENT, NO_LEASE, RATE, TOKENS, REAPED = range(7)

_NO_WAIT_LIMIT_US = 1e15  # "any wait": a call without a timeout
_USERINFO = re.compile(r"^([a-z]+://)[^/@]*@", re.IGNORECASE)


class BudgetExhaustedError(OpenRouterError):
    """The budget's ``max_cost`` is reached by what the fleet spent and reserved: no call
    starts (fail closed). Raised at the gate, before anything is sent; never retried."""

    def __init__(
        self, message: str, *, budget: str, spent: float, reserved: float, max_cost: float
    ) -> None:
        super().__init__(message)
        self.budget = budget  #: the budget's name
        self.spent = spent  #: dollars spent by the fleet (as last seen)
        self.reserved = reserved  #: dollars reserved by calls in flight
        self.max_cost = max_cost


class BudgetUnavailableError(OpenRouterError):
    """The budget's Redis cannot be reached and the budget fails closed
    (``on_unavailable="fail"``, or a ``max_cost`` this process never saw the fleet's spend
    of). Raised at the gate, before anything is sent; never retried."""

    def __init__(self, message: str, *, budget: str) -> None:
        super().__init__(message)
        self.budget = budget


@attrs.frozen
class BudgetState:
    """What the fleet holds now (:meth:`RedisBudget.state`)."""

    name: str
    spent: float  #: dollars spent, settled from ``usage.cost`` (and dead workers' reservations)
    reserved: float  #: dollars reserved by calls not settled yet
    max_cost: float | None
    in_flight: int  #: concurrency leases held by the fleet
    max_concurrency: int | None
    holders: int  #: processes registered with the budget (live, or not reaped yet)
    cool_down_remaining: float  #: seconds every worker still waits (after a 429)
    requests_ahead: float  #: requests already scheduled beyond now (rpm)
    tokens_ahead: float  #: tokens reserved beyond what has refilled (tpm)

    @property
    def remaining(self) -> float | None:
        """Dollars the fleet may still start calls for (None: no ``max_cost``)."""
        if self.max_cost is None:
            return None
        return max(0.0, self.max_cost - self.spent - self.reserved)


@attrs.define
class Settlement:
    """What a holder owes Redis, summed until it is sent."""

    leases: int = 0  #: leases to give back
    reserved: float = 0.0  #: reserved cost to release
    spent: float = 0.0  #: cost really spent
    tokens: int = 0  #: tokens used minus tokens reserved
    cool_down_us: int = 0  #: a cool-down for the fleet (the longest asked)

    def empty(self) -> bool:
        return not (self.leases or self.reserved or self.spent or self.tokens or self.cool_down_us)

    def merge(self, other: Settlement) -> None:
        self.leases += other.leases
        self.reserved += other.reserved
        self.spent += other.spent
        self.tokens += other.tokens
        self.cool_down_us = max(self.cool_down_us, other.cool_down_us)


@attrs.frozen
class Reply:
    """One answer of the exchange script, read at ``received`` (``time.monotonic``)."""

    status: int
    granted: int
    wait: float  #: seconds: the first refused call's wait (rpm/tpm) or the cool-down's
    cool_down: float
    spent: float
    reserved: float
    in_flight: int
    waits: tuple[float, ...]  #: seconds until each granted call's slot
    received: float
    holder: str  #: the holder the calls were granted to

    @classmethod
    def parse(cls, raw: Sequence[Any], received: float, holder: str) -> Reply:
        return cls(
            status=int(raw[0]),
            granted=int(raw[1]),
            wait=int(raw[2]) / 1e6,
            cool_down=int(raw[3]) / 1e6,
            spent=float(raw[4]),
            reserved=float(raw[5]),
            in_flight=int(raw[6]),
            waits=tuple(int(w) / 1e6 for w in raw[7:]),
            received=received,
            holder=holder,
        )


#: What a call asks the script for (see _budget_scripts.EXCHANGE).
SLOT, SLOT_AND_LEASE, LEASE = 0, 1, 2

#: One call of a batch, as the script takes it: tokens, cost (-1: reserved already), its kind
#: (SLOT, SLOT_AND_LEASE, LEASE), the longest wait it accepts (µs).
CallArgs = tuple[int, float, int, float]


class Unavailable(Exception):
    """Redis did not answer (wraps the client's error)."""


class RedisBudget:
    """A rate, concurrency and cost budget shared on Redis by every Session that names it,
    in any number of processes (see the module docstring)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        name: str,
        rpm: float | None = None,
        tpm: float | None = None,
        max_cost: float | None = None,
        max_concurrency: int | None = None,
        cost_per_token: float | None = None,
        rpm_burst: float = 1.0,
        on_unavailable: OnUnavailable = "fail",
        lease_ttl: float = 10.0,
        window: float = 0.1,
        timeout: float = 1.0,
        retry_interval: float = 1.0,
        client: redis.Redis | redis.cluster.RedisCluster | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or len(name) > 200:
            raise ValueError(f"name must be a non-empty str of at most 200 characters: {name!r}")
        if "{" in name or "}" in name or not name.isprintable():
            raise ValueError(f"name must not hold braces or control characters: {name!r}")
        self.name = name
        self.rpm = _positive("rpm", rpm)
        self.tpm = _positive("tpm", tpm)
        self.max_cost = _positive("max_cost", max_cost, zero=True)
        self.cost_per_token = _positive("cost_per_token", cost_per_token, zero=True)
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int)
        ):
            raise TypeError(f"max_concurrency must be an int, got {max_concurrency!r}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency!r}")
        self.max_concurrency = max_concurrency
        burst = _positive("rpm_burst", rpm_burst)
        if burst is None or burst < 1:
            raise ValueError(f"rpm_burst must be at least 1, got {rpm_burst!r}")
        self.rpm_burst = burst
        if on_unavailable not in ("fail", "local"):
            raise ValueError(f"on_unavailable must be 'fail' or 'local', got {on_unavailable!r}")
        self.on_unavailable: OnUnavailable = on_unavailable
        for label, value in (
            ("lease_ttl", lease_ttl),
            ("window", window),
            ("timeout", timeout),
            ("retry_interval", retry_interval),
        ):
            if _positive(label, value) is None:
                raise ValueError(f"{label} must be a positive number of seconds")
        self.lease_ttl = float(lease_ttl)
        self.window = float(window)
        self.timeout = float(timeout)
        self.retry_interval = float(retry_interval)
        #: How often a Session asks again for a lease when the fleet holds them all, until it
        #: has seen its calls' durations (seconds).
        self.lease_poll = min(0.02, self.lease_ttl / 10)
        #: How long a finished call's lease waits in the process for the next call while the
        #: fleet has leases free (seconds).
        self.lease_linger = min(1.0, self.lease_ttl / 2)
        #: How often what finished calls owe is sent when no permit call carried it (seconds).
        self.settle_every = 5 * self.window
        #: Calls granted per round trip at most: ``window`` seconds of the fleet's rate.
        self.batch_size = max(1, math.ceil(self.rpm / 60.0 * self.window)) if self.rpm else 64
        self._args = dict(
            name=name,
            rpm=rpm,
            tpm=tpm,
            max_cost=max_cost,
            max_concurrency=max_concurrency,
            cost_per_token=cost_per_token,
            rpm_burst=rpm_burst,
            on_unavailable=on_unavailable,
            lease_ttl=lease_ttl,
            window=window,
            timeout=timeout,
            retry_interval=retry_interval,
        )
        self._url = url
        if client is not None:
            if url is not None:
                raise ValueError("give url or client, not both")
            self._client = client
            self._owns_client = False
            self._where = f"the {type(client).__name__} given as client="  # no URL to show
        else:
            if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, got {url!r}")
            password = urlsplit(url).password
            if password:
                remember_secret(password)  # masked in every error text from now on
            self._client = _connect(url, self.timeout)
            self._owns_client = True
            self._where = _USERINFO.sub(r"\1***@", url)
        self._keys = keys(name)
        self._exchange = self._client.register_script(EXCHANGE)
        self._state = self._client.register_script(STATE)
        # The script's fixed arguments, in µs.
        self._rate_t = 60e6 / self.rpm if self.rpm else 0.0
        self._rate_tau = (self.rpm_burst - 1.0) * self._rate_t
        self._token_t = 60e6 / self.tpm if self.tpm else 0.0
        self._token_tau = 1e6 if self.tpm else 0.0  # a bucket of one second of tokens
        self._agent_lock = threading.Lock()
        self._agent_obj: Agent | None = None
        self._round_trips = 0

    def __repr__(self) -> str:
        limits = ", ".join(
            f"{label}={value!r}"
            for label, value in (
                ("rpm", self.rpm),
                ("tpm", self.tpm),
                ("max_cost", self.max_cost),
                ("max_concurrency", self.max_concurrency),
            )
            if value is not None
        )
        return f"RedisBudget({self._where!r}, name={self.name!r}{', ' if limits else ''}{limits})"

    def __reduce__(self) -> tuple[Any, ...]:
        # A worker process builds its own client and holder from the same settings.
        if not self._owns_client:
            raise TypeError("a RedisBudget built on client= cannot be pickled: pass url=")
        return (_rebuild, (self._url, self._args))

    # -- the fleet, read and reset ---------------------------------------------------------

    def state(self) -> BudgetState:
        """What the fleet holds now (one round trip; blocking: from async code, call it in a
        worker thread). Raises :class:`BudgetUnavailableError` when Redis is unreachable."""
        try:
            raw = self._state(keys=self._keys, args=[])
        except _unavailable_errors() as error:
            raise self.unavailable_error(error) from error
        rate_t, token_t = self._rate_t, self._token_t
        return BudgetState(
            name=self.name,
            spent=float(raw[0]),
            reserved=max(0.0, float(raw[1])),
            max_cost=self.max_cost,
            in_flight=int(raw[2]),
            max_concurrency=self.max_concurrency,
            holders=int(raw[3]),
            cool_down_remaining=int(raw[4]) / 1e6,
            requests_ahead=int(raw[5]) / rate_t if rate_t else 0.0,
            tokens_ahead=int(raw[6]) / token_t if token_t else 0.0,
        )

    def reset(self) -> None:
        """Forget the budget's state on Redis: spend, leases, schedule, cool-down (for a new
        job under the same name; never while its workers run)."""
        try:
            self._client.delete(*self._keys)
        except _unavailable_errors() as error:
            raise self.unavailable_error(error) from error

    @property
    def round_trips(self) -> int:
        """Script calls this process made to Redis for the budget (permits, settlements,
        renewals): divide by the requests sent for the round trips per request."""
        return self._round_trips

    def flush(self) -> None:
        """Send what this process's finished calls owe now, idle leases included (blocking;
        what a worker does before it reports). Raises :class:`BudgetUnavailableError` when
        Redis is unreachable."""
        agent = self._agent_obj
        if agent is None or agent.pid != os.getpid():
            return
        with agent.lock:
            agent.pending.leases += len(agent.idle)
            agent.idle.clear()
        try:
            if agent.old:
                agent.send_old()
            agent.call()
        except Unavailable as error:
            raise self.unavailable_error(error.__cause__) from error

    def close(self) -> None:
        """Give back what this process holds (idle leases, settlements), stop its thread and
        close its connections (blocking). Optional: a process that exits without it has its
        leases back within ``lease_ttl``; at exit it is done for every budget."""
        with self._agent_lock:
            agent, self._agent_obj = self._agent_obj, None
        if agent is not None:
            agent.close()
        if self._owns_client:  # (then a redis.Redis of _connect's)
            owned = cast("redis.Redis", self._client)
            owned.connection_pool.disconnect()  # (a later call connects again)

    # -- for the gate ----------------------------------------------------------------------

    def agent(self) -> Agent:
        """This process's side of the budget (a new one after a fork: a child is a holder
        of its own)."""
        agent = self._agent_obj
        if agent is not None and agent.pid == os.getpid():
            return agent
        with self._agent_lock:
            agent = self._agent_obj
            if agent is None or agent.pid != os.getpid():
                agent = self._agent_obj = Agent(self)
            return agent

    def script_args(
        self, holder: str, expect: bool, settle: Settlement, calls: Sequence[CallArgs]
    ) -> list[Any]:
        args: list[Any] = [
            holder,
            1 if expect else 0,
            int(self.lease_ttl * 1e6),
            repr(self._rate_t),
            repr(self._rate_tau),
            repr(self._token_t),
            repr(self._token_tau),
            repr(self.max_cost) if self.max_cost is not None else -1,
            self.max_concurrency or 0,
            settle.cool_down_us,
            settle.leases,
            repr(settle.reserved),
            repr(settle.spent),
            settle.tokens,
            len(calls),
        ]
        for tokens, cost, lease, max_wait in calls:
            args += [tokens, repr(cost), lease, repr(max_wait)]
        return args

    def unavailable_error(self, error: BaseException | None) -> BudgetUnavailableError:
        cause = f" ({type(error).__name__}: {error})" if error is not None else ""
        return BudgetUnavailableError(
            f"budget {self.name!r}: its Redis at {self._where} is unreachable{cause}, and the "
            f"budget fails closed (on_unavailable={self.on_unavailable!r}): no call starts",
            budget=self.name,
        )

    def exhausted_error(self, spent: float, reserved: float) -> BudgetExhaustedError:
        assert self.max_cost is not None
        return BudgetExhaustedError(
            f"budget {self.name!r} is spent: the fleet has spent ${spent:.6f} and reserved "
            f"${reserved:.6f} of max_cost=${self.max_cost:g}; no call starts (fail closed)",
            budget=self.name,
            spent=spent,
            reserved=reserved,
            max_cost=self.max_cost,
        )


class Agent:
    """This process's side of one budget: its holder id, what it holds and owes on Redis,
    the fleet as it last saw it, and the thread that settles, returns idle leases and renews.

    Everything here is guarded by ``lock`` (Sessions on several event loops and threads may
    share one budget); nothing blocks while holding it."""

    def __init__(self, budget: RedisBudget) -> None:
        self.budget = budget
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.holder = _new_holder()
        #: what Redis counts for the holder: granted, and not sent back yet
        self.held_leases = 0
        self.held_cost = 0.0
        self.pending = Settlement()
        #: settlements of holders reaped since (sent in correction mode)
        self.old: dict[str, Settlement] = {}
        #: leases of finished calls, kept for the next call for ``lease_linger``: when each
        #: became idle, and when it was taken from Redis (time.monotonic)
        self.idle: deque[tuple[float, float]] = deque()
        #: the fleet as last seen
        self.cool_until = 0.0
        self.spent = 0.0
        self.reserved = 0.0
        self.in_flight = 0
        self.headroom: float | None = None
        self.fleet_full = False
        #: price per token (dollars): cost_per_token, else the highest seen in usage.cost
        self.price = budget.cost_per_token or 0.0
        self.largest_call = 0.0
        #: Redis unreachable: until when it is not tried again, since when
        self.down_until = 0.0
        self.down_since: float | None = None
        #: what calls spent and reserved through the local fallback during an outage
        self.local_spent = 0.0
        self.local_reserved = 0.0
        self.last_sent = 0.0
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()
        self.urgent = False
        self.closing = False
        _AGENTS.add(self)

    # -- the one round trip ----------------------------------------------------------------

    def call(self, calls: Sequence[CallArgs] = ()) -> Reply:
        """Send what is owed and ask for ``calls`` (blocking: a worker thread's job)."""
        budget = self.budget
        with self.lock:
            holder = self.holder
            settle, self.pending = self.pending, Settlement()
            expect = self.held_leases > 0 or self.held_cost > 0
        args = budget.script_args(holder, expect, settle, calls)
        try:
            raw = budget._exchange(keys=budget._keys, args=args)
        except _unavailable_errors() as error:
            with self.lock:
                self.pending.merge(settle)  # owed still
            raise Unavailable(error) from error
        reply = Reply.parse(raw, time.monotonic(), holder)
        with self.lock:
            budget._round_trips += 1
            self.last_sent = reply.received
            if reply.status == REAPED:
                if self.holder == holder:
                    self._rotate()
            else:
                leases = sum(1 for call in calls[: reply.granted] if call[2] != SLOT)
                cost = sum(call[1] for call in calls[: reply.granted] if call[1] > 0)
                self.held_leases = max(0, self.held_leases + leases - settle.leases)
                self.held_cost = max(0.0, self.held_cost + cost - settle.reserved)
                if self.held_leases or self.held_cost:
                    self._start_thread()  # to renew the holder while its calls run
            self._observe(reply)
        return reply

    def send_old(self) -> None:
        """Settle what calls of reaped holders owe (their reservation became spend)."""
        with self.lock:
            old, self.old = self.old, {}
        budget = self.budget
        for index, (holder, settle) in enumerate(old.items()):
            try:
                args = budget.script_args(holder, True, settle, ())
                budget._exchange(keys=budget._keys, args=args)
            except _unavailable_errors() as error:
                with self.lock:
                    for rest, owed in list(old.items())[index:]:
                        self.old.setdefault(rest, Settlement()).merge(owed)
                raise Unavailable(error) from error
            with self.lock:
                budget._round_trips += 1

    def _rotate(self) -> None:
        """The holder was reaped (it missed its renewals: a stalled process, an outage longer
        than ``lease_ttl``): Redis freed its leases and counted its reservation as spent.
        Go on under a new id; what its calls still owe is sent apart."""
        old = self.old.setdefault(self.holder, Settlement())
        old.merge(self.pending)
        old.leases = 0  # given back by the reaping already
        self.pending = Settlement()
        self.holder = _new_holder()
        self.held_leases = 0
        self.held_cost = 0.0
        self.idle.clear()

    def _observe(self, reply: Reply) -> None:
        if reply.cool_down > 0:
            self.cool_until = max(self.cool_until, reply.received + reply.cool_down)
        self.spent, self.reserved, self.in_flight = reply.spent, reply.reserved, reply.in_flight
        max_concurrency = self.budget.max_concurrency
        self.fleet_full = max_concurrency is not None and reply.in_flight >= max_concurrency
        if self.fleet_full and self.idle:
            self.urgent = True  # idle leases here while the fleet has none: give them back
            self.wake.set()
        if self.budget.max_cost is not None:
            self.headroom = self.budget.max_cost - reply.spent - reply.reserved
        if self.down_since is not None:
            down_for = reply.received - self.down_since
            self.down_since = None
            self.down_until = 0.0
            self.local_spent = self.local_reserved = 0.0  # settled with this call
            logger.info(
                "budget %r: its Redis at %s answers again after %.1fs; calls pass the shared "
                "budget again",
                self.budget.name,
                self.budget._where,
                down_for,
            )

    # -- what calls tell -------------------------------------------------------------------

    def settle(
        self,
        holder: str | None,
        *,
        reserved: float = 0.0,
        spent: float = 0.0,
        tokens: int = 0,
        lease: bool = False,
        lease_holder: str | None = None,
        lease_since: float = 0.0,
    ) -> None:
        """A call ended (or gave its grant back): what it reserved, spent and used."""
        budget = self.budget
        now = time.monotonic()
        urgent = False
        with self.lock:
            if lease and lease_holder == self.holder:
                if self.fleet_full and now - lease_since >= budget.window:
                    # Others may be waiting: a lease goes back through Redis at least once a
                    # window, so that a busy process does not keep the fleet's leases to itself.
                    self.pending.leases += 1
                    urgent = True
                else:
                    self.idle.append((now, lease_since))
                    urgent = self.fleet_full  # idle while others may wait: back at once
            if reserved or spent or tokens:
                owed = (
                    self.pending
                    if holder is None or holder == self.holder
                    else self.old.setdefault(holder, Settlement())
                )
                owed.reserved += reserved
                owed.spent += spent
                owed.tokens += tokens
            if spent > self.largest_call:
                self.largest_call = spent
            if budget.max_cost is not None and self.headroom is not None:
                # Near the cap every settlement counts: send it now, not in settle_every.
                margin = max(0.05 * budget.max_cost, 10 * self.largest_call)
                urgent = urgent or self.headroom < margin
            self._start_thread()
        if urgent:
            self.kick()

    def learn_price(self, cost: float, tokens: int) -> None:
        if self.budget.cost_per_token is None and tokens > 0 and cost > 0:
            price = cost / tokens
            if price > self.price:
                self.price = price

    def cool_down(self, seconds: float) -> None:
        """A 429 (or a spent quota) seen here: every worker of the fleet waits ``seconds``."""
        if seconds <= 0:
            return
        with self.lock:
            self.cool_until = max(self.cool_until, time.monotonic() + seconds)
            self.pending.cool_down_us = max(self.pending.cool_down_us, int(seconds * 1e6))
            self._start_thread()
        self.kick()

    def take_idle_lease(self) -> tuple[str, float] | None:
        """A lease a finished call left here (the holder it belongs to, when it was taken
        from Redis), or None."""
        with self.lock:
            if self.idle:
                return self.holder, self.idle.pop()[1]
        return None

    # -- Redis unreachable -----------------------------------------------------------------

    def is_down(self) -> bool:
        return self.down_until > time.monotonic()

    def mark_down(self, error: BaseException) -> None:
        now = time.monotonic()
        with self.lock:
            first = self.down_since is None
            if first:
                self.down_since = now
            self.down_until = now + self.budget.retry_interval
        if first:  # one warning per outage
            budget = self.budget
            then = (
                "calls fall back to a local limiter with the budget's limits, per Session"
                if budget.on_unavailable == "local"
                else "calls fail (on_unavailable='fail')"
            )
            logger.warning(
                "budget %r: its Redis at %s is unreachable (%s: %s): %s until it answers again",
                budget.name,
                budget._where,
                type(error.__cause__ or error).__name__,
                error.__cause__ or error,
                then,
            )

    def reserve_locally(self, cost: float) -> None:
        """An outage with ``on_unavailable="local"``: the process alone may spend the
        headroom it last saw (none if it never saw the fleet's spend)."""
        budget = self.budget
        if budget.max_cost is None:
            return
        with self.lock:
            if self.headroom is None:
                raise budget.unavailable_error(None)
            if self.local_spent + self.local_reserved >= self.headroom:
                raise budget.exhausted_error(
                    self.spent + self.local_spent, self.reserved + self.local_reserved
                )
            self.local_reserved += cost

    def settle_locally(self, reserved: float, spent: float) -> None:
        with self.lock:
            self.local_reserved = max(0.0, self.local_reserved - reserved)
            self.local_spent += spent
            self.pending.spent += spent  # reaches Redis with the next call that succeeds
            self._start_thread()

    # -- the thread ------------------------------------------------------------------------

    def kick(self) -> None:
        self.urgent = True
        self.wake.set()

    def _start_thread(self) -> None:  # under the lock
        if self.thread is None and not self.closing:
            self.thread = threading.Thread(
                target=self._run, name=f"openrouter-budget-{self.budget.name}", daemon=True
            )
            self.thread.start()

    def _run(self) -> None:
        """Settle, return idle leases and renew the holder, in batches, until there is
        nothing left to do for a while."""
        budget = self.budget
        idle_since: float | None = None
        while True:
            self.wake.wait(budget.window / 2)
            self.wake.clear()
            now = time.monotonic()
            with self.lock:
                urgent, self.urgent = self.urgent, False
                if self.closing:
                    self.thread = None
                    return
                linger = 0.0 if self.fleet_full else budget.lease_linger
                while self.idle and now - self.idle[0][0] >= linger:
                    self.idle.popleft()
                    self.pending.leases += 1
                owed = not self.pending.empty() or bool(self.old)
                # What is owed waits for a window since the last round trip (the gates'
                # permit calls carry it too), unless urgent.
                due = owed and (urgent or now - self.last_sent >= budget.settle_every)
                holding = self.held_leases > 0 or self.held_cost > 0
                renew = holding and now - self.last_sent >= budget.lease_ttl / 3
                if owed or holding or self.idle:
                    idle_since = None
                elif idle_since is None:
                    idle_since = now
                elif now - idle_since > 2.0:
                    self.thread = None
                    return
            if not (due or renew) or self.is_down():
                continue
            try:
                if self.old:
                    self.send_old()
                self.call()
            except Unavailable as error:
                self.mark_down(error)
            except Exception:  # a bug must not kill the thread silently
                logger.exception("budget %r: settling failed", budget.name)

    def close(self) -> None:
        """Stop the thread, give back idle leases, send what is owed (best effort)."""
        with self.lock:
            self.closing = True
            thread = self.thread
            self.pending.leases += len(self.idle)
            self.idle.clear()
        self.wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.budget.timeout * 2)
        with self.lock:
            owed = not self.pending.empty() or bool(self.old)
        if owed:
            try:
                if self.old:
                    self.send_old()
                self.call()
            except Unavailable:
                pass  # the leases expire by themselves; reservations become spend


_AGENTS: weakref.WeakSet[Agent] = weakref.WeakSet()


@atexit.register
def _close_agents() -> None:
    # A process that exits normally gives its leases back at once, not after lease_ttl.
    for agent in list(_AGENTS):
        if agent.pid == os.getpid():
            try:
                agent.close()
            except Exception:
                pass  # exiting: nothing to report to


def _rebuild(url: str | None, args: dict[str, Any]) -> RedisBudget:
    return RedisBudget(url, **args)


def _new_holder() -> str:
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


def _positive(label: str, value: Any, *, zero: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{label} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise ValueError(f"{label} must be {'at least 0' if zero else 'positive'}, got {value!r}")
    return float(value)


def _connect(url: str, timeout: float) -> redis.Redis:
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError as error:  # an optional dependency
        raise ImportError(
            "RedisBudget needs the redis package: pip install 'openrouter-async[redis]'"
        ) from error
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # One retry, on a connection error only (a stale pooled connection): a script is
        # not idempotent, so a timeout — which may hide a success — is never retried.
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.ConnectionError, redis.TimeoutError, OSError)
