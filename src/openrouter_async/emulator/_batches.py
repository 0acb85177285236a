"""``/batches``: OpenRouter's Batch API, answered by the emulator's own generation routes.

``POST /batches`` (202) stores a batch of requests to one endpoint (``/v1/chat/completions``,
``/v1/responses``, ``/v1/messages``, ``/v1/embeddings``) and one model; ``GET /batches/{id}``
shows it, ``GET /batches`` lists the workspace's batches newest first (``limit``, ``after``,
``status``, ``created_after``, ``created_before``; ``last_id`` / ``has_more`` page it),
``DELETE /batches/{id}`` removes a batch in a terminal status (409 before).

A batch's life is a function of time, at the speed ``EmulatorConfig`` sets, so tests take
seconds: ``validating`` for ``batch_validation_seconds``; then each request is checked (a
stream, another model, a body the endpoint cannot take, a base64 or ``data:`` image: the
batch goes ``failed``, ``error.message`` naming the request); then ``in_progress``, one
request every ``batch_seconds_per_request`` (in order); then ``completed`` (a request that
failed, e.g. a fault of ``EmulatorConfig.faults`` or a model that cannot embed, is a result
with an ``error`` and counts in ``request_counts.failed``). A batch still unfinished
``batch_window_seconds`` after its creation ends ``expired``; ``POST
/_emulator/batches/{id}/finish`` with ``{"status": "cancelled" | "expired" | "failed",
"message"?: ...}`` ends one at once (a test's way to reach those statuses). Requests that had
not run when a batch expired or was cancelled get an error result. The time is looked at
whenever a batch route is called (each call runs the requests due by then, listing runs
those of every batch it lists): nothing runs in the background, and no webhook is posted to
``callback_url`` (it is checked: HTTPS, or HTTP to a loopback host).

Each request runs through the same handler as its live route (:func:`._chat.chat_completions`,
:func:`._responses.responses`, :func:`._embeddings.embeddings`; ``/v1/messages``, which the
emulator does not serve live, is answered from the chat handler and shaped as the spec's
``MessagesResult``), with the batch creator's key, routing, guardrails and configured faults,
so a batch answers what the live route answers for the same body. Its cost is charged at
``batch_price_factor`` (0.5: OpenRouter bills batches at about half the per-token price) to
the key and the account (``GET /credits``, ``/activity``, ``/generation``), and the answer's
``usage.cost`` says so; a terminal batch's ``usage`` adds them up. ``GET /_emulator/stats``
counts ``batches_created`` and ``batch_requests`` (requests run).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import anyio
import orjson

from ._app import (
    API_PREFIX,
    EmulatorState,
    HTTPError,
    Request,
    Response,
    json_response,
)
from ._state import DEFAULT_WORKSPACE_ID, ApiKey

__all__ = ["BATCH_ENDPOINTS", "MAX_REQUESTS", "TERMINAL", "register"]

#: The endpoints a batch may target → the emulator's path of the live route.
BATCH_ENDPOINTS = {
    "/v1/chat/completions": "/chat/completions",
    "/v1/responses": "/responses",
    "/v1/messages": "/messages",
    "/v1/embeddings": "/embeddings",
}
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
#: The statuses ``GET /batches?status=`` takes (``finalizing`` / ``cancelling`` are not kept).
LISTED_STATUSES = frozenset(
    {"validating", "in_progress", "completed", "failed", "expired", "cancelled"}
)
MAX_REQUESTS = 5000
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_WINDOW = "24h"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

Handler = Callable[[Request], Awaitable["Response | None"]]


# -- the batches ------------------------------------------------------------------------------


@dataclass
class Batch:
    id: str
    sequence: int
    workspace: str
    key: ApiKey | None
    secret: str | None
    endpoint: str
    model: str
    requests: list[tuple[str, dict[str, Any]]]
    provider_preferences: dict[str, Any] | None
    created_at: int
    #: when the batch's window ends (Unix seconds)
    expires_at: int
    #: ``anyio.current_time()`` at creation: the clock of the batch's life
    started: float
    realistic: bool
    #: the creator's headers worth passing on to each request (user agent, attribution)
    headers: list[tuple[str, str]]
    status: str = "validating"
    provider: str | None = None
    error: str | None = None
    finalized_at: int | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    completed: int = 0
    failed: int = 0
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    def as_dict(self, *, with_results: bool) -> dict[str, Any]:
        terminal = self.status in TERMINAL
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "status": self.status,
            "completion_window": _WINDOW,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "finalized_at": self.finalized_at,
            "provider": self.provider,
            "request_counts": {
                "total": len(self.requests),
                "completed": self.completed,
                "failed": self.failed,
            },
            "error": None if self.error is None else {"message": self.error},
            "usage": self._usage() if terminal and self.status != "failed" else None,
            "results": list(self.results) if with_results and terminal else None,
        }

    def _usage(self) -> dict[str, Any]:
        prompt = completion = 0
        cost = 0.0
        for result in self.results:
            response = result.get("response")
            if not response:
                continue
            usage = response["body"].get("usage") or {}
            prompt += _int(usage.get("prompt_tokens", usage.get("input_tokens")))
            completion += _int(usage.get("completion_tokens", usage.get("output_tokens")))
            value = usage.get("cost")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cost += value
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost": round(cost, 12),
            "is_byok": False,
        }


class Book:
    """The batches of one emulator (all workspaces), kept while it runs."""

    def __init__(self) -> None:
        self.batches: dict[str, Batch] = {}
        self._sequence = 0

    def new_id(self) -> tuple[str, int]:
        # The sequence leads the id, so that `after=<id>` still places a deleted batch.
        self._sequence += 1
        return f"batch_{self._sequence:08d}{secrets.token_hex(8)}", self._sequence


_BOOKS: WeakKeyDictionary[EmulatorState, Book] = WeakKeyDictionary()


def book_of(state: EmulatorState) -> Book:
    book = _BOOKS.get(state)
    if book is None:
        book = _BOOKS[state] = Book()
    return book


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _sequence_of(batch_id: str) -> int | None:
    digits = batch_id[len("batch_") : len("batch_") + 8]
    if not batch_id.startswith("batch_") or len(digits) != 8 or not digits.isdigit():
        return None
    return int(digits)


# -- creating -----------------------------------------------------------------------------------


def _submission(body: Any) -> tuple[str, str, list[tuple[str, dict[str, Any]]], Any]:
    """(endpoint, model, requests, provider) of a valid submission, or 400."""
    if not isinstance(body, dict):
        raise HTTPError(400, "Request body must be a JSON object")
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise HTTPError(400, "Missing required parameter: endpoint")
    if endpoint not in BATCH_ENDPOINTS:
        allowed = ", ".join(BATCH_ENDPOINTS)
        raise HTTPError(400, f"Invalid parameter endpoint: {endpoint!r} (one of {allowed})")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise HTTPError(400, "Missing required parameter: model")
    window = body.get("completion_window", _WINDOW)
    if window != _WINDOW:
        raise HTTPError(400, f"Invalid parameter completion_window: only {_WINDOW!r}")
    callback = body.get("callback_url")
    if callback is not None:
        _check_callback(callback)
    provider = body.get("provider")
    if provider is not None:
        _check_provider(provider)
    items = body.get("requests")
    if not isinstance(items, list) or not items:
        raise HTTPError(400, "Missing required parameter: requests (a non-empty array)")
    if len(items) > MAX_REQUESTS:
        raise HTTPError(
            400, f"Invalid parameter requests: {len(items)} requests, at most {MAX_REQUESTS}"
        )
    requests: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"requests[{index}]"
        if not isinstance(item, dict):
            raise HTTPError(400, f"Invalid parameter {where}: an object")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise HTTPError(400, f"Invalid parameter {where}.custom_id: a non-empty string")
        if custom_id in seen:
            raise HTTPError(400, f"Invalid parameter {where}.custom_id: {custom_id!r} repeats")
        seen.add(custom_id)
        request_body = item.get("body")
        if not isinstance(request_body, dict):
            raise HTTPError(400, f"Invalid parameter {where}.body: an object")
        requests.append((custom_id, request_body))
    return endpoint, model, requests, provider


def _check_callback(value: Any) -> None:
    if not isinstance(value, str):
        raise HTTPError(400, "Invalid parameter callback_url: a string")
    parts = urlsplit(value)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
    if not secure or not parts.hostname:
        raise HTTPError(400, "Invalid parameter callback_url: an https:// URL")


def _check_provider(value: Any) -> None:
    if not isinstance(value, dict):
        raise HTTPError(400, "Invalid parameter provider: an object")
    unknown = sorted(set(value) - {"only", "allow_fallbacks"})
    if unknown:
        raise HTTPError(
            400,
            f"Invalid parameter provider.{unknown[0]}: a batch takes only provider.only and"
            " provider.allow_fallbacks",
        )
    only = value.get("only")
    if only is not None and (
        not isinstance(only, list) or not all(isinstance(x, str) for x in only)
    ):
        raise HTTPError(400, "Invalid parameter provider.only: an array of strings")
    fallbacks = value.get("allow_fallbacks")
    if fallbacks is not None and not isinstance(fallbacks, bool):
        raise HTTPError(400, "Invalid parameter provider.allow_fallbacks: a boolean")


_PASSED_HEADERS = ("user-agent", "http-referer", "x-title", "x-openrouter-title", "origin")


async def create_batch(request: Request) -> Response:
    endpoint, model, requests, provider = _submission(request.json())
    state = request.state
    if state.config.strict_models:
        from ._catalogue import find_model

        if find_model(model) is None:
            raise HTTPError(404, f"Model {model} not found")
    problem = state.store.limit_problem(request.key)
    if problem is not None:
        raise HTTPError(402, problem)
    book = book_of(state)
    batch_id, sequence = book.new_id()
    key = request.key
    batch = Batch(
        id=batch_id,
        sequence=sequence,
        workspace=key.workspace_id if key is not None else DEFAULT_WORKSPACE_ID,
        key=key,
        secret=request.api_key,
        endpoint=endpoint,
        model=model,
        requests=requests,
        provider_preferences=provider,
        created_at=int(time.time()),
        expires_at=math.ceil(time.time() + max(0.0, state.config.batch_window_seconds)),
        started=anyio.current_time(),
        realistic=request.realistic,
        headers=[(n, request.headers[n]) for n in _PASSED_HEADERS if n in request.headers],
    )
    book.batches[batch_id] = batch
    state.stats.batches_created += 1
    return json_response(batch.as_dict(with_results=False), 202)


# -- running ------------------------------------------------------------------------------------


def _times(state: EmulatorState, batch: Batch) -> tuple[float, float, float]:
    """(when validation ends, seconds per request, when the batch expires), on its clock."""
    config = state.config
    validated = batch.started + max(0.0, config.batch_validation_seconds)
    step = max(0.0, config.batch_seconds_per_request)
    return validated, step, batch.started + max(0.0, config.batch_window_seconds)


async def advance(state: EmulatorState, batch: Batch) -> None:
    """Bring the batch to where it is by now: validate it, run the requests that are due,
    finish it."""
    if batch.status in TERMINAL:
        return
    # Shielded: a client leaving mid-way must not cancel a request that was charged before
    # its result is kept (it would run, and be charged, again).
    with anyio.CancelScope(shield=True):
        await _advance(state, batch)


async def _advance(state: EmulatorState, batch: Batch) -> None:
    async with batch.lock:
        if batch.status in TERMINAL:
            return
        now = anyio.current_time()
        validated, step, expires = _times(state, batch)
        horizon = min(now, expires)
        if batch.status == "validating":
            if horizon < validated:
                if now >= expires:
                    _finish(batch, "expired")
                return
            problem = _invalid(batch)
            if problem is not None:
                batch.error = problem
                _finish(batch, "failed")
                return
            batch.status = "in_progress"
            from ._catalogue import provider_of

            batch.provider = provider_of(batch.model)
        total = len(batch.requests)
        if step == 0:
            due = total
        else:
            # Request i (from 0) is done at validated + (i + 1) * step.
            due = min(total, math.floor((horizon - validated) / step + 1e-9))
        while len(batch.results) < due:
            result = await _run(state, batch, len(batch.results))
            batch.results.append(result)
            if result["error"] is None:
                batch.completed += 1
            else:
                batch.failed += 1
        if len(batch.results) == total:
            _finish(batch, "completed")
        elif now >= expires:
            _finish(batch, "expired")


def _finish(batch: Batch, status: str, message: str | None = None) -> None:
    """Put the batch in a terminal status; requests not run yet get an error result."""
    if status != "completed" and status != "failed":
        reason = message or f"The batch was {status} before this request ran"
        while len(batch.results) < len(batch.requests):
            index = len(batch.results)
            batch.results.append(_error_result(batch, index, 400, reason, kind=f"batch_{status}"))
            batch.failed += 1
    if status == "failed":
        batch.results = []
    batch.status = status
    batch.finalized_at = int(time.time())


def _invalid(batch: Batch) -> str | None:
    """Why the batch cannot run (the first request at fault), or ``None``."""
    for custom_id, body in batch.requests:
        problem = _request_problem(batch, body)
        if problem is not None:
            return f"request {custom_id}: {problem}"
    return None


def _request_problem(batch: Batch, body: dict[str, Any]) -> str | None:
    if body.get("stream") is True:
        return "stream is not supported in a batch"
    model = body.get("model")
    if model is not None and model != batch.model:
        return f"model {model!r} differs from the batch's model {batch.model!r}"
    endpoint = batch.endpoint
    if endpoint in ("/v1/chat/completions", "/v1/messages"):
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages is required (a non-empty array)"
        for message in messages:
            if isinstance(message, dict) and _inline_media(message.get("content")):
                return "base64 and data: images or files are not accepted in a batch"
        if endpoint == "/v1/messages" and not isinstance(body.get("max_tokens"), int):
            return "max_tokens is required"
    elif endpoint == "/v1/responses":
        if body.get("input") is None:
            return "input is required"
    elif body.get("input") is None:
        return "input is required"
    return None


def _inline_media(content: Any) -> bool:
    """Whether message content carries base64 media (batches take URLs only)."""
    if not isinstance(content, list):
        return False
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "input_audio":
            return True
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and url.startswith("data:"):
            return True
        source = part.get("source")
        if isinstance(source, dict) and source.get("type") == "base64":
            return True
    return False


def _handler(endpoint: str) -> Handler:
    if endpoint == "/v1/chat/completions" or endpoint == "/v1/messages":
        from ._chat import chat_completions

        return chat_completions
    if endpoint == "/v1/responses":
        from ._responses import responses

        return responses
    from ._embeddings import embeddings

    return embeddings


async def _run(state: EmulatorState, batch: Batch, index: int) -> dict[str, Any]:
    """Run request ``index`` through its live route's handler; its result."""
    custom_id, given = batch.requests[index]
    state.stats.batch_requests += 1
    body = dict(given)
    body.setdefault("model", batch.model)
    if batch.provider_preferences and "provider" not in body:
        body["provider"] = dict(batch.provider_preferences)
    if batch.endpoint == "/v1/messages":
        from ._messages_batch import chat_body

        body = chat_body(body)
    elif batch.endpoint == "/v1/responses":
        from ._responses import normalize_request

        body = normalize_request(body)
    factor = state.config.batch_price_factor
    path = BATCH_ENDPOINTS[
        "/v1/chat/completions" if batch.endpoint == "/v1/messages" else batch.endpoint
    ]
    try:
        status, answer = await _call(state, batch, path, body, factor)
    except HTTPError as error:
        return _error_result(batch, index, error.status, error.message)
    except Exception as error:  # a fault that needs a real connection (drop-before-headers)
        return _error_result(batch, index, 500, f"Internal Server Error ({type(error).__name__})")
    # OpenRouter's error body: {"error": {...}} (also with status 200: the error-200 fault).
    failed = not isinstance(answer, dict) or (
        isinstance(answer.get("error"), dict) and "id" not in answer
    )
    if status >= 400 or failed:
        found = answer.get("error") if isinstance(answer, dict) else None
        code = found.get("code") if isinstance(found, dict) else None
        message = found.get("message") if isinstance(found, dict) else None
        return _error_result(
            batch,
            index,
            code if isinstance(code, int) else (status if status >= 400 else 502),
            message if isinstance(message, str) else "Provider returned error",
        )
    _discount(answer, factor)
    generation_id = answer.get("id")
    if index == 0 and isinstance(answer.get("provider"), str):
        batch.provider = answer["provider"]  # the provider routing chose runs the batch
    if batch.endpoint == "/v1/messages":
        from ._messages_batch import message_result

        answer = message_result(answer)
    return {
        "id": f"{batch.id}_req_{index + 1}",
        "custom_id": custom_id,
        "response": {
            "status_code": status,
            "request_id": generation_id if isinstance(generation_id, str) else None,
            "body": answer,
        },
        "error": None,
    }


_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "authentication"),
    402: ("payment_required", "payment_required"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "not_found"),
    408: ("timeout_error", "timeout"),
    413: ("invalid_request_error", "payload_too_large"),
    422: ("invalid_request_error", "unprocessable"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    502: ("api_error", "provider_unavailable"),
    503: ("api_error", "provider_overloaded"),
    529: ("api_error", "provider_overloaded"),
}


def _error_result(
    batch: Batch, index: int, status: int, message: str, *, kind: str | None = None
) -> dict[str, Any]:
    kind_of, error_type = _ERROR_TYPES.get(status, ("api_error", "server"))
    return {
        "id": f"{batch.id}_req_{index + 1}",
        "custom_id": batch.requests[index][0],
        "response": None,
        "error": {
            "message": message,
            "type": kind or kind_of,
            "param": None,
            "error_type": error_type,
        },
    }


def _discount(answer: dict[str, Any], factor: float) -> None:
    """The answer's ``usage.cost`` (and its upstream costs) at the batch price, as charged."""
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        return
    cost = usage.get("cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        usage["cost"] = round(cost * factor, 12)
    details = usage.get("cost_details")
    if isinstance(details, dict):
        for name, value in details.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                details[name] = round(value * factor, 12)


class _DiscountedStore:
    """The account, charging what it is told at the batch price."""

    def __init__(self, store: Any, factor: float) -> None:
        self._store = store
        self._factor = factor

    def record_generation(self, **fields: Any) -> Any:
        fields["cost"] = fields["cost"] * self._factor
        return self._store.record_generation(**fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _BatchState:
    """The app's state as a batch's request sees it: the same, but charged at the batch
    price."""

    def __init__(self, state: EmulatorState, factor: float) -> None:
        self._state = state
        self.store = _DiscountedStore(state.store, factor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)


async def _call(
    state: EmulatorState, batch: Batch, path: str, body: dict[str, Any], factor: float
) -> tuple[int, Any]:
    """(status, parsed body) of the live route's handler for ``body``, on the batch's key."""
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": API_PREFIX + path,
        "query_string": b"",
        "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in batch.headers],
    }
    inner = Request(
        scope, send, cast(EmulatorState, _BatchState(state, factor)), orjson.dumps(body)
    )
    inner.key = batch.key
    inner.api_key = batch.secret
    inner.realistic = batch.realistic
    response = await _handler(batch.endpoint)(inner)
    if response is not None:
        status, raw = response.status, response.body
    else:
        starts = [m for m in messages if m["type"] == "http.response.start"]
        parts = [m for m in messages if m["type"] == "http.response.body"]
        if not starts or not parts or parts[-1].get("more_body", False):
            raise HTTPError(502, "The provider's answer was cut short")
        status, raw = starts[0]["status"], b"".join(m.get("body", b"") for m in parts)
    try:
        return status, orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HTTPError(502, "The provider's answer was not valid JSON") from None


# -- the routes ---------------------------------------------------------------------------------


def _workspace(request: Request) -> str:
    return request.key.workspace_id if request.key is not None else DEFAULT_WORKSPACE_ID


def _find(request: Request) -> Batch:
    batch_id = request.path_params["id"]
    batch = book_of(request.state).batches.get(batch_id)
    if batch is None or batch.workspace != _workspace(request):
        raise HTTPError(404, f"Batch {batch_id} not found")
    return batch


async def get_batch(request: Request) -> Response:
    batch = _find(request)
    await advance(request.state, batch)
    return json_response(batch.as_dict(with_results=True))


async def delete_batch(request: Request) -> Response:
    batch = _find(request)
    await advance(request.state, batch)
    if batch.status not in TERMINAL:
        raise HTTPError(
            409,
            f"Batch {batch.id} is {batch.status}: only a batch in a terminal status (completed,"
            " failed, expired, cancelled) can be deleted",
        )
    del book_of(request.state).batches[batch.id]
    deletion: dict[str, Any] = {"openrouter": "deleted"}
    if batch.provider is not None:
        deletion["upstream"] = {"provider": batch.provider, "status": "deleted"}
    return json_response({"id": batch.id, "object": "batch", "deletion": deletion})


def _time_bound(request: Request, name: str) -> float | None:
    value = request.query_value(name)
    if value is None or value == "":
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPError(400, f"Invalid parameter {name}: an ISO 8601 date or date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _statuses(request: Request) -> set[str] | None:
    values = [
        part.strip()
        for value in request.query.get("status", [])
        for part in value.split(",")
        if part.strip()
    ]
    if not values:
        return None
    for value in values:
        if value not in LISTED_STATUSES:
            allowed = ", ".join(sorted(LISTED_STATUSES))
            raise HTTPError(400, f"Invalid parameter status: {value!r} (one of {allowed})")
    return set(values)


def _limit(request: Request) -> int:
    value = request.query_value("limit")
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise HTTPError(400, f"Invalid parameter limit: an integer from 1 to {MAX_LIMIT}")
    return limit


async def list_batches(request: Request) -> Response:
    limit = _limit(request)
    statuses = _statuses(request)
    after_time = _time_bound(request, "created_after")
    before_time = _time_bound(request, "created_before")
    after = request.query_value("after")
    below: int | None = None
    if after:
        below = _sequence_of(after)
        if below is None:
            raise HTTPError(400, f"Invalid parameter after: {after!r} is not a batch id")
    workspace = _workspace(request)
    state = request.state
    found: list[Batch] = []
    more = False
    for batch in sorted(book_of(state).batches.values(), key=lambda b: -b.sequence):
        if batch.workspace != workspace or (below is not None and batch.sequence >= below):
            continue
        if after_time is not None and not batch.created_at > after_time:
            continue
        if before_time is not None and not batch.created_at < before_time:
            continue
        await advance(state, batch)
        if statuses is not None and batch.status not in statuses:
            continue
        if len(found) == limit:
            more = True
            break
        found.append(batch)
    return json_response(
        {
            "object": "list",
            "data": [batch.as_dict(with_results=False) for batch in found],
            "first_id": found[0].id if found else None,
            "last_id": found[-1].id if found else None,
            "has_more": more,
        }
    )


async def finish_batch(request: Request) -> Response:
    """``POST /_emulator/batches/{id}/finish``: end a batch now (tests)."""
    batch = book_of(request.state).batches.get(request.path_params["id"])
    if batch is None:
        raise HTTPError(404, f"Batch {request.path_params['id']} not found")
    body = request.json_object() if request.body.strip() else {}
    status = body.get("status", "cancelled")
    if status not in ("cancelled", "expired", "failed"):
        raise HTTPError(400, "Invalid parameter status: 'cancelled', 'expired' or 'failed'")
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise HTTPError(400, "Invalid parameter message: a string")
    async with batch.lock:
        if batch.status in TERMINAL:
            raise HTTPError(409, f"Batch {batch.id} is already {batch.status}")
        if status == "failed":
            batch.error = message or "The batch failed"
        _finish(batch, status, message if status != "failed" else None)
    return json_response(batch.as_dict(with_results=True))


def register(app: Any) -> None:
    app.add_route("GET", "/batches", list_batches)
    app.add_route("POST", "/batches", create_batch)
    app.add_route("GET", "/batches/{id}", get_batch)
    app.add_route("DELETE", "/batches/{id}", delete_batch)
    app.add_route("POST", "/_emulator/batches/{id}/finish", finish_batch, auth=False, counted=False)
