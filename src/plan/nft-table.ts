/**
 * A desired nftables table as data: chains with their rules, and sets/maps with their elements.
 * Chains hold few rules that change rarely (per network); what changes often (port mappings,
 * endpoints) lives in map elements, so one change is one element, whatever the size of the host.
 */
import { PROTOCOL_NAMES } from '../model/ports.js';

export interface NftChain {
  name: string;
  /** base chain header, e.g. "type nat hook prerouting priority dstnat; policy accept;" */
  base?: string;
  rules: string[];
}

export interface NftElement {
  /** key parts in nft syntax, e.g. ["tcp", "8080"]; joined with " . " */
  key: string[];
  /** value in nft syntax for maps (e.g. "172.18.0.2 . 80" or "jump net-x-in") */
  value?: string;
  comment?: string;
}

export interface NftSet {
  name: string;
  /** key types, e.g. ["inet_proto", "ipv4_addr", "inet_service"] */
  keyTypes: string[];
  /** value type for maps ("verdict", "ipv4_addr . inet_service"); absent for sets */
  valueType?: string;
  flags?: string[];
  /** each element counts the packets it matched */
  counter?: boolean;
  comment?: string;
  elements: NftElement[];
}

export interface NftTable {
  family: 'inet' | 'bridge' | 'netdev';
  name: string;
  comment: string;
  sets: NftSet[];
  chains: NftChain[];
}

export function elementKey(e: NftElement): string {
  return e.key.join(' . ');
}

/** What an element holds besides its key (its value and comment): a change of it is a new element. */
export function elementSig(e: Pick<NftElement, 'value' | 'comment'>): string {
  return `${e.value ?? ''}${e.comment ? ` # ${e.comment}` : ''}`;
}

/**
 * A protocol in an element key, as the planner writes it and as a listing with numeric protocols
 * is read back: tcp, udp and sctp by name, any other by number.
 */
export function protoAtom(n: number): string {
  return (PROTOCOL_NAMES as Record<number, string>)[n] ?? String(n);
}

/** One element in nft syntax: key [comment "..."] [: value]. */
export function renderElement(e: NftElement): string {
  const comment = e.comment ? ` comment ${quote(e.comment)}` : '';
  return `${elementKey(e)}${comment}${e.value !== undefined ? ` : ${e.value}` : ''}`;
}

export function renderSetDecl(s: NftSet): string {
  const kind = s.valueType ? 'map' : 'set';
  const parts = [`type ${s.keyTypes.join(' . ')}${s.valueType ? ` : ${s.valueType}` : ''};`];
  if (s.flags?.length) parts.push(`flags ${s.flags.join(',')};`);
  if (s.counter) parts.push('counter;');
  if (s.comment) parts.push(`comment ${quote(s.comment)};`);
  return `${kind} ${s.name} { ${parts.join(' ')} }`;
}

/**
 * Quotes a string for nft. Only characters that cannot break out of an nft string reach here:
 * hostd builds comments from ids and validated names, and this refuses anything else.
 */
export function quote(s: string): string {
  if (!/^[A-Za-z0-9 _.:/=,+@#-]*$/.test(s) || s.length > 120) {
    throw new Error(`refusing to place ${JSON.stringify(s)} in an nft script`);
  }
  return `"${s}"`;
}

/**
 * `table` with the part described by `before` replaced by `after` (both partial tables of the same
 * sets, as the reconciler's incremental path makes them): elements of `before` out, elements of
 * `after` in, chains of `before` that `after` lacks removed, chains of `after` put in. What the
 * kernel does with diffNft(after, currentOf(before)); the fake data plane holds its table this way.
 */
export function patchTable(table: NftTable, before: NftTable, after: NftTable): NftTable {
  const t = structuredClone(table);
  for (const part of [before, after]) {
    for (const ps of part.sets) {
      const set = t.sets.find((s) => s.name === ps.name);
      if (!set) throw new Error(`patch: no set ${ps.name} in table`);
      const keys = new Set(ps.elements.map(elementKey));
      set.elements = set.elements.filter((e) => !keys.has(elementKey(e)));
      if (part === after) set.elements.push(...structuredClone(ps.elements));
    }
  }
  const kept = new Set(after.chains.map((c) => c.name));
  const gone = new Set(before.chains.map((c) => c.name).filter((n) => !kept.has(n)));
  t.chains = t.chains.filter((c) => !gone.has(c.name));
  for (const c of after.chains) {
    const i = t.chains.findIndex((x) => x.name === c.name);
    if (i >= 0) t.chains[i] = structuredClone(c);
    else t.chains.push(structuredClone(c));
  }
  return t;
}

/** The whole table as one nft script (used for golden files and for a first, empty-kernel apply). */
export function renderTable(t: NftTable): string {
  const lines: string[] = [`table ${t.family} ${t.name} {`, `  comment ${quote(t.comment)}`];
  for (const s of t.sets) {
    const decl = renderSetDecl(s).replace(/ }$/, '');
    lines.push(`  ${decl}`);
    if (s.elements.length) {
      lines.push('    elements = {');
      const sorted = [...s.elements].sort((a, b) => elementKey(a).localeCompare(elementKey(b)));
      sorted.forEach((e, i) => lines.push(`      ${renderElement(e)}${i < sorted.length - 1 ? ',' : ''}`));
      lines.push('    }');
    }
    lines.push('  }');
  }
  for (const c of t.chains) {
    lines.push(`  chain ${c.name} {`);
    if (c.base) lines.push(`    ${c.base}`);
    for (const r of c.rules) lines.push(`    ${r}`);
    lines.push('  }');
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
