"""`LOG_FORMAT` in every piece: a bad value stops it with status 2 and a message naming the setting."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("stream_app", (), b"LOG_FORMAT: 'yaml' is not one of text, json"),
        ("stream_app", ("doctor",), b"stream-app doctor: LOG_FORMAT: 'yaml' is not one of text, json"),
        ("proxy", (), b"LOG_FORMAT: 'yaml' is not one of text, json"),
        ("deploy.nvcf_local", ("--turn", "127.0.0.1:3478"), b"LOG_FORMAT: 'yaml' is not one of"),
        ("deploy.nvcf_deploy", ("list",), b"LOG_FORMAT: 'yaml' is not one of text, json"),
    ],
)
async def test_a_bad_log_format_stops_the_piece_with_status_2(
    module: str, args: tuple[str, ...], message: bytes
) -> None:
    env = {
        **os.environ,
        "LOG_FORMAT": "yaml",
        "NVCF_API_KEY": "nvapi-test",
        "PROXY_JWT_SECRET": "x" * 32,
        "STREAMING_FUNCTION_ID": "fn",
        "NVCF_LOCAL_API_KEY": "k",
        "NVCF_LOCAL_TURN_SECRET": "s",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=REPO, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert message in stderr, stderr
