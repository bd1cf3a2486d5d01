// Channels: every channel the user may see, with RabbitMQ's columns.

import { list, seg } from '../api.js';
import { clear, fmtNum, fmtRate, h, link, table } from '../dom.js';
import { inVHost } from '../state.js';
import { Rates } from '../stats.js';

export const channelHead = ['Channel', 'User', 'Mode', 'State', 'Unconfirmed', 'Prefetch', 'Unacked', 'Consumers', 'Publish', 'Deliver / get', 'Ack'];

function mode(c) {
  if (c.confirm) return 'C';
  if (c.transactional) return 'T';
  return '';
}

export function channelRows(cs, rates) {
  return cs.map((c) => {
    const ms = c.message_stats || {};
    const conn = c.connection_details && c.connection_details.name;
    return [
      conn ? link(`#/connections/${seg(conn)}`, c.name) : c.name, c.user || '', mode(c), c.state || '',
      fmtNum(c.messages_unconfirmed), c.prefetch_count ? fmtNum(c.prefetch_count) : (c.global_prefetch_count ? `${c.global_prefetch_count} (global)` : ''),
      fmtNum(c.messages_unacknowledged), fmtNum(c.consumer_count),
      fmtRate(rates.rate(c.name, ms, 'publish')), fmtRate(rates.rate(c.name, ms, 'deliver_get')), fmtRate(rates.rate(c.name, ms, 'ack'))];
  });
}

export async function listPage(main, ctx) {
  const rates = new Rates();
  const body = h('div');
  async function update() {
    const cs = await list(inVHost('/channels'), null);
    if (!ctx.live()) return;
    clear(body, cs === null ? h('p', { class: 'hint' }, 'This broker does not list channels yet (GET /api/channels).')
      : table(channelHead, channelRows(cs, rates), { empty: 'No channels.' }));
  }
  clear(main, h('h1', null, 'Channels'), h('p', { class: 'hint' }, 'Mode: C confirm, T transactional.'), body);
  await update();
  return update;
}
