/**
 * What a resource kind's own checks may do during one write attempt: look up what a reference points
 * at (as the writer's tenant sees it), claim an address or a binding in the store, take the lowest free
 * address of a range, and refuse to drop something others still refer to. Everything goes through the
 * attempt's TxnContext, so the checks still hold when the write lands.
 */
import { SyError, type ErrorCode } from '../errors.js';
import { firstFreeInRanges } from './allocation.js';
import type { ChildDoc, Claim, ResourceDoc, ResourceKind, StoredRecord } from './kind.js';
import { backrefParts, backrefsTo, refverKey, resourceKey } from './keys.js';
import type { TxnContext } from './txn-context.js';

export interface Target {
  kind: ResourceKind;
  record: StoredRecord;
  /** the resource, or the child the reference names */
  target: ResourceDoc | ChildDoc;
}

/** "/virtualNetworks/v1/subnets/s1" → its parts; undefined when it is not shaped like a reference. */
export function parseRef(ref: string): { collection: string; id: string; child?: string; childId?: string } | undefined {
  const p = ref.split('/');
  if (p[0] !== '' || (p.length !== 3 && p.length !== 5) || p.slice(1).some((x) => x === '')) return undefined;
  return p.length === 3 ? { collection: p[1]!, id: p[2]! } : { collection: p[1]!, id: p[2]!, child: p[3]!, childId: p[4]! };
}

/** The top-level resource a ref is or is part of (`/virtualNetworks/v1/subnets/s1` → `/virtualNetworks/v1`). */
export function ownerRef(ref: string): string | undefined {
  const p = parseRef(ref);
  return p ? `/${p.collection}/${p.id}` : undefined;
}

/** Ranges up to this size are scanned for their lowest free number even when sparse is asked for. */
const SCAN_BELOW = 4096;
/** Random probes before a sparse allocation falls back to the scan (a pool ≥ 90% full fails most). */
const PROBES = 16;

export class CheckContext {
  /** what this write holds once it lands */
  readonly claims: Claim[] = [];

  constructor(
    readonly txn: TxnContext,
    /** the document being written; checks may fill in what they allocate */
    readonly doc: ResourceDoc,
    readonly prev: StoredRecord | undefined,
    private readonly kinds: ReadonlyMap<string, ResourceKind>,
  ) {}

  /** What `ref` points at as the writer's tenant sees it; undefined when missing or another tenant's. */
  async lookup(ref: string): Promise<Target | undefined> {
    const p = parseRef(ref);
    const kind = p && this.kinds.get(p.collection);
    if (!p || !kind) return undefined;
    let record: StoredRecord;
    if (ownerRef(ref) === this.doc.resourceRef) {
      // a reference between children of the document being written (a rule to its frontend) is to this version of it
      record = { doc: this.doc, claims: this.claims, refs: [] };
    } else {
      const kv = await this.txn.get(resourceKey(p.collection, p.id));
      if (!kv) return undefined;
      record = JSON.parse(kv.value) as StoredRecord;
    }
    // provider resources are shared; a tenant's resource is visible to its own tenant's resources only
    if (!kind.adminOnly && record.doc.resourceMetadata.tenantId !== this.doc.resourceMetadata.tenantId) return undefined;
    if (!p.child) return { kind, record, target: record.doc };
    const children = record.doc.properties[p.child];
    const child = Array.isArray(children) ? (children as ChildDoc[]).find((c) => c.resourceId === p.childId) : undefined;
    return child ? { kind, record, target: child } : undefined;
  }

  /** Like lookup, for a reference the engine has checked already. */
  async resolve(ref: string, field: string): Promise<Target> {
    const t = await this.lookup(ref);
    if (!t) throw new SyError('SY_BAD_REQUEST', `${field}: "${ref}" does not exist`);
    return t;
  }

  /**
   * Holds `key` for `owner` (e.g. a static IP for an ipConfiguration). Another resource holding it is a
   * 409 with `taken`'s message; this resource holding it already (a replace) is fine.
   */
  async claim(key: string, owner: string, taken: (holder: string) => string, code: ErrorCode = 'SY_ADDRESS_IN_USE'): Promise<void> {
    const pending = this.claims.find((c) => c.key === key);
    if (pending) {
      if (pending.owner === owner) return;
      throw new SyError(code, taken(pending.owner));
    }
    const kv = await this.txn.get(key);
    const ours = this.prev?.claims.some((c) => c.key === key);
    if (kv && !ours) throw new SyError(code, taken(kv.value));
    this.claims.push({ key, owner });
  }

  /**
   * Claims a number of `ranges` whose key (`keyOf`, under `prefix`, hex-suffixed) nobody holds: the
   * lowest free one, or with `sparse` (and ranges larger than SCAN_BELOW) a random free one, found by
   * probing single keys instead of reading every claim under prefix: with 100,000 NICs holding MACs
   * the scan would read them all on every allocation, and concurrent allocations would all reach for
   * the same lowest one. Undefined when all are taken.
   */
  async allocate(prefix: string, keyOf: (n: number) => string, ranges: { first: number; last: number }[], owner: string, sparse = false): Promise<number | undefined> {
    const size = ranges.reduce((a, r) => a + r.last - r.first + 1, 0);
    if (sparse && size > SCAN_BELOW) {
      for (let i = 0; i < PROBES; i++) {
        let k = Math.floor(Math.random() * size);
        const r = ranges.find((x) => (k <= x.last - x.first ? true : ((k -= x.last - x.first + 1), false)))!;
        const key = keyOf(r.first + k);
        if (this.claims.some((c) => c.key === key) || (await this.txn.get(key))) continue;
        this.claims.push({ key, owner });
        return r.first + k;
      }
      // mostly full: the scan below finds what is left, or that nothing is
    }
    const taken = new Set<number>();
    for (const kv of await this.txn.range(prefix)) taken.add(parseInt(kv.key.slice(prefix.length), 16));
    for (const c of this.claims) if (c.key.startsWith(prefix)) taken.add(parseInt(c.key.slice(prefix.length), 16));
    const n = firstFreeInRanges(ranges, taken);
    if (n === undefined) return undefined;
    const key = keyOf(n);
    this.txn.expectAbsent(key);
    this.claims.push({ key, owner });
    return n;
  }

  /** Refuses (409, listing them) when resources other than this one refer to `ref`. */
  async assertUnreferenced(ref: string, what: string): Promise<void> {
    await this.txn.get(refverKey(ref));
    const own = this.doc.resourceRef;
    const users = (await this.txn.range(backrefsTo(ref)))
      .map((kv) => backrefParts(kv.key).source)
      .filter((s) => s !== own && !s.startsWith(`${own}/`));
    if (users.length) {
      const shown = users.slice(0, 20).join(', ');
      throw new SyError('SY_IN_USE', `${what}: "${ref}" is still referenced by ${shown}${users.length > 20 ? ` and ${users.length - 20} more` : ''}`);
    }
  }
}
