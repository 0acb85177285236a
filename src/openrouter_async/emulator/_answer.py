"""What the generation routes (chat, completions, responses, embeddings) share: the
``X-Emulator-Fault`` prelude, the non-streamed answer with its faults, the SSE stream with its
counters, keep-alives and faults, and the accounting of each call.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import orjson

from ._app import HTTPError, Request, Response, error_body, json_response, status_phrase
from ._faults import FAULT_HEADER, Faults, FaultSyntaxError, parse_fault_plan
from ._realistic import METADATA_EVENT, PADDING, PADDING_INTERVAL_S, STREAM_PRELUDE

__all__ = [
    "DEFAULT_ERROR_MESSAGES",
    "PROCESSING",
    "PROVIDER",
    "complete_json",
    "error_metadata",
    "fault_prelude",
    "malformed_event",
    "new_generation",
    "record_call",
    "request_faults",
    "run_stream",
    "stream_events",
]

PROVIDER = "Emulator"
PROCESSING = b": OPENROUTER PROCESSING\n\n"
FLUSH_BYTES = 16 * 1024
_STALL_INTERVAL = 0.05

#: OpenRouter's messages for the statuses it documents (the spec's examples).
DEFAULT_ERROR_MESSAGES: dict[int, str] = {
    400: "Invalid request parameters",
    401: "Missing Authentication header",
    402: "Insufficient credits. Add more using https://openrouter.ai/credits",
    403: "Request blocked by moderation",
    404: "Resource not found",
    408: "Operation timed out. Please try again later.",
    413: "Request payload too large",
    422: "Invalid argument",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "Service temporarily unavailable",
    524: "Request timed out. Please try again later.",
    529: "Provider returned error",
}


def error_metadata(status: int, model: str | None) -> dict[str, Any] | None:
    if status in (502, 529):
        return {"provider_name": PROVIDER, "raw": f"emulated upstream error {status}"}
    if status == 403:
        return {
            "reasons": ["emulated"],
            "flagged_input": "...",
            "provider_name": PROVIDER,
            "model_slug": model or "",
        }
    return None


def request_faults(request: Request) -> Faults:
    """The faults of a generation request: ``EmulatorConfig.faults``, then the request's
    ``X-Emulator-Fault`` header (400 on a syntax error), drawn with the app's generator."""
    state = request.state
    try:
        plan = parse_fault_plan(request.headers.get(FAULT_HEADER))
    except FaultSyntaxError as exc:
        raise HTTPError(400, f"Invalid X-Emulator-Fault header: {exc}") from None
    faults = (state.fault_plan + plan).draw(state.rng)
    if faults.any:
        stats = state.stats
        stats.faulted += 1
        for kind in faults.kinds():
            stats.faults[kind] = stats.faults.get(kind, 0) + 1
    return faults


async def fault_prelude(request: Request, faults: Faults, model: str | None) -> None:
    """``delay-ms``, then ``drop-before-headers``, then ``status``; then the key's
    spending limit and its guardrail's budget (402)."""
    if faults.delay_ms:
        await request.state.sleep(faults.delay_ms / 1000)
    if faults.drop_before_headers:
        await request.abort()
    if faults.status is not None:
        headers = [] if faults.retry_after is None else [("retry-after", faults.retry_after)]
        raise HTTPError(
            faults.status,
            faults.message
            or DEFAULT_ERROR_MESSAGES.get(faults.status)
            or status_phrase(faults.status),
            metadata=error_metadata(faults.status, model),
            headers=headers,
        )
    problem = request.state.store.limit_problem(request.key)
    if problem is not None:
        raise HTTPError(402, problem)
    from ._routing import budget_problem

    problem = budget_problem(request)
    if problem is not None:
        raise HTTPError(402, problem)


def error_200(faults: Faults, model: str | None, headers: list[tuple[str, str]]) -> Response:
    code = faults.error_code
    message = faults.message or DEFAULT_ERROR_MESSAGES.get(code) or status_phrase(code)
    return json_response(error_body(code, message, error_metadata(code, model)), 200, headers)


def new_generation(request: Request) -> tuple[str, int, int]:
    """(generation id, created, sequence) of a new call."""
    sequence = request.state.next_sequence()
    created = int(time.time())
    return f"gen-{created}-emu{sequence:09d}", created, sequence


def delivered(faults: Faults, planned: int) -> int:
    """How many of ``planned`` content pieces a client receives, given the faults."""
    if faults.stall is not None:
        return 0
    cut = [after for after in (faults.drop, faults.mid_stream_error) if after is not None]
    return min([planned, *cut])


def record_call(
    request: Request,
    *,
    generation_id: str,
    model: str,
    api_type: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: float,
    finish_reason: str | None,
    streamed: bool,
    faults: Faults,
    reasoning_tokens: int = 0,
    provider_name: str | None = None,
    body: dict[str, Any] | None = None,
) -> None:
    """Charge a call to the request's key and remember it as a generation."""
    from ._catalogue import provider_of

    token_time = faults.token_delay_ms * completion_tokens
    latency = (time.perf_counter() - request.received_at) * 1000
    extras = body or {}
    user = extras.get("user")
    session = extras.get("session_id")
    tier = extras.get("service_tier")
    request.state.store.record_generation(
        generation_id=generation_id,
        key=request.key,
        model=model,
        provider_name=provider_name or provider_of(model),
        api_type=api_type,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        reasoning_tokens=reasoning_tokens,
        cost=cost,
        latency_ms=latency,
        generation_time_ms=latency + token_time,
        finish_reason=finish_reason,
        streamed=streamed,
        cancelled=faults.drop is not None or faults.stall is not None,
        user_agent=request.headers.get("user-agent"),
        http_referer=request.headers.get("http-referer"),
        origin=request.headers.get("origin", ""),
        service_tier=tier if isinstance(tier, str) else None,
        external_user=user if isinstance(user, str) else None,
        session_id=session if isinstance(session, str) else None,
    )


async def complete_json(
    request: Request,
    faults: Faults,
    body: Any,
    n_pieces: int,
    headers: list[tuple[str, str]],
) -> Response | None:
    """A non-streamed answer, with the faults that apply to one: ``stall`` (headers, then
    nothing, then the connection is cut), ``ttft-ms`` and ``token-delay-ms`` (per token, before
    answering), ``mid-stream-error`` (status 200 with an error body), ``drop`` (half the
    body), ``malformed-json`` (the body cut short). In realistic mode the JSON is preceded by
    whitespace (:data:`._realistic.PADDING`); while a slow answer is awaited, the headers and
    that whitespace are sent at once and more of it as time goes by, as OpenRouter does."""
    state = request.state
    content_type = ("content-type", "application/json")
    if faults.stall is not None:
        await request.start_response(200, [content_type, *headers])
        await state.sleep(faults.stall)
        return None
    padding = b""
    started = False  # headers (and padding) sent: the body follows as more writes
    if request.realistic:
        padding = PADDING
        wait = (faults.ttft_ms + faults.token_delay_ms * n_pieces) / 1000
        if wait > 0:
            await request.start_response(200, [content_type, *headers])
            started = True
            await _pad(request, wait)
            padding = b""
    else:
        if faults.ttft_ms:
            await state.sleep(faults.ttft_ms / 1000)
        if faults.token_delay_ms:
            await state.sleep(faults.token_delay_ms * n_pieces / 1000)
    if faults.mid_stream_error is not None:
        code = faults.error_code
        message = faults.message or "Provider disconnected"
        data = padding + orjson.dumps(error_body(code, message))
    else:
        data = padding + orjson.dumps(body)
        if faults.malformed_json is not None:
            data = data[: len(data) // 2]  # a complete response whose JSON is cut short
        elif faults.drop is not None:
            if not started:
                await request.start_response(
                    200, [content_type, ("content-length", str(len(data))), *headers]
                )
            await request.write(data[: len(data) // 2])
            return None  # returning without ending the body makes the server cut it
    if started:
        await request.end(data)
        return None
    return Response(200, data, [content_type, *headers])


async def _pad(request: Request, seconds: float) -> None:
    """Send whitespace at once, then every :data:`._realistic.PADDING_INTERVAL_S` for
    ``seconds`` (OpenRouter's keep-alive while a non-streamed answer is generated)."""
    state = request.state
    await request.write(PADDING)
    deadline = anyio.current_time() + seconds
    while not state.closing:
        remaining = deadline - anyio.current_time()
        if remaining <= 0:
            return
        await state.sleep(min(remaining, PADDING_INTERVAL_S))
        if deadline - anyio.current_time() > 0:
            await request.write(PADDING)


async def run_stream(
    request: Request,
    faults: Faults,
    headers: list[tuple[str, str]],
    produce: Callable[[], Awaitable[None]],
) -> None:
    """Send an SSE response: the headers, a ``: OPENROUTER PROCESSING`` comment, then either
    the ``stall`` fault or what ``produce()`` writes; keeps the stream counters."""
    state = request.state
    stats = state.stats
    await request.start_response(
        200,
        [("content-type", "text/event-stream"), ("cache-control", "no-cache"), *headers],
    )
    stats.active_streams += 1
    stats.streams_started += 1
    try:
        await request.write(PROCESSING + STREAM_PRELUDE if request.realistic else PROCESSING)
        if faults.stall is not None:
            deadline = anyio.current_time() + faults.stall
            while anyio.current_time() < deadline and not state.closing:
                await anyio.sleep(min(_STALL_INTERVAL, max(0, deadline - anyio.current_time())))
                await request.write(PROCESSING)
            if not state.closing:
                await request.end()
            return
        if faults.ttft_ms:
            await state.sleep(faults.ttft_ms / 1000)
        await produce()
    finally:
        stats.active_streams -= 1
        if request.complete:
            stats.streams_completed += 1
        elif request.disconnected and not state.closing:
            stats.streams_disconnected += 1
        else:  # the drop fault, or the server is shutting down (and may close connections)
            stats.streams_dropped += 1


def malformed_event(event: bytes) -> bytes:
    """A ``data:`` event whose JSON is cut short (from a well-formed ``event``)."""
    start = event.find(b"data: ")
    line = event[max(start, 0) :].split(b"\n", 1)[0]
    return line[: max(len(b"data: {"), len(line) // 2)] + b"\n\n"


def sse(data: Any) -> bytes:
    """One ``data:`` event."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


DONE = b"data: [DONE]\n\n"


async def stream_events(
    request: Request,
    faults: Faults,
    *,
    head: Sequence[bytes],
    pieces: Sequence[bytes],
    tail: Callable[[], Sequence[bytes]],
    error: Callable[[int], Sequence[bytes]],
) -> None:
    """Write the events of a stream (inside :func:`run_stream`): ``head``, then the content
    events ``pieces`` (the ones the faults count: ``token-delay-ms`` between two of them,
    ``drop`` and ``mid-stream-error`` after some of them, a keep-alive comment every
    ``keepalive_every``), then ``tail()`` and the end; or, for a mid-stream error after ``n``
    pieces, ``error(n)`` and the end."""
    state = request.state
    delay = faults.token_delay_ms / 1000
    keepalive_every = state.config.keepalive_every
    batch: list[bytes] = list(head)
    size = sum(len(part) for part in batch)

    async def flush(last: bool = False) -> None:
        nonlocal batch, size
        data = b"".join(batch)
        batch, size = [], 0
        if last:
            await request.end(data)
        elif data:
            await request.write(data)
            await anyio.lowlevel.checkpoint()  # lets a client disconnect cancel us

    for index, piece in enumerate(pieces):
        if state.closing:
            await flush()
            return  # dropped: the server is shutting down
        if faults.drop is not None and index >= faults.drop:
            if faults.drop_mid_event:
                batch.append(piece[: len(piece) // 2])
            await flush()
            return  # the server cuts the connection: the body was not ended
        if faults.mid_stream_error is not None and index >= faults.mid_stream_error:
            batch.extend(error(index))
            await flush(last=True)
            return
        if index and delay:
            await flush()
            await state.sleep(delay)
        if index == faults.malformed_json:
            batch.append(malformed_event(piece))
        batch.append(piece)
        size += len(piece)
        if index == 0 and request.realistic:
            batch.append(METADATA_EVENT)
        if keepalive_every and index % keepalive_every == keepalive_every - 1:
            batch.append(PROCESSING)
        if size >= FLUSH_BYTES:
            await flush()
    if faults.drop is not None:
        await flush()
        return
    if faults.mid_stream_error is not None:
        batch.extend(error(len(pieces)))
        await flush(last=True)
        return
    if delay:
        await flush()
        await state.sleep(delay)
    batch.extend(tail())
    await flush(last=True)
