"""Tools from Python functions (``tool(fn)``) and the tool runner (``chat.run_tools``).

The runner talks to the emulator (one deterministic tool call per user turn, then "The <name>
tool returned: <result>") and, for what the emulator never asks (several calls at once,
unknown tools, arguments that are not JSON or do not fit), to a scripted loopback server
(``tests/_tool_calls_server.py``). Async tests run on asyncio and trio; the sync facade from a
plain thread and from inside a running asyncio loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import threading
from collections.abc import Iterator
from typing import Annotated, Any, Literal, TypedDict

import anyio
import anyio.lowlevel
import pytest

from openrouter_async import OpenRouter, Session
from openrouter_async._tools import (
    FunctionTool,
    ToolRoundsExceededError,
    ToolRun,
    tool,
)
from openrouter_async.errors import RequestValidationError
from openrouter_async.models import (
    ChatAssistantMessage,
    ChatFunctionToolFunction,
    ChatResult,
    ChatToolMessage,
    ChatUserMessage,
    DatetimeServerTool,
)

from ._tool_calls_server import ToolCallsServer, tool_calls_server
from .conftest import EmulatorProbe

ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict[str, Any]:
    """Get the current weather in a city.

    Args:
        city: The city, e.g. Paris.
        unit: The temperature unit,
            celsius or fahrenheit.

    Returns:
        The weather.
    """
    return {"city": city, "temperature": 21, "unit": unit}


async def get_time(city: str) -> str:
    """The local time in a city."""
    await anyio.lowlevel.checkpoint()
    return f"12:00 in {city}"


@pytest.fixture
def scripted() -> Iterator[ToolCallsServer]:
    with tool_calls_server() as server:
        yield server


# -- tool(fn): the schema --------------------------------------------------------------------


def test_tool_reads_the_signature_and_a_google_docstring() -> None:
    weather = tool(get_weather)
    assert isinstance(weather, FunctionTool)
    assert dict(weather) == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city, e.g. Paris."},
                    "unit": {
                        "type": "string",
                        "enum": ["celsius", "fahrenheit"],
                        "default": "celsius",
                        "description": "The temperature unit, celsius or fahrenheit.",
                    },
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    assert weather("Oslo") == {"city": "Oslo", "temperature": 21, "unit": "celsius"}
    assert weather.fn is get_weather and weather.name == "get_weather"
    assert isinstance(weather.definition, ChatFunctionToolFunction)
    assert weather.definition.function.name == "get_weather"
    assert not weather.strict


def test_strict_lists_every_parameter_and_says_so() -> None:
    weather = tool(get_weather, strict=True)
    function = weather["function"]
    assert function["strict"] is True
    assert function["parameters"]["required"] == ["city", "unit"]
    assert function["parameters"]["properties"]["unit"] == {
        "anyOf": [{"type": "string", "enum": ["celsius", "fahrenheit"]}, {"type": "null"}],
        "description": "The temperature unit, celsius or fahrenheit.",
    }
    assert weather.definition.function.strict is True


def test_numpy_and_sphinx_docstrings_and_annotated_descriptions() -> None:
    def numpy_style(a: int, b: int = 2) -> int:
        """Add two numbers.

        A longer explanation.

        Parameters
        ----------
        a : int
            The first.
        b : int, optional
            The second,
            continued.

        Returns
        -------
        int
        """
        return a + b

    def sphinx_style(path: str, mode: str = "r") -> str:
        """Open a file.

        :param path: Where it is.
        :param str mode: How to open it.
        :returns: its text.
        """
        return path

    def annotated(query: Annotated[str, "What to look for"], limit: int = 10) -> list[str]:
        """Search.

        Args:
            query: ignored, the annotation says it.
            limit: At most this many.
        """
        return []

    numpy_fn = tool(numpy_style)["function"]
    assert numpy_fn["description"] == "Add two numbers.\n\nA longer explanation."
    properties = numpy_fn["parameters"]["properties"]
    assert properties["a"]["description"] == "The first."
    assert properties["b"]["description"] == "The second, continued."
    sphinx = tool(sphinx_style)["function"]
    assert sphinx["description"] == "Open a file."
    assert sphinx["parameters"]["properties"]["path"]["description"] == "Where it is."
    assert sphinx["parameters"]["properties"]["mode"]["description"] == "How to open it."
    props = tool(annotated)["function"]["parameters"]["properties"]
    assert props["query"] == {"type": "string", "description": "What to look for"}
    assert props["limit"] == {"type": "integer", "default": 10, "description": "At most this many."}


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    """A point."""

    x: float
    y: float


class Box(TypedDict):
    corner: Point
    color: Color


def test_classes_in_parameters_go_to_defs() -> None:
    def draw(box: Box, points: list[Point], label: str | None = None) -> str:
        """Draw a box."""
        return "ok"

    parameters = tool(draw)["function"]["parameters"]
    assert parameters["properties"]["points"] == {
        "type": "array",
        "items": {"$ref": "#/$defs/Point"},
    }
    assert parameters["properties"]["box"] == {"$ref": "#/$defs/Box"}
    assert set(parameters["$defs"]) == {"Point", "Box"}
    assert parameters["required"] == ["box", "points"]


def test_name_description_and_decorator_forms() -> None:
    @tool
    def plain(x: int) -> int:
        """Doc."""
        return x

    @tool(name="renamed", description="Another text.")
    def named(x: int) -> int:
        return x

    assert plain.name == "plain" and plain(3) == 3
    assert named.name == "renamed" and named.description == "Another text."
    undocumented = tool(lambda x: x, name="echo")
    assert undocumented.description is None
    assert undocumented["function"]["parameters"]["properties"] == {"x": {}}


def test_what_cannot_be_a_tool_is_refused_clearly() -> None:
    with pytest.raises(RequestValidationError, match="pass name=") as caught:
        tool(lambda x: x)
    assert caught.value.path == "name"
    with pytest.raises(RequestValidationError, match="at most 64"):
        tool(get_weather, name="has space")

    def star(*args: int) -> None: ...

    with pytest.raises(RequestValidationError, match=r"\*args and \*\*kwargs") as caught:
        tool(star)
    assert caught.value.path == "args"

    def opaque(handle: threading.Lock) -> None: ...

    with pytest.raises(RequestValidationError, match=r"tool\(opaque\): no JSON schema"):
        tool(opaque)


# -- the runner, against the emulator --------------------------------------------------------


@pytest.mark.anyio
async def test_run_tools_runs_a_sync_tool_and_returns_the_transcript(
    anyio_backend: str, emulator_url: str, api_key: str
) -> None:
    seen_threads: list[str] = []

    def weather(city: str) -> dict[str, Any]:
        """The weather."""
        seen_threads.append(threading.current_thread().name)
        return {"city": city, "sky": "clear"}

    async with Session(base_url=emulator_url, api_key=api_key) as session:
        run = await session.chat.run_tools(model="m/x", messages=ASK, tools=[weather])
        assert isinstance(run, ToolRun) and isinstance(run.completion, ChatResult)
        assert run.rounds == 2
        assert run.message is not None
        assert run.message.content == 'The weather tool returned: {"city":"Paris","sky":"clear"}'
        roles = [type(m) for m in run.messages]
        assert roles == [
            ChatUserMessage,
            ChatAssistantMessage,
            ChatToolMessage,
            ChatAssistantMessage,
        ]
        call = run.messages[1]
        assert isinstance(call, ChatAssistantMessage) and call.tool_calls
        answer = run.messages[2]
        assert isinstance(answer, ChatToolMessage)
        assert answer.tool_call_id == call.tool_calls[0].id
        assert answer.content == '{"city":"Paris","sky":"clear"}'
        [outcome] = run.tool_calls
        assert (outcome.name, outcome.arguments, outcome.error, outcome.round) == (
            "weather",
            '{"city":"Paris"}',
            None,
            1,
        )
        # a sync tool ran in a worker thread, not in the event loop's
        assert seen_threads and seen_threads[0] != threading.current_thread().name
        # the transcript can be sent again as it is
        more = [*run.messages, {"role": "user", "content": "Thanks"}]
        again = await session.chat.send(model="m/x", messages=more)
        assert isinstance(again, ChatResult) and again.choices


@pytest.mark.anyio
async def test_run_tools_async_tool_and_tool_choice(
    anyio_backend: str, emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    weather = tool(get_weather)
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        run = await session.chat.run_tools(
            model="m/x",
            messages=ASK,
            tools=[weather, get_time],
            tool_choice={"type": "function", "function": {"name": "get_time"}},
            temperature=0.2,
        )
    # the forced choice was for the first call only: the second could answer
    assert run.rounds == 2
    assert [o.name for o in run.tool_calls] == ["get_time"]
    assert run.tool_calls[0].output == "12:00 in Paris"
    assert run.message is not None
    assert run.message.content == "The get_time tool returned: 12:00 in Paris"


@pytest.mark.anyio
async def test_a_raising_tool_becomes_an_error_message(
    anyio_backend: str, emulator_url: str, api_key: str
) -> None:
    async def broken(city: str) -> str:
        """Fails."""
        raise ValueError(f"no data for {city}")

    async with Session(base_url=emulator_url, api_key=api_key) as session:
        run = await session.chat.run_tools(model="m/x", messages=ASK, tools=[broken])
    [outcome] = run.tool_calls
    assert isinstance(outcome.error, ValueError)
    assert outcome.output == "Error: ValueError: no data for Paris"
    assert run.message is not None
    assert run.message.content == "The broken tool returned: Error: ValueError: no data for Paris"


@pytest.mark.anyio
async def test_a_function_tool_goes_into_plain_send(
    anyio_backend: str, emulator_url: str, api_key: str
) -> None:
    weather = tool(get_weather)
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        result = await session.chat.send(model="m/x", messages=ASK, tools=[weather])
        typed = await session.chat.send(model="m/x", messages=ASK, tools=[weather.definition])
    for answer in (result, typed):
        assert answer.choices and answer.choices[0].message
        [call] = answer.choices[0].message.tool_calls or []
        assert call.function and call.function.name == "get_weather"
        assert call.function.arguments == '{"city":"Paris"}'


@pytest.mark.anyio
async def test_max_rounds_raises_with_the_conversation_which_resumes(
    anyio_backend: str, emulator_url: str, api_key: str
) -> None:
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        with pytest.raises(ToolRoundsExceededError, match="max_rounds=1") as caught:
            await session.chat.run_tools(model="m/x", messages=ASK, tools=[get_time], max_rounds=1)
        partial = caught.value.result
        assert partial.rounds == 1 and partial.tool_calls == []
        last = partial.messages[-1]
        assert isinstance(last, ChatAssistantMessage) and last.tool_calls
        # sent again: the pending call is answered first, then the model goes on
        run = await session.chat.run_tools(
            model="m/x", messages=partial.messages, tools=[get_time], max_rounds=1
        )
    assert run.rounds == 1
    assert [o.round for o in run.tool_calls] == [0]
    assert run.message is not None
    assert run.message.content == "The get_time tool returned: 12:00 in Paris"


@pytest.mark.anyio
async def test_bad_input_is_refused_before_sending(
    anyio_backend: str, emulator_url: str, api_key: str, emulator: EmulatorProbe
) -> None:
    before = emulator.stats()["requests"]
    weather = tool(get_weather)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tools": []}, "tools"),
        ({"tools": [dict(weather)]}, "tools[0]"),
        ({"tools": [weather, get_weather]}, "tools[1]"),
        ({"tools": [lambda: 1]}, "tools[0]"),
        ({"tools": [weather.definition]}, "tools[0]"),
        ({"tools": [weather, 42]}, "tools[1]"),
        ({"tools": [weather], "max_rounds": 0}, "max_rounds"),
        ({"tools": [weather], "stream": True}, "stream"),
        ({"tools": [weather], "n": 2}, "n"),
        ({"tools": [weather], "messages": [{"role": "nobody"}]}, "messages[0]"),
    ]
    async with Session(base_url=emulator_url, api_key=api_key) as session:
        for arguments, path in cases:
            arguments = {"model": "m/x", "messages": ASK, **arguments}
            with pytest.raises(RequestValidationError) as caught:
                await session.chat.run_tools(**arguments)
            assert caught.value.path.startswith(path), (arguments, caught.value)
    assert emulator.stats()["requests"] == before


@pytest.mark.anyio
async def test_server_tools_are_sent_as_they_are(
    anyio_backend: str, scripted: ToolCallsServer, api_key: str
) -> None:
    scripted.answer([("get_time", '{"city": "Oslo"}')])
    server_tools = [DatetimeServerTool(), {"type": "openrouter:web_search"}]
    async with Session(base_url=scripted.base_url, api_key=api_key) as session:
        run = await session.chat.run_tools(
            model="m/x", messages=ASK, tools=[*server_tools, get_time]
        )
    assert run.message is not None and run.message.content == "done: 12:00 in Oslo"
    assert [t["type"] for t in scripted.bodies[0]["tools"]] == [
        "openrouter:datetime",
        "openrouter:web_search",
        "function",
    ]


# -- the runner, against scripted answers ----------------------------------------------------


@pytest.mark.anyio
async def test_parallel_calls_run_concurrently(
    anyio_backend: str, scripted: ToolCallsServer, api_key: str
) -> None:
    """Each tool waits for the other to start: only concurrent runs finish."""
    ping_started, pong_started = anyio.Event(), anyio.Event()

    async def ping(n: int) -> str:
        ping_started.set()
        await pong_started.wait()
        return f"ping {n}"

    async def pong(n: int) -> str:
        pong_started.set()
        await ping_started.wait()
        return f"pong {n}"

    scripted.answer([("ping", '{"n": 1}'), ("pong", '{"n": 2}')])
    async with Session(base_url=scripted.base_url, api_key=api_key) as session:
        with anyio.fail_after(10):
            run = await session.chat.run_tools(model="m/x", messages=ASK, tools=[ping, pong])
    assert [o.output for o in run.tool_calls] == ["ping 1", "pong 2"]
    assert run.message is not None and run.message.content == "done: ping 1 | pong 2"
    sent = scripted.bodies[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in sent[2:]] == ["call_1_0", "call_1_1"]
    assert scripted.bodies[0]["tools"][0]["function"]["name"] == "ping"


@pytest.mark.anyio
async def test_parallel_sync_calls_run_in_worker_threads_at_once(
    anyio_backend: str, scripted: ToolCallsServer, api_key: str
) -> None:
    both = threading.Barrier(2, timeout=10)

    def left() -> str:
        both.wait()
        return "left"

    def right() -> str:
        both.wait()
        return "right"

    scripted.answer([("left", "{}"), ("right", "")])
    async with Session(base_url=scripted.base_url, api_key=api_key) as session:
        run = await session.chat.run_tools(model="m/x", messages=ASK, tools=[left, right])
    assert [(o.output, o.error) for o in run.tool_calls] == [("left", None), ("right", None)]


@pytest.mark.anyio
async def test_what_the_model_gets_wrong_goes_back_to_it(
    anyio_backend: str, scripted: ToolCallsServer, api_key: str
) -> None:
    scripted.answer(
        [
            ("nowhere", "{}"),
            ("get_weather", '{"city": '),
            ("get_weather", '{"city": 5}'),
            ("get_weather", '{"town": "Paris"}'),
            ("get_weather", '{"city": "Paris", "unit": "kelvin"}'),
            ("get_weather", "[1]"),
            ("get_weather", '{"city": "Rome", "unit": "fahrenheit"}'),
        ],
    )
    async with Session(base_url=scripted.base_url, api_key=api_key) as session:
        run = await session.chat.run_tools(model="m/x", messages=ASK, tools=[get_weather])
    outputs = [o.output for o in run.tool_calls]
    assert outputs[0] == "Error: there is no tool named 'nowhere' (the tools are: get_weather)"
    assert outputs[1].startswith("Error: the arguments are not valid JSON (")
    assert (
        outputs[2]
        == "Error: invalid arguments for get_weather: city: expected a string, got number 5"
    )
    assert outputs[3] == "Error: invalid arguments for get_weather: unexpected argument town"
    assert outputs[4] == (
        "Error: invalid arguments for get_weather: unit: expected one of 'celsius',"
        " 'fahrenheit', got string 'kelvin'"
    )
    assert outputs[5] == "Error: the arguments must be a JSON object, got list"
    assert outputs[6] == '{"city":"Rome","temperature":21,"unit":"fahrenheit"}'
    assert [o.error is None for o in run.tool_calls] == [False] * 6 + [True]
    assert run.message is not None
    assert str(run.message.content).startswith("done: Error")


@pytest.mark.anyio
async def test_arguments_are_read_into_the_signature_types(
    anyio_backend: str, scripted: ToolCallsServer, api_key: str
) -> None:
    got: list[Any] = []

    def draw(box: Box, points: list[Point], /, label: str | None = None, scale: float = 1) -> Any:
        got.append((box, points, label, scale))
        return Point(x=1, y=2)

    strict_draw = tool(draw, strict=True)
    scripted.answer(
        [
            (
                "draw",
                '{"box": {"corner": {"x": 1, "y": 2.5}, "color": "red"},'
                ' "points": [{"x": 0, "y": 0}], "label": null, "scale": null}',
            )
        ]
    )
    async with Session(base_url=scripted.base_url, api_key=api_key) as session:
        run = await session.chat.run_tools(model="m/x", messages=ASK, tools=[strict_draw])
    [(box, points, label, scale)] = got
    assert box == {"corner": Point(x=1.0, y=2.5), "color": Color.RED}
    assert points == [Point(x=0.0, y=0.0)]
    assert (label, scale) == (None, 1)  # strict's null for `scale` means its default
    assert run.tool_calls[0].output == '{"x":1,"y":2}'
    assert scripted.bodies[0]["tools"][0]["function"]["strict"] is True


# -- the sync facade -------------------------------------------------------------------------


def _facade_run(url: str, api_key: str) -> ToolRun:
    with OpenRouter(api_key=api_key, server_url=url) as client:
        return client.chat.run_tools(model="m/x", messages=ASK, tools=[get_weather, get_time])


def test_sync_run_tools_from_a_plain_thread(emulator_url: str, api_key: str) -> None:
    run = _facade_run(emulator_url, api_key)
    assert run.rounds == 2
    assert run.message is not None
    assert run.message.content == (
        'The get_weather tool returned: {"city":"Paris","temperature":21,"unit":"celsius"}'
    )


def test_sync_run_tools_inside_a_running_asyncio_loop(emulator_url: str, api_key: str) -> None:
    async def notebook_cell() -> ToolRun:
        return _facade_run(emulator_url, api_key)

    run = asyncio.run(notebook_cell())
    assert run.rounds == 2 and run.tool_calls[0].name == "get_weather"


def test_sync_run_tools_on_a_trio_portal_with_an_async_tool(
    emulator_url: str, api_key: str
) -> None:
    with OpenRouter(api_key=api_key, server_url=emulator_url, backend="trio") as client:
        run = client.chat.run_tools(model="m/x", messages=ASK, tools=[get_time])
    assert run.message is not None
    assert run.message.content == "The get_time tool returned: 12:00 in Paris"


@pytest.mark.anyio
async def test_facade_run_tools_async(anyio_backend: str, emulator_url: str, api_key: str) -> None:
    async with OpenRouter(api_key=api_key, server_url=emulator_url) as client:
        run = await client.chat.run_tools_async(
            model="m/x", messages=ASK, tools=[tool(get_weather), get_time], max_rounds=3
        )
    assert run.rounds == 2 and run.tool_calls[0].name == "get_weather"
