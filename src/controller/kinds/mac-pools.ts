/**
 * macPools: the ranges Dynamic NIC MACs come from (and Static ones must lie in); admins only. Pools
 * do not overlap, and a pool cannot shrink away from, or be deleted under, MACs that NICs hold. Every
 * pool write bumps the macPools guard that NIC writes read, so a NIC never takes a MAC from a pool
 * that is changing under it.
 */
import { SyError } from '../../errors.js';
import { formatMac, macRange } from '../allocation.js';
import type { CheckContext } from '../check-context.js';
import type { ResourceKind, StoredRecord } from '../kind.js';
import { collectionPrefix, guardKey, MAC_CLAIMS } from '../keys.js';
import { Properties, Text, TopResource } from '../schema.js';

export const macPools: ResourceKind = {
  collection: 'macPools',
  title: 'MacPool',
  adminOnly: true,
  body: TopResource(Properties({ startMacAddress: Text(32), endMacAddress: Text(32) }), 'A range of MAC addresses for NICs'),
  children: [],

  async check(c) {
    const p = c.doc.properties;
    const mine = macRange(p.startMacAddress as string, p.endMacAddress as string, '/properties');
    await bumpGuard(c);
    for (const kv of await c.txn.range(collectionPrefix('macPools'))) {
      const other = (JSON.parse(kv.value) as StoredRecord).doc;
      if (other.resourceRef === c.doc.resourceRef) continue;
      const r = macRange(other.properties.startMacAddress as string, other.properties.endMacAddress as string, other.resourceRef);
      if (mine.first <= r.last && r.first <= mine.last) throw new SyError('SY_BAD_REQUEST', `/properties: the range overlaps ${other.resourceRef}`);
    }
    const old = c.prev?.doc.properties;
    if (old) {
      const before = macRange(old.startMacAddress as string, old.endMacAddress as string, '/properties');
      await refuseHeld(c, before, (n) => n < mine.first || n > mine.last, 'Cannot shrink the pool');
    }
  },

  async checkDelete(c) {
    const p = c.doc.properties;
    await bumpGuard(c);
    await refuseHeld(c, macRange(p.startMacAddress as string, p.endMacAddress as string, '/properties'), () => true, `Cannot delete ${c.doc.resourceRef}`);
  },
};

async function bumpGuard(c: CheckContext): Promise<void> {
  await c.txn.get(guardKey('macPools'));
  c.txn.put(guardKey('macPools'), c.doc.resourceRef);
}

/** 409 when NICs hold MACs of `range` that `dropped` says would leave the pool. */
async function refuseHeld(c: CheckContext, range: { first: number; last: number }, dropped: (n: number) => boolean, what: string): Promise<void> {
  const held = (await c.txn.range(MAC_CLAIMS))
    .map((kv) => ({ n: parseInt(kv.key.slice(MAC_CLAIMS.length), 16), owner: kv.value }))
    .filter((h) => h.n >= range.first && h.n <= range.last && dropped(h.n));
  if (held.length) {
    const shown = held.slice(0, 10).map((h) => `${formatMac(h.n)} (${h.owner})`);
    throw new SyError('SY_IN_USE', `${what}: NICs hold ${shown.join(', ')}${held.length > 10 ? ` and ${held.length - 10} more` : ''}`);
  }
}
