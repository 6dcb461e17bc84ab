/**
 * What both store backends check before they touch anything, so that bad input gets the same clear
 * SY_BAD_REQUEST from SQLite and from etcd and changes nothing: keys, lease TTLs, the shape of a
 * transaction (callers pass documents that came over the wire), and etcd's rule that one transaction
 * may not write the same key twice. Also the key-order helpers: both backends order keys by their
 * UTF-8 bytes, as etcd does.
 */
import { SyError } from '../../errors.js';
import type { Compare, Op, RangeOptions, Txn, WatchHandlers } from './store.js';

// A lone surrogate has no UTF-8 form: it would be stored as U+FFFD and read back as another key.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkText(s: unknown, what: string, allowEmpty: boolean): string {
  if (typeof s !== 'string') throw new SyError('SY_BAD_REQUEST', `The ${what} must be a string, not ${typeof s}`);
  if (!allowEmpty && s.length === 0) throw new SyError('SY_BAD_REQUEST', `The ${what} must not be empty`);
  if (LONE_SURROGATE.test(s)) throw new SyError('SY_BAD_REQUEST', `The ${what} ${JSON.stringify(s)} is not valid Unicode`);
  return s;
}

export function checkKey(key: unknown): string {
  return checkText(key, 'key', false);
}

/** A prefix may be empty: the whole key space. */
export function checkPrefix(prefix: unknown): string {
  return checkText(prefix, 'key prefix', true);
}

/**
 * What one call may write: etcd's default --max-request-bytes (1.5 MiB) less room for the request's
 * own framing, applied to SQLite too, so that what the embedded store accepts a cluster accepts.
 * etcd's other limit, --max-txn-ops (128 by default), is not applied to SQLite: the controller's
 * transactions may be larger; etcd refuses such a txn with SY_BAD_REQUEST, so a cluster for the
 * controller is started with a higher --max-txn-ops (the tests' cluster: 1024).
 */
export const MAX_WRITE_BYTES = 1024 * 1024;

export function checkValue(value: unknown): string {
  const v = checkText(value, 'value', true);
  if (v.length > MAX_WRITE_BYTES / 3 && Buffer.byteLength(v, 'utf8') > MAX_WRITE_BYTES) {
    throw new SyError('SY_BAD_REQUEST', `A value of ${Buffer.byteLength(v, 'utf8')} bytes is larger than the store's limit of ${MAX_WRITE_BYTES}`);
  }
  return v;
}

export function checkLeaseId(id: unknown): string {
  if (typeof id !== 'string' || !/^[0-9a-z]{1,32}$/.test(id)) {
    throw new SyError('SY_BAD_REQUEST', `The lease id ${JSON.stringify(id)} is not a lease id`);
  }
  return id;
}

function checkCount(n: unknown, what: string, min: number): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) {
    throw new SyError('SY_BAD_REQUEST', `The ${what} must be an integer of at least ${min}, not ${JSON.stringify(n)}`);
  }
  return n;
}

export function checkRevision(rev: unknown, what = 'revision'): number {
  return checkCount(rev, what, 0);
}

/** Lease TTLs are whole seconds (etcd's unit), at most a day: a host heartbeat, not a timer. */
export function checkTtl(ttl: unknown): number {
  const n = checkCount(ttl, 'lease TTL in seconds', 1);
  if (n > 86_400) throw new SyError('SY_BAD_REQUEST', `The lease TTL ${n} s is longer than a day`);
  return n;
}

/** Checks a watch's arguments. */
export function checkWatch(prefix: unknown, fromRevision: unknown, handlers: WatchHandlers): void {
  checkPrefix(prefix);
  checkRevision(fromRevision, 'watch start revision');
  if (typeof handlers?.onEvents !== 'function' || typeof handlers.onError !== 'function') {
    throw new SyError('SY_BAD_REQUEST', 'A watch needs onEvents and onError handlers');
  }
}

/** What ends a watch whose onEvents threw: it would otherwise miss events without anyone knowing. */
export function handlerFailed(prefix: string, err: unknown): SyError {
  return new SyError('SY_INTERNAL', `A watch handler on "${prefix}" failed: ${err instanceof Error ? err.message : String(err)}`);
}

export function checkRangeOptions(opts: RangeOptions | undefined): { limit?: number; after?: string } {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object') throw new SyError('SY_BAD_REQUEST', 'Range options must be an object');
  const out: { limit?: number; after?: string } = {};
  if (opts.limit !== undefined) out.limit = checkCount(opts.limit, 'range limit', 1);
  if (opts.after !== undefined) out.after = checkText(opts.after, 'range start key', true);
  return out;
}

const NUMERIC_TARGETS = new Set(['modRevision', 'createRevision', 'version']);
const NUMERIC_OPS = new Set(['=', '!=', '<', '>']);

function checkCompare(c: Compare, i: number): void {
  if (typeof c !== 'object' || c === null) throw new SyError('SY_BAD_REQUEST', `Compare #${i + 1} must be an object`);
  checkKey(c.key);
  if (c.target === 'value') {
    if (c.op !== '=' && c.op !== '!=') {
      throw new SyError('SY_BAD_REQUEST', `Compare #${i + 1} on the value of "${c.key}": op must be "=" or "!=", not ${JSON.stringify(c.op)}`);
    }
    checkValue(c.value);
  } else if (NUMERIC_TARGETS.has(c.target)) {
    if (!NUMERIC_OPS.has(c.op)) {
      throw new SyError('SY_BAD_REQUEST', `Compare #${i + 1} on "${c.key}": op must be one of = != < >, not ${JSON.stringify(c.op)}`);
    }
    checkRevision(c.value, `value of compare #${i + 1}`);
  } else {
    throw new SyError('SY_BAD_REQUEST', `Compare #${i + 1} on "${c.key}": unknown target ${JSON.stringify((c as { target: unknown }).target)}`);
  }
}

function checkOps(ops: unknown, branch: string): Op[] {
  if (!Array.isArray(ops)) throw new SyError('SY_BAD_REQUEST', `The ${branch} ops of a transaction must be an array`);
  let bytes = 0;
  const puts = new Set<string>();
  const deletes: string[] = [];
  const prefixes: string[] = [];
  for (const [i, op] of (ops as Op[]).entries()) {
    if (typeof op !== 'object' || op === null) throw new SyError('SY_BAD_REQUEST', `${branch} op #${i + 1} must be an object`);
    switch (op.type) {
      case 'put':
        checkKey(op.key);
        checkValue(op.value);
        bytes += Buffer.byteLength(op.key, 'utf8') + Buffer.byteLength(op.value, 'utf8');
        if (bytes > MAX_WRITE_BYTES) {
          throw new SyError('SY_BAD_REQUEST', `The ${branch} ops of a transaction write more than the store's limit of ${MAX_WRITE_BYTES} bytes`);
        }
        if (op.lease !== undefined) checkLeaseId(op.lease);
        if (puts.has(op.key)) throw new SyError('SY_BAD_REQUEST', `The ${branch} ops put "${op.key}" twice in one transaction`);
        puts.add(op.key);
        break;
      case 'delete':
        deletes.push(checkKey(op.key));
        break;
      case 'deletePrefix':
        prefixes.push(checkPrefix(op.prefix));
        break;
      case 'get':
        checkKey(op.key);
        break;
      default:
        throw new SyError('SY_BAD_REQUEST', `${branch} op #${i + 1}: unknown type ${JSON.stringify((op as { type: unknown }).type)}`);
    }
  }
  // etcd refuses a transaction that puts a key and deletes it too: which came first would be ambiguous.
  for (const key of puts) {
    if (deletes.includes(key) || prefixes.some((p) => key.startsWith(p))) {
      throw new SyError('SY_BAD_REQUEST', `The ${branch} ops both put and delete "${key}" in one transaction`);
    }
  }
  return ops as Op[];
}

/** Checks a transaction's shape; returns it with `failure` defaulted to no ops. */
export function checkTxn(t: Txn): Required<Txn> {
  if (typeof t !== 'object' || t === null) throw new SyError('SY_BAD_REQUEST', 'A transaction must be an object');
  if (!Array.isArray(t.compare)) throw new SyError('SY_BAD_REQUEST', 'The compare list of a transaction must be an array');
  t.compare.forEach(checkCompare);
  return { compare: t.compare, success: checkOps(t.success, 'success'), failure: checkOps(t.failure ?? [], 'failure') };
}

/** Compares keys by their UTF-8 bytes (etcd's order and SQLite's BINARY collation), not by UTF-16 units. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The smallest key greater than every key that starts with prefix, as a string (undefined: no bound,
 * for the empty prefix or one made only of U+10FFFF). UTF-8 keeps code point order, so bumping the
 * last code point bounds the prefix exactly.
 */
export function prefixEndString(prefix: string): string | undefined {
  const points = [...prefix];
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return points.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}

/** The same bound as bytes, etcd's range_end (a zero byte means "to the end of the key space"). */
export function prefixEndBytes(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i] += 1;
      return end;
    }
  }
  return Buffer.from([0]);
}
