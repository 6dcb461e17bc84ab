/**
 * ACL policies (HCN `ACL`): parsing and validating the settings as HCN writes them, and ordering the
 * rules (plan/acl-maps.ts turns them into map elements). Pure.
 *
 * Semantics (also in the README):
 *  - Direction Out: what the endpoint sends; In: what it receives (after a port mapping's DNAT, so
 *    LocalPorts are the container's ports).
 *  - Rules are evaluated by Priority, lower first (absent = 0, as hcsshim omits a zero); on a tie
 *    Block comes before Pass and Pass before Allow. The first rule that matches decides: Allow
 *    accepts, Block drops, Pass leaves the endpoint's ACLs undecided (the packet goes on as if the
 *    endpoint had no ACL in that direction).
 *  - Stateful: packets of an established flow (replies included) pass; rules decide new flows.
 *  - Default (HNS's rule, made visible by `inspect`): an endpoint with any ACL blocks, in both
 *    directions, what no rule allows. Add `Allow` with Priority 65535 to open a direction.
 */
import { createHash } from 'node:crypto';
import { SyError } from '../errors.js';
import { cidrToString, ipToInt, isIPv4, parseCidr } from './ipv4.js';
import { isPolicyType } from './network-settings.js';

export type AclAction = 'Allow' | 'Block' | 'Pass';
export type AclDirection = 'In' | 'Out';

export interface AclRule {
  id: string;
  action: AclAction;
  direction: AclDirection;
  /** IP protocol numbers; empty = any (HCN 256) */
  protocols: number[];
  /** normalised "a.b.c.d/n", "a.b.c.d" or "a.b.c.d-e.f.g.h"; empty = any */
  localAddresses: string[];
  remoteAddresses: string[];
  /** "80" or "8000-8080"; empty = any */
  localPorts: string[];
  remotePorts: string[];
  priority: number;
  ruleType: 'Host' | 'Switch';
}

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 58: 'ipv6-icmp', 132: 'sctp' };
const PORT_PROTOCOLS = new Set([6, 17, 132]);
const ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,64}$/;
const ACTION_ORDER: Record<AclAction, number> = { Block: 0, Pass: 1, Allow: 2 };
const FIELDS = new Set(['Id', 'ID', 'Action', 'Direction', 'Protocols', 'LocalAddresses', 'RemoteAddresses', 'LocalPorts', 'RemotePorts', 'Priority', 'RuleType', 'Scope']);

/** Parses one ACL policy's Settings; `where` names the policy in errors ("Policies[2]"). */
export function parseAcl(settings: unknown, where: string): AclRule {
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new SyError('SY_INVALID_POLICY', `${where}: ACL Settings must be an object`);
  }
  const s = settings as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (!FIELDS.has(k)) throw new SyError('SY_INVALID_POLICY', `${where}: unknown ACL setting "${k}"`);
  }
  const field = (name: string) => `${where}.Settings.${name}`;
  const action = oneOf(s.Action, ['Allow', 'Block', 'Pass'] as const, field('Action'), true)!;
  const direction = oneOf(s.Direction, ['In', 'Out'] as const, field('Direction'), true)!;
  const ruleType = oneOf(s.RuleType, ['Host', 'Switch'] as const, field('RuleType'), false) ?? 'Switch';
  const protocols = parseProtocols(s.Protocols, field('Protocols'));
  const localAddresses = parseAddresses(s.LocalAddresses, field('LocalAddresses'));
  const remoteAddresses = parseAddresses(s.RemoteAddresses, field('RemoteAddresses'));
  const localPorts = parsePorts(s.LocalPorts, field('LocalPorts'));
  const remotePorts = parsePorts(s.RemotePorts, field('RemotePorts'));
  if ((localPorts.length || remotePorts.length) && (!protocols.length || protocols.some((p) => !PORT_PROTOCOLS.has(p)))) {
    throw new SyError('SY_INVALID_POLICY', `${where}: ports need Protocols limited to 6 (TCP), 17 (UDP) or 132 (SCTP)`);
  }
  const priority = s.Priority === undefined ? 0 : s.Priority;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority > 65535) {
    throw new SyError('SY_INVALID_POLICY', `${field('Priority')} ${JSON.stringify(priority)} is out of range (0-65535)`);
  }
  const rule: Omit<AclRule, 'id'> = { action, direction, protocols, localAddresses, remoteAddresses, localPorts, remotePorts, priority, ruleType };
  const given = s.Id ?? s.ID;
  if (given !== undefined && (typeof given !== 'string' || !ID_PATTERN.test(given))) {
    throw new SyError('SY_INVALID_POLICY', `${field('Id')} ${JSON.stringify(given)} is not valid: 1-64 letters, digits or _.:@-`);
  }
  // Without an Id the rule is named by its content, so the same rule keeps its name (and its
  // counters' name) across restarts and documents.
  const id = (given as string | undefined) || `acl-${createHash('sha256').update(JSON.stringify(rule)).digest('hex').slice(0, 12)}`;
  return { id, ...rule };
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], field: string, required: boolean): T | undefined {
  if (v === undefined || v === '') {
    if (required) throw new SyError('SY_INVALID_POLICY', `${field} is required (${allowed.join(', ')})`);
    return undefined;
  }
  const hit = allowed.find((a) => typeof v === 'string' && a.toLowerCase() === v.toLowerCase());
  if (!hit) throw new SyError('SY_INVALID_POLICY', `${field} ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
  return hit;
}

function listOf(v: unknown, field: string): string[] {
  if (v === undefined || v === null || v === '') return [];
  if (typeof v === 'number') return [String(v)];
  if (typeof v !== 'string') throw new SyError('SY_INVALID_POLICY', `${field} must be a comma-separated string`);
  if (v.length > 4096) throw new SyError('SY_INVALID_POLICY', `${field} is longer than 4096 characters`);
  const items = v.split(',').map((x) => x.trim());
  if (items.some((x) => x === '')) throw new SyError('SY_INVALID_POLICY', `${field} ${JSON.stringify(v)} has an empty entry`);
  return items;
}

/** HCN's comma-separated protocol list (numbers or names; 256 = any, returned as []). */
export function parseProtocols(v: unknown, field: string): number[] {
  const out = new Set<number>();
  for (const item of listOf(v, field)) {
    const byName = Object.entries(PROTO_NAMES).find(([, n]) => n === item.toLowerCase() || (n === 'ipv6-icmp' && item.toLowerCase() === 'icmpv6'));
    const n = byName ? Number(byName[0]) : /^\d{1,3}$/.test(item) ? Number(item) : NaN;
    if (!Number.isInteger(n) || n < 0 || n > 256) throw new SyError('SY_INVALID_POLICY', `${field}: "${item}" is not a protocol number (0-255, 256 = any)`);
    if (n === 256) return [];
    out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

function parseAddresses(v: unknown, field: string): string[] {
  const out: string[] = [];
  for (const item of listOf(v, field)) {
    if (item === '*' || item.toLowerCase() === 'any') return [];
    const range = /^([0-9.]+)-([0-9.]+)$/.exec(item);
    if (range) {
      if (!isIPv4(range[1]!) || !isIPv4(range[2]!) || ipToInt(range[1]!) > ipToInt(range[2]!)) {
        throw new SyError('SY_INVALID_POLICY', `${field}: "${item}" is not an IPv4 range (low-high)`);
      }
      out.push(item);
    } else if (isIPv4(item)) {
      out.push(item);
    } else {
      try {
        out.push(cidrToString(parseCidr(item, 'address')));
      } catch (e) {
        throw new SyError('SY_INVALID_POLICY', `${field}: ${(e as Error).message.replace(/ such as 172.18.0.0\/24$/, '')} (expected an IPv4 address, CIDR or range)`);
      }
    }
  }
  return noOverlap(out, addressSpan, field);
}

/** Refuses overlapping entries (nft refuses overlapping intervals in one set) with a clear error. */
function noOverlap(items: string[], range: (x: string) => [number, number], field: string): string[] {
  const r = items.map((x) => ({ x, span: range(x) })).sort((a, b) => a.span[0] - b.span[0]);
  for (let i = 1; i < r.length; i++) {
    if (r[i]!.span[0] <= r[i - 1]!.span[1]) throw new SyError('SY_INVALID_POLICY', `${field}: "${r[i]!.x}" overlaps "${r[i - 1]!.x}"`);
  }
  return items;
}

/** An address, CIDR or range as its first and last address. */
export function addressSpan(a: string): [number, number] {
  const r = /^([0-9.]+)-([0-9.]+)$/.exec(a);
  if (r) return [ipToInt(r[1]!), ipToInt(r[2]!)];
  if (!a.includes('/')) return [ipToInt(a), ipToInt(a)];
  const c = parseCidr(a);
  return [c.base, c.base + 2 ** (32 - c.prefix) - 1];
}

/** Whether `ip` (as a number) is one of a list of addresses, CIDRs and ranges. */
export function addressIn(list: readonly string[], ip: number): boolean {
  return list.some((a) => {
    const [lo, hi] = addressSpan(a);
    return ip >= lo && ip <= hi;
  });
}

/** Whether `port` is one of a list of ports and ranges. */
export function portIn(list: readonly string[], port: number): boolean {
  return list.some((p) => {
    const [lo, hi] = portSpan(p);
    return port >= lo && port <= hi;
  });
}

/** A port or range as its first and last port. */
export function portSpan(p: string): [number, number] {
  const [lo, hi] = p.split('-').map(Number);
  return [lo!, hi ?? lo!];
}

/** HCN's comma-separated ports and ranges ("80,8000-8080"), normalised, without overlaps. */
export function parsePorts(v: unknown, field: string): string[] {
  const out: string[] = [];
  for (const item of listOf(v, field)) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo < 1 || hi > 65535 || lo > hi) throw new SyError('SY_INVALID_POLICY', `${field}: "${item}" is not a port or port range (1-65535)`);
    out.push(lo === hi ? String(lo) : `${lo}-${hi}`);
  }
  return noOverlap(out, portSpan, field);
}

/** Rules in the order they are evaluated. */
export function orderAcls(rules: readonly AclRule[]): AclRule[] {
  return [...rules].sort((a, b) => a.priority - b.priority || ACTION_ORDER[a.action] - ACTION_ORDER[b.action]);
}

/**
 * NetworkACL rules apply to every endpoint of their network (HCN's network policy `NetworkACL`, its
 * Settings those of an ACL): they join each endpoint's own rules, ordered with them by Priority, and
 * show among them with this prefix on their Id ('/' cannot be in an Id, so they never clash).
 */
export const NETWORK_ACL_PREFIX = 'network/';

/** The rules an endpoint's traffic meets: its network's, then its own (a tie keeps that order). */
export function effectiveAcls(own: readonly AclRule[], network: readonly AclRule[] | undefined): readonly AclRule[] {
  if (!network?.length) return own;
  return [...network.map((r) => ({ ...r, id: NETWORK_ACL_PREFIX + r.id })), ...own];
}

/** The effective default of a direction: what happens to a new flow no rule decides. */
export function aclDefault(rules: readonly AclRule[]): 'Allow' | 'Block' {
  return rules.length ? 'Block' : 'Allow';
}

/** The HCN Settings of a rule, as `inspect` shows it. */
export function renderAcl(r: AclRule): Record<string, unknown> {
  return {
    Id: r.id,
    Action: r.action,
    Direction: r.direction,
    Protocols: r.protocols.length ? r.protocols.join(',') : '256',
    ...(r.localAddresses.length ? { LocalAddresses: r.localAddresses.join(',') } : {}),
    ...(r.remoteAddresses.length ? { RemoteAddresses: r.remoteAddresses.join(',') } : {}),
    ...(r.localPorts.length ? { LocalPorts: r.localPorts.join(',') } : {}),
    ...(r.remotePorts.length ? { RemotePorts: r.remotePorts.join(',') } : {}),
    RuleType: r.ruleType,
    Priority: r.priority,
  };
}

/**
 * What the kernel counts a rule's packets under (the comment of its elements), and a direction's
 * default: written by the planner, read back by aclHits.
 */
export function counterComment(r: Pick<AclRule, 'id'> | { default: AclDirection }): string {
  return 'id' in r ? `acl ${r.id}` : `default ${r.default.toLowerCase()}`;
}

/** The hits of one rule (or of a direction's default, Id "default") at one endpoint. */
export interface AclHits {
  id: string;
  direction: AclDirection;
  packets: number;
  bytes: number;
}

/**
 * Every rule's hits and each direction's default, from the counters of the endpoint's map elements
 * (comment "acl ID" or "default in|out"; a rule of several elements adds them up). In evaluation
 * order, Out then In, each default after its rules; a rule no packet can reach shows zero.
 */
export function aclHits(acls: readonly AclRule[], counters: readonly { comment: string; packets: number; bytes: number }[]): AclHits[] {
  const sums = new Map<string, { packets: number; bytes: number }>();
  for (const c of counters) {
    const s = sums.get(c.comment) ?? { packets: 0, bytes: 0 };
    sums.set(c.comment, { packets: s.packets + c.packets, bytes: s.bytes + c.bytes });
  }
  return (['Out', 'In'] as const).flatMap((direction) => [
    ...orderAcls(acls.filter((a) => a.direction === direction)).map((a) => ({ id: a.id, direction, ...(sums.get(counterComment(a)) ?? { packets: 0, bytes: 0 }) })),
    { id: 'default', direction, ...(sums.get(counterComment({ default: direction })) ?? { packets: 0, bytes: 0 }) },
  ]);
}

/** A network document's NetworkACL policies (other Types are left to the caller), Ids unique. */
export function parseNetworkAcls(policies: readonly { Type: string; Settings?: unknown }[], base: string): AclRule[] {
  const out: AclRule[] = [];
  policies.forEach((p, i) => {
    if (!isPolicyType(p, 'NetworkACL')) return;
    const r = parseAcl(p.Settings, `${base}[${i}]`);
    if (out.some((x) => x.id === r.id)) throw new SyError('SY_INVALID_POLICY', `${base}: NetworkACL Id "${r.id}" appears twice (or two rules are identical)`);
    out.push(r);
  });
  return out;
}

/**
 * An HCN modify request on a network's NetworkACL rules: Add puts them in (an Id already there is
 * refused), Remove takes out those it names by Id, Update replaces them all.
 */
export function modifyNetworkAcls(cur: readonly AclRule[], kind: 'add' | 'remove' | 'update', req: readonly AclRule[]): AclRule[] {
  if (kind === 'update') return [...req];
  if (kind === 'add') {
    const dup = req.find((a) => cur.some((x) => x.id === a.id));
    if (dup) throw new SyError('SY_INVALID_POLICY', `The network already has NetworkACL "${dup.id}"; use Update or Remove it first`);
    return [...cur, ...req];
  }
  const missing = req.find((a) => !cur.some((x) => x.id === a.id));
  if (missing) throw new SyError('SY_NOT_FOUND', `The network has no NetworkACL "${missing.id}"`);
  return cur.filter((x) => !req.some((a) => a.id === x.id));
}
