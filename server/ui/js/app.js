// The app: login, the tabs, a hash router (#/queues/%2F/orders, as
// RabbitMQ's UI has its routes) and the 5-second refresh of the page shown.

import { APIError, clearAuth, get, hasAuth, setAuth, setUnauthorizedHandler } from './api.js';
import { clear, h } from './dom.js';
import { currentVHost, session, setRerender, setVHost } from './state.js';
import * as overview from './pages/overview.js';
import * as connections from './pages/connections.js';
import * as channels from './pages/channels.js';
import * as exchanges from './pages/exchanges.js';
import * as queues from './pages/queues.js';
import * as admin from './pages/admin.js';

const REFRESH_MS = 5000;


// Routes: a pattern of path segments (":x" takes one, decoded) and the
// page that shows it. Tab is the tab lit for it.
const routes = [
  ['', overview.page, 'overview'],
  ['connections', connections.listPage, 'connections'],
  ['connections/:name', connections.detailPage, 'connections'],
  ['channels', channels.listPage, 'channels'],
  ['exchanges', exchanges.listPage, 'exchanges'],
  ['exchanges/:vhost/:name', exchanges.detailPage, 'exchanges'],
  ['queues', queues.listPage, 'queues'],
  ['queues/:vhost/:name', queues.detailPage, 'queues'],
  ['users', admin.usersPage, 'admin'],
  ['users/:name', admin.userPage, 'admin'],
  ['vhosts', admin.vhostsPage, 'admin'],
  ['vhosts/:name', admin.vhostPage, 'admin'],
  ['policies', admin.policiesPage, 'admin'],
  ['admin', admin.indexPage, 'admin'],
];

const tabs = [
  ['overview', 'Overview', '#/'],
  ['connections', 'Connections', '#/connections'],
  ['channels', 'Channels', '#/channels'],
  ['exchanges', 'Exchanges', '#/exchanges'],
  ['queues', 'Queues', '#/queues'],
  ['admin', 'Admin', '#/admin'],
];

function match(hash) {
  const path = hash.replace(/^#\/?/, '').replace(/\/$/, '');
  const [pathPart, query = ''] = path.split('?');
  const parts = pathPart === '' ? [] : pathPart.split('/');
  for (const [pattern, page, tab] of routes) {
    const want = pattern === '' ? [] : pattern.split('/');
    if (want.length !== parts.length) continue;
    const params = {};
    let ok = true;
    want.forEach((w, i) => {
      if (w.startsWith(':')) {
        try { params[w.slice(1)] = decodeURIComponent(parts[i]); } catch { ok = false; }
      } else if (w !== parts[i]) ok = false;
    });
    if (ok) return { page, tab, params, query: new URLSearchParams(query) };
  }
  return null;
}

// The page being shown: its update function runs every REFRESH_MS.
let current = { update: null, token: 0 };
let timer = null;

async function route() {
  if (!session.user) return;
  const m = match(location.hash || '#/');
  const main = document.getElementById('main');
  document.querySelectorAll('#tabs a').forEach((a) => a.classList.toggle('active', m && a.dataset.tab === m.tab));
  const token = ++current.token;
  current.update = null;
  if (!m) {
    clear(main, h('h1', null, 'Not found'), h('p', null, 'There is no such page. ', h('a', { href: '#/' }, 'Overview')));
    return;
  }
  clear(main, h('p', { class: 'loading' }, 'Loading…'));
  try {
    const ctx = { params: m.params, query: m.query, user: session.user, session, live: () => token === current.token };
    const update = await m.page(main, ctx);
    if (token === current.token && typeof update === 'function') current.update = update;
  } catch (e) {
    if (token === current.token) showError(main, e);
  }
}

function showError(main, e) {
  if (e instanceof APIError && e.status === 401) return;
  clear(main, h('h1', null, 'Something went wrong'),
    h('p', { class: 'warning' }, e instanceof APIError && e.status === 404
      ? 'Not found: the object does not exist (or this broker does not have that part of the management API yet).'
      : (e.message || String(e))));
}

setRerender(route);

function tick() {
  if (document.hidden || !current.update) return;
  const token = current.token;
  Promise.resolve(current.update()).catch((e) => {
    if (token === current.token) document.getElementById('status').textContent = `Refresh failed: ${e.message}`;
  }).then(() => {
    if (token === current.token) document.getElementById('status').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  });
}

function layout() {
  const u = session.user;
  const o = session.overview || {};
  const product = o.product_name ? `${o.product_name} ${o.product_version || ''}` : 'Sluice';
  const main = h('main', { id: 'main' });
  document.getElementById('outer').replaceWith(h('div', { id: 'outer' },
    h('header', { id: 'header' },
      h('div', { class: 'brand' },
        h('a', { href: '#/', class: 'logo' }, h('img', { src: '/img/favicon.svg', alt: '', width: 28, height: 28 }), 'Sluice'),
        h('span', { class: 'versions' }, product, o.node ? ` · ${o.node}` : '')),
      h('div', { class: 'who' },
        h('span', { id: 'status', class: 'status' }, ''),
        vhostSelect(),
        h('span', null, 'User ', h('b', { id: 'whoami' }, u.name), u.tags.length ? ` (${u.tags.join(', ')})` : ''),
        h('button', { type: 'button', id: 'logout', onclick: logout }, 'Log out'))),
    h('nav', { id: 'menu' }, h('ul', { id: 'tabs' }, tabs.map(([id, text, href]) => h('li', null, h('a', { href, 'data-tab': id }, text))))),
    h('div', { id: 'flash' }),
    main));
}

// The header's vhost select, filled from /api/vhosts when there is more
// than one to choose from.
function vhostSelect() {
  const sel = h('select', { id: 'show-vhost', 'aria-label': 'Virtual host' }, h('option', { value: '' }, 'All'));
  const box = h('label', { class: 'vhost-select hidden' }, 'Virtual host ', sel);
  sel.addEventListener('change', () => { setVHost(sel.value); route(); });
  get('/vhosts').then((vs) => {
    const names = vs.map((v) => v.name);
    for (const n of names) sel.append(h('option', { value: n, selected: n === currentVHost() }, n));
    if (!names.includes(currentVHost())) setVHost('');
    if (names.length > 1) box.classList.remove('hidden');
  }).catch(() => {});
  return box;
}

function logout() {
  clearAuth();
  setVHost('');
  session.user = null;
  showLogin('');
}

function showLogin(reason) {
  clearInterval(timer);
  timer = null;
  current = { update: null, token: current.token + 1 };
  const userIn = h('input', { name: 'username', id: 'username', autocomplete: 'username', required: true, autofocus: true });
  const passIn = h('input', { name: 'password', id: 'password', type: 'password', autocomplete: 'current-password' });
  const status = h('p', { id: 'login-status', class: reason ? 'warning' : 'hidden', role: 'alert' }, reason);
  const form = h('form', {
    id: 'login', onsubmit: async (ev) => {
      ev.preventDefault();
      setAuth(userIn.value, passIn.value);
      const err = await login();
      if (err) {
        clearAuth();
        status.className = 'warning';
        status.textContent = err;
      }
    },
  },
  h('div', { class: 'login-brand' }, h('img', { src: '/img/favicon.svg', alt: '', width: 40, height: 40 }), h('span', null, 'Sluice')),
  h('label', { for: 'username' }, 'Username'), userIn,
  h('label', { for: 'password' }, 'Password'), passIn,
  h('button', { type: 'submit', class: 'primary' }, 'Log in'),
  status);
  document.getElementById('outer').replaceWith(h('div', { id: 'outer', class: 'login-page' }, form));
}

// login checks the stored credentials with /api/whoami; it answers the
// reason of a refusal, or '' after showing the app.
async function login() {
  let user;
  try {
    user = await get('/whoami', { quiet401: true });
  } catch (e) {
    if (e.status === 401) {
      // RabbitMQ's reasons: "Login failed", "Not management user".
      return e.reason && e.reason !== 'Login failed' ? `Login failed: ${e.reason}` : 'Login failed';
    }
    return `Login failed: ${e.message}`;
  }
  session.user = { name: user.name, tags: Array.isArray(user.tags) ? user.tags : String(user.tags || '').split(',').filter(Boolean) };
  try { session.overview = await get('/overview'); } catch { session.overview = null; }
  layout();
  clearInterval(timer);
  timer = setInterval(tick, REFRESH_MS);
  await route();
  return '';
}

setUnauthorizedHandler((reason) => {
  clearAuth();
  session.user = null;
  showLogin(reason === 'Login failed' ? 'Login failed' : `Login failed: ${reason}`);
});

window.addEventListener('hashchange', route);
document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });

(async () => {
  if (hasAuth()) {
    const err = await login();
    if (err) { clearAuth(); showLogin(err); }
  } else {
    showLogin('');
  }
})();
