// One streaming session: the sign-in WebSocket through the proxy, signaling (docs/protocol.md
// section 3), the WebRTC peer connection that receives the video and carries input (section 5),
// and reconnecting with `resume` after a dropped connection (sections 1 and 6).

import { AppChannel, createAppDataChannel } from './app-channel.js';
import { CloseCode, ICE_FAILED, MEDIA_LOST, describeClose, mayReconnect } from './close-codes.js';
import { createInputChannels } from './input.js';
import { byeMessage, candidateMessage, offerMessage, parseServerMessage, signInProtocols } from './signaling.js';

/** The stream app keeps a dropped session this long (STREAM_APP_RESUME_WINDOW's default). */
export const RESUME_WINDOW_MS = 30_000;
const BACKOFF_MS = [250, 500, 1000, 2000, 4000];
/** A peer connection that has not connected this long after its offer has failed in practice. */
export const ICE_CONNECT_TIMEOUT_MS = 20_000;
/**
 * A connection that stays `disconnected` this long has lost its media path (e.g. the TURN server
 * went away): the page ends the session rather than wait for the browser's own `failed`, which
 * may come much later or not at all, while the instance stays held. A blip shorter than this
 * (back to `connected`) changes nothing.
 */
export const DISCONNECTED_TIMEOUT_MS = 5_000;
/**
 * The video codec the page asks for first: H.264 costs Chromium less to decode (often in hardware)
 * than VP8, which it would otherwise offer first; the stream app follows the offer's order.
 */
export const PREFERRED_CODEC = 'h264';
const CODECS = { h264: 'video/h264', vp8: 'video/vp8' };

/**
 * `codecs` (RTCRtpReceiver.getCapabilities('video').codecs) with those of `codec` (`h264`, `vp8`)
 * first, or null when the browser has none of them or `codec` is not one we know (keep its order).
 */
export function codecsPreferring(codec, codecs) {
  const mimeType = CODECS[String(codec).toLowerCase()];
  const wanted = codecs.filter((c) => c.mimeType.toLowerCase() === mimeType);
  if (!mimeType || wanted.length === 0) return null;
  return [...wanted, ...codecs.filter((c) => c.mimeType.toLowerCase() !== mimeType)];
}

/**
 * States (the `statechange` event's `detail.state`): `idle`, `connecting`, `negotiating`,
 * `streaming`, `reconnecting`, `ended` (with `detail.code`, the close code, when there is one),
 * `failed` (ICE could not connect).
 */
export class StreamSession extends EventTarget {
  /**
   * @param {{url: string, token: string, video: HTMLVideoElement, stats: StatsSampler,
   *          relayOnly?: boolean, functionName?: string|null, resumeWindowMs?: number,
   *          codec?: string, microphone?: Microphone|null}} options
   *   `stats` samples this session's peer connection while it streams; `codec`: `h264` or `vp8`
   *   to offer first (when the browser can receive it); anything else keeps the browser's own order.
   *   `microphone` (microphone.js), when given, is sent to the app as an Opus track while it is
   *   `enabled` (`setMicrophone` turns it on and off during the session).
   */
  constructor({
    url, token, video, stats, relayOnly = false, functionName = null, resumeWindowMs = RESUME_WINDOW_MS,
    codec = PREFERRED_CODEC, microphone = null,
  }) {
    super();
    this.url = url;
    this.token = token;
    this.video = video;
    this.relayOnly = relayOnly;
    this.functionName = functionName;
    this.resumeWindowMs = resumeWindowMs;
    this.codec = codec;
    this.microphone = microphone;
    /** The current connection's RTCRtpSender of the microphone, or null when its offer had none. */
    this.microphoneSender = null;
    this.state = 'idle';
    this.ws = null;
    this.pc = null;
    /** The current connection's InputChannels (null between connections). */
    this.input = null;
    /** The app channel (section 7): one for the session, given each connection's `app` data channel. */
    this.app = new AppChannel();
    this.sessionId = null;
    /** True when the current connection continues a session that waited in its resume window. */
    this.resumed = false;
    /** Reconnect attempts since the connection dropped (0 while connected). */
    this.attempt = 0;
    this.established = false;
    this.droppedAt = null;
    /** When the proxy closed a streaming session because its token expired (4408), else null. */
    this.tokenExpiredAt = null;
    this.retryTimer = null;
    /** True from `resumeAfterReload()` until the resumed session's hello (or its refusal). */
    this.reloading = false;
    this.stats = stats;
    this.sampleCanvas = null;
  }

  /** Start a fresh session (never a resume: a new tab must not take over another one's session). */
  start() {
    this.stopRetrying();
    if (this.ws) {
      // Starting over ends whatever session this page still had, for good.
      const ws = this.ws;
      this.ws = null;
      ws.close(CloseCode.NORMAL, 'ended by client');
    }
    this.dropPeer();
    this.established = false;
    this.attempt = 0;
    this.droppedAt = null;
    this.tokenExpiredAt = null;
    this.setState('connecting', 'Connecting…');
    this.open(false);
  }

  /**
   * After signing in again (a new `token`): continue the session the expired token ended, while
   * the stream app may still keep it (its resume window), else start a fresh one. The session and
   * what the app drew are not lost to a token refresh.
   */
  resumeOrStart() {
    const expiredAt = this.tokenExpiredAt;
    if (expiredAt === null || !this.established || performance.now() - expiredAt >= this.resumeWindowMs) {
      this.start();
      return;
    }
    this.stopRetrying();
    this.tokenExpiredAt = null;
    this.droppedAt = expiredAt;
    this.attempt = 1;
    this.setState('reconnecting', 'Signed in again: resuming the session…');
    this.open(true);
  }

  /**
   * After this tab reloaded during a stream: take back the session the previous page left (the
   * proxy holds it for a few seconds), or start a fresh one when it is gone. Only the tab that
   * left a session calls this (sessionStorage is per tab), so a new tab never takes one over.
   */
  resumeAfterReload() {
    this.stopRetrying();
    this.reloading = true;
    this.established = false;
    this.attempt = 0;
    this.droppedAt = null;
    this.setState('connecting', 'Resuming your session…');
    this.open(true);
  }

  /**
   * The page is unloading (a reload or a closed tab, which a page cannot tell apart): close with
   * PAGE_HIDDEN and no `bye`; the proxy keeps the session a few seconds for this tab's reload to
   * resume, then ends it (docs/protocol.md 1).
   */
  leave() {
    this.stopRetrying();
    const ws = this.ws;
    this.ws = null;
    ws?.close(CloseCode.PAGE_HIDDEN, 'page hidden');
    this.dropPeer();
  }

  /** End the session for good: `bye`, then close with 1000 so the app frees itself at once. */
  end(message = 'You ended the session.') {
    this.stopRetrying();
    const ws = this.ws;
    this.ws = null;
    if (ws?.readyState === WebSocket.OPEN) ws.send(byeMessage());
    ws?.close(CloseCode.NORMAL, 'ended by client');
    this.dropPeer();
    this.microphone?.stop();
    this.setState('ended', message, CloseCode.NORMAL);
  }

  /** Kept for the first version's callers: same as `end()`. */
  close() {
    this.end();
  }

  setState(state, message, code = null) {
    this.state = state;
    if (state === 'streaming') this.stats.start();
    if (state === 'ended' || state === 'failed') this.stats.stop();
    if (state === 'ended') this.microphone?.stop(); // the browser's recording indicator goes out
    this.dispatchEvent(new CustomEvent('statechange', { detail: { state, message, code, attempt: this.attempt } }));
  }

  signInUrl() {
    if (!this.functionName) return this.url;
    return `${this.url}?function=${encodeURIComponent(this.functionName)}`;
  }

  open(resume) {
    const ws = new WebSocket(this.signInUrl(), signInProtocols(this.token, resume));
    this.ws = ws;
    ws.addEventListener('message', (event) => ws === this.ws && this.onMessage(event));
    ws.addEventListener('close', (event) => ws === this.ws && this.onClose(event.code, event.reason));
  }

  /** Send one signaling message (text from signaling.js) while the WebSocket is open. */
  send(text) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  async onMessage(event) {
    let message;
    try {
      message = parseServerMessage(event.data);
    } catch (error) {
      // A message the page cannot use changes nothing; the session goes on (as on the server).
      console.warn(`ignoring a signaling message: ${error.message}`);
      return;
    }
    if (message.type === 'hello') await this.onHello(message);
    else if (message.type === 'answer') await this.pc?.setRemoteDescription({ type: 'answer', sdp: message.sdp });
    else if (message.type === 'error') console.warn(`server rejected a message: ${message.code}: ${message.reason}`);
    else if (message.type === 'media') this.stats.server = message; // The sender's side, for the overlay.
  }

  async onHello(hello) {
    this.reloading = false;
    this.sessionId = hello.sessionId;
    this.resumed = hello.resumed === true;
    this.established = true;
    this.setState('negotiating', this.attempt ? `Reconnected, negotiating… (attempt ${this.attempt})` : 'Negotiating…');
    this.dropPeer();
    const pc = new RTCPeerConnection({
      // Always an explicit list, from the stream app; never a public default.
      iceServers: hello.iceServers,
      iceTransportPolicy: this.relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    });
    this.pc = pc;
    const transceiver = pc.addTransceiver('video', { direction: 'recvonly' });
    // Play each frame as soon as it is decodable: no extra buffering for smoothness.
    if ('jitterBufferTarget' in transceiver.receiver) transceiver.receiver.jitterBufferTarget = 0;
    this.preferCodec(transceiver);
    // Both input channels exist before the offer, so the offer carries them (protocol.md section 5).
    this.input = createInputChannels(pc);
    this.input.reliable.addEventListener('open', () => this.dispatchEvent(new CustomEvent('inputopen')));
    this.app.attach(createAppDataChannel(pc));
    pc.addEventListener('track', (event) => {
      this.video.srcObject = event.streams[0] ?? new MediaStream([event.track]);
      this.whenFirstFramePresented(pc, () => this.onStreaming());
    });
    let gathered = 0;
    pc.addEventListener('icecandidate', (event) => {
      this.send(candidateMessage(event.candidate));
      if (event.candidate) gathered += 1;
      // Gathering ended without a single candidate (e.g. relay-only and the TURN server is out of
      // reach): ICE cannot succeed, though browsers never move such a connection to "failed".
      else if (gathered === 0 && pc === this.pc) this.onIceFailed('no local ICE candidate; is the TURN server reachable?');
    });
    pc.addEventListener('connectionstatechange', () => pc === this.pc && this.onConnectionState());
    let lostTimer = null;
    pc.addEventListener('connectionstatechange', () => {
      clearTimeout(lostTimer);
      lostTimer = null;
      if (pc.connectionState !== 'disconnected') return;
      lostTimer = setTimeout(() => {
        if (pc === this.pc && pc.connectionState === 'disconnected') this.onMediaLost();
      }, DISCONNECTED_TIMEOUT_MS);
    });
    let connected = false;
    pc.addEventListener('connectionstatechange', () => { connected ||= pc.connectionState === 'connected'; });
    if (this.microphone?.enabled) {
      const track = await this.microphone.track();
      if (pc !== this.pc) return; // replaced while the user was asked for the microphone
      // Send only: the app's sound, if any, comes on a section of its own.
      if (track) this.microphoneSender = pc.addTransceiver(track, { direction: 'sendonly' }).sender;
    }
    await pc.setLocalDescription(await pc.createOffer());
    this.send(offerMessage(pc.localDescription.sdp));
    setTimeout(() => {
      if (pc === this.pc && !connected) {
        this.onIceFailed(`not connected after ${ICE_CONNECT_TIMEOUT_MS / 1000} s`);
      }
    }, ICE_CONNECT_TIMEOUT_MS);
  }

  /** Put `this.codec` first in the offer, where the browser supports choosing and receiving it. */
  preferCodec(transceiver) {
    if (!('setCodecPreferences' in transceiver) || !RTCRtpReceiver.getCapabilities) return;
    const codecs = codecsPreferring(this.codec, RTCRtpReceiver.getCapabilities('video')?.codecs ?? []);
    if (codecs) transceiver.setCodecPreferences(codecs);
  }

  onStreaming() {
    const attempts = this.attempt;
    this.attempt = 0;
    this.droppedAt = null;
    const how = attempts ? (this.resumed ? ' (resumed)' : ' (new session after reconnecting)') : '';
    this.setState('streaming', `Streaming${how}`);
  }

  // "Streaming" means a frame is on screen, not merely that the transport is up.
  whenFirstFramePresented(pc, callback) {
    const once = () => pc === this.pc && callback();
    if ('requestVideoFrameCallback' in this.video) this.video.requestVideoFrameCallback(once);
    else this.video.addEventListener('playing', once, { once: true });
  }

  onConnectionState() {
    if (this.pc.connectionState === 'failed') this.onIceFailed('');
  }

  /**
   * The media connection stayed `disconnected` past DISCONNECTED_TIMEOUT_MS: end the session for
   * good (`bye`, close 1000) so the instance frees at once; the person may connect again.
   */
  onMediaLost() {
    this.end(`${MEDIA_LOST} (disconnected for ${DISCONNECTED_TIMEOUT_MS / 1000} s)`);
  }

  /** ICE failed (`why` adds detail): resume a session that was streaming, give up on one that never did. */
  onIceFailed(why) {
    const message = why ? `${ICE_FAILED} (${why})` : ICE_FAILED;
    const wasStreaming = this.state === 'streaming';
    if (wasStreaming) {
      // The media path broke under a working session: close with a code that keeps the app's
      // session for its resume window, and come back with `resume`.
      const ws = this.ws;
      this.ws = null;
      ws?.close(CloseCode.MEDIA_FAILED, 'ice failed');
      this.onDropped(message);
    } else {
      this.stopRetrying();
      const ws = this.ws;
      this.ws = null;
      ws?.close(CloseCode.NORMAL, 'ice failed');
      this.dropPeer();
      this.setState('failed', message);
    }
  }

  onClose(code, reason) {
    this.ws = null;
    this.dropPeer();
    if (this.reloading) {
      this.reloading = false;
      if (code === CloseCode.SESSION_GONE || !mayReconnect(code)) {
        // The left session is gone (or this sign-in is refused outright): as a first visit would.
        if (code === CloseCode.SESSION_GONE) this.start();
        else this.setState('ended', describeClose(code, reason), code);
        return;
      }
      // E.g. still held elsewhere: retry with `resume` as after a dropped connection.
      this.established = true;
    }
    const message = describeClose(code, reason);
    // Only an expired token: a session time limit or idle timeout means the session is over.
    const tokenExpired = code === CloseCode.SESSION_TIMEOUT && /^token expired/.test(reason) && this.state === 'streaming';
    if (tokenExpired) this.tokenExpiredAt = performance.now();
    else if (code !== CloseCode.TOKEN_INVALID) this.tokenExpiredAt = null; // A mistyped new token may be followed by a good one.
    if (this.established && mayReconnect(code)) this.onDropped(message);
    else this.setState('ended', message, code);
  }

  /**
   * Send the microphone (`on` true) or stop sending it, during the session. Turning it on asks for
   * permission (once per capture). The stream app takes one offer per connection, so when the
   * current connection's offer had no microphone section, the page replaces the connection with a
   * new one to the same session (`reconnect`), whose offer carries the microphone as every
   * connection's does while it is enabled; once a connection has the section, off and on only swap
   * the sender's track. Resolves to true when the microphone is now as asked, false (with
   * `microphone.error` saying why) when it could not be turned on.
   */
  async setMicrophone(on) {
    const microphone = this.microphone;
    if (!microphone) return false;
    if (!on) {
      microphone.enabled = false;
      microphone.stop(); // the browser's recording indicator goes out
      await this.microphoneSender?.replaceTrack(null);
      return true;
    }
    const track = await microphone.track();
    if (!track) return false;
    microphone.enabled = true;
    if (this.microphoneSender) await this.microphoneSender.replaceTrack(track);
    // A peer connection made its offer without it (onHello decides before its first await); with
    // none, the next connection's offer carries it.
    else if (this.pc) this.reconnect('microphone turned on');
    return true;
  }

  /**
   * Replace the connection with a new one to the same session (`resume`), as after a dropped
   * connection: the new offer carries what changed since (the microphone). The app keeps its
   * session; the picture pauses for the time a resume takes.
   */
  reconnect(why) {
    const ws = this.ws;
    this.ws = null;
    ws?.close(CloseCode.MEDIA_FAILED, why);
    this.onDropped(why);
  }

  /** The connection is gone but the session may wait in its resume window: try again with backoff. */
  onDropped(message) {
    this.dropPeer();
    this.droppedAt ??= performance.now();
    const left = this.droppedAt + this.resumeWindowMs - performance.now();
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    if (left <= delay) {
      this.setState('ended', `Could not reconnect within ${Math.round(this.resumeWindowMs / 1000)} s. ${message}`);
      return;
    }
    this.attempt += 1;
    this.setState('reconnecting', `Reconnecting… attempt ${this.attempt} (${message})`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open(true);
    }, delay);
  }

  stopRetrying() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  dropPeer() {
    this.microphoneSender = null;
    this.input?.close();
    this.input = null;
    this.app.detach();
    this.pc?.close();
    this.pc = null;
  }

  /**
   * Mean [r, g, b] (0-255) of the picture's region x, y, w, h (video pixels) on screen now; for
   * tests and diagnostics (e.g. "did the app react to that key?").
   */
  sampleVideo(x, y, w, h) {
    if (!this.video.videoWidth) return null;
    this.sampleCanvas ??= document.createElement('canvas');
    this.sampleCanvas.width = w;
    this.sampleCanvas.height = h;
    const context = this.sampleCanvas.getContext('2d', { willReadFrequently: true });
    context.drawImage(this.video, x, y, w, h, 0, 0, w, h);
    const data = context.getImageData(0, 0, w, h).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < data.length; i += 4) {
      sum[0] += data[i];
      sum[1] += data[i + 1];
      sum[2] += data[i + 2];
    }
    const count = data.length / 4;
    return sum.map((value) => value / count);
  }
}
