"""Issue 14's acceptance in one user-style file, checked by ``mypy --strict`` (not run):
raw responses, ``with_options``, page iteration, ``chat.parse`` into an attrs class, a
dataclass and a pydantic model, and ``run_tools``."""

from __future__ import annotations

import dataclasses

import attrs
import pydantic

from openrouter_async import OpenRouter, Session, ToolRun, tool
from openrouter_async.models import ChatResult

HELLO = [{"role": "user", "content": "Hello"}]


@attrs.frozen
class AttrsCity:
    name: str
    population: int


@dataclasses.dataclass
class DataCity:
    name: str
    population: int


class PydanticCity(pydantic.BaseModel):
    name: str
    population: int


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def facade(client: OpenRouter) -> tuple[str, int, float, str | None, ToolRun]:
    raw = client.chat.with_raw_response.send(model="m/x", messages=HELLO)
    result: ChatResult = raw.parse()
    status: int = raw.status_code
    fast = client.with_options(max_retries=0, timeout=5.0)
    names = [key.name for key in fast.api_keys.list().auto_paging_iter()]
    page = client.guardrails.list(limit=5)
    following = page.next()
    more: bool = following is not None and following.has_next_page()
    # the result is typed by the class asked for: not a str (an unused ignore would fail)
    a: str = client.chat.parse(model="m/x", messages=HELLO, response_format=AttrsCity)  # type: ignore[assignment]
    attrs_name: str = (
        client.chat.parse(model="m/x", messages=HELLO, response_format=AttrsCity)
        .choices[0]
        .message.parsed.name
    )
    data_population: int = (
        client.chat.parse(model="m/x", messages=HELLO, response_format=DataCity)
        .choices[0]
        .message.parsed.population
    )
    pydantic_name: str = (
        client.chat.parse(model="m/x", messages=HELLO, response_format=PydanticCity)
        .choices[0]
        .message.parsed.name
    )
    run: ToolRun = client.chat.run_tools(model="m/x", messages=HELLO, tools=[weather])
    print(result, names, more, a, data_population, pydantic_name)
    return attrs_name, status, raw.elapsed.total_seconds(), result._generation_id, run


async def session(s: Session) -> list[str | None]:
    view = s.with_options(timeout_ms=5_000)
    keys = [key.name async for key in view.api_keys.list()]
    first = await s.guardrails.list(limit=5)
    async for guardrail in first:
        keys.append(guardrail.name)
    raw = await s.chat.with_raw_response.send(model="m/x", messages=HELLO)
    city = await s.chat.parse(model="m/x", messages=HELLO, response_format=AttrsCity)
    run = await s.chat.run_tools(model="m/x", messages=HELLO, tools=[weather], max_rounds=3)
    keys.append(city.choices[0].message.parsed.name)
    keys.append(str(raw.parse().id) + str(run.rounds))
    return keys
