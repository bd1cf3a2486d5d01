// Building the page: h() makes elements from data, never from HTML
// strings, so a queue called "<script>" is text like any other name.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'value') el.value = v;
      else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A link inside the app (hash routes).
export const link = (href, text) => h('a', { href }, text);

export function fmtNum(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '';
  return Number(n).toLocaleString('en-US');
}

export function fmtRate(r) {
  if (r === undefined || r === null || Number.isNaN(r)) return '';
  const v = Number(r);
  return `${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 10 ? 1 : 2)}/s`;
}

export function fmtBytes(b) {
  if (b === undefined || b === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(b);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toLocaleString();
}

// A value of an arguments table (objects as JSON).
export const fmtValue = (v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

// A flash message at the top of the main area.
export function flash(text, kind = 'ok') {
  const box = document.getElementById('flash');
  if (!box) return;
  const msg = h('div', { class: `flash ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text,
    h('button', { class: 'close', type: 'button', 'aria-label': 'dismiss', onclick: () => msg.remove() }, '×'));
  box.append(msg);
  if (kind !== 'error') setTimeout(() => msg.remove(), 6000);
}

// A table with a header row; rows is an array of arrays of cells (a cell
// is text, a Node, or {v, class}). empty is shown when there are no rows.
export function table(head, rows, { empty = 'Nothing to show.', cls = 'list' } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', { class: cls },
    h('thead', null, h('tr', null, head.map((c) => h('th', null, c)))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => (c && typeof c === 'object' && !(c instanceof Node) && 'v' in c
      ? h('td', { class: c.class }, c.v) : h('td', null, c)))))));
}

// A key/value table (a queue's details).
export function facts(pairs) {
  return h('table', { class: 'facts' }, h('tbody', null,
    pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== '')
      .map(([k, v]) => h('tr', null, h('th', null, k), h('td', null, v)))));
}

// A collapsible section, as RabbitMQ's pages have them.
export function section(title, body, { open = true, id } = {}) {
  return h('details', { class: 'section', open, id }, h('summary', null, title), h('div', { class: 'section-body' }, body));
}

// A labelled form field.
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
}

export function select(name, options, value) {
  return h('select', { name }, options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: v === value }, text);
  }));
}

// An arguments editor (key, value, type rows), as RabbitMQ's forms have:
// the value is typed, so x-max-length is a number and not a string.
export function argsEditor(name, presets = []) {
  const rows = h('div', { class: 'args-rows' });
  const addRow = (k = '', v = '', type = 'string') => {
    const row = h('div', { class: 'args-row' },
      h('input', { class: 'arg-key', placeholder: 'key', value: k, 'aria-label': `${name} key` }),
      h('input', { class: 'arg-value', placeholder: 'value', value: v, 'aria-label': `${name} value` }),
      select('type', [['string', 'String'], ['number', 'Number'], ['boolean', 'Boolean'], ['json', 'List / JSON']], type),
      h('button', { type: 'button', class: 'small', title: 'remove', onclick: () => row.remove() }, '−'));
    rows.append(row);
  };
  addRow();
  const box = h('div', { class: 'args', 'data-args': name }, rows,
    h('div', { class: 'args-presets' },
      h('button', { type: 'button', class: 'small', onclick: () => addRow() }, '+ add'),
      presets.length ? h('span', { class: 'hint' }, 'Add ') : null,
      presets.map(([k, type]) => h('button', {
        type: 'button', class: 'link', onclick: () => {
          const empty = [...rows.querySelectorAll('.arg-key')].find((i) => !i.value);
          if (empty) { empty.value = k; empty.parentNode.querySelector('select').value = type; } else addRow(k, '', type);
        },
      }, k))));
  box.value = () => readArgs(rows);
  return box;
}

function readArgs(rows) {
  const out = {};
  for (const row of rows.querySelectorAll('.args-row')) {
    const k = row.querySelector('.arg-key').value.trim();
    if (!k) continue;
    const raw = row.querySelector('.arg-value').value;
    const type = row.querySelector('select').value;
    if (type === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || Number.isNaN(n)) throw new Error(`${k}: "${raw}" is not a number`);
      out[k] = n;
    } else if (type === 'boolean') {
      out[k] = raw.trim() === 'true';
    } else if (type === 'json') {
      try { out[k] = JSON.parse(raw); } catch { throw new Error(`${k}: not valid JSON`); }
    } else {
      out[k] = raw;
    }
  }
  return out;
}

// Runs an action from a button, with the button disabled meanwhile and
// the result (or the API's reason) flashed. It answers {ok, value}.
export async function act(btn, f, okText) {
  if (btn) btn.disabled = true;
  try {
    const value = await f();
    if (okText) flash(typeof okText === 'function' ? okText(value) : okText);
    return { ok: true, value };
  } catch (e) {
    if (e.status !== 401) flash(e.message || String(e), 'error');
    return { ok: false, error: e };
  } finally {
    if (btn) btn.disabled = false;
  }
}
