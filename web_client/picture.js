// Where the video picture sits inside its element, and how big to draw it without blur.

/**
 * The rectangle (client coordinates) the picture occupies inside `video`, accounting for the
 * letterboxing of `object-fit: contain` (the picture keeps its aspect ratio and is centred).
 */
export function pictureRect(video) {
  const box = video.getBoundingClientRect();
  const width = video.videoWidth;
  const height = video.videoHeight;
  if (!width || !height || !box.width || !box.height) return box;
  const scale = Math.min(box.width / width, box.height / height);
  const shownWidth = width * scale;
  const shownHeight = height * scale;
  return {
    left: box.left + (box.width - shownWidth) / 2,
    top: box.top + (box.height - shownHeight) / 2,
    width: shownWidth,
    height: shownHeight,
  };
}

/** Client coordinates to fractions 0..1 of the picture (clamped: a drag may leave the picture). */
export function toPicture(video, clientX, clientY) {
  const rect = pictureRect(video);
  const clamp = (value) => Math.min(1, Math.max(0, value));
  return {
    x: clamp((clientX - rect.left) / (rect.width || 1)),
    y: clamp((clientY - rect.top) / (rect.height || 1)),
  };
}

/**
 * The CSS size to draw a `width` x `height` picture in a `boxWidth` x `boxHeight` area.
 *
 * In `integer` mode the picture is shown at a whole multiple of its size in device pixels (at
 * least 1:1 when it fits), so every picture pixel covers the same number of screen pixels and
 * `image-rendering: pixelated` keeps edges sharp. A picture larger than the area is scaled down
 * to fit (smoothly, `smooth: true`). In `fit` mode the picture fills the area keeping its aspect.
 */
export function drawSize(width, height, boxWidth, boxHeight, devicePixelRatio, mode) {
  const fitScale = Math.min(boxWidth / width, boxHeight / height);
  if (mode === 'fit' || fitScale * devicePixelRatio < 1) {
    return { width: width * fitScale, height: height * fitScale, smooth: true };
  }
  const factor = Math.max(1, Math.floor(fitScale * devicePixelRatio));
  return { width: (width * factor) / devicePixelRatio, height: (height * factor) / devicePixelRatio, smooth: false };
}

/**
 * Call `callback` each time `window.devicePixelRatio` changes: the window moved to a screen of
 * another density, or the page was zoomed. A resize observer misses the first, as the page's CSS
 * size stays the same while its device pixels change.
 */
export function onDevicePixelRatioChange(callback) {
  const watch = () => {
    // A query for the ratio as it is now stops matching when it changes; then watch the new one.
    const query = window.matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`);
    query.addEventListener('change', () => {
      watch();
      callback();
    }, { once: true });
  };
  watch();
}

/** Size `video` inside `area` as drawSize says (`mode`: `integer` or `fit`); nothing before a frame. */
export function layoutPicture(video, area, mode) {
  if (!video.videoWidth) return;
  const size = drawSize(video.videoWidth, video.videoHeight, area.clientWidth, area.clientHeight, window.devicePixelRatio || 1, mode);
  video.style.width = `${size.width}px`;
  video.style.height = `${size.height}px`;
  video.classList.toggle('smooth', size.smooth);
}
