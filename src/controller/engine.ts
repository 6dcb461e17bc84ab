/**
 * The resource engine: GET, list, PUT (idempotent full replace) and DELETE of any kind, at a
 * top-level URL or at a child's own URL, with everything common to all kinds done once: tenants,
 * etag preconditions, references and back references, address claims and their release, the audit
 * record. Each write is one txn made by withRetries, so replicas on one store stay correct. A child
 * written at its own URL is a write of its parent with that child replaced: the two views cannot
 * disagree, and the child's etag is its parent's.
 */
import { SyError } from '../errors.js';
import { recordChange } from './audit.js';
import type { Principal } from './auth.js';
import { CheckContext, parseRef } from './check-context.js';
import { buildDoc, checkPreconditions, viewOf, type PutBody, type ReadState } from './document.js';
import type { ChildDoc, Props, ResourceKind, StoredRecord } from './kind.js';
import { backrefKey, backrefParts, backrefsUnder, collectionPrefix, refverKey, resourceKey, statusKey, statusPrefix } from './keys.js';
import { collectRefs } from './references.js';
import type { KeyValue, Store } from './store/store.js';
import { withRetries, type TxnContext } from './txn-context.js';

export interface Preconditions {
  ifMatch?: string;
  ifNoneMatch?: string;
}

/** A path below /networking/v1: a collection, a resource, a child collection or a child. */
export interface Target {
  kind: ResourceKind;
  id: string;
  child?: string;
  childId?: string;
}

export interface WriteResult {
  body: Props;
  created: boolean;
}

export class Engine {
  readonly kinds: ReadonlyMap<string, ResourceKind>;

  constructor(
    readonly store: Store,
    kinds: readonly ResourceKind[],
  ) {
    this.kinds = new Map(kinds.map((k) => [k.collection, k]));
  }

  /** A tenant may not touch provider collections at all (no resource's existence is told by that). */
  admit(who: Principal, kind: ResourceKind): void {
    // (api.ts keeps host tokens on their southbound routes; this keeps the engine closed to them too)
    if (who.role === 'host') throw new SyError('SY_FORBIDDEN', 'A host token may use the southbound API only');
    if (kind.adminOnly && who.role !== 'admin') throw new SyError('SY_FORBIDDEN', `Only admin tokens may use ${kind.collection}`);
  }

  private visible(who: Principal, rec: StoredRecord): boolean {
    return who.role === 'admin' || (who.role === 'tenant' && rec.doc.resourceMetadata.tenantId === who.tenant);
  }

  private notFound(t: Target): SyError {
    const ref = `/${t.kind.collection}/${t.id}${t.child ? `/${t.child}${t.childId ? `/${t.childId}` : ''}` : ''}`;
    return new SyError('SY_NOT_FOUND', `No resource "${ref}"`);
  }

  /** The stored record, if it exists and `who` may see it. */
  private async read(who: Principal, t: Target, get: (key: string) => Promise<KeyValue | undefined>): Promise<{ kv: KeyValue; rec: StoredRecord } | undefined> {
    const kv = await get(resourceKey(t.kind.collection, t.id));
    if (!kv) return undefined;
    const rec = JSON.parse(kv.value) as StoredRecord;
    return this.visible(who, rec) ? { kv, rec } : undefined;
  }

  /** The collection as `who` sees it, and the store revision it was read at (watch from revision + 1 to miss nothing). */
  async list(who: Principal, kind: ResourceKind): Promise<{ value: Props[]; revision: number }> {
    this.admit(who, kind);
    const prefix = `/${kind.collection}`;
    const [{ kvs, revision }, state] = await Promise.all([this.store.range(collectionPrefix(kind.collection)), this.readState(kind, prefix, true)]);
    const value: Props[] = [];
    for (const kv of kvs) {
      const rec = JSON.parse(kv.value) as StoredRecord;
      if (this.visible(who, rec)) value.push(viewOf(kind, rec.doc, kv.modRevision, state));
    }
    return { value, revision };
  }

  /**
   * A stored resource (a key under collectionPrefix) as `who` would GET it, or undefined when `who`
   * may not see it: what the watch stream sends for a put.
   */
  async viewOfStored(who: Principal, kind: ResourceKind, kv: KeyValue): Promise<Props | undefined> {
    if (kind.adminOnly && who.role !== 'admin') return undefined;
    const rec = JSON.parse(kv.value) as StoredRecord;
    if (!this.visible(who, rec)) return undefined;
    return viewOf(kind, rec.doc, kv.modRevision, await this.readState(kind, rec.doc.resourceRef, false));
  }

  /** Whether `who` may see the stored resource (a stored record's JSON). */
  maySee(who: Principal, kind: ResourceKind, value: string): boolean {
    if (kind.adminOnly && who.role !== 'admin') return false;
    return this.visible(who, JSON.parse(value) as StoredRecord);
  }

  /** GET of a resource, a child, or (childId undefined) a child collection. */
  async get(who: Principal, t: Target): Promise<Props> {
    this.admit(who, t.kind);
    const found = await this.read(who, t, (k) => this.store.get(k));
    if (!found) throw this.notFound(t);
    const { kv, rec } = found;
    const state = await this.readState(t.kind, rec.doc.resourceRef, false);
    if (!t.child) return viewOf(t.kind, rec.doc, kv.modRevision, state);
    const view = viewOf(t.kind, rec.doc, kv.modRevision, state);
    const children = (view.properties as Props)[t.child] as Props[];
    if (t.childId === undefined) return { value: children };
    const child = children.find((c) => c.resourceId === t.childId);
    if (!child) throw this.notFound(t);
    return child;
  }

  /**
   * Back references and host reports for what lies under `ref` (a resource, or with `many` a whole
   * collection): one range each, not one read per child.
   */
  private async readState(kind: ResourceKind, ref: string, many: boolean): Promise<ReadState> {
    const wantsBackRefs = kind.children.some((c) => c.backRefs);
    const [refs, status, own] = await Promise.all([
      wantsBackRefs ? this.store.range(backrefsUnder(ref)) : undefined,
      this.store.range(statusPrefix(ref)),
      many ? undefined : this.store.get(statusKey(ref)),
    ]);
    const back = new Map<string, string[]>();
    for (const kv of refs?.kvs ?? []) {
      const { target, source } = backrefParts(kv.key);
      const ck = kind.children.find((c) => c.name === parseRef(target)?.child);
      if (!ck?.backRefs || parseRef(source)?.child !== ck.backRefs.from) continue;
      back.set(target, [...(back.get(target) ?? []), source]);
    }
    const reports = new Map<string, unknown>();
    for (const kv of [...status.kvs, ...(own ? [own] : [])]) reports.set(kv.key.slice('/nc/status'.length), JSON.parse(kv.value));
    return { backRefs: (r) => back.get(r) ?? [], configurationState: (r) => reports.get(r) };
  }

  /** PUT of a resource (body: the whole document) or of one child (body: the child). */
  async put(who: Principal, t: Target, body: PutBody | Props, pre: Preconditions): Promise<WriteResult> {
    this.admit(who, t.kind);
    const ref = `/${t.kind.collection}/${t.id}${t.child ? `/${t.child}/${t.childId}` : ''}`;
    const { result, revision } = await withRetries(
      this.store,
      async (txn) => {
        const found = await this.read(who, t, (k) => txn.get(k));
        const prev = found?.rec;
        // someone else's resource of that id is "not found" to a tenant: a create must not tell it exists
        if (!found && (await txn.get(resourceKey(t.kind.collection, t.id)))) throw this.notFound(t);
        let whole: PutBody;
        if (t.child) {
          if (!prev) throw this.notFound({ kind: t.kind, id: t.id });
          const siblings = (prev.doc.properties[t.child] ?? []) as ChildDoc[];
          const exists = siblings.some((c) => c.resourceId === t.childId);
          // a child's etag is its parent's; If-Match needs the child to exist, If-None-Match only matters if it does
          if (pre.ifMatch !== undefined) checkPreconditions({ ifMatch: pre.ifMatch }, exists ? found.kv.modRevision : undefined, ref);
          if (pre.ifNoneMatch !== undefined && exists) checkPreconditions({ ifNoneMatch: pre.ifNoneMatch }, found.kv.modRevision, ref);
          const child = { ...(body as Props), resourceId: t.childId } as ChildDoc;
          if ((body as Props).resourceId !== undefined && (body as Props).resourceId !== t.childId) {
            throw new SyError('SY_BAD_REQUEST', `/resourceId: "${String((body as Props).resourceId)}" differs from the URL's "${t.childId}"`);
          }
          const children = exists ? siblings.map((c) => (c.resourceId === t.childId ? child : c)) : [...siblings, child];
          whole = { ...prev.doc, properties: { ...prev.doc.properties, [t.child]: children } } as PutBody;
        } else {
          checkPreconditions(pre, found?.kv.modRevision, ref);
          whole = body as PutBody;
        }
        return this.write(txn, who, t, whole, prev, found?.kv.modRevision, ref, 'PUT');
      },
      `PUT ${ref}`,
    );
    // unchanged: the stored etag; else the revision the txn landed at
    const rev = result.revision ?? revision!;
    const state = await this.readState(t.kind, result.rec.doc.resourceRef, false);
    const view = viewOf(t.kind, result.rec.doc, rev, state);
    if (!t.child) return { body: view, created: result.created };
    const child = ((view.properties as Props)[t.child] as Props[]).find((c) => c.resourceId === t.childId)!;
    return { body: child, created: result.created };
  }

  /** The checks and ops of one write attempt of a whole resource. */
  private async write(txn: TxnContext, who: Principal, t: Target, body: PutBody, prev: StoredRecord | undefined, prevRevision: number | undefined, ref: string, method: 'PUT' | 'DELETE') {
    const doc = buildDoc(t.kind, t.id, body, prev?.doc, who);
    const ctx = new CheckContext(txn, doc, prev, this.kinds);
    const refs = collectRefs(t.kind, doc);
    for (const r of refs) if (!(await ctx.lookup(r.target))) throw new SyError('SY_BAD_REQUEST', `${r.field}: "${r.target}" does not exist`);
    await t.kind.check(ctx);
    for (const ck of t.kind.children) {
      const now = new Set(((doc.properties[ck.name] ?? []) as ChildDoc[]).map((c) => c.resourceRef));
      for (const c of (prev?.doc.properties[ck.name] ?? []) as ChildDoc[]) {
        if (!now.has(c.resourceRef)) await ctx.assertUnreferenced(c.resourceRef, `Cannot remove ${c.resourceRef}`);
      }
    }
    const rec: StoredRecord = { doc, claims: ctx.claims, refs };
    const created = !prev;
    const childCreated = t.child !== undefined && !((prev?.doc.properties[t.child] ?? []) as ChildDoc[]).some((c) => c.resourceId === t.childId);
    // the same document again (key order aside: a GET written back lists fields in another order) writes nothing
    if (prev && canonical(prev) === canonical(rec)) return { rec: prev, created: false, revision: prevRevision };
    txn.put(resourceKey(t.kind.collection, t.id), JSON.stringify(rec));
    const held = new Map((prev?.claims ?? []).map((c) => [c.key, c.owner]));
    for (const c of rec.claims) if (held.get(c.key) !== c.owner) txn.put(c.key, c.owner);
    const keep = new Set(rec.claims.map((c) => c.key));
    for (const c of prev?.claims ?? []) if (!keep.has(c.key)) txn.delete(c.key);
    const had = new Set((prev?.refs ?? []).map((r) => backrefKey(r.target, r.source)));
    const has = new Set(refs.map((r) => backrefKey(r.target, r.source)));
    for (const r of refs) {
      if (had.has(backrefKey(r.target, r.source))) continue;
      txn.put(backrefKey(r.target, r.source), '');
      txn.put(refverKey(r.target), r.source);
    }
    for (const r of prev?.refs ?? []) if (!has.has(backrefKey(r.target, r.source))) txn.delete(backrefKey(r.target, r.source));
    recordChange(txn, who, method, ref, prevRevision, false);
    return { rec, created: t.child ? childCreated : created, revision: undefined };
  }

  /** DELETE of a resource (and its children) or of one child. */
  async delete(who: Principal, t: Target, pre: Preconditions): Promise<void> {
    this.admit(who, t.kind);
    const ref = `/${t.kind.collection}/${t.id}${t.child ? `/${t.child}/${t.childId}` : ''}`;
    await withRetries(
      this.store,
      async (txn) => {
        const found = await this.read(who, t, (k) => txn.get(k));
        if (!found) throw this.notFound(t);
        const { kv, rec } = found;
        if (t.child) {
          const siblings = (rec.doc.properties[t.child] ?? []) as ChildDoc[];
          if (!siblings.some((c) => c.resourceId === t.childId)) throw this.notFound(t);
          checkPreconditions(pre, kv.modRevision, ref);
          const whole = { ...rec.doc, properties: { ...rec.doc.properties, [t.child]: siblings.filter((c) => c.resourceId !== t.childId) } } as PutBody;
          await this.write(txn, who, { kind: t.kind, id: t.id }, whole, rec, kv.modRevision, ref, 'DELETE');
          txn.delete(statusKey(ref));
          return;
        }
        checkPreconditions(pre, kv.modRevision, ref);
        const ctx = new CheckContext(txn, rec.doc, rec, this.kinds);
        await ctx.assertUnreferenced(ref, `Cannot delete ${ref}`);
        await t.kind.checkDelete?.(ctx);
        for (const ck of t.kind.children) {
          for (const c of (rec.doc.properties[ck.name] ?? []) as ChildDoc[]) await ctx.assertUnreferenced(c.resourceRef, `Cannot delete ${ref}`);
        }
        txn.delete(resourceKey(t.kind.collection, t.id));
        for (const c of rec.claims) txn.delete(c.key);
        for (const r of rec.refs) txn.delete(backrefKey(r.target, r.source));
        txn.delete(refverKey(ref));
        txn.deletePrefix(refverKey(`${ref}/`));
        txn.delete(statusKey(ref));
        txn.deletePrefix(statusPrefix(ref));
        recordChange(txn, who, 'DELETE', ref, kv.modRevision, true);
      },
      `DELETE ${ref}`,
    );
  }
}

/** JSON with object keys sorted: equal for documents that differ only in key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Props).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}
