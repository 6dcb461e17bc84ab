/**
 * Turns "the table we want" and "the table there is" into one nft script: a single transaction that
 * adds what is missing, removes what is stale and refills the chains that differ. Pure; the same code
 * serves the incremental path (compared with what was last applied) and the full resync (compared with
 * what the kernel holds, read by `nft -j`).
 */
import { createHash } from 'node:crypto';
import { elementKey, renderElement, renderSetDecl, quote, type NftTable } from '../plan/nft-table.js';

/** What exists: chains (with rules when known) and set/map elements by key → value. */
export interface NftCurrent {
  exists: boolean;
  /**
   * chain name → its rules: as last applied (`rules`, text), or as read from the kernel (`tags`, each
   * rule's comment: see ruleTag), which is enough to see a chain flushed, shortened or reordered
   * without rewriting (and so zeroing the counters of) every chain on every resync
   */
  chains: Map<string, { rules: string[] } | { tags: string[] }>;
  /** set name → element key → value ('' for sets) */
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
    sets: new Map(desired.sets.map((s) => [s.name, new Map(s.elements.map((e) => [elementKey(e), e.value ?? '']))])),
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
    const stale = [...have.entries()].filter(([k, v]) => !want.has(k) || (want.get(k)!.value ?? '') !== v).map(([k]) => k);
    if (stale.length) dels.push(`delete element ${t} ${s.name} { ${stale.join(', ')} }`);
    const fresh = s.elements.filter((e) => {
      const v = have.get(elementKey(e));
      return v === undefined || v !== (e.value ?? '');
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
  const wantedChains = new Set(desired.chains.map((c) => c.name));
  for (const name of cur.chains.keys()) {
    if (!wantedChains.has(name)) tail.push(`flush chain ${t} ${name}`, `delete chain ${t} ${name}`);
  }
  const wantedSets = new Set(desired.sets.map((s) => s.name));
  for (const name of cur.sets.keys()) {
    if (!wantedSets.has(name)) tail.push(`delete ${cur.maps.has(name) ? 'map' : 'set'} ${t} ${name}`);
  }
  const script = [...head, ...dels, ...chainsOut, ...adds, ...tail];
  return script.length ? script.join('\n') + '\n' : '';
}

const COMMENT = / comment "([^"]*)"$/;

/** What a rule is known by in the kernel: its own comment, or "r:" and a hash of its text. */
export function ruleTag(rule: string): string {
  return COMMENT.exec(rule)?.[1] ?? `r:${createHash('sha256').update(rule).digest('hex').slice(0, 12)}`;
}

/** The rule as sent to the kernel: with its tag as comment when it has none of its own. */
function taggedRule(rule: string): string {
  return COMMENT.test(rule) ? rule : `${rule} comment ${quote(ruleTag(rule))}`;
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
      if (Array.isArray(e)) elems.set(renderKey(e[0], types), renderValue(e[1]));
      else elems.set(renderKey(e, types), '');
    }
    cur.sets.set(set.name, elems);
    if ('map' in item) cur.maps.add(set.name);
  }
  return cur;
}

/**
 * Reads the counters of rules from `nft -j list chain|table` output: every rule that has a counter
 * and a comment "acl ID" or "default in|out" gives one entry (rule: the Id, or "default in|out").
 */
export function parseRuleCounters(json: string): { chain: string; rule: string; packets: number; bytes: number }[] {
  const out: { chain: string; rule: string; packets: number; bytes: number }[] = [];
  const doc = JSON.parse(json) as { nftables?: Record<string, Json>[] };
  for (const item of doc.nftables ?? []) {
    const rule = item.rule as { chain: string; comment?: string; expr?: Record<string, Json>[] } | undefined;
    if (!rule?.comment) continue;
    const counter = (rule.expr ?? []).find((e) => 'counter' in e)?.counter as { packets: number; bytes: number } | undefined;
    if (!counter) continue;
    const m = /^acl (.+)$/.exec(rule.comment);
    const name = m ? m[1]! : /^default (in|out)$/.test(rule.comment) ? rule.comment : undefined;
    if (name) out.push({ chain: rule.chain, rule: name, packets: counter.packets, bytes: counter.bytes });
  }
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
  return type === 'ifname' ? `"${String(p)}"` : String(p);
}

function renderValue(v: Json): string {
  if (isObj(v) && 'jump' in v) return `jump ${(v.jump as { target: string }).target}`;
  if (isObj(v) && 'goto' in v) return `goto ${(v.goto as { target: string }).target}`;
  if (isObj(v) && 'concat' in v) return (v.concat as Json[]).map((x) => String(x)).join(' . ');
  return String(v);
}

function isObj(x: Json): x is Record<string, Json> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
