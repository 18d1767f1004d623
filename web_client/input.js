// Input from the page to the app over two data channels (docs/protocol.md section 5).

import { epochTime } from './clock.js';

const PROTOCOL_VERSION = 2;
const MAX_MESSAGE_BYTES = 16 * 1024;
const MAX_CLIPBOARD_CHARS = 8192;
const MAX_DELTA = 10_000;
const LINE_PIXELS = 16;
const MOTION_TYPES = new Set(['mouse_move', 'mouse_motion']);

/** Create the two input channels on `pc`; call before the offer so both are in the SDP. */
export function createInputChannels(pc) {
  return new InputChannels(
    pc.createDataChannel('input'),
    pc.createDataChannel('input-motion', { ordered: false, maxRetransmits: 0 }),
  );
}

/** Event time as the protocol wants it: ms since the Unix epoch. */
export function eventTime(event) {
  return epochTime(event?.timeStamp ?? performance.now());
}

/** DOM modifier flags as the protocol's bitmask: shift 1, ctrl 2, alt 4, meta 8. */
export function modifiers(event) {
  return (event.shiftKey ? 1 : 0) | (event.ctrlKey ? 2 : 0) | (event.altKey ? 4 : 0) | (event.metaKey ? 8 : 0);
}

/** True on Apple's systems, where Option (Alt) types characters and dead keys compose. */
export const isMac = () => /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

/**
 * The text a keydown types, or null when it types none: the `key` of a printable key is the
 * character the user's layout made (`z` for KeyY on a German layout, `@` for AltGr+Q, `é` for the
 * key after a dead acute). Ctrl or Meta make a shortcut, not text, except Ctrl+Alt, which Windows
 * reports for AltGr; Alt alone types on a Mac (Option) and is a shortcut elsewhere.
 */
export function keyText(event, mac = isMac()) {
  const chars = [...(event.key ?? '')];
  if (chars.length !== 1 || event.isComposing) return null; // Enter, Dead, Process, Unidentified...
  const point = chars[0].codePointAt(0);
  if (point < 0x20 || (point >= 0x7f && point < 0xa0)) return null;
  const altGraph = event.getModifierState?.('AltGraph') || (event.ctrlKey && event.altKey);
  if (!altGraph && (event.ctrlKey || event.metaKey || (event.altKey && !mac))) return null;
  return event.key;
}

const clampDelta = (value) => Math.max(-MAX_DELTA, Math.min(MAX_DELTA, value));

/** The `input` (reliable) and `input-motion` (unreliable, unordered) channels, each with its own `seq`. */
export class InputChannels {
  constructor(reliable, motion) {
    this.reliable = reliable;
    this.motion = motion;
    this.seq = new Map([[reliable, 0], [motion, 0]]);
    this.sent = 0;
  }

  /** The channel a message of `type` (and touch `phase`) travels on. */
  channelFor(type, phase) {
    return MOTION_TYPES.has(type) || (type === 'touch' && phase === 'move') ? this.motion : this.reliable;
  }

  get open() {
    return this.reliable.readyState === 'open';
  }

  /** Send one message; dropped (false) while its channel is not open: stale input has no use later. */
  send(type, fields, t = epochTime()) {
    const channel = this.channelFor(type, fields.phase);
    if (channel.readyState !== 'open') return false;
    const seq = this.seq.get(channel);
    const text = JSON.stringify({ v: PROTOCOL_VERSION, type, seq, t, ...fields });
    if (new TextEncoder().encode(text).length > MAX_MESSAGE_BYTES) {
      console.warn(`input ${type} message over ${MAX_MESSAGE_BYTES} bytes not sent`);
      return false;
    }
    this.seq.set(channel, seq + 1);
    channel.send(text);
    this.sent += 1;
    return true;
  }

  close() {
    this.reliable.close();
    this.motion.close();
  }
}

/** `text` cut so that its clipboard message fits the 16 KiB limit (multi-byte text is cut more). */
export function clipboardText(text) {
  let cut = text.slice(0, MAX_CLIPBOARD_CHARS);
  // JSON escaping and UTF-8 can triple a character; keep room for the other fields.
  while (new TextEncoder().encode(JSON.stringify(cut)).length > MAX_MESSAGE_BYTES - 256) {
    cut = cut.slice(0, Math.floor(cut.length * 0.9));
  }
  return cut;
}

/** Wheel deltas in pixels: lines and pages converted, clamped to the protocol's bound. */
export function wheelPixels(event, pageHeight) {
  const unit = event.deltaMode === 1 ? LINE_PIXELS : event.deltaMode === 2 ? pageHeight : 1;
  return { dx: clampDelta(event.deltaX * unit), dy: clampDelta(event.deltaY * unit) };
}

export { clampDelta };
