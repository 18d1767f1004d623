"""The app example in docs/stream-app.md runs as written and does what it says."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import textwrap
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from support.scripted_client import open_session
from support.stream_app_harness import running_stream_app

from stream_app import stamp
from stream_app.media import frame_from_buffer

DOC = Path(__file__).resolve().parents[1] / "docs" / "stream-app.md"


def _load_example(tmp_path: Path):  # type: ignore[no-untyped-def]
    match = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "docs/stream-app.md has no python example"
    path = tmp_path / "myapp.py"
    path.write_text(match.group(1), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("myapp", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_documented_app_turns_red_on_a_key(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    example = _load_example(tmp_path)
    async with running_stream_app(app_factory=example.make_app) as app:
        session = await open_session(http, app.sign_in_url, input_channels=True)
        try:
            await session.channels_open()
            track = await asyncio.wait_for(asyncio.shield(session.track), 10)
            session.send_input("key", action="down", code="KeyQ", key="q", mods=0, repeat=False)
            deadline = time.monotonic() + 10
            while True:
                frame = (await asyncio.wait_for(track.recv(), 10)).to_ndarray(format="rgb24")
                red, green, blue = (int(v) for v in frame[200:300, 200:300].reshape(-1, 3).mean(axis=0))
                if red > 200 and green < 60 and blue < 60:
                    break
                assert time.monotonic() < deadline, (red, green, blue)
            assert 0 < time.time() * 1000 - stamp.read(frame[:, :, 1]) < 2000
        finally:
            await session.close()


def test_the_documented_read_back_pattern_gives_the_framebuffer_as_a_frame() -> None:
    pytest.importorskip("moderngl", reason="moderngl is in the examples extra")
    from examples.orbit.scene import create_context

    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    snippet = next((b for b in blocks if "frame_from_buffer(" in b), None)
    assert snippet, "docs/stream-app.md shows no read-back pattern"
    namespace = {"np": np, "frame_from_buffer": frame_from_buffer}
    exec("def render(framebuffer, width, height):\n" + textwrap.indent(snippet, "    "), namespace)
    try:
        context = create_context()
    except RuntimeError as exc:
        pytest.skip(f"EGL is unavailable: {exc}")
    try:
        framebuffer = context.simple_framebuffer((64, 48), components=4)
        framebuffer.use()
        context.clear(0.0, 0.0, 1.0, 1.0)
        context.scissor = (0, 0, 64, 8)  # the 8 rows OpenGL stores first (its bottom rows)
        context.clear(1.0, 0.0, 0.0, 1.0)
        frame = namespace["render"](framebuffer, 64, 48)
        assert (frame.width, frame.height, frame.format.name) == (64, 48, "rgba")
        pixels = frame.to_ndarray()
        assert pixels[:8].reshape(-1, 4).tolist() == [[255, 0, 0, 255]] * 8 * 64  # rows as read back
        assert (pixels[8:] == (0, 0, 255, 255)).all()
    finally:
        context.release()
