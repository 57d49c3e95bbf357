// live.js - one run's points from the live WebSocket (docs/live.md), with reconnection.
//
// When the socket drops, the stream reconnects by itself with growing delays (0.5 s doubling
// to 10 s, with jitter) and meanwhile fills the gap from the REST API
// (GET /runs/:id/points?from=N), so the charts lose no second. Every point goes through
// onPoint; the caller keeps the latest value per second number, so a second seen twice
// (backlog and stream, or REST and stream) is harmless.
import { get, config, API } from './api.js';

export class LiveStream {
  /** handlers: onPoint(point), onEnd(status), onState('connecting'|'live'|'reconnecting'|'ended') */
  constructor(runId, handlers) {
    this.runId = runId;
    this.h = handlers;
    this.socket = null;
    this.closed = false;
    this.attempt = 0;
    this.lastSecond = -1;
    this.timer = null;
    this.gapTimer = null;
    this.reconnects = 0; // subscriptions made again after a lost socket
    window.stampedeLive = this; // the socket's state, for a person (or a test) looking at the page
  }

  async start() {
    try {
      const cfg = await config();
      // Behind a reverse proxy the server names the stream's public address (live_url);
      // otherwise the stream listens on its own port of the host this page came from.
      this.url = typeof cfg.live_url === 'string' && cfg.live_url
        ? cfg.live_url
        : `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.hostname}:${cfg.live_port}/`;
    } catch {
      // Without the port there is no socket to open; REST keeps the page going meanwhile.
      this.startGapFill();
      if (!this.closed) this.timer = setTimeout(() => this.start(), 2000);
      return;
    }
    this.stopGapFill();
    this.connect();
  }

  state(s) {
    this.stateName = s;
    if (this.h.onState) this.h.onState(s);
  }

  point(p) {
    if (typeof p.second === 'number' && p.second > this.lastSecond) this.lastSecond = p.second;
    this.h.onPoint(p);
  }

  connect() {
    if (this.closed) return;
    this.state(this.attempt ? 'reconnecting' : 'connecting');
    let ws;
    try { ws = new WebSocket(this.url, 'stampede-live-v1'); } catch { this.retry(); return; }
    this.socket = ws;
    // A socket that neither opens nor fails (a blocked or black-holed address) must not leave
    // the page waiting: without a subscription within 5 s it is dropped and retried.
    clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => {
      if (this.socket !== ws || this.stateName === 'live' || this.closed) return;
      this.socket = null;
      try { ws.close(); } catch { /* already failed */ }
      this.retry();
    }, 5000);
    ws.onopen = () => {
      ws.send(JSON.stringify({ subscribe: 'run', run_id: this.runId }));
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (m.type === 'subscribed') {
        clearTimeout(this.openTimer);
        if (this.attempt) this.reconnects += 1;
        this.attempt = 0;
        this.stopGapFill();
        this.state('live');
        return;
      }
      if (m.type === 'backlog') {
        const d = m.data;
        if (d && Array.isArray(d.seconds)) for (const p of d.seconds) this.point(p);
        if (d && d.status && d.status !== 'running' && d.status !== 'queued') this.end(d.status);
        return;
      }
      if (m.type === 'second' && m.run_id === this.runId) { this.point(m.data); return; }
      if (m.type === 'end' && m.run_id === this.runId) { this.end(m.data && m.data.status); }
    };
    ws.onclose = () => {
      if (this.socket !== ws) return;
      this.socket = null;
      if (!this.closed) this.retry();
    };
    ws.onerror = () => { /* onclose follows and decides */ };
  }

  retry() {
    this.attempt += 1;
    this.state('reconnecting');
    this.startGapFill();
    const base = Math.min(10000, 500 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** While the socket is down, the seconds come from REST every two seconds. */
  startGapFill() {
    if (this.gapTimer) return;
    const fill = async () => {
      try {
        const r = await get(`${API}/runs/${this.runId}/points?from=${this.lastSecond + 1}`);
        for (const p of r.seconds || []) this.point(p);
        if (r.status && r.status !== 'running' && r.status !== 'queued') this.end(r.status);
      } catch { /* the server may be gone for a moment too; try again */ }
    };
    fill();
    this.gapTimer = setInterval(fill, 2000);
  }

  stopGapFill() {
    clearInterval(this.gapTimer);
    this.gapTimer = null;
  }

  end(status) {
    if (this.closed) return;
    this.close();
    this.state('ended');
    if (this.h.onEnd) this.h.onEnd(status);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.openTimer);
    this.stopGapFill();
    if (this.socket) { const s = this.socket; this.socket = null; s.close(); }
    if (window.stampedeLive === this) window.stampedeLive = null;
  }
}
