// tests/board_js.js FILE: the board's /board.js (saved in FILE by
// tests/board_db.sh) run by node against stubs of the page, EventSource
// and fetch: it opens /events; its opening (the first too) reads the
// page again; an alert event reads the page again (marked as the page's
// own read, which renews no session) and
// swaps #alerts-body and #none; events during a read give one more read,
// not one each; a page that comes back without #alerts-body (the login
// page: the session ended) is reloaded, one that comes back with an error
// status is not (the table kept, read again in 5 s); a refused stream is tried again
// after 10 s; a page without #alerts-body opens no stream. One line per
// case, "ok" or "not ok"; the exit status says whether all passed. (The
// real browser runs it in the browser tests.)
'use strict';
const fs = require('fs');
const vm = require('vm');

const src = fs.readFileSync(process.argv[2], 'utf8');
let failed = 0;
function check(name, cond) {
  console.log((cond ? 'ok - ' : 'not ok - ') + name);
  if (!cond) failed++;
}

class FakeEventSource {
  constructor(url) {
    this.url = url;
    this.listeners = {};
    this.readyState = 0;
    FakeEventSource.all.push(this);
  }
  addEventListener(type, fn) {
    (this.listeners[type] = this.listeners[type] || []).push(fn);
  }
  fire(type) {
    (this.listeners[type] || []).forEach((fn) => fn({ type }));
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
}
FakeEventSource.CLOSED = 2;

// A page: its elements by id; parse() finds id="..." in HTML text.
function page(ids) {
  const els = {};
  ids.forEach((id) => {
    els[id] = {
      id,
      html: 'old ' + id,
      replaceWith(n) {
        delete els[id];
        els[n.id] = n;
      },
    };
  });
  return els;
}

// Run board.js on a page holding ids; what it did is in the result.
function run(ids) {
  const st = {
    els: page(ids), attrs: {}, reloads: 0, fetched: [], bodies: [],
    timers: [],
  };
  FakeEventSource.all = [];
  const sandbox = {
    window: { EventSource: FakeEventSource },
    EventSource: FakeEventSource,
    document: {
      getElementById: (id) => st.els[id] || null,
      documentElement: { setAttribute: (k, v) => { st.attrs[k] = v; } },
      // An element put in place can be replaced again, as in a page.
      importNode: (n) => Object.assign({}, n, {
        imported: true,
        replaceWith(m) { delete st.els[n.id]; st.els[m.id] = m; },
      }),
    },
    location: {
      href: 'http://127.0.0.1:8575/alerts?state=all',
      reload: () => { st.reloads++; },
    },
    fetch: (url, opts) => {
      st.fetched.push([url, opts]);
      // A body, or [status, body] for an answer other than 200.
      let body = st.bodies.shift() || '', status = 200;
      if (Array.isArray(body)) [status, body] = body;
      return Promise.resolve({
        ok: status >= 200 && status < 300, status,
        text: () => Promise.resolve(body),
      });
    },
    DOMParser: class {
      parseFromString(text) {
        const found = {};
        for (const m of text.matchAll(/id="([a-z-]+)"/g))
          found[m[1]] = { id: m[1], html: text };
        return { getElementById: (id) => found[id] || null };
      }
    },
    setTimeout: (fn, ms) => { st.timers.push([fn, ms]); },
    String, Date,
  };
  vm.runInNewContext(src, sandbox);
  st.es = () => FakeEventSource.all[FakeEventSource.all.length - 1];
  st.streams = () => FakeEventSource.all.length;
  return st;
}

const settle = () => new Promise((r) => setImmediate(r));
const NEW_PAGE = '<p id="none" hidden>No alerts.</p><table><tbody ' +
  'id="alerts-body">\n<tr data-alert-id="9" class="alert">';

(async () => {
  let st = run(['alerts-body', 'none']);
  check('opens one EventSource on /events', st.streams() === 1 &&
    st.es().url === '/events');
  // An alert raised between the page's read and the stream's start sent
  // its event before this stream existed: the first open reads the table.
  st.bodies.push(NEW_PAGE);
  st.es().fire('open');
  await settle();
  check('open: <html data-live="open">, the table read (alerts raised ' +
    'before the stream opened)',
    st.attrs['data-live'] === 'open' && st.fetched.length === 1 &&
    st.els['alerts-body'].imported);

  st.bodies.push(NEW_PAGE.replace('"9"', '"10"'));
  st.es().fire('alert');
  await settle();
  check('alert: the page read again from its own address, uncached',
    st.fetched.length === 2 &&
    st.fetched[1][0] === 'http://127.0.0.1:8575/alerts?state=all' &&
    st.fetched[1][1].cache === 'no-store');
  check('alert: the read says it is the page\'s own (X-Labwatch-Refresh: ' +
    '1), not a person\'s: it does not renew the session',
    !!st.fetched[1][1].headers &&
    st.fetched[1][1].headers['X-Labwatch-Refresh'] === '1');
  const body = st.els['alerts-body'];
  check('alert: #alerts-body swapped for the new one (the new row in it)',
    body && body.imported && body.html.includes('data-alert-id="10"'));
  check('alert: #none swapped too', st.els.none && st.els.none.imported);
  check('alert: <html data-refreshed> set', !!st.attrs['data-refreshed']);

  st.bodies.push(NEW_PAGE, NEW_PAGE, NEW_PAGE);
  st.es().fire('alert');
  st.es().fire('alert');
  st.es().fire('resync');
  await settle();
  await settle();
  check('three events during a read: two reads, not four',
    st.fetched.length === 4);

  st.bodies = ['<form id="login">'];
  st.es().fire('resync');
  await settle();
  check('the login page comes back: the page is reloaded',
    st.reloads === 1);

  st.es().fire('error');
  check('a dropped stream (browser reconnects): data-live="closed", ' +
    'nothing else', st.attrs['data-live'] === 'closed' &&
    st.timers.length === 0 && st.streams() === 1);
  st.bodies.push(NEW_PAGE);
  st.es().fire('open');
  await settle();
  check('reopened: the table read again (events missed meanwhile)',
    st.fetched.length === 6);

  st.es().readyState = FakeEventSource.CLOSED;
  st.bodies.push(NEW_PAGE);
  st.es().fire('error');
  await settle();
  check('refused (401, 503): the page read, a new stream in 10 s',
    st.fetched.length === 7 && st.timers.length === 1 &&
    st.timers[0][1] === 10000);
  st.timers[0][0]();
  check('  which opens', st.streams() === 2 && st.es().url === '/events');

  // The page's read answered 503 (the database away, or its first use
  // after a PostgreSQL restart): the table stays, no reload into the
  // error page (which has no script: the page would stay dead), a new
  // read in 5 s.
  st.timers = [];
  const kept = st.els['alerts-body'];
  const reloads = st.reloads;
  st.bodies = [[503, '<p>The database could not be read</p>'],
    NEW_PAGE.replace('"9"', '"11"')];
  st.es().fire('resync');
  await settle();
  check('a read answered 503: the table kept, no reload, read again in 5 s',
    st.reloads === reloads && st.els['alerts-body'] === kept &&
    st.timers.length === 1 && st.timers[0][1] === 5000);
  if (st.timers.length === 1) st.timers[0][0]();
  await settle();
  check('  which puts the new table in place',
    st.els['alerts-body'].html.includes('data-alert-id="11"') &&
    st.timers.length === 1);

  st = run(['none']);
  check('a page without #alerts-body opens no stream', st.streams() === 0);
  process.exit(failed ? 1 : 0);
})();
