// The app channel (docs/protocol.md section 7): custom messages both ways between this page and the
// app, and the app's clipboard text, cursor and gamepad rumble. One AppChannel lives as long as the
// StreamSession; each connection gives it a fresh `app` data channel, created before the offer.

import { APP_CHANNEL_LABEL, AppMessageError, customMessage, errorMessage, parseAppMessage, seqOf } from './app-messages.js';

/** Create the `app` data channel on `pc` (ordered, reliable: the defaults); call before the offer. */
export function createAppDataChannel(pc) {
  return pc.createDataChannel(APP_CHANNEL_LABEL);
}

/**
 * Events: `message` (a MessageEvent, `data`: the app's JSON value), `clipboard` (`detail.text`),
 * `cursor` (`detail.shape`, `detail.visible`), `rumble` (`detail.index`, `duration`,
 * `strongMagnitude`, `weakMagnitude`), `error` (the app refused messages of this page: `detail.code`,
 * `reason`, `refusedSeq`, `dropped`), `open` (a connection's channel opened).
 */
export class AppChannel extends EventTarget {
  constructor() {
    super();
    this.channel = null;
    this.seq = 0;
    /** Messages sent and received (all connections), and the app's messages this page refused. */
    this.sent = 0;
    this.received = 0;
    this.refused = 0;
  }

  get open() {
    return this.channel?.readyState === 'open';
  }

  /** Use `dataChannel` (a new connection's `app` channel) from now on. */
  attach(dataChannel) {
    this.detach();
    this.channel = dataChannel;
    this.seq = 0;
    dataChannel.addEventListener('open', () => dataChannel === this.channel && this.dispatchEvent(new Event('open')));
    dataChannel.addEventListener('message', (event) => dataChannel === this.channel && this.onMessage(event.data));
  }

  detach() {
    this.channel?.close();
    this.channel = null;
  }

  /**
   * Send `data` (any JSON value) to the app's `on_message`. False while no channel is open (the
   * message is not kept); throws AppMessageError for a message that can never be sent (not JSON,
   * over 64 KiB).
   */
  send(data) {
    const text = customMessage(this.seq, data);
    if (!this.open) return false;
    this.channel.send(text);
    this.seq += 1;
    this.sent += 1;
    return true;
  }

  onMessage(data) {
    let message;
    try {
      message = parseAppMessage(data);
    } catch (error) {
      if (!(error instanceof AppMessageError)) throw error;
      // A message this page cannot use changes nothing; the app hears why.
      this.refused += 1;
      console.warn(`refused a message from the app: ${error.message}`);
      if (this.open) this.channel.send(errorMessage(this.seq++, error.code, error.reason, seqOf(data)));
      return;
    }
    this.received += 1;
    const { type } = message;
    const detail = { ...message };
    delete detail.type;
    delete detail.seq;
    if (type === 'message') this.dispatchEvent(new MessageEvent('message', { data: message.data }));
    else {
      if (type === 'error') console.warn(`the app refused ${detail.dropped} message(s): ${detail.code}: ${detail.reason}`);
      this.dispatchEvent(new CustomEvent(type, { detail }));
    }
  }
}
