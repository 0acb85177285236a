"""Fault injection: the ``X-Emulator-Fault`` request header and ``EmulatorConfig.faults``
(the grammar is documented in the package docstring, :mod:`openrouter_async.emulator`).

A fault string parses into a :class:`FaultPlan`: a sequence of items, each with a
probability. :meth:`FaultPlan.draw` turns a plan into the :class:`Faults` of one request,
drawing one number from the emulator's random generator per item whose probability is below
1 (so the same seed and the same sequence of requests give the same sequence of faults).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "FAULT_HEADER",
    "FaultItem",
    "FaultPlan",
    "FaultSyntaxError",
    "Faults",
    "parse_fault_plan",
    "parse_faults",
]

FAULT_HEADER = "x-emulator-fault"

MAX_TOKENS_FAULT = 100_000
MAX_DELAY_MS = 120_000
MAX_STALL_S = 300.0


class FaultSyntaxError(ValueError):
    """The header does not follow the grammar (the emulator answers 400)."""


@dataclass(frozen=True)
class Faults:
    """The faults of one request. All fields default to "no fault"."""

    #: Answer with this HTTP status and OpenRouter's error body.
    status: int | None = None
    #: ``Retry-After`` header value for ``status``.
    retry_after: str | None = None
    #: Error message overriding the default of ``status``, ``error-200`` or
    #: ``mid-stream-error``.
    message: str | None = None
    #: Send headers, then only keep-alive comments for this many seconds (never data).
    stall: float | None = None
    #: Wait before sending the response headers.
    delay_ms: int = 0
    #: Wait between two chunks of a stream.
    token_delay_ms: int = 0
    #: Send an error chunk after this many content chunks, then end the stream.
    mid_stream_error: int | None = None
    #: Code of the mid-stream error (or of the ``error-200`` body).
    error_code: int = 502
    #: Close the connection after this many content chunks (mid-body when not streaming).
    drop: int | None = None
    #: With ``drop``: cut in the middle of the next event rather than between two events.
    drop_mid_event: bool = False
    #: Close the connection before sending anything (no status line, no headers).
    drop_before_headers: bool = False
    #: Status 200 with an ``{"error": {...}}`` body.
    error_200: bool = False
    #: Number of content chunks (tokens) of the answer.
    tokens: int | None = None
    #: Wait after the headers (and the first keep-alive comment) before the first chunk.
    ttft_ms: int = 0
    #: Streams: after this many content chunks, one event whose data is not valid JSON (the
    #: stream then goes on). Non-streamed answers: a truncated JSON body.
    malformed_json: int | None = None

    @property
    def any(self) -> bool:
        return self != _NO_FAULTS

    def kinds(self) -> list[str]:
        """What this request gets, for the statistics: ``status=503``, ``mid-stream-error``,
        ``drop``... (the fields that differ from "no fault"; a status names its code)."""
        found = []
        for field in fields(self):
            value = getattr(self, field.name)
            if value == field.default or field.name in _DETAILS:
                continue
            name = field.name.replace("_", "-")
            found.append(f"status={value}" if field.name == "status" else name)
        return found


_NO_FAULTS = Faults()
# Fields that qualify another fault rather than being one.
_DETAILS = frozenset({"retry_after", "message", "error_code", "drop_mid_event"})
_FIELD_NAMES = frozenset(field.name for field in fields(Faults))


@dataclass(frozen=True)
class FaultItem:
    """One comma-separated item of a fault string: the fields it sets (``None``: the
    ``none`` item, which clears what the items before it set) and its probability."""

    updates: tuple[tuple[str, Any], ...] | None
    probability: float = 1.0


@dataclass(frozen=True)
class FaultPlan:
    """A parsed fault string: items applied in order, later ones overriding earlier ones."""

    items: tuple[FaultItem, ...] = ()

    def __add__(self, other: FaultPlan) -> FaultPlan:
        return FaultPlan(self.items + other.items)

    @property
    def has_probabilities(self) -> bool:
        """Whether some item has a probability below 1."""
        return any(item.probability < 1 for item in self.items)

    def draw(self, rng: random.Random | None = None) -> Faults:
        """The faults of one request: each item with a probability below 1 takes one number
        from ``rng`` and applies when it is below the probability."""
        if not self.items:
            return _NO_FAULTS
        values: dict[str, Any] = {}
        for item in self.items:
            if item.probability < 1:
                if rng is None:
                    rng = random.Random()
                if rng.random() >= item.probability:
                    continue
            if item.updates is None:
                values.clear()
            else:
                values.update(item.updates)
        return Faults(**values) if values else _NO_FAULTS


def _int(name: str, value: str | None, low: int, high: int) -> int:
    if value is None:
        raise FaultSyntaxError(f"{name} needs a value")
    try:
        number = int(value)
    except ValueError:
        raise FaultSyntaxError(f"{name}={value!r} is not an integer") from None
    if not low <= number <= high:
        raise FaultSyntaxError(f"{name}={number} is out of range [{low}, {high}]")
    return number


def _float(name: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise FaultSyntaxError(f"{name}={value!r} is not a number") from None
    if not low <= number <= high:
        raise FaultSyntaxError(f"{name}={number} is out of range [{low}, {high}]")
    return number


def _no_value(name: str, value: str | None) -> None:
    if value is not None:
        raise FaultSyntaxError(f"{name} takes no value")


def _item(name: str, value: str | None, params: dict[str, str]) -> dict[str, Any] | None:
    """The fields one fault sets (``None`` for ``none``); checks its parameters."""
    found: dict[str, Any] = {}
    allowed: set[str] = set()
    if name == "none":
        _no_value(name, value)
        if set(params) - {"p"}:
            raise FaultSyntaxError("none takes no parameters but p")
        return None
    if name == "status":
        found["status"] = _int(name, value, 400, 599)
        allowed = {"retry-after", "message"}
        if "retry-after" in params:
            found["retry_after"] = params["retry-after"]
    elif name == "stall":
        found["stall"] = 30.0 if value is None else _float(name, value, 0, MAX_STALL_S)
    elif name == "delay-ms":
        found["delay_ms"] = _int(name, value, 0, MAX_DELAY_MS)
    elif name == "token-delay-ms":
        found["token_delay_ms"] = _int(name, value, 0, MAX_DELAY_MS)
    elif name in ("ttft-ms", "time-to-first-token-ms"):
        found["ttft_ms"] = _int(name, value, 0, MAX_DELAY_MS)
    elif name == "mid-stream-error":
        found["mid_stream_error"] = 2 if value is None else _int(name, value, 0, 10**9)
        allowed = {"code", "message"}
    elif name in ("drop", "drop-mid-event"):
        found["drop"] = 2 if value is None else _int(name, value, 0, 10**9)
        found["drop_mid_event"] = name == "drop-mid-event"
    elif name == "drop-before-headers":
        _no_value(name, value)
        found["drop_before_headers"] = True
    elif name == "malformed-json":
        found["malformed_json"] = 2 if value is None else _int(name, value, 0, 10**9)
    elif name == "error-200":
        found["error_200"] = True
        if value is not None:
            found["error_code"] = _int(name, value, 100, 999)
        allowed = {"message"}
    elif name == "tokens":
        found["tokens"] = _int(name, value, 1, MAX_TOKENS_FAULT)
    else:
        raise FaultSyntaxError(f"unknown fault {name!r}")
    unknown = set(params) - allowed - {"p"}
    if unknown:
        raise FaultSyntaxError(f"unknown parameter(s) of {name}: {', '.join(sorted(unknown))}")
    if "message" in params:
        found["message"] = params["message"]
    if "code" in params:
        found["error_code"] = _int("code", params["code"], 100, 999)
    assert set(found) <= _FIELD_NAMES
    return found


def _probability(text: str) -> float:
    text = text.strip()
    percent = text.endswith("%")
    number = _float("p", text[:-1] if percent else text, 0, 100 if percent else 1)
    return number / 100 if percent else number


def parse_fault_plan(text: str | None) -> FaultPlan:
    """Parse a fault string (the header's grammar); raise :class:`FaultSyntaxError` on
    anything unknown (a typo in a test's fault must fail loudly, not be silently ignored)."""
    if text is None or not text.strip():
        return FaultPlan()
    items: list[FaultItem] = []
    for raw_item in text.split(","):
        raw_item = raw_item.strip()
        if not raw_item:
            continue
        head, *param_items = (part.strip() for part in raw_item.split(";"))
        name, eq, raw = head.partition("=")
        name = name.strip().lower()
        value: str | None = raw.strip() if eq else None
        params: dict[str, str] = {}
        for param in param_items:
            key, peq, param_value = param.partition("=")
            if not peq:
                raise FaultSyntaxError(f"parameter {param!r} of {name} needs a value")
            params[key.strip().lower()] = param_value.strip()
        probability = _probability(params["p"]) if "p" in params else 1.0
        found = _item(name, value, params)
        updates = None if found is None else tuple(found.items())
        items.append(FaultItem(updates, probability))
    return FaultPlan(tuple(items))


def parse_faults(header: str | None, rng: random.Random | None = None) -> Faults:
    """Parse a fault string and draw the faults of one request from it (``rng`` for the
    items with a probability; a fresh generator when not given)."""
    return parse_fault_plan(header).draw(rng)
