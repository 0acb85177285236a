"""The emulator's ASGI application: configuration, shared state, routing, auth, errors, stats.

Written against the bare ASGI 3 interface (no framework). Handlers are ``async def
handler(request) -> Response | None``: return a :class:`Response`, raise :class:`HTTPError`
for an OpenRouter-style error, or stream the response themselves with
:meth:`Request.start_response` / :meth:`Request.write` / :meth:`Request.end` and return
``None``. While a handler that may wait runs (a stream, a fault, validation), the app watches
the connection: when the client goes away (ASGI ``http.disconnect``), the handler is cancelled
and :attr:`Request.disconnected` is set. Other handlers (nothing in them waits) run without
the watcher, which would cost as much as the rest of the request.
"""

from __future__ import annotations

import logging
import os
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import anyio
import anyio.lowlevel
import orjson

from ._faults import FAULT_HEADER
from ._realistic import SHAPE_HEADER, parse_shape
from ._state import ApiKey, Store

__all__ = [
    "API_PREFIX",
    "Aborted",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorState",
    "EmulatorStats",
    "HTTPError",
    "Request",
    "Response",
    "error_body",
    "error_response",
    "json_response",
]

logger = logging.getLogger("openrouter_emulator")

API_PREFIX = "/api/v1"

Scope = Mapping[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[["Request"], Awaitable["Response | None"]]


@dataclass
class EmulatorConfig:
    """How the emulator behaves. Every field has a default that suits tests."""

    #: Accepted API keys; ``None`` accepts any non-empty bearer token.
    api_keys: set[str] | None = None
    #: Validate every request to a route the spec describes (its JSON body against the
    #: operation's request schema, its query string against the query parameters; needs the
    #: ``jsonschema``, ``referencing`` and ``pyyaml`` development dependencies) and answer 400
    #: with the violation.
    validate_requests: bool = False
    #: The OpenRouter OpenAPI spec (YAML). ``None``: ``$OPENROUTER_ASYNC_OPENAPI_SPEC``, else
    #: ``shared/openapi/openrouter.openapi.yaml`` found in a parent directory.
    spec_path: str | os.PathLike[str] | None = None
    #: Model used when a request names none; ``None`` makes a missing ``model`` a 400.
    default_model: str | None = None
    #: Number of content tokens of an answer when neither ``max_tokens`` nor the ``tokens``
    #: fault says otherwise.
    default_tokens: int = 8
    #: Upper bound applied to ``max_tokens`` / ``max_completion_tokens``.
    max_tokens_cap: int = 4096
    #: A ``: OPENROUTER PROCESSING`` comment is interleaved every this many stream chunks
    #: (0: only the one before the first chunk).
    keepalive_every: int = 32
    #: Request bodies larger than this are refused with 413.
    max_body_bytes: int = 32 * 1024 * 1024
    #: Credits of the emulated account (``GET /credits``), in dollars.
    total_credits: float = 100.0
    #: Seed the state the product description's examples expect (see :mod:`._state`): two
    #: more keys, past generations and activity, a pending OAuth code.
    seed_examples: bool = True
    #: A JSON or YAML file (YAML needs ``pyyaml``) of keys, credits and guardrails to seed
    #: the account with (the format is described in :mod:`._seed`).
    seed_file: str | os.PathLike[str] | None = None
    #: The same as ``seed_file``, as Python data (applied after the file).
    seed_data: Mapping[str, Any] | None = None
    #: Faults applied to every generation request (chat, completions, responses,
    #: embeddings), in the ``X-Emulator-Fault`` grammar, before the request's own header
    #: (whose items override these; its ``none`` item clears them). With probabilities
    #: (``;p=0.1``) this makes a soak test's background of failures.
    faults: str | None = None
    #: Seed of the generator that draws the faults with a probability: the same seed and the
    #: same sequence of requests give the same faults (``None``: a random seed).
    #: ``POST /_emulator/reset`` re-seeds it (with ``{"seed": n}`` or this seed).
    fault_seed: int | None = None
    #: Per-key limit on the generation requests in a window of ``rate_limit_window_s``
    #: (requests per minute by default); ``None``: no limit (see :mod:`._limits`).
    rate_limit_rpm: int | None = None
    #: Per-key limit on concurrent generation requests (streams count until they end).
    rate_limit_concurrency: int | None = None
    #: The window of ``rate_limit_rpm``, in seconds.
    rate_limit_window_s: float = 60.0
    #: Refuse (400) a model the catalogue does not have, as OpenRouter does. ``False``: an
    #: unknown model is served anyway (by the provider ``Emulator``), unless the request
    #: names fallback ``models`` of which one is known.
    strict_models: bool = False
    #: Answer as real OpenRouter does where it differs from the spec (see
    #: :mod:`._realistic`): leave out the fields real answers lack, add the ones they carry,
    #: pad non-streamed JSON with whitespace, interleave named SSE events. ``False``: follow
    #: the spec to the letter. A request's ``X-Emulator-Shape: realistic|strict`` header
    #: overrides it.
    realistic: bool = False
    #: Batch API (:mod:`._batches`): how long a new batch stays ``validating``, in seconds.
    batch_validation_seconds: float = 0.1
    #: Batch API: once a batch is ``in_progress``, its requests run one after the other,
    #: one every this many seconds (0: all at once), so a test sees it progress.
    batch_seconds_per_request: float = 0.005
    #: Batch API: a batch still unfinished this long after its creation ends ``expired``
    #: (OpenRouter's window: 24 h).
    batch_window_seconds: float = 24 * 3600.0
    #: Batch API: what a batch's request costs, as a fraction of the live price (OpenRouter
    #: bills batches at about half the per-token price).
    batch_price_factor: float = 0.5


class HTTPError(Exception):
    """Raised by a handler: answered with OpenRouter's error body
    ``{"error": {"code": status, "message": ..., "metadata"?: {...}}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.metadata = metadata
        self.headers = list(headers)

    def response(self) -> Response:
        return error_response(self.status, self.message, self.metadata, self.headers)


class Response:
    """A complete (non-streamed) response."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.status = status
        self.body = body
        self.headers = list(headers)


def json_response(
    content: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    return Response(
        status,
        orjson.dumps(content),
        [("content-type", "application/json"), *headers],
    )


def error_body(
    status: int, message: str, metadata: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message}
    if metadata is not None:
        error["metadata"] = dict(metadata)
    return {"error": error}


def error_response(
    status: int,
    message: str,
    metadata: Mapping[str, Any] | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    return json_response(error_body(status, message, metadata), status, headers)


@dataclass
class EmulatorStats:
    """Counters served by ``GET /api/v1/_emulator/stats`` (``POST /api/v1/_emulator/reset``
    zeroes the cumulative ones; the ``active_*`` ones describe the present and are kept)."""

    #: API requests received (every route except ``/_emulator/*``), errors included.
    requests: int = 0
    #: API responses with a status >= 400 (an ``error-200`` fault is not counted).
    errors: int = 0
    #: API requests whose handler is still running (streams included).
    active_requests: int = 0
    #: SSE responses open right now: headers sent, end not sent yet, client still there.
    active_streams: int = 0
    #: SSE responses started.
    streams_started: int = 0
    #: SSE responses sent to their end (``[DONE]``; or the end after a mid-stream error or
    #: after a ``stall``'s time limit).
    streams_completed: int = 0
    #: SSE responses cut short because the client went away (closed the stream or the
    #: connection) before the end.
    streams_disconnected: int = 0
    #: SSE responses the emulator cut on purpose (``drop`` fault) or because it was shutting
    #: down.
    streams_dropped: int = 0
    #: Requests refused with 429 by the rate limits (not by a ``status=429`` fault).
    rate_limited: int = 0
    #: Generation requests that got at least one fault (from the header or the config).
    faulted: int = 0
    #: Connections closed before any response (``drop-before-headers``).
    connections_dropped: int = 0
    #: Faulted requests by kind (``status=503``, ``mid-stream-error``, ``drop``...).
    faults: dict[str, int] = field(default_factory=dict)
    #: Batches created (``POST /batches`` answered 202).
    batches_created: int = 0
    #: Requests of batches run (each through its live route's handler).
    batch_requests: int = 0

    def reset(self) -> None:
        self.requests = self.errors = self.streams_started = 0
        self.streams_completed = self.streams_disconnected = self.streams_dropped = 0
        self.rate_limited = self.faulted = self.connections_dropped = 0
        self.batches_created = self.batch_requests = 0
        self.faults = {}

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "active_requests": self.active_requests,
            "active_streams": self.active_streams,
            "streams_started": self.streams_started,
            "streams_completed": self.streams_completed,
            "streams_disconnected": self.streams_disconnected,
            "streams_dropped": self.streams_dropped,
            "rate_limited": self.rate_limited,
            "faulted": self.faulted,
            "connections_dropped": self.connections_dropped,
            "faults": dict(sorted(self.faults.items())),
            "batches_created": self.batches_created,
            "batch_requests": self.batch_requests,
        }


class EmulatorState:
    """Everything the emulator remembers between requests. Mutated only from the event loop
    that serves the app."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.stats = EmulatorStats()
        #: Set when the server shuts down: long responses (stalls, slow streams) stop early.
        self.closing = False
        self._sequence = 0
        self._request_validator: Any = None
        self._spec_loaded = False
        #: The account: keys, generations, activity, guardrails, OAuth codes.
        self.store = Store.from_config(config)
        from ._faults import FaultSyntaxError, parse_fault_plan
        from ._limits import RateLimits

        try:
            #: ``config.faults``, parsed.
            self.fault_plan = parse_fault_plan(config.faults)
        except FaultSyntaxError as exc:
            raise ValueError(f"EmulatorConfig.faults: {exc}") from None
        #: Draws the faults that have a probability.
        self.rng = random.Random(config.fault_seed)
        #: Per-key rate limits.
        self.limits = RateLimits(
            config.rate_limit_rpm, config.rate_limit_concurrency, config.rate_limit_window_s
        )

    def reseed(self, seed: int | None = None) -> None:
        """Restart the fault generator (with ``seed``, else ``config.fault_seed``)."""
        self.rng = random.Random(self.config.fault_seed if seed is None else seed)

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    async def request_validator(self) -> Any:
        """The ``ChatRequest`` validator (loaded in a worker thread the first time: parsing
        the spec takes about half a second)."""
        if self._request_validator is None:
            from ._spec import schema_validator

            path = self.config.spec_path
            self._request_validator = await anyio.to_thread.run_sync(
                lambda: schema_validator("ChatRequest", path)
            )
        return self._request_validator

    async def load_spec(self) -> None:
        """Parse the spec (in a worker thread, the first time: about a second)."""
        if not self._spec_loaded:
            from ._spec import load_spec

            path = self.config.spec_path
            await anyio.to_thread.run_sync(lambda: load_spec(path))
            self._spec_loaded = True

    async def validate_request(self, request: Request, route: Route) -> None:
        """Raise :class:`HTTPError` 400 if the request violates the spec's operation for the
        route (query parameters, then the JSON body)."""
        from ._spec import operation, query_problem, request_body_validator, validation_error

        await self.load_spec()
        path = self.config.spec_path
        template = route.spec_path or route.path
        if operation(route.method, template, path) is None:
            return
        problem = query_problem(route.method, template, request.query, path)
        if problem is not None:
            raise HTTPError(400, problem)
        validator = request_body_validator(route.method, template, path)
        if validator is not None:
            violation = validation_error(validator, request.json())
            if violation is not None:
                raise HTTPError(400, violation)

    async def sleep(self, seconds: float) -> None:
        """Sleep, but return early when the server starts shutting down."""
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        deadline = anyio.current_time() + seconds
        while not self.closing:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                return
            await anyio.sleep(min(remaining, 0.05))


class Request:
    """One HTTP request, and the means to answer it."""

    __slots__ = (
        "_json",
        "_query",
        "_send",
        "api_key",
        "body",
        "complete",
        "disconnected",
        "extra_headers",
        "headers",
        "key",
        "method",
        "path",
        "path_params",
        "query_string",
        "realistic",
        "received_at",
        "scope",
        "started",
        "state",
        "status",
    )

    def __init__(self, scope: Scope, send: Send, state: EmulatorState, body: bytes) -> None:
        self.scope = scope
        self._send = send
        self.state = state
        self.body = body
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        self.path_params: dict[str, str] = {}
        self.api_key: str | None = None
        #: The account's key that authenticated the request (routes with ``auth``).
        self.key: ApiKey | None = None
        #: ``time.perf_counter()`` when the request arrived (for latencies).
        self.received_at = time.perf_counter()
        self._json: Any = _UNPARSED
        self._query: dict[str, list[str]] | None = None
        #: Response headers sent.
        self.started = False
        #: The last byte of the response was handed to the server.
        self.complete = False
        #: The client went away before the response was complete.
        self.disconnected = False
        self.status = 0
        #: Sent with the response, whatever it is (the rate limit headers).
        self.extra_headers: list[tuple[str, str]] = []
        #: Answer in realistic mode (``EmulatorConfig.realistic``, or the request's
        #: ``X-Emulator-Shape`` header, read by :meth:`EmulatorApp._handle`).
        self.realistic = state.config.realistic

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    def json(self) -> Any:
        """The body parsed as JSON (once), or :class:`HTTPError` 400."""
        if self._json is _UNPARSED:
            try:
                self._json = orjson.loads(self.body)
            except orjson.JSONDecodeError as exc:
                raise HTTPError(400, f"Invalid JSON in request body: {exc}") from None
        return self._json

    def replace_json(self, value: Any) -> None:
        """What :meth:`json` returns from now on (a normalised body)."""
        self._json = value

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or :class:`HTTPError` 400."""
        body = self.json()
        if not isinstance(body, dict):
            raise HTTPError(400, "Request body must be a JSON object")
        return body

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string's parameters (blank values kept)."""
        if self._query is None:
            from urllib.parse import parse_qs

            self._query = parse_qs(self.query_string.decode("latin-1"), keep_blank_values=True)
        return self._query

    def query_value(self, name: str) -> str | None:
        """The last value of a query parameter, or ``None``."""
        values = self.query.get(name)
        return values[-1] if values else None

    async def start_response(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        self.started = True
        self.status = status
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in (*headers, *self.extra_headers)
                ],
            }
        )

    async def write(self, data: bytes) -> None:
        """Send part of the body (more will follow)."""
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, data: bytes = b"") -> None:
        """Send the last part of the body."""
        self.complete = True
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def abort(self) -> None:
        """Close the connection now, without (the rest of) a response, then raise
        :class:`Aborted`. Needs hypercorn's HTTP/1.1 protocol (the server of this package):
        its stream object is the owner of the ASGI ``send`` callable."""
        stream = getattr(self._send, "__self__", None)
        send_event = getattr(stream, "send", None)
        stream_id = getattr(stream, "stream_id", None)
        if send_event is None or stream_id is None:
            raise RuntimeError("this ASGI server cannot drop a connection on demand")
        from hypercorn.protocol.events import StreamClosed

        self.state.stats.connections_dropped += 1
        # As when an app ends without ending its body: the server closes the connection.
        # Shielded: closing tells our disconnect watcher, which cancels this handler.
        with anyio.CancelScope(shield=True):
            await send_event(StreamClosed(stream_id=stream_id))
        raise Aborted

    async def respond(self, response: Response) -> None:
        headers = [*response.headers, ("content-length", str(len(response.body)))]
        protocol = _h11_protocol(self._send)
        if protocol is None:
            await self.start_response(response.status, headers)
            await self.end(response.body)
            return
        # Hypercorn writes the headers and the body to the socket separately (two system
        # calls, two segments for the client to wake up on): gather what its HTTP/1.1
        # protocol writes for this response, and write it at once.
        from hypercorn.events import RawData

        server_send = protocol.send
        pending: list[bytes] = []

        async def flush() -> None:
            # Put the server's own ``send`` back before anything can yield: once the
            # response is written, the connection's next request may start (and answer).
            if protocol.send is gather:
                protocol.send = server_send
            if pending:
                data = b"".join(pending)
                pending.clear()
                await server_send(RawData(data=data))

        async def gather(event: Any) -> None:
            if type(event) is RawData:
                pending.append(event.data)
            else:  # the end of the stream (the connection's next state): keep the order
                await flush()
                await server_send(event)

        protocol.send = gather
        try:
            await self.start_response(response.status, headers)
            await self.end(response.body)
        finally:
            await flush()


_UNPARSED: Any = object()

#: hypercorn's HTTP/1.1 protocol class, once imported (``False``: hypercorn is missing).
_H11_PROTOCOL: Any = None


def _h11_protocol(send: Send) -> Any:
    """The hypercorn HTTP/1.1 protocol (``hypercorn.protocol.h11.H11Protocol``) behind an
    ASGI ``send`` callable (hypercorn's ``HTTPStream.app_send``), or ``None`` (another
    server, another protocol)."""
    global _H11_PROTOCOL
    stream = getattr(send, "__self__", None)
    protocol = getattr(getattr(stream, "send", None), "__self__", None)
    if protocol is None:
        return None
    if _H11_PROTOCOL is None:
        try:
            from hypercorn.protocol.h11 import H11Protocol
        except ImportError:  # pragma: no cover - hypercorn is a dependency
            _H11_PROTOCOL = False
        else:
            _H11_PROTOCOL = H11Protocol
    if _H11_PROTOCOL is False or type(protocol) is not _H11_PROTOCOL:
        return None
    if not callable(getattr(protocol, "send", None)):
        return None
    return protocol


class Aborted(Exception):
    """Raised by :meth:`Request.abort` once the connection is closed: ends the handler."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    #: Needs ``Authorization: Bearer <key>``.
    auth: bool = True
    #: Counted in the stats (``requests``, ``errors``, ``active_requests``).
    counted: bool = True
    pattern: re.Pattern[str] | None = field(default=None, compare=False)
    #: Validated against the spec's operation (when ``validate_requests`` is on and the spec
    #: describes ``method spec_path``).
    validate: bool = True
    #: The spec path of the operation (default: ``path``).
    spec_path: str | None = None
    #: Applied to the parsed JSON body before validation and the handler (leniencies).
    normalize: Callable[[Any], Any] | None = field(default=None, compare=False)
    #: Subject to the per-key rate limits (the generation routes).
    limited: bool = False


_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class EmulatorApp:
    """The ASGI application. ``app.state`` holds the counters and anything later routes
    need; :meth:`add_route` extends it."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.state = EmulatorState(self.config)
        self._exact: dict[str, dict[str, Route]] = {}
        self._patterns: list[Route] = []
        self._startup_hooks: list[Callable[[], None]] = []
        self._register_default_routes()

    # -- routing --------------------------------------------------------------------------

    def add_route(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        auth: bool = True,
        counted: bool = True,
        validate: bool = True,
        spec_path: str | None = None,
        normalize: Callable[[Any], Any] | None = None,
        limited: bool = False,
    ) -> None:
        """Route ``method path`` (path relative to ``/api/v1``; ``{name}`` segments become
        ``request.path_params["name"]``). ``limited``: subject to the rate limits."""
        method = method.upper()
        options: dict[str, Any] = {
            "validate": validate,
            "spec_path": spec_path,
            "normalize": normalize,
            "limited": limited,
        }
        if _PARAM.search(path):
            parts = ["^"]
            position = 0
            for found in _PARAM.finditer(path):
                parts.append(re.escape(path[position : found.start()]))
                parts.append(f"(?P<{found.group(1)}>[^/]+)")
                position = found.end()
            parts.append(re.escape(path[position:]) + "$")
            pattern = re.compile("".join(parts))
            self._patterns.append(Route(method, path, handler, auth, counted, pattern, **options))
        else:
            self._exact.setdefault(path, {})[method] = Route(
                method, path, handler, auth, counted, **options
            )

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, path params, allowed methods if the path exists with other methods)."""
        by_method = self._exact.get(path)
        if by_method is not None:
            route = by_method.get(method)
            if route is not None:
                return route, {}, []
            return None, {}, sorted(by_method)
        allowed: list[str] = []
        for route in self._patterns:
            assert route.pattern is not None
            found = route.pattern.match(path)
            if found is not None:
                if route.method == method:
                    return route, found.groupdict(), []
                allowed.append(route.method)
        return None, {}, sorted(allowed)

    def _register_default_routes(self) -> None:
        from . import (
            _batches,
            _catalogue,
            _completions,
            _credits,
            _embeddings,
            _generations,
            _guardrails,
            _keys,
            _oauth,
            _responses,
        )
        from ._chat import chat_completions

        self.add_route("POST", "/chat/completions", chat_completions, limited=True)
        for module in (
            _completions,
            _responses,
            _embeddings,
            _catalogue,
            _keys,
            _credits,
            _generations,
            _guardrails,
            _oauth,
            _batches,
        ):
            module.register(self)
        self.add_route("GET", "/_emulator/stats", _stats, auth=False, counted=False)
        self.add_route("POST", "/_emulator/reset", _reset, auth=False, counted=False)

    # -- lifespan ---------------------------------------------------------------------------

    def add_startup_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` once the ASGI lifespan startup is complete (the server is about to
        accept connections)."""
        self._startup_hooks.append(hook)

    def remove_startup_hook(self, hook: Callable[[], None]) -> None:
        if hook in self._startup_hooks:
            self._startup_hooks.remove(hook)

    async def startup(self) -> None:
        self.state.closing = False
        if self.config.validate_requests:
            await self.state.load_spec()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    logger.exception("emulator startup failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
                for hook in list(self._startup_hooks):
                    hook()
            elif message["type"] == "lifespan.shutdown":
                self.state.closing = True
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- HTTP ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # websocket and others: not served (returning closes them).

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        route: Route | None = None
        params: dict[str, str] = {}
        allowed: list[str] = []
        if path.startswith(API_PREFIX + "/"):
            route, params, allowed = self._match(scope["method"], path[len(API_PREFIX) :])
        stats = self.state.stats
        counted = route is None or route.counted
        if counted:
            stats.requests += 1
            stats.active_requests += 1
        try:
            read = await self._read_body(receive)
            if read is None:  # the client left while sending the body
                return
            body, too_large = read
            request = Request(scope, send, self.state, body)
            request.path_params = params
            await self._dispatch(request, route, allowed, receive, too_large)
            if counted and request.status >= 400:
                stats.errors += 1
        finally:
            if counted:
                stats.active_requests -= 1

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool] | None:
        """(body, too large), or ``None`` if the client left while sending it."""
        chunks: list[bytes] = []
        size = 0
        limit = self.config.max_body_bytes
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size <= limit:
                    chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if size > limit:
            return b"", True
        return b"".join(chunks), False

    async def _dispatch(
        self,
        request: Request,
        route: Route | None,
        allowed: list[str],
        receive: Receive,
        too_large: bool,
    ) -> None:
        if too_large:
            await request.respond(error_response(413, "Request payload too large"))
        elif route is None:
            if allowed:
                await request.respond(
                    error_response(
                        405,
                        f"Method {request.method} not allowed",
                        headers=[("allow", ", ".join(allowed))],
                    )
                )
            else:
                await request.respond(
                    error_response(404, f"Not found: {request.method} {request.path}")
                )
        elif self._may_wait(request):
            # The handler runs next to a task that watches for the client going away.
            async with anyio.create_task_group() as tg:
                tg.start_soon(_watch_disconnect, request, receive, tg.cancel_scope)
                try:
                    await self._handle(request, route)
                finally:
                    tg.cancel_scope.cancel()
        else:
            # Nothing in the handler waits but the server's sends: no watcher needed (it
            # costs as much as the rest of a short request).
            await self._handle(request, route)

    def _may_wait(self, request: Request) -> bool:
        """Whether the handler may wait (so that a client going away must cancel it): a
        fault (configured, or the request's ``X-Emulator-Fault``), a stream, or the spec's
        first load for validation. Conservative: any body that mentions ``stream`` (or has a
        JSON ``\\u`` escape, which could spell it) counts as a stream."""
        if self.state.fault_plan.items or self.config.validate_requests:
            return True
        body = request.body
        return b"stream" in body or b"\\u" in body or FAULT_HEADER in request.headers

    async def _handle(self, request: Request, route: Route) -> None:
        """Run the handler; turn :class:`HTTPError` (and any other exception) into an error
        response when the response has not started yet."""
        release: Callable[[], None] | None = None
        try:
            shape = request.headers.get(SHAPE_HEADER)
            if shape is not None:
                try:
                    request.realistic = parse_shape(shape)
                except ValueError as exc:
                    raise HTTPError(400, str(exc)) from None
            if route.auth:
                self._authenticate(request)
            limits = self.state.limits
            if route.limited and limits.enabled:
                key = request.key.hash if request.key is not None else ""
                try:
                    request.extra_headers, release = limits.admit(key)
                except HTTPError:
                    self.state.stats.rate_limited += 1
                    raise
            if route.normalize is not None and request.body:
                request.replace_json(route.normalize(request.json()))
            if route.validate and self.config.validate_requests:
                await self.state.validate_request(request, route)
            response = await route.handler(request)
            if response is not None:
                await request.respond(response)
        except HTTPError as error:
            if not request.started:
                await request.respond(error.response())
        except Aborted:
            pass  # the connection is closed: nothing more to send
        except Exception:
            logger.exception("emulator: error in %s %s", request.method, request.path)
            if not request.started:
                await request.respond(error_response(500, "Internal Server Error"))
            # Otherwise the server cuts the connection: the body was not ended.
        finally:
            if release is not None:
                release()

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise HTTPError(401, "Missing Authentication header")
        found = self.state.store.authenticate(key)
        if isinstance(found, str):
            raise HTTPError(401, found)
        request.api_key = key
        request.key = found


async def _watch_disconnect(request: Request, receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not request.complete:
                request.disconnected = True
                scope.cancel()
            return


# -- built-in test routes ------------------------------------------------------------------


def _established_connections(port: int) -> int | None:
    """TCP connections in state ESTABLISHED whose local port is ``port`` (the server side of
    each connection), from ``/proc/net/tcp{,6}``. Linux only; ``None`` elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    count = 0
    readable = False
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name, encoding="ascii") as file:
                lines = file.readlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count if readable else None


def _stats_body(request: Request) -> dict[str, int]:
    body = request.state.stats.snapshot()
    server = request.scope.get("server")
    if server and len(server) >= 2 and isinstance(server[1], int):
        connections = _established_connections(server[1])
        if connections is not None:
            body["active_connections"] = connections
    return body


async def _stats(request: Request) -> Response:
    return json_response(_stats_body(request))


async def _reset(request: Request) -> Response:
    seed: int | None = None
    if request.body.strip():
        body = request.json_object()
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise HTTPError(400, "Invalid parameter seed: an integer")
    request.state.stats.reset()
    request.state.reseed(seed)
    return json_response(_stats_body(request))


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
