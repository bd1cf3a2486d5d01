// Queues: the paginated list with "Add a new queue", and a queue's page
// (details, arguments, policy, consumers, bindings; publish, get, purge,
// delete), laid out as in RabbitMQ's UI.

import { api, get, list, seg, tryGet } from '../api.js';
import { act, argsEditor, clear, facts, field, fmtBytes, fmtNum, fmtRate, fmtValue, h, link, section, select, table } from '../dom.js';
import { Pager } from '../pager.js';
import { inVHost, vhostNames } from '../state.js';
import { Rates, messages } from '../stats.js';
import { bindingsTable, publishForm } from './exchanges.js';

const queueArgs = [['x-message-ttl', 'number'], ['x-expires', 'number'], ['x-max-length', 'number'], ['x-max-length-bytes', 'number'],
  ['x-overflow', 'string'], ['x-dead-letter-exchange', 'string'], ['x-dead-letter-routing-key', 'string'], ['x-max-priority', 'number'],
  ['x-delivery-delay', 'number'], ['x-visibility-timeout', 'number']];

// Short names for a queue's features, as RabbitMQ's list shows them.
const short = { 'x-message-ttl': 'TTL', 'x-expires': 'Exp', 'x-max-length': 'Lim', 'x-max-length-bytes': 'Lim B', 'x-dead-letter-exchange': 'DLX', 'x-dead-letter-routing-key': 'DLK', 'x-max-priority': 'Pri', 'x-overflow': 'Ovfl' };

function features(q) {
  const f = [];
  if (q.durable) f.push(h('abbr', { title: 'durable', class: 'tag' }, 'D'));
  if (q.auto_delete) f.push(h('abbr', { title: 'auto-delete', class: 'tag' }, 'AD'));
  if (q.exclusive) f.push(h('abbr', { title: 'exclusive', class: 'tag' }, 'Excl'));
  for (const [k, v] of Object.entries(q.arguments || {})) {
    f.push(h('abbr', { title: `${k}: ${fmtValue(v)}`, class: 'tag' }, short[k] || 'Args'));
  }
  if (q.policy) f.push(h('abbr', { title: 'policy', class: 'tag policy' }, q.policy));
  return f;
}

export const queueHref = (vhost, name) => `#/queues/${seg(vhost)}/${seg(name)}`;

export async function listPage(main, ctx) {
  const rates = new Rates();
  const pager = new Pager(inVHost('/queues'), (qs, body) => {
    clear(body, table(['Virtual host', 'Name', 'Type', 'Features', 'State', 'Ready', 'Unacked', 'Total', 'Incoming', 'Deliver / get', 'Ack', 'Consumers'],
      qs.map((q) => {
        const id = `${q.vhost}\u0000${q.name}`;
        const ms = q.message_stats || {};
        return [q.vhost, link(queueHref(q.vhost, q.name), q.name), q.type || 'classic', h('span', { class: 'features' }, features(q)), q.state || 'running',
          { v: fmtNum(q.messages_ready), class: 'num' }, { v: fmtNum(q.messages_unacknowledged), class: 'num' }, { v: fmtNum(messages(q)), class: 'num' },
          { v: fmtRate(rates.rate(id, ms, 'publish')), class: 'num' }, { v: fmtRate(rates.rate(id, ms, 'deliver_get')), class: 'num' },
          { v: fmtRate(rates.rate(id, ms, 'ack')), class: 'num' }, { v: fmtNum(q.consumers), class: 'num' }];
      }), { empty: 'No queues match.' }));
  }, { id: 'queues' });
  clear(main, h('h1', null, 'Queues'), section('All queues', pager.el), await addQueueForm(pager));
  await pager.update();
  return () => ctx.live() && pager.update();
}

async function addQueueForm(pager) {
  const vhosts = await vhostNames(get);
  const vhost = select('vhost', vhosts, vhosts.includes('/') ? '/' : vhosts[0]);
  const name = h('input', { name: 'name', id: 'queue-name', required: true, size: 30 });
  const durable = select('durable', [['true', 'Durable'], ['false', 'Transient']], 'true');
  const autoDelete = select('auto_delete', [['false', 'No'], ['true', 'Yes']], 'false');
  const args = argsEditor('arguments', queueArgs);
  const btn = h('button', { type: 'submit', id: 'add-queue' }, 'Add queue');
  const form = h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await act(btn, () => api('PUT', `/queues/${seg(vhost.value)}/${seg(name.value)}`,
        { durable: durable.value === 'true', auto_delete: autoDelete.value === 'true', arguments: args.value() }), `Queue ${name.value} added.`);
      if (r.ok) { name.value = ''; pager.update(); }
    },
  }, field('Virtual host', vhost), field('Name', name), field('Durability', durable), field('Auto delete', autoDelete),
  field('Arguments', args), h('div', null, btn));
  return section('Add a new queue', form, { open: false, id: 'add-queue-section' });
}

// queueOf reads one queue; where GET /api/queues/V/Q is not there yet the
// list has it.
async function queueOf(vhost, name) {
  try {
    return await get(`/queues/${seg(vhost)}/${seg(name)}`);
  } catch (e) {
    if (e.status !== 404 && e.status !== 405) throw e;
    const all = await list('/queues');
    const q = all.find((x) => x.vhost === vhost && x.name === name);
    if (!q) throw e;
    return q;
  }
}

export async function detailPage(main, ctx) {
  const { vhost, name } = ctx.params;
  const path = `/queues/${seg(vhost)}/${seg(name)}`;
  const rates = new Rates();
  const info = h('div', { id: 'queue-overview' });
  const argsBox = h('div');
  const consumers = h('div', { id: 'queue-consumers' });
  const bindings = h('div', { id: 'queue-bindings' });

  async function update() {
    let q;
    try {
      q = await queueOf(vhost, name);
    } catch (e) {
      if (e.status === 404) { clear(info, h('p', { class: 'warning' }, 'This queue does not exist (any more).')); return; }
      throw e;
    }
    if (!ctx.live()) return;
    const ms = q.message_stats || {};
    clear(info, h('div', { class: 'two-col' },
      facts([['Type', q.type || 'classic'], ['Features', h('span', { class: 'features' }, features(q))], ['State', q.state || 'running'],
        ['Consumers', fmtNum(q.consumers)], ['Consumer utilisation', q.consumer_utilisation != null ? `${Math.round(q.consumer_utilisation * 100)}%` : ''],
        ['Policy', q.policy || ''], ['Operator policy', q.operator_policy || ''], ['Node', q.node || '']]),
      facts([['Ready', h('b', { id: 'queue-ready' }, fmtNum(q.messages_ready))], ['Unacked', fmtNum(q.messages_unacknowledged)], ['Total', fmtNum(messages(q))],
        ['Message bytes', q.message_bytes != null ? fmtBytes(q.message_bytes) : ''], ['On disk', q.disk_bytes != null ? fmtBytes(q.disk_bytes) : ''],
        ['Incoming', fmtRate(rates.rate('q', ms, 'publish'))], ['Deliver / get', fmtRate(rates.rate('q', ms, 'deliver_get'))], ['Ack', fmtRate(rates.rate('q', ms, 'ack'))]])));
    const eff = q.effective_policy_definition;
    clear(argsBox,
      h('h3', null, 'Arguments'),
      table(['Key', 'Value'], Object.entries(q.arguments || {}).map(([k, v]) => [k, fmtValue(v)]), { empty: 'No arguments.', cls: 'list compact' }),
      h('h3', null, 'Effective policy definition'),
      eff && typeof eff === 'object' && Object.keys(eff).length
        ? table(['Key', 'Value'], Object.entries(eff).map(([k, v]) => [k, fmtValue(v)]), { cls: 'list compact' })
        : h('p', { class: 'empty' }, q.policy ? `Policy ${q.policy}` : 'No policy applies.'));
    let cs = q.consumer_details;
    if (!Array.isArray(cs)) cs = (await list(`/consumers/${seg(vhost)}`)).filter((c) => c.queue && c.queue.name === name);
    if (!ctx.live()) return;
    clear(consumers, table(['Channel', 'Consumer tag', 'Ack required', 'Exclusive', 'Prefetch', 'Active', 'Arguments'],
      cs.map((c) => {
        const ch = c.channel_details || {};
        return [ch.connection_name ? link(`#/connections/${seg(ch.connection_name)}`, ch.name) : (ch.name || ''), c.consumer_tag,
          c.ack_required ? '●' : '○', c.exclusive ? '●' : '○', fmtNum(c.prefetch_count), c.active === false ? '○' : '●', fmtValue(c.arguments || {})];
      }), { empty: 'No consumers.' }));
  }

  async function updateBindings() {
    const bs = await tryGet(`${path}/bindings`, null);
    if (!ctx.live()) return;
    clear(bindings, bs === null ? h('p', { class: 'hint' }, 'This broker does not list a queue\'s bindings yet.') : bindingsTable(bs, 'queue', updateBindings));
  }

  clear(main,
    h('h1', null, 'Queue ', h('span', { class: 'name', id: 'queue-title' }, name), vhost !== '/' ? h('span', { class: 'hint' }, ` in ${vhost}`) : null),
    section('Overview', info),
    section('Details', argsBox, { open: false }),
    section('Consumers', consumers),
    section('Bindings', [bindings, bindForm(vhost, name, updateBindings)]),
    section('Publish message', publishForm(vhost, '', name, true), { open: false, id: 'publish-section' }),
    section('Get messages', getForm(path), { open: false, id: 'get-section' }),
    section('Delete / purge', dangerForm(path, name, update), { open: false, id: 'danger-section' }));
  await Promise.all([update(), updateBindings()]);
  return update;
}

// Add a binding to this queue from an exchange.
function bindForm(vhost, name, done) {
  const ex = h('input', { name: 'source', id: 'bind-source', required: true, size: 24 });
  const rk = h('input', { name: 'routing_key', id: 'bind-key', size: 24 });
  const args = argsEditor('binding arguments');
  const btn = h('button', { type: 'submit', id: 'bind' }, 'Bind');
  return h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await act(btn, () => api('POST', `/bindings/${seg(vhost)}/e/${seg(ex.value)}/q/${seg(name)}`, { routing_key: rk.value, arguments: args.value() }), 'Binding added.');
      if (r.ok) { rk.value = ''; done(); }
    },
  }, h('h3', null, 'Add binding to this queue'), field('From exchange', ex), field('Routing key', rk), field('Arguments', args), h('div', null, btn));
}

// Get messages (POST /api/queues/V/Q/get), as RabbitMQ's form.
function getForm(path) {
  const ackmode = select('ackmode', [['ack_requeue_true', 'Nack message requeue true'], ['ack_requeue_false', 'Automatic ack'],
    ['reject_requeue_true', 'Reject requeue true'], ['reject_requeue_false', 'Reject requeue false']], 'ack_requeue_true');
  const encoding = select('encoding', [['auto', 'Automatic string/base64'], ['base64', 'base64']], 'auto');
  const count = h('input', { name: 'count', type: 'number', min: 1, max: 1000, value: 1, id: 'get-count' });
  const out = h('div', { id: 'get-result' });
  const btn = h('button', { type: 'submit', id: 'get-messages' }, 'Get Message(s)');
  return h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await act(btn, () => api('POST', `${path}/get`, { count: Number(count.value), ackmode: ackmode.value, encoding: encoding.value, truncate: 50000 }));
      if (!r.ok) return;
      const msgs = r.value || [];
      clear(out, msgs.length ? msgs.map((m, i) => h('div', { class: 'message' },
        h('h4', null, `Message ${i + 1}`), h('p', { class: 'hint' }, `The server reported ${m.message_count} messages remaining.`),
        facts([['Exchange', m.exchange === '' ? '(AMQP default)' : m.exchange], ['Routing Key', m.routing_key], ['Redelivered', m.redelivered ? '●' : '○'],
          ['Properties', propsView(m.properties)], ['Payload', h('span', null, `${fmtNum(m.payload_bytes)} bytes, encoding: ${m.payload_encoding}`)]]),
        h('pre', { class: 'payload' }, m.payload))) : h('p', { class: 'warning' }, 'Queue is empty'));
    },
  }, h('p', { class: 'hint' }, 'Getting messages from a queue is a destructive action: unless requeued they are gone.'),
  field('Ack mode', ackmode), field('Encoding', encoding), field('Messages', count), h('div', null, btn), out);
}

function propsView(p) {
  if (!p || Array.isArray(p) || !Object.keys(p).length) return '';
  return table(['Property', 'Value'], Object.entries(p).map(([k, v]) => [k, fmtValue(v)]), { cls: 'list compact' });
}

function dangerForm(path, name, update) {
  const del = h('button', { type: 'button', class: 'danger', id: 'delete-queue' }, 'Delete Queue');
  const ifUnused = h('input', { type: 'checkbox', name: 'if-unused' });
  const ifEmpty = h('input', { type: 'checkbox', name: 'if-empty' });
  del.addEventListener('click', async () => {
    if (!window.confirm(`Delete queue ${name}?`)) return;
    const q = new URLSearchParams();
    if (ifUnused.checked) q.set('if-unused', 'true');
    if (ifEmpty.checked) q.set('if-empty', 'true');
    const r = await act(del, () => api('DELETE', `${path}${q.size ? `?${q}` : ''}`), `Queue ${name} deleted.`);
    if (r.ok) window.location.hash = '#/queues';
  });
  const purge = h('button', { type: 'button', class: 'danger', id: 'purge-queue' }, 'Purge Messages');
  purge.addEventListener('click', async () => {
    if (!window.confirm(`Purge all messages of ${name}?`)) return;
    const r = await act(purge, () => api('DELETE', `${path}/contents`), 'Queue purged.');
    if (r.ok) update();
  });
  return h('div', { class: 'two-col' },
    h('div', null, h('h3', null, 'Delete'), h('label', { class: 'inline' }, ifUnused, ' only if unused'), ' ', h('label', { class: 'inline' }, ifEmpty, ' only if empty'), h('div', null, del)),
    h('div', null, h('h3', null, 'Purge'), purge));
}
