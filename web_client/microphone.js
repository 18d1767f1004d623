// The user's microphone for the app: off by default, turned on by the `mic=1` option or the
// toolbar's microphone button. One capture serves every connection of the page, so a reconnect
// does not ask for permission again.

/** Voice settings: the browser's echo cancellation keeps the app's own sound out of what is sent. */
const CONSTRAINTS = { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false };

/** Why a page without `getUserMedia` cannot send a microphone. */
export const NO_CAPTURE = 'this browser cannot capture a microphone here (it needs HTTPS or localhost)';

/** Captures the microphone once and hands its track to each new peer connection. */
export class Microphone {
  /**
   * @param {MediaDevices|undefined} mediaDevices
   * @param {{enabled?: boolean}} options `enabled`: send it from the first connection on (`mic=1`).
   */
  constructor(mediaDevices = navigator.mediaDevices, { enabled = false } = {}) {
    this.mediaDevices = mediaDevices;
    this.stream = null;
    /** Whether the user wants the microphone sent; each connection's offer carries it while true. */
    this.enabled = enabled;
    /** Why there is no microphone (no API, permission refused, no device), or null. */
    this.error = this.available ? null : NO_CAPTURE;
  }

  /** False where the page cannot capture at all (no `getUserMedia`: not HTTPS, or an old browser). */
  get available() {
    return Boolean(this.mediaDevices?.getUserMedia);
  }

  /** The microphone's audio track, or null (with `error` saying why) when it cannot be had. */
  async track() {
    if (!this.stream) {
      if (!this.available) {
        this.error = NO_CAPTURE;
        return null;
      }
      try {
        this.stream = await this.mediaDevices.getUserMedia(CONSTRAINTS);
        this.error = null;
      } catch (error) {
        this.error = `no microphone: ${error.name}: ${error.message}`;
        console.warn(this.error);
        return null;
      }
    }
    return this.stream.getAudioTracks()[0] ?? null;
  }

  /** Stop capturing (the browser's recording indicator goes out). */
  stop() {
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
  }
}
