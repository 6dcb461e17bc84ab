/**
 * The store contract (store-contract.ts) against a real 3-member etcd cluster on loopback, then what
 * only a cluster has to survive: one member killed (writes go on, a watch resumes elsewhere without
 * loss or duplicates), two killed (calls fail with SY_STORE "no quorum" instead of hanging, and the
 * refused writes never appear), and the members restarted (writes work again, the watch goes on).
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { EtcdStore } from '../../src/controller/store/etcd.js';
import { openStore } from '../../src/controller/store/open.js';
import { EtcdCluster, ETCD, probe, waitFor } from './store-etcd-cluster.js';
import { record, rejectsWith, storeContract, uniquePrefix, until } from './store-contract.js';

assert.ok(existsSync(ETCD), `${ETCD} is missing: run scripts/setup.sh --test (Debian package etcd-server)`);
let cluster: EtcdCluster | undefined;
before(async () => {
  cluster = await EtcdCluster.start(3);
});
after(async () => {
  await cluster?.stop();
});

storeContract('etcd', { open: () => EtcdStore.open(cluster!.spec) });

describe('etcd store across member failures', () => {
  let store: EtcdStore;
  before(async () => {
    // A long watch retry window: the watch must outlive the quorum loss below and resume after it.
    store = await EtcdStore.open(cluster!.spec, { watchRetryMs: 60_000 });
  });
  after(async () => {
    await store?.close();
  });

  it('opens through openStore and refuses a spec it does not know', async () => {
    const s = await openStore(cluster!.spec, '/nonexistent-state-dir');
    assert.equal(s.kind, 'etcd');
    await s.close();
    await rejectsWith(openStore('etcd://', '/tmp'), 'SY_BAD_REQUEST');
    await rejectsWith(openStore('etcd://127.0.0.1:99999', '/tmp'), 'SY_BAD_REQUEST');
    await rejectsWith(openStore('redis://127.0.0.1:6379', '/tmp'), 'SY_BAD_REQUEST');
  });

  it('keeps writing and watching with one member dead, fails cleanly without quorum, and recovers', { timeout: 45_000 }, async () => {
    const c = cluster!;
    const p = uniquePrefix();
    const w = await record(store, p, 0);
    const wrote: string[] = [];
    const put = async (name: string): Promise<void> => {
      await store.put(`${p}${name}`, name);
      wrote.push(name);
    };
    for (let i = 0; i < 5; i++) await put(`before-${i}`);
    // Kill the member the store (and so its watch) talks to: the first one it was given.
    await c.kill(store.first);
    for (let i = 0; i < 10; i++) await put(`one-down-${i}`);
    const t = await store.txn({ compare: [{ key: `${p}txn`, target: 'version', op: '=', value: 0 }], success: [{ type: 'put', key: `${p}txn`, value: 'txn' }] });
    assert.equal(t.succeeded, true);
    wrote.push('txn');
    await until('the watch to see every write made with one member down', () => w.events().length === wrote.length, 10_000);
    assert.deepEqual(w.events().map((e) => e.kv.value), wrote, 'no event lost or repeated across the failover');

    // Kill a second member; the survivor soon knows it has no leader.
    const alive = c.members.map((_, i) => i).filter((i) => c.members[i]!.proc !== undefined);
    const second = alive[0]!;
    await c.kill(second);
    const survivor = alive[1]!;
    await waitFor('the survivor to lose its leader', async () => (await probe(c.members[survivor]!.clientPort)) === 'no leader');

    const e1 = await rejectsWith(store.put(`${p}lost-put`, 'x'), 'SY_STORE');
    assert.match(e1.message, /no quorum/);
    await rejectsWith(
      store.txn({ compare: [], success: [{ type: 'put', key: `${p}lost-txn-a`, value: 'a' }, { type: 'put', key: `${p}lost-txn-b`, value: 'b' }] }),
      'SY_STORE',
    );
    await rejectsWith(store.get(`${p}before-0`), 'SY_STORE');
    await rejectsWith(EtcdStore.open(c.spec), 'SY_STORE');

    // Restart both: the cluster is whole again, the refused writes are nowhere, writes work, and the
    // watch (which kept retrying) delivers the next write exactly once.
    for (let i = 0; i < c.members.length; i++) if (c.members[i]!.proc === undefined) c.startMember(i);
    await c.waitHealthy();
    assert.equal(await store.get(`${p}lost-put`), undefined);
    assert.equal(await store.get(`${p}lost-txn-a`), undefined);
    assert.equal(await store.get(`${p}lost-txn-b`), undefined);
    await put('after-restart');
    await until('the watch to see the write after the restart', () => w.events().length === wrote.length, 15_000);
    assert.deepEqual(w.events().map((e) => e.kv.value), wrote);
    assert.deepEqual(w.errors, []);
    assert.deepEqual((await store.range(p)).kvs.map((kv) => kv.value).sort(), [...wrote].sort());
    await w.cancel();
  });
});
