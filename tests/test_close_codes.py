"""Wire constants held against docs/protocol.md: each piece's close-code enum, the web client's
(parsed from close-codes.js), and the application subprotocol, defined once per piece."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploy.nvcf_local.closecodes import CloseCode as RelayCloseCode
from proxy.closecodes import CloseCode as ProxyCloseCode
from proxy.subprotocols import APP_PROTOCOL
from stream_app.closecodes import CloseCode as AppCloseCode
from stream_app.streaming import SUBPROTOCOL as APP_SUBPROTOCOL

REPO = Path(__file__).resolve().parents[1]
PROTOCOL = (REPO / "docs" / "protocol.md").read_text()
CLOSE_CODES_JS = (REPO / "web_client" / "close-codes.js").read_text()


def section(number: int) -> str:
    """The text of `## <number>.` in docs/protocol.md, up to the next section."""
    match = re.search(rf"^## {number}\. .*?(?=^## |\Z)", PROTOCOL, re.MULTILINE | re.DOTALL)
    assert match is not None, f"docs/protocol.md has no section {number}"
    return match.group(0)


def table_codes(text: str) -> list[set[int]]:
    """The close codes in the first column of each table of `text`, one set per table."""
    tables: list[set[int]] = []
    previous_was_row = False
    for line in text.splitlines():
        row = line.strip().startswith("|")
        if row and not previous_was_row:
            tables.append(set())
        code = re.match(r"\s*\|\s*(\d{4})\s*\|", line)
        if code is not None:
            tables[-1].add(int(code.group(1)))
        previous_was_row = row
    return [codes for codes in tables if codes]


def mentioned(code: int, text: str) -> bool:
    return re.search(rf"(?<![\d.]){code}(?![\d.])", text) is not None


def js_close_codes() -> dict[str, int]:
    """`CloseCode` of web_client/close-codes.js: `export const CloseCode = Object.freeze({...})`."""
    match = re.search(r"export const CloseCode = Object\.freeze\(\{(.*?)\}\);", CLOSE_CODES_JS, re.DOTALL)
    assert match is not None, "close-codes.js must export CloseCode as a frozen object literal"
    entries = re.findall(r"^\s*([A-Z_]+):\s*(\d+),?\s*$", match.group(1), re.MULTILINE)
    assert len(entries) == match.group(1).count(":"), "every CloseCode entry must be NAME: number"
    return {name: int(value) for name, value in entries}


def test_the_proxys_table_lists_exactly_the_codes_it_refuses_or_ends_sessions_with() -> None:
    proxy_sent, from_the_page = table_codes(section(1))
    ours = {code.value for code in ProxyCloseCode}
    assert proxy_sent <= ours, "a code in the proxy's table has no CloseCode member"
    assert {c for c in ours if c >= 4000 and c != ProxyCloseCode.PAGE_HIDDEN} <= proxy_sent
    assert ProxyCloseCode.PAGE_HIDDEN in from_the_page


@pytest.mark.parametrize("code", list(ProxyCloseCode), ids=lambda c: c.name)
def test_every_proxy_close_code_is_documented(code: ProxyCloseCode) -> None:
    assert mentioned(code.value, section(1)), f"{code!r} is not in docs/protocol.md section 1"


@pytest.mark.parametrize("code", list(RelayCloseCode), ids=lambda c: c.name)
def test_every_relay_close_code_is_documented(code: RelayCloseCode) -> None:
    assert mentioned(code.value, section(2)), f"{code!r} is not in docs/protocol.md section 2"


def test_the_stream_apps_table_lists_exactly_its_close_codes() -> None:
    tables = [codes for codes in table_codes(section(6)) if codes & {1000, 1011, 1013}]
    assert tables == [{code.value for code in AppCloseCode}]


def test_every_web_client_close_code_is_documented_and_page_codes_are_in_the_pages_table() -> None:
    codes = js_close_codes()
    documented = section(1) + section(3) + section(6)
    assert [name for name, value in codes.items() if not mentioned(value, documented)] == []
    _, from_the_page = table_codes(section(1))
    assert {value for value in codes.values() if 4000 <= value < 4100} == from_the_page == {4000, 4001}


def test_the_web_client_names_every_code_the_proxy_and_stream_app_send() -> None:
    known = set(js_close_codes().values())
    never_sent = {ProxyCloseCode.NO_STATUS}
    assert {c.value for c in ProxyCloseCode} - never_sent - known == set()
    assert {c.value for c in AppCloseCode} - known == set()
    assert {c.value for c in RelayCloseCode} - known == set()
    assert len(known) == len(js_close_codes()), "two names for one code"


def test_one_subprotocol_name_everywhere() -> None:
    (documented,) = re.findall(r"^\| `([a-z0-9-]+)` \| the application protocol", section(1), re.MULTILINE)
    js = re.findall(
        r"^export const SUBPROTOCOL = '([^']+)';$",
        (REPO / "web_client" / "signaling.js").read_text(),
        re.MULTILINE,
    )
    assert APP_PROTOCOL == APP_SUBPROTOCOL == documented
    assert js == [documented]


@pytest.mark.parametrize(
    ("piece", "suffix", "home"),
    [
        ("proxy", ".py", "proxy/subprotocols.py"),
        ("stream_app", ".py", "stream_app/streaming.py"),
        ("web_client", ".js", "web_client/signaling.js"),
    ],
)
def test_each_piece_spells_the_subprotocol_once(piece: str, suffix: str, home: str) -> None:
    spelled = [
        path.relative_to(REPO).as_posix()
        for path in sorted((REPO / piece).rglob(f"*{suffix}"))
        for _ in re.finditer(re.escape(f"{APP_PROTOCOL}") + r"['\"]", path.read_text())
    ]
    assert spelled == [home]


BARE_CLOSE = re.compile(r"(?:\.close\(\s*(?:code\s*=\s*)?|close_code\s*[!=]=\s*|code\s*[!=]==?\s*)(\d{4})\b")


@pytest.mark.parametrize("piece", ["proxy", "stream_app", "deploy/nvcf_local", "web_client"])
def test_no_close_code_is_written_as_a_bare_number(piece: str) -> None:
    found = [
        f"{path.relative_to(REPO)}: {match.group(0)}"
        for path in sorted((REPO / piece).rglob("*"))
        if path.suffix in {".py", ".js"}
        for match in BARE_CLOSE.finditer(path.read_text())
    ]
    assert found == []
