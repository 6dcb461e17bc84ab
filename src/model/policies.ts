/**
 * An endpoint's policies other than port mappings (those need host ports chosen: model/ports.ts):
 * ACL (model/acl.ts), QOS, OutBoundNAT, SDNRoute and EncapOverhead. Parsing and validation of the
 * HCN documents, the HCN modify request (Add / Remove / Update), and rendering back. Pure.
 */
import { SyError } from '../errors.js';
import { parseAcl, renderAcl, type AclRule } from './acl.js';
import { cidrContains, cidrsOverlap, cidrToString, ipToInt, isIPv4, parseCidr, type Cidr } from './ipv4.js';
import { parsePortMapping, type PortRequest } from './ports.js';

export interface QosPolicy {
  /** bytes per second the endpoint may send (HCN MaximumOutgoingBandwidthInBytes) */
  egressBytes?: number;
  /** bytes per second the endpoint may receive (Switchyard's MaximumIncomingBandwidthInBytes) */
  ingressBytes?: number;
  /** bucket sizes in bytes (Switchyard's OutgoingBurstInBytes / IncomingBurstInBytes; CNI's bursts) */
  egressBurst?: number;
  ingressBurst?: number;
}

export interface OutboundNatPolicy {
  /** destinations (CIDRs) the endpoint's traffic reaches untranslated */
  exceptions: string[];
  /** if not empty, only traffic to these destinations is translated */
  destinations: string[];
  /** source address to translate to instead of the outgoing interface's */
  virtualIp?: string;
}

export interface RoutePolicy {
  destination: string;
  /** absent: on-link through the endpoint's interface */
  nextHop?: string;
  metric?: number;
}

/** The policies an endpoint record keeps besides its port mappings. */
export interface EndpointPolicies {
  acls: AclRule[];
  qos?: QosPolicy;
  outboundNat?: OutboundNatPolicy;
  routes: RoutePolicy[];
  encapOverhead?: number;
  /** Overlay: the provider address of the host the endpoint lives on (a remote endpoint's host) */
  providerAddress?: string;
}

/** A request's policies, parsed, before host ports are chosen. */
export interface ParsedPolicies {
  portMappings: PortRequest[];
  acls: AclRule[];
  qos: QosPolicy[];
  outboundNat: OutboundNatPolicy[];
  routes: RoutePolicy[];
  encapOverhead: number[];
  providerAddress: string[];
  /** the policy Types present in the request (Update replaces these) */
  types: Set<PolicyType>;
}

export const POLICY_TYPES = ['PortMapping', 'ACL', 'QOS', 'OutBoundNAT', 'SDNRoute', 'EncapOverhead', 'ProviderAddress'] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];
/** HCN endpoint policy Types that exist but have no meaning on Linux NAT endpoints yet. */
const LATER = ['L4Proxy', 'L4WFPPROXY', 'PortName', 'NetworkACL', 'TierAcl', 'IOV'];

/** The most a QOS cap may be (100 Gbit/s) and the least (8 kbit/s), in bytes per second. */
const MAX_RATE = 12_500_000_000;
const MIN_RATE = 1_000;

export function emptyPolicies(): EndpointPolicies {
  return { acls: [], routes: [] };
}

/** Parses HCN endpoint policies ({Type, Settings}); `base` names the list in errors. */
export function parsePolicies(policies: { Type: string; Settings?: unknown }[], base = 'Policies'): ParsedPolicies {
  const out: ParsedPolicies = { portMappings: [], acls: [], qos: [], outboundNat: [], routes: [], encapOverhead: [], providerAddress: [], types: new Set() };
  policies.forEach((p, i) => {
    const where = `${base}[${i}]`;
    const type = POLICY_TYPES.find((t) => t.toLowerCase() === p.Type.toLowerCase());
    if (!type) {
      const later = LATER.find((t) => t.toLowerCase() === p.Type.toLowerCase());
      if (later === 'NetworkACL') throw new SyError('SY_NOT_SUPPORTED', `${where}: NetworkACL is a network policy: give it to the network (its rules reach every endpoint)`);
      if (later) throw new SyError('SY_NOT_SUPPORTED', `${where}: policy Type "${later}" is not supported on this network yet`);
      throw new SyError('SY_INVALID_POLICY', `${where}: unknown policy Type "${p.Type}"; expected one of ${POLICY_TYPES.join(', ')}`);
    }
    out.types.add(type);
    const s = settingsOf(p.Settings, where, type);
    if (type === 'PortMapping') out.portMappings.push(parsePortMapping(p.Settings, where));
    else if (type === 'ACL') out.acls.push(parseAcl(p.Settings, where));
    else if (type === 'QOS') out.qos.push(parseQos(s, where));
    else if (type === 'OutBoundNAT') out.outboundNat.push(parseOutboundNat(s, where));
    else if (type === 'SDNRoute') out.routes.push(parseRoute(s, where));
    else if (type === 'EncapOverhead') out.encapOverhead.push(parseOverhead(s, where));
    else out.providerAddress.push(parseProviderAddress(s, where));
  });
  const ids = new Set<string>();
  for (const a of out.acls) {
    if (ids.has(a.id)) throw new SyError('SY_INVALID_POLICY', `${base}: ACL Id "${a.id}" appears twice (or two rules are identical)`);
    ids.add(a.id);
  }
  for (const [what, list] of [['QOS', out.qos], ['OutBoundNAT', out.outboundNat], ['EncapOverhead', out.encapOverhead], ['ProviderAddress', out.providerAddress]] as const) {
    if (list.length > 1) throw new SyError('SY_INVALID_POLICY', `${base}: only one ${what} policy per endpoint`);
  }
  return out;
}

function settingsOf(v: unknown, where: string, type: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SyError('SY_INVALID_POLICY', `${where}: ${type} Settings must be an object`);
  return v as Record<string, unknown>;
}

function onlyKeys(s: Record<string, unknown>, keys: string[], where: string, type: string): void {
  for (const k of Object.keys(s)) if (!keys.includes(k)) throw new SyError('SY_INVALID_POLICY', `${where}: unknown ${type} setting "${k}"`);
}

function parseRate(v: unknown, field: string): number | undefined {
  if (v === undefined || v === 0) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_RATE || v > MAX_RATE) {
    throw new SyError('SY_INVALID_POLICY', `${field} ${JSON.stringify(v)} must be bytes per second between ${MIN_RATE} and ${MAX_RATE} (0 = no cap)`);
  }
  return v;
}

function parseQos(s: Record<string, unknown>, where: string): QosPolicy {
  onlyKeys(s, ['MaximumOutgoingBandwidthInBytes', 'MaximumIncomingBandwidthInBytes', 'OutgoingBurstInBytes', 'IncomingBurstInBytes'], where, 'QOS');
  const egressBytes = parseRate(s.MaximumOutgoingBandwidthInBytes, `${where}.Settings.MaximumOutgoingBandwidthInBytes`);
  const ingressBytes = parseRate(s.MaximumIncomingBandwidthInBytes, `${where}.Settings.MaximumIncomingBandwidthInBytes`);
  if (!egressBytes && !ingressBytes) throw new SyError('SY_INVALID_POLICY', `${where}: QOS sets no cap (give MaximumOutgoingBandwidthInBytes)`);
  const burst = (v: unknown, field: string, rate: number | undefined) => {
    if (v === undefined || v === 0) return undefined;
    if (!rate) throw new SyError('SY_INVALID_POLICY', `${where}.Settings.${field} needs the matching rate`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1500 || v > 1_000_000_000) {
      throw new SyError('SY_INVALID_POLICY', `${where}.Settings.${field} ${JSON.stringify(v)} must be bytes between 1500 and 1000000000`);
    }
    return v;
  };
  const egressBurst = burst(s.OutgoingBurstInBytes, 'OutgoingBurstInBytes', egressBytes);
  const ingressBurst = burst(s.IncomingBurstInBytes, 'IncomingBurstInBytes', ingressBytes);
  return {
    ...(egressBytes ? { egressBytes } : {}),
    ...(ingressBytes ? { ingressBytes } : {}),
    ...(egressBurst ? { egressBurst } : {}),
    ...(ingressBurst ? { ingressBurst } : {}),
  };
}

function prefixList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  const items = typeof v === 'string' ? (v === '' ? [] : v.split(',').map((x) => x.trim())) : v;
  if (!Array.isArray(items) || items.length > 1024 || items.some((x) => typeof x !== 'string')) {
    throw new SyError('SY_INVALID_POLICY', `${field} must be a list of IPv4 addresses or CIDRs`);
  }
  const out = (items as string[]).map((x) => {
    if (isIPv4(x)) return `${x}/32`;
    try {
      return cidrToString(parseCidr(x, 'prefix'));
    } catch (e) {
      throw new SyError('SY_INVALID_POLICY', `${field}: ${(e as Error).message}`);
    }
  });
  // They become intervals of one nft set, which must not overlap.
  const sorted = out.map((c) => ({ c, cidr: parseCidr(c) })).sort((a, b) => a.cidr.base - b.cidr.base);
  for (let i = 1; i < sorted.length; i++) {
    if (cidrsOverlap(sorted[i - 1]!.cidr, sorted[i]!.cidr)) throw new SyError('SY_INVALID_POLICY', `${field}: ${sorted[i]!.c} overlaps ${sorted[i - 1]!.c}`);
  }
  return out;
}

function parseOutboundNat(s: Record<string, unknown>, where: string): OutboundNatPolicy {
  // HNS v1 spelled VirtualIP "VIP" and Exceptions "ExceptionList"; both spellings are taken.
  onlyKeys(s, ['VirtualIP', 'VIP', 'Exceptions', 'ExceptionList', 'Destinations', 'Flags'], where, 'OutBoundNAT');
  if (s.Flags !== undefined && s.Flags !== 0) throw new SyError('SY_NOT_SUPPORTED', `${where}: OutBoundNAT Flags ${JSON.stringify(s.Flags)} are not supported`);
  if ((s.VirtualIP !== undefined && s.VIP !== undefined) || (s.Exceptions !== undefined && s.ExceptionList !== undefined)) {
    throw new SyError('SY_INVALID_POLICY', `${where}: give VirtualIP or VIP, Exceptions or ExceptionList, not both`);
  }
  const vip = s.VirtualIP ?? s.VIP;
  if (vip !== undefined && vip !== '' && (typeof vip !== 'string' || !isIPv4(vip))) {
    throw new SyError('SY_INVALID_POLICY', `${where}.Settings.VirtualIP ${JSON.stringify(vip)} is not an IPv4 address`);
  }
  const exceptions = prefixList(s.Exceptions ?? s.ExceptionList, `${where}.Settings.Exceptions`);
  const destinations = prefixList(s.Destinations, `${where}.Settings.Destinations`);
  const both = exceptions.find((e) => destinations.some((d) => cidrsOverlap(parseCidr(e), parseCidr(d))));
  if (both) throw new SyError('SY_INVALID_POLICY', `${where}: ${both} is both an exception and a destination`);
  return { exceptions, destinations, ...(vip ? { virtualIp: vip as string } : {}) };
}

function parseRoute(s: Record<string, unknown>, where: string): RoutePolicy {
  onlyKeys(s, ['DestinationPrefix', 'NextHop', 'NeedEncap', 'Metric'], where, 'SDNRoute');
  return routeOf(s, where);
}

/** An SDNRoute policy's Settings or an entry of the endpoint's Routes (same fields). */
export function routeOf(s: Record<string, unknown>, where: string): RoutePolicy {
  if (s.NeedEncap === true) throw new SyError('SY_NOT_SUPPORTED', `${where}: NeedEncap routes need an Overlay network`);
  const dst = s.DestinationPrefix;
  if (typeof dst !== 'string') throw new SyError('SY_INVALID_POLICY', `${where}.DestinationPrefix is required (an IPv4 CIDR)`);
  let destination: string;
  try {
    destination = cidrToString(parseCidr(dst, 'DestinationPrefix'));
  } catch (e) {
    throw new SyError('SY_INVALID_POLICY', `${where}: ${(e as Error).message}`);
  }
  if (destination === '0.0.0.0/0') throw new SyError('SY_INVALID_POLICY', `${where}: the default route is the network's gateway; give a narrower DestinationPrefix`);
  const nh = s.NextHop;
  if (nh !== undefined && nh !== '' && (typeof nh !== 'string' || !isIPv4(nh))) {
    throw new SyError('SY_INVALID_POLICY', `${where}.NextHop ${JSON.stringify(nh)} is not an IPv4 address`);
  }
  const metric = s.Metric;
  if (metric !== undefined && (typeof metric !== 'number' || !Number.isInteger(metric) || metric < 0 || metric > 65535)) {
    throw new SyError('SY_INVALID_POLICY', `${where}.Metric ${JSON.stringify(metric)} is out of range (0-65535)`);
  }
  return { destination, ...(nh ? { nextHop: nh as string } : {}), ...(metric ? { metric: metric as number } : {}) };
}

function parseProviderAddress(s: Record<string, unknown>, where: string): string {
  onlyKeys(s, ['ProviderAddress'], where, 'ProviderAddress');
  const pa = s.ProviderAddress;
  if (typeof pa !== 'string' || !isIPv4(pa)) throw new SyError('SY_INVALID_POLICY', `${where}.Settings.ProviderAddress ${JSON.stringify(pa)} is not an IPv4 address`);
  return pa;
}

function parseOverhead(s: Record<string, unknown>, where: string): number {
  onlyKeys(s, ['Overhead'], where, 'EncapOverhead');
  const o = s.Overhead;
  if (typeof o !== 'number' || !Number.isInteger(o) || o < 0 || o > 200) {
    throw new SyError('SY_INVALID_POLICY', `${where}.Settings.Overhead ${JSON.stringify(o)} must be 0-200 bytes`);
  }
  return o;
}

/** Checks what needs the endpoint's subnet and the host: next hops on the subnet, the VIP a host address. */
export function checkPoliciesFit(p: EndpointPolicies, subnet: Cidr, localAddresses: () => string[]): void {
  for (const r of p.routes) {
    if (r.nextHop && !cidrContains(subnet, ipToInt(r.nextHop))) {
      throw new SyError('SY_INVALID_POLICY', `Route to ${r.destination}: NextHop ${r.nextHop} is not on the endpoint's subnet ${cidrToString(subnet)}`);
    }
  }
  for (const r of p.routes) {
    if (cidrsOverlap(parseCidr(r.destination), subnet)) {
      throw new SyError('SY_INVALID_POLICY', `Route to ${r.destination} overlaps the endpoint's own subnet ${cidrToString(subnet)} (reached directly)`);
    }
  }
  const dsts = p.routes.map((r) => r.destination);
  const dup = dsts.find((d, i) => dsts.indexOf(d) !== i);
  if (dup) throw new SyError('SY_INVALID_POLICY', `Two routes to ${dup}`);
  const vip = p.outboundNat?.virtualIp;
  if (vip && !localAddresses().includes(vip)) throw new SyError('SY_INVALID_POLICY', `OutBoundNAT VirtualIP ${vip} is not an address of this host`);
}

/**
 * An HCN modify request on the non-port-mapping policies: Add puts the request's policies in (an
 * ACL Id already present, a second QOS/OutBoundNAT/EncapOverhead is refused), Remove takes out the
 * ones it names (ACLs by Id, routes by DestinationPrefix, the single QOS/OutBoundNAT/EncapOverhead),
 * Update replaces every policy of each Type the request holds.
 */
export function modifyPolicies(cur: EndpointPolicies, kind: 'add' | 'remove' | 'update', req: ParsedPolicies): EndpointPolicies {
  const next: EndpointPolicies = { ...cur, acls: [...cur.acls], routes: [...cur.routes] };
  const has = (t: PolicyType) => req.types.has(t);
  if (kind === 'update') {
    if (has('ACL')) next.acls = req.acls;
    if (has('SDNRoute')) next.routes = req.routes;
    if (has('QOS')) next.qos = req.qos[0];
    if (has('OutBoundNAT')) next.outboundNat = req.outboundNat[0];
    if (has('EncapOverhead')) next.encapOverhead = req.encapOverhead[0];
    if (has('ProviderAddress')) next.providerAddress = req.providerAddress[0];
    return next;
  }
  if (kind === 'add') {
    for (const a of req.acls) {
      if (next.acls.some((x) => x.id === a.id)) throw new SyError('SY_INVALID_POLICY', `The endpoint already has ACL "${a.id}"; use Update or Remove it first`);
      next.acls.push(a);
    }
    for (const r of req.routes) {
      if (next.routes.some((x) => x.destination === r.destination)) throw new SyError('SY_INVALID_POLICY', `The endpoint already has a route to ${r.destination}`);
      next.routes.push(r);
    }
    const single = <K extends 'qos' | 'outboundNat' | 'encapOverhead' | 'providerAddress'>(key: K, list: NonNullable<EndpointPolicies[K]>[], what: string) => {
      if (!list.length) return;
      if (next[key] !== undefined) throw new SyError('SY_INVALID_POLICY', `The endpoint already has a ${what} policy; use Update`);
      next[key] = list[0];
    };
    single('qos', req.qos, 'QOS');
    single('outboundNat', req.outboundNat, 'OutBoundNAT');
    single('encapOverhead', req.encapOverhead, 'EncapOverhead');
    single('providerAddress', req.providerAddress, 'ProviderAddress');
    return next;
  }
  for (const a of req.acls) {
    if (!next.acls.some((x) => x.id === a.id)) throw new SyError('SY_NOT_FOUND', `The endpoint has no ACL "${a.id}"`);
    next.acls = next.acls.filter((x) => x.id !== a.id);
  }
  for (const r of req.routes) {
    if (!next.routes.some((x) => x.destination === r.destination)) throw new SyError('SY_NOT_FOUND', `The endpoint has no route to ${r.destination}`);
    next.routes = next.routes.filter((x) => x.destination !== r.destination);
  }
  if (has('QOS')) delete next.qos;
  if (has('OutBoundNAT')) delete next.outboundNat;
  if (has('EncapOverhead')) delete next.encapOverhead;
  if (has('ProviderAddress')) delete next.providerAddress;
  return next;
}

/** The policies as HCN documents ({Type, Settings}), in a stable order. */
export function renderPolicies(p: EndpointPolicies): { Type: string; Settings: Record<string, unknown> }[] {
  const out: { Type: string; Settings: Record<string, unknown> }[] = [];
  for (const a of p.acls) out.push({ Type: 'ACL', Settings: renderAcl(a) });
  if (p.qos) {
    out.push({
      Type: 'QOS',
      Settings: {
        ...(p.qos.egressBytes ? { MaximumOutgoingBandwidthInBytes: p.qos.egressBytes } : {}),
        ...(p.qos.ingressBytes ? { MaximumIncomingBandwidthInBytes: p.qos.ingressBytes } : {}),
        ...(p.qos.egressBurst ? { OutgoingBurstInBytes: p.qos.egressBurst } : {}),
        ...(p.qos.ingressBurst ? { IncomingBurstInBytes: p.qos.ingressBurst } : {}),
      },
    });
  }
  if (p.outboundNat) {
    const n = p.outboundNat;
    out.push({ Type: 'OutBoundNAT', Settings: { ...(n.virtualIp ? { VirtualIP: n.virtualIp } : {}), Exceptions: n.exceptions, ...(n.destinations.length ? { Destinations: n.destinations } : {}) } });
  }
  for (const r of p.routes) {
    out.push({ Type: 'SDNRoute', Settings: { DestinationPrefix: r.destination, ...(r.nextHop ? { NextHop: r.nextHop } : {}), ...(r.metric ? { Metric: r.metric } : {}), NeedEncap: false } });
  }
  if (p.encapOverhead !== undefined) out.push({ Type: 'EncapOverhead', Settings: { Overhead: p.encapOverhead } });
  if (p.providerAddress) out.push({ Type: 'ProviderAddress', Settings: { ProviderAddress: p.providerAddress } });
  return out;
}
