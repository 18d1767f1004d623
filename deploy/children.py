"""Child processes that never outlive their parent, stop politely and log every output line.

Each child:

- asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``, set by util-linux's
  ``setpriv`` before it execs the program), so a parent killed with SIGKILL leaves nothing behind;
- runs in its own session and process group, so a Ctrl-C at the terminal reaches only the parent,
  which then stops its children in order, and so the whole group can be killed at the end;
- has stdout and stderr merged and sent, line by line, to a logger with a prefix naming it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Lines longer than this are logged in pieces rather than held in memory whole.
_MAX_LINE = 64 * 1024


class ChildError(RuntimeError):
    """A child process could not be started."""


def _program_path(program: str, env: Mapping[str, str] | None, cwd: Path | str | None) -> str | None:
    """Where `program` is, looked up the way exec would look it up for the child; None if nowhere."""
    if os.sep in program:
        candidate = Path(cwd or ".") / program
        return str(candidate) if os.access(candidate, os.X_OK) and candidate.is_file() else None
    search_path = (env if env is not None else os.environ).get("PATH", os.defpath)
    return shutil.which(program, path=search_path)


def with_death_signal(argv: Sequence[str]) -> list[str]:
    """`argv` run by util-linux's ``setpriv --pdeathsig TERM``, which sets the death signal and execs it.

    The signal is set by a program rather than a ``preexec_fn``: Python code run between fork and
    exec in a threaded parent can deadlock on a lock another thread held at the fork (a finalizer
    did, once). setpriv execs in place, so the child keeps setpriv's pid, session and group.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ChildError("setpriv (Debian package util-linux) is needed to tie children to their parent")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv]


@dataclass
class Child:
    """A running child process started by `start_child`."""

    name: str
    process: asyncio.subprocess.Process
    _output: asyncio.Task[None] = field(repr=False)

    @property
    def pid(self) -> int:
        """The child's process id (also its process group and session id)."""
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited (negative: killed by that signal), else None."""
        return self.process.returncode

    async def wait(self) -> int:
        """Wait until the child exits and all its output has been logged; return its exit status."""
        code = await self.process.wait()
        await asyncio.wait({self._output}, timeout=2.0)
        return code

    async def stop(self, timeout: float = 5.0) -> int:
        """Stop the child: SIGTERM, up to `timeout` seconds to exit, then SIGKILL its whole group.

        Whatever is left in its process group after the child itself exited is killed too, so a
        child that spawned helpers without supervising them leaves nothing behind. Safe to call
        more than once and on a child that has already exited.
        """
        if self.process.returncode is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                _signal_group(self.pid, signal.SIGKILL)
                await self.process.wait()
        _signal_group(self.pid, signal.SIGKILL)
        await asyncio.wait({self._output}, timeout=2.0)
        if not self._output.done():
            self._output.cancel()
        assert self.process.returncode is not None
        return self.process.returncode


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        # Nothing left in the group (PermissionError: macOS reports a zombie group this way).
        pass


async def _log_output(stream: asyncio.StreamReader, log: logging.Logger, prefix: str) -> None:
    pending = b""
    while True:
        chunk = await stream.read(_MAX_LINE)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            log.info("%s %s", prefix, line.decode(errors="replace").rstrip("\r"))
        if len(pending) >= _MAX_LINE:
            log.info("%s %s", prefix, pending.decode(errors="replace"))
            pending = b""
    if pending:
        log.info("%s %s", prefix, pending.decode(errors="replace").rstrip("\r"))


async def start_child(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    logger: logging.Logger | None = None,
    prefix: str | None = None,
) -> Child:
    """Start `argv` as a supervised child; its output lines go to `logger` prefixed with `prefix`.

    `name` names the child in messages; `prefix` defaults to ``[name]``. `env` replaces the
    environment entirely when given (pass ``{**os.environ, ...}`` to extend it). The death signal
    is tied to the calling thread (a Linux rule), so call this from a thread that lives as long as
    the child should, normally the main thread running the event loop.

    Raises `ChildError` when the program cannot be started (not found, not executable).
    """
    log = logger or logging.getLogger(__name__)
    if _program_path(argv[0], env, cwd) is None:
        raise ChildError(f"cannot start {name} ({argv[0]}): not found or not executable")
    try:
        process = await asyncio.create_subprocess_exec(
            *with_death_signal(argv),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise ChildError(f"cannot start {name} ({argv[0]}): {exc.strerror or exc}") from None
    assert process.stdout is not None
    output = asyncio.create_task(
        _log_output(process.stdout, log, prefix if prefix is not None else f"[{name}]"),
        name=f"output of {name}",
    )
    log.debug("started %s (pid %d): %s", name, process.pid, " ".join(argv))
    return Child(name=name, process=process, _output=output)
