// The status line (`#status[data-state][data-code]`, what tests and people read) and the button
// that connects again once a session is over.

import { CloseCode } from './close-codes.js';

export class StatusView {
  /** `status` is the status element, `connectAgain` the button shown when a session is over. */
  constructor({ status, connectAgain }) {
    this.status = status;
    this.connectAgain = connectAgain;
  }

  /** Show `state` with `message` (and the close `code` that decided it, if one did). */
  show(state, message, code = null, { canConnectAgain }) {
    this.status.dataset.state = state;
    if (code === null) delete this.status.dataset.code;
    else this.status.dataset.code = String(code);
    this.status.textContent = message;
    document.body.dataset.state = state;
    const over = state === 'ended' || state === 'failed';
    this.connectAgain.hidden = !over || !canConnectAgain;
    this.connectAgain.textContent = code === CloseCode.SESSION_GONE ? 'Start a new session' : 'Connect again';
  }

  /** No connecting again with the token that was just refused. */
  hideConnectAgain() {
    this.connectAgain.hidden = true;
  }
}
