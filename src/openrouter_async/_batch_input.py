"""The input of a batch job: a JSONL line → an item (its id, and the chat body to send or why
it cannot be sent), and the scan of the whole input made before anything is sent.

Ids (``custom_id``; in a plain chat body, when it is absent or ``null``, ``id``):

- a string or an integer, written back in the row as the line has it; ``7`` and ``"7"`` are
  the *same* id (ids are compared by their text, so that a reader that turns ids into strings,
  as most do, never sees two rows for one id): a line repeating one is a duplicate;
- absent, ``null``, ``""`` or blanks: the line's own id ``line-<number>`` (its line number,
  counting from 1), which no other line can have: a user id of that form that is not its own
  line's is refused (an error row), so a generated id never collides with a user's;
- anything else (a float, a boolean, an object) is an error row, keyed ``line-<number>``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

import attrs
import orjson

from .errors import RequestValidationError

__all__ = ["Item", "Scan", "generated_id", "id_key", "parse_line", "read_lines", "scan"]

_CHAT_URLS = frozenset({"/v1/chat/completions", "/chat/completions", "/api/v1/chat/completions"})
# Keys of a chat body that a batch row cannot honour (a row is a whole answer).
_DROPPED_KEYS = ("stream_options",)
# Keys the job reads from a chat body line and does not send.
_JOB_KEYS = frozenset({"custom_id", "id", "stream", "stream_options"})
_GENERATED = re.compile(r"line-[0-9]+")
# How many lines each warning names.
_SHOWN = 5


@attrs.frozen(slots=True)
class Item:
    """One input line: its id, and the chat body to send or why it cannot be sent."""

    line: int
    custom_id: str | int
    body: dict[str, Any] | None
    error: RequestValidationError | None = None
    stream: bool = False
    #: Top-level body keys that are not chat request fields (sent as they are).
    unknown_keys: tuple[str, ...] = ()
    #: The line gave an empty ``custom_id`` (its id is then ``line-<number>``).
    empty_id: bool = False

    @property
    def key(self) -> str:
        return id_key(self.custom_id)


def generated_id(number: int) -> str:
    """The id of line ``number`` when it has none (or its own cannot be read)."""
    return f"line-{number}"


def id_key(custom_id: str | int) -> str:
    """What ids are compared by: their text (``7`` and ``"7"`` are one id)."""
    return custom_id if type(custom_id) is str else str(custom_id)


def read_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """The input's non-blank lines with their numbers (counting from 1, blank lines too)."""
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, 1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
            if raw.strip():
                yield number, raw


def parse_line(number: int, raw: bytes, model: str | None) -> Item:
    """One input line → an item (an invalid line → an item carrying its error)."""
    own = generated_id(number)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return _invalid(number, own, f"line {number} is not JSON: {error}")
    if type(data) is not dict:
        return _invalid(number, own, f"line {number} is not a JSON object")
    if "body" in data and "messages" not in data:  # OpenAI's batch format
        custom_id, problem, empty = _read_id(number, data.get("custom_id"))
        if problem is not None:
            return _invalid(number, own, problem)
        method = data.get("method", "POST")
        if not isinstance(method, str) or method.upper() != "POST":
            return _invalid(number, custom_id, f"unsupported method {method!r}: only POST")
        url = data.get("url", "/v1/chat/completions")
        if url not in _CHAT_URLS:
            return _invalid(number, custom_id, f"unsupported url {url!r}: only chat completions")
        body = data["body"]
        if type(body) is not dict:
            return _invalid(number, custom_id, "body must be a JSON object")
    else:  # a chat body, maybe with its id
        body = data
        given = body.pop("custom_id", None)
        other = body.pop("id", None)
        custom_id, problem, empty = _read_id(number, other if given is None else given)
        if problem is not None:
            return _invalid(number, own, problem)
    stream = body.pop("stream", None) is True
    for key in _DROPPED_KEYS:
        body.pop(key, None)
    if model:
        body["model"] = model
    unknown = tuple(key for key in body if key not in _known_keys())
    return Item(number, custom_id, body, stream=stream, unknown_keys=unknown, empty_id=empty)


def _read_id(number: int, value: Any) -> tuple[str | int, str | None, bool]:
    """(the id, why it is refused or None, whether it was empty) of a line's id field."""
    own = generated_id(number)
    if value is None:
        return own, None, False
    if type(value) is str:
        if not value.strip():
            return own, None, True
        if _GENERATED.fullmatch(value) and value != own:
            return (
                own,
                f"custom_id {value!r} has the form of a generated id (line-<number>, the id "
                "of a line without one) and is not this line's: choose another",
                False,
            )
        return value, None, False
    if type(value) is int:
        return value, None, False
    shown = "a boolean" if isinstance(value, bool) else type(value).__name__
    return own, f"custom_id must be a string or an integer, got {shown} {value!r}", False


def _invalid(number: int, custom_id: str | int, message: str) -> Item:
    return Item(number, custom_id, None, RequestValidationError(message))


_KNOWN: frozenset[str] | None = None


def _known_keys() -> frozenset[str]:
    """The top-level keys of a chat body the job knows: ChatRequest's fields (the spec's, plus
    the OpenRouter parameters the codegen overlay adds: ``transforms``, ``preset``, ...) and
    the keys the job reads itself."""
    global _KNOWN
    if _KNOWN is None:
        from .models import ChatRequest

        fields = {field.name for field in attrs.fields(ChatRequest)} - {"model_extra"}
        _KNOWN = frozenset(fields) | _JOB_KEYS
    return _KNOWN


@attrs.define(slots=True)
class Scan:
    """What the scan of the whole input found (before anything is sent)."""

    #: Requests (non-blank lines).
    total: int = 0
    #: The id of every line (compared as :func:`id_key` does), the first line of each.
    keys: set[str] = attrs.field(factory=set)
    #: (line, message) of the first lines that cannot be sent, and how many there are.
    refused: list[tuple[int, str]] = attrs.field(factory=list)
    refused_count: int = 0
    #: Unknown body keys → (lines that have them, first few; how many lines).
    unknown_keys: dict[str, tuple[list[int], int]] = attrs.field(factory=dict)
    #: Lines with an empty ``custom_id`` (first few), and how many.
    empty_ids: list[int] = attrs.field(factory=list)
    empty_id_count: int = 0

    def add(self, item: Item) -> None:
        self.total += 1
        self.keys.add(item.key)
        if item.error is not None:
            self.refused_count += 1
            if len(self.refused) < _SHOWN:
                self.refused.append((item.line, str(item.error)))
        for key in item.unknown_keys:
            lines, count = self.unknown_keys.get(key, ([], 0))
            if len(lines) < _SHOWN:
                lines.append(item.line)
            self.unknown_keys[key] = (lines, count + 1)
        if item.empty_id:
            self.empty_id_count += 1
            if len(self.empty_ids) < _SHOWN:
                self.empty_ids.append(item.line)

    def warnings(self) -> list[str]:
        """One message per problem found, for stderr (the CLI) or ``BatchStats.warnings``."""
        out: list[str] = []
        if self.refused_count:
            shown = "".join(
                f"\n  {message}"
                if message.startswith(f"line {line} ")
                else f"\n  line {line}: {message}"
                for line, message in self.refused
            )
            more = _more(self.refused_count, len(self.refused))
            out.append(
                f"{self.refused_count:,} input line{_s(self.refused_count)} cannot be sent "
                f"(each gets an error row, attempts 0){more}:{shown}"
            )
        known = sorted(_known_keys() - _JOB_KEYS)
        for key, (lines, count) in sorted(self.unknown_keys.items()):
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            where = ", ".join(str(line) for line in lines) + _more(count, len(lines))
            out.append(
                f"body key {key!r}{hint} is not a chat request parameter, on "
                f"{count:,} line{_s(count)} ({where}): it is sent as it is, and the API may "
                "ignore it"
            )
        if self.empty_id_count:
            numbers = ", ".join(str(line) for line in self.empty_ids)
            more = _more(self.empty_id_count, len(self.empty_ids))
            out.append(
                f"{self.empty_id_count:,} line{_s(self.empty_id_count)} ({numbers}{more}) "
                'have an empty custom_id: their rows are keyed "line-<number>"'
            )
        return out


def scan(path: str, model: str | None) -> Scan:
    """Read the whole input once, as the job will (same ids, same errors; each body is also
    validated as a chat request, as the job does before sending it)."""
    from ._convert import structure
    from .models import ChatRequest

    found = Scan()
    for number, raw in read_lines(path):
        item = parse_line(number, raw, model)
        if item.body is not None:
            try:
                structure(item.body, ChatRequest, path="body")
            except RequestValidationError as error:
                item = attrs.evolve(item, error=error)
        found.add(item)
    return found


def _more(count: int, shown: int) -> str:
    return f" (and {count - shown:,} more)" if count > shown else ""


def _s(count: int) -> str:
    return "" if count == 1 else "s"
