/**
 * The embedded store backend: the whole controller state in one SQLite file (better-sqlite3), with
 * etcd's semantics (see store.ts). A `meta` row holds the store-wide revision; every write runs in
 * one IMMEDIATE transaction that bumps it once and appends its events to a `changelog` table, which is
 * what watches replay from: a watch from an old revision reads the changelog from there on, and
 * compaction deletes changelog rows below a revision.
 *
 * - WAL mode with synchronous=FULL: a write is acknowledged only after its WAL frame is fsynced, as
 *   etcd acknowledges only what is in its fsynced raft log. NORMAL would survive a process crash but
 *   could lose the last commits on power loss, and the controller tells hosts to act on what it
 *   acknowledged. The price is one fsync per commit; controller writes are few and small.
 * - Several Store objects (in one process or in several) may open the same file: SQLite serialises
 *   the writers (busy_timeout) and every write re-reads the revision inside its transaction. Watches are
 *   fed right after a commit by this object, and a cheap poll (one indexed read of the revision, every
 *   `pollMs` while a watch is open) catches commits made through other objects. Supporting that costs
 *   little and keeps a second `switchyard` process (a CLI reading state, a restarted controller whose
 *   predecessor has not exited yet) correct instead of silently stale.
 * - Leases live in the file with their expiry as wall-clock milliseconds; a sweep timer (every
 *   `sweepMs`) deletes the keys of expired leases as one ordinary revisioned delete per lease, so
 *   watchers see them go. Any object that has the file open may sweep; the sweep re-checks expiry
 *   inside its transaction, so two sweepers never delete twice.
 * better-sqlite3 is synchronous: each call blocks the event loop for the length of one statement or
 * transaction (micro- to milliseconds here), which is why it beats an async driver's round trips;
 * a write waiting for another process's write lock blocks it for up to `busyTimeoutMs` too.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SyError } from '../../errors.js';
import {
  checkKey,
  checkLeaseId,
  checkPrefix,
  checkRangeOptions,
  checkRevision,
  checkTtl,
  checkTxn,
  checkValue,
  checkWatch,
  compareKeys,
  handlerFailed,
  prefixEndString,
} from './checks.js';
import type {
  Compare,
  KeyValue,
  Lease,
  Op,
  RangeOptions,
  RangeResult,
  Store,
  Txn,
  TxnResult,
  Watch,
  WatchEvent,
  WatchHandlers,
} from './store.js';

export interface SqliteStoreOptions {
  /** how often to look for commits made through other Store objects while a watch is open (ms) */
  pollMs?: number;
  /** how often to look for expired leases (ms) */
  sweepMs?: number;
  /** how long a write waits for another writer of the same file before it fails (ms) */
  busyTimeoutMs?: number;
}

/** Bumped when the schema changes in a way an older Switchyard cannot read. */
const SCHEMA_VERSION = 1;
/** Changelog rows read per step of a watch replay: bounds memory when a watch starts far back. */
const REPLAY_CHUNK = 2000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 1), ('compacted', 0);
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY, value TEXT NOT NULL,
  create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_by_lease ON kv (lease) WHERE lease IS NOT NULL;
CREATE TABLE IF NOT EXISTS changelog (
  rev INTEGER NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  create_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease TEXT,
  prev_value TEXT, prev_create_rev INTEGER, prev_mod_rev INTEGER, prev_version INTEGER, prev_lease TEXT,
  PRIMARY KEY (rev, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease (id TEXT PRIMARY KEY, ttl INTEGER NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
`;

interface KvRow {
  key: string;
  value: string;
  create_rev: number;
  mod_rev: number;
  version: number;
  lease: string | null;
}

interface ChangeRow {
  rev: number;
  seq: number;
  type: 'put' | 'delete';
  key: string;
  value: string;
  create_rev: number;
  version: number;
  lease: string | null;
  prev_value: string | null;
  prev_create_rev: number | null;
  prev_mod_rev: number | null;
  prev_version: number | null;
  prev_lease: string | null;
}

interface Watcher {
  prefix: string;
  /** the next revision this watcher has not seen */
  next: number;
  handlers: WatchHandlers;
  done: boolean;
}

function toKv(r: KvRow): KeyValue {
  const kv: KeyValue = { key: r.key, value: r.value, createRevision: r.create_rev, modRevision: r.mod_rev, version: r.version };
  if (r.lease !== null) kv.lease = r.lease;
  return kv;
}

function toEvent(r: ChangeRow): WatchEvent {
  const kv: KeyValue =
    r.type === 'put'
      ? { key: r.key, value: r.value, createRevision: r.create_rev, modRevision: r.rev, version: r.version }
      : { key: r.key, value: '', createRevision: 0, modRevision: r.rev, version: 0 };
  if (r.type === 'put' && r.lease !== null) kv.lease = r.lease;
  const ev: WatchEvent = { type: r.type, kv };
  if (r.prev_value !== null) {
    const prev: KeyValue = {
      key: r.key,
      value: r.prev_value,
      createRevision: r.prev_create_rev ?? 0,
      modRevision: r.prev_mod_rev ?? 0,
      version: r.prev_version ?? 0,
    };
    if (r.prev_lease !== null) prev.lease = r.prev_lease;
    ev.prevKv = prev;
  }
  return ev;
}

function holds(c: Compare, kv: KeyValue | undefined): boolean {
  if (c.target === 'value') {
    // As etcd: a compare on the value of a missing key fails, whichever the op.
    if (kv === undefined) return false;
    return c.op === '=' ? kv.value === c.value : kv.value !== c.value;
  }
  const actual = kv === undefined ? 0 : kv[c.target];
  switch (c.op) {
    case '=':
      return actual === c.value;
    case '!=':
      return actual !== c.value;
    case '<':
      return actual < c.value;
    case '>':
      return actual > c.value;
  }
}

function storeError(path: string, err: unknown): SyError {
  if (err instanceof SyError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new SyError('SY_STORE', `SQLite store "${path}": ${msg}`);
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly watchers = new Set<Watcher>();
  private readonly pollTimer: NodeJS.Timeout;
  private readonly sweepTimer: NodeJS.Timeout;
  private pumpScheduled = false;
  /** the revision the watchers were last fed up to (to make the poll one cheap read) */
  private pumpedTo = 0;
  private closed = false;

  private readonly q: ReturnType<SqliteStore['prepare']>;

  private constructor(
    readonly path: string,
    opts: SqliteStoreOptions,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000 });
    try {
      // journal_mode=WAL is persistent in the file; the others are per connection.
      const mode = this.db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`cannot switch the journal to WAL (it is "${String(mode)}")`);
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = OFF');
      this.db.transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        if (version > SCHEMA_VERSION) {
          throw new Error(`the file has schema version ${version}, newer than this Switchyard's ${SCHEMA_VERSION}`);
        }
        this.db.exec(SCHEMA);
        this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
      this.q = this.prepare();
    } catch (e) {
      this.db.close();
      throw storeError(path, e);
    }
    this.pumpedTo = this.q.revision.pluck().get() as number;
    this.pollTimer = setInterval(() => this.poll(), opts.pollMs ?? 50);
    this.sweepTimer = setInterval(() => this.sweepLeases(), opts.sweepMs ?? 200);
    // A store left open must not keep the process alive on its own; its owner's server does that.
    this.pollTimer.unref();
    this.sweepTimer.unref();
  }

  /** Opens (creating if need be) the store file at path. */
  static async open(path: string, opts: SqliteStoreOptions = {}): Promise<SqliteStore> {
    try {
      return new SqliteStore(path, opts);
    } catch (e) {
      throw storeError(path, e);
    }
  }

  private prepare() {
    const db = this.db;
    return {
      revision: db.prepare("SELECT value FROM meta WHERE name = 'revision'"),
      compacted: db.prepare("SELECT value FROM meta WHERE name = 'compacted'"),
      setMeta: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
      get: db.prepare('SELECT * FROM kv WHERE key = ?'),
      upsert: db.prepare(
        'INSERT INTO kv (key, value, create_rev, mod_rev, version, lease) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev, ' +
          'version = excluded.version, lease = excluded.lease',
      ),
      del: db.prepare('DELETE FROM kv WHERE key = ?'),
      // Four shapes of range: inclusive or exclusive start, with or without an end bound.
      rangeFrom: db.prepare('SELECT * FROM kv WHERE key >= ? ORDER BY key LIMIT ?'),
      rangeFromTo: db.prepare('SELECT * FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?'),
      rangeAfter: db.prepare('SELECT * FROM kv WHERE key > ? ORDER BY key LIMIT ?'),
      rangeAfterTo: db.prepare('SELECT * FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?'),
      keysFrom: db.prepare('SELECT key FROM kv WHERE key >= ? ORDER BY key'),
      keysFromTo: db.prepare('SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key'),
      keysOfLease: db.prepare('SELECT key FROM kv WHERE lease = ? ORDER BY key'),
      log: db.prepare(
        'INSERT INTO changelog (rev, seq, type, key, value, create_rev, version, lease, ' +
          'prev_value, prev_create_rev, prev_mod_rev, prev_version, prev_lease) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      changes: db.prepare('SELECT * FROM changelog WHERE rev >= ? AND rev <= ? ORDER BY rev, seq LIMIT ?'),
      changesOf: db.prepare('SELECT * FROM changelog WHERE rev = ? ORDER BY seq'),
      compact: db.prepare('DELETE FROM changelog WHERE rev < ?'),
      lease: db.prepare('SELECT * FROM lease WHERE id = ?'),
      grant: db.prepare('INSERT INTO lease (id, ttl, expires_ms) VALUES (?, ?, ?)'),
      renew: db.prepare('UPDATE lease SET expires_ms = ? * 1000 + ? WHERE id = ? AND expires_ms > ?'),
      dropLease: db.prepare('DELETE FROM lease WHERE id = ?'),
      expired: db.prepare('SELECT id FROM lease WHERE expires_ms <= ?'),
    };
  }

  private live(): void {
    if (this.closed) throw new SyError('SY_STORE', `SQLite store "${this.path}" is closed`);
  }

  /** Runs fn in one IMMEDIATE transaction (the write lock taken up front, so no upgrade deadlock). */
  private write<T>(fn: () => T): T {
    this.live();
    try {
      const out = this.db.transaction(fn).immediate();
      this.schedulePump();
      return out;
    } catch (e) {
      throw storeError(this.path, e);
    }
  }

  private read<T>(fn: () => T): T {
    this.live();
    try {
      return this.db.transaction(fn).deferred();
    } catch (e) {
      throw storeError(this.path, e);
    }
  }

  private current(): number {
    return this.q.revision.pluck().get() as number;
  }

  private getKv(key: string): KeyValue | undefined {
    const r = this.q.get.get(key) as KvRow | undefined;
    return r === undefined ? undefined : toKv(r);
  }

  /**
   * A batch of writes at one revision (inside write()): `rev` is the revision they get, `seq` numbers
   * their events. The revision is stored only if something was written.
   */
  private batch() {
    const rev = this.current() + 1;
    let seq = 0;
    const now = Date.now();
    const put = (key: string, value: string, lease: string | undefined): void => {
      if (lease !== undefined) {
        const l = this.q.lease.get(lease) as { expires_ms: number } | undefined;
        if (l === undefined || l.expires_ms <= now) {
          throw new SyError('SY_NOT_FOUND', `Cannot put "${key}" with lease "${lease}": the lease has expired or does not exist`);
        }
      }
      const prev = this.getKv(key);
      const createRev = prev?.createRevision ?? rev;
      const version = (prev?.version ?? 0) + 1;
      this.q.upsert.run(key, value, createRev, rev, version, lease ?? null);
      this.q.log.run(rev, seq++, 'put', key, value, createRev, version, lease ?? null,
        prev?.value ?? null, prev?.createRevision ?? null, prev?.modRevision ?? null, prev?.version ?? null, prev?.lease ?? null);
    };
    const del = (key: string): boolean => {
      const prev = this.getKv(key);
      if (prev === undefined) return false;
      this.q.del.run(key);
      this.q.log.run(rev, seq++, 'delete', key, '', 0, 0, null,
        prev.value, prev.createRevision, prev.modRevision, prev.version, prev.lease ?? null);
      return true;
    };
    const delPrefix = (prefix: string): number => {
      const end = prefixEndString(prefix);
      const keys = (end === undefined ? this.q.keysFrom.pluck().all(prefix) : this.q.keysFromTo.pluck().all(prefix, end)) as string[];
      for (const k of keys) del(k);
      return keys.length;
    };
    /** stores the new revision if the batch wrote anything; returns the revision after it */
    const finish = (): number => {
      if (seq === 0) return rev - 1;
      this.q.setMeta.run(rev, 'revision');
      return rev;
    };
    return { put, del, delPrefix, finish, get: (key: string) => this.getKv(key) };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    return this.read(() => this.getKv(key));
  }

  async range(prefix: string, opts?: RangeOptions): Promise<RangeResult> {
    checkPrefix(prefix);
    const { limit, after } = checkRangeOptions(opts);
    const end = prefixEndString(prefix);
    // One more row than asked for tells whether more follow; -1 is SQLite's "no limit".
    const n = limit === undefined ? -1 : limit + 1;
    const exclusive = after !== undefined && compareKeys(after, prefix) >= 0;
    return this.read(() => {
      let rows: KvRow[];
      if (exclusive) {
        rows = (end === undefined ? this.q.rangeAfter.all(after, n) : this.q.rangeAfterTo.all(after, end, n)) as KvRow[];
      } else {
        rows = (end === undefined ? this.q.rangeFrom.all(prefix, n) : this.q.rangeFromTo.all(prefix, end, n)) as KvRow[];
      }
      const more = limit !== undefined && rows.length > limit;
      if (more) rows.pop();
      return { kvs: rows.map(toKv), revision: this.current(), more };
    });
  }

  async put(key: string, value: string, opts?: { lease?: string }): Promise<number> {
    checkKey(key);
    checkValue(value);
    const lease = opts?.lease === undefined ? undefined : checkLeaseId(opts.lease);
    return this.write(() => {
      const b = this.batch();
      b.put(key, value, lease);
      return b.finish();
    });
  }

  async delete(key: string): Promise<{ revision: number; deleted: boolean }> {
    checkKey(key);
    return this.write(() => {
      const b = this.batch();
      const deleted = b.del(key);
      return { revision: b.finish(), deleted };
    });
  }

  async txn(t: Txn): Promise<TxnResult> {
    const { compare, success, failure } = checkTxn(t);
    return this.write(() => {
      const b = this.batch();
      const succeeded = compare.every((c) => holds(c, b.get(c.key)));
      const results = (succeeded ? success : failure).map((op: Op): KeyValue | undefined => {
        switch (op.type) {
          case 'put':
            b.put(op.key, op.value, op.lease);
            return undefined;
          case 'delete':
            b.del(op.key);
            return undefined;
          case 'deletePrefix':
            b.delPrefix(op.prefix);
            return undefined;
          case 'get':
            return b.get(op.key);
        }
      });
      return { succeeded, revision: b.finish(), results };
    });
  }

  async revision(): Promise<number> {
    return this.read(() => this.current());
  }

  async compact(revision: number): Promise<void> {
    checkRevision(revision);
    this.write(() => {
      const head = this.current();
      if (revision > head) {
        throw new SyError('SY_BAD_REQUEST', `Cannot compact to revision ${revision}: the store is at revision ${head}`);
      }
      const done = this.q.compacted.pluck().get() as number;
      // Compacting to a point at or before the current one is a no-op, so compaction is idempotent.
      if (revision <= done) return;
      this.q.compact.run(revision);
      this.q.setMeta.run(revision, 'compacted');
    });
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    checkTtl(ttlSeconds);
    // 16 hex digits, the shape of an etcd lease id, so ids look alike whichever backend made them.
    const id = randomBytes(8).toString('hex');
    this.write(() => {
      this.q.grant.run(id, ttlSeconds, Date.now() + ttlSeconds * 1000);
    });
    return { id, ttlSeconds };
  }

  async keepAlive(leaseId: string): Promise<void> {
    checkLeaseId(leaseId);
    const now = Date.now();
    const l = this.read(() => this.q.lease.get(leaseId) as { ttl: number } | undefined);
    const changed = l === undefined ? 0 : this.write(() => this.q.renew.run(l.ttl, now, leaseId, now).changes);
    if (changed === 0) throw new SyError('SY_NOT_FOUND', `Lease "${leaseId}" has expired or does not exist`);
  }

  /** Revokes the lease and deletes its keys at one revision; a lease that is already gone is fine. */
  async revokeLease(leaseId: string): Promise<void> {
    checkLeaseId(leaseId);
    this.write(() => this.revokeInTxn(leaseId));
  }

  private revokeInTxn(leaseId: string): void {
    const b = this.batch();
    for (const key of this.q.keysOfLease.pluck().all(leaseId) as string[]) b.del(key);
    this.q.dropLease.run(leaseId);
    b.finish();
  }

  private sweepLeases(): void {
    if (this.closed) return;
    try {
      const now = Date.now();
      const ids = this.q.expired.pluck().all(now) as string[];
      for (const id of ids) {
        this.write(() => {
          // Another Store object on the same file may have swept or renewed it since the read.
          const l = this.q.lease.get(id) as { expires_ms: number } | undefined;
          if (l !== undefined && l.expires_ms <= now) this.revokeInTxn(id);
        });
      }
    } catch {
      // A busy file (another writer holding the lock past busy_timeout) only delays the sweep: next tick.
    }
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    checkWatch(prefix, fromRevision, handlers);
    const head = await this.revision();
    const w: Watcher = { prefix, next: fromRevision === 0 ? head + 1 : fromRevision, handlers, done: false };
    this.watchers.add(w);
    if (w.next <= head) this.schedulePump();
    return {
      cancel: async () => {
        w.done = true;
        this.watchers.delete(w);
      },
    };
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.watchers.size === 0) return;
    this.pumpScheduled = true;
    // Never call watchers from inside a write: the writer's caller has not even seen its result yet.
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private poll(): void {
    if (this.closed || this.watchers.size === 0) return;
    try {
      if (this.current() > this.pumpedTo) this.pump();
    } catch {
      // A transient read failure (busy file) is retried on the next tick.
    }
  }

  private end(w: Watcher, err: SyError): void {
    w.done = true;
    this.watchers.delete(w);
    w.handlers.onError(err);
  }

  private deliver(w: Watcher, events: WatchEvent[], rev: number): void {
    try {
      w.handlers.onEvents(events, rev);
    } catch (e) {
      // A handler that throws would otherwise miss events silently; end its watch and say why.
      this.end(w, handlerFailed(w.prefix, e));
    }
  }

  /** Feeds every watcher the changelog from the oldest revision one of them has not seen. */
  private pump(): void {
    if (this.closed) return;
    for (;;) {
      const live = [...this.watchers].filter((w) => !w.done);
      if (live.length === 0) return;
      let chunk: { head: number; compacted: number; rows: ChangeRow[] };
      const from = Math.min(...live.map((w) => w.next));
      try {
        chunk = this.read(() => {
          const head = this.current();
          const compacted = this.q.compacted.pluck().get() as number;
          if (from > head) return { head, compacted, rows: [] };
          let rows = this.q.changes.all(from, head, REPLAY_CHUNK) as ChangeRow[];
          if (rows.length === REPLAY_CHUNK) {
            const lastRev = rows[rows.length - 1]!.rev;
            if (rows[0]!.rev === lastRev) {
              rows = this.q.changesOf.all(lastRev) as ChangeRow[]; // one revision bigger than a chunk
            } else {
              rows = rows.filter((r) => r.rev !== lastRev); // the last revision may be cut: next round
            }
          }
          return { head, compacted, rows };
        });
      } catch (e) {
        for (const w of live) this.end(w, storeError(this.path, e));
        return;
      }
      for (const w of live) {
        if (w.next < chunk.compacted) {
          this.end(w, new SyError('SY_COMPACTED', `Cannot watch "${w.prefix}" from revision ${w.next}: the store is compacted up to revision ${chunk.compacted}`));
        }
      }
      if (chunk.rows.length === 0) {
        this.pumpedTo = chunk.head;
        for (const w of this.watchers) w.next = Math.max(w.next, chunk.head + 1);
        return;
      }
      let lastRev = from - 1;
      for (let i = 0; i < chunk.rows.length; ) {
        const rev = chunk.rows[i]!.rev;
        let j = i;
        while (j < chunk.rows.length && chunk.rows[j]!.rev === rev) j++;
        const rows = chunk.rows.slice(i, j);
        for (const w of [...this.watchers]) {
          if (w.done || rev < w.next) continue;
          w.next = rev + 1;
          const events = rows.filter((r) => r.key.startsWith(w.prefix)).map(toEvent);
          if (events.length > 0) this.deliver(w, events, rev);
        }
        lastRev = rev;
        i = j;
      }
      // Revisions with no changelog rows (none exist today) or past the chunk: move on from lastRev.
      for (const w of this.watchers) if (w.next <= lastRev) w.next = lastRev + 1;
      this.pumpedTo = Math.max(this.pumpedTo, lastRev);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.pollTimer);
    clearInterval(this.sweepTimer);
    for (const w of this.watchers) w.done = true;
    this.watchers.clear();
    this.closed = true;
    this.db.close();
  }
}
