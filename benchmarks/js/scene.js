// The textured scene of benchmarks/scene.py on a canvas, for the libwebrtc reference: the same kind
// of picture (noise textures from 64 px down to single-pixel grit, a world panned along a curve, a
// ground layer scrolling the other way, six textured sprites) and the same capture-time stamp
// (docs/protocol.md section 4: 48 cells of 16x16 px, cell i white when bit i of the ms is 1).
// Textures are made once into canvases; a frame is a few drawImage calls and the stamp.

const CELL = 16;
const BITS = 48;
const SPRITE = 128;
const SPRITES = 6;

function random(seed) {
  // mulberry32: a small seeded generator, so every run draws the same textures.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function valueNoise(rand, width, height, cell) {
  const gw = Math.floor(width / cell) + 2;
  const gh = Math.floor(height / cell) + 2;
  const grid = new Float32Array(gw * gh).map(() => rand());
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = Math.floor(y / cell);
    const fy = y / cell - gy;
    for (let x = 0; x < width; x++) {
      const gx = Math.floor(x / cell);
      const fx = x / cell - gx;
      const a = grid[gy * gw + gx], b = grid[gy * gw + gx + 1];
      const c = grid[(gy + 1) * gw + gx], d = grid[(gy + 1) * gw + gx + 1];
      out[y * width + x] = (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy;
    }
  }
  return out;
}

function texture(rand, width, height, tint) {
  const layers = [[64, 0.4], [16, 0.25], [4, 0.2]].map(([cell, w]) => [valueNoise(rand, width, height, cell), w]);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    let v = rand() * 0.15;
    for (const [noise, w] of layers) v += noise[i] * w;
    const level = 16 + Math.min(1, v) * 219;
    image.data[i * 4] = level * tint[0];
    image.data[i * 4 + 1] = level * tint[1];
    image.data[i * 4 + 2] = level * tint[2];
    image.data[i * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

/** Draw the scene into `canvas` at `fps`; `now()` gives the capture time (system-clock ms). */
export function startScene(canvas, fps, now) {
  const { width, height } = canvas;
  const context = canvas.getContext('2d', { alpha: false });
  const rand = random(20261202);
  const world = texture(rand, 2 * width, 2 * height, [0.9, 1.0, 0.85]);
  const ground = texture(rand, 2 * width, height, [1.0, 0.85, 0.7]);
  const sprites = Array.from({ length: SPRITES }, (_, i) => texture(rand, SPRITE, SPRITE, [1, 0.6 + i * 0.07, 0.5]));
  const horizon = Math.floor((height * 3) / 5);
  let frames = 0;
  const draw = () => {
    const captureMs = Math.round(now());
    const t = captureMs / 1000;
    const index = Math.floor(t * 60);
    const wx = Math.floor((Math.sin(t * 0.7) * 0.5 + 0.5) * (width - 1));
    const wy = Math.floor((Math.sin(t * 0.45 + 1.0) * 0.5 + 0.5) * (height - 1));
    context.drawImage(world, wx, wy, width, horizon, 0, 0, width, horizon);
    const gx = (index * 6) % width;
    context.drawImage(ground, width - gx, 0, width, height - horizon, 0, horizon, width, height - horizon);
    const spanX = width - SPRITE, spanY = height - CELL - SPRITE;
    sprites.forEach((sprite, i) => {
      const x = Math.abs(((index * (5 + 3 * i) + i * 211) % (2 * spanX)) - spanX);
      const y = CELL + Math.abs(((index * (3 + 2 * i) + i * 97) % (2 * spanY)) - spanY);
      context.drawImage(sprite, x, y);
    });
    for (let bit = 0; bit < BITS; bit++) {
      context.fillStyle = Math.floor(captureMs / 2 ** bit) % 2 ? '#ffffff' : '#000000';
      context.fillRect(bit * CELL, 0, CELL, CELL);
    }
    frames += 1;
  };
  draw();
  const timer = setInterval(draw, 1000 / fps);
  return { stop: () => clearInterval(timer), frames: () => frames };
}
