"""Parsing of the ``X-Emulator-Fault`` request header (the grammar is documented in the
package docstring, :mod:`openrouter_async.emulator`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAULT_HEADER", "FaultSyntaxError", "Faults", "parse_faults"]

FAULT_HEADER = "x-emulator-fault"

MAX_TOKENS_FAULT = 100_000
MAX_DELAY_MS = 120_000
MAX_STALL_S = 300.0


class FaultSyntaxError(ValueError):
    """The header does not follow the grammar (the emulator answers 400)."""


@dataclass(frozen=True)
class Faults:
    """The faults asked for by one request. All fields default to "no fault"."""

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
    #: Status 200 with an ``{"error": {...}}`` body.
    error_200: bool = False
    #: Number of content chunks (tokens) of the answer.
    tokens: int | None = None

    @property
    def any(self) -> bool:
        return self != _NO_FAULTS


_NO_FAULTS = Faults()


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


def parse_faults(header: str | None) -> Faults:
    """Parse ``X-Emulator-Fault``; raise :class:`FaultSyntaxError` on anything unknown (a
    typo in a test's fault must fail loudly, not be silently ignored)."""
    if header is None or not header.strip():
        return _NO_FAULTS
    fields: dict[str, object] = {}
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        head, *param_items = (part.strip() for part in item.split(";"))
        name, eq, raw = head.partition("=")
        name = name.strip().lower()
        value: str | None = raw.strip() if eq else None
        params: dict[str, str] = {}
        for param in param_items:
            key, peq, param_value = param.partition("=")
            if not peq:
                raise FaultSyntaxError(f"parameter {param!r} of {name} needs a value")
            params[key.strip().lower()] = param_value.strip()
        allowed: set[str] = set()
        if name == "status":
            fields["status"] = _int(name, value, 400, 599)
            allowed = {"retry-after", "message"}
            if "retry-after" in params:
                fields["retry_after"] = params["retry-after"]
        elif name == "stall":
            fields["stall"] = 30.0 if value is None else _float(name, value, 0, MAX_STALL_S)
        elif name == "delay-ms":
            fields["delay_ms"] = _int(name, value, 0, MAX_DELAY_MS)
        elif name == "token-delay-ms":
            fields["token_delay_ms"] = _int(name, value, 0, MAX_DELAY_MS)
        elif name == "mid-stream-error":
            fields["mid_stream_error"] = 2 if value is None else _int(name, value, 0, 10**9)
            allowed = {"code", "message"}
        elif name == "drop":
            fields["drop"] = 2 if value is None else _int(name, value, 0, 10**9)
        elif name == "error-200":
            fields["error_200"] = True
            if value is not None:
                fields["error_code"] = _int(name, value, 100, 999)
            allowed = {"message"}
        elif name == "tokens":
            fields["tokens"] = _int(name, value, 1, MAX_TOKENS_FAULT)
        else:
            raise FaultSyntaxError(f"unknown fault {name!r}")
        unknown = set(params) - allowed
        if unknown:
            raise FaultSyntaxError(f"unknown parameter(s) of {name}: {', '.join(sorted(unknown))}")
        if "message" in params:
            fields["message"] = params["message"]
        if "code" in params:
            fields["error_code"] = _int("code", params["code"], 100, 999)
    return Faults(**fields)  # type: ignore[arg-type]
