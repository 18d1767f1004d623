"""The Firefox the tests and benchmarks drive never outlives the process that started it."""

from __future__ import annotations

from pathlib import Path

from support.processes import left_after_killing_the_starter

ROOT = Path(__file__).resolve().parents[2]


async def test_firefox_dies_when_the_process_that_started_it_is_killed() -> None:
    # A test run killed mid-way (a timeout, Ctrl-C twice) must not leave a headless Firefox running.
    source = """
        import asyncio
        from benchmarks.firefox import firefox
        async def main():
            async with firefox() as session:
                print(session.browser_pid, flush=True)
                await asyncio.sleep(60)
        asyncio.run(main())
        """
    assert await left_after_killing_the_starter(source, cwd=ROOT, start_timeout=40, gone_timeout=10) == []
