"""Realistic mode (``EmulatorConfig.realistic``, ``--realistic``, the request header
``X-Emulator-Shape: realistic|strict``): answers shaped like the ones real OpenRouter sends,
where those differ from the spec the strict emulator follows to the letter.

Real OpenRouter leaves out fields the spec calls required, sends fields the spec does not
know, pads a slow JSON answer with whitespace and interleaves comments in its streams. A client
tested only against spec-perfect answers breaks on the real ones, so the tests' emulator runs
in this mode (``tests/conftest.py``); a strict one stays a conformance check
(``tests/test_emulator_conformance.py`` drives it through Prism).

Everything below is data taken from real responses: ``shared/realtraffic`` next to the project
(1,504 bodies recorded by pydantic-ai's and ruby_llm's test suites; see its README).
``tests/test_emulator_realistic.py::test_evidence_matches_the_corpus`` derives the omissions
again from that corpus (for every field the strict emulator sends: how many recorded bodies
lack it where it could be) and fails if these tables and the corpus disagree. The counts are
``(bodies lacking the field, bodies where its parent is present)``; a stream counts as one
body (the field is lacking if no chunk of it has it).

What realistic mode changes, in short:

* leaves out :data:`OMITTED` (``always``: from every answer; ``alternate``: from every other
  model of a catalogue page, since real catalogues of some eras have them and others do not;
  ``when-empty``: a tool call's ``arguments`` when the call has none);
* adds :data:`ADDED` (fields real OpenRouter sends that the strict emulator does not, some of
  them unknown to the spec): provider-native ``native_finish_reason`` values, ``logprobs:
  null``, a tool call's ``index``, ``role`` in every delta, the usage chunk repeating the
  finish choice, more token details, ``provider`` on embeddings, ``system_fingerprint: null``
  in every chunk;
* pads a non-streamed JSON answer (chat, completions, responses, embeddings) with
  :data:`PADDING` before the JSON: one unit at once, and while a slow answer is generated (the
  ``ttft-ms`` / ``token-delay-ms`` faults) the headers go out at once and one more unit every
  :data:`PADDING_INTERVAL_S`, then the JSON (a chunked body, as OpenRouter's keep-alive needs);
* in a stream, two more ``: OPENROUTER PROCESSING`` comments at the start (real streams open
  with three), then an ``event: ping`` event, and an ``event: openrouter.metadata`` event after
  the first content event: SSE events with a name other than the default, which a client must
  skip (no recorded stream has one, but the SSE format allows them and issue 12 asks that they
  never be fatal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ADDED",
    "KEPT",
    "METADATA_EVENT",
    "OMITTED",
    "PADDING",
    "PADDING_INTERVAL_S",
    "PING_EVENT",
    "SHAPE_HEADER",
    "STREAM_PRELUDE",
    "Evidence",
    "chat_result",
    "chunk_usage",
    "embeddings_result",
    "models_page",
    "native_finish_reason",
    "parse_shape",
]

#: Request header choosing the shape of one answer: ``realistic`` or ``strict`` (overrides
#: ``EmulatorConfig.realistic``).
SHAPE_HEADER = "x-emulator-shape"


@dataclass(frozen=True)
class Evidence:
    """How often real responses lack (for :data:`OMITTED`, :data:`KEPT`) or have (for
    :data:`ADDED`) a field: ``count`` of ``seen`` recorded bodies."""

    count: int
    seen: int
    #: How realistic mode applies it (``always``, ``alternate``, ``when-empty``), or why not.
    rule: str = "always"
    note: str = ""


# Paths are dotted, from the top of the JSON body; ``[]`` stands for every item of a list.

#: Fields the strict emulator sends (most of them required by the spec) that real responses
#: lack, and that realistic mode leaves out. Keyed by the kind of body.
OMITTED: dict[str, dict[str, Evidence]] = {
    # POST /chat/completions, non-streamed (1,119 recorded answers).
    "chat.completion": {
        "system_fingerprint": Evidence(853, 1119, note="null in 265, a string in 1"),
        "choices[].message.tool_calls[].function.arguments": Evidence(
            1, 257, "when-empty", 'of the calls without arguments: "" in 94, "{}" in 29'
        ),
    },
    # POST /chat/completions, streamed (316 recorded streams).
    "chat.completion.chunk": {
        # The usage chunk's cost_details is then {"upstream_inference_cost": null,
        # "input_audio_cache_read_tokens": null}, as in 20 streams.
        "usage.cost_details.upstream_inference_prompt_cost": Evidence(70, 257),
        "usage.cost_details.upstream_inference_completions_cost": Evidence(70, 257),
    },
    # GET /models (33 recorded catalogues, 10,493 models, 2024-2026).
    "models": {
        "total_count": Evidence(33, 33),
        "links": Evidence(33, 33),
        "data[].links": Evidence(33, 33),
        "data[].supported_voices": Evidence(33, 33),
        "data[].knowledge_cutoff": Evidence(33, 33, note="optional; no recorded model has it"),
        "data[].default_parameters": Evidence(24, 33, "alternate"),
        "data[].canonical_slug": Evidence(9, 33, "alternate"),
        "data[].supported_parameters": Evidence(5, 33, "alternate"),
    },
}

#: Fields the strict emulator sends that some real responses lack, but that realistic mode
#: keeps sending (optional in the spec, and present in the newest recordings), with the reason.
KEPT: dict[str, dict[str, Evidence]] = {
    "chat.completion": {
        "choices[].message.tool_calls": Evidence(862, 1119, "kept", "only in tool-call answers"),
        "choices[].message.reasoning": Evidence(1, 1119, "kept", "optional; null in 1,070"),
        "usage.cost": Evidence(613, 1119, "kept", "optional; absent in older recordings"),
        "usage.cost_details": Evidence(613, 1119, "kept", "optional; absent in older ones"),
        "usage.is_byok": Evidence(616, 1119, "kept", "optional; absent in older recordings"),
        "usage.prompt_tokens_details": Evidence(570, 1119, "kept", "optional"),
        "usage.completion_tokens_details": Evidence(577, 1119, "kept", "optional"),
    },
    "chat.completion.chunk": {
        "choices[].delta.tool_calls": Evidence(199, 316, "kept", "only in tool-call streams"),
        "usage.cost_details": Evidence(59, 316, "kept", "optional"),
        "usage.is_byok": Evidence(52, 316, "kept", "optional"),
    },
    "models": {
        "data[].expiration_date": Evidence(30, 33, "kept", "optional; null when sent"),
        "data[].hugging_face_id": Evidence(7, 33, "kept", "optional"),
    },
}

#: What realistic mode adds, with how many recorded bodies have it (``seen``: bodies where its
#: parent is present). The notes say which of them the spec does not know.
ADDED: dict[str, dict[str, Evidence]] = {
    "chat.completion": {
        "choices[].native_finish_reason": Evidence(
            1119,
            1119,
            note="not in the spec (the strict emulator sends it too); provider-native values "
            'in 437: "end_turn" 168, "STOP" 185, "tool_use" 67, "completed" 15, "MAX_TOKENS" 2',
        ),
        "provider": Evidence(1119, 1119, note="not in the spec (the strict emulator sends it)"),
        "choices[].logprobs": Evidence(1119, 1119, note="null; in the spec"),
        "choices[].message.tool_calls[].index": Evidence(257, 257, note="not in the spec"),
        "usage.completion_tokens_details.image_tokens": Evidence(496, 542, note="not in the spec"),
        "usage.completion_tokens_details.audio_tokens": Evidence(323, 542),
        "usage.prompt_tokens_details.cache_write_tokens": Evidence(485, 549),
        "usage.prompt_tokens_details.audio_tokens": Evidence(467, 549),
        "usage.prompt_tokens_details.video_tokens": Evidence(465, 549),
    },
    "chat.completion.chunk": {
        "choices[].delta.role": Evidence(316, 316, note="in every chunk (13,668 of 13,668)"),
        "choices[].logprobs": Evidence(248, 316, note="null"),
        "usage.cost_details.input_audio_cache_read_tokens": Evidence(
            20, 257, note="null; not in the spec"
        ),
        "usage.completion_tokens_details.image_tokens": Evidence(175, 316, note="not in the spec"),
        "usage.prompt_tokens_details.audio_tokens": Evidence(195, 316),
        # Not in the corpus (no recorded chunk has the field at all), but issue 12 saw real
        # streams fail on it: the spec's chunk types it as a string, never null.
        "system_fingerprint": Evidence(0, 316, note="null; issue 12, not in the corpus"),
    },
    "embeddings": {
        "provider": Evidence(12, 12, note="not in the spec"),
    },
}

#: In 303 of the 316 recorded streams the usage chunk repeats the finish choice instead of
#: ``choices: []`` (13).
USAGE_CHUNK_REPEATS_FINISH = Evidence(303, 316)

#: A unit of the whitespace OpenRouter sends before a non-streamed JSON answer: 1,058 of the
#: 1,069 JSON bodies ruby_llm recorded byte for byte begin with 1 to 64 of these (mostly 2 to
#: 6; chat 1,049 of 1,059, embeddings 8 of 12), and nothing else.
PADDING = b"\n         \n"
#: One more unit every this many seconds while a slow answer is generated (the emulator's
#: delays are short: this keeps several units within a test's ``ttft-ms`` of a few hundred ms).
PADDING_INTERVAL_S = 0.1

_PROCESSING = b": OPENROUTER PROCESSING\n\n"
#: A named event no client may treat as a chunk (Anthropic's streams send the like).
PING_EVENT = b'event: ping\ndata: {"type":"ping"}\n\n'
#: An unknown named event, between two content events.
METADATA_EVENT = b'event: openrouter.metadata\ndata: {"type":"openrouter.metadata"}\n\n'
#: After the first keep-alive comment of a stream: real streams open with three comments
#: (946 comments in 308 of the 316 recorded chat streams).
STREAM_PRELUDE = _PROCESSING * 2 + PING_EVENT

# Provider-native finish reasons of the recorded answers, by the model's author.
_NATIVE_FINISH: dict[str, dict[str, str]] = {
    "anthropic": {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"},
    "google": {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS"},
}


def parse_shape(value: str) -> bool:
    """``X-Emulator-Shape``: ``True`` for ``realistic``, ``False`` for ``strict``;
    ``ValueError`` otherwise."""
    shape = value.strip().lower()
    if shape == "realistic":
        return True
    if shape == "strict":
        return False
    raise ValueError(f"X-Emulator-Shape must be realistic or strict, not {value!r}")


def native_finish_reason(model: str, finish_reason: str | None) -> str | None:
    """What the provider of ``model`` calls ``finish_reason`` (``end_turn`` for Anthropic's
    ``stop``, ``STOP`` for Google's...)."""
    if finish_reason is None:
        return None
    author = model.split("/", 1)[0]
    return _NATIVE_FINISH.get(author, {}).get(finish_reason, finish_reason)


def _token_details(usage: dict[str, Any]) -> None:
    prompt = usage.get("prompt_tokens_details")
    if isinstance(prompt, dict):
        prompt.setdefault("cache_write_tokens", 0)
        prompt.setdefault("audio_tokens", 0)
        prompt.setdefault("video_tokens", 0)
    completion = usage.get("completion_tokens_details")
    if isinstance(completion, dict):
        completion.setdefault("image_tokens", 0)
        completion.setdefault("audio_tokens", 0)


def chat_result(result: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed chat answer of the strict emulator, reshaped as real ones are."""
    result.pop("system_fingerprint", None)
    model = str(result.get("model", ""))
    for choice in result.get("choices", ()):
        choice["logprobs"] = None
        choice["native_finish_reason"] = native_finish_reason(model, choice.get("finish_reason"))
        message = choice.get("message") or {}
        for index, call in enumerate(message.get("tool_calls") or ()):
            call["index"] = index
            function = call.get("function") or {}
            if function.get("arguments") in ("", "{}"):
                del function["arguments"]
    usage = result.get("usage")
    if isinstance(usage, dict):
        _token_details(usage)
    return result


def chunk_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """The usage of a stream's last chunk as real ones are: ``cost_details`` without the
    upstream prompt and completion costs, more token details."""
    usage["cost_details"] = {"upstream_inference_cost": None, "input_audio_cache_read_tokens": None}
    _token_details(usage)
    return usage


def embeddings_result(result: dict[str, Any], provider: str) -> dict[str, Any]:
    """A ``POST /embeddings`` answer with the ``provider`` real ones carry."""
    result["provider"] = provider
    return result


def models_page(page: dict[str, Any]) -> dict[str, Any]:
    """A ``GET /models`` page (``ModelsListResponse``) without the fields real catalogues lack
    (:data:`OMITTED` ``["models"]``: ``always`` from every model, ``alternate`` from the models
    at odd positions, so that one page shows both shapes)."""
    rules = OMITTED["models"]
    for path in rules:
        if "." not in path:
            page.pop(path, None)
    models = page.get("data")
    if isinstance(models, list):
        for position, model in enumerate(models):
            for path, evidence in rules.items():
                if not path.startswith("data[]."):
                    continue
                if evidence.rule == "always" or (evidence.rule == "alternate" and position % 2):
                    model.pop(path[len("data[].") :], None)
    return page
