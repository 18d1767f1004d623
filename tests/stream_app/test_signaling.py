"""The signaling protocol's pure parser and serializer (docs/protocol.md section 3)."""

import json

import pytest

from stream_app import signaling


def test_parses_an_offer() -> None:
    assert signaling.parse_client_message('{"v":1,"type":"offer","sdp":"v=0"}') == signaling.Offer("v=0")


def test_parses_a_trickled_candidate() -> None:
    text = json.dumps(
        {
            "v": 1,
            "type": "candidate",
            "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 5 typ host", "sdpMid": "0", "sdpMLineIndex": 0},
        }
    )
    assert signaling.parse_client_message(text) == signaling.IceCandidate(
        "candidate:1 1 udp 1 127.0.0.1 5 typ host", "0", 0
    )


def test_null_candidate_is_end_of_candidates() -> None:
    assert signaling.parse_client_message('{"v":1,"type":"candidate","candidate":null}') == signaling.EndOfCandidates()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "bad-json"),
        ("[1]", "bad-message"),
        ('{"type":"offer","sdp":""}', "bad-message"),
        ('{"v":"1","type":"offer","sdp":""}', "bad-message"),
        ('{"v":2,"type":"offer","sdp":""}', "unsupported-version"),
        ('{"v":1,"type":"dance"}', "unknown-type"),
        ('{"v":1}', "bad-message"),
        ('{"v":1,"type":"offer"}', "bad-message"),
        ('{"v":1,"type":"offer","sdp":5}', "bad-message"),
        ('{"v":1,"type":"candidate"}', "bad-message"),
        ('{"v":1,"type":"candidate","candidate":"x"}', "bad-message"),
        ('{"v":1,"type":"candidate","candidate":{"sdpMid":"0"}}', "bad-message"),
        ('{"v":1,"type":"candidate","candidate":{"candidate":"c","sdpMLineIndex":-1}}', "bad-message"),
        ('{"v":1,"type":"candidate","candidate":{"candidate":"c","sdpMLineIndex":true}}', "bad-message"),
        ('{"v":1,"type":"offer","sdp":"' + "x" * 70_000 + '"}', "too-large"),
        ("[" * 1100, "bad-json"),  # json.loads raises RecursionError, not ValueError.
        ('{"v":1,"type":"offer","sdp":' + "[" * 1100 + "]" * 1100 + "}", "bad-json"),
    ],
)
def test_bad_messages_are_refused_with_their_code(text: str, code: str) -> None:
    with pytest.raises(signaling.SignalingError) as info:
        signaling.parse_client_message(text)
    assert info.value.code == code and info.value.reason


def test_serializes_hello_with_version_and_ice_servers() -> None:
    text = signaling.serialize(signaling.Hello("abc", [{"urls": ["stun:127.0.0.1:3478"]}]))
    assert json.loads(text) == {
        "v": 1,
        "type": "hello",
        "sessionId": "abc",
        "iceServers": [{"urls": ["stun:127.0.0.1:3478"]}],
        "resumed": False,
        "iceTransportPolicy": "all",
    }


def test_serializes_a_resumed_relay_only_hello() -> None:
    text = signaling.serialize(signaling.Hello("abc", [], resumed=True, ice_transport_policy="relay"))
    assert json.loads(text)["resumed"] is True and json.loads(text)["iceTransportPolicy"] == "relay"


def test_parses_bye() -> None:
    assert signaling.parse_client_message('{"v":1,"type":"bye"}') == signaling.Bye()


def test_serializes_answer_and_error() -> None:
    assert json.loads(signaling.serialize(signaling.Answer("v=0"))) == {"v": 1, "type": "answer", "sdp": "v=0"}
    assert json.loads(signaling.serialize(signaling.Error("bad-json", "why"))) == {
        "v": 1,
        "type": "error",
        "code": "bad-json",
        "reason": "why",
    }


def test_serializes_a_media_report_with_camel_case_fields() -> None:
    report = signaling.MediaReport(
        codec="H264", width=960, height=540, fps=59.5, max_fps=60.0, target_kbps=1800, estimate_kbps=1900,
        pacing_kbps=4750, acknowledged_kbps=1700, limited_by="delay", delay_state="normal", loss_percent=0.5,
        rtt_ms=41.0, pacer_queue_ms=2.5, frames_skipped=3, retransmissions=12, keyframes=2, transport_cc=True,
    )  # fmt: skip
    message = json.loads(signaling.serialize(report))
    assert message["v"] == 1 and message["type"] == "media"
    assert message["estimateKbps"] == 1900 and message["limitedBy"] == "delay" and message["pacerQueueMs"] == 2.5
    assert message["maxFps"] == 60.0 and message["transportCc"] is True and message["framesSkipped"] == 3
    assert len(message) == 2 + len(vars(report))
