"""User-style code with tools made from functions and the tool runner: ``mypy --strict`` must
accept it (CI runs it; it is not executed).

(Imported from ``openrouter_async._tools`` until the package exports ``tool``, ``ToolRun``
and ``ToolRoundsExceededError`` at its top.)
"""

from __future__ import annotations

from typing import Annotated, Literal

from openrouter_async import (
    FunctionTool,
    OpenRouter,
    Session,
    ToolRoundsExceededError,
    ToolRun,
    tool,
)
from openrouter_async.models import ChatAssistantMessage, ChatMessages, ChatResult


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the weather.

    Args:
        city: The city.
        unit: The unit.
    """
    return f"21 degrees {unit} in {city}"


@tool(name="local_time", strict=True)
async def get_time(city: Annotated[str, "The city"]) -> str:
    return f"12:00 in {city}"


def lookup(term: str) -> list[str]:
    return [term]


# tool() keeps the function's signature
text: str = get_weather("Paris", unit="fahrenheit")
coroutine_result = get_time("Rome")
weather_tool: FunctionTool[[str, Literal["celsius", "fahrenheit"]], str] = get_weather
name: str = weather_tool.name
schema: dict[str, object] = weather_tool.parameters
plain = tool(lookup, description="Look a term up.")
terms: list[str] = plain("x")


def sync_user(client: OpenRouter) -> str | None:
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    # a tool object is a valid `tools=[...]` item of plain send too
    client.chat.send(model="m/x", messages=messages, tools=[get_weather, get_weather.definition])
    run: ToolRun = client.chat.run_tools(
        model="m/x",
        messages=messages,
        tools=[get_weather, get_time, lookup],
        max_rounds=5,
        temperature=0.2,
    )
    completion: ChatResult = run.completion
    transcript: list[ChatMessages] = run.messages
    rounds: int = run.rounds
    for outcome in run.tool_calls:
        print(outcome.name, outcome.output, outcome.error, outcome.round)
    print(completion.id, len(transcript), rounds)
    message: ChatAssistantMessage | None = run.message
    content = message.content if message is not None else None
    return content if isinstance(content, str) else None


async def async_user(session: Session, client: OpenRouter) -> int:
    try:
        run = await session.chat.run_tools(
            model="m/x", messages=[{"role": "user", "content": "Hi"}], tools=[get_time]
        )
    except ToolRoundsExceededError as error:
        run = error.result
    again = await client.chat.run_tools_async(
        model="m/x", messages=run.messages, tools=[get_time], max_rounds=2
    )
    return again.rounds + run.rounds
