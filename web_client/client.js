// The page's entry module, and the one place it is wired: the DOM of index.html, the session, its
// stats, input, the overlay, sign-in and the choice of function. Every other module is a part
// this one connects; none of them looks up an element by its id.

import { describeMissing, missingForStreaming } from './browser-support.js';
import { CloseCode, describeClose } from './close-codes.js';
import { applyCursor } from './cursor.js';
import { toggleFullscreen, unlockKeyboardOnExit } from './fullscreen.js';
import { listFunctions } from './functions.js';
import { GamepadPoller } from './gamepads.js';
import { HostClipboard } from './host-clipboard.js';
import { InputCapture } from './input-capture.js';
import { Microphone } from './microphone.js';
import { StatsOverlay } from './overlay.js';
import { readPageOptions } from './page-options.js';
import { layoutPicture, onDevicePixelRatioChange } from './picture.js';
import { playRumble } from './rumble.js';
import { isShortcut, listenForShortcuts } from './shortcuts.js';
import { StatsSampler } from './stats.js';
import { StatusView } from './status-view.js';
import { StreamSession } from './stream-session.js';
import { forgetToken, loadToken, rememberLeftSession, saveToken, takeLeftSession } from './tab-memory.js';

const NO_TOKEN = 'No sign-in token: open the link that `make demo` printed (…/#token=…), or paste a token below.';

function main() {
  const $ = (id) => document.getElementById(id);
  const area = $('area');
  const surface = $('surface');
  const video = $('stream');
  const signInForm = $('sign-in');
  const picker = $('picker');
  const functionSelect = $('function');
  const tokenInput = $('token-input');
  const view = new StatusView({ status: $('status'), connectAgain: $('connect-again') });

  const options = readPageOptions(location.hash);
  if (options.token) {
    saveToken(options.token);
    // Out of the address bar and the history, where it could be copied or synced.
    history.replaceState(null, '', location.pathname + location.search + (options.rest ? `#${options.rest}` : ''));
  }
  // A browser that cannot stream says so and goes no further (the token has left the address bar).
  const missing = missingForStreaming(window);
  if (missing.length) {
    view.show('unsupported', describeMissing(missing), null, { canConnectAgain: false });
    return;
  }
  const token = options.token ?? loadToken();
  const leftSession = takeLeftSession(options.resumeWindowMs);

  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // The sampler reads the session's current peer connection, whichever it is when it samples.
  const stats = new StatsSampler({ video, peerConnection: () => session.pc });
  const session = new StreamSession({
    url: `${scheme}//${location.host}/sign_in`,
    token,
    video,
    stats,
    relayOnly: options.relayOnly,
    resumeWindowMs: options.resumeWindowMs,
    codec: options.codec,
    microphone: new Microphone(navigator.mediaDevices, { enabled: options.microphone }),
  });
  const showState = (state, message, code = null) => view.show(state, message, code, { canConnectAgain: Boolean(session.token) });
  const capture = new InputCapture({
    surface,
    video,
    area,
    channels: () => session.input,
    isShortcut,
    textSink: $('text-sink'),
    touchMode: options.touchMode,
  });
  const gamepads = new GamepadPoller((fields) => session.input?.send('gamepad', fields) ?? false);
  const overlay = new StatsOverlay($('overlay'), stats);
  // What the app asks of the page over its channel (docs/protocol.md section 7).
  const hostClipboard = new HostClipboard($('app-clipboard'));
  session.app.addEventListener('clipboard', ({ detail }) => hostClipboard.write(detail.text));
  session.app.addEventListener('cursor', ({ detail }) => applyCursor(video, detail));
  session.app.addEventListener('rumble', ({ detail }) => playRumble(detail));

  // For the console and the tests (docs/web-client.md lists what they may use).
  session.capture = capture;
  session.overlay = overlay;
  session.hostClipboard = hostClipboard;
  window.streamSession = session;

  function askForToken() {
    forgetToken();
    session.token = null;
    view.hideConnectAgain();
    signInForm.hidden = false;
  }

  session.addEventListener('statechange', ({ detail }) => {
    showState(detail.state, detail.message, detail.code);
    if (detail.code === CloseCode.TOKEN_INVALID || detail.code === CloseCode.SESSION_TIMEOUT) askForToken();
    // Each connection starts with the default cursor; the app's is sent again when it has one.
    if (detail.state !== 'streaming') applyCursor(video);
    if (detail.state === 'streaming') {
      gamepads.start();
      // A focused button or field would keep keys from the app (and Space would press the button);
      // the text sink takes the focus so input methods can compose for the app.
      capture.focusText();
    }
    if (detail.state === 'ended' || detail.state === 'failed') gamepads.stop();
    // The old channels are gone with whatever was held; the app lets go of it on its side.
    if (detail.state !== 'streaming') capture.releaseAll();
  });
  session.addEventListener('inputopen', () => {
    gamepads.reset();
    capture.sendResize(true);
  });

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

  async function proceed(signInToken) {
    session.token = signInToken;
    signInForm.hidden = true;
    if (leftSession !== null && !leftSession.used) {
      connect(leftSession.functionName); // A reload: straight back to the session it left.
      return;
    }
    showState('connecting', 'Looking up your streaming functions…');
    const functions = await listFunctions(signInToken);
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
    const typed = tokenInput.value.trim();
    if (!typed) return;
    tokenInput.value = '';
    saveToken(typed);
    proceed(typed);
  });
  picker.addEventListener('submit', (event) => {
    event.preventDefault();
    connect(functionSelect.value);
  });
  $('connect-again').addEventListener('click', () => session.start());

  // Drawing the picture without blur: see picture.js and docs/web-client.md.
  const layout = () => layoutPicture(video, area, options.scaleMode);
  video.addEventListener('resize', layout);
  new ResizeObserver(layout).observe(area);
  onDevicePixelRatioChange(layout);

  const fullscreen = () => toggleFullscreen(area);
  listenForShortcuts({ stats: () => overlay.toggle(), fullscreen, capture: () => capture.lockPointer() });
  unlockKeyboardOnExit();
  $('toggle-stats').addEventListener('click', () => overlay.toggle());
  $('toggle-fullscreen').addEventListener('click', fullscreen);
  $('lock-pointer').addEventListener('click', () => capture.lockPointer());
  const touchButton = $('toggle-touch');
  const showTouchMode = () => {
    touchButton.textContent = `Touch: ${capture.touchMode}`;
    touchButton.setAttribute('aria-pressed', String(capture.touchMode === 'trackpad'));
  };
  touchButton.addEventListener('click', () => {
    capture.releaseAll();
    capture.touchMode = capture.touchMode === 'direct' ? 'trackpad' : 'direct';
    showTouchMode();
  });
  showTouchMode();
  const micButton = $('toggle-mic');
  const microphone = session.microphone;
  const showMicrophone = () => {
    micButton.textContent = `Microphone: ${microphone.enabled ? 'on' : 'off'}`;
    micButton.setAttribute('aria-pressed', String(microphone.enabled));
    // Where the page cannot capture, or the user refused, the button says why and stays off.
    micButton.disabled = !microphone.enabled && microphone.error !== null;
    micButton.title = micButton.disabled
      ? `Microphone unavailable: ${microphone.error}`
      : 'Send your microphone to the app (the browser asks for permission)';
  };
  micButton.addEventListener('click', async () => {
    micButton.disabled = true; // one change at a time, while the browser may be asking
    await session.setMicrophone(!microphone.enabled);
    micButton.disabled = false;
    showMicrophone();
    capture.focusText(); // keys go back to the app, not to the button
  });
  showMicrophone();
  $('disconnect').addEventListener('click', () => session.end());
  if (options.showStats) overlay.toggle(true);

  // Leaving the page during a stream (a reload or a closed tab: the page cannot tell which) leaves
  // the session for this tab to resume; the proxy ends it when no reload comes within a few seconds.
  // Any other session is ended for good.
  window.addEventListener('pagehide', () => {
    if (!session.ws && !session.pc) return;
    if (session.established && session.state !== 'ended' && session.state !== 'failed') {
      rememberLeftSession(session.functionName);
      session.leave();
    } else session.end();
  });

  if (token) proceed(token);
  else {
    showState('ended', NO_TOKEN);
    signInForm.hidden = false;
  }
}

main();
