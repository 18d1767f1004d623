// The page: takes the token from the URL fragment, starts a session through the proxy, shows its state.
import { StreamSession } from './stream-session.js';

function readFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token) {
    // Keep the token for this tab only, and out of the address bar and history.
    sessionStorage.setItem('stream-token', token);
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  }
  return {
    token: token ?? sessionStorage.getItem('stream-token'),
    relayOnly: params.get('relay') === '1',
  };
}

const status = document.getElementById('status');
const video = document.getElementById('stream');

function showState(state, message) {
  status.dataset.state = state;
  status.textContent = message;
}

const { token, relayOnly } = readFragment();
if (!token) {
  showState('ended', 'No sign-in token: open the link that `make demo` printed (…/#token=…).');
} else {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const session = new StreamSession({ url: `${scheme}//${location.host}/sign_in`, token, video, relayOnly });
  session.addEventListener('statechange', (event) => showState(event.detail.state, event.detail.message));
  // For debugging from the console and for the end-to-end tests.
  window.streamSession = session;
  session.start();
}
