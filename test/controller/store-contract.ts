/**
 * The store contract suite (store.ts): one set of tests that every backend must pass, run against
 * SQLite (store-sqlite.test.ts) and a real etcd cluster (store-etcd.test.ts). `open` gives a new Store
 * object on the same backing store each time (a second client, or a second handle on the file), so the
 * suite also checks what one client sees of another's writes. Each test works under its own random
 * key prefix, so the suite does not depend on what else is in the store.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SyError } from '../../src/errors.js';
import type { KeyValue, Store, WatchEvent } from '../../src/controller/store/store.js';

export interface StoreFactory {
  /** a new Store object on the same backing store; the suite closes what it opens */
  open(): Promise<Store>;
}

/** Waits for a condition with a bounded poll (no fixed sleeps). */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function rejectsWith(p: Promise<unknown>, code: string): Promise<SyError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SyError, `expected a SyError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** A watch that records what it gets: batches in order, and the error that ended it. */
export interface Recorder {
  batches: { revision: number; events: WatchEvent[] }[];
  errors: Error[];
  events(): WatchEvent[];
  cancel(): Promise<void>;
}

export async function record(store: Store, prefix: string, from: number): Promise<Recorder> {
  const rec: Recorder = {
    batches: [],
    errors: [],
    events: () => rec.batches.flatMap((b) => b.events),
    cancel: async () => undefined,
  };
  const w = await store.watch(prefix, from, {
    onEvents: (events, revision) => rec.batches.push({ revision, events }),
    onError: (err) => rec.errors.push(err),
  });
  rec.cancel = () => w.cancel();
  return rec;
}

export function uniquePrefix(): string {
  return `/contract/${randomBytes(4).toString('hex')}/`;
}

const brief = (e: WatchEvent): string => `${e.type} ${e.kv.key}${e.type === 'put' ? '=' + e.kv.value : ''}`;

export function storeContract(name: string, factory: StoreFactory): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let other: Store;
    const opened: Store[] = [];
    const open = async (): Promise<Store> => {
      const s = await factory.open();
      opened.push(s);
      return s;
    };

    before(async () => {
      store = await open();
      other = await open();
    });
    after(async () => {
      for (const s of opened) await s.close();
    });

    it('bumps one revision per write and keeps createRevision, modRevision and version per key', async () => {
      const p = uniquePrefix();
      const r0 = await store.revision();
      const r1 = await store.put(`${p}k`, 'v1');
      assert.ok(r1 > r0);
      assert.deepEqual(await store.get(`${p}k`), { key: `${p}k`, value: 'v1', createRevision: r1, modRevision: r1, version: 1 });
      const r2 = await store.put(`${p}k`, 'v2');
      assert.ok(r2 > r1);
      assert.deepEqual(await other.get(`${p}k`), { key: `${p}k`, value: 'v2', createRevision: r1, modRevision: r2, version: 2 });
      assert.equal(await store.revision() >= r2, true);

      const del = await store.delete(`${p}k`);
      assert.equal(del.deleted, true);
      assert.ok(del.revision > r2);
      assert.equal(await store.get(`${p}k`), undefined);
      const again = await store.delete(`${p}k`);
      assert.equal(again.deleted, false);
      assert.equal(again.revision >= del.revision, true);

      const r3 = await store.put(`${p}k`, 'v3');
      assert.deepEqual(await store.get(`${p}k`), { key: `${p}k`, value: 'v3', createRevision: r3, modRevision: r3, version: 1 });
    });

    it('does not bump the revision for a write that changes nothing', async () => {
      const p = uniquePrefix();
      await store.put(`${p}x`, '1');
      const r = await store.revision();
      assert.deepEqual(await store.delete(`${p}missing`), { revision: r, deleted: false });
      const t = await store.txn({ compare: [], success: [{ type: 'get', key: `${p}x` }, { type: 'delete', key: `${p}nope` }] });
      assert.equal(t.revision, r);
      assert.equal(await store.revision(), r);
    });

    it('ranges over a prefix in UTF-8 key order, page by page', async () => {
      const p = uniquePrefix();
      const names = Array.from({ length: 23 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      names.push('é', '日本', '😀', 'z', '\u{ffff}');
      for (const n of names) await store.put(`${p}${n}`, n);
      // Neighbours that must stay out: the prefix without its slash, and a sibling prefix.
      await store.put(p.slice(0, -1), 'outside');
      await store.put(`${p.slice(0, -1)}0/x`, 'outside');
      const want = names
        .map((n) => `${p}${n}`)
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

      const all = await store.range(p);
      assert.deepEqual(all.kvs.map((kv) => kv.key), want);
      assert.equal(all.more, false);
      assert.ok(all.revision >= Math.max(...all.kvs.map((kv) => kv.modRevision)));

      const seen: string[] = [];
      let afterKey: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await store.range(p, afterKey === undefined ? { limit: 10 } : { limit: 10, after: afterKey });
        pages++;
        seen.push(...page.kvs.map((kv) => kv.key));
        if (!page.more) break;
        assert.equal(page.kvs.length, 10);
        afterKey = page.kvs[page.kvs.length - 1]!.key;
      }
      assert.equal(pages, 3);
      assert.deepEqual(seen, want);
      assert.deepEqual((await store.range(`${p}nothing/`)).kvs, []);
      // `after` before the prefix starts at the prefix.
      assert.equal((await store.range(p, { after: '/', limit: 1 })).kvs[0]!.key, want[0]);
    });

    it('applies a transaction whose compares hold, all at one revision', async () => {
      const p = uniquePrefix();
      const r0 = await store.put(`${p}a`, 'old');
      const t = await store.txn({
        compare: [
          { key: `${p}a`, target: 'modRevision', op: '=', value: r0 },
          { key: `${p}a`, target: 'value', op: '=', value: 'old' },
          { key: `${p}b`, target: 'version', op: '=', value: 0 },
          { key: `${p}b`, target: 'createRevision', op: '<', value: 1 },
        ],
        success: [
          { type: 'put', key: `${p}a`, value: 'new' },
          { type: 'put', key: `${p}b`, value: 'created' },
          { type: 'get', key: `${p}a` },
          { type: 'get', key: `${p}none` },
        ],
        failure: [{ type: 'put', key: `${p}failed`, value: 'x' }],
      });
      assert.equal(t.succeeded, true);
      assert.equal(t.results.length, 4);
      assert.equal(t.results[0], undefined);
      assert.equal(t.results[2]?.value, 'new', 'a get sees the writes made before it in the same txn');
      assert.equal(t.results[3], undefined);
      const a = await store.get(`${p}a`);
      const b = await store.get(`${p}b`);
      assert.equal(a?.modRevision, t.revision);
      assert.equal(b?.modRevision, t.revision);
      assert.equal(a?.version, 2);
      assert.equal(await store.get(`${p}failed`), undefined);
    });

    it('runs the failure ops of a transaction whose compares fail, and writes nothing else', async () => {
      const p = uniquePrefix();
      await store.put(`${p}a`, 'current');
      const r = await store.revision();
      const t = await store.txn({
        compare: [{ key: `${p}a`, target: 'value', op: '=', value: 'stale' }],
        success: [
          { type: 'put', key: `${p}c`, value: 'lost' },
          { type: 'put', key: `${p}b`, value: 'lost' },
          { type: 'deletePrefix', prefix: `${p}a` },
        ],
        failure: [{ type: 'get', key: `${p}a` }],
      });
      assert.equal(t.succeeded, false);
      assert.equal(t.revision, r);
      assert.equal(t.results[0]?.value, 'current');
      assert.deepEqual((await store.range(p)).kvs.map((kv) => `${kv.key}=${kv.value}`), [`${p}a=current`]);
      assert.equal(await store.revision(), r);

      // A value compare on a missing key fails whatever its op (etcd's rule).
      for (const op of ['=', '!='] as const) {
        const m = await store.txn({ compare: [{ key: `${p}missing`, target: 'value', op, value: 'x' }], success: [{ type: 'put', key: `${p}m`, value: '1' }] });
        assert.equal(m.succeeded, false);
      }
      // Numeric compares: != and > on a live key.
      const n = await store.txn({
        compare: [
          { key: `${p}a`, target: 'version', op: '>', value: 0 },
          { key: `${p}a`, target: 'createRevision', op: '!=', value: 0 },
        ],
        success: [{ type: 'delete', key: `${p}a` }],
      });
      assert.equal(n.succeeded, true);
      assert.equal(await store.get(`${p}a`), undefined);
    });

    it('deletes a prefix in one transaction at one revision', async () => {
      const p = uniquePrefix();
      for (const k of ['a', 'b', 'c/d']) await store.put(`${p}${k}`, k);
      await store.put(`${p.slice(0, -1)}-keep`, 'keep');
      const w = await record(other, p, 0);
      const t = await store.txn({ compare: [], success: [{ type: 'deletePrefix', prefix: p }] });
      assert.equal(t.succeeded, true);
      assert.deepEqual((await store.range(p)).kvs, []);
      assert.equal((await store.get(`${p.slice(0, -1)}-keep`))?.value, 'keep');
      await until('the deletes to be watched', () => w.events().length === 3);
      assert.equal(w.batches.length, 1, 'the three deletes of one revision arrive together');
      assert.equal(w.batches[0]!.revision, t.revision);
      assert.deepEqual(w.events().map(brief).sort(), [`delete ${p}a`, `delete ${p}b`, `delete ${p}c/d`]);
      await w.cancel();
      await store.delete(`${p.slice(0, -1)}-keep`);
    });

    it('refuses bad input with SY_BAD_REQUEST and writes nothing', async () => {
      const p = uniquePrefix();
      const r = await store.revision();
      await rejectsWith(store.put('', 'x'), 'SY_BAD_REQUEST');
      await rejectsWith(store.put(`${p}bad\ud800`, 'x'), 'SY_BAD_REQUEST');
      await rejectsWith(store.put(`${p}x`, 42 as unknown as string), 'SY_BAD_REQUEST');
      await rejectsWith(store.range(p, { limit: 0 }), 'SY_BAD_REQUEST');
      await rejectsWith(store.grantLease(0), 'SY_BAD_REQUEST');
      await rejectsWith(store.compact(-1), 'SY_BAD_REQUEST');
      await rejectsWith(store.compact(r + 1000), 'SY_BAD_REQUEST');
      await rejectsWith(
        store.txn({ compare: [], success: [{ type: 'put', key: `${p}a`, value: '1' }, { type: 'put', key: `${p}a`, value: '2' }] }),
        'SY_BAD_REQUEST',
      );
      await rejectsWith(
        store.txn({ compare: [], success: [{ type: 'put', key: `${p}a`, value: '1' }, { type: 'deletePrefix', prefix: p }] }),
        'SY_BAD_REQUEST',
      );
      await rejectsWith(
        store.txn({ compare: [{ key: `${p}a`, target: 'value', op: '<', value: 'x' } as never], success: [] }),
        'SY_BAD_REQUEST',
      );
      await rejectsWith(store.watch(p, -1, { onEvents: () => undefined, onError: () => undefined }), 'SY_BAD_REQUEST');
      // About 1 MiB per write, whatever the backend (etcd's request limit).
      await rejectsWith(store.put(`${p}big`, 'x'.repeat(1024 * 1024 + 1)), 'SY_BAD_REQUEST');
      const half = 'y'.repeat(600 * 1024);
      await rejectsWith(store.txn({ compare: [], success: [{ type: 'put', key: `${p}h1`, value: half }, { type: 'put', key: `${p}h2`, value: half }] }), 'SY_BAD_REQUEST');
      assert.equal(await store.revision(), r);
      assert.deepEqual((await store.range(p)).kvs, []);
    });

    it('loses no update when clients increment one counter by compare-and-swap concurrently', async () => {
      const p = uniquePrefix();
      const key = `${p}counter`;
      await store.put(key, '0');
      const clients = [store, other, await open()];
      const perWorker = 15;
      let retries = 0;
      const worker = async (s: Store): Promise<void> => {
        for (let i = 0; i < perWorker; ) {
          const kv = (await s.get(key)) as KeyValue;
          const t = await s.txn({
            compare: [{ key, target: 'modRevision', op: '=', value: kv.modRevision }],
            success: [{ type: 'put', key, value: String(Number(kv.value) + 1) }],
          });
          if (t.succeeded) i++;
          else retries++;
        }
      };
      await Promise.all(clients.flatMap((c) => [worker(c), worker(c)]));
      const final = await store.get(key);
      assert.equal(final?.value, String(clients.length * 2 * perWorker), `lost updates (${retries} retries)`);
      assert.equal(final?.version, clients.length * 2 * perWorker + 1);
    });

    it('replays a watch from an old revision, then goes on live, in order, under its prefix only', async () => {
      const p = uniquePrefix();
      const r1 = await store.put(`${p}a`, '1');
      await store.put(`${p.slice(0, -1)}-other`, 'not mine');
      const r2 = await store.put(`${p}a`, '2');
      const r3 = await store.put(`${p}b`, '1');
      const w = await record(other, p, r1);
      await until('the replay', () => w.events().length === 3);
      assert.deepEqual(w.batches.map((b) => b.revision), [r1, r2, r3]);
      assert.deepEqual(w.events().map(brief), [`put ${p}a=1`, `put ${p}a=2`, `put ${p}b=1`]);
      assert.equal(w.events()[0]!.prevKv, undefined);
      assert.equal(w.events()[1]!.prevKv?.value, '1');
      assert.deepEqual(w.events()[1]!.kv, { key: `${p}a`, value: '2', createRevision: r1, modRevision: r2, version: 2 });

      const t = await store.txn({
        compare: [],
        success: [
          { type: 'put', key: `${p}c`, value: '1' },
          { type: 'put', key: `${p.slice(0, -1)}-other`, value: 'still not mine' },
          { type: 'delete', key: `${p}a` },
        ],
      });
      const r5 = await store.put(`${p}b`, '2');
      await until('the live events', () => w.events().length === 6);
      assert.deepEqual(w.batches.map((b) => b.revision), [r1, r2, r3, t.revision, r5]);
      const live = w.batches[3]!.events;
      assert.deepEqual(live.map(brief).sort(), [`delete ${p}a`, `put ${p}c=1`]);
      const del = live.find((e) => e.type === 'delete')!;
      assert.equal(del.kv.modRevision, t.revision);
      assert.equal(del.kv.value, '');
      assert.equal(del.prevKv?.value, '2');
      assert.deepEqual(w.errors, []);
      await w.cancel();
      await store.delete(`${p.slice(0, -1)}-other`);
    });

    it('starts a watch from revision 0 at the next write, and cancel stops it', async () => {
      const p = uniquePrefix();
      await store.put(`${p}before`, 'x');
      const w = await record(store, p, 0);
      const r = await other.put(`${p}after`, 'y');
      await until('the write made after the watch', () => w.events().length === 1);
      assert.equal(w.batches[0]!.revision, r);
      assert.equal(w.events()[0]!.kv.key, `${p}after`);
      await w.cancel();
      await store.put(`${p}late`, 'z');
      // A watch on the same prefix opened after the write sees it arrive: then the cancelled one would have too.
      const probe = await record(store, p, r + 1);
      await until('the probe to see the late write', () => probe.events().length === 1);
      await probe.cancel();
      assert.equal(w.events().length, 1, 'no event after cancel');
    });

    it('ends a watch whose handler throws with SY_INTERNAL, and the others go on', async () => {
      const p = uniquePrefix();
      const errors: Error[] = [];
      let calls = 0;
      const bad = await store.watch(p, 0, {
        onEvents: () => {
          calls++;
          throw new Error('handler bug');
        },
        onError: (e) => errors.push(e),
      });
      const good = await record(store, p, 0);
      await other.put(`${p}a`, '1');
      await until('the handler failure to end its watch', () => errors.length === 1);
      assert.equal((errors[0] as SyError).code, 'SY_INTERNAL');
      assert.match(errors[0]!.message, /handler bug/);
      await other.put(`${p}b`, '2');
      await until('the other watch to go on', () => good.events().length === 2);
      assert.equal(calls, 1);
      await bad.cancel();
      await good.cancel();
    });

    it('ends a watch from before the compaction point with SY_COMPACTED', async () => {
      const p = uniquePrefix();
      const r1 = await store.put(`${p}a`, '1');
      const r2 = await store.put(`${p}a`, '2');
      await store.compact(r2);
      await store.compact(r2); // again: a no-op
      await store.compact(r1); // behind the compaction point: a no-op
      const old = await record(other, p, r1);
      await until('the compaction error', () => old.errors.length === 1);
      assert.ok(old.errors[0] instanceof SyError);
      assert.equal((old.errors[0] as SyError).code, 'SY_COMPACTED');
      assert.deepEqual(old.events(), []);
      await old.cancel();
      // The compaction point itself can still be watched from; and reads are not affected.
      const fromPoint = await record(other, p, r2);
      await until('the event at the compaction point', () => fromPoint.events().length === 1);
      assert.equal(fromPoint.events()[0]!.kv.value, '2');
      await fromPoint.cancel();
      assert.equal((await store.get(`${p}a`))?.value, '2');
    });

    it('deletes the keys of an expired lease and tells watchers', async () => {
      const p = uniquePrefix();
      const lease = await store.grantLease(2);
      assert.ok(lease.ttlSeconds >= 2);
      const w = await record(other, p, 0);
      await store.put(`${p}host`, 'alive', { lease: lease.id });
      await store.put(`${p}plain`, 'stays');
      assert.equal((await store.get(`${p}host`))?.lease, lease.id);
      assert.equal((await store.get(`${p}plain`))?.lease, undefined);
      await until('the lease to expire', async () => (await store.get(`${p}host`)) === undefined, lease.ttlSeconds * 1000 + 4000);
      await until('the delete event', () => w.events().some((e) => e.type === 'delete'));
      const del = w.events().find((e) => e.type === 'delete')!;
      assert.equal(del.kv.key, `${p}host`);
      assert.equal(del.prevKv?.value, 'alive');
      assert.equal((await store.get(`${p}plain`))?.value, 'stays');
      await rejectsWith(store.keepAlive(lease.id), 'SY_NOT_FOUND');
      const r = await store.revision();
      await rejectsWith(store.put(`${p}again`, 'x', { lease: lease.id }), 'SY_NOT_FOUND');
      await rejectsWith(
        store.txn({ compare: [], success: [{ type: 'put', key: `${p}t1`, value: '1' }, { type: 'put', key: `${p}t2`, value: '2', lease: lease.id }] }),
        'SY_NOT_FOUND',
      );
      assert.equal(await store.get(`${p}t1`), undefined, 'a txn that fails on a lease writes nothing');
      assert.equal(await store.revision(), r);
      await w.cancel();
    });

    it('keeps a lease alive while it is renewed, and revoking it deletes its keys at once', async () => {
      const p = uniquePrefix();
      const lease = await store.grantLease(2);
      await store.put(`${p}a`, '1', { lease: lease.id });
      await store.txn({ compare: [], success: [{ type: 'put', key: `${p}b`, value: '2', lease: lease.id }] });
      const until3s = Date.now() + lease.ttlSeconds * 1000 + 1500;
      while (Date.now() < until3s) {
        await other.keepAlive(lease.id);
        await new Promise((r) => setTimeout(r, 400));
      }
      assert.deepEqual((await store.range(p)).kvs.map((kv) => kv.key), [`${p}a`, `${p}b`], 'renewed past its TTL, the lease holds');
      const w = await record(other, p, 0);
      await store.revokeLease(lease.id);
      assert.deepEqual((await store.range(p)).kvs, []);
      await until('the delete events', () => w.events().length === 2);
      assert.equal(w.batches.length, 1, 'a revoke deletes its keys at one revision');
      await store.revokeLease(lease.id); // again: already gone, fine
      await rejectsWith(store.keepAlive(lease.id), 'SY_NOT_FOUND');
      await w.cancel();
    });

    it('fails every call with SY_STORE once closed, and closing twice is fine', async () => {
      const s = await factory.open();
      const p = uniquePrefix();
      await s.put(`${p}a`, '1');
      const w = await record(s, p, 0);
      await s.close();
      await s.close();
      await rejectsWith(s.get(`${p}a`), 'SY_STORE');
      await rejectsWith(s.put(`${p}a`, '2'), 'SY_STORE');
      await rejectsWith(s.range(p), 'SY_STORE');
      await store.put(`${p}b`, 'after close');
      await until('the write to land', async () => (await store.get(`${p}b`)) !== undefined);
      assert.deepEqual(w.events(), [], 'a closed store delivers nothing');
      assert.equal((await store.get(`${p}a`))?.value, '1');
    });
  });
}
