// The app's clipboard text on the user's clipboard (docs/protocol.md section 7, `clipboard`). The
// Clipboard API writes it when the browser allows (a focused page; some browsers want a click);
// otherwise a small "copy" offer appears, whose button writes it with the click's permission, and
// whose text box can be copied from by hand where even that is refused.

export class HostClipboard {
  /**
   * `offer`: the element to show when the text cannot be written at once; it holds a `button` and
   * a `textarea`. `clipboard`: navigator.clipboard (absent outside a secure context).
   */
  constructor(offer, clipboard = navigator.clipboard) {
    this.offer = offer;
    this.clipboard = clipboard;
    this.button = offer.querySelector('button');
    this.textBox = offer.querySelector('textarea');
    this.pending = null;
    /** The last text put on the clipboard, and how: `written` (at once), `offered`, `copied` (by the button). */
    this.last = null;
    this.button.addEventListener('click', () => this.copyPending());
  }

  /** Put `text` on the clipboard, or offer it; resolves to `written` or `offered`. */
  async write(text) {
    try {
      await this.clipboard.writeText(text);
      this.pending = null;
      this.offer.hidden = true;
      this.last = { text, how: 'written' };
      return 'written';
    } catch (error) {
      this.pending = text;
      this.textBox.value = text;
      this.textBox.hidden = true;
      this.offer.hidden = false;
      this.last = { text, how: 'offered', why: String(error) };
      return 'offered';
    }
  }

  async copyPending() {
    const text = this.pending;
    if (text === null) return;
    try {
      await this.clipboard.writeText(text);
      this.pending = null;
      this.offer.hidden = true;
      this.last = { text, how: 'copied' };
    } catch {
      // Even a click is not enough here: show the text selected, for Ctrl+C.
      this.textBox.hidden = false;
      this.textBox.select();
    }
  }
}
