// The user's microphone for the app (off by default: the `mic=1` option). One capture serves
// every connection of the page, so a reconnect does not ask for permission again.

/** Voice settings: the browser's echo cancellation keeps the app's own sound out of what is sent. */
const CONSTRAINTS = { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false };

/** Captures the microphone once and hands its track to each new peer connection. */
export class Microphone {
  constructor(mediaDevices = navigator.mediaDevices) {
    this.mediaDevices = mediaDevices;
    this.stream = null;
    /** Why there is no microphone (no API, permission refused, no device), or null. */
    this.error = null;
  }

  /** The microphone's audio track, or null (with `error` saying why) when it cannot be had. */
  async track() {
    if (!this.stream) {
      if (!this.mediaDevices?.getUserMedia) {
        this.error = 'this browser cannot capture a microphone here (it needs HTTPS or localhost)';
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
