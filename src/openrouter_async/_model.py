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

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

_M = TypeVar("_M", bound="OneEventStream")


class Model:
    """Base of generated models. Subclasses declare ``model_extra`` as their last attrs field."""

    # The JSON names of the nullable fields a parsed body (or a dict given as input) held as
    # an explicit null, set only when there are some: a response-style field reads None both
    # when absent and when null, and this is how ``{"content": null}`` is sent back as it came
    # (see ``_convert.nulls_given``).
    __slots__ = ("_nulls_given",)

    def model_dump(self) -> dict[str, Any]:
        """This model as plain JSON data: fields that were not given (``UNSET``; ``None`` on the
        models a response can hold, except required fields) are left out, ``model_extra`` is
        merged back in, nested models become dicts. Named as pydantic's (the official SDK's
        and ``openai``'s models), so code that calls it keeps working."""
        from ._convert import unstructure

        data: dict[str, Any] = unstructure(self)
        return data

    def model_dump_json(self) -> str:
        """:meth:`model_dump` as a JSON string."""
        from ._convert import dumps

        return dumps(self).decode()

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


__all__ = ["Model", "OneEventStream"]
