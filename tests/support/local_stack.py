"""The proxy as a real process in front of a running nvcf-local: the whole local chain for browser tests.

nvcf-local (running the stream app) and coturn come from the conftest fixtures.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

from benchmarks.ports import free_port
from deploy.children import Child, start_child
from proxy.devtoken import mint_dev_token
from support.services import RunningNvcfLocal, running_coturn, running_nvcf_local, use_app, write_definition

ISSUER, AUDIENCE = "nvcf-stream-kit", "stream-proxy"


@dataclass
class LocalStack:
    """The proxy's address, its token secret, and the nvcf-local behind it."""

    proxy_url: str
    jwt_secret: bytes
    nvcf: RunningNvcfLocal
    proxy: Child

    def token(self, subject: str = "tester", ttl_seconds: int = 600) -> str:
        return mint_dev_token(
            self.jwt_secret, issuer=ISSUER, audience=AUDIENCE, subject=subject, ttl_seconds=ttl_seconds
        )

    def stream_app_processes(self) -> list[psutil.Process]:
        """The stream app instances nvcf-local is running now."""
        return self.nvcf.instances()


@asynccontextmanager
async def local_stack(
    nvcf: RunningNvcfLocal, workdir: Path, policy: str | None = None, env: dict[str, str] | None = None
) -> AsyncIterator[LocalStack]:
    """Start the proxy in front of `nvcf` and wait until it answers `/healthz`.

    `policy`: the text of a policy file (TOML, docs/proxy.md) for `PROXY_POLICY_FILE`, in which
    `$FUNCTION_ID` stands for nvcf-local's function id. `env`: more proxy settings.
    """
    jwt_secret = secrets.token_hex(32).encode()
    (workdir / "jwt-secret").write_bytes(jwt_secret)
    # Resume cookies are signed with it; a proxy restarted with the same file accepts them.
    (workdir / "session-secret").write_bytes(secrets.token_hex(32).encode())
    settings = dict(env or {})
    if policy is not None:
        (workdir / "policy.toml").write_text(policy.replace("$FUNCTION_ID", nvcf.function_id), encoding="utf-8")
        settings["PROXY_POLICY_FILE"] = str(workdir / "policy.toml")
    port = free_port()
    proxy = await start_child(
        "proxy",
        [sys.executable, "-m", "proxy"],
        env={
            **os.environ,
            "PROXY_PORT": str(port),
            "NVCF_SERVER": f"ws://127.0.0.1:{nvcf.port}",
            "NVCF_API_KEY": nvcf.api_key,
            "STREAMING_FUNCTION_ID": nvcf.function_id,
            "PROXY_JWT_SECRET_FILE": str(workdir / "jwt-secret"),
            "PROXY_SESSION_SECRET_FILE": str(workdir / "session-secret"),
            **settings,
        },
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        async with aiohttp.ClientSession() as http:
            while True:
                if proxy.returncode is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the proxy did not start (exit status {proxy.returncode})")
                try:
                    async with http.get(f"{url}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        yield LocalStack(proxy_url=url, jwt_secret=jwt_secret, nvcf=nvcf, proxy=proxy)
    finally:
        await proxy.stop()


async def restart_proxy(stack: LocalStack, workdir: Path) -> Child:
    """A new proxy on the stopped one's port with the same settings and secrets: a rolling restart.

    The caller stops it.
    """
    secret = workdir / "jwt-secret-2"
    secret.write_bytes(stack.jwt_secret)
    port = stack.proxy_url.rsplit(":", 1)[1]
    proxy = await start_child(
        "proxy-2",
        [sys.executable, "-m", "proxy"],
        env={
            **os.environ,
            "PROXY_PORT": port,
            "NVCF_SERVER": f"ws://127.0.0.1:{stack.nvcf.port}",
            "NVCF_API_KEY": stack.nvcf.api_key,
            "STREAMING_FUNCTION_ID": stack.nvcf.function_id,
            "PROXY_JWT_SECRET_FILE": str(secret),
            "PROXY_SESSION_SECRET_FILE": str(workdir / "session-secret"),
        },
    )
    deadline = time.monotonic() + 15
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{stack.proxy_url}/healthz") as response:
                    if response.status == 200:
                        return proxy
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    await proxy.stop()
    raise AssertionError("the restarted proxy did not answer")


@asynccontextmanager
async def app_stack(factory: str, workdir: Path, pythonpath: str) -> AsyncIterator[LocalStack]:
    """coturn, nvcf-local whose instance runs the app `factory` (imported with `pythonpath`), and the
    proxy in front: the whole chain for one app."""
    async with running_coturn() as turn:
        definition = write_definition(workdir, use_app(factory))
        async with running_nvcf_local(turn, definition, env={"PYTHONPATH": pythonpath}) as nvcf:
            await nvcf.wait_for_status("ACTIVE")
            async with local_stack(nvcf, workdir) as stack:
                yield stack
