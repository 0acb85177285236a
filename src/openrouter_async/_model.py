"""Base class of every generated model.

Generated models are frozen, slotted attrs classes. Fields the spec does not know (a server
newer than our spec) are kept in ``model_extra`` — nothing the server sends is dropped — and
are reachable as attributes too (``chunk.some_new_field``), the way pydantic's
``extra="allow"`` behaves. A response value of a type the spec does not allow is kept there
too, under its JSON name, while its field reads ``None`` (see ``_lenient.py``).
``model_extra`` given on a request is sent as-is, merged into the body: the escape hatch for
a parameter the spec does not describe yet.

The base also carries pydantic v2's model methods, as a compatible subset (``model_dump``,
``model_dump_json``, ``model_validate``, ``model_validate_json``, ``model_copy``,
``model_json_schema``, ``model_fields``, ``model_fields_set``), so code written against the
official SDK's or ``openai``'s pydantic models keeps working; each docstring says where we
differ. They cost nothing at import and nothing on the parse/send paths: everything they
need is imported and computed on first use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet
    from typing import TypeAlias

    from typing_extensions import Self

    #: What ``include=`` / ``exclude=`` take, as pydantic's ``IncEx``: a set of names, or the
    #: nested dict form (``{"choices": {0: {"message": {"content"}}}, "usage": True}``,
    #: ``"__all__"`` for every item of a list). Lists and tuples of names work too.
    IncEx: TypeAlias = "AbstractSet[str] | AbstractSet[int] | Mapping[str, Any] | Mapping[int, Any]"

_M = TypeVar("_M", bound="OneEventStream")
_T = TypeVar("_T", bound="Model")


class ModelField:
    """One field of a model, as pydantic's ``FieldInfo`` shows it (a subset): ``name`` (the
    Python attribute), ``alias`` (the JSON name, the same for most fields), ``annotation``
    (the resolved type), ``default`` (``...`` for a required field) and :meth:`is_required`.
    """

    __slots__ = ("alias", "annotation", "default", "name")

    def __init__(self, name: str, alias: str, annotation: Any, default: Any) -> None:
        self.name = name
        self.alias = alias
        self.annotation = annotation
        self.default = default

    def is_required(self) -> bool:
        """Whether the constructor needs a value for this field."""
        return self.default is ...

    def __repr__(self) -> str:
        default = "required" if self.default is ... else f"default={self.default!r}"
        return f"ModelField(alias={self.alias!r}, annotation={self.annotation!r}, {default})"


class Model:
    """Base of generated models. Subclasses declare ``model_extra`` as their last attrs field."""

    # The JSON names of the nullable fields a parsed body (or a dict given as input) held as
    # an explicit null, set only when there are some: a response-style field reads None both
    # when absent and when null, and this is how ``{"content": null}`` is sent back as it came
    # (see ``_convert.nulls_given``).
    # ``_response_headers``: the headers of the answer a top-level result was read from (set
    # by ``_decode.decode_json``), read only when asked: looking the ids up on every call
    # would cost 1.5 µs; a reference costs nothing.
    __slots__ = ("_nulls_given", "_response_headers")

    @property
    def _request_id(self) -> str | None:
        """The ``X-Request-Id`` of the answer this result came in, if it had one (openai's
        ``_request_id``); ``None`` on nested models and models built by hand."""
        return _response_header(self, "x-request-id")

    @property
    def _generation_id(self) -> str | None:
        """The ``X-Generation-Id`` of the answer this result came in (the id to look the
        call up with ``generations.get``), if it had one; ``None`` on nested models."""
        return _response_header(self, "x-generation-id")

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] | str = "python",
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        by_alias: bool = True,
        exclude_unset: bool = True,
        exclude_none: bool = False,
    ) -> dict[str, Any]:
        """This model as plain JSON data: what it sends (a request) or what came (a response).

        With no options (the fast path): fields not given are left out (``UNSET``; on the
        models a response can hold, ``None`` fields the body did not have, required fields
        aside), ``model_extra`` is merged back in, nested models become dicts, keys are the
        JSON names. A compatible subset of pydantic's keywords:

        * ``include`` / ``exclude``: a set of field names, or pydantic's nested dict form
          (``exclude={"choices": {"__all__": {"logprobs"}}}``; list items by index or
          ``"__all__"``). A name is the Python attribute name, as pydantic's; the JSON name
          is accepted too. ``model_extra`` keys are matched as they are.
        * ``exclude_none``: fields (and ``model_extra`` entries) whose value is ``None`` are
          dropped, in nested models too; as pydantic's, not inside free-form dict values
          (a JSON schema's ``"default": null`` stays).
        * ``mode="json"``: only JSON types left (through the encoder requests use: a
          ``datetime`` or set given in ``model_extra`` becomes a string or list).
        * ``by_alias``: keys are the JSON names (``True``, our default, so the output is the
          wire's; pydantic's default is ``False``); ``False`` gives the Python attribute
          names where they differ (``api_key`` for ``apiKey``, ``shape`` for ``_shape``).
        * ``exclude_unset``: ``True``, our default, leaves out the fields not given (as
          above); pydantic's default is ``False``, which we support too: every field
          written, one not given as ``None`` (pydantic would write its default; ours is
          ``UNSET`` on request models, meaning "the server's default").

        Not supported (a ``TypeError``): ``exclude_defaults``, ``round_trip``, ``context``,
        ``warnings``, ``serialize_as_any``, ``fallback``.
        """
        from ._convert import dumps, loads, unstructure

        if mode != "python" and mode != "json":
            raise ValueError(f"mode must be 'python' or 'json', got {mode!r}")
        data: dict[str, Any] = unstructure(self)
        if (
            include is not None
            or exclude is not None
            or by_alias is not True
            or exclude_unset is not True
            or exclude_none
        ):
            dumper = _Dumper(bool(by_alias), bool(exclude_unset), bool(exclude_none))
            data = dumper.model(self, data, _tree(include, "include"), _tree(exclude, "exclude"))
        if mode == "json":
            data = loads(dumps(data))
        return data

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        by_alias: bool = True,
        exclude_unset: bool = True,
        exclude_none: bool = False,
    ) -> str:
        """:meth:`model_dump` as a JSON string: compact (as pydantic's, no spaces), or
        ``indent`` spaces per level (``{\\n  "id": ...``). The other keywords are
        :meth:`model_dump`'s, with its defaults (where they differ from pydantic's)."""
        import orjson

        from ._convert import _default, dumps
        from .errors import RequestValidationError

        if (
            indent is None
            and include is None
            and exclude is None
            and by_alias is True
            and exclude_unset is True
            and not exclude_none
        ):
            return dumps(self).decode()
        data = self.model_dump(
            include=include,
            exclude=exclude,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_none=exclude_none,
        )
        option = orjson.OPT_INDENT_2 if indent == 2 else 0
        try:
            raw = orjson.dumps(data, default=_default, option=option)
        except orjson.JSONEncodeError as error:
            raise RequestValidationError(f"cannot serialise to JSON: {error}") from None
        if indent is None or indent == 2:
            return raw.decode()
        # orjson indents by two only; the standard library for the rest, of orjson's output
        # (so a value only orjson can encode, a datetime in model_extra, still works)
        import json

        return json.dumps(orjson.loads(raw), indent=indent, ensure_ascii=False)

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None) -> Self:
        """An instance from JSON data (a dict with the JSON names, as :meth:`model_dump`
        gives), another model of the same JSON shape, or an instance (returned as it is).

        Read strictly first, as requests are (``structure``); on the models a response can
        hold, data the strict reading refuses is then read as leniently as a response body
        is (``_convert.parse``): unknown fields kept in ``model_extra``, a value of another
        type kept there too while its field reads ``None``, a missing required field read as
        ``None``. So whatever a response parsed into reads back the same after a
        :meth:`model_dump` (a cache, a log, a test fixture). ``strict=True`` skips the
        lenient reading. Request models have no lenient reading.

        Raises :class:`~openrouter_async.errors.RequestValidationError` (a ``ValueError``, as
        pydantic's ``ValidationError``) naming the bad field (``choices[0].index``). Where we
        differ: keys are the JSON names only (no ``by_name=``); no ``from_attributes``,
        ``context``.
        """
        if isinstance(obj, cls):
            return obj
        from ._convert import parse, structure, unstructure
        from .errors import RequestValidationError, ResponseValidationError

        try:
            return structure(obj, cls)
        except RequestValidationError:
            if strict or not isinstance(obj, (Mapping, Model)):
                raise
            data = unstructure(obj) if isinstance(obj, Model) else dict(obj)
            try:
                return parse(data, cls)
            except ResponseValidationError:
                pass  # nothing usable leniently either (a request model): the strict error
            raise

    @classmethod
    def model_validate_json(
        cls, json_data: str | bytes | bytearray, *, strict: bool | None = None
    ) -> Self:
        """:meth:`model_validate` of a JSON text. Invalid JSON raises
        :class:`~openrouter_async.errors.RequestValidationError` too (pydantic's
        ``ValidationError`` is raised for both)."""
        import orjson

        from .errors import RequestValidationError

        try:
            data = orjson.loads(json_data)
        except orjson.JSONDecodeError as error:
            raise RequestValidationError(f"invalid JSON: {error}") from None
        if not isinstance(data, dict):
            from ._convert import json_type

            raise RequestValidationError(f"expected object, got {json_type(data)}")
        return cls.model_validate(data, strict=strict)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A new (frozen) instance with the fields in ``update`` replaced, the others (and
        ``model_extra``, and how explicit nulls were given) as they are. Shallow, as
        pydantic's: nested models and lists are shared (they are frozen; lists are not, so
        ``deep=True`` copies everything).

        ``update`` keys are field names (the JSON name is accepted too); a key no field has
        goes into ``model_extra``, as pydantic's ``extra="allow"`` models do (on a request,
        it is sent). ``"model_extra"`` replaces the extras. Where we differ: pydantic does
        not validate ``update``; we do, as the constructor would (a wrong type raises
        :class:`~openrouter_async.errors.RequestValidationError` naming the field; a dict
        given for a nested model becomes that model)."""
        return _copy(self, update, deep, None)

    @classmethod
    def model_json_schema(
        cls, by_alias: bool = True, ref_template: str = "#/$defs/{model}"
    ) -> dict[str, Any]:
        """A JSON schema of this model, from its fields' types: ``type: object`` with
        ``properties`` (JSON names, or Python names with ``by_alias=False``), ``required``
        (the fields the constructor needs), ``default`` where there is one,
        ``additionalProperties: true`` (unknown fields are kept), nested models in
        ``$defs`` referenced as ``ref_template`` says, as pydantic's. Enums are open
        (``ChatFinishReasonEnum | str``: ``anyOf`` the listed values and any string);
        ``UNSET`` is not a value (an optional field is simply not required). The models do
        not check constraints (``minimum``, ``maxLength``: the server does), so the schema
        has none; nor field descriptions (see the API reference)."""
        defs: dict[str, Any] = {}
        schema = _SchemaBuilder(by_alias, ref_template, defs).model(cls)
        if defs:
            schema["$defs"] = defs
        return schema

    @property
    def model_fields_set(self) -> set[str]:
        """The names of the fields given (those :meth:`model_dump` writes by default), and
        the ``model_extra`` keys, as pydantic's. Where we differ: a required field of a
        response model the body left out (it reads ``None``) counts as given."""
        from ._convert import unstructure

        data = unstructure(self)
        extra = self.model_extra or {}
        given = {
            name
            for name, alias in _field_names(type(self))
            if alias in data and alias not in extra  # (else: an off-type value kept for it)
        }
        given.update(extra)
        return given

    def __copy__(self) -> Self:
        return _copy(self, None, False, None)

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return _copy(self, None, True, memo)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # attrs' __getstate__ knows only the attrs fields: _nulls_given would be lost.
        names = tuple(name for name, _ in _field_names(type(self)))
        values = tuple(getattr(self, name) for name in names)
        nulls = _nulls(self)
        return (_rebuild, (type(self), names, values, self.model_extra, nulls))

    if TYPE_CHECKING:
        model_extra: dict[str, Any] | None
        #: The fields of the class, by Python name (pydantic's ``model_fields``).
        model_fields: ClassVar[dict[str, ModelField]]
    else:
        # Defined only at run time: declared for the type checker, __getattr__ would make
        # every typo on a model type-check as Any.
        def __getattr__(self, name: str) -> Any:
            if not name.startswith("_"):
                extra = object.__getattribute__(self, "model_extra")
                if extra is not None and name in extra:
                    return extra[name]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class OneEventStream:
    """A complete (non-streaming) result that can also be consumed as a one-event stream.

    The result of an operation that can stream (``chat.send``, ``responses.send``,
    ``messages.create``, ``completions.generate``, ``images.generate``) supports the stream's
    protocol, so code written for ``stream=True`` works unchanged with ``stream=False``::

        with client.beta.responses.send(..., stream=False) as event_stream:
            for event in event_stream:   # exactly one event: the result itself
                print(event)

    Entering and leaving the block does nothing (the body was already read).
    """

    __slots__ = ()

    def __enter__(self: _M) -> _M:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def __aenter__(self: _M) -> _M:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def __iter__(self: _M) -> Iterator[_M]:
        yield self

    async def __aiter__(self: _M) -> AsyncIterator[_M]:
        yield self


# -- fields: Python names and JSON names ---------------------------------------------------

#: class -> ((Python name, JSON name), ...) of its fields, model_extra left out
_NAMES: dict[type, tuple[tuple[str, str], ...]] = {}
#: class -> its model_fields
_MODEL_FIELDS: dict[type, dict[str, ModelField]] = {}


def _field_names(cls: type) -> tuple[tuple[str, str], ...]:
    """The (Python name, JSON name) of each field of a generated class, in field order.

    The generator keeps the JSON names in the (un)structure code only. The generated
    unstructure function of a class writes each field, in field order, under its JSON name
    (``d["apiKey"] = v``), and those key literals are its only string constants: they are
    read from its code object. ``tests/test_model_methods.py`` checks this for every generated
    class against the lenient-parse tables and the generator's naming rule (``ir.snake``).
    Where it does not hold (a user subclass adding fields), the names are taken as equal.
    """
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = _derive_names(cls)
    return names


def _derive_names(cls: type) -> tuple[tuple[str, str], ...]:
    from ._convert import _UNSTRUCTURE

    attributes = [a.name for a in getattr(cls, "__attrs_attrs__", ()) if a.name != "model_extra"]
    for base in cls.__mro__:
        hook = _UNSTRUCTURE.get(base)
        if hook is None:
            continue
        code = getattr(hook, "__code__", None)
        if code is not None:
            own = [a.name for a in getattr(base, "__attrs_attrs__", ()) if a.name != "model_extra"]
            # (before 3.11 a comprehension's qualified name is a constant too)
            wires = [c for c in code.co_consts if type(c) is str and ".<locals>." not in c]
            if len(wires) == len(own) and len(set(wires)) == len(wires):
                alias = dict(zip(own, wires, strict=True))
                return tuple((name, alias.get(name, name)) for name in attributes)
        break
    return tuple((name, name) for name in attributes)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a class's fields (cached: this costs a millisecond)."""
    hints = _HINTS.get(cls)
    if hints is None:
        import typing

        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _model_fields(cls: type) -> dict[str, ModelField]:
    found = _MODEL_FIELDS.get(cls)
    if found is None:
        import attrs

        hints = _hints(cls) if hasattr(cls, "__attrs_attrs__") else {}
        defaults = {a.name: a.default for a in getattr(cls, "__attrs_attrs__", ())}
        found = {}
        for name, alias in _field_names(cls):
            default = defaults.get(name, attrs.NOTHING)
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            found[name] = ModelField(
                name, alias, hints.get(name, Any), ... if default is attrs.NOTHING else default
            )
        _MODEL_FIELDS[cls] = found
    return found


class _ModelFieldsOf:
    """``Model.model_fields``: read on the class (or an instance), as pydantic's."""

    def __get__(self, instance: Any, owner: type) -> dict[str, ModelField]:
        return _model_fields(owner)


Model.model_fields = _ModelFieldsOf()  # type: ignore[assignment]


def _response_header(model: Model, name: str) -> str | None:
    try:
        headers = object.__getattribute__(model, "_response_headers")
    except AttributeError:  # set only on results read from an answer
        return None
    value: str | None = headers.get(name)
    return value


# -- model_dump's options ------------------------------------------------------------------


def _tree(spec: Any, option: str) -> dict[Any, Any] | None:
    """``include`` / ``exclude`` as ``{key: True | subtree}`` (pydantic's two forms)."""
    if spec is None:
        return None
    if isinstance(spec, (str, bytes)):
        raise TypeError(f"{option} takes a set of field names or a dict, not a string")
    if isinstance(spec, Mapping):
        out: dict[Any, Any] = {}
        for key, sub in spec.items():
            if sub is False:
                continue
            out[key] = True if sub is True or sub is ... else _tree(sub, option)
        return out
    try:
        return {key: True for key in spec}
    except TypeError:
        raise TypeError(f"{option} takes a set of field names or a dict") from None


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None or a is True:
        return a
    if b is True:
        return b
    merged = dict(a)
    for key, sub in b.items():
        merged[key] = _merge(merged.get(key), sub)
    return merged


_SKIP = object()


def _select(include: Any, exclude: Any, key: Any, other: Any) -> tuple[Any, Any]:
    """The include / exclude subtrees for one child (known as ``key`` or ``other``), or
    ``_SKIP`` as the first item when the child is left out."""
    inc = None
    if include is not None:
        inc = _merge(include.get(key), include.get(other))
        if inc is None:
            return _SKIP, None
        if inc is True:
            inc = None
    exc = None
    if exclude is not None:
        exc = _merge(exclude.get(key), exclude.get(other))
        if exc is True:
            return _SKIP, None
    return inc, exc


class _Dumper:
    """model_dump with options: walks the instance alongside its plain dump (the generated
    unstructure output), which already says which fields are written and how."""

    __slots__ = ("by_alias", "exclude_none", "exclude_unset")

    def __init__(self, by_alias: bool, exclude_unset: bool, exclude_none: bool) -> None:
        self.by_alias = by_alias
        self.exclude_unset = exclude_unset
        self.exclude_none = exclude_none

    def model(self, m: Model, data: dict[str, Any], include: Any, exclude: Any) -> dict[str, Any]:
        extra = m.model_extra or {}
        out: dict[str, Any] = {}
        names = _field_names(type(m))
        for name, alias in names:
            inc, exc = _select(include, exclude, name, alias)
            if inc is _SKIP:
                continue
            if alias in extra:  # a value the lenient parse kept under the field's JSON name
                value = extra[alias]
            elif alias in data:
                value = data[alias]
                if value is not None:
                    value = self.value(getattr(m, name), value, inc, exc)
            elif self.exclude_unset:
                continue
            else:
                value = None
            if value is None and self.exclude_none:
                continue
            out[alias if self.by_alias else name] = value
        if extra:
            aliases = {alias for _, alias in names}
            for key, value in extra.items():
                if key in aliases:
                    continue
                inc, exc = _select(include, exclude, key, key)
                if inc is _SKIP or (value is None and self.exclude_none):
                    continue
                out[key] = value
        return out

    def value(self, obj: Any, data: Any, include: Any, exclude: Any) -> Any:
        if isinstance(obj, Model):
            return self.model(obj, data, include, exclude) if type(data) is dict else data
        if isinstance(obj, (list, tuple)) and type(data) is list and len(data) == len(obj):
            if include is None and exclude is None and not _has_models(obj):
                return data
            items = []
            for index, (item, dumped) in enumerate(zip(obj, data, strict=True)):
                inc, exc = _select(include, exclude, index, "__all__")
                if inc is not _SKIP:
                    items.append(dumped if dumped is None else self.value(item, dumped, inc, exc))
            return items
        if isinstance(obj, dict) and type(data) is dict:
            if include is None and exclude is None and not _has_models(obj.values()):
                return data
            entries = {}
            for key, dumped in data.items():
                inc, exc = _select(include, exclude, key, "__all__")
                if inc is not _SKIP:
                    item = obj.get(key, dumped)
                    entries[key] = dumped if dumped is None else self.value(item, dumped, inc, exc)
            return entries
        return data


def _has_models(values: Any) -> bool:
    for value in values:
        if isinstance(value, (Model, list, tuple, dict)):
            return True
    return False


# -- model_copy, copy, pickle -------------------------------------------------------------


def _nulls(instance: Any) -> tuple[str, ...]:
    try:
        nulls: tuple[str, ...] = object.__getattribute__(instance, "_nulls_given")
    except AttributeError:  # the slot is set only when there are some
        return ()
    return nulls


def _rebuild(
    cls: type,
    names: tuple[str, ...],
    values: tuple[Any, ...],
    extra: dict[str, Any] | None,
    nulls: tuple[str, ...],
) -> Any:
    instance: Any = object.__new__(cls)
    for name, value in zip(names, values, strict=True):
        object.__setattr__(instance, name, value)
    object.__setattr__(instance, "model_extra", extra)
    if nulls:
        object.__setattr__(instance, "_nulls_given", nulls)
    return instance


def _copy(self: _T, update: Mapping[str, Any] | None, deep: bool, memo: Any) -> _T:
    cls = type(self)
    names = _field_names(cls)
    values = {name: getattr(self, name) for name, _ in names}
    extra = self.model_extra
    nulls = _nulls(self)
    if deep:
        import copy

        memo = {} if memo is None else memo
        values = copy.deepcopy(values, memo)
        extra = copy.deepcopy(extra, memo)
    elif extra is not None:
        extra = dict(extra)
    if update:
        from ._convert import extra_converter

        alias_of = dict(names)
        by_alias = {alias: name for name, alias in names}
        for key, value in update.items():
            name = key if key in alias_of else by_alias.get(key)
            if key == "model_extra" and "model_extra" not in by_alias:
                extra = extra_converter(value)
                extra = dict(extra) if extra else None
            elif name is None:
                extra = {**(extra or {}), key: value}
            else:
                alias = alias_of[name]
                values[name] = _checked(cls, name, value)
                if extra and alias in extra:  # an off-type value kept for it: replaced
                    del extra[alias]
                nulls = tuple(null for null in nulls if null != alias)
    copied: _T = _rebuild(cls, tuple(values), tuple(values.values()), extra or None, nulls)
    return copied


def _checked(cls: type, name: str, value: Any) -> Any:
    """``value`` for field ``name`` of ``cls``, validated (and dicts made models) as the
    constructor would, through the same checks requests use."""
    import typing

    from ._convert import structure
    from ._unset import UNSET, Unset
    from .errors import RequestValidationError

    hint: Any = _hints(cls).get(name, Any)
    if not _is_union(hint):
        if value is UNSET and hint is not Any:
            raise RequestValidationError("UNSET is not allowed here", path=name)
        return structure(value, hint, path=name)
    args = typing.get_args(hint)
    if value is UNSET or value is None:
        if (Unset if value is UNSET else type(None)) in args:
            return value
        what = "UNSET" if value is UNSET else "None"
        raise RequestValidationError(f"{what} is not allowed here", path=name)
    # the error then names what the value should have been, not "expected null"
    rest = tuple(arg for arg in args if arg is not Unset and arg is not type(None))
    hint = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
    return structure(value, hint, path=name)


def _is_union(tp: Any) -> bool:
    import types
    import typing

    return typing.get_origin(tp) is typing.Union or isinstance(tp, types.UnionType)


# -- model_json_schema -------------------------------------------------------------------


class _SchemaBuilder:
    __slots__ = ("by_alias", "defs", "ref_template")

    def __init__(self, by_alias: bool, ref_template: str, defs: dict[str, Any]) -> None:
        self.by_alias = by_alias
        self.ref_template = ref_template
        self.defs = defs

    def model(self, cls: type) -> dict[str, Any]:
        import attrs

        from ._unset import UNSET

        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in _model_fields(cls).values():
            key = field.alias if self.by_alias else field.name
            prop = self.of(field.annotation)
            if field.is_required():
                required.append(key)
            elif field.default is not UNSET and field.default is not attrs.NOTHING:
                prop["default"] = field.default
            properties[key] = prop
        schema: dict[str, Any] = {"title": cls.__name__}
        doc = cls.__dict__.get("__doc__")
        if doc:
            schema["description"] = doc.strip()
        schema["type"] = "object"
        schema["properties"] = properties
        if required:
            schema["required"] = required
        schema["additionalProperties"] = True
        return schema

    def of(self, tp: Any) -> dict[str, Any]:
        import types
        import typing

        from ._unset import Unset

        if tp is Any or tp is object:
            return {}
        simple = _JSON_TYPES.get(tp)
        if simple is not None:
            return {"type": simple}
        if isinstance(tp, type) and issubclass(tp, Model):
            name = tp.__name__
            if name not in self.defs:
                self.defs[name] = {}  # reserved first: a model may refer to itself
                self.defs[name] = self.model(tp)
            return {"$ref": self.ref_template.format(model=name)}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Literal:
            values = list(args)
            kinds = {_JSON_TYPES.get(type(value)) for value in values}
            out: dict[str, Any] = {"const": values[0]} if len(values) == 1 else {"enum": values}
            if len(kinds) == 1 and None not in kinds:
                out["type"] = kinds.pop()
            return out
        if origin is typing.Union or isinstance(tp, types.UnionType):
            alternatives = [self.of(arg) for arg in args if arg is not Unset]
            unique: list[dict[str, Any]] = []
            for alt in alternatives:
                if alt not in unique:
                    unique.append(alt)
            return unique[0] if len(unique) == 1 else {"anyOf": unique}
        if origin in (list, tuple, typing.get_origin(typing.Sequence[Any])):
            return {"type": "array", "items": self.of(args[0]) if args else {}}
        if origin in (dict, typing.get_origin(typing.Mapping[Any, Any])):
            value = self.of(args[1]) if len(args) == 2 else {}
            return {"type": "object", "additionalProperties": value or True}
        return {}


_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


__all__ = ["Model", "ModelField", "OneEventStream"]
