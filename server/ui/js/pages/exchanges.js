// Exchanges: the paginated list with "Add a new exchange", an exchange's
// page (bindings from it, add binding, publish, delete), and the parts the
// queue page shares (bindings table, publish form).

import { api, get, seg, tryGet } from '../api.js';
import { act, argsEditor, clear, facts, field, fmtRate, fmtValue, h, link, section, select, table } from '../dom.js';
import { Pager } from '../pager.js';
import { inVHost, session, vhostNames } from '../state.js';
import { Rates } from '../stats.js';

const display = (name) => (name === '' ? '(AMQP default)' : name);
export const exchangeHref = (vhost, name) => `#/exchanges/${seg(vhost)}/${seg(name === '' ? 'amq.default' : name)}`;
const queueHref = (vhost, name) => `#/queues/${seg(vhost)}/${seg(name)}`;

function features(x) {
  const f = [];
  if (x.durable) f.push(h('abbr', { title: 'durable', class: 'tag' }, 'D'));
  if (x.auto_delete) f.push(h('abbr', { title: 'auto-delete', class: 'tag' }, 'AD'));
  if (x.internal) f.push(h('abbr', { title: 'internal', class: 'tag' }, 'I'));
  for (const [k, v] of Object.entries(x.arguments || {})) f.push(h('abbr', { title: `${k}: ${fmtValue(v)}`, class: 'tag' }, k === 'alternate-exchange' ? 'AE' : 'Args'));
  if (x.policy) f.push(h('abbr', { title: 'policy', class: 'tag policy' }, x.policy));
  return f;
}

export async function listPage(main, ctx) {
  const rates = new Rates();
  const pager = new Pager(inVHost('/exchanges'), (xs, body) => {
    clear(body, table(['Virtual host', 'Name', 'Type', 'Features', 'Message rate in', 'Message rate out'],
      xs.map((x) => {
        const id = `${x.vhost}\u0000${x.name}`;
        const ms = x.message_stats || {};
        return [x.vhost, link(exchangeHref(x.vhost, x.name), display(x.name)), x.type, h('span', { class: 'features' }, features(x)),
          { v: fmtRate(rates.rate(id, ms, 'publish_in')), class: 'num' }, { v: fmtRate(rates.rate(id, ms, 'publish_out')), class: 'num' }];
      }), { empty: 'No exchanges match.' }));
  }, { id: 'exchanges' });
  clear(main, h('h1', null, 'Exchanges'), section('All exchanges', pager.el), await addExchangeForm(pager));
  try {
    await pager.update();
  } catch (e) {
    if (e.status !== 404) throw e;
    clear(pager.body, h('p', { class: 'hint' }, 'This broker does not list exchanges yet (GET /api/exchanges).'));
    return null;
  }
  return () => ctx.live() && pager.update();
}

async function addExchangeForm(pager) {
  const vhosts = await vhostNames(get);
  const types = ((session.overview && session.overview.exchange_types) || []).map((t) => t.name);
  const vhost = select('vhost', vhosts, vhosts.includes('/') ? '/' : vhosts[0]);
  const name = h('input', { name: 'name', id: 'exchange-name', required: true, size: 30 });
  const type = select('type', types.length ? types : ['direct', 'fanout', 'headers', 'topic'], 'direct');
  const durable = select('durable', [['true', 'Durable'], ['false', 'Transient']], 'true');
  const autoDelete = select('auto_delete', [['false', 'No'], ['true', 'Yes']], 'false');
  const internal = select('internal', [['false', 'No'], ['true', 'Yes']], 'false');
  const args = argsEditor('arguments', [['alternate-exchange', 'string']]);
  const btn = h('button', { type: 'submit', id: 'add-exchange' }, 'Add exchange');
  const form = h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await act(btn, () => api('PUT', `/exchanges/${seg(vhost.value)}/${seg(name.value)}`, {
        type: type.value, durable: durable.value === 'true', auto_delete: autoDelete.value === 'true', internal: internal.value === 'true', arguments: args.value(),
      }), `Exchange ${name.value} added.`);
      if (r.ok) { name.value = ''; pager.update(); }
    },
  }, field('Virtual host', vhost), field('Name', name), field('Type', type), field('Durability', durable), field('Auto delete', autoDelete),
  field('Internal', internal), field('Arguments', args), h('div', null, btn));
  return section('Add a new exchange', form, { open: false });
}

export async function detailPage(main, ctx) {
  const { vhost } = ctx.params;
  const name = ctx.params.name === 'amq.default' ? '' : ctx.params.name;
  const path = `/exchanges/${seg(vhost)}/${seg(name === '' ? 'amq.default' : name)}`;
  const rates = new Rates();
  const info = h('div');
  const out = h('div', { id: 'exchange-bindings' });
  async function update() {
    const x = await get(path);
    if (!ctx.live()) return;
    const ms = x.message_stats || {};
    clear(info, facts([['Type', x.type], ['Features', h('span', { class: 'features' }, features(x))], ['Policy', x.policy || ''],
      ['Arguments', Object.keys(x.arguments || {}).length ? fmtValue(x.arguments) : ''],
      ['Message rate in', fmtRate(rates.rate('x', ms, 'publish_in'))], ['Message rate out', fmtRate(rates.rate('x', ms, 'publish_out'))]]));
  }
  async function updateBindings() {
    if (name === '') {
      clear(out, h('p', { class: 'hint' }, 'The default exchange is implicitly bound to every queue, with a routing key equal to the queue name. It is not possible to explicitly bind to, or unbind from the default exchange.'));
      return;
    }
    const bs = await tryGet(`${path}/bindings/source`, null);
    if (!ctx.live()) return;
    clear(out, bs === null ? h('p', { class: 'hint' }, 'This broker does not list an exchange\'s bindings yet.') : bindingsTable(bs, 'exchange', updateBindings));
  }
  const del = h('button', { type: 'button', class: 'danger', id: 'delete-exchange' }, 'Delete this exchange');
  del.addEventListener('click', async () => {
    if (!window.confirm(`Delete exchange ${name}?`)) return;
    const r = await act(del, () => api('DELETE', path), `Exchange ${name} deleted.`);
    if (r.ok) window.location.hash = '#/exchanges';
  });
  clear(main,
    h('h1', null, 'Exchange ', h('span', { class: 'name' }, display(name)), vhost !== '/' ? h('span', { class: 'hint' }, ` in ${vhost}`) : null),
    section('Overview', info),
    section('Bindings', [out, name === '' ? null : bindFromForm(vhost, name, updateBindings)]),
    section('Publish message', publishForm(vhost, name, '', false), { open: false }),
    name === '' || name.startsWith('amq.') ? null : section('Delete this exchange', del, { open: false }));
  await Promise.all([update(), updateBindings()]);
  return update;
}

// Add a binding from this exchange to a queue or an exchange.
function bindFromForm(vhost, source, done) {
  const destType = select('destination_type', [['q', 'To queue'], ['e', 'To exchange']], 'q');
  const dest = h('input', { name: 'destination', required: true, size: 24 });
  const rk = h('input', { name: 'routing_key', size: 24 });
  const args = argsEditor('binding arguments');
  const btn = h('button', { type: 'submit' }, 'Bind');
  return h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await act(btn, () => api('POST', `/bindings/${seg(vhost)}/e/${seg(source)}/${destType.value}/${seg(dest.value)}`, { routing_key: rk.value, arguments: args.value() }), 'Binding added.');
      if (r.ok) { rk.value = ''; done(); }
    },
  }, h('h3', null, 'Add binding from this exchange'), field('Destination', h('span', { class: 'inline' }, destType, ' ', dest)),
  field('Routing key', rk), field('Arguments', args), h('div', null, btn));
}

// bindingsTable lists bindings as seen from a queue (the source is shown)
// or from an exchange (the destination is shown), with Unbind.
export function bindingsTable(bs, side, done) {
  return table([side === 'queue' ? 'From' : 'To', 'Routing key', 'Arguments', ''], bs.map((b) => {
    const other = side === 'queue'
      ? (b.source === '' ? '(Default exchange binding)' : link(exchangeHref(b.vhost, b.source), b.source))
      : link(b.destination_type === 'queue' ? queueHref(b.vhost, b.destination) : exchangeHref(b.vhost, b.destination), `${b.destination} (${b.destination_type})`);
    let unbind = '';
    if (b.source !== '') {
      unbind = h('button', { type: 'button', class: 'small danger' }, 'Unbind');
      unbind.addEventListener('click', async () => {
        const d = b.destination_type === 'queue' ? 'q' : 'e';
        const key = b.properties_key ?? b.routing_key;
        const r = await act(unbind, () => api('DELETE', `/bindings/${seg(b.vhost)}/e/${seg(b.source)}/${d}/${seg(b.destination)}/${seg(key)}`), 'Binding removed.');
        if (r.ok) done();
      });
    }
    return [other, b.routing_key, Object.keys(b.arguments || {}).length ? fmtValue(b.arguments) : '', unbind];
  }), { empty: 'No bindings.' });
}

// publishForm publishes through POST /api/exchanges/V/X/publish; from a
// queue's page it goes to the default exchange with the queue's name.
export function publishForm(vhost, exchange, routingKey, fixedKey) {
  const rk = h('input', { name: 'routing_key', id: 'publish-key', value: routingKey, size: 30, readonly: fixedKey });
  const mode = select('delivery_mode', [['1', '1 - Non-persistent'], ['2', '2 - Persistent']], '2');
  const headers = argsEditor('headers');
  const props = argsEditor('properties', [['content_type', 'string'], ['correlation_id', 'string'], ['message_id', 'string'], ['expiration', 'string'], ['reply_to', 'string'], ['priority', 'number']]);
  const payload = h('textarea', { name: 'payload', id: 'publish-payload', rows: 5, cols: 60 });
  const btn = h('button', { type: 'submit', id: 'publish' }, 'Publish message');
  return h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      await act(btn, async () => {
        const properties = { delivery_mode: Number(mode.value), headers: headers.value(), ...props.value() };
        const x = exchange === '' ? 'amq.default' : exchange;
        const r = await api('POST', `/exchanges/${seg(vhost)}/${seg(x)}/publish`, { properties, routing_key: rk.value, payload: payload.value, payload_encoding: 'string' });
        return r;
      }, (r) => (r && r.routed === false ? 'Message published, but not routed.' : 'Message published.'));
    },
  }, fixedKey ? h('p', { class: 'hint' }, 'Message will be published to the default exchange with routing key ', h('b', null, routingKey), ', routing it to this queue.') : field('Routing key', rk),
  field('Delivery mode', mode), field('Headers', headers), field('Properties', props), field('Payload', payload), h('div', null, btn));
}
