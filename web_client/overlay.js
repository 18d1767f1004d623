// The stats overlay: the latest numbers and a small live graph of frame rate and latency.

const GRAPH_SECONDS = 60;

const FIELDS = [
  ['fps', 'frames/s', (s) => fixed(s.fps, 1)],
  ['bitrate', 'bitrate', (s) => (s.bitrateKbps === null ? '–' : s.bitrateKbps >= 1000 ? `${(s.bitrateKbps / 1000).toFixed(2)} Mbit/s` : `${s.bitrateKbps.toFixed(0)} kbit/s`)],
  ['loss', 'packet loss', (s) => `${s.lossPercent.toFixed(2)} %`],
  ['rtt', 'round trip', (s) => ms(s.rttMs)],
  ['decode', 'decode', (s) => ms(s.decodeMs)],
  ['jitter-buffer', 'jitter buffer', (s) => ms(s.jitterBufferMs)],
  ['latency', 'glass to glass', (s) => ms(s.latencyMs)],
  ['resolution', 'resolution', (s) => (s.width ? `${s.width}×${s.height}` : '–')],
  ['codec', 'codec', (s) => s.codec ?? '–'],
  ['freezes', 'freezes', (s) => (s.freezeCount === null ? '–' : `${s.freezeCount} (${ms(s.freezesMs)})`)],
  // The stream app's side (its `media` report): what its congestion control decided.
  ['sending', 'sending', (s) => (s.server ? `${s.server.width}×${s.server.height} @ ${fixed(s.server.fps, 0)} fps` : '–')],
  ['estimate', 'estimate', (s) => (s.server ? `${kbps(s.server.estimateKbps)} (${s.server.limitedBy})` : '–')],
  ['target', 'encoder target', (s) => (s.server ? kbps(s.server.targetKbps) : '–')],
  ['pacer', 'pacer queue', (s) => (s.server ? ms(s.server.pacerQueueMs) : '–')],
];

function kbps(value) {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} Mbit/s` : `${value.toFixed(0)} kbit/s`;
}

function fixed(value, digits) {
  return value === null || value === undefined ? '–' : value.toFixed(digits);
}

function ms(value) {
  return value === null || value === undefined ? '–' : `${value.toFixed(1)} ms`;
}

export class StatsOverlay {
  /** Builds its rows inside `element` (an empty container); `sampler` is a StatsSampler. */
  constructor(element, sampler) {
    this.element = element;
    this.sampler = sampler;
    const list = document.createElement('dl');
    this.values = new Map();
    for (const [key, label] of FIELDS) {
      const term = document.createElement('dt');
      term.textContent = label;
      const value = document.createElement('dd');
      value.dataset.stat = key;
      value.textContent = '–';
      list.append(term, value);
      this.values.set(key, value);
    }
    this.canvas = document.createElement('canvas');
    this.canvas.width = 240;
    this.canvas.height = 64;
    this.canvas.className = 'graph';
    const legend = document.createElement('p');
    legend.className = 'legend';
    legend.textContent = 'frames/s (green, 0-120) · latency (orange, 0-200 ms) · last 60 s';
    element.append(list, this.canvas, legend);
    sampler.addEventListener('sample', () => this.visible && this.render());
  }

  get visible() {
    return !this.element.hidden;
  }

  toggle(show = !this.visible) {
    this.element.hidden = !show;
    this.sampler.measureLatency(show);
    if (show) this.render();
  }

  render() {
    const latest = this.sampler.latest;
    if (!latest) return;
    for (const [key, , format] of FIELDS) this.values.get(key).textContent = format(latest);
    this.drawGraph(this.sampler.history.slice(-GRAPH_SECONDS));
  }

  drawGraph(history) {
    const { width, height } = this.canvas;
    const context = this.canvas.getContext('2d');
    context.clearRect(0, 0, width, height);
    context.strokeStyle = 'rgba(255,255,255,.15)';
    context.strokeRect(0.5, 0.5, width - 1, height - 1);
    const line = (color, key, top) => {
      context.strokeStyle = color;
      context.lineWidth = 1.5;
      context.beginPath();
      let started = false;
      history.forEach((entry, i) => {
        const value = entry[key];
        if (value === null || value === undefined) return;
        const x = width - 1 - (history.length - 1 - i) * ((width - 2) / (GRAPH_SECONDS - 1));
        const y = height - 1 - Math.min(1, value / top) * (height - 2);
        if (started) context.lineTo(x, y); else context.moveTo(x, y);
        started = true;
      });
      context.stroke();
    };
    line('#7f7', 'fps', 120);
    line('#fa4', 'latencyMs', 200);
  }
}
