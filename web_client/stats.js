// Numbers about the running stream from the peer connection's getStats(), per interval, plus
// glass-to-glass latency from the frame stamp when the app paints one (docs/protocol.md section 4).

import { epochTime } from './clock.js';
import { StampReader } from './stamp.js';

const HISTORY = 120;

/** The inbound video report, the selected candidate pair and the codec from one getStats() answer. */
function pick(report) {
  let inbound = null;
  let pair = null;
  report.forEach((entry) => {
    if (entry.type === 'inbound-rtp' && entry.kind === 'video') inbound = entry;
    if (entry.type === 'transport' && entry.selectedCandidatePairId) pair = report.get(entry.selectedCandidatePairId);
  });
  if (!pair) report.forEach((entry) => { if (entry.type === 'candidate-pair' && entry.nominated && entry.state === 'succeeded') pair = entry; });
  const codec = inbound?.codecId ? report.get(inbound.codecId) : null;
  return { inbound, pair, codec };
}

const perSecond = (now, before, key, seconds) => (now?.[key] !== undefined && before?.[key] !== undefined ? (now[key] - before[key]) / seconds : null);
const ratio = (now, before, top, bottom) => {
  const frames = (now?.[bottom] ?? 0) - (before?.[bottom] ?? 0);
  return frames > 0 ? (now[top] - (before?.[top] ?? 0)) / frames : null;
};

/**
 * One sample: `fps`, `bitrateKbps`, `lossPercent`, `rttMs`, `decodeMs` (per frame),
 * `jitterBufferMs` (per frame), `width`, `height`, `codec`, `latencyMs` (glass to glass, null
 * without stamps), `framesDecoded`, `at` (ms since epoch).
 */
export function sample(now, before, seconds) {
  const { inbound, pair, codec } = now;
  const prev = before?.inbound ?? null;
  const lost = (inbound?.packetsLost ?? 0) - (prev?.packetsLost ?? 0);
  const received = (inbound?.packetsReceived ?? 0) - (prev?.packetsReceived ?? 0);
  const bytes = perSecond(inbound, prev, 'bytesReceived', seconds);
  return {
    fps: perSecond(inbound, prev, 'framesDecoded', seconds) ?? inbound?.framesPerSecond ?? null,
    bitrateKbps: bytes === null ? null : (bytes * 8) / 1000,
    lossPercent: lost + received > 0 ? (100 * Math.max(0, lost)) / (lost + received) : 0,
    rttMs: pair?.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : null,
    decodeMs: (() => { const s = ratio(inbound, prev, 'totalDecodeTime', 'framesDecoded'); return s === null ? null : s * 1000; })(),
    jitterBufferMs: (() => { const s = ratio(inbound, prev, 'jitterBufferDelay', 'jitterBufferEmittedCount'); return s === null ? null : s * 1000; })(),
    width: inbound?.frameWidth ?? null,
    height: inbound?.frameHeight ?? null,
    codec: codec?.mimeType?.replace(/^video\//, '') ?? null,
    framesDecoded: inbound?.framesDecoded ?? 0,
    freezeCount: inbound?.freezeCount ?? null,
    freezesMs: inbound?.totalFreezesDuration !== undefined ? inbound.totalFreezesDuration * 1000 : null,
    latencyMs: null,
    server: null,
    at: Date.now(),
  };
}

/** Samples the session's stats every `intervalMs` while running; `latest` and `history` hold them. */
export class StatsSampler extends EventTarget {
  constructor({ video, peerConnection, intervalMs = 1000 }) {
    super();
    this.video = video;
    this.peerConnection = peerConnection; // A function: the session's current RTCPeerConnection or null.
    this.intervalMs = intervalMs;
    this.latest = null;
    this.server = null; // The stream app's latest `media` report, set by the session.
    this.history = [];
    this.previous = null;
    this.previousAt = 0;
    this.timer = null;
    this.stampReader = new StampReader(video);
    this.latencies = [];
    this.readingStamps = false;
    this.watchers = 0;
  }

  start() {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.collect(), this.intervalMs);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Read the stamp of every presented frame (glass-to-glass latency) while `on`: a little work per
   * frame, so only while someone looks at the numbers (the overlay is open).
   */
  measureLatency(on) {
    if (on === this.readingStamps) return;
    this.readingStamps = on;
    this.latencies = [];
    this.watchers += 1; // Ends an earlier loop still waiting for its frame.
    if (on) this.watchFrames(this.watchers);
  }

  // Per presented frame: display time minus the capture time in the stamp.
  watchFrames(generation) {
    if (!('requestVideoFrameCallback' in this.video)) return;
    const onFrame = (now, meta) => {
      if (generation !== this.watchers) return;
      const stamp = this.stampReader.readPresented(meta);
      if (stamp !== null) this.latencies.push(epochTime(meta.expectedDisplayTime) - stamp);
      this.video.requestVideoFrameCallback(onFrame);
    };
    this.video.requestVideoFrameCallback(onFrame);
  }

  async collect() {
    const pc = this.peerConnection();
    if (!pc || pc.connectionState === 'closed') {
      this.previous = null;
      return;
    }
    const now = pick(await pc.getStats());
    if (!now.inbound) return;
    const at = performance.now();
    const before = this.previous?.pc === pc ? this.previous : null;
    const result = sample(now, before, before ? (at - this.previousAt) / 1000 : 1);
    this.previous = { ...now, pc };
    this.previousAt = at;
    if (this.latencies.length) {
      result.latencyMs = this.latencies.reduce((a, b) => a + b, 0) / this.latencies.length;
      this.latencies = [];
    }
    result.server = this.server;
    if (!before) return; // The first reading only sets the baseline for rates.
    this.latest = result;
    this.history.push(result);
    if (this.history.length > HISTORY) this.history.shift();
    this.dispatchEvent(new CustomEvent('sample', { detail: result }));
  }
}
