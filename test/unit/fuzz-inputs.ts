/**
 * What the fuzz tests throw at Switchyard's front doors (fast-check arbitraries): hostile strings,
 * odd values of every JSON type, documents that are almost right (a valid template with one to three
 * fields spoiled), arbitrary JSON whose keys include prototype-pollution names, and raw bodies that
 * are not JSON at all. Shared by the unit and the kernel fuzz tests.
 */
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';

/** Strings that break out of a shell word, an nft string, a resolv.conf line or a log line if anything places them unquoted. */
export const HOSTILE_STRINGS: readonly string[] = [
  '"',
  "'",
  '\\',
  ';',
  'a"b',
  "a'b",
  'a\\"b',
  'x; rm -rf /',
  'x && reboot',
  '$(reboot)',
  '`id`',
  '${IFS}',
  '{ }',
  '}',
  '# comment',
  'a\nb',
  'a\rb',
  'a\r\nnameserver 6.6.6.6',
  'corp.example\nnameserver 6.6.6.6',
  'x" ; add rule inet switchyard forward accept ; comment "',
  '} ; flush ruleset ; table inet x {',
  'a\u0000b',
  '\u0000',
  'a\tb',
  'a b',
  '-rf',
  '--help',
  '../../etc/passwd',
  '/run/netns/../../etc',
  '%2e%2e%2f',
  '\u202ecod.exe',
  '\u200f\u200e',
  '😀',
  'ü',
  '\uFEFF',
  '\u2028',
  '\u001b[31mred',
  'a'.repeat(10_000),
  '😀'.repeat(3_000),
  '',
  ' ',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
];

/** Keys that pollute a prototype or shadow a built-in when code indexes a plain object with them. */
export const PROTOTYPE_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'isPrototypeOf'];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.tuple(fc.constantFrom('net-a', 'ep-a', 'eth0', '10.0.0.1', 'corp.example'), fc.constantFrom(...HOSTILE_STRINGS)).map(([a, b]) => a + b),
);

/** A JSON object with `entries` as its own properties, "__proto__" included (as JSON.parse makes it). */
export function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

/** `[[[...]]]` nested `n` deep around `inner`. */
export function nested(n: number, inner: unknown = 1): unknown {
  let v = inner;
  for (let i = 0; i < n; i++) v = i % 2 ? { a: v } : [v];
  return v;
}

const key: fc.Arbitrary<string> = fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), fc.string({ maxLength: 12 }), fc.constantFrom('Name', 'Type', 'Settings', 'Policies', 'ID', 'Id'));

/** Arbitrary JSON whose object keys are often prototype names. */
export const pollutedJson: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 1 }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie('v')), { maxLength: 4 }).map(objectOf),
  ),
})).v;

/** A value that is wrong for almost any field: wrong type, out of range, hostile, huge, deep. */
export const badValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  fc.constantFrom(-1, 0, 1, 65535, 65536, 70000, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -1e308, 1.5, -0.5, 5e-324, Number.MAX_SAFE_INTEGER + 2),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(true, false, null),
  fc.constantFrom('10.0.0.0/33', '10.0.0.5/8', '300.1.1.0/24', '1.2.3/24', '::/0', 'fe80::1', '10.0.0.0/-1', ' 10.0.0.0/24', '0.0.0.0/0', '01.2.3.0/24', '10.0.0.0/8\n', '1.2.3.4', '255.255.255.255', '0.0.0.0', '1.2.3.4 ', '0x7f.1', '127.1'),
  fc.constantFrom('02:00:00:00:00', '01-00-5E-00-00-01', 'ff:ff:ff:ff:ff:ff', 'zz:zz:zz:zz:zz:zz', '02:00:00:00:00:00:00'),
  fc.constantFrom('Frob', 'nat ', 'NAT\u0000', 'Overlay', 'L2Bridge', 'ACL ', 'ICS', 'Add ', 'Policy\n', 'In ', 'Out\r'),
  fc.constantFrom(...PROTOTYPE_KEYS),
  fc.integer({ min: 33, max: 1000 }).map((n) => nested(n)),
  fc.integer({ min: 65, max: 20_000 }).map((n) => Array.from({ length: n }, (_, i) => i)),
  fc.integer({ min: 65, max: 2_000 }).map((n) => Array.from({ length: n }, () => ({ Type: 'ACL', Settings: {} }))),
  fc.constantFrom(...PROTOTYPE_KEYS).map((k) => objectOf([[k, { polluted: true, Type: 'NAT' }]])),
  pollutedJson,
  fc.constant([]),
  fc.constant({}),
);

type Json = unknown;
type Path = (string | number)[];

/** Every path in a document (to a leaf or to an inner node), not descending into deep junk a mutation put there. */
function pathsOf(v: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (at.length >= 12 || out.length > 2000) return out;
  // An index loop, not slice: an array may carry a key such as `constructor` that slice would consult.
  if (Array.isArray(v)) for (let i = 0; i < Math.min(v.length, 50); i++) pathsOf(v[i], [...at, i], out);
  else if (typeof v === 'object' && v !== null) for (const k of Object.keys(v).slice(0, 50)) pathsOf((v as Record<string, Json>)[k], [...at, k], out);
  return out;
}

export type Mutation = { pick: number; kind: 'replace' | 'delete' | 'addKey' | 'wrap' | 'stringify'; value: unknown; key: string };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  pick: fc.nat(),
  kind: fc.constantFrom('replace', 'replace', 'replace', 'delete', 'addKey', 'wrap', 'stringify'),
  value: badValue,
  key: fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), fc.string({ maxLength: 10 })),
});

function setAt(parent: Json, k: string | number, value: unknown): void {
  Object.defineProperty(parent as object, k, { value, enumerable: true, writable: true, configurable: true });
}

/** `doc` (a fresh copy) with the mutations applied; a mutation of the root replaces the document. */
export function mutate(doc: Json, muts: Mutation[]): Json {
  let root = structuredClone(doc);
  for (const mut of muts) {
    // values may be shared (fc.constant gives the same object each time): never insert one twice
    const m = { ...mut, value: structuredClone(mut.value) };
    const paths = pathsOf(root);
    const path = paths[m.pick % paths.length]!;
    if (!path.length) {
      root = m.kind === 'addKey' && typeof root === 'object' && root !== null && !Array.isArray(root) ? (setAt(root, m.key, m.value), root) : m.value;
      continue;
    }
    let parent: Json = root;
    for (const p of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[p];
    const last = path[path.length - 1]!;
    const cur = (parent as Record<string | number, Json>)[last];
    if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete (parent as Record<string, Json>)[last];
    } else if (m.kind === 'addKey' && typeof cur === 'object' && cur !== null && !Array.isArray(cur)) setAt(cur, m.key, m.value);
    else if (m.kind === 'wrap') setAt(parent, last, [cur]);
    else if (m.kind === 'stringify') setAt(parent, last, JSON.stringify(cur) ?? 'undefined');
    else setAt(parent, last, m.value);
  }
  return root;
}

/** A template spoiled by one to three mutations. */
export function spoiled(templates: readonly Json[]): fc.Arbitrary<Json> {
  return fc.tuple(fc.constantFrom(...templates), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([t, m]) => mutate(t, m));
}

/** A request body as bytes on the wire, with the content type it claims. */
export interface RawBody {
  body: string | Buffer;
  contentType?: string;
  what: string;
}

const CONTENT_TYPES = ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/octet-stream', 'a/b;c=d', ''];

/** Bodies that are not one well-formed JSON document: truncated, binary, trailing garbage, other encodings. */
export function rawBodies(templates: readonly Json[]): fc.Arbitrary<RawBody> {
  const text = (t: Json) => JSON.stringify(t);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...templates), fc.nat()).map(([t, n]) => ({ body: text(t).slice(0, n % text(t).length), what: 'truncated JSON' })),
    fc.uint8Array({ maxLength: 200 }).map((b) => ({ body: Buffer.from(b), what: 'binary' })),
    fc.string({ unit: 'binary', maxLength: 100 }).map((s) => ({ body: s, what: 'random text' })),
    fc.constantFrom(...templates).map((t) => ({ body: text(t) + 'x', what: 'trailing garbage' })),
    fc.constantFrom(...templates).map((t) => ({ body: '\uFEFF' + text(t), what: 'byte order mark' })),
    fc.constantFrom(...templates).map((t) => ({ body: Buffer.from(text(t), 'utf16le'), what: 'UTF-16' })),
    fc.constantFrom(...templates).map((t) => ({ body: text(t).replace('{', '{ /* c */'), what: 'comment' })),
    fc.constantFrom('{"Name":"a","Name":"b"', '{"a":1}{"b":2}', '1e999', '-', '[', '{', '"', 'nul', 'NaN', 'undefined', '\u0000', '{"__proto__":{"Type":"NAT"}}', '{"constructor":{"prototype":{"x":1}}}').map((body) => ({ body, what: 'odd JSON text' })),
    fc.constantFrom(...templates).map((t) => ({ body: text(t), what: 'other content type', contentType: 'text/plain' })),
    fc.integer({ min: 1000, max: 200_000 }).map((n) => ({ body: '['.repeat(n) + ']'.repeat(n), what: `JSON nested ${n} deep` })),
    fc.tuple(fc.constantFrom(...templates), fc.constantFrom(...CONTENT_TYPES)).map(([t, contentType]) => ({ body: text(t).slice(1), contentType, what: 'broken JSON with a content type' })),
  );
}

/** Path segments for `/{kind}/{id}`: hostile, encoded or not, and sometimes one that exists. */
export function oddIds(existing: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: hostileString.map((s) => encodeURIComponent(s)) },
    fc.constantFrom('..', '.', '%2e%2e', '%00', '%ff', '%', '%zz', 'a%2Fb', '*', '~', '-', '0', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', 'x'.repeat(101), 'x'.repeat(5000)),
    fc.constantFrom(...existing).map((e) => e.toUpperCase()),
    fc.constantFrom(...existing).map((e) => `${e}%20`),
    fc.constantFrom(...existing),
  );
}

/** Query strings for list routes. */
export const oddQuery: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', '?', '?network', '?network=', '?network=a&network=b', '?network[]=x', '?network[x]=1', '?network=%ff', '?network=%00', '?__proto__[x]=1', '?constructor=1', '?a=' + 'b'.repeat(5000)),
  hostileString.map((s) => `?network=${encodeURIComponent(s)}`),
  fc.string({ maxLength: 30 }).map((s) => `?${encodeURI(s)}`),
);

/**
 * Sends one request over a unix socket with `body` as given (its content type only when it claims
 * one, else `defaultType`) and resolves with the status and text of the answer; a server that does
 * not answer within `hangMs` fails it.
 */
export function requestRaw(socketPath: string, method: string, path: string, body: RawBody | undefined, hangMs: number, defaultType?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const bytes = body?.body ?? '';
    const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(bytes) };
    const type = body?.contentType ?? (body ? defaultType : undefined);
    if (type !== undefined) headers['content-type'] = type;
    const req = httpRequest({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(hangMs, () => req.destroy(new Error(`no answer within ${hangMs} ms`)));
    req.on('error', reject);
    req.end(bytes);
  });
}
