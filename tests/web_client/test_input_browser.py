"""Keyboard and mouse events from a real Chromium page reach the app's `on_input` handler.

The page is written here (the web client lives in `web_client/`): it signs in, opens the two input
data channels of docs/protocol.md section 5, plays the video and sends DOM key and mouse events.
"""

from __future__ import annotations

import time

import pytest
from support.browser import chromium
from support.recording_app import RecordingApp
from support.stream_app_harness import running_stream_app

from stream_app import input_protocol as ip
from stream_app.config import StreamAppConfig

PAGE = """<!doctype html>
<html><body style="margin:0;background:#000">
<video id="v" autoplay muted playsinline style="position:absolute;left:0;top:0;width:800px;height:450px"></video>
<script>
const seq = {"input": 0, "input-motion": 0};
const mods = (e) => (e.shiftKey ? 1 : 0) | (e.ctrlKey ? 2 : 0) | (e.altKey ? 4 : 0) | (e.metaKey ? 8 : 0);
window.start = (url) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url, ["nvcf-stream-v1"]);
  let pc, channels;
  const send = (label, msg) => {
    const ch = channels[label];
    const t = performance.timeOrigin + performance.now();
    if (ch.readyState === "open") ch.send(JSON.stringify({v: 1, seq: seq[label]++, t, ...msg}));
  };
  ws.onmessage = async (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "hello") {
      pc = new RTCPeerConnection({iceServers: msg.iceServers});
      channels = {
        "input": pc.createDataChannel("input"),
        "input-motion": pc.createDataChannel("input-motion", {ordered: false, maxRetransmits: 0}),
      };
      channels["input"].onopen = () => resolve("open");
      pc.addTransceiver("video", {direction: "recvonly"});
      pc.ontrack = (e) => { document.getElementById("v").srcObject = new MediaStream([e.track]); };
      pc.onicecandidate = (e) => ws.send(JSON.stringify(
        {v: 1, type: "candidate", candidate: e.candidate ? e.candidate.toJSON() : null}));
      await pc.setLocalDescription(await pc.createOffer());
      ws.send(JSON.stringify({v: 1, type: "offer", sdp: pc.localDescription.sdp}));
    } else if (msg.type === "answer") {
      await pc.setRemoteDescription({type: "answer", sdp: msg.sdp});
    } else if (msg.type === "error") {
      reject(new Error(msg.code + ": " + msg.reason));
    }
  };
  ws.onclose = (e) => reject(new Error("closed " + e.code + " " + e.reason));
  const video = document.getElementById("v");
  const where = (e) => {
    const r = video.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return {x: clamp((e.clientX - r.left) / r.width), y: clamp((e.clientY - r.top) / r.height)};
  };
  for (const action of ["down", "up"]) {
    document.addEventListener("key" + action, (e) => {
      send("input", {type: "key", action, code: e.code, key: e.key, mods: mods(e), repeat: e.repeat});
    });
    video.addEventListener("mouse" + action, (e) => {
      send("input", {type: "mouse_button", action, button: e.button, ...where(e), mods: mods(e)});
    });
  }
  video.addEventListener("mousemove", (e) => {
    send("input-motion", {type: "mouse_move", ...where(e), buttons: e.buttons});
  });
});
</script></body></html>
"""


@pytest.mark.browser
async def test_keyboard_and_mouse_from_chromium_reach_the_app() -> None:
    apps: list[RecordingApp] = []

    def factory(config: StreamAppConfig) -> RecordingApp:
        apps.append(RecordingApp(config))
        return apps[-1]

    async with running_stream_app(app_factory=factory) as app, chromium() as browser:
        recorder = apps[0]
        page = await browser.new_page()
        await page.set_content(PAGE)
        assert await page.evaluate("url => start(url)", app.sign_in_url) == "open"
        await page.wait_for_function("document.getElementById('v').videoWidth > 0", timeout=15000)
        await page.keyboard.press("KeyA")
        await page.mouse.click(200, 225)  # a quarter across, half down the 800x450 video
        await recorder.wait_for("input", 4)
        await page.close()
    keys = [e for e in recorder.inputs() if isinstance(e, ip.KeyEvent)]
    buttons = [e for e in recorder.inputs() if isinstance(e, ip.MouseButton)]
    assert [(k.action, k.code, k.key) for k in keys] == [("down", "KeyA", "a"), ("up", "KeyA", "a")]
    assert [(b.action, b.button) for b in buttons] == [("down", 0), ("up", 0)]
    assert abs(buttons[0].x - 0.25) < 0.02 and abs(buttons[0].y - 0.5) < 0.02
    assert abs(keys[0].t - time.time() * 1000) < 60_000  # the page's clock, in ms since the epoch
