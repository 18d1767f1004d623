"""The app example in docs/stream-app.md runs as written and does what it says."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import time
from pathlib import Path

import aiohttp
from support.scripted_client import open_session
from support.stream_app_harness import running_stream_app

from stream_app import stamp

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
