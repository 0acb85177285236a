"""``OpenRouter``: the facade the product description uses, sync and async.

- ``with OpenRouter(...) as client:`` — sync. A Session runs in a portal thread (its own event
  loop, asyncio by default or trio with ``backend="trio"``); ``client.chat.send(...)`` is a
  portal call. Safe from many threads at once and from inside a running event loop.
- ``async with OpenRouter(...) as client:`` — async, on the caller's own loop (asyncio or
  trio); ``await client.chat.send_async(...)``.

A client used for sync calls without ``with`` starts its portal on the first call; ``close()``
(or interpreter exit) stops it. A closed client stays closed: a call after ``close()`` or
after its block raises :class:`~openrouter_async.errors.ClientClosedError` (as httpx does).
After ``os.fork()`` a client used in the parent starts a portal and a pool of its own in the
child on its next sync call; it never waits on the parent's portal thread.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack, ExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx

from ._attach import Group
from ._groups import CLIENT_GROUPS
from ._logging import redact_url
from ._options import ClientOptions, OptionArgs, ViewArgs, view_defaults
from ._portal import PortalThread
from ._session import Session
from .errors import ClientClosedError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._chat_group import ChatGroup
    from ._groups import BetaNamespace
    from ._map import MapRun, SyncMap
    from .resources._analytics import Analytics
    from .resources._api_keys import ApiKeys
    from .resources._batch import Batch
    from .resources._benchmarks import Benchmarks
    from .resources._byok import Byok
    from .resources._classifications import Classifications
    from .resources._completions import Completions
    from .resources._credits import Credits
    from .resources._datasets import Datasets
    from .resources._embeddings import Embeddings
    from .resources._endpoints import Endpoints
    from .resources._files import Files
    from .resources._generations import Generations
    from .resources._guardrails import Guardrails
    from .resources._images import Images
    from .resources._messages import Messages
    from .resources._models import Models
    from .resources._o_auth import OAuth
    from .resources._observability import Observability
    from .resources._organization import Organization
    from .resources._presets import Presets
    from .resources._providers import Providers
    from .resources._rerank import Rerank
    from .resources._responses import Responses
    from .resources._scim import Scim
    from .resources._stt import Stt
    from .resources._tts import Tts
    from .resources._video_generation import VideoGeneration
    from .resources._workspaces import Workspaces

__all__ = ["OpenRouter"]

T = TypeVar("T")


class OpenRouter:
    """The OpenRouter client. Options as in the official SDK (``_options.OptionArgs``; see
    :class:`Session`); ``async_client=`` is the official SDK's name for ``client=``."""

    # The API's groups, attached by composition (``_attach.py``): each builds its generated
    # group object on first access.
    analytics: Group[Analytics] = Group(CLIENT_GROUPS)
    api_keys: Group[ApiKeys] = Group(CLIENT_GROUPS)
    batch: Group[Batch] = Group(CLIENT_GROUPS)
    benchmarks: Group[Benchmarks] = Group(CLIENT_GROUPS)
    byok: Group[Byok] = Group(CLIENT_GROUPS)
    chat: Group[ChatGroup] = Group(CLIENT_GROUPS, where=("._chat_group", "ChatGroup"))
    classifications: Group[Classifications] = Group(CLIENT_GROUPS)
    completions: Group[Completions] = Group(CLIENT_GROUPS)
    credits: Group[Credits] = Group(CLIENT_GROUPS)
    datasets: Group[Datasets] = Group(CLIENT_GROUPS)
    embeddings: Group[Embeddings] = Group(CLIENT_GROUPS)
    endpoints: Group[Endpoints] = Group(CLIENT_GROUPS)
    files: Group[Files] = Group(CLIENT_GROUPS)
    generations: Group[Generations] = Group(CLIENT_GROUPS)
    guardrails: Group[Guardrails] = Group(CLIENT_GROUPS)
    images: Group[Images] = Group(CLIENT_GROUPS)
    messages: Group[Messages] = Group(CLIENT_GROUPS)
    models: Group[Models] = Group(CLIENT_GROUPS)
    o_auth: Group[OAuth] = Group(CLIENT_GROUPS)
    observability: Group[Observability] = Group(CLIENT_GROUPS)
    organization: Group[Organization] = Group(CLIENT_GROUPS)
    presets: Group[Presets] = Group(CLIENT_GROUPS)
    providers: Group[Providers] = Group(CLIENT_GROUPS)
    rerank: Group[Rerank] = Group(CLIENT_GROUPS)
    responses: Group[Responses] = Group(CLIENT_GROUPS)
    scim: Group[Scim] = Group(CLIENT_GROUPS)
    stt: Group[Stt] = Group(CLIENT_GROUPS)
    tts: Group[Tts] = Group(CLIENT_GROUPS)
    video_generation: Group[VideoGeneration] = Group(CLIENT_GROUPS)
    workspaces: Group[Workspaces] = Group(CLIENT_GROUPS)
    beta: Group[BetaNamespace] = Group(CLIENT_GROUPS)

    def __init__(
        self,
        *,
        backend: Literal["asyncio", "trio"] = "asyncio",
        async_client: httpx.AsyncClient | None = None,
        **args: Unpack[OptionArgs],
    ) -> None:
        if async_client is not None:
            if args.get("client") is not None:
                raise ValueError("give async_client or client, not both")
            args["client"] = async_client
        if backend not in ("asyncio", "trio"):
            raise ValueError(f"backend must be 'asyncio' or 'trio', got {backend!r}")
        # Checked now, in the caller's thread, once: both Sessions are built from these.
        self.options = ClientOptions.from_args(**args)
        self.base_url = self.options.base_url
        self._backend = backend
        self._lock = threading.Lock()
        self._portal_thread: PortalThread | None = None
        self._sync_session: Session | None = None
        self._sync_exit: ExitStack | None = None
        self._async_session: Session | None = None
        self._async_exit: AsyncExitStack | None = None
        self._sync_closed = False  # close() was called: no sync call reopens the client
        self._async_closed = False  # an `async with` block ended: closed for good too
        self._groups: dict[str, Any] = {}
        self._root = self  # the client a with_options view is of
        self._view_args: dict[str, Any] = {}  # a view's overrides (ViewArgs)
        self._views: dict[int, Session] = {}  # id of a Session of the root -> its view

    def with_options(self, **overrides: Unpack[ViewArgs]) -> OpenRouter:
        """A view of this client with other defaults for its calls, as openai's
        ``client.with_options(max_retries=0).chat...``: ``timeout_ms`` / ``timeout``
        (seconds), ``retries`` / ``retry_config`` / ``max_retries``, ``http_headers`` (over
        the client's), ``server_url``. It shares the portal thread, the pool, the gate and the
        counters of the client it came from, and owns none of them: closing a view (or leaving
        its ``with`` block) closes nothing; closing the client closes its views too."""
        root = self._root
        args: dict[str, Any] = dict(self._view_args)
        for pair in (
            ("timeout", "timeout_ms"),
            ("retries", "retry_config"),
            ("server_url", "base_url"),
        ):
            if any(name in overrides for name in pair):  # a view of a view: the newer wins
                for name in pair:
                    args.pop(name, None)
        headers = {**(args.get("http_headers") or {}), **(overrides.get("http_headers") or {})}
        args.update(overrides)
        if headers:
            args["http_headers"] = headers
        view_defaults(root.options.retry_config, **args)  # checked now, naming the option
        view = OpenRouter.__new__(OpenRouter)
        view.__dict__.update(root.__dict__)  # the options; lifecycle state is read from root
        view._root = root
        view._view_args = args
        view._views = {}
        view._groups = {}
        return view

    def _view_of(self, session: Session) -> Session:
        """The Session a view's calls run on: a view of the root's ``session``."""
        found = self._views.get(id(session))
        if found is None or found._root is not session:
            self._views.clear()  # a Session of the root replaced (after a fork, say)
            found = self._views[id(session)] = session.with_options(**self._view_args)
        return found

    def __repr__(self) -> str:
        return f"<OpenRouter {redact_url(self.base_url)}>"

    # -- sync lifecycle --------------------------------------------------------------------

    def __enter__(self) -> OpenRouter:
        self._sync()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the sync side: the Session in the portal thread, then the thread. For good:
        a sync call afterwards raises :class:`~openrouter_async.errors.ClientClosedError`
        (as httpx and openai do), it never reopens the client. Idempotent. On a
        ``with_options`` view: nothing (the client it came from owns what there is)."""
        if self._root is not self:
            return
        with self._lock:
            self._sync_closed = True
            context, self._sync_exit = self._sync_exit, None
            portal_thread, self._portal_thread = self._portal_thread, None
            self._sync_session = None
        try:
            if context is not None:
                context.close()
        finally:
            if portal_thread is not None:
                portal_thread.stop()

    def _sync(self) -> tuple[PortalThread, Session]:
        """The portal thread and its Session, started on first use (thread-safe)."""
        if self._root is not self:
            root_portal, root_session = self._root._sync()
            return root_portal, self._view_of(root_session)
        portal_thread, session = self._portal_thread, self._sync_session
        if portal_thread is not None and session is not None:
            return portal_thread, session
        with self._lock:
            if self._sync_closed:
                raise ClientClosedError(
                    "this client is closed (close() was called or its `with` block ended): "
                    "create a new OpenRouter(...) to make more calls"
                )
            if self._portal_thread is None or self._sync_session is None:
                portal_thread = PortalThread(self._backend)
                portal = portal_thread.start()
                session = Session(self.options)
                context = ExitStack()
                try:
                    # The Session's `async with`, run in the portal's loop until close().
                    context.enter_context(portal.wrap_async_context_manager(session))
                except BaseException:
                    portal_thread.stop()
                    raise
                self._sync_exit = context
                self._portal_thread, self._sync_session = portal_thread, session
                _with_portal.add(self)
            return self._portal_thread, self._sync_session

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent's portal thread and its Session are not there (only
        the forking thread survives a fork). Forget them, never wait on them: the next sync
        call starts a portal thread and a connection pool of the child's own."""
        self._lock = threading.Lock()  # another thread of the parent may have held it
        self._portal_thread = None
        self._sync_session = None
        self._sync_exit = None

    def _call_sync(self, function: Callable[[Session], Awaitable[T]]) -> T:
        portal_thread, session = self._sync()
        return portal_thread.call(functools.partial(function, session))

    # -- async lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> OpenRouter:
        if self._root is not self:
            return self  # a view: its client's `async with` opens (and closes) the Session
        if self._async_session is not None:
            raise RuntimeError("this client is already open with `async with`")
        if self._async_closed:
            raise ClientClosedError(
                "this client's `async with` block has ended and it stays closed: "
                "create a new OpenRouter(...)"
            )
        session = Session(self.options)
        stack = AsyncExitStack()
        await stack.enter_async_context(session)
        self._async_session, self._async_exit = session, stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._root is not self:
            return
        stack, self._async_exit = self._async_exit, None
        self._async_session = None
        self._async_closed = True
        if stack is not None:
            await stack.aclose()

    def _session_async(self) -> Session:
        if self._root is not self:
            return self._view_of(self._root._session_async())
        session = self._async_session
        if session is None:
            if self._async_closed:
                raise ClientClosedError(
                    "this client is closed: its `async with OpenRouter(...)` block has ended"
                )
            raise RuntimeError(
                "async calls need `async with OpenRouter(...) as client:` "
                "(the sync methods, without _async, work with `with` or no block at all)"
            )
        return session

    @property
    def session(self) -> Session:
        """The Session behind ``async with`` (for ``map``, statistics, raw operations)."""
        return self._session_async()

    # -- fan-out ---------------------------------------------------------------------------

    def map(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        call: Callable[[Session, Any], Awaitable[Any]] | None = None,
        ordered: bool = False,
        concurrency: int = 64,
    ) -> SyncMap[Any]:
        """:meth:`Session.map` for sync code: ``for result in client.map(requests): ...``.

        The calls run in the portal thread's event loop (a sync ``requests`` iterable is read
        there too: keep it non-blocking, e.g. a file or a generator). ``close()`` the
        iterator, or use it in a ``with`` block, to cancel the calls left when you stop early.
        """
        from ._map import SyncMap

        portal_thread, session = self._sync()
        results = session.map(requests, call=call, ordered=ordered, concurrency=concurrency)
        return SyncMap(results, portal_thread.portal)

    def map_async(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        call: Callable[[Session, Any], Awaitable[Any]] | None = None,
        ordered: bool = False,
        concurrency: int = 64,
    ) -> MapRun[Any]:
        """:meth:`Session.map` on the client opened with ``async with``."""
        return self._session_async().map(
            requests, call=call, ordered=ordered, concurrency=concurrency
        )


#: Clients whose sync side started a portal thread in this process (see _forget_after_fork).
_with_portal: weakref.WeakSet[OpenRouter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_with_portal):
        client._forget_after_fork()
    _with_portal.clear()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
