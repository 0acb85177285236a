"""Base class of every generated model.

Generated models are frozen, slotted attrs classes. Fields the spec does not know (a server
newer than our spec) are kept in ``model_extra`` — nothing the server sends is dropped — and
are reachable as attributes too (``chunk.some_new_field``), the way pydantic's
``extra="allow"`` behaves. A response value of a type the spec does not allow is kept there
too, under its JSON name, while its field reads ``None`` (see ``_lenient.py``).
``model_extra`` given on a request is sent as-is, merged into the body: the escape hatch for
a parameter the spec does not describe yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

_M = TypeVar("_M", bound="OneEventStream")


class Model:
    """Base of generated models. Subclasses declare ``model_extra`` as their last attrs field."""

    # The JSON names of the nullable fields a parsed body (or a dict given as input) held as
    # an explicit null, set only when there are some: a response-style field reads None both
    # when absent and when null, and this is how ``{"content": null}`` is sent back as it came
    # (see ``_convert.nulls_given``).
    __slots__ = ("_nulls_given",)

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] = "python",
        include: Collection[str] | None = None,
        exclude: Collection[str] | None = None,
        by_alias: bool = True,
        exclude_unset: bool = True,
        exclude_none: bool = False,
    ) -> dict[str, Any]:
        """This model as plain JSON data: fields that were not given (``UNSET``; ``None`` on the
        models a response can hold, except required fields) are left out, ``model_extra`` is
        merged back in, nested models become dicts. Named as pydantic's (the official SDK's
        and ``openai``'s models), so code that calls it keeps working.

        A compatible subset of pydantic's keywords: ``include`` / ``exclude`` (sets of
        top-level JSON names), ``exclude_none`` (``None`` dropped at every depth), ``mode``
        (``"json"``: only JSON types left). Where we differ: keys are always the JSON names
        (``by_alias=True``; ``False`` is refused, not ignored), and fields never given are
        always left out (pydantic's ``exclude_unset=True``; ``False`` is refused too)."""
        from ._convert import dumps, loads, unstructure

        if by_alias is not True:
            raise TypeError("model_dump(by_alias=False) is not supported: keys are JSON names")
        if exclude_unset is not True:
            raise TypeError(
                "model_dump(exclude_unset=False) is not supported: fields never given are left out"
            )
        if mode not in ("python", "json"):
            raise ValueError(f"mode must be 'python' or 'json', got {mode!r}")
        data: dict[str, Any] = unstructure(self)
        if include is not None:
            wanted = _names(include, "include")
            data = {key: value for key, value in data.items() if key in wanted}
        if exclude is not None:
            unwanted = _names(exclude, "exclude")
            data = {key: value for key, value in data.items() if key not in unwanted}
        if exclude_none:
            data = _without_none(data)
        if mode == "json":
            data = loads(dumps(data))
        return data

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        include: Collection[str] | None = None,
        exclude: Collection[str] | None = None,
        by_alias: bool = True,
        exclude_unset: bool = True,
        exclude_none: bool = False,
    ) -> str:
        """:meth:`model_dump` as a JSON string (``indent`` spaces per level, as pydantic's)."""
        import json

        from ._convert import dumps

        data = self.model_dump(
            include=include,
            exclude=exclude,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_none=exclude_none,
        )
        text = dumps(data).decode()
        if indent is None:
            return text
        return json.dumps(json.loads(text), indent=indent, ensure_ascii=False)

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """An instance from JSON data (a dict) or an instance of this class, read as leniently
        as a response is (``_convert.parse``): unknown fields kept in ``model_extra``, a value
        of another type kept there too while its field reads ``None``. Data that gives nothing
        usable (not an object) raises :class:`~openrouter_async.errors.ResponseValidationError`.
        """
        from ._convert import parse

        if isinstance(obj, cls):
            return obj
        return parse(obj if not isinstance(obj, Model) else obj.model_dump(), cls)

    @classmethod
    def model_validate_json(cls, data: str | bytes | bytearray) -> Self:
        """:meth:`model_validate` of a JSON text."""
        from ._convert import parse

        return parse(data, cls)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with the fields in ``update`` (by attribute name) replaced; models are frozen,
        so a shallow copy shares nested values, as pydantic's does (``deep=True`` copies them).
        An unknown name in ``update`` is a ``TypeError`` (pydantic would set it silently)."""
        import copy

        import attrs

        instance: Any = self  # every generated model is an attrs class
        changed: Self = attrs.evolve(instance, **dict(update or {}))
        return copy.deepcopy(changed) if deep else changed

    if TYPE_CHECKING:
        model_extra: dict[str, Any] | None
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


def _names(names: Collection[str], option: str) -> frozenset[str]:
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise TypeError(f"{option} takes a set of field names (JSON names)")
    return frozenset(names)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


__all__ = ["Model", "OneEventStream"]
