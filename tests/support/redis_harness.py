"""A real `redis-server` (Debian's, installed by deploy/system-deps.sh) on a free loopback port."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from benchmarks.ports import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass
class RunningRedis:
    """A redis-server process; `stop()` and `start()` again on the same port (a Redis outage)."""

    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):  # Until it accepts connections (at most 10 s).
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
        raise AssertionError("redis-server did not start")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        self.process = None


@asynccontextmanager
async def running_redis() -> AsyncIterator[RunningRedis]:
    redis = RunningRedis(free_port())
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()
