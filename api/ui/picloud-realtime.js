// picloud-realtime.js: subscribe to PiCloud's event stream from a browser
// (or Node 18+), one small standalone ES module with no dependency.
//
// Unlike EventSource it reads the stream with fetch, so it can send a
// bearer token, sees a 401 or 403 (and stops, instead of reconnecting for
// ever), and resumes after a dropped connection or a server restart from
// the last event it saw (Last-Event-ID): no gap, no duplicate. Reconnects
// back off exponentially with full jitter.
//
//   import { subscribe } from './picloud-realtime.js';
//   const sub = subscribe({
//     url: 'https://picloud.example.com',          // the server
//     token: 'pc_...',                             // a token with the read scope
//     // or: ticket: async (topics) => (await (await fetch('/api/v1/events/tickets?' +
//     //   topics.map((t) => 'topic=' + encodeURIComponent(t)).join('&'), {method: 'POST'})).json()).ticket,
//     topics: ['orders.created'],                  // none: every topic
//     onEvent: (ev) => console.log(ev.id, ev.topic, ev.payload),
//     onError: (err) => console.warn(err.message, err.status, err.fatal),
//   });
//   // later: sub.close();

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

/** An error of the stream: status is the HTTP status (0 for the network),
 * fatal says the client stopped (authentication or authorization). */
export class RealtimeError extends Error {
  constructor(message, status, fatal) {
    super(message);
    this.name = 'RealtimeError';
    this.status = status;
    this.fatal = fatal;
  }
}

/**
 * subscribe opens the stream and keeps it open until close().
 * Options: url (default: this page's origin), token or ticket (an async
 * function of the topics returning a fresh ticket for them, called on
 * every connect: a ticket is bound to its token and topics), topics,
 * lastEventId (resume after it), onEvent(ev), onOpen(), onError(err),
 * minDelay and maxDelay of the backoff in ms (500, 30000), fetch; path
 * and params name another stream of the same shape (the dashboard's live
 * tail of invocations: path '/ui/tail', params { function: 'hello' }).
 * Returns { close(), lastEventId }.
 */
export function subscribe(opts) {
  const {
    url = globalThis.location ? globalThis.location.origin : '',
    token, ticket, topics = [], params = {}, path = '/api/v1/events/stream', onEvent = () => {}, onOpen = () => {}, onError = () => {},
    minDelay = 500, maxDelay = 30000, fetch: doFetch = globalThis.fetch.bind(globalThis),
  } = opts;
  const ctrl = new AbortController();
  const state = { lastEventId: opts.lastEventId ?? null, connects: 0 };

  const connect = async () => {
    const q = new URLSearchParams();
    for (const t of topics) q.append('topic', t);
    for (const [k, v] of Object.entries(params)) q.set(k, v);
    const headers = { Accept: 'text/event-stream' };
    if (token) headers.Authorization = 'Bearer ' + token;
    if (ticket) q.set('ticket', await ticket(topics));
    if (state.lastEventId !== null) headers['Last-Event-ID'] = String(state.lastEventId);
    state.connects++;
    const res = await doFetch(`${url}${path}?${q}`, {
      headers, signal: ctrl.signal, credentials: 'same-origin', cache: 'no-store',
    });
    if (res.status === 401 || res.status === 403) {
      let msg = `HTTP ${res.status}`;
      try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
      throw new RealtimeError(msg, res.status, true);
    }
    if (!res.ok || !res.body) throw new RealtimeError(`HTTP ${res.status}`, res.status, false);
    onOpen();
    return res.body;
  };

  // read parses Server-Sent Events from body until it ends.
  const read = async (body) => {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let m;
      while ((m = /\r?\n\r?\n/.exec(buf))) {
        const block = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        let id = null;
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith('id:')) id = line.slice(3).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (!data.length) continue;
        let ev;
        try { ev = JSON.parse(data.join('\n')); } catch { continue; }
        if (id !== null) state.lastEventId = id;
        onEvent(ev);
      }
    }
  };

  (async () => {
    let attempt = 0;
    while (!ctrl.signal.aborted) {
      try {
        const body = await connect();
        attempt = 0;
        await read(body);
      } catch (err) {
        if (ctrl.signal.aborted) return;
        const e = err instanceof RealtimeError ? err : new RealtimeError(err.message || String(err), 0, false);
        onError(e);
        if (e.fatal) return;
      }
      if (ctrl.signal.aborted) return;
      // Full jitter: a random delay up to the exponential bound.
      const bound = Math.min(maxDelay, minDelay * 2 ** attempt++);
      await sleep(Math.random() * bound, ctrl.signal);
    }
  })();

  return {
    close: () => ctrl.abort(),
    get lastEventId() { return state.lastEventId; },
    get connects() { return state.connects; },
  };
}
