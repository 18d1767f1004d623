// The pointer's look over the picture, as the app asks (docs/protocol.md section 7, `cursor`). The
// browser draws it where the pointer is, so it moves with no latency; only its shape comes from
// the app. Set through the CSSOM (`style.cursor`), which the strict CSP allows.

/** Draw the pointer over `element` as `shape` (a CSS cursor keyword, checked by app-messages.js), or hide it. */
export function applyCursor(element, { shape = 'default', visible = true } = {}) {
  element.style.cursor = visible ? shape : 'none';
}
