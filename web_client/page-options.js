// What the page's URL fragment asks for (docs/web-client.md, "Opening it"). Pure: a fragment in,
// options out; the entry module (client.js) moves the token out of the address bar.

import { PREFERRED_CODEC, RESUME_WINDOW_MS } from './stream-session.js';

/**
 * The options of fragment `hash` (`#token=…&relay=1&…`): `token` (null without one), `relayOnly`,
 * `functionName`, `scaleMode` (`integer` or `fit`), `resumeWindowMs`, `showStats`, `codec`,
 * `touchMode` (`direct` or `trackpad`), `microphone` (`mic=1`), and `rest`: the fragment without its token, to put back in the address bar.
 */
export function readPageOptions(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const token = params.get('token');
  params.delete('token');
  const seconds = Number(params.get('resume'));
  return {
    token,
    relayOnly: params.get('relay') === '1',
    functionName: params.get('function'),
    scaleMode: params.get('scale') === 'fit' ? 'fit' : 'integer',
    resumeWindowMs: seconds > 0 ? seconds * 1000 : RESUME_WINDOW_MS,
    showStats: params.get('stats') === '1',
    codec: params.get('codec') ?? PREFERRED_CODEC,
    touchMode: params.get('touch') === 'trackpad' ? 'trackpad' : 'direct',
    microphone: params.get('mic') === '1',
    rest: params.toString(),
  };
}
