// charts.js - uPlot charts of per-second series, sized to their container, plus the tests
// list's sparklines (a small SVG, no library needed for 20 points).
import uPlot from '/assets/vendor/uPlot.esm.js';
import { h, svg } from './dom.js';
import { duration } from './format.js';

export const PALETTE = ['#2f6fde', '#e07b39', '#2f9e6b', '#9b59b6', '#d64545', '#1a9bb0', '#b08d1a', '#5d6d7e',
  '#c2477f', '#4a8c2a'];

const CHART_HEIGHT = 210;

/**
 * A chart of series over elapsed seconds. opts: { title, unit, series: [{label, color, dash,
 * fill, width, scale}], yMin }. The box keeps its height whatever the data, so updates never
 * move the page.
 */
export class TimeChart {
  constructor(opts) {
    this.opts = opts;
    this.plotBox = h('div', { class: 'chart-plot' });
    this.el = h('figure', { class: 'chart', 'aria-label': opts.title },
      h('figcaption', { class: 'chart-head' }, h('span', { class: 'chart-title' }, opts.title, opts.unit ? h('span', { class: 'chart-unit' }, ` (${opts.unit})`) : null), opts.tools || null),
      this.plotBox);
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
    this.plotBox.addEventListener('mouseleave', () => setTimeout(() => this.showLatest(), 0));
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
