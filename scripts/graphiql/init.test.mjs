// GraphiQL does not persist the token unless the user asks: runs the page's init script (the
// function's functions/graphql/assets/graphiql-init.js) against a browser's localStorage in
// the states it can be found in, and checks the props it gives GraphiQL and what is left stored.
// No browser needed: `node scripts/graphiql/init.test.mjs` (scripts/graphiql-check.sh runs it).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import assert from 'node:assert/strict';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = readFileSync(join(root, 'functions/graphql/assets/graphiql-init.js'), 'utf8');
const TOKEN = 'pms_0123456789abcdef_SECRET-TOKEN';

function storage(entries) {
  const m = new Map(Object.entries(entries));
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    dump: () => Object.fromEntries(m),
  };
}

/// Runs the init script; returns the props GraphiQL got and the storage afterwards.
function boot(entries) {
  const localStorage = storage(entries);
  let props = null;
  const GraphiQL = () => null;
  GraphiQL.createFetcher = () => () => null;
  const sandbox = {
    window: { location: { origin: 'https://api.example', pathname: '/graphql' }, localStorage },
    document: { getElementById: () => ({}) },
    React: { createElement: (_c, p) => ((props = p), {}) },
    ReactDOM: { createRoot: () => ({ render: () => {} }) },
    GraphiQL,
    JSON,
  };
  vm.runInNewContext(script, sandbox);
  return { props, stored: localStorage.dump() };
}

const tabs = (headers) =>
  JSON.stringify({ tabs: [{ id: 't', query: '{ health }', headers }], activeTabIndex: 0 });
const holdsToken = (stored) => JSON.stringify(stored).includes(TOKEN);

// A browser that never ran GraphiQL: nothing persisted, the switch offered.
let r = boot({});
assert.equal(r.props.shouldPersistHeaders, false);
assert.equal(r.props.showPersistHeadersSettings, true);
assert.equal(r.stored['graphiql:shouldPersistHeaders'], 'false');

// A browser where an earlier page persisted headers by default: the token is removed.
r = boot({
  'graphiql:shouldPersistHeaders': 'true',
  'graphiql:headers': `{"Authorization":"Bearer ${TOKEN}"}`,
  'graphiql:tabState': tabs(`{"Authorization":"Bearer ${TOKEN}"}`),
});
assert.equal(r.props.shouldPersistHeaders, false);
assert.ok(!holdsToken(r.stored), JSON.stringify(r.stored));
assert.equal(JSON.parse(r.stored['graphiql:tabState']).tabs[0].query, '{ health }');

// The user switched "Persist headers" on since this page first ran here: kept.
r = boot({
  'pms:graphiql': '1',
  'graphiql:shouldPersistHeaders': 'true',
  'graphiql:tabState': tabs(`{"Authorization":"Bearer ${TOKEN}"}`),
});
assert.equal(r.props.shouldPersistHeaders, true);
assert.ok(holdsToken(r.stored));

// Switched off again: gone.
r = boot({
  'pms:graphiql': '1',
  'graphiql:shouldPersistHeaders': 'false',
  'graphiql:tabState': tabs(`{"Authorization":"Bearer ${TOKEN}"}`),
});
assert.equal(r.props.shouldPersistHeaders, false);
assert.ok(!holdsToken(r.stored));

// History written by an earlier page holds each run's headers: removed.
r = boot({
  'graphiql:queries': JSON.stringify({
    queries: [{ query: '{ health }', headers: `{"Authorization":"Bearer ${TOKEN}"}` }],
  }),
  'graphiql:favorites': JSON.stringify({
    favorites: [{ query: '{ health }', headers: `{"Authorization":"Bearer ${TOKEN}"}` }],
  }),
});
assert.ok(!holdsToken(r.stored), JSON.stringify(r.stored));
assert.equal(JSON.parse(r.stored['graphiql:queries']).queries[0].query, '{ health }');

// What GraphiQL writes while the page runs (its history saves every run's headers) goes through
// the storage it is given: headers dropped while the switch is off, kept once the user turns
// it on.
r = boot({});
const history = (headers) => JSON.stringify({ queries: [{ query: '{ health }', headers }] });
r.props.storage.setItem('graphiql:queries', history(`{"Authorization":"Bearer ${TOKEN}"}`));
r.props.storage.setItem('graphiql:headers', `{"Authorization":"Bearer ${TOKEN}"}`);
assert.equal(r.props.storage.getItem('graphiql:headers'), null);
assert.ok(!r.props.storage.getItem('graphiql:queries').includes(TOKEN));
r.props.storage.setItem('graphiql:shouldPersistHeaders', 'true');
r.props.storage.setItem('graphiql:queries', history(`{"Authorization":"Bearer ${TOKEN}"}`));
assert.ok(r.props.storage.getItem('graphiql:queries').includes(TOKEN));

// Unreadable stored state is dropped, not kept.
r = boot({ 'graphiql:tabState': `{"tabs": [${TOKEN}` });
assert.ok(!holdsToken(r.stored));

console.log('graphiql init: the token is persisted only when the user asks (7 cases)');
