// tabs.js - a tab list over panels (WAI-ARIA tabs: the selected tab is the one in the tab
// order, arrow keys move between tabs). A tab may refuse to be left (the JSON tab holding
// text that is not JSON).
import { h } from '../dom.js';

/**
 * views: [{ key, label, panel }] in order. canLeave(from, to) answers whether the current tab
 * may be left; onShow(key) fills the panel shown. Nothing is selected until the first show().
 * Returns { el, panels, show(key) -> shown?, current }.
 */
export function tabView(label, views, { initial, canLeave, onShow }) {
  let current = initial;
  const buttons = {};
  const panels = {};
  const el = h('div', { class: 'tabs', role: 'tablist', 'aria-label': label });
  for (const { key, label: text, panel } of views) {
    const b = h('button', { type: 'button', role: 'tab', class: 'tab', id: `tab-${key}`, 'aria-controls': `panel-${key}`, on: { click: () => show(key) } }, text);
    buttons[key] = b;
    panels[key] = panel;
    el.appendChild(b);
    panel.id = `panel-${key}`;
    panel.setAttribute('role', 'tabpanel');
    panel.setAttribute('aria-labelledby', `tab-${key}`);
  }
  el.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const keys = Object.keys(buttons);
    const i = keys.indexOf(current) + (e.key === 'ArrowRight' ? 1 : -1);
    const next = keys[(i + keys.length) % keys.length];
    if (show(next)) buttons[next].focus();
  });

  function show(key) {
    if (key === current && buttons[key].getAttribute('aria-selected') === 'true') return true;
    if (!canLeave(current, key)) return false;
    current = key;
    for (const [k, b] of Object.entries(buttons)) {
      b.setAttribute('aria-selected', String(k === key));
      b.tabIndex = k === key ? 0 : -1;
      panels[k].hidden = k !== key;
    }
    onShow(key);
    return true;
  }

  return { el, panels: views.map((v) => v.panel), show, get current() { return current; } };
}
