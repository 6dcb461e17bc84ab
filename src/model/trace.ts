/**
 * `trace`: what happens to one packet of a new flow at an endpoint, and why — the path it takes, the
 * NAT it meets, and which ACL rule (by Id and Priority), isolation rule, host access or default decides. Pure: it
 * reads the records and follows the same rules the planner gives the kernel (host-plan.ts), so the
 * kernel tests check its answers against real packets and the rules' counters.
 */
import { SyError } from '../errors.js';
import { addressIn, effectiveAcls, orderAcls, portIn, type AclRule } from './acl.js';
import { cidrContains, ipToInt, isIPv4, parseCidr } from './ipv4.js';
import { outboundInterface } from './network-settings.js';
import type { EndpointRecord, NetworkRecord, PortMapping } from './records.js';
import { PROTOCOL_NAMES } from './ports.js';
import { portKey, type HostState } from './state.js';
import { hostAccessAllows } from './host-access.js';
import { traceOverlayOut } from './trace-overlay.js';

export interface TracePacket {
  direction: 'In' | 'Out';
  protocol: number;
  /** the other end: where an Out packet goes, where an In packet comes from */
  remoteAddress: string;
  remotePort?: number;
  /** the endpoint's port (for In after a port mapping's DNAT) */
  localPort?: number;
  /** In only: the packet came to this published host port (DNAT to the endpoint) */
  hostPort?: number;
}

export interface Decision {
  layer: 'ACL' | 'Default' | 'Isolation' | 'NoPolicy' | 'PortMapping' | 'HostAccess';
  endpoint?: string;
  direction?: 'In' | 'Out';
  id?: string;
  priority?: number;
  action?: string;
  reason: string;
}

export interface TraceResult {
  verdict: 'Allow' | 'Block';
  path: string[];
  nat: string[];
  decidedBy: Decision;
  /** every ACL layer the packet met, in order (the endpoint's own, then its peer's) */
  acls: Decision[];
}

const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, sctp: 132 };
const PROTO_NAMES: Record<number, string> = PROTOCOL_NAMES;

/** The protocol of a trace request: a number or tcp/udp/icmp/sctp. */
export function traceProtocol(p: unknown): number {
  const n = typeof p === 'number' ? p : typeof p === 'string' ? (PROTO[p.toLowerCase()] ?? (/^\d+$/.test(p) ? Number(p) : NaN)) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new SyError('SY_BAD_REQUEST', `Protocol ${JSON.stringify(p)} is not tcp, udp, icmp, sctp or a number 0-255`);
  return n;
}

/** Does `r` match a packet of `ep` (local) with `remote`, in r's direction? */
function matches(r: AclRule, local: string, remote: string, proto: number, localPort: number | undefined, remotePort: number | undefined): boolean {
  if (r.protocols.length && !r.protocols.includes(proto)) return false;
  if (r.localAddresses.length && !addressIn(r.localAddresses, ipToInt(local))) return false;
  if (r.remoteAddresses.length && !addressIn(r.remoteAddresses, ipToInt(remote))) return false;
  if (r.localPorts.length && (localPort === undefined || !portIn(r.localPorts, localPort))) return false;
  if (r.remotePorts.length && (remotePort === undefined || !portIn(r.remotePorts, remotePort))) return false;
  return true;
}

/** One endpoint's ACL layer for a new flow: the first matching rule, a Pass, or the default. */
export function evaluateAcl(
  ep: EndpointRecord,
  dir: 'In' | 'Out',
  remote: string,
  proto: number,
  localPort: number | undefined,
  remotePort: number | undefined,
  net?: NetworkRecord,
): Decision & { allowed: boolean } {
  const acls = effectiveAcls(ep.policies.acls, net?.acls);
  if (!acls.length) return { layer: 'NoPolicy', endpoint: ep.name, direction: dir, reason: `${ep.name} has no ACL: ${dir} is allowed`, allowed: true };
  for (const r of orderAcls(acls.filter((a) => a.direction === dir))) {
    if (!matches(r, ep.ip, remote, proto, localPort, remotePort)) continue;
    const allowed = r.action !== 'Block';
    const what = r.action === 'Pass' ? 'passes (leaves the ACLs undecided: allowed)' : r.action === 'Allow' ? 'allows' : 'blocks';
    return { layer: 'ACL', endpoint: ep.name, direction: dir, id: r.id, priority: r.priority, action: r.action, reason: `ACL "${r.id}" (Priority ${r.priority}) of ${ep.name} ${what} it`, allowed };
  }
  return { layer: 'Default', endpoint: ep.name, direction: dir, action: 'Block', reason: `no ACL of ${ep.name} matches ${dir}: the default blocks it (any ACL makes both directions default-deny)`, allowed: false };
}

function mappingFor(ep: EndpointRecord, proto: number, hostPort: number): { m: PortMapping; port: number } | undefined {
  const m = ep.portMappings.find((x) => x.protocol === proto && hostPort >= x.externalPort && hostPort < x.externalPort + x.count);
  return m ? { m, port: m.internalPort + (hostPort - m.externalPort) } : undefined;
}

function networkOf(state: HostState, ip: string): NetworkRecord | undefined {
  const n = ipToInt(ip);
  return [...state.networks.values()].find((net) => cidrContains(parseCidr(net.subnet), n));
}

function endpointAt(state: HostState, net: NetworkRecord, ip: string): EndpointRecord | undefined {
  const id = state.index.addresses.get(net.id)?.get(ip);
  return id ? state.endpoints.get(id) : undefined;
}

/**
 * Traces `p` at `ep`. `hostAddresses` are the host's own addresses (a destination there is the host,
 * or a published port when one matches).
 */
export function trace(state: HostState, ep: EndpointRecord, p: TracePacket, hostAddresses: string[]): TraceResult {
  if (!isIPv4(p.remoteAddress)) throw new SyError('SY_BAD_REQUEST', `RemoteAddress "${p.remoteAddress}" is not an IPv4 address`);
  const net = state.networks.get(ep.networkId)!;
  const path: string[] = [];
  const nat: string[] = [];
  const acls: Decision[] = [];
  const done = (verdict: 'Allow' | 'Block', decidedBy: Decision): TraceResult => ({ verdict, path, nat, decidedBy, acls });
  const layer = (who: EndpointRecord, dir: 'In' | 'Out', remote: string, localPort: number | undefined, remotePort: number | undefined) => {
    const d = evaluateAcl(who, dir, remote, p.protocol, localPort, remotePort, state.networks.get(who.networkId));
    acls.push(d);
    return d;
  };

  if (p.direction === 'In') {
    let localPort = p.localPort;
    if (p.hostPort !== undefined) {
      const hit = mappingFor(ep, p.protocol, p.hostPort);
      if (!hit) {
        return done('Block', { layer: 'PortMapping', endpoint: ep.name, reason: `${ep.name} publishes no ${p.protocol}/${p.hostPort}: the packet is for the host, not the endpoint` });
      }
      localPort = hit.port;
      nat.push(`DNAT host port ${p.hostPort} → ${ep.ip}:${hit.port} (port mapping of ${ep.name})`);
      path.push(`${p.remoteAddress} → host:${p.hostPort}, mapped to ${ep.name}`);
    }
    const from = networkOf(state, p.remoteAddress);
    if (from && from.id !== net.id) {
      path.push(`${p.remoteAddress} is on network "${from.name}", ${ep.name} on "${net.name}"`);
      return done('Block', { layer: 'Isolation', reason: `networks "${from.name}" and "${net.name}" are isolated (not even published ports cross)` });
    }
    const fromHost = hostAddresses.includes(p.remoteAddress) || [...state.networks.values()].some((n) => n.gateway === p.remoteAddress);
    if (!from && !fromHost && p.hostPort === undefined) {
      path.push(`${p.remoteAddress} → ${ep.ip}: routed to "${net.name}" from outside the host`);
      return done('Block', { layer: 'Isolation', reason: `"${net.name}" is a NAT network: from outside the host only replies and published ports come in (give HostPort)` });
    }
    if (from?.id === net.id && p.hostPort === undefined) path.push(`bridged from ${p.remoteAddress} on "${net.name}"`);
    else if (p.hostPort === undefined) path.push(`routed from ${p.remoteAddress} through the host to "${net.name}"`);
    const d = layer(ep, 'In', p.remoteAddress, localPort, p.remotePort);
    path.push(`into ${ep.name} (${ep.ip}${localPort !== undefined ? `:${localPort}` : ''})`);
    return done(d.allowed ? 'Allow' : 'Block', d);
  }

  if (cidrContains(parseCidr('127.0.0.0/8'), ipToInt(p.remoteAddress))) {
    path.push(`${ep.name} → ${p.remoteAddress}: a loopback address, dropped as it enters the host`);
    return done('Block', { layer: 'Isolation', reason: 'loopback addresses are never reachable from a network' });
  }
  // Out: the endpoint's own ACLs first (at prerouting, before any DNAT).
  const own = layer(ep, 'Out', p.remoteAddress, p.localPort, p.remotePort);
  if (!own.allowed) {
    path.push(`${ep.name} → ${p.remoteAddress}: stopped as it leaves ${ep.name}`);
    return done('Block', own);
  }
  const dst = p.remoteAddress;
  if (net.overlay) {
    const step = traceOverlayOut(state, ep, net, dst, p.protocol, hostAddresses);
    path.push(...step.path);
    nat.push(...step.nat);
    if (step.verdict === 'Block') return done('Block', step.decidedBy!);
    if (!step.peer) return done('Allow', own);
    const d = layer(step.peer, 'In', ep.ip, p.remotePort, p.localPort);
    return done(d.allowed ? 'Allow' : 'Block', d.layer === 'NoPolicy' ? own : d);
  }
  const isHost = hostAddresses.includes(dst) || [...state.networks.values()].some((n) => n.gateway === dst);
  if (isHost && p.remotePort !== undefined) {
    // A mapping bound to this address wins over one on every address (pm_addr before pm_any).
    const owners = [...(state.index.ports.get(portKey(p.protocol, p.remotePort)) ?? [])].sort((x, y) => Number(!x.mapping.hostIp) - Number(!y.mapping.hostIp));
    for (const o of owners) {
      const other = state.endpoints.get(o.endpointId);
      const hit = other && mappingFor(other, p.protocol, p.remotePort);
      if (!other || !hit || (hit.m.hostIp && hit.m.hostIp !== dst)) continue;
      if (net.internal && other.networkId !== ep.networkId) {
        path.push(`${ep.name} → host ${dst}:${p.remotePort} → ${other.name} on another network`);
        return done('Block', { layer: 'Isolation', reason: `"${net.name}" is internal: nothing is forwarded beyond its bridge` });
      }
      nat.push(`DNAT ${dst}:${p.remotePort} → ${other.ip}:${hit.port} (port mapping of ${other.name})`);
      path.push(`${ep.name} → host ${dst}:${p.remotePort} → ${other.name}`);
      if (other.networkId !== ep.networkId) {
        const to = state.networks.get(other.networkId)!;
        return done('Block', { layer: 'Isolation', reason: `networks "${net.name}" and "${to.name}" are isolated (not even published ports cross)` });
      }
      nat.push(`masquerade to the gateway (hairpin)`);
      const d = layer(other, 'In', ep.ip, hit.port, p.localPort);
      return done(d.allowed ? 'Allow' : 'Block', d.layer === 'NoPolicy' ? own : d);
    }
  }
  if (isHost && net.type !== 'NAT') {
    path.push(`${ep.name} → the host (${dst}) on the bridge of "${net.name}", as any machine on ${net.uplink?.name ?? 'its adapter'}'s network reaches it`);
    return done('Allow', own);
  }
  if (isHost) {
    path.push(`${ep.name} → the host (${dst})`);
    const why = hostAccessAllows(net, dst, p.protocol, p.remotePort);
    if (!why) {
      const what = p.protocol === 1 ? 'ICMP echo' : `${PROTO_NAMES[p.protocol] ?? p.protocol}/${p.remotePort ?? 'any port'}`;
      return done('Block', { layer: 'HostAccess', reason: `"${net.name}" opens no ${what} to the host at ${dst} (new flows to the host need a HostAccess policy)` });
    }
    return done('Allow', own.layer === 'NoPolicy' ? { layer: 'HostAccess', reason: why } : own);
  }
  const to = networkOf(state, dst);
  if (to && to.id === net.id) {
    const peer = endpointAt(state, net, dst);
    if (net.type === 'L2Tunnel') path.push(`${ep.name} → out of ${net.uplink?.name} to the upstream switch (no local switching on an L2Tunnel network), back in to ${peer ? peer.name : dst}`);
    else if (net.type !== 'NAT' && !peer) path.push(`${ep.name} → ${dst} on the wire: ${wire(net)}`);
    else path.push(`bridged on "${net.name}" to ${peer ? peer.name : `${dst} (no endpoint has it)`}`);
    if (!peer) return done('Allow', own);
    const d = layer(peer, 'In', ep.ip, p.remotePort, p.localPort);
    return done(d.allowed ? 'Allow' : 'Block', d.layer === 'NoPolicy' ? own : d);
  }
  if (to) {
    path.push(`${ep.name} on "${net.name}" → ${dst} on "${to.name}"`);
    return done('Block', { layer: 'Isolation', reason: `networks "${net.name}" and "${to.name}" are isolated (only replies and published ports cross)` });
  }
  if (net.type !== 'NAT') {
    path.push(`${ep.name} → ${dst} by its gateway ${net.gateway}: ${wire(net)}`);
    const onat = ep.policies.outboundNat;
    const inside = (l: string[]) => l.some((c) => cidrContains(parseCidr(c), ipToInt(dst)));
    if (onat && !inside([net.subnet, ...onat.exceptions])) nat.push(onat.virtualIp ? `SNAT to ${onat.virtualIp} (OutBoundNAT VirtualIP)` : 'masquerade to the host\'s address on the bridge (OutBoundNAT)');
    else nat.push(onat ? `none: ${dst} is an OutBoundNAT exception of ${ep.name}` : 'none: the endpoint\'s own address is on the wire');
    return done('Allow', own);
  }
  path.push(`${ep.name} → ${dst}: routed out of the host`);
  if (net.internal) return done('Block', { layer: 'Isolation', reason: `"${net.name}" is internal: nothing is forwarded beyond its bridge` });
  const way = outboundInterface(net);
  if (way) path.push(`only by ${way} (the NetAdapterName of "${net.name}"): where the host's routes send it elsewhere, it is refused`);
  const onat = ep.policies.outboundNat;
  const key = (l: string[]) => l.some((c) => cidrContains(parseCidr(c), ipToInt(dst)));
  if (onat && key(onat.exceptions)) nat.push(`none: ${dst} is an OutBoundNAT exception of ${ep.name}`);
  else if (onat?.destinations.length && !key(onat.destinations)) nat.push(`none: ${dst} is not among the OutBoundNAT destinations of ${ep.name}`);
  else if (net.type === 'NAT') nat.push(onat?.virtualIp ? `SNAT to ${onat.virtualIp} (OutBoundNAT VirtualIP)` : 'masquerade to the address of the interface it leaves by');
  return done('Allow', own);
}

/** What the physical network sees of an uplink network's endpoint. */
function wire(net: NetworkRecord): string {
  const up = net.uplink?.name ?? 'its adapter';
  if (net.type === 'Transparent') return `bridged out of ${up} with the endpoint's own MAC`;
  if (net.type === 'L2Bridge') return `bridged out of ${up} with ${up}'s MAC (rewritten on the way out, restored on the way back)`;
  return `out of ${up} with ${up}'s MAC, through the upstream switch`;
}
