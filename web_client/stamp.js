// Reads the capture-time stamp the test pattern paints into each frame (docs/protocol.md section 4):
// 48 cells of 16x16 px along the top edge, cell i white when bit i of the capture time (ms since
// the Unix epoch, least significant bit first) is 1.

export const CELL = 16;
export const BITS = 48;
export const STAMP_WIDTH = CELL * BITS;

/** Decode a stamp from RGBA pixels of the frame's top STAMP_WIDTH x CELL pixels. */
export function decodeStamp(rgba, width = STAMP_WIDTH) {
  let value = 0;
  for (let bit = 0; bit < BITS; bit++) {
    let sum = 0;
    for (let y = 4; y < 12; y++) {
      for (let x = bit * CELL + 4; x < bit * CELL + 12; x++) {
        const i = (y * width + x) * 4;
        sum += rgba[i] + rgba[i + 1] + rgba[i + 2];
      }
    }
    // Bitwise operators are 32-bit in JavaScript; 48 bits need arithmetic.
    if (sum / (64 * 3) >= 128) value += 2 ** bit;
  }
  return value;
}

/** Reads stamps from a <video> element's current frame. */
export class StampReader {
  constructor(video) {
    this.video = video;
    this.canvas = document.createElement('canvas');
    this.canvas.width = STAMP_WIDTH;
    this.canvas.height = CELL;
    this.context = this.canvas.getContext('2d', { willReadFrequently: true });
    this.scale = 1;
  }

  /** The capture time (ms since epoch) of the frame on screen, or null when there is no stamp. */
  read() {
    return this.readImage(this.video, this.video.videoWidth);
  }

  /**
   * The capture time of the frame a requestVideoFrameCallback was called for (`metadata`), or null
   * when it has no stamp or the video has already moved on to a newer frame. By the time the callback
   * runs the element may show the next frame, whose stamp is a frame interval newer: attributing it
   * to this callback's expectedDisplayTime made latencies come out 16 ms short, even negative.
   */
  readPresented(metadata) {
    if (typeof VideoFrame === 'undefined') return this.read();
    let frame;
    try {
      frame = new VideoFrame(this.video);
    } catch {
      return null; // no frame to read
    }
    try {
      // Both are the frame's media timestamp, in microseconds and seconds. Firefox gives a live
      // stream's frames no media time (0): there the frame on the element is taken for the one
      // presented, which at worst is one frame newer (a latency a frame interval short).
      const comparable = metadata.mediaTime > 0;
      if (comparable && Math.abs(frame.timestamp - metadata.mediaTime * 1e6) >= 1) return null;
      return this.readImage(frame, frame.displayWidth);
    } finally {
      frame.close();
    }
  }

  // A sender that lowers the resolution on a narrow link (docs/media.md, degradation) scales the
  // stamp with the picture: try the ladder's scales, the last one that read first.
  readImage(image, width) {
    const order = [this.scale, ...SCALES.filter((s) => s !== this.scale)];
    for (const scale of order) {
      if (width < STAMP_WIDTH * scale) continue;
      const stamp = this.readScaled(image, scale);
      if (stamp !== null) {
        this.scale = scale;
        return stamp;
      }
    }
    return null;
  }

  readScaled(image, scale) {
    this.context.drawImage(image, 0, 0, STAMP_WIDTH * scale, CELL * scale, 0, 0, STAMP_WIDTH, CELL);
    const stamp = decodeStamp(this.context.getImageData(0, 0, STAMP_WIDTH, CELL).data);
    // A frame without a stamp (or read at the wrong scale) decodes to noise: accept only times
    // within a minute of this clock, which noise all but never hits.
    return Math.abs(Date.now() - stamp) < 60_000 ? stamp : null;
  }
}

/** The picture scales the stream app's degradation ladder uses (stream_app/media/degradation.py). */
export const SCALES = [1, 0.75, 0.5, 0.375];
