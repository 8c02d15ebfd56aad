// The PiCloud dashboard: one ES module, no framework, no build step.
// Rule: user data (names, sources, logs, bodies, payloads) only ever enters
// the page as text nodes (h() and textContent), never as HTML.

const main = document.getElementById('main');
let me = null;             // {token, scopes, expires_at} of the session
let cleanups = [];         // what the current page must stop on leaving

// h builds an element: props set attributes or listeners (onX), children
// are nodes or strings (appended as text).
function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

const can = (scope) => !!me && (me.scopes.includes('admin') || me.scopes.includes(scope));
const fmtMS = (v) => (v ? (v < 10 ? v.toFixed(2) : v.toFixed(0)) + ' ms' : '–');
const fmtTime = (s) => (s ? new Date(s).toLocaleString() : '');
let uid = 0;
const nextID = (p) => `${p}-${++uid}`;

// field returns a label and its control, linked by id.
function field(label, control) {
  if (!control.id) control.id = nextID('f');
  return h('div', { class: 'grow' }, h('label', { for: control.id }, label), control);
}

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// api calls the dashboard's API (same origin, session cookie). It throws
// APIError on a non-2xx answer; a 401 sends the user to the sign-in page.
async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (!res.ok) {
    if (res.status === 401 && path !== '/ui/session') { me = null; showSignIn('Your session ended: sign in again.'); }
    throw new APIError(res.status, data);
  }
  return data;
}

// errorBox is a live region for a page's errors.
function errorBox() { return h('p', { class: 'error', role: 'alert' }); }
function showErr(box, err) { box.textContent = err ? (err.message || String(err)) : ''; }

// ---------- sign-in ----------

function showSignIn(msg) {
  cleanup();
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true, placeholder: 'pc_…' });
  const err = errorBox();
  if (msg) err.textContent = msg;
  const form = h('form', { class: 'signin', id: 'signin-form', onsubmit: async (e) => {
    e.preventDefault();
    showErr(err, '');
    try {
      me = await api('POST', '/ui/session', { token: input.value });
      input.value = '';
      if (!location.hash || location.hash === '#/signin') location.hash = '#/';
      route();
    } catch (x) { showErr(err, x); }
  } },
    h('section', {},
      h('h1', {}, 'Sign in to PiCloud'),
      h('p', { class: 'muted' }, 'Sign in with an API token (picloud token create, or the admin token in the data directory). The token is exchanged for a session cookie that page scripts cannot read.'),
      h('label', { for: 'token' }, 'API token'), input,
      h('div', { class: 'row' }, h('button', { class: 'primary', type: 'submit', id: 'signin' }, 'Sign in')),
      err));
  main.replaceChildren(form);
  input.focus();
}

async function signOut() {
  try { await api('DELETE', '/ui/session'); } catch { /* signed out anyway */ }
  me = null;
  location.hash = '#/signin';
  showSignIn('Signed out.');
}

// ---------- overview ----------

// spark draws counts as a small SVG line (built with DOM calls, no markup).
function spark(counts) {
  const NS = 'http://www.w3.org/2000/svg';
  const w = 72, hgt = 18, max = Math.max(1, ...counts);
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', w); svg.setAttribute('height', hgt); svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `calls per 5 minutes: ${counts.join(', ')}`);
  const line = document.createElementNS(NS, 'polyline');
  line.setAttribute('points', counts.map((c, i) => `${(i * (w - 2)) / Math.max(1, counts.length - 1) + 1},${hgt - 1 - (c / max) * (hgt - 2)}`).join(' '));
  line.setAttribute('fill', 'none'); line.setAttribute('stroke', 'currentColor'); line.setAttribute('stroke-width', '1.5');
  svg.append(line);
  return svg;
}

// chart draws one chart of a function's series as SVG (DOM calls, no
// markup): bars or lines, scaled to the largest value shown.
function chart(id, caption, pts, lines, unit) {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 300, H = 80;
  const el = (tag, attrs) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };
  const max = Math.max(0, ...lines.flatMap((l) => pts.map(l.get)));
  const top = max > 0 ? max : 1;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'chart', role: 'img', id });
  const y = (v) => H - (v / top) * (H - 4);
  const bw = W / Math.max(1, pts.length);
  for (const l of lines) {
    if (l.bars) {
      pts.forEach((p, i) => {
        const v = l.get(p);
        if (v > 0) svg.append(el('rect', { x: i * bw, y: y(v), width: Math.max(1, bw - 1), height: H - y(v), class: l.cls }));
      });
    } else {
      // Slices without calls have no latency: the line joins the others,
      // and a dot marks each slice that has one.
      const xy = pts.map((p, i) => [i * bw + bw / 2, p.calls ? y(l.get(p)) : null]).filter(([, v]) => v !== null);
      svg.append(el('polyline', { class: l.cls, points: xy.map(([a, b]) => `${a},${b}`).join(' ') }));
      for (const [a, b] of xy) svg.append(el('rect', { x: a - 1.5, y: b - 1.5, width: 3, height: 3, class: 'dot-' + l.cls }));
    }
  }
  const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2));
  svg.setAttribute('aria-label', `${caption}: largest ${fmt(max)} ${unit} over ${pts.length} slices`);
  return h('figure', { class: 'chart-box' }, h('figcaption', {}, caption, ' · max ', h('b', {}, fmt(max)), ' ', unit,
    lines.length > 1 ? [' · ', lines.map((l) => h('span', { class: 'legend-' + l.cls }, ' ' + l.cls))] : ''), svg);
}

// workersTable renders every node's workers.
function workersTable(ws) {
  if (ws.workers.length === 0) return h('p', { class: 'muted' }, 'No worker running: idle functions are scaled to zero.');
  return h('div', { class: 'scroll' }, h('table', { id: 'workers' },
    h('thead', {}, h('tr', {}, h('th', { class: 'hide-sm' }, 'Node'), h('th', {}, 'Function'), h('th', { class: 'num' }, 'PID'), h('th', {}, 'State'),
      h('th', { class: 'num' }, 'RSS'), h('th', { class: 'num hide-sm' }, 'CPU'), h('th', { class: 'num hide-sm' }, 'Calls'), h('th', { class: 'hide-sm' }, 'Limits'))),
    h('tbody', {}, ws.workers.map((w) => h('tr', {},
      h('td', { class: 'hide-sm mono node' }, w.node || ''), h('td', { class: 'name' }, `${w.function} v${w.version}`), h('td', { class: 'num' }, w.pid), h('td', {}, w.state),
      h('td', { class: 'num' }, (w.rss_bytes / 1048576).toFixed(1) + ' MiB'), h('td', { class: 'num hide-sm' }, w.cpu_seconds.toFixed(2) + ' s'),
      h('td', { class: 'num hide-sm' }, w.calls_served), h('td', { class: 'hide-sm' }, w.limits_enforced ? 'enforced' : 'not enforced'))))));
}

// nodesTable renders the cluster's nodes.
function nodesTable(nodes) {
  if (!nodes.length) return h('p', { class: 'muted' }, 'No node registry on this server.');
  return h('div', { class: 'scroll' }, h('table', { id: 'nodes' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Node'), h('th', { class: 'hide-sm' }, 'Address'), h('th', {}, 'Roles'), h('th', {}, 'State'),
      h('th', { class: 'num' }, 'Workers'), h('th', { class: 'num hide-sm' }, 'In flight'), h('th', { class: 'num hide-sm' }, 'Load'), h('th', { class: 'hide-sm' }, 'Version'))),
    h('tbody', {}, nodes.map((n) => h('tr', {},
      h('td', { class: 'mono' }, n.id, n.self ? h('span', { class: 'badge' }, 'this node') : ''), h('td', { class: 'hide-sm mono' }, n.address),
      h('td', {}, n.roles.join(', ')), h('td', {}, n.alive ? 'alive' : h('span', { class: 'error' }, 'lease expired')),
      h('td', { class: 'num' }, n.workers), h('td', { class: 'num hide-sm' }, n.inflight), h('td', { class: 'num hide-sm' }, n.load.toFixed(2)),
      h('td', { class: 'hide-sm' }, n.version))))));
}

// workersPage lists every node's workers, refreshed every 2 s while the
// page is open and visible (nothing runs once it is left).
async function workersPage() {
  const box = h('div', {}, workersTable(await api('GET', '/api/v1/workers')));
  const timer = setInterval(async () => {
    if (document.hidden) return;
    try { box.replaceChildren(workersTable(await api('GET', '/api/v1/workers'))); } catch { /* next tick */ }
  }, 2000);
  cleanups.push(() => clearInterval(timer));
  return [h('h1', {}, 'Workers'), h('p', { class: 'muted' }, 'Every node\'s worker processes, refreshed every 2 seconds while this page is open.'), h('section', {}, box)];
}

async function overviewPage(params) {
  const after = params.get('after') || '';
  const [ov, ws] = await Promise.all([api('GET', '/ui/overview?' + new URLSearchParams({ after })), api('GET', '/api/v1/workers')]);
  // Workers refresh every 2 s while the page is open and visible; nothing
  // runs once it is left.
  const workersBox = h('div', {}, workersTable(ws));
  const workersSection = h('section', {}, h('h2', {}, 'Workers'), workersBox);
  const timer = setInterval(async () => {
    if (document.hidden) return;
    try { workersBox.replaceChildren(workersTable(await api('GET', '/api/v1/workers'))); } catch { /* next tick */ }
  }, 2000);
  cleanups.push(() => clearInterval(timer));
  const rows = ov.functions.map((f) => h('tr', {},
    h('td', { class: 'name' }, h('a', { href: '#/fn/' + encodeURIComponent(f.name) }, f.name), f.private ? h('span', { class: 'badge' }, ' private') : ''),
    h('td', { class: 'num hide-sm' }, 'v' + f.version),
    h('td', { class: 'num' }, f.calls),
    h('td', { class: 'num' }, f.errors ? h('span', { class: 'error' }, f.errors) : '0'),
    h('td', { class: 'num' }, fmtMS(f.p50_ms)),
    h('td', { class: 'num' }, fmtMS(f.p99_ms)),
    h('td', { class: 'hide-sm' }, spark(f.buckets || []))));
  return [
    h('h1', {}, 'Overview'),
    h('div', { class: 'cards' },
      h('div', { class: 'card' }, h('b', { id: 'stat-functions' }, ov.functions.length + (ov.next_after ? '+' : '')), h('span', {}, 'functions')),
      h('div', { class: 'card' }, h('b', { id: 'stat-workers' }, ov.workers), h('span', {}, 'workers running')),
      h('div', { class: 'card' }, h('b', { id: 'stat-dead' }, h('a', { href: '#/dead-letters' }, ov.dead_letters)), h('span', {}, 'dead letters waiting')),
      h('div', { class: 'card' }, h('b', {}, ov.limits_mode.startsWith('none') ? 'off' : ov.limits_mode), h('span', {}, 'worker limits'))),
    h('section', {},
      h('div', { class: 'row' }, h('h2', { class: 'grow' }, 'Functions (last hour)'),
        can('deploy') ? h('a', { href: '#/new', id: 'new-function' }, 'New function') : ''),
      ov.functions.length === 0 ? h('p', { class: 'muted' }, 'No functions yet.') :
        h('div', { class: 'scroll' }, h('table', { id: 'functions' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Function'), h('th', { class: 'num hide-sm' }, 'Version'), h('th', { class: 'num' }, 'Calls'),
            h('th', { class: 'num' }, 'Errors'), h('th', { class: 'num' }, 'p50'), h('th', { class: 'num' }, 'p99'), h('th', { class: 'hide-sm' }, 'Last hour'))),
          h('tbody', {}, rows))),
      ov.next_after ? h('p', {}, h('a', { href: '#/?' + new URLSearchParams({ after: ov.next_after }) }, 'Next page')) : ''),
    workersSection,
    h('section', {}, h('h2', {}, 'Nodes'), nodesTable(ov.nodes || [])),
  ];
}

// ---------- function page ----------

const TEMPLATE = `-- A PiCloud function: handle(req) answers every call.
function handle(req)
  log.info("called with " .. req.method .. " " .. req.path)
  return { status = 200, body = "hello from PiCloud" }
end
`;

async function functionPage(name, isNew) {
  const { createEditor, lineDiff, renderDiff } = await import('/editor.js');
  let fn = null;
  if (!isNew) fn = await api('GET', '/api/v1/functions/' + encodeURIComponent(name) + '?source=1');
  const src = fn ? (fn.source ?? (fn.source_base64 ? atob(fn.source_base64) : '')) : TEMPLATE;
  const editor = createEditor({ value: src, readOnly: !can('deploy') });
  const deployErr = h('p', { class: 'error', role: 'alert', id: 'deploy-error' });
  const deployOK = h('p', { class: 'ok', role: 'status', id: 'deploy-status' });
  const nameInput = h('input', { type: 'text', id: 'fn-name', required: true, pattern: '[a-z][a-z0-9-]{0,62}', placeholder: 'my-function' });
  // Limits, with the ranges the server enforces (functions.Limits; a new
  // function starts from functions.DefaultLimits).
  const L = fn ? fn.limits : { memory: '64MiB', cpu: 0.5, timeout: '10s', concurrency: 4, max_workers: 2, min_warm: 0, idle_timeout: '1m0s' };
  const limitFields = [
    ['memory', 'Memory', '16MiB to 2GiB', 'text'], ['cpu', 'CPU (cores)', '0.05 to the cores of the node', 'number'],
    ['timeout', 'Timeout', '100ms to 15m', 'text'], ['concurrency', 'Calls per worker', '1 to 1024', 'number'],
    ['max_workers', 'Max workers', '1 to 64', 'number'], ['min_warm', 'Min warm', '0 to max workers', 'number'],
    ['idle_timeout', 'Idle timeout', '1s or more', 'text'],
  ].map(([k, label, range, type]) => {
    const input = h('input', { type: type === 'number' ? 'number' : 'text', id: 'lim-' + k, value: String(L[k] ?? ''), step: k === 'cpu' ? '0.05' : '1',
      'aria-describedby': 'lim-' + k + '-range', readonly: !can('deploy') });
    return { k, type, input, el: h('div', { class: 'grow' }, h('label', { for: input.id }, label), input, h('small', { class: 'muted', id: 'lim-' + k + '-range' }, range)) };
  });
  const limits = () => Object.fromEntries(limitFields.map(({ k, type, input }) => [k, type === 'number' ? Number(input.value) : input.value.trim()]));
  const deploy = async () => {
    showErr(deployErr, ''); deployOK.textContent = '';
    const fname = isNew ? nameInput.value.trim() : name;
    try {
      const out = isNew
        ? await api('POST', '/api/v1/functions', { name: fname, source: editor.value(), ...limits() })
        : await api('PUT', '/api/v1/functions/' + encodeURIComponent(fname), { source: editor.value(), ...limits() });
      editor.mark(0);
      if (isNew) { location.hash = '#/fn/' + encodeURIComponent(out.name); return; }
      deployOK.textContent = `Deployed version ${out.version}.`;
      verLabel.textContent = `Version ${out.version}`;
      refreshVersions();
    } catch (x) {
      if (x.body && x.body.code === 'syntax_error') {
        deployErr.textContent = x.body.error; // "Lua syntax error at line L, column C: ..."
        deployErr.dataset.line = x.body.line;
        deployErr.dataset.column = x.body.column;
        editor.mark(x.body.line, x.body.column);
      } else if (x.body && x.body.field) {
        deployErr.textContent = x.body.error; // names the field and its range
        const f = document.getElementById('lim-' + x.body.field);
        if (f) f.focus();
      } else showErr(deployErr, x);
    }
  };
  const out = [h('h1', {}, isNew ? 'New function' : name)];
  const verLabel = h('span', { id: 'fn-version' }, fn ? `Version ${fn.version}` : '');
  if (fn) out.push(h('p', { class: 'muted' }, verLabel, ' · endpoint ', h('span', { class: 'mono' }, fn.url),
    ` · memory ${fn.limits.memory} · timeout ${fn.limits.timeout} · concurrency ${fn.limits.concurrency}`));
  const srcSection = h('section', {}, h('h2', {}, 'Source'),
    isNew ? field('Name', nameInput) : '',
    h('label', { for: 'source' }, 'Lua source'), editor.el,
    h('details', { id: 'limits' }, h('summary', {}, 'Limits'), h('div', { class: 'row' }, limitFields.map((f) => f.el))),
    can('deploy') ? h('div', { class: 'row' }, h('button', { class: 'primary', id: 'deploy', type: 'button', onclick: deploy }, isNew ? 'Create and deploy' : 'Deploy')) : '',
    deployErr, deployOK);
  if (isNew) return [...out, srcSection];

  // Invoke console.
  const method = h('select', { id: 'inv-method' }, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => h('option', { value: m }, m)));
  const path = h('input', { type: 'text', id: 'inv-path', value: '/' });
  const body = h('textarea', { id: 'inv-body', rows: 4, placeholder: '{"hello": "world"}' });
  const result = h('div', { id: 'inv-result', 'aria-live': 'polite' });
  const invErr = errorBox();
  const send = async () => {
    showErr(invErr, ''); result.replaceChildren(h('p', { class: 'muted' }, 'Calling…'));
    const q = new URLSearchParams({ method: method.value, path: path.value || '/' });
    const t0 = performance.now();
    let res;
    try {
      res = await fetch(`/api/v1/functions/${encodeURIComponent(name)}/invoke?${q}`, {
        method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: body.value,
      });
    } catch (x) { showErr(invErr, x); result.replaceChildren(); return; }
    const text = await res.text();
    const ms = performance.now() - t0;
    const hdrs = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
    const id = res.headers.get('x-picloud-invocation-id');
    const start = res.headers.get('x-picloud-start');
    const logs = h('pre', { id: 'inv-logs' }, 'waiting for the record…');
    const took = h('span', { id: 'inv-duration' });
    result.replaceChildren(
      h('p', {}, 'Status ', h('b', { id: 'inv-status' }, String(res.status)), ` · ${ms.toFixed(0)} ms round trip`, took,
        start ? [' · ', h('span', { class: 'badge', id: 'inv-start', title: start === 'cold' ? 'the call started its worker' : 'a running worker served the call' }, start)] : '',
        id ? h('span', { class: 'muted' }, ' · ' + id) : ''),
      h('details', {}, h('summary', {}, 'Headers'), h('pre', { id: 'inv-headers' }, hdrs)),
      h('h3', {}, 'Body'), h('pre', { id: 'inv-body-out' }, text),
      h('h3', {}, 'Logs'), logs);
    if (id) {
      const inv = await showLogs(logs, id, true);
      if (inv) took.textContent = ` · ${fmtMS(inv.duration_ms)} in the function`;
    }
    refreshHistory();
  };
  const consoleSection = can('invoke') ? h('section', { id: 'console' }, h('h2', {}, 'Invoke'),
    h('div', { class: 'row' }, h('div', {}, h('label', { for: 'inv-method' }, 'Method'), method), field('Path and query', path)),
    h('label', { for: 'inv-body' }, 'Body'), body,
    h('div', { class: 'row' }, h('button', { class: 'primary', id: 'invoke', type: 'button', onclick: send }, 'Send')),
    invErr, result) : '';

  // Versions, and a diff between any two.
  const versions = h('div', { class: 'scroll', id: 'versions' });
  const verErr = errorBox();
  const diffFrom = h('select', { id: 'diff-from' });
  const diffTo = h('select', { id: 'diff-to' });
  const diffOut = h('pre', { id: 'diff', hidden: true });
  const showDiff = async () => {
    showErr(verErr, '');
    try {
      const get = (v) => api('GET', `/api/v1/functions/${encodeURIComponent(name)}/versions/${v}`);
      const [a, b] = await Promise.all([get(diffFrom.value), get(diffTo.value)]);
      const d = lineDiff(a.source ?? '', b.source ?? '');
      if (!d) { diffOut.textContent = 'These versions are too long to compare here.'; } else renderDiff(diffOut, d);
      diffOut.hidden = false;
    } catch (x) { showErr(verErr, x); }
  };
  const diffForm = h('div', { class: 'row' }, h('div', {}, h('label', { for: 'diff-from' }, 'From'), diffFrom),
    h('div', {}, h('label', { for: 'diff-to' }, 'To'), diffTo), h('button', { type: 'button', id: 'diff-show', onclick: showDiff }, 'Diff'));
  const refreshVersions = async () => {
    const vl = await api('GET', `/api/v1/functions/${encodeURIComponent(name)}/versions`);
    const opts = (sel) => vl.versions.map((v) => h('option', { value: v.version }, 'v' + v.version));
    diffFrom.replaceChildren(...opts()); diffTo.replaceChildren(...opts());
    if (vl.versions.length > 1) diffFrom.value = vl.versions[1].version;
    versions.replaceChildren(h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Version'), h('th', { class: 'hide-sm' }, 'Created'), h('th', { class: 'hide-sm' }, 'By'), h('th', {}, ''))),
      h('tbody', {}, vl.versions.map((v) => h('tr', {},
        h('td', {}, 'v' + v.version, v.current ? h('span', { class: 'badge' }, 'current') : ''),
        h('td', { class: 'hide-sm' }, fmtTime(v.created_at)), h('td', { class: 'hide-sm' }, v.created_by),
        h('td', {}, !v.current && can('deploy') ? h('button', { type: 'button', class: 'rollback', 'data-version': v.version, onclick: async () => {
          showErr(verErr, '');
          try { await api('POST', `/api/v1/functions/${encodeURIComponent(name)}/rollback`, { version: v.version }); route(); } catch (x) { showErr(verErr, x); }
        } }, `Roll back to v${v.version}`) : ''))))));
  };

  // Invocation history.
  const history = h('div', { class: 'scroll', id: 'history' });
  const status = h('select', { id: 'hist-status' }, ['', 'succeeded', 'failed'].map((s) => h('option', { value: s }, s || 'any')));
  status.addEventListener('change', () => refreshHistory());
  const trigger = h('select', { id: 'hist-trigger' }, ['', 'http', 'cron', 'event', 'dead_letter'].map((s) => h('option', { value: s }, s || 'any')));
  trigger.addEventListener('change', () => refreshHistory());
  const windows = [['', 'any time'], ['900', 'last 15 minutes'], ['3600', 'last hour'], ['86400', 'last 24 hours'], ['604800', 'last 7 days']];
  const since = h('select', { id: 'hist-since' }, windows.map(([v, l]) => h('option', { value: v }, l)));
  since.addEventListener('change', () => refreshHistory());
  const refreshHistory = async (cursor) => {
    const q = new URLSearchParams({ function: name, limit: 20 });
    if (status.value) q.set('status', status.value);
    if (trigger.value) q.set('trigger', trigger.value);
    if (since.value) q.set('since', new Date(Date.now() - Number(since.value) * 1000).toISOString());
    if (typeof cursor === 'string') q.set('cursor', cursor);
    const il = await api('GET', '/api/v1/invocations?' + q);
    if (!il.invocations.length) { history.replaceChildren(h('p', { class: 'muted', id: 'hist-empty' }, cursor ? 'No older calls.' : 'No calls match.')); return; }
    const more = h('div', { class: 'row' },
      typeof cursor === 'string' ? h('button', { type: 'button', onclick: () => refreshHistory() }, 'Newest') : '',
      il.next_cursor ? h('button', { type: 'button', id: 'hist-older', onclick: () => refreshHistory(il.next_cursor) }, 'Older') : '');
    history.replaceChildren(more, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', { class: 'hide-sm' }, 'Trigger'), h('th', {}, 'Status'), h('th', { class: 'num' }, 'Time'), h('th', {}, ''))),
      h('tbody', {}, il.invocations.map((inv) => {
        const logs = h('pre', {});
        const logRow = h('tr', { hidden: true }, h('td', { colspan: 5 }, logs));
        return [h('tr', {},
          h('td', {}, fmtTime(inv.started_at)), h('td', { class: 'hide-sm' }, inv.trigger),
          h('td', {}, h('span', { class: 'badge ' + inv.status }, inv.status), inv.http_status ? ' ' + inv.http_status : ''),
          h('td', { class: 'num' }, fmtMS(inv.duration_ms)),
          h('td', {}, h('button', { type: 'button', 'aria-label': 'Logs of ' + inv.id, onclick: () => { logRow.hidden = !logRow.hidden; if (!logRow.hidden) showLogs(logs, inv.id); } }, 'Logs'))),
        logRow];
      }))));
  };

  // Charts: rate, errors and latency from one aggregate query
  // (/ui/stats: 60 slices of the range, never a row per call).
  const charts = h('div', { class: 'charts', id: 'charts' });
  const range = h('select', { id: 'chart-range' }, ['15m', '1h', '6h', '24h'].map((r) => h('option', { value: r, selected: r === '1h' }, r)));
  const refreshCharts = async () => {
    const st = await api('GET', '/ui/stats?' + new URLSearchParams({ function: name, range: range.value }));
    const perMin = 60 / st.step_seconds;
    charts.dataset.calls = st.points.reduce((a, p) => a + p.calls, 0);
    charts.dataset.errors = st.points.reduce((a, p) => a + p.errors, 0);
    charts.replaceChildren(
      chart('chart-rate', 'Calls per minute', st.points, [{ get: (p) => p.calls * perMin, bars: true, cls: 'calls' }], 'calls/min'),
      chart('chart-errors', 'Errors per slice', st.points, [{ get: (p) => p.errors, bars: true, cls: 'errors' }], 'errors'),
      chart('chart-latency', 'Latency', st.points, [{ get: (p) => p.p99_ms, cls: 'p99' }, { get: (p) => p.p50_ms, cls: 'p50' }], 'ms'));
  };
  range.addEventListener('change', () => refreshCharts().catch(() => {}));
  // The live tail redraws the charts at most every 5 s while calls come.
  let chartsDue = 0;
  const chartsSoon = () => {
    if (chartsDue) return;
    chartsDue = setTimeout(() => { chartsDue = 0; refreshCharts().catch(() => {}); }, 5000);
  };
  cleanups.push(() => clearTimeout(chartsDue));
  const chartsSection = h('section', {}, h('div', { class: 'row' }, h('h2', { class: 'grow' }, 'Charts'),
    h('div', {}, h('label', { for: 'chart-range' }, 'Range'), range)), charts);

  // Live tail: new calls and their log lines as they are recorded, pushed
  // by the server (the realtime client on /ui/tail), never polled.
  const tail = h('div', { class: 'tail', id: 'fn-tail', 'aria-live': 'polite' });
  const tailState = h('p', { class: 'muted', id: 'fn-tail-state' }, 'Connecting…');
  const { subscribe } = await import('/picloud-realtime.js');
  let sub = null;
  const tailStop = () => { if (sub) { sub.close(); sub = null; tailState.textContent = 'Paused.'; } };
  const tailStart = () => {
    tailStop();
    sub = subscribe({
      path: '/ui/tail', params: { function: name },
      onOpen: () => { tailState.textContent = 'Live.'; },
      onError: (x) => { tailState.textContent = x.fatal ? 'Stopped: ' + x.message : 'Reconnecting… (' + x.message + ')'; },
      onEvent: (inv) => {
        const lines = (inv.logs || []).map((l) => `${l.level} ${l.message}`);
        if (inv.error) lines.push('error: ' + inv.error);
        tail.prepend(h('div', { class: 'tail-row', 'data-id': inv.id },
          h('span', { class: 'mono' }, fmtTime(inv.started_at)), ' ', inv.trigger, inv.method ? ` ${inv.method} ${inv.path}` : '', ' ',
          h('span', { class: 'badge ' + inv.status }, inv.status), inv.http_status ? ' ' + inv.http_status : '', ' ', fmtMS(inv.duration_ms),
          lines.length ? h('pre', {}, lines.join('\n')) : ''));
        while (tail.childElementCount > 100) tail.lastElementChild.remove();
        chartsSoon();
      },
    });
  };
  cleanups.push(tailStop);
  const tailSection = h('section', {}, h('div', { class: 'row' }, h('h2', { class: 'grow' }, 'Live tail'),
    h('button', { type: 'button', id: 'fn-tail-pause', onclick: () => (sub ? tailStop() : tailStart()) }, 'Pause / resume')), tailState, tail);

  const danger = can('deploy') ? h('section', {}, h('h2', {}, 'Danger zone'), h('button', { type: 'button', class: 'danger', id: 'delete-function', onclick: async () => {
    if (!confirm(`Delete function ${name} and all its versions?`)) return;
    await api('DELETE', '/api/v1/functions/' + encodeURIComponent(name));
    location.hash = '#/';
  } }, 'Delete function')) : '';

  await Promise.all([refreshVersions(), refreshHistory(), refreshCharts()]);
  tailStart();
  return [...out, h('div', { class: 'grid2' },
    h('div', {}, srcSection, consoleSection),
    h('div', {}, h('section', {}, h('h2', {}, 'Versions'), versions, diffForm, diffOut, verErr),
      h('section', {}, h('h2', {}, 'History'), h('div', { class: 'row' }, field('Status', status), field('Trigger', trigger), field('When', since)), history), danger)),
    chartsSection, tailSection];
}

// showLogs fills pre with the log lines of invocation id (retrying while
// the record is being written, when wait).
async function showLogs(pre, id, wait) {
  for (let i = 0; i < (wait ? 15 : 1); i++) {
    try {
      const inv = await api('GET', '/api/v1/invocations/' + encodeURIComponent(id));
      const lines = (inv.logs || []).map((l) => `${l.time} ${l.level} ${l.message}`);
      if (inv.error) lines.push('error: ' + inv.error);
      pre.textContent = lines.length ? lines.join('\n') : '(no log lines)';
      return inv;
    } catch (x) {
      if (x.status !== 404) { pre.textContent = x.message; return; }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  pre.textContent = '(no record yet)';
  return null;
}

// ---------- dead letters ----------

async function deadLettersPage(params) {
  const err = errorBox();
  const before = params.get('before');
  const dl = await api('GET', '/api/v1/dead-letters?' + new URLSearchParams({ limit: 100, ...(before ? { before } : {}) }));
  const act = (method, path) => async () => {
    showErr(err, '');
    try { await api(method, path); route(); } catch (x) { showErr(err, x); }
  };
  // One or many: the selected dead letters, one request each.
  const boxes = [];
  const bulk = (method, suffix) => async () => {
    showErr(err, '');
    const ids = boxes.filter((b) => b.checked).map((b) => b.value);
    try { for (const id of ids) await api(method, `/api/v1/dead-letters/${id}${suffix}`); } catch (x) { showErr(err, x); return; }
    route();
  };
  const items = dl.dead_letters.map((d) => {
    const box = h('input', { type: 'checkbox', value: d.id, id: 'dl-' + d.id, 'aria-label': `Select dead letter ${d.id}` });
    boxes.push(box);
    return h('section', { class: 'dead-letter' },
      h('h2', {}, can('deploy') ? [box, ' '] : '', `#${d.id} · `, h('a', { href: '#/fn/' + encodeURIComponent(d.function) }, d.function), ` · ${d.trigger}${d.topic ? ' ' + d.topic : ''}`),
      h('p', { class: 'muted' }, `Event ${d.event_id} published ${fmtTime(d.published_at)} · retried ${d.retries} times`),
      h('pre', {}, JSON.stringify(d.payload, null, 2)),
      h('ul', {}, (d.attempts || []).map((a) => h('li', {}, `attempt ${a.attempt} at ${fmtTime(a.at)}: `, h('span', { class: 'error' }, a.error)))),
      can('deploy') ? h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', onclick: act('POST', `/api/v1/dead-letters/${d.id}/retry`) }, 'Retry'),
        h('button', { type: 'button', class: 'danger', onclick: act('DELETE', `/api/v1/dead-letters/${d.id}`) }, 'Delete')) : '');
  });
  const last = dl.dead_letters[dl.dead_letters.length - 1];
  return [h('h1', {}, 'Dead letters'), err,
    dl.dead_letters.length === 0 ? h('p', { class: 'muted', id: 'no-dead-letters' }, 'No dead letters waiting.') : h('div', {},
      can('deploy') ? h('div', { class: 'row', id: 'dl-bulk' },
        h('button', { type: 'button', onclick: () => { const all = !boxes.every((b) => b.checked); boxes.forEach((b) => { b.checked = all; }); } }, 'Select all'),
        h('button', { type: 'button', class: 'primary', id: 'dl-retry-selected', onclick: bulk('POST', '/retry') }, 'Retry selected'),
        h('button', { type: 'button', class: 'danger', id: 'dl-delete-selected', onclick: bulk('DELETE', '') }, 'Delete selected')) : '',
      h('div', { id: 'dead-letters' }, items),
      dl.dead_letters.length === 100 && last ? h('p', {}, h('a', { href: '#/dead-letters?' + new URLSearchParams({ before: last.id }) }, 'Older')) : '')];
}

// ---------- paged lists (schedules, triggers, tokens, secrets) ----------

// moreButton loads the page after `next` of a paged list (path answers
// ?after= with {[key]: items, next}), hands its items to add (which may be
// async) and replaces itself with the following page's button, or with
// nothing after the last page. One API call per click.
function moreButton(id, path, key, next, add, err) {
  if (!next) return '';
  const btn = h('button', { type: 'button', id, class: 'more', onclick: async () => {
    btn.disabled = true; showErr(err, '');
    try {
      const page = await api('GET', path + (path.includes('?') ? '&' : '?') + new URLSearchParams({ after: next }));
      await add(page[key]);
      btn.replaceWith(moreButton(id, path, key, page.next, add, err));
    } catch (x) { btn.disabled = false; showErr(err, x); }
  } }, 'More');
  return btn;
}

// ---------- tokens and secrets ----------

async function accessPage() {
  const out = [h('h1', {}, 'Tokens & secrets')];
  if (me.scopes.includes('admin')) {
    const tl = await api('GET', '/api/v1/tokens');
    const err = errorBox();
    const name = h('input', { type: 'text', id: 'tok-name', required: true });
    const scopes = ['read', 'deploy', 'invoke', 'publish', 'blobs', 'admin'].map((s) => h('input', { type: 'checkbox', value: s, id: 'scope-' + s, checked: s === 'read' }));
    const shown = h('div', { id: 'token-secret', 'aria-live': 'polite' });
    const tokenRow = (t) => h('tr', {}, h('td', { class: 'name' }, t.name), h('td', {}, t.scopes.join(', ')), h('td', { class: 'hide-sm' }, fmtTime(t.last_used_at)),
      h('td', {}, h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirm(`Revoke token ${t.name}? Its sessions end too.`)) return;
        try { await api('DELETE', '/api/v1/tokens/' + encodeURIComponent(t.name)); route(); } catch (x) { showErr(err, x); }
      } }, 'Revoke')));
    const tbody = h('tbody', {}, tl.tokens.map(tokenRow));
    out.push(h('section', {}, h('h2', {}, 'Tokens'),
      h('div', { class: 'scroll' }, h('table', { id: 'tokens' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Scopes'), h('th', { class: 'hide-sm' }, 'Last used'), h('th', {}, ''))),
        tbody)),
      moreButton('tokens-more', '/api/v1/tokens', 'tokens', tl.next, (ts) => tbody.append(...ts.map(tokenRow)), err),
      h('form', { onsubmit: async (e) => {
        e.preventDefault(); showErr(err, '');
        try {
          const t = await api('POST', '/api/v1/tokens', { name: name.value, scopes: scopes.filter((c) => c.checked).map((c) => c.value) });
          shown.replaceChildren(h('p', {}, `Token ${t.name} created. Copy its secret now: it is not shown again.`), h('output', { class: 'secret mono', id: 'new-secret' }, t.secret));
        } catch (x) { showErr(err, x); }
      } }, h('h3', {}, 'Create a token'), field('Name', name),
        h('fieldset', {}, h('legend', {}, 'Scopes'), scopes.map((c) => h('label', { class: 'inline', for: c.id }, c, c.value))),
        h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'create-token' }, 'Create token'))),
      shown, err));
  }
  const sl = await api('GET', '/api/v1/secrets');
  const serr = errorBox();
  const sname = h('input', { type: 'text', id: 'sec-name', required: true });
  const svalue = h('input', { type: 'password', id: 'sec-value', autocomplete: 'off', required: true });
  const secretItem = (s) => h('li', {}, h('span', { class: 'mono' }, s.name), ' ',
    can('deploy') ? h('button', { type: 'button', class: 'danger', onclick: async () => {
      try { await api('DELETE', '/api/v1/secrets/' + encodeURIComponent(s.name)); route(); } catch (x) { showErr(serr, x); }
    } }, 'Remove') : '');
  const secretList = h('ul', { id: 'secrets' }, sl.secrets.map(secretItem));
  out.push(h('section', {}, h('h2', {}, 'Secrets'), h('p', { class: 'muted' }, 'Names only: a value is never shown back.'),
    sl.secrets.length === 0 ? h('p', { class: 'muted' }, 'No secrets.') : secretList,
    moreButton('secrets-more', '/api/v1/secrets', 'secrets', sl.next, (ss) => secretList.append(...ss.map(secretItem)), serr),
    can('deploy') ? h('form', { onsubmit: async (e) => {
      e.preventDefault(); showErr(serr, '');
      try { await api('PUT', '/api/v1/secrets/' + encodeURIComponent(sname.value), { value: svalue.value }); svalue.value = ''; route(); } catch (x) { showErr(serr, x); }
    } }, h('h3', {}, 'Set a secret'), h('div', { class: 'row' }, field('Name', sname), field('Value', svalue),
      h('button', { type: 'submit', class: 'primary' }, 'Set'))) : '',
    serr));
  return out;
}

// ---------- events ----------

async function eventsPage() {
  const err = errorBox();
  const topic = h('input', { type: 'text', id: 'ev-topic', placeholder: 'orders.created' });
  const payload = h('textarea', { id: 'ev-payload', rows: 4, value: '{"hello": "world"}' });
  const filter = h('input', { type: 'text', id: 'tail-topic', placeholder: 'all topics' });
  const tail = h('div', { class: 'tail', id: 'tail', 'aria-live': 'polite' });
  const state = h('p', { class: 'muted', id: 'tail-state' }, 'Not connected.');
  const { subscribe } = await import('/picloud-realtime.js');
  let sub = null;
  const stop = () => { if (sub) { sub.close(); sub = null; state.textContent = 'Stopped.'; } };
  cleanups.push(stop);
  const start = () => {
    stop(); showErr(err, '');
    const topics = filter.value.trim() ? [filter.value.trim()] : [];
    // A fresh ticket on every (re)connect; resumes after the last event seen.
    sub = subscribe({
      topics,
      ticket: async (ts) => (await api('POST', '/api/v1/events/tickets?' + new URLSearchParams(ts.map((t) => ['topic', t])))).ticket,
      onOpen: () => { state.textContent = 'Live.'; },
      onError: (x) => { state.textContent = x.fatal ? 'Stopped: ' + x.message : 'Reconnecting… (' + x.message + ')'; },
      onEvent: (ev) => {
        tail.prepend(h('div', {}, h('span', { class: 'mono' }, `#${ev.id} ${fmtTime(ev.published_at)} `), h('b', {}, ev.topic), h('pre', {}, JSON.stringify(ev.payload))));
        while (tail.childElementCount > 200) tail.lastElementChild.remove();
      },
    });
  };
  const out = [h('h1', {}, 'Events'), err];
  if (can('publish')) {
    out.push(h('section', {}, h('h2', {}, 'Publish'), field('Topic', topic), h('label', { for: 'ev-payload' }, 'Payload (JSON)'), payload,
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', id: 'publish', onclick: async () => {
        showErr(err, '');
        try { const r = await api('POST', '/api/v1/events/' + encodeURIComponent(topic.value.trim()), payload.value); state.dataset.last = r.id; } catch (x) { showErr(err, x); }
      } }, 'Publish'))));
  }
  // Triggers: which functions run on which topic (or on dead letters).
  const tl = await api('GET', '/api/v1/triggers');
  const trFn = h('input', { type: 'text', id: 'tr-function', required: true });
  const trTopic = h('input', { type: 'text', id: 'tr-topic', required: true, placeholder: 'orders.created' });
  const triggerItem = (tr) => h('li', {},
    h('a', { href: '#/fn/' + encodeURIComponent(tr.function) }, tr.function), ' runs on ',
    h('span', { class: 'mono' }, tr.kind === 'topic' ? tr.topic : 'dead letters'), ' ',
    can('deploy') ? h('button', { type: 'button', class: 'danger', onclick: async () => {
      try { await api('DELETE', `/api/v1/triggers/${tr.id}`); route(); } catch (x) { showErr(err, x); }
    } }, 'Remove') : '');
  const triggerList = h('ul', { id: 'triggers' }, tl.triggers.map(triggerItem));
  out.push(h('section', {}, h('h2', {}, 'Triggers'),
    tl.triggers.length === 0 ? h('p', { class: 'muted' }, 'No triggers.') : triggerList,
    moreButton('triggers-more', '/api/v1/triggers', 'triggers', tl.next, (ts) => triggerList.append(...ts.map(triggerItem)), err),
    can('deploy') ? h('form', { onsubmit: async (e) => {
      e.preventDefault(); showErr(err, '');
      try { await api('POST', '/api/v1/triggers', { function: trFn.value.trim(), topic: trTopic.value.trim() }); route(); } catch (x) { showErr(err, x); }
    } }, h('div', { class: 'row' }, field('Function', trFn), field('Topic', trTopic), h('button', { type: 'submit', class: 'primary', id: 'tr-add' }, 'Add trigger'))) : ''));
  out.push(h('section', {}, h('h2', {}, 'Live stream'), h('div', { class: 'row' }, field('Topic filter', filter),
    h('button', { type: 'button', id: 'tail-start', onclick: start }, 'Start'), h('button', { type: 'button', onclick: stop }, 'Stop')), state, tail));
  start();
  return out;
}

// ---------- schedules ----------

async function schedulesPage() {
  const err = errorBox();
  const sl = await api('GET', '/api/v1/schedules');
  // The last five cron runs of each scheduled function, with their
  // outcome: one query for the whole page.
  // Each further page ("More") reads the runs of its own functions.
  const runs = {};
  const loadRuns = async (list) => {
    const fns = [...new Set(list.map((sc) => sc.function))].filter((f) => !(f in runs));
    if (fns.length) Object.assign(runs, (await api('GET', '/ui/schedule-runs?' + new URLSearchParams(fns.map((f) => ['function', f])))).runs);
    for (const f of fns) runs[f] = runs[f] || [];
  };
  await loadRuns(sl.schedules);
  const runList = (fn) => {
    const rs = runs[fn] || [];
    if (!rs.length) return h('span', { class: 'muted' }, 'none yet');
    return h('span', { class: 'runs' }, rs.map((r) => h('span', { class: 'badge ' + r.status, title: `${fmtTime(r.started_at)} · ${fmtMS(r.duration_ms)}${r.error ? ' · ' + r.error : ''}` },
      `${new Date(r.started_at).toLocaleTimeString()} ${r.status}`)));
  };
  const act = (method, path) => async () => {
    showErr(err, '');
    try { await api(method, path); route(); } catch (x) { showErr(err, x); }
  };
  const scheduleRow = (sc) => h('tr', {},
    h('td', { class: 'name' }, h('a', { href: '#/fn/' + encodeURIComponent(sc.function) }, sc.function)),
    h('td', { class: 'mono' }, `${sc.expr} (${sc.tz || 'UTC'})`),
    h('td', { class: 'sc-runs', 'data-function': sc.function }, runList(sc.function)),
    h('td', {}, sc.enabled ? fmtTime(sc.next_tick_at) : 'disabled'),
    h('td', {}, can('deploy') ? [
      h('button', { type: 'button', onclick: act('POST', `/api/v1/schedules/${sc.id}/${sc.enabled ? 'disable' : 'enable'}`) }, sc.enabled ? 'Disable' : 'Enable'), ' ',
      h('button', { type: 'button', class: 'danger', onclick: act('DELETE', `/api/v1/schedules/${sc.id}`) }, 'Remove')] : ''));
  const tbody = h('tbody', {}, sl.schedules.map(scheduleRow));
  const out = [h('h1', {}, 'Schedules'), err, h('section', {},
    sl.schedules.length === 0 ? h('p', { class: 'muted' }, 'No schedules.') :
      h('div', { class: 'scroll' }, h('table', { id: 'schedules' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Function'), h('th', {}, 'When'), h('th', {}, 'Last runs'), h('th', {}, 'Next run'), h('th', {}, ''))),
        tbody)),
    moreButton('schedules-more', '/api/v1/schedules', 'schedules', sl.next, async (list) => { await loadRuns(list); tbody.append(...list.map(scheduleRow)); }, err))];
  if (can('deploy')) {
    const fn = h('input', { type: 'text', id: 'sc-function', required: true });
    const expr = h('input', { type: 'text', id: 'sc-expr', required: true, placeholder: '@every 5m or 0 7 * * 1-5' });
    const tz = h('input', { type: 'text', id: 'sc-tz', placeholder: 'UTC', value: Intl.DateTimeFormat().resolvedOptions().timeZone || '' });
    // Checked as the user types: the next five fire times in the chosen zone.
    const preview = h('div', { id: 'sc-preview', 'aria-live': 'polite' });
    let pending = 0;
    const check = () => {
      clearTimeout(pending);
      pending = setTimeout(async () => {
        if (!expr.value.trim()) { preview.replaceChildren(); return; }
        const zone = tz.value.trim() || 'UTC';
        try {
          const p = await api('GET', '/ui/schedule-preview?' + new URLSearchParams({ expr: expr.value.trim(), tz: zone }));
          let fmt;
          try { fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium', timeZone: p.tz }); } catch { fmt = new Intl.DateTimeFormat(); }
          preview.replaceChildren(h('p', { class: 'muted' }, `Next runs (${p.tz}):`),
            h('ol', { id: 'sc-next' }, p.next.map((t) => h('li', {}, fmt.format(new Date(t))))));
        } catch (x) { preview.replaceChildren(h('p', { class: 'error', id: 'sc-error' }, x.message)); }
      }, 200);
    };
    expr.addEventListener('input', check);
    tz.addEventListener('input', check);
    out.push(h('section', {}, h('h2', {}, 'Add a schedule'), h('form', { onsubmit: async (e) => {
      e.preventDefault(); showErr(err, '');
      try { await api('POST', '/api/v1/schedules', { function: fn.value.trim(), expr: expr.value.trim(), tz: tz.value.trim() || undefined }); route(); } catch (x) { showErr(err, x); }
    } }, h('div', { class: 'row' }, field('Function', fn), field('Cron expression', expr), field('Time zone', tz),
      h('button', { type: 'submit', class: 'primary', id: 'sc-add' }, 'Add')), preview)));
  }
  return out;
}

// ---------- router ----------

function cleanup() { for (const c of cleanups) c(); cleanups = []; }

async function route() {
  cleanup();
  if (!me) {
    try { me = await api('GET', '/ui/session'); } catch { showSignIn(); return; }
  }
  document.getElementById('nav').hidden = false;
  document.getElementById('who').hidden = false;
  document.getElementById('who-name').textContent = `${me.token} (${me.scopes.join(', ')})`;
  const [pathPart, query] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(query || '');
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#' + (pathPart.startsWith('/fn/') ? '/' : pathPart)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  let page;
  try {
    if (pathPart === '/' || pathPart === '/signin') page = await overviewPage(params);
    else if (pathPart === '/new') page = await functionPage('', true);
    else if (pathPart.startsWith('/fn/')) page = await functionPage(decodeURIComponent(pathPart.slice(4)), false);
    else if (pathPart === '/dead-letters') page = await deadLettersPage(params);
    else if (pathPart === '/schedules') page = await schedulesPage();
    else if (pathPart === '/workers') page = await workersPage();
    else if (pathPart === '/access') page = await accessPage();
    else if (pathPart === '/events') page = await eventsPage();
    else if (pathPart === '/blobs') page = await (await import('/blobs.js')).blobsPage({ h, api, can, field, errorBox, showErr, fmtTime }, params);
    else page = [h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the overview'))];
  } catch (x) {
    if (!me) return; // the 401 handler showed the sign-in page
    page = [h('h1', {}, 'Error'), h('p', { class: 'error', role: 'alert' }, x.message)];
  }
  main.replaceChildren(...page.flat(Infinity).filter((n) => n !== '' && n != null));
  main.dataset.page = pathPart;
}

document.getElementById('signout').addEventListener('click', signOut);
window.addEventListener('hashchange', route);
route();
