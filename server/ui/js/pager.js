// A filtered, paginated list as RabbitMQ's queue and exchange pages have:
// the name filter and the page go to the API (page, page_size, name,
// use_regex, pagination=true) and the envelope's counts drive the pager.
// A broker that answers a plain array is filtered and paged here instead.

import { get } from './api.js';
import { clear, h, select } from './dom.js';

export class Pager {
  // path: the list endpoint; render(items) draws the rows.
  constructor(path, render, { pageSize = 100, id } = {}) {
    this.path = path;
    this.render = render;
    this.page = 1;
    this.pageSize = pageSize;
    this.name = '';
    this.regex = false;
    this.filter = h('input', { type: 'search', class: 'filter', placeholder: 'Filter by name', 'aria-label': 'Filter by name', id: id && `${id}-filter` });
    this.regexBox = h('input', { type: 'checkbox', title: 'Regular expression' });
    this.sizeSel = select('page_size', ['20', '50', '100', '500'], String(pageSize));
    this.info = h('span', { class: 'pager-info' });
    this.nav = h('span', { class: 'pager-nav' });
    let typing;
    this.filter.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => { this.name = this.filter.value; this.page = 1; this.update(); }, 250);
    });
    this.regexBox.addEventListener('change', () => { this.regex = this.regexBox.checked; this.page = 1; this.update(); });
    this.sizeSel.addEventListener('change', () => { this.pageSize = Number(this.sizeSel.value); this.page = 1; this.update(); });
    this.body = h('div', { class: 'pager-body' });
    this.el = h('div', { class: 'pager', id },
      h('div', { class: 'pager-bar' },
        h('label', { class: 'inline' }, this.filter), h('label', { class: 'inline hint' }, this.regexBox, ' Regex'),
        this.info, this.nav, h('label', { class: 'inline hint' }, 'Page size ', this.sizeSel)),
      this.body);
  }

  async update() {
    const q = new URLSearchParams({ page: this.page, page_size: this.pageSize, name: this.name, use_regex: this.regex, pagination: 'true' });
    const d = await get(`${this.path}?${q}`);
    let env = d;
    if (Array.isArray(d)) env = this.local(d);
    if (env.page_count && this.page > env.page_count) {
      this.page = env.page_count;
      return this.update();
    }
    this.render(env.items || [], this.body);
    this.draw(env);
    return env;
  }

  // local pages a plain array the way the API would.
  local(all) {
    let re = null;
    if (this.name && this.regex) { try { re = new RegExp(this.name); } catch { re = /$^/; } }
    const needle = this.name.toLowerCase();
    const f = all.filter((x) => !this.name || (re ? re.test(x.name) : String(x.name).toLowerCase().includes(needle)));
    const pageCount = Math.max(1, Math.ceil(f.length / this.pageSize));
    const start = (Math.min(this.page, pageCount) - 1) * this.pageSize;
    return { items: f.slice(start, start + this.pageSize), filtered_count: f.length, total_count: all.length, page: this.page, page_count: pageCount, page_size: this.pageSize };
  }

  draw(env) {
    const total = env.total_count ?? env.item_count ?? 0;
    const filtered = env.filtered_count ?? total;
    this.info.textContent = this.name ? `${filtered} of ${total} match` : `${total} item${total === 1 ? '' : 's'}`;
    const pages = env.page_count || 1;
    const go = (p) => () => { this.page = p; this.update(); };
    clear(this.nav, pages <= 1 ? null : [
      h('button', { type: 'button', class: 'small', disabled: this.page <= 1, onclick: go(this.page - 1) }, '‹'),
      ` Page ${this.page} of ${pages} `,
      h('button', { type: 'button', class: 'small', disabled: this.page >= pages, onclick: go(this.page + 1) }, '›')]);
  }
}
