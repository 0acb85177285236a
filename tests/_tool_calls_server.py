"""A loopback chat server whose answers a test scripts: the tool calls a real model might
make and the emulator does not (several at once, unknown tools, arguments that are not JSON
or do not fit), for ``tests/test_tools.py``.

``POST .../chat/completions`` answers the next scripted assistant message (a list of
``(name, arguments)`` tool calls, or a text); with the script used up, a text listing the tool
messages it was sent last (``"done: <content> | <content>"``). Every request body is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from ._loopback_server import LoopbackServer, _send

#: one scripted answer: tool calls ``[(name, arguments JSON text), ...]``, or a text
Reply = list[tuple[str, str]] | str


class ToolCallsServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.script: list[Reply] = []
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._calls = 0

    def answer(self, *replies: Reply) -> None:
        with self._lock:
            self.script = list(replies)
            self.bodies = []

    async def _dispatch(
        self,
        r: asyncio.StreamReader,
        w: asyncio.StreamWriter,
        method: str,
        path: str,
        q: dict[str, str],
        headers: list[tuple[str, str]],
        body: bytes,
        served: int,
    ) -> bool:
        if not path.endswith("/chat/completions"):
            await _send(w, 404, b'{"error": {"code": 404, "message": "not found"}}')
            return True
        request = json.loads(body)
        with self._lock:
            self.bodies.append(request)
            reply = self.script.pop(0) if self.script else None
            self._calls += 1
            number = self._calls
        if reply is None:
            contents: list[str] = []
            for sent in reversed(request["messages"]):
                if sent.get("role") != "tool":
                    break
                contents.insert(0, str(sent.get("content")))
            reply = "done: " + " | ".join(contents)
        answer: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(reply, str):
            answer["content"] = reply
            finish = "stop"
        else:
            answer["tool_calls"] = [
                {
                    "id": f"call_{number}_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                for i, (name, arguments) in enumerate(reply)
            ]
            finish = "tool_calls"
        result = {
            "id": f"gen-tools-{number}",
            "object": "chat.completion",
            "created": 1,
            "model": request.get("model", "m/x"),
            "choices": [{"index": 0, "finish_reason": finish, "message": answer}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        await _send(w, 200, json.dumps(result).encode())
        return True


@contextlib.contextmanager
def tool_calls_server() -> Iterator[ToolCallsServer]:
    server = ToolCallsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
