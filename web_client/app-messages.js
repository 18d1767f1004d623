// The app channel's messages between this page and the app (docs/protocol.md section 7). Pure:
// each message the page sends is built here, each one it receives is parsed and checked here;
// app-channel.js only moves them. The stream app's side is stream_app/app_messages.py.

export const APP_CHANNEL_LABEL = 'app';
export const APP_PROTOCOL_VERSION = 1;
export const MAX_APP_MESSAGE_BYTES = 64 * 1024;
const MAX_GAMEPADS = 4;
const MAX_RUMBLE_MS = 5000;
const MAX_REASON = 256;

/** The CSS `cursor` keywords an app may ask for (stream_app/app_messages.py CURSOR_SHAPES). */
export const CURSOR_SHAPES = new Set([
  'default', 'pointer', 'text', 'crosshair', 'move', 'grab', 'grabbing', 'wait', 'progress', 'help',
  'not-allowed', 'cell', 'zoom-in', 'zoom-out', 'ew-resize', 'ns-resize', 'nesw-resize', 'nwse-resize',
]);

/** A message that cannot be sent or used; `code` is one of the protocol's error codes. */
export class AppMessageError extends Error {
  constructor(code, reason) {
    super(`${code}: ${reason}`);
    this.name = 'AppMessageError';
    this.code = code;
    this.reason = reason;
  }
}

const byteLength = (text) => new TextEncoder().encode(text).length;

function serialize(seq, type, fields) {
  let text;
  try {
    text = JSON.stringify({ v: APP_PROTOCOL_VERSION, seq, type, ...fields });
  } catch (error) {
    throw new AppMessageError('bad-message', `the message is not JSON: ${error.message}`);
  }
  const size = byteLength(text);
  if (size > MAX_APP_MESSAGE_BYTES) {
    throw new AppMessageError('too-large', `the message is ${size} bytes; at most ${MAX_APP_MESSAGE_BYTES} are allowed`);
  }
  return text;
}

/** `message`: a custom message for the app's `on_message`; `data` is any JSON value. */
export function customMessage(seq, data) {
  if (data === undefined || typeof data === 'function' || typeof data === 'symbol') {
    throw new AppMessageError('bad-message', `the message is not JSON: ${typeof data}`);
  }
  return serialize(seq, 'message', { data });
}

/** `error`: this page refused the app's message `refusedSeq` (null when unknown) with `code`. */
export function errorMessage(seq, code, reason, refusedSeq = null) {
  return serialize(seq, 'error', { code, reason: String(reason).slice(0, MAX_REASON), refusedSeq, dropped: 1 });
}

const isInt = (value, low, high) => Number.isInteger(value) && value >= low && value <= high;
const isFraction = (value) => typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1;

function need(object, name, valid, what) {
  if (!(name in object)) throw new AppMessageError('bad-message', `field '${name}' is missing`);
  if (!valid(object[name])) throw new AppMessageError('bad-message', `field '${name}' must be ${what}`);
  return object[name];
}

/** The `seq` of `text` when it has a usable one (to say which message an error refuses), else null. */
export function seqOf(text) {
  try {
    const seq = JSON.parse(text)?.seq;
    return isInt(seq, 0, Number.MAX_SAFE_INTEGER) ? seq : null;
  } catch {
    return null;
  }
}

/**
 * One message from the app, checked: `{seq, type, ...fields}` with `type` one of `message` (`data`),
 * `clipboard` (`text`), `cursor` (`shape`, `visible`), `rumble` (`index`, `duration`,
 * `strongMagnitude`, `weakMagnitude`), `error` (`code`, `reason`, `refusedSeq`, `dropped`).
 * Throws AppMessageError for anything else.
 */
export function parseAppMessage(data) {
  if (typeof data !== 'string') throw new AppMessageError('bad-message', 'app messages are text');
  const size = byteLength(data);
  if (size > MAX_APP_MESSAGE_BYTES) {
    throw new AppMessageError('too-large', `the message is ${size} bytes; at most ${MAX_APP_MESSAGE_BYTES} are allowed`);
  }
  let object;
  try {
    object = JSON.parse(data);
  } catch (error) {
    throw new AppMessageError('bad-json', `the message is not JSON: ${error.message}`);
  }
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    throw new AppMessageError('bad-message', 'the message must be a JSON object');
  }
  if (object.v !== APP_PROTOCOL_VERSION) {
    throw new AppMessageError('unsupported-version', `app channel version ${JSON.stringify(object.v)} is not supported; this page speaks ${APP_PROTOCOL_VERSION}`);
  }
  const type = need(object, 'type', (value) => typeof value === 'string', 'a string');
  const seq = need(object, 'seq', (value) => isInt(value, 0, Number.MAX_SAFE_INTEGER), 'an integer >= 0');
  switch (type) {
    case 'message':
      return { seq, type, data: need(object, 'data', () => true, 'present') };
    case 'clipboard':
      return { seq, type, text: need(object, 'text', (value) => typeof value === 'string', 'a string') };
    case 'cursor': {
      const shape = need(object, 'shape', (value) => CURSOR_SHAPES.has(value), `one of ${[...CURSOR_SHAPES].join(', ')}`);
      const visible = need(object, 'visible', (value) => typeof value === 'boolean', 'true or false');
      return { seq, type, shape, visible };
    }
    case 'rumble':
      return {
        seq,
        type,
        index: need(object, 'index', (value) => isInt(value, 0, MAX_GAMEPADS - 1), `0-${MAX_GAMEPADS - 1}`),
        duration: need(object, 'duration', (value) => isInt(value, 1, MAX_RUMBLE_MS), `1-${MAX_RUMBLE_MS}`),
        strongMagnitude: need(object, 'strongMagnitude', isFraction, '0..1'),
        weakMagnitude: need(object, 'weakMagnitude', isFraction, '0..1'),
      };
    case 'error':
      return {
        seq,
        type,
        code: need(object, 'code', (value) => typeof value === 'string', 'a string'),
        reason: need(object, 'reason', (value) => typeof value === 'string', 'a string'),
        refusedSeq: object.refusedSeq ?? null,
        dropped: isInt(object.dropped, 1, Number.MAX_SAFE_INTEGER) ? object.dropped : 1,
      };
    default:
      throw new AppMessageError('unknown-type', `unknown message type '${type}' from the app`);
  }
}
