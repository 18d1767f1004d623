// What this tab keeps in sessionStorage (this tab only; it survives the tab's reloads, never
// another tab): the sign-in token, and the session the page left as it unloaded mid-stream.

const TOKEN_KEY = 'stream-token';
/** Written as the page unloads during a stream: this tab may resume that session after a reload. */
const LEFT_KEY = 'stream-left-session';

/** The token this tab signed in with, or null. */
export function loadToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The page unloads during a stream of `functionName`: a reload of this tab may take it back. */
export function rememberLeftSession(functionName) {
  sessionStorage.setItem(LEFT_KEY, JSON.stringify({ at: Date.now(), functionName }));
}

/**
 * The session this tab's previous page left as it unloaded (`{functionName}`), if recent enough to
 * be resumed; read once, so only the reload right after it tries.
 */
export function takeLeftSession(resumeWindowMs) {
  const text = sessionStorage.getItem(LEFT_KEY);
  sessionStorage.removeItem(LEFT_KEY);
  try {
    const left = JSON.parse(text ?? 'null');
    return left && Date.now() - left.at < resumeWindowMs ? left : null;
  } catch {
    return null;
  }
}
