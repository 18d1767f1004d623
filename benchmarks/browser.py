"""Chromium driven by Playwright: open the web client, wait for its first frame, read the stamps.

`benchmarks/js/instrument.js` is installed before the page's own scripts; it records the session's
milestones in ``window.__bench.marks`` (``performance.now()`` ms) without changing what the page does.
Before it goes `web_client/clock.js` as ``window.__benchClock``: every page, ours or a baseline's,
turns its timestamps into system-clock time the way the web client does (``performance.timeOrigin``
alone drifts from the clock the servers stamp frames and input with).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

from benchmarks import chromium as chromium_flags
from web_client import STATIC_DIR

INSTRUMENT = Path(__file__).resolve().parent / "js" / "instrument.js"


def codec_fragment(codec: str) -> dict[str, str]:
    """URL-fragment items that make the page offer `codec` first: the web client's own `codec`
    option (docs/web-client.md "Video codec"), and the bench instrument's, which the web client's
    `setCodecPreferences` call would otherwise override."""
    return {"bench_codec": codec, "codec": codec}


def init_script() -> str:
    """clock.js as a classic script (its exports on ``window.__benchClock``), then instrument.js."""
    clock = (STATIC_DIR / "clock.js").read_text().replace("export function", "function")
    return (
        f"window.__benchClock = (() => {{\n{clock}\nreturn {{ epochTime, measureOffset }};\n}})();\n"
        + INSTRUMENT.read_text()
    )


# Loopback ICE, no traffic beyond this machine, no throttling of a headless tab.
CHROMIUM_ARGS = [*chromium_flags.LOCAL_ARGS, *chromium_flags.UNTHROTTLED_ARGS]

# Page phases of a session, in order: (mark, phase name, what the phase spans).
PHASES: tuple[tuple[str, str, str], ...] = (
    (
        "ws_open",
        "token check + upstream connect",
        "new WebSocket() to its open event: the proxy checks the token, "
        "opens its upstream (nvcf-local, then the stream app's sign-in) and only then completes the "
        "browser's handshake",
    ),
    ("hello", "session start", "WebSocket open to the stream app's hello message (session set-up in the app)"),
    (
        "offer_sent",
        "offer (page)",
        "hello to the offer sent: the page creates its peer connection and offer (its own ICE gathering "
        "continues and trickles)",
    ),
    (
        "answer",
        "answer (app)",
        "offer sent to the answer: the offer crosses proxy and relay, the app applies it, gathers its ICE "
        "candidates (aiortc answers only once gathering is complete, TURN allocation included) and answers",
    ),
    ("ice_connected", "ICE", "answer to iceConnectionState connected: connectivity checks"),
    ("connected", "DTLS", "ICE connected to connectionState connected: the DTLS handshake (SRTP keys)"),
    (
        "first_frame",
        "first keyframe",
        "connected to the first requestVideoFrameCallback: the first keyframe is encoded, sent, decoded and presented",
    ),
)

MEASURE = """async (args) => {
  // args: the seconds to measure, or [seconds, sampleMs, width] to also keep each frame's display
  // time and a getStats sample every sampleMs (the network benchmark's time series), and to read
  // stamps of frames the sender scaled down from `width` (the stamp shrinks with the picture).
  const [seconds, sampleMs, nominalWidth] = Array.isArray(args) ? args : [args, 0, 0];
  const { StampReader, CELL, BITS, STAMP_WIDTH } = await import('/stamp.js');
  const video = document.querySelector('video');
  const canvasReader = new StampReader(video);
  // The stamp read straight from the decoded frame's luma plane (WebCodecs VideoFrame.copyTo of the
  // top rows only): StampReader's drawImage converts the whole frame on the page's main thread,
  // ~4.5 ms a frame at 720p on this machine and far more under load, enough to cost presented frames.
  // Same sampling as stamp.js: the middle half of each cell (8x8 pixels unscaled), threshold at half scale.
  const decodeLuma = (plane, offset, stride, cell) => {
    const from = Math.floor(cell / 4), to = Math.max(from + 1, Math.floor((cell * 3) / 4));
    let value = 0;
    for (let bit = 0; bit < BITS; bit++) {
      let sum = 0;
      const left = Math.floor(bit * cell);
      for (let y = from; y < to; y++) {
        const row = offset + y * stride + left;
        for (let x = from; x < to; x++) sum += plane[row + x];
      }
      if (sum / ((to - from) * (to - from)) >= 128) value += 2 ** bit;
    }
    return value;
  };
  const scaleOf = (frame) => (nominalWidth > 0 ? Math.min(1, frame.displayWidth / nominalWidth) : 1);
  const plausible = (stamp) => Math.abs(Date.now() - stamp) < 86_400_000;
  const readFrame = async (frame) => {
    const cell = CELL * scaleOf(frame);
    if (cell < 4) return null;  // a stamp this small does not survive scaling and compression
    const rect = { x: 0, y: 0, width: Math.min(frame.codedWidth, Math.ceil((STAMP_WIDTH * cell) / CELL / 2) * 2),
                   height: Math.min(frame.codedHeight, Math.ceil(cell / 2) * 2) };
    const buffer = new Uint8Array(frame.allocationSize({ rect }));
    const layout = await frame.copyTo(buffer, { rect });
    const stamp = decodeLuma(buffer, layout[0].offset, layout[0].stride, cell);
    return plausible(stamp) ? stamp : null;
  };
  const grab = () => {
    if (typeof VideoFrame === 'undefined') return null;
    try {
      const frame = new VideoFrame(video);
      if (['I420', 'I420A', 'NV12'].includes(frame.format)) return frame;
      frame.close();
    } catch {
      // No frame to wrap: fall back to the canvas.
    }
    return null;
  };
  // Cross-check on a few frames: both readers on the same presented frame must agree.
  const check = { frames: 0, agree: 0, reader: 'canvas' };
  for (let i = 0; i < 5; i++) {
    // Bounded: a frozen stream (a congested link) must not hold the measurement up.
    let late = false;
    const frame = await new Promise((resolve) => {
      video.requestVideoFrameCallback(() => {
        const grabbed = grab();
        if (late && grabbed !== null) grabbed.close();
        else resolve(grabbed);
      });
      setTimeout(() => { late = true; resolve(undefined); }, 2000);
    });
    if (frame === undefined || frame === null) break;
    const viaCanvas = canvasReader.readImage(frame, frame.displayWidth);
    const viaFrame = await readFrame(frame);
    const scaled = scaleOf(frame) < 1;
    frame.close();
    check.frames += 1;
    // The canvas reader knows only the unscaled stamp: a scaled frame is checked for plausibility only.
    if (viaFrame !== null && (viaFrame === viaCanvas || scaled)) check.agree += 1;
  }
  const fast = check.frames > 0 && check.agree === check.frames;
  check.reader = fast ? 'videoframe' : 'canvas';
  const pc = window.__bench.pc;
  const snapshot = async () => {
    const stats = await pc.getStats();
    let inbound = null, pair = null;
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') inbound = r;
      if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
    });
    return {
      framesDecoded: inbound ? inbound.framesDecoded || 0 : 0,
      framesReceived: inbound ? inbound.framesReceived || 0 : 0,
      framesDropped: inbound ? inbound.framesDropped || 0 : 0,
      bytesReceived: inbound ? inbound.bytesReceived || 0 : 0,
      jitterBufferDelay: inbound ? inbound.jitterBufferDelay || 0 : 0,
      jitterBufferEmittedCount: inbound ? inbound.jitterBufferEmittedCount || 0 : 0,
      totalDecodeTime: inbound ? inbound.totalDecodeTime || 0 : 0,
      freezeCount: inbound ? inbound.freezeCount || 0 : 0,
      totalFreezesDuration: inbound ? inbound.totalFreezesDuration || 0 : 0,
      nackCount: inbound ? inbound.nackCount || 0 : 0,
      pliCount: inbound ? inbound.pliCount || 0 : 0,
      packetsLost: inbound ? inbound.packetsLost || 0 : 0,
      codec: inbound && inbound.codecId ? stats.get(inbound.codecId).mimeType : null,
      width: inbound ? inbound.frameWidth : null,
      height: inbound ? inbound.frameHeight : null,
      local: pair ? stats.get(pair.localCandidateId).candidateType : null,
      remote: pair ? stats.get(pair.remoteCandidateId).candidateType : null,
    };
  };
  const before = await snapshot();
  const latencies = [];
  const handedOver = [];  // presentationTime - stamp: when the frame reached the compositor
  const displayed = [];  // with sampleMs: each latency's expectedDisplayTime (system clock, ms)
  const samples = [];  // with sampleMs: [system clock ms, bytesReceived, framesDecoded, width, height]
  let sampler = null;
  if (sampleMs > 0) {
    sampler = setInterval(async () => {
      const s = await snapshot();
      const at = window.__benchClock.epochTime(performance.now());
      samples.push([at, s.bytesReceived, s.framesDecoded, s.width, s.height]);
    }, sampleMs);
  }
  const pending = [];
  let callbacks = 0, unreadable = 0, superseded = 0, firstPresented = null, lastPresented = null, readMs = 0;
  const record = (display, presentation, stamp) => {
    if (stamp !== null) {
      latencies.push(display - stamp);
      if (sampleMs > 0) displayed.push(display);
      handedOver.push(presentation - stamp);
    }
    else unreadable += 1;
  };
  const start = performance.now();
  await new Promise((resolve) => {
    const onFrame = (now, meta) => {
      callbacks += 1;
      if (firstPresented === null) firstPresented = meta.presentedFrames;
      lastPresented = meta.presentedFrames;
      const display = window.__benchClock.epochTime(meta.expectedDisplayTime);
      const presentation = window.__benchClock.epochTime(meta.presentationTime);
      const readStart = performance.now();
      const frame = fast ? grab() : null;
      // The element may already show a newer frame than the one this callback is for; its stamp
      // would be a frame interval too new for this expectedDisplayTime, so it is not counted.
      if (frame !== null && Math.abs(frame.timestamp - meta.mediaTime * 1e6) >= 1) {
        superseded += 1;
        frame.close();
      } else if (frame !== null) {
        pending.push(readFrame(frame).then((stamp) => record(display, presentation, stamp),
          () => record(display, presentation, null))
          .finally(() => frame.close()));
      } else {
        record(display, presentation, canvasReader.readPresented(meta));  // null also when superseded
      }
      readMs += performance.now() - readStart;
      if (performance.now() - start >= seconds * 1000) resolve();
      else video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    setTimeout(resolve, seconds * 1000 + 5000);  // bounded even when frames stop coming
  });
  const elapsed = (performance.now() - start) / 1000;
  if (sampler !== null) clearInterval(sampler);
  await Promise.all(pending);
  const after = await snapshot();
  return { elapsed, latencies, handedOver, callbacks, unreadable, superseded,
           presented: (lastPresented ?? 0) - (firstPresented ?? 0),
           readMs, check, before, after,
           ...(sampleMs > 0 ? { displayed, samples, startedAt: window.__benchClock.epochTime(start),
                                endedAt: window.__benchClock.epochTime(start + elapsed * 1000) } : {}) };
}"""
"""The measuring function `measure_stream` runs in the page (a JavaScript function of `args`); the
Firefox driver (benchmarks/firefox_session.py) runs the same one."""


@asynccontextmanager
async def chromium(executable: str, extra_args: Sequence[str] = ()) -> AsyncIterator[Browser]:
    """A headless Chromium for the run (`extra_args` after the usual flags)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=[*CHROMIUM_ARGS, *extra_args], headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def open_session(browser: Browser, url: str, timeout_s: float = 20.0) -> Page:
    """Open the page at `url` and wait for its first presented frame; raise TimeoutError otherwise."""
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    await page.add_init_script(script=init_script())
    try:
        await page.goto(url)
        await page.wait_for_function(
            "() => window.__bench && 'first_frame' in window.__bench.marks", timeout=timeout_s * 1000
        )
    except Exception as exc:
        state = await _state(page)
        await page.close()
        raise TimeoutError(f"no frame within {timeout_s:g} s ({state})") from exc
    return page


async def close_session(page: Page) -> None:
    """End the page's streaming session for good (`bye`, close 1000) and close the page.

    Closing the page alone now leaves the session held for a reload (the proxy's reload grace,
    then the stream app's resume window), and the next session would wait for the instance.
    """
    try:
        await page.evaluate("() => window.streamSession?.end()")
    except Exception:  # a page that already broke down: closing it is all that is left
        pass
    await page.close()


async def _state(page: Page) -> str:
    try:
        info = await page.evaluate(
            "() => JSON.stringify({marks: window.__bench && window.__bench.marks, close: window.__bench && "
            "window.__bench.closeCode, reason: window.__bench && window.__bench.closeReason, "
            "status: document.getElementById('status') && document.getElementById('status').textContent})"
        )
        return str(info)
    except Exception as exc:  # the page may be gone; this is only for the message
        return f"page state unavailable: {exc}"


async def marks(page: Page) -> dict[str, float]:
    """The session's milestones so far (ms, the page's performance.now())."""
    return dict(await page.evaluate("() => window.__bench.marks"))


async def measure_stream(page: Page, seconds: float, sample_ms: int = 0, width: int = 0) -> dict[str, Any]:
    """Per presented frame for `seconds`: display time minus the stamp's capture time, plus getStats deltas.

    With `sample_ms`, also each latency's display time (``displayed``), a getStats sample every
    `sample_ms` (``samples``: system-clock ms, bytes received, frames decoded, width, height) and
    the measured window on the system clock (``startedAt``, ``endedAt``, ms). With
    `width` (the stream's full width), stamps of frames the sender scaled down are read too.
    """
    args = [seconds, sample_ms, width] if sample_ms or width else seconds
    raw: dict[str, Any] = await page.evaluate(MEASURE, args)
    return raw
