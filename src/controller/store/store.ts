/**
 * The controller's store: a key-value store with etcd's semantics, so that the embedded backend
 * (SQLite, one file) and the clustered one (etcd) are interchangeable behind one contract
 * (test/controller/store-contract.ts runs the same suite against both).
 *
 * - Every write bumps one store-wide `revision`; each key keeps `createRevision`, `modRevision` and a
 *   `version` (writes since it was created), as etcd does.
 * - `txn` is compare-and-swap: all compares hold → the `success` ops run, else the `failure` ops; either
 *   way in one atomic step at one new revision (a txn that writes nothing does not bump it).
 * - `watch` streams every change under a prefix from a revision on, in revision order, with nothing
 *   skipped; a revision older than the compaction point ends the watch with `SY_COMPACTED`.
 * - Leases: a key put with a lease goes when the lease expires or is revoked (hosts' heartbeats).
 * Keys and values are strings (values are JSON documents in practice). Errors are SyErrors: `SY_STORE`
 * when the backend cannot be reached or refuses (an etcd cluster without quorum), with a message that
 * says so; nothing is half-written when a call fails.
 */

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** 1 on creation, +1 on every put since */
  version: number;
  /** the lease the key is bound to, when it has one */
  lease?: string;
}

/** One condition of a transaction, on one key. A missing key has revisions and version 0 and no value. */
export type Compare =
  | { key: string; target: 'modRevision' | 'createRevision' | 'version'; op: '=' | '!=' | '<' | '>'; value: number }
  | { key: string; target: 'value'; op: '=' | '!='; value: string };

export type Op =
  | { type: 'put'; key: string; value: string; lease?: string }
  | { type: 'delete'; key: string }
  /** every key starting with prefix */
  | { type: 'deletePrefix'; prefix: string }
  | { type: 'get'; key: string };

export interface Txn {
  compare: Compare[];
  success: Op[];
  failure?: Op[];
}

export interface TxnResult {
  succeeded: boolean;
  /** the store's revision after the transaction */
  revision: number;
  /** one entry per op that ran, in order: the key read by a `get` (undefined when missing), else undefined */
  results: (KeyValue | undefined)[];
}

export interface RangeOptions {
  /** at most this many keys, in key order */
  limit?: number;
  /** start after this key (paging) */
  after?: string;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** the store's revision the range was read at: watch from revision + 1 to miss nothing */
  revision: number;
  /** more keys follow the last one returned */
  more: boolean;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  /** for a delete: the key, its deletion's modRevision, an empty value */
  kv: KeyValue;
  /** the key's previous value, when there was one */
  prevKv?: KeyValue;
}

export interface Watch {
  /** stops the watch; no callback runs after it resolves */
  cancel(): Promise<void>;
}

export interface WatchHandlers {
  /** events of one revision arrive together, revisions in order */
  onEvents(events: WatchEvent[], revision: number): void;
  /** the watch ended on its own: `SY_COMPACTED` (start revision too old) or `SY_STORE` (backend lost) */
  onError(err: Error): void;
}

export interface Lease {
  id: string;
  ttlSeconds: number;
}

export interface Store {
  /** which backend: 'sqlite' | 'etcd' */
  readonly kind: string;
  get(key: string): Promise<KeyValue | undefined>;
  /** every key that starts with prefix, in key order */
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult>;
  /** unconditional put; returns the new revision */
  put(key: string, value: string, opts?: { lease?: string }): Promise<number>;
  /** deletes the key if present; returns the revision after (unchanged when nothing was deleted) and whether it existed */
  delete(key: string): Promise<{ revision: number; deleted: boolean }>;
  txn(t: Txn): Promise<TxnResult>;
  /** changes under prefix from fromRevision on (inclusive); fromRevision 0 means "from now" */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch>;
  grantLease(ttlSeconds: number): Promise<Lease>;
  /** extends the lease to its full ttl again; `SY_NOT_FOUND` when it has expired */
  keepAlive(leaseId: string): Promise<void>;
  /** revokes the lease and deletes its keys */
  revokeLease(leaseId: string): Promise<void>;
  /** the current revision */
  revision(): Promise<number>;
  /** forgets history up to revision: a watch from before it gets SY_COMPACTED */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
