"""Seeding the account from a file or from Python: keys, credits, guardrails.

``EmulatorConfig(seed_file="seed.yaml")``, ``openrouter-async emulator --seed seed.yaml``,
``EmulatorConfig(seed_data={...})`` or ``app.state.store.seed({...})`` (before serving, or
from the emulator's own event loop). A ``.json`` file is JSON, a ``.yaml`` / ``.yml`` file
YAML (needs ``pyyaml``); another name is tried as JSON, then as YAML. The format (every
section and field optional unless marked)::

    credits: 250.0                    # total credits of the account, in dollars
    keys:
      - key: sk-or-v1-ci-0123456789   # the bearer token (omit it for a key nobody can
                                      # use, then give "hash")
        hash: <sha256 hex>            # default: sha256 of "key"
        name: CI key                  # default "Seeded key"
        limit: 5.0                    # spending limit in dollars (402 once used up)
        limit_reset: monthly          # daily | weekly | monthly | null
        include_byok_in_limit: false
        usage: 1.25                   # spent before the emulator started
        disabled: false
        expires_at: 2030-01-01T00:00:00Z
        workspace_id: <uuid>
        creator_user_id: user_...
        created_at: 2025-01-01T00:00:00Z
        guardrail: Cheap models       # a guardrail's id or name (assigned to the key)
    guardrails:
      - name: Cheap models            # required
        id: <uuid>                    # default: derived from the name (stable)
        description: ...
        limit_usd: 1.0                # each key under it may spend this much (then 402)
        reset_interval: monthly
        allowed_models: [openai/gpt-4o-mini]
        ignored_models: [...]
        allowed_providers: [openai, azure]
        ignored_providers: [...]
        enforce_zdr: true             # and enforce_zdr_openai, _anthropic, _google, ...
        keys: [sk-or-v1-ci-0123456789]    # keys to assign: hashes, or tokens (a token
                                          # no key has yet becomes a new key)
        members: [user_abc123]        # member user ids to assign

A key whose token is already known (one of ``EmulatorConfig.api_keys``, or seeded before) is
updated rather than added. Anything else (an unknown section or field, a wrong type) is a
``ValueError`` naming it: a seed with a typo fails loudly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._state import Store

__all__ = ["apply_seed", "load_seed_file"]

_SECTIONS = {"credits", "keys", "guardrails"}
_KEY_FIELDS = {
    "key",
    "hash",
    "name",
    "limit",
    "limit_reset",
    "include_byok_in_limit",
    "usage",
    "disabled",
    "expires_at",
    "workspace_id",
    "creator_user_id",
    "created_at",
    "guardrail",
}
_GUARDRAIL_NAMESPACE = uuid.UUID("6f1c3b52-2f0e-4d0c-9a3e-5e6d7c8b9a01")


def load_seed_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The data of a seed file (JSON or YAML, by its name)."""
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    suffix = file.suffix.lower()
    data: Any
    if suffix in (".yaml", ".yml"):
        data = _yaml(text, file)
    else:
        import orjson

        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if suffix == ".json":
                raise ValueError(f"seed file {file}: not valid JSON: {exc}") from None
            data = _yaml(text, file)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"seed file {file}: the top level must be a mapping")
    return data


def _yaml(text: str, file: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise ValueError(f"seed file {file}: YAML needs pyyaml (pip install pyyaml)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"seed file {file}: not valid YAML: {exc}") from None


def _number(where: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{where}: a non-negative number")
    return float(value)


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: a non-empty string")
    return value


def _timestamp(where: str, value: Any) -> str | None:
    """YAML reads unquoted timestamps as datetimes: take them back to ISO text."""
    if value is None:
        return None
    from datetime import datetime, timezone

    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _text(where, value)


def apply_seed(store: Store, data: Mapping[str, Any]) -> None:
    """Add what ``data`` describes to ``store`` (see the module docstring)."""
    from ._app import HTTPError
    from ._guardrails import new_guardrail
    from ._state import key_hash

    if not isinstance(data, Mapping):
        raise ValueError("seed: a mapping with credits, keys, guardrails")
    unknown = set(data) - _SECTIONS
    if unknown:
        raise ValueError(f"seed: unknown section(s) {', '.join(sorted(unknown))}")
    if "credits" in data:
        credits = _number("seed credits", data["credits"])
        store.total_credits = credits or 0.0

    keys = data.get("keys") or []
    guardrails = data.get("guardrails") or []
    if not isinstance(keys, list) or not isinstance(guardrails, list):
        raise ValueError("seed: keys and guardrails are lists")

    # Guardrails first, so that keys can name them.
    pending_keys: list[tuple[str, list[Any], str]] = []
    for index, entry in enumerate(guardrails):
        where = f"seed guardrails[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: a mapping")
        body = {k: v for k, v in entry.items() if k not in ("id", "keys", "members")}
        name = _text(f"{where}.name", entry.get("name"))
        guardrail_id = entry.get("id") or str(uuid.uuid5(_GUARDRAIL_NAMESPACE, name))
        known = {"name", "description", "limit_usd", "reset_interval", "workspace_id"}
        known |= {"allowed_providers", "ignored_providers", "allowed_models", "ignored_models"}
        known |= {"include_byok_in_budgets", "content_filters", "content_filter_builtins"}
        known |= {
            "enforce_zdr",
            "enforce_zdr_anthropic",
            "enforce_zdr_google",
            "enforce_zdr_openai",
            "enforce_zdr_other",
            "enforce_zdr_xai",
            "enable_free_model_publication",
            "enable_free_model_training",
            "enable_paid_model_training",
        }
        extra = set(body) - known
        if extra:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        try:
            guardrail = new_guardrail(dict(body), _text(f"{where}.id", guardrail_id))
        except HTTPError as exc:
            raise ValueError(f"{where}: {exc.message}") from None
        store.guardrails[guardrail["id"]] = guardrail
        for list_name in ("keys", "members"):
            values = entry.get(list_name) or []
            if not isinstance(values, list):
                raise ValueError(f"{where}.{list_name}: a list")
            pending_keys.append((guardrail["id"], values, list_name))

    def find_guardrail(where: str, given: Any) -> str:
        ref = _text(where, given)
        if ref in store.guardrails:
            return ref
        named = [gid for gid, g in store.guardrails.items() if g.get("name") == ref]
        if not named:
            raise ValueError(f"{where}: no guardrail has the id or name {ref!r}")
        return str(named[-1])

    for index, entry in enumerate(keys):
        where = f"seed keys[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: a mapping")
        extra = set(entry) - _KEY_FIELDS
        if extra:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        secret = entry.get("key")
        if secret is not None:
            secret = _text(f"{where}.key", secret)
        digest = entry.get("hash")
        if digest is not None:
            digest = _text(f"{where}.hash", digest)
        if secret is None and digest is None:
            raise ValueError(f"{where}: needs key (the token) or hash")
        if entry.get("limit_reset") not in (None, "daily", "weekly", "monthly"):
            raise ValueError(f"{where}.limit_reset: daily, weekly, monthly or null")
        for flag in ("include_byok_in_limit", "disabled"):
            if flag in entry and not isinstance(entry[flag], bool):
                raise ValueError(f"{where}.{flag}: a boolean")
        fields: dict[str, Any] = {}
        if "limit" in entry:
            fields["limit"] = _number(f"{where}.limit", entry["limit"])
        for name in ("limit_reset", "include_byok_in_limit", "disabled"):
            if name in entry:
                fields[name] = entry[name]
        if "expires_at" in entry:
            fields["expires_at"] = _timestamp(f"{where}.expires_at", entry["expires_at"])
        for name in ("workspace_id", "creator_user_id"):
            if name in entry:
                fields[name] = _text(f"{where}.{name}", entry[name])
        usage = _number(f"{where}.usage", entry.get("usage")) or 0.0
        guardrail_ref = entry.get("guardrail")
        guardrail_id = (
            find_guardrail(f"{where}.guardrail", guardrail_ref) if guardrail_ref else None
        )
        digest = digest or key_hash(secret or "")
        existing = store.keys.get(digest)
        if existing is not None:
            for name, value in fields.items():
                setattr(existing, name, value)
            if "name" in entry:
                existing.name = _text(f"{where}.name", entry["name"])
            if usage:
                store.total_usage = round(store.total_usage - existing.past_usage + usage, 12)
                existing.past_usage = usage
        else:
            store.add_key(
                secret,
                hash=digest,
                name=_text(f"{where}.name", entry.get("name", "Seeded key")),
                created_at=_timestamp(f"{where}.created_at", entry.get("created_at")),
                past_usage=usage,
                **fields,
            )
        if guardrail_id is not None:
            store.assign_guardrail(guardrail_id, digest)

    for guardrail_id, values, list_name in pending_keys:
        for value in values:
            ref = _text(f"seed guardrail {guardrail_id} {list_name}", value)
            if list_name == "members":
                from ._state import ORGANIZATION_ID, USER_ID, iso_time, new_uuid

                store.member_assignments[(guardrail_id, ref)] = {
                    "id": new_uuid(),
                    "user_id": ref,
                    "organization_id": ORGANIZATION_ID,
                    "guardrail_id": guardrail_id,
                    "assigned_by": USER_ID,
                    "created_at": iso_time(),
                }
                continue
            digest = ref if ref in store.keys else key_hash(ref)
            if digest not in store.keys:
                if len(ref) == 64 and all(c in "0123456789abcdef" for c in ref):
                    raise ValueError(f"seed guardrail {guardrail_id}: no key has the hash {ref}")
                store.add_key(ref, name="Seeded key")  # a token: the key is created
            store.assign_guardrail(guardrail_id, digest)
