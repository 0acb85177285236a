"""A local emulator of the OpenRouter API, served over real HTTP, for tests and offline work.

A hand-written ASGI app (no framework) served by hypercorn on asyncio or trio::

    from openrouter_async.emulator import serve_in_thread, run_emulator

    with serve_in_thread() as base_url:  # "http://127.0.0.1:<port>/api/v1"
        ...  # any client, any thread

    async with run_emulator() as base_url:  # in the current asyncio or trio loop
        ...

or ``openrouter-async emulator --port 8080`` (:func:`main`).

Routes (under ``/api/v1``)
--------------------------
``POST /chat/completions``
    Needs ``Authorization: Bearer <key>`` (401 ``Missing Authentication header`` without it;
    401 for a key the account does not have: one of ``EmulatorConfig.api_keys`` or created
    since, when ``api_keys`` is set; a disabled or deleted one). 400 for a body that is not
    a JSON object, or without ``model`` or ``messages``; with
    ``EmulatorConfig.validate_requests``, 400 for any violation of the spec's
    ``ChatRequest`` schema. The answer is deterministic (see :mod:`._chat`): an echo of the
    last user message (8 tokens by default, ``max_tokens`` tokens if given), a tool call
    when function ``tools`` are given, a sentence quoting a tool result, JSON for
    ``response_format``. ``stream: true`` gives ``text/event-stream``: a
    ``: OPENROUTER PROCESSING`` comment, chunks (more keep-alive comments interleaved), a
    chunk with ``finish_reason``, a usage chunk with ``choices: []``, then ``data: [DONE]``.
    Both carry an ``X-Generation-Id`` header. Errors are OpenRouter's body
    ``{"error": {"code": <int>, "message": <str>, "metadata"?: {...}}}``.
``POST /completions``, ``POST /responses``, ``POST /embeddings``
    Legacy text completions (:mod:`._completions`; not in the spec), the Responses API
    (:mod:`._responses`; ``StreamEvents`` when streamed) and deterministic embeddings
    (:mod:`._embeddings`), with the same faults as chat.
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
``/guardrails...``, ``POST /auth/keys/code``, ``POST /auth/keys``
    Guardrails and their key/member assignments (:mod:`._guardrails`); the OAuth PKCE flow
    (:mod:`._oauth`).

All state lives in memory per app instance (:mod:`._state`, which also describes what is
seeded for the product description's examples: the key hashes, generation id and OAuth code
they use). With ``EmulatorConfig.validate_requests``, every request to a route the spec
describes is validated against that operation (query parameters and JSON body): 400 with
the violation.
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
    - ``active_connections`` (Linux only): TCP connections established to the emulator's
      port right now, read from ``/proc/net/tcp``, *including the one asking*.
``POST /_emulator/reset``
    Zeroes the cumulative counters (not the ``active_*`` ones); returns the stats.

Fault injection: the ``X-Emulator-Fault`` request header
--------------------------------------------------------
Grammar (case-insensitive names, spaces ignored; values cannot contain ``,`` or ``;``)::

    header = fault *( "," fault )
    fault  = name [ "=" value ] *( ";" param "=" value )

``status=<code>[;retry-after=<value>][;message=<text>]``
    Answer with HTTP ``<code>`` (400-599; e.g. 400 401 402 403 404 408 413 422 429 500 502
    503 524 529) and OpenRouter's error body, with the ``Retry-After`` header if given.
    502/529 carry ``metadata: {provider_name, raw}``, 403 moderation ``metadata``.
``error-200[=<code>][;message=<text>]``
    Status 200 whose body is ``{"error": {"code": <code, default 502>, ...}}`` (even for a
    stream request).
``delay-ms=<n>``
    Wait n ms before the response headers (max 120000).
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
    After ``after`` content chunks (default 2), close the connection without ending the
    body (an incomplete chunked body). Non-stream: half the body (``Content-Length`` is the
    full size), then the connection is cut.

Faults combine with ``,``: ``tokens=1000,token-delay-ms=5``, ``delay-ms=200,status=503``.
An unknown fault or parameter is answered with 400 (a typo fails loudly). Order of effects:
``delay-ms``, then ``status``, then ``error-200``, then the answer with the others.
"""

from __future__ import annotations

from ._app import EmulatorApp, EmulatorConfig, EmulatorState, EmulatorStats
from ._server import main, run_emulator, serve_in_thread

__all__ = [
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorState",
    "EmulatorStats",
    "create_app",
    "main",
    "run_emulator",
    "serve_in_thread",
]


def create_app(config: EmulatorConfig | None = None) -> EmulatorApp:
    """The emulator's ASGI application (serve it with any ASGI server, or with
    :func:`serve_in_thread` / :func:`run_emulator` via their ``app`` argument)."""
    return EmulatorApp(config)
