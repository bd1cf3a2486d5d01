// Overview: totals, queued messages and message rates as live charts, the
// listeners, and (for administrators, as in RabbitMQ) definitions export
// and import.

import { api, get, tryGet } from '../api.js';
import { Chart } from '../chart.js';
import { act, clear, fmtNum, fmtRate, h, section, table } from '../dom.js';
import { can, session } from '../state.js';
import { Rates, messages } from '../stats.js';

const rateKeys = [
  ['publish', 'Publish', '#e8743b'],
  ['deliver_get', 'Deliver / get', '#2f7ed8'],
  ['ack', 'Consumer ack', '#19a979'],
  ['redeliver', 'Redelivered', '#945ecf'],
];

export async function page(main, ctx) {
  const queued = new Chart('Queued messages', [
    ['ready', 'Ready', '#e8a33b'], ['unacked', 'Unacked', '#2f7ed8'], ['total', 'Total', '#7a8795']], (v) => fmtNum(Math.round(v)));
  const rates = new Chart('Message rates', rateKeys, (v) => fmtRate(v));
  const rateOf = new Rates();
  const totals = h('div', { class: 'totals' });
  const node = h('div');
  const unavailable = h('p', { class: 'hint hidden' });

  async function update() {
    const o = await tryGet('/overview');
    if (!ctx.live()) return;
    if (!o) {
      unavailable.className = 'hint';
      unavailable.textContent = 'This broker does not answer /api/overview yet: totals from the lists instead.';
      await fromLists();
      return;
    }
    const qt = o.queue_totals || {};
    const ot = o.object_totals || {};
    queued.add({ ready: qt.messages_ready, unacked: qt.messages_unacknowledged, total: qt.messages ?? ((qt.messages_ready || 0) + (qt.messages_unacknowledged || 0)) });
    const ms = o.message_stats || {};
    const r = {};
    for (const [k] of rateKeys) r[k] = rateOf.rate('overview', ms, k) ?? 0;
    rates.add(r);
    showTotals(ot);
    clear(node, table(['Protocol', 'Bound to', 'Port'], (o.listeners || []).map((l) => [l.protocol, l.ip_address, String(l.port)]), { empty: 'No listeners reported.' }));
  }

  // Without /api/overview: the queue list gives the queued messages.
  async function fromLists() {
    const qs = await get('/queues').then((d) => (Array.isArray(d) ? d : d.items || []));
    const sum = (f) => qs.reduce((a, q) => a + (f(q) || 0), 0);
    queued.add({ ready: sum((q) => q.messages_ready), unacked: sum((q) => q.messages_unacknowledged), total: sum(messages) });
    const conns = await tryGet('/connections', []);
    showTotals({ queues: qs.length, connections: (conns || []).length, consumers: sum((q) => q.consumers) });
  }

  function showTotals(ot) {
    const items = [['Connections', ot.connections, '#/connections'], ['Channels', ot.channels, '#/channels'],
      ['Exchanges', ot.exchanges, '#/exchanges'], ['Queues', ot.queues, '#/queues'], ['Consumers', ot.consumers, null]];
    clear(totals, items.filter(([, v]) => v !== undefined).map(([label, v, href]) => h(href ? 'a' : 'div', { class: 'total', href },
      h('span', { class: 'n' }, fmtNum(v)), h('span', { class: 'what' }, label))));
  }

  const o = session.overview || {};
  clear(main,
    h('h1', null, 'Overview'),
    unavailable,
    totals,
    h('div', { class: 'charts' }, queued.el, rates.el),
    section('Node', [
      h('p', null, `${o.product_name || 'Sluice'} ${o.product_version || ''}`, o.rabbitmq_version ? ` (speaks RabbitMQ ${o.rabbitmq_version}'s management API)` : '', o.node ? ` on ${o.node}` : ''),
      node]),
    can.admin() ? definitions() : null);
  await update();
  return update;
}

// Export and import of definitions (RabbitMQ's GET/POST /api/definitions).
function definitions() {
  const exportBtn = h('button', { type: 'button', id: 'export-definitions' }, 'Download broker definitions');
  const saved = h('span', { class: 'hint', id: 'export-status' });
  exportBtn.addEventListener('click', () => act(exportBtn, async () => {
    const d = await get('/definitions');
    const blob = new Blob([JSON.stringify(d, null, 2)], { type: 'application/json' });
    const a = h('a', { href: URL.createObjectURL(blob), download: `sluice-definitions-${new Date().toISOString().slice(0, 10)}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    saved.textContent = `Exported ${(d.queues || []).length} queues, ${(d.exchanges || []).length} exchanges, ${(d.users || []).length} users.`;
  }));
  const file = h('input', { type: 'file', id: 'import-file', accept: '.json,application/json' });
  const importBtn = h('button', { type: 'submit', id: 'import-definitions' }, 'Upload broker definitions');
  const result = h('div', { id: 'import-status' });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      const f = file.files[0];
      if (!f) { clear(result, h('p', { class: 'warning' }, 'Choose a definitions file first.')); return; }
      const text = await f.text();
      try { JSON.parse(text); } catch { clear(result, h('p', { class: 'warning' }, 'That file is not JSON.')); return; }
      const r = await act(importBtn, () => api('POST', '/definitions', text));
      if (r.ok) {
        const warn = r.value && typeof r.value === 'object' ? Object.entries(r.value).filter(([k]) => k !== 'ok') : [];
        clear(result, h('p', { class: 'ok' }, 'Your definitions were imported successfully.'),
          warn.length ? h('pre', { class: 'small' }, JSON.stringify(Object.fromEntries(warn), null, 2)) : null);
      } else {
        clear(result, h('p', { class: 'warning' }, `Import failed: ${r.error.message}`));
      }
    },
  }, file, ' ', importBtn);
  return section('Export definitions / Import definitions', h('div', { class: 'two-col' },
    h('div', null, h('h3', null, 'Export'), h('p', { class: 'hint' }, 'Users, vhosts, permissions, policies, exchanges, queues and bindings as one JSON file (RabbitMQ\'s format).'), exportBtn, ' ', saved),
    h('div', null, h('h3', null, 'Import'), h('p', { class: 'hint' }, 'A definitions file exported from Sluice or RabbitMQ.'), form, result)), { id: 'definitions' });
}
