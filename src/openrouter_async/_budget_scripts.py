"""The Lua scripts of :class:`~openrouter_async._budget.RedisBudget`, and the names of its keys.

One budget is seven keys, all hash-tagged ``{name}`` so that they live on one Redis Cluster
slot (a script may only touch keys of one slot):

======================  ==================================================================
``{name}:state``        hash: ``spent`` and ``reserved`` (dollars), ``inflight`` (leases)
``{name}:holders``      sorted set: holder id -> expiry (µs, the server's clock)
``{name}:leases``       hash: holder id -> leases it holds
``{name}:held``         hash: holder id -> cost it has reserved
``{name}:cool``         the end of the fleet's cool-down (µs), with a matching expiry
``{name}:rate``         GCRA theoretical arrival time of the next request (µs)
``{name}:tokens``       the same for tokens
======================  ==================================================================

A *holder* is one process's side of the budget (its id changes if it is ever reaped). Its
leases and reserved cost are kept per holder so that a holder whose expiry passed (a
SIGKILLed worker stops renewing it) is reaped by whichever script runs next: its leases come
back, and its reserved cost is counted as **spent** (it may have been charged: fail closed).

Every script reads the time with ``TIME`` (the server's clock: the workers' clocks do not
matter) and runs atomically, so a check and the reservation it grants are one step. Lua
numbers are doubles: times in µs (~1.8e15) are exact; integers returned to Redis are
truncated, so costs go back as strings.
"""

from __future__ import annotations

__all__ = ["EXCHANGE", "STATE", "keys"]


def keys(name: str) -> list[str]:
    """The budget's keys, in the order the scripts take them."""
    tag = "{" + name + "}"
    return [
        f"{tag}:state",
        f"{tag}:holders",
        f"{tag}:leases",
        f"{tag}:held",
        f"{tag}:cool",
        f"{tag}:rate",
        f"{tag}:tokens",
    ]


# Shared prologue: the server's time, and the reaping of holders whose expiry passed (at most
# 32 per call: a burst of dead workers is reaped over a few calls).
_PROLOGUE = """
local function num(v) return tonumber(v) or 0 end
-- numbers go to Redis as text written here: every digit of a µs time kept
local function fmt(x) return string.format('%.17g', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', fmt(now), 'LIMIT', 0, 32)
for _, h in ipairs(dead) do
  local l = num(redis.call('HGET', KEYS[3], h))
  local c = num(redis.call('HGET', KEYS[4], h))
  if l ~= 0 then redis.call('HINCRBY', KEYS[1], 'inflight', -l) end
  if c ~= 0 then
    redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', -c)
    redis.call('HINCRBYFLOAT', KEYS[1], 'spent', c)
  end
  redis.call('HDEL', KEYS[3], h)
  redis.call('HDEL', KEYS[4], h)
  redis.call('ZREM', KEYS[2], h)
end
"""

#: Settle what a holder owes, then grant a batch of calls (a prefix of them, in order).
#:
#: ARGV: holder, expect (1: the holder should exist — it holds leases or cost), ttl µs,
#: rate T µs (0: no rpm), rate tau µs, token T µs (0: no tpm), token tau µs, max_cost (-1:
#: none), max_concurrency (0: none), cool-down to start µs (0: none), leases released, cost
#: reserved released, cost spent, token correction (used - estimated), n calls; then per
#: call: tokens, cost (-1: reserved already, skip the check), kind (0: a slot — rate, tokens,
#: cost —, 1: a slot and a lease, 2: a lease only, for a call whose slot came), the longest
#: wait it accepts µs.
#:
#: Returns: status (0 all granted, 1 cool-down, 2 cost spent, 3 no lease free, 4 rpm or
#: 5 tpm beyond the call's wait, 6 holder reaped), granted, wait µs of the first refused
#: call, cool-down left µs, spent, reserved (strings), leases in flight, then each granted
#: call's wait µs.
EXCHANGE = (
    _PROLOGUE
    + """
local holder = ARGV[1]
local expect = ARGV[2] == '1'
local ttl = tonumber(ARGV[3])
local rate_t, rate_tau = tonumber(ARGV[4]), tonumber(ARGV[5])
local tok_t, tok_tau = tonumber(ARGV[6]), tonumber(ARGV[7])
local max_cost, max_conc = tonumber(ARGV[8]), tonumber(ARGV[9])
local cool = tonumber(ARGV[10])
local rel_leases, rel_reserved = tonumber(ARGV[11]), tonumber(ARGV[12])
local add_spent, tok_delta = tonumber(ARGV[13]), tonumber(ARGV[14])
local n = tonumber(ARGV[15])

-- a cool-down (a 429 seen by a worker): the latest end wins
local cool_end = num(redis.call('GET', KEYS[5]))
if cool > 0 and now + cool > cool_end then
  cool_end = now + cool
  redis.call('SET', KEYS[5], fmt(cool_end), 'PX', math.ceil(cool / 1000))
end
-- tokens used other than estimated: move the bucket's arrival time (never before now)
local ttat = 0
if tok_t > 0 then
  ttat = math.max(num(redis.call('GET', KEYS[7])), now)
  if tok_delta ~= 0 then
    ttat = math.max(ttat + tok_delta * tok_t, now)
    redis.call('SET', KEYS[7], fmt(ttat), 'PX', math.ceil((ttat - now) / 1000) + 1000)
  end
end

local alive = redis.call('ZSCORE', KEYS[2], holder)
local st = redis.call('HMGET', KEYS[1], 'spent', 'reserved', 'inflight')
local spent, reserved, inflight = num(st[1]), num(st[2]), num(st[3])
local cool_left = math.max(cool_end - now, 0)
if (not alive) and expect then
  -- reaped: its leases came back already and its reservation was counted as spent; what
  -- it really spent replaces that reservation
  -- (never below zero: after a restart that lost the data, nothing was counted to fix)
  local fix = math.max(add_spent - rel_reserved, -spent)
  if fix ~= 0 then spent = tonumber(redis.call('HINCRBYFLOAT', KEYS[1], 'spent', fix)) end
  return {6, 0, 0, cool_left, fmt(spent), fmt(reserved), inflight}
end

if rel_leases > 0 then
  local r = math.min(num(redis.call('HGET', KEYS[3], holder)), rel_leases)
  if r > 0 then
    redis.call('HINCRBY', KEYS[3], holder, -r)
    inflight = redis.call('HINCRBY', KEYS[1], 'inflight', -r)
  end
end
if rel_reserved > 0 then
  local r = math.min(num(redis.call('HGET', KEYS[4], holder)), rel_reserved)
  if r > 0 then
    redis.call('HINCRBYFLOAT', KEYS[4], holder, -r)
    reserved = tonumber(redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', -r))
  end
end
if add_spent ~= 0 then
  spent = tonumber(redis.call('HINCRBYFLOAT', KEYS[1], 'spent', add_spent))
end

local status, wait, granted = 0, 0, 0
local waits = {}
if n > 0 and cool_left > 0 then
  status, wait = 1, cool_left
elseif n > 0 then
  local rtat = 0
  if rate_t > 0 then rtat = math.max(num(redis.call('GET', KEYS[6])), now) end
  local t0, add_cost, add_leases = ttat, 0, 0
  for i = 1, n do
    local b = 15 + (i - 1) * 4
    local tokens, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local kind, max_wait = ARGV[b + 3], tonumber(ARGV[b + 4])
    local lease, slot = kind ~= '0', kind ~= '2'
    if not slot then tokens, cost = 0, -1 end
    if max_cost >= 0 and cost >= 0 and spent + reserved >= max_cost then
      status = 2
      break
    end
    if lease and max_conc > 0 and inflight >= max_conc then
      status = 3
      break
    end
    local at, why = now, 4
    if slot and rate_t > 0 and rtat - rate_tau > at then at = rtat - rate_tau end
    if tok_t > 0 and tokens > 0 and ttat + tokens * tok_t - tok_tau > at then
      at, why = ttat + tokens * tok_t - tok_tau, 5
    end
    if at - now > max_wait then
      status, wait = why, at - now
      break
    end
    if slot and rate_t > 0 then rtat = rtat + rate_t end
    if tok_t > 0 and tokens > 0 then ttat = ttat + tokens * tok_t end
    if cost > 0 then
      reserved = reserved + cost
      add_cost = add_cost + cost
    end
    if lease then
      inflight = inflight + 1
      add_leases = add_leases + 1
    end
    granted = granted + 1
    waits[granted] = math.floor(at - now)
  end
  if granted > 0 and rate_t > 0 then
    redis.call('SET', KEYS[6], fmt(rtat), 'PX', math.ceil((rtat - now) / 1000) + 1000)
  end
  if ttat ~= t0 then
    redis.call('SET', KEYS[7], fmt(ttat), 'PX', math.ceil((ttat - now) / 1000) + 1000)
  end
  if add_cost > 0 then
    redis.call('HINCRBYFLOAT', KEYS[4], holder, add_cost)
    reserved = tonumber(redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', add_cost))
  end
  if add_leases > 0 then
    redis.call('HINCRBY', KEYS[3], holder, add_leases)
    inflight = redis.call('HINCRBY', KEYS[1], 'inflight', add_leases)
  end
end
-- the holder lives on (a new one is registered by its first call)
redis.call('ZADD', KEYS[2], fmt(now + ttl), holder)
local reply = {status, granted, math.floor(wait), cool_left, fmt(spent), fmt(reserved), inflight}
for i = 1, granted do reply[7 + i] = waits[i] end
return reply
"""
)

#: What the fleet holds now (reaping dead holders first). ARGV: none.
#: Returns: spent, reserved (strings), leases in flight, live holders, cool-down left µs,
#: rate and token arrival times ahead of now (µs).
STATE = (
    _PROLOGUE
    + """
local st = redis.call('HMGET', KEYS[1], 'spent', 'reserved', 'inflight')
local cool_left = math.max(num(redis.call('GET', KEYS[5])) - now, 0)
local rate_ahead = math.max(num(redis.call('GET', KEYS[6])) - now, 0)
local tok_ahead = math.max(num(redis.call('GET', KEYS[7])) - now, 0)
return {fmt(num(st[1])), fmt(num(st[2])), num(st[3]), redis.call('ZCARD', KEYS[2]),
        cool_left, rate_ahead, tok_ahead}
"""
)
