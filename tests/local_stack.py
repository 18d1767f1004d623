"""The whole local chain as real processes: nvcf-local (running the stream app) and the proxy.

coturn comes from the `coturn` fixture; everything listens on 127.0.0.1 on free ports, with a
copy of the deployable function definition whose ports are moved so tests never collide with a
running demo.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

from deploy.children import Child, start_child
from deploy.coturn import RunningCoturn
from proxy.devtoken import mint_dev_token

REPO = Path(__file__).resolve().parent.parent
DEFINITION = REPO / "deploy" / "functions" / "test-pattern.json"
ISSUER, AUDIENCE = "nvcf-stream-kit", "stream-proxy"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalStack:
    proxy_url: str
    nvcf_url: str
    api_key: str
    function_id: str
    jwt_secret: bytes
    nvcf: Child
    proxy: Child

    def token(self, subject: str = "tester", ttl_seconds: int = 600) -> str:
        return mint_dev_token(self.jwt_secret, issuer=ISSUER, audience=AUDIENCE, subject=subject, ttl_seconds=ttl_seconds)

    def stream_app_processes(self) -> list[psutil.Process]:
        """The stream app instances nvcf-local is running now."""
        return [
            p for p in psutil.Process(self.nvcf.pid).children(recursive=True)
            if any("stream_app" in part for part in p.cmdline())
        ]


def write_definition(target: Path, control_port: int, streaming_port: int) -> Path:
    """The deployable definition with its control and streaming ports moved."""
    definition = json.loads(DEFINITION.read_text())
    definition["inferencePort"] = streaming_port
    definition["health"]["port"] = control_port
    moved = {"CONTROL_SERVER_PORT": str(control_port), "STREAMING_SERVER_PORT": str(streaming_port)}
    for item in definition["containerEnvironment"]:
        item["value"] = moved.get(item["key"], item["value"])
    target.write_text(json.dumps(definition))
    return target


async def _poll(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    accept: Callable[[int, str], bool],
    what: str,
    child: Child,
    timeout: float = 60,
) -> None:
    """Poll `url` until `accept(status, body)`, failing early if `child` exits."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if child.returncode is not None:
            raise RuntimeError(f"{child.name} exited with {child.returncode} before {what}")
        try:
            async with http.get(url, headers=headers) as response:
                if accept(response.status, await response.text()):
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


@asynccontextmanager
async def local_stack(coturn: RunningCoturn, workdir: Path) -> AsyncIterator[LocalStack]:
    """Start nvcf-local and the proxy; wait until the function is ACTIVE and the proxy healthy."""
    api_key = secrets.token_urlsafe(24)
    function_id = str(uuid.uuid4())
    jwt_secret = secrets.token_hex(32).encode()
    (workdir / "jwt-secret").write_bytes(jwt_secret)
    (workdir / "api-key").write_text(api_key)
    definition = write_definition(workdir / "function.json", free_tcp_port(), free_tcp_port())
    nvcf_port, proxy_port = free_tcp_port(), free_tcp_port()
    async with AsyncExitStack() as stack:
        nvcf = await start_child(
            "nvcf-local",
            [
                sys.executable, "-m", "deploy.nvcf_local", "--definition", str(definition), "--port", str(nvcf_port),
                "--function-id", function_id, "--api-key-file", str(workdir / "api-key"),
                "--turn", f"{coturn.host}:{coturn.port}", "--turn-user", coturn.user,
            ],
            env={**_base_env(), "NVCF_LOCAL_TURN_PASSWORD": coturn.password},
        )
        stack.push_async_callback(nvcf.stop)
        proxy = await start_child(
            "proxy",
            [sys.executable, "-m", "proxy"],
            env={
                **_base_env(),
                "PROXY_PORT": str(proxy_port),
                "NVCF_SERVER": f"ws://127.0.0.1:{nvcf_port}",
                "NVCF_API_KEY": api_key,
                "STREAMING_FUNCTION_ID": function_id,
                "PROXY_JWT_SECRET_FILE": str(workdir / "jwt-secret"),
            },
        )
        stack.push_async_callback(proxy.stop)
        nvcf_url = f"http://127.0.0.1:{nvcf_port}"
        async with aiohttp.ClientSession() as http:
            await _poll(
                http, f"{nvcf_url}/v2/nvcf/functions/{function_id}/versions", {"Authorization": f"Bearer {api_key}"},
                lambda status, body: status == 200 and '"ACTIVE"' in body, "the function to be ACTIVE", nvcf,
            )
            await _poll(http, f"http://127.0.0.1:{proxy_port}/healthz", {}, lambda status, _: status == 200, "the proxy", proxy)
        yield LocalStack(
            proxy_url=f"http://127.0.0.1:{proxy_port}", nvcf_url=nvcf_url, api_key=api_key, function_id=function_id,
            jwt_secret=jwt_secret, nvcf=nvcf, proxy=proxy,
        )


def _base_env() -> dict[str, str]:
    """This process's environment without settings that would leak into the children's."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("NVCF", "PROXY_", "STREAMING_"))}
