"""Operations → the resource modules (``resources/_<group>.py``), the group accessors
(``_groups.py``) and the per-call security classes (``operations.py``).

Every group module holds, for each operation, one :class:`Operation` constant and three
methods with the same keyword arguments: ``Async<Group>.<name>`` (the Session's, a coroutine),
``<Group>.<name>`` (the facade's, sync) and ``<Group>.<name>_async`` (the facade's, a
coroutine). Each method's body is one call into ``_operations`` with ``locals()``: the
signature *is* the argument list, so there is nothing to keep in sync by hand.

A paged list operation (``ops.Paging``) also gets its page classes, subclasses of its result
class (one per shape, where the result is a union): ``Async<Group><Name>Page`` (the
Session's, ``_pages.AsyncPage``) and ``<Group><Name>Page`` (the facade's, ``_pages.SyncPage``);
its methods call into ``_pages`` instead, the Session's and the ``_async`` one returning an
``AsyncPaginator`` (awaited for the first page, or ``async for`` over every item).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .emit import HEADER, ModuleEmitter, docstring, join_union, literal
from .ir import Alias, Builder, ClassDef, ListT, Nullable, Ref, UnionT, pascal
from .ops import Operation

#: names the resource modules import; a model with one of these names would clash
_TYPING_NAMES = {"Any", "Literal", "Mapping", "Sequence", "TypeAlias", "overload"}

#: the page methods (``_pages``): a paged result with a field of one of these names would
#: lose it to the method
_PAGE_METHODS = frozenset(
    {
        "has_next_page",
        "result",
        "next",
        "next_async",
        "auto_paging_iter",
        "auto_paging_iter_async",
        "iter_pages",
        "iter_pages_async",
    }
)

_CONTROL_SIGNATURE = [
    "retries: RetryConfig | None = None",
    "timeout_ms: float | None = None",
    "http_headers: Mapping[str, str] | None = None",
    "extra_headers: Mapping[str, str] | None = None",
    "extra_query: Mapping[str, Any] | None = None",
    "extra_body: Mapping[str, Any] | None = None",
    "server_url: str | None = None",
    "http_referer: str | None = None",
    "x_open_router_title: str | None = None",
    "x_open_router_categories: str | None = None",
]

#: The operations whose keyword arguments are also a TypedDict (``ChatSendOptions``), and the
#: arguments the methods built on them set themselves.
_TYPED_OPTIONS = {("chat", "send")}
_OWN_ARGUMENTS = frozenset({"messages", "stream", "response_format", "tools"})

_CONTROL_DOC = (
    "retries: this call's retry policy (default: the client's ``retry_config``).\n"
    "timeout_ms: this call's timeout in milliseconds (for a stream: the wait for the headers,\n"
    "    then the longest gap between events).\n"
    "http_headers: extra headers for this call.\n"
    "extra_headers: headers merged in last, overriding any of the same name (openai's\n"
    "    ``extra_headers``).\n"
    "extra_query: query parameters merged in last (``None`` removes one).\n"
    "extra_body: JSON fields merged into the body after the known ones were validated,\n"
    "    overriding a field of the same name (form fields for a multipart body; the whole\n"
    "    body where the operation has none): what the spec does not describe yet.\n"
    "server_url: this call's server instead of the client's.\n"
    "http_referer, x_open_router_title, x_open_router_categories: this call's app\n"
    "    attribution headers instead of the client's (the official SDK's per-call options)."
)

_NAME = re.compile(r"\b[A-Z][A-Za-z0-9_]*\b")


def class_name(group: str) -> str:
    return pascal(group)


class GroupEmitter:
    """Writes ``resources/_<group>.py`` for the operations of one group."""

    def __init__(
        self,
        group: str,
        ops: list[Operation],
        builder: Builder,
        owner: dict[str, str],
        doc: str | None,
    ) -> None:
        self.group = group
        self.ops = ops
        self.b = builder
        self.e = ModuleEmitter(builder, module_doc="")
        self.owner = owner  #: model name → its generated module
        self.doc = doc
        self.runtime_names: set[str] = set()
        self.annotation_names: set[str] = set()
        self.uses_type_alias = False  #: a paged result with several shapes (a union alias)

    # -- pieces ------------------------------------------------------------------------------

    def _note(self, annotation: str) -> str:
        for name in _NAME.findall(annotation):
            if name in self.owner:
                self.annotation_names.add(name)
        return annotation

    def body_class(self, op: Operation) -> ClassDef | None:
        if op.body_kind != "json" or op.body_schema is None:
            return None
        return self.b.classes[op.body_schema]

    def event(self, op: Operation) -> tuple[str, str, bool] | None:
        """(runtime type, annotation of one event, wrapped) of a streaming operation."""
        if op.stream_schema is None:
            return None
        wrapper = self.b.classes.get(op.stream_schema)
        if wrapper is None:
            return None
        data = next(f for f in wrapper.fields if f.wire == "data")
        if isinstance(data.type, Ref):
            return data.type.name, data.type.name, False
        return op.stream_schema, self.e.ann(data.type), True

    def streams(self, op: Operation) -> bool:
        cls = self.body_class(op)
        return (
            self.event(op) is not None
            and cls is not None
            and any(f.py == "stream" for f in cls.fields)
        )

    def arguments(self, op: Operation, stream: str | None) -> list[str]:
        """The keyword arguments of a method; ``stream`` replaces the body's ``stream``."""
        required: list[str] = []
        optional: list[str] = []
        for p in op.params:
            ann = self._note(p.ann)
            if p.required:
                required.append(f"{p.py}: {ann}")
            else:
                optional.append(f"{p.py}: {join_union([ann, 'None'])} = None")
        cls = self.body_class(op)
        if cls is not None:
            for f in cls.fields:
                if f.py == "stream" and stream is not None:
                    (required if "=" not in stream else optional).append(stream)
                    continue
                ann = self._note(self.e.inp(f.type))
                if f.required and not f.has_const_default:
                    required.append(f"{f.py}: {ann}")
                elif f.has_const_default:
                    optional.append(f"{f.py}: {ann} = {literal(f.const_default)}")
                else:
                    optional.append(f"{f.py}: {join_union([ann, 'Unset'])} = UNSET")
        for part in op.form:
            ann = self._note(part.ann)
            if part.required:
                required.append(f"{part.py}: {ann}")
            else:
                optional.append(f"{part.py}: {join_union([ann, 'None'])} = None")
        if op.security_class:
            optional.append(f"security: operations.{op.security_class} | None = None")
        return required + optional + _CONTROL_SIGNATURE

    # -- pages -------------------------------------------------------------------------------

    def _runtime(self, annotation: str) -> str:
        """An annotation used at run time (a class base): its names are imported for real."""
        for name in _NAME.findall(annotation):
            if name in self.owner:
                self.runtime_names.add(name)
        return annotation

    def result_shapes(self, op: Operation) -> list[ClassDef]:
        """The classes a paged operation's result can be (one, or a union's alternatives)."""
        assert op.response_schema is not None and op.paging is not None
        name = op.response_schema
        if name in self.b.classes:
            shapes = [self.b.classes[name]]
        else:
            target = self.b.aliases[name].target
            alts = target.alts if isinstance(target, UnionT) else ()
            if not alts or not all(isinstance(a, Ref) for a in alts):
                raise ValueError(f"{op.operation_id}: a paged result that is not a class")
            shapes = [self.b.classes[a.name] for a in alts if isinstance(a, Ref)]
        for cls in shapes:
            clash = _PAGE_METHODS & {f.py for f in cls.fields}
            if clash:
                raise ValueError(f"{op.operation_id}: {cls.name} has fields named {clash}")
        return shapes

    def _field(self, cls: ClassDef, wire: str | None) -> str | None:
        if wire is None:
            return None
        for f in cls.fields:
            if f.wire == wire:
                return f.py
        return None

    def item_ann(self, op: Operation, cls: ClassDef) -> str:
        """The annotation of one item of a page of ``cls``."""
        assert op.paging is not None
        field = next(f for f in cls.fields if f.wire == op.paging.items)
        t = field.type
        while isinstance(t, (Nullable, Alias)):  # `ModelsListResponseData = list[Model]`
            t = t.inner if isinstance(t, Nullable) else self.b.aliases[t.name].target
        if not isinstance(t, ListT):
            raise ValueError(f"{op.operation_id}: {cls.name}.{field.py} is not a list")
        return self.e.ann(t.item)

    def page_classes(self, op: Operation, flavour: str) -> list[tuple[str, ClassDef]]:
        """(page class name, result class) of each shape; ``flavour``: "async" or "facade"."""
        shapes = self.result_shapes(op)
        prefix = "Async" if flavour == "async" else ""
        base = f"{prefix}{class_name(self.group)}{pascal(op.name)}"
        if len(shapes) == 1:
            return [(f"{base}Page", shapes[0])]
        return [(f"{base}{cls.name}Page", cls) for cls in shapes]

    def page_ann(self, op: Operation, flavour: str) -> str:
        """The page type (a union alias of the shapes' page classes where there are several)."""
        classes = self.page_classes(op, flavour)
        if len(classes) == 1:
            return classes[0][0]
        prefix = "Async" if flavour == "async" else ""
        return f"{prefix}{class_name(self.group)}{pascal(op.name)}Page"

    def items_ann(self, op: Operation) -> str:
        return join_union(self._note(self.item_ann(op, cls)) for cls in self.result_shapes(op))

    def paginator(self, op: Operation, flavour: str) -> str:
        return f"AsyncPaginator[{self.page_ann(op, flavour)}, {self.items_ann(op)}]"

    def paging_argument(self, op: Operation) -> str:
        """The ``paging=_Paging(...)`` of the operation's constant."""
        paging = op.paging
        assert paging is not None
        shapes = self.result_shapes(op)
        items = {self._field(cls, paging.items) for cls in shapes}
        assert len(items) == 1, items
        kw = [literal(paging.kind), f"items={literal(items.pop())}"]
        for name in ("offset", "limit", "default_limit", "max_offset", "cursor"):
            value = getattr(paging, name)
            if value is not None:
                kw.append(f"{name}={literal(value)}")
        total = self._field(shapes[0], paging.total) if paging.total else None
        if total is not None:
            kw.append(f"total={literal(total)}")
        if paging.next_cursor is not None:
            found = {self._field(cls, paging.next_cursor) for cls in shapes} - {None}
            if len(found) != 1:
                raise ValueError(f"{op.operation_id}: no single field {paging.next_cursor!r}")
            kw.append(f"next_cursor={literal(found.pop())}")
        if paging.forward:
            pairs = []
            for shape, param in paging.forward:
                if shape not in {cls.name for cls in shapes}:
                    raise ValueError(f"{op.operation_id}: {shape} is not a shape of the result")
                self.runtime_names.add(shape)
                pairs.append(f"({shape}, {literal(param)})")
            kw.append(f"forward=({''.join(p + ', ' for p in pairs)})")
        return f"_Paging({', '.join(kw)})"

    def page_definitions(self, op: Operation) -> list[str]:
        """The page classes of a paged operation (and their union aliases)."""
        out: list[str] = []
        call = f"{op.group}.{op.name}"
        for flavour in ("async", "facade"):
            base = "_AsyncPage" if flavour == "async" else "_SyncPage"
            classes = self.page_classes(op, flavour)
            for page, cls in classes:
                self.runtime_names.add(cls.name)
                item = self._runtime(self.item_ann(op, cls))
                if flavour == "async":
                    doc = (
                        f"A page of ``{call}`` on a :class:`Session`: the :class:`{cls.name}`"
                        " it answered, which also fetches the pages after it: ``await"
                        " page.next()`` (``None`` after the last), ``page.has_next_page()``,"
                        " ``async for item in page`` over the items of every page."
                    )
                else:
                    doc = (
                        f"A page of ``{call}`` on the :class:`OpenRouter` facade: the"
                        f" :class:`{cls.name}` it answered, which also fetches the pages after"
                        " it: ``page.next()`` (``None`` after the last; ``await"
                        " page.next_async()``), ``page.has_next_page()``, ``for item in page``"
                        " (``async for``) over the items of every page."
                    )
                out += [
                    "",
                    f"class {page}({base}[{item}], {cls.name}):",
                    *["    " + line for line in docstring(doc).splitlines()],
                    "",
                    '    __slots__ = ("_page_call",)',
                    "",
                ]
            if len(classes) > 1:
                self.uses_type_alias = True
                members = " | ".join(page for page, _ in classes)
                out += ["", f"{self.page_ann(op, flavour)}: TypeAlias = {members}", ""]
        return out

    def page_names(self) -> list[str]:
        names: list[str] = []
        for op in self.ops:
            if op.paging is None:
                continue
            for flavour in ("async", "facade"):
                classes = self.page_classes(op, flavour)
                names += [page for page, _ in classes]
                if len(classes) > 1:
                    names.append(self.page_ann(op, flavour))
        return names

    def result(self, op: Operation, flavour: str) -> str:
        if op.response_kind == "binary":
            return "BinaryResponse" if flavour == "async" else "SyncBinaryResponse"
        if op.response_schema is None:
            return "None"
        self.runtime_names.add(op.response_schema)
        return self._note(op.response_schema)

    def stream_result(self, op: Operation, flavour: str) -> str:
        event = self.event(op)
        assert event is not None
        kind = "AsyncStream" if flavour == "async" else "SyncStream"
        return f"{kind}[{self._note(event[1])}]"

    def docstring(self, op: Operation, flavour: str) -> str:
        parts: list[str] = []
        head = op.summary or f"{op.method} {op.path}"
        parts.append(f"{head.rstrip('.')} (``{op.method} {op.path}``).")
        if op.description and op.description.strip() != (op.summary or "").strip():
            parts.append(op.description.strip())
        if flavour == "facade-async":
            parts.append("The coroutine twin of the sync method of the same name.")
        if self.streams(op):
            parts.append(
                "With ``stream=True`` the events come back as a stream: ``with`` it (``async"
                " with`` for the async forms) and iterate."
            )
        if op.paging is not None:
            result = op.response_schema
            if flavour == "async":
                parts.append(
                    f"Await it for the first page: the ``{result}``, which also fetches the"
                    " pages after it (``await page.next()``, ``None`` after the last;"
                    " ``page.has_next_page()``; ``async for item in page``). Or ``async for"
                    " item in`` the call itself: every item of every page, each page fetched"
                    " when the one before is used up."
                )
            elif flavour == "facade":
                parts.append(
                    f"Returns the first page: the ``{result}``, which also fetches the pages"
                    " after it (``page.next()``, ``None`` after the last;"
                    " ``page.has_next_page()``). ``for item in page`` walks every item of"
                    " every page, each page fetched when the one before is used up."
                )
            else:
                parts.append(
                    "Await it for the first page (``await page.next_async()``, ``async for"
                    " item in page``), or ``async for item in`` the call itself."
                )
        if op.response_kind == "binary":
            parts.append(
                "Returns the body as a stream of bytes: ``read()``, ``iter_bytes()`` or"
                " ``save(path)``; use it in a ``with`` block so that the connection is"
                " released."
            )
        if op.deprecated:
            parts.append("Deprecated by the API.")
        args: list[str] = []
        for p in op.params:
            args.append(_arg_doc(p.py, p.doc, f"{p.where} parameter ``{p.wire}``"))
        cls = self.body_class(op)
        if cls is not None:
            for f in cls.fields:
                args.append(_arg_doc(f.py, f.doc, None))
        for part in op.form:
            args.append(_arg_doc(part.py, part.doc, "a file to upload" if part.is_file else None))
        if op.security_class:
            args.append(
                f"security: the key for this call (``operations.{op.security_class}(bearer=...)``"
                "), instead of the client's."
            )
        args.append(_CONTROL_DOC)
        parts.append("Args:\n" + "\n".join(_indent_block(a) for a in args))
        return "\n\n".join(parts)

    # -- methods -----------------------------------------------------------------------------

    def method(self, op: Operation, flavour: str) -> list[str]:
        """One method (with its overloads for a streaming operation).

        ``flavour``: "async" (the Session's group), "facade" or "facade-async".
        """
        is_async = flavour in ("async", "facade-async")
        name = op.name + ("_async" if flavour == "facade-async" else "")
        define = "async def" if is_async else "def"
        stream_kind = "async" if flavour != "facade" else "sync"
        const = f"_{op.name.upper()}"
        if flavour == "async":
            call = f"await _call(self._session, {const}, locals())"
        elif flavour == "facade":
            call = f"_call_sync(self._client, {const}, locals())"
        else:
            call = f"await _call_async(self._client, {const}, locals())"
        out: list[str] = []
        if op.paging is not None:
            if self.streams(op):
                raise ValueError(f"{op.operation_id}: a paged operation that streams")
            page_flavour = "async" if flavour == "async" else "facade"
            pages = ", ".join(page for page, _ in self.page_classes(op, page_flavour))
            if flavour == "facade":
                returns = self.page_ann(op, "facade")
                call = f"_paged_sync(self._client, {const}, locals(), {pages})"
            else:
                define = "def"  # returns an AsyncPaginator: awaited or iterated
                returns = self.paginator(op, page_flavour)
                runner = "self._session" if flavour == "async" else "self._client"
                entry = "_paged" if flavour == "async" else "_paged_async"
                call = f"{entry}({runner}, {const}, locals(), {pages})"
            out += self._signature(define, name, op, None, returns)
        elif self.streams(op):
            returns = join_union(
                [self.result(op, stream_kind), self.stream_result(op, stream_kind)]
            )
            # The last overload takes a `bool` known only at run time (`stream=flag`): typed
            # as either result, so that such a call is neither an error nor `Any`.
            variants = [
                ("stream: Literal[True]", self.stream_result(op, stream_kind)),
                ("stream: Literal[False] | Unset = UNSET", self.result(op, stream_kind)),
                ("stream: bool", returns),
            ]
            for stream_arg, variant_returns in variants:
                out += [
                    "@overload",
                    *self._signature(define, name, op, stream_arg, variant_returns),
                ]
                out[-1] += " ..."
                out.append("")
            out += self._signature(define, name, op, "stream: bool | Unset = UNSET", returns)
        else:
            returns = self.result(op, stream_kind)
            out += self._signature(define, name, op, None, returns)
        # The runtime returns Any; the annotated local is where the declared type is claimed.
        body = [
            docstring(self.docstring(op, flavour)),
            f"result: {returns} = {call}",
            "return result",
        ]
        return out + ["    " + line for text in body for line in text.splitlines()]

    def _signature(
        self, define: str, name: str, op: Operation, stream: str | None, returns: str
    ) -> list[str]:
        args = ["self", "*", *self.arguments(op, stream)]
        return [f"{define} {name}(", *[f"    {a}," for a in args], f") -> {returns}:"]

    def operation_constant(self, op: Operation) -> list[str]:
        fields = [literal(f"{op.group}.{op.name}"), literal(op.method), literal(op.path)]

        def pairs(kind: str) -> str:
            items = [f"({literal(p.py)}, {literal(p.wire)})" for p in op.params if p.where == kind]
            return "(" + "".join(f"{i}, " for i in items) + ")"

        kw: list[str] = []
        if any(p.where == "path" for p in op.params):
            kw.append(f"path_params={pairs('path')}")
        if any(p.where == "query" for p in op.params):
            kw.append(f"query={pairs('query')}")
        if any(p.where == "header" for p in op.params):
            kw.append(f"headers={pairs('header')}")
        cls = self.body_class(op)
        if cls is not None:
            self.runtime_names.add(cls.name)
            names = "".join(f"{literal(f.py)}, " for f in cls.fields)
            kw += [f"body={cls.name}", f"body_fields=({names})"]
        if op.form:
            parts = "".join(f"({literal(p.py)}, {literal(p.wire)}, {p.is_file}), " for p in op.form)
            kw.append(f"form=({parts})")
        if op.response_schema:
            self.runtime_names.add(op.response_schema)
            kw.append(f"result={op.response_schema}")
        if op.response_kind != "json":
            kw.append(f"kind={literal(op.response_kind)}")
        if op.binary_types:
            kw.append(f"accept={literal(', '.join(op.binary_types))}")
        event = self.event(op) if self.streams(op) else None
        if event is not None:
            self.runtime_names.add(event[0])
            kw.append(f"event={event[0]}")
            if event[2]:
                kw.append("event_wrapped=True")
        if not op.authenticated:
            kw.append("authenticated=False")
        if op.paging is not None:
            kw.append(f"paging={self.paging_argument(op)}")
        return [f"_{op.name.upper()} = _Operation(", *[f"    {a}," for a in fields + kw], ")"]

    # -- the module --------------------------------------------------------------------------

    def render(self) -> str:
        cname = class_name(self.group)
        options: list[str] = []
        for op in self.ops:
            if (self.group, op.name) in _TYPED_OPTIONS:
                options += self.options_type(op)
        constants: list[str] = []
        for op in self.ops:
            constants += [*self.operation_constant(op), ""]
        pages: list[str] = []
        for op in self.ops:
            if op.paging is not None:
                pages += self.page_definitions(op)
        paged = bool(pages)
        session_methods: list[str] = []
        facade_methods: list[str] = []
        for op in self.ops:
            session_methods += ["", *self.method(op, "async")]
            facade_methods += ["", *self.method(op, "facade")]
            facade_methods += ["", *self.method(op, "facade-async")]
        doc = self.doc or f"The ``{self.group}`` operations."
        out = [
            HEADER,
            docstring(f"``{self.group}``: {doc}"),
            "",
            "from __future__ import annotations",
            "",
            "from collections.abc import Mapping, Sequence",
            "from typing import TYPE_CHECKING, Any, Literal, overload"
            + (", TypedDict" if options else ""),
            "",
            "from .. import operations",
            "from .._operations import FileInput, Operation as _Operation",
            "from .._operations import call as _call",
            "from .._operations import call_async_facade as _call_async",
            "from .._operations import call_sync as _call_sync",
            "from .._raw import raw_async as _raw_async",
            "from .._raw import raw_client as _raw_client",
            "from .._raw import raw_session as _raw_session",
            "from .._raw import raw_sync as _raw_sync",
            "from .._raw import streaming_async as _streaming_async",
            "from .._raw import streaming_sync as _streaming_sync",
            "from .._unset import UNSET, Unset",
        ]
        if paged:
            typing_line = out.index("from typing import TYPE_CHECKING, Any, Literal, overload")
            if self.uses_type_alias:
                out[typing_line] = (
                    "from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload"
                )
            at = out.index("from .._raw import raw_async as _raw_async")
            out[at:at] = [
                "from .._pages import AsyncPage as _AsyncPage",
                "from .._pages import Paging as _Paging",
                "from .._pages import SyncPage as _SyncPage",
                "from .._pages import paged as _paged",
                "from .._pages import paged_async as _paged_async",
                "from .._pages import paged_sync as _paged_sync",
            ]
        by_module: dict[str, list[str]] = {}
        for name in sorted(self.runtime_names):
            by_module.setdefault(self.owner[name], []).append(name)
        for module, names in sorted(by_module.items()):
            out.append(f"from ..models.{module} import {', '.join(names)}")
        typing_only = sorted(self.annotation_names - self.runtime_names)
        out += [
            "",
            "if TYPE_CHECKING:",
            "    from .._binary import BinaryResponse, SyncBinaryResponse",
            "    from .._config import RetryConfig",
            "    from .._operations import FacadeRunner, SessionRunner",
            "    from .._streams import AsyncStream, SyncStream",
        ]
        if paged:
            out.insert(len(out) - 1, "    from .._pages import AsyncPaginator")
        if typing_only:
            out.append("    from ..models import (")
            out += [f"        {n}," for n in typing_only]
            out.append("    )")
        wrappers = [
            f"Async{cname}WithRawResponse",
            f"Async{cname}WithStreamingResponse",
            f"{cname}WithRawResponse",
            f"{cname}WithStreamingResponse",
        ]
        typed = [
            f"{cname}{class_name(op.name)}Options"
            for op in self.ops
            if (self.group, op.name) in _TYPED_OPTIONS
        ]
        exported = ", ".join(
            literal(n)
            for n in sorted([f"Async{cname}", cname, *wrappers, *self.page_names(), *typed])
        )
        out += [
            "",
            f"__all__ = [{exported}]",
            "",
            "# Referenced by the signatures only; kept so that linters see them used.",
            "_ = (Any, FileInput, Sequence, operations)",
            "",
            *constants,
            *options,
            *pages,
            "",
            f"class Async{cname}:",
            *[
                "    " + line
                for line in docstring(
                    f"{doc}\n\nOn a :class:`Session`: every method is a coroutine."
                ).splitlines()
            ],
            "",
            '    __slots__ = ("_session",)',
            "",
            "    def __init__(self, session: SessionRunner) -> None:",
            "        self._session = session",
            *self.raw_properties(f"Async{cname}", "self._session"),
            *["    " + line if line else "" for line in session_methods],
            "",
            "",
            f"class {cname}:",
            *[
                "    " + line
                for line in docstring(
                    f"{doc}\n\nOn the :class:`OpenRouter` facade: ``name(...)`` is sync,"
                    " ``name_async(...)`` a coroutine."
                ).splitlines()
            ],
            "",
            '    __slots__ = ("_client",)',
            "",
            "    def __init__(self, client: FacadeRunner) -> None:",
            "        self._client = client",
            *self.raw_properties(cname, "self._client"),
            *["    " + line if line else "" for line in facade_methods],
            "",
            *self.raw_wrappers(cname),
        ]
        return "\n".join(out) + "\n"

    def options_type(self, op: Operation) -> list[str]:
        """A ``TypedDict`` of an operation's keyword arguments, for hand-written methods that
        take them on (``chat.parse``, ``chat.run_tools``: ``**kwargs: Unpack[...]``), less
        the ones those methods set themselves."""
        name = f"{class_name(self.group)}{class_name(op.name)}Options"
        out = [
            "",
            f"class {name}(TypedDict, total=False):",
            f'    """``{self.group}.{op.name}``\'s keyword arguments but'
            f' {", ".join(sorted(_OWN_ARGUMENTS))}: what the conveniences built on it pass on."""',
            "",
        ]
        for argument in self.arguments(op, None):
            declared = argument.rsplit(" = ", 1)[0] if " = " in argument else argument
            field, annotation = declared.split(": ", 1)
            if field not in _OWN_ARGUMENTS:
                out.append(f"    {field}: {annotation}")
        return [*out, ""]

    # -- with_raw_response / with_streaming_response ---------------------------------------

    def raw_properties(self, cls: str, runner: str) -> list[str]:
        out: list[str] = []
        for attribute, kind, says in (
            (
                "with_raw_response",
                "RawResponse",
                "answering with its status and headers"
                " (``RawResponse``; ``.parse()`` gives the result)",
            ),
            (
                "with_streaming_response",
                "StreamingResponse",
                "as a ``with`` block around the response, whose body is read only when asked",
            ),
        ):
            out += [
                "",
                "    @property",
                f"    def {attribute}(self) -> {cls}With{kind}:",
                f'        """These operations, each {says}."""',
                f"        return {cls}With{kind}({runner})",
            ]
        return out

    def raw_wrappers(self, cname: str) -> list[str]:
        """The classes behind ``with_raw_response`` / ``with_streaming_response``: the group
        built on a raw runner (``_raw.py``), each method retyped for what it returns there."""
        names = [op.name for op in self.ops]
        out: list[str] = []
        for kind, streaming in (("RawResponse", False), ("StreamingResponse", True)):
            wrap = "_streaming" if streaming else "_raw"
            flag = "True" if streaming else "False"
            for cls, runner, make, slots, binds in (
                (
                    f"Async{cname}",
                    "session: SessionRunner",
                    f"Async{cname}(_raw_session(session, streaming={flag}))",
                    sorted(names),
                    [f"self.{n} = {wrap}_async(group.{n})" for n in names],
                ),
                (
                    cname,
                    "client: FacadeRunner",
                    f"{cname}(_raw_client(client, streaming={flag}))",
                    sorted([*names, *(n + "_async" for n in names)]),
                    [
                        line
                        for n in names
                        for line in (
                            f"self.{n} = {wrap}_sync(group.{n})",
                            f"self.{n}_async = {wrap}_async(group.{n}_async)",
                        )
                    ],
                ),
            ):
                out += [
                    "",
                    "",
                    f"class {cls}With{kind}:",
                    f'    """``{cls}.with_{"streaming" if streaming else "raw"}_response``."""',
                    "",
                    f"    __slots__ = ({''.join(literal(n) + ', ' for n in slots)})",
                    "",
                    f"    def __init__(self, {runner}) -> None:",
                    f"        group = {make}",
                    *["        " + b for b in binds],
                ]
        return out


def _arg_doc(name: str, doc: str | None, fallback: str | None) -> str:
    text = (doc or fallback or "").strip()
    first = text.split("\n\n")[0].replace("\n", " ")
    return f"{name}: {first}" if first else name


def _indent_block(text: str) -> str:
    lines = text.splitlines()
    return "\n".join(["    " + lines[0], *["    " + line for line in lines[1:]]])


# -- the group accessors and the security classes --------------------------------------------


def render_groups(groups: Iterable[str], aliases: dict[str, tuple[tuple[str, ...], ...]]) -> str:
    """``_groups.py``: where each API group lives, for the Session and the facade to attach
    (``_attach.Group``), and the namespaces of groups mounted below another name (``beta``).

    Nothing here is imported by the core: the Session and the facade compose these, and each
    group's module is imported on first access (``client.guardrails``).
    """
    groups = sorted(groups)
    namespaces: dict[str, list[tuple[str, str]]] = {}
    for group, places in sorted(aliases.items()):
        for place in places:
            namespaces.setdefault(place[0], []).append((place[1], group))
    ns_names = []
    for namespace in sorted(namespaces):
        ns_names += [f"Async{pascal(namespace)}Namespace", f"{pascal(namespace)}Namespace"]
    out = [
        HEADER,
        docstring(
            "Where the API's groups live: ``SESSION_GROUPS`` and ``CLIENT_GROUPS`` name the\n"
            "module and class of each attribute of the Session (``session.guardrails``) and of\n"
            "the facade (``client.guardrails``); ``_attach.Group`` builds one on first access."
        ),
        "",
        "from __future__ import annotations",
        "",
        "from typing import TYPE_CHECKING, Any",
        "",
        "from ._attach import load_group",
        "",
        "if TYPE_CHECKING:",
    ]
    for group in sorted({g for members in namespaces.values() for _, g in members}):
        cname = class_name(group)
        out.append(f"    from .resources._{group} import Async{cname}, {cname}")
    exported = ["CLIENT_GROUPS", "SESSION_GROUPS", *ns_names]
    out += ["", f"__all__ = [{', '.join(literal(n) for n in exported)}]", ""]
    for flavour in ("session", "client"):
        table = "SESSION_GROUPS" if flavour == "session" else "CLIENT_GROUPS"
        prefix = "Async" if flavour == "session" else ""
        out += ["", f"{table}: dict[str, tuple[str, str]] = {{"]
        for group in groups:
            out.append(f'    "{group}": (".resources._{group}", "{prefix}{class_name(group)}"),')
        for namespace in sorted(namespaces):
            out.append(f'    "{namespace}": ("._groups", "{prefix}{pascal(namespace)}Namespace"),')
        out.append("}")
    for flavour in ("session", "client"):
        prefix = "Async" if flavour == "session" else ""
        table = "SESSION_GROUPS" if flavour == "session" else "CLIENT_GROUPS"
        for namespace, members in sorted(namespaces.items()):
            ns_class = f"{prefix}{pascal(namespace)}Namespace"
            out += ["", "", f"class {ns_class}:"]
            out.append(f'    """``{namespace}``: {", ".join(m for m, _ in members)}."""')
            out += [
                "",
                '    __slots__ = ("_groups", "_owner")',
                "",
                "    def __init__(self, owner: Any) -> None:",
                "        self._owner = owner",
                "        self._groups: dict[str, Any] = {}",
            ]
            for member, group in members:
                cname = prefix + class_name(group)
                out += [
                    "",
                    "    @property",
                    f"    def {member}(self) -> {cname}:",
                    f'        found: {cname} = load_group(self._groups, self._owner, "{member}",'
                    f' {table}["{group}"])',
                    "        return found",
                ]
    return "\n".join(out) + "\n"


def render_security(ops: Iterable[Operation]) -> str:
    """``operations.py``: one class per operation that takes its own key (``security=``)."""
    names = sorted({op.security_class for op in ops if op.security_class})
    out = [
        HEADER,
        docstring(
            "Per-call credentials: operations whose key differs from the client's take\n"
            "``security=operations.<Operation>Security(bearer=...)``. The token never appears\n"
            "in a repr."
        ),
        "",
        "from __future__ import annotations",
        "",
        "import attrs",
        "",
        f"__all__ = [{', '.join(literal(n) for n in names)}]",
        "",
    ]
    for name in names:
        users = [f"{op.group}.{op.name}" for op in ops if op.security_class == name]
        out += [
            "",
            "@attrs.frozen(kw_only=True)",
            f"class {name}:",
            f'    """The key to call ``{", ".join(users)}`` with."""',
            "",
            "    bearer: str = attrs.field(repr=False)",
            '    """Sent as ``Authorization: Bearer <bearer>``."""',
            "",
        ]
    return "\n".join(out) + "\n"


__all__ = ["GroupEmitter", "render_groups", "render_security"]
