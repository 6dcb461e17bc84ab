/**
 * The clustered store backend: an etcd v3 cluster (`etcd://host1:2379,host2:2379,host3:2379`) spoken
 * to through etcd's own JSON gRPC gateway (/v3/kv/range, /v3/kv/txn, /v3/watch, /v3/lease/...) over
 * plain HTTP with node:http, rather than the gRPC `etcd3` package: every timeout, every failover
 * decision and the watch resume are ours to bound and to test, there is no native or protobuf stack
 * to drag in, and the gateway is the API etcd documents for non-Go clients (keys and values base64,
 * int64 as decimal strings).
 *
 * - Every request carries `Grpc-Metadata-hasleader: true` (clientv3's WithRequireLeader): a member
 *   that has lost its leader refuses at once with "no leader" instead of queueing the request until
 *   etcd's own 7 s timeout, so a cluster without quorum is reported within `deadlineMs`, as
 *   SY_STORE "etcd cluster at ... has no quorum / cannot be reached: ...".
 * - Failover: a call goes to the member that answered last and moves on to the next one when a member
 *   cannot be reached or has no leader, for at most `deadlineMs`. Reads and idempotent calls are retried
 *   on any failure. A write (put, delete, txn) is retried only when it cannot have been applied: the
 *   connection was refused, or the member refused it for want of a leader. A write that was sent and
 *   got no answer may or may not have been applied (as with any consensus store); the error says so.
 * - A watch is one streaming HTTP request with prev_kv. When its member dies or loses its leader, the
 *   watch reconnects to another member from the last revision it delivered + 1 and drops anything at or
 *   below that revision, so nothing is lost or seen twice. It ends with SY_STORE only after
 *   `watchRetryMs` without any member to watch from.
 * - A range reads pages of `rangePageSize` keys, all at the first page's revision: one consistent
 *   snapshot, and no single answer big enough to outlast the request timeout.
 * - etcd refuses a txn of more than --max-txn-ops ops (128 by default): start the cluster with more.
 * - etcd rounds lease TTLs up to its minimum (1.5 election timeouts: 2 s with default settings); the
 *   Lease returned says the TTL granted.
 * TLS and authentication are not supported yet: the cluster is reached on a trusted network.
 */
import http from 'node:http';
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
  prefixEndBytes,
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

export interface EtcdStoreOptions {
  /** how long one request to one member may take (ms) */
  requestTimeoutMs?: number;
  /** how long a call keeps trying the members before it fails (ms) */
  deadlineMs?: number;
  /** how long a watch keeps trying to reconnect before it ends with SY_STORE (ms) */
  watchRetryMs?: number;
  /** keys per range request (a range reads as many pages as it needs, at one revision) */
  rangePageSize?: number;
}

interface Endpoint {
  host: string;
  port: number;
  /** as written in the spec, for messages */
  label: string;
}

/** The JSON forms the gateway speaks (int64 fields are decimal strings; zero values are left out). */
interface JsonKv {
  key: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}
interface JsonHeader {
  revision?: string;
}
interface JsonEvent {
  type?: 'PUT' | 'DELETE';
  kv: JsonKv;
  prev_kv?: JsonKv;
}
interface JsonWatchResult {
  header?: JsonHeader;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: JsonEvent[];
}
interface JsonError {
  error?: string | { message?: string; grpc_code?: number; http_code?: number };
  message?: string;
  code?: number;
}

/** How a call may be retried on another member. */
type Retry = 'always' | 'unsent';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));
const num = (s: string | undefined): number => (s === undefined ? 0 : Number(s));
/** The smallest key after `key`: the key with a zero byte appended. */
const keyAfter = (key: string): string => Buffer.concat([Buffer.from(key, 'utf8'), Buffer.from([0])]).toString('base64');
/** A range over every key: from the zero byte to the end of the key space. */
const ALL = { key: Buffer.from([0]).toString('base64'), range_end: Buffer.from([0]).toString('base64') };

function prefixRange(prefix: string): { key: string; range_end: string } {
  return prefix === '' ? ALL : { key: b64(prefix), range_end: prefixEndBytes(prefix).toString('base64') };
}

function toKv(j: JsonKv): KeyValue {
  const kv: KeyValue = {
    key: unb64(j.key),
    value: unb64(j.value),
    createRevision: num(j.create_revision),
    modRevision: num(j.mod_revision),
    version: num(j.version),
  };
  if (j.lease !== undefined && j.lease !== '0') kv.lease = j.lease;
  return kv;
}

function toEvent(j: JsonEvent): WatchEvent {
  const ev: WatchEvent =
    j.type === 'DELETE'
      ? { type: 'delete', kv: { key: unb64(j.kv.key), value: '', createRevision: 0, modRevision: num(j.kv.mod_revision), version: 0 } }
      : { type: 'put', kv: toKv(j.kv) };
  if (j.prev_kv !== undefined) ev.prevKv = toKv(j.prev_kv);
  return ev;
}

const TARGETS = { version: 'VERSION', createRevision: 'CREATE', modRevision: 'MOD', value: 'VALUE' } as const;
const RESULTS = { '=': 'EQUAL', '!=': 'NOT_EQUAL', '<': 'LESS', '>': 'GREATER' } as const;

function toCompare(c: Compare): Record<string, string> {
  const j: Record<string, string> = { key: b64(c.key), target: TARGETS[c.target], result: RESULTS[c.op] };
  if (c.target === 'value') j.value = b64(c.value);
  else if (c.target === 'version') j.version = String(c.value);
  else if (c.target === 'createRevision') j.create_revision = String(c.value);
  else j.mod_revision = String(c.value);
  return j;
}

function toRequestOp(op: Op): Record<string, unknown> {
  switch (op.type) {
    case 'put':
      return { request_put: { key: b64(op.key), value: b64(op.value), ...(op.lease === undefined ? {} : { lease: op.lease }) } };
    case 'delete':
      return { request_delete_range: { key: b64(op.key) } };
    case 'deletePrefix':
      return { request_delete_range: prefixRange(op.prefix) };
    case 'get':
      return { request_range: { key: b64(op.key) } };
  }
}

/** Parses `etcd://h:p,h:p` (a port left out is 2379; IPv6 hosts in brackets). */
export function parseEtcdSpec(spec: string): Endpoint[] {
  const m = /^etcd:\/\/([^/?#]*)\/?$/.exec(spec);
  if (m === null || m[1] === '') {
    throw new SyError('SY_BAD_REQUEST', `The etcd store "${spec}" is not of the form etcd://host:port[,host:port...]`);
  }
  return m[1]!.split(',').map((part) => {
    const hp = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(part.trim());
    const port = hp?.[2] === undefined ? 2379 : Number(hp[2]);
    if (hp === null || port < 1 || port > 65535) {
      throw new SyError('SY_BAD_REQUEST', `The etcd member "${part}" in "${spec}" is not host:port`);
    }
    return { host: hp[1]!.replace(/^\[(.*)\]$/, '$1'), port, label: part.trim() };
  });
}

/** One failed attempt: `sent` when the request may have reached the member (a write's outcome is unknown). */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly sent: boolean,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

function errorText(j: JsonError): string {
  if (typeof j.error === 'string') return j.error;
  return j.error?.message ?? j.message ?? 'unknown error';
}

const NO_LEADER = /no leader|not capable|too many requests/;
/** keys per range request by default: about 3 MB of small documents, well inside a request timeout */
const RANGE_PAGE = 10_000;

export class EtcdStore implements Store {
  readonly kind = 'etcd';
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly watches = new Set<EtcdWatch>();
  /** the member that answered last: calls start there */
  private preferred = 0;
  private closed = false;
  private readonly requestTimeoutMs: number;
  private readonly deadlineMs: number;
  readonly watchRetryMs: number;
  private readonly rangePage: number;

  private constructor(
    readonly spec: string,
    readonly endpoints: Endpoint[],
    opts: EtcdStoreOptions,
  ) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 1500;
    this.deadlineMs = opts.deadlineMs ?? 4000;
    this.watchRetryMs = opts.watchRetryMs ?? 10_000;
    this.rangePage = opts.rangePageSize ?? RANGE_PAGE;
  }

  /** Connects to the cluster and checks that it answers (SY_STORE when it has no quorum). */
  static async open(spec: string, opts: EtcdStoreOptions = {}): Promise<EtcdStore> {
    const s = new EtcdStore(spec, parseEtcdSpec(spec), opts);
    try {
      await s.revision();
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /** the index of the member that answered last */
  get first(): number {
    return this.preferred;
  }

  /** The members in the order a call tries them: the one that answered last first. */
  order(): Endpoint[] {
    const n = this.endpoints.length;
    return Array.from({ length: n }, (_, i) => this.endpoints[(this.preferred + i) % n]!);
  }

  noQuorum(detail: string): SyError {
    return new SyError('SY_STORE', `etcd cluster at ${this.endpoints.map((e) => e.label).join(',')} has no quorum / cannot be reached: ${detail}`);
  }

  private attempt(ep: Endpoint, path: string, data: string, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let connected = false;
      let answered = false;
      let settled = false;
      const req = http.request({
        host: ep.host,
        port: ep.port,
        path,
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'grpc-metadata-hasleader': 'true' },
      });
      const fail = (e: AttemptError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(e);
      };
      const timer = setTimeout(() => fail(new AttemptError(`no answer within ${timeoutMs} ms`, connected, true)), timeoutMs);
      req.on('socket', (sock) => {
        if (!sock.connecting) connected = true;
        else sock.once('connect', () => (connected = true));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        // Refused or unreachable: nothing was sent. A kept-alive connection found closed before any
        // answer is the member having gone away before it read the request (Node's documented case
        // for retrying on `reusedSocket`): a member killed a moment ago leaves such connections in
        // the pool. Anything else on an open connection may have been applied.
        const stale = req.reusedSocket && !answered && (e.code === 'ECONNRESET' || e.message === 'socket hang up');
        const unsent = !connected || e.code === 'ECONNREFUSED' || stale;
        fail(new AttemptError(e.message, !unsent, true));
      });
      req.on('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => fail(new AttemptError(e.message, true, true)));
        res.on('end', () => {
          if (settled) return;
          let body: unknown;
          try {
            // A streaming endpoint (lease keepalive) answers {"result": ...} or {"error": ...} lines.
            const text = Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '';
            body = JSON.parse(text);
          } catch {
            fail(new AttemptError(`answered HTTP ${res.statusCode} with a body that is not JSON`, true, true));
            return;
          }
          const streamed = body as { result?: unknown; error?: JsonError };
          const err: JsonError | undefined = res.statusCode !== 200 ? (body as JsonError) : streamed.error;
          if (err !== undefined) {
            const text = errorText(err);
            // "no leader" is refused before anything is proposed: another member may take it.
            const noLeader = NO_LEADER.test(text);
            const code = typeof err.code === 'number' ? err.code : typeof err.error === 'object' ? err.error.grpc_code : undefined;
            settled = true;
            clearTimeout(timer);
            reject(Object.assign(new AttemptError(text, !noLeader, noLeader || code === 14 || code === 4), { grpcCode: code }));
            return;
          }
          settled = true;
          clearTimeout(timer);
          resolve(streamed.result ?? body);
        });
      });
      req.end(data);
    });
  }

  /**
   * One call to the cluster, failing over across the members for at most deadlineMs. `retry` says
   * whether a request that may have reached a member can be sent again (reads, idempotent calls).
   */
  async call<T>(path: string, body: object, retry: Retry, what: string): Promise<T> {
    if (this.closed) throw new SyError('SY_STORE', `etcd store "${this.spec}" is closed`);
    const data = JSON.stringify(body);
    const deadline = Date.now() + this.deadlineMs;
    const failures = new Map<string, string>();
    for (let round = 0; ; round++) {
      for (const ep of this.order()) {
        const left = deadline - Date.now();
        if (left <= 0) throw this.noQuorum([...failures].map(([k, v]) => `${k}: ${v}`).join('; '));
        try {
          const out = (await this.attempt(ep, path, data, Math.min(this.requestTimeoutMs, left))) as T;
          this.preferred = this.endpoints.indexOf(ep);
          return out;
        } catch (e) {
          if (!(e instanceof AttemptError)) throw e;
          if (!e.retryable) throw refusal(e, what, ep);
          if (e.sent && retry === 'unsent') {
            throw new SyError('SY_STORE', `etcd member ${ep.label} did not answer ${what}: ${e.message}; it may or may not have been applied`);
          }
          failures.set(ep.label, e.message);
          if (this.closed) throw new SyError('SY_STORE', `etcd store "${this.spec}" is closed`);
        }
      }
      // Every member failed: wait a little (an election takes about a second) and go round again.
      await new Promise((r) => setTimeout(r, Math.min(100 * (round + 1), 500)));
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    const r = await this.call<{ kvs?: JsonKv[] }>('/v3/kv/range', { key: b64(key) }, 'always', `a read of "${key}"`);
    return r.kvs?.[0] === undefined ? undefined : toKv(r.kvs[0]);
  }

  /**
   * Reads at most rangePageSize keys per request, all pages at the revision of the first, so a large
   * range is one consistent snapshot and no single answer outgrows the request timeout.
   */
  async range(prefix: string, opts?: RangeOptions): Promise<RangeResult> {
    checkPrefix(prefix);
    const { limit, after } = checkRangeOptions(opts);
    const bounds = prefixRange(prefix);
    let start = after !== undefined && compareKeys(after, prefix) >= 0 ? keyAfter(after) : bounds.key;
    const kvs: KeyValue[] = [];
    let revision = 0;
    for (;;) {
      const want = limit === undefined ? this.rangePage : Math.min(this.rangePage, limit - kvs.length);
      const r = await this.call<{ header: JsonHeader; kvs?: JsonKv[]; more?: boolean }>(
        '/v3/kv/range',
        { key: start, range_end: bounds.range_end, limit: String(want), ...(revision > 0 ? { revision: String(revision) } : {}) },
        'always',
        `a range over "${prefix}"`,
      );
      if (revision === 0) revision = num(r.header.revision);
      const page = r.kvs ?? [];
      kvs.push(...page.map(toKv));
      const more = r.more === true && page.length > 0;
      if (!more || (limit !== undefined && kvs.length >= limit)) return { kvs, revision, more };
      start = keyAfter(kvs[kvs.length - 1]!.key);
    }
  }

  async put(key: string, value: string, opts?: { lease?: string }): Promise<number> {
    checkKey(key);
    checkValue(value);
    const lease = opts?.lease === undefined ? undefined : checkLeaseId(opts.lease);
    const r = await this.call<{ header: JsonHeader }>(
      '/v3/kv/put',
      { key: b64(key), value: b64(value), ...(lease === undefined ? {} : { lease }) },
      'unsent',
      `the put of "${key}"`,
    );
    return num(r.header.revision);
  }

  async delete(key: string): Promise<{ revision: number; deleted: boolean }> {
    checkKey(key);
    const r = await this.call<{ header: JsonHeader; deleted?: string }>('/v3/kv/deleterange', { key: b64(key) }, 'unsent', `the delete of "${key}"`);
    return { revision: num(r.header.revision), deleted: num(r.deleted) > 0 };
  }

  async txn(t: Txn): Promise<TxnResult> {
    const { compare, success, failure } = checkTxn(t);
    const r = await this.call<{ header: JsonHeader; succeeded?: boolean; responses?: { response_range?: { kvs?: JsonKv[] } }[] }>(
      '/v3/kv/txn',
      { compare: compare.map(toCompare), success: success.map(toRequestOp), failure: failure.map(toRequestOp) },
      'unsent',
      'a transaction',
    );
    const ops = r.succeeded === true ? success : failure;
    const results = ops.map((op, i) => {
      const kv = op.type === 'get' ? r.responses?.[i]?.response_range?.kvs?.[0] : undefined;
      return kv === undefined ? undefined : toKv(kv);
    });
    return { succeeded: r.succeeded === true, revision: num(r.header.revision), results };
  }

  async revision(): Promise<number> {
    const r = await this.call<{ header: JsonHeader }>('/v3/kv/range', { key: ALL.key, count_only: true }, 'always', 'a read of the revision');
    return num(r.header.revision);
  }

  async compact(revision: number): Promise<void> {
    checkRevision(revision);
    try {
      // Compaction is idempotent (compacting again is refused as "compacted", taken as done): retry freely.
      await this.call('/v3/kv/compaction', { revision: String(revision) }, 'always', `the compaction to revision ${revision}`);
    } catch (e) {
      if (e instanceof SyError && /has been compacted/.test(e.message)) return;
      if (e instanceof SyError && /future revision/.test(e.message)) {
        throw new SyError('SY_BAD_REQUEST', `Cannot compact to revision ${revision}: the store is not there yet`);
      }
      throw e;
    }
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    checkTtl(ttlSeconds);
    // A grant sent twice leaves one unused lease that expires on its own: safe to retry.
    const r = await this.call<{ ID: string; TTL: string }>('/v3/lease/grant', { TTL: String(ttlSeconds) }, 'always', 'a lease grant');
    return { id: r.ID, ttlSeconds: num(r.TTL) };
  }

  async keepAlive(leaseId: string): Promise<void> {
    checkLeaseId(leaseId);
    const r = await this.call<{ TTL?: string }>('/v3/lease/keepalive', { ID: leaseId }, 'always', `the renewal of lease "${leaseId}"`);
    // etcd answers a renewal of an unknown or expired lease with TTL 0 (left out), not with an error.
    if (num(r.TTL) <= 0) throw new SyError('SY_NOT_FOUND', `Lease "${leaseId}" has expired or does not exist`);
  }

  async revokeLease(leaseId: string): Promise<void> {
    checkLeaseId(leaseId);
    try {
      await this.call('/v3/lease/revoke', { ID: leaseId }, 'always', `the revocation of lease "${leaseId}"`);
    } catch (e) {
      // Revoking a lease that is already gone is what the caller wanted.
      if (e instanceof SyError && e.code === 'SY_NOT_FOUND') return;
      throw e;
    }
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    checkWatch(prefix, fromRevision, handlers);
    if (this.closed) throw new SyError('SY_STORE', `etcd store "${this.spec}" is closed`);
    const w = new EtcdWatch(this, prefix, fromRevision, handlers);
    this.watches.add(w);
    try {
      await w.start();
    } catch (e) {
      this.watches.delete(w);
      throw e;
    }
    return {
      cancel: async () => {
        w.stop();
        this.watches.delete(w);
      },
    };
  }

  forget(w: EtcdWatch): void {
    this.watches.delete(w);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.stop();
    this.watches.clear();
    this.agent.destroy();
  }
}

/** A refusal the caller must hear about as it is (bad request, unknown lease, compacted...). */
function refusal(e: AttemptError, what: string, ep: Endpoint): SyError {
  const code = (e as AttemptError & { grpcCode?: number }).grpcCode;
  if (code === 5) return new SyError('SY_NOT_FOUND', `etcd refused ${what}: ${e.message}`);
  if (code === 3) return new SyError('SY_BAD_REQUEST', `etcd refused ${what}: ${e.message}`);
  return new SyError('SY_STORE', `etcd member ${ep.label} refused ${what}: ${e.message}`);
}

/** One watch: a streaming request to one member at a time, resumed elsewhere from the last revision delivered. */
class EtcdWatch {
  /** the last revision delivered (or, before any, the one the watch starts after) */
  private lastRev: number;
  private done = false;
  private req: http.ClientRequest | undefined;
  /** the index of the member the stream is open to */
  private member = 0;

  constructor(
    private readonly store: EtcdStore,
    private readonly prefix: string,
    fromRevision: number,
    private readonly handlers: WatchHandlers,
  ) {
    // From 0 ("now"), the revision at creation is learnt from the member's first answer.
    this.lastRev = fromRevision === 0 ? -1 : fromRevision - 1;
  }

  /** Opens the first stream; rejects (SY_STORE) if no member takes the watch within the store's deadline. */
  async start(): Promise<void> {
    const failures: string[] = [];
    if (!(await this.openAnywhere(this.store.first, 4000, failures))) {
      throw this.store.noQuorum(failures.slice(-this.store.endpoints.length).join('; '));
    }
  }

  /** Tries the members in turn from index `first` until one takes the watch; false when windowMs ran out. */
  private async openAnywhere(first: number, windowMs: number, failures: string[]): Promise<boolean> {
    const since = Date.now();
    const n = this.store.endpoints.length;
    for (let i = 0; !this.done; i++) {
      const at = (first + i) % n;
      const ep = this.store.endpoints[at]!;
      try {
        await this.connect(ep);
        this.member = at;
        return true;
      } catch (e) {
        failures.push(`${ep.label}: ${(e as Error).message}`);
      }
      if (Date.now() - since > windowMs) return false;
      // After a full round, wait a little: an election takes about a second.
      if ((i + 1) % n === 0) await new Promise((r) => setTimeout(r, Math.min(100 * ((i + 1) / n), 500)));
    }
    return false;
  }

  stop(): void {
    this.done = true;
    this.req?.destroy();
    this.req = undefined;
  }

  private end(err: SyError): void {
    if (this.done) return;
    this.stop();
    this.store.forget(this);
    this.handlers.onError(err);
  }

  /** Opens a stream to ep; resolves once the member says the watch is created. */
  private connect(ep: Endpoint): Promise<void> {
    return new Promise((resolve, reject) => {
      let created = false;
      let buffered = '';
      const body = JSON.stringify({
        create_request: { ...prefixRange(this.prefix), start_revision: String(this.lastRev + 1 > 0 ? this.lastRev + 1 : 0), prev_kv: true },
      });
      const req = http.request({
        host: ep.host,
        port: ep.port,
        path: '/v3/watch',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'grpc-metadata-hasleader': 'true' },
      });
      this.req = req;
      let gone = false;
      const timer = setTimeout(() => lost(new Error('the watch was not created in time')), 1500);
      const lost = (e: Error): void => {
        if (gone) return; // 'error', 'end' and 'close' may all report one loss
        gone = true;
        clearTimeout(timer);
        req.destroy();
        if (this.req === req) this.req = undefined;
        if (!created) reject(e);
        else if (!this.done) void this.resume(e.message);
      };
      req.on('error', (e) => lost(e));
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          lost(new Error(`HTTP ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line === '' || this.done || this.req !== req) continue;
            let msg: { result?: JsonWatchResult; error?: JsonError };
            try {
              msg = JSON.parse(line) as { result?: JsonWatchResult; error?: JsonError };
            } catch {
              lost(new Error('the watch stream is not JSON'));
              return;
            }
            if (msg.error !== undefined || msg.result === undefined) {
              lost(new Error(msg.error === undefined ? 'empty watch message' : errorText(msg.error)));
              return;
            }
            const r = msg.result;
            if (r.canceled === true) {
              if (num(r.compact_revision) > 0) {
                clearTimeout(timer);
                if (!created) {
                  created = true;
                  resolve();
                }
                this.end(new SyError('SY_COMPACTED', `Cannot watch "${this.prefix}" from revision ${this.lastRev + 1}: etcd is compacted up to revision ${r.compact_revision}`));
                return;
              }
              lost(new Error(`the member cancelled the watch: ${r.cancel_reason ?? 'no reason given'}`));
              return;
            }
            if (r.created === true && !created) {
              created = true;
              clearTimeout(timer);
              if (this.lastRev < 0) this.lastRev = num(r.header?.revision);
              resolve();
            }
            if (r.events !== undefined && r.events.length > 0) this.deliver(r.events);
          }
        });
        res.on('error', (e) => lost(e));
        res.on('end', () => lost(new Error('the member closed the watch stream')));
      });
      req.end(body);
    });
  }

  private deliver(events: JsonEvent[]): void {
    // One answer may carry several revisions; each goes out on its own, and what was delivered before
    // a reconnect (revision <= lastRev) is dropped.
    for (let i = 0; i < events.length; ) {
      const rev = num(events[i]!.kv.mod_revision);
      let j = i;
      while (j < events.length && num(events[j]!.kv.mod_revision) === rev) j++;
      if (rev > this.lastRev && !this.done) {
        this.lastRev = rev;
        try {
          this.handlers.onEvents(events.slice(i, j).map(toEvent), rev);
        } catch (e) {
          this.end(handlerFailed(this.prefix, e));
          return;
        }
      }
      i = j;
    }
  }

  /** After a lost stream: resume from lastRev + 1 on the next member that takes it, or end with SY_STORE. */
  private async resume(reason: string): Promise<void> {
    const failures = [reason];
    const ok = await this.openAnywhere(this.member + 1, this.store.watchRetryMs, failures);
    if (!ok && !this.done) {
      this.end(this.store.noQuorum(`the watch on "${this.prefix}" lost its member: ${failures.slice(-this.store.endpoints.length).join('; ')}`));
    }
  }
}
