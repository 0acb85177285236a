"""Replay of real OpenRouter traffic: every recorded response, through the public API.

``../shared/realtraffic`` holds 1,504 responses the real service sent (its README says where
they come from). A loopback server (``_replay_server``) answers each recorded request with its
recorded status, content type and bytes, event streams cut at random byte offsets; the client
makes the call a user would make with the recorded request (``chat.send(**body)``,
``models.list()``, ...), and the test checks what the user gets:

* the response parses; a stream ends cleanly and its usage chunk arrives; an error event
  mid-stream raises ``ChatError`` with the event;
* an error status raises its typed class, with the body's message, code and metadata;
* the values a user reads (content, tool calls, reasoning, usage and cost, finish reason)
  equal the raw JSON, an absent one reads ``None``, and every key of the raw JSON — unknown
  ones included — is reachable on the parsed object (as an attribute or in ``model_extra``)
  with the same value;
* the request that reached the server is the recorded one (same method, path, query, JSON).

The whole corpus runs in one test on one backend (a single failure report, counted by
category: the one-line summary goes to stdout, ``-s`` or ``-rA`` shows it on success);
a representative subset runs through ``async with OpenRouter(...)`` on asyncio and trio.

The only exceptions are listed in :data:`NOT_REPLAYABLE` (nothing to replay) and
:data:`OUT_OF_SPEC` (recorded requests that break the spec: our strict request validation
refuses them before sending, and the test expects exactly that).
"""

from __future__ import annotations

import json
import keyword
import os
import re
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import attrs
import orjson
import pytest

from openrouter_async import OpenRouter, Session
from openrouter_async._config import RetryConfig
from openrouter_async.errors import (
    BadRequestResponseError,
    ChatError,
    ForbiddenResponseError,
    RequestValidationError,
    TooManyRequestsResponseError,
    UnauthorizedResponseError,
)

from ._replay_server import ENTRY_HEADER, RecordedResponse, ReplayServer, running_replay_server
from .conftest import API_KEY

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "realtraffic"

pytestmark = pytest.mark.skipif(
    not (CORPUS / "index.json").is_file(),
    reason=f"the real-traffic corpus is absent ({CORPUS}; see issue 12): nothing to replay",
)

#: Entries with nothing to replay, by file.
NOT_REPLAYABLE = {
    # The pydantic-ai cassette kept no response bytes for this streamed /responses call (its
    # request is also stored in a wrapped {"type": "json", "content": ...} form): an empty
    # body is not an answer OpenRouter gives, so there is nothing to check a client against.
    "pydantic-ai/076.sse": "empty recorded body (the cassette kept no response bytes)",
}

#: Recorded requests that are themselves outside the spec, by file: the field that our strict
#: request validation must name when it refuses them (before anything is sent), and why.
OUT_OF_SPEC: dict[str, tuple[str, str]] = {
    # ruby_llm sent a user message's text as a bare string inside its ``content`` array; the
    # spec's array items (ChatContentItems) are objects ({"type": "text", "text": ...}).
    **{
        f"ruby_llm/{number}.json": ("messages[0].content[0]", "bare string in a content array")
        for number in (1333, 1334, 1335, 1336, 1340, 1341)
    },
}

#: What an error status must raise (from openrouter_async.errors).
ERROR_CLASSES: dict[int, type[Exception]] = {
    400: BadRequestResponseError,
    401: UnauthorizedResponseError,
    403: ForbiddenResponseError,
    429: TooManyRequestsResponseError,
}

_MISSING = object()


# -- the corpus ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    n: int
    """Position in index.json: the replay server's entry number."""
    file: str
    method: str
    path: str
    """The path below ``/api/v1``: ``/chat/completions``."""
    query: dict[str, str]
    request: Any
    """The recorded request body: a JSON object, or the raw text of a multipart body."""
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...]

    @property
    def streamed(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    def raw_json(self) -> Any:
        return orjson.loads(self.body)


@cache
def corpus() -> tuple[Entry, ...]:
    index = json.loads((CORPUS / "index.json").read_text())
    entries = []
    for n, item in enumerate(index):
        uri = urlsplit(item["uri"])
        headers = tuple(
            (name, value)
            for name, values in (item.get("response_headers") or {}).items()
            for value in values
        )
        entries.append(
            Entry(
                n=n,
                file=item["file"],
                method=item["method"],
                path=item["path"].removeprefix("/api/v1"),
                query=dict(parse_qsl(uri.query)),
                request=item["request_body"],
                status=item["status"],
                content_type=item["content_type"],
                body=(CORPUS / item["file"]).read_bytes(),
                headers=headers,
            )
        )
    return tuple(entries)


def replayable() -> list[Entry]:
    return [e for e in corpus() if e.file not in NOT_REPLAYABLE]


@pytest.fixture(scope="module")
def replay_server() -> Iterator[ReplayServer]:
    responses = [RecordedResponse(e.status, e.content_type, e.body, e.headers) for e in corpus()]
    with running_replay_server(responses) as server:
        yield server


# -- calling the public API the way a user would --------------------------------------------

#: Every call goes to the server once: a retry would only replay the same answer, and the
#: 429 entry must raise at once.
NO_RETRIES = RetryConfig.disabled()


@dataclass(frozen=True)
class Call:
    group: str
    """Dotted group path on the Session / facade: ``chat``, ``beta.responses``."""
    method: str
    kwargs: dict[str, Any]
    kind: str
    """What the answer is: selects the checks."""


def call_for(entry: Entry) -> Call:
    """The public method a user would call to make the recorded request."""
    body = entry.request
    path = entry.path
    if path == "/chat/completions":
        kind = "chat_stream" if body.get("stream") is True else "chat"
        return Call("chat", "send", dict(body), kind)
    if path == "/models":
        return Call("models", "list", dict(entry.query), "models")
    if path == "/embeddings":
        return Call("embeddings", "generate", dict(body), "embeddings")
    if path == "/images":
        return Call("images", "generate", dict(body), "images")
    if path == "/rerank":
        return Call("rerank", "rerank", dict(body), "rerank")
    if path == "/audio/transcriptions":
        return Call("stt", "create_transcription_multipart", multipart_fields(body), "stt")
    if path == "/responses":
        kind = "responses_stream" if body.get("stream") is True else "responses"
        return Call("beta.responses", "send", dict(body), kind)
    if path == "/videos":
        return Call("video_generation", "generate", dict(body), "video")
    if path.startswith("/videos/"):
        job_id = path.removeprefix("/videos/")
        return Call("video_generation", "get_generation", {"job_id": job_id}, "video")
    raise AssertionError(f"{entry.file}: no public call known for {entry.method} {path}")


def multipart_fields(text: str) -> dict[str, Any]:
    """The fields of a recorded multipart body (the recording kept it as lossy text: the
    file's bytes are not the original, which does not matter to a replayed answer)."""
    boundary = text.split("\r\n", 1)[0]
    fields: dict[str, Any] = {}
    for part in text.split(boundary)[1:]:
        head, _, value = part.partition("\r\n\r\n")
        name = re.search(r'name="([^"]+)"', head)
        if name is None:
            continue
        value = value.removesuffix("\r\n")
        filename = re.search(r'filename="([^"]+)"', head)
        if filename is not None:
            fields[name.group(1)] = (filename.group(1), value.encode("utf-8", "replace"))
        else:
            fields[name.group(1)] = value
    return fields


def bound_method(owner: Any, call: Call, *, facade: bool) -> Callable[..., Awaitable[Any]]:
    target = owner
    for part in call.group.split("."):
        target = getattr(target, part)
    method: Callable[..., Awaitable[Any]] = getattr(
        target, call.method + ("_async" if facade else "")
    )
    return method


# -- failures, by category ------------------------------------------------------------------


@dataclass
class Outcome:
    entry: Entry
    failures: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, category: str, detail: str) -> None:
        self.failures.append((category, detail))


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _generic_path(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def error_category(error: BaseException) -> str:
    """A category that groups the same failure across entries: indices and quoted values
    are dropped, the exception's class and first line kept."""
    text = str(error).splitlines()[0] if str(error) else ""
    text = re.sub(r"\[\d+\]", "[]", text)
    text = re.sub(r"(got|value) ('[^']{20,}'|\"[^\"]{20,}\")", r"\1 ...", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text) if "status" in text.lower() else text
    return f"{type(error).__name__}: {text[:160]}"


# -- comparing a parsed object with the raw JSON ----------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_RESERVED = {"model_extra", "self", "str", "int", "float", "bool", "list", "dict", "Any"}


@cache
def attribute_name(wire: str) -> str:
    """The attribute a wire (JSON) name becomes on a generated model (tools/codegen's rule:
    snake_case, a trailing ``_`` for Python keywords and reserved names)."""
    text = _CAMEL.sub("_", wire)
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower() or "field"
    if text[0].isdigit():
        text = "x_" + text
    if keyword.iskeyword(text) or text in _RESERVED:
        text += "_"
    return text


def read(obj: Any, wire: str) -> Any:
    """What a user reads for the JSON key ``wire`` of ``obj``: its attribute, or its
    ``model_extra`` entry (unknown fields); a mapping's item; else ``_MISSING``."""
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(wire, _MISSING)
    extra = getattr(obj, "model_extra", None)
    if extra and wire in extra:
        return extra[wire]
    return getattr(obj, attribute_name(wire), _MISSING)


_SCALARS = (str, int, float)


def _same_scalar(actual: Any, raw: Any) -> bool:
    # bool is an int to ``==``: a JSON true must not read as 1, nor 1 as True.
    return actual == raw and (type(actual) is bool) == (type(raw) is bool)


def compare(actual: Any, raw: Any, path: str, outcome: Outcome, *, limit: int = 20) -> None:
    """Every key of ``raw`` must be reachable on ``actual`` with the same value.

    (The corpus holds about a million JSON values: the scalar leaves are compared inline and
    paths are only spelled out for a failure.)
    """
    if len(outcome.failures) >= limit:
        return
    kind = type(raw)
    if kind is dict:
        if not (isinstance(actual, Mapping) or hasattr(type(actual), "__attrs_attrs__")):
            outcome.fail(
                f"object read as another type: {_generic_path(path) or '<root>'}",
                f"got {_short(actual)}",
            )
            return
        for key, value in raw.items():
            got = read(actual, key)
            if type(value) in _SCALARS and _same_scalar(got, value):
                continue
            here = f"{path}.{key}" if path else key
            if got is _MISSING:
                outcome.fail(f"unreachable: {_generic_path(here)}", f"raw {_short(value)}")
            else:
                compare(got, value, here, outcome, limit=limit)
    elif kind is list:
        if not isinstance(actual, (list, tuple)) or len(actual) != len(raw):
            outcome.fail(
                f"list differs: {_generic_path(path)}",
                f"got {_short(actual)}, raw {_short(raw)}",
            )
            return
        for i, (got, value) in enumerate(zip(actual, raw, strict=True)):
            if type(value) in _SCALARS and _same_scalar(got, value):
                continue
            compare(got, value, f"{path}[{i}]", outcome, limit=limit)
    elif raw is None:
        if actual is not None:
            outcome.fail(f"null read as a value: {_generic_path(path)}", f"got {_short(actual)}")
    elif not _same_scalar(actual, raw):
        outcome.fail(
            f"value differs: {_generic_path(path)}", f"got {_short(actual)}, raw {_short(raw)}"
        )


def expect(outcome: Outcome, name: str, actual: Any, expected: Any) -> None:
    """A value a user reads: equal to the raw JSON's, ``None`` where the JSON has none."""
    if actual is _MISSING:
        outcome.fail(f"no attribute: {name}", f"raw {_short(expected)}")
    elif expected is None and actual is not None:
        outcome.fail(f"absent/null does not read None: {name}", f"got {_short(actual)}")
    elif expected is not None and actual != expected:
        outcome.fail(f"value differs: {name}", f"got {_short(actual)}, raw {_short(expected)}")


def expect_fields(
    outcome: Outcome, prefix: str, obj: Any, raw: Any, names: tuple[str, ...]
) -> None:
    raw = raw if isinstance(raw, dict) else {}
    for name in names:
        expect(outcome, f"{prefix}.{name}", read(obj, name), raw.get(name))


USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "cost")


def check_usage(
    outcome: Outcome, prefix: str, usage: Any, raw: Any, names: tuple[str, ...]
) -> None:
    if raw is None:
        expect(outcome, prefix, usage, None)
    elif usage is None or usage is _MISSING or not attrs.has(type(usage)):
        outcome.fail(f"usage lost: {prefix}", f"got {_short(usage)}, raw {_short(raw)}")
    else:
        expect_fields(outcome, prefix, usage, raw, names)


# -- the checks of each kind of answer --------------------------------------------------------


def check_chat(outcome: Outcome, result: Any, raw: dict[str, Any]) -> None:
    compare(result, raw, "", outcome)
    choices = read(result, "choices")
    raw_choices = raw.get("choices") or []
    if not isinstance(choices, list) or len(choices) != len(raw_choices):
        outcome.fail("choices differ", f"got {_short(choices)}")
        return
    for choice, raw_choice in zip(choices, raw_choices, strict=True):
        expect(
            outcome,
            "choice.finish_reason",
            read(choice, "finish_reason"),
            raw_choice.get("finish_reason"),
        )
        message, raw_message = read(choice, "message"), raw_choice.get("message") or {}
        for name in ("content", "reasoning"):
            expect(outcome, f"message.{name}", read(message, name), raw_message.get(name))
        calls, raw_calls = read(message, "tool_calls"), raw_message.get("tool_calls")
        if not raw_calls:
            if raw_calls is None:
                expect(outcome, "message.tool_calls", calls, None)
            continue
        if not isinstance(calls, list) or len(calls) != len(raw_calls):
            outcome.fail("tool calls lost", f"got {_short(calls)}, raw {_short(raw_calls)}")
            continue
        for call, raw_call in zip(calls, raw_calls, strict=True):
            expect(outcome, "tool_call.id", read(call, "id"), raw_call.get("id"))
            function, raw_function = read(call, "function"), raw_call.get("function") or {}
            for name in ("name", "arguments"):
                expect(
                    outcome,
                    f"tool_call.function.{name}",
                    read(function, name),
                    raw_function.get(name),
                )
    check_usage(outcome, "usage", read(result, "usage"), raw.get("usage"), USAGE_FIELDS)


def raw_events(body: bytes) -> list[Any]:
    """The JSON data of each event of a recorded stream, up to ``[DONE]`` (a plain reading
    of the SSE format, independent of the client's decoder)."""
    events = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", body.decode("utf-8")):
        data = [
            line[5:].removeprefix(" ")
            for line in re.split(r"\r\n|\n|\r", block)
            if line.startswith("data:")
        ]
        if not data:
            continue
        text = "\n".join(data)
        if text == "[DONE]":
            break
        events.append(orjson.loads(text))
    return events


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def accumulate(chunks: list[Any]) -> dict[str, Any]:
    """A chat stream put together the way a user would: per choice, the content and
    reasoning deltas joined, the tool call deltas merged by index, the last finish reason;
    the usage of the chunk that has one. Works on parsed chunks and raw events alike."""
    choices: dict[Any, dict[str, Any]] = defaultdict(
        lambda: {"content": "", "reasoning": "", "finish_reason": None, "tool_calls": {}}
    )
    usage: Any = None
    for chunk in chunks:
        found = read(chunk, "usage")
        if found is not _MISSING and found is not None and not _is_unset(found):
            usage = found
        for position, choice in enumerate(read(chunk, "choices") or ()):
            index = read(choice, "index")
            slot = choices[position if index is _MISSING else index]
            finish = read(choice, "finish_reason")
            if isinstance(finish, str):
                slot["finish_reason"] = finish
            delta = read(choice, "delta")
            if delta is _MISSING or delta is None:
                continue
            for name in ("content", "reasoning"):
                slot[name] += _text(read(delta, name))
            calls = read(delta, "tool_calls")
            for i, call in enumerate(calls if isinstance(calls, list) else ()):
                key = read(call, "index")
                merged = slot["tool_calls"].setdefault(
                    i if key is _MISSING else key, {"id": None, "name": None, "arguments": ""}
                )
                if isinstance(read(call, "id"), str):
                    merged["id"] = read(call, "id")
                function = read(call, "function")
                if function is not _MISSING and function is not None:
                    if isinstance(read(function, "name"), str):
                        merged["name"] = read(function, "name")
                    merged["arguments"] += _text(read(function, "arguments"))
    return {"choices": dict(choices), "usage": usage}


def _is_unset(value: Any) -> bool:
    return type(value).__name__ == "Unset"


def check_chat_stream(
    outcome: Outcome, chunks: list[Any], error: ChatError | None, events: list[Any]
) -> None:
    error_at = next((i for i, e in enumerate(events) if "error" in e), None)
    expected = events if error_at is None else events[:error_at]
    if error_at is not None:
        raw_error = events[error_at]
        if error is None:
            outcome.fail("mid-stream error event not raised as ChatError", _short(raw_error))
        else:
            expect(
                outcome,
                "ChatError.error.message",
                error.error.message,
                raw_error["error"].get("message"),
            )
            expect(
                outcome, "ChatError.error.code", error.error.code, raw_error["error"].get("code")
            )
            if error.chunk != raw_error:
                outcome.fail("ChatError.chunk is not the raw event", _short(error.chunk))
    elif error is not None:
        outcome.fail(error_category(error), str(error)[:300])
    if len(chunks) != len(expected):
        outcome.fail("chunk count differs", f"got {len(chunks)}, raw {len(expected)}")
        return
    for i, (chunk, event) in enumerate(zip(chunks, expected, strict=True)):
        compare(chunk, event, f"chunk[{i}]", outcome)
    got, want = accumulate(chunks), accumulate(expected)
    if got["choices"] != want["choices"]:
        outcome.fail("accumulated stream differs", f"got {_short(got)}, raw {_short(want)}")
    if error_at is None:
        if want["usage"] is not None and got["usage"] is None:
            outcome.fail("stream usage chunk lost", _short(want["usage"]))
        elif want["usage"] is not None:
            check_usage(outcome, "stream usage", got["usage"], want["usage"], USAGE_FIELDS)


def check_models(outcome: Outcome, result: Any, raw: dict[str, Any]) -> None:
    compare(result, raw, "", outcome)
    # The fields issue 12 saw missing from real catalogues: absent must read None.
    expect_fields(outcome, "models", result, raw, ("links", "total_count"))
    data = read(result, "data")
    for model, raw_model in zip(
        data if isinstance(data, list) else (), raw.get("data") or (), strict=False
    ):
        expect_fields(
            outcome,
            "model",
            model,
            raw_model,
            ("canonical_slug", "supported_parameters", "hugging_face_id"),
        )
        architecture = read(model, "architecture")
        expect_fields(
            outcome,
            "model.architecture",
            architecture,
            raw_model.get("architecture"),
            ("input_modalities", "output_modalities"),
        )
        pricing = read(model, "pricing")
        expect(
            outcome,
            "model.pricing.prompt",
            read(pricing, "prompt"),
            (raw_model.get("pricing") or {}).get("prompt"),
        )


def check_plain(usage_fields: tuple[str, ...]) -> Callable[[Outcome, Any, dict[str, Any]], None]:
    """The generic check plus the usage a user reads for the cost of the call."""

    def check(outcome: Outcome, result: Any, raw: dict[str, Any]) -> None:
        compare(result, raw, "", outcome)
        if "usage" in raw or usage_fields:
            check_usage(outcome, "usage", read(result, "usage"), raw.get("usage"), usage_fields)

    return check


RESPONSES_USAGE = ("input_tokens", "output_tokens", "total_tokens", "cost")

CHECKS: dict[str, Callable[[Outcome, Any, dict[str, Any]], None]] = {
    "chat": check_chat,
    "models": check_models,
    "embeddings": check_plain(("prompt_tokens", "total_tokens", "cost")),
    "images": check_plain(()),
    "rerank": check_plain(("total_tokens", "cost")),
    "stt": check_plain(("input_tokens", "output_tokens", "total_tokens", "cost")),
    "responses": check_plain(RESPONSES_USAGE),
    "video": check_plain(()),
}


def check_responses_stream(outcome: Outcome, events: list[Any], raw: list[Any]) -> None:
    if len(events) != len(raw):
        outcome.fail("event count differs", f"got {len(events)}, raw {len(raw)}")
        return
    for i, (event, raw_event) in enumerate(zip(events, raw, strict=True)):
        compare(event, raw_event, f"event[{i}]", outcome)
    final, raw_final = events[-1], raw[-1]
    expect(outcome, "final event type", read(final, "type"), "response.completed")
    check_usage(
        outcome,
        "response.usage",
        read(read(final, "response"), "usage"),
        raw_final["response"].get("usage"),
        RESPONSES_USAGE,
    )


def check_error(outcome: Outcome, entry: Entry, error: BaseException) -> None:
    raw = entry.raw_json()
    wanted = ERROR_CLASSES[entry.status]
    if not isinstance(error, wanted):
        outcome.fail(
            f"status {entry.status} raised {type(error).__name__}, not {wanted.__name__}",
            str(error)[:300],
        )
        return
    data = getattr(error, "data", None)
    expect(outcome, "error.status_code", getattr(error, "status_code", None), entry.status)
    for name in ("message", "code", "metadata"):
        expect(outcome, f"error.data.{name}", getattr(data, name, _MISSING), raw["error"].get(name))
    expect(outcome, "error.data.user_id", getattr(data, "user_id", _MISSING), raw.get("user_id"))


def check_request(outcome: Outcome, entry: Entry, server: ReplayServer) -> None:
    """The call that reached the server is the recorded one."""
    received = server.received.get(entry.n, [])
    if len(received) != 1:
        outcome.fail("request not sent exactly once", f"{len(received)} requests")
        return
    sent = received[0]
    target = "/api/v1" + entry.path + (f"?{urlsplit(sent.target).query}" if entry.query else "")
    if sent.method != entry.method or sent.target != target:
        outcome.fail("request line differs", f"{sent.method} {sent.target}")
    if entry.query and dict(parse_qsl(urlsplit(sent.target).query)) != entry.query:
        outcome.fail("query differs", sent.target)
    if isinstance(entry.request, dict):
        try:
            body = orjson.loads(sent.body)
        except ValueError:
            outcome.fail("request body is not JSON", _short(sent.body))
            return
        if body != entry.request:
            where, detail = first_difference(body, entry.request, "")
            outcome.fail(f"request body differs at {_generic_path(where)}", f"{where}: {detail}")
    elif entry.request and b'name="model"' not in sent.body:
        outcome.fail("multipart request lost its fields", _short(sent.body[:200]))


def first_difference(sent: Any, recorded: Any, path: str) -> tuple[str, str]:
    """Where the JSON the client sent first departs from the recorded request, and how."""
    if isinstance(sent, dict) and isinstance(recorded, dict):
        for key in sorted(sent.keys() | recorded.keys()):
            here = f"{path}.{key}" if path else key
            if key not in sent:
                return here, f"not sent (recorded {_short(recorded[key], 60)})"
            if key not in recorded:
                return here, f"sent {_short(sent[key], 60)}, not in the recorded request"
            if sent[key] != recorded[key]:
                return first_difference(sent[key], recorded[key], here)
    if isinstance(sent, list) and isinstance(recorded, list) and len(sent) == len(recorded):
        for i, (a, b) in enumerate(zip(sent, recorded, strict=True)):
            if a != b:
                return first_difference(a, b, f"{path}[{i}]")
    return path, f"sent {_short(sent, 60)}, recorded {_short(recorded, 60)}"


# -- one entry ---------------------------------------------------------------------------------


async def replay(owner: Any, entry: Entry, server: ReplayServer, *, facade: bool) -> Outcome:
    """Make the recorded call through ``owner`` (a Session, or an OpenRouter facade whose
    base URL routes to the entry) and check everything the user gets."""
    outcome = Outcome(entry)
    call = call_for(entry)
    kwargs = dict(call.kwargs)
    if not facade:
        kwargs["http_headers"] = {ENTRY_HEADER: str(entry.n)}
    if entry.status == 429:
        kwargs["retries"] = NO_RETRIES  # also the Session's: said here because it matters
    method = bound_method(owner, call, facade=facade)
    out_of_spec = OUT_OF_SPEC.get(entry.file)
    try:
        if call.kind in ("chat_stream", "responses_stream"):
            chunks: list[Any] = []
            stream_error: ChatError | None = None
            stream = await method(**kwargs)
            async with stream as events:
                try:
                    async for chunk in events:
                        chunks.append(chunk)
                except ChatError as error:
                    stream_error = error
        else:
            result = await method(**kwargs)
    except RequestValidationError as error:
        if out_of_spec is None:
            outcome.fail(error_category(error), str(error)[:300])
        elif error.path != out_of_spec[0]:
            outcome.fail("out-of-spec request refused for another field", str(error)[:300])
        if entry.n in server.received:
            outcome.fail("refused request was sent anyway", "")
        return outcome
    except Exception as error:
        if entry.status in ERROR_CLASSES and out_of_spec is None:
            check_error(outcome, entry, error)
            check_request(outcome, entry, server)
        else:
            outcome.fail(error_category(error), str(error)[:300])
        return outcome
    if out_of_spec is not None:
        outcome.fail("out-of-spec request was not refused", out_of_spec[1])
        return outcome
    if entry.status in ERROR_CLASSES:
        outcome.fail(f"status {entry.status} did not raise", _short(result))
        return outcome
    check_request(outcome, entry, server)
    if call.kind == "chat_stream":
        check_chat_stream(outcome, chunks, stream_error, raw_events(entry.body))
    elif call.kind == "responses_stream":
        if stream_error is not None:
            outcome.fail(error_category(stream_error), str(stream_error)[:300])
        check_responses_stream(outcome, chunks, raw_events(entry.body))
    else:
        CHECKS[call.kind](outcome, result, entry.raw_json())
    return outcome


def summarise(outcomes: list[Outcome], label: str) -> tuple[str, str]:
    """(the one-line summary, the report: each category with its count and one example)."""
    clean = sum(1 for o in outcomes if not o.failures)
    by_category: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for outcome in outcomes:
        for category in dict.fromkeys(c for c, _ in outcome.failures):
            by_category[category] += 1
            detail = next(d for c, d in outcome.failures if c == category)
            examples.setdefault(category, f"{outcome.entry.file}: {detail}")
    kinds: Counter[str] = Counter()
    kinds_clean: Counter[str] = Counter()
    for outcome in outcomes:
        kind = call_for(outcome.entry).kind
        kinds[kind] += 1
        kinds_clean[kind] += not outcome.failures
    per_kind = ", ".join(f"{k} {kinds_clean[k]}/{kinds[k]}" for k in sorted(kinds))
    refused = sum(1 for o in outcomes if not o.failures and o.entry.file in OUT_OF_SPEC)
    line = (
        f"realtraffic {label}: {clean}/{len(outcomes)} clean, {refused} of them out-of-spec "
        f"requests refused before sending as expected ({per_kind})"
    )
    report = [line, "failing entries by category (count, one example):"]
    for category, count in by_category.most_common():
        report.append(f"  {count:5d}  {category}\n         e.g. {examples[category]}")
    return line, "\n".join(report)


# -- the tests ---------------------------------------------------------------------------------


def test_the_corpus_is_what_the_tests_expect() -> None:
    """The exception lists match the corpus: one entry has nothing to replay (an empty
    body), every other body is a JSON object or an event stream with events."""
    entries = corpus()
    assert len(entries) == 1504
    empty = {e.file for e in entries if not e.body}
    assert empty == set(NOT_REPLAYABLE)
    assert len(replayable()) == 1503
    for entry in replayable():
        if entry.streamed:
            assert raw_events(entry.body), entry.file
        else:
            assert isinstance(entry.raw_json(), dict), entry.file
        call_for(entry)  # a public call exists for every recorded request
    # The out-of-spec list is exactly the recorded requests with a bare string in a content
    # array: nothing else is excused, and no such request goes unlisted.
    bare = {e.file for e in replayable() if bare_string_in_content(e.request)}
    assert bare == set(OUT_OF_SPEC)


def bare_string_in_content(request: Any) -> bool:
    messages = request.get("messages") if isinstance(request, dict) else None
    return any(
        isinstance(m.get("content"), list) and any(isinstance(p, str) for p in m["content"])
        for m in messages or ()
    )


#: The whole corpus runs on one backend (a few seconds each); the subset below runs on both.
#: ``OPENROUTER_REPLAY_BACKENDS=asyncio,trio`` runs the whole corpus on both.
CORPUS_BACKENDS = os.environ.get("OPENROUTER_REPLAY_BACKENDS", "asyncio").split(",")


@pytest.mark.parametrize("anyio_backend", CORPUS_BACKENDS)
async def test_whole_corpus_replays_cleanly(
    anyio_backend: str, replay_server: ReplayServer, capsys: pytest.CaptureFixture[str]
) -> None:
    replay_server.received.clear()
    started = time.perf_counter()
    outcomes = await replay_all(replay_server, replayable())
    elapsed = time.perf_counter() - started
    line, report = summarise(outcomes, f"{anyio_backend}, {elapsed:.1f}s")
    with capsys.disabled():
        print("\n" + line)
    assert all(not o.failures for o in outcomes), report


async def replay_all(server: ReplayServer, entries: list[Entry]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    limiter = anyio.CapacityLimiter(16)

    async def one(session: Session, entry: Entry) -> None:
        async with limiter:
            outcomes.append(await replay(session, entry, server, facade=False))

    async with Session(
        api_key=API_KEY,
        base_url=server.base_url,
        retry_config=NO_RETRIES,
        timeout_ms=30_000,
        max_concurrency=16,
    ) as session:
        async with anyio.create_task_group() as tg:
            for entry in entries:
                # A 429 makes the Session cool down every call: it gets a Session of its own.
                if entry.status != 429:
                    tg.start_soon(one, session, entry)
    for entry in entries:
        if entry.status == 429:
            async with Session(
                api_key=API_KEY, base_url=server.base_url, retry_config=NO_RETRIES
            ) as alone:
                outcomes.append(await replay(alone, entry, server, facade=False))
    return sorted(outcomes, key=lambda o: o.entry.n)


#: Request parameters of OpenRouter's that the spec lacks or that route the call.
OPENROUTER_EXTRAS = frozenset(
    {"transforms", "preset", "web_search_options", "usage", "n", "plugins", "models", "provider"}
)


def representative() -> list[Entry]:
    """One entry of each shape: per endpoint, status and content type, with and without tool
    calls, reasoning and padding, from each source; plus every error event mid-stream."""
    chosen: dict[tuple[Any, ...], Entry] = {}
    for entry in replayable():
        text = entry.body[:4096]
        shape: tuple[Any, ...] = (
            entry.path.split("/")[1],
            entry.status,
            entry.streamed,
            entry.file.split("/")[0],
            b"tool_calls" in entry.body,
            b'"reasoning"' in text,
            entry.body[:1].isspace(),
            entry.file in OUT_OF_SPEC,
            b'"cost_details"' in entry.body,
            tuple(sorted(set(entry.request) & OPENROUTER_EXTRAS))
            if isinstance(entry.request, dict)
            else (),
        )
        if b'"error"' in entry.body and entry.streamed and entry.path == "/chat/completions":
            shape = (*shape, entry.n)
        chosen.setdefault(shape, entry)
    return sorted(chosen.values(), key=lambda e: e.n)


@pytest.mark.anyio
async def test_representative_subset_through_the_facade(
    anyio_backend: str, replay_server: ReplayServer
) -> None:
    """``async with OpenRouter(...)`` per entry, its base URL routed to the entry, on both
    backends: what a user's script does."""
    outcomes = []
    for entry in representative():
        async with OpenRouter(
            api_key=API_KEY,
            base_url=replay_server.base_url_for(entry.n),
            retry_config=NO_RETRIES,
            timeout_ms=30_000,
        ) as client:
            replay_server.received.pop(entry.n, None)  # the other backend's run
            outcomes.append(await replay(client, entry, replay_server, facade=True))
    _line, report = summarise(outcomes, f"subset via OpenRouter on {anyio_backend}")
    assert len(outcomes) >= 30
    assert all(not o.failures for o in outcomes), report


def test_the_replay_server_cuts_streams_everywhere(replay_server: ReplayServer) -> None:
    """The cuts are what the brief promises: seeded, inside lines, inside UTF-8 sequences."""
    entry = next(e for e in replayable() if e.streamed and re.search(rb"[\x80-\xff]", e.body))
    pieces = replay_server.cut_stream(entry.n, entry.body)
    assert b"".join(pieces) == entry.body
    assert pieces == replay_server.cut_stream(entry.n, entry.body)  # seeded: reproducible
    assert any(not p.endswith(b"\n") for p in pieces[:-1])  # a cut inside a line
    ends = [sum(map(len, pieces[: i + 1])) for i in range(len(pieces) - 1)]
    assert any(entry.body[end] & 0xC0 == 0x80 for end in ends)  # a cut inside a character
    # ... and on the wire, each piece is one chunk of a chunked body (a plain socket reads it).
    assert http_chunks(replay_server, entry) == pieces
    padded = next(e for e in replayable() if e.body[:1].isspace())
    padding = padded.body[: len(padded.body) - len(padded.body.lstrip())]
    assert http_chunks(replay_server, padded) == [padding, padded.body.lstrip()]


def http_chunks(server: ReplayServer, entry: Entry) -> list[bytes]:
    """The chunks of the server's answer for ``entry``, read off the socket as sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        target = "/api/v1" + entry.path
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: x\r\n{ENTRY_HEADER}: {entry.n}\r\n\r\n".encode()
        )
        data = b""
        while not data.endswith(b"\r\n0\r\n\r\n"):
            received = sock.recv(65536)
            assert received, "the server closed the connection mid-answer"
            data += received
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    chunks: list[bytes] = []
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return chunks
        chunks.append(body[:size])
        body = body[size + 2 :]
