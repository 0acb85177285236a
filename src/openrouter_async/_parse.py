"""Structured outputs into the caller's own classes: ``chat.parse(response_format=Cls)``.

``Cls`` is an attrs class, a dataclass, a pydantic v2 model or a ``TypedDict``. Its strict
JSON schema (:func:`._json_schema.schema_for`) is sent as ``response_format: {"type":
"json_schema", ...}``, with ``provider.require_parameters: true`` (so OpenRouter routes only
to providers that honour the schema) unless the call's ``provider`` says otherwise. The
answer comes back as a :class:`ParsedChatResult`: the :class:`~.models.ChatResult` it is
(``isinstance`` holds, ``model_dump`` gives what the server sent), with each
``choices[i].message.parsed`` an instance of ``Cls``. A refusal sets ``message.refusal`` and
leaves ``parsed`` ``None``; an answer that is not JSON, or does not fit ``Cls``, raises
:class:`StructuredOutputError` carrying the raw ``content``.

``chat.stream_parse(...)`` streams the same call: a context manager whose events are
openai-python's (``chunk``, ``content.delta`` with the partial JSON so far as ``parsed``,
``content.done`` with the instance, ``refusal.delta`` / ``refusal.done``), and whose
``get_final_completion()`` is the :class:`ParsedChatResult`.

The mixins are attached to the chat group by ``_chat_group.py``: ``session.chat.parse`` and
``stream_parse`` on a Session; ``client.chat.parse`` / ``parse_async`` and
``stream_parse`` / ``stream_parse_async`` on the facade.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, Union, cast

import attrs
import orjson

from . import _convert
from ._json_schema import (
    SchemaMismatch,
    is_object_type,
    is_pydantic_model,
    partial_json,
    schema_for,
    value_of,
)
from ._model import Model
from ._unset import UNSET
from .errors import RequestValidationError, ResponseValidationError
from .models import ChatAssistantMessage, ChatChoice, ChatResult

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._streams import AsyncStream, SyncStream
    from .models import ChatFormatJsonSchemaConfig, ChatMessages, ChatStreamChunk
    from .resources._chat import ChatSendOptions

__all__ = [
    "AsyncParseMixin",
    "AsyncParsedStream",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "ParseMixin",
    "ParsedChatMessage",
    "ParsedChatResult",
    "ParsedChoice",
    "ParsedStream",
    "ParsedStreamEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "StructuredOutputError",
    "json_of",
    "parse_result",
    "response_format_for",
    "schema_body",
]

T = TypeVar("T")


class StructuredOutputError(ResponseValidationError):
    """An answer to ``chat.parse`` that is not JSON, or does not fit the class asked for.

    ``content`` is the model's raw text (as it came, not redacted), ``completion`` the whole
    result it was in (a :class:`~.models.ChatResult`; for a stream, what had arrived),
    ``path`` where the document did not fit (``items[2].name``; empty when it is not JSON
    at all), ``index`` the choice."""

    def __init__(
        self,
        message: str,
        *,
        content: str,
        completion: Any,
        path: str = "",
        index: int = 0,
    ) -> None:
        super().__init__(message, body=content)
        self.content = content
        self.completion = completion
        self.path = path
        self.index = index


# -- the parsed result types ---------------------------------------------------------------
#
# Plain subclasses of the generated (frozen, slotted attrs) classes, built by copying the
# parsed instance's slots: the result stays the ChatResult the server's body was read into
# (model_dump, ==, the response headers), with `parsed` one slot more. `parsed` is typed as
# the class asked for so that `result.choices[0].message.parsed.field` type-checks; it is
# None when the model refused (`message.refusal`) or answered no content (only tool calls).


class ParsedChatMessage(ChatAssistantMessage, Generic[T]):
    """The assistant's message, with ``parsed``: its content read into the class asked for
    (``None`` when the model refused, see ``refusal``, or gave no content)."""

    __slots__ = ("parsed",)
    parsed: T

    def __repr__(self) -> str:
        text = _convert.response_repr(self)
        return f"{text[:-1]}, parsed={self.parsed!r})"

    def __eq__(self, other: object) -> bool:
        same = _convert.model_eq(self, other)
        if same is not True:
            return same
        return bool(self.parsed == cast("ParsedChatMessage[Any]", other).parsed)

    __hash__ = _convert.model_hash

    # Copies and pickles keep `parsed` (the base's know only the attrs fields).
    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        rebuild, args = super().__reduce_ex__(protocol)[:2]
        return (_with_parsed, (rebuild, args, self.parsed))

    def __deepcopy__(self, memo: dict[int, Any]) -> ParsedChatMessage[T]:
        import copy

        new = super().__deepcopy__(memo)
        object.__setattr__(new, "parsed", copy.deepcopy(self.parsed, memo))
        return new


def _with_parsed(rebuild: Callable[..., Any], args: tuple[Any, ...], parsed: Any) -> Any:
    new = rebuild(*args)
    object.__setattr__(new, "parsed", parsed)
    return new


class ParsedChoice(ChatChoice, Generic[T]):
    """A choice whose ``message`` is a :class:`ParsedChatMessage` (never ``None``)."""

    __slots__ = ()
    message: ParsedChatMessage[T]

    __hash__ = _convert.model_hash


class ParsedChatResult(ChatResult, Generic[T]):
    """A :class:`~.models.ChatResult` whose choices carry ``message.parsed``
    (``choices`` is a list, empty if the server sent none)."""

    __slots__ = ()
    # (list is invariant: a ChatResult's list of ChatChoice cannot be narrowed soundly. Only
    # ParsedChoice items are ever put in it, by parse_result.)
    choices: list[ParsedChoice[T]]  # type: ignore[assignment]

    __hash__ = _convert.model_hash


#: class -> the slot descriptors of its instances (every base's), to copy them as they are
_SLOTS: dict[type, tuple[Any, ...]] = {}


def _slots(cls: type) -> tuple[Any, ...]:
    found = _SLOTS.get(cls)
    if found is None:
        names: dict[str, Any] = {}
        for base in cls.__mro__:
            for name in base.__dict__.get("__slots__", ()):
                if name not in ("__weakref__", "__dict__") and name not in names:
                    names[name] = base.__dict__[name]
        found = _SLOTS[cls] = tuple(names.values())
    return found


_M = TypeVar("_M")


def _rebuilt(cls: type[_M], instance: Any, name: str, value: Any) -> _M:
    """``instance`` (of a base of ``cls``) as a ``cls``, with the slot ``name`` set to
    ``value``: its slots copied as they are (no converter or validator runs again)."""
    new = object.__new__(cls)
    for slot in _slots(type(instance)):
        try:
            slot.__set__(new, slot.__get__(instance))
        except AttributeError:  # a slot set only when needed (`_nulls_given`)
            pass
    object.__setattr__(new, name, value)
    return new


# -- reading an answer ---------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(.*)\n\s*```\s*$", re.DOTALL)


def _text(content: Any) -> str | None:
    """A message's content as text (the text parts of a list of parts, joined)."""
    if content is None or isinstance(content, str):
        return content
    parts = [getattr(part, "text", None) for part in content]
    texts = [part for part in parts if isinstance(part, str)]
    return "".join(texts) if texts else None


def _read(cls: Any, text: str, *, completion: Any, index: int, finish_reason: Any) -> Any:
    """``text`` read into ``cls``, or :class:`StructuredOutputError`."""
    fenced = _FENCE.match(text)  # some models fence their JSON (```json ... ```) even so
    body = fenced.group(1) if fenced else text
    if is_pydantic_model(cls):
        try:  # the fast path: pydantic's own JSON parser
            return cls.model_validate_json(body)
        except ValueError:
            pass  # read again below: nulls that mean "the default", and our error
    cut = (
        ' (finish_reason "length": the answer was cut off; raise max_tokens)'
        if str(finish_reason) == "length"
        else ""
    )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise StructuredOutputError(
            f"choices[{index}].message.content is not JSON{cut}: {error}",
            content=text,
            completion=completion,
            index=index,
        ) from None
    try:
        return value_of(cls, data)
    except SchemaMismatch as error:
        name = getattr(cls, "__name__", repr(cls))
        where = f" at {error.path}" if error.path else ""
        raise StructuredOutputError(
            f"choices[{index}].message.content does not fit {name}{where}: {error.reason}{cut}",
            content=text,
            completion=completion,
            path=error.path,
            index=index,
        ) from None


def parse_result(
    result: ChatResult, cls: type[T], *, known: Mapping[int, Any] | None = None
) -> ParsedChatResult[T]:
    """``result`` as a :class:`ParsedChatResult` whose messages' content is read into
    ``cls`` (``known``: choices already read, by index)."""
    choices: list[ParsedChoice[T]] = []
    for position, choice in enumerate(result.choices or ()):
        index = choice.index if choice.index is not None else position
        message = choice.message if choice.message is not None else ChatAssistantMessage()
        parsed: Any = None
        if known is not None and index in known:
            parsed = known[index]
        elif not message.refusal:
            text = _text(message.content)
            if text is not None and text.strip():
                parsed = _read(
                    cls,
                    text,
                    completion=result,
                    index=index,
                    finish_reason=choice.finish_reason,
                )
        parsed_message = _rebuilt(ParsedChatMessage, message, "parsed", parsed)
        choices.append(_rebuilt(ParsedChoice, choice, "message", parsed_message))
    return _rebuilt(ParsedChatResult, result, "choices", choices)


# -- the request ---------------------------------------------------------------------------

_FORMATS: dict[tuple[Any, bool], ChatFormatJsonSchemaConfig] = {}


def response_format_for(cls: Any, *, strict: bool = True) -> ChatFormatJsonSchemaConfig:
    """The ``response_format`` asking for ``cls`` (built once per class)."""
    key = (cls, strict)
    try:
        return _FORMATS[key]
    except KeyError:
        pass
    except TypeError:  # unhashable: never a class, refused below
        key = None  # type: ignore[assignment]
    if not is_object_type(cls):
        kind = cls.__name__ if isinstance(cls, type) else type(cls).__name__
        raise RequestValidationError(
            "chat.parse: response_format takes a class (attrs, dataclass, pydantic model or "
            f"TypedDict), got {kind}; send a response_format dict with chat.send",
            path="response_format",
        )
    try:
        schema = schema_for(cls, strict=strict)
    except TypeError as error:
        raise RequestValidationError(f"chat.parse: {error}", path="response_format") from None
    from .models import ChatFormatJsonSchemaConfig

    name = re.sub(r"[^a-zA-Z0-9_-]", "_", cls.__name__)[:64] or "response"
    config = _convert.structure(
        {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}},
        ChatFormatJsonSchemaConfig,
    )
    if key is not None:
        _FORMATS[key] = config
    return config


def _with_required_parameters(provider: Any) -> Any:
    """``provider`` with ``require_parameters: true`` unless it says otherwise."""
    if provider is None or provider is UNSET:
        return {"require_parameters": True}
    if isinstance(provider, Model):
        if getattr(provider, "require_parameters", UNSET) is UNSET:
            return provider.model_copy(update={"require_parameters": True})
        return provider
    if isinstance(provider, Mapping):
        if "require_parameters" in provider:
            return provider
        return {**provider, "require_parameters": True}
    return provider  # not a provider object: refused by send, naming the field


def _arguments(
    name: str, response_format: Any, strict: bool, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The keyword arguments of the ``send`` that a parse call makes; checked first."""
    if "stream" in kwargs:
        raise RequestValidationError(
            f"chat.{name}: stream= is not an argument here (use chat.stream_parse to stream)",
            path="stream",
        )
    kwargs["response_format"] = response_format_for(response_format, strict=strict)
    kwargs["provider"] = _with_required_parameters(kwargs.get("provider"))
    return kwargs


def schema_body(body: Mapping[str, Any], cls: Any, *, strict: bool = True) -> dict[str, Any]:
    """A chat request body (JSON names) asking for ``cls``: its ``response_format`` set (a
    given one replaced), ``provider.require_parameters: true`` unless the body sets it. What
    ``map`` and batch jobs send for a schema."""
    from ._convert import unstructure

    fmt = _FORMAT_BODIES.get((cls, strict))
    if fmt is None:
        fmt = _FORMAT_BODIES[(cls, strict)] = unstructure(response_format_for(cls, strict=strict))
    out = dict(body)
    out["response_format"] = fmt
    provider = out.get("provider")
    if isinstance(provider, Model):
        provider = unstructure(provider)
    out["provider"] = _with_required_parameters(provider)
    return out


_FORMAT_BODIES: dict[tuple[Any, bool], dict[str, Any]] = {}


def json_of(value: Any) -> Any:
    """A parsed value (an attrs or dataclass instance, a pydantic model, a dict...) as plain
    JSON data: what a batch row writes as ``parsed``."""
    if value is None:
        return None
    return orjson.loads(orjson.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if is_pydantic_model(type(value)):
        return value.model_dump(mode="json")
    if isinstance(value, Model):
        return _convert.unstructure(value)
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


# -- streams -------------------------------------------------------------------------------


@attrs.frozen
class ChunkEvent:
    """A chunk as it came (every chunk of the stream is one of these, first)."""

    type: Literal["chunk"]
    chunk: ChatStreamChunk


@attrs.frozen
class ContentDeltaEvent:
    """More content: ``delta``, the ``snapshot`` so far, and ``parsed``, the snapshot read
    as far as it goes (a partial JSON document: a dict, open strings and containers
    closed; ``None`` before the first value begins). ``index`` is the choice's."""

    type: Literal["content.delta"]
    delta: str
    snapshot: str
    index: int = 0

    @property
    def parsed(self) -> Any:
        """The partial document so far (read when asked: most loops never look)."""
        return partial_json(self.snapshot)


@attrs.frozen
class ContentDoneEvent(Generic[T]):
    """The content is complete: ``content``, and ``parsed``, its instance of the class."""

    type: Literal["content.done"]
    content: str
    parsed: T
    index: int = 0


@attrs.frozen
class RefusalDeltaEvent:
    """More of a refusal: ``delta`` and the ``snapshot`` so far."""

    type: Literal["refusal.delta"]
    delta: str
    snapshot: str
    index: int = 0


@attrs.frozen
class RefusalDoneEvent:
    """The refusal is complete (``refusal``); no ``content.done`` follows for the choice."""

    type: Literal["refusal.done"]
    refusal: str
    index: int = 0


#: One event of a parsed stream (narrow on ``event.type``).
ParsedStreamEvent = Union[
    ChunkEvent,
    ContentDeltaEvent,
    "ContentDoneEvent[T]",
    RefusalDeltaEvent,
    RefusalDoneEvent,
]


class _StreamState(Generic[T]):
    """Chunks in, events out; the final result from everything that came."""

    __slots__ = ("accumulator", "cls", "content", "done", "finish_reasons", "parsed", "refusal")

    def __init__(self, cls: type[T]) -> None:
        from ._accumulate import ChatStreamAccumulator

        self.cls = cls
        self.accumulator = ChatStreamAccumulator()
        self.content: dict[int, str] = {}
        self.refusal: dict[int, str] = {}
        self.finish_reasons: dict[int, Any] = {}
        self.parsed: dict[int, Any] = {}
        self.done: set[int] = set()

    def events(self, chunk: ChatStreamChunk) -> list[ParsedStreamEvent[T]]:
        self.accumulator.add(chunk)
        out: list[ParsedStreamEvent[T]] = [ChunkEvent("chunk", chunk)]
        for position, choice in enumerate(chunk.choices or ()):
            index = choice.index if choice.index is not None else position
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    snapshot = self.content[index] = self.content.get(index, "") + delta.content
                    out.append(ContentDeltaEvent("content.delta", delta.content, snapshot, index))
                if delta.refusal:
                    snapshot = self.refusal[index] = self.refusal.get(index, "") + delta.refusal
                    out.append(RefusalDeltaEvent("refusal.delta", delta.refusal, snapshot, index))
            if choice.finish_reason is not None:
                self.finish_reasons[index] = choice.finish_reason
                self._finish(index, out)
        return out

    def end(self) -> list[ParsedStreamEvent[T]]:
        """The done events of choices the stream ended without finishing."""
        out: list[ParsedStreamEvent[T]] = []
        for index in sorted({*self.content, *self.refusal}):
            self._finish(index, out)
        return out

    def _finish(self, index: int, out: list[ParsedStreamEvent[T]]) -> None:
        if index in self.done:
            return
        self.done.add(index)
        refusal = self.refusal.get(index)
        if refusal:
            out.append(RefusalDoneEvent("refusal.done", refusal, index))
            self.parsed[index] = None
            return
        text = self.content.get(index)
        if text is None or not text.strip():
            return
        parsed = _read(
            self.cls,
            text,
            completion=self.snapshot(),
            index=index,
            finish_reason=self.finish_reasons.get(index),
        )
        self.parsed[index] = parsed
        out.append(ContentDoneEvent("content.done", text, parsed, index))

    def snapshot(self) -> ChatResult | None:
        try:
            return _convert.parse(self.accumulator.body(), ChatResult)
        except ValueError:
            return None

    def final(self) -> ParsedChatResult[T]:
        result = self.snapshot()
        if result is None:
            raise ResponseValidationError("the stream ended before its first chunk")
        return parse_result(result, self.cls, known=self.parsed)


class AsyncParsedStream(Generic[T]):
    """``async with session.chat.stream_parse(...) as stream``: ``async for event in
    stream`` gives the :data:`ParsedStreamEvent` s; ``await stream.get_final_completion()``
    reads what is left and gives the :class:`ParsedChatResult`. Leaving the block closes
    the response."""

    __slots__ = ("_ended", "_open", "_pending", "_state", "_stream")

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[AsyncStream[ChatStreamChunk]]],
        cls: type[T],
    ) -> None:
        self._open: Callable[[], Awaitable[AsyncStream[ChatStreamChunk]]] | None = open_stream
        self._stream: AsyncStream[ChatStreamChunk] | None = None
        self._state = _StreamState(cls)
        self._pending: collections.deque[ParsedStreamEvent[T]] = collections.deque()
        self._ended = False

    async def __aenter__(self) -> AsyncParsedStream[T]:
        if self._open is None:
            raise RuntimeError("this stream is already entered")
        open_stream, self._open = self._open, None
        stream = await open_stream()
        await stream.__aenter__()
        self._stream = stream
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stream, self._stream = self._stream, None
        self._ended = True  # a closed stream has nothing more to give
        self._pending.clear()
        if stream is not None:
            await stream.__aexit__(exc_type, exc, tb)

    def __aiter__(self) -> AsyncParsedStream[T]:
        return self

    async def __anext__(self) -> ParsedStreamEvent[T]:
        while not self._pending:
            if self._ended:
                raise StopAsyncIteration
            if self._stream is None:
                raise RuntimeError("use the stream in `async with chat.stream_parse(...)`")
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                self._ended = True
                self._pending.extend(self._state.end())
                continue
            self._pending.extend(self._state.events(chunk))
        return self._pending.popleft()

    async def get_final_completion(self) -> ParsedChatResult[T]:
        """The whole answer, parsed (the events not read yet are read and dropped)."""
        async for _ in self:
            pass
        return self._state.final()


class ParsedStream(Generic[T]):
    """The sync facade's :class:`AsyncParsedStream`: ``with client.chat.stream_parse(...)
    as stream: for event in stream: ...``, then ``stream.get_final_completion()``."""

    __slots__ = ("_ended", "_open", "_pending", "_state", "_stream")

    def __init__(self, open_stream: Callable[[], SyncStream[ChatStreamChunk]], cls: type[T]):
        self._open: Callable[[], SyncStream[ChatStreamChunk]] | None = open_stream
        self._stream: SyncStream[ChatStreamChunk] | None = None
        self._state = _StreamState(cls)
        self._pending: collections.deque[ParsedStreamEvent[T]] = collections.deque()
        self._ended = False

    def __enter__(self) -> ParsedStream[T]:
        if self._open is None:
            raise RuntimeError("this stream is already entered")
        open_stream, self._open = self._open, None
        stream = open_stream()
        stream.__enter__()
        self._stream = stream
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stream, self._stream = self._stream, None
        self._ended = True  # a closed stream has nothing more to give
        self._pending.clear()
        if stream is not None:
            stream.__exit__(exc_type, exc, tb)

    def __iter__(self) -> Iterator[ParsedStreamEvent[T]]:
        return self

    def __next__(self) -> ParsedStreamEvent[T]:
        while not self._pending:
            if self._ended:
                raise StopIteration
            if self._stream is None:
                raise RuntimeError("use the stream in `with chat.stream_parse(...)`")
            try:
                chunk = next(self._stream)
            except StopIteration:
                self._ended = True
                self._pending.extend(self._state.end())
                continue
            self._pending.extend(self._state.events(chunk))
        return self._pending.popleft()

    def get_final_completion(self) -> ParsedChatResult[T]:
        """The whole answer, parsed (the events not read yet are read and dropped)."""
        for _ in self:
            pass
        return self._state.final()


# -- the chat group's methods --------------------------------------------------------------


async def _parse_via(
    send: Callable[..., Awaitable[Any]], messages: Any, response_format: type[T], arguments: Any
) -> ParsedChatResult[T]:
    """``parse`` on an async ``send`` (the Session's, or the facade's ``send_async``)."""
    result: ChatResult = await send(messages=messages, **arguments)
    return parse_result(result, response_format)


def _stream_via(
    send: Callable[..., Awaitable[Any]], messages: Any, response_format: type[T], arguments: Any
) -> AsyncParsedStream[T]:
    """``stream_parse`` on an async ``send``: the request goes out on entering the stream."""

    async def open_stream() -> AsyncStream[ChatStreamChunk]:
        stream: AsyncStream[ChatStreamChunk] = await send(
            messages=messages, stream=True, **arguments
        )
        return stream

    return AsyncParsedStream(open_stream, response_format)


class AsyncParseMixin:
    """``session.chat.parse`` and ``session.chat.stream_parse``."""

    __slots__ = ()

    async def parse(
        self,
        *,
        response_format: type[T],
        messages: Sequence[ChatMessages | Mapping[str, Any]],
        strict: bool = True,
        **kwargs: Unpack[ChatSendOptions],
    ) -> ParsedChatResult[T]:
        """``chat.send`` asking for an answer in ``response_format``, a class (attrs,
        dataclass, pydantic v2 model or ``TypedDict``), and the result with
        ``choices[i].message.parsed`` an instance of it.

        The class's JSON schema is sent as ``response_format: {"type": "json_schema",
        "json_schema": {"name": ..., "schema": ..., "strict": true}}`` (``strict=False``:
        a plain schema, fields with defaults not required), with
        ``provider.require_parameters: true`` unless ``provider`` sets it. Every other
        keyword is ``send``'s (``model``, ``temperature``, ``provider``, ``extra_body``...);
        ``stream`` is not (see :meth:`stream_parse`).

        A refusal sets ``message.refusal`` and leaves ``parsed`` ``None``. An answer that
        is not JSON or does not fit the class raises
        :class:`~openrouter_async.StructuredOutputError` (``.content`` is the raw text).
        """
        arguments = _arguments("parse", response_format, strict, dict(kwargs))
        return await _parse_via(cast("Any", self).send, messages, response_format, arguments)

    def stream_parse(
        self,
        *,
        response_format: type[T],
        messages: Sequence[ChatMessages | Mapping[str, Any]],
        strict: bool = True,
        **kwargs: Unpack[ChatSendOptions],
    ) -> AsyncParsedStream[T]:
        """:meth:`parse`, streamed: ``async with session.chat.stream_parse(...) as
        stream:`` then ``async for event in stream`` (``event.type`` is ``"chunk"``,
        ``"content.delta"`` — ``event.parsed`` the partial document so far —,
        ``"content.done"`` — ``event.parsed`` the instance —, ``"refusal.delta"`` or
        ``"refusal.done"``), and ``await stream.get_final_completion()``. The arguments
        are checked here, before anything is sent; the request goes out on entering."""
        arguments = _arguments("stream_parse", response_format, strict, dict(kwargs))
        return _stream_via(cast("Any", self).send, messages, response_format, arguments)


class ParseMixin:
    """``client.chat.parse`` / ``parse_async`` and ``stream_parse`` / ``stream_parse_async``."""

    __slots__ = ()

    def parse(
        self,
        *,
        response_format: type[T],
        messages: Sequence[ChatMessages | Mapping[str, Any]],
        strict: bool = True,
        **kwargs: Unpack[ChatSendOptions],
    ) -> ParsedChatResult[T]:
        """``chat.send`` asking for an answer in ``response_format`` (a class), parsed into
        it on ``choices[i].message.parsed``: see :meth:`AsyncParseMixin.parse`."""
        arguments = _arguments("parse", response_format, strict, dict(kwargs))
        send: Callable[..., Any] = cast("Any", self).send
        result: ChatResult = send(messages=messages, **arguments)
        return parse_result(result, response_format)

    async def parse_async(
        self,
        *,
        response_format: type[T],
        messages: Sequence[ChatMessages | Mapping[str, Any]],
        strict: bool = True,
        **kwargs: Unpack[ChatSendOptions],
    ) -> ParsedChatResult[T]:
        """:meth:`parse` as a coroutine."""
        arguments = _arguments("parse_async", response_format, strict, dict(kwargs))
        send = cast("Any", self).send_async
        return await _parse_via(send, messages, response_format, arguments)

    def stream_parse(
        self,
        *,
        response_format: type[T],
        messages: Sequence[ChatMessages | Mapping[str, Any]],
        strict: bool = True,
        **kwargs: Unpack[ChatSendOptions],
    ) -> ParsedStream[T]:
        """:meth:`parse`, streamed: ``with client.chat.stream_parse(...) as stream: for
        event in stream: ...``, then ``stream.get_final_completion()`` (the events are
        :meth:`AsyncParseMixin.stream_parse`'s)."""
        arguments = _arguments("stream_parse", response_format, strict, dict(kwargs))
        send: Callable[..., Any] = cast("Any", self).send

        def open_stream() -> SyncStream[ChatStreamChunk]:
            stream: SyncStream[ChatStreamChunk] = send(messages=messages, stream=True, **arguments)
            return stream

        return ParsedStream(open_stream, response_format)

    def stream_parse_async(
        self,
        *,
        response_format: type[T],
        messages: Sequence[ChatMessages | Mapping[str, Any]],
        strict: bool = True,
        **kwargs: Unpack[ChatSendOptions],
    ) -> AsyncParsedStream[T]:
        """:meth:`stream_parse` with ``async with`` / ``async for``."""
        arguments = _arguments("stream_parse_async", response_format, strict, dict(kwargs))
        send = cast("Any", self).send_async
        return _stream_via(send, messages, response_format, arguments)
