"""Held sessions (`reload_grace.HeldSessions`) made visible to every replica through Redis.

A page that unloads leaves its upstream session held by the replica that served it. Its reload
may land on another replica, which alone cannot let that session go: the stream app still sees
it connected, so the resume would wait out the grace. With `PROXY_REDIS_URL` set:

- the holding replica writes `<prefix>held:<session id>` = its replica id, expiring with the
  grace, and deletes it (only if still its own) when it lets the session go;
- a replica asked to resume a session it does not hold, which that key says another holds,
  publishes the session id on `<prefix>release` and waits (at most `wait` seconds) for the key
  to go; the holder, subscribed, closes its upstream with 1001 like a local reload would.

Redis down: every call gives up within `timeout` and logs; a reload on another replica then
waits out the grace as it would without Redis. Nothing here decides who may resume what: the
signed resume cookie has already been checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from proxy.shared_limits import DEFAULT_PREFIX

logger = logging.getLogger("proxy.session")

POLL_SECONDS: Final = 0.02
RETRY_SECONDS: Final = 1.0

# KEYS[1] the held key; ARGV[1] our replica id. Deletes the key only if it is still ours.
_FORGET: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

Release = Callable[[str], Awaitable[bool]]


class RedisHolds:
    """Which replica holds which unloaded page's session, and how to ask it to let go."""

    def __init__(self, url: str, *, timeout: float = 1.0, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        # The subscription waits for messages as long as it likes: no read timeout on its connection.
        self._subscriber: aioredis.Redis = aioredis.Redis.from_url(url, socket_connect_timeout=timeout)
        self._timeout = timeout
        self._prefix = prefix
        self._channel = f"{prefix}release"
        self.replica = secrets.token_hex(6)
        self._forget = self._redis.register_script(_FORGET)
        self._listening: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def _key(self, session_id: str) -> str:
        return f"{self._prefix}held:{session_id}"

    def start(self, release: Release) -> None:
        """Listen for other replicas' requests; `release(session_id)` lets a held session go."""
        self._listening = asyncio.create_task(self._listen(release), name="held-session releases")

    async def wait_subscribed(self, timeout: float) -> bool:
        """Whether the subscription is up within `timeout` seconds (for readiness and tests)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._subscribed.wait()
        return self._subscribed.is_set()

    async def announce(self, session_id: str, seconds: float) -> None:
        """This replica holds `session_id` for `seconds`."""
        await self._quietly("announce", self._redis.set(self._key(session_id), self.replica, px=int(seconds * 1000)))

    async def forget(self, session_id: str) -> None:
        """This replica no longer holds `session_id`."""
        await self._quietly("forget", self._forget(keys=[self._key(session_id)], args=[self.replica]))

    async def release_elsewhere(self, session_id: str, wait: float) -> bool:
        """Ask the replica holding `session_id` to let it go; True once it has (within `wait`)."""
        holder = await self._quietly("look up", self._redis.get(self._key(session_id)))
        if holder is None or holder.decode() == self.replica:
            return False
        await self._quietly("ask for", self._redis.publish(self._channel, session_id))
        deadline = asyncio.get_running_loop().time() + wait
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            if not await self._quietly("wait for", self._redis.exists(self._key(session_id)), default=1):
                return True
        logger.warning("held session %s: its replica did not let it go within %gs", session_id, wait)
        return False

    async def _quietly(self, what: str, call: Awaitable[Any], default: Any = None) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await call
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("could not %s a held session in Redis (%s)", what, type(exc).__name__)
            return default

    async def _listen(self, release: Release) -> None:
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=RETRY_SECONDS)
                    if message is not None and message.get("type") == "message":
                        session_id = bytes(message["data"]).decode(errors="replace")
                        if await release(session_id):
                            logger.info("held session %s: let go for a reload on another replica", session_id)
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                logger.warning("held-session releases from other replicas paused (%s)", type(exc).__name__)
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # untyped in older redis

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            await asyncio.gather(self._listening, return_exceptions=True)
        await self._redis.aclose()
        await self._subscriber.aclose()
