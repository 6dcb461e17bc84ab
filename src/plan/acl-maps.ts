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
import { addressSpan, orderAcls, portSpan, type AclDirection, type AclRule } from '../model/acl.js';
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
const EVERYTHING: Box = [ANY_PROTOCOL, ANY_ADDRESS, ANY_PORT, ANY_PORT];

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

/** The boxes of one rule at an endpoint with address `ip`: none if its LocalAddresses miss `ip`. */
function ruleBoxes(r: AclRule, ip: number, limit: number): Box[] {
  if (r.localAddresses.length && !r.localAddresses.some((a) => within(ip, addressSpan(a)))) return [];
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

function isEverything(b: Box): boolean {
  return b.every((s, d) => s[0] === EVERYTHING[d]![0] && s[1] === EVERYTHING[d]![1]);
}

/**
 * The disjoint boxes of one direction's rules (given in evaluation order) at the endpoint `ip`.
 * Throws SY_INVALID_POLICY past MAX_ACL_ELEMENTS.
 */
export function compileAcls(ordered: readonly AclRule[], ip: string, limit = MAX_ACL_ELEMENTS): AclBox[] {
  const at = ipToInt(ip);
  const out: AclBox[] = [];
  const earlier: Box[] = [];
  let work = 0;
  for (const rule of ordered) {
    const own = ruleBoxes(rule, at, limit);
    const bounds = own.length ? boundsOf(own) : undefined;
    let pieces = own;
    for (const e of earlier) {
      if (!bounds || !overlaps(bounds, e)) continue; // one test instead of one per piece
      work += pieces.length;
      if (work > MAX_WORK) throw tooComplex(rule);
      const next: Box[] = [];
      for (const p of pieces) {
        if (overlaps(p, e)) next.push(...subtract(p, e));
        else next.push(p);
      }
      pieces = next;
      if (!pieces.length) break;
      if (out.length + pieces.length > limit) throw tooMany(rule, limit);
    }
    for (const box of pieces) out.push({ rule, box });
    if (out.length > limit) throw tooMany(rule, limit);
    // A rule that matches everything decides every packet: no later rule is reached.
    if (own.some(isEverything)) break;
    earlier.push(...own);
  }
  return out;
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
 * The elements of one direction's map for the endpoint `ip`: key ip . protocol . remote address .
 * local port . remote port, the rule's verdict, "acl ID" as comment (what its counter is read by).
 */
export function aclElements(ip: string, acls: readonly AclRule[], direction: AclDirection): NftElement[] {
  const boxes = compileAcls(orderAcls(acls.filter((a) => a.direction === direction)), ip);
  return boxes.map(({ rule, box: [p, a, l, r] }) => ({
    key: [ip, p[0] === p[1] ? protoAtom(p[0]) : `${p[0]}-${p[1]}`, addressAtom(a), portAtom(l), portAtom(r)],
    value: VERDICT[rule.action],
    comment: `acl ${rule.id}`,
  }));
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

function portAtom([lo, hi]: Span): string {
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}
