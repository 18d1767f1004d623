"""py-spy over a process under test while a benchmark measures it: where its CPU time goes.

Opt-in (``BENCH_PROFILE_MISSES=1`` / ``--profile-misses``) because sampling costs some CPU on a
machine that has little. The collapsed stacks are kept in the results directory (open them in
speedscope or flamegraph.pl) and the report lists the functions with the most self time.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.context import BenchContext


def _py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def top_functions(collapsed: str, count: int = 12) -> list[dict[str, Any]]:
    """Functions by self time from py-spy's raw (collapsed) output: ``frame;frame;leaf N`` per line."""
    leaves: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        leaves[leaf] += int(samples)
        total += int(samples)
    return [{"function": name, "share": round(n / total, 3)} for name, n in leaves.most_common(count)] if total else []


_OWN_CODE = ("proxy/", "stream_app/", "deploy/", "web_client/")


def own_functions(collapsed: str, count: int = 8) -> list[dict[str, Any]]:
    """Our own functions by inclusive time (a frame anywhere on the stack), biggest first.

    Self time lands in aiohttp, asyncio or a codec; this says which of our code paths led there.
    """
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        total += int(samples)
        names = set()
        for frame in stack.split(";"):
            name, _, where = frame.partition(" (")
            # Entry points (`<module>`, `main`) hold the whole program; they say nothing.
            if where.startswith(_OWN_CODE) and name not in ("<module>", "main"):
                names.add(f"{name} ({where.split(':')[0]})")
        for name in names:
            inclusive[name] += int(samples)
    return (
        [{"function": name, "share": round(n / total, 3)} for name, n in inclusive.most_common(count)] if total else []
    )


async def profile(ctx: BenchContext, pid: int, seconds: float, name: str, process: str, during: str) -> None:
    """Sample `pid` for `seconds` (native frames included) and add the summary to ``ctx.profiles``."""
    binary = _py_spy()
    if binary is None:
        ctx.profiles.append({"process": process, "during": during, "file": None, "error": "py-spy not installed"})
        return
    ctx.config.out_dir.mkdir(parents=True, exist_ok=True)
    out = ctx.config.out_dir / f"profile-{name}.txt"
    argv = [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "100"]
    # Non-blocking: pausing the process for every sample would add latency to what is measured.
    # That rules out native frames; time in C code shows under the Python function that called it.
    argv += ["--format", "raw", "--nonblocking", "--output", str(out)]
    process_ = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(process_.communicate(), timeout=seconds + 30)
    except TimeoutError:
        process_.kill()
        await process_.wait()
        err = b"py-spy did not finish"
    if not out.exists():
        ctx.profiles.append({"process": process, "during": during, "file": None, "error": err.decode()[-300:]})
        return
    collapsed = out.read_text(encoding="utf-8")
    samples = sum(int(n) for n in (line.rpartition(" ")[2] for line in collapsed.splitlines()) if n.isdigit())
    ctx.profiles.append(
        {
            "process": process,
            "during": during,
            "file": out.name,
            "samples": samples,
            "top": top_functions(collapsed),
            "own": own_functions(collapsed),
        }
    )
