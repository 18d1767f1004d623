// What a browser must have to stream, checked before anything else runs: a browser without it
// gets a sentence saying so instead of a page that fails half-way. Everything else the page uses
// beyond these is optional and feature-detected where it is used (docs/web-client.md, "Browsers").

/** [global name, what it is for] for each API streaming cannot do without. */
export const REQUIRED = [
  ['RTCPeerConnection', 'WebRTC, which carries the video and the input'],
  ['WebSocket', 'WebSockets, which carry the sign-in and signaling'],
];

/** The REQUIRED entries `scope` (normally `window`) lacks. */
export function missingForStreaming(scope) {
  return REQUIRED.filter(([name]) => typeof scope[name] !== 'function');
}

/** The sentence for a browser that lacks `missing` (from missingForStreaming; not empty). */
export function describeMissing(missing) {
  const names = missing.map(([name, purpose]) => `${name} (${purpose})`).join(' and ');
  return `This browser cannot stream: it lacks ${names}. Open this page in a current Chrome, Edge, Firefox or Safari.`;
}
