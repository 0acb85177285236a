"""What the emulator remembers between requests, per app instance, in memory: the account and
its API keys, the generations served (and the activity they add up to), guardrails and their
assignments, pending OAuth codes.

One account ("the default account") owns everything. Its seeded state makes the product
description's examples work as written:

* every key of ``EmulatorConfig.api_keys`` exists (with ``api_keys=None``, any bearer token
  becomes a key of the account the first time it is used);
* two more keys, with the hashes the examples update, delete and assign to a guardrail
  (:data:`SEEDED_KEY_HASH`, :data:`SEEDED_GUARDRAIL_KEY_HASH`; their secrets are not
  published, so they cannot authenticate);
* past generations on 2025-01-14/15, one of them :data:`SEEDED_GENERATION_ID`, so that
  ``GET /generation?id=...`` and ``GET /activity?date=2025-01-15`` find something;
* a guardrail (:data:`SEEDED_GUARDRAIL_ID`), so that listing guardrails shows one;
* a pending OAuth code :data:`SEEDED_AUTH_CODE` whose S256 challenge is that of
  :data:`SEEDED_CODE_VERIFIER` (exchangeable again and again, unlike the codes created by
  ``POST /auth/keys/code``, which are single-use).

Mutated only from the event loop that serves the app (no locks).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import EmulatorConfig

__all__ = [
    "DEFAULT_WORKSPACE_ID",
    "ORGANIZATION_ID",
    "SEEDED_AUTH_CODE",
    "SEEDED_CODE_VERIFIER",
    "SEEDED_GENERATION_ID",
    "SEEDED_GUARDRAIL_ID",
    "SEEDED_GUARDRAIL_KEY_HASH",
    "SEEDED_KEY_HASH",
    "USER_ID",
    "ApiKey",
    "AuthCode",
    "Generation",
    "Store",
    "iso_time",
    "key_hash",
    "s256",
]

USER_ID = "user_2emuLat0rAcc0untDefau1t00"
ORGANIZATION_ID = "org_2emuLat0r0rgan1zat10n000"
DEFAULT_WORKSPACE_ID = "3f6c1c2e-8f9a-4d1b-9c55-0e5d7a1b2c3d"
SEEDED_KEY_HASH = "f01d52606dc8f0a8303a7b5cc3fa07109c2e346cec7c0a16b40de462992ce943"
SEEDED_GUARDRAIL_KEY_HASH = "c56454edb818d6b14bc0d61c46025f1450b0f4012d12304ab40aacb519fcbc93"
SEEDED_GENERATION_ID = "gen-3bhGkxlo4XFrqiabUM7NDtwDzWwG"
SEEDED_GUARDRAIL_ID = "7c1e2a44-5b0d-4c3e-9f61-2d8a9b0c4e15"
SEEDED_AUTH_CODE = "auth_code_abc123def456"
SEEDED_CODE_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

#: Generations kept for ``GET /generation`` (the oldest are forgotten; activity keeps its
#: totals).
MAX_GENERATIONS = 10_000
_RATE_LIMIT_NOTE = "This field is deprecated and safe to ignore."


def iso_time(timestamp: float | None = None) -> str:
    """``2025-08-24T10:30:00Z`` (UTC, seconds)."""
    moment = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 UTC timestamp, or ``None`` if it is not one."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() != timezone.utc.utcoffset(None):
        return None
    return moment.timestamp()


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a code verifier (RFC 7636): BASE64URL(SHA256(verifier))."""
    import base64

    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _label(secret: str) -> str:
    """``sk-or-v1-0e6...c96``: how OpenRouter shows a key."""
    if len(secret) > 18:
        return f"{secret[:12]}...{secret[-3:]}"
    return f"{secret[:3]}..."


def _round(value: float) -> float:
    return round(value, 12)


@dataclass
class ApiKey:
    hash: str
    name: str
    label: str
    #: The bearer token; ``None`` for seeded keys whose secret nobody knows.
    secret: str | None
    created_at: str
    creator_user_id: str | None = USER_ID
    workspace_id: str = DEFAULT_WORKSPACE_ID
    disabled: bool = False
    limit: float | None = None
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    expires_at: str | None = None
    updated_at: str | None = None
    #: Spent before the emulator started (counted in ``usage`` only).
    past_usage: float = 0.0
    #: Spent since the emulator started (counted in every period: it all happened today).
    spent: float = 0.0
    last_used_at: str | None = None

    @property
    def usage(self) -> float:
        return _round(self.past_usage + self.spent)

    @property
    def limit_remaining(self) -> float | None:
        if self.limit is None:
            return None
        used = self.usage if self.limit_reset is None else self.spent
        return _round(max(self.limit - used, 0.0))

    @property
    def expired(self) -> bool:
        if self.expires_at is None:
            return False
        expires = parse_time(self.expires_at)
        return expires is not None and expires <= time.time()

    def _usage_fields(self) -> dict[str, Any]:
        spent = _round(self.spent)
        return {
            "limit": self.limit,
            "limit_remaining": self.limit_remaining,
            "limit_reset": self.limit_reset,
            "include_byok_in_limit": self.include_byok_in_limit,
            "usage": self.usage,
            "usage_daily": spent,
            "usage_weekly": spent,
            "usage_monthly": spent,
            "byok_usage": 0.0,
            "byok_usage_daily": 0.0,
            "byok_usage_weekly": 0.0,
            "byok_usage_monthly": 0.0,
        }

    def listing(self) -> dict[str, Any]:
        """The key as ``GET /keys`` and ``GET /keys/{hash}`` show it."""
        return {
            "hash": self.hash,
            "name": self.name,
            "label": self.label,
            "disabled": self.disabled,
            **self._usage_fields(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "creator_user_id": self.creator_user_id,
            "workspace_id": self.workspace_id,
            # Newer than the spec (the official SDK >= 1.3 requires them): extra fields here.
            "external_user": None,
            "last_used_at": self.last_used_at,
        }

    def current(self) -> dict[str, Any]:
        """The key as ``GET /key`` shows it to its own holder."""
        return {
            "label": self.label,
            **self._usage_fields(),
            "is_free_tier": False,
            "is_management_key": False,
            "is_provisioning_key": False,
            "creator_user_id": self.creator_user_id,
            "expires_at": self.expires_at,
            "rate_limit": {"requests": 1000, "interval": "10s", "note": _RATE_LIMIT_NOTE},
            # Newer than the spec (the official SDK >= 1.3 requires them): extra fields here.
            "allowed_data_regions": ["global"],
            "budgets": [],
            "effective_budget": None,
            "free_model_daily_requests": {"limit": 1000, "remaining": 1000, "used": 0},
            "organization_id": None,
            "workspace_id": self.workspace_id,
        }


@dataclass
class AuthCode:
    id: str
    app_id: int
    created_at: str
    callback_url: str
    code_challenge: str | None
    code_challenge_method: str | None
    limit: float | None = None
    usage_limit_type: str | None = None
    key_label: str | None = None
    expires_at: str | None = None
    #: Seeded demo codes can be exchanged again and again; created ones once.
    reusable: bool = False


class Generation:
    """One generation served (or seeded), as compact as it can be: :meth:`as_dict` builds
    what ``GET /generation`` answers."""

    __slots__ = (
        "api_type",
        "cancelled",
        "completion_tokens",
        "cost",
        "created_at",
        "external_user",
        "finish_reason",
        "generation_time_ms",
        "http_referer",
        "id",
        "latency_ms",
        "model",
        "origin",
        "prompt_tokens",
        "provider_name",
        "reasoning_tokens",
        "service_tier",
        "session_id",
        "streamed",
        "user_agent",
        "workspace_id",
    )

    def __init__(
        self,
        id: str,
        cost: float,
        created_at: float,
        model: str,
        streamed: bool,
        cancelled: bool,
        provider_name: str,
        latency_ms: float | None,
        generation_time_ms: float | None,
        finish_reason: str | None,
        service_tier: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        reasoning_tokens: int,
        origin: str,
        external_user: str | None,
        api_type: str,
        user_agent: str | None,
        http_referer: str | None,
        session_id: str | None,
        workspace_id: str,
    ) -> None:
        self.id = id
        self.cost = cost
        self.created_at = created_at
        self.model = model
        self.streamed = streamed
        self.cancelled = cancelled
        self.provider_name = provider_name
        self.latency_ms = latency_ms
        self.generation_time_ms = generation_time_ms
        self.finish_reason = finish_reason
        self.service_tier = service_tier
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.reasoning_tokens = reasoning_tokens
        self.origin = origin
        self.external_user = external_user
        self.api_type = api_type
        self.user_agent = user_agent
        self.http_referer = http_referer
        self.session_id = session_id
        self.workspace_id = workspace_id

    def as_dict(self) -> dict[str, Any]:
        """The generation as ``GET /generation`` answers it."""
        generation_id = self.id
        cost = self.cost
        prompt_tokens = self.prompt_tokens
        completion_tokens = self.completion_tokens
        return {
            "id": generation_id,
            "upstream_id": f"emu-{generation_id}",
            "total_cost": cost,
            "cache_discount": None,
            "upstream_inference_cost": None,
            "created_at": datetime.fromtimestamp(self.created_at, timezone.utc).isoformat(),
            "model": self.model,
            "app_id": None,
            "streamed": self.streamed,
            "cancelled": self.cancelled,
            "provider_name": self.provider_name,
            "latency": None if self.latency_ms is None else round(self.latency_ms),
            "moderation_latency": None,
            "generation_time": (
                None if self.generation_time_ms is None else round(self.generation_time_ms)
            ),
            "finish_reason": self.finish_reason,
            "native_finish_reason": self.finish_reason,
            "service_tier": self.service_tier,
            "tokens_prompt": prompt_tokens,
            "tokens_completion": completion_tokens,
            "native_tokens_prompt": prompt_tokens,
            "native_tokens_completion": completion_tokens,
            "native_tokens_completion_images": 0,
            "native_tokens_reasoning": self.reasoning_tokens,
            "native_tokens_cached": 0,
            "num_media_prompt": 0,
            "num_input_audio_prompt": 0,
            "num_media_completion": 0,
            "num_search_results": 0,
            "num_fetches": 0,
            "web_search_engine": None,
            "origin": self.origin,
            "usage": cost,
            "is_byok": False,
            "external_user": self.external_user,
            "api_type": self.api_type,
            "preset_id": None,
            "router": None,
            "provider_responses": None,
            "user_agent": self.user_agent,
            "http_referer": self.http_referer,
            "request_id": f"req-{generation_id}",
            "session_id": self.session_id,
            "data_region": "global",
            "workspace_id": self.workspace_id,
        }


def _format_times(second: int) -> tuple[str, str]:
    """(``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM:SSZ``) of a Unix time in whole seconds (UTC)."""
    moment = datetime.fromtimestamp(second, timezone.utc)
    return moment.date().isoformat(), moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_last_times: tuple[int, tuple[str, str]] = (-1, ("", ""))


def _times(second: int) -> tuple[str, str]:
    """:func:`_format_times`, remembering the last second's (calls come many a second)."""
    global _last_times
    cached_second, formatted = _last_times
    if cached_second != second:
        formatted = _format_times(second)
        _last_times = (second, formatted)
    return formatted


@dataclass
class ActivityRow:
    date: str
    model: str
    provider_name: str
    key_hash: str
    workspace_id: str
    usage: float = 0.0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass
class Store:
    """The emulator's in-memory account. Built (and seeded) per app instance."""

    total_credits: float = 100.0
    #: Everything the account ever spent (deleted keys included).
    total_usage: float = 0.0
    keys: dict[str, ApiKey] = field(default_factory=dict)
    generations: OrderedDict[str, Generation] = field(default_factory=OrderedDict)
    activity: dict[tuple[str, str, str, str, str], ActivityRow] = field(default_factory=dict)
    guardrails: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (guardrail id, key hash) -> assignment; (guardrail id, user id) -> assignment.
    key_assignments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    member_assignments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    auth_codes: dict[str, AuthCode] = field(default_factory=dict)
    #: Accept any bearer token (each becomes a key of the account when first used).
    open_access: bool = True
    _by_secret: dict[str, str] = field(default_factory=dict)
    _revoked: set[str] = field(default_factory=set)

    @classmethod
    def from_config(cls, config: EmulatorConfig) -> Store:
        store = cls(total_credits=config.total_credits, open_access=config.api_keys is None)
        for secret in sorted(config.api_keys or ()):
            store.add_key(secret, name="Default key", created_at="2025-01-01T00:00:00Z")
        if config.seed_examples:
            store._seed()
        if config.seed_file is not None:
            from ._seed import load_seed_file

            store.seed(load_seed_file(config.seed_file))
        if config.seed_data is not None:
            store.seed(config.seed_data)
        return store

    # -- keys --------------------------------------------------------------------------------

    def add_key(
        self,
        secret: str | None,
        *,
        name: str,
        created_at: str | None = None,
        hash: str | None = None,
        **fields: Any,
    ) -> ApiKey:
        digest = hash if hash is not None else key_hash(secret or secrets.token_hex(32))
        key = ApiKey(
            hash=digest,
            name=name,
            label=_label(secret)
            if secret is not None
            else f"sk-or-v1-{digest[:3]}...{digest[-3:]}",
            secret=secret,
            created_at=created_at or iso_time(),
            **fields,
        )
        self.keys[digest] = key
        if secret is not None:
            self._by_secret[secret] = digest
        self.total_usage = _round(self.total_usage + key.past_usage)
        return key

    def create_key(self, name: str, **fields: Any) -> tuple[ApiKey, str]:
        """A new key and its secret (``sk-or-v1-<64 hex>``)."""
        secret = f"sk-or-v1-{secrets.token_hex(32)}"
        return self.add_key(secret, name=name, **fields), secret

    def delete_key(self, digest: str) -> bool:
        key = self.keys.pop(digest, None)
        if key is None:
            return False
        if key.secret is not None:
            self._by_secret.pop(key.secret, None)
            self._revoked.add(key.secret)
        for pair in [pair for pair in self.key_assignments if pair[1] == digest]:
            del self.key_assignments[pair]
        return True

    def authenticate(self, secret: str) -> ApiKey | str:
        """The key a bearer token stands for, or why it is refused (401)."""
        digest = self._by_secret.get(secret)
        if digest is None:
            if not self.open_access or secret in self._revoked:
                return "User not found."
            key = self.add_key(secret, name="Emulator key")
        else:
            key = self.keys[digest]
        if key.disabled:
            return "API key is disabled"
        if key.expired:
            return "API key has expired"
        return key

    def assign_guardrail(
        self, guardrail_id: str, digest: str, *, assigned_by: str = USER_ID
    ) -> bool:
        """Assign a guardrail to a key (replacing the key's previous one); ``False`` if it
        was assigned already."""
        if (guardrail_id, digest) in self.key_assignments:
            return False
        for pair in [pair for pair in self.key_assignments if pair[1] == digest]:
            del self.key_assignments[pair]  # a key holds at most one guardrail
        self.key_assignments[(guardrail_id, digest)] = {
            "id": new_uuid(),
            "key_hash": digest,
            "guardrail_id": guardrail_id,
            "assigned_by": assigned_by,
            "created_at": iso_time(),
        }
        return True

    def seed(self, data: Mapping[str, Any]) -> None:
        """Add keys, credits and guardrails (the format of :mod:`._seed`); ``ValueError``
        when the data does not follow it."""
        from ._seed import apply_seed

        apply_seed(self, data)

    def guardrail_of(self, key: ApiKey | None) -> dict[str, Any] | None:
        """The guardrail assigned to a key directly (a key holds at most one), or ``None``."""
        if key is None:
            return None
        for guardrail_id, digest in self.key_assignments:
            if digest == key.hash:
                return self.guardrails.get(guardrail_id)
        return None

    # -- spending ----------------------------------------------------------------------------

    def limit_problem(self, key: ApiKey | None) -> str | None:
        """Why a key may not spend any more (402), or ``None``."""
        if key is not None and key.limit is not None and (key.limit_remaining or 0.0) <= 0:
            return "Key limit exceeded. Raise the key's limit to continue."
        return None

    def record_generation(
        self,
        *,
        generation_id: str,
        key: ApiKey | None,
        model: str,
        provider_name: str,
        api_type: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
        latency_ms: float | None,
        generation_time_ms: float | None,
        finish_reason: str | None,
        streamed: bool,
        reasoning_tokens: int = 0,
        created: float | None = None,
        cancelled: bool = False,
        user_agent: str | None = None,
        http_referer: str | None = None,
        origin: str = "",
        service_tier: str | None = None,
        external_user: str | None = None,
        session_id: str | None = None,
        spend: bool = True,
    ) -> Generation:
        """Remember a generation (``GET /generation``), add it to the activity and, with
        ``spend``, charge its cost to the key and the account."""
        cost = _round(cost)
        created_at = created if created is not None else time.time()
        workspace = key.workspace_id if key is not None else DEFAULT_WORKSPACE_ID
        # Kept compact; the response's dict is built when ``GET /generation`` asks.
        record = Generation(
            generation_id,
            cost,
            created_at,
            model,
            streamed,
            cancelled,
            provider_name,
            latency_ms,
            generation_time_ms,
            finish_reason,
            service_tier,
            prompt_tokens,
            completion_tokens,
            reasoning_tokens,
            origin,
            external_user,
            api_type,
            user_agent,
            http_referer,
            session_id,
            workspace,
        )
        self.generations[generation_id] = record
        while len(self.generations) > MAX_GENERATIONS:
            self.generations.popitem(last=False)
        digest = key.hash if key is not None else ""
        second = int(created_at)
        date, stamp = _times(second) if created is None else _format_times(second)
        group = (date, model, provider_name, digest, workspace)
        row = self.activity.get(group)
        if row is None:
            row = self.activity[group] = ActivityRow(date, model, provider_name, digest, workspace)
        row.usage = _round(row.usage + cost)
        row.requests += 1
        row.prompt_tokens += prompt_tokens
        row.completion_tokens += completion_tokens
        row.reasoning_tokens += reasoning_tokens
        if spend:
            if key is not None:
                key.spent = _round(key.spent + cost)
                key.last_used_at = stamp
            self.total_usage = _round(self.total_usage + cost)
        return record

    # -- the seeded state ----------------------------------------------------------------------

    def _seed(self) -> None:
        production = self.add_key(
            None,
            hash=SEEDED_KEY_HASH,
            name="My Production Key",
            created_at="2025-01-10T10:30:00Z",
            updated_at="2025-01-12T15:45:00Z",
            limit=100.0,
            limit_reset="monthly",
            past_usage=25.5,
        )
        self.add_key(
            None,
            hash=SEEDED_GUARDRAIL_KEY_HASH,
            name="Production Key",
            created_at="2025-01-05T09:00:00Z",
            past_usage=3.25,
        )
        day = datetime(2025, 1, 15, tzinfo=timezone.utc).timestamp()
        seeded = [
            # id, model, provider, prompt, completion, seconds into the day, finish, streamed
            (SEEDED_GENERATION_ID, "openai/gpt-4", "OpenAI", 10, 25, 37800, "stop", True),
            (
                "gen-1736937000-emuSeed00002",
                "openai/gpt-4",
                "OpenAI",
                42,
                180,
                41400,
                "stop",
                False,
            ),
            (
                "gen-1736950000-emuSeed00003",
                "anthropic/claude-3.5-sonnet",
                "Anthropic",
                120,
                350,
                54000,
                "stop",
                True,
            ),
            (
                "gen-1736850000-emuSeed00004",
                "meta-llama/llama-3.1-70b-instruct",
                "Together",
                64,
                200,
                -36000,
                "length",
                False,
            ),
        ]
        from ._catalogue import price_of

        for gen_id, model, provider, prompt, completion, offset, finish, streamed in seeded:
            self.record_generation(
                generation_id=gen_id,
                key=production,
                model=model,
                provider_name=provider,
                api_type="completions",
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=price_of(model, prompt, completion),
                latency_ms=1250,
                generation_time_ms=1200 + 8 * completion,
                finish_reason=finish,
                streamed=streamed,
                created=day + offset,
                origin="https://openrouter.ai/",
                spend=False,
            )
        self.guardrails[SEEDED_GUARDRAIL_ID] = {
            "id": SEEDED_GUARDRAIL_ID,
            "name": "Development Guardrail",
            "description": "Keeps development keys on cheap models",
            "limit_usd": 25.0,
            "reset_interval": "monthly",
            "allowed_providers": None,
            "ignored_providers": None,
            "allowed_models": ["openai/gpt-4o-mini", "meta-llama/llama-3.1-8b-instruct"],
            "ignored_models": None,
            "enforce_zdr": None,
            "enforce_zdr_anthropic": None,
            "enforce_zdr_google": None,
            "enforce_zdr_openai": None,
            "enforce_zdr_other": None,
            "enforce_zdr_xai": None,
            "enable_free_model_publication": None,
            "enable_free_model_training": None,
            "enable_paid_model_training": None,
            "content_filters": None,
            "content_filter_builtins": None,
            "include_byok_in_budgets": False,
            "workspace_id": DEFAULT_WORKSPACE_ID,
            "created_at": "2025-01-08T09:00:00Z",
            "updated_at": None,
        }
        self.auth_codes[SEEDED_AUTH_CODE] = AuthCode(
            id=SEEDED_AUTH_CODE,
            app_id=app_id("https://myapp.com/auth/callback"),
            created_at="2025-01-15T10:00:00Z",
            callback_url="https://myapp.com/auth/callback",
            code_challenge=s256(SEEDED_CODE_VERIFIER),
            code_challenge_method="S256",
            limit=100.0,
            reusable=True,
        )


def app_id(callback_url: str) -> int:
    """A stable app id for a callback URL's origin."""
    from urllib.parse import urlsplit

    parts = urlsplit(callback_url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return int.from_bytes(hashlib.sha256(origin.encode()).digest()[:3], "big")


def new_uuid() -> str:
    return str(uuid.uuid4())
