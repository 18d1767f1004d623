"""The machine a run happened on and the versions it used, recorded with every result."""

from __future__ import annotations

import ctypes
import glob
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent.parent


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, kernel, and the load when the run began (a shared machine is noisy)."""
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor() or "unknown",
        "memory_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "os": f"{platform.system()} {platform.release()}",
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def _package(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _command_output(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout + done.stderr).strip() or None


def x264_version() -> str | None:
    """libx264's build as PyAV links it, read from the SEI x264 writes into its first keyframe."""
    import av

    try:
        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height, codec.pix_fmt = 64, 64, "yuv420p"
        codec.time_base = Fraction(1, 30)
        frame = av.VideoFrame(64, 64, "yuv420p")
        data = b"".join(bytes(p) for p in codec.encode(frame)) + b"".join(bytes(p) for p in codec.encode(None))
    except (av.FFmpegError, ValueError) as exc:
        return f"unavailable ({exc})"
    found = re.search(rb"x264 - core (\d+)(?: (r\d+ [0-9a-f]+))?", data)
    return f"core {found.group(1).decode()} {(found.group(2) or b'').decode()}".strip() if found else None


def vpx_version() -> str | None:
    """libvpx's version string from the copy bundled with PyAV (or the system's)."""
    import av

    candidates = [
        *sorted(glob.glob(str(Path(av.__file__).parent.parent / "av.libs" / "libvpx*.so*"))),
        "libvpx.so",
        "libvpx.so.7",
    ]
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        lib.vpx_codec_version_str.restype = ctypes.c_char_p
        value = lib.vpx_codec_version_str()
        return value.decode() if isinstance(value, bytes) else None
    return None


def git_commit() -> dict[str, Any]:
    """The commit the code ran at and whether the working tree had changes (results aside)."""
    commit = _command_output(["git", "-C", str(_REPO), "rev-parse", "HEAD"])
    # The committed results are rewritten by every run; they are not a change to the code measured.
    status = _command_output(
        ["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"]
    )
    return {"commit": commit, "dirty": bool(status)}


def versions(chromium: str, nginx: str) -> dict[str, Any]:
    """Every version that shapes the numbers."""
    import av

    chromium_version = _command_output([chromium, "--version"])
    nginx_version = _command_output([nginx, "-v"])
    return {
        "python": platform.python_version(),
        "aiortc": _package("aiortc"),
        "aioice": _package("aioice"),
        "aiohttp": _package("aiohttp"),
        "websockets": _package("websockets"),
        "av": av.__version__,
        "ffmpeg": str(getattr(av, "ffmpeg_version_info", "unknown")),
        "libx264": x264_version(),
        "libvpx": vpx_version(),
        "chromium": chromium_version.splitlines()[0] if chromium_version else None,
        "nginx": nginx_version.removeprefix("nginx version: ") if nginx_version else None,
        "playwright": _package("playwright"),
        "git": git_commit(),
    }
