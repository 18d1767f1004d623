// What each WebSocket close code means to the person looking at the page, and what the page does
// next (docs/protocol.md sections 1, 3 and 6).

/**
 * Every close code the page sends or understands, by name (docs/protocol.md sections 1, 3 and 6).
 * Nothing else in the client writes a close code as a number.
 */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  MESSAGE_TOO_BIG: 1009,
  STREAM_FAILED: 1011,
  BUSY: 1013,
  MEDIA_FAILED: 4000,
  PAGE_HIDDEN: 4001,
  BAD_REQUEST: 4400,
  TOKEN_INVALID: 4401,
  FORBIDDEN: 4403,
  UNKNOWN_FUNCTION: 4404,
  SESSION_TIMEOUT: 4408,
  TOO_MANY_SESSIONS: 4409,
  SESSION_GONE: 4410,
  RATE_LIMITED: 4429,
  UPSTREAM_REFUSED: 4502,
  UPSTREAM_BUSY: 4503,
  UPSTREAM_TIMEOUT: 4504,
});

/** The page gives up at once: retrying cannot help, or the session was ended on purpose. */
const FINAL = new Set([
  CloseCode.NORMAL,
  CloseCode.BAD_REQUEST,
  CloseCode.TOKEN_INVALID,
  CloseCode.FORBIDDEN,
  CloseCode.UNKNOWN_FUNCTION,
  CloseCode.SESSION_TIMEOUT,
  CloseCode.TOO_MANY_SESSIONS,
  CloseCode.SESSION_GONE,
]);

const MESSAGES = {
  [CloseCode.NORMAL]: 'The session ended.',
  [CloseCode.GOING_AWAY]: 'The server is going away.',
  [CloseCode.ABNORMAL]: 'The connection dropped.',
  [CloseCode.MESSAGE_TOO_BIG]: 'A message was too big for the server.',
  [CloseCode.STREAM_FAILED]: 'The stream failed.',
  [CloseCode.BUSY]: 'No capacity: the streaming function is busy with another session. Try again shortly.',
  [CloseCode.BAD_REQUEST]: 'The request was malformed.',
  [CloseCode.TOKEN_INVALID]: 'Bad token: your sign-in token is missing, invalid or expired.',
  [CloseCode.FORBIDDEN]: 'Forbidden: you are not allowed to open this streaming function.',
  [CloseCode.UNKNOWN_FUNCTION]: 'Unknown function: the proxy does not offer this streaming function.',
  [CloseCode.SESSION_TIMEOUT]:
    'Token expired: the session reached the end of your token or the session time limit. Sign in again.',
  [CloseCode.TOO_MANY_SESSIONS]: 'Too many sessions: close one of your other sessions first.',
  [CloseCode.SESSION_GONE]: 'Session expired: the session could not be resumed.',
  [CloseCode.RATE_LIMITED]: 'Too many sign-ins: wait a moment, then try again.',
  [CloseCode.UPSTREAM_REFUSED]: 'Upstream gone: the streaming service could not be reached.',
  [CloseCode.UPSTREAM_BUSY]: 'No capacity: the streaming service has no free instance right now. Try again shortly.',
  [CloseCode.UPSTREAM_TIMEOUT]: 'Upstream gone: the streaming service did not answer in time.',
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
