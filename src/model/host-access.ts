/**
 * Host access: what the endpoints of a network may open to the host itself (its gateway address and
 * every other address of hostd's namespace, hence every service listening there). Default: nothing
 * new. Always allowed: replies to the host's own flows, ICMP echo to the network's gateway and ICMP
 * errors, and DNS (TCP and UDP 53) to the gateway when the network names its gateway as DNS server.
 * The rest is opened by Switchyard's network policy (an extension of HCN's network Policies)
 * `{"Type": "HostAccess", "Settings": {"Ports": "53,8080-8090", "Protocols": "6,17"}}`, whose fields
 * are read like an ACL's LocalPorts and Protocols. Parsing, the CLI/Docker spelling
 * ("53/udp,8080-8090/tcp"), merging into non-overlapping ranges for the kernel's set, and what trace
 * and inspect say. Pure.
 */
import { SyError } from '../errors.js';
import { parsePorts, parseProtocols } from './acl.js';
import { isPolicyType } from './network-settings.js';
import { PROTOCOL_NAMES } from './ports.js';
import type { NetworkRecord } from './records.js';

export interface HostAccessRule {
  /** 6 TCP, 17 UDP, 132 SCTP */
  protocols: number[];
  /** "53" or "8080-8090" */
  ports: string[];
}

const PROTO_NAMES: Record<number, string> = PROTOCOL_NAMES;
const PROTO_NUMBERS = Object.fromEntries(Object.entries(PROTOCOL_NAMES).map(([n, name]) => [name, Number(n)])) as Record<string, number>;

/** One HostAccess policy's Settings; `where` names the policy in errors ("Policies[0]"). */
export function parseHostAccess(settings: unknown, where: string): HostAccessRule {
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new SyError('SY_INVALID_POLICY', `${where}: HostAccess Settings must be an object with Ports and Protocols`);
  }
  const s = settings as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (k !== 'Ports' && k !== 'Protocols') throw new SyError('SY_INVALID_POLICY', `${where}: unknown HostAccess setting "${k}" (Ports, Protocols)`);
  }
  const protocols = parseProtocols(s.Protocols, `${where}.Settings.Protocols`);
  if (!protocols.length || protocols.some((p) => !PROTO_NAMES[p])) {
    throw new SyError('SY_INVALID_POLICY', `${where}.Settings.Protocols must list 6 (TCP), 17 (UDP) or 132 (SCTP): HostAccess opens ports`);
  }
  const ports = parsePorts(s.Ports, `${where}.Settings.Ports`);
  if (!ports.length) throw new SyError('SY_INVALID_POLICY', `${where}.Settings.Ports is required (e.g. "53,8080-8090")`);
  return { protocols, ports };
}

/**
 * A network document's HostAccess policies (network-settings.ts' parseNetworkPolicies refuses the
 * Types no one takes).
 */
export function parseHostAccessPolicies(policies: readonly { Type: string; Settings?: unknown }[], base = 'Policies'): HostAccessRule[] {
  return policies.flatMap((p, i) => (isPolicyType(p, 'HostAccess') ? [parseHostAccess(p.Settings, `${base}[${i}]`)] : []));
}

/**
 * An HCN modify request on a network's HostAccess policies: Add puts them in, Remove takes out the
 * ones it names exactly (same Ports and Protocols), Update replaces them all.
 */
export function modifyHostAccess(cur: readonly HostAccessRule[], kind: 'add' | 'remove' | 'update', req: readonly HostAccessRule[]): HostAccessRule[] {
  if (kind === 'update') return [...req];
  const same = (a: HostAccessRule, b: HostAccessRule) => a.ports.join() === b.ports.join() && a.protocols.join() === b.protocols.join();
  if (kind === 'add') return [...cur, ...req.filter((r) => !cur.some((c) => same(c, r)))];
  const missing = req.find((r) => !cur.some((c) => same(c, r)));
  if (missing) throw new SyError('SY_NOT_FOUND', `The network has no HostAccess policy for ports ${missing.ports.join(',')} (protocols ${missing.protocols.join(',')})`);
  return cur.filter((c) => !req.some((r) => same(c, r)));
}

/**
 * The CLI's and Docker's spelling, "53/udp,53/tcp,8080-8090" (TCP when no protocol is given), as
 * HostAccess policies: one per protocol.
 */
export function hostAccessPolicies(spec: string, what: string): { Type: string; Settings: { Ports: string; Protocols: string } }[] {
  const byProto = new Map<number, string[]>();
  for (const item of spec.split(',').map((x) => x.trim())) {
    const m = /^(\d{1,5}(?:-\d{1,5})?)(?:\/(tcp|udp|sctp))?$/i.exec(item);
    if (!m) throw new SyError('SY_INVALID_POLICY', `${what}: "${item}" is not PORT[-END][/tcp|udp|sctp]`);
    const proto = PROTO_NUMBERS[(m[2] ?? 'tcp').toLowerCase()]!;
    byProto.set(proto, [...(byProto.get(proto) ?? []), m[1]!]);
  }
  const out = [...byProto].sort(([a], [b]) => a - b).map(([proto, ports]) => ({ Type: 'HostAccess', Settings: { Ports: ports.join(','), Protocols: String(proto) } }));
  // Checked now, so the user hears about "70000/tcp" from the flag, not from hostd.
  out.forEach((p, i) => parseHostAccess(p.Settings, `${what}[${i}]`));
  return out;
}

export function renderHostAccess(r: HostAccessRule): { Type: string; Settings: Record<string, string> } {
  return { Type: 'HostAccess', Settings: { Ports: r.ports.join(','), Protocols: r.protocols.join(',') } };
}

/** The network names its own gateway as DNS server: TCP and UDP 53 to the gateway are open. */
export function dnsOnGateway(net: NetworkRecord): boolean {
  return net.dns.servers.includes(net.gateway);
}

/**
 * What the kernel's set holds for a network: per protocol, the union of its rules' ports as
 * non-overlapping ranges (nft refuses overlapping intervals in one set). Sorted.
 */
export function hostAccessRanges(rules: readonly HostAccessRule[]): { protocol: string; ports: string }[] {
  const out: { protocol: string; ports: string }[] = [];
  for (const proto of [6, 17, 132]) {
    const spans = rules
      .filter((r) => r.protocols.includes(proto))
      .flatMap((r) => r.ports.map((p) => p.split('-').map(Number) as [number, number?]))
      .map(([lo, hi]) => [lo, hi ?? lo] as [number, number])
      .sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const [lo, hi] of spans) {
      const last = merged[merged.length - 1];
      if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
      else merged.push([lo, hi]);
    }
    for (const [lo, hi] of merged) out.push({ protocol: PROTO_NAMES[proto]!, ports: lo === hi ? String(lo) : `${lo}-${hi}` });
  }
  return out;
}

/**
 * Does `net` let its endpoints open a new flow to the host address `dst` (trace's question)? ICMP is
 * taken as an echo request. Returns why, or undefined when nothing allows it.
 */
export function hostAccessAllows(net: NetworkRecord, dst: string, protocol: number, port: number | undefined): string | undefined {
  if (protocol === 1) return dst === net.gateway ? `ICMP echo to the gateway ${net.gateway} is always allowed` : undefined;
  if (dst === net.gateway && dnsOnGateway(net) && (protocol === 6 || protocol === 17) && port === 53) {
    return `DNS to the gateway ${net.gateway}, the network's DNS server`;
  }
  if (port === undefined) return undefined;
  const hit = (net.hostAccess ?? []).find((r) => r.protocols.includes(protocol) && r.ports.some((p) => {
    const [lo, hi] = p.split('-').map(Number);
    return port >= lo! && port <= (hi ?? lo!);
  }));
  return hit ? `HostAccess policy of "${net.name}" (Ports ${hit.ports.join(',')}, Protocols ${hit.protocols.join(',')})` : undefined;
}

/** Switchyard's `HostAccess` field of a network document: the default and what is open. */
export function hostAccessDoc(net: NetworkRecord) {
  return {
    Default: 'Block',
    Always: `replies to the host's own flows, ICMP errors, ICMP echo to the gateway ${net.gateway}`,
    Allowed: [
      ...(dnsOnGateway(net) ? [{ Ports: '53', Protocols: '6,17', Addresses: net.gateway, Reason: 'the network\'s DNS server is its gateway' }] : []),
      ...(net.hostAccess ?? []).map((r) => ({ ...renderHostAccess(r).Settings, Reason: 'HostAccess policy' })),
    ],
  };
}
