// What the pages share with the app without importing it: the logged-in
// user, what its tags allow, and a way to show the current page again.

// user is {name, tags} from /api/whoami; overview is /api/overview as read
// at login (product, node, exchange types).
export const session = { user: null, overview: null };

// What a user's tags allow, as RabbitMQ's UI decides what to show (the API
// enforces the same in any case).
const has = (t) => !!session.user && session.user.tags.includes(t);
export const can = {
  admin: () => has('administrator'),
  monitor: () => has('administrator') || has('monitoring'),
  policies: () => has('administrator') || has('policymaker'),
};

let rerender = () => {};
export function setRerender(f) { rerender = f; }
// refresh shows the current route again (after a change).
export const refresh = () => rerender();

// The names of the vhosts the user can see, for the forms' selects.
export async function vhostNames(get) {
  try {
    const vs = await get('/vhosts');
    return vs.map((v) => v.name);
  } catch {
    return ['/'];
  }
}

// The vhost the lists are narrowed to ('' for all), as RabbitMQ's header
// select: kept for the tab's session.
const VHOST_KEY = 'sluice.vhost';
export const currentVHost = () => sessionStorage.getItem(VHOST_KEY) || '';
export function setVHost(v) {
  if (v) sessionStorage.setItem(VHOST_KEY, v); else sessionStorage.removeItem(VHOST_KEY);
}
// inVHost is a list endpoint narrowed to the current vhost: /queues ->
// /queues/VHOST, and for connections and channels /vhosts/VHOST/connections.
export function inVHost(path) {
  const v = currentVHost();
  if (!v) return path;
  const e = encodeURIComponent(v);
  return path === '/connections' || path === '/channels' ? `/vhosts/${e}${path}` : `${path}/${e}`;
}
