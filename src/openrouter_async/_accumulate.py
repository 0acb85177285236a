"""Put a streamed chat answer back together: chunks in, the non-streamed body out.

A batch job streams a row's call when its body asks for ``"stream": true`` (or the job was
told to stream every call): a long generation then never runs into the whole-call timeout, and
a stalled provider is caught by the idle timeout. The row is still a whole answer, so the
chunks are accumulated here into what the same call would have returned without streaming:
``content``, ``reasoning`` and ``refusal`` deltas are concatenated; tool call deltas are merged
by their ``index`` (the first delta of a call brings its ``id`` and function ``name``, the
following ones pieces of its ``arguments``); the usage chunk (empty ``choices``) gives
``usage``. Fields the spec does not describe are kept from the first chunk that had them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._unset import UNSET

if TYPE_CHECKING:
    from .models import ChatStreamChunk

__all__ = ["ChatStreamAccumulator"]

_TEXT_FIELDS = ("content", "reasoning", "refusal")


class _Choice:
    __slots__ = ("finish_reason", "parts", "tool_calls")

    def __init__(self) -> None:
        self.parts: dict[str, list[str]] = {}
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        for name, parts in self.parts.items():
            text = "".join(parts)
            # Real streams send ``"content": ""`` in a tool call's last chunk; the same call
            # not streamed answers ``"content": null``, and so does the accumulated one.
            if text or not self.tool_calls:
                message[name] = text
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[index] for index in sorted(self.tool_calls)]
        return message


class ChatStreamAccumulator:
    """``add()`` every chunk of one stream, then ``body()`` is the answer as a JSON object."""

    def __init__(self) -> None:
        self._head: dict[str, Any] | None = None
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = UNSET

    def add(self, chunk: ChatStreamChunk) -> None:
        if self._head is None:
            self._head = {"id": chunk.id, "created": chunk.created, "model": chunk.model}
            self._head["system_fingerprint"] = chunk.system_fingerprint
            if chunk.model_extra:
                self._head.update(chunk.model_extra)  # e.g. OpenRouter's ``provider``
        if chunk.usage is not None:
            self._usage = chunk.usage
        for choice in chunk.choices or ():
            index = choice.index or 0  # None only if a server left it out: the first choice
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Choice()
            if choice.finish_reason is not None:
                state.finish_reason = str(choice.finish_reason)
            delta = choice.delta
            if delta is None:
                continue
            for name in _TEXT_FIELDS:
                text = getattr(delta, name)
                if isinstance(text, str):
                    state.parts.setdefault(name, []).append(text)
            if delta.tool_calls is not None:
                for call in delta.tool_calls:
                    _merge_tool_call(state.tool_calls, call)

    def body(self) -> dict[str, Any]:
        """The non-streamed chat result (``object: "chat.completion"``) as a JSON object.

        Raises ``ValueError`` when no chunk was added (an empty stream has no answer)."""
        if self._head is None:
            raise ValueError("the stream ended before its first chunk")
        from ._convert import unstructure

        body: dict[str, Any] = {**self._head, "object": "chat.completion"}
        body["choices"] = [
            {
                "index": index,
                "message": state.message(),
                "finish_reason": state.finish_reason,
            }
            for index, state in sorted(self._choices.items())
        ]
        if self._usage is not UNSET:
            body["usage"] = unstructure(self._usage)
        return body


def _merge_tool_call(calls: dict[int, dict[str, Any]], delta: Any) -> None:
    call = calls.get(delta.index)
    if call is None:
        call = calls[delta.index] = {
            "id": "",
            "type": "function",
            "function": {"name": "", "arguments": ""},
        }
    if delta.id:
        call["id"] = delta.id
    function = delta.function
    if function is None:
        return
    name = getattr(function, "name", UNSET)
    if isinstance(name, str) and name:
        call["function"]["name"] = name
    arguments = getattr(function, "arguments", UNSET)
    if isinstance(arguments, str):
        call["function"]["arguments"] += arguments
