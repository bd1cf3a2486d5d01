// Small line charts in inline SVG, drawn from samples the page keeps as it
// polls (the last ten minutes at most), with the latest values in a legend.

const NS = 'http://www.w3.org/2000/svg';
const W = 560;
const H = 160;
const PAD = { l: 48, r: 8, t: 8, b: 20 };
const KEEP_MS = 10 * 60 * 1000;

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

// A Series is a named line: push(t, v) adds a sample.
export class Chart {
  constructor(title, series, fmt = (v) => String(v)) {
    this.title = title;
    this.fmt = fmt;
    this.series = series.map(([key, label, color]) => ({ key, label, color, points: [] }));
    this.el = document.createElement('figure');
    this.el.className = 'chart';
    this.draw();
  }

  // add records one sample per series from values (key -> number).
  add(values, t = Date.now()) {
    for (const s of this.series) {
      const v = Number(values[s.key]);
      if (Number.isFinite(v)) s.points.push([t, v]);
      while (s.points.length && s.points[0][0] < t - KEEP_MS) s.points.shift();
    }
    this.draw();
  }

  draw() {
    const all = this.series.flatMap((s) => s.points);
    const now = all.length ? Math.max(...all.map((p) => p[0])) : Date.now();
    const t0 = Math.min(now - 60 * 1000, ...all.map((p) => p[0]));
    const max = niceMax(Math.max(0, ...all.map((p) => p[1])));
    const x = (t) => PAD.l + ((t - t0) / Math.max(1, now - t0)) * (W - PAD.l - PAD.r);
    const y = (v) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': this.title, class: 'chart-svg' });
    // Five steps: a fifth of 1, 2 or 5 times a power of ten is round too.
    for (let i = 0; i <= 5; i++) {
      const v = (max * i) / 5;
      root.append(svg('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }));
      const label = svg('text', { x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' });
      label.textContent = this.fmt(v);
      root.append(label);
    }
    const secs = Math.round((now - t0) / 1000);
    const left = svg('text', { x: PAD.l, y: H - 4, class: 'axis' });
    left.textContent = secs >= 120 ? `${Math.round(secs / 60)} min ago` : `${secs} s ago`;
    const right = svg('text', { x: W - PAD.r, y: H - 4, 'text-anchor': 'end', class: 'axis' });
    right.textContent = 'now';
    root.append(left, right);
    for (const s of this.series) {
      if (!s.points.length) continue;
      const d = s.points.map(([t, v], i) => `${i ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join('');
      if (s.points.length === 1) {
        root.append(svg('circle', { cx: x(s.points[0][0]), cy: y(s.points[0][1]), r: 2.5, fill: s.color }));
      }
      root.append(svg('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round' }));
    }
    const legend = document.createElement('ul');
    legend.className = 'legend';
    for (const s of this.series) {
      const li = document.createElement('li');
      const sw = svg('svg', { width: 10, height: 10, class: 'swatch' });
      sw.append(svg('rect', { width: 10, height: 10, rx: 2, fill: s.color }));
      const last = s.points.length ? s.points[s.points.length - 1][1] : undefined;
      const val = document.createElement('b');
      val.textContent = last === undefined ? '–' : this.fmt(last);
      li.append(sw, ` ${s.label} `, val);
      legend.append(li);
    }
    const cap = document.createElement('figcaption');
    cap.textContent = this.title;
    this.el.replaceChildren(cap, root, legend);
  }
}

// The axis top: 1, 2 or 5 times a power of ten, at least the largest value.
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
