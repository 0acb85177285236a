"""Pages of list operations: ``next()``, ``has_next_page()`` and iteration over every item.

A list operation with offset/limit or cursor parameters (``guardrails.list``, ``api_keys.list``,
``files.list``...) returns its result as a *page*: an instance of a generated subclass of the
operation's result class (``AsyncGuardrailsListPage(AsyncPage[Guardrail],
ListGuardrailsResponse)``) that also remembers the call that made it. So a page *is* the
result the operation always returned: ``page.data``, ``page.total_count``, ``isinstance(page,
ListGuardrailsResponse)``, ``model_dump()`` and every other field keep their exact types and
values (a wrapper holding the result would have to type its delegated attributes as ``Any``).
The call (runner, operation, arguments) lives in one extra slot, ``_page_call``, which is not
an attrs field: ``model_dump()``, ``repr`` (apart from the class name) and equality between
pages see the fields only.

* Session (``AsyncPage``): ``session.guardrails.list(...)`` returns an :class:`AsyncPaginator`,
  which is awaited for the first page (``page = await session.guardrails.list()``, as before)
  or iterated for every item (``async for g in session.guardrails.list(limit=10)``);
  ``await page.next()`` is the next page or ``None``, ``page.has_next_page()`` asks nothing of
  the server, ``async for item in page`` / ``page.auto_paging_iter()`` walk the items of this
  page and every page after it, ``page.iter_pages()`` the pages.
* Facade (``SyncPage``): ``client.guardrails.list(...)`` returns the first page; ``page.next()``
  (sync), ``for item in page``; ``await page.next_async()``, ``async for item in page`` for the
  coroutine forms (``await client.guardrails.list_async()``, or ``async for`` on it).

Pages are fetched one at a time, when the items of the one before are used up; an iterator
holds only its current page, so memory stays flat however many pages there are.

When is there a next page (:class:`Paging`, one per operation, from the spec)?

* offset/limit: the next offset is ``offset + len(items)``; none when the page is empty, when
  ``total_count`` says every item was listed, else when the page holds fewer items than
  ``limit`` (the spec's default when not given), or when the next offset passes the spec's
  ``maximum`` for it. ``GET /keys`` takes an offset but no limit and gives no total: its page
  size is learnt from the pages before (a page shorter than one before it is the last), so a
  listing that fits in one page, or whose last page is full, costs one request more.
* cursor: the answer's ``cursor``; a page in the OpenAI or Anthropic shape (``files.list``
  with ``provider=``) continues with its ``last_id`` as ``after`` / ``after_id`` while its
  ``has_more`` is true.

``next()`` fetches the next page and returns ``None`` rather than an empty page (the official
SDK's contract: ``None`` after the last page), so ``has_next_page()`` may be true and ``next()``
still ``None`` where the API could not tell beforehand. A page that does not know its call
(``model_validate``, or unpickled, which gives the plain result class) has no next page.
``page.result`` is the page itself, for code written against the official SDK, whose pages
hold their result there (``page.result.data``). Through ``with_raw_response`` /
``with_streaming_response``, ``parse()`` gives the first page; the pages after it are plain.
"""

from __future__ import annotations

import collections.abc
import functools
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._operations import call, call_async_facade, call_sync
from ._raw import AsyncStreamingResponse, RawResponse, StreamingResponse
from ._unset import UNSET

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._operations import FacadeRunner, Operation, SessionRunner

__all__ = [
    "AsyncPage",
    "AsyncPaginator",
    "Paging",
    "SyncPage",
    "paged",
    "paged_async",
    "paged_sync",
]

T_co = TypeVar("T_co", covariant=True)
P_co = TypeVar("P_co", covariant=True)
_T = TypeVar("_T")


# -- the rules -------------------------------------------------------------------------------


class Paging:
    """How the pages of one operation follow each other (the generated ``Operation``'s
    ``paging``); names are the method's keyword arguments and the result's attributes."""

    __slots__ = (
        "cursor",
        "default_limit",
        "forward",
        "items",
        "kind",
        "limit",
        "max_offset",
        "next_cursor",
        "offset",
        "total",
    )

    def __init__(
        self,
        kind: str,
        *,
        items: str = "data",
        offset: str | None = None,
        limit: str | None = None,
        default_limit: int | None = None,
        max_offset: int | None = None,
        total: str | None = None,
        cursor: str | None = None,
        next_cursor: str | None = None,
        forward: tuple[tuple[type[Any], str], ...] = (),
    ) -> None:
        if kind not in ("offset", "cursor"):
            raise ValueError(f"unknown paging kind {kind!r}")
        self.kind = kind
        self.items = items  #: the result's attribute holding the page's items
        self.offset = offset
        self.limit = limit
        self.default_limit = default_limit  #: the server's page size when no limit is given
        self.max_offset = max_offset  #: the largest offset the server accepts
        self.total = total  #: the result's count of every item
        self.cursor = cursor
        self.next_cursor = next_cursor  #: the result's attribute holding the next cursor
        #: (class of a result shape, the argument taking its ``last_id`` while ``has_more``)
        self.forward = forward

    def __repr__(self) -> str:
        return f"<Paging {self.kind}>"

    def items_of(self, page: Any) -> list[Any]:
        items = getattr(page, self.items, None)
        return items if isinstance(items, list) else []

    def following(
        self, op: Operation, args: Mapping[str, Any], page: Any, seen: int | None
    ) -> dict[str, Any] | None:
        """The arguments of the call for the page after ``page``, or ``None`` if it is the
        last one. ``seen``: the largest page before it (the page size, where none is known)."""
        count = len(self.items_of(page))
        if not count:
            return None
        if self.kind == "offset":
            return self._after_offset(op, args, page, count, seen)
        return self._after_cursor(op, args, page)

    def _after_offset(
        self, op: Operation, args: Mapping[str, Any], page: Any, count: int, seen: int | None
    ) -> dict[str, Any] | None:
        assert self.offset is not None
        start = _integer(_given(op, args, self.offset))
        after = (start or 0) + count
        total = getattr(page, self.total, None) if self.total else None
        if isinstance(total, int) and not isinstance(total, bool):
            if after >= total:
                return None
        else:
            size = _integer(_given(op, args, self.limit)) if self.limit else None
            if size is None:
                size = self.default_limit if self.limit else seen
            if size is not None and count < size:
                return None
        if self.max_offset is not None and after > self.max_offset:
            return None
        return _replaced(op, args, {self.offset: after})

    def _after_cursor(
        self, op: Operation, args: Mapping[str, Any], page: Any
    ) -> dict[str, Any] | None:
        assert self.cursor is not None
        starts = [self.cursor, *(name for _, name in self.forward)]
        value = getattr(page, self.next_cursor, None) if self.next_cursor else None
        if isinstance(value, str) and value.strip():
            return _replaced(
                op, args, {name: value if name == self.cursor else None for name in starts}
            )
        for shape, name in self.forward:
            if isinstance(page, shape):
                last = getattr(page, "last_id", None)
                if getattr(page, "has_more", None) is True and isinstance(last, str) and last:
                    return _replaced(op, args, {n: last if n == name else None for n in starts})
                return None
        return None


def _wire(op: Operation, name: str) -> str:
    for py, wire in op.query:
        if py == name:
            return wire
    return name


def _given(op: Operation, args: Mapping[str, Any], name: str) -> Any:
    """An argument as sent: ``extra_query`` is merged last, so its value wins."""
    extra = args.get("extra_query")
    wire = _wire(op, name)
    if isinstance(extra, Mapping) and wire in extra:
        return extra[wire]
    value = args.get(name)
    return None if value is UNSET else value


def _replaced(op: Operation, args: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` with ``values`` set; an ``extra_query`` entry for one of them is dropped, or it
    would override the next page's value (and fetch the same page again)."""
    new = dict(args)
    new.update(values)
    extra = args.get("extra_query")
    if isinstance(extra, Mapping):
        wires = {_wire(op, name) for name in values}
        if wires & set(extra):
            new["extra_query"] = {k: v for k, v in extra.items() if k not in wires}
    return new


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


# -- the call a page remembers -------------------------------------------------------------


class _Call:
    """What made a page: the runner (a Session, or the facade), the operation, the arguments,
    the page classes (one per shape of the result), and the largest page before this one."""

    __slots__ = ("args", "facade", "op", "pages", "runner", "seen")

    def __init__(
        self,
        runner: Any,
        op: Operation,
        args: dict[str, Any],
        pages: tuple[type[Any], ...],
        facade: bool,
        seen: int | None = None,
    ) -> None:
        self.runner = runner
        self.op = op
        self.args = args
        self.pages = pages
        self.facade = facade
        self.seen = seen

    @property
    def paging(self) -> Paging:
        paging: Paging = self.op.paging
        return paging

    def following(self, page: Any) -> dict[str, Any] | None:
        return self.paging.following(self.op, self.args, page, self.seen)

    def after(self, page: Any, args: dict[str, Any]) -> _Call:
        seen = max(self.seen or 0, len(self.paging.items_of(page)))
        return _Call(self.runner, self.op, args, self.pages, self.facade, seen)


def _call_of(page: Any) -> _Call | None:
    try:
        made: _Call = object.__getattribute__(page, "_page_call")
    except AttributeError:
        return None
    return made


_SLOTS: dict[type, tuple[str, ...]] = {}


def _slot_names(cls: type) -> tuple[str, ...]:
    names = _SLOTS.get(cls)
    if names is None:
        found: list[str] = []
        for klass in reversed(cls.__mro__):
            slots = klass.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__weakref__", "__dict__") and name not in found:
                    found.append(name)
        names = _SLOTS[cls] = tuple(found)
    return names


def _as_page(result: Any, made: _Call) -> Any:
    """The parsed ``result`` as the page class of its shape, remembering ``made``."""
    for cls in made.pages:
        if type(result) is cls.__bases__[-1]:  # (see _result_class)
            break
    else:  # cannot happen: a result is one of the shapes the spec gives (parse checks)
        raise TypeError(f"{made.op.name}: no page class for {type(result).__name__}")
    page = _moved(result, cls)
    object.__setattr__(page, "_page_call", made)
    return page


def _moved(result: Any, cls: type) -> Any:
    """A ``cls`` (a page class of ``result``'s class) holding ``result``'s slots as they are
    (no validation again: they were parsed)."""
    page: Any = object.__new__(cls)
    for name in _slot_names(type(result)):
        try:
            value = object.__getattribute__(result, name)
        except AttributeError:  # an optional slot (Model._nulls_given...)
            continue
        object.__setattr__(page, name, value)
    return page


def _kept(args: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in args.items() if name != "self"}


async def _first_async(
    runner: Any, op: Operation, args: dict[str, Any], pages: tuple[type[Any], ...], facade: bool
) -> Any:
    result = await (call_async_facade if facade else call)(runner, op, args)
    return _first_page(result, _Call(runner, op, args, pages, facade))


def _first_page(result: Any, made: _Call) -> Any:
    """The first page; through ``with_raw_response`` / ``with_streaming_response``, the raw
    answer, whose ``parse()`` gives the page (the pages after it come as plain pages)."""
    if isinstance(result, (RawResponse, AsyncStreamingResponse, StreamingResponse)):
        result.parsing_with(functools.partial(_as_page, made=made))
        return result
    return _as_page(result, made)


async def _parsed_async(result: Any) -> Any:
    """A next page's result, as the plain call gives it (a raw page fetches its next ones
    through the same raw runner)."""
    if isinstance(result, RawResponse):
        return result.parse()
    if isinstance(result, AsyncStreamingResponse):
        try:
            return await result.parse()
        finally:
            await result.close()
    return result


def _parsed_sync(result: Any) -> Any:
    if isinstance(result, RawResponse):
        return result.parse()
    if isinstance(result, StreamingResponse):
        try:
            return result.parse()
        finally:
            result.close()
    return result


async def _next_async(page: Any) -> Any:
    made = _call_of(page)
    if made is None:
        return None
    args = made.following(page)
    if args is None:
        return None
    result = await (call_async_facade if made.facade else call)(made.runner, made.op, args)
    following = _as_page(await _parsed_async(result), made.after(page, args))
    return following if made.paging.items_of(following) else None


def _next_sync(page: Any) -> Any:
    made = _call_of(page)
    if made is None:
        return None
    args = made.following(page)
    if args is None:
        return None
    result = call_sync(made.runner, made.op, args)
    following = _as_page(_parsed_sync(result), made.after(page, args))
    return following if made.paging.items_of(following) else None


def _has_next(page: Any) -> bool:
    made = _call_of(page)
    return made is not None and made.following(page) is not None


# -- what the generated methods call ---------------------------------------------------------


def paged(session: SessionRunner, op: Operation, args: Mapping[str, Any], *pages: type[Any]) -> Any:
    """A Session's list method: an :class:`AsyncPaginator` (await it for the first page)."""
    kept = _kept(args)
    return AsyncPaginator(functools.partial(_first_async, session, op, kept, pages, False))


def paged_sync(
    client: FacadeRunner, op: Operation, args: Mapping[str, Any], *pages: type[Any]
) -> Any:
    """The facade's sync list method: the first page, fetched now."""
    kept = _kept(args)
    return _first_page(call_sync(client, op, kept), _Call(client, op, kept, pages, True))


def paged_async(
    client: FacadeRunner, op: Operation, args: Mapping[str, Any], *pages: type[Any]
) -> Any:
    """The facade's ``_async`` list method: an :class:`AsyncPaginator` of facade pages."""
    kept = _kept(args)
    return AsyncPaginator(functools.partial(_first_async, client, op, kept, pages, True))


# -- iterators -----------------------------------------------------------------------------


def _items(page: Any) -> list[Any]:
    made = _call_of(page)
    if made is not None:
        return made.paging.items_of(page)
    items = getattr(page, "data", None)  # a page that does not know its call: its own items
    return items if isinstance(items, list) else []


class _AsyncItems(Generic[_T]):
    """The items of a page and of every page after it, each page fetched when the one
    before is used up; only the current page is held."""

    __slots__ = ("_first", "_index", "_page")

    def __init__(
        self, page: Any, first: Callable[[], Coroutine[Any, Any, Any]] | None = None
    ) -> None:
        self._page = page
        self._first = first  # a paginator's first page, fetched by the first __anext__
        self._index = 0

    def __aiter__(self) -> _AsyncItems[_T]:
        return self

    async def __anext__(self) -> _T:
        if self._page is None:
            first, self._first = self._first, None
            if first is None:
                raise StopAsyncIteration
            self._page = await first()
        while True:
            items = _items(self._page)
            if self._index < len(items):
                item: _T = items[self._index]
                self._index += 1
                return item
            following = await _next_async(self._page)
            if following is None:
                self._page = None
                raise StopAsyncIteration
            self._page, self._index = following, 0


class _SyncItems(Generic[_T]):
    """:class:`_AsyncItems` for the facade's sync iteration."""

    __slots__ = ("_index", "_page")

    def __init__(self, page: Any) -> None:
        self._page = page
        self._index = 0

    def __iter__(self) -> _SyncItems[_T]:
        return self

    def __next__(self) -> _T:
        while self._page is not None:
            items = _items(self._page)
            if self._index < len(items):
                item: _T = items[self._index]
                self._index += 1
                return item
            self._page, self._index = _next_sync(self._page), 0
        raise StopIteration


class _AsyncPages(Generic[_T]):
    """A page, then every page after it."""

    __slots__ = ("_page", "_started")

    def __init__(self, page: Any) -> None:
        self._page = page
        self._started = False

    def __aiter__(self) -> _AsyncPages[_T]:
        return self

    async def __anext__(self) -> _T:
        if self._page is not None and self._started:
            self._page = await _next_async(self._page)
        self._started = True
        if self._page is None:
            raise StopAsyncIteration
        page: _T = self._page
        return page


class _SyncPages(Generic[_T]):
    __slots__ = ("_page", "_started")

    def __init__(self, page: Any) -> None:
        self._page = page
        self._started = False

    def __iter__(self) -> _SyncPages[_T]:
        return self

    def __next__(self) -> _T:
        if self._page is not None and self._started:
            self._page = _next_sync(self._page)
        self._started = True
        if self._page is None:
            raise StopIteration
        page: _T = self._page
        return page


# -- the pages -------------------------------------------------------------------------------


class _Page:
    """What both kinds of page share: copies keep the call, pickles drop it.

    A generated page class is ``class XPage(AsyncPage[Item], XResult)`` with ``__slots__ =
    ("_page_call",)``: this class and its two subclasses add no slots of their own (two bases
    with slots could not be combined) and no annotations (``model_fields`` reads the class's
    type hints).
    """

    __slots__ = ()

    @property
    def result(self) -> Self:
        """The page itself: the official SDK's pages hold the result in ``.result``
        (``page.result.data``); here the page is the result (``page.data``)."""
        return self

    def has_next_page(self) -> bool:
        """Whether a page follows, as far as this page tells (nothing is fetched): its total
        count, whether it is full, its cursor. ``next()`` may still find the next page empty
        (and return ``None``) where the API gives neither a total nor a page size."""
        return _has_next(self)

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None) -> Self:
        """The result class's ``model_validate``, as a page that knows no call (so it has
        no next page); ``model_validate_json`` too."""
        if isinstance(obj, cls):
            return obj
        result_class: Any = cls.__bases__[-1]  # (see _result_class)
        page: Self = _moved(result_class.model_validate(obj, strict=strict), cls)
        return page

    def __copy__(self) -> Self:
        copied: Self = _result_class(self).__copy__(self)
        _keep_call(self, copied)
        return copied

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        # The fields are copied deep; the call is shared (a Session or a client is not copied).
        copied: Self = _result_class(self).__deepcopy__(self, memo)
        _keep_call(self, copied)
        return copied

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """The result's ``model_copy``; the copy is a page of the same call."""
        copied: Self = _result_class(self).model_copy(self, update=update, deep=deep)
        _keep_call(self, copied)
        return copied

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # A page pickles as its plain result: the call holds a live Session or client. The
        # model's reduce is ``(_rebuild, (cls, ...))``; only the class is swapped.
        rebuild, (_own_class, *rest) = _result_class(self).__reduce_ex__(self, protocol)
        return (rebuild, (_result_class(self), *rest))


def _result_class(page: Any) -> Any:
    """The operation's result class a page class extends (its last base, by construction):
    the page methods that wrap the model's own call them there."""
    return type(page).__bases__[-1]


def _keep_call(page: Any, copied: Any) -> None:
    made = _call_of(page)
    if made is not None:
        object.__setattr__(copied, "_page_call", made)


class AsyncPage(_Page, Generic[T_co]):
    """A page of a list operation on a Session (the base of the generated ``Async...Page``
    classes, which are also the operation's result class). See the module docstring."""

    __slots__ = ()

    async def next(self) -> Self | None:
        """The next page, or ``None`` after the last one (fetched now)."""
        following: Self | None = await _next_async(self)
        return following

    def auto_paging_iter(self) -> AsyncIterator[T_co]:
        """Every item of this page and of the pages after it (``async for``), each page
        fetched when the one before is used up."""
        return _AsyncItems(self)

    def __aiter__(self) -> AsyncIterator[T_co]:
        return _AsyncItems(self)

    def iter_pages(self) -> AsyncIterator[Self]:
        """This page, then each page after it (``async for``)."""
        return _AsyncPages(self)


class SyncPage(_Page, Generic[T_co]):
    """A page of a list operation on the facade: ``next()`` and ``for`` are sync,
    ``next_async()`` and ``async for`` their coroutine twins. See the module docstring."""

    __slots__ = ()

    def next(self) -> Self | None:
        """The next page, or ``None`` after the last one (fetched now)."""
        following: Self | None = _next_sync(self)
        return following

    async def next_async(self) -> Self | None:
        """The coroutine twin of :meth:`next`."""
        following: Self | None = await _next_async(self)
        return following

    def auto_paging_iter(self) -> Iterator[T_co]:
        """Every item of this page and of the pages after it, each page fetched when the one
        before is used up."""
        return _SyncItems(self)

    def auto_paging_iter_async(self) -> AsyncIterator[T_co]:
        """The ``async for`` twin of :meth:`auto_paging_iter`."""
        return _AsyncItems(self)

    def __iter__(self) -> Iterator[T_co]:
        return _SyncItems(self)

    def __aiter__(self) -> AsyncIterator[T_co]:
        return _AsyncItems(self)

    def iter_pages(self) -> Iterator[Self]:
        """This page, then each page after it."""
        return _SyncPages(self)

    def iter_pages_async(self) -> AsyncIterator[Self]:
        """The ``async for`` twin of :meth:`iter_pages`."""
        return _AsyncPages(self)


class AsyncPaginator(Coroutine[Any, Any, P_co], Generic[P_co, T_co]):
    """What a list method returns on a Session (and the facade's ``_async`` form): await it
    for the first page, or ``async for`` it for every item of every page.

    It is a coroutine (``collections.abc.Coroutine``) that runs the call when it is first
    awaited, so ``await``, ``asyncio.gather``, ``asyncio.create_task``, anyio's and trio's
    ``start_soon`` take it as they took the coroutine the method used to return. Each ``async
    for`` starts again from the first page.
    """

    __slots__ = ("_coroutine", "_first", "_used")

    def __init__(self, first: Callable[[], Coroutine[Any, Any, P_co]]) -> None:
        self._first = first
        self._coroutine: Coroutine[Any, Any, P_co] | None = None
        self._used = False

    def _started(self) -> Coroutine[Any, Any, P_co]:
        if self._coroutine is None:
            self._used = True
            self._coroutine = self._first()
        return self._coroutine

    def __await__(self) -> Generator[Any, None, P_co]:
        return self._started().__await__()

    def send(self, value: Any, /) -> Any:
        return self._started().send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None, /) -> Any:
        if val is None and tb is None:
            return self._started().throw(typ)
        return self._started().throw(typ, val, tb)  # (the form Python 3.12 deprecates)

    def close(self) -> None:
        self._used = True
        if self._coroutine is not None:
            self._coroutine.close()

    def __aiter__(self) -> AsyncIterator[T_co]:
        self._used = True
        return _AsyncItems(None, self._first)

    def __del__(self) -> None:
        # What Python says of a coroutine never awaited: here the call was never sent.
        if not getattr(self, "_used", True):
            warnings.warn(f"{self!r} was never awaited or iterated", RuntimeWarning, 2)

    def __repr__(self) -> str:
        op = getattr(self._first, "args", (None, None))[1]
        return f"<AsyncPaginator {getattr(op, 'name', '?')}>"


assert issubclass(AsyncPaginator, collections.abc.Coroutine)
