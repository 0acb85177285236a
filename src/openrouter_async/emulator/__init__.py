"""A local emulator of the OpenRouter API, served over real HTTP, for tests and offline work.

A hand-written ASGI app (no framework) served by hypercorn on asyncio or trio::

    from openrouter_async.emulator import EmulatorConfig, serve, serve_in_thread

    with serve_in_thread() as base_url:  # "http://127.0.0.1:<port>/api/v1"
        ...  # any client, any thread

    async with serve() as base_url:  # in the current asyncio or trio loop
        ...

    async with anyio.create_task_group() as tg:
        async with serve(EmulatorConfig(rate_limit_rpm=60), task_group=tg) as base_url:
            ...  # hypercorn runs as a task of tg; leaving the block stops it

or ``openrouter-async emulator --port 8080 [--seed FILE] [--faults ...]`` (:func:`main`),
or, in a project that installs this package, the pytest fixtures ``openrouter_emulator``
and ``openrouter_emulator_url`` (:mod:`.pytest_plugin`). ``run_emulator`` is the former
name of :func:`serve`.

Routes (under ``/api/v1``)
--------------------------
``POST /chat/completions``
    Needs ``Authorization: Bearer <key>`` (401 ``Missing Authentication header`` without it;
    401 for a key the account does not have: one of ``EmulatorConfig.api_keys`` or created
    since, when ``api_keys`` is set; a disabled or deleted one). 400 for a body that is not
    a JSON object, or without ``model`` or ``messages``; with
    ``EmulatorConfig.validate_requests``, 400 for any violation of the spec's
    ``ChatRequest`` schema. The model and provider are chosen as OpenRouter does (see
    :mod:`._routing`): ``model`` then the ``models`` fallbacks (the first the catalogue has
    serves, and is the answer's ``model``); the ``provider`` preferences (``order``,
    ``only``, ``ignore``, ``sort``, ``allow_fallbacks``, ``zdr``, ``require_parameters``,
    ``quantizations``, ``max_price``) pick the endpoint, whose provider is the answer's
    ``provider`` and the generation's ``provider_name`` (nothing left: 404). The answer is
    deterministic (see :mod:`._chat`): an echo of the last user message (8 tokens by
    default, ``max_tokens`` tokens if given), a tool call when function ``tools`` are given
    (arguments built from the tool's parameters schema), a sentence quoting a tool result,
    for ``response_format`` ``json_object`` a JSON object, for ``json_schema`` a JSON
    document valid against the schema (:mod:`._instances`). ``stream: true`` gives
    ``text/event-stream``: a ``: OPENROUTER PROCESSING`` comment, chunks (more keep-alive
    comments interleaved), a chunk with ``finish_reason``, a usage chunk with
    ``choices: []``, then ``data: [DONE]``.
    Both carry an ``X-Generation-Id`` header. Errors are OpenRouter's body
    ``{"error": {"code": <int>, "message": <str>, "metadata"?: {...}}}``.
``POST /completions``, ``POST /responses``, ``POST /embeddings``
    Legacy text completions (:mod:`._completions`; not in the spec), the Responses API
    (:mod:`._responses`; ``StreamEvents`` when streamed) and deterministic embeddings
    (:mod:`._embeddings`), with the same routing, guardrails, rate limits and faults as
    chat (embeddings are never streamed).
``GET /models`` (also ``/count``, ``/user``), ``/model/{author}/{slug}``, ...
    A small catalogue of models and providers (:mod:`._catalogue`): also
    ``/models/{author}/{slug}/endpoints``, ``/endpoints/zdr``, ``/providers``,
    ``/embeddings/models``; public except ``/models/user``.
``/keys``, ``/keys/{hash}``, ``GET /key``, ``GET /credits``, ``POST /credits/coinbase``
    The account's keys (created keys authenticate; usage grows with what each call costs;
    a key whose ``limit`` is used up gets 402), its credits, and the deprecated Coinbase
    charge (:mod:`._keys`, :mod:`._credits`).
``GET /generation?id=``, ``GET /activity``
    Every chat, completions, responses and embeddings call is recorded (:mod:`._generations`).
``/batches``, ``/batches/{id}``
    OpenRouter's Batch API (not in the spec; described by the codegen overlay), served by
    :mod:`._batches`: ``POST`` (202, ``validating``), ``GET`` (results once terminal), the
    listing (newest first, ``after`` / ``last_id`` / ``has_more``), ``DELETE`` (409 before a
    terminal status). A batch runs its requests through the chat, responses and embeddings
    handlers above (``/v1/messages`` through chat, shaped as a ``MessagesResult``), at the
    pace of ``EmulatorConfig.batch_validation_seconds`` / ``batch_seconds_per_request``
    (``batch_window_seconds``: ``expired``), charged at ``batch_price_factor`` (0.5).
    ``POST /_emulator/batches/{id}/finish`` ends one as ``cancelled``, ``expired`` or
    ``failed`` (tests).
``/guardrails...``, ``POST /auth/keys/code``, ``POST /auth/keys``
    Guardrails and their key/member assignments (:mod:`._guardrails`); the OAuth PKCE flow
    (:mod:`._oauth`). A guardrail assigned to a key directly is enforced on the key's
    generation requests: a model outside its ``allowed_models`` / in its
    ``ignored_models``, or a model none of whose providers its ``allowed_providers``,
    ``ignored_providers`` and ``enforce_zdr*`` leave, is refused with 403 (metadata
    ``guardrail_id``; 404 on ``/embeddings``, for which the spec lists no 403); once the key
    has spent the guardrail's ``limit_usd``, 402.

All state lives in memory per app instance (:mod:`._state`, which also describes what is
seeded for the product description's examples: the key hashes, generation id and OAuth code
they use). More can be seeded from a JSON or YAML file (``EmulatorConfig.seed_file``,
``--seed FILE``) or from Python (``EmulatorConfig.seed_data``, ``store.seed(...)``): keys,
credits, guardrails; the format is in :mod:`._seed`. With
``EmulatorConfig.validate_requests``, every request to a route the spec describes is
validated against that operation (query parameters and JSON body): 400 with the violation.
``GET /_emulator/stats``
    JSON counters (no auth), for tests to prove nothing leaks:

    - ``requests``: API requests received (all routes but ``/_emulator/*``), errors included;
    - ``errors``: API responses with a status >= 400;
    - ``active_requests``: API requests still being handled (streams included);
    - ``active_streams``: SSE responses open right now — drops back to 0 as soon as a
      client closes a stream early (the ASGI ``http.disconnect`` cancels the handler);
    - ``streams_started``, ``streams_completed`` (sent to the end), ``streams_disconnected``
      (the client left before the end), ``streams_dropped`` (cut by the ``drop`` fault or by
      a server shutdown);
    - ``rate_limited`` (429 from the rate limits), ``faulted`` (generation requests that
      got a fault), ``connections_dropped`` (``drop-before-headers``);
    - ``batches_created`` (``POST /batches`` answered 202), ``batch_requests`` (requests
      of batches run);
    - ``active_connections`` (Linux only): TCP connections established to the emulator's
      port right now, read from ``/proc/net/tcp``, *including the one asking*.
``POST /_emulator/reset``
    Zeroes the cumulative counters (not the ``active_*`` ones) and re-seeds the fault
    generator (with the body's ``{"seed": <int>}`` if given, else
    ``EmulatorConfig.fault_seed``); returns the stats.

Realistic mode: ``EmulatorConfig.realistic`` and ``X-Emulator-Shape``
--------------------------------------------------------------------
By default the answers follow the spec to the letter. With ``EmulatorConfig.realistic``
(``--realistic``), they look like real OpenRouter's where those depart from it
(:mod:`._realistic`, whose tables come from recorded real responses): required fields left
out (``system_fingerprint``, empty tool-call ``arguments``, a stream's upstream costs, the
catalogue's ``total_count``, ``links``, ``supported_voices``...), fields the spec lacks added
(provider-native ``native_finish_reason``, a tool call's ``index``, ``system_fingerprint:
null`` in chunks...), whitespace before non-streamed JSON (sent while a slow answer is
generated), the usage chunk repeating the finish choice, and named SSE events (``event:
ping``, ``event: openrouter.metadata``) among the chunks. A request's ``X-Emulator-Shape:
realistic`` or ``strict`` header overrides the config for that request (anything else: 400).

Rate limits
-----------
``EmulatorConfig.rate_limit_rpm`` (requests per ``rate_limit_window_s``, 60 s by default)
and ``rate_limit_concurrency`` limit each key's generation requests (chat, completions,
responses, embeddings); both are off by default. Beyond them: 429 with OpenRouter's error
body (``metadata.headers`` repeating the headers), ``Retry-After`` (seconds), and
``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (milliseconds
since the epoch), which every response of those routes also carries while a limit is on
(:mod:`._limits`). ``GET /key`` shows the per-window limit in ``rate_limit``.

Fault injection: ``X-Emulator-Fault`` and ``EmulatorConfig.faults``
-------------------------------------------------------------------
The generation routes take faults from two places: ``EmulatorConfig.faults`` (or
``--faults``), applied to every request, then the request's ``X-Emulator-Fault`` header,
whose items override the config's (its ``none`` item clears them). Grammar (case-insensitive
names, spaces ignored; values cannot contain ``,`` or ``;``)::

    faults = fault *( "," fault )
    fault  = name [ "=" value ] *( ";" param "=" value )

Every fault takes the parameter ``p=<probability>`` (``0``-``1``, or a percentage ``5%``):
it then applies to a request with that probability. The draws come from one generator per
app, seeded with ``EmulatorConfig.fault_seed`` (``--fault-seed``; re-seeded by ``POST
/_emulator/reset``): the same seed and the same sequence of requests give the same
sequence of faults, so a soak run is reproducible. Each item with ``p`` below 1 draws one
number per request, whether it applies or not.

``status=<code>[;retry-after=<value>][;message=<text>]``
    Answer with HTTP ``<code>`` (400-599; e.g. 400 401 402 403 404 408 413 422 429 500 502
    503 524 529) and OpenRouter's error body, with the ``Retry-After`` header if given.
    502/529 carry ``metadata: {provider_name, raw}``, 403 moderation ``metadata``.
``error-200[=<code>][;message=<text>]``
    Status 200 whose body is ``{"error": {"code": <code, default 502>, ...}}`` (even for a
    stream request).
``delay-ms=<n>``
    Wait n ms before the response headers (max 120000).
``ttft-ms=<n>`` (also ``time-to-first-token-ms``)
    Time to first token: a stream sends its headers and the ``: OPENROUTER PROCESSING``
    comment at once, then waits n ms before the first chunk; a non-stream answer waits n ms
    before answering.
``token-delay-ms=<n>``
    Wait n ms between two chunks of a stream (each chunk is then its own write); for a
    non-stream request, wait n ms per token before answering.
``tokens=<n>``
    The answer has n content chunks (1-100000); ``max_tokens`` smaller than n truncates it
    with ``finish_reason: "length"``.
``stall[=<seconds>]``
    Send the headers, then only ``: OPENROUTER PROCESSING`` comments every 50 ms, never
    data, for the given time (default 30, max 300; ends early when the server shuts down);
    then the stream ends without ``[DONE]``. Non-stream: headers, then nothing, then the
    connection is cut.
``mid-stream-error[=<after>][;code=<code>][;message=<text>]``
    After ``after`` content chunks (default 2), send
    ``data: {..., "error": {"code": 502, "message": "Provider disconnected"},
    "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}``, then
    end the stream (no ``[DONE]``). Non-stream: like ``error-200``.
``drop[=<after>]``
    Connection dropped mid-stream / mid-body: after ``after`` content chunks (default 2),
    close the connection without ending the body (an incomplete chunked body, between two
    events). Non-stream: half the body (``Content-Length`` is the full size), then the
    connection is cut.
``drop-mid-event[=<after>]``
    Like ``drop``, but the stream is cut in the middle of the next event.
``drop-before-headers``
    Close the connection before sending anything: no status line, no headers (the client
    sees the server disconnect without a response). Needs hypercorn (the server of
    :func:`serve` and :func:`serve_in_thread`).
``malformed-json[=<after>]``
    Stream: after ``after`` content chunks (default 2), one ``data:`` event whose JSON is cut
    short; the stream then goes on to ``[DONE]``. Non-stream: status 200, a JSON body cut in
    half (with a matching ``Content-Length``).
``none``
    Clear the faults set before it (``EmulatorConfig.faults``, for this request).

Faults combine with ``,``: ``tokens=1000,token-delay-ms=5``, ``delay-ms=200,status=503``,
``status=503;p=0.1,drop=3;p=0.02,ttft-ms=200``. An unknown fault or parameter is answered
with 400 (a typo fails loudly; in ``EmulatorConfig.faults`` it is a ``ValueError``). Order
of effects: ``delay-ms``, then ``drop-before-headers``, then ``status``, then
``error-200``, then the answer with the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import EmulatorApp, EmulatorConfig, EmulatorState, EmulatorStats
    from ._server import main, run_emulator, serve, serve_in_thread

__all__ = [
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorState",
    "EmulatorStats",
    "create_app",
    "main",
    "run_emulator",
    "serve",
    "serve_in_thread",
]

# Names load on first use: importing this package (as the pytest plugin does in every test
# run of a project that installs us) costs nothing until the emulator is used.
_LAZY = {
    "EmulatorApp": "._app",
    "EmulatorConfig": "._app",
    "EmulatorState": "._app",
    "EmulatorStats": "._app",
    "main": "._server",
    "run_emulator": "._server",
    "serve": "._server",
    "serve_in_thread": "._server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def create_app(config: EmulatorConfig | None = None) -> EmulatorApp:
    """The emulator's ASGI application (serve it with any ASGI server, or with
    :func:`serve` / :func:`serve_in_thread` via their ``app`` argument)."""
    from ._app import EmulatorApp

    return EmulatorApp(config)
