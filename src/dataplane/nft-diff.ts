/**
 * Turns "the table we want" and "the table there is" into one nft script: a single transaction that
 * adds what is missing, removes what is stale and refills the chains that differ. Pure; the same code
 * serves the incremental path (compared with what was last applied) and the full resync (compared with
 * what the kernel holds, read by `nft -j`).
 */
import { createHash } from 'node:crypto';
import type { ElementCounter } from './dataplane.js';
import { elementKey, elementSig, protoAtom, renderElement, renderSetDecl, quote, type NftTable } from '../plan/nft-table.js';

/** What exists: chains (with rules when known) and set/map elements by key → value. */
export interface NftCurrent {
  exists: boolean;
  /**
   * chain name → its rules: as last applied (`rules`, text), or as read from the kernel (`tags`, each
   * rule's comment: see ruleTag), which is enough to see a chain flushed, shortened or reordered
   * without rewriting (and so zeroing the counters of) every chain on every resync
   */
  chains: Map<string, { rules: string[] } | { tags: string[] }>;
  /** set name → element key → its value and comment (elementSig) */
  sets: Map<string, Map<string, string>>;
  /** names in `sets` that are maps (deleted with `delete map`) */
  maps: Set<string>;
}

export function emptyCurrent(): NftCurrent {
  return { exists: false, chains: new Map(), sets: new Map(), maps: new Set() };
}

/** The current state after `desired` has been applied: what the incremental path remembers. */
export function currentOf(desired: NftTable): NftCurrent {
  return {
    exists: true,
    chains: new Map(desired.chains.map((c) => [c.name, { rules: [...c.rules] }])),
    sets: new Map(desired.sets.map((s) => [s.name, new Map(s.elements.map((e) => [elementKey(e), elementSig(e)]))])),
    maps: new Set(desired.sets.filter((s) => s.valueType).map((s) => s.name)),
  };
}

/** Returns the nft script taking `cur` to `desired`, or '' when nothing differs. */
export function diffNft(desired: NftTable, cur: NftCurrent): string {
  const t = `${desired.family} ${desired.name}`;
  const head: string[] = [];
  const dels: string[] = [];
  const chainsOut: string[] = [];
  const adds: string[] = [];
  const tail: string[] = [];
  if (!cur.exists) head.push(`add table ${t} { comment ${quote(desired.comment)}; }`);
  for (const s of desired.sets) {
    if (!cur.sets.has(s.name)) head.push(`add ${renderSetDecl(s).replace(/^(map|set) /, `$1 ${t} `)}`);
    const have = cur.sets.get(s.name) ?? new Map<string, string>();
    const want = new Map(s.elements.map((e) => [elementKey(e), e]));
    const stale = [...have.entries()].filter(([k, v]) => !want.has(k) || elementSig(want.get(k)!) !== v).map(([k]) => k);
    if (stale.length) dels.push(`delete element ${t} ${s.name} { ${stale.join(', ')} }`);
    const fresh = s.elements.filter((e) => {
      const v = have.get(elementKey(e));
      return v === undefined || v !== elementSig(e);
    });
    if (fresh.length) adds.push(`add element ${t} ${s.name} { ${fresh.map(renderElement).join(', ')} }`);
  }
  for (const c of desired.chains) {
    const have = cur.chains.get(c.name);
    if (have === undefined) head.push(`add chain ${t} ${c.name}${c.base ? ` { ${c.base} }` : ''}`);
    if (have !== undefined && ('rules' in have ? sameRules(have.rules, c.rules) : sameRules(have.tags, c.rules.map(ruleTag)))) continue;
    if (have !== undefined) chainsOut.push(`flush chain ${t} ${c.name}`);
    for (const r of c.rules) chainsOut.push(`add rule ${t} ${c.name} ${taggedRule(r)}`);
  }
  // Stale maps go before stale chains: a verdict map's elements hold the chains they jump to.
  const wantedSets = new Set(desired.sets.map((s) => s.name));
  for (const name of cur.sets.keys()) {
    if (!wantedSets.has(name)) tail.push(`delete ${cur.maps.has(name) ? 'map' : 'set'} ${t} ${name}`);
  }
  const wantedChains = new Set(desired.chains.map((c) => c.name));
  for (const name of cur.chains.keys()) {
    if (!wantedChains.has(name)) tail.push(`flush chain ${t} ${name}`, `delete chain ${t} ${name}`);
  }
  const script = [...head, ...dels, ...chainsOut, ...adds, ...tail];
  return script.length ? script.join('\n') + '\n' : '';
}

const COMMENT = / comment "([^"]*)"$/;

/**
 * What a rule is known by in the kernel: its own comment (if any) and " #" with a hash of its whole
 * text, so a rule changed in place under the same comment (an ACL Id given new settings) differs.
 */
export function ruleTag(rule: string): string {
  const hash = createHash('sha256').update(rule).digest('hex').slice(0, 12);
  const own = COMMENT.exec(rule)?.[1];
  return own ? `${own} #${hash}` : `#${hash}`;
}

/** The rule as sent to the kernel: its comment replaced by (or given) its tag. */
function taggedRule(rule: string): string {
  return `${rule.replace(COMMENT, '')} comment ${quote(ruleTag(rule))}`;
}

function sameRules(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}

type Json = unknown;

/**
 * Reads `nft -j list table` output into NftCurrent. Element keys are rendered back in the planner's
 * syntax (ifnames quoted, concatenations joined with " . ", prefixes as a.b.c.d/n) so they compare.
 */
export function parseNftJson(json: string, keyTypesOf: (set: string) => string[] | undefined): NftCurrent {
  const cur: NftCurrent = { exists: true, chains: new Map(), sets: new Map(), maps: new Set() };
  const doc = JSON.parse(json) as { nftables?: Record<string, Json>[] };
  for (const item of doc.nftables ?? []) {
    if ('chain' in item) cur.chains.set((item.chain as { name: string }).name, { tags: [] });
    if ('rule' in item) {
      const r = item.rule as { chain: string; comment?: string };
      const have = cur.chains.get(r.chain);
      if (have && 'tags' in have) have.tags.push(r.comment ?? '');
    }
    const set = (item.set ?? item.map) as { name: string; elem?: Json[] } | undefined;
    if (!set) continue;
    const types = keyTypesOf(set.name) ?? [];
    const elems = new Map<string, string>();
    for (const e of set.elem ?? []) {
      const [k, v] = Array.isArray(e) ? [e[0], renderValue(e[1])] : [e, undefined];
      const comment = isObj(k) && isObj(k.elem) && typeof k.elem.comment === 'string' ? k.elem.comment : undefined;
      elems.set(renderKey(k, types), elementSig({ ...(v !== undefined ? { value: v } : {}), ...(comment ? { comment } : {}) }));
    }
    cur.sets.set(set.name, elems);
    if ('map' in item) cur.maps.add(set.name);
  }
  return cur;
}

/**
 * Reads the counted elements of `nft -j list table|map` output: every element of a map named
 * `acl_*` that has a counter and a comment gives one entry, owned by the first part of its key.
 */
export function parseElementCounters(json: string): ElementCounter[] {
  const out: ElementCounter[] = [];
  const doc = JSON.parse(json) as { nftables?: Record<string, Json>[] };
  for (const item of doc.nftables ?? []) {
    const set = (item.set ?? item.map) as { name: string; elem?: Json[] } | undefined;
    if (!set?.name.startsWith('acl_')) continue;
    for (const e of set.elem ?? []) {
      const k = Array.isArray(e) ? e[0] : e;
      const el = isObj(k) && isObj(k.elem) ? k.elem : undefined;
      const counter = el?.counter as { packets: number; bytes: number } | undefined;
      if (!el || !counter || typeof el.comment !== 'string') continue;
      const first = isObj(el.val) && 'concat' in el.val ? (el.val.concat as Json[])[0] : el.val;
      out.push({ set: set.name, owner: String(first), comment: el.comment, packets: counter.packets, bytes: counter.bytes });
    }
  }
  return out;
}

/**
 * Reads the counted elements of `nft get element` output (text: nft 1.0.6 prints no JSON for it).
 * Each element starts with its owner's address; keys hold no commas, and comments no quotes.
 */
export function parseElementText(set: string, text: string): ElementCounter[] {
  const out: ElementCounter[] = [];
  const el = /(\d{1,3}(?:\.\d{1,3}){3})[^,{}\n]*? counter packets (\d+) bytes (\d+) comment "([^"]*)"/g;
  for (const m of text.matchAll(el)) out.push({ set, owner: m[1]!, comment: m[4]!, packets: Number(m[2]), bytes: Number(m[3]) });
  return out;
}

function renderKey(k: Json, types: string[]): string {
  const inner = isObj(k) && 'elem' in k ? (k.elem as Record<string, Json>).val : k;
  const parts = isObj(inner) && 'concat' in inner ? (inner.concat as Json[]) : [inner];
  return parts.map((p, i) => renderAtom(p, types[i])).join(' . ');
}

function renderAtom(p: Json, type: string | undefined): string {
  if (isObj(p) && 'prefix' in p) {
    const pre = p.prefix as { addr: string; len: number };
    return `${pre.addr}/${pre.len}`;
  }
  if (isObj(p) && 'range' in p) {
    const r = p.range as [Json, Json];
    return `${String(r[0])}-${String(r[1])}`;
  }
  // Listings are read with numeric protocols (nft -p): a number for every protocol, named or not.
  if (type === 'inet_proto' && typeof p === 'number') return protoAtom(p);
  return type === 'ifname' ? `"${String(p)}"` : String(p);
}

function renderValue(v: Json): string {
  if (isObj(v) && 'jump' in v) return `jump ${(v.jump as { target: string }).target}`;
  if (isObj(v) && 'goto' in v) return `goto ${(v.goto as { target: string }).target}`;
  // accept, drop, return, continue: {"accept": null}
  if (isObj(v) && Object.keys(v).length === 1 && v[Object.keys(v)[0]!] === null) return Object.keys(v)[0]!;
  if (isObj(v) && 'concat' in v) return (v.concat as Json[]).map((x) => String(x)).join(' . ');
  return String(v);
}

function isObj(x: Json): x is Record<string, Json> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
