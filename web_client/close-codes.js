// What each WebSocket close code means to the person looking at the page, and what the page does
// next (docs/protocol.md sections 1, 3 and 6).

/** The page gives up at once: retrying cannot help, or the session was ended on purpose. */
const FINAL = new Set([1000, 4400, 4401, 4403, 4404, 4408, 4409, 4410]);

const MESSAGES = {
  1000: 'The session ended.',
  1001: 'The server is going away.',
  1006: 'The connection dropped.',
  1009: 'A message was too big for the server.',
  1011: 'The stream failed.',
  1013: 'No capacity: the streaming function is busy with another session. Try again shortly.',
  4400: 'The request was malformed.',
  4401: 'Bad token: your sign-in token is missing, invalid or expired.',
  4403: 'Forbidden: you are not allowed to open this streaming function.',
  4404: 'Unknown function: the proxy does not offer this streaming function.',
  4408: 'Token expired: the session reached the end of your token or the session time limit. Sign in again.',
  4409: 'Too many sessions: close one of your other sessions first.',
  4410: 'Session expired: the session could not be resumed.',
  4502: 'Upstream gone: the streaming service could not be reached.',
  4503: 'No capacity: the streaming service has no free instance right now. Try again shortly.',
  4504: 'Upstream gone: the streaming service did not answer in time.',
};

/** The message shown when the peer connection's ICE fails (detected by the page, not a close code). */
export const ICE_FAILED = 'ICE failed: the media connection could not be established (no route to the stream).';

/**
 * The message shown when an established media connection stays `disconnected` past the page's
 * deadline (detected by the page): the route to the stream went away, e.g. the TURN server stopped.
 */
export const MEDIA_LOST = 'Media lost: the media connection dropped and did not come back, so the session was ended.';

/** A sentence for close `code` with the server's `reason` appended when it gave one. */
export function describeClose(code, reason) {
  const message = MESSAGES[code] ?? `The connection closed (code ${code}).`;
  return reason ? `${message} (${reason})` : message;
}

/** True when a connection closed with `code` may be resumed by reconnecting. */
export function mayReconnect(code) {
  return !FINAL.has(code);
}
