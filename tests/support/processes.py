"""Watching child processes: whether one still runs, waiting for them to end, recording their lines."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil


def alive(process: psutil.Process) -> bool:
    """Whether `process` (the very one, not a reuse of its pid) still runs; zombies count as gone."""
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


async def wait_until_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` seconds for every process to end; return those still alive."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in processes if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.05)


class LineRecorder(logging.Handler):
    """Keeps the messages logged to one logger, so a test can read a child's output lines."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def recording_logger(name: str) -> tuple[logging.Logger, LineRecorder]:
    """A fresh logger that records every line at INFO and above (and still propagates to pytest)."""
    log = logging.getLogger(f"tests.{name}.{uuid.uuid4().hex[:8]}")
    log.setLevel(logging.INFO)
    recorder = LineRecorder()
    log.addHandler(recorder)
    return log, recorder


async def left_after_killing_the_starter(
    source: str, *, cwd: Path | None = None, start_timeout: float, gone_timeout: float
) -> list[psutil.Process]:
    """Run the Python `source`, which starts a process and prints its pid; once that process runs,
    SIGKILL the starter and return what of the started process is still alive `gone_timeout` s later."""
    starter = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(source)], stdout=subprocess.PIPE, text=True, cwd=cwd
    )
    try:
        assert starter.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(starter.stdout.readline), start_timeout)
        started = psutil.Process(int(line))
        assert alive(started), "the started process was gone before its starter was killed"
        starter.kill()
        starter.wait()
        return await wait_until_gone([started], timeout=gone_timeout)
    finally:
        starter.kill()
        starter.wait()
