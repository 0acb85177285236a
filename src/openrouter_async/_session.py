"""The Session: one per event loop, the actor every call goes through.

It owns a task group, the HTTP client (and under it the connection pool of the transport
chosen for the running backend), the auth and attribution headers, the timeouts, the retry
policy and the debug log. Callers hand it requests — frozen attrs value objects — and get
typed results back, or, for streams, an :class:`AsyncStream` of typed chunks.

    async with Session(api_key=...) as session:
        result = await session.send(ChatRequest(model=..., messages=[...]))
        async with session.stream(ChatRequest(..., stream=True)) as chunks:
            async for chunk in chunks: ...
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ._attach import Group
from ._chat import chat_request, parse_chat_event
from ._config import RetryConfig, Timeouts
from ._exchange import Exchange, ExchangeView
from ._groups import SESSION_GROUPS
from ._limiter import Limiter
from ._logging import redact_url
from ._options import DEFAULT_BASE_URL, ApiKey, ClientOptions, OptionArgs, ViewArgs, view_defaults
from ._sse import ServerSentEvent
from ._streams import AsyncStream, Skip

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from typing_extensions import Unpack

    from ._chat_group import AsyncChatGroup
    from ._groups import AsyncBetaNamespace
    from ._map import MapRun
    from .models import ChatRequest, ChatResult, ChatStreamChunk
    from .resources._analytics import AsyncAnalytics
    from .resources._api_keys import AsyncApiKeys
    from .resources._batch import AsyncBatch
    from .resources._benchmarks import AsyncBenchmarks
    from .resources._byok import AsyncByok
    from .resources._classifications import AsyncClassifications
    from .resources._completions import AsyncCompletions
    from .resources._credits import AsyncCredits
    from .resources._datasets import AsyncDatasets
    from .resources._embeddings import AsyncEmbeddings
    from .resources._endpoints import AsyncEndpoints
    from .resources._files import AsyncFiles
    from .resources._generations import AsyncGenerations
    from .resources._guardrails import AsyncGuardrails
    from .resources._images import AsyncImages
    from .resources._messages import AsyncMessages
    from .resources._models import AsyncModels
    from .resources._o_auth import AsyncOAuth
    from .resources._observability import AsyncObservability
    from .resources._organization import AsyncOrganization
    from .resources._presets import AsyncPresets
    from .resources._providers import AsyncProviders
    from .resources._rerank import AsyncRerank
    from .resources._responses import AsyncResponses
    from .resources._scim import AsyncScim
    from .resources._stt import AsyncStt
    from .resources._tts import AsyncTts
    from .resources._video_generation import AsyncVideoGeneration
    from .resources._workspaces import AsyncWorkspaces

__all__ = ["DEFAULT_BASE_URL", "ApiKey", "Session"]

T = TypeVar("T")


class Session:
    """An async OpenRouter session; use it as ``async with Session(...) as session``.

    Options (``_options.OptionArgs``) carry the official SDK's names where it has one
    (``server_url``, ``timeout_ms``, ``retry_config``, ``http_headers``, ``debug_logger``,
    ``http_referer``, ``x_open_router_title``). ``client=`` takes your own
    ``httpx.AsyncClient`` (then its pool, timeouts and transport are yours; we only add our
    headers per request) and ``transport=`` your own httpx transport; otherwise the fastest
    transport for the running backend is used. ``Session(options)`` takes a
    :class:`~openrouter_async._options.ClientOptions` built already.

    Rate limits (``session.limiter``, see ``_limiter.py``): ``max_concurrency`` caps the calls
    in flight (adapted down on 429s and back up while calls succeed, unless
    ``adaptive_concurrency=False``), ``rpm`` / ``tpm`` pace requests and tokens per minute.
    Whatever is configured, a 429 makes every call of the Session wait out its Retry-After.

    The network, as httpx has it: ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` /
    ``NO_PROXY`` and ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are honoured unless
    ``trust_env=False``; ``proxy=`` (a URL or an ``httpx.Proxy``) sends everything through one
    proxy; ``verify=`` is a CA bundle path, an ``ssl.SSLContext``, or ``False``. Redirects are
    followed as ``_redirects.py`` says (never carrying the key to another host). With a
    ``client=`` or ``transport=`` of your own, set the proxy and TLS there (giving ``proxy=`` or
    ``verify=`` too is an error). Header values that cannot be sent are refused here, before
    any request (``HeaderValueError``).
    """

    # The API's groups, attached by composition (``_attach.py``): each builds its generated
    # group object on first access.
    analytics: Group[AsyncAnalytics] = Group(SESSION_GROUPS)
    api_keys: Group[AsyncApiKeys] = Group(SESSION_GROUPS)
    batch: Group[AsyncBatch] = Group(SESSION_GROUPS)
    benchmarks: Group[AsyncBenchmarks] = Group(SESSION_GROUPS)
    byok: Group[AsyncByok] = Group(SESSION_GROUPS)
    chat: Group[AsyncChatGroup] = Group(SESSION_GROUPS, where=("._chat_group", "AsyncChatGroup"))
    classifications: Group[AsyncClassifications] = Group(SESSION_GROUPS)
    completions: Group[AsyncCompletions] = Group(SESSION_GROUPS)
    credits: Group[AsyncCredits] = Group(SESSION_GROUPS)
    datasets: Group[AsyncDatasets] = Group(SESSION_GROUPS)
    embeddings: Group[AsyncEmbeddings] = Group(SESSION_GROUPS)
    endpoints: Group[AsyncEndpoints] = Group(SESSION_GROUPS)
    files: Group[AsyncFiles] = Group(SESSION_GROUPS)
    generations: Group[AsyncGenerations] = Group(SESSION_GROUPS)
    guardrails: Group[AsyncGuardrails] = Group(SESSION_GROUPS)
    images: Group[AsyncImages] = Group(SESSION_GROUPS)
    messages: Group[AsyncMessages] = Group(SESSION_GROUPS)
    models: Group[AsyncModels] = Group(SESSION_GROUPS)
    o_auth: Group[AsyncOAuth] = Group(SESSION_GROUPS)
    observability: Group[AsyncObservability] = Group(SESSION_GROUPS)
    organization: Group[AsyncOrganization] = Group(SESSION_GROUPS)
    presets: Group[AsyncPresets] = Group(SESSION_GROUPS)
    providers: Group[AsyncProviders] = Group(SESSION_GROUPS)
    rerank: Group[AsyncRerank] = Group(SESSION_GROUPS)
    responses: Group[AsyncResponses] = Group(SESSION_GROUPS)
    scim: Group[AsyncScim] = Group(SESSION_GROUPS)
    stt: Group[AsyncStt] = Group(SESSION_GROUPS)
    tts: Group[AsyncTts] = Group(SESSION_GROUPS)
    video_generation: Group[AsyncVideoGeneration] = Group(SESSION_GROUPS)
    workspaces: Group[AsyncWorkspaces] = Group(SESSION_GROUPS)
    beta: Group[AsyncBetaNamespace] = Group(SESSION_GROUPS)

    def __init__(self, options: ClientOptions | None = None, /, **args: Unpack[OptionArgs]) -> None:
        if options is None:
            options = ClientOptions.from_args(**args)
        elif args:
            raise TypeError("give ClientOptions or keyword options, not both")
        # The chat accumulator registers itself with the operations when imported: every
        # chat stream then has get_final_completion(). Here, not at the top: importing the
        # Session stays as cheap as it was (the operations load with the first Session).
        from . import _accumulate  # noqa: F401

        self.options = options
        #: the core every exchange of this Session goes through (``_exchange.py``)
        self.exchange: Exchange | ExchangeView = Exchange(options)
        self._root = self  # the Session a with_options view is of
        self._groups: dict[str, Any] = {}  # session.<group> objects, built on first use
        self._service: TaskGroup | None = None  # background work (a bare `async for` map)
        self._exit_stack: AsyncExitStack | None = None

    def with_options(self, **overrides: Unpack[ViewArgs]) -> Session:
        """A view of this Session with other defaults for its calls (openai's
        ``with_options``): ``timeout_ms`` / ``timeout`` (seconds), ``retries`` /
        ``retry_config`` / ``max_retries``, ``http_headers`` (over the Session's),
        ``server_url``. It shares the pool, the gate, the counters and the lifetime: open and
        close the Session itself; the view is ready whenever the Session is."""
        view = Session.__new__(Session)
        view.options = self.options
        view.exchange = self.exchange.view(view_defaults(self.retry_config, **overrides))
        view._root = self._root
        view._groups = {}
        view._service = None
        view._exit_stack = None
        return view

    def __repr__(self) -> str:
        # Never the key: only whether one is configured.
        key = "set" if self.options.api_key else "missing"
        state = "open" if self.exchange.is_open else "closed"
        return f"<Session {redact_url(self.base_url)} api_key={key} {state}>"

    @property
    def base_url(self) -> str:
        return self.exchange.base_url

    @property
    def timeouts(self) -> Timeouts:
        return self.exchange.timeouts

    @property
    def retry_config(self) -> RetryConfig:
        return self.exchange.retry_config

    @property
    def limiter(self) -> Limiter:
        """The rate-limit-aware gate every call passes (see ``_limiter.py``)."""
        return self.exchange.limiter

    @property
    def retries_made(self) -> int:
        """Retries made by this Session's calls so far."""
        return self.exchange.retries_made

    @property
    def backend(self) -> str | None:
        """``"asyncio"`` or ``"trio"`` once open."""
        return self.exchange.backend

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        if self._root is not self:
            raise RuntimeError(
                "a with_options() view shares its Session's lifetime: open the Session itself"
            )
        if self._exit_stack is not None:
            raise RuntimeError("this Session is already open")
        stack = AsyncExitStack()
        await stack.enter_async_context(self._running())
        self._exit_stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            await stack.aclose()  # the caller's exception propagates from here as it is
        return None

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """The Session's scope: the exchange (the pool) and a task group for background work,
        both opened and closed by ``async with``; background work ends with the Session."""
        caught: BaseException | None = None
        assert isinstance(self.exchange, Exchange)  # a view is never opened
        async with self.exchange.running(), anyio.create_task_group() as service:
            self._service = service
            try:
                yield
            except BaseException as error:
                caught = error  # raised as it is below, not wrapped in an ExceptionGroup
            finally:
                self._service = None
                service.cancel_scope.cancel()
        if caught is not None:
            raise caught

    # -- chat ------------------------------------------------------------------------------

    async def send(
        self,
        request: ChatRequest,
        *,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """Send a non-streaming chat request; return the typed :class:`ChatResult`.

        ``extra_body`` / ``extra_query`` / ``extra_headers`` are merged into what is sent
        after the request was validated (openai-python's semantics)."""
        from .models import ChatResult

        body, params, http_headers = chat_request(
            "send", request, http_headers, extra_body, extra_query, extra_headers
        )
        return await self.exchange.json(
            "POST",
            "/chat/completions",
            ChatResult,
            body=body,
            params=params,
            timeout_ms=timeout_ms,
            retries=retries,
            http_headers=http_headers,
        )

    def stream(
        self,
        request: ChatRequest,
        *,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> AbstractAsyncContextManager[AsyncStream[ChatStreamChunk]]:
        """Open a streaming chat request: ``async with session.stream(req) as chunks:``.

        ``stream=True`` is set on the request if it was not. HTTP errors raise when the block
        is entered; a mid-stream error event raises :class:`ChatError` from the iteration.
        """
        return self._streaming(
            request,
            timeout_ms=timeout_ms,
            retries=retries,
            http_headers=http_headers,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
        )

    @asynccontextmanager
    async def _streaming(
        self, request: ChatRequest, **options: Any
    ) -> AsyncIterator[AsyncStream[ChatStreamChunk]]:
        stream = await self.open_chat_stream(request, **options)
        async with stream.reading_ahead():  # the producer's task group, this block's own
            yield stream

    async def open_chat_stream(
        self,
        request: ChatRequest,
        *,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> AsyncStream[ChatStreamChunk]:
        """Send a streaming chat request and return the stream once its headers arrived."""
        body, params, http_headers = chat_request(
            "stream", request, http_headers, extra_body, extra_query, extra_headers
        )
        from ._accumulate import CHAT_STREAM

        return await self.exchange.stream(
            "POST",
            "/chat/completions",
            parse_chat_event,
            body=body,
            params=params,
            timeout_ms=timeout_ms,
            retries=retries,
            http_headers=http_headers,
            helpers=CHAT_STREAM,  # text_stream, get_final_completion()
        )

    # -- any operation by method and path ----------------------------------------------------

    async def request_json(
        self,
        method: str,
        path: str,
        response_type: type[T],
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
    ) -> T:
        """A JSON operation by method and path (``body`` as JSON bytes): the exchange every
        generated operation makes, for one the spec does not have (yet)."""
        return await self.exchange.json(
            method,
            path,
            response_type,
            body=body,
            params=params,
            timeout_ms=timeout_ms,
            retries=retries,
            http_headers=http_headers,
        )

    async def request_stream(
        self,
        method: str,
        path: str,
        parse_event: Callable[[ServerSentEvent], T | Skip],
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        timeout_ms: int | float | None = None,
        retries: RetryConfig | None = None,
        http_headers: Mapping[str, str] | None = None,
        sentinel: str | None = "[DONE]",
    ) -> AsyncStream[T]:
        """A streaming operation by method and path; ``parse_event`` turns one event into a
        chunk (or ``SKIP``). Retried only until the headers arrive, never after."""
        return await self.exchange.stream(
            method,
            path,
            parse_event,
            body=body,
            params=params,
            timeout_ms=timeout_ms,
            retries=retries,
            http_headers=http_headers,
            sentinel=sentinel,
        )

    # -- fan-out -----------------------------------------------------------------------------

    def map(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        call: Callable[[Session, Any], Awaitable[Any]] | None = None,
        ordered: bool = False,
        concurrency: int = 64,
    ) -> MapRun[Any]:
        """Send many requests with at most ``concurrency`` in flight; yield a
        :class:`MapResult` per request as each finishes (in input order with ``ordered=True``).

        ``async with session.map(requests) as results: async for result in results:`` runs
        the map's tasks in your block (preferred); a plain ``async for result in
        session.map(requests):`` works too (see ``_map.py`` for how each runs).

        ``requests`` may be any iterable or async iterable, read lazily. By default each
        request is a chat request (a :class:`ChatRequest` or a dict body) sent with
        :meth:`send`; pass ``call=`` (``async (session, request) -> result``) for any other
        operation. A failed call is a result with ``.error``, never the end of the map.
        Leaving the loop early: leave the ``async with`` block, or ``aclose()`` the map (or
        let it be collected) to cancel the calls in flight.
        """
        from ._map import MapRun

        return MapRun(
            self,
            requests,
            call=call,
            ordered=ordered,
            concurrency=concurrency,
            service=self._root._service,
        )
