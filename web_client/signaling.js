// The signaling protocol between this page and the stream app (docs/protocol.md section 3) and the
// sign-in subprotocol items (section 1). Pure: each message the page sends is built by a function
// here, and each message it receives is parsed and checked here; stream-session.js only moves
// them over its WebSocket. The stream app's side is stream_app/signaling.py.

export const SUBPROTOCOL = 'nvcf-stream-v1';
export const PROTOCOL_VERSION = 1;
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** A server message the page cannot use; `code` is one of the protocol's error codes. */
export class SignalingError extends Error {
  constructor(code, reason) {
    super(`${code}: ${reason}`);
    this.name = 'SignalingError';
    this.code = code;
    this.reason = reason;
  }
}

/**
 * The WebSocket subprotocol items of a sign-in: the protocol, the token (never in the URL, where
 * logs would keep it) and, to continue a session waiting in its resume window, `resume`.
 */
export function signInProtocols(token, resume) {
  const protocols = [SUBPROTOCOL, `token.${token}`];
  if (resume) protocols.push('resume');
  return protocols;
}

const serialize = (type, fields = {}) => JSON.stringify({ v: PROTOCOL_VERSION, type, ...fields });

/** `offer`: the page's SDP offer, sent once after `hello`. */
export function offerMessage(sdp) {
  return serialize('offer', { sdp });
}

/** `candidate`: one trickled ICE candidate (an RTCIceCandidate), or null for the end of candidates. */
export function candidateMessage(candidate) {
  return serialize('candidate', { candidate: candidate ? candidate.toJSON() : null });
}

/** `bye`: end the session for good (the server closes with 1000). */
export function byeMessage() {
  return serialize('bye');
}

const KINDS = {
  string: (value) => typeof value === 'string',
  number: (value) => typeof value === 'number' && Number.isFinite(value),
  boolean: (value) => typeof value === 'boolean',
  array: (value) => Array.isArray(value),
};

/** `object[name]` when it is of `kind` (see KINDS); absent: `fallback` if one is given, else an error. */
function field(object, name, kind, fallback) {
  const value = object[name];
  if (value === undefined && fallback !== undefined) return fallback;
  if (value === undefined || value === null) throw new SignalingError('bad-message', `field '${name}' is missing`);
  if (!KINDS[kind](value)) {
    const actual = Array.isArray(value) ? 'array' : typeof value;
    throw new SignalingError('bad-message', `field '${name}' must be ${kind}, not ${actual}`);
  }
  return value;
}

/** One entry of `hello.iceServers`: `{urls: [str], username?, credential?}` (`urls` may be one str). */
function iceServer(entry) {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new SignalingError('bad-message', "each of 'iceServers' must be an object");
  }
  const urls = typeof entry.urls === 'string' ? [entry.urls] : field(entry, 'urls', 'array');
  if (!urls.every((url) => typeof url === 'string')) {
    throw new SignalingError('bad-message', "'iceServers' urls must be strings");
  }
  const server = { urls };
  const username = field(entry, 'username', 'string', null);
  const credential = field(entry, 'credential', 'string', null);
  if (username !== null) server.username = username;
  if (credential !== null) server.credential = credential;
  return server;
}

function hello(message) {
  const policy = field(message, 'iceTransportPolicy', 'string', 'all');
  return {
    type: 'hello',
    sessionId: field(message, 'sessionId', 'string'),
    iceServers: field(message, 'iceServers', 'array').map(iceServer),
    resumed: field(message, 'resumed', 'boolean', false),
    iceTransportPolicy: policy === 'relay' ? 'relay' : 'all',
  };
}

const MEDIA_FIELDS = {
  codec: 'string',
  width: 'number',
  height: 'number',
  fps: 'number',
  maxFps: 'number',
  targetKbps: 'number',
  estimateKbps: 'number',
  pacingKbps: 'number',
  acknowledgedKbps: 'number',
  limitedBy: 'string',
  delayState: 'string',
  lossPercent: 'number',
  rttMs: 'number',
  pacerQueueMs: 'number',
  framesSkipped: 'number',
  retransmissions: 'number',
  keyframes: 'number',
  transportCc: 'boolean',
};

/** `media`: the stream app's report of its sending side (for the stats overlay). */
function media(message) {
  const report = { type: 'media' };
  for (const [name, kind] of Object.entries(MEDIA_FIELDS)) report[name] = field(message, name, kind);
  return report;
}

const PARSERS = {
  hello,
  answer: (message) => ({ type: 'answer', sdp: field(message, 'sdp', 'string') }),
  error: (message) => ({ type: 'error', code: field(message, 'code', 'string'), reason: field(message, 'reason', 'string') }),
  media,
};

/**
 * Parse and check one text message from the stream app: `{type: 'hello', sessionId, iceServers,
 * resumed, iceTransportPolicy}`, `{type: 'answer', sdp}`, `{type: 'error', code, reason}` or
 * `{type: 'media', ...}` (the fields of docs/protocol.md section 3). Throws SignalingError with the
 * reason when the message cannot be used; unknown fields are ignored (later additions to version 1).
 */
export function parseServerMessage(text) {
  if (typeof text !== 'string') throw new SignalingError('bad-message', 'message is not text');
  if (new TextEncoder().encode(text).length > MAX_MESSAGE_BYTES) {
    throw new SignalingError('too-large', `message is larger than ${MAX_MESSAGE_BYTES} bytes`);
  }
  let message;
  try {
    message = JSON.parse(text);
  } catch (error) {
    throw new SignalingError('bad-json', `message is not JSON: ${error.message}`);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new SignalingError('bad-message', 'message must be a JSON object');
  }
  const version = field(message, 'v', 'number');
  if (version !== PROTOCOL_VERSION) {
    throw new SignalingError('unsupported-version', `protocol version ${version} is not supported; this page speaks ${PROTOCOL_VERSION}`);
  }
  const type = field(message, 'type', 'string');
  const parse = Object.hasOwn(PARSERS, type) ? PARSERS[type] : null;
  if (parse === null) throw new SignalingError('unknown-type', `unknown message type '${type}'`);
  return parse(message);
}
