// charts.js - uPlot charts of per-second series, sized to their container, plus the tests
// list's sparklines (a small SVG, no library needed for 20 points).
import uPlot from '/assets/vendor/uPlot.esm.js';
import { h, svg } from './dom.js';
import { duration } from './format.js';

export const PALETTE = ['#2f6fde', '#e07b39', '#2f9e6b', '#9b59b6', '#d64545', '#1a9bb0', '#b08d1a', '#5d6d7e',
  '#c2477f', '#4a8c2a'];

const CHART_HEIGHT = 210;

/**
 * Load changes on a chart: a dashed line at each change's moment (elapsed seconds, the axis's
 * unit) with the new target written at its top, drawn on uPlot's canvas after the series.
 */
function marksPlugin(chart) {
  return {
    hooks: {
      draw: [(u) => {
        const marks = chart.marks;
        if (!marks.length) return;
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        const dpr = window.devicePixelRatio || 1;
        ctx.save();
        ctx.strokeStyle = '#9b59b6';
        ctx.fillStyle = '#6b3d80';
        ctx.lineWidth = 1.5 * dpr;
        ctx.setLineDash([4 * dpr, 3 * dpr]);
        ctx.font = `600 ${11 * dpr}px system-ui, sans-serif`;
        ctx.textAlign = 'left';
        ctx.textBaseline = 'alphabetic';
        for (const m of marks) {
          const x = u.valToPos(m.x, 'x', true);
          if (!(x >= left && x <= left + width)) continue;
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          const w = ctx.measureText(m.label).width;
          ctx.fillText(m.label, x + 3 * dpr + w > left + width ? x - 3 * dpr - w : x + 3 * dpr, top + 12 * dpr);
        }
        ctx.restore();
      }],
    },
  };
}

/**
 * A chart of series over elapsed seconds. opts: { title, unit, series: [{label, color, dash,
 * fill, width, scale}], yMin }. The box keeps its height whatever the data, so updates never
 * move the page.
 */
export class TimeChart {
  constructor(opts) {
    this.opts = opts;
    this.plotBox = h('div', { class: 'chart-plot' });
    this.marks = [];
    this.marksText = h('p', { class: 'sr-only' });
    this.el = h('figure', { class: 'chart', 'aria-label': opts.title, dataset: { marks: '0', series: String(opts.series.length) } },
      h('figcaption', { class: 'chart-head' }, h('span', { class: 'chart-title' }, opts.title, opts.unit ? h('span', { class: 'chart-unit' }, ` (${opts.unit})`) : null), opts.tools || null),
      this.plotBox, this.marksText);
    this.data = [[], ...opts.series.map(() => [])];
    this.plot = null;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(this.plotBox);
  }

  make(width) {
    const o = this.opts;
    const unit = o.unit || '';
    const fmt = (v) => (v === null || v === undefined ? '–' : `${Math.round(v * 100) / 100}${unit ? ` ${unit}` : ''}`);
    this.plot = new uPlot({
      width,
      height: CHART_HEIGHT,
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      plugins: [marksPlugin(this)],
      legend: { live: true },
      scales: { x: { time: false }, y: { range: (u, min, max) => [o.yMin ?? 0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        // Whole seconds only: the data is per second, so fractional ticks would repeat labels.
        { stroke: '#616e7c', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde1e6' }, space: 60,
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400],
          values: (u, vals) => vals.map((v) => duration(v)) },
        { stroke: '#616e7c', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde1e6' }, size: 56 },
      ],
      series: [
        { label: 'Elapsed', value: (u, v) => (v === null || v === undefined ? '–' : duration(v)) },
        ...o.series.map((s, i) => ({
          label: s.label,
          stroke: s.color || PALETTE[i % PALETTE.length],
          width: s.width || 1.75,
          dash: s.dash,
          fill: s.fill,
          spanGaps: false,
          points: { show: false },
          value: (u, v) => fmt(v),
        })),
      ],
    }, this.data, this.plotBox);
    if (!this.leaveHooked) {
      this.leaveHooked = true;
      this.plotBox.addEventListener('mouseleave', () => setTimeout(() => this.plot && this.showLatest(), 0));
    }
    this.showLatest();
  }

  resize() {
    const w = Math.floor(this.plotBox.clientWidth);
    if (w <= 0) return;
    if (!this.plot) this.make(w);
    else if (Math.abs(this.plot.width - w) > 1) this.plot.setSize({ width: w, height: CHART_HEIGHT });
  }

  /** data: [xs, ys0, ys1, ...], each an array of equal length. */
  setData(data) {
    this.data = data;
    // What is drawn, readable from the page: how many seconds, and how many of them have no
    // value in the first series (a gap the live stream or the REST fill did not cover).
    this.el.dataset.points = String(data[0].length);
    this.el.dataset.gaps = String((data[1] || []).filter((v) => v === null || v === undefined).length);
    if (this.plot) {
      this.plot.setData(data);
      this.showLatest();
    }
  }

  /**
   * Replaces the series (e.g. one line per location once a run's points name them): the
   * plot is made again with the new legend; the caller sets the data next. Same series: no-op.
   */
  setSeries(series) {
    const key = JSON.stringify(series);
    if (key === JSON.stringify(this.opts.series)) return;
    this.opts = { ...this.opts, series };
    this.data = [[], ...series.map(() => [])];
    this.el.dataset.series = String(series.length);
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
      this.resize();
    }
  }

  /** Load changes to mark: [{ x: elapsed seconds, label: '8 users' }]. */
  setMarks(marks) {
    const key = JSON.stringify(marks);
    if (key === this.marksKey) return;
    this.marksKey = key;
    this.marks = marks;
    this.el.dataset.marks = String(marks.length);
    this.marksText.textContent = marks.length ? `Load changed ${marks.map((m) => `at ${m.at} to ${m.label}`).join(', ')}.` : '';
    if (this.plot) this.plot.redraw(false, false);
  }

  /** The legend shows the newest second's values unless the pointer is over the chart. */
  showLatest() {
    const n = this.data[0].length;
    if (n && !(this.plot.cursor.left >= 0)) this.plot.setLegend({ idx: n - 1 });
  }

  destroy() {
    this.observer.disconnect();
    if (this.plot) this.plot.destroy();
  }
}

/**
 * A bar chart of a response-time distribution (GET /runs/:id/distribution): the share of
 * requests in each latency bin, as SVG. opts: { title, tools }. setData({ bins_ms, counts,
 * count }) draws one distribution.
 */
export class BarChart {
  constructor(opts) {
    this.svg = svg('svg', { class: 'bars', role: 'img', 'aria-label': opts.title });
    this.box = h('div', { class: 'chart-plot bars-box' }, this.svg);
    this.el = h('figure', { class: 'chart', 'aria-label': opts.title },
      h('figcaption', { class: 'chart-head' }, h('span', { class: 'chart-title' }, opts.title, h('span', { class: 'chart-unit' }, ' (share of requests)')), opts.tools || null),
      this.box);
    this.args = null;
    this.width = 0;
    // Drawn at the box's own width in pixels, so the text keeps its size on every screen.
    this.observer = new ResizeObserver(() => {
      const w = Math.floor(this.box.clientWidth);
      if (w > 0 && w !== this.width && this.args) this.draw(...this.args);
    });
    this.observer.observe(this.box);
  }

  setData(edges, dist) {
    this.args = [edges, dist];
    this.draw(edges, dist);
  }

  draw(edges, dist) {
    this.svg.replaceChildren();
    const counts = (dist && dist.counts) || [];
    const total = (dist && dist.count) || 0;
    this.el.dataset.points = String(total ? counts.length : 0);
    this.width = Math.floor(this.box.clientWidth) || 640;
    const W = this.width, H = 240, L = 44, R = 8, T = 8, B = 28;
    this.svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    this.svg.setAttribute('width', String(W));
    this.svg.setAttribute('height', String(H));
    if (!total) return;
    const pw = W - L - R, ph = H - T - B, bw = pw / counts.length;
    const shares = counts.map((c) => c / total);
    const max = Math.max(...shares, 0.01);
    const top = max > 0.5 ? 1 : max > 0.2 ? 0.5 : max > 0.1 ? 0.2 : 0.1;
    const edge = (ms) => (ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`);
    for (let g = 0; g <= 4; g++) {
      const y = T + ph - (g / 4) * ph;
      this.svg.appendChild(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'bars-grid' }));
      this.svg.appendChild(svg('text', { x: L - 6, y: y + 4, class: 'bars-ylab' }, `${Math.round((top * g / 4) * 1000) / 10}%`));
    }
    shares.forEach((share, i) => {
      const h2 = (share / top) * ph, x = L + i * bw;
      const lo = i ? edges[i - 1] : 0, hi = edges[i];
      const what = i === 0 ? `under ${edge(hi)}` : i === counts.length - 1 ? `${edge(lo)} and over` : `${edge(lo)} to ${edge(hi)}`;
      this.svg.appendChild(svg('rect', { x: x + 2, y: T + ph - h2, width: Math.max(1, bw - 4), height: h2, class: 'bars-bar' },
        svg('title', null, `${what}: ${Math.round(share * 1000) / 10}%`)));
      // Every edge when there is room for it, every other one on a narrow screen.
      if (i && (bw >= 34 || i % 2 === 1)) this.svg.appendChild(svg('text', { x, y: H - 10, class: 'bars-xlab' }, edge(lo)));
    });
    this.svg.appendChild(svg('line', { x1: L, x2: W - R, y1: T + ph, y2: T + ph, class: 'bars-axis' }));
  }

  destroy() { this.observer.disconnect(); }
}

/**
 * A sparkline of recent p95s, oldest first: [{p95, status}]. Dots are coloured by verdict.
 */
export function sparkline(points, { width = 128, height = 30 } = {}) {
  const vals = points.map((p) => (typeof p.p95 === 'number' ? p.p95 : null));
  const real = vals.filter((v) => v !== null);
  const label = real.length
    ? `p95 of the last ${points.length} runs, from ${Math.round(real[0] * 10) / 10} to ${Math.round(real[real.length - 1] * 10) / 10} ms`
    : 'no finished runs yet';
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'spark', role: 'img', 'aria-label': label });
  if (!points.length) {
    root.appendChild(svg('line', { x1: 2, y1: height - 4, x2: width - 2, y2: height - 4, class: 'spark-empty' }));
    return root;
  }
  const max = Math.max(...real, 0.001);
  const step = points.length > 1 ? (width - 8) / (points.length - 1) : 0;
  const xy = (i, v) => [4 + i * step, height - 4 - ((v ?? 0) / max) * (height - 8)];
  let d = '';
  vals.forEach((v, i) => {
    if (v === null) return;
    const [x, y] = xy(i, v);
    d += `${d ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
  });
  if (d) root.appendChild(svg('path', { d, class: 'spark-line' }));
  points.forEach((p, i) => {
    if (vals[i] === null) return;
    const [x, y] = xy(i, vals[i]);
    root.appendChild(svg('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: i === points.length - 1 ? 2.6 : 1.8, class: `spark-dot st-${p.status}` }));
  });
  return root;
}
