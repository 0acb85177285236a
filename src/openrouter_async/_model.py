"""Base class of every generated model.

Generated models are frozen, slotted attrs classes. Fields the spec does not know (a server
newer than our spec) are kept in ``model_extra`` — nothing the server sends is dropped — and
are reachable as attributes too (``chunk.some_new_field``), the way pydantic's
``extra="allow"`` behaves. ``model_extra`` given on a request is sent as-is, merged into the
body: the escape hatch for a parameter the spec does not describe yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class Model:
    """Base of generated models. Subclasses declare ``model_extra`` as their last attrs field."""

    __slots__ = ()

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


__all__ = ["Model"]
