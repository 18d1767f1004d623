// Touch gestures as a laptop's trackpad reads them (docs/web-client.md, "Touch"). Pure: touch
// points in, actions out; input-capture.js turns the actions into input messages.

const TAP_MS = 250; // A touch that lifts within this long...
const TAP_SLOP_PX = 10; // ...having moved less than this (CSS px) is a tap.

const pair = (points) => {
  const [a, b] = [...points.values()];
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2, distance: Math.hypot(a.x - b.x, a.y - b.y) || 1 };
};

/**
 * Recognises trackpad gestures from touches: one finger moves the pointer (`move`, relative
 * `dx`/`dy`), a tap clicks (`click`, button 0), two fingers scroll (`scroll`, wheel pixels, content
 * following the fingers), a two-finger tap right-clicks (`click`, button 2), and two fingers that
 * spread or close pinch (`pinch` with `phase`, `scale` against the start and the midpoint `x`/`y`).
 *
 * Points are `{id, x, y}` in client (CSS) pixels; `t` is in ms. `handle()` returns the actions.
 */
export class Trackpad {
  constructor() {
    this.points = new Map();
    this.gesture = null;
  }

  /** Forget every finger (the page lost focus: no end will come for them). */
  reset() {
    this.points.clear();
    this.gesture = null;
  }

  /** Feed one touch event: `phase` start|move|end|cancel with the points that changed. */
  handle(phase, changed, t) {
    if (phase === 'start') return this.start(changed, t);
    if (phase === 'move') return this.move(changed);
    return this.end(changed, t, phase === 'end');
  }

  start(changed, t) {
    this.gesture ??= { t0: t, fingers: 0, travel: 0, mode: null, reference: null, last: null };
    for (const point of changed) this.points.set(point.id, point);
    this.gesture.fingers = Math.max(this.gesture.fingers, this.points.size);
    if (this.points.size === 2) this.gesture.reference = pair(this.points);
    return [];
  }

  move(changed) {
    const gesture = this.gesture;
    if (!gesture) return [];
    const before = this.points.size === 2 ? pair(this.points) : null;
    const moves = [];
    for (const point of changed) {
      const old = this.points.get(point.id);
      if (!old) continue;
      moves.push({ dx: point.x - old.x, dy: point.y - old.y });
      this.points.set(point.id, point);
    }
    if (this.points.size === 1 && moves.length) {
      const { dx, dy } = moves[0];
      gesture.travel += Math.hypot(dx, dy);
      // A finger left over from a two-finger gesture does not move the pointer.
      return gesture.fingers === 1 ? [{ kind: 'move', dx, dy }] : [];
    }
    if (!before || this.points.size !== 2) return [];
    const after = pair(this.points);
    const spread = Math.abs(after.distance - gesture.reference.distance);
    const shift = Math.hypot(after.x - gesture.reference.x, after.y - gesture.reference.y);
    gesture.travel = Math.max(gesture.travel, spread, shift);
    if (gesture.mode === null && gesture.travel > TAP_SLOP_PX) gesture.mode = spread > shift ? 'pinch' : 'scroll';
    if (gesture.mode === 'scroll') return [{ kind: 'scroll', dx: before.x - after.x, dy: before.y - after.y }];
    if (gesture.mode !== 'pinch') return [];
    const phase = gesture.last ? 'move' : 'start';
    gesture.last = { kind: 'pinch', phase, scale: after.distance / gesture.reference.distance, x: after.x, y: after.y };
    return [gesture.last];
  }

  end(changed, t, ended) {
    const gesture = this.gesture;
    for (const point of changed) this.points.delete(point.id);
    if (!gesture) return [];
    const actions = [];
    if (gesture.last && this.points.size < 2) {
      actions.push({ ...gesture.last, phase: 'end' });
      gesture.last = null;
      gesture.mode = 'over';
    }
    if (this.points.size === 0) {
      const tap = ended && t - gesture.t0 <= TAP_MS && gesture.travel <= TAP_SLOP_PX && gesture.fingers <= 2;
      if (tap) actions.push({ kind: 'click', button: gesture.fingers === 2 ? 2 : 0 });
      this.gesture = null;
    }
    return actions;
  }
}
