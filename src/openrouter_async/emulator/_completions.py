"""``POST /completions``: OpenRouter's legacy text completions (OpenAI's completions format;
not in the spec, so checked by hand here).

Request ``{model, prompt (a string or a list of strings), max_tokens, temperature, top_p,
stop, stream, ...}``. The text is planned like a chat answer to the prompt (an echo of its
words, ``max_tokens`` tokens if given; the ``tokens`` fault), cut at the first ``stop``
sequence. One choice per prompt. With ``stream: true``: ``text_completion`` chunks with
partial ``text``, a chunk with ``finish_reason``, a usage chunk with ``choices: []`` and
``data: [DONE]``; faults as for chat.
"""

from __future__ import annotations

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
from ._chat import Plan, plan_completion, usage
from ._routing import route

__all__ = ["completions", "register"]


def _prompts(body: dict[str, Any]) -> list[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(item, str) for item in prompt):
            return list(prompt)
        if all(isinstance(item, int) and not isinstance(item, bool) for item in prompt):
            return [" ".join(str(token) for token in prompt)]  # token ids
    raise HTTPError(
        400, "Missing required parameter: prompt (a string or a non-empty array of strings)"
    )


def _stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        if len(stop) > 4:
            raise HTTPError(400, "Invalid parameter stop: at most 4 stop sequences")
        return [item for item in stop if item]
    raise HTTPError(400, "Invalid parameter stop: a string or an array of strings")


def _check_number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise HTTPError(400, f"Invalid parameter {name}: a number between {low} and {high}")


def _cut_at_stop(plan: Plan, stops: list[str]) -> Plan:
    """The plan cut before the first stop sequence in its text (``finish_reason: "stop"``)."""
    if not stops:
        return plan
    text = "".join(plan.pieces)
    cuts = [position for position in (text.find(stop) for stop in stops) if position >= 0]
    if not cuts:
        return plan
    cut = min(cuts)
    pieces: list[str] = []
    length = 0
    for piece in plan.pieces:
        if length + len(piece) >= cut:
            if cut > length:
                pieces.append(piece[: cut - length])
            break
        pieces.append(piece)
        length += len(piece)
    return Plan(pieces, "stop", plan.prompt_tokens)


def _head(generation_id: str, created: int, model: str, provider: str) -> dict[str, Any]:
    return {
        "id": generation_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "provider": provider,
    }


def _choice(text: str, index: int, finish_reason: str | None) -> dict[str, Any]:
    return {
        "text": text,
        "index": index,
        "finish_reason": finish_reason,
        "native_finish_reason": finish_reason,
        "logprobs": None,
    }


async def completions(request: Request) -> Response | None:
    state = request.state
    config = state.config
    faults = request_faults(request)
    body = request.json_object()
    prompts = _prompts(body)
    stops = _stops(body)
    _check_number(body, "temperature", 0, 2)
    _check_number(body, "top_p", 0, 1)
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise HTTPError(400, "Invalid parameter max_tokens: a positive integer")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise HTTPError(400, "Invalid parameter stream: a boolean")
    routing = route(request, body, default_model=config.default_model)
    model, provider = routing.model, routing.provider

    await fault_prelude(request, faults, model)
    generation_id, created, sequence = new_generation(request)
    headers = [("x-generation-id", generation_id)]
    if faults.error_200:
        return error_200(faults, model, headers)

    plans = [
        _cut_at_stop(
            plan_completion(
                {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens},
                faults,
                default_tokens=config.default_tokens,
                max_tokens_cap=config.max_tokens_cap,
                call_id=f"call_emu{sequence:09d}",
            ),
            stops,
        )
        for prompt in prompts
    ]
    prompt_tokens = sum(plan.prompt_tokens for plan in plans)
    planned = sum(len(plan.pieces) for plan in plans)
    sent = delivered(faults, planned)
    stream = body.get("stream") is True
    record_call(
        request,
        generation_id=generation_id,
        model=model,
        api_type="completions",
        prompt_tokens=prompt_tokens,
        completion_tokens=sent,
        cost=price_of(model, prompt_tokens, sent),
        finish_reason=plans[0].finish_reason if sent == planned else "error",
        streamed=stream,
        faults=faults,
        provider_name=provider,
        body=body,
    )
    head = _head(generation_id, created, model, provider)
    if not stream:
        result = {
            **head,
            "system_fingerprint": None,
            "choices": [
                _choice("".join(plan.pieces), index, plan.finish_reason)
                for index, plan in enumerate(plans)
            ],
            "usage": usage(prompt_tokens, planned, model),
        }
        return await complete_json(request, faults, result, planned, headers)

    pieces = [
        sse({**head, "choices": [_choice(piece, index, None)]})
        for index, plan in enumerate(plans)
        for piece in plan.pieces
    ]

    def tail() -> list[bytes]:
        return [
            *(
                sse({**head, "choices": [_choice("", index, plan.finish_reason)]})
                for index, plan in enumerate(plans)
            ),
            sse({**head, "choices": [], "usage": usage(prompt_tokens, planned, model)}),
            DONE,
        ]

    def error(_: int) -> list[bytes]:
        message = faults.message or "Provider disconnected"
        return [
            sse(
                {
                    **head,
                    "error": {"code": faults.error_code, "message": message},
                    "choices": [_choice("", 0, "error")],
                }
            )
        ]

    async def produce() -> None:
        await stream_events(request, faults, head=(), pieces=pieces, tail=tail, error=error)

    await run_stream(request, faults, headers, produce)
    return None


def register(app: Any) -> None:
    app.add_route("POST", "/completions", completions, limited=True)
