/**
 * An endpoint's ACL rules as the elements of two verdict maps (one per direction). Pure.
 *
 * The rules of a direction, in the order they are evaluated (orderAcls), become disjoint boxes in
 * protocol × remote address × local port × remote port: each box is a part of one rule that no
 * earlier rule covers. A packet's key falls in at most one box, so one map lookup decides what the
 * first matching rule of the list would, and the box's counter is that rule's.
 *
 * Why elements and not a chain of rules per endpoint: a rule added to any chain makes the kernel
 * check every chain of the table again (nft_table_validate), which costs more the more endpoints
 * have ACLs; an accept/drop/return element does not. A change of an endpoint's rules is a few
 * elements, whatever the host holds.
 */
import { SyError } from '../errors.js';
import { intToIp, ipToInt } from '../model/ipv4.js';
import { addressIn, addressSpan, counterComment, orderAcls, portSpan, type AclDirection, type AclRule } from '../model/acl.js';
import { protoAtom, type NftElement } from './nft-table.js';

/** A closed interval of numbers. */
export type Span = readonly [number, number];
/** protocol, remote address, local port, remote port */
export type Box = readonly [Span, Span, Span, Span];

export interface AclBox {
  rule: AclRule;
  box: Box;
}

const ANY_PROTOCOL: Span = [0, 255];
const ANY_ADDRESS: Span = [0, 2 ** 32 - 1];
const ANY_PORT: Span = [0, 65535];

/**
 * How many elements one endpoint's rules may make in one direction. Rules that are lists of many
 * addresses times many ports (or many rules that cut each other) can make more than their number:
 * past this the request is refused with a clear error instead of loading a huge map.
 */
export const MAX_ACL_ELEMENTS = 4096;

/**
 * How many box comparisons one direction's rules may cost to compile (~0.5 s here): past it the
 * rules are refused, before hostd spends seconds on them.
 */
const MAX_WORK = 10_000_000;

/** The boxes of one rule (whose LocalAddresses hold the endpoint's address). */
function ruleBoxes(r: AclRule, limit: number): Box[] {
  const protocols: Span[] = r.protocols.length ? r.protocols.map((p) => [p, p]) : [ANY_PROTOCOL];
  const remotes = r.remoteAddresses.length ? r.remoteAddresses.map(addressSpan) : [ANY_ADDRESS];
  const locals = r.localPorts.length ? r.localPorts.map(portSpan) : [ANY_PORT];
  const rports = r.remotePorts.length ? r.remotePorts.map(portSpan) : [ANY_PORT];
  // Counted before they are made: lists of a few thousand characters each could multiply to millions.
  if (protocols.length * remotes.length * locals.length * rports.length > limit) throw tooMany(r, limit);
  const out: Box[] = [];
  for (const p of protocols) for (const a of remotes) for (const l of locals) for (const q of rports) out.push([p, a, l, q]);
  return out;
}

function within(x: number, s: Span): boolean {
  return x >= s[0] && x <= s[1];
}

function overlaps(a: Box, b: Box): boolean {
  for (let d = 0; d < 4; d++) if (a[d]![0] > b[d]![1] || b[d]![0] > a[d]![1]) return false;
  return true;
}

/** `a` less `b`: at most two pieces a dimension, disjoint. */
export function subtract(a: Box, b: Box): Box[] {
  if (!overlaps(a, b)) return [a];
  const out: Box[] = [];
  const rest = [...a] as Span[];
  for (let d = 0; d < 4; d++) {
    const [lo, hi] = rest[d]!;
    const [blo, bhi] = b[d]!;
    if (lo < blo) out.push(withSpan(rest, d, [lo, blo - 1]));
    if (hi > bhi) out.push(withSpan(rest, d, [bhi + 1, hi]));
    rest[d] = [Math.max(lo, blo), Math.min(hi, bhi)];
  }
  return out;
}

function withSpan(box: readonly Span[], d: number, s: Span): Box {
  const b = [...box];
  b[d] = s;
  return b as unknown as Box;
}

/** A rule without protocols, addresses or ports (its LocalAddresses hold the endpoint). */
function matchesEverything(r: AclRule): boolean {
  return !r.protocols.length && !r.remoteAddresses.length && !r.localPorts.length && !r.remotePorts.length;
}

/**
 * One direction's rules at one endpoint, compiled: the disjoint boxes, and the rule that matches
 * everything (`last`), if any: it decides what no earlier rule does, so it is not cut into the
 * complement of all the boxes before it but goes into the direction's default element (one element,
 * whose counter survives rules added before it). No rule after it is reached.
 */
export interface CompiledAcls {
  boxes: AclBox[];
  last?: AclRule;
}

/** Compiled rule lists, by rules and by which of them hold the endpoint's address (the only part of
 * the result an endpoint's address changes): a NetworkACL compiles once for all its endpoints. */
const compiled = new Map<string, CompiledAcls>();
const COMPILED_KEPT = 512;

/**
 * The disjoint boxes of one direction's rules (given in evaluation order) at the endpoint `ip`.
 * Throws SY_INVALID_POLICY past `limit` boxes or MAX_WORK comparisons.
 */
export function compileAcls(ordered: readonly AclRule[], ip: string, limit = MAX_ACL_ELEMENTS): CompiledAcls {
  const at = ipToInt(ip);
  const applies = ordered.map((r) => !r.localAddresses.length || addressIn(r.localAddresses, at));
  const key = JSON.stringify([ordered, applies, limit]);
  const hit = compiled.get(key);
  if (hit) return hit;
  const result = compile(ordered.filter((_, i) => applies[i]), limit);
  compiled.set(key, result);
  if (compiled.size > COMPILED_KEPT) compiled.delete(compiled.keys().next().value!);
  return result;
}

function compile(rules: readonly AclRule[], limit: number): CompiledAcls {
  // Each rule is cut by the boxes already made: they cover what the earlier rules cover, never more
  // than `limit` of them, and those of a rule wholly covered before it are none.
  const out: AclBox[] = [];
  let work = 0;
  for (const rule of rules) {
    if (matchesEverything(rule)) return { boxes: out, last: rule };
    const own = ruleBoxes(rule, limit);
    const bounds = boundsOf(own);
    let pieces = own;
    work += own.length;
    const made = out.length;
    for (let i = 0; i < made && pieces.length; i++) {
      const e = out[i]!.box;
      if (!overlaps(bounds, e)) continue; // one test instead of one per piece
      work += pieces.length;
      if (work > MAX_WORK) throw tooComplex(rule);
      const next: Box[] = [];
      for (const p of pieces) {
        if (overlaps(p, e)) next.push(...subtract(p, e));
        else next.push(p);
      }
      pieces = next;
    }
    if (out.length + pieces.length > limit) throw tooMany(rule, limit);
    for (const box of pieces) out.push({ rule, box });
  }
  return { boxes: out };
}

function tooComplex(rule: AclRule): SyError {
  return new SyError(
    'SY_INVALID_POLICY',
    `The ACL rules of direction ${rule.direction} (up to "${rule.id}") cut across each other too much to be compiled into map elements: write address lists as CIDRs or ranges, or use fewer rules`,
  );
}

function boundsOf(boxes: readonly Box[]): Box {
  return [0, 1, 2, 3].map((d) => [Math.min(...boxes.map((b) => b[d]![0])), Math.max(...boxes.map((b) => b[d]![1]))]) as unknown as Box;
}

function tooMany(rule: AclRule, limit: number): SyError {
  return new SyError(
    'SY_INVALID_POLICY',
    `The ACL rules of direction ${rule.direction} (up to "${rule.id}") make more than ${limit} map elements: write address lists as CIDRs or ranges, or use fewer rules that cut across each other`,
  );
}

/** The box a packet falls in (at most one: they are disjoint), for tests and checks. */
export function lookupBox(boxes: readonly AclBox[], key: readonly [number, number, number, number]): AclBox | undefined {
  return boxes.find((b) => b.box.every((s, d) => within(key[d]!, s)));
}

const VERDICT: Record<AclRule['action'], string> = { Allow: 'accept', Block: 'drop', Pass: 'return' };

/**
 * One direction's elements for the endpoint `ip`: the map's (key ip . protocol . remote address .
 * local port . remote port, the rule's verdict, "acl ID" as comment: what its counter is read by),
 * and the default element (key ip): drop, "default in|out", or the verdict and Id of the rule that
 * matches everything.
 */
export function aclElements(ip: string, acls: readonly AclRule[], direction: AclDirection): { elements: NftElement[]; fallback: NftElement } {
  const { boxes, last } = compileAcls(orderAcls(acls.filter((a) => a.direction === direction)), ip);
  return {
    elements: boxes.map(({ rule, box: [p, a, l, r] }) => ({
      key: [ip, spanAtom(p, protoAtom), addressAtom(a), spanAtom(l), spanAtom(r)],
      value: VERDICT[rule.action],
      comment: counterComment(rule),
    })),
    fallback: last ? { key: [ip], value: VERDICT[last.action], comment: counterComment(last) } : defaultElement(ip, direction),
  };
}

/** What no rule of a direction decides: dropped (HNS's default once an endpoint has any ACL). */
export function defaultElement(ip: string, direction: AclDirection): NftElement {
  return { key: [ip], value: 'drop', comment: counterComment({ default: direction }) };
}

/** Refuses rules that would make too many elements, before anything is stored. */
export function checkAclSize(ip: string, acls: readonly AclRule[]): void {
  aclElements(ip, acls, 'In');
  aclElements(ip, acls, 'Out');
}

/** An address span as nft prints it back: an address, a prefix, or a range. */
export function addressAtom([lo, hi]: Span): string {
  if (lo === hi) return intToIp(lo);
  const size = hi - lo + 1;
  const bits = Math.log2(size);
  if (Number.isInteger(bits) && lo % size === 0) return `${intToIp(lo)}/${32 - bits}`;
  return `${intToIp(lo)}-${intToIp(hi)}`;
}

/** A protocol or port span: one value (written by `one`), or a range of numbers. */
function spanAtom([lo, hi]: Span, one: (n: number) => string = String): string {
  return lo === hi ? one(lo) : `${lo}-${hi}`;
}
