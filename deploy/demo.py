"""`python -m deploy.demo` (`make demo`): the whole stack on this machine, one URL to open.

Starts coturn (random credentials), nvcf-local (random API key, fresh function id), which starts
the stream app, and the proxy (a fresh HS256 secret in ``.demo/jwt-secret``, and one for resume
cookies in ``.demo/session-secret`` so a restarted proxy still resumes sessions), waits until the
function is ACTIVE and the proxy answers, then prints the URL with a 12-hour development token
(on stdout; everything else is log lines on stderr, through `observability.configure_logging`,
with the secrets it made redacted).
SIGINT (Ctrl-C) or SIGTERM stops everything it started; if one of its processes dies, it says which
and stops the rest with a non-zero status. Every process it starts dies with it even if it is
killed outright (see `deploy.children`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import aiohttp

from deploy.children import Child, ChildError, start_child
from deploy.coturn import CoturnConfig, CoturnError, RunningCoturn, start_coturn
from deploy.nvcf_local.config import DEFAULT_DEFINITION
from deploy.port_check import is_port_free
from observability import configure_logging
from settings import LogConfig, Setting, SettingsError, SettingsGroup, load, log_config, log_settings, parsers

logger = logging.getLogger("deploy.demo")

TOKEN_TTL_SECONDS = 12 * 3600
JWT_ISSUER = "nvcf-stream-kit"
JWT_AUDIENCE = "stream-proxy"
_HOST = "127.0.0.1"
_POLL_INTERVAL = 0.3


class DemoError(RuntimeError):
    """The demo cannot start or had to stop; the message says why and what to do."""


def _repo_dir() -> Path:
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


@dataclass(frozen=True)
class DemoConfig:
    """Ports and places the demo uses; every one can be set by an environment variable or a flag."""

    proxy_port: int = 8080
    nvcf_port: int = 8090
    turn_port: int = 3478
    turn_relay_ports: tuple[int, int] = (49160, 49200)
    control_port: int = 8011
    streaming_port: int = 49100
    state_dir: Path = Path(".demo")
    start_timeout: float = 120.0
    verbose: bool = False
    log: LogConfig = LogConfig()


SETTINGS: Final = SettingsGroup(
    prog="python -m deploy.demo",
    description="Run coturn, nvcf-local (with the stream app) and the proxy on 127.0.0.1; print the URL to open.",
    defaults_from=DemoConfig,
    settings=(
        Setting("proxy_port", "DEMO_PROXY_PORT", parsers.port, "proxy (and web client) port"),
        Setting("nvcf_port", "DEMO_NVCF_PORT", parsers.port, "nvcf-local's API and relay port"),
        Setting("turn_port", "DEMO_TURN_PORT", parsers.port, "coturn's STUN/TURN port (UDP and TCP)"),
        Setting(
            "turn_relay_ports",
            "DEMO_TURN_RELAY_PORTS",
            parsers.port_range,
            "coturn's relay UDP ports, FIRST-LAST",
            default_text="49160-49200",
        ),
        Setting(
            "control_port",
            "DEMO_CONTROL_PORT",
            parsers.port,
            "the stream app's control server port (CONTROL_SERVER_PORT)",
        ),
        Setting(
            "streaming_port",
            "DEMO_STREAMING_PORT",
            parsers.port,
            "the stream app's sign-in port (STREAMING_SERVER_PORT)",
        ),
        Setting(
            "state_dir",
            "DEMO_STATE_DIR",
            parsers.path,
            "directory for the token secret and generated files",
            default_text=".demo in the repository",
        ),
        Setting(
            "start_timeout",
            "DEMO_START_TIMEOUT",
            parsers.positive_seconds,
            "seconds to wait for everything to be ready",
        ),
        Setting(
            "verbose",
            "DEMO_VERBOSE",
            parsers.boolean,
            "show coturn's start-up lines too (some forty, which bury the URL)",
            switch=True,
        ),
        *log_settings("DEMO_"),
    ),
)
"""The demo's settings, declared once."""


def load_demo_config(env: Mapping[str, str], argv: Sequence[str] | None = ()) -> DemoConfig:
    """Read the demo's settings from `env` and `argv`; raise `DemoError` naming a bad variable."""
    try:
        loaded = load(SETTINGS, argv, env)
    except SettingsError as exc:
        raise DemoError(str(exc)) from None
    values = {f.name: loaded[f.name] for f in fields(DemoConfig) if f.name in loaded.values}
    if not loaded.given("state_dir"):
        values["state_dir"] = _repo_dir() / ".demo"
    return DemoConfig(**values, log=log_config(loaded))


def check_ports(config: DemoConfig) -> None:
    """Raise `DemoError` naming the first port that is taken or used twice, and its variable."""
    tcp, both = (socket.SOCK_STREAM,), (socket.SOCK_STREAM, socket.SOCK_DGRAM)
    kinds_of = {"proxy_port": tcp, "nvcf_port": tcp, "control_port": tcp, "streaming_port": tcp, "turn_port": both}
    seen: dict[int, str] = {}
    low, high = config.turn_relay_ports
    for field, kinds in kinds_of.items():
        env, port = SETTINGS.setting(field).env, getattr(config, field)
        if port in seen:
            raise DemoError(f"{env} and {seen[port]} are both {port}; give each its own port")
        if low <= port <= high:
            raise DemoError(f"{env} {port} lies in DEMO_TURN_RELAY_PORTS {low}-{high}; move one of them")
        seen[port] = env
        if not all(is_port_free(_HOST, port, kind) for kind in kinds):
            raise DemoError(
                f"port {port} on {_HOST} is already in use ({env}); stop what uses it "
                f"(another demo?) or set {env} to a free port"
            )


@dataclass(frozen=True, repr=False)
class DemoSecrets:
    """What one run of the demo makes up, and no log line may show: the API key nvcf-local and the
    proxy share, the proxy's token and session secrets, and coturn's config (with its password)."""

    api_key: str
    jwt_secret: str
    session_secret: str
    coturn: CoturnConfig

    @classmethod
    def fresh(cls, config: DemoConfig) -> DemoSecrets:
        """New random secrets, and coturn's config on the demo's ports with new credentials."""
        low, high = config.turn_relay_ports
        return cls(
            api_key=secrets.token_urlsafe(32),
            # 32 random bytes as hex: what the proxy reads from PROXY_JWT_SECRET_FILE.
            jwt_secret=secrets.token_hex(32),
            session_secret=secrets.token_hex(32),
            coturn=CoturnConfig.with_random_credentials(host=_HOST, port=config.turn_port, min_port=low, max_port=high),
        )

    def values(self) -> list[str]:
        """Every secret, for the log redactor."""
        return [self.api_key, self.jwt_secret, self.session_secret, self.coturn.password]

    def __repr__(self) -> str:
        return "DemoSecrets(***)"


def write_secret(path: Path, secret: str) -> None:
    """Write `secret` to a file readable by the owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # O_CREAT's mode does not apply to a file that already exists.
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret)


def write_definition(config: DemoConfig) -> Path:
    """The function definition to run: the shipped test pattern, with the demo's ports if they differ."""
    definition = json.loads(DEFAULT_DEFINITION.read_text(encoding="utf-8"))
    if (definition["health"]["port"], definition["inferencePort"]) == (config.control_port, config.streaming_port):
        return DEFAULT_DEFINITION
    definition["health"]["port"] = config.control_port
    definition["inferencePort"] = config.streaming_port
    ports = {"CONTROL_SERVER_PORT": str(config.control_port), "STREAMING_SERVER_PORT": str(config.streaming_port)}
    for entry in definition.get("containerEnvironment", []):
        entry["value"] = ports.get(entry["key"], entry["value"])
    path = config.state_dir / "function.json"
    path.write_text(json.dumps(definition, indent=2) + "\n", encoding="utf-8")
    return path


def mint_token(secret: bytes) -> str:
    """A development user token the proxy accepts, valid for 12 hours."""
    from proxy.devtoken import mint_dev_token

    return mint_dev_token(
        secret, issuer=JWT_ISSUER, audience=JWT_AUDIENCE, subject="demo-user", ttl_seconds=TOKEN_TTL_SECONDS
    )


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DEMO_")}
    env.update(extra)
    return env


class Demo:
    """The processes the demo started, in start order, and how to stop them in reverse."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.coturn: RunningCoturn | None = None
        self.children: list[Child] = []

    def watched(self) -> list[Child]:
        """Every running process the demo started (coturn included)."""
        return ([self.coturn.child] if self.coturn else []) + self.children

    async def start(self, made: DemoSecrets, secret_file: Path, session_secret_file: Path, function_id: str) -> None:
        """Start coturn, nvcf-local and the proxy (not waiting for readiness)."""
        config = self.config
        self.coturn = await start_coturn(
            made.coturn,
            # In the demo's own directory: if the demo is killed outright, nothing is left in /tmp.
            state_parent=config.state_dir,
        )
        nvcf_env = _child_env(
            {
                "NVCF_LOCAL_API_KEY": made.api_key,
                "NVCF_LOCAL_TURN": f"{self.coturn.host}:{self.coturn.port}",
                "NVCF_LOCAL_TURN_USER": self.coturn.user,
                "NVCF_LOCAL_TURN_PASSWORD": self.coturn.password,
            }
        )
        self.children.append(
            await start_child(
                "nvcf-local",
                [
                    sys.executable,
                    "-m",
                    "deploy.nvcf_local",
                    "--host",
                    _HOST,
                    "--port",
                    str(config.nvcf_port),
                    "--definition",
                    str(write_definition(config)),
                    "--function-id",
                    function_id,
                ],
                env=nvcf_env,
                logger=logger,
            )
        )
        proxy_env = _child_env(
            {
                "PROXY_HOST": _HOST,
                "PROXY_PORT": str(config.proxy_port),
                "NVCF_SERVER": f"ws://{_HOST}:{config.nvcf_port}",
                "NVCF_API_KEY": made.api_key,
                "STREAMING_FUNCTION_ID": function_id,
                "PROXY_JWT_SECRET_FILE": str(secret_file),
                "PROXY_SESSION_SECRET_FILE": str(session_secret_file),
                "PROXY_JWT_ISSUER": JWT_ISSUER,
                "PROXY_JWT_AUDIENCE": JWT_AUDIENCE,
            }
        )
        self.children.append(await start_child("proxy", [sys.executable, "-m", "proxy"], env=proxy_env, logger=logger))

    async def stop(self) -> None:
        """Stop the proxy, then nvcf-local (which stops the stream app), then coturn."""
        for child in reversed(self.children):
            await child.stop(timeout=10.0)
        if self.coturn is not None:
            await self.coturn.stop()


async def _wait_until_ready(config: DemoConfig, api_key: str, function_id: str) -> None:
    status_url = f"http://{_HOST}:{config.nvcf_port}/v2/nvcf/functions/{function_id}/versions"
    health_url = f"http://{_HOST}:{config.proxy_port}/healthz"
    status = "not answering"
    proxy_ok = False
    deadline = time.monotonic() + config.start_timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        while True:
            if status != "ACTIVE":
                try:
                    async with http.get(status_url, headers={"Authorization": f"Bearer {api_key}"}) as response:
                        if response.status == 200:
                            status = (await response.json())["functions"][0]["status"]
                except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, IndexError):
                    pass
                if status == "ERROR":
                    raise DemoError(
                        "nvcf-local reports the function ERROR: the stream app keeps failing to start "
                        "(see the [nvcf-local] lines above)"
                    )
            if not proxy_ok:
                try:
                    async with http.get(health_url) as response:
                        proxy_ok = response.status == 200
                except (TimeoutError, aiohttp.ClientError):
                    pass
            if status == "ACTIVE" and proxy_ok:
                return
            if time.monotonic() > deadline:
                raise DemoError(
                    f"not ready after {config.start_timeout:g} s (function status: {status}, "
                    f"proxy /healthz: {'200' if proxy_ok else 'not 200'}); set DEMO_START_TIMEOUT to wait longer"
                )
            await asyncio.sleep(_POLL_INTERVAL)


async def _first_of(demo: Demo, stop: asyncio.Event, work: Coroutine[Any, Any, None] | None = None) -> str | None:
    """Run `work` (or nothing) until it ends, a signal arrives or a child exits.

    Returns None when `work` finished, "signal" on a signal, else a sentence naming the dead child.
    A `DemoError` raised by `work` propagates.
    """
    exits = {asyncio.ensure_future(child.process.wait()): child for child in demo.watched()}
    stopped = asyncio.ensure_future(stop.wait())
    job = asyncio.ensure_future(work) if work is not None else None
    waiting: set[asyncio.Future[Any]] = {*exits, stopped}
    if job is not None:
        waiting.add(job)
    try:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    if stopped in done:
        return "signal"
    for task, child in exits.items():
        if task in done:
            return f"{child.name} (pid {child.pid}) exited unexpectedly with status {child.returncode}"
    assert job is not None
    job.result()
    return None


async def run_demo(config: DemoConfig, made: DemoSecrets) -> int:
    """Run the demo until a signal (status 0) or a failure (status 1, with the reason logged)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    check_ports(config)
    secret_file = config.state_dir / "jwt-secret"
    write_secret(secret_file, made.jwt_secret)
    session_secret_file = config.state_dir / "session-secret"
    write_secret(session_secret_file, made.session_secret)
    function_id = str(uuid.uuid4())
    demo = Demo(config)
    try:
        await demo.start(made, secret_file, session_secret_file, function_id)
        outcome = await _first_of(demo, stop, _wait_until_ready(config, made.api_key, function_id))
        if outcome is None:
            url = f"http://{_HOST}:{config.proxy_port}/#token={mint_token(made.jwt_secret.encode())}"
            # The demo's output for a person, on stdout: printed, not logged, so that LOG_FORMAT=json
            # does not wrap it and the log redactor does not cut the token out of it.
            print(f"\nOpen {url}\n", flush=True)
            print("Stop the demo with Ctrl-C (or SIGTERM); that stops every process it started.", flush=True)
            outcome = await _first_of(demo, stop)
        if outcome == "signal":
            logger.info("stopping: signal received")
            return 0
        assert outcome is not None
        logger.error("%s; stopping everything", outcome)
        return 1
    finally:
        await demo.stop()
        logger.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m deploy.demo`."""
    try:
        config = load_demo_config(os.environ, argv)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    made = DemoSecrets.fresh(config)
    configure_logging(
        "demo",
        config.log.level,
        config.log.format,
        # coturn prints some forty lines of start-up detail that bury the URL; a coturn that
        # fails still says why through CoturnError. DEMO_VERBOSE=1 shows everything.
        logger_levels=None if config.verbose else {"deploy.coturn": "WARNING"},
        secrets=made.values(),
    )
    try:
        return asyncio.run(run_demo(config, made))
    except (DemoError, CoturnError, ChildError) as exc:
        logger.error("%s", exc)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
