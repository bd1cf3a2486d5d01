// The management API client: every request carries the logged-in user's
// basic credentials (kept in sessionStorage, as RabbitMQ's UI keeps its own,
// so they go when the tab closes) and RabbitMQ's error bodies become
// APIError. A 401 anywhere ends the session: the app shows the login form
// with the reason.

const KEY = 'sluice.auth';

export class APIError extends Error {
  constructor(status, error, reason) {
    super(reason || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
    this.reason = reason;
  }
}

// The credentials as the Authorization header wants them (UTF-8, base64).
function encode(user, pass) {
  const bytes = new TextEncoder().encode(`${user}:${pass}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function setAuth(user, pass) { sessionStorage.setItem(KEY, encode(user, pass)); }
export function clearAuth() { sessionStorage.removeItem(KEY); }
export function hasAuth() { return sessionStorage.getItem(KEY) !== null; }

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

// A path segment of the API: names are escaped whole, so vhost "/" is %2F.
export const seg = (name) => encodeURIComponent(name);

// Reason text from an error body ({"error": .., "reason": ..}).
function reasonOf(body) {
  if (!body || typeof body !== 'object') return '';
  const r = body.reason;
  if (typeof r === 'string') return r;
  return r === undefined ? '' : JSON.stringify(r);
}

// api sends one request; it answers the decoded JSON (null for an empty
// body) or throws APIError. opts.headers adds headers; opts.raw answers
// the Response itself; opts.quiet401 leaves a 401 to the caller.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  const auth = sessionStorage.getItem(KEY);
  if (auth) headers.Authorization = `Basic ${auth}`;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let resp;
  try {
    // credentials 'omit': the Authorization header set here is the only
    // credential sent (no cookies, no cached HTTP auth), and Chromium does
    // not raise its own login dialog for the API's WWW-Authenticate.
    resp = await fetch(`/api${path}`, { method, headers, body: payload, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new APIError(0, 'network', `the broker did not answer (${e.message})`);
  }
  if (opts.raw && resp.ok) return resp;
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!resp.ok) {
    const err = new APIError(resp.status, data && data.error, reasonOf(data) || resp.statusText);
    if (resp.status === 401 && !opts.quiet401) onUnauthorized(err.reason || 'Login failed');
    throw err;
  }
  return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);

// tryGet answers fallback where the endpoint is missing (404) or the user
// may not read it, so that a page still shows what it can.
export async function tryGet(path, fallback = null) {
  try {
    return await get(path);
  } catch (e) {
    if (e.status === 404 || e.status === 405) return fallback;
    throw e;
  }
}

// list GETs a list endpoint and gives the items as an array, whether the
// broker answered with a plain array or with the paginated envelope.
export async function list(path, fallback = []) {
  const d = await tryGet(path, null);
  if (d === null) return fallback;
  return Array.isArray(d) ? d : (d.items || []);
}
