// A small code editor: a textarea over a highlighted copy of its text, a
// line-number gutter, Lua highlighting, Tab inserts spaces. Every piece of
// text goes into the page as text nodes, never as HTML.

const KEYWORDS = new Set(('and break do else elseif end false for function goto if in local nil not or ' +
  'repeat return then true until while').split(' '));
const TOKEN = /(--\[(=*)\[[\s\S]*?\]\2\]|--[^\n]*)|("(?:\\[\s\S]|[^"\\\n])*"?|'(?:\\[\s\S]|[^'\\\n])*'?|\[(=*)\[[\s\S]*?\]\4\])|(\b0[xX][0-9a-fA-F]+\b|\b\d+(?:\.\d*)?(?:[eE][+-]?\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)/g;

// highlight fills pre with spans for the Lua tokens of src.
function highlight(pre, src) {
  const out = document.createDocumentFragment();
  let last = 0;
  for (const m of src.matchAll(TOKEN)) {
    let cls = '';
    if (m[1]) cls = 't-com';
    else if (m[3]) cls = 't-str';
    else if (m[5]) cls = 't-num';
    else if (m[6] && KEYWORDS.has(m[6])) cls = 't-kw';
    if (!cls) continue;
    if (m.index > last) out.append(src.slice(last, m.index));
    const span = document.createElement('span');
    span.className = cls;
    span.textContent = m[0];
    out.append(span);
    last = m.index + m[0].length;
  }
  out.append(src.slice(last) + '\n');
  pre.replaceChildren(out);
}

// createEditor returns {el, textarea, value(), mark(line)}: el goes in the
// page, mark(line) flags a line in the gutter (0 clears).
export function createEditor({ value = '', readOnly = false, label = 'Source' } = {}) {
  const el = document.createElement('div');
  el.className = 'editor';
  const gutter = document.createElement('pre');
  gutter.className = 'gutter';
  gutter.setAttribute('aria-hidden', 'true');
  const code = document.createElement('div');
  code.className = 'code';
  const pre = document.createElement('pre');
  pre.setAttribute('aria-hidden', 'true');
  const ta = document.createElement('textarea');
  ta.id = 'source';
  ta.spellcheck = false;
  ta.autocapitalize = 'off';
  ta.setAttribute('autocomplete', 'off');
  ta.setAttribute('aria-label', label);
  ta.readOnly = readOnly;
  ta.value = value;
  code.append(pre, ta);
  el.append(gutter, code);
  let bad = 0;
  const render = () => {
    const n = ta.value.split('\n').length;
    const frag = document.createDocumentFragment();
    for (let i = 1; i <= n; i++) {
      const s = document.createElement('span');
      if (i === bad) s.className = 'bad';
      s.textContent = i + '\n';
      frag.append(s);
    }
    gutter.replaceChildren(frag);
    ta.rows = Math.max(12, n + 1);
    highlight(pre, ta.value);
  };
  const sync = () => { pre.scrollTop = ta.scrollTop; pre.scrollLeft = ta.scrollLeft; gutter.scrollTop = ta.scrollTop; };
  ta.addEventListener('input', () => { bad = 0; render(); });
  ta.addEventListener('scroll', sync);
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Tab' && !e.shiftKey && !ta.readOnly && !e.ctrlKey && !e.metaKey) {
      // Tab indents; Escape then Tab leaves the editor (keyboard users).
      if (ta.dataset.escaped === '1') { ta.dataset.escaped = ''; return; }
      e.preventDefault();
      ta.setRangeText('  ', ta.selectionStart, ta.selectionEnd, 'end');
      render();
    } else if (e.key === 'Escape') {
      ta.dataset.escaped = '1';
    }
  });
  render();
  return {
    el, textarea: ta,
    value: () => ta.value,
    mark(line, column) {
      bad = line;
      render();
      if (line > 0) {
        const lines = ta.value.split('\n');
        let pos = 0;
        for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
        pos += Math.max(0, (column || 1) - 1);
        ta.focus();
        ta.setSelectionRange(pos, pos);
      }
    },
  };
}

// lineDiff returns the lines of a and b as [op, line] pairs, op ' ' (both),
// '-' (only in a) or '+' (only in b): a longest common subsequence of
// lines. null when either side has more than 3000 lines.
export function lineDiff(a, b) {
  const x = a.split('\n'), y = b.split('\n');
  const n = x.length, m = y.length;
  if (n > 3000 || m > 3000) return null;
  const w = m + 1;
  const L = new Int32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i * w + j] = x[i] === y[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
    }
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push([' ', x[i]]); i++; j++; }
    else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) out.push(['-', x[i++]]);
    else out.push(['+', y[j++]]);
  }
  while (i < n) out.push(['-', x[i++]]);
  while (j < m) out.push(['+', y[j++]]);
  return out;
}

// renderDiff fills pre with a diff, one text line per entry.
export function renderDiff(pre, diff) {
  const frag = document.createDocumentFragment();
  for (const [op, line] of diff) {
    const s = document.createElement('span');
    s.className = op === '+' ? 'd-add' : op === '-' ? 'd-del' : '';
    s.textContent = op + ' ' + line + '\n';
    frag.append(s);
  }
  pre.replaceChildren(frag);
}
