// One streaming session: the sign-in WebSocket through the proxy, signaling (docs/protocol.md
// section 3) and the WebRTC peer connection that receives the video.

export const SUBPROTOCOL = 'nvcf-stream-v1';
const PROTOCOL_VERSION = 1;

// What each close code means to the person looking at the page (docs/protocol.md sections 1, 3).
const CLOSE_MESSAGES = {
  1000: 'The session ended.',
  1001: 'The server is going away.',
  1011: 'The stream failed.',
  1013: 'The streaming function is busy with another session. Try again shortly.',
  4401: 'Your sign-in token is missing, invalid or expired.',
  4403: 'You are not allowed to open this streaming function.',
  4502: 'The streaming service could not be reached.',
  4503: 'The streaming service has no capacity right now. Try again shortly.',
  4504: 'The streaming service did not answer in time.',
};

export function describeClose(code, reason) {
  const message = CLOSE_MESSAGES[code] ?? `The connection closed (code ${code}).`;
  return reason ? `${message} (${reason})` : message;
}

export class StreamSession extends EventTarget {
  /**
   * @param {{url: string, token: string, video: HTMLVideoElement, relayOnly?: boolean}} options
   */
  constructor({ url, token, video, relayOnly = false }) {
    super();
    this.url = url;
    this.token = token;
    this.video = video;
    this.relayOnly = relayOnly;
    this.state = 'idle';
    this.ws = null;
    this.pc = null;
    this.sessionId = null;
  }

  start() {
    this.setState('connecting', 'Connecting…');
    // The token travels as a subprotocol item: never in the URL, where logs would keep it.
    this.ws = new WebSocket(this.url, [SUBPROTOCOL, `token.${this.token}`]);
    this.ws.addEventListener('message', (event) => this.onMessage(event));
    this.ws.addEventListener('close', (event) => this.onClose(event));
  }

  close() {
    this.ws?.close(1000, 'closed by the page');
    this.pc?.close();
  }

  setState(state, message) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('statechange', { detail: { state, message } }));
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...message }));
    }
  }

  async onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      console.warn('ignoring a message that is not JSON');
      return;
    }
    if (message.type === 'hello') await this.onHello(message);
    else if (message.type === 'answer') await this.pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
    else if (message.type === 'error') console.warn(`server rejected a message: ${message.code}: ${message.reason}`);
  }

  async onHello(hello) {
    this.sessionId = hello.sessionId;
    this.setState('negotiating', 'Negotiating…');
    this.pc = new RTCPeerConnection({
      // Always an explicit list, from the stream app; never a public default.
      iceServers: hello.iceServers ?? [],
      iceTransportPolicy: this.relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    });
    const transceiver = this.pc.addTransceiver('video', { direction: 'recvonly' });
    if ('jitterBufferTarget' in transceiver.receiver) transceiver.receiver.jitterBufferTarget = 0;
    this.pc.addEventListener('track', (event) => {
      this.video.srcObject = event.streams[0] ?? new MediaStream([event.track]);
      this.whenFirstFramePresented(() => this.setState('streaming', 'Streaming'));
    });
    this.pc.addEventListener('icecandidate', (event) => {
      this.send({ type: 'candidate', candidate: event.candidate ? event.candidate.toJSON() : null });
    });
    this.pc.addEventListener('connectionstatechange', () => this.onConnectionState());
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.send({ type: 'offer', sdp: this.pc.localDescription.sdp });
  }

  // "Streaming" means a frame is on screen, not merely that the transport is up.
  whenFirstFramePresented(callback) {
    if ('requestVideoFrameCallback' in this.video) this.video.requestVideoFrameCallback(() => callback());
    else this.video.addEventListener('playing', callback, { once: true });
  }

  onConnectionState() {
    if (this.pc.connectionState === 'failed') {
      this.setState('failed', 'The media connection failed (ICE could not connect).');
    }
  }

  onClose(event) {
    this.pc?.close();
    if (this.state !== 'failed') this.setState('ended', describeClose(event.code, event.reason));
  }
}
