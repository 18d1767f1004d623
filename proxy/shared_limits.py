"""Session limits and rate limits shared by every proxy replica, in Redis (`PROXY_REDIS_URL`).

Sessions: one sorted set per user (`<prefix>sessions:<user>`), a member per open session
(`<replica>:<lease>`) scored with the time its lease runs out. Each replica renews its own leases
every third of `lease_seconds`, so when a replica dies its sessions stop counting within one
lease. Taking a slot is one Lua script (drop expired members, count, add), so two replicas can
never both take the last slot. Rate limits: one token bucket per key in a hash, updated by one
script. Times come from Redis's clock (`TIME`), so replicas' clocks need not agree.

When Redis cannot be reached every call raises `LimitsUnavailable` within `timeout`: new
sign-ins are refused (4503) while open sessions go on; their leases are written again by the
next renewal after Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from proxy.limits import LimitsUnavailable, SessionLease

logger = logging.getLogger("proxy.limits")

DEFAULT_PREFIX: Final = "stream-proxy:"

# KEYS[1] the user's set; ARGV: member, limit (0 = none), lease seconds. Returns 1 if taken.
_TAKE: Final = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
local limit = tonumber(ARGV[2])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""

# KEYS: the users' sets; ARGV[1] lease seconds, then one member per key. Re-adds lost members.
_RENEW: Final = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, t + lease, ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(lease) + 1)
end
return #KEYS
"""

# KEYS[1] the bucket; ARGV: tokens per second, burst. Returns 1 if a token was taken.
_BUCKET: Final = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
"""


class RedisLimits:
    """`proxy.limits.Limits` kept in Redis, shared by every replica that uses the same URL and prefix."""

    def __init__(
        self,
        url: str,
        *,
        rate_per_address: float,
        rate_per_user: float,
        lease_seconds: float = 15.0,
        timeout: float = 1.0,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._timeout = timeout
        self._rate_per_address = rate_per_address
        self._rate_per_user = rate_per_user
        self._lease_seconds = lease_seconds
        self._prefix = prefix
        self._replica = secrets.token_hex(6)
        self._leases: dict[SessionLease, str] = {}  # lease -> its member in the user's set
        self._take = self._redis.register_script(_TAKE)
        self._renew = self._redis.register_script(_RENEW)
        self._bucket = self._redis.register_script(_BUCKET)
        self._renewing = asyncio.create_task(self._keep_renewing(), name="renew session leases")

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> int:
        try:
            async with asyncio.timeout(self._timeout):
                return int(await script(keys=keys, args=args))
        except (RedisError, OSError, TimeoutError) as exc:
            raise LimitsUnavailable(f"shared limits unavailable ({type(exc).__name__})") from None

    def _sessions_key(self, subject: str) -> str:
        return f"{self._prefix}sessions:{subject}"

    async def _allow(self, bucket: str, per_minute: float) -> bool:
        if per_minute <= 0:
            return True
        return await self._call(self._bucket, [f"{self._prefix}rate:{bucket}"], [per_minute / 60.0, per_minute]) == 1

    async def allow_address(self, key: str) -> bool:
        """See `Limits.allow_address`."""
        return await self._allow(f"address:{key}", self._rate_per_address)

    async def allow_user(self, subject: str) -> bool:
        """See `Limits.allow_user`."""
        return await self._allow(f"user:{subject}", self._rate_per_user)

    async def take_session(self, subject: str, limit: int | None) -> SessionLease | None:
        """See `Limits.take_session`."""
        lease = SessionLease(subject, secrets.token_hex(6))
        member = f"{self._replica}:{lease.lease_id}"
        taken = await self._call(self._take, [self._sessions_key(subject)], [member, limit or 0, self._lease_seconds])
        if not taken:
            return None
        self._leases[lease] = member
        return lease

    async def give_back(self, lease: SessionLease) -> None:
        """See `Limits.give_back`; when Redis is down the lease simply runs out."""
        member = self._leases.pop(lease, None)
        if member is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.zrem(self._sessions_key(lease.subject), member)
        except (RedisError, OSError, TimeoutError):
            logger.warning("could not give back a session lease of %r; it expires by itself", lease.subject)

    async def renew(self) -> None:
        """Extend (or write again) every lease this replica holds; raises `LimitsUnavailable`."""
        leases = list(self._leases.items())
        if not leases:
            return
        keys = [self._sessions_key(lease.subject) for lease, _ in leases]
        await self._call(self._renew, keys, [self._lease_seconds, *(member for _, member in leases)])

    async def _keep_renewing(self) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            try:
                await self.renew()
            except LimitsUnavailable as exc:
                logger.warning("%s: open sessions go on, their leases are renewed when it is back", exc)

    async def close(self) -> None:
        """Stop renewing, give back this replica's leases, close the connection."""
        self._renewing.cancel()
        await asyncio.gather(self._renewing, return_exceptions=True)
        for lease in list(self._leases):
            await self.give_back(lease)
        await self._redis.aclose()
