"""The ``/v1/messages`` requests of a batch, answered by the chat handler.

The emulator serves no live ``POST /messages``; a batch's Anthropic Messages request is
turned into the chat request it means (``system`` → a system message, text blocks → text,
``tool_use`` / ``tool_result`` blocks → tool calls and tool messages, ``tools`` → function
tools, ``stop_sequences`` → ``stop``), answered by :func:`._chat.chat_completions`, and the
chat completion shaped back as the spec's ``MessagesResult``: text and ``tool_use`` content
blocks, ``stop_reason`` (``end_turn``, ``max_tokens``, ``tool_use``), ``usage`` in input and
output tokens with ``service_tier: "batch"``.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["chat_body", "message_result"]

_PASSED = ("model", "max_tokens", "temperature", "top_p", "top_k", "provider", "user")
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def _messages(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat messages one Messages API message stands for."""
    role = message.get("role")
    content = message.get("content")
    if not isinstance(content, list):
        return [{"role": role, "content": _text(content)}]
    out: list[dict[str, Any]] = []
    calls = [
        {
            "id": block.get("id", ""),
            "type": "function",
            "function": {
                "name": block.get("name", ""),
                "arguments": orjson.dumps(block.get("input") or {}).decode(),
            },
        }
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_use"
    ]
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id", ""),
                    "content": _text(block.get("content")),
                }
            )
    text = _text(content)
    if calls:
        out.insert(0, {"role": "assistant", "content": text or None, "tool_calls": calls})
    elif text or not out:
        out.append({"role": role, "content": text})
    return out


def chat_body(body: dict[str, Any]) -> dict[str, Any]:
    """The chat request a Messages API request means."""
    chat: dict[str, Any] = {key: body[key] for key in _PASSED if key in body}
    messages: list[dict[str, Any]] = []
    system = _text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            messages.extend(_messages(message))
    chat["messages"] = messages
    if isinstance(body.get("stop_sequences"), list):
        chat["stop"] = body["stop_sequences"]
    tools = body.get("tools")
    if isinstance(tools, list):
        chat["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.get("name", ""),
                    "description": tool.get("description", ""),
                    "parameters": tool.get("input_schema") or {"type": "object"},
                },
            }
            for tool in tools
            if isinstance(tool, dict) and "name" in tool
        ]
    return chat


def message_result(chat: dict[str, Any]) -> dict[str, Any]:
    """A chat completion, as the Messages API answers it."""
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"], "citations": None})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "caller": {"type": "direct"},
                "name": function.get("name", ""),
                "input": arguments,
            }
        )
    usage = chat.get("usage") or {}
    return {
        "id": f"msg_{str(chat.get('id', '')).removeprefix('gen-')}",
        "type": "message",
        "role": "assistant",
        "model": chat.get("model", ""),
        "container": None,
        "content": content,
        "stop_reason": _STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
        "stop_details": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.get("prompt_tokens", 0),
            "output_tokens": usage.get("completion_tokens", 0),
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": None,
            "cache_creation": None,
            "inference_geo": None,
            "output_tokens_details": None,
            "server_tool_use": None,
            "service_tier": "batch",
            "cost": usage.get("cost"),
            "is_byok": False,
        },
    }
