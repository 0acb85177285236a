"""Tools from Python functions, and a tool runner: ``tool(fn)``, ``chat.run_tools(...)``.

``tool(fn)`` reads a function's signature and docstring into a function tool: the parameters'
JSON schema (through :mod:`._json_schema`, from a dataclass made of the signature), the
docstring's summary as the description, and each parameter's description from an ``Args:``
section (Google style), a numpy ``Parameters`` section, Sphinx ``:param x:`` fields or
``Annotated[str, "description"]``. The result is a :class:`FunctionTool`: a mapping holding
the ``{"type": "function", "function": {...}}`` definition (so it goes into ``tools=[...]``
of ``chat.send`` as it is), and the function itself when called.

``run_tools`` is the loop around it: call the model with the tools, run the tool calls it asks
for (concurrently, in a task group: async functions in the loop, sync ones in worker threads),
append the answers to the transcript, call the model again; until it answers without a tool
call, or ``max_rounds`` model calls were made (:class:`ToolRoundsExceededError`). What the
model can get wrong comes back to it as the tool's answer so it can try again: an unknown
tool, arguments that are not JSON or do not fit the signature, a tool that raised.

The loop itself (:func:`_run`) takes the ``send`` coroutine function to call, so the Session's
group, the facade's ``_async`` form and its sync form (the whole loop run in the portal's
thread) share it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload

import anyio
import attrs
import orjson

from . import _convert
from ._json_schema import SchemaMismatch, schema_for, value_of
from ._model import Model
from ._unset import UNSET
from .errors import OpenRouterError, RequestValidationError, ResponseValidationError
from .models._chat import (
    ChatAssistantMessage,
    ChatFunctionToolFunction,
    ChatMessages,
    ChatResult,
    ChatToolCall,
    ChatToolMessage,
)
from .resources._chat import AsyncChat

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .models._chat import ChatFunctionTool
    from .resources._chat import Chat, ChatSendOptions

__all__ = [
    "AsyncToolRunnerMixin",
    "FunctionTool",
    "ToolCallError",
    "ToolOutcome",
    "ToolRoundsExceededError",
    "ToolRun",
    "ToolRunnerMixin",
    "tool",
]

P = ParamSpec("P")
R = TypeVar("R")

#: model calls a ``run_tools`` makes at most, unless told otherwise (openai-python's old
#: runner stopped after 10 completions too)
DEFAULT_MAX_ROUNDS = 10

# Patterns as text: `re` compiles (and caches) them on first use, not on import.
_NAME = r"[A-Za-z0-9_-]{1,64}"


# -- tool(fn) --------------------------------------------------------------------------------


class FunctionTool(Mapping[str, Any], Generic[P, R]):
    """A Python function as a function tool.

    A read-only mapping: ``{"type": "function", "function": {"name", "description",
    "parameters"[, "strict"]}}``, what ``chat.send(tools=[...])`` takes (``dict(t)`` is a
    plain copy, ``t.definition`` the typed model). Calling it calls the function.
    """

    __slots__ = ("_arguments", "_definition", "_is_async", "_positional", "fn")

    fn: Callable[P, R]
    """The function itself."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        definition: dict[str, Any],
        arguments: type[Any],
        positional: tuple[str, ...],
    ) -> None:
        self.fn = fn
        self._definition = definition
        self._arguments = arguments  # the dataclass the arguments are read into
        self._positional = positional  # the positional-only parameters, in order
        self._is_async = _is_async_callable(fn)

    # the function

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    @property
    def name(self) -> str:
        return str(self._definition["function"]["name"])

    @property
    def description(self) -> str | None:
        description = self._definition["function"].get("description")
        return description if isinstance(description, str) else None

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameters' JSON schema (a copy)."""
        return copy.deepcopy(cast("dict[str, Any]", self._definition["function"]["parameters"]))

    @property
    def strict(self) -> bool:
        return bool(self._definition["function"].get("strict"))

    @property
    def definition(self) -> ChatFunctionToolFunction:
        """The definition as the typed model ``chat.send(tools=[...])`` also takes."""
        return _convert.structure(self.to_dict(), ChatFunctionToolFunction)

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain JSON data (a deep copy)."""
        return copy.deepcopy(self._definition)

    # the mapping

    def __getitem__(self, key: str) -> Any:
        return self._definition[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._definition)

    def __len__(self) -> int:
        return len(self._definition)

    def __repr__(self) -> str:
        return f"FunctionTool(name={self.name!r})"

    # running it for a tool call

    async def _invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Read the model's arguments into the signature's types and call the function:
        async functions in the loop, sync ones in a worker thread. Raises
        :class:`ToolCallError` when the arguments do not fit."""
        unknown = sorted(set(arguments) - {f.name for f in dataclasses.fields(self._arguments)})
        if unknown:
            raise ToolCallError(
                "unexpected argument" + ("s " if len(unknown) > 1 else " ") + ", ".join(unknown)
            )
        try:
            values = value_of(self._arguments, dict(arguments))
        except SchemaMismatch as error:
            raise ToolCallError(str(error)) from None
        kwargs = {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
        args = [kwargs.pop(name) for name in self._positional]
        fn = cast("Callable[..., Any]", self.fn)
        if self._is_async:
            result = await fn(*args, **kwargs)
        else:
            import anyio.to_thread  # here: most imports of the chat group never run a tool

            result = await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
            if inspect.isawaitable(result):  # a sync callable handing back a coroutine
                result = await result
        return result


@overload
def tool(
    fn: Callable[P, R],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
) -> FunctionTool[P, R]: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
) -> Callable[[Callable[P, R]], FunctionTool[P, R]]: ...


def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
) -> FunctionTool[P, R] | Callable[[Callable[P, R]], FunctionTool[P, R]]:
    """A function tool made from ``fn``: ``tool(fn)``, or as a decorator, ``@tool`` or
    ``@tool(name=..., description=..., strict=True)``.

    The name is the function's (or ``name``); the description the docstring's text before
    its sections (or ``description``); the parameters' schema comes from the type hints
    (what :mod:`openrouter_async._json_schema` understands: primitives, ``list``, ``dict``,
    ``Literal``, ``Enum``, ``Optional``/unions, dataclasses, attrs classes, ``TypedDict``,
    pydantic models...), with each parameter's description from the docstring's ``Args:``
    section (or numpy's ``Parameters``, or Sphinx ``:param x:``) or ``Annotated[T, "..."]``.
    ``strict=True`` writes the schema by OpenAI's strict rules and sends ``strict: true``.

    Raises :class:`~openrouter_async.errors.RequestValidationError` for what cannot be a tool:
    a name the API refuses, ``*args``/``**kwargs``, a parameter type with no JSON schema.
    """
    if fn is None:

        def decorate(function: Callable[P, R]) -> FunctionTool[P, R]:
            return _make_tool(function, name=name, description=description, strict=strict)

        return decorate
    return _make_tool(fn, name=name, description=description, strict=strict)


def _make_tool(
    fn: Callable[P, R], *, name: str | None, description: str | None, strict: bool
) -> FunctionTool[P, R]:
    if isinstance(fn, FunctionTool):
        fn = fn.fn
    if not callable(fn):
        raise RequestValidationError(f"tool() takes a function, got {type(fn).__name__}")
    label = name or getattr(fn, "__name__", None) or type(fn).__name__
    if name is None:
        name = getattr(fn, "__name__", None)
        if not isinstance(name, str) or not re.fullmatch(_NAME, name):
            raise RequestValidationError(
                f"tool({label}): a function tool needs a name of letters, digits, _ and -"
                f" (at most 64); pass name=",
                path="name",
            )
    elif not re.fullmatch(_NAME, name):
        raise RequestValidationError(
            f"tool({label}): the name must be letters, digits, _ and - (at most 64), got {name!r}",
            path="name",
        )
    try:
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, TypeError, SyntaxError) as error:
        raise RequestValidationError(
            f"tool({name}): cannot read the signature's annotations ({error}); define the"
            " types it names at module level"
        ) from None
    except ValueError as error:  # no signature (some builtins)
        raise RequestValidationError(f"tool({name}): no signature to read ({error})") from None
    summary, documented = _parse_docstring(inspect.getdoc(fn))
    fields: list[tuple[str, Any, Any]] = []
    positional: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise RequestValidationError(
                f"tool({name}): *args and **kwargs cannot be tool parameters (a tool's"
                " arguments are one JSON object of named values)",
                path=param.name,
            )
        if param.kind is param.POSITIONAL_ONLY:
            positional.append(param.name)
        annotation = Any if param.annotation is param.empty else param.annotation
        metadata = {}
        text = documented.get(param.name)
        if text and not _annotated_description(annotation):
            metadata["description"] = text
        if param.default is param.empty:
            field = dataclasses.field(metadata=metadata)
        elif type(param.default).__hash__ is None:  # mutable: a fresh copy per call
            factory = functools.partial(copy.deepcopy, param.default)
            field = dataclasses.field(default_factory=factory, metadata=metadata)
        else:
            field = dataclasses.field(default=param.default, metadata=metadata)
        fields.append((param.name, annotation, field))
    arguments = dataclasses.make_dataclass(f"{name}_arguments", fields, kw_only=True)
    try:
        parameters = schema_for(arguments, strict=strict)
    except TypeError as error:
        raise RequestValidationError(f"tool({name}): {error}") from None
    function: dict[str, Any] = {"name": name}
    description = description if description is not None else summary
    if description:
        function["description"] = description
    function["parameters"] = parameters
    if strict:
        function["strict"] = True
    return FunctionTool(
        fn,
        definition={"type": "function", "function": function},
        arguments=arguments,
        positional=tuple(positional),
    )


def _annotated_description(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        return any(isinstance(m, str) for m in annotation.__metadata__)
    return False


def _is_async_callable(fn: Any) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    # an object with an `async def __call__`
    return not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__)


# -- docstrings ------------------------------------------------------------------------------

_GOOGLE_PARAMS = (
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters)\s*:\s*$"
)
_GOOGLE_SECTION = r"^[A-Z][A-Za-z ]{1,30}:\s*$"
_GOOGLE_ITEM = r"^\*{0,2}(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<text>.*)$"
_NUMPY_RULE = r"^-{3,}\s*$"
_NUMPY_ITEM = r"^\*{0,2}(?P<name>\w+)\s*(:.*)?$"
_SPHINX_FIELD = r"^:(?P<kind>\w+)(?P<words>[^:]*):\s*(?P<text>.*)$"  # :param [type] x:


def _parse_docstring(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """(description, {parameter: description}) of a docstring (already ``cleandoc``-ed).

    The description is the text before the first section (Google ``Args:``/``Returns:``...,
    a numpy header underlined with dashes, a Sphinx ``:field:``). Parameters come from a
    Google ``Args:`` section, a numpy ``Parameters`` section or ``:param [type] name:``.
    """
    if not doc:
        return None, {}
    lines = doc.splitlines()
    params: dict[str, str] = {}
    body: list[str] = []
    i = 0
    in_body = True
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if indent == 0 and re.match(_GOOGLE_SECTION, stripped):
            in_body = False
            i = _google_section(
                lines, i + 1, params if re.match(_GOOGLE_PARAMS, stripped) else None
            )
            continue
        if indent == 0 and i + 1 < len(lines) and stripped and re.match(_NUMPY_RULE, lines[i + 1]):
            in_body = False
            wanted = stripped.lower() in ("parameters", "other parameters", "keyword arguments")
            i = _numpy_section(lines, i + 2, params if wanted else None)
            continue
        field = re.match(_SPHINX_FIELD, stripped) if indent == 0 else None
        if field is not None:
            in_body = False
            i, text = _continued(lines, i, field["text"])
            words = field["words"].split()
            if field["kind"] in ("param", "parameter", "arg", "argument", "key", "keyword"):
                if words:
                    params[words[-1].lstrip("*")] = text
            continue
        if in_body:
            body.append(line)
        i += 1
    description = "\n".join(body).strip() or None
    return description, {k: v for k, v in params.items() if v}


def _continued(lines: list[str], i: int, first: str) -> tuple[int, str]:
    """The text of an item that starts on line ``i`` and continues on the more indented
    lines after it; (the next line's index, the text joined with spaces)."""
    base = len(lines[i]) - len(lines[i].lstrip())
    parts = [first.strip()] if first.strip() else []
    i += 1
    while i < len(lines):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) <= base:
            break
        if not line.strip():
            # a blank line ends the item unless the item goes on, indented, after it
            following = next((ln for ln in lines[i + 1 :] if ln.strip()), "")
            if len(following) - len(following.lstrip()) <= base:
                break
        elif line.strip():
            parts.append(line.strip())
        i += 1
    return i, " ".join(parts)


def _google_section(lines: list[str], i: int, params: dict[str, str] | None) -> int:
    """Read the indented items of a Google section from line ``i``; the index after it."""
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if len(line) - len(line.lstrip()) == 0:
            return i
        item = re.match(_GOOGLE_ITEM, line.strip())
        if item is None:
            i += 1
            continue
        i, text = _continued(lines, i, item["text"])
        if params is not None:
            params[item["name"]] = text
    return i


def _numpy_section(lines: list[str], i: int, params: dict[str, str] | None) -> int:
    """Read a numpy section's ``name : type`` items (descriptions indented below them)."""
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if len(line) - len(line.lstrip()) > 0:
            i += 1
            continue
        if i + 1 < len(lines) and re.match(_NUMPY_RULE, lines[i + 1]):
            return i  # the next section
        item = re.match(_NUMPY_ITEM, line.strip())
        if item is None or re.match(_SPHINX_FIELD, line.strip()):
            return i
        i, text = _continued(lines, i, "")
        if params is not None:
            for name in (n.strip().lstrip("*") for n in item["name"].split(",")):
                params[name] = text
    return i


# -- the result ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ToolOutcome:
    """One tool call the runner answered."""

    id: str
    """The tool call's id (the tool message's ``tool_call_id``)."""
    name: str
    """The tool the model asked for (maybe one there is none of)."""
    arguments: str
    """The arguments as the model wrote them (JSON text)."""
    output: str
    """What was sent back as the tool message's content."""
    error: Exception | None = None
    """Why the tool gave no result (the output then starts with ``Error:``): the exception
    the tool raised, or a :class:`ToolCallError` for what the model got wrong; None when
    the tool returned."""
    round: int
    """The model call (1, 2...) whose answer asked for it."""


@attrs.frozen(kw_only=True)
class ToolRun:
    """What ``run_tools`` returns."""

    completion: ChatResult
    """The last completion: the model's answer without a tool call."""
    messages: list[ChatMessages]
    """The whole conversation as typed messages: the ones given, then each assistant
    message and the tool messages answering it. Send it again to go on."""
    rounds: int
    """Model calls made."""
    tool_calls: list[ToolOutcome]
    """Every tool call answered, in order."""

    @property
    def message(self) -> ChatAssistantMessage | None:
        """The last completion's message (``completion.choices[0].message``)."""
        choices = self.completion.choices
        return choices[0].message if choices else None


class ToolRoundsExceededError(OpenRouterError):
    """``max_rounds`` model calls were made and the last one still asked for tools (not
    run). ``result`` holds the conversation so far: its last message is that assistant
    message, whose tool calls ``run_tools(messages=result.messages, ...)`` runs first."""

    def __init__(self, message: str, *, result: ToolRun) -> None:
        super().__init__(message)
        self.result = result


class ToolCallError(ValueError):
    """What the model got wrong in a tool call: a tool there is none of, arguments that are
    not a JSON object or do not fit the function. Never raised out of ``run_tools``: told to
    the model as the tool's answer, and kept in :attr:`ToolOutcome.error`."""


# -- the loop --------------------------------------------------------------------------------

_Send = Callable[..., Awaitable[Any]]


def _runnable(tools: Sequence[Any]) -> tuple[dict[str, FunctionTool[..., Any]], list[Any]]:
    """(the runnable tools by name, every tool's definition), checked before anything is
    sent. A definition that is not a function (a server tool such as
    ``{"type": "openrouter:web_search"}``, run by OpenRouter) is sent as it is."""
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise RequestValidationError(
            f"run_tools: tools must be a list of functions or tool(fn), got {type(tools).__name__}",
            path="tools",
        )
    if not tools:
        raise RequestValidationError("run_tools: give at least one tool", path="tools")
    found: dict[str, FunctionTool[..., Any]] = {}
    definitions: list[Any] = []
    for index, item in enumerate(tools):
        if isinstance(item, FunctionTool):
            runnable = item
        elif isinstance(item, (Mapping, Model)):
            kind = item.get("type") if isinstance(item, Mapping) else getattr(item, "type", None)
            if kind == "function":
                raise RequestValidationError(
                    "run_tools: a function's definition alone cannot be run; pass the"
                    " function itself or tool(fn)",
                    path=f"tools[{index}]",
                )
            definitions.append(item)
            continue
        elif callable(item):
            try:
                runnable = _make_tool(item, name=None, description=None, strict=False)
            except RequestValidationError as error:
                raise RequestValidationError(error.reason, path=f"tools[{index}]") from None
        else:
            raise RequestValidationError(
                f"run_tools: a tool must be a function or tool(fn), got {type(item).__name__}",
                path=f"tools[{index}]",
            )
        if runnable.name in found:
            raise RequestValidationError(
                f"run_tools: two tools are named {runnable.name!r}", path=f"tools[{index}]"
            )
        found[runnable.name] = runnable
        definitions.append(dict(runnable))
    return found, definitions


def _check(max_rounds: Any, kwargs: Mapping[str, Any]) -> None:
    if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or max_rounds < 1:
        raise RequestValidationError(
            f"run_tools: max_rounds must be an int >= 1, got {max_rounds!r}", path="max_rounds"
        )
    if kwargs.get("stream") not in (None, False, UNSET):
        raise RequestValidationError(
            "run_tools: stream=True is not supported (the runner reads whole answers)",
            path="stream",
        )
    n = kwargs.get("n")
    if isinstance(n, int) and n > 1:
        raise RequestValidationError(
            "run_tools: n > 1 is not supported (one conversation, one choice)", path="n"
        )


async def _run(
    send: _Send,
    *,
    messages: Sequence[Any],
    tools: Sequence[Any],
    max_rounds: int,
    kwargs: dict[str, Any],
) -> ToolRun:
    registry, definitions = _runnable(tools)
    _check(max_rounds, kwargs)
    kwargs.pop("stream", None)
    transcript: list[ChatMessages] = list(
        _convert.structure(list(messages), list[ChatMessages], path="messages")
    )
    if not transcript:
        raise RequestValidationError("run_tools: messages must not be empty", path="messages")
    outcomes: list[ToolOutcome] = []

    # A conversation that ends with unanswered tool calls (a ToolRoundsExceededError's, sent
    # again): answer them first.
    last = transcript[-1]
    if isinstance(last, ChatAssistantMessage) and last.tool_calls:
        answered = await _answer(registry, last.tool_calls, 0)
        outcomes.extend(answered)
        transcript.extend(_tool_message(o) for o in answered)

    rounds = 0
    while True:
        rounds += 1
        completion = await send(messages=transcript, tools=definitions, **kwargs)
        if not isinstance(completion, ChatResult):
            raise ResponseValidationError(
                f"run_tools: expected a chat completion, got {type(completion).__name__}"
            )
        # A forced choice (tool_choice="required" or a named function) is for the first
        # call: forced on every one, the model could never answer.
        kwargs.pop("tool_choice", None)
        choices = completion.choices
        message = choices[0].message if choices else None
        if message is not None:
            transcript.append(message)
        calls = message.tool_calls if message is not None else None
        if not calls:
            return ToolRun(
                completion=completion, messages=transcript, rounds=rounds, tool_calls=outcomes
            )
        if rounds >= max_rounds:
            result = ToolRun(
                completion=completion, messages=transcript, rounds=rounds, tool_calls=outcomes
            )
            raise ToolRoundsExceededError(
                f"run_tools: the model still asked for tools after max_rounds={max_rounds}"
                f" model calls ({', '.join(_call_name(c) for c in calls)}); the conversation"
                " so far is in .result",
                result=result,
            )
        answered = await _answer(registry, calls, rounds)
        outcomes.extend(answered)
        transcript.extend(_tool_message(o) for o in answered)


def _call_name(call: ChatToolCall) -> str:
    function = call.function
    return str(function.name) if function is not None and function.name else "?"


def _tool_message(outcome: ToolOutcome) -> ChatToolMessage:
    return ChatToolMessage(content=outcome.output, tool_call_id=outcome.id)


async def _answer(
    registry: Mapping[str, FunctionTool[..., Any]], calls: Sequence[ChatToolCall], round: int
) -> list[ToolOutcome]:
    """Run the calls (concurrently when there are several); their outcomes in call order."""
    outcomes: list[ToolOutcome | None] = [None] * len(calls)

    async def one(index: int) -> None:
        outcomes[index] = await _answer_one(registry, calls[index], index, round)

    if len(calls) == 1:
        await one(0)
    else:
        async with anyio.create_task_group() as group:
            for index in range(len(calls)):
                group.start_soon(one, index)
    return [o for o in outcomes if o is not None]


async def _answer_one(
    registry: Mapping[str, FunctionTool[..., Any]], call: ChatToolCall, index: int, round: int
) -> ToolOutcome:
    call_id = call.id or f"call_{round}_{index}"
    function = call.function
    name = function.name if function is not None and function.name else ""
    raw = function.arguments if function is not None and function.arguments else ""

    def failed(error: Exception, text: str) -> ToolOutcome:
        return ToolOutcome(
            id=call_id,
            name=name,
            arguments=raw,
            output=f"Error: {text}",
            error=error,
            round=round,
        )

    runnable = registry.get(name)
    if runnable is None:
        known = ", ".join(registry)
        text = f"there is no tool named {name!r} (the tools are: {known})"
        return failed(ToolCallError(text), text)
    if not raw.strip():
        arguments: Any = {}  # some providers send "" for a call without arguments
    else:
        try:
            arguments = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            text = f"the arguments are not valid JSON ({error}); send a JSON object"
            return failed(ToolCallError(text), text)
    if not isinstance(arguments, dict):
        text = f"the arguments must be a JSON object, got {type(arguments).__name__}"
        return failed(ToolCallError(text), text)
    try:
        value = await runnable._invoke(arguments)
    except ToolCallError as error:
        return failed(error, f"invalid arguments for {name}: {error}")
    except Exception as error:  # the tool's own failure, told to the model
        return failed(error, f"{type(error).__name__}: {error}")
    return ToolOutcome(id=call_id, name=name, arguments=raw, output=_text(value), round=round)


def _text(value: Any) -> str:
    """A tool's result as a tool message's content: text as it is, anything else as JSON
    (models, dataclasses, attrs classes, pydantic models, enums, dates...), else ``str()``."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, default=_jsonable, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Model):
        return _convert.unstructure(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic
        return dump(mode="json")
    raise TypeError(type(value).__name__)


# -- on the chat groups ----------------------------------------------------------------------


class AsyncToolRunnerMixin:
    """``session.chat.run_tools``."""

    __slots__ = ()

    async def run_tools(
        self,
        *,
        messages: Sequence[ChatMessages | Mapping[str, Any]],
        tools: Sequence[FunctionTool[..., Any] | Callable[..., Any] | ChatFunctionTool],
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        **kwargs: Unpack[ChatSendOptions],
    ) -> ToolRun:
        """Call the model with ``tools`` and run the tool calls it makes until it answers
        without one; return the last completion and the whole conversation.

        ``tools``: functions (sync or async) or :func:`tool` objects, and server tools
        (``{"type": "openrouter:datetime"}``, sent as they are). The calls of one answer
        run concurrently, sync functions in worker threads. An unknown tool, arguments that
        are not JSON or do not fit the signature, and an exception a tool raised are sent
        back to the model as the tool's answer (``"Error: ..."``), so it can try again.
        ``max_rounds`` caps the model calls: the last still asking for tools raises
        :class:`ToolRoundsExceededError` (with the conversation so far). Every other keyword
        argument (``temperature=``, ``tool_choice=``, ``parallel_tool_calls=``, ``retries=``
        ...) goes to each ``chat.send``; a forced ``tool_choice`` applies to the first call
        only. ``stream=True`` and ``n > 1`` are refused.
        """
        send = cast("AsyncChat", self).send
        return await _run(
            send,
            messages=messages,
            tools=tools,
            max_rounds=max_rounds,
            kwargs=dict(kwargs),
        )


class ToolRunnerMixin:
    """``client.chat.run_tools`` / ``run_tools_async``."""

    __slots__ = ()

    def run_tools(
        self,
        *,
        messages: Sequence[ChatMessages | Mapping[str, Any]],
        tools: Sequence[FunctionTool[..., Any] | Callable[..., Any] | ChatFunctionTool],
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        **kwargs: Unpack[ChatSendOptions],
    ) -> ToolRun:
        """The sync form of ``run_tools_async`` (see there): the whole loop runs in the
        client's event loop thread, sync tools in its worker threads."""
        portal_thread, session = cast("Chat", self)._client._sync()
        run = functools.partial(
            _run,
            AsyncChat(session).send,
            messages=messages,
            tools=tools,
            max_rounds=max_rounds,
            kwargs=dict(kwargs),
        )
        return portal_thread.call(run)

    async def run_tools_async(
        self,
        *,
        messages: Sequence[ChatMessages | Mapping[str, Any]],
        tools: Sequence[FunctionTool[..., Any] | Callable[..., Any] | ChatFunctionTool],
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        **kwargs: Unpack[ChatSendOptions],
    ) -> ToolRun:
        """The coroutine form of :meth:`run_tools` (see :meth:`AsyncToolRunnerMixin.run_tools`
        for what it does)."""
        send = cast("Chat", self).send_async
        return await _run(
            send,
            messages=messages,
            tools=tools,
            max_rounds=max_rounds,
            kwargs=dict(kwargs),
        )
