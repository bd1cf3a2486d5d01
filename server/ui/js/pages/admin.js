// Admin: users, virtual hosts, permissions and policies. Users and vhosts
// are for administrators; policies for every management user to read and
// for policymakers and administrators to change (RabbitMQ's rules).

import { api, get, list, seg, tryGet } from '../api.js';
import { act, argsEditor, clear, facts, field, fmtNum, fmtValue, h, link, section, select, table } from '../dom.js';
import { can, refresh, vhostNames } from '../state.js';

function subnav(active) {
  const items = [['users', 'Users', can.admin()], ['vhosts', 'Virtual Hosts', can.admin()], ['policies', 'Policies', true]];
  return h('nav', { class: 'subnav' }, items.filter(([, , ok]) => ok).map(([id, text]) => h('a', { href: `#/${id}`, class: id === active ? 'active' : '' }, text)));
}

function adminOnly(main, active) {
  if (can.admin()) return false;
  clear(main, subnav(active), h('p', { class: 'warning' }, 'Only administrators can see this page.'));
  return true;
}

export async function indexPage() {
  window.location.replace(can.admin() ? '#/users' : '#/policies');
}

const tagChoices = ['administrator', 'monitoring', 'policymaker', 'management', 'impersonator'];
const tagsOf = (u) => (Array.isArray(u.tags) ? u.tags : String(u.tags || '').split(',').filter(Boolean));

export async function usersPage(main) {
  if (adminOnly(main, 'users')) return null;
  const users = await get('/users');
  const perms = await tryGet('/permissions', []);
  const vhostsOf = (name) => perms.filter((p) => p.user === name).map((p) => p.vhost).join(', ');
  const name = h('input', { name: 'username', id: 'new-username', required: true, autocomplete: 'off' });
  const pass = h('input', { name: 'password', id: 'new-password', type: 'password', autocomplete: 'new-password' });
  const tags = h('input', { name: 'tags', id: 'new-tags', size: 40 });
  const btn = h('button', { type: 'submit', id: 'add-user' }, 'Add user');
  const form = h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { tags: tags.value };
      if (pass.value) body.password = pass.value; else body.password_hash = '';
      const r = await act(btn, () => api('PUT', `/users/${seg(name.value)}`, body), `User ${name.value} added.`);
      if (r.ok) refresh();
    },
  }, field('Username', name), field('Password', pass, 'Empty: the user can only log in through other means (password_hash "").'),
  field('Tags', tags, h('span', null, 'Set ', tagChoices.map((t) => [h('button', { type: 'button', class: 'link', onclick: () => { tags.value = tags.value ? `${tags.value}, ${t}` : t; } }, t), ' ']))),
  h('div', null, btn));
  clear(main, subnav('users'), h('h1', null, 'Users'),
    section('All users', table(['Name', 'Tags', 'Can access virtual hosts', 'Has password'], users.map((u) => [
      link(`#/users/${seg(u.name)}`, u.name), tagsOf(u).join(', '), vhostsOf(u.name) || h('span', { class: 'warning' }, 'No access'),
      u.password_hash ? '●' : '○']), { empty: 'No users.' })),
    section('Add a user', form, { open: false }));
  return null;
}

export async function userPage(main, ctx) {
  if (adminOnly(main, 'users')) return null;
  const name = ctx.params.name;
  const u = await get(`/users/${seg(name)}`);
  const perms = (await tryGet(`/users/${seg(name)}/permissions`, [])) || [];
  const vhosts = await vhostNames(get);
  clear(main, subnav('users'), h('h1', null, 'User ', h('span', { class: 'name' }, name)),
    section('Overview', facts([['Tags', tagsOf(u).join(', ') || '(none)'], ['Hashing', u.hashing_algorithm || ''], ['Limits', u.limits && Object.keys(u.limits).length ? fmtValue(u.limits) : '']])),
    section('Permissions', [permissionsTable(perms, 'user'), permissionForm({ user: name, vhosts })]),
    section('Update this user', updateUserForm(name, u), { open: false }),
    section('Delete this user', deleteButton(`/users/${seg(name)}`, `user ${name}`, '#/users'), { open: false }));
  return null;
}

function updateUserForm(name, u) {
  const pass = h('input', { type: 'password', name: 'password', autocomplete: 'new-password' });
  const tags = h('input', { name: 'tags', size: 40, value: tagsOf(u).join(', ') });
  const btn = h('button', { type: 'submit' }, 'Update user');
  return h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      // Without a new password the stored hash is kept.
      const body = pass.value ? { password: pass.value, tags: tags.value } : { password_hash: u.password_hash || '', hashing_algorithm: u.hashing_algorithm, tags: tags.value };
      const r = await act(btn, () => api('PUT', `/users/${seg(name)}`, body), 'User updated.');
      if (r.ok) refresh();
    },
  }, field('Password', pass, 'Leave empty to keep the current one.'), field('Tags', tags), h('div', null, btn));
}

function deleteButton(path, what, after) {
  const btn = h('button', { type: 'button', class: 'danger' }, `Delete ${what}`);
  btn.addEventListener('click', async () => {
    if (!window.confirm(`Delete ${what}?`)) return;
    const r = await act(btn, () => api('DELETE', path), `Deleted ${what}.`);
    if (r.ok) window.location.hash = after;
  });
  return btn;
}

// permissionsTable lists permissions seen from a user (vhost shown) or a
// vhost (user shown), with Clear.
function permissionsTable(perms, side) {
  return table([side === 'user' ? 'Virtual host' : 'User', 'Configure regexp', 'Write regexp', 'Read regexp', ''], perms.map((p) => {
    const clearBtn = h('button', { type: 'button', class: 'small danger' }, 'Clear');
    clearBtn.addEventListener('click', async () => {
      const r = await act(clearBtn, () => api('DELETE', `/permissions/${seg(p.vhost)}/${seg(p.user)}`), 'Permission cleared.');
      if (r.ok) refresh();
    });
    return [side === 'user' ? link(`#/vhosts/${seg(p.vhost)}`, p.vhost) : link(`#/users/${seg(p.user)}`, p.user),
      h('code', null, p.configure), h('code', null, p.write), h('code', null, p.read), clearBtn];
  }), { empty: 'No permissions.' });
}

function permissionForm({ user, vhost, users, vhosts }) {
  const who = user === undefined ? select('user', users, users[0]) : null;
  const where = vhost === undefined ? select('vhost', vhosts, vhosts.includes('/') ? '/' : vhosts[0]) : null;
  const conf = h('input', { name: 'configure', value: '.*' });
  const write = h('input', { name: 'write', value: '.*' });
  const read = h('input', { name: 'read', value: '.*' });
  const btn = h('button', { type: 'submit' }, 'Set permission');
  return h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const u = user ?? who.value;
      const v = vhost ?? where.value;
      const r = await act(btn, () => api('PUT', `/permissions/${seg(v)}/${seg(u)}`, { configure: conf.value, write: write.value, read: read.value }), 'Permission set.');
      if (r.ok) refresh();
    },
  }, h('h3', null, 'Set permission'), who ? field('User', who) : null, where ? field('Virtual host', where) : null,
  field('Configure regexp', conf), field('Write regexp', write), field('Read regexp', read), h('div', null, btn));
}

export async function vhostsPage(main) {
  if (adminOnly(main, 'vhosts')) return null;
  const vs = await get('/vhosts');
  const name = h('input', { name: 'name', id: 'new-vhost', required: true });
  const desc = h('input', { name: 'description', size: 40 });
  const tags = h('input', { name: 'tags', size: 30 });
  const btn = h('button', { type: 'submit', id: 'add-vhost' }, 'Add virtual host');
  const form = h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await act(btn, () => api('PUT', `/vhosts/${seg(name.value)}`, { description: desc.value, tags: tags.value }), `Virtual host ${name.value} added.`);
      if (r.ok) refresh();
    },
  }, field('Name', name), field('Description', desc), field('Tags', tags), h('div', null, btn));
  clear(main, subnav('vhosts'), h('h1', null, 'Virtual Hosts'),
    section('All virtual hosts', table(['Name', 'Description', 'Tags', 'Ready', 'Unacked', 'Total'], vs.map((v) => [
      link(`#/vhosts/${seg(v.name)}`, v.name), v.description || (v.metadata && v.metadata.description) || '', (v.tags || []).join(', '),
      { v: fmtNum(v.messages_ready), class: 'num' }, { v: fmtNum(v.messages_unacknowledged), class: 'num' }, { v: fmtNum(v.messages), class: 'num' }]))),
    section('Add a new virtual host', form, { open: false }));
  return null;
}

export async function vhostPage(main, ctx) {
  if (adminOnly(main, 'vhosts')) return null;
  const name = ctx.params.name;
  const v = await get(`/vhosts/${seg(name)}`);
  const perms = (await tryGet(`/vhosts/${seg(name)}/permissions`, [])) || [];
  const users = (await list('/users')).map((u) => u.name);
  clear(main, subnav('vhosts'), h('h1', null, 'Virtual Host ', h('span', { class: 'name' }, name)),
    section('Overview', facts([['Description', v.description || ''], ['Tags', (v.tags || []).join(', ')], ['Default queue type', v.default_queue_type || ''],
      ['Messages', fmtNum(v.messages)]])),
    section('Permissions', [permissionsTable(perms, 'vhost'), permissionForm({ vhost: name, users })]),
    section('Delete this vhost', deleteButton(`/vhosts/${seg(name)}`, `virtual host ${name}`, '#/vhosts'), { open: false }));
  return null;
}

const policyKeys = [['message-ttl', 'number'], ['expires', 'number'], ['max-length', 'number'], ['max-length-bytes', 'number'], ['overflow', 'string'],
  ['dead-letter-exchange', 'string'], ['dead-letter-routing-key', 'string'], ['delivery-limit', 'number'], ['alternate-exchange', 'string']];

export async function policiesPage(main) {
  const ps = await list('/policies', null);
  const editable = can.policies();
  const form = editable ? await policyForm() : null;
  const rows = (ps || []).map((p) => {
    const edit = editable ? h('button', { type: 'button', class: 'small' }, 'Edit') : '';
    if (edit) edit.addEventListener('click', () => form.fill(p));
    const del = editable ? h('button', { type: 'button', class: 'small danger' }, 'Delete') : '';
    if (del) {
      del.addEventListener('click', async () => {
        if (!window.confirm(`Delete policy ${p.name}?`)) return;
        const r = await act(del, () => api('DELETE', `/policies/${seg(p.vhost)}/${seg(p.name)}`), `Policy ${p.name} deleted.`);
        if (r.ok) refresh();
      });
    }
    return [p.vhost, p.name, h('code', null, p.pattern), p['apply-to'], h('code', { class: 'def' }, fmtValue(p.definition || {})), String(p.priority ?? 0), h('span', null, edit, ' ', del)];
  });
  clear(main, subnav('policies'), h('h1', null, 'Policies'),
    section('User policies', ps === null ? h('p', { class: 'hint' }, 'This broker does not have policies yet (GET /api/policies).')
      : table(['Virtual host', 'Name', 'Pattern', 'Apply to', 'Definition', 'Priority', ''], rows, { empty: 'No policies.' })),
    form ? section('Add / update a policy', form.el, { id: 'policy-form' }) : null);
  return null;
}

async function policyForm() {
  const vhosts = await vhostNames(get);
  const vhost = select('vhost', vhosts, vhosts.includes('/') ? '/' : vhosts[0]);
  const name = h('input', { name: 'name', id: 'policy-name', required: true });
  const pattern = h('input', { name: 'pattern', id: 'policy-pattern', required: true, placeholder: '^amq\\.' });
  const applyTo = select('apply-to', [['all', 'Exchanges and queues'], ['exchanges', 'Exchanges'], ['queues', 'Queues'], ['classic_queues', 'Classic queues'], ['quorum_queues', 'Quorum queues']], 'all');
  const priority = h('input', { name: 'priority', type: 'number', value: 0 });
  let def = argsEditor('definition', policyKeys);
  const defBox = h('div', null, def);
  const btn = h('button', { type: 'submit', id: 'save-policy' }, 'Add / update policy');
  const el = h('form', {
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await act(btn, () => api('PUT', `/policies/${seg(vhost.value)}/${seg(name.value)}`,
        { pattern: pattern.value, 'apply-to': applyTo.value, priority: Number(priority.value || 0), definition: def.value() }), `Policy ${name.value} saved.`);
      if (r.ok) refresh();
    },
  }, field('Virtual host', vhost), field('Name', name), field('Pattern', pattern), field('Apply to', applyTo), field('Priority', priority),
  field('Definition', defBox), h('div', null, btn));
  // fill puts a policy in the form to edit it.
  const fill = (p) => {
    vhost.value = p.vhost;
    name.value = p.name;
    pattern.value = p.pattern;
    applyTo.value = p['apply-to'] || 'all';
    priority.value = p.priority ?? 0;
    def = argsEditor('definition', policyKeys);
    const rows = def.querySelector('.args-rows');
    rows.replaceChildren();
    for (const [k, v] of Object.entries(p.definition || {})) {
      def.querySelector('.args-presets button').click();
      const row = rows.lastElementChild;
      row.querySelector('.arg-key').value = k;
      row.querySelector('.arg-value').value = typeof v === 'object' ? JSON.stringify(v) : String(v);
      row.querySelector('select').value = typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : typeof v === 'object' ? 'json' : 'string';
    }
    defBox.replaceChildren(def);
    el.scrollIntoView({ behavior: 'smooth' });
  };
  return { el, fill };
}
