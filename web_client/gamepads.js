// Gamepads through the Gamepad API: polled once per animation frame, each pad's whole state sent
// when it changes (docs/protocol.md section 5, type `gamepad`).

const MAX_PADS = 4;
const MAX_BUTTONS = 32;
const MAX_AXES = 16;

const clamp = (value, low, high) => Math.max(low, Math.min(high, Number.isFinite(value) ? value : 0));

/** The protocol's fields for `pad` (a Gamepad, or null for a slot that is empty now). */
export function padState(index, pad) {
  if (!pad || !pad.connected) return { index, connected: false, id: '', buttons: [], axes: [] };
  return {
    index,
    connected: true,
    id: String(pad.id).slice(0, 128),
    buttons: Array.from(pad.buttons).slice(0, MAX_BUTTONS).map((button) => clamp(typeof button === 'number' ? button : button.value, 0, 1)),
    axes: Array.from(pad.axes).slice(0, MAX_AXES).map((axis) => clamp(axis, -1, 1)),
  };
}

export class GamepadPoller {
  /** `send(fields)` sends one `gamepad` message and returns whether it went out. */
  constructor(send) {
    this.send = send;
    this.last = new Array(MAX_PADS).fill(null);
    this.frame = null;
  }

  start() {
    if (this.frame === null && 'getGamepads' in navigator) this.frame = requestAnimationFrame(() => this.poll());
  }

  stop() {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
  }

  /** Forget what was sent, so that every pad's state goes out again (e.g. on a new connection). */
  reset() {
    this.last.fill(null);
  }

  poll() {
    const pads = navigator.getGamepads();
    for (let index = 0; index < MAX_PADS; index++) {
      const state = padState(index, pads[index] ?? null);
      const text = JSON.stringify(state);
      // An empty slot that was never seen connected is not news.
      const previous = this.last[index];
      if (text === previous || (previous === null && !state.connected)) continue;
      if (this.send(state)) this.last[index] = text;
    }
    this.frame = requestAnimationFrame(() => this.poll());
  }
}
