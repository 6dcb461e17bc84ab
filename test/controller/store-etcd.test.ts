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

// Small range pages, so the contract's ranges also cross page boundaries inside one call.
storeContract('etcd', { open: () => EtcdStore.open(cluster!.spec, { rangePageSize: 7 }) });

describe('etcd store across member failures', () => {
  it('opens through openStore and refuses a spec it does not know', async () => {
    const s = await openStore(cluster!.spec, '/nonexistent-state-dir');
    assert.equal(s.kind, 'etcd');
    await s.close();
    await rejectsWith(openStore('etcd://', '/tmp'), 'SY_BAD_REQUEST');
    await rejectsWith(openStore('etcd://127.0.0.1:99999', '/tmp'), 'SY_BAD_REQUEST');
    await rejectsWith(openStore('redis://127.0.0.1:6379', '/tmp'), 'SY_BAD_REQUEST');
  });

  it('keeps writing and watching with one member dead, fails cleanly without quorum, and recovers', { timeout: 50_000 }, async () => {
    const c = cluster!;
    const leader = await c.leader();
    const [f1, f2] = [0, 1, 2].filter((i) => i !== leader) as [number, number];
    // The store talks to a follower first, so killing it shows the failover alone, with no election.
    // A long watch retry window: the watch must outlive the quorum loss below and resume after it.
    const store = await EtcdStore.open(c.specOf([f1, f2, leader]), { watchRetryMs: 60_000 });
    try {
      const p = uniquePrefix();
      const w = await record(store, p, 0);
      const wrote: string[] = [];
      const put = async (name: string): Promise<void> => {
        await store.put(`${p}${name}`, name);
        wrote.push(name);
      };
      const watchedAll = (what: string): Promise<void> =>
        until(what, () => w.events().length >= wrote.length, 15_000).then(() =>
          assert.deepEqual(w.events().map((e) => e.kv.value), wrote, `${what}: no event lost or repeated`),
        );
      for (let i = 0; i < 5; i++) await put(`before-${i}`);

      await c.kill(f1);
      for (let i = 0; i < 10; i++) await put(`one-down-${i}`);
      const t = await store.txn({ compare: [{ key: `${p}txn`, target: 'version', op: '=', value: 0 }], success: [{ type: 'put', key: `${p}txn`, value: 'txn' }] });
      assert.equal(t.succeeded, true);
      wrote.push('txn');
      await watchedAll('the writes made with a follower dead');

      // Kill the leader too; the survivor soon knows it has none.
      await c.kill(leader);
      await waitFor('the survivor to lose its leader', async () => (await probe(c.members[f2]!.clientPort)) === 'no leader');
      const e1 = await rejectsWith(store.put(`${p}lost-put`, 'x'), 'SY_STORE');
      assert.match(e1.message, /no quorum/);
      await rejectsWith(
        store.txn({ compare: [], success: [{ type: 'put', key: `${p}lost-txn-a`, value: 'a' }, { type: 'put', key: `${p}lost-txn-b`, value: 'b' }] }),
        'SY_STORE',
      );
      await rejectsWith(store.get(`${p}before-0`), 'SY_STORE');
      await rejectsWith(EtcdStore.open(c.spec, { deadlineMs: 1500 }), 'SY_STORE');

      // Restart both: the refused writes are nowhere, writes work, and the watch (which kept
      // retrying) delivers the next write exactly once.
      c.restartStopped();
      await c.waitHealthy();
      assert.equal(await store.get(`${p}lost-put`), undefined);
      assert.equal(await store.get(`${p}lost-txn-a`), undefined);
      assert.equal(await store.get(`${p}lost-txn-b`), undefined);
      await put('after-restart');
      await watchedAll('the write after the restart');

      // Kill the leader: once the two left have elected one, writes go on.
      await c.kill(await c.leader());
      await c.waitHealthy();
      await put('after-election');
      await watchedAll('the write after the election');
      c.restartStopped();
      await c.waitHealthy();

      assert.deepEqual(w.errors, []);
      assert.deepEqual((await store.range(p)).kvs.map((kv) => kv.value).sort(), [...wrote].sort());
      await w.cancel();
    } finally {
      await store.close();
    }
  });
});
