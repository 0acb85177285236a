"""How the API's generated groups are attached to the Session and the facade: by composition.

``session.chat`` is a :class:`Group` descriptor declared in the Session's class body; on first
access it imports the group's generated module (named in ``_groups.SESSION_GROUPS``), builds
the group object around its owner, and keeps it in the owner's ``_groups`` dict. So the
Session is no subclass of anything generated, importing the package loads no group, and the
declarations say, in the Session's own source, which groups it has (``tests/test_layers.py``
checks they match what the generator writes).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, overload

__all__ = ["Group", "load_group"]

G = TypeVar("G")


def load_group(cache: dict[str, Any], owner: Any, name: str, where: tuple[str, str]) -> Any:
    """The group ``name`` of ``owner``, built once (``where``: its module and class)."""
    found = cache.get(name)
    if found is None:
        module, class_name = where
        group_class = getattr(importlib.import_module(module, __package__), class_name)
        found = cache[name] = group_class(owner)
    return found


class Group(Generic[G]):
    """A group attribute: ``models: Group[AsyncModels] = Group(SESSION_GROUPS)``."""

    __slots__ = ("_name", "_table", "_where")

    def __init__(
        self, table: Mapping[str, tuple[str, str]], *, where: tuple[str, str] | None = None
    ) -> None:
        self._table = table
        self._name = ""
        # A hand-written subclass of the generated group to build instead (its module and
        # class), for conveniences the spec has no operation for (``chat.run_tools``).
        self._where = where

    def __set_name__(self, owner: type, name: str) -> None:
        if name not in self._table:
            raise TypeError(f"{owner.__name__}.{name}: no such API group")
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Group[G]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> G: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> Group[G] | G:
        if instance is None:
            return self
        groups: dict[str, Any] = instance._groups  # type: ignore[attr-defined]
        where = self._where or self._table[self._name]
        found: G = load_group(groups, instance, self._name, where)
        return found
