"""The Firefox the tests and benchmarks drive never outlives the process that started it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
from support.processes import alive, wait_until_gone

ROOT = Path(__file__).resolve().parents[2]


async def test_firefox_dies_when_the_process_that_started_it_is_killed() -> None:
    # A test run killed mid-way (a timeout, Ctrl-C twice) must not leave a headless Firefox running.
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import asyncio
                from benchmarks.firefox import firefox
                async def main():
                    async with firefox() as session:
                        print(session.browser_pid, flush=True)
                        await asyncio.sleep(60)
                asyncio.run(main())
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert starter.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(starter.stdout.readline), 40)
        browser = psutil.Process(int(line))
        assert alive(browser)
        starter.kill()
        starter.wait()
        assert await wait_until_gone([browser], timeout=10) == []
    finally:
        starter.kill()
        starter.wait()
