"""The incremental SSE decoder: WHATWG parsing rules, arbitrary chunking, line endings."""

from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openrouter_async._sse import ServerSentEvent, SSEDecoder


def decode_all(chunks: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.flush())
    return events


def byte_by_byte(data: bytes) -> list[ServerSentEvent]:
    return decode_all([data[i : i + 1] for i in range(len(data))])


def reference(data: bytes) -> list[ServerSentEvent]:
    """A slow, literal transcription of the WHATWG algorithm, to compare against."""
    text = data.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\r|\n", text)
    lines.pop()  # the part after the last line ending is an incomplete line: discarded
    events: list[ServerSentEvent] = []
    data_buffer = ""
    event_type = ""
    last_id: str | None = None
    retry: int | None = None
    for line in lines:
        if line == "":
            if data_buffer == "":
                event_type = ""
                retry = None
                continue
            if data_buffer.endswith("\n"):
                data_buffer = data_buffer[:-1]
            events.append(ServerSentEvent(data_buffer, event_type or None, last_id, retry))
            data_buffer = ""
            event_type = ""
            retry = None
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "data":
            data_buffer += value + "\n"
        elif field == "event":
            event_type = value
        elif field == "id":
            if "\0" not in value:
                last_id = value
        elif field == "retry":
            if value and all("0" <= c <= "9" for c in value):
                retry = int(value)
    return events


# -- basic framing ---------------------------------------------------------------------------


def test_single_event() -> None:
    assert decode_all([b'data: {"a": 1}\n\n']) == [ServerSentEvent('{"a": 1}')]


def test_event_not_complete_until_empty_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n") == []
    assert decoder.has_pending
    assert decoder.feed(b"\n") == [ServerSentEvent("x")]
    assert not decoder.has_pending


def test_multiple_events_in_one_chunk() -> None:
    events = decode_all([b"data: a\n\ndata: b\n\ndata: c\n\n"])
    assert [e.data for e in events] == ["a", "b", "c"]


def test_multiline_data_joined_with_newline() -> None:
    events = decode_all([b"data: line1\ndata: line2\ndata:\ndata: line4\n\n"])
    assert events == [ServerSentEvent("line1\nline2\n\nline4")]


def test_only_one_space_after_colon_is_stripped() -> None:
    events = decode_all([b"data:  two spaces\n\ndata:none\n\ndata:\tTab\n\n"])
    assert [e.data for e in events] == [" two spaces", "none", "\tTab"]


def test_field_without_colon_has_empty_value() -> None:
    assert decode_all([b"data\n\n"]) == [ServerSentEvent("")]
    assert decode_all([b"data\ndata\n\n"]) == [ServerSentEvent("\n")]


def test_empty_data_line_dispatches_empty_event() -> None:
    assert decode_all([b"data:\n\n"]) == [ServerSentEvent("")]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode_all([b"event: ping\n\n", b"id: 3\n\n", b"retry: 10\n\n"]) == []
    # ...and its event type does not leak into the next event.
    assert decode_all([b"event: ping\n\ndata: x\n\n"]) == [ServerSentEvent("x")]


def test_comments_produce_no_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b": OPENROUTER PROCESSING\n\n") == []
    assert decoder.feed(b": OPENROUTER PROCESSING\n\n:\n\n") == []
    assert decoder.comments == 3
    assert decoder.events_dispatched == 0
    assert decoder.bytes_fed > 0
    assert not decoder.has_pending
    assert decoder.feed(b"data: x\n: comment inside an event\ndata: y\n\n") == [
        ServerSentEvent("x\ny")
    ]
    assert decoder.events_dispatched == 1


def test_event_id_and_retry_fields() -> None:
    events = decode_all(
        [b"event: update\nid: 42\nretry: 1500\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"]
    )
    assert events == [
        ServerSentEvent("a", "update", "42", 1500),
        ServerSentEvent("b", None, "42", None),  # the last event ID persists
        ServerSentEvent("c", None, "", None),  # ...until reset by an empty id
    ]


def test_id_with_nul_is_ignored_and_bad_retry_is_ignored() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\n\nid: a\x00b\nretry: 12a\nretry: \xc2\xb2\ndata: x\n\n")
    assert events == [ServerSentEvent("x", None, "1", None)]
    assert decoder.last_event_id == "1"
    assert decoder.retry is None


def test_unknown_fields_are_ignored() -> None:
    assert decode_all([b"foo: bar\ndata: x\nbaz\n\n"]) == [ServerSentEvent("x")]


def test_done_sentinel_is_an_ordinary_event() -> None:
    assert decode_all([b"data: [DONE]\n\n"]) == [ServerSentEvent("[DONE]")]


def test_incomplete_event_at_eof_is_discarded() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: truncated") == [ServerSentEvent("a")]
    assert decoder.has_pending
    assert decoder.flush() == []
    assert not decoder.has_pending
    decoder = SSEDecoder()
    decoder.feed(b"data: complete line but no blank line\n")
    assert decoder.has_pending
    assert decoder.flush() == []


# -- line endings ----------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    stream = eol.join([b": c", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert decode_all([stream]) == [ServerSentEvent("a\nb"), ServerSentEvent("c")]
    assert byte_by_byte(stream) == [ServerSentEvent("a\nb"), ServerSentEvent("c")]


def test_mixed_line_endings() -> None:
    stream = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
    expected = [ServerSentEvent("a\nb\nc"), ServerSentEvent("d")]
    assert decode_all([stream]) == expected
    assert byte_by_byte(stream) == expected


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # If the LF were a second line ending, this would dispatch "a" now.
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"\n\r") == [ServerSentEvent("a\nb")]
    assert decoder.feed(b"\ndata: c\r\n\r\n") == [ServerSentEvent("c")]


def test_cr_then_cr_is_two_line_endings() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [ServerSentEvent("a")]


# -- BOM and UTF-8 -----------------------------------------------------------------------------


def test_bom_at_start_is_skipped() -> None:
    stream = b"\xef\xbb\xbfdata: x\n\n"
    assert decode_all([stream]) == [ServerSentEvent("x")]
    assert byte_by_byte(stream) == [ServerSentEvent("x")]


def test_bom_only_at_start() -> None:
    # A BOM later in the stream is part of the field name, so the line is an unknown field.
    assert decode_all([b"data: x\n\n\xef\xbb\xbfdata: y\n\n"]) == [ServerSentEvent("x")]


def test_split_inside_multibyte_character() -> None:
    text = "héllo wörld — 日本語 🎉"
    stream = f"data: {text}\n\n".encode()
    for cut in range(len(stream)):
        assert decode_all([stream[:cut], stream[cut:]]) == [ServerSentEvent(text)]
    assert byte_by_byte(stream) == [ServerSentEvent(text)]


def test_invalid_utf8_is_replaced() -> None:
    assert decode_all([b"data: a\xffb\n\n"]) == [ServerSentEvent("a\ufffdb")]


# -- an OpenRouter-like stream ---------------------------------------------------------------


def openrouter_stream(n: int) -> tuple[bytes, list[str]]:
    parts = [b": OPENROUTER PROCESSING\n\n"]
    datas = []
    for i in range(n):
        chunk = {
            "id": "gen-123",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": f" tok{i} ✓"}, "finish_reason": None}],
        }
        data = orjson.dumps(chunk).decode()
        datas.append(data)
        parts.append(b"data: " + data.encode() + b"\n\n")
        if i % 3 == 0:
            parts.append(b": OPENROUTER PROCESSING\n\n")
    parts.append(b"data: [DONE]\n\n")
    datas.append("[DONE]")
    return b"".join(parts), datas


def test_openrouter_stream() -> None:
    stream, datas = openrouter_stream(50)
    events = decode_all([stream])
    assert [e.data for e in events] == datas
    assert all(e.event is None and e.id is None and e.retry is None for e in events)
    assert byte_by_byte(stream) == events


def test_repr_and_eq() -> None:
    event = ServerSentEvent("x", "e", "1", 5)
    assert repr(event) == "ServerSentEvent(data='x', event='e', id='1', retry=5)"
    assert event == ServerSentEvent("x", "e", "1", 5)
    assert event != ServerSentEvent("x")
    assert event != "x"


# -- property tests ----------------------------------------------------------------------------

_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=12,
)
_line = st.one_of(
    st.builds(lambda v: "data: " + v, _value),
    st.builds(lambda v: "data:" + v, _value),
    st.just("data"),
    st.builds(lambda v: ": " + v, _value),
    st.builds(lambda v: "event: " + v, _value),
    st.builds(lambda v: "id: " + v, _value),
    st.builds(lambda v: "retry: " + v, st.from_regex(r"\A[0-9]{1,5}\Z") | _value),
    st.builds(lambda v: "x-" + v, _value),
    st.just(""),
)
_eol = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_line, max_size=30))
    out = []
    for line in lines:
        out.append(line + draw(_eol))
    bom = "\ufeff" if draw(st.booleans()) else ""
    tail = draw(st.sampled_from(["", "data: unterminated", "\n", "\r\n"]))
    return (bom + "".join(out) + tail).encode()


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    chunks = []
    start = 0
    for cut in cuts:
        chunks.append(data[start:cut])
        start = cut
    chunks.append(data[start:])
    return chunks


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_any_split_gives_the_same_events(data: st.DataObject) -> None:
    stream = data.draw(streams())
    whole = decode_all([stream])
    assert whole == reference(stream)
    chunks = data.draw(splits(stream))
    assert decode_all(chunks) == whole
    assert byte_by_byte(stream) == whole


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_line_ending_style_does_not_matter(data: st.DataObject) -> None:
    lines = data.draw(st.lists(_line, max_size=30))
    lf = "".join(line + "\n" for line in lines).encode()
    endings = [data.draw(_eol) for _ in lines]
    for i in range(len(lines) - 1):
        # A lone CR followed by an empty line's LF would be one CRLF ending, not two.
        if endings[i] == "\r" and lines[i + 1] == "" and endings[i + 1] == "\n":
            endings[i] = "\r\n"
    mixed = "".join(line + eol for line, eol in zip(lines, endings, strict=True)).encode()
    assert decode_all(data.draw(splits(mixed))) == decode_all([lf])
