"""``POST /api/v1/chat/completions``: deterministic completions, streamed or not, with faults.

The answer depends only on the request:

* last message from the user, function ``tools`` given (and ``tool_choice`` not ``"none"``):
  a call of the first function tool (or the one ``tool_choice`` names) whose arguments are
  built from the tool's required parameters (``{"location": "Paris"}`` for a ``location``
  string), ``finish_reason: "tool_calls"``, ``content: null``;
* last message from a tool: ``"The <name> tool returned: <result>"``;
* ``response_format`` ``json_object``: ``{"answer": "<echo>"}``; ``json_schema``: a JSON
  document valid against the schema, every property filled in (:mod:`._instances`);
* otherwise an echo of the last user message, cycled word by word to N tokens: N is the
  ``tokens`` fault, else ``max_completion_tokens`` / ``max_tokens`` (capped), else
  ``config.default_tokens``.

The model and the provider that serve the request (the ``models`` fallbacks, the
``provider`` preferences, the key's guardrail) are chosen by :mod:`._routing`.

A ``max_tokens`` smaller than the natural length of a fixed answer (tool result, JSON, the
``tokens`` fault) truncates it with ``finish_reason: "length"``. The streamed chunks of an
answer concatenate to exactly the non-streamed content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
import orjson

from . import _realistic as realistic
from ._answer import (
    DEFAULT_ERROR_MESSAGES,
    FLUSH_BYTES,
    PROCESSING,
    complete_json,
    delivered,
    error_200,
    fault_prelude,
    malformed_event,
    new_generation,
    record_call,
    request_faults,
    run_stream,
)
from ._app import EmulatorConfig, HTTPError, Request, Response
from ._catalogue import price_of
from ._faults import Faults
from ._instances import example_value
from ._realistic import METADATA_EVENT
from ._routing import route

__all__ = [
    "DEFAULT_ERROR_MESSAGES",
    "Plan",
    "chat_completions",
    "example_value",
    "plan_completion",
    "usage",
]

_FALLBACK_WORDS = ("Hello", "from", "the", "OpenRouter", "emulator.")


# -- the answer ------------------------------------------------------------------------------


@dataclass
class Plan:
    """What to answer: content pieces (one per stream chunk), or a tool call whose
    ``arguments`` are streamed in ``pieces``."""

    pieces: list[str]
    finish_reason: str
    prompt_tokens: int
    tool_call: dict[str, Any] | None = None  # {"id", "type", "function": {name, arguments}}

    @property
    def content(self) -> str | None:
        return None if self.tool_call is not None else "".join(self.pieces)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _split(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _pick_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return None
    functions: list[dict[str, Any]] = [
        tool["function"]
        for tool in tools
        if isinstance(tool, dict)
        and tool.get("type") == "function"
        and isinstance(tool.get("function"), dict)
        and isinstance(tool["function"].get("name"), str)
    ]
    if not functions:
        return None
    choice = body.get("tool_choice")
    if choice == "none":
        return None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        wanted = choice["function"].get("name")
        for function in functions:
            if function["name"] == wanted:
                return function
    return functions[0]


def _tool_name(messages: list[Any], call_id: Any) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "assistant":
            for call in message.get("tool_calls") or ():
                if isinstance(call, dict) and call.get("id") == call_id:
                    function = call.get("function")
                    if isinstance(function, dict) and isinstance(function.get("name"), str):
                        return str(function["name"])
    return "tool"


def plan_completion(
    body: dict[str, Any], faults: Faults, *, default_tokens: int, max_tokens_cap: int, call_id: str
) -> Plan:
    """Decide the answer to a (valid) chat request."""
    messages: list[Any] = body["messages"]
    prompt_tokens = sum(
        len(_text(m.get("content")).split()) + 4 for m in messages if isinstance(m, dict)
    )
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    role = last.get("role")
    limit = _positive_int(body.get("max_completion_tokens")) or _positive_int(
        body.get("max_tokens")
    )
    if limit is not None:
        limit = min(limit, max_tokens_cap)

    def fixed(pieces: list[str], finish: str = "stop") -> Plan:
        if limit is not None and limit < len(pieces):
            return Plan(pieces[:limit], "length", prompt_tokens)
        return Plan(pieces, finish, prompt_tokens)

    tool = _pick_tool(body) if role == "user" else None
    if tool is not None:
        arguments = orjson.dumps(
            example_value(tool.get("parameters"), all_properties=False)
            if isinstance(tool.get("parameters"), dict)
            else {}
        ).decode()
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": tool["name"], "arguments": arguments},
        }
        return Plan(_split(arguments), "tool_calls", prompt_tokens, call)

    if role == "tool":
        name = _tool_name(messages, last.get("tool_call_id"))
        words = f"The {name} tool returned: {_text(last.get('content'))}".split()
        return fixed([w if i == 0 else " " + w for i, w in enumerate(words)])

    user_text = ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            user_text = _text(message.get("content"))
            break
    words = user_text.split() or list(_FALLBACK_WORDS)

    response_format = body.get("response_format")
    format_type = response_format.get("type") if isinstance(response_format, dict) else None
    if format_type == "json_object":
        return fixed(_split(orjson.dumps({"answer": " ".join(words)}).decode()))
    if format_type == "json_schema":
        assert isinstance(response_format, dict)
        config = response_format.get("json_schema")
        schema = config.get("schema") if isinstance(config, dict) else None
        instance = example_value(schema or {"type": "object"}, all_properties=True)
        return fixed(_split(orjson.dumps(instance).decode()))

    if faults.tokens is not None:
        if limit is not None and limit < faults.tokens:
            count, finish = limit, "length"
        else:
            count, finish = faults.tokens, "stop"
    else:
        count, finish = (limit if limit is not None else default_tokens), "stop"
    n_words = len(words)
    pieces = [words[0]] + [" " + words[i % n_words] for i in range(1, count)]
    return Plan(pieces, finish, prompt_tokens)


def usage(prompt_tokens: int, completion_tokens: int, model: str = "") -> dict[str, Any]:
    """Chat usage, priced with the catalogue's prices for ``model``."""
    prompt_cost = price_of(model, prompt_tokens, 0)
    completion_cost = price_of(model, 0, completion_tokens)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "cost": round(prompt_cost + completion_cost, 12),
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": prompt_cost,
            "upstream_inference_completions_cost": completion_cost,
        },
    }


# -- the handler -----------------------------------------------------------------------------


async def chat_completions(request: Request) -> Response | None:
    state = request.state
    config = state.config
    faults = request_faults(request)
    body = request.json_object()
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HTTPError(400, "Missing required parameter: messages (a non-empty array)")
    routing = route(request, body, default_model=config.default_model)
    model, provider = routing.model, routing.provider

    await fault_prelude(request, faults, model)
    generation_id, created, sequence = new_generation(request)
    headers = [("x-generation-id", generation_id)]
    if faults.error_200:
        return error_200(faults, model, headers)

    plan = plan_completion(
        body,
        faults,
        default_tokens=config.default_tokens,
        max_tokens_cap=config.max_tokens_cap,
        call_id=f"call_emu{sequence:09d}",
    )
    stream = body.get("stream") is True
    sent = delivered(faults, len(plan.pieces))
    record_call(
        request,
        generation_id=generation_id,
        model=model,
        api_type="completions",
        prompt_tokens=plan.prompt_tokens,
        completion_tokens=sent,
        cost=price_of(model, plan.prompt_tokens, sent),
        finish_reason=plan.finish_reason if sent == len(plan.pieces) else "error",
        streamed=stream,
        faults=faults,
        provider_name=provider,
        body=body,
    )
    if stream:

        async def produce() -> None:
            await _stream_answer(
                request, plan, faults, generation_id, created, model, provider, config
            )

        await run_stream(request, faults, headers, produce)
        return None
    result = _result(plan, generation_id, created, model, provider)
    if request.realistic:
        result = realistic.chat_result(result)
    return await complete_json(request, faults, result, len(plan.pieces), headers)


def _result(
    plan: Plan, generation_id: str, created: int, model: str, provider: str
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": plan.content}
    if plan.tool_call is not None:
        message["tool_calls"] = [plan.tool_call]
    message["refusal"] = None
    message["reasoning"] = None
    return {
        "id": generation_id,
        "provider": provider,
        "model": model,
        "object": "chat.completion",
        "created": created,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "finish_reason": plan.finish_reason,
                "native_finish_reason": plan.finish_reason,
                "message": message,
            }
        ],
        "usage": usage(plan.prompt_tokens, len(plan.pieces), model),
    }


async def _stream_answer(
    request: Request,
    plan: Plan,
    faults: Faults,
    generation_id: str,
    created: int,
    model: str,
    provider: str,
    config: EmulatorConfig,
) -> None:
    state = request.state
    lifelike = request.realistic
    head: dict[str, Any] = {
        "id": generation_id,
        "provider": provider,
        "model": model,
        "object": "chat.completion.chunk",
        "created": created,
    }
    if lifelike:
        head["system_fingerprint"] = None
    # Realistic: "role" in every delta, "logprobs": null in every choice (as real chunks).
    role = b'"role":"assistant",' if lifelike else b""
    logprobs = b',"logprobs":null' if lifelike else b""
    no_logprobs: dict[str, Any] = {"logprobs": None} if lifelike else {}

    def chunk(choices: list[Any], **extra: Any) -> bytes:
        return b"data: " + orjson.dumps({**head, "choices": choices, **extra}) + b"\n\n"

    # Content chunks are built from two constant halves around the JSON of the piece.
    head_json = orjson.dumps(head)[:-1]
    if plan.tool_call is None:
        prefix = head_json + b',"choices":[{"index":0,"delta":{' + role + b'"content":'
        suffix = b'},"finish_reason":null,"native_finish_reason":null' + logprobs + b"}]}\n\n"
    else:
        prefix = head_json + b',"choices":[{"index":0,"delta":{' + role
        prefix += (b'"content":null,' if lifelike else b"") + b'"tool_calls":[{"index":0,'
        prefix += b'"function":{"arguments":'
        suffix = b'}}]},"finish_reason":null,"native_finish_reason":null' + logprobs + b"}]}\n\n"
    prefix = b"data: " + prefix
    encoded: dict[str, bytes] = {}

    def _content_chunk(piece: str) -> bytes:
        token = encoded.get(piece)
        if token is None:
            token = encoded[piece] = orjson.dumps(piece)
        return prefix + token + suffix

    delay = faults.token_delay_ms / 1000
    keepalive_every = config.keepalive_every
    batch: list[bytes] = []
    batch_size = 0

    async def flush(last: bool = False) -> None:
        nonlocal batch, batch_size
        data = b"".join(batch)
        batch = []
        batch_size = 0
        if last:
            await request.end(data)
        elif data:
            await request.write(data)
            await anyio.lowlevel.checkpoint()  # lets a client disconnect cancel us

    pieces = plan.pieces
    for index, piece in enumerate(pieces):
        if state.closing:
            await flush()
            return  # dropped: the server is shutting down
        if faults.drop is not None and index >= faults.drop:
            if faults.drop_mid_event:
                batch.append(_content_chunk(piece)[: len(prefix) // 2])
            await flush()
            return  # the server cuts the connection: the body was not ended
        if faults.mid_stream_error is not None and index >= faults.mid_stream_error:
            break
        if index and delay:
            await flush()
            await state.sleep(delay)
        if index == 0:
            if plan.tool_call is None:
                data = chunk(
                    [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": piece},
                            "finish_reason": None,
                            "native_finish_reason": None,
                            **no_logprobs,
                        }
                    ]
                )
            else:
                call = plan.tool_call
                first_delta = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": piece},
                        }
                    ],
                }
                data = chunk(
                    [
                        {
                            "index": 0,
                            "delta": first_delta,
                            "finish_reason": None,
                            "native_finish_reason": None,
                            **no_logprobs,
                        }
                    ]
                )
        else:
            data = _content_chunk(piece)
        if index == faults.malformed_json:
            batch.append(malformed_event(data))
        batch.append(data)
        batch_size += len(data)
        if index == 0 and lifelike:
            batch.append(METADATA_EVENT)
        if keepalive_every and index % keepalive_every == keepalive_every - 1:
            batch.append(PROCESSING)
        if batch_size >= FLUSH_BYTES:
            await flush()
    else:
        if faults.drop is not None:
            await flush()
            return
        if faults.mid_stream_error is None:
            if delay:
                await flush()
                await state.sleep(delay)
            delta: dict[str, Any] = {} if plan.tool_call is not None else {"content": ""}
            finish = plan.finish_reason
            native = finish
            if lifelike:
                delta = {"content": "", "role": "assistant"}
                native = realistic.native_finish_reason(model, finish) or finish
            finish_choice = {
                "index": 0,
                "delta": delta,
                "finish_reason": finish,
                "native_finish_reason": native,
                **no_logprobs,
            }
            batch.append(chunk([finish_choice]))
            last_usage = usage(plan.prompt_tokens, len(pieces), model)
            if lifelike:
                # Real usage chunks repeat the finish choice (303 of 316 recorded streams).
                batch.append(chunk([finish_choice], usage=realistic.chunk_usage(last_usage)))
            else:
                batch.append(chunk([], usage=last_usage))
            batch.append(b"data: [DONE]\n\n")
            await flush(last=True)
            return
    # A mid-stream error: an error chunk with finish_reason "error", then the end.
    error = {"code": faults.error_code, "message": faults.message or "Provider disconnected"}
    choices = [
        {
            "index": 0,
            "delta": {"content": ""},
            "finish_reason": "error",
            "native_finish_reason": "error",
        }
    ]
    batch.append(chunk(choices, error=error))
    await flush(last=True)
