// Connections: the list, and a connection's page with its channels and
// "Close this connection" with a reason (DELETE with X-Reason, as RabbitMQ).

import { api, get, list, seg } from '../api.js';
import { act, clear, facts, field, fmtBytes, fmtTime, h, link, section, table } from '../dom.js';
import { inVHost } from '../state.js';
import { Rates } from '../stats.js';
import { channelRows, channelHead } from './channels.js';

const client = (c) => (c.client_properties && c.client_properties.connection_name) || '';

export async function listPage(main, ctx) {
  const rates = new Rates();
  const body = h('div');
  async function update() {
    const cs = await list(inVHost('/connections'));
    if (!ctx.live()) return;
    clear(body, table(['Name', 'Client name', 'User', 'Virtual host', 'Protocol', 'State', 'TLS', 'Channels', 'From client', 'To client'],
      cs.map((c) => {
        const rin = rates.rate(c.name, c, 'recv_oct');
        const rout = rates.rate(c.name, c, 'send_oct');
        return [
          link(`#/connections/${seg(c.name)}`, c.name), client(c), c.user, c.vhost, c.protocol || '', c.state || '',
          c.ssl ? '●' : '○', String(c.channels ?? ''),
          rin === undefined ? '' : `${fmtBytes(Math.round(rin))}/s`, rout === undefined ? '' : `${fmtBytes(Math.round(rout))}/s`];
      }),
      { empty: 'No connections.' }));
  }
  clear(main, h('h1', null, 'Connections'), body);
  await update();
  return update;
}

export async function detailPage(main, ctx) {
  const name = ctx.params.name;
  const info = h('div');
  const chans = h('div');
  async function update() {
    let c;
    try {
      c = await get(`/connections/${seg(name)}`);
      // An older broker answered this path with the whole list.
      if (Array.isArray(c)) c = c.find((x) => x.name === name);
    } catch (e) {
      if (e.status !== 404 && e.status !== 405) throw e;
      // Without GET /api/connections/NAME: the list has it too.
      c = (await list('/connections')).find((x) => x.name === name);
    }
    if (!ctx.live()) return;
    if (!c) {
      clear(info, h('p', { class: 'warning', id: 'connection-gone' }, 'This connection is closed (or never was).'));
      clear(chans);
      return;
    }
    clear(info, facts([
      ['Client name', client(c)], ['User', c.user], ['Virtual host', c.vhost], ['Protocol', c.protocol], ['State', c.state],
      ['TLS', c.ssl ? `yes${c.ssl_protocol ? ` (${c.ssl_protocol})` : ''}` : 'no'], ['Peer', c.peer_host ? (c.peer_port != null ? `${c.peer_host}:${c.peer_port}` : c.peer_host) : ''],
      ['Connected at', fmtTime(c.connected_at)], ['Channels', c.channels], ['Frame max', c.frame_max], ['Heartbeat', c.timeout ? `${c.timeout} s` : ''],
      ['Client', c.client_properties ? `${c.client_properties.product || ''} ${c.client_properties.version || ''}`.trim() : ''],
    ]));
    let cs = await list(`/connections/${seg(name)}/channels`, null);
    if (!ctx.live()) return;
    // Only this connection's channels (an older broker answered the list
    // of connections here).
    if (cs) cs = cs.filter((x) => (x.connection_details ? x.connection_details.name === name : 'number' in x));
    clear(chans, cs === null ? h('p', { class: 'hint' }, 'This broker does not list a connection\'s channels yet.')
      : table(channelHead, channelRows(cs, new Rates()), { empty: 'No channels.' }));
  }
  const reason = h('input', { name: 'reason', id: 'close-reason', value: 'Closed via management plugin', size: 40 });
  const btn = h('button', { type: 'submit', class: 'danger', id: 'close-connection' }, 'Force Close');
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (!window.confirm('Close this connection?')) return;
      const r = await act(btn, () => api('DELETE', `/connections/${seg(name)}`, undefined, { headers: { 'X-Reason': reason.value } }), 'Connection closed.');
      if (r.ok) window.location.hash = '#/connections';
    },
  }, field('Reason', reason), btn);
  clear(main, h('h1', null, 'Connection ', h('span', { class: 'name' }, name)),
    section('Overview', info), section('Channels', chans), section('Close this connection', form));
  await update();
  return update;
}
