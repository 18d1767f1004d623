"""nvcf-local's `/metrics` on its control API: instances by state, sessions routed, refusals by reason."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.services import RunningNvcfLocal

from deploy.nvcf_local.metrics import refusal_reason


async def scrape(
    http: aiohttp.ClientSession, running: RunningNvcfLocal
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with http.get(f"{running.base_url}/metrics") as response:  # no API key: a scrape target
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_instances_routed_sessions_and_refusals(nvcf_local: RunningNvcfLocal) -> None:
    fid = nvcf_local.function_id
    async with aiohttp.ClientSession() as http:
        before = await scrape(http, nvcf_local)
        assert before[("nvcf_local_instances", frozenset({("function_id", fid), ("state", "UP")}))] == 1
        assert before[("nvcf_local_instances", frozenset({("function_id", fid), ("state", "STARTING")}))] == 0
        assert before[("nvcf_local_instances_busy", frozenset({("function_id", fid)}))] == 0

        refusals = [
            ({"Authorization": "Bearer wrong", "Function-ID": fid}, 401),
            ({**nvcf_local.auth_headers, "Function-ID": str(uuid.uuid4())}, 404),
            ({**nvcf_local.auth_headers, "NVCF-REQID": str(uuid.uuid4())}, 404),
        ]
        for headers, status in refusals:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(nvcf_local.sign_in_url, headers=headers)
            assert refused.value.status == status
        async with http.get(nvcf_local.sign_in_url.replace("ws://", "http://"), headers=nvcf_local.auth_headers) as r:
            assert r.status == 400  # not a WebSocket upgrade

        ws = await http.ws_connect(
            nvcf_local.sign_in_url, headers=nvcf_local.auth_headers, protocols=["nvcf-stream-v1"]
        )
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "hello"
        during = await scrape(http, nvcf_local)
        await ws.close()
        await nvcf_local.wait_until_idle()
        after = await scrape(http, nvcf_local)

    assert during[("nvcf_local_instances_busy", frozenset({("function_id", fid)}))] == 1
    assert after[("nvcf_local_instances_busy", frozenset({("function_id", fid)}))] == 0
    assert after[("nvcf_local_sessions_routed_total", frozenset({("kind", "new")}))] == 1
    refused = {labels: v for (name, labels), v in after.items() if name == "nvcf_local_sign_ins_refused_total"}
    assert refused == {
        frozenset({("reason", "unauthorized")}): 1,
        frozenset({("reason", "not_found")}): 2,
        frozenset({("reason", "bad_request")}): 1,
    }


def test_refusal_reasons_are_a_fixed_set_named_for_the_status() -> None:
    assert [refusal_reason(s) for s in (400, 401, 404, 409, 502, 503)] == [
        "bad_request",
        "unauthorized",
        "not_found",
        "already_connected",
        "instance_unreachable",
        "no_instance",
    ]
    assert refusal_reason(418) == "http_418"
