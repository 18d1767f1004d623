// Turns the page's keyboard, mouse, wheel, touch, paste and size changes into input messages
// (docs/protocol.md section 5). Gamepads are polled by gamepads.js.

import { clampDelta, clipboardText, eventTime, modifiers, wheelPixels } from './input.js';
import { toPicture } from './picture.js';

const RESIZE_DEBOUNCE_MS = 250;
const MAX_TOUCHES = 10;

const isFormField = (target) => target instanceof Element && target.closest('input, textarea, select') !== null;
// Ctrl+V / Cmd+V: the key goes to the app, but the browser must still make its paste event.
const isPasteKey = (event) => (event.ctrlKey || event.metaKey) && event.code === 'KeyV';
const field32 = (text) => (text || 'Unidentified').slice(0, 32);
const clampInt = (value, low, high) => Math.max(low, Math.min(high, Math.round(value)));

/**
 * Listens on the page and sends input through `channels()` (the session's current InputChannels,
 * or null between connections).
 *
 * `surface` is the element over the picture that receives pointer input; `video` tells where the
 * picture is. `isShortcut(event)` says which keys the page keeps for itself (never sent).
 */
export class InputCapture {
  constructor({ surface, video, area, channels, isShortcut }) {
    this.surface = surface;
    this.video = video;
    this.area = area;
    this.channels = channels;
    this.isShortcut = isShortcut;
    this.keysDown = new Map();
    this.touchSlots = new Map();
    this.mouseButtons = 0;
    this.lastResize = null;
    this.resizeTimer = null;
    /**
     * Relative motion without pointer lock: where the browser refuses the lock (some headless or
     * embedded browsers), set this to send `mouse_motion` from `movementX/Y` all the same.
     */
    this.relativeFallback = false;
    this.listen();
  }

  send(type, fields, t) {
    return this.channels()?.send(type, fields, t) ?? false;
  }

  get pointerLocked() {
    return document.pointerLockElement === this.surface;
  }

  /** Ask for pointer lock (relative mouse motion); resolves true when the browser granted it. */
  async lockPointer() {
    try {
      await this.surface.requestPointerLock({ unadjustedMovement: true });
    } catch {
      try {
        // Not every browser supports unadjusted movement; the plain lock is the next best.
        await this.surface.requestPointerLock();
      } catch (error) {
        console.warn(`pointer lock refused: ${error}`);
      }
    }
    return this.pointerLocked;
  }

  listen() {
    const on = (target, type, handler, options) => target.addEventListener(type, handler.bind(this), options);
    on(window, 'keydown', this.onKey);
    on(window, 'keyup', this.onKey);
    on(window, 'blur', this.releaseAll);
    on(this.surface, 'mousedown', this.onMouseButton);
    on(window, 'mouseup', this.onMouseButton);
    on(window, 'mousemove', this.onMouseMove);
    on(this.surface, 'contextmenu', (event) => event.preventDefault());
    on(this.surface, 'wheel', this.onWheel, { passive: false });
    for (const type of ['touchstart', 'touchmove', 'touchend', 'touchcancel']) {
      on(this.surface, type, this.onTouch, { passive: false });
    }
    on(document, 'paste', this.onPaste);
    new ResizeObserver(() => this.scheduleResize()).observe(this.area);
    on(document, 'fullscreenchange', this.scheduleResize);
  }

  onKey(event) {
    if (isFormField(event.target) || this.isShortcut(event) || !this.channels()) return;
    const down = event.type === 'keydown';
    // Keep browser defaults (Tab moving focus, space scrolling, Ctrl+W...) away from the app's keys.
    if (!isPasteKey(event)) event.preventDefault();
    if (down) this.keysDown.set(event.code, event.key);
    else this.keysDown.delete(event.code);
    this.send(
      'key',
      {
        action: down ? 'down' : 'up',
        code: field32(event.code),
        key: field32(event.key),
        mods: modifiers(event),
        repeat: event.repeat,
      },
      eventTime(event),
    );
  }

  /** When the page loses focus no key-up or button-up will come: release them so none sticks. */
  releaseAll() {
    for (const [code, key] of this.keysDown) {
      this.send('key', { action: 'up', code: field32(code), key: field32(key), mods: 0, repeat: false });
    }
    this.keysDown.clear();
  }

  onMouseButton(event) {
    const down = event.type === 'mousedown';
    // A release counts wherever it happens, but only for a press that began on the picture.
    if (!down && !(this.mouseButtons & (1 << event.button))) return;
    if (down && !this.channels()) return;
    if (down) this.mouseButtons |= 1 << event.button;
    else this.mouseButtons &= ~(1 << event.button);
    if (event.button > 4) return;
    event.preventDefault();
    const { x, y } = toPicture(this.video, event.clientX, event.clientY);
    this.send('mouse_button', { action: down ? 'down' : 'up', button: event.button, x, y, mods: modifiers(event) }, eventTime(event));
  }

  onMouseMove(event) {
    const buttons = event.buttons & 31;
    if (this.pointerLocked || (this.relativeFallback && this.surface.contains(event.target))) {
      this.send('mouse_motion', { dx: clampDelta(event.movementX), dy: clampDelta(event.movementY), buttons }, eventTime(event));
    } else if (this.surface.contains(event.target) || this.mouseButtons) {
      const { x, y } = toPicture(this.video, event.clientX, event.clientY);
      this.send('mouse_move', { x, y, buttons }, eventTime(event));
    }
  }

  onWheel(event) {
    event.preventDefault();
    const { dx, dy } = wheelPixels(event, this.surface.clientHeight);
    this.send('wheel', { dx, dy, mods: modifiers(event) }, eventTime(event));
  }

  /** Touch identifiers can be any number; the protocol wants small ids, so each finger gets a slot. */
  touchId(identifier, ending) {
    let slot = this.touchSlots.get(identifier);
    if (slot === undefined) {
      const used = new Set(this.touchSlots.values());
      slot = 0;
      while (used.has(slot)) slot += 1;
      this.touchSlots.set(identifier, slot);
    }
    if (ending) this.touchSlots.delete(identifier);
    return slot;
  }

  onTouch(event) {
    event.preventDefault(); // No emulated mouse events, no scrolling or zooming of the page.
    const phase = event.type.slice('touch'.length);
    const ending = phase === 'end' || phase === 'cancel';
    // The touches that changed: each phase reports the fingers it is about.
    const touches = Array.from(event.changedTouches)
      .slice(0, MAX_TOUCHES)
      .map((touch) => ({ id: this.touchId(touch.identifier, ending), ...toPicture(this.video, touch.clientX, touch.clientY) }));
    this.send('touch', { phase, touches }, eventTime(event));
  }

  onPaste(event) {
    if (isFormField(event.target)) return;
    const text = event.clipboardData?.getData('text/plain') ?? '';
    if (!text || !this.channels()) return;
    event.preventDefault();
    this.send('clipboard', { text: clipboardText(text) }, eventTime(event));
  }

  /** The picture size this page would like: its area in device pixels, within the protocol's bounds. */
  wantedSize() {
    const ratio = window.devicePixelRatio || 1;
    const even = (value) => value - (value % 2);
    return {
      width: even(clampInt(this.area.clientWidth * ratio, 64, 7680)),
      height: even(clampInt(this.area.clientHeight * ratio, 64, 4320)),
    };
  }

  scheduleResize() {
    clearTimeout(this.resizeTimer);
    this.resizeTimer = setTimeout(() => this.sendResize(), RESIZE_DEBOUNCE_MS);
  }

  /** Send `resize` when the wanted size changed since the last one sent (or always with `force`). */
  sendResize(force = false) {
    const size = this.wantedSize();
    if (!force && this.lastResize && size.width === this.lastResize.width && size.height === this.lastResize.height) return;
    if (this.send('resize', size)) this.lastResize = size;
  }
}
