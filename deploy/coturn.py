"""Runs coturn (``turnserver``) on loopback with long-term credentials, for NVCF's STUN/TURN role.

NVCF pushes long-term credentials to a streaming function (``POST /v1/streaming/creds``); locally
that TURN server is a coturn bound to 127.0.0.1 only, writing nothing outside its own temporary
directory. `start_coturn` returns once coturn answers a STUN binding request, so callers can hand
its address to clients straight away.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aioice import stun

from deploy.children import Child, ChildError, start_child
from deploy.port_check import is_port_free

logger = logging.getLogger(__name__)

_DEFAULT_REALM = "nvcf-stream-kit.local"


class CoturnError(RuntimeError):
    """coturn is missing, could not start, or did not answer."""


@dataclass(frozen=True)
class CoturnConfig:
    """Where coturn listens, which UDP ports it may relay on, and the one user it accepts."""

    user: str
    password: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 3478
    min_port: int = 49160
    max_port: int = 49200
    realm: str = _DEFAULT_REALM
    binary: str = "turnserver"
    # With a secret, coturn takes coturn's REST credentials (``--use-auth-secret``) instead of
    # the one user: ``<expiry>:<id>`` and base64(HMAC-SHA1(secret, user name)).
    auth_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("port", "min_port", "max_port"):
            value = getattr(self, name)
            if not 1 <= value <= 65535:
                raise ValueError(f"coturn {name} {value} is not a port (1-65535)")
        if self.min_port > self.max_port:
            raise ValueError(f"coturn relay range {self.min_port}-{self.max_port} is empty")
        # coturn splits --user at the first ':' and reads realm-less names from its arguments.
        if not self.user or ":" in self.user or any(c.isspace() for c in self.user):
            raise ValueError("coturn user must be non-empty, without ':' or spaces")
        if not self.password or any(c.isspace() for c in self.password):
            raise ValueError("coturn password must be non-empty, without spaces")
        if self.auth_secret is not None and (not self.auth_secret or any(c.isspace() for c in self.auth_secret)):
            raise ValueError("coturn auth secret must be non-empty, without spaces")

    @classmethod
    def with_random_credentials(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 3478,
        min_port: int = 49160,
        max_port: int = 49200,
        realm: str = _DEFAULT_REALM,
        binary: str = "turnserver",
        rest: bool = False,
    ) -> CoturnConfig:
        """A config with a fresh random user name and password (what a test or demo wants).

        With `rest`, coturn accepts only REST credentials made with a fresh random `auth_secret`.
        """
        return cls(
            auth_secret=secrets.token_urlsafe(24) if rest else None,
            user=f"u{secrets.token_hex(6)}",
            password=secrets.token_urlsafe(18),
            host=host,
            port=port,
            min_port=min_port,
            max_port=max_port,
            realm=realm,
            binary=binary,
        )


def turnserver_argv(binary: str, config: CoturnConfig, workdir: Path) -> list[str]:
    """The full ``turnserver`` command line: loopback only, no TLS/DTLS/CLI, state in `workdir`.

    The credentials are not on it: they are in `workdir`'s config file (see `write_credentials`),
    because any local user can read a command line.
    """
    return [
        binary,
        # Our own config file, holding only the user, so /etc/turnserver.conf is never read.
        "-c",
        str(workdir / "turnserver.conf"),
        f"--listening-ip={config.host}",
        f"--relay-ip={config.host}",
        f"--listening-port={config.port}",
        f"--min-port={config.min_port}",
        f"--max-port={config.max_port}",
        "--lt-cred-mech",
        f"--realm={config.realm}",
        # The stream app and the browser are both on loopback; coturn refuses such peers otherwise.
        "--allow-loopback-peers",
        "--no-multicast-peers",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        # NAT behaviour discovery (RFC 5780) needs a second address; one loopback address is all we have.
        "--no-rfc5780",
        "--no-software-attribute",
        f"--userdb={workdir / 'turndb'}",
        f"--pidfile={workdir / 'turnserver.pid'}",
        "--log-file=stdout",
        "--simple-log",
    ]


def write_credentials(config: CoturnConfig, workdir: Path) -> None:
    """Write the config file `turnserver_argv` names, readable by us only: the one long-term user,
    or (REST scheme) the shared secret; coturn refuses static users once a secret is in use."""
    path = workdir / "turnserver.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        if config.auth_secret is not None:
            file.write(f"use-auth-secret\nstatic-auth-secret={config.auth_secret}\n")
        else:
            file.write(f"user={config.user}:{config.password}\n")


def binding_request() -> stun.Message:
    """A STUN Binding request with a fresh transaction id."""
    return stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)


def is_binding_success(data: bytes, request: stun.Message) -> bool:
    """Whether `data` is the successful answer to `request` (a Binding success with its id)."""
    try:
        message = stun.parse_message(data)
    except ValueError:
        return False
    return (
        message.message_method == stun.Method.BINDING
        and message.message_class == stun.Class.RESPONSE
        and message.transaction_id == request.transaction_id
    )


class _StunProbe(asyncio.DatagramProtocol):
    def __init__(self, request: stun.Message) -> None:
        self.request = request
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if is_binding_success(data, self.request) and not self.answered.done():
            self.answered.set_result(None)


async def stun_binding(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """Send one STUN Binding request over UDP; True if a success answer arrives within `timeout`."""
    loop = asyncio.get_running_loop()
    request = binding_request()
    transport, probe = await loop.create_datagram_endpoint(lambda: _StunProbe(request), remote_addr=(host, port))
    try:
        transport.sendto(bytes(request))
        await asyncio.wait_for(asyncio.shield(probe.answered), timeout)
        return True
    except TimeoutError:
        return False
    finally:
        transport.close()


@dataclass
class RunningCoturn:
    """A coturn started by `start_coturn`: its address, credentials and process."""

    config: CoturnConfig
    child: Child = field(repr=False)
    workdir: Path

    @property
    def host(self) -> str:
        """Address coturn listens on (UDP and TCP)."""
        return self.config.host

    @property
    def port(self) -> int:
        """STUN/TURN port."""
        return self.config.port

    @property
    def user(self) -> str:
        """Long-term credential user name."""
        return self.config.user

    @property
    def password(self) -> str:
        """Long-term credential password."""
        return self.config.password

    @property
    def realm(self) -> str:
        """Realm of the long-term credentials."""
        return self.config.realm

    @property
    def auth_secret(self) -> str | None:
        """The REST shared secret (``--static-auth-secret``), if coturn runs with one."""
        return self.config.auth_secret

    @property
    def pid(self) -> int:
        """Process id of ``turnserver``."""
        return self.child.pid

    async def stop(self) -> None:
        """Stop coturn and delete its temporary directory."""
        await self.child.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def start_coturn(
    config: CoturnConfig,
    *,
    start_timeout: float = 10.0,
    log: logging.Logger | None = None,
    state_parent: Path | None = None,
) -> RunningCoturn:
    """Start coturn and return once it answers a STUN binding request on ``host:port``.

    coturn's state (its config file with the credentials, user database, pid file) lives in a new
    private directory under `state_parent` (default: the system's temporary directory), removed by
    `RunningCoturn.stop`. A caller that may itself be killed before it can call `stop` passes a
    directory of its own, so nothing is left in the shared temporary directory.

    Raises `CoturnError` with a reason a user can act on when ``turnserver`` is not installed, the
    port is taken, coturn exits, or it does not answer within `start_timeout` seconds.
    """
    binary = shutil.which(config.binary)
    if binary is None:
        raise CoturnError(
            f"{config.binary!r} not found on PATH: install coturn (Debian: apt-get install coturn, "
            "or `bash deploy/system-deps.sh coturn`)"
        )
    if not all(is_port_free(config.host, config.port, kind) for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
        # Checked first because a STUN answer from whatever holds the port would look like success.
        raise CoturnError(f"cannot start coturn: port {config.port} on {config.host} is already in use")
    workdir = Path(tempfile.mkdtemp(prefix="coturn-", dir=state_parent))  # mode 0700
    try:
        write_credentials(config, workdir)
        child = await start_child("coturn", turnserver_argv(binary, config, workdir), cwd=workdir, logger=log or logger)
    except (ChildError, OSError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise CoturnError(str(exc)) from None
    running = RunningCoturn(config=config, child=child, workdir=workdir)
    deadline = time.monotonic() + start_timeout
    while True:
        if child.returncode is not None:
            await running.stop()
            raise CoturnError(
                f"coturn exited with status {child.returncode} before answering on "
                f"{config.host}:{config.port} (its log lines above, prefixed [coturn], say why)"
            )
        if await stun_binding(config.host, config.port, timeout=0.2):
            break
        if time.monotonic() > deadline:
            await running.stop()
            raise CoturnError(f"coturn did not answer STUN on {config.host}:{config.port} within {start_timeout:g} s")
    (log or logger).info(
        "coturn listening on %s:%d (relay ports %d-%d, realm %s, pid %d)",
        config.host,
        config.port,
        config.min_port,
        config.max_port,
        config.realm,
        child.pid,
    )
    return running
