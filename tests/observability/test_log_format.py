"""`observability`: the line formats, the context every line carries, and what redaction cuts out."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from observability import (
    configure_logging,
    log_context,
    redact,
    set_log_context,
)


@pytest.fixture
def restore_root() -> Iterator[None]:
    """configure_logging changes the root logger: put it back as pytest left it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def configured(fmt: str, piece: str = "proxy", secrets: tuple[str, ...] = ()) -> io.StringIO:
    out = io.StringIO()
    configure_logging(piece, "DEBUG", fmt, stream=out, secrets=secrets)
    return out


def json_lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_root")
def test_json_lines_carry_the_piece_the_context_and_extra_fields() -> None:
    out = configured("json", piece="stream-app")
    log = logging.getLogger("stream_app.session")
    log.info("outside any session")
    with log_context(session_id="s-1", function_id="f-1", instance_id="i-1"):
        log.warning("answered the offer in %d ms", 12, extra={"peer": "127.0.0.1", "attempt": 2})
    first, second = json_lines(out)
    assert first["piece"] == "stream-app" and "session_id" not in first
    assert second == {
        "time": second["time"],
        "level": "WARNING",
        "logger": "stream_app.session",
        "piece": "stream-app",
        "message": "answered the offer in 12 ms",
        "session_id": "s-1",
        "function_id": "f-1",
        "instance_id": "i-1",
        "peer": "127.0.0.1",
        "attempt": 2,
    }
    assert str(second["time"]).endswith("Z") and "T" in str(second["time"])


@pytest.mark.usefixtures("restore_root")
def test_text_lines_name_the_piece_and_end_with_the_context() -> None:
    out = configured("text", piece="nvcf-local")
    with log_context(session_id="s-2"):
        logging.getLogger("deploy.nvcf_local.relay").info("routed")
    [line] = out.getvalue().splitlines()
    assert " INFO nvcf-local deploy.nvcf_local.relay: routed [session_id=s-2]" in line


@pytest.mark.usefixtures("restore_root")
async def test_tasks_started_inside_a_context_inherit_it_and_it_ends_with_the_block() -> None:
    out = configured("json")
    log = logging.getLogger("proxy.session")

    async def later() -> None:
        await asyncio.sleep(0)
        log.info("from a task")

    with log_context(session_id="abc"):
        task = asyncio.create_task(later())
    log.info("after the block")
    await task
    lines = {str(o["message"]): o.get("session_id") for o in json_lines(out)}
    assert lines == {"from a task": "abc", "after the block": None}


@pytest.mark.usefixtures("restore_root")
def test_set_log_context_adds_to_what_is_there() -> None:
    out = configured("json")
    with log_context(function_id="f"):
        token = set_log_context(instance_id="i")
        logging.getLogger("x").info("both")
        del token
    [line] = json_lines(out)
    assert (line["function_id"], line["instance_id"]) == ("f", "i")


@pytest.mark.usefixtures("restore_root")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_traceback_carries_no_secret_in_either_format(fmt: str) -> None:
    known = "plain-looking-api-key-42"
    out = configured(fmt, secrets=(known,))
    try:
        raise RuntimeError(f"upstream refused Authorization: Bearer abcdefghij with key {known}")
    except RuntimeError:
        logging.getLogger("proxy").exception("the upstream failed, key %s", known)
    text = out.getvalue()
    assert "abcdefghij" not in text and known not in text
    assert "RuntimeError: upstream refused Authorization: <redacted>" in text.replace("\\n", "\n")


@pytest.mark.usefixtures("restore_root")
def test_calling_again_replaces_the_handler() -> None:
    first = configured("text")
    second = configured("json")
    logging.getLogger("x").info("once")
    assert first.getvalue() == ""
    assert [o["message"] for o in json_lines(second)] == ["once"]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /sign_in?token=abc.def.ghi&x=1", "abc.def.ghi"),
        ("Sec-WebSocket-Protocol: nvcf-stream-v1, authorization.s3cr3t-key, function-id.f", "s3cr3t-key"),
        ("protocols ['token.eyJhbGciOi.eyJzdWIi.c2ln']", "eyJhbGciOi.eyJzdWIi.c2ln"),
        ("headers {'Authorization': 'Bearer opaque-123456'}", "opaque-123456"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ('{"stunIp": "1.2.3.4", "username": "u", "password": "turn pass"}', "turn pass"),
        ("iceServers credential='hunter2' urls=turn:x", "hunter2"),
        ("NVCF_API_KEY=nvapi-AbCdEf0123456789", "nvapi-AbCdEf0123456789"),
        ("key nvapi-AbCdEf0123456789xyz in a sentence", "AbCdEf0123456789xyz"),
        ("redis://u:pw@h/0?api_key=zzz111", "zzz111"),
        ("PROXY_JWT_SECRET=abcdef", "abcdef"),
    ],
)
def test_redact_cuts_out_each_kind_of_secret(text: str, secret: str) -> None:
    cut = redact(text)
    assert secret not in cut and "<redacted>" in cut


def test_redact_leaves_ordinary_lines_alone() -> None:
    for text in (
        "session 1a2b: token refused: expired",
        "max_tokens: 5, tokens.py line 3",
        "function-id.f1 nvcf-stream-v1",
        "sign-in from 127.0.0.1 refused: 401 API key invalid",
    ):
        assert redact(text) == text


def test_known_secrets_are_cut_out_unless_too_short_to_tell_from_words() -> None:
    assert redact("value my-long-secret, again my-long-secret", known=("my-long-secret",)) == (
        "value <redacted>, again <redacted>"
    )
    assert redact("a b c", known=("b",)) == "a b c"


def test_configure_logging_refuses_a_format_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="log format 'yaml' is not one of text, json"):
        configure_logging("test", fmt="yaml")
