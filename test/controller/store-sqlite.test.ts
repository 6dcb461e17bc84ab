/**
 * The store contract (store-contract.ts) against the SQLite backend: a real file in a temp directory,
 * opened by several Store objects at once as a second process would. Also what only the file has to
 * keep: state and history across a reopen.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openStore } from '../../src/controller/store/open.js';
import { SqliteStore } from '../../src/controller/store/sqlite.js';
import { record, rejectsWith, storeContract, uniquePrefix, until } from './store-contract.js';

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

  it('feeds a watch with the writes of another process on the same file', async () => {
    const p = uniquePrefix();
    const s = await SqliteStore.open(file);
    try {
      const w = await record(s, p, 0);
      const module = fileURLToPath(new URL('../../src/controller/store/sqlite.js', import.meta.url));
      const script =
        `const { SqliteStore } = await import(${JSON.stringify(module)});` +
        `const s = await SqliteStore.open(${JSON.stringify(file)});` +
        `await s.put(${JSON.stringify(p + 'a')}, '1');` +
        `await s.txn({ compare: [], success: [{ type: 'put', key: ${JSON.stringify(p + 'b')}, value: '2' }, { type: 'delete', key: ${JSON.stringify(p + 'a')} }] });` +
        `await s.close();`;
      await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
      await until('the other process\'s writes', () => w.events().length === 3);
      assert.deepEqual(w.batches.map((b) => b.events.map((e) => `${e.type} ${e.kv.key}`)), [[`put ${p}a`], [`put ${p}b`, `delete ${p}a`]]);
      await w.cancel();
    } finally {
      await s.close();
    }
  });

  it('is what openStore opens for no spec, sqlite, sqlite:, sqlite:/path and sqlite:///path, and refuses other specs', async () => {
    const stateDir = join(dir, 'open-state');
    const byDefault = await openStore(undefined, stateDir);
    const r = await byDefault.put('/open/a', '1');
    await byDefault.close();
    for (const spec of ['sqlite:', 'sqlite']) {
      const named = await openStore(spec, stateDir);
      assert.equal((await named.get('/open/a'))?.modRevision, r, `${spec} is the same default file`);
      assert.equal(named.kind, 'sqlite');
      await named.close();
    }
    for (const spec of [`sqlite://${join(stateDir, 'controller.db')}`, `sqlite:${join(stateDir, 'controller.db')}`]) {
      const explicit = await openStore(spec, '/nonexistent');
      assert.equal((await explicit.get('/open/a'))?.value, '1', spec);
      await explicit.close();
    }
    await rejectsWith(openStore('sqlite:relative/path.db', stateDir), 'SY_BAD_REQUEST');
    await rejectsWith(openStore('sqlite://relative/path.db', stateDir), 'SY_BAD_REQUEST');
    await rejectsWith(openStore('sqlite://%zz', stateDir), 'SY_BAD_REQUEST');
    await rejectsWith(openStore('postgres://db', stateDir), 'SY_BAD_REQUEST');
    await rejectsWith(openStore('/var/lib/x.db', stateDir), 'SY_BAD_REQUEST');
  });
});
