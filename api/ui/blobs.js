// The Blobs page (#/blobs?bucket=&prefix=), loaded only there: a bucket's
// blobs a page at a time (More follows the cursor), download, upload with
// progress and delete. Keys and content types are user data: text only.

const PAGE = 50;

// blobPath is the API path of a blob, each segment of its key escaped.
const blobPath = (bucket, key) => '/api/v1/blobs/' + encodeURIComponent(bucket) + '/' + key.split('/').map(encodeURIComponent).join('/');

function fmtSize(n) {
  if (n < 1024) return n + ' B';
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + ' ' + u[i];
}

// put uploads file as bucket/key with XHR (upload progress events) and
// resolves with the stored blob's view, or rejects with the API's error.
function put(bucket, key, file, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('PUT', blobPath(bucket, key));
    x.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    x.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    x.onload = () => {
      let body = null;
      try { body = JSON.parse(x.responseText); } catch { body = { error: x.responseText || `HTTP ${x.status}` }; }
      if (x.status >= 200 && x.status < 300) resolve(body);
      else reject(new Error((body && body.error) || `HTTP ${x.status}`));
    };
    x.onerror = () => reject(new Error('upload failed: the connection was lost'));
    x.onabort = () => reject(new Error('upload cancelled'));
    x.send(file);
  });
}

// blobsPage renders the page; ui is app.js's toolkit (h, api, can, field,
// errorBox, showErr, fmtTime).
export async function blobsPage(ui, params) {
  const { h, api, can, field, errorBox, showErr, fmtTime } = ui;
  const bucket = (params.get('bucket') || '').trim();
  const prefix = params.get('prefix') || '';
  const err = errorBox();
  const bucketIn = h('input', { type: 'text', id: 'blob-bucket', required: true, value: bucket, pattern: '[a-z0-9-]{1,63}', placeholder: 'photos' });
  const prefixIn = h('input', { type: 'text', id: 'blob-prefix', value: prefix, placeholder: '2024/' });
  const out = [h('h1', {}, 'Blobs'),
    h('form', { id: 'blob-open', onsubmit: (e) => {
      e.preventDefault();
      location.hash = '#/blobs?' + new URLSearchParams({ bucket: bucketIn.value.trim(), prefix: prefixIn.value });
    } }, h('div', { class: 'row' }, field('Bucket', bucketIn), field('Key prefix', prefixIn),
      h('button', { type: 'submit', class: 'primary', id: 'blob-list' }, 'List'))), err];
  if (!bucket) {
    out.push(h('p', { class: 'muted' }, 'Enter a bucket name to list its blobs.'));
    return out;
  }

  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', id: 'blob-more', hidden: true }, 'More');
  const count = h('p', { class: 'muted', id: 'blob-count', 'aria-live': 'polite' });
  let cursor = '';
  let shown = 0;
  const row = (b) => {
    const tr = h('tr', { 'data-key': b.key },
      h('td', { class: 'name mono blob-key' }, b.key),
      h('td', { class: 'num' }, fmtSize(b.size)),
      h('td', { class: 'hide-sm blob-type' }, b.content_type),
      h('td', { class: 'hide-sm mono', title: b.etag }, b.etag.slice(0, 12)),
      h('td', { class: 'hide-sm' }, fmtTime(b.updated_at)),
      h('td', {},
        // Same origin, the session's cookie: the dashboard answers it as an
        // attachment, so even an HTML blob is saved, not rendered here.
        h('a', { class: 'blob-download', href: blobPath(bucket, b.key), download: b.key.split('/').pop() || 'blob' }, 'Download'),
        can('blobs') ? [' ', h('button', { type: 'button', class: 'danger blob-delete', 'aria-label': 'Delete ' + b.key, onclick: async () => {
          if (!confirm(`Delete ${bucket}/${b.key}? This cannot be undone.`)) return;
          showErr(err, '');
          try { await api('DELETE', blobPath(bucket, b.key)); tr.remove(); shown--; count.textContent = `${shown} shown`; } catch (x) { showErr(err, x); }
        } }, 'Delete')] : ''));
    return tr;
  };
  const load = async () => {
    const q = new URLSearchParams({ prefix, limit: String(PAGE) });
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', '/api/v1/blobs/' + encodeURIComponent(bucket) + '?' + q);
    tbody.append(...page.blobs.map(row));
    shown += page.blobs.length;
    cursor = page.next_cursor || '';
    more.hidden = !cursor;
    count.textContent = shown === 0 ? 'No blobs' + (prefix ? ' with this prefix.' : ' in this bucket.') : `${shown} shown${cursor ? ', more to come' : ''}`;
  };
  more.addEventListener('click', async () => {
    more.disabled = true; showErr(err, '');
    try { await load(); } catch (x) { showErr(err, x); }
    more.disabled = false;
  });
  try { await load(); } catch (x) {
    // A bad bucket name or prefix: say what to fix, keep the form.
    if (x.status === 401) throw x;
    showErr(err, x);
    return out;
  }

  if (can('blobs')) {
    const file = h('input', { type: 'file', id: 'blob-file', required: true });
    const key = h('input', { type: 'text', id: 'blob-key', required: true, placeholder: prefix + 'name.ext' });
    const bar = h('progress', { id: 'blob-progress', max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' });
    const status = h('p', { class: 'ok', role: 'status', id: 'blob-status' });
    const submit = h('button', { type: 'submit', class: 'primary', id: 'blob-upload' }, 'Upload');
    file.addEventListener('change', () => { if (file.files[0] && !key.value) key.value = prefix + file.files[0].name; });
    out.push(h('section', {}, h('h2', {}, 'Upload'), h('form', { id: 'blob-upload-form', onsubmit: async (e) => {
      e.preventDefault(); showErr(err, ''); status.textContent = '';
      const f = file.files[0];
      if (!f || !key.value) { showErr(err, 'Choose a file and a key.'); return; }
      submit.disabled = true; bar.hidden = false; bar.value = 0;
      try {
        const b = await put(bucket, key.value, f, (done, total) => { bar.max = total; bar.value = done; status.textContent = `${fmtSize(done)} of ${fmtSize(total)}`; });
        status.textContent = `Uploaded ${b.key} (${fmtSize(b.size)}).`;
        tbody.querySelectorAll('tr').forEach((tr) => { if (tr.dataset.key === b.key) tr.remove(); });
        tbody.prepend(row(b));
        key.value = ''; file.value = '';
      } catch (x) { showErr(err, x); }
      submit.disabled = false; bar.hidden = true;
    } }, h('div', { class: 'row' }, field('File', file), field('Key', key), submit), bar, status)));
  }
  out.push(h('section', {}, h('h2', {}, `Bucket ${bucket}`, prefix ? ` · prefix ${prefix}` : ''), count,
    h('div', { class: 'scroll' }, h('table', { id: 'blobs' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', { class: 'num' }, 'Size'), h('th', { class: 'hide-sm' }, 'Content type'),
        h('th', { class: 'hide-sm' }, 'ETag'), h('th', { class: 'hide-sm' }, 'Updated'), h('th', {}, ''))),
      tbody)),
    h('div', { class: 'row' }, more)));
  return out;
}
