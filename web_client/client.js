// The page: sign-in (token from the URL fragment or the sign-in box), choosing a function,
// connecting through the proxy, the picture, input, fullscreen and the stats overlay.

import { CloseCode, describeClose } from './close-codes.js';
import { GamepadPoller } from './gamepads.js';
import { InputCapture } from './input-capture.js';
import { StatsOverlay } from './overlay.js';
import { drawSize } from './picture.js';
import { PREFERRED_CODEC, RESUME_WINDOW_MS, StreamSession } from './stream-session.js';

const TOKEN_KEY = 'stream-token';
/** Written as the page unloads during a stream: this tab may resume that session after a reload. */
const LEFT_KEY = 'stream-left-session';
const NO_TOKEN = 'No sign-in token: open the link that `make demo` printed (…/#token=…), or paste a token below.';

const $ = (id) => document.getElementById(id);
const area = $('area');
const surface = $('surface');
const video = $('stream');
const status = $('status');
const signInForm = $('sign-in');
const picker = $('picker');
const functionSelect = $('function');
const connectAgain = $('connect-again');

/** Options from the URL fragment; the token is moved to sessionStorage (this tab only) at once. */
function readFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    // Out of the address bar and the history, where it could be copied or synced.
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  }
  const seconds = Number(params.get('resume'));
  return {
    token: token ?? sessionStorage.getItem(TOKEN_KEY),
    relayOnly: params.get('relay') === '1',
    functionName: params.get('function'),
    scaleMode: params.get('scale') === 'fit' ? 'fit' : 'integer',
    resumeWindowMs: seconds > 0 ? seconds * 1000 : RESUME_WINDOW_MS,
    showStats: params.get('stats') === '1',
    codec: params.get('codec') ?? PREFERRED_CODEC,
  };
}

function showState(state, message, code = null) {
  status.dataset.state = state;
  if (code === null) delete status.dataset.code;
  else status.dataset.code = String(code);
  status.textContent = message;
  document.body.dataset.state = state;
  const over = state === 'ended' || state === 'failed';
  connectAgain.hidden = !over || !session.token;
  connectAgain.textContent = code === CloseCode.SESSION_GONE ? 'Start a new session' : 'Connect again';
}

/**
 * The functions this user may open (`GET /functions`, docs/protocol.md section 1): a list, null
 * when the proxy has no such endpoint (use its default function), or `{rejected: reason}` for 401.
 */
async function listFunctions(token) {
  let response;
  try {
    response = await fetch('/functions', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch {
    return null;
  }
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    return { rejected: body.error ?? '' };
  }
  if (!response.ok) return null;
  const body = await response.json().catch(() => null);
  return Array.isArray(body?.functions) ? body.functions : null;
}

/**
 * The session this tab's previous page left as it unloaded (`{functionName}`), if recent enough to
 * be resumed; read once, so only the reload right after it tries.
 */
function takeLeftSession(resumeWindowMs) {
  const text = sessionStorage.getItem(LEFT_KEY);
  sessionStorage.removeItem(LEFT_KEY);
  try {
    const left = JSON.parse(text ?? 'null');
    return left && Date.now() - left.at < resumeWindowMs ? left : null;
  } catch {
    return null;
  }
}

const options = readFragment();
const leftSession = takeLeftSession(options.resumeWindowMs);
const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
const session = new StreamSession({
  url: `${scheme}//${location.host}/sign_in`,
  token: options.token,
  video,
  relayOnly: options.relayOnly,
  resumeWindowMs: options.resumeWindowMs,
  codec: options.codec,
});
// For the console and the tests (docs/web-client.md lists what they may use).
window.streamSession = session;
session.addEventListener('statechange', ({ detail }) => {
  showState(detail.state, detail.message, detail.code);
  if (detail.code === CloseCode.TOKEN_INVALID || detail.code === CloseCode.SESSION_TIMEOUT) askForToken();
  if (detail.state === 'streaming') {
    gamepads.start();
    // A focused button or field would keep keys from the app (and Space would press the button).
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
  }
  if (detail.state === 'ended' || detail.state === 'failed') gamepads.stop();
});

function askForToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  connectAgain.hidden = true; // Not with the token that was just refused.
  signInForm.hidden = false;
}

function connect(functionName) {
  picker.hidden = true;
  session.functionName = functionName;
  if (leftSession !== null && leftSession.functionName === functionName) {
    leftSession.used = true;
    session.resumeAfterReload();
    return;
  }
  // After a token expired mid-session, the new token continues that session when it still can.
  session.resumeOrStart();
}

async function proceed(token) {
  session.token = token;
  signInForm.hidden = true;
  if (leftSession !== null && !leftSession.used) {
    connect(leftSession.functionName); // A reload: straight back to the session it left.
    return;
  }
  showState('connecting', 'Looking up your streaming functions…');
  const functions = await listFunctions(token);
  if (functions?.rejected !== undefined) {
    showState('ended', describeClose(CloseCode.TOKEN_INVALID, functions.rejected), CloseCode.TOKEN_INVALID);
    askForToken();
  } else if (options.functionName || functions === null) {
    connect(options.functionName); // No list: the proxy's default function.
  } else if (functions.length === 0) {
    showState('ended', 'There is no streaming function you may open.');
  } else if (functions.length === 1) {
    connect(functions[0].name);
  } else {
    functionSelect.replaceChildren(...functions.map(({ name, title }) => new Option(title || name, name)));
    picker.hidden = false;
    showState('idle', 'Choose a streaming function.');
  }
}

signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token-input').value.trim();
  if (!token) return;
  $('token-input').value = '';
  sessionStorage.setItem(TOKEN_KEY, token);
  proceed(token);
});
picker.addEventListener('submit', (event) => {
  event.preventDefault();
  connect(functionSelect.value);
});
connectAgain.addEventListener('click', () => session.start());

// Drawing the picture without blur: see picture.js and docs/web-client.md.
function layout() {
  if (!video.videoWidth) return;
  const size = drawSize(video.videoWidth, video.videoHeight, area.clientWidth, area.clientHeight, window.devicePixelRatio || 1, options.scaleMode);
  video.style.width = `${size.width}px`;
  video.style.height = `${size.height}px`;
  video.classList.toggle('smooth', size.smooth);
}
video.addEventListener('resize', layout);
new ResizeObserver(layout).observe(area);

// Page shortcuts, never sent to the app: Ctrl+Alt+S stats, Ctrl+Alt+F fullscreen, Ctrl+Alt+M mouse capture.
const SHORTCUTS = { KeyS: () => overlay.toggle(), KeyF: () => toggleFullscreen(), KeyM: () => capture.lockPointer() };
const isShortcut = (event) => event.ctrlKey && event.altKey && !event.shiftKey && !event.metaKey && event.code in SHORTCUTS;
window.addEventListener('keydown', (event) => {
  if (!isShortcut(event)) return;
  event.preventDefault();
  if (!event.repeat) SHORTCUTS[event.code]();
});

async function toggleFullscreen() {
  if (document.fullscreenElement) {
    await document.exitFullscreen();
    return;
  }
  await area.requestFullscreen({ navigationUI: 'hide' });
  // In fullscreen, Keyboard Lock lets keys such as Escape, Alt+Tab or Ctrl+W reach the app
  // (holding Escape still leaves fullscreen).
  await navigator.keyboard?.lock?.().catch(() => {});
}
document.addEventListener('fullscreenchange', () => {
  if (!document.fullscreenElement) navigator.keyboard?.unlock?.();
});

const capture = new InputCapture({ surface, video, area, channels: () => session.input, isShortcut });
session.capture = capture;
const gamepads = new GamepadPoller((fields) => session.input?.send('gamepad', fields) ?? false);
session.addEventListener('inputopen', () => {
  gamepads.reset();
  capture.sendResize(true);
});

const overlay = new StatsOverlay($('overlay'), session.stats);
session.overlay = overlay;
$('toggle-stats').addEventListener('click', () => overlay.toggle());
$('toggle-fullscreen').addEventListener('click', () => toggleFullscreen());
$('lock-pointer').addEventListener('click', () => capture.lockPointer());
$('disconnect').addEventListener('click', () => session.end());
if (options.showStats) overlay.toggle(true);

// Leaving the page during a stream (a reload or a closed tab: the page cannot tell which) leaves
// the session for this tab to resume; the proxy ends it when no reload comes within a few seconds.
// Any other session is ended for good.
window.addEventListener('pagehide', () => {
  if (!session.ws && !session.pc) return;
  if (session.established && session.state !== 'ended' && session.state !== 'failed') {
    sessionStorage.setItem(LEFT_KEY, JSON.stringify({ at: Date.now(), functionName: session.functionName }));
    session.leave();
  } else session.end();
});

if (options.token) proceed(options.token);
else {
  showState('ended', NO_TOKEN);
  signInForm.hidden = false;
}
