"""The control server NVCF talks to: readiness and credentials."""

import aiohttp
import pytest
from support.stream_app_harness import RunningStreamApp

from stream_app.creds import Creds

GOOD = {"stunIp": "127.0.0.1", "stunPort": 3478, "username": "user", "password": "secret"}


async def test_ready_is_200_when_idle(app: RunningStreamApp, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{app.control_url}/v1/streaming/ready") as response:
        assert response.status == 200


async def test_creds_are_cached(app: RunningStreamApp, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{app.control_url}/v1/streaming/creds", json=GOOD) as response:
        assert response.status == 200
    assert app.state.creds == Creds("127.0.0.1", 3478, "user", "secret")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"", "body is not JSON"),
        (b'"a string"', "body must be a JSON object"),
        (b'{"stunIp": "127.0.0.1", "stunPort": 3478, "username": "u"}', "field 'password' is missing"),
        (
            b'{"stunIp": "127.0.0.1", "stunPort": "3478", "username": "u", "password": "p"}',
            "field 'stunPort' must be an integer",
        ),
        (b"[" * 1100, "body is not JSON: nested too deeply"),
    ],
)
async def test_bad_creds_get_400_with_a_reason_and_change_nothing(
    app: RunningStreamApp, http: aiohttp.ClientSession, body: bytes, reason: str
) -> None:
    async with http.post(f"{app.control_url}/v1/streaming/creds", json=GOOD):
        pass
    async with http.post(
        f"{app.control_url}/v1/streaming/creds", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert reason in (await response.json())["error"]
    assert app.state.creds == Creds("127.0.0.1", 3478, "user", "secret")


async def test_oversized_creds_body_is_refused(app: RunningStreamApp, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{app.control_url}/v1/streaming/creds", data=b"x" * 100_000) as response:
        assert response.status == 413
    assert app.state.creds is None


async def test_unknown_path_is_404(app: RunningStreamApp, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{app.control_url}/v1/streaming/nope") as response:
        assert response.status == 404
