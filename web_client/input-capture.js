// Turns the page's keyboard, mouse, wheel, touch, paste and size changes into input messages
// (docs/protocol.md section 5). Gamepads are polled by gamepads.js.

import { clampDelta, clipboardText, eventTime, isMac, keyText, modifiers, wheelPixels } from './input.js';
import { onDevicePixelRatioChange, pictureRect, toPicture } from './picture.js';
import { Trackpad } from './trackpad.js';

const RESIZE_DEBOUNCE_MS = 250;
const MAX_TOUCHES = 10;

const isFormField = (target) => target instanceof Element && target.closest('input, textarea, select') !== null;
// An input method at work: its keys belong to the composition, its result comes as text.
// A Mac composes dead keys in the text field (Option+E, then E: `é` at compositionend).
const isComposing = (event) =>
  event.isComposing || event.key === 'Process' || event.keyCode === 229 || (event.key === 'Dead' && isMac());
const MAX_TEXT = 256;
// Ctrl+V / Cmd+V: the key goes to the app, but the browser must still make its paste event.
const isPasteKey = (event) => (event.ctrlKey || event.metaKey) && event.code === 'KeyV';
const field32 = (text) => (text || 'Unidentified').slice(0, 32);
const clampInt = (value, low, high) => Math.max(low, Math.min(high, Math.round(value)));
const clampScale = (scale) => Math.max(0.01, Math.min(100, scale));
const clampFraction = (value) => Math.max(0, Math.min(1, value));

/** How touches reach the app: `direct` (each finger a pointer where it touches) or `trackpad`. */
export const TOUCH_MODES = ['direct', 'trackpad'];

/**
 * Listens on the page and sends input through `channels()` (the session's current InputChannels,
 * or null between connections).
 *
 * `surface` is the element over the picture that receives pointer input; `video` tells where the
 * picture is. `isShortcut(event)` says which keys the page keeps for itself (never sent).
 */
export class InputCapture {
  constructor({ surface, video, area, channels, isShortcut, textSink = null, touchMode = 'direct' }) {
    this.surface = surface;
    /** The invisible text field input methods compose in (index.html's #text-sink), or null. */
    this.textSink = textSink;
    this.video = video;
    this.area = area;
    this.channels = channels;
    this.isShortcut = isShortcut;
    this.keysDown = new Map();
    this.touchSlots = new Map();
    this.touchPoints = new Map(); // slot -> the finger's last {id, x, y}, to cancel it on blur
    this.trackpad = new Trackpad();
    /** `direct` or `trackpad` (TOUCH_MODES); the toolbar and the `touch=` fragment option set it. */
    this.touchMode = touchMode;
    this.cursor = { x: 0.5, y: 0.5 }; // the trackpad's pointer, as fractions of the picture
    this.mouseButtons = 0;
    this.mousePosition = { x: 0.5, y: 0.5 };
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
    // No key-up, button-up or touch end comes once the page loses focus or is hidden.
    on(window, 'blur', this.releaseAll);
    on(document, 'visibilitychange', () => document.visibilityState === 'hidden' && this.releaseAll());
    on(this.surface, 'mousedown', this.onMouseButton);
    on(window, 'mouseup', this.onMouseButton);
    on(window, 'mousemove', this.onMouseMove);
    on(this.surface, 'contextmenu', (event) => event.preventDefault());
    on(this.surface, 'wheel', this.onWheel, { passive: false });
    for (const type of ['touchstart', 'touchmove', 'touchend', 'touchcancel']) {
      on(this.surface, type, this.onTouch, { passive: false });
    }
    on(document, 'paste', this.onPaste);
    if (this.textSink) {
      on(this.textSink, 'compositionend', this.onComposed);
      on(this.textSink, 'beforeinput', this.onBeforeInput);
      // Clicking or touching the picture gives the keyboard back to the app.
      // Not on touch: focusing a text field there opens the on-screen keyboard.
      on(this.surface, 'pointerdown', (event) => event.pointerType !== 'touch' && this.focusText());
    }
    new ResizeObserver(() => this.scheduleResize()).observe(this.area);
    onDevicePixelRatioChange(() => this.scheduleResize());
    on(document, 'fullscreenchange', this.scheduleResize);
  }

  /** Put the keyboard focus in the text sink, where input methods can compose for the app. */
  focusText() {
    if (this.textSink && document.activeElement !== this.textSink) this.textSink.focus({ preventScroll: true });
  }

  onKey(event) {
    if ((event.target !== this.textSink && isFormField(event.target)) || this.isShortcut(event) || !this.channels()) return;
    const down = event.type === 'keydown';
    const composing = isComposing(event);
    // Keep browser defaults (Tab moving focus, space scrolling, Ctrl+W...) away from the app's keys;
    // an input method's keys must reach it.
    if (!isPasteKey(event) && !composing) event.preventDefault();
    // A key-up for a key the page already released (on blur) would reach the app unpaired.
    if (!down && !this.keysDown.has(event.code)) return;
    if (down) this.keysDown.set(event.code, event.key);
    else this.keysDown.delete(event.code);
    const t = eventTime(event);
    this.send(
      'key',
      {
        action: down ? 'down' : 'up',
        code: field32(event.code),
        key: field32(event.key),
        mods: modifiers(event),
        repeat: event.repeat,
      },
      t,
    );
    // The text the layout made (after the key, as a text field sees it); repeats type again.
    const text = down && !composing ? keyText(event) : null;
    if (text !== null) this.send('text', { text }, t);
  }

  /** An input method's result (a word of a CJK IME, a dead-key sequence on a Mac) goes out as text. */
  onComposed(event) {
    this.textSink.value = '';
    this.sendText(event.data, eventTime(event));
  }

  /** Text inserted without a key the page turned into text (phone keyboards, emoji pickers, dictation). */
  onBeforeInput(event) {
    if (event.inputType !== 'insertText' || event.isComposing) return;
    event.preventDefault(); // the sink stays empty
    this.sendText(event.data, eventTime(event));
  }

  sendText(text, t) {
    // Control characters (a newline from a phone keyboard) are keys, not text.
    const clean = Array.from(text ?? '').filter((c) => c.codePointAt(0) >= 0xa0 || (c >= ' ' && c < '\x7f'));
    for (let i = 0; i < clean.length; i += MAX_TEXT) this.send('text', { text: clean.slice(i, i + MAX_TEXT).join('') }, t);
  }

  /**
   * Release every key, mouse button and finger the app thinks is down, and forget them. The page
   * calls it on blur, when hidden, and when the connection is lost (then nothing can be sent, and
   * the app releases them itself, but the page must not send their ends later).
   */
  releaseAll() {
    for (const [code, key] of this.keysDown) {
      this.send('key', { action: 'up', code: field32(code), key: field32(key), mods: 0, repeat: false });
    }
    this.keysDown.clear();
    for (let button = 0; button <= 4; button += 1) {
      if (!(this.mouseButtons & (1 << button))) continue;
      this.send('mouse_button', { action: 'up', button, ...this.mousePosition, mods: 0 });
    }
    this.mouseButtons = 0;
    if (this.touchPoints.size) this.send('touch', { phase: 'cancel', touches: [...this.touchPoints.values()] });
    this.touchPoints.clear();
    this.touchSlots.clear();
    this.trackpad.reset();
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
    this.mousePosition = { x, y };
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
    const t = eventTime(event);
    const changed = Array.from(event.changedTouches)
      .slice(0, MAX_TOUCHES)
      .map((touch) => ({ id: touch.identifier, x: touch.clientX, y: touch.clientY }));
    const actions = this.trackpad.handle(phase, changed, event.timeStamp);
    if (this.touchMode === 'trackpad') {
      for (const action of actions) this.onTrackpad(action, t);
      return;
    }
    // Direct: the fingers themselves, as pointers where they touch; a pinch is told as well.
    const ending = phase === 'end' || phase === 'cancel';
    // The touches that changed: each phase reports the fingers it is about.
    const touches = changed.map(({ id, x, y }) => {
      const point = { id: this.touchId(id, ending), ...toPicture(this.video, x, y) };
      if (ending) this.touchPoints.delete(point.id);
      else this.touchPoints.set(point.id, point);
      return point;
    });
    this.send('touch', { phase, touches }, t);
    for (const action of actions) if (action.kind === 'pinch') this.onTrackpad(action, t);
  }

  /** One trackpad gesture (trackpad.js) as mouse, wheel and pinch messages at the trackpad's pointer. */
  onTrackpad(action, t) {
    const rect = pictureRect(this.video);
    if (action.kind === 'move') {
      this.cursor = {
        x: clampFraction(this.cursor.x + action.dx / (rect.width || 1)),
        y: clampFraction(this.cursor.y + action.dy / (rect.height || 1)),
      };
      this.send('mouse_move', { ...this.cursor, buttons: 0 }, t);
    } else if (action.kind === 'click') {
      for (const act of ['down', 'up']) {
        this.send('mouse_button', { action: act, button: action.button, ...this.cursor, mods: 0 }, t);
      }
    } else if (action.kind === 'scroll') {
      this.send('wheel', { dx: clampDelta(action.dx), dy: clampDelta(action.dy), mods: 0 }, t);
    } else if (action.kind === 'pinch') {
      const { x, y } = toPicture(this.video, action.x, action.y);
      this.send('pinch', { phase: action.phase, scale: clampScale(action.scale), x, y }, t);
    }
  }

  onPaste(event) {
    if (event.target !== this.textSink && isFormField(event.target)) return;
    const text = event.clipboardData?.getData('text/plain') ?? '';
    if (!text || !this.channels()) return;
    event.preventDefault();
    this.send('clipboard', { text: clipboardText(text) }, eventTime(event));
  }

  /**
   * The picture size this page would like: its area in device pixels (`width`, `height`, within the
   * protocol's bounds), in CSS pixels (`css_width`, `css_height`) and the ratio between (`dpr`).
   */
  wantedSize() {
    const dpr = Math.max(0.25, Math.min(8, Math.round((window.devicePixelRatio || 1) * 1000) / 1000));
    const even = (value) => value - (value % 2);
    return {
      width: even(clampInt(this.area.clientWidth * dpr, 64, 7680)),
      height: even(clampInt(this.area.clientHeight * dpr, 64, 4320)),
      css_width: clampInt(this.area.clientWidth, 16, 16384),
      css_height: clampInt(this.area.clientHeight, 16, 16384),
      dpr,
    };
  }

  scheduleResize() {
    clearTimeout(this.resizeTimer);
    this.resizeTimer = setTimeout(() => this.sendResize(), RESIZE_DEBOUNCE_MS);
  }

  /** Send `resize` when the wanted size changed since the last one sent (or always with `force`). */
  sendResize(force = false) {
    const size = this.wantedSize();
    const same = this.lastResize && ['width', 'height', 'css_width', 'css_height', 'dpr'].every((k) => size[k] === this.lastResize[k]);
    if (!force && same) return;
    if (this.send('resize', size)) this.lastResize = size;
  }
}
