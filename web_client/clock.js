// The Unix-epoch time of the page's high-resolution timestamps (event.timeStamp, performance.now(),
// requestVideoFrameCallback's expectedDisplayTime), on the clock the stream app reads.
//
// `performance.timeOrigin + t` is not that: Chromium fixes the mapping from its monotonic clock to
// wall time when the browser starts, so when the system clock is stepped or slewed afterwards (NTP on
// a freshly booted machine) it drifts from Date.now() and from the stream app's time.time(), by tens
// of milliseconds on a CI machine. Date.now() reads the system clock but only to the millisecond, so
// the offset is measured at the moment Date.now() ticks over, where both readings agree to within
// performance.now()'s resolution, and measured again every few seconds from a timer (never on the
// path of an event or a frame).

const RECALIBRATE_MS = 5000;
const SAMPLES = 3;

/** Date.now() minus performance.timeOrigin + performance.now(), measured at a millisecond edge. */
export function measureOffset(samples = SAMPLES) {
  const offsets = [];
  for (let i = 0; i < samples; i++) {
    const start = Date.now();
    let high;
    let now;
    do {
      high = performance.now();
      now = Date.now();
    } while (now === start);
    offsets.push(now - (performance.timeOrigin + high));
  }
  offsets.sort((a, b) => a - b);
  return offsets[Math.floor(offsets.length / 2)];
}

let offset = measureOffset();
setInterval(() => { offset = measureOffset(); }, RECALIBRATE_MS);

/** Ms since the Unix epoch, on the system clock, of a DOMHighResTimeStamp (default: now). */
export function epochTime(highRes = performance.now()) {
  return performance.timeOrigin + highRes + offset;
}
