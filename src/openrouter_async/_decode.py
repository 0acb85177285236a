"""Reading an answer: an HTTP error status → its typed error; a JSON body → the typed result.

OpenRouter may answer 200 with ``{"error": {...}}`` (a provider failed after the headers went
out): that is raised as :class:`ChatError`, never parsed as a result. A body that is not JSON,
or not the result's shape, is a :class:`ResponseValidationError` carrying the body.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
import orjson

from . import _convert
from ._model import Model
from .errors import ChatError, ErrorDetails, ResponseValidationError, error_for_status

__all__ = ["decode_json", "has_error_field", "raise_error_body"]

T = TypeVar("T")


def decode_json(response: httpx.Response, content: bytes, response_type: type[T]) -> T:
    """The typed result of a whole answer, or its error raised."""
    status = response.status_code
    if status >= 400:
        raise error_for_status(status, content, headers=response.headers, raw_response=response)
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        raise ResponseValidationError(
            f"the response body is not JSON: {error}",
            body=content.decode("utf-8", "replace"),
            status_code=status,
        ) from None
    if not has_error_field(response_type):
        raise_error_body(data)
    try:
        result = _convert.parse(data, response_type, status_code=status)
    except ResponseValidationError as error:
        error.body = content.decode("utf-8", "replace")
        raise
    if isinstance(result, Model):  # its _request_id / _generation_id, read when asked
        object.__setattr__(result, "_response_headers", response.headers)
    return result


def raise_error_body(data: Any, *, chunk: Any = None) -> None:
    """OpenRouter's ``{"error": {...}}`` in an answer that succeeded at the HTTP level (a
    body, or a stream event: then ``chunk``) is raised as :class:`ChatError`."""
    if type(data) is dict and data.get("error") is not None:
        raise ChatError(ErrorDetails.from_json(data["error"]), chunk=chunk)


def has_error_field(response_type: object) -> bool:
    """Whether the result model has an ``error`` field of its own (a Responses API result
    carries ``error: null`` or the failure): then an ``error`` key is not an error body."""
    fields = getattr(response_type, "__attrs_attrs__", None)  # attrs' fields, by name
    return fields is not None and hasattr(fields, "error")
