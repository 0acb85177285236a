"""User-style code with structured outputs: ``mypy --strict`` must accept it (CI runs it; it
is not executed). ``chat.parse(response_format=Cls)`` is typed by ``Cls``: ``.parsed`` is a
``Cls``, for an attrs class, a dataclass, a pydantic model and a TypedDict, on the Session
and on the facade, streamed or not."""

from __future__ import annotations

import dataclasses
from typing import TypedDict

import attrs
import pydantic
from typing_extensions import assert_type

from openrouter_async import (
    ContentDoneEvent,
    OpenRouter,
    ParsedChatMessage,
    ParsedChatResult,
    Session,
    StructuredOutputError,
)
from openrouter_async.models import ChatResult

MESSAGES = [{"role": "user", "content": "A city, please"}]


@attrs.frozen
class City:
    name: str
    population: int


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


class Person(pydantic.BaseModel):
    name: str
    age: int


class Movie(TypedDict):
    title: str
    year: int


def on_the_facade(client: OpenRouter) -> str:
    city = client.chat.parse(model="m/x", messages=MESSAGES, response_format=City)
    assert_type(city, ParsedChatResult[City])
    population: int = city.choices[0].message.parsed.population
    point = client.chat.parse(model="m/x", messages=MESSAGES, response_format=Point)
    x: float = point.choices[0].message.parsed.x
    person = client.chat.parse(
        model="m/x", messages=MESSAGES, response_format=Person, temperature=0
    )
    age: int = person.choices[0].message.parsed.age
    as_chat: ChatResult = person  # still the ChatResult the server's body was read into
    message: ParsedChatMessage[Person] = person.choices[0].message
    refusal: str | None = message.refusal
    names: list[str] = []
    with client.chat.stream_parse(model="m/x", messages=MESSAGES, response_format=City) as s:
        for event in s:
            if event.type == "content.done":
                assert_type(event, ContentDoneEvent[City])
                names.append(event.parsed.name)
            elif event.type == "content.delta":
                partial: object = event.parsed
                snapshot: str = event.snapshot
                print(partial, snapshot)
        final = s.get_final_completion()
    names.append(final.choices[0].message.parsed.name)
    return f"{population} {x} {age} {as_chat.id} {refusal} {names}"


async def on_the_session(session: Session, client: OpenRouter) -> int:
    city = await session.chat.parse(model="m/x", messages=MESSAGES, response_format=City)
    name: str = city.choices[0].message.parsed.name
    person = await client.chat.parse_async(model="m/x", messages=MESSAGES, response_format=Person)
    age: int = person.choices[0].message.parsed.age
    async with session.chat.stream_parse(
        model="m/x", messages=MESSAGES, response_format=Point
    ) as stream:
        async for event in stream:
            if event.type == "content.done":
                x: float = event.parsed.x
                print(x)
        final = await stream.get_final_completion()
    async with client.chat.stream_parse_async(
        model="m/x", messages=MESSAGES, response_format=City
    ) as other:
        more = await other.get_final_completion()
    try:
        await session.chat.parse(model="m/x", messages=MESSAGES, response_format=City)
    except StructuredOutputError as error:
        raw: str = error.content
        where: str = error.path
        print(raw, where)
    return (
        len(name)
        + age
        + int(final.choices[0].message.parsed.y)
        + more.choices[0].message.parsed.population
    )


def typed_dicts(client: OpenRouter) -> int:
    movie = client.chat.parse(model="m/x", messages=MESSAGES, response_format=Movie)
    year: int = movie.choices[0].message.parsed["year"]
    return year


def checked_arguments(client: OpenRouter) -> None:
    # send's other keyword arguments are checked as send checks them (ChatSendOptions)
    client.chat.parse(model="m/x", messages=MESSAGES, response_format=City, temperature=0.2)
    client.chat.parse(
        model="m/x",
        messages=MESSAGES,
        response_format=City,
        temperature="hot",  # type: ignore[arg-type]
    )
    client.chat.parse(model="m/x", messages=MESSAGES, response_format=City, temprature=1)  # type: ignore[call-arg]
