"""Per-key rate limits (``EmulatorConfig.rate_limit_rpm`` / ``rate_limit_concurrency``) on
the generation routes (chat, completions, responses, embeddings).

* Requests per window: a fixed window per key that opens with the key's first request and
  lasts ``rate_limit_window_s`` seconds (60: requests per minute). A request beyond
  ``rate_limit_rpm`` in the window is refused.
* Concurrent requests: requests of the key whose handler is still running (a stream counts
  until it ends). One beyond ``rate_limit_concurrency`` is refused.

A refused request gets 429 with OpenRouter's error body, whose ``metadata.headers`` repeats
the rate limit headers, as OpenRouter does, and ``Retry-After`` (whole seconds until the
window ends; 1 for the concurrency limit). A refused request does not count. Every response of
a limited route carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` (after this
request) and ``X-RateLimit-Reset`` (when the window ends, in milliseconds since the epoch):
of the window when ``rate_limit_rpm`` is set, else of the concurrency limit (its ``Reset``
is then one second from now).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ._app import HTTPError

__all__ = ["RateLimits"]


class RateLimits:
    """The rate limit state of one app (mutated from its event loop only)."""

    def __init__(self, rpm: int | None, concurrency: int | None, window: float) -> None:
        if rpm is not None and rpm < 1:
            raise ValueError("rate_limit_rpm must be >= 1 (or None)")
        if concurrency is not None and concurrency < 1:
            raise ValueError("rate_limit_concurrency must be >= 1 (or None)")
        if window <= 0:
            raise ValueError("rate_limit_window_s must be > 0")
        self.rpm = rpm
        self.concurrency = concurrency
        self.window = window
        #: key id -> (window start, requests admitted in the window).
        self._windows: dict[str, tuple[float, int]] = {}
        #: key id -> requests running.
        self._active: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        return self.rpm is not None or self.concurrency is not None

    def _headers(self, key: str, now: float) -> list[tuple[str, str]]:
        if self.rpm is not None:
            start, count = self._windows.get(key, (now, 0))
            if now >= start + self.window:
                start, count = now, 0
            limit, remaining, reset = self.rpm, self.rpm - count, start + self.window
        else:
            assert self.concurrency is not None
            limit = self.concurrency
            remaining = self.concurrency - self._active.get(key, 0)
            reset = now + 1
        return [
            ("x-ratelimit-limit", str(limit)),
            ("x-ratelimit-remaining", str(max(remaining, 0))),
            ("x-ratelimit-reset", str(math.ceil(reset * 1000))),
        ]

    def _refuse(self, key: str, now: float, message: str, retry_after: float) -> HTTPError:
        headers = self._headers(key, now)
        return HTTPError(
            429,
            message,
            metadata={"headers": {_display(name): value for name, value in headers}},
            headers=[("retry-after", str(max(1, math.ceil(retry_after)))), *headers],
        )

    def admit(self, key: str) -> tuple[list[tuple[str, str]], Callable[[], None]]:
        """Admit a request of ``key``: (the headers to send, the function to call when it
        ends); or raise :class:`HTTPError` 429."""
        now = time.time()
        if self.concurrency is not None and self._active.get(key, 0) >= self.concurrency:
            raise self._refuse(
                key,
                now,
                f"Rate limit exceeded: at most {self.concurrency} concurrent requests per key",
                1,
            )
        if self.rpm is not None:
            start, count = self._windows.get(key, (now, 0))
            if now >= start + self.window:
                start, count = now, 0
            if count >= self.rpm:
                period = "minute" if self.window == 60 else f"{self.window:g} s"
                raise self._refuse(
                    key,
                    now,
                    f"Rate limit exceeded: {self.rpm} requests per {period} for this key",
                    start + self.window - now,
                )
            self._windows[key] = (start, count + 1)
        self._active[key] = self._active.get(key, 0) + 1
        headers = self._headers(key, now)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                left = self._active.get(key, 1) - 1
                if left:
                    self._active[key] = left
                else:
                    self._active.pop(key, None)

        return headers, release

    def key_rate_limit(self) -> dict[str, object] | None:
        """``rate_limit`` of ``GET /key`` when a per-window limit is on."""
        if self.rpm is None:
            return None
        return {"requests": self.rpm, "interval": f"{self.window:g}s"}


def _display(name: str) -> str:
    return "-".join(
        "RateLimit" if part == "ratelimit" else part.title() for part in name.split("-")
    )
