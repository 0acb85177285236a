"""openrouter-async: an async-first client for the OpenRouter API, on asyncio and trio.

    from openrouter_async import OpenRouter

    with OpenRouter(api_key=...) as client:                  # sync
        client.chat.send(model=..., messages=[...])

    async with OpenRouter(api_key=...) as client:            # asyncio or trio
        await client.chat.send_async(model=..., messages=[...])

    async with Session(api_key=...) as session:              # the actor underneath
        await session.send(ChatRequest(model=..., messages=[...]))

Names load on first use, so ``import openrouter_async`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from . import errors, models, operations
    from ._accumulate import ChatStreamAccumulator
    from ._batch import BatchError, BatchJob, BatchStats, run_batch
    from ._binary import BinaryResponse, SyncBinaryResponse
    from ._budget import BudgetExhaustedError, BudgetState, BudgetUnavailableError, RedisBudget
    from ._client import OpenRouter
    from ._config import BackoffStrategy, RetryConfig, Timeouts
    from ._limiter import LimiterState
    from ._map import MapResult, parse_into
    from ._pages import AsyncPage, AsyncPaginator, SyncPage
    from ._parse import (
        AsyncParsedStream,
        ChunkEvent,
        ContentDeltaEvent,
        ContentDoneEvent,
        ParsedChatMessage,
        ParsedChatResult,
        ParsedChoice,
        ParsedStream,
        ParsedStreamEvent,
        RefusalDeltaEvent,
        RefusalDoneEvent,
        StructuredOutputError,
    )
    from ._raw import AsyncStreamingResponse, RawResponse, StreamingResponse
    from ._session import Session
    from ._streams import AsyncStream, SyncStream
    from ._tools import (
        FunctionTool,
        ToolCallError,
        ToolOutcome,
        ToolRoundsExceededError,
        ToolRun,
        tool,
    )
    from ._unset import UNSET, Unset
    from ._webhooks import WebhookVerificationError, verify_webhook, webhook_signature
    from .errors import APIRedirectError, ChatError, HeaderValueError, OpenRouterError

__all__ = [
    "UNSET",
    "APIRedirectError",
    "AsyncStream",
    "AsyncStreamingResponse",
    "BackoffStrategy",
    "BatchError",
    "BatchJob",
    "BatchStats",
    "BinaryResponse",
    "ChatError",
    "ChatStreamAccumulator",
    "FunctionTool",
    "HeaderValueError",
    "LimiterState",
    "MapResult",
    "OpenRouter",
    "OpenRouterError",
    "RawResponse",
    "RetryConfig",
    "Session",
    "StreamingResponse",
    "SyncBinaryResponse",
    "SyncStream",
    "Timeouts",
    "ToolCallError",
    "ToolOutcome",
    "ToolRoundsExceededError",
    "ToolRun",
    "Unset",
    "errors",
    "models",
    "operations",
    "run_batch",
    "tool",
    "__version__",
    "AsyncParsedStream",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "ParsedChatMessage",
    "ParsedChatResult",
    "ParsedChoice",
    "ParsedStream",
    "ParsedStreamEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "StructuredOutputError",
    "parse_into",
    "AsyncPage",
    "AsyncPaginator",
    "SyncPage",
    "BudgetExhaustedError",
    "BudgetState",
    "BudgetUnavailableError",
    "RedisBudget",
    "WebhookVerificationError",
    "verify_webhook",
    "webhook_signature",
]

# name -> module that defines it (a module itself when the value is None)
_LAZY: dict[str, tuple[str, str | None]] = {
    "OpenRouter": ("._client", "OpenRouter"),
    "Session": ("._session", "Session"),
    "RetryConfig": ("._config", "RetryConfig"),
    "BackoffStrategy": ("._config", "BackoffStrategy"),
    "Timeouts": ("._config", "Timeouts"),
    "AsyncStream": ("._streams", "AsyncStream"),
    "SyncStream": ("._streams", "SyncStream"),
    "UNSET": ("._unset", "UNSET"),
    "Unset": ("._unset", "Unset"),
    "ChatError": (".errors", "ChatError"),
    "APIRedirectError": (".errors", "APIRedirectError"),
    "HeaderValueError": (".errors", "HeaderValueError"),
    "OpenRouterError": (".errors", "OpenRouterError"),
    "errors": (".errors", None),
    "models": (".models", None),
    "operations": (".operations", None),
    "BinaryResponse": ("._binary", "BinaryResponse"),
    "SyncBinaryResponse": ("._binary", "SyncBinaryResponse"),
    "MapResult": ("._map", "MapResult"),
    "LimiterState": ("._limiter", "LimiterState"),
    "BatchError": ("._batch", "BatchError"),
    "BatchJob": ("._batch", "BatchJob"),
    "BatchStats": ("._batch", "BatchStats"),
    "run_batch": ("._batch", "run_batch"),
    "RawResponse": ("._raw", "RawResponse"),
    "StreamingResponse": ("._raw", "StreamingResponse"),
    "AsyncStreamingResponse": ("._raw", "AsyncStreamingResponse"),
    "tool": ("._tools", "tool"),
    "FunctionTool": ("._tools", "FunctionTool"),
    "ToolRun": ("._tools", "ToolRun"),
    "ToolOutcome": ("._tools", "ToolOutcome"),
    "ToolCallError": ("._tools", "ToolCallError"),
    "ToolRoundsExceededError": ("._tools", "ToolRoundsExceededError"),
    "AsyncParsedStream": ("._parse", "AsyncParsedStream"),
    "ChunkEvent": ("._parse", "ChunkEvent"),
    "ContentDeltaEvent": ("._parse", "ContentDeltaEvent"),
    "ContentDoneEvent": ("._parse", "ContentDoneEvent"),
    "ParsedChatMessage": ("._parse", "ParsedChatMessage"),
    "ParsedChatResult": ("._parse", "ParsedChatResult"),
    "ParsedChoice": ("._parse", "ParsedChoice"),
    "ParsedStream": ("._parse", "ParsedStream"),
    "ParsedStreamEvent": ("._parse", "ParsedStreamEvent"),
    "RefusalDeltaEvent": ("._parse", "RefusalDeltaEvent"),
    "RefusalDoneEvent": ("._parse", "RefusalDoneEvent"),
    "StructuredOutputError": ("._parse", "StructuredOutputError"),
    "parse_into": ("._map", "parse_into"),
    "ChatStreamAccumulator": ("._accumulate", "ChatStreamAccumulator"),
    "AsyncPage": ("._pages", "AsyncPage"),
    "AsyncPaginator": ("._pages", "AsyncPaginator"),
    "SyncPage": ("._pages", "SyncPage"),
    "RedisBudget": ("._budget", "RedisBudget"),
    "BudgetState": ("._budget", "BudgetState"),
    "BudgetExhaustedError": ("._budget", "BudgetExhaustedError"),
    "BudgetUnavailableError": ("._budget", "BudgetUnavailableError"),
    "verify_webhook": ("._webhooks", "verify_webhook"),
    "webhook_signature": ("._webhooks", "webhook_signature"),
    "WebhookVerificationError": ("._webhooks", "WebhookVerificationError"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'openrouter_async' has no attribute {name!r}") from None
    module = importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
