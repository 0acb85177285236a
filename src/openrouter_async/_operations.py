"""Runs a generated operation: keyword arguments → one HTTP exchange → a typed result.

Every method of the generated resource groups is a signature, a docstring and one call into
this module with an :class:`Operation` (the spec's description of the call) and the method's
``locals()``. All the checking happens here, before anything is sent: path parameters must be
present and non-empty, query and header values are rendered as the spec expects, a JSON body is
built (and so validated) as its model, a multipart body is assembled from its parts.

``extra_body``, ``extra_query`` and ``extra_headers`` (openai-python's names and semantics) are
merged in last, after the known arguments were checked: they send what the spec does not
describe (yet), and override a known field, parameter or header of the same name.

The exchange itself is the core's (``_exchange.py``): JSON, stream or raw (multipart uploads,
binary downloads, empty answers), each with the gate, deadlines, retries and error mapping.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, Union
from urllib.parse import quote

from . import _convert
from ._events import event_data, skip_named_event, typed_event_data
from ._model import Model
from ._options import attribution_headers, check_base_url
from ._raw import to_sync
from ._sse import ServerSentEvent
from ._streams import SKIP, Accumulator, StreamHelpers
from ._unset import UNSET
from .errors import RequestValidationError

if TYPE_CHECKING:
    from ._exchange import Exchange
    from ._portal import PortalThread

__all__ = [
    "FacadeRunner",
    "FileInput",
    "Operation",
    "SessionRunner",
    "call",
    "call_async_facade",
    "call_sync",
    "chat_text",
    "register_accumulator",
    "with_extras",
]

#: What a file part of a multipart upload accepts: raw bytes, a path, an open binary file, or
#: ``(filename, bytes-or-file[, content_type])``. Files and paths are streamed, not read whole.
FileInput = Union[
    bytes,
    "os.PathLike[str]",
    BinaryIO,
    tuple[str, bytes | BinaryIO],
    tuple[str, bytes | BinaryIO, str],
]


class Operation:
    """One operation of the spec, as the generated code describes it."""

    __slots__ = (
        "accept",
        "authenticated",
        "body",
        "body_fields",
        "event",
        "event_wrapped",
        "form",
        "headers",
        "kind",
        "method",
        "name",
        "paging",
        "parser",
        "path",
        "path_params",
        "query",
        "result",
    )

    def __init__(
        self,
        name: str,
        method: str,
        path: str,
        *,
        path_params: tuple[tuple[str, str], ...] = (),
        query: tuple[tuple[str, str], ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
        body: type[Any] | None = None,
        body_fields: tuple[str, ...] = (),
        form: tuple[tuple[str, str, bool], ...] = (),
        result: Any = None,
        kind: str = "json",
        event: type[Any] | None = None,
        event_wrapped: bool = False,
        authenticated: bool = True,
        accept: str | None = None,
        paging: Any = None,
    ) -> None:
        self.name = name  #: ``group.method``, for error messages
        self.method = method
        self.path = path
        self.path_params = path_params  #: (python name, wire name)
        self.query = query
        self.headers = headers
        self.body = body  #: the JSON body's model class
        self.body_fields = body_fields  #: its fields' Python names (the method's kwargs)
        self.form = form  #: multipart parts: (python name, wire name, is a file)
        self.result = result
        self.kind = kind  #: "json", "binary" or "empty"
        self.event = event  #: the type of one streamed event (or its ``{data: ...}`` wrapper)
        self.event_wrapped = event_wrapped
        self.authenticated = authenticated
        self.parser: Callable[[ServerSentEvent], Any] | None = None  # built on first stream
        self.accept = accept  #: the Accept header of a binary download (``audio/*``)
        #: how the pages of a list operation follow each other (``_pages.Paging``), or None
        self.paging = paging

    def __repr__(self) -> str:
        return f"<Operation {self.name}: {self.method} {self.path}>"


class _Prepared:
    __slots__ = ("base_url", "body", "form", "headers", "params", "path", "streaming")

    def __init__(self) -> None:
        self.base_url: str | None = None  # this call's own server_url
        self.path = ""
        self.params: dict[str, str | list[str]] | None = None
        self.headers: dict[str, str] | None = None
        self.body: bytes | None = None
        self.form: tuple[dict[str, str], list[tuple[str, Any]]] | None = None
        self.streaming = False


def _render(value: Any) -> str:
    """A query, path or header value as text (booleans the JSON way, sequences comma-joined)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_render(v) for v in value)
    return str(value)


def _query_value(value: Any) -> str | list[str]:
    """A query parameter's value: a sequence repeats the parameter (``status=a&status=b``,
    OpenAPI's default ``form`` style with ``explode``, as the official SDK sends it)."""
    if isinstance(value, (list, tuple)):
        return [_render(v) for v in value]
    return _render(value)


def prepare(op: Operation, args: Mapping[str, Any]) -> _Prepared:
    """Check and render every argument; raise :class:`RequestValidationError` on bad input."""
    prepared = _Prepared()
    path = op.path
    for py, wire in op.path_params:
        value = args[py]
        if value is None or value is UNSET or (isinstance(value, str) and not value.strip()):
            raise RequestValidationError(f"{op.name}: a non-empty value is required", path=py)
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise RequestValidationError(
                f"{op.name}: expected a string, got {type(value).__name__}", path=py
            )
        path = path.replace("{" + wire + "}", quote(str(value), safe=""))
    prepared.path = path
    if op.query:
        params = {
            wire: _query_value(args[py])
            for py, wire in op.query
            if args[py] is not None and args[py] is not UNSET
        }
        prepared.params = params or None
    headers: dict[str, str] = {}
    for py, wire in op.headers:
        if args[py] is not None and args[py] is not UNSET:
            headers[wire] = _render(args[py])
    if (
        args.get("http_referer")
        or args.get("x_open_router_title")
        or args.get("x_open_router_categories")
    ):
        try:
            headers.update(attribution_headers(args, environ=False))
        except (TypeError, ValueError) as error:
            raise RequestValidationError(f"{op.name}: {error}") from None
    server_url = args.get("server_url")
    if server_url is not None:
        try:
            prepared.base_url = check_base_url(server_url, "server_url")
        except ValueError as error:
            raise RequestValidationError(str(error), path="server_url") from None
    security = args.get("security")
    if security is not None:
        authorization = _authorization(security, op)
        if authorization is not None:
            headers["Authorization"] = authorization
    extra = args.get("http_headers")
    if extra:
        headers.update(extra)
    extra_headers = args.get("extra_headers")
    if extra_headers is not None:
        headers.update(_checked_headers(extra_headers))
    prepared.headers = headers or None
    extra_body = args.get("extra_body")
    if extra_body is not None:
        extra_body = _checked_mapping(extra_body, "extra_body")
        if op.event is not None and "stream" in extra_body:
            raise RequestValidationError(
                f"{op.name}: pass stream= as an argument, not in extra_body (it decides how"
                " the answer is read)",
                path="extra_body.stream",
            )
    if op.body is not None:
        fields = {name: args[name] for name in op.body_fields if args[name] is not UNSET}
        adapt = _BODY_ADAPTERS.get(op.body.__name__)
        if adapt is not None:
            adapt(fields)
        model = op.body(**fields)  # validates, raising RequestValidationError with a path
        prepared.streaming = op.event is not None and getattr(model, "stream", None) is True
        if extra_body is None:
            prepared.body = _convert.dumps(model)
        else:
            prepared.body = _merged_json(_convert.unstructure(model), extra_body)
    elif op.form:
        prepared.form = _form(op, args)
        if extra_body is not None:
            _merge_form(prepared.form, extra_body)
    elif extra_body is not None:
        # As openai-python does: an operation without a body sends extra_body as its body.
        prepared.body = _merged_json({}, extra_body)
    extra_query = args.get("extra_query")
    if extra_query is not None:
        prepared.params = _merged_query(prepared.params, extra_query)
    return prepared


# -- extra_body / extra_query / extra_headers ------------------------------------------------


def with_extras(
    name: str,
    body: bytes | None,
    headers: Mapping[str, str] | None,
    *,
    extra_body: Mapping[str, Any] | None,
    extra_query: Mapping[str, Any] | None,
    extra_headers: Mapping[str, str] | None,
) -> tuple[bytes | None, dict[str, str | list[str]] | None, dict[str, str] | None]:
    """(body, params, headers) of a request already built as JSON bytes (the Session's own
    ``send``/``stream``) with the extras merged in the way :func:`prepare` merges them."""
    if extra_body is not None:
        extra_body = _checked_mapping(extra_body, "extra_body")
        if "stream" in extra_body:
            raise RequestValidationError(
                f"{name}: stream is set by the method (send or stream), not by extra_body",
                path="extra_body.stream",
            )
        data = _convert.loads(body) if body is not None else {}
        body = _merged_json(data, extra_body)
    params = _merged_query(None, extra_query) if extra_query is not None else None
    merged = dict(headers) if headers else {}
    if extra_headers is not None:
        merged.update(_checked_headers(extra_headers))
    return body, params, merged or None


def _checked_mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RequestValidationError(f"expected a mapping, got {type(value).__name__}", path=path)
    for key in value:
        if not isinstance(key, str):
            raise RequestValidationError(
                f"keys must be strings, got {type(key).__name__}", path=path
            )
    return value


def _checked_headers(value: Any) -> Mapping[str, str]:
    """Names and values must be text; whether they can be sent (no CR/LF, ASCII) is checked
    with every other header when the request is built."""
    headers = _checked_mapping(value, "extra_headers")
    for key, item in headers.items():
        if not isinstance(item, str):
            raise RequestValidationError(
                f"a header value must be a str, got {type(item).__name__}",
                path=f"extra_headers.{key}",
            )
    return headers


def _merged_json(data: Any, extra_body: Mapping[str, Any]) -> bytes:
    """A top-level merge, as openai-python's: a key of ``extra_body`` replaces the known
    field of the same name whole (``None`` sends ``null``)."""
    if not isinstance(data, dict):
        raise RequestValidationError(
            f"cannot merge into a JSON body of type {type(data).__name__}", path="extra_body"
        )
    data.update(extra_body)
    try:
        return _convert.dumps(data)
    except RequestValidationError as error:
        raise RequestValidationError(error.reason, path="extra_body") from None


def _merged_query(
    params: Mapping[str, str | list[str]] | None, extra_query: Any
) -> dict[str, str | list[str]] | None:
    """The query with ``extra_query`` merged in: values rendered like known parameters
    (booleans ``true``/``false``, a sequence repeating the parameter); ``None`` removes it."""
    merged = dict(params) if params else {}
    for key, value in _checked_mapping(extra_query, "extra_query").items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, (str, int, float, bool, list, tuple)):
            merged[key] = _query_value(value)
        else:
            raise RequestValidationError(
                f"expected a string, number, boolean or list, got {type(value).__name__}",
                path=f"extra_query.{key}",
            )
    return merged or None


def _merge_form(
    form: tuple[dict[str, str], list[tuple[str, Any]]], extra: Mapping[str, Any]
) -> None:
    """``extra_body`` as further form fields of a multipart body, flattened as openai-python
    does (``{"a": {"b": 1}}`` → ``a[b]=1``, a list → repeated ``a[]`` parts); a key replaces
    the known part of the same name, ``None`` removes it."""
    data, files = form
    for key, value in extra.items():
        data.pop(key, None)
        files[:] = [part for part in files if part[0] != key]
        items = list(_form_items(key, value))
        for name, text in items:
            if sum(1 for n, _ in items if n == name) > 1:
                files.append((name, (None, text)))  # repeated: a part each
            else:
                data[name] = text


def _form_items(key: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, Mapping):
        for sub, item in value.items():
            yield from _form_items(f"{key}[{sub}]", item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _form_items(f"{key}[]", item)
    elif isinstance(value, (str, int, float, bool)):
        yield key, _render(value)
    else:
        raise RequestValidationError(
            f"a form field takes a string, number, boolean, list or mapping, got"
            f" {type(value).__name__}",
            path=f"extra_body.{key}",
        )


def _responses_tools(fields: dict[str, Any]) -> None:
    """Function tools in the Chat Completions shape, ``{"type": "function", "function": {name,
    description, parameters}}``, become the Responses API's flat ``{"type": "function", name,
    description, parameters}``: the product description's Responses example (and much code
    ported from chat) writes them that way, and the API accepts only the flat one."""
    tools = fields.get("tools")
    if not isinstance(tools, (list, tuple)):
        return
    converted = []
    for tool in tools:
        if (
            isinstance(tool, Mapping)
            and tool.get("type") == "function"
            and isinstance(tool.get("function"), Mapping)
            and "name" not in tool
        ):
            rest = {k: v for k, v in tool.items() if k != "function"}
            tool = {**rest, **tool["function"]}
        converted.append(tool)
    fields["tools"] = converted


#: body model name → a function adjusting the keyword arguments before the model is built
_BODY_ADAPTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "ResponsesRequest": _responses_tools,
}


def _authorization(security: Any, op: Operation) -> str | None:
    """The per-call key; an empty one means "none given" (``bearer=os.getenv(..., "")``, as
    the product description writes it): the client's own key is sent instead."""
    bearer = getattr(security, "bearer", None)
    if not isinstance(bearer, str):
        raise RequestValidationError(
            f"{op.name}: security needs a `bearer` string", path="security.bearer"
        )
    return f"Bearer {bearer}" if bearer else None


def _form(op: Operation, args: Mapping[str, Any]) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    data: dict[str, str] = {}
    files: list[tuple[str, Any]] = []
    for py, wire, is_file in op.form:
        value = args[py]
        if value is None or value is UNSET:
            continue
        if is_file:
            files.append((wire, _file_part(value, py)))
        elif isinstance(value, (list, tuple)):
            for item in value:  # repeated parts: `timestamp_granularities[]`
                files.append((wire, (None, _render(item))))
        else:
            data[wire] = _render(value)
    return data, files


def _file_part(value: Any, py: str) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return ("upload", bytes(value))
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not os.path.isfile(path):
            raise RequestValidationError(f"no such file: {path!r}", path=py)
        return (os.path.basename(path), _LazyFile(path))
    if isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[0], str):
        return value
    if hasattr(value, "read"):
        name = os.path.basename(str(getattr(value, "name", "upload")))
        return (name, value)
    raise RequestValidationError(
        f"expected bytes, a path, a binary file or (filename, content), got {type(value).__name__}",
        path=py,
    )


class _LazyFile:
    """A file path opened when the upload is rendered (httpx seeks to 0 first, and again on a
    retry) and closed once read to its end, so that a path argument never leaves a handle
    open after the call and is never read into memory whole."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = path
        self._handle: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        if self._handle is None or self._handle.closed:
            self._handle = open(self.path, "rb")
        return self._handle

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._open().seek(offset, whence)

    def tell(self) -> int:
        return self._open().tell()

    def read(self, size: int = -1) -> bytes:
        handle = self._open()
        chunk = handle.read(size)
        if not chunk or size < 0:
            handle.close()
        return chunk


def _parse_event(op: Operation) -> Callable[[ServerSentEvent], Any]:
    """The event parser of a streaming operation, built once per operation."""
    parser: Callable[[ServerSentEvent], Any] | None = op.parser
    if parser is not None:
        return parser
    event_type = op.event
    assert event_type is not None

    # Named events (``ping``, ``openrouter.metadata``...) are dropped as SKIP where they are
    # not one of the stream's own events: see the rule in _events.py.
    def parse(event: ServerSentEvent) -> Any:
        name = event.event
        if op.event_wrapped:  # events that carry their own `type`
            data = typed_event_data(event)
            if data is SKIP:
                return SKIP
            wrapper = {"data": data}
            named = name is not None and name != "message"
            if named:
                wrapper["event"] = name
            typed = _convert.parse(wrapper, event_type).data
            if typed is None:  # read leniently, yet no event kind of the spec has its `type`
                if named:
                    # Named after its own type, but a type this stream does not have
                    # (`event: ping` with `{"type": "ping"}` in a Responses stream).
                    return SKIP
                raise _convert.unknown_event(event.data)
            return typed
        if name is not None and name != "message":
            return skip_named_event(event)
        return _convert.parse(event_data(event), event_type)

    op.parser = parse
    return parse


# -- stream helpers (``text_stream``, ``get_final_completion()``: ``_streams.StreamHelpers``) --


def chat_text(chunk: Any) -> str | None:
    """A chat chunk's text delta: the content of its first choice (``index`` 0)."""
    for choice in chunk.choices or ():
        if not choice.index:  # 0, or None from a server that leaves it out
            delta = choice.delta
            return delta.content if delta is not None else None
    return None


def _completions_text(chunk: Any) -> str | None:
    for choice in chunk.choices or ():
        if not choice.index:
            text: str | None = choice.text
            return text
    return None


def _responses_text(event: Any) -> str | None:
    if getattr(event, "type", None) == "response.output_text.delta":
        text: str | None = event.delta
        return text
    return None


def _messages_text(event: Any) -> str | None:
    if getattr(event, "type", None) == "content_block_delta":
        delta = event.delta
        if getattr(delta, "type", None) == "text_delta":
            text: str | None = delta.text
            return text
    return None


#: A stream's helpers by the name of its event type: the text deltas are read here (by
#: attribute, without the models); the chat accumulator, which builds a ChatResult, is
#: registered from above by ``_accumulate.py`` (:func:`register_accumulator`). The streams of
#: other operations get none: their helpers raise a TypeError naming the operation.
_STREAM_HELPERS: dict[str, StreamHelpers] = {
    "ChatStreamChunk": StreamHelpers("chat", text=chat_text),
    "CompletionsResponse": StreamHelpers("completions", text=_completions_text),
    "ResponsesStreamingResponse": StreamHelpers("responses", text=_responses_text),
    "MessagesStreamingResponse": StreamHelpers("messages", text=_messages_text),
}


def register_accumulator(
    event: str, accumulator: Callable[[], Accumulator[Any, Any]]
) -> StreamHelpers:
    """Give the streams of the events named ``event`` an accumulator: called by the module
    that defines it when it is imported (the Session imports it, so it is registered before
    any stream is opened). Returns the helpers."""
    current = _STREAM_HELPERS.get(event)
    helpers = StreamHelpers(
        current.kind if current is not None else event,
        text=current.text if current is not None else None,
        accumulator=accumulator,
    )
    _STREAM_HELPERS[event] = helpers
    return helpers


def _stream_helpers(op: Operation) -> StreamHelpers:
    helpers = _STREAM_HELPERS.get(op.event.__name__) if op.event is not None else None
    return helpers if helpers is not None else StreamHelpers(op.name)


# -- running an operation on a Session ------------------------------------------------------


class SessionRunner(Protocol):
    """What a generated async group runs on: the Session (``session.exchange``)."""

    @property
    def exchange(self) -> Exchange: ...


async def call(session: SessionRunner, op: Operation, args: Mapping[str, Any]) -> Any:
    """Run ``op`` on an open Session with the generated method's arguments: checked and
    built here, exchanged by the core (``_exchange.py``) in the one way its answer needs."""
    prepared = prepare(op, args)
    exchange = session.exchange
    timeout_ms = args.get("timeout_ms")
    retries = args.get("retries")
    if prepared.streaming:
        return await exchange.stream(
            op.method,
            prepared.path,
            _parse_event(op),
            body=prepared.body,
            params=prepared.params,
            timeout_ms=timeout_ms,
            retries=retries,
            http_headers=prepared.headers,
            base_url=prepared.base_url,
            helpers=_stream_helpers(op),
        )
    if op.kind == "json" and prepared.form is None and op.result is not None:
        return await exchange.json(
            op.method,
            prepared.path,
            op.result,
            body=prepared.body,
            params=prepared.params,
            timeout_ms=timeout_ms,
            retries=retries,
            http_headers=prepared.headers,
            base_url=prepared.base_url,
        )
    return await exchange.raw(
        op.method,
        prepared.path,
        result=op.result,
        binary=op.kind == "binary",
        body=prepared.body,
        form=prepared.form,
        params=prepared.params,
        accept=op.accept,
        timeout_ms=timeout_ms,
        retries=retries,
        http_headers=prepared.headers,
        base_url=prepared.base_url,
    )


# -- the facade ------------------------------------------------------------------------------


class FacadeRunner(Protocol):
    """What a generated sync group runs on: the facade, ``OpenRouter``."""

    def _sync(self) -> tuple[PortalThread, SessionRunner]: ...

    def _session_async(self) -> SessionRunner: ...


def call_sync(client: FacadeRunner, op: Operation, args: Mapping[str, Any]) -> Any:
    """The sync facade: run ``op`` in the portal thread; streams and downloads come back as
    their portal-driven twins."""
    portal_thread, session = client._sync()
    result = portal_thread.call(functools.partial(call, session, op, args))
    if type(result) is dict or isinstance(result, Model):  # most results: nothing to wrap
        return result
    return to_sync(result, portal_thread)


async def call_async_facade(client: FacadeRunner, op: Operation, args: Mapping[str, Any]) -> Any:
    return await call(client._session_async(), op, args)
