"""Put a streamed chat answer back together: chunks in, the non-streamed answer out.

:class:`ChatStreamAccumulator` is public: ``stream.get_final_completion()`` is one (every chat
stream has its own, fed as the stream is read), and a batch job's streamed row is another
(:mod:`._batch`). Added chunk by chunk, the answer is what the same call returns without
streaming, as OpenRouter answers it:

* per choice (by ``index``; ``n`` > 1 gives several): ``content``, ``reasoning`` and
  ``refusal`` deltas are concatenated (``refusal`` and ``reasoning`` are ``null`` when no delta
  had any, as in OpenRouter's non-streamed answers; ``content`` is ``null`` for a tool call
  answer, whose last chunk sends ``"content": ""``); tool call deltas are merged by their
  ``index`` (the first brings the ``id`` and the function ``name``, the following ones pieces
  of ``arguments``; the merged call keeps its ``index``, as OpenRouter's non-streamed calls
  do); ``reasoning_details`` items are merged by ``index`` and ``type`` (``text``, ``summary``
  and ``data`` concatenated, the other keys from the last delta that had them); ``logprobs``
  lists are concatenated; ``finish_reason`` is the last one sent; fields the spec does not
  describe (``native_finish_reason``, ``annotations``...) keep the last value that was not
  null, and lists are concatenated;
* ``usage`` comes from the usage chunk (the last one that had any), ``id``, ``created``,
  ``model`` from the first chunk, ``system_fingerprint`` and ``service_tier`` from the first
  that had one, and the fields the spec does not describe (OpenRouter's ``provider``) from the
  first chunk that had them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import _convert
from ._operations import register_accumulator
from ._unset import UNSET
from .errors import ResponseValidationError

if TYPE_CHECKING:
    from .models import ChatResult, ChatStreamChunk

__all__ = ["CHAT_STREAM", "ChatStreamAccumulator"]

#: Keys of a reasoning detail that stream in pieces.
_DETAIL_TEXT = frozenset({"text", "summary", "data"})


class _Choice:
    """One choice's pieces, as they come."""

    __slots__ = (
        "content",
        "details",
        "extra",
        "finish_reason",
        "logprobs",
        "message_extra",
        "reasoning",
        "refusal",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.content: list[str] | None = None  # None: no delta had a content string
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.details: dict[tuple[Any, Any], dict[str, Any]] = {}
        self.finish_reason: Any = None
        self.logprobs: dict[str, Any] | None = None  # None: no chunk had the key
        self.extra: dict[str, Any] = {}  # the choice's fields the spec does not describe
        self.message_extra: dict[str, Any] = {}  # the deltas' ones

    def message(self) -> dict[str, Any]:
        content = self.content
        text = "".join(content) if content is not None else None
        message: dict[str, Any] = {
            "role": "assistant",
            # A tool call's last chunk sends ``"content": ""``: the same call not streamed
            # answers ``"content": null``, and so does the accumulated one.
            "content": None if not text and self.tool_calls else text,
            "refusal": "".join(self.refusal) or None,
            "reasoning": "".join(self.reasoning) or None,
        }
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[index] for index in sorted(self.tool_calls)]
        if self.details:
            message["reasoning_details"] = list(self.details.values())
        message.update(self.message_extra)
        return message

    def body(self, index: int) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": index,
            "message": self.message(),
            "finish_reason": self.finish_reason,
        }
        if self.logprobs is not None:
            choice["logprobs"] = self.logprobs or None
        choice.update(self.extra)
        return choice


class ChatStreamAccumulator:
    """Rebuilds the non-streamed answer of a chat stream: :meth:`add` (or :meth:`extend`)
    every chunk, in order; :meth:`result` is the :class:`~openrouter_async.models.ChatResult`
    so far, :meth:`body` the same as JSON data.

    ``stream.get_final_completion()`` does this for you (each chat stream feeds its own as it
    is read); use one yourself to rebuild chunks you hold, or to watch the answer grow::

        accumulator = ChatStreamAccumulator()
        async for chunk in stream:
            accumulator.add(chunk)
        result = accumulator.result()
    """

    __slots__ = ("_choices", "_extra", "_head", "_metadata", "_usage")

    def __init__(self) -> None:
        self._head: dict[str, Any] | None = None
        self._extra: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = UNSET
        self._metadata: Any = None

    def __repr__(self) -> str:
        return f"<ChatStreamAccumulator {len(self._choices)} choice(s)>"

    def add(self, chunk: ChatStreamChunk) -> None:
        """Add the next chunk of the stream."""
        self.extend((chunk,))

    def extend(self, chunks: Iterable[ChatStreamChunk]) -> None:
        """Add the next chunks of the stream, in order (one call per network read: the
        stream's own accumulation, cheaper than a call per chunk)."""
        # The hot loop of every chat stream, run on every chunk whether or not the answer is
        # asked for: a field read costs ~30 ns (the models' __getattr__ keeps CPython from
        # specialising it), so a content chunk reads only what it can carry. The fields of
        # the chunk and of the choice that the spec does not describe, the fingerprint, the
        # service tier and the metadata come with the first chunk, the finishing ones and the
        # usage chunk, and are read from those.
        states = self._choices
        for chunk in chunks:
            usage = chunk.usage
            if usage is not None:
                self._usage = usage
            choices = chunk.choices
            whole = self._head is None or usage is not None or not choices
            if not choices:
                self._add_head(chunk)
                continue
            for choice in choices:
                index = choice.index or 0  # None only if a server left it out: the first
                state = states.get(index)
                if state is None:
                    state = states[index] = _Choice()
                    if "logprobs" in _convert.nulls_given(choice):
                        state.logprobs = {}  # an explicit null, as real chunks send: kept so
                    whole = True
                delta = choice.delta
                if delta is not None:
                    content = delta.content
                    if content is not None:
                        parts = state.content
                        if parts is None:
                            state.content = [content]
                        else:
                            parts.append(content)
                    if (
                        delta.tool_calls is not None
                        or delta.reasoning is not None
                        or delta.refusal is not None
                        or delta.reasoning_details is not None
                        or delta.audio is not None
                        or delta.model_extra is not None
                    ):
                        _add_rare(state, delta)
                finish_reason = choice.finish_reason
                if finish_reason is not None:
                    state.finish_reason = finish_reason
                    whole = True
                logprobs = choice.logprobs
                if logprobs is not None:
                    _merge_logprobs(state, logprobs)
                if whole and choice.model_extra:
                    _merge_extra(state.extra, choice.model_extra)
            if whole:
                self._add_head(chunk)

    def _add_head(self, chunk: ChatStreamChunk) -> None:
        head = self._head
        if head is None:
            head = self._head = {"id": chunk.id, "created": chunk.created, "model": chunk.model}
        if chunk.system_fingerprint is not None and head.get("system_fingerprint") is None:
            head["system_fingerprint"] = chunk.system_fingerprint
        if chunk.service_tier is not None and "service_tier" not in head:
            head["service_tier"] = chunk.service_tier
        if chunk.openrouter_metadata is not None:
            self._metadata = chunk.openrouter_metadata
        extra = chunk.model_extra
        if extra:
            extras = self._extra
            for key, value in extra.items():
                if key not in extras:
                    extras[key] = value

    def body(self) -> dict[str, Any]:
        """The answer so far as JSON data (``object: "chat.completion"``).

        Raises :class:`~openrouter_async.errors.ResponseValidationError` when no chunk was
        added (a stream that ended, or was closed, before its first chunk has no answer)."""
        head = self._head
        if head is None:
            raise ResponseValidationError(
                "the stream ended before its first chunk: there is no answer to put together"
            )
        body: dict[str, Any] = {**self._extra, **head, "object": "chat.completion"}
        body.setdefault("system_fingerprint", None)
        body["choices"] = [state.body(index) for index, state in sorted(self._choices.items())]
        if self._usage is not UNSET:
            body["usage"] = _convert.unstructure(self._usage)
        if self._metadata is not None:
            body["openrouter_metadata"] = _convert.unstructure(self._metadata)
        return body

    def result(self) -> ChatResult:
        """The answer so far as the :class:`~openrouter_async.models.ChatResult` the same call
        returns without streaming (a new object on each call). Raises as :meth:`body`."""
        from .models import ChatResult

        return _convert.parse(self.body(), ChatResult)


def _add_rare(state: _Choice, delta: Any) -> None:
    """The parts of a delta other than its content."""
    reasoning = delta.reasoning
    if reasoning:
        state.reasoning.append(reasoning)
    refusal = delta.refusal
    if refusal:
        state.refusal.append(refusal)
    calls = delta.tool_calls
    if calls:
        for call in calls:
            _merge_tool_call(state.tool_calls, call)
    details = delta.reasoning_details
    if details:
        _merge_details(state.details, details)
    if delta.model_extra:
        _merge_extra(state.message_extra, delta.model_extra)
    if delta.audio is not None:
        _merge_audio(state.message_extra, delta.audio)


def _merge_tool_call(calls: dict[int, dict[str, Any]], delta: Any) -> None:
    index = delta.index
    if index is None:  # a server that numbers no call: a new id starts the next one
        last = max(calls) if calls else None
        if last is None or (delta.id and delta.id != calls[last]["id"]):
            index = 0 if last is None else last + 1
        else:
            index = last
    call = calls.get(index)
    if call is None:
        call = calls[index] = {
            "index": index,
            "id": "",
            "type": "function",
            "function": {"name": "", "arguments": ""},
        }
    if delta.id:
        call["id"] = delta.id
    if delta.type:
        call["type"] = delta.type
    function = delta.function
    if function is not None:
        name = function.name
        if name:
            call["function"]["name"] = name
        arguments = function.arguments
        if arguments:
            call["function"]["arguments"] += arguments
        if function.model_extra:
            _merge_extra(call["function"], function.model_extra)
    if delta.model_extra:
        _merge_extra(call, delta.model_extra)


def _merge_details(details: dict[tuple[Any, Any], dict[str, Any]], items: Iterable[Any]) -> None:
    for item in items:
        data: dict[str, Any] = _convert.unstructure(item)
        key = (data.get("index"), data.get("type"))
        merged = details.get(key)
        if merged is None:
            details[key] = data
            continue
        for name, value in data.items():
            if name in _DETAIL_TEXT and isinstance(value, str):
                merged[name] = (merged.get(name) or "") + value
            elif (value is not None and value != "") or name not in merged:
                merged[name] = value


def _merge_logprobs(state: _Choice, logprobs: Any) -> None:
    merged = state.logprobs
    if merged is None:
        merged = state.logprobs = {}
    nulls = _convert.nulls_given(logprobs)
    for name, items in (("content", logprobs.content), ("refusal", logprobs.refusal)):
        if items is not None:
            previous = merged.get(name)
            unstructured = _convert.unstructure(items)
            merged[name] = previous + unstructured if previous else unstructured
        elif name in nulls or name == "content":  # content is required: null if never sent
            merged.setdefault(name, None)
    if logprobs.model_extra:
        _merge_extra(merged, logprobs.model_extra)


def _merge_audio(message: dict[str, Any], audio: Any) -> None:
    data: dict[str, Any] = _convert.unstructure(audio)
    merged = message.get("audio")
    if not isinstance(merged, dict):
        message["audio"] = data
        return
    for name, value in data.items():
        if name in ("data", "transcript") and isinstance(value, str):
            merged[name] = (merged.get(name) or "") + value
        elif value is not None:
            merged[name] = value


def _merge_extra(merged: dict[str, Any], extra: dict[str, Any]) -> None:
    """Fields the spec does not describe: lists concatenated, else the last value not null."""
    for name, value in extra.items():
        if isinstance(value, list):
            previous = merged.get(name)
            merged[name] = previous + value if isinstance(previous, list) else list(value)
        elif value is not None or name not in merged:
            merged[name] = value


#: The helpers of every chat stream (``chat.send(stream=True)``, ``session.stream()``): its
#: text deltas, and this accumulator, registered with the operations (which run below the
#: models and cannot name it: see ``_operations.register_accumulator``).
CHAT_STREAM = register_accumulator("ChatStreamChunk", ChatStreamAccumulator)
