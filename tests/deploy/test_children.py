"""deploy.children: children never outlive their parent, stop politely, and their output is logged."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time

import psutil
import pytest
from support.processes import left_after_killing_the_starter, recording_logger, wait_until_gone

from deploy.children import ChildError, start_child

PYTHON = sys.executable


def _script(source: str) -> list[str]:
    return [PYTHON, "-c", textwrap.dedent(source)]


async def _wait_for_line(lines: list[str], fragment: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in lines:
            if fragment in line:
                return line
        await asyncio.sleep(0.02)
    raise AssertionError(f"no line with {fragment!r} in {lines}")


async def test_output_lines_are_logged_with_the_prefix() -> None:
    log, recorder = recording_logger("children")
    child = await start_child(
        "talker",
        _script("import sys; print('out line'); print('err line', file=sys.stderr)"),
        logger=log,
        prefix="[talk]",
    )
    assert await child.wait() == 0
    assert sorted(recorder.lines) == ["[talk] err line", "[talk] out line"]


async def test_a_partial_last_line_is_logged_too() -> None:
    log, recorder = recording_logger("children")
    child = await start_child("talker", _script("import sys; sys.stdout.write('no newline')"), logger=log)
    await child.wait()
    assert recorder.lines == ["[talker] no newline"]


async def test_the_child_leads_its_own_session_and_process_group() -> None:
    child = await start_child("sleeper", _script("import time; time.sleep(30)"))
    try:
        assert os.getpgid(child.pid) == child.pid
        assert os.getsid(child.pid) == child.pid
    finally:
        await child.stop()


async def test_stop_sends_sigterm_first() -> None:
    log, recorder = recording_logger("children")
    child = await start_child(
        "polite",
        _script(
            """
            import signal, sys, time
            def bye(*_):
                print('got SIGTERM', flush=True)
                sys.exit(7)
            signal.signal(signal.SIGTERM, bye)
            print('ready', flush=True)
            time.sleep(30)
            """
        ),
        logger=log,
    )
    await _wait_for_line(recorder.lines, "ready")
    assert await child.stop(timeout=5) == 7
    assert "[polite] got SIGTERM" in recorder.lines


async def test_stop_kills_the_whole_group_when_sigterm_is_ignored() -> None:
    log, recorder = recording_logger("children")
    # The grandchild stays in the child's process group and ignores SIGTERM as well.
    child = await start_child(
        "stubborn",
        _script(
            """
            import signal, subprocess, sys, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            ignore_term = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)"
            grandchild = subprocess.Popen([sys.executable, '-c', ignore_term])
            print('grandchild', grandchild.pid, flush=True)
            time.sleep(30)
            """
        ),
        logger=log,
    )
    line = await _wait_for_line(recorder.lines, "grandchild")
    grandchild = psutil.Process(int(line.split()[-1]))
    started = time.monotonic()
    assert await child.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 3
    assert await wait_until_gone([grandchild], timeout=3) == []


async def test_stop_on_an_exited_child_returns_its_status() -> None:
    child = await start_child("quick", _script("raise SystemExit(3)"))
    assert await child.wait() == 3
    assert await child.stop() == 3
    assert await child.stop() == 3


async def test_a_missing_program_raises_child_error_naming_it() -> None:
    with pytest.raises(ChildError, match=r"cannot start ghost \(/nonexistent/ghost\)"):
        await start_child("ghost", ["/nonexistent/ghost"])


async def test_children_die_when_their_parent_is_killed() -> None:
    # A parent process that starts a child through deploy.children, then waits forever.
    source = """
        import asyncio, sys
        from deploy.children import start_child
        async def main():
            child = await start_child('child', [sys.executable, '-c', 'import time; time.sleep(60)'])
            print(child.pid, flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
        """
    assert await left_after_killing_the_starter(source, start_timeout=10, gone_timeout=3) == []
