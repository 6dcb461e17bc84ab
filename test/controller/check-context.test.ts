/**
 * Allocation against a real SQLite store, below the HTTP layer: a sparse (random-probing) allocation
 * in a large, nearly full range still finds the one free number, and says so when there is none; a
 * claim held by another owner is refused, one this resource held before is its own.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckContext } from '../../src/controller/check-context.js';
import type { ResourceDoc } from '../../src/controller/kind.js';
import { SqliteStore } from '../../src/controller/store/sqlite.js';
import { TxnContext } from '../../src/controller/txn-context.js';
import { SyError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-nc-alloc-'));
let store: SqliteStore;
before(async () => {
  store = await SqliteStore.open(join(dir, 'c.db'));
});
after(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const doc: ResourceDoc = { resourceId: 'n', resourceRef: '/networkInterfaces/n', instanceId: 'i', resourceMetadata: { tenantId: 't' }, properties: {} };
const key = (n: number) => `/t/${n.toString(16).padStart(8, '0')}`;

describe('CheckContext.allocate', () => {
  it('sparse: finds the last free number of a 5,000-number range, then reports it full', async () => {
    const size = 5000;
    const free = 3217;
    for (let i = 0; i < size; i += 500) {
      await store.txn({ compare: [], success: Array.from({ length: Math.min(500, size - i) }, (_, j) => i + j).filter((n) => n !== free).map((n) => ({ type: 'put' as const, key: key(n), value: 'x' })) });
    }
    const c = new CheckContext(new TxnContext(store), doc, undefined, new Map());
    assert.equal(await c.allocate('/t/', key, [{ first: 0, last: size - 1 }], 'me', true), free);
    assert.equal(await c.allocate('/t/', key, [{ first: 0, last: size - 1 }], 'me', true), undefined, 'the pending claim counts as taken');
    assert.deepEqual(c.claims, [{ key: key(free), owner: 'me' }]);
  });

  it('claim: refuses another owner\'s key, takes back this resource\'s own', async () => {
    await store.put('/c/1', '/networkInterfaces/other');
    await store.put('/c/2', '/networkInterfaces/n/ipConfigurations/old');
    const prev = { doc, claims: [{ key: '/c/2', owner: '/networkInterfaces/n/ipConfigurations/old' }], refs: [] };
    const c = new CheckContext(new TxnContext(store), doc, prev, new Map());
    await assert.rejects(c.claim('/c/1', '/networkInterfaces/n', (h) => `held by ${h}`), (e) => e instanceof SyError && e.code === 'SY_ADDRESS_IN_USE' && e.message === 'held by /networkInterfaces/other');
    await c.claim('/c/2', '/networkInterfaces/n/ipConfigurations/new', () => 'no');
    await c.claim('/c/3', '/networkInterfaces/n/ipConfigurations/a', () => 'no');
    await assert.rejects(c.claim('/c/3', '/networkInterfaces/n/ipConfigurations/b', (h) => `held by ${h}`), /held by \/networkInterfaces\/n\/ipConfigurations\/a/);
  });
});
