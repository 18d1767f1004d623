// Page shortcuts, never sent to the app: Ctrl+Alt+S stats, Ctrl+Alt+F fullscreen, Ctrl+Alt+M
// mouse capture. Games rarely bind Ctrl+Alt+letter, unlike F-keys.

const KEYS = { KeyS: 'stats', KeyF: 'fullscreen', KeyM: 'capture' };

/** True for a key event the page keeps for itself. */
export function isShortcut(event) {
  return event.ctrlKey && event.altKey && !event.shiftKey && !event.metaKey && event.code in KEYS;
}

/** Run `actions.stats()`, `actions.fullscreen()` or `actions.capture()` on their shortcut. */
export function listenForShortcuts(actions) {
  window.addEventListener('keydown', (event) => {
    if (!isShortcut(event)) return;
    event.preventDefault();
    if (!event.repeat) actions[KEYS[event.code]]();
  });
}
