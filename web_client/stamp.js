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
  }

  /** The capture time (ms since epoch) of the frame on screen, or null when there is no stamp. */
  read() {
    if (this.video.videoWidth < STAMP_WIDTH) return null;
    this.context.drawImage(this.video, 0, 0, STAMP_WIDTH, CELL, 0, 0, STAMP_WIDTH, CELL);
    const stamp = decodeStamp(this.context.getImageData(0, 0, STAMP_WIDTH, CELL).data);
    // A frame without a stamp decodes to noise; accept only times within a day of this clock.
    return Math.abs(Date.now() - stamp) < 86_400_000 ? stamp : null;
  }
}
