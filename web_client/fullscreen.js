// Fullscreen with Keyboard Lock: in fullscreen, keys such as Escape, Alt+Tab or Ctrl+W reach the
// app (holding Escape still leaves fullscreen).

/** Enter fullscreen on `element` and lock the keyboard, or leave fullscreen. */
export async function toggleFullscreen(element) {
  if (document.fullscreenElement) {
    await document.exitFullscreen();
    return;
  }
  await element.requestFullscreen({ navigationUI: 'hide' });
  await navigator.keyboard?.lock?.().catch(() => {});
}

/** Release the keyboard lock whenever fullscreen ends (also by Escape or the browser's own UI). */
export function unlockKeyboardOnExit() {
  document.addEventListener('fullscreenchange', () => {
    if (!document.fullscreenElement) navigator.keyboard?.unlock?.();
  });
}
