"""``GET /credits`` (what the account bought and spent; the spending grows with every call the
emulator serves) and ``POST /credits/coinbase`` (deprecated: the spec now answers 410, the
emulator still serves the charge the product description creates).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ._app import HTTPError, Request, Response, json_response
from ._state import iso_time, new_uuid

__all__ = ["register"]

#: Chains a Coinbase charge could be paid on: Ethereum, Polygon, Base.
CHAINS = {1: "ethereum", 137: "polygon", 8453: "base"}
_CONTRACTS = {
    1: "0x3263c2EE5B7A2F1ea1b9FA1F6a8b1E5c0b1aB4Cc",
    137: "0x288844216a63638381784E0C1081A3826fD5a2E4",
    8453: "0x03059433BCdB6144624cC2443159D9445C32b7a8",
}
_CHARGE_LIFETIME = 3600


async def get_credits(request: Request) -> Response:
    store = request.state.store
    return json_response(
        {"data": {"total_credits": store.total_credits, "total_usage": store.total_usage}}
    )


async def create_coinbase_charge(request: Request) -> Response:
    body = request.json_object()
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount <= 0:
        raise HTTPError(400, "Invalid parameter amount: a positive number of dollars")
    sender = body.get("sender")
    if (
        not isinstance(sender, str)
        or len(sender) != 42
        or not sender.startswith("0x")
        or any(c not in "0123456789abcdefABCDEF" for c in sender[2:])
    ):
        raise HTTPError(400, "Invalid parameter sender: an Ethereum address (0x + 40 hex digits)")
    chain_id = body.get("chain_id")
    if isinstance(chain_id, bool) or chain_id not in CHAINS:
        raise HTTPError(
            400, "Invalid parameter chain_id: 1 (Ethereum), 137 (Polygon) or 8453 (Base)"
        )
    now = time.time()
    fee = round(float(amount) * 0.05, 2)
    deadline = iso_time(now + _CHARGE_LIFETIME)
    charge = {
        "id": new_uuid(),
        "created_at": iso_time(now),
        "expires_at": deadline,
        "web3_data": {
            "transfer_intent": {
                "metadata": {
                    "chain_id": chain_id,
                    "contract_address": _CONTRACTS[chain_id],
                    "sender": sender,
                },
                "call_data": {
                    "deadline": deadline,
                    "fee_amount": f"{fee:.2f}",
                    "id": "0x" + secrets.token_hex(16),
                    "operator": "0x8fccfc2c9d5e1d3c4a0c2d7e4f5a6b7c8d9e0f1a",
                    "prefix": "0x4b3220496e666f726d6174696f6e3a0a",
                    "recipient": "0x1f7b2b3cB5dA2B1e8E5c0c2C4c1c7F9aA0b2C3d4",
                    "recipient_amount": f"{float(amount):.2f}",
                    "recipient_currency": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
                    "refund_destination": sender,
                    "signature": "0x" + secrets.token_hex(65),
                },
            }
        },
    }
    return json_response({"data": charge})


def register(app: Any) -> None:
    app.add_route("GET", "/credits", get_credits)
    # The spec's operation has `security: []` and no body: checked here by hand.
    app.add_route("POST", "/credits/coinbase", create_coinbase_charge, auth=False)
