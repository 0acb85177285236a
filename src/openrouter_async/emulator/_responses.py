"""``POST /responses``: the Responses API (beta), answered like a chat request.

The ``input`` (a string, or message / ``function_call`` / ``function_call_output`` items) and
``instructions`` become chat messages, function ``tools`` chat tools, ``max_output_tokens``
the token limit, ``text.format`` the response format; the answer is then planned as for chat
(:func:`._chat.plan_completion`): an ``output_text`` message, or a ``function_call``. With
``reasoning`` asked for, a ``reasoning`` item with a summary comes first.

Non-streamed: the spec's ``OpenResponsesResult``. Streamed (``stream: true``): the spec's
``StreamEvents`` as ``data:`` events — ``response.created``, ``response.in_progress``, the
reasoning item's events, ``response.output_item.added``, ``response.content_part.added``,
``response.output_text.delta`` (or ``response.function_call_arguments.delta``) per token,
the ``.done`` events, ``response.completed`` (``response.incomplete`` when cut by
``max_output_tokens``), then ``data: [DONE]``. A mid-stream error fault sends an ``error``
event and ``response.failed``.

Leniency: a function tool written the chat way, ``{"type": "function", "function": {name,
description, parameters}}`` (as the product description does), is accepted as the flat
``{"type": "function", "name", "description", "parameters"}`` the spec describes.
"""

from __future__ import annotations

import time
from typing import Any

from ._answer import (
    DONE,
    complete_json,
    delivered,
    error_200,
    fault_prelude,
    new_generation,
    record_call,
    request_faults,
    run_stream,
    sse,
    stream_events,
)
from ._app import HTTPError, Request, Response
from ._catalogue import price_of
from ._chat import Plan, plan_completion
from ._routing import route

__all__ = ["normalize_request", "register", "responses"]

_RESULT_SERVICE_TIERS = {"auto", "default", "flex", "priority", "scale"}


def normalize_request(body: Any) -> Any:
    """Chat-style function tools (``{"type": "function", "function": {...}}``) flattened."""
    if not isinstance(body, dict) or not isinstance(body.get("tools"), list):
        return body
    tools: list[Any] = []
    for tool in body["tools"]:
        if (
            isinstance(tool, dict)
            and tool.get("type") == "function"
            and isinstance(tool.get("function"), dict)
            and "name" not in tool
        ):
            function = tool["function"]
            flat = {"type": "function", **function}
            flat.setdefault("parameters", None)
            tools.append(flat)
        else:
            tools.append(tool)
    return {**body, "tools": tools}


# -- the request as a chat request ---------------------------------------------------------


def _content(content: Any) -> Any:
    if isinstance(content, list):
        return [
            {"type": "text", "text": part["text"]}
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
    return content if isinstance(content, str) else ""


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    given = body.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        for item in given:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "function_call":
                call = {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments")},
                }
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif kind == "function_call_output":
                output = item.get("output")
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": item.get("call_id"),
                        "content": _content(output),
                    }
                )
            elif isinstance(item.get("role"), str):
                role = "system" if item["role"] == "developer" else item["role"]
                messages.append({"role": role, "content": _content(item.get("content"))})
    if not any(message["role"] != "system" for message in messages):
        raise HTTPError(400, "Missing required parameter: input")
    return messages


def _function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        tool
        for tool in body.get("tools") or ()
        if isinstance(tool, dict) and tool.get("type") == "function" and "name" in tool
    ]


def _chat_body(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    chat: dict[str, Any] = {"messages": messages}
    tools = _function_tools(body)
    if tools:
        chat["tools"] = [
            {
                "type": "function",
                "function": {"name": tool["name"], "parameters": tool.get("parameters") or {}},
            }
            for tool in tools
        ]
    choice = body.get("tool_choice")
    if choice == "none":
        chat["tool_choice"] = "none"
    elif isinstance(choice, dict) and choice.get("type") == "function" and "name" in choice:
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": fmt.get("name"), "schema": fmt.get("schema")},
        }
    return chat


def _wants_reasoning(body: dict[str, Any]) -> bool:
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict) or reasoning.get("enabled") is False:
        return False
    return (
        reasoning.get("enabled") is True
        or reasoning.get("effort") not in (None, "none")
        or reasoning.get("summary") is not None
        or reasoning.get("max_tokens") is not None
    )


def _reasoning_summary(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message["role"] == "user":
            content = message["content"]
            text = content if isinstance(content, str) else " ".join(p["text"] for p in content)
            words = text.split()[:12]
            return f"The user asks: {' '.join(words)}. I will answer directly."
    return "Continuing the conversation. I will answer directly."


# -- the result ------------------------------------------------------------------------------


class _Answer:
    """Everything a result or a stream is made of."""

    def __init__(
        self,
        body: dict[str, Any],
        model: str,
        generation_id: str,
        created: int,
        sequence: int,
        plan: Plan,
        reasoning: str | None,
    ) -> None:
        self.body = body
        self.model = model
        self.id = generation_id
        self.created = created
        self.plan = plan
        self.reasoning = reasoning
        self.reasoning_tokens = len(reasoning.split()) if reasoning else 0
        self.message_id = f"msg_emu{sequence:09d}"
        self.reasoning_id = f"rs_emu{sequence:09d}"
        self.call_item_id = f"fc_emu{sequence:09d}"
        self.prompt_tokens = plan.prompt_tokens

    @property
    def incomplete(self) -> bool:
        return self.plan.finish_reason == "length"

    def reasoning_item(self, done: bool = True) -> dict[str, Any]:
        summary = [{"type": "summary_text", "text": self.reasoning}] if done else []
        return {
            "type": "reasoning",
            "id": self.reasoning_id,
            "summary": summary,
            "status": "completed" if done else "in_progress",
        }

    def main_item(self, done: bool = True) -> dict[str, Any]:
        plan = self.plan
        status = ("incomplete" if self.incomplete else "completed") if done else "in_progress"
        if plan.tool_call is not None:
            function = plan.tool_call["function"]
            return {
                "type": "function_call",
                "id": self.call_item_id,
                "call_id": plan.tool_call["id"],
                "name": function["name"],
                "arguments": function["arguments"] if done else "",
                "status": status,
            }
        content = [self.text_part()] if done else []
        return {
            "type": "message",
            "id": self.message_id,
            "role": "assistant",
            "status": status,
            "content": content,
        }

    def text_part(self, text: str | None = None) -> dict[str, Any]:
        return {
            "type": "output_text",
            "text": "".join(self.plan.pieces) if text is None else text,
            "annotations": [],
            "logprobs": [],
        }

    def output(self) -> list[dict[str, Any]]:
        items = [self.reasoning_item()] if self.reasoning else []
        return [*items, self.main_item()]

    def usage(self, output_tokens: int) -> dict[str, Any]:
        completion = output_tokens + self.reasoning_tokens
        input_cost = price_of(self.model, self.prompt_tokens, 0)
        output_cost = price_of(self.model, 0, completion)
        return {
            "input_tokens": self.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.prompt_tokens + completion,
            "cost": round(input_cost + output_cost, 12),
            "is_byok": False,
            "cost_details": {
                "upstream_inference_cost": None,
                "upstream_inference_input_cost": input_cost,
                "upstream_inference_output_cost": output_cost,
            },
        }

    def result(self, status: str = "done") -> dict[str, Any]:
        """The ``OpenResponsesResult``: ``status`` is ``in_progress`` (empty output),
        ``done`` (completed or incomplete) or ``failed``."""
        body = self.body
        finished = status == "done"
        output: list[dict[str, Any]]
        usage: dict[str, Any] | None
        if status == "in_progress":
            state, output, usage = "in_progress", [], None
        elif status == "failed":
            state, output, usage = "failed", [], None
        else:
            state = "incomplete" if self.incomplete else "completed"
            output, usage = self.output(), self.usage(len(self.plan.pieces))
        tools = [
            {
                "type": "function",
                "name": tool["name"],
                "description": tool.get("description"),
                "parameters": tool.get("parameters"),
                "strict": tool.get("strict"),
            }
            for tool in _function_tools(body)
        ]
        choice = body.get("tool_choice")
        if not (choice in ("auto", "none", "required") or isinstance(choice, dict)):
            choice = "auto"
        tier = body.get("service_tier")
        result: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "completed_at": int(time.time()) if finished else None,
            "model": self.model,
            "status": state,
            "output": output,
            "error": (
                {"code": "server_error", "message": "Provider disconnected"}
                if status == "failed"
                else None
            ),
            "incomplete_details": (
                {"reason": "max_output_tokens"} if finished and self.incomplete else None
            ),
            "instructions": body.get("instructions")
            if isinstance(body.get("instructions"), str)
            else None,
            "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "presence_penalty": body.get("presence_penalty"),
            "frequency_penalty": body.get("frequency_penalty"),
            "tools": tools,
            "tool_choice": choice,
            "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
            "max_output_tokens": body.get("max_output_tokens"),
            "service_tier": "default" if tier not in _RESULT_SERVICE_TIERS else tier,
            "store": False,
            "truncation": "disabled",
            "text": body.get("text")
            if isinstance(body.get("text"), dict)
            else {"format": {"type": "text"}},
        }
        if usage is not None:
            # Left out, not null, until known: the spec's allOf (BaseResponsesResult's usage
            # is a non-nullable object) refuses a null usage.
            result["usage"] = usage
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict):
            result["reasoning"] = {
                key: reasoning[key]
                for key in ("effort", "summary")
                if reasoning.get(key) is not None
            }
        if finished and self.plan.tool_call is None:
            result["output_text"] = "".join(self.plan.pieces)
        return result


# -- the stream ------------------------------------------------------------------------------


class _Events:
    """The stream's events, numbered in order."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse(event)


def _stream_parts(
    answer: _Answer, faults_message: str | None, error_code: int
) -> tuple[list[bytes], list[bytes], Any, Any]:
    event = _Events()
    head = [
        event("response.created", response=answer.result("in_progress")),
        event("response.in_progress", response=answer.result("in_progress")),
    ]
    index = 0
    if answer.reasoning:
        rid = answer.reasoning_id
        part = {"type": "summary_text", "text": answer.reasoning}
        empty = {"type": "summary_text", "text": ""}
        place = {"item_id": rid, "output_index": 0, "summary_index": 0}
        head += [
            event("response.output_item.added", output_index=0, item=answer.reasoning_item(False)),
            event("response.reasoning_summary_part.added", part=empty, **place),
            event("response.reasoning_summary_text.delta", delta=answer.reasoning, **place),
            event("response.reasoning_summary_text.done", text=answer.reasoning, **place),
            event("response.reasoning_summary_part.done", part=part, **place),
            event("response.output_item.done", output_index=0, item=answer.reasoning_item()),
        ]
        index = 1
    plan = answer.plan
    head.append(
        event("response.output_item.added", output_index=index, item=answer.main_item(False))
    )
    if plan.tool_call is not None:
        where = {"item_id": answer.call_item_id, "output_index": index}
        pieces = [
            event("response.function_call_arguments.delta", delta=piece, **where)
            for piece in plan.pieces
        ]
    else:
        where = {"item_id": answer.message_id, "output_index": index, "content_index": 0}
        head.append(event("response.content_part.added", part=answer.text_part(""), **where))
        pieces = [
            event("response.output_text.delta", delta=piece, logprobs=[], **where)
            for piece in plan.pieces
        ]
    first_piece = event.sequence - len(pieces)

    def tail() -> list[bytes]:
        events: list[bytes] = []
        if plan.tool_call is not None:
            function = plan.tool_call["function"]
            events.append(
                event(
                    "response.function_call_arguments.done",
                    name=function["name"],
                    arguments=function["arguments"],
                    **where,
                )
            )
        else:
            text = "".join(plan.pieces)
            events += [
                event("response.output_text.done", text=text, logprobs=[], **where),
                event("response.content_part.done", part=answer.text_part(), **where),
            ]
        events.append(
            event("response.output_item.done", output_index=index, item=answer.main_item())
        )
        final = "response.incomplete" if answer.incomplete else "response.completed"
        events += [event(final, response=answer.result()), DONE]
        return events

    def error(sent: int) -> list[bytes]:
        event.sequence = first_piece + sent
        return [
            event(
                "error",
                code=str(error_code),
                message=faults_message or "Provider disconnected",
                param=None,
            ),
            event("response.failed", response=answer.result("failed")),
        ]

    return head, pieces, tail, error


# -- the handler -------------------------------------------------------------------------------


async def responses(request: Request) -> Response | None:
    state = request.state
    config = state.config
    faults = request_faults(request)
    body = request.json_object()
    messages = _messages(body)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise HTTPError(400, "Invalid parameter stream: a boolean")
    routing = route(request, body, default_model=config.default_model)
    model, provider = routing.model, routing.provider

    await fault_prelude(request, faults, model)
    generation_id, created, sequence = new_generation(request)
    headers = [("x-generation-id", generation_id)]
    if faults.error_200:
        return error_200(faults, model, headers)

    plan = plan_completion(
        _chat_body(body, messages),
        faults,
        default_tokens=config.default_tokens,
        max_tokens_cap=config.max_tokens_cap,
        call_id=f"call_emu{sequence:09d}",
    )
    reasoning = _reasoning_summary(messages) if _wants_reasoning(body) else None
    answer = _Answer(body, model, generation_id, created, sequence, plan, reasoning)
    stream = body.get("stream") is True
    sent = delivered(faults, len(plan.pieces))
    output_tokens = sent + answer.reasoning_tokens
    record_call(
        request,
        generation_id=generation_id,
        model=model,
        api_type="completions",
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=output_tokens,
        reasoning_tokens=answer.reasoning_tokens,
        cost=price_of(model, answer.prompt_tokens, output_tokens),
        finish_reason=plan.finish_reason if sent == len(plan.pieces) else "error",
        streamed=stream,
        faults=faults,
        provider_name=provider,
        body=body,
    )
    if not stream:
        return await complete_json(request, faults, answer.result(), len(plan.pieces), headers)
    head, pieces, tail, error = _stream_parts(answer, faults.message, faults.error_code)

    async def produce() -> None:
        await stream_events(request, faults, head=head, pieces=pieces, tail=tail, error=error)

    await run_stream(request, faults, headers, produce)
    return None


def register(app: Any) -> None:
    app.add_route("POST", "/responses", responses, normalize=normalize_request, limited=True)
