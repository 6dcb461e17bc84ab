/**
 * The store contract (store-contract.ts) against the SQLite backend: a real file in a temp directory,
 * opened by several Store objects at once as a second process would. Also what only the file has to
 * keep: state and history across a reopen.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore } from '../../src/controller/store/sqlite.js';
import { record, storeContract, uniquePrefix, until } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-store-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'state', 'controller.db');

storeContract('sqlite', { open: () => SqliteStore.open(file) });

describe('sqlite store file', () => {
  it('keeps keys, revisions, leases and history across a reopen', async () => {
    const path = join(dir, 'reopen.db');
    const p = uniquePrefix();
    const a = await SqliteStore.open(path);
    const r1 = await a.put(`${p}k`, 'v1');
    const lease = await a.grantLease(60);
    const r2 = await a.put(`${p}k`, 'v2', { lease: lease.id });
    await a.close();
    const b = await SqliteStore.open(path);
    try {
      assert.equal(await b.revision(), r2);
      assert.deepEqual(await b.get(`${p}k`), { key: `${p}k`, value: 'v2', createRevision: r1, modRevision: r2, version: 2, lease: lease.id });
      await b.keepAlive(lease.id);
      const w = await record(b, p, r1);
      await until('the replayed history', () => w.events().length === 2);
      await w.cancel();
    } finally {
      await b.close();
    }
  });

  it('says which file it cannot open', async () => {
    const notADir = join(dir, 'plain-file');
    writeFileSync(notADir, 'not a directory');
    await assert.rejects(SqliteStore.open(join(notADir, 'controller.db')), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'SY_STORE');
      assert.ok(e.message.includes(join(notADir, 'controller.db')), e.message);
      return true;
    });
  });
});
