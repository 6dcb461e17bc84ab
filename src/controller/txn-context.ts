/**
 * One attempt at a write, in the manner of etcd's software transactional memory: every key read
 * through the context becomes a compare on its modRevision, every write is collected as an op, and
 * commit sends them as one txn. If anything read changed meanwhile the txn fails and the caller runs
 * the whole attempt again on fresh reads, so checks made on what was read (a reference exists, an
 * address is free, an etag matches) hold at the revision the write lands at, on any number of replicas.
 * Range reads are not compared (the store cannot compare a prefix): what depends on one compares a
 * single key instead (a claim key's absence, a refver or guard key).
 */
import { SyError } from '../errors.js';
import type { Compare, KeyValue, Op, Store } from './store/store.js';

export class TxnContext {
  private readonly reads = new Map<string, KeyValue | undefined>();
  private readonly compares = new Map<string, Compare>();
  /** by key, the last write of each (etcd refuses a txn that writes one key twice) */
  private readonly writes = new Map<string, Op>();
  private readonly prefixDeletes: Op[] = [];

  constructor(readonly store: Store) {}

  /** Reads a key; the commit fails if it changed (or appeared) in between. */
  async get(key: string): Promise<KeyValue | undefined> {
    if (this.reads.has(key)) return this.reads.get(key);
    const kv = await this.store.get(key);
    this.reads.set(key, kv);
    this.compares.set(key, { key, target: 'modRevision', op: '=', value: kv?.modRevision ?? 0 });
    return kv;
  }

  /** The commit fails if `key` exists by then (a claim of what a range read showed free). */
  expectAbsent(key: string): void {
    if (!this.compares.has(key)) this.compares.set(key, { key, target: 'version', op: '=', value: 0 });
  }

  /** Every key under prefix, not compared (see the file comment). */
  async range(prefix: string): Promise<KeyValue[]> {
    return (await this.store.range(prefix)).kvs;
  }

  put(key: string, value: string): void {
    this.writes.set(key, { type: 'put', key, value });
  }

  delete(key: string): void {
    this.writes.set(key, { type: 'delete', key });
  }

  /** Only for prefixes nothing else in this txn puts under. */
  deletePrefix(prefix: string): void {
    this.prefixDeletes.push({ type: 'deletePrefix', prefix });
  }

  get hasWrites(): boolean {
    return this.writes.size > 0 || this.prefixDeletes.length > 0;
  }

  /** Commits; returns the revision written at, or undefined when something read had changed. */
  async commit(): Promise<number | undefined> {
    const r = await this.store.txn({ compare: [...this.compares.values()], success: [...this.writes.values(), ...this.prefixDeletes] });
    return r.succeeded ? r.revision : undefined;
  }
}

/**
 * Runs `attempt` on fresh contexts until its commit lands (or it decides not to write). Conflicts are
 * expected under contention (50 PUTs claiming addresses from one subnet); a short random pause spreads
 * the retries out. Returns the attempt's result and the revision written at (undefined: no write).
 */
export async function withRetries<T>(
  store: Store,
  attempt: (ctx: TxnContext) => Promise<T>,
  what: string,
): Promise<{ result: T; revision: number | undefined }> {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const ctx = new TxnContext(store);
    const result = await attempt(ctx);
    if (!ctx.hasWrites) return { result, revision: undefined };
    const revision = await ctx.commit();
    if (revision !== undefined) return { result, revision };
    await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 + i * 2)));
  }
  throw new SyError('SY_STORE', `${what}: the store kept changing under this write (${MAX_ATTEMPTS} attempts); try again`);
}

const MAX_ATTEMPTS = 200;
